//! The exporter binary against libvirt's built-in test driver: `test:///default` and a node
//! file with dozens of domains whose names are hostile to naive encoders.

mod common;

use common::{domstats, http_get, virsh, Exporter, Metrics};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

const DEFAULT: &str = "test:///default";

fn start_default() -> Exporter {
    Exporter::start(&["--libvirt.uri", DEFAULT, "--collect.interval", "1s"])
}

#[test]
fn domain_test_of_the_default_node_is_reported_with_libvirts_values() {
    let exporter = start_default();
    let before = domstats_counters(DEFAULT, "test");
    let m = exporter.next_snapshot();
    let after = domstats_counters(DEFAULT, "test");
    let dom = [("domain", "test")];
    assert_eq!(m.get("libvirt_up", &[]), 1.0);
    assert_eq!(m.get("libvirt_domains", &[]), 1.0);
    assert_eq!(
        m.get("libvirt_domains_by_state", &[("state", "running")]),
        1.0
    );
    assert_eq!(
        m.get(
            "libvirt_domain_info_state",
            &[("domain", "test"), ("state_desc", "running")]
        ),
        1.0
    );
    assert_eq!(
        m.get("libvirt_domain_info_maximum_memory_bytes", &dom),
        8_388_608.0 * 1024.0
    );
    assert_eq!(
        m.get("libvirt_domain_info_memory_usage_bytes", &dom),
        2_097_152.0 * 1024.0
    );
    assert_eq!(m.get("libvirt_domain_info_virtual_cpus", &dom), 2.0);
    assert_eq!(m.get("libvirt_domain_vcpu_maximum", &dom), 2.0);
    assert_eq!(
        m.get("libvirt_domain_memory_stats_unused_bytes", &dom),
        1_048_576.0 * 1024.0
    );
    assert_eq!(
        m.get("libvirt_domain_memory_stats_used_percent", &dom),
        50.0
    );
    let info = m
        .find("libvirt_domain_info", &dom)
        .next()
        .expect("libvirt_domain_info");
    assert_eq!(info.labels["uuid"], "6695eb01-f6a4-8304-79aa-97f2502e193f");
    assert_eq!(info.labels["os_type_arch"], "i686");
    assert_eq!(info.labels["persistent"], "true");
    let disk = [("domain", "test"), ("target_device", "vda")];
    let nic = [("domain", "test"), ("target_device", "testnet0")];
    for (metric, labels, field) in [
        (
            "libvirt_domain_block_stats_read_bytes_total",
            &disk,
            "rd_bytes",
        ),
        (
            "libvirt_domain_block_stats_write_requests_total",
            &disk,
            "wr_req",
        ),
        // What virsh calls errs is Xen's oo_req, which the test driver fakes too.
        (
            "libvirt_domain_block_stats_xen_oo_requests_total",
            &disk,
            "errs",
        ),
        (
            "libvirt_domain_interface_stats_receive_bytes_total",
            &nic,
            "rx_bytes",
        ),
        (
            "libvirt_domain_interface_stats_transmit_packets_total",
            &nic,
            "tx_packets",
        ),
    ] {
        let value = m.get(metric, labels);
        assert!(value > 0.0, "{metric} is {value}");
        assert!(
            before[field] <= value && value <= after[field],
            "{metric} = {value} is not between virsh's {} and {}",
            before[field],
            after[field]
        );
    }
    let nic_info = m
        .find("libvirt_domain_interface_stats_info", &nic)
        .next()
        .unwrap();
    assert_eq!(nic_info.labels["source_network"], "default");
    assert_eq!(nic_info.labels["mac_address"], "aa:bb:cc:dd:ee:ff");
    let disk_info = m
        .find("libvirt_domain_block_stats_info", &disk)
        .next()
        .unwrap();
    assert_eq!(disk_info.labels["source_file"], "/guest/diskimage1");
    assert_eq!(disk_info.labels["target_bus"], "virtio");
}

