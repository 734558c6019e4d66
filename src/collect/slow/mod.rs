//! Slow per-domain collection, the third kind besides the bulk cycle and the host collectors:
//! per-domain calls that may take long or hang for one domain (guest agent, disk errors, job
//! details, I/O limits). They run off the bulk cycle, which never waits for them.
//!
//! Each [`SlowDomainCollector`] has its own interval and a dispatcher thread that asks every
//! domain once per interval, each call with the collector's own deadline, a few calls at a
//! time (see `dispatcher`). A domain whose previous call has not returned is not asked again;
//! past the deadline, its data for that collector is marked stale. The clock merges the latest
//! results into every snapshot it publishes, each with when it was taken (see `state`).
//!
//! Which domains are asked: those of the latest good bulk cycle, by UUID, not a listing of
//! their own. A result is only ever merged into a domain of a published snapshot, so asking
//! any other domain would be wasted (and with a filter, `--domain.include`/`--domain.exclude`,
//! excluded domains must not be asked at all); the filter is applied in one place. The calls
//! need domain handles of the slow collectors' own connection (see `link`), so each run still
//! lists domains once, a single call, and matches the handles by UUID.
//!
//! Without a slow collector nothing of this runs: no thread, no connection, no series.

mod calls;
mod dispatcher;
mod link;
mod results;
mod state;
#[cfg(test)]
mod tests;

pub use results::SlowResults;

use super::config::CollectConfig;
use super::connector::Connector;
use crate::family::{Kind, Sink};
use crate::libvirt::{Domain, LibvirtError};
use crate::snapshot::DomainStats;
use calls::CallPool;
use dispatcher::Dispatcher;
use state::CollectorState;
use std::fmt;
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// One group read through slow per-domain calls.
pub trait SlowDomainCollector: Send + Sync {
    /// The name used in `--collector.<name>`, the collector metrics and
    /// `libvirt_exporter_slow_result_*{collector=...}`.
    fn name(&self) -> &'static str;
    /// Whether the collector runs unless switched off.
    fn enabled_by_default(&self) -> bool {
        false
    }
    /// How often each domain is asked, given `--collect.interval`.
    fn interval(&self, collect_interval: Duration) -> Duration;
    /// How long one domain's call may take before that domain's data is marked stale. The
    /// call is not cancelled (libvirt calls cannot be); the domain is asked again once it
    /// returned.
    fn deadline(&self) -> Duration {
        DEFAULT_DEADLINE
    }
    /// Fills this collector's part of `out` for `domain` (every domain of the latest bulk
    /// cycle, running or not: `domain.id()` is `None` for one that is not running). `out`
    /// comes with `name`, `uuid` and `id` set. An error keeps the previous data, marked
    /// stale; an error saying the domain is gone (`is_no_domain`) forgets the domain.
    fn collect(&self, domain: &Domain, out: &mut DomainStats) -> Result<(), LibvirtError>;
    /// Replaces this collector's part of `into` with that of `from` (a result of
    /// [`SlowDomainCollector::collect`], or `DomainStats::default()` to clear it). Called for
    /// every domain of every published snapshot, also on a domain that already holds an
    /// earlier result: it must overwrite, not add.
    fn merge(&self, from: &DomainStats, into: &mut DomainStats);
    /// Every family this group can write, as (name without `_total`/`_info`, type).
    fn families(&self) -> Vec<(&'static str, Kind)> {
        Vec::new()
    }
    /// Writes this group's per-domain series of `domains` (those the series cap lets through).
    fn encode(&self, _sink: &mut dyn Sink, _domains: &[&DomainStats]) -> fmt::Result {
        Ok(())
    }
}

/// A slow call's deadline unless its collector says otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

/// Idle call threads kept per collector.
const IDLE_CALL_THREADS: usize = 2;

/// Starts one dispatcher thread per collector; they run until [`SlowResults::stop`]. With no
/// collector, starts nothing and opens no connection.
pub fn start(
    config: &CollectConfig,
    collectors: Vec<Box<dyn SlowDomainCollector>>,
) -> std::io::Result<(Arc<SlowResults>, Vec<JoinHandle<()>>)> {
    if collectors.is_empty() {
        return Ok((Arc::default(), Vec::new()));
    }
    let mut results = SlowResults::default();
    let mut wiring = Vec::new();
    for collector in collectors {
        let state = Arc::new(CollectorState::new(
            collector,
            config.interval,
            config.max_age,
        ));
        let (done, wake) = mpsc::channel();
        results.collectors.push(state.clone());
        results.dispatchers.push(done.clone());
        wiring.push((state, done, wake));
    }
    let results = Arc::new(results);
    let mut threads = Vec::new();
    for (state, done, wake) in wiring {
        // A connection per collector: calls hanging in one collector (a frozen guest agent,
        // disks of a stuck QEMU) fill only its own connection's request slots (see `link`),
        // so the others, `control` above all, keep answering.
        let link = Arc::new(link::Link::new(Connector::new(
            config.libvirt_uri.clone(),
            config.read_only,
        )));
        let dispatcher = Dispatcher {
            pool: CallPool::new(state.name, IDLE_CALL_THREADS),
            state,
            results: results.clone(),
            link,
            wake,
            done,
            next_call: 0,
        };
        let name = format!("slow-{}", dispatcher.state.name);
        match thread::Builder::new()
            .name(name)
            .spawn(move || dispatcher.run())
        {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                results.stop();
                return Err(e);
            }
        }
    }
    Ok((results, threads))
}
