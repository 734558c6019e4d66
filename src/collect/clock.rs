//! The bulk cycle's clock, the only code that knows about time: it asks the worker for a
//! cycle every interval, waits at most `timeout` for the answer and publishes an encoding
//! either way.
//!
//! libvirt calls cannot be cancelled, so when the worker is stuck the clock publishes
//! `libvirt_up 0` with the last good data (until it is older than `max_age`), and never starts
//! a second worker. A late answer is published when it finally arrives. Every snapshot it
//! publishes also carries the latest results of the collectors that run off the cycle (host
//! collectors, slow per-domain collectors); it only reads them, never waits for them.

use super::config::CollectConfig;
use super::events::EventCounter;
use super::host_runner::HostResults;
use super::slow::SlowResults;
use super::stop::StopSignal;
use super::worker::CycleResult;
use crate::encode::{self, EncodeOptions};
use crate::exposition::Published;
use crate::libvirt::{self, DomainEvent};
use crate::process::HeapTrimPolicy;
use crate::snapshot::{CollectorOutcome, ExporterStats, Snapshot};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What wakes the clock besides its own ticks.
pub enum ClockInput {
    /// The worker's answer to a cycle request.
    Cycle(CycleResult),
    /// An off-cycle collector finished its first run: its data should not wait for the next
    /// cycle.
    FirstRun,
    /// Collection is stopping.
    Stop,
}

/// What the clock reads besides the worker's answers.
pub struct ClockSources {
    pub host: Arc<HostResults>,
    pub slow: Arc<SlowResults>,
    /// Domain events, queued by libvirt's event thread.
    pub events: Receiver<DomainEvent>,
    /// Whether the worker's connection has a lifecycle subscription.
    pub subscribed: Arc<AtomicBool>,
}

/// The publishing side: keeps its own clock and the last good data.
pub struct Clock {
    config: CollectConfig,
    encode: EncodeOptions,
    published: Arc<Published>,
    exporter: ExporterStats,
    last_good: Option<LastGood>,
    sources: ClockSources,
    event_counter: EventCounter,
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
    pub fn new(config: CollectConfig, published: Arc<Published>, sources: ClockSources) -> Self {
        let exporter = ExporterStats {
            version: env!("CARGO_PKG_VERSION").to_string(),
            libvirt_library_version: libvirt::library_version(),
            ..ExporterStats::default()
        };
        Clock {
            encode: EncodeOptions {
                max_series: config.domains.max_series,
            },
            config,
            published,
            exporter,
            last_good: None,
            sources,
            event_counter: EventCounter::default(),
            heap_trim: HeapTrimPolicy::default(),
        }
    }

    /// Ticks until `stop` is set (or [`ClockInput::Stop`] arrives), asking for a cycle through
    /// `requests` and reading answers and announcements from `inputs`.
    pub fn run(mut self, requests: Sender<()>, inputs: Receiver<ClockInput>, stop: &StopSignal) {
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
            // them (domain events queue up and are counted when the next snapshot is made).
            let wait = wake.saturating_duration_since(Instant::now());
            match inputs.recv_timeout(wait) {
                Ok(ClockInput::Cycle(result)) => {
                    in_flight = None;
                    self.publish_result(result);
                }
                Ok(ClockInput::FirstRun) => self.republish_with_off_cycle_data(),
                Ok(ClockInput::Stop) | Err(RecvTimeoutError::Disconnected) => return,
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
            }
        }
    }

    fn publish_result(&mut self, result: CycleResult) {
        self.exporter.cycles += 1;
        match result.outcome {
            Ok(cycle) => {
                self.sources.slow.observe(&cycle.domains);
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

    /// Publishes the latest snapshot again with the off-cycle collectors' current results, so
    /// the first results of a collector that finished after the first cycle are served at
    /// once rather than after the next interval. Before the first cycle there is nothing to
    /// do: its snapshot will carry them.
    fn republish_with_off_cycle_data(&mut self) {
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
        let (host, slow) = (&self.sources.host, &self.sources.slow);
        snapshot
            .collectors
            .retain(|c| !host.runs(&c.name) && !slow.runs(&c.name));
        let renewed = self.publish(snapshot);
        if let Some(good) = &mut self.last_good {
            good.snapshot = renewed;
        }
    }

    /// Counts the domain events the libvirt event thread queued since the last call;
    /// `domains` are those about to be published.
    fn drain_events(&mut self, domains: &[crate::snapshot::DomainStats]) {
        while let Ok(event) = self.sources.events.try_recv() {
            tracing::debug!(domain = %event.name, kind = ?event.kind, "domain event");
            self.event_counter.record(&event, domains);
        }
    }

    /// Encodes and publishes `snapshot`; returns it as the exposition keeps it, to encode the
    /// formats not encoded yet when they are first asked for.
    fn publish(&mut self, mut snapshot: Snapshot) -> Arc<Snapshot> {
        self.drain_events(&snapshot.domains);
        let subscribed = self.sources.subscribed.load(Ordering::SeqCst) && snapshot.up;
        snapshot.events =
            self.event_counter
                .stats_for(&snapshot.domains, snapshot.collected_at, subscribed);
        crate::process::read_into(&mut self.exporter);
        let web_config = self.published.web_config.get();
        self.exporter.web_config_reload_success = web_config.map(|r| r.success);
        self.exporter.web_config_last_reload_success_seconds = web_config
            .and_then(|r| r.last_success.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64());
        snapshot.exporter = self.exporter.clone();
        self.sources.host.fill(&mut snapshot);
        self.sources.slow.fill(&mut snapshot);
        let snapshot = Arc::new(snapshot);
        let eager = self.published.formats_in_demand();
        let exposition = encode::encode(snapshot.clone(), &eager, self.encode);
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
    use crate::collect::domains::DomainCycle;
    use crate::snapshot::DomainStats;
    use std::collections::BTreeMap;
    use std::sync::mpsc;
    use std::time::SystemTime;

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
        let (_tx, events) = mpsc::channel();
        let sources = ClockSources {
            host: Arc::default(),
            slow: Arc::default(),
            events,
            subscribed: Arc::new(AtomicBool::new(true)),
        };
        (Clock::new(config, published.clone(), sources), published)
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
    fn off_cycle_data_republished_before_the_first_cycle_or_while_stale_changes_nothing_else() {
        let (mut clock, published) = new_clock(Duration::from_secs(3600));
        clock.republish_with_off_cycle_data();
        assert!(
            published.load().is_empty(),
            "nothing is published before a cycle"
        );
        clock.publish_result(good_cycle());
        clock.republish_with_off_cycle_data();
        let good = text(&published);
        assert!(good.contains("libvirt_up 1\n"), "{good}");
        assert!(good.contains("libvirt_domains 1\n"));
        assert!(good.contains("libvirt_exporter_collections_total 1\n"));
        clock.publish_stale();
        clock.republish_with_off_cycle_data();
        let stale = text(&published);
        assert!(stale.contains("libvirt_up 0\n"), "{stale}");
        assert!(stale.contains("libvirt_domains 1\n"));
        assert!(stale.contains("libvirt_exporter_incomplete_domains{reason=\"busy\"} 1\n"));
    }
}
