//! The collection loop, the only code that knows about time.
//!
//! A worker thread owns the libvirt connection and runs one cycle at a time when asked. A
//! clock thread asks every interval, waits at most `timeout` for the answer and publishes an
//! encoding either way: libvirt calls cannot be cancelled, so when the worker is stuck the
//! clock publishes `libvirt_up 0` with the last good data (until it is older than `max_age`),
//! and never starts a second worker. A late answer is published when it finally arrives.

use super::domains::{DomainCycle, DomainSource};
use super::events::EventCounter;
use super::host_runner::HostResults;
use super::options::DomainOptions;
use super::shared_connection::SharedConnection;
use super::stop::StopSignal;
use super::DomainCollector;
use crate::encode;
use crate::exposition::Published;
use crate::libvirt::{self, Connection, LibvirtError, LifecycleEvent, Subscription};
use crate::process::HeapTrimPolicy;
use crate::snapshot::{CollectorOutcome, ExporterStats, Snapshot};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// How and how often to collect.
#[derive(Debug, Clone)]
pub struct CollectConfig {
    pub libvirt_uri: String,
    pub read_only: bool,
    pub interval: Duration,
    pub timeout: Duration,
    /// Data from the last good cycle is served for at most this long.
    pub max_age: Duration,
    /// Which domains, which labels, how fine, how many series.
    pub domains: DomainOptions,
}

/// What wakes the clock besides its own ticks.
enum ClockInput {
    /// The worker's answer to a cycle request.
    Cycle(CycleResult),
    /// A host collector finished its first run: its data should not wait for the next cycle.
    HostFirstRun,
}

/// One cycle's answer from the worker.
struct CycleResult {
    started_at: SystemTime,
    outcome: Result<DomainCycle, LibvirtError>,
}

/// Starts the worker and the clock; returns at once. Once `stop` is set the clock thread ends
/// at its next tick.
/// Every snapshot also carries the latest results of the host collectors in `host`, which run
/// on their own threads (see `host_runner`) through the connection the worker publishes in
/// `connection`.
pub fn start(
    config: CollectConfig,
    collectors: Vec<Box<dyn DomainCollector>>,
    host: Arc<HostResults>,
    connection: Arc<SharedConnection>,
    published: Arc<Published>,
    stop: Arc<StopSignal>,
) -> std::io::Result<()> {
    let (request_tx, request_rx) = mpsc::channel::<()>();
    let (result_tx, result_rx) = mpsc::channel::<ClockInput>();
    let host_tx = result_tx.clone();
    host.on_first_run(move || {
        let _ = host_tx.send(ClockInput::HostFirstRun);
    });
    let (event_tx, event_rx) = mpsc::channel::<LifecycleEvent>();
    let subscribed = Arc::new(AtomicBool::new(false));
    let worker = Worker {
        config: config.clone(),
        source: DomainSource::new(collectors, config.domains.clone()),
        session: None,
        shared: connection,
        events: event_tx,
        subscribed: subscribed.clone(),
        backoff: Backoff::default(),
    };
    thread::Builder::new()
        .name("libvirt-worker".into())
        .spawn(move || worker.run(request_rx, result_tx))?;
    let clock = Clock::new(config, published, host, event_rx, subscribed);
    thread::Builder::new()
        .name("collect-clock".into())
        .spawn(move || clock.run(request_tx, result_rx, stop))?;
    Ok(())
}

/// Seconds of silence before a keepalive probe, and unanswered probes before libvirt closes
/// the connection: a dead daemon is noticed within about 20 seconds even mid-call. libvirtd
/// probes its clients every 5 seconds itself, and its probes count as traffic: with the same
/// interval this side seldom needs to send one (after 3 seconds of silence, sending them was
/// most of the exporter's CPU between collections).
const KEEPALIVE_INTERVAL: i32 = 5;
const KEEPALIVE_COUNT: u32 = 3;

/// One open connection with its event subscription.
struct Session {
    // Dropped first: the subscription deregisters from the connection it refers to.
    _subscription: Option<Subscription>,
    closed: Arc<AtomicBool>,
    conn: Arc<Connection>,
}

/// Runs cycles on request; owns the connection and reconnects after it breaks.
struct Worker {
    config: CollectConfig,
    source: DomainSource,
    session: Option<Session>,
    /// Where the host collectors find the session's connection.
    shared: Arc<SharedConnection>,
    events: Sender<LifecycleEvent>,
    subscribed: Arc<AtomicBool>,
    backoff: Backoff,
}

impl Worker {
    fn run(mut self, requests: Receiver<()>, results: Sender<ClockInput>) {
        while requests.recv().is_ok() {
            let started_at = SystemTime::now();
            let outcome = self.cycle();
            if results
                .send(ClockInput::Cycle(CycleResult {
                    started_at,
                    outcome,
                }))
                .is_err()
            {
                return;
            }
        }
    }

