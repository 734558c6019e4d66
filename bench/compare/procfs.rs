//! What the benchmark reads from /proc: CPU time and memory of a process, and libvirtd's pid.

use std::fs;

/// Linux reports process times in USER_HZ ticks, fixed at 100 for user space.
pub const TICKS_PER_SECOND: f64 = 100.0;

/// utime + stime of `pid` in ticks, or None once it is gone.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the command name, which is in parentheses and may contain spaces
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Time on CPU of every live thread of `pid` in nanoseconds (first field of
/// `/proc/<pid>/task/<tid>/schedstat`, the scheduler's own account, which utime+stime are
/// derived from but rounded to 10 ms ticks).
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    Some(
        tasks
            .filter_map(|t| {
                let path = t.ok()?.path().join("schedstat");
                fs::read_to_string(path)
                    .ok()?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum(),
    )
}

/// CPU time of a set of processes: precise (schedstat) and coarse but complete (stat ticks,
/// which keep the time of threads that have exited).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSample {
    ns: u64,
    ticks: u64,
}

impl CpuSample {
    pub fn take(pids: &[u32]) -> CpuSample {
        CpuSample {
            ns: pids.iter().filter_map(|p| cpu_ns(*p)).sum(),
            ticks: total_ticks(pids),
        }
    }

    /// Seconds on CPU since `earlier`: the precise count, unless threads that exited in between
    /// took more than two ticks with them.
    pub fn seconds_since(&self, earlier: &CpuSample) -> f64 {
        let precise = self.ns.saturating_sub(earlier.ns) as f64 / 1e9;
        let coarse = self.ticks.saturating_sub(earlier.ticks) as f64 / TICKS_PER_SECOND;
        if coarse > precise + 2.0 / TICKS_PER_SECOND {
            coarse
        } else {
            precise
        }
    }
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    field_kib(&format!("/proc/{pid}/status"), key)
}

/// A `/proc/<pid>/smaps_rollup` field in KiB (`Pss`: resident pages, each shared page divided
/// by the number of processes mapping it).
pub fn smaps_rollup_kib(pid: u32, key: &str) -> Option<u64> {
    field_kib(&format!("/proc/{pid}/smaps_rollup"), key)
}

/// The number after `key:` in a `/proc` file of `Key:   value kB` lines.
fn field_kib(path: &str, key: &str) -> Option<u64> {
    fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The pid of the first process whose command name is exactly `comm`.
pub fn pid_of(comm: &str) -> Option<u32> {
    let mut pids: Vec<u32> = fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == comm)
        })
        .collect();
    pids.sort_unstable();
    pids.first().copied()
}

/// CPU ticks of several processes together (missing ones count 0).
pub fn total_ticks(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|p| cpu_ticks(*p)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cpu_time_and_memory_of_this_process() {
        let me = std::process::id();
        // Burn CPU until the reading has grown by 20 ms: on a loaded machine a wall-clock spin
        // need not get that much CPU, so the bound is on the reading, with a generous deadline.
        let before = cpu_ns(me).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while cpu_ns(me).unwrap() < before + 20_000_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "CPU time does not grow"
            );
        }
        assert!(cpu_ticks(me).is_some());
        assert!(status_kib(me, "VmRSS").unwrap() > 0);
        let pss = smaps_rollup_kib(me, "Pss").unwrap();
        assert!(pss > 0 && pss <= status_kib(me, "VmRSS").unwrap() + 64);
    }
}
