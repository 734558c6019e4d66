//! Host-level statistics: storage pools and volumes, virtual networks, the node, its memory
//! pages (huge pages, KSM), versions.
//!
//! Sizes are in bytes and times in seconds; a value libvirt did not report is `None`.

use std::collections::BTreeMap;

/// Everything about the host that is not a domain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostStats {
    pub pools: Vec<PoolStats>,
    /// Volumes of active pools.
    pub volumes: Vec<VolumeStats>,
    pub networks: Vec<NetworkStats>,
    pub node: Option<NodeStats>,
    /// Memory pages per NUMA cell and page size, and KSM.
    pub pages: Option<PageStats>,
    pub versions: Option<Versions>,
}

/// One storage pool, active or not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolStats {
    pub name: String,
    pub uuid: String,
    /// `virStoragePoolState`: 0 inactive, 1 building, 2 running, 3 degraded, 4 inaccessible.
    pub state: Option<u32>,
    /// Pool type (`dir`, `logical`, `rbd`...).
    pub pool_type: Option<String>,
    pub path: Option<String>,
    pub persistent: Option<bool>,
    pub autostart: Option<bool>,
    /// Sizes, only while the pool is running or degraded.
    pub capacity_bytes: Option<u64>,
    pub allocation_bytes: Option<u64>,
    pub available_bytes: Option<u64>,
}

/// One volume of an active pool.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VolumeStats {
    pub pool: String,
    pub name: String,
    /// Volume type (`file`, `block`, `dir`, `network`, `netdir`, `ploop`).
    pub volume_type: Option<String>,
    pub path: Option<String>,
    /// Image format (`raw`, `qcow2`...).
    pub format: Option<String>,
    pub capacity_bytes: Option<u64>,
    pub allocation_bytes: Option<u64>,
    pub physical_bytes: Option<u64>,
}

/// One virtual network, active or not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkStats {
    pub name: String,
    pub uuid: String,
    pub bridge: Option<String>,
    pub active: Option<bool>,
    pub persistent: Option<bool>,
    pub autostart: Option<bool>,
}

/// The host: CPUs, memory, NUMA cells, CPU time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeStats {
    /// `virNodeInfo.model` (what `virsh nodeinfo` calls the CPU model).
    pub model: String,
    pub cpus: u32,
    /// Sockets per NUMA cell, as libvirt reports them.
    pub cpu_sockets: u32,
    /// Cores per socket.
    pub cpu_cores: u32,
    /// Threads per core.
    pub cpu_threads: u32,
    pub numa_cells: u32,
    /// Expected CPU frequency; `None` when libvirt reports 0 (unknown).
    pub cpu_frequency_hertz: Option<u64>,
    pub memory_bytes: u64,
    pub cells: Vec<NodeCell>,
    /// Cumulative CPU time of all CPUs by libvirt's mode name (`kernel`, `user`, `idle`,
    /// `iowait`, `intr`), in seconds.
    pub cpu_seconds: BTreeMap<String, f64>,
    /// `virNodeGetMemoryStats` of the whole host; all `None` where the driver lacks it.
    pub memory: NodeMemory,
}

/// `virNodeGetMemoryStats` of the whole host (on Linux, `/proc/meminfo`), in bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeMemory {
    pub total_bytes: Option<u64>,
    pub free_bytes: Option<u64>,
    pub buffers_bytes: Option<u64>,
    pub cached_bytes: Option<u64>,
}

/// One NUMA cell's memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeCell {
    pub id: u32,
    pub free_bytes: Option<u64>,
    pub total_bytes: Option<u64>,
}

/// The host's memory pages: per NUMA cell and page size, and KSM's page sharing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageStats {
    /// One entry per cell and page size the host supports, cells in capabilities order.
    pub cells: Vec<CellPages>,
    pub ksm: KsmStats,
}

/// The pages of one size in one NUMA cell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellPages {
    pub cell: u32,
    pub page_size_bytes: u64,
    /// Pages of this size in the cell (capabilities XML): for huge pages the pool's size.
    pub pages: Option<u64>,
    /// Free pages of this size in the cell (`virNodeGetFreePages`).
    pub free: Option<u64>,
}

/// The kernel's same-page merging (KSM), from `virNodeGetMemoryParameters`; all `None` where
/// the driver lacks the call or the kernel has no KSM.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KsmStats {
    /// `shm_pages_to_scan`: pages scanned before KSM sleeps.
    pub pages_to_scan: Option<u64>,
    /// `shm_sleep_millisecs`, in seconds.
    pub sleep_seconds: Option<f64>,
    /// `shm_pages_shared`: shared pages in use.
    pub pages_shared: Option<u64>,
    /// `shm_pages_sharing`: further mappings of the shared pages (the pages saved).
    pub pages_sharing: Option<u64>,
    /// `shm_pages_unshared`: pages checked and found unique.
    pub pages_unshared: Option<u64>,
    /// `shm_pages_volatile`: pages changing too fast to be merged.
    pub pages_volatile: Option<u64>,
    /// `shm_full_scans`: times all mergeable memory was scanned.
    pub full_scans: Option<u64>,
    /// `shm_merge_across_nodes`: whether pages of different NUMA cells are merged.
    pub merge_across_nodes: Option<bool>,
}

/// Versions as `major.minor.micro`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Versions {
    /// The libvirt library the exporter is linked with.
    pub library: String,
    /// The libvirt daemon at the other end of the connection.
    pub daemon: Option<String>,
    /// The hypervisor the driver runs.
    pub hypervisor: Option<String>,
}
