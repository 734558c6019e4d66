//! One slow collector's dispatcher thread: a run every interval of the collector's own, off
//! the bulk cycle. A run lists the domains once on the slow collectors' connection, asks each
//! domain of the latest bulk snapshot that has no call in flight (a few at a time), and waits
//! for each call until it returns or its deadline passes, whichever comes first. A call past
//! its deadline is left running (libvirt calls cannot be cancelled) and its domain is not
//! asked again until it returns.

use super::calls::{Call, CallPool};
use super::link::Link;
use super::results::SlowResults;
use super::state::{CallEnd, CollectorState};
use crate::libvirt::{Domain, LibvirtError};
use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Instant;

/// Calls of one collector in progress within their deadline at most. Each collector has its
/// own; they share the libvirt connection, which libvirtd serves 5 calls at a time by default.
const CALLS_IN_PARALLEL: usize = 2;

/// What wakes a dispatcher.
#[derive(Debug)]
pub enum Wake {
    /// A call returned.
    Returned {
        id: u64,
        end: CallEnd,
    },
    /// The bulk cycle listed domains (the first list starts the first run).
    Domains,
    Stop,
}

/// How a run ended.
enum RunEnd {
    Done { success: bool },
    Stopped,
}

pub struct Dispatcher {
    pub state: Arc<CollectorState>,
    pub results: Arc<SlowResults>,
    pub link: Arc<Link>,
    pub wake: Receiver<Wake>,
    /// Given to each call, to wake this dispatcher.
    pub done: Sender<Wake>,
    pub pool: CallPool,
    pub next_call: u64,
}

impl Dispatcher {
    /// Runs until stopped: first once the bulk cycle listed domains, then every interval
    /// (missed ticks are skipped, never queued).
    pub fn run(mut self) {
        while self.results.domains().is_none() {
            match self.wake.recv() {
                Ok(Wake::Stop) | Err(_) => return,
                Ok(_) => {}
            }
        }
        let mut next = Instant::now();
        loop {
            let now = Instant::now();
            while next <= now {
                next += self.state.interval;
            }
            self.state.begin_run();
            let started = Instant::now();
            let success = match self.run_once() {
                RunEnd::Done { success } => success,
                RunEnd::Stopped => return,
            };
            if self.state.end_run(success, started.elapsed()) {
                self.results.announce_first_run();
            }
            if !self.sleep_until(next) {
                return;
            }
        }
    }

    /// Waits for `until`; false when stopped.
    fn sleep_until(&self, until: Instant) -> bool {
        loop {
            let wait = until.saturating_duration_since(Instant::now());
            match self.wake.recv_timeout(wait) {
                Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => return false,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => return true,
            }
        }
    }

    fn run_once(&mut self) -> RunEnd {
        let name = self.state.name;
        let targets = self.results.domains().unwrap_or_default();
        let handles = self.link.get().and_then(|conn| conn.list_domains(0));
        let handles = match handles {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(collector = name, error = %e, "slow collector cannot list domains");
                return RunEnd::Done { success: false };
            }
        };
        let mut by_uuid: HashMap<String, Domain> = handles
            .into_iter()
            .filter_map(|d| Some((d.uuid().ok()?, d)))
            .collect();
        let mut queue: VecDeque<(String, Domain)> = targets
            .iter()
            .filter_map(|uuid| Some((uuid.clone(), by_uuid.remove(uuid)?)))
            .collect();
        let asked = queue.len();
        let mut failures = 0usize;
        // Domains whose call is past its deadline or still running from an earlier run: each
        // is marked stale on its own; only all of them stuck fails the collector.
        let mut stuck = 0usize;
        let mut first_error: Option<LibvirtError> = None;
        // Calls given to a thread, by ID, with their deadline.
        let mut pending: HashMap<u64, Instant> = HashMap::new();
        while !queue.is_empty() || !pending.is_empty() {
            while pending.len() < CALLS_IN_PARALLEL {
                let Some((uuid, domain)) = queue.pop_front() else {
                    break;
                };
                if !self.state.begin_call(&uuid) {
                    // Its previous call has not returned yet.
                    stuck += 1;
                    continue;
                }
                let id = self.next_call;
                self.next_call += 1;
                let call = Call {
                    id,
                    uuid: uuid.clone(),
                    domain,
                    state: self.state.clone(),
                    done: self.done.clone(),
                };
                if let Err(e) = self.pool.make(call) {
                    tracing::warn!(collector = name, error = %e, "cannot start a slow collector thread");
                    let end = self.state.end_call(
                        &uuid,
                        std::time::SystemTime::now(),
                        Instant::now(),
                        Err(LibvirtError {
                            call: "collect",
                            code: -1,
                            message: format!("cannot start a thread: {e}"),
                        }),
                    );
                    count(end, &mut failures, &mut first_error);
                    continue;
                }
                pending.insert(id, Instant::now() + self.state.deadline);
            }
            let Some(&deadline) = pending.values().min() else {
                continue;
            };
            match self
                .wake
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(Wake::Returned { id, end }) => {
                    // A call of an earlier run that returned late is not this run's business.
                    if pending.remove(&id).is_some() {
                        count(end, &mut failures, &mut first_error);
                    }
                }
                Ok(Wake::Domains) => {}
                Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => return RunEnd::Stopped,
                Err(RecvTimeoutError::Timeout) => {
                    let now = Instant::now();
                    let before = pending.len();
                    pending.retain(|_, deadline| *deadline > now);
                    stuck += before - pending.len();
                }
            }
        }
        if let Some(error) = &first_error {
            tracing::warn!(collector = name, domains = failures, %error, "slow collector failed for some domains");
        }
        if stuck > 0 {
            tracing::warn!(collector = name, domains = stuck, deadline = ?self.state.deadline, "slow collector: no answer within the deadline (their data is marked stale)");
        }
        RunEnd::Done {
            success: failures == 0 && (stuck == 0 || stuck < asked),
        }
    }
}

fn count(end: CallEnd, failures: &mut usize, first_error: &mut Option<LibvirtError>) {
    if let CallEnd::Failed(e) = end {
        *failures += 1;
        first_error.get_or_insert(e);
    }
}
