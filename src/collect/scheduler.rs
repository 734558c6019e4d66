//! The collection loop, the only code that knows about time.
//!
//! A worker thread owns the libvirt connection and runs one cycle at a time when asked. A
//! clock thread asks every interval, waits at most `timeout` for the answer and publishes an
//! encoding either way: libvirt calls cannot be cancelled, so when the worker is stuck the
//! clock publishes `libvirt_up 0` with the last good data (until it is older than `max_age`),
//! and never starts a second worker. A late answer is published when it finally arrives.

use super::domains::{DomainCycle, DomainSource};
use super::options::DomainOptions;
use super::DomainCollector;
use crate::encode;
use crate::exposition::Published;
use crate::libvirt::{self, Connection, LibvirtError};
use crate::snapshot::{CollectorOutcome, DomainStats, ExporterStats, Snapshot};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
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

/// One cycle's answer from the worker.
struct CycleResult {
    started_at: SystemTime,
    outcome: Result<DomainCycle, LibvirtError>,
}

/// Starts the worker and the clock; returns at once. Setting `stop` ends the clock thread.
pub fn start(
    config: CollectConfig,
    collectors: Vec<Box<dyn DomainCollector>>,
    published: Arc<Published>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let (request_tx, request_rx) = mpsc::channel::<()>();
    let (result_tx, result_rx) = mpsc::channel::<CycleResult>();
    let worker_config = config.clone();
    thread::Builder::new()
        .name("libvirt-worker".into())
        .spawn(move || worker(worker_config, collectors, request_rx, result_tx))?;
    thread::Builder::new()
        .name("collect-clock".into())
        .spawn(move || Clock::new(config, published).run(request_tx, result_rx, stop))?;
    Ok(())
}

/// Runs cycles on request; owns the connection and reconnects after it breaks.
fn worker(
    config: CollectConfig,
    collectors: Vec<Box<dyn DomainCollector>>,
    requests: mpsc::Receiver<()>,
    results: mpsc::Sender<CycleResult>,
) {
    let mut source = DomainSource::new(collectors, config.domains.clone());
    let mut conn: Option<Connection> = None;
    while requests.recv().is_ok() {
        let started_at = SystemTime::now();
        if conn.is_none() {
            match Connection::open(&config.libvirt_uri, config.read_only) {
                Ok(c) => {
                    tracing::info!(uri = %config.libvirt_uri, "connected to libvirt");
                    source.reset();
                    conn = Some(c);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot connect to libvirt; retrying next cycle")
                }
            }
        }
        let outcome = match &conn {
            Some(c) => source.collect(c),
            None => Err(LibvirtError {
                call: "virConnectOpen",
                code: -1,
                message: format!("not connected to {}", config.libvirt_uri),
            }),
        };
        if let Err(e) = &outcome {
            tracing::warn!(error = %e, "collection failed");
            if conn.as_ref().is_some_and(|c| !c.is_alive()) {
                conn = None;
            }
        }
        if results
            .send(CycleResult {
                started_at,
                outcome,
            })
            .is_err()
        {
            return;
        }
    }
}

/// The publishing side: keeps its own clock and the last good data.
struct Clock {
    config: CollectConfig,
    published: Arc<Published>,
    exporter: ExporterStats,
    last_good: Option<LastGood>,
}

struct LastGood {
    at: Instant,
    started_at: SystemTime,
    domains: Vec<DomainStats>,
}

impl Clock {
    fn new(config: CollectConfig, published: Arc<Published>) -> Self {
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
        }
    }

    fn run(
        mut self,
        requests: mpsc::Sender<()>,
        results: mpsc::Receiver<CycleResult>,
        stop: Arc<AtomicBool>,
    ) {
        let poll = Duration::from_millis(250);
        let mut next_tick = Instant::now();
        let mut in_flight: Option<Instant> = None;
        let mut timed_out = false;
        while !stop.load(Ordering::Relaxed) {
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
            let wait = wake.saturating_duration_since(Instant::now()).min(poll);
            match results.recv_timeout(wait) {
                Ok(result) => {
                    in_flight = None;
                    self.publish_result(result);
                }
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
                    domains: cycle.domains.clone(),
                    collectors: cycle.outcomes,
                    domain_errors: cycle.incomplete,
                    ..Snapshot::default()
                };
                self.last_good = Some(LastGood {
                    at: Instant::now(),
                    started_at: result.started_at,
                    domains: cycle.domains,
                });
                self.publish(snapshot);
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
            collected_at: fresh.map(|g| g.started_at),
            last_success: self.last_good.as_ref().map(|g| g.started_at),
            domains: fresh.map(|g| g.domains.clone()).unwrap_or_default(),
            collectors: vec![CollectorOutcome {
                name: "domains".into(),
                success: false,
                duration: Duration::ZERO,
            }],
            ..Snapshot::default()
        };
        self.publish(snapshot);
    }

    fn publish(&mut self, mut snapshot: Snapshot) {
        crate::process::read_into(&mut self.exporter);
        snapshot.exporter = self.exporter.clone();
        snapshot.max_series = self.config.domains.max_series;
        let exposition = encode::encode(Arc::new(snapshot));
        self.published.store(exposition);
    }
}
