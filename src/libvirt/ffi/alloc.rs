//! glibc allocator tuning: the exporter builds megabytes of encoding buffers every cycle at
//! large domain counts, and glibc's defaults keep what was freed. Both calls are no-ops on
//! other C libraries (musl does not hold on to memory this way).

/// Allocations from this size up get their own mapping, returned to the kernel when freed.
#[cfg(target_env = "gnu")]
const MMAP_THRESHOLD: libc::c_int = 256 * 1024;

/// Limits glibc to two malloc arenas and fixes its mmap threshold. By default every thread
/// that allocates may get its own arena (up to 8 per core), and an arena's freed memory is
/// rarely returned to the kernel, so the collection, host and HTTP threads would each keep
/// their own high-water mark. And by default glibc raises the mmap threshold to the size of
/// every large block freed, up to 32 MiB, so after the first cycle the megabyte-sized
/// encoding and plain-text buffers would come from (and fragment) the arenas instead of
/// separate mappings. Call once at startup, before any other thread starts (glibc reads the
/// settings when it creates arenas).
pub fn limit_malloc_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes allocator parameters; M_ARENA_MAX and M_MMAP_THRESHOLD take
    // any positive value (up to 32 MiB for the threshold). Called before other threads exist,
    // so no allocation races with the change.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Returns free memory at the top of the heap and free whole pages inside every arena to the
/// kernel. Called after an exposition is published, when the previous cycle's encoding
/// buffers have just been freed, if the process grew since the last call (see
/// `process::HeapTrimPolicy`); without it glibc keeps them, and the process's RSS stays at
/// its largest cycle.
pub fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes the allocator's own locks and may be called from any thread
    // at any time; a pad of 0 keeps nothing spare.
    unsafe {
        libc::malloc_trim(0);
    }
}
