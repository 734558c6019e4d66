//! Runs the host collectors off the domain path: each on its own thread and interval, all
//! calling through the connection the domain worker keeps ([`SharedConnection`]). The clock
//! only reads their latest results when it assembles a snapshot ([`HostResults::fill`]), so a
//! host collector that hangs never delays domain statistics or the other host collectors.
//! Later runs are served from the next domain cycle on; a collector's first run is announced
//! ([`HostResults::on_first_run`]), so start-up data never waits for a long domain interval.
//!
//! Why not the domain worker's thread: while libvirt reads a volume it holds that pool's lock,
//! and listing pools waits for the lock. A volume read stuck on a dead network mount would
//! therefore also stall the pool collector, and with it anything run after it on the same
//! thread. A libvirt connection takes calls from several threads at once, so sharing it does
//! not bring that coupling back.

use super::config::CollectConfig;
use super::first_run::FirstRunHook;
use super::shared_connection::SharedConnection;
use super::stop::StopSignal;
use super::HostCollector;
use crate::libvirt::LibvirtError;
use crate::snapshot::{CollectorOutcome, HostStats, Snapshot};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a run waits for the worker's connection before it counts as failed.
const CONNECTION_PATIENCE: Duration = Duration::from_secs(10);

/// How often to run and how long to serve results, shared by every runner.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Named in errors while there is no connection.
    pub libvirt_uri: String,
    /// `--collect.interval`: the interval of every host collector but volumes.
    pub interval: Duration,
    /// `--collect.max-age`: results are served at least this long (and at least three of the
    /// collector's own intervals) while newer runs fail or hang.
    pub max_age: Duration,
}

impl From<&CollectConfig> for RunnerConfig {
    fn from(c: &CollectConfig) -> Self {
        RunnerConfig {
            libvirt_uri: c.libvirt_uri.clone(),
            interval: c.interval,
            max_age: c.max_age,
        }
    }
}

/// The latest results of every running host collector.
#[derive(Debug, Default)]
pub struct HostResults {
    slots: Vec<Arc<Slot>>,
    first_run: Arc<FirstRunHook>,
}

/// One collector's latest results, written by its thread and read by the clock.
#[derive(Debug)]
struct Slot {
    name: &'static str,
    interval: Duration,
    max_age: Duration,
    state: Mutex<SlotState>,
}

#[derive(Debug, Default)]
struct SlotState {
    /// When the run in progress started; `None` between runs.
    busy_since: Option<Instant>,
    /// How the last finished run went: success and duration.
    last_run: Option<(bool, Duration)>,
    /// The data of the last run that produced any, and when it finished.
    data: Option<(Instant, HostStats)>,
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn begin(&self) {
        self.lock().busy_since = Some(Instant::now());
    }

    /// Records a finished run; true when it was the collector's first.
    fn finish(&self, success: bool, duration: Duration, stats: HostStats) -> bool {
        let mut state = self.lock();
        state.busy_since = None;
        let first = state.last_run.is_none();
        state.last_run = Some((success, duration));
        if success || stats != HostStats::default() {
            state.data = Some((Instant::now(), stats));
        }
        first
    }
}

impl HostResults {
    /// Calls `hook` (at most once per collector, from its thread) when a collector's first run
    /// finishes from now on; a run that finished before this call is in the next `fill` anyway.
    /// Only the first call sets it.
    pub fn on_first_run(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.first_run.set(hook);
    }

    /// Whether `name` is one of the host collectors running here.
    pub fn runs(&self, name: &str) -> bool {
        self.slots.iter().any(|s| s.name == name)
    }

