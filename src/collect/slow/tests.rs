//! The slow collectors against the test driver, with a test double of the collector: real
//! domain handles, a call that hangs for one domain until the test lets it go.

use super::*;
use crate::collect::{all_domain_collectors, Collectors};
use crate::exposition::{Format, Published};
use crate::snapshot::{CollectorOutcome, SlowResult, Snapshot};
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const NODE: &str = r#"<node>
  <domain type='test'>
    <name>alpha</name><uuid>5a1e0000-0000-4000-8000-000000000001</uuid>
    <memory>1024</memory><vcpu>1</vcpu><os><type>hvm</type></os>
  </domain>
  <domain type='test'>
    <name>beta</name><uuid>5a1e0000-0000-4000-8000-000000000002</uuid>
    <memory>1024</memory><vcpu>1</vcpu><os><type>hvm</type></os>
  </domain>
  <domain type='test'>
    <name>stuck</name><uuid>5a1e0000-0000-4000-8000-000000000003</uuid>
    <memory>1024</memory><vcpu>1</vcpu><os><type>hvm</type></os>
  </domain>
</node>"#;

/// The key `Probe` writes into a domain's perf counters: the number of its call.
const KEY: &str = "probe_call";

/// Counts its calls per domain, answers with the call's number, and hangs in the calls for
/// `stuck` until the test sends on (or drops) the gate's other end.
struct Probe {
    calls: Arc<Mutex<HashMap<String, u64>>>,
    stuck: &'static str,
    gate: Mutex<Receiver<()>>,
    interval: Duration,
    deadline: Duration,
}

impl SlowDomainCollector for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn interval(&self, _: Duration) -> Duration {
        self.interval
    }
    fn deadline(&self) -> Duration {
        self.deadline
    }
    fn collect(&self, domain: &Domain, out: &mut DomainStats) -> Result<(), LibvirtError> {
        let name = domain.name()?;
        let call = {
            let mut calls = self.calls.lock().unwrap();
            let n = calls.entry(name.clone()).or_default();
            *n += 1;
            *n
        };
        if name == self.stuck {
            // Err once the sender is gone: from then on, no call hangs.
            let _ = self.gate.lock().unwrap().recv();
        }
        out.perf.events.insert(KEY.into(), call);
        Ok(())
    }
    fn merge(&self, from: &DomainStats, into: &mut DomainStats) {
        match from.perf.events.get(KEY) {
            Some(&n) => into.perf.events.insert(KEY.into(), n),
            None => into.perf.events.remove(KEY),
        };
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    published: Arc<Published>,
    calls: Arc<Mutex<HashMap<String, u64>>>,
    gate: Option<Sender<()>>,
    _collection: crate::collect::Collection,
}

impl Fixture {
    /// The bulk cycle every 50 ms, the probe every 10 ms with a deadline of 200 ms.
    fn start() -> Self {
        crate::libvirt::silence_default_error_printer();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.xml");
        std::fs::write(&path, NODE).unwrap();
        let uri = format!("test://{}", path.display());
        let interval = Duration::from_millis(50);
        let config = CollectConfig {
            libvirt_uri: uri.clone(),
            read_only: true,
            interval,
            timeout: interval,
            max_age: Duration::from_secs(3600),
            domains: Default::default(),
        };
        let calls = Arc::new(Mutex::new(HashMap::new()));
        let (gate, wait) = mpsc::channel();
        let probe = Probe {
            calls: calls.clone(),
            stuck: "stuck",
            gate: Mutex::new(wait),
            interval: Duration::from_millis(10),
            deadline: Duration::from_millis(200),
        };
        let collectors = Collectors {
            domain: all_domain_collectors(),
            host: Vec::new(),
            slow: vec![Box::new(probe)],
        };
        let published = Arc::new(Published::new(uri));
        let collection = crate::collect::start(config, collectors, published.clone()).unwrap();
        Fixture {
            _dir: dir,
            published,
            calls,
            gate: Some(gate),
            _collection: collection,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.published.load().plain(Format::Text)).into_owned()
    }

    fn calls(&self, domain: &str) -> u64 {
        self.calls.lock().unwrap().get(domain).copied().unwrap_or(0)
    }

