//! The snapshot: plain data produced by one collection cycle.
//!
//! Nothing here holds a libvirt handle, so tests can build snapshots by hand and the encoder
//! never touches libvirt. Every statistic is an `Option`: a field libvirt did not report
//! produces no series rather than a misleading zero. Units are already converted to base
//! units (bytes, seconds) by the collectors.

mod events;
mod guest;
mod health;
mod host;

pub use events::{BlockIoError, BlockJobEvent, DomainEvents, EventCounts, EventKind, EventStats};
pub use guest::{GuestAddress, GuestDisk, GuestFilesystem, GuestOs, GuestStats};
pub use health::{
    BlockJob, ControlState, DiskError, DiskLimits, InterfaceLimits, Limit, Snapshots, Tuning,
};
pub use host::{
    CellPages, HostStats, KsmStats, NetworkStats, NodeCell, NodeMemory, NodeStats, PageStats,
    PoolStats, Versions, VolumeStats,
};

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Everything one collection cycle learned, plus how the cycle went.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Whether the last cycle reached libvirt and listed the domains.
    pub up: bool,
    /// When the data in this snapshot was collected (start of the cycle).
    pub collected_at: Option<SystemTime>,
    /// When a cycle last succeeded (may be older than `collected_at` when libvirt is down).
    pub last_success: Option<SystemTime>,
    pub domains: Vec<DomainStats>,
    /// How each collector fared in this cycle, in registry order.
    pub collectors: Vec<CollectorOutcome>,
    /// Domains that reported less than asked, counted by reason (e.g. `busy`, `error`).
    pub domain_errors: BTreeMap<String, u64>,
    pub exporter: ExporterStats,
    /// Storage pools, volumes, virtual networks and the node itself.
    pub host: HostStats,
    /// Domain events counted since the exporter started.
    pub events: EventStats,
}

/// The outcome of one collector in one cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorOutcome {
    pub name: String,
    pub success: bool,
    pub duration: Duration,
}

/// Facts about the exporter process itself.
#[derive(Debug, Clone, Default)]
pub struct ExporterStats {
    pub version: String,
    pub libvirt_library_version: Option<String>,
    pub resident_memory_bytes: Option<u64>,
    pub virtual_memory_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub start_time_seconds: Option<f64>,
    /// Collection cycles finished since start, successful or not.
    pub cycles: u64,
    pub failed_cycles: u64,
    /// Whether the latest version of `--web.config.file` is in force (absent without a file).
    pub web_config_reload_success: Option<bool>,
    /// When a version of `--web.config.file` was last taken into use, as a Unix timestamp.
    pub web_config_last_reload_success_seconds: Option<f64>,
}

/// One domain, whatever its state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainStats {
    pub name: String,
    pub uuid: String,
    /// Only running (and paused) domains have an ID.
    pub id: Option<u32>,
    pub info: DomainInfo,
    pub state: Option<DomainState>,
    pub cpu: CpuStats,
    pub vcpu: VcpuStats,
    pub balloon: BalloonStats,
    pub blocks: Vec<BlockStats>,
    pub interfaces: Vec<InterfaceStats>,
    /// Perf events enabled on the domain (`virsh perf`).
    pub perf: PerfStats,
    pub iothreads: Vec<IoThreadStats>,
    pub dirty_rate: DirtyRateStats,
    /// The job running on the domain (migration, dump, save...), active domains only.
    pub job: JobStats,
    /// KVM's own statistics from QEMU's `query-stats` (opt-in `vm` collector).
    pub kvm: KvmStats,
    /// Disks with their error state (`diskerror` collector).
    pub disk_errors: Vec<DiskError>,
    /// The QEMU monitor's state, running domains only (`control` collector).
    pub control: Option<ControlState>,
    /// I/O limits of the disks that have any (`iotune` collector).
    pub disk_limits: Vec<DiskLimits>,
    /// Bandwidth limits of the NICs that have any (`iftune` collector).
    pub interface_limits: Vec<InterfaceLimits>,
    /// CPU and memory tuning (`tuning` collector).
    pub tuning: Tuning,
    /// Snapshots (`snapshot` collector).
    pub snapshots: Option<Snapshots>,
    /// Block jobs running now (`blockjob` collector).
    pub block_jobs: Vec<BlockJob>,
    /// What the QEMU guest agent reports, running domains with an agent channel only
    /// (`guest` collector).
    pub guest: Option<Box<GuestStats>>,
    /// How current the data of each slow per-domain collector (`collect::slow`) merged into
    /// this domain is; empty without slow collectors.
    pub slow: Vec<SlowResult>,
}

