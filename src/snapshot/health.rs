//! Plain data of the slow per-domain groups about a domain's health and limits: disk errors,
//! the monitor's state, I/O and network limits, CPU and memory tuning, snapshots and block
//! jobs. Each is filled by its group in `groups/` off the bulk cycle.

/// `virDomainGetDiskErrors` for one disk: 0 none, 1 unspecified, 2 no space.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskError {
    pub target_device: String,
    pub error: u32,
}

/// `virDomainGetControlInfo`: the QEMU monitor's state.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ControlState {
    /// 0 ok, 1 job, 2 occupied, 3 error.
    pub state: u32,
    /// With state error: 0 none, 1 unknown, 2 monitor, 3 internal.
    pub reason: u32,
    /// How long the monitor has been in this state.
    pub seconds: f64,
}

/// One limit value of a disk or NIC, with what it limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limit {
    /// libvirt's parameter name (`total_bytes_sec`, `inbound.average`...).
    pub parameter: &'static str,
    pub value: f64,
}

/// The I/O limits set on one disk (`virDomainGetBlockIoTune`); only limits that are set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiskLimits {
    pub target_device: String,
    pub limits: Vec<Limit>,
    /// The throttle group the disk shares its limits with.
    pub group: Option<String>,
}

/// The bandwidth limits set on one NIC (`virDomainGetInterfaceParameters`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InterfaceLimits {
    pub target_device: String,
    pub limits: Vec<Limit>,
}

/// CPU scheduler and memory tuning of a domain; only values that are set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tuning {
    pub cpu_shares: Option<u64>,
    /// (scope: vcpu, emulator, global, iothread; period in seconds).
    pub cpu_periods: Vec<(&'static str, f64)>,
    /// (scope; quota in seconds per period), only bounded quotas.
    pub cpu_quotas: Vec<(&'static str, f64)>,
    /// (limit: hard, soft, swap_hard, min_guarantee; bytes), only those that are set.
    pub memory_limits: Vec<(&'static str, u64)>,
}

/// A domain's snapshots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshots {
    pub count: u64,
    /// Unix times of the oldest and newest snapshot (`creationTime`), when there is one.
    pub oldest_seconds: Option<u64>,
    pub newest_seconds: Option<u64>,
}

/// The block job running on one disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockJob {
    pub target_device: String,
    /// pull, copy, commit, active_commit, backup (or the number libvirt gave).
    pub job_type: String,
    pub processed_bytes: u64,
    pub total_bytes: u64,
    pub bandwidth_bytes_per_second: u64,
}