    /// Adds the host data young enough to serve, and one outcome per collector whose first
    /// run has finished (or that has been running for longer than its interval: stuck).
    pub fn fill(&self, snapshot: &mut Snapshot) {
        for slot in &self.slots {
            let state = slot.lock();
            if let Some((at, data)) = &state.data {
                if at.elapsed() <= slot.max_age {
                    merge(&mut snapshot.host, data);
                }
            }
            let stuck = state
                .busy_since
                .map(|t| t.elapsed())
                .filter(|busy| *busy > slot.interval);
            let outcome = match (stuck, state.last_run) {
                (Some(busy), _) => Some((false, busy)),
                (None, last) => last,
            };
            if let Some((success, duration)) = outcome {
                snapshot.collectors.push(CollectorOutcome {
                    name: slot.name.into(),
                    success,
                    duration,
                });
            }
        }
    }
}

/// Each collector fills only its own part, so parts are simply put together.
fn merge(into: &mut HostStats, part: &HostStats) {
    into.pools.extend(part.pools.iter().cloned());
    into.volumes.extend(part.volumes.iter().cloned());
    into.networks.extend(part.networks.iter().cloned());
    if part.node.is_some() {
        into.node.clone_from(&part.node);
    }
    if part.pages.is_some() {
        into.pages.clone_from(&part.pages);
    }
    if part.versions.is_some() {
        into.versions.clone_from(&part.versions);
    }
}

/// Starts one thread per collector, calling libvirt through `connection`; they run until
/// `stop` is set. Returns the results and the threads.
pub fn start(
    config: &RunnerConfig,
    collectors: Vec<Box<dyn HostCollector>>,
    connection: Arc<SharedConnection>,
    stop: Arc<StopSignal>,
) -> std::io::Result<(Arc<HostResults>, Vec<JoinHandle<()>>)> {
    let mut results = HostResults::default();
    let mut threads = Vec::new();
    for collector in collectors {
        let interval = collector.interval(config.interval);
        let slot = Arc::new(Slot {
            name: collector.name(),
            interval,
            max_age: config.max_age.max(interval * 3),
            state: Mutex::new(SlotState::default()),
        });
        results.slots.push(slot.clone());
        let (config, connection, stop) = (config.clone(), connection.clone(), stop.clone());
        let first_run = results.first_run.clone();
        let thread = thread::Builder::new()
            .name(format!("host-{}", collector.name()))
            .spawn(move || {
                run(
                    collector.as_ref(),
                    &slot,
                    &config,
                    &connection,
                    &first_run,
                    &stop,
                )
            })?;
        threads.push(thread);
    }
    Ok((Arc::new(results), threads))
}