/// The state of one slow per-domain collector's data for one domain. Its data itself is in the
/// collector's own fields of [`DomainStats`]; this says how old it is and whether it is the
/// answer to the latest call. Present once the collector has data for the domain, or once a
/// call for it failed or ran past its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowResult {
    /// The collector's name, as in `--collector.<name>`.
    pub collector: &'static str,
    /// When the call whose data is merged started; `None`: no data (none yet, or too old to
    /// serve).
    pub taken_at: Option<SystemTime>,
    /// The latest call failed, or has not returned within the collector's deadline: the data,
    /// if any, is from an earlier call.
    pub stale: bool,
}

impl DomainStats {
    /// Drops the spare capacity the collectors' pushes left (a vector grows to four entries
    /// for its first device): a snapshot is kept for a whole cycle, and at a thousand domains
    /// that slack is megabytes.
    pub fn shrink_to_fit(&mut self) {
        self.vcpu.vcpus.shrink_to_fit();
        self.blocks.shrink_to_fit();
        self.interfaces.shrink_to_fit();
        self.iothreads.shrink_to_fit();
        self.info.labels.shrink_to_fit();
    }
}

/// Static attributes of a domain, mostly from its XML.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainInfo {
    pub os_type: Option<String>,
    pub arch: Option<String>,
    pub machine: Option<String>,
    pub persistent: Option<bool>,
    pub autostart: Option<bool>,
    pub maximum_memory_bytes: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub virtual_cpus: Option<u32>,
    /// `--domain.label` values, in the order the labels were given (name, value).
    pub labels: Vec<(&'static str, String)>,
    /// OpenStack Nova's metadata, when `--libvirt.metadata.nova` is on and the domain has it.
    pub openstack: Option<OpenStackInfo>,
}

/// What OpenStack Nova writes into a domain's `<metadata>` (namespace
/// `http://openstack.org/xmlns/libvirt/nova/1.x`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenStackInfo {
    pub instance_name: String,
    pub flavor_name: String,
    pub user_name: String,
    pub user_id: String,
    pub project_name: String,
    pub project_id: String,
}

/// libvirt's run state and the reason for it, as the raw numbers libvirt reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainState {
    pub state: u32,
    pub reason: u32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuStats {
    pub time_seconds: Option<f64>,
    pub user_seconds: Option<f64>,
    pub system_seconds: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct VcpuStats {
    pub current: Option<u32>,
    pub maximum: Option<u32>,
    pub vcpus: Vec<Vcpu>,
    /// Sums over all vCPUs, instead of `vcpus`, with `--collector.vcpu.per-domain`.
    pub totals: Option<VcpuTotals>,
}

/// Per-vCPU times summed over the domain's vCPUs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VcpuTotals {
    pub time_seconds: Option<f64>,
    pub wait_seconds: Option<f64>,
    pub delay_seconds: Option<f64>,
}

/// The current job of a domain, from `virDomainGetJobStats`, in bytes and seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobStats {
    /// 0 none, 1 bounded, 2 unbounded, 3 completed, 4 failed, 5 cancelled.
    pub job_type: Option<u32>,
    pub time_elapsed_seconds: Option<f64>,
    pub time_remaining_seconds: Option<f64>,
    pub data_total_bytes: Option<u64>,
    pub data_processed_bytes: Option<u64>,
    pub data_remaining_bytes: Option<u64>,
    pub memory_total_bytes: Option<u64>,
    pub memory_processed_bytes: Option<u64>,
    pub memory_remaining_bytes: Option<u64>,
    pub file_total_bytes: Option<u64>,
    pub file_processed_bytes: Option<u64>,
    pub file_remaining_bytes: Option<u64>,
}

/// The most KVM statistics kept per level (VM, vCPU), so the number of families stays
/// bounded whatever the host kernel reports (Linux 6.1 on x86 has 16 and 44).
pub const MAX_KVM_STATS: usize = 100;

/// KVM statistics of a domain: for the whole VM and for each vCPU.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KvmStats {
    pub vm: Vec<KvmStat>,
    /// Per vCPU (index, statistics), unless folded into `vcpu_totals`.
    pub vcpus: Vec<(u32, Vec<KvmStat>)>,
    /// The per-vCPU statistics folded over all vCPUs (`--collector.vcpu.per-domain`).
    pub vcpu_totals: Vec<KvmStat>,
}

/// One KVM statistic, already named for Prometheus (`exits`, `halt_wait_seconds`...).
#[derive(Debug, Clone, PartialEq)]
pub struct KvmStat {
    /// Metric name suffix: lower case letters, digits and `_`, the unit included.
    pub name: String,
    /// Cumulative (`.sum`): a counter; otherwise (`.cur`, `.max`) a gauge.
    pub cumulative: bool,
    /// Whether QEMU reports a peak (`.max`), folded as a maximum rather than a sum.
    pub peak: bool,
    pub value: KvmValue,
}

