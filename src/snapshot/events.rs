//! Domain event counters (lifecycle, disk I/O errors, block thresholds, block jobs), kept
//! across cycles.

use std::collections::BTreeMap;

/// A lifecycle event and its detail, as libvirt's numbers (`virDomainEventType` and the
/// matching `virDomainEvent*DetailType`).
pub type EventKind = (u32, u32);

/// Domain events counted since the exporter started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventStats {
    /// Whether the current libvirt connection delivers lifecycle events.
    pub subscribed: bool,
    /// Counters of the domains in the snapshot.
    pub domains: Vec<DomainEvents>,
    /// Lifecycle counters for the whole host; they survive the removal of the domain.
    pub host: BTreeMap<EventKind, u64>,
}

/// The event counters of one domain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainEvents {
    pub domain: String,
    pub counts: EventCounts,
}

/// One domain's counters, by what the event says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventCounts {
    /// Zero for every lifecycle event kind that matters from the moment a domain is seen, so
    /// the first event shows up in `increase()`.
    pub lifecycle: BTreeMap<EventKind, u64>,
    /// `VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON`, from the first one of each kind.
    pub block_io_errors: BTreeMap<BlockIoError, u64>,
    /// `VIR_DOMAIN_EVENT_ID_BLOCK_THRESHOLD` by disk (target device, `vda[1]` for a backing
    /// image); zero for the disks with a threshold set.
    pub block_thresholds: BTreeMap<String, u64>,
    /// `VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2`, from the first one of each kind.
    pub block_jobs: BTreeMap<BlockJobEvent, u64>,
}

impl EventCounts {
    /// How many series these counters are exposed as.
    pub fn series(&self) -> usize {
        self.lifecycle.len()
            + self.block_io_errors.len()
            + self.block_thresholds.len()
            + self.block_jobs.len()
    }
}

/// What an I/O error event says, but when.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BlockIoError {
    /// The disk's target device (`vda`); see `collect::events` for disks it cannot tell.
    pub target_device: String,
    /// `virDomainEventIOErrorAction`: 0 none, 1 pause, 2 report.
    pub action: u32,
    /// libvirt's reason (`enospc`), `unspecified` when it gives none.
    pub reason: String,
}

/// What a block job event says, but when.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BlockJobEvent {
    pub target_device: String,
    /// `virDomainBlockJobType`: 1 pull, 2 copy, 3 commit, 4 active commit, 5 backup.
    pub job_type: u32,
    /// `virConnectDomainEventBlockJobStatus`: 0 completed, 1 failed, 2 canceled, 3 ready.
    pub status: u32,
}
