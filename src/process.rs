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
    use std::time::{SystemTime, UNIX_EPOCH};

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
        assert!(s.cpu_seconds.unwrap() >= 0.0);
    }
}