    /// The exposition once `done` holds for it (or after 30 s).
    fn wait_for(&self, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.text();
            if done(&text) || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn release(&mut self) {
        self.gate = None;
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Lets a hanging call return, so its thread ends with the test.
        self.release();
    }
}

/// The value of the sample `series` (name and labels, exactly) in `text`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn probe_call(domain: &str) -> String {
    format!("libvirt_domain_perf_events_total{{domain=\"{domain}\",event=\"{KEY}\"}}")
}

fn stale(domain: &str) -> String {
    format!("libvirt_exporter_slow_result_stale{{collector=\"probe\",domain=\"{domain}\"}}")
}

fn taken_at(domain: &str) -> String {
    format!(
        "libvirt_exporter_slow_result_timestamp_seconds{{collector=\"probe\",domain=\"{domain}\"}}"
    )
}

const COLLECTIONS: &str = "libvirt_exporter_collections_total";
const PROBE_SUCCESS: &str = "libvirt_exporter_collector_success{collector=\"probe\"}";

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn a_hanging_call_holds_up_neither_the_bulk_cycle_nor_the_other_domains() {
    let started = unix_now();
    let mut f = Fixture::start();

    // The other domains answer, again and again, while the call for `stuck` hangs.
    let text = f.wait_for(|t| {
        value(t, &stale("stuck")) == Some(1.0) && value(t, &probe_call("beta")) >= Some(3.0)
    });
    assert_eq!(value(&text, &stale("stuck")), Some(1.0), "{text}");
    assert!(value(&text, &probe_call("alpha")) >= Some(2.0), "{text}");
    assert!(value(&text, &probe_call("beta")) >= Some(3.0), "{text}");
    assert_eq!(value(&text, &stale("alpha")), Some(0.0), "{text}");
    assert_eq!(
        value(&text, &probe_call("stuck")),
        None,
        "no answer yet: {text}"
    );
    assert_eq!(
        value(&text, &taken_at("stuck")),
        None,
        "no data, so no age: {text}"
    );
    // one stuck domain is marked stale on its own; the collector still works for the others
    assert_eq!(value(&text, PROBE_SUCCESS), Some(1.0), "{text}");
    let alpha_taken = value(&text, &taken_at("alpha")).expect("alpha's result has its age");
    assert!(
        alpha_taken >= started && alpha_taken <= unix_now(),
        "taken at {alpha_taken}, test started at {started}"
    );

    // The bulk cycle goes on publishing, and `stuck` is not asked again meanwhile.
    let cycles = value(&text, COLLECTIONS).unwrap();
    let text = f.wait_for(|t| value(t, COLLECTIONS) >= Some(cycles + 5.0));
    assert!(value(&text, COLLECTIONS) >= Some(cycles + 5.0), "{text}");
    assert_eq!(value(&text, "libvirt_up"), Some(1.0));
    assert_eq!(f.calls("stuck"), 1, "asked again while its call hangs");
    assert!(f.calls("alpha") >= 3);

    // Once the call returns, its answer is served and the domain is asked again.
    let released = unix_now();
    f.release();
    let text = f.wait_for(|t| {
        value(t, &probe_call("stuck")) >= Some(2.0) && value(t, PROBE_SUCCESS) == Some(1.0)
    });
    assert!(value(&text, &probe_call("stuck")) >= Some(2.0), "{text}");
    assert_eq!(value(&text, &stale("stuck")), Some(0.0), "{text}");
    assert_eq!(value(&text, PROBE_SUCCESS), Some(1.0), "{text}");
    let stuck_taken = value(&text, &taken_at("stuck")).unwrap();
    assert!(
        stuck_taken >= released,
        "the result served is from a call after the release: {stuck_taken} < {released}"
    );
    assert!(f.calls("stuck") >= 2);
}

/// A collector state with one domain's data, for the merge rules.
fn probe_state(deadline: Duration) -> (CollectorState, Sender<()>) {
    let (gate, wait) = mpsc::channel();
    let probe = Probe {
        calls: Arc::default(),
        stuck: "",
        gate: Mutex::new(wait),
        interval: Duration::from_secs(60),
        deadline,
    };
    let state = CollectorState::new(Box::new(probe), Duration::from_secs(15), Duration::ZERO);
    (state, gate)
}

fn one_domain(uuid: &str) -> Snapshot {
    Snapshot {
        domains: vec![DomainStats {
            name: "web".into(),
            uuid: uuid.into(),
            ..DomainStats::default()
        }],
        ..Snapshot::default()
    }
}

