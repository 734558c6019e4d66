//! The clock's view of the slow collectors: it hands them the domains of each good bulk cycle
//! ([`SlowResults::observe`]) and merges their latest results into each snapshot it publishes
//! ([`SlowResults::fill`]); it never waits for them.

use super::dispatcher::Wake;
use super::state::CollectorState;
use crate::collect::first_run::FirstRunHook;
use crate::snapshot::{DomainStats, Snapshot};
use std::collections::HashSet;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The latest results of every slow collector, and the domains they ask.
#[derive(Default)]
pub struct SlowResults {
    pub(super) collectors: Vec<Arc<CollectorState>>,
    /// The UUIDs of the latest good bulk cycle's domains; `None` before the first.
    domains: Mutex<Option<Arc<Vec<String>>>>,
    /// One per dispatcher.
    pub(super) dispatchers: Vec<Sender<Wake>>,
    pub(super) first_run: FirstRunHook,
}

impl SlowResults {
    fn lock_domains(&self) -> MutexGuard<'_, Option<Arc<Vec<String>>>> {
        self.domains.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The domains to ask: those of the latest good bulk cycle; `None` before the first.
    pub(super) fn domains(&self) -> Option<Arc<Vec<String>>> {
        self.lock_domains().clone()
    }

    /// Takes the domains of a good bulk cycle as the ones to ask from now on, and forgets
    /// what was learned about domains no longer among them.
    pub fn observe(&self, domains: &[DomainStats]) {
        if self.collectors.is_empty() {
            return;
        }
        let uuids: Vec<String> = domains.iter().map(|d| d.uuid.clone()).collect();
        let present: HashSet<&str> = uuids.iter().map(String::as_str).collect();
        for c in &self.collectors {
            c.retain(&present);
        }
        let first = self.lock_domains().replace(Arc::new(uuids)).is_none();
        if first {
            for d in &self.dispatchers {
                let _ = d.send(Wake::Domains);
            }
        }
    }

    /// Merges each collector's data young enough to serve into the snapshot's domains, with
    /// each domain's [`crate::snapshot::SlowResult`]s, and adds one outcome per collector
    /// whose first run has finished. Without slow collectors it changes nothing.
    pub fn fill(&self, snapshot: &mut Snapshot) {
        if self.collectors.is_empty() {
            return;
        }
        for d in &mut snapshot.domains {
            d.slow.clear();
        }
        for c in &self.collectors {
            c.fill(snapshot);
        }
    }

    /// Whether `name` is one of the slow collectors running here.
    pub fn runs(&self, name: &str) -> bool {
        self.collectors.iter().any(|c| c.name == name)
    }

    /// Calls `hook` (at most once per collector, from its thread) when a collector's first run
    /// finishes from now on. Only the first call sets it.
    pub fn on_first_run(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.first_run.set(hook);
    }

    pub(super) fn announce_first_run(&self) {
        self.first_run.announce();
    }

    /// Wakes every dispatcher to stop now; calls in flight end on their own.
    pub fn stop(&self) {
        for d in &self.dispatchers {
            let _ = d.send(Wake::Stop);
        }
    }
}