    fn cycle(&mut self) -> Result<DomainCycle, LibvirtError> {
        if self
            .session
            .as_ref()
            .is_some_and(|s| s.closed.load(Ordering::SeqCst))
        {
            tracing::warn!("libvirt closed the connection; reconnecting");
            self.disconnect();
        }
        if self.session.is_none() {
            self.connect()?;
        }
        let session = self.session.as_ref().expect("connected above");
        let outcome = self.source.collect(&session.conn);
        if let Err(e) = &outcome {
            tracing::warn!(error = %e, "collection failed");
            if !session.conn.is_alive() || session.closed.load(Ordering::SeqCst) {
                self.disconnect();
            }
        }
        outcome
    }

    fn connect(&mut self) -> Result<(), LibvirtError> {
        let uri = &self.config.libvirt_uri;
        if let Some(wait) = self.backoff.remaining() {
            return Err(not_connected(
                uri,
                &format!("next attempt in {}s", wait.as_secs() + 1),
            ));
        }
        let conn = match Connection::open(uri, self.config.read_only) {
            Ok(conn) => conn,
            Err(e) => {
                self.backoff.failed();
                tracing::warn!(error = %e, "cannot connect to libvirt; retrying with backoff");
                return Err(e);
            }
        };
        self.backoff.reset();
        conn.set_keepalive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT);
        let closed = Arc::new(AtomicBool::new(false));
        let subscription = match conn.subscribe(self.events.clone(), closed.clone()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "no lifecycle events from this connection");
                None
            }
        };
        self.subscribed
            .store(subscription.is_some(), Ordering::SeqCst);
        tracing::info!(%uri, events = subscription.is_some(), "connected to libvirt");
        self.source.reset();
        let conn = Arc::new(conn);
        self.shared.set(Some(conn.clone()));
        self.session = Some(Session {
            _subscription: subscription,
            closed,
            conn,
        });
        Ok(())
    }

    fn disconnect(&mut self) {
        self.shared.set(None);
        self.session = None;
        self.subscribed.store(false, Ordering::SeqCst);
    }
}

fn not_connected(uri: &str, why: &str) -> LibvirtError {
    LibvirtError {
        call: "virConnectOpen",
        code: -1,
        message: format!("not connected to {uri}: {why}"),
    }
}

/// Exponential backoff between reconnection attempts: 1 s, 2 s, 4 s ... at most 30 s.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    next_attempt: Option<Instant>,
}

impl Backoff {
    const MAX: Duration = Duration::from_secs(30);

    fn failed(&mut self) {
        let delay = Duration::from_secs(1u64 << self.failures.min(5)).min(Self::MAX);
        self.failures += 1;
        self.next_attempt = Some(Instant::now() + delay);
    }

    fn reset(&mut self) {
        *self = Backoff::default();
    }

    /// How long until the next attempt is allowed, if it is not yet.
    fn remaining(&self) -> Option<Duration> {
        let wait = self.next_attempt?.saturating_duration_since(Instant::now());
        (!wait.is_zero()).then_some(wait)
    }
}

/// The publishing side: keeps its own clock and the last good data.
struct Clock {
    config: CollectConfig,
    published: Arc<Published>,
    exporter: ExporterStats,
    last_good: Option<LastGood>,
    host: Arc<HostResults>,
    events: Receiver<LifecycleEvent>,
    event_counter: EventCounter,
    subscribed: Arc<AtomicBool>,
    heap_trim: HeapTrimPolicy,
}

struct LastGood {
    at: Instant,
    /// The snapshot published from it (shared with the exposition that may still encode from
    /// it): its domains and what it said about domains it reported in part are served again,
    /// with `libvirt_up 0`, while newer cycles fail.
    snapshot: Arc<Snapshot>,
}

impl Clock {
    fn new(
        config: CollectConfig,
        published: Arc<Published>,
        host: Arc<HostResults>,
        events: Receiver<LifecycleEvent>,
        subscribed: Arc<AtomicBool>,
    ) -> Self {
        let exporter = ExporterStats {
            version: env!("CARGO_PKG_VERSION").to_string(),
            libvirt_library_version: libvirt::library_version(),
            ..ExporterStats::default()
        };
        Clock {
            config,
            published,
            exporter,
            last_good: None,
            host,
            events,
            event_counter: EventCounter::default(),
            subscribed,
            heap_trim: HeapTrimPolicy::default(),
        }
    }