fn answer(n: u64) -> DomainStats {
    let mut d = DomainStats::default();
    d.perf.events.insert(KEY.into(), n);
    d
}

#[test]
fn a_failed_call_keeps_the_last_data_marked_stale_and_fails_the_run() {
    let (state, _gate) = probe_state(Duration::from_secs(60));
    let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    assert!(state.begin_call("u"));
    state.end_call("u", at, Instant::now(), Ok(answer(1)));
    state.end_run(true, Duration::from_millis(3));
    assert!(state.begin_call("u"));
    let error = LibvirtError {
        call: "virDomainGetGuestInfo",
        code: 86,
        message: "guest agent is not responding".into(),
    };
    assert!(matches!(
        state.end_call("u", SystemTime::now(), Instant::now(), Err(error)),
        state::CallEnd::Failed(_)
    ));
    state.end_run(false, Duration::from_millis(5));
    let mut snapshot = one_domain("u");
    state.fill(&mut snapshot);
    let d = &snapshot.domains[0];
    assert_eq!(d.perf.events.get(KEY), Some(&1));
    assert_eq!(
        d.slow,
        [SlowResult {
            collector: "probe",
            taken_at: Some(at),
            stale: true
        }]
    );
    assert_eq!(
        snapshot.collectors,
        [CollectorOutcome {
            name: "probe".into(),
            success: false,
            duration: Duration::from_millis(5)
        }]
    );
}

#[test]
fn a_domain_is_asked_once_at_a_time_and_stale_once_its_call_is_past_the_deadline() {
    let (state, _gate) = probe_state(Duration::ZERO);
    let mut snapshot = one_domain("u");
    state.fill(&mut snapshot);
    assert!(snapshot.domains[0].slow.is_empty(), "never asked");
    assert!(snapshot.collectors.is_empty(), "no run finished yet");
    assert!(state.begin_call("u"));
    assert!(!state.begin_call("u"), "asked again while in flight");
    std::thread::sleep(Duration::from_millis(2));
    state.fill(&mut snapshot);
    assert_eq!(
        snapshot.domains[0].slow,
        [SlowResult {
            collector: "probe",
            taken_at: None,
            stale: true
        }]
    );
    state.end_call("u", SystemTime::now(), Instant::now(), Ok(answer(1)));
    assert!(state.begin_call("u"), "asked again once the call returned");
}

#[test]
fn merging_again_replaces_and_data_of_a_vanished_domain_is_forgotten() {
    let (state, _gate) = probe_state(Duration::from_secs(60));
    let at = SystemTime::now();
    state.begin_call("u");
    state.end_call("u", at, Instant::now(), Ok(answer(1)));
    let mut snapshot = one_domain("u");
    state.fill(&mut snapshot);
    state.begin_call("u");
    state.end_call("u", at, Instant::now(), Ok(answer(2)));
    snapshot.domains[0].slow.clear();
    state.fill(&mut snapshot);
    assert_eq!(snapshot.domains[0].perf.events.get(KEY), Some(&2));
    state.begin_call("u");
    let gone = LibvirtError {
        call: "virDomainGetGuestInfo",
        code: virt::sys::VIR_ERR_NO_DOMAIN as i32,
        message: "no domain".into(),
    };
    state.end_call("u", at, Instant::now(), Err(gone));
    snapshot.domains[0].slow.clear();
    state.fill(&mut snapshot);
    assert_eq!(snapshot.domains[0].perf.events.get(KEY), None, "cleared");
    assert!(snapshot.domains[0].slow.is_empty());
}

#[test]
fn without_slow_collectors_nothing_starts_and_snapshots_are_left_as_they_are() {
    let config = CollectConfig {
        libvirt_uri: "test:///default".into(),
        read_only: true,
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        max_age: Duration::from_secs(3),
        domains: Default::default(),
    };
    let (results, threads) = start(&config, Vec::new()).unwrap();
    assert_eq!(threads.len(), 0);
    let mut snapshot = one_domain("u");
    snapshot.domains[0].perf.events.insert(KEY.into(), 9);
    let before = snapshot.domains.clone();
    results.observe(&snapshot.domains);
    results.fill(&mut snapshot);
    assert_eq!(snapshot.domains, before);
    assert!(snapshot.collectors.is_empty());
    assert!(!results.runs("probe"));
}
