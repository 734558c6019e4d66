//! The exporter's own process statistics, read from /proc (Linux only; elsewhere absent).

use crate::snapshot::ExporterStats;
use std::fs;

/// Linux reports process times in USER_HZ ticks, fixed at 100 for user space.
const TICKS_PER_SECOND: f64 = 100.0;

/// Fills the process fields of `stats` from /proc/self.
pub fn read_into(stats: &mut ExporterStats) {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        stats.resident_memory_bytes = status_kib(&status, "VmRSS:").map(|k| k * 1024);
        stats.virtual_memory_bytes = status_kib(&status, "VmSize:").map(|k| k * 1024);
    }
    if let Ok(stat) = fs::read_to_string("/proc/self/stat") {
        // Fields after the command name, which is in parentheses and may contain spaces.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        if let (Some(utime), Some(stime)) = (field(14), field(15)) {
            stats.cpu_seconds = Some((utime + stime) as f64 / TICKS_PER_SECOND);
        }
        if let (Some(start), Some(boot)) = (field(22), boot_time()) {
            stats.start_time_seconds = Some(boot as f64 + start as f64 / TICKS_PER_SECOND);
        }
    }
    stats.open_fds = fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64);
    stats.max_fds = fs::read_to_string("/proc/self/limits").ok().and_then(|l| {
        l.lines()
            .find(|line| line.starts_with("Max open files"))
            .and_then(|line| line.split_whitespace().nth(3)?.parse().ok())
    });
}

/// The process' anonymous resident memory (`RssAnon`: its heap and stacks, not the pages of
/// the binary and shared libraries), in bytes.
pub fn anonymous_resident_bytes() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status_kib(&status, "RssAnon:").map(|k| k * 1024)
}

/// How much the anonymous memory may grow over what it was after the last trim before the
/// heap is trimmed again.
const TRIM_AFTER_GROWTH: u64 = 1 << 20;

/// Decides when to hand freed heap memory back to the kernel (`malloc_trim`, which also
/// releases the free pages inside the heap). Trimming after every cycle made the next cycle
/// fault the same pages in again, a cost at every size; trimming once the anonymous memory
/// grew by more than [`TRIM_AFTER_GROWTH`] since the last trim still bounds what is kept at
/// large domain counts, where a cycle frees megabytes.
#[derive(Debug, Default)]
pub struct HeapTrimPolicy {
    /// The least anonymous memory seen since the last trim (right after it, at first).
    floor: Option<u64>,
}

impl HeapTrimPolicy {
    /// Whether to trim now, with `anonymous` bytes resident; `None` when that cannot be read
    /// (then always).
    pub fn should_trim(&mut self, anonymous: Option<u64>) -> bool {
        match (anonymous, self.floor) {
            (Some(now), Some(floor)) => {
                self.floor = Some(floor.min(now));
                now > floor + TRIM_AFTER_GROWTH
            }
            _ => true,
        }
    }

    /// Records what was resident right after a trim.
    pub fn trimmed(&mut self, anonymous: Option<u64>) {
        self.floor = anonymous;
    }
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn boot_time() -> Option<u64> {
    fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Instant, SystemTime, UNIX_EPOCH};

    #[test]
    fn reads_plausible_values_for_this_process() {
        let mut s = ExporterStats::default();
        read_into(&mut s);
        let rss = s.resident_memory_bytes.unwrap();
        assert!(rss > 100_000 && rss < 4 << 30, "rss {rss}");
        assert!(s.virtual_memory_bytes.unwrap() >= rss);
        assert!(s.open_fds.unwrap() >= 3);
        assert!(s.max_fds.unwrap() >= s.open_fds.unwrap());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = s.start_time_seconds.unwrap();
        assert!(
            start <= now + 1.0 && start > now - 86_400.0,
            "start {start} now {now}"
        );
        let anonymous = anonymous_resident_bytes().unwrap();
        assert!(
            anonymous > 0 && anonymous < rss,
            "anonymous {anonymous} of {rss}"
        );
    }

    /// This thread's CPU time so far, in seconds, from /proc/thread-self/schedstat (the
    /// scheduler's nanoseconds on a CPU): another kernel clock than /proc/self/stat's ticks.
    fn thread_cpu_seconds() -> f64 {
        let schedstat = fs::read_to_string("/proc/thread-self/schedstat").unwrap();
        let nanos: u64 = schedstat
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        nanos as f64 / 1e9
    }

    /// The CPUs of this machine (`cpuN` lines of /proc/stat).
    fn cpus() -> usize {
        let stat = fs::read_to_string("/proc/stat").unwrap();
        stat.lines()
            .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
            .count()
    }

    #[test]
    fn cpu_seconds_grow_by_the_cpu_time_burnt_in_between() {
        const BURN: f64 = 0.3;
        // /proc/self/stat counts in ticks of 10 ms, rounded down for user and system time
        // apart, and may not yet hold the last moments of threads running elsewhere.
        const TICKS: f64 = 3.0 / TICKS_PER_SECOND;
        let mut before = ExporterStats::default();
        let wall = Instant::now();
        read_into(&mut before);
        let started = thread_cpu_seconds();
        let mut x = 0u64;
        while thread_cpu_seconds() - started < BURN {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        let burnt = thread_cpu_seconds() - started;
        let mut after = ExporterStats::default();
        read_into(&mut after);
        let wall = wall.elapsed().as_secs_f64();
        let grew = after.cpu_seconds.unwrap() - before.cpu_seconds.unwrap();
        // At least what this thread burnt; at most what every CPU of the machine could run
        // meanwhile (other tests' threads count too).
        assert!(
            grew >= burnt - TICKS,
            "grew by {grew} s after burning {burnt} s"
        );
        let most = wall * cpus() as f64 + TICKS;
        assert!(
            grew <= most,
            "grew by {grew} s in {wall} s on {} CPUs",
            cpus()
        );
    }

    #[test]
    fn the_heap_is_trimmed_only_after_it_grew_by_a_megabyte() {
        const MB: u64 = 1 << 20;
        let mut policy = HeapTrimPolicy::default();
        assert!(policy.should_trim(Some(10 * MB)), "the first time");
        policy.trimmed(Some(8 * MB));
        assert!(!policy.should_trim(Some(8 * MB)));
        assert!(
            !policy.should_trim(Some(9 * MB)),
            "grew by exactly a megabyte"
        );
        assert!(policy.should_trim(Some(9 * MB + 1)));
        policy.trimmed(Some(8 * MB));
        assert!(!policy.should_trim(Some(6 * MB)), "shrank: the new floor");
        assert!(
            policy.should_trim(Some(7 * MB + 1)),
            "grew by over a megabyte from there"
        );
        policy.trimmed(None);
        assert!(
            policy.should_trim(Some(MB)),
            "always when memory cannot be read"
        );
        assert!(policy.should_trim(None));
    }
}