/// The per-domain counters the test driver computes from the clock (so they only grow).
fn domstats_counters(uri: &str, domain: &str) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    for (cmd, dev) in [("domblkstat", "vda"), ("domifstat", "testnet0")] {
        for line in virsh(uri, &[cmd, domain, dev]).lines() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            if let [_, key, value] = parts[..] {
                out.insert(key.to_string(), value.parse().unwrap());
            }
        }
    }
    let _ = domstats(uri, domain, &["--state"]);
    out
}

#[test]
fn every_collector_reports_success_and_its_duration() {
    let exporter = start_default();
    let m = exporter.next_snapshot();
    m.assert_default_collectors_succeeded();
    assert_eq!(
        m.get(
            "libvirt_exporter_incomplete_domains",
            &[("reason", "error")]
        ),
        0.0
    );
    assert!(m.get("process_resident_memory_bytes", &[]) > 1e6);
    assert_eq!(m.find("libvirt_exporter_build_info", &[]).count(), 1);
}

#[test]
fn a_disabled_collector_produces_no_series() {
    let exporter = Exporter::start(&[
        "--libvirt.uri",
        DEFAULT,
        "--no-collector.block",
        "--no-collector.interface",
    ]);
    let m = exporter.next_snapshot();
    assert!(
        m.names()
            .iter()
            .all(|n| !n.starts_with("libvirt_domain_block_stats")),
        "{:?}",
        m.names()
    );
    assert!(m
        .names()
        .iter()
        .all(|n| !n.starts_with("libvirt_domain_interface_stats")));
    assert!(m
        .value(
            "libvirt_exporter_collector_success",
            &[("collector", "block")]
        )
        .is_none());
    assert_eq!(
        m.get("libvirt_domain_info_virtual_cpus", &[("domain", "test")]),
        2.0
    );
}

/// Domain names libvirt accepts that break naive encoders.
const ODD_NAMES: &[&str] = &[
    "with space",
    "double \"quote\"",
    "back\\slash",
    "trailing\\",
    "single 'quote'",
    "ünïcødé λ 仮想マシン",
    "emoji 🚀",
    "brace}{and=comma,",
    "#hash at start",
    "tab\tinside",
];

/// Writes a test-driver node with `count` plain domains plus every odd name, in a mix of
/// running (1), paused (3) and shut off (5) states.
fn odd_node(count: usize) -> (tempfile::TempDir, PathBuf, Vec<(String, u32)>) {
    let mut domains: Vec<(String, u32)> = (0..count)
        .map(|i| (format!("vm-{i:03}"), [1, 3, 5][i % 3]))
        .collect();
    domains.extend(
        ODD_NAMES
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), [1, 5][i % 2])),
    );
    let (dir, path) = common::write_test_node(&domains);
    (dir, path, domains)
}

fn start_node(path: &std::path::Path) -> Exporter {
    let uri = format!("test://{}", path.display());
    Exporter::start(&["--libvirt.uri", &uri, "--collect.interval", "1s"])
}

#[test]
fn dozens_of_domains_with_odd_names_are_all_reported_exactly() {
    let (_dir, path, domains) = odd_node(40);
    let exporter = start_node(&path);
    let m = exporter.next_snapshot();
    assert_eq!(m.get("libvirt_domains", &[]), domains.len() as f64);
    for (state, name) in [(1, "running"), (3, "paused"), (5, "shutoff")] {
        let expected = domains.iter().filter(|(_, s)| *s == state).count();
        assert_eq!(
            m.get("libvirt_domains_by_state", &[("state", name)]),
            expected as f64,
            "{name}"
        );
    }
    for (i, (name, state)) in domains.iter().enumerate() {
        let dom = [("domain", name.as_str())];
        assert_eq!(
            m.get("libvirt_domain_info_state", &dom),
            f64::from(*state),
            "{name:?}"
        );
        assert_eq!(
            m.get("libvirt_domain_info_maximum_memory_bytes", &dom),
            ((i as f64) + 1.0) * 1024.0 * 1024.0,
            "{name:?}"
        );
        let disk = [("domain", name.as_str()), ("target_device", "vda")];
        let info = m
            .find("libvirt_domain_block_stats_info", &disk)
            .next()
            .unwrap_or_else(|| panic!("disk of {name:?}"));
        assert_eq!(info.labels["source_file"], format!("/img/{i}.qcow2"));
        let active = *state != 5;
        assert_eq!(
            m.value("libvirt_domain_block_stats_read_bytes_total", &disk)
                .is_some(),
            active,
            "{name:?}"
        );
    }
}