/// One collector's loop: a run every interval (missed ticks are skipped, never queued).
fn run(
    collector: &dyn HostCollector,
    slot: &Slot,
    config: &RunnerConfig,
    connection: &SharedConnection,
    first_run: &FirstRunHook,
    stop: &StopSignal,
) {
    let mut next = Instant::now();
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        if stop.sleep(wait) {
            return;
        }
        let now = Instant::now();
        while next <= now {
            next += slot.interval;
        }
        slot.begin();
        let started = Instant::now();
        // At start-up the worker may still be connecting; afterwards this returns at once
        // unless the worker is between connections.
        let conn = connection.wait(CONNECTION_PATIENCE.min(slot.interval));
        let mut stats = HostStats::default();
        let result = match &conn {
            Some(c) => collector.collect(c, &mut stats),
            None => Err(LibvirtError {
                call: "virConnectOpen",
                code: -1,
                message: format!(
                    "not connected to {} (the domain worker reconnects; see its log)",
                    config.libvirt_uri
                ),
            }),
        };
        drop(conn);
        if let Err(e) = &result {
            tracing::warn!(collector = slot.name, error = %e, "host collector failed");
        }
        if slot.finish(result.is_ok(), started.elapsed(), stats) {
            first_run.announce();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{all_host_collectors, HostOptions};
    use crate::snapshot::PoolStats;

    /// Runs every `interval` against `uri`, serving results for a minute.
    fn runner_config(uri: &str, interval: Duration) -> RunnerConfig {
        RunnerConfig {
            libvirt_uri: uri.into(),
            interval,
            max_age: Duration::from_secs(60),
        }
    }

    fn slot(interval: Duration, max_age: Duration) -> Slot {
        Slot {
            name: "pool",
            interval,
            max_age,
            state: Mutex::new(SlotState::default()),
        }
    }

    fn pools(names: &[&str]) -> HostStats {
        HostStats {
            pools: names
                .iter()
                .map(|n| PoolStats {
                    name: n.to_string(),
                    ..PoolStats::default()
                })
                .collect(),
            ..HostStats::default()
        }
    }

    fn one_collector(slot: Arc<Slot>) -> HostResults {
        HostResults {
            slots: vec![slot],
            ..Default::default()
        }
    }

    fn filled(results: &HostResults) -> Snapshot {
        let mut snapshot = Snapshot::default();
        results.fill(&mut snapshot);
        snapshot
    }

    #[test]
    fn nothing_is_reported_before_the_first_run_finishes() {
        let s = Arc::new(slot(Duration::from_secs(60), Duration::from_secs(180)));
        s.begin();
        let results = one_collector(s);
        let snapshot = filled(&results);
        assert!(snapshot.collectors.is_empty());
        assert_eq!(snapshot.host, HostStats::default());
    }

    #[test]
    fn a_failed_run_keeps_serving_the_last_data_and_reports_failure() {
        let s = Arc::new(slot(Duration::from_secs(60), Duration::from_secs(180)));
        s.finish(true, Duration::from_millis(5), pools(&["a"]));
        s.finish(false, Duration::from_millis(7), HostStats::default());
        let snapshot = filled(&one_collector(s));
        assert_eq!(snapshot.host, pools(&["a"]));
        assert_eq!(
            snapshot.collectors,
            [CollectorOutcome {
                name: "pool".into(),
                success: false,
                duration: Duration::from_millis(7)
            }]
        );
    }

    #[test]
    fn partial_data_of_a_failed_run_replaces_the_old_data() {
        let s = Arc::new(slot(Duration::from_secs(60), Duration::from_secs(180)));
        s.finish(true, Duration::ZERO, pools(&["a", "b"]));
        s.finish(false, Duration::ZERO, pools(&["b"]));
        assert_eq!(filled(&one_collector(s)).host, pools(&["b"]));
    }

    #[test]
    fn a_run_busy_for_longer_than_its_interval_is_reported_as_failed() {
        let s = Arc::new(slot(Duration::from_millis(1), Duration::from_secs(180)));
        s.finish(true, Duration::ZERO, pools(&["a"]));
        s.begin();
        thread::sleep(Duration::from_millis(20));
        let snapshot = filled(&one_collector(s));
        assert_eq!(snapshot.host, pools(&["a"]));
        assert!(!snapshot.collectors[0].success);
        assert!(snapshot.collectors[0].duration >= Duration::from_millis(20));
    }

    #[test]
    fn data_older_than_the_maximum_age_is_dropped() {
        let s = Arc::new(slot(Duration::from_secs(60), Duration::from_millis(1)));
        s.finish(true, Duration::ZERO, pools(&["a"]));
        thread::sleep(Duration::from_millis(20));
        let snapshot = filled(&one_collector(s));
        assert_eq!(snapshot.host, HostStats::default());
        assert!(snapshot.collectors[0].success);
    }

    #[test]
    fn runners_collect_from_the_test_driver_and_stop() {
        crate::libvirt::silence_default_error_printer();
        let config = runner_config("test:///default", Duration::from_millis(50));
        let stop = Arc::new(StopSignal::default());
        let collectors = all_host_collectors(&HostOptions::default());
        let connection = Arc::new(SharedConnection::default());
        let conn = crate::libvirt::Connection::open("test:///default", true).unwrap();
        connection.set(Some(Arc::new(conn)));
        let (results, _) = start(&config, collectors, connection, stop.clone()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let snapshot = loop {
            let snapshot = filled(&results);
            if snapshot.collectors.len() == 5 || Instant::now() > deadline {
                break snapshot;
            }
            thread::sleep(Duration::from_millis(20));
        };
        stop.stop();
        let names: Vec<&str> = snapshot
            .collectors
            .iter()
            .map(|o| o.name.as_str())
            .collect();
        assert_eq!(names, ["pool", "volume", "network", "node", "pages"]);
        assert!(
            snapshot.collectors.iter().all(|o| o.success),
            "{snapshot:?}"
        );
        assert!(snapshot.host.pools.iter().any(|p| p.name == "default-pool"));
        assert!(snapshot.host.networks.iter().any(|n| n.name == "default"));
        assert_eq!(snapshot.host.node.as_ref().unwrap().cpus, 16);
    }

    #[test]
    fn a_runner_without_a_connection_reports_failure() {
        let config = runner_config("test:///", Duration::from_millis(50));
        let stop = Arc::new(StopSignal::default());
        let collectors = vec![all_host_collectors(&HostOptions::default()).remove(2)];
        let connection = Arc::new(SharedConnection::default());
        let (results, _) = start(&config, collectors, connection, stop.clone()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let snapshot = loop {
            let snapshot = filled(&results);
            if !snapshot.collectors.is_empty() || Instant::now() > deadline {
                break snapshot;
            }
            thread::sleep(Duration::from_millis(20));
        };
        stop.stop();
        assert_eq!(snapshot.collectors[0].name, "network");
        assert!(!snapshot.collectors[0].success);
        assert!(snapshot.host.networks.is_empty());
    }

    /// Blocks every run until the test lets it go, like a volume read on a dead NFS mount.
    struct Stuck(Arc<(Mutex<bool>, std::sync::Condvar)>);

    impl HostCollector for Stuck {
        fn name(&self) -> &'static str {
            "stuck"
        }
        fn collect(
            &self,
            _: &crate::libvirt::Connection,
            out: &mut HostStats,
        ) -> Result<(), LibvirtError> {
            let (released, cv) = &*self.0;
            let mut released = released.lock().unwrap();
            while !*released {
                released = cv.wait(released).unwrap();
            }
            out.networks.push(crate::snapshot::NetworkStats::default());
            Ok(())
        }
    }

    /// Fails every run, after reading a little.
    struct Failing;

    impl HostCollector for Failing {
        fn name(&self) -> &'static str {
            "failing"
        }
        fn collect(
            &self,
            conn: &crate::libvirt::Connection,
            out: &mut HostStats,
        ) -> Result<(), LibvirtError> {
            out.pools.push(crate::snapshot::PoolStats {
                name: "read-before-the-error".into(),
                state: Some(0),
                ..Default::default()
            });
            conn.node_memory_stats(None).map(|_| ())
        }
    }

    /// Host runners and the bulk cycle on the test driver, as `main` starts them.
    struct Exporter {
        published: Arc<crate::exposition::Published>,
        _collection: crate::collect::Collection,
    }

    impl Exporter {
        fn start(interval: Duration, collectors: Vec<Box<dyn HostCollector>>) -> Self {
            use crate::collect::{all_domain_collectors, Collectors};
            crate::libvirt::silence_default_error_printer();
            let published = Arc::new(crate::exposition::Published::new("test:///default"));
            let config = CollectConfig {
                libvirt_uri: "test:///default".into(),
                read_only: true,
                interval,
                timeout: interval.min(Duration::from_secs(10)),
                max_age: interval * 3,
                domains: Default::default(),
            };
            let collectors = Collectors {
                domain: all_domain_collectors(),
                host: collectors,
                slow: Vec::new(),
            };
            let collection = crate::collect::start(config, collectors, published.clone()).unwrap();
            Exporter {
                published,
                _collection: collection,
            }
        }

        fn text(&self) -> String {
            let body = self.published.load().plain(crate::exposition::Format::Text);
            String::from_utf8_lossy(&body).into_owned()
        }

        /// The exposition once it has every line of `wanted` (or after 30 s).
        fn wait_for_lines(&self, wanted: &[&str]) -> String {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let text = self.text();
                let done = wanted.iter().all(|w| text.lines().any(|l| l == *w));
                if done || Instant::now() > deadline {
                    return text;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn release(gate: &(Mutex<bool>, std::sync::Condvar)) {
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
    }

    #[test]
    fn stuck_or_failing_host_collectors_do_not_hold_up_domains_or_each_other() {
        let interval = Duration::from_millis(200);
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let collectors: Vec<Box<dyn HostCollector>> = vec![
            Box::new(Stuck(gate.clone())),
            Box::new(Failing),
            all_host_collectors(&HostOptions::default()).remove(3),
        ];
        let exporter = Exporter::start(interval, collectors);
        let wanted = [
            "libvirt_up 1",
            "libvirt_domains 1",
            "libvirt_exporter_collector_success{collector=\"stuck\"} 0",
            "libvirt_exporter_collector_success{collector=\"failing\"} 0",
            "libvirt_exporter_collector_success{collector=\"node\"} 1",
            "libvirt_storage_pool_state{storage_pool=\"read-before-the-error\"} 0",
        ];
        let text = exporter.wait_for_lines(&wanted);
        drop(exporter);
        release(&gate);
        for w in wanted {
            assert!(text.lines().any(|l| l == w), "missing {w:?} in\n{text}");
        }
        assert!(text.contains("libvirt_node_cpus 16"), "{text}");
        assert!(!text.contains("libvirt_network_info"), "{text}");
    }

    #[test]
    fn a_first_host_run_that_ends_after_the_first_cycle_is_served_at_once() {
        // With an hour between cycles, host data that missed the first snapshot would be
        // missing for an hour unless its arrival is published by itself.
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let collectors: Vec<Box<dyn HostCollector>> = vec![Box::new(Stuck(gate.clone()))];
        let exporter = Exporter::start(Duration::from_secs(3600), collectors);
        let first = exporter.wait_for_lines(&["libvirt_domains 1"]);
        assert!(first.contains("libvirt_up 1\n"), "{first}");
        assert!(!first.contains("collector=\"stuck\""), "{first}");
        release(&gate);
        let wanted = [
            "libvirt_up 1",
            "libvirt_domains 1",
            "libvirt_exporter_collector_success{collector=\"domains\"} 1",
            "libvirt_exporter_collector_success{collector=\"stuck\"} 1",
            "libvirt_network_info{network=\"\",uuid=\"\",bridge=\"\"} 1",
            "libvirt_exporter_collections_total 1",
        ];
        let text = exporter.wait_for_lines(&wanted);
        for w in wanted {
            assert!(text.lines().any(|l| l == w), "missing {w:?} in\n{text}");
        }
        assert_eq!(
            text.matches("collector=\"stuck\"").count(),
            2,
            "one success and one duration line, not a copy per publish: {text}"
        );
    }

    #[test]
    fn each_collector_announces_its_first_run_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        crate::libvirt::silence_default_error_printer();
        // Runs wait up to an interval for the connection: the hook is in place before any
        // run can finish.
        let config = runner_config("test:///default", Duration::from_millis(500));
        let stop = Arc::new(StopSignal::default());
        let collectors = all_host_collectors(&HostOptions::default());
        let connection = Arc::new(SharedConnection::default());
        let (results, _) = start(&config, collectors, connection.clone(), stop.clone()).unwrap();
        let announced = Arc::new(AtomicUsize::new(0));
        let counter = announced.clone();
        results.on_first_run(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let conn = crate::libvirt::Connection::open("test:///default", true).unwrap();
        connection.set(Some(Arc::new(conn)));
        // Three more runs of each collector.
        thread::sleep(Duration::from_millis(1700));
        let runs = filled(&results).collectors.len();
        stop.stop();
        let host_collectors = all_host_collectors(&HostOptions::default()).len();
        assert_eq!(runs, host_collectors);
        assert_eq!(announced.load(Ordering::SeqCst), host_collectors);
    }
}