    fn run(
        mut self,
        requests: mpsc::Sender<()>,
        results: mpsc::Receiver<ClockInput>,
        stop: Arc<StopSignal>,
    ) {
        let mut next_tick = Instant::now();
        let mut in_flight: Option<Instant> = None;
        let mut timed_out = false;
        while !stop.is_stopped() {
            let now = Instant::now();
            if now >= next_tick {
                while next_tick <= now {
                    next_tick += self.config.interval;
                }
                match in_flight {
                    None => {
                        if requests.send(()).is_err() {
                            return;
                        }
                        in_flight = Some(now);
                        timed_out = false;
                    }
                    Some(_) if timed_out => self.publish_stale(),
                    Some(_) => {}
                }
            }
            let mut wake = next_tick;
            if let (Some(started), false) = (in_flight, timed_out) {
                wake = wake.min(started + self.config.timeout);
            }
            // Sleeps until the next tick or timeout: nothing else needs this thread between
            // them (lifecycle events queue up and are counted when the next snapshot is made).
            let wait = wake.saturating_duration_since(Instant::now());
            match results.recv_timeout(wait) {
                Ok(ClockInput::Cycle(result)) => {
                    in_flight = None;
                    self.publish_result(result);
                }
                Ok(ClockInput::HostFirstRun) => self.republish_with_host_data(),
                Err(RecvTimeoutError::Timeout) => {
                    if let (Some(started), false) = (in_flight, timed_out) {
                        if started.elapsed() >= self.config.timeout {
                            timed_out = true;
                            tracing::warn!(
                                timeout = ?self.config.timeout,
                                "libvirt did not answer in time; serving stale data"
                            );
                            self.publish_stale();
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn publish_result(&mut self, result: CycleResult) {
        self.exporter.cycles += 1;
        match result.outcome {
            Ok(cycle) => {
                let snapshot = Snapshot {
                    up: true,
                    collected_at: Some(result.started_at),
                    last_success: Some(result.started_at),
                    domains: cycle.domains,
                    collectors: cycle.outcomes,
                    domain_errors: cycle.incomplete,
                    ..Snapshot::default()
                };
                let at = Instant::now();
                let snapshot = self.publish(snapshot);
                self.last_good = Some(LastGood { at, snapshot });
            }
            Err(_) => {
                self.exporter.failed_cycles += 1;
                self.publish_stale();
            }
        }
    }

    /// Publishes `libvirt_up 0` with the last good domains while they are young enough.
    fn publish_stale(&mut self) {
        let fresh = self
            .last_good
            .as_ref()
            .filter(|g| g.at.elapsed() <= self.config.max_age);
        let snapshot = Snapshot {
            up: false,
            collected_at: fresh.and_then(|g| g.snapshot.collected_at),
            last_success: self
                .last_good
                .as_ref()
                .and_then(|g| g.snapshot.last_success),
            domains: fresh
                .map(|g| g.snapshot.domains.clone())
                .unwrap_or_default(),
            domain_errors: fresh
                .map(|g| g.snapshot.domain_errors.clone())
                .unwrap_or_default(),
            collectors: vec![CollectorOutcome {
                name: "domains".into(),
                success: false,
                duration: Duration::ZERO,
            }],
            ..Snapshot::default()
        };
        self.publish(snapshot);
    }

    /// Publishes the latest snapshot again with the host collectors' current results, so the
    /// first results of a host collector that finished after the first cycle are served at
    /// once rather than after the next interval. Before the first cycle there is nothing to
    /// do: its snapshot will carry them.
    fn republish_with_host_data(&mut self) {
        let shown = self.published.load();
        if shown.is_empty() {
            return;
        }
        if !shown.up {
            self.publish_stale();
            return;
        }
        // Serving `libvirt_up 1`: the last good cycle's snapshot is what is shown.
        let Some(good) = &self.last_good else {
            return;
        };
        let mut snapshot = Snapshot::clone(&good.snapshot);
        snapshot.host = Default::default();
        snapshot.collectors.retain(|c| !self.host.runs(&c.name));
        let renewed = self.publish(snapshot);
        if let Some(good) = &mut self.last_good {
            good.snapshot = renewed;
        }
    }

    /// Counts the lifecycle events the libvirt event thread queued since the last call.
    fn drain_events(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            tracing::debug!(domain = %event.name, event = event.event, detail = event.detail, "lifecycle event");
            self.event_counter.record(&event);
        }
    }

    /// Encodes and publishes `snapshot`; returns it as the exposition keeps it, to encode the
    /// formats not encoded yet when they are first asked for.
    fn publish(&mut self, mut snapshot: Snapshot) -> Arc<Snapshot> {
        self.drain_events();
        let subscribed = self.subscribed.load(Ordering::SeqCst) && snapshot.up;
        snapshot.events = self.event_counter.stats_for(&snapshot.domains, subscribed);
        crate::process::read_into(&mut self.exporter);
        let web_config = self.published.web_config.get();
        self.exporter.web_config_reload_success = web_config.map(|r| r.success);
        self.exporter.web_config_last_reload_success_seconds = web_config
            .and_then(|r| r.last_success.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64());
        snapshot.exporter = self.exporter.clone();
        self.host.fill(&mut snapshot);
        snapshot.max_series = self.config.domains.max_series;
        let snapshot = Arc::new(snapshot);
        let exposition = encode::encode(snapshot.clone(), &self.published.formats_in_demand());
        self.published.store(exposition);
        // The encoding buffers and (once no scrape holds it) the previous exposition are
        // freed now; hand the memory back instead of letting glibc keep it, once there is
        // enough to be worth the page faults of taking it again.
        if self
            .heap_trim
            .should_trim(crate::process::anonymous_resident_bytes())
        {
            libvirt::release_free_memory();
            self.heap_trim
                .trimmed(crate::process::anonymous_resident_bytes());
        }
        snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::DomainStats;
    use std::collections::BTreeMap;

    #[test]
    fn reconnection_attempts_back_off_exponentially_up_to_thirty_seconds() {
        let mut b = Backoff::default();
        assert_eq!(b.remaining(), None, "the first attempt is immediate");
        let waits: Vec<u64> = (0..8)
            .map(|_| {
                b.failed();
                b.remaining().unwrap().as_secs_f64().round() as u64
            })
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        b.reset();
        assert_eq!(b.remaining(), None);
    }

    fn new_clock(max_age: Duration) -> (Clock, Arc<Published>) {
        let published = Arc::new(Published::new("test:///default"));
        let config = CollectConfig {
            libvirt_uri: "test:///default".into(),
            read_only: true,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            max_age,
            domains: Default::default(),
        };
        let (_tx, rx) = mpsc::channel();
        let clock = Clock::new(
            config,
            published.clone(),
            Arc::default(),
            rx,
            Arc::new(AtomicBool::new(true)),
        );
        (clock, published)
    }

    fn text(published: &Published) -> String {
        String::from_utf8(
            published
                .load()
                .plain(crate::exposition::Format::Text)
                .to_vec(),
        )
        .unwrap()
    }

    fn good_cycle() -> CycleResult {
        let domain = DomainStats {
            name: "web".into(),
            uuid: "u".into(),
            ..DomainStats::default()
        };
        CycleResult {
            started_at: SystemTime::now(),
            outcome: Ok(DomainCycle {
                domains: vec![domain],
                outcomes: vec![],
                incomplete: BTreeMap::from([("busy".to_string(), 1)]),
            }),
        }
    }

    #[test]
    fn stale_data_is_served_with_what_its_cycle_said_until_max_age() {
        let (mut clock, published) = new_clock(Duration::from_secs(3600));
        clock.publish_result(good_cycle());
        clock.publish_stale();
        let stale = text(&published);
        assert!(stale.contains("libvirt_up 0\n"), "{stale}");
        assert!(stale.contains("libvirt_domains 1\n"));
        assert!(stale.contains("libvirt_exporter_incomplete_domains{reason=\"busy\"} 1\n"));

        let (mut clock, published) = new_clock(Duration::ZERO);
        clock.publish_result(good_cycle());
        std::thread::sleep(Duration::from_millis(5));
        clock.publish_stale();
        let expired = text(&published);
        assert!(!expired.contains("domain=\"web\""), "{expired}");
        assert!(!expired.contains("libvirt_domains"), "unknown, not zero");
        assert!(expired.contains("libvirt_exporter_incomplete_domains{reason=\"busy\"} 0\n"));
    }

    #[test]
    fn host_data_republished_before_the_first_cycle_or_while_stale_changes_nothing_else() {
        let (mut clock, published) = new_clock(Duration::from_secs(3600));
        clock.republish_with_host_data();
        assert!(
            published.load().is_empty(),
            "nothing is published before a cycle"
        );
        clock.publish_result(good_cycle());
        clock.republish_with_host_data();
        let good = text(&published);
        assert!(good.contains("libvirt_up 1\n"), "{good}");
        assert!(good.contains("libvirt_domains 1\n"));
        assert!(good.contains("libvirt_exporter_collections_total 1\n"));
        clock.publish_stale();
        clock.republish_with_host_data();
        let stale = text(&published);
        assert!(stale.contains("libvirt_up 0\n"), "{stale}");
        assert!(stale.contains("libvirt_domains 1\n"));
        assert!(stale.contains("libvirt_exporter_incomplete_domains{reason=\"busy\"} 1\n"));
    }
}