/// A KVM statistic's value: a count, or a time converted from nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KvmValue {
    Count(u64),
    Seconds(f64),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vcpu {
    pub index: u32,
    /// 0 offline, 1 running, 2 blocked.
    pub state: Option<u32>,
    pub time_seconds: Option<f64>,
    pub wait_seconds: Option<f64>,
    pub delay_seconds: Option<f64>,
    /// Physical CPU the vCPU last ran on (per-domain fallback only).
    pub physical_cpu: Option<i32>,
}

/// Balloon and guest memory statistics, converted to bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BalloonStats {
    pub current_bytes: Option<u64>,
    pub maximum_bytes: Option<u64>,
    pub swap_in_bytes: Option<u64>,
    pub swap_out_bytes: Option<u64>,
    pub major_faults: Option<u64>,
    pub minor_faults: Option<u64>,
    pub unused_bytes: Option<u64>,
    pub available_bytes: Option<u64>,
    pub usable_bytes: Option<u64>,
    pub rss_bytes: Option<u64>,
    pub disk_caches_bytes: Option<u64>,
    pub hugetlb_pgalloc: Option<u64>,
    pub hugetlb_pgfail: Option<u64>,
    pub last_update_seconds: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockStats {
    /// Target device, e.g. `vda`.
    pub target_device: String,
    pub source_file: Option<String>,
    pub bus: Option<String>,
    pub driver_type: Option<String>,
    pub disk_type: Option<String>,
    pub read_requests: Option<u64>,
    pub read_bytes: Option<u64>,
    pub read_seconds: Option<f64>,
    pub write_requests: Option<u64>,
    pub write_bytes: Option<u64>,
    pub write_seconds: Option<f64>,
    pub flush_requests: Option<u64>,
    pub flush_seconds: Option<f64>,
    pub capacity_bytes: Option<u64>,
    pub allocation_bytes: Option<u64>,
    pub physical_bytes: Option<u64>,
    pub threshold_bytes: Option<u64>,
    /// Xen's `oo_req` (`block.<n>.errors`, `virDomainBlockStats` errs): how often the block
    /// backend ran out of free request slots. Not I/O errors; QEMU does not report it.
    pub xen_oo_requests: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct InterfaceStats {
    /// Host-side device name, e.g. `vnet0`.
    pub target_device: String,
    pub network: Option<String>,
    pub bridge: Option<String>,
    pub mac: Option<String>,
    pub model: Option<String>,
    pub interface_type: Option<String>,
    pub receive_bytes: Option<u64>,
    pub receive_packets: Option<u64>,
    pub receive_errors: Option<u64>,
    pub receive_drops: Option<u64>,
    pub transmit_bytes: Option<u64>,
    pub transmit_packets: Option<u64>,
    pub transmit_errors: Option<u64>,
    pub transmit_drops: Option<u64>,
}

/// The domain's perf events, each in its own unit: the two software clocks in seconds,
/// Intel RDT's cache occupancy in bytes and memory bandwidths in bytes per second, and the
/// rest as counts of events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerfStats {
    /// `perf.cpu_clock` (ns), CPU clock time of the QEMU process.
    pub cpu_clock_seconds: Option<f64>,
    /// `perf.task_clock` (ns), task clock time of the QEMU process.
    pub task_clock_seconds: Option<f64>,
    /// `perf.cmt`: last level cache in use (Intel CMT), bytes.
    pub cmt_bytes: Option<u64>,
    /// `perf.mbmt`: total memory bandwidth from one level of cache (Intel MBM), bytes/s.
    pub mbmt_bytes_per_second: Option<u64>,
    /// `perf.mbml`: memory bandwidth through the local memory controller (Intel MBM), bytes/s.
    pub mbml_bytes_per_second: Option<u64>,
    /// Every other `perf.<event>` (`cpu_cycles`, `instructions`, `page_faults`...): event
    /// counts by libvirt's event name.
    pub events: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct IoThreadStats {
    pub id: u32,
    pub poll_max_seconds: Option<f64>,
    pub poll_grow: Option<u64>,
    pub poll_shrink: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirtyRateStats {
    pub calc_status: Option<u32>,
    /// QEMU's `start-time`: seconds on the host's monotonic clock (since boot), not Unix time.
    pub calc_start_time_seconds: Option<u64>,
    pub calc_period_seconds: Option<u64>,
    /// Dirty rate of the whole guest, bytes per second.
    pub bytes_per_second: Option<f64>,
    pub vcpu_bytes_per_second: Vec<(u32, f64)>,
}
