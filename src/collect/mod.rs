//! Collection: the engine that drives libvirt and runs the statistics groups (see
//! [`crate::groups`]), and the traits a group implements.
//!
//! Every domain collector reads one `virConnectGetAllDomainStats` group. When the driver's
//! bulk call lacks that group (decided once per connection), the same collector fills the
//! snapshot through per-domain calls instead. A collector with no group at all (`job`) is
//! only per-domain calls, made after every bulk group was decoded, and only as often as
//! `job_schedule` says. Host collectors (pools,
//! volumes, networks, the node) each run on their own thread, off the domain path (see
//! `host_runner`).

mod clock;
mod collection;
mod config;
mod connector;
mod disk_events;
mod domain_lists;
pub mod domains;
pub mod events;
pub mod fields;
mod first_run;
mod host_runner;
pub mod job_schedule;
pub mod labels;
pub mod options;
mod shared_connection;
pub mod slow;
mod stop;
mod worker;

pub use crate::groups::{all_domain_collectors, all_host_collectors};
pub use collection::{start, Collection, Collectors};
pub use config::CollectConfig;
pub use fields::Fields;
pub use slow::SlowDomainCollector;

use crate::family::{Kind, Sink};
use crate::libvirt::domain_xml::DomainXml;
use crate::libvirt::{Connection, Domain, DomainInfoRaw, LibvirtError};
use crate::snapshot::{DomainStats, HostStats, JobStats};
use std::cell::{Cell, OnceCell};
use std::fmt;
use std::time::Duration;

/// One statistics group of domains.
pub trait DomainCollector: Send + Sync {
    /// The name used in `--collector.<name>` and in the collector metrics.
    fn name(&self) -> &'static str;
    /// The `virConnectGetAllDomainStats` group bits this collector reads; 0 for a collector
    /// without a bulk group, which always goes through [`DomainCollector::fallback`].
    fn group(&self) -> u32;
    /// Whether the collector runs unless switched off.
    fn enabled_by_default(&self) -> bool {
        true
    }
    /// Fills `out` from one bulk record. Returns false when the record lacks the fields of
    /// this group that only come with the domain job, which NOWAIT skips for a busy domain
    /// (only meaningful for running domains).
    fn decode(&self, fields: &Fields, out: &mut DomainStats) -> bool;
    /// Fills `out` through per-domain calls, for drivers whose bulk call lacks the group.
    fn fallback(&self, ctx: &FallbackContext, out: &mut DomainStats) -> Result<(), LibvirtError>;
    /// Every family this group can write, as (name without `_total`/`_info`, type).
    fn families(&self) -> Vec<(&'static str, Kind)>;
    /// Writes this group's per-domain series of `domains` (those the series cap lets through).
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result;
    /// Writes this group's series about all domains together (counts), which the series cap
    /// never leaves out.
    fn encode_totals(&self, _sink: &mut dyn Sink, _all: &[DomainStats]) -> fmt::Result {
        Ok(())
    }
}

/// What a per-domain fallback may use: the domain, its parsed XML and its (memoised) info.
pub struct FallbackContext<'a> {
    pub domain: &'a Domain,
    pub xml: &'a DomainXml,
    pub active: bool,
    /// The bulk call (with NOWAIT) found the domain busy with a synchronous job, so calls
    /// that need the domain job would wait for it.
    pub busy: bool,
    /// The domain's job as last asked, while that answer still stands (see `job_schedule`);
    /// `None`: ask.
    pub known_job: Option<JobStats>,
    /// Set by the `job` collector when libvirt answered (a job, none, or "not supported"), so
    /// the answer may stand for a while; a failed question is asked again next cycle.
    pub job_answered: Cell<bool>,
    info: OnceCell<DomainInfoRaw>,
}

impl<'a> FallbackContext<'a> {
    pub fn new(domain: &'a Domain, xml: &'a DomainXml, active: bool) -> Self {
        FallbackContext {
            domain,
            xml,
            active,
            busy: false,
            known_job: None,
            job_answered: Cell::new(false),
            info: OnceCell::new(),
        }
    }

    /// `virDomainGetInfo`, asked at most once per domain and cycle.
    pub fn info(&self) -> Result<DomainInfoRaw, LibvirtError> {
        if let Some(info) = self.info.get() {
            return Ok(*info);
        }
        let info = self.domain.info()?;
        Ok(*self.info.get_or_init(|| info))
    }
}

/// One host-level group: storage pools, volumes, virtual networks or the node.
pub trait HostCollector: Send + Sync {
    /// The name used in `--collector.<name>` and in the collector metrics.
    fn name(&self) -> &'static str;
    /// Whether the collector runs unless switched off.
    fn enabled_by_default(&self) -> bool {
        true
    }
    /// How often the collector runs, given `--collect.interval`.
    fn interval(&self, collect_interval: Duration) -> Duration {
        collect_interval
    }
    /// Fills this collector's part of `out`. An error marks the collector failed for this
    /// run; what it filled before the error is still published.
    fn collect(&self, conn: &Connection, out: &mut HostStats) -> Result<(), LibvirtError>;
    /// Every family this group can write, as (name without `_total`/`_info`, type); none
    /// for a collector that only fills data another group writes.
    fn families(&self) -> Vec<(&'static str, Kind)> {
        Vec::new()
    }
    /// Writes this group's series from `host`.
    fn encode(&self, _sink: &mut dyn Sink, _host: &HostStats) -> fmt::Result {
        Ok(())
    }
}

/// Settings of the collectors off the bulk cycle: the host collectors and the slow
/// per-domain ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostOptions {
    /// Rescan active pools before reading them (`--collector.pool.refresh`).
    pub pool_refresh: bool,
    /// How often volumes are read (`--collector.volume.interval`).
    pub volume_interval: Duration,
    /// How often each domain's guest agent is asked (`--collector.guest.interval`).
    pub guest_interval: Duration,
}

/// Volumes are read every minute unless `--collector.volume.interval` says otherwise: reading
/// one opens its file, and volume sizes change slowly.
pub const DEFAULT_VOLUME_INTERVAL: Duration = Duration::from_secs(60);

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            pool_refresh: false,
            volume_interval: DEFAULT_VOLUME_INTERVAL,
            guest_interval: crate::groups::DEFAULT_GUEST_INTERVAL,
        }
    }
}