#[test]
fn the_exposition_of_odd_names_passes_promtool() {
    let (_dir, path, _) = odd_node(10);
    let exporter = start_node(&path);
    exporter.next_snapshot();
    let text = exporter.get("/metrics").text();
    common::assert_promtool_passes(&text);
    let om = http_get(
        exporter.addr,
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
    );
    assert!(om.text().ends_with("# EOF\n"));
    let parsed = Metrics::parse(&om.text());
    assert_eq!(
        parsed.get("libvirt_domain_info", &[("domain", "double \"quote\"")]),
        1.0
    );
}

#[test]
fn sigterm_and_sigint_stop_the_exporter_cleanly() {
    for signal in ["TERM", "INT"] {
        let exporter = start_default();
        exporter.next_snapshot();
        let log = exporter.log.clone();
        let status = exporter.stop_with(signal);
        assert!(
            status.success(),
            "SIG{signal}: {status}; log:\n{}",
            log.lock().unwrap()
        );
        assert!(log.lock().unwrap().contains("shutting down"));
    }
}

/// Context switches so far of each of the process' threads, by thread id and name.
fn context_switches(pid: u32) -> BTreeMap<(String, String), u64> {
    let mut switches = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("the exporter runs") {
        let task = task.unwrap();
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue; // the thread ended meanwhile
        };
        let field = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(str::trim)
                .unwrap_or_default()
                .to_string()
        };
        let count = |key: &str| field(key).parse::<u64>().unwrap();
        let id = task.file_name().to_string_lossy().into_owned();
        switches.insert(
            (id, field("Name:")),
            count("voluntary_ctxt_switches:") + count("nonvoluntary_ctxt_switches:"),
        );
    }
    switches
}

#[test]
fn between_collections_no_thread_of_the_exporter_wakes_up() {
    // After the first collection nothing is due for an hour. A thread that woke every so often
    // to look at a flag would cost CPU on every host all day (it used to be four wakeups a
    // second for the clock and for each host collector).
    let exporter = Exporter::start(&["--libvirt.uri", DEFAULT, "--collect.interval", "1h"]);
    exporter.wait_for("the first domain and host collections", |m| {
        m.value("libvirt_up", &[]) == Some(1.0)
            && ["pool", "volume", "network", "node", "pages"]
                .iter()
                .all(|c| {
                    m.value("libvirt_exporter_collector_success", &[("collector", c)]) == Some(1.0)
                })
    });
    // Let the scrape's connection close and every thread settle.
    std::thread::sleep(Duration::from_millis(500));
    let before = context_switches(exporter.pid());
    std::thread::sleep(Duration::from_secs(3));
    let after = context_switches(exporter.pid());
    let woke: Vec<String> = after
        .iter()
        .filter_map(|(thread, n)| {
            let was = before.get(thread).copied().unwrap_or(0);
            (*n != was).then(|| format!("{} ({}): {} switches", thread.1, thread.0, n - was))
        })
        .collect();
    assert!(
        woke.is_empty(),
        "threads ran while nothing was due: {woke:?}"
    );
    assert!(
        before.keys().any(|(_, name)| name == "collect-clock")
            && before.keys().any(|(_, name)| name == "host-node"),
        "the threads this test watches are not named as it expects: {before:?}"
    );
}
