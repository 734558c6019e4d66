//! What one slow collector knows about each domain: the data of its latest good call and
//! when that call started, whether a call is in flight (and since when), whether the latest
//! call failed; and how its runs went. Written by its dispatcher and call threads, read by the
//! clock when it assembles a snapshot ([`CollectorState::fill`]).

use super::SlowDomainCollector;
use crate::libvirt::LibvirtError;
use crate::snapshot::{CollectorOutcome, DomainStats, SlowResult, Snapshot};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// One slow collector, its timing and what it learned.
pub struct CollectorState {
    pub collector: Box<dyn SlowDomainCollector>,
    pub name: &'static str,
    pub interval: Duration,
    pub deadline: Duration,
    /// Data is served at most this long after its call started.
    pub max_age: Duration,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    domains: HashMap<String, Entry>,
    /// When the run in progress started; `None` between runs.
    busy_since: Option<Instant>,
    /// How the last finished run went: success and duration.
    last_run: Option<(bool, Duration)>,
}

/// One domain, by UUID.
#[derive(Default)]
struct Entry {
    data: Option<Taken>,
    /// When the call in flight started; `None` between calls.
    in_flight: Option<Instant>,
    /// Whether the latest finished call failed.
    failed: bool,
}

/// The data of a call that returned, and when it started.
struct Taken {
    at: SystemTime,
    since: Instant,
    stats: DomainStats,
}

/// How a call ended, for its dispatcher.
#[derive(Debug)]
pub enum CallEnd {
    Answered,
    /// The domain disappeared meanwhile (normal during churn): not a failure.
    Vanished,
    Failed(LibvirtError),
}

impl CollectorState {
    pub fn new(
        collector: Box<dyn SlowDomainCollector>,
        collect_interval: Duration,
        max_age: Duration,
    ) -> Self {
        let interval = collector.interval(collect_interval);
        CollectorState {
            name: collector.name(),
            deadline: collector.deadline(),
            interval,
            max_age: max_age.max(interval * 3),
            collector,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks a call for `uuid` in flight from now; false (and nothing changes) while the
    /// previous call for it has not returned.
    pub fn begin_call(&self, uuid: &str) -> bool {
        let mut inner = self.lock();
        let entry = inner.domains.entry(uuid.to_string()).or_default();
        if entry.in_flight.is_some() {
            return false;
        }
        entry.in_flight = Some(Instant::now());
        true
    }

    /// Records the end of the call for `uuid` that started at `at` (`since`): its data
    /// replaces the old on success; a failed call keeps the old data, marked stale.
    pub fn end_call(
        &self,
        uuid: &str,
        at: SystemTime,
        since: Instant,
        result: Result<DomainStats, LibvirtError>,
    ) -> CallEnd {
        let mut inner = self.lock();
        match result {
            Err(e) if e.is_no_domain() => {
                inner.domains.remove(uuid);
                CallEnd::Vanished
            }
            Err(e) => {
                let entry = inner.domains.entry(uuid.to_string()).or_default();
                entry.in_flight = None;
                entry.failed = true;
                CallEnd::Failed(e)
            }
            Ok(stats) => {
                let entry = inner.domains.entry(uuid.to_string()).or_default();
                entry.in_flight = None;
                entry.failed = false;
                entry.data = Some(Taken { at, since, stats });
                CallEnd::Answered
            }
        }
    }

    /// Forgets the domains that are gone, except those with a call in flight (still not to be
    /// asked again should they come back before it returns).
    pub fn retain(&self, present: &HashSet<&str>) {
        self.lock()
            .domains
            .retain(|uuid, e| e.in_flight.is_some() || present.contains(uuid.as_str()));
    }

    pub fn begin_run(&self) {
        self.lock().busy_since = Some(Instant::now());
    }

    /// Records a finished run; true when it was the collector's first.
    pub fn end_run(&self, success: bool, duration: Duration) -> bool {
        let mut inner = self.lock();
        inner.busy_since = None;
        let first = inner.last_run.is_none();
        inner.last_run = Some((success, duration));
        first
    }

    /// Merges the data young enough to serve into the snapshot's domains (and clears this
    /// collector's part of the others), adds each domain's [`SlowResult`], and the outcome of
    /// the last run once the first has finished (or a failure once a run has taken longer
    /// than the interval: stuck).
    pub fn fill(&self, snapshot: &mut Snapshot) {
        let inner = self.lock();
        let nothing = DomainStats::default();
        for d in &mut snapshot.domains {
            let entry = inner.domains.get(&d.uuid);
            let data = entry
                .and_then(|e| e.data.as_ref())
                .filter(|t| t.since.elapsed() <= self.max_age);
            self.collector.merge(data.map_or(&nothing, |t| &t.stats), d);
            let stale = entry.is_some_and(|e| {
                e.failed || e.in_flight.is_some_and(|t| t.elapsed() > self.deadline)
            });
            if data.is_some() || stale {
                d.slow.push(SlowResult {
                    collector: self.name,
                    taken_at: data.map(|t| t.at),
                    stale,
                });
            }
        }
        let stuck = inner
            .busy_since
            .map(|t| t.elapsed())
            .filter(|busy| *busy > self.interval);
        let outcome = match (stuck, inner.last_run) {
            (Some(busy), _) => Some((false, busy)),
            (None, last) => last,
        };
        if let Some((success, duration)) = outcome {
            snapshot.collectors.push(CollectorOutcome {
                name: self.name.into(),
                success,
                duration,
            });
        }
    }
}
