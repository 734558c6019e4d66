//! Host families against libvirt's test driver, with a node XML written by the test: several
//! pools with volumes, networks (one without a bridge), CPU and memory. Every value is
//! compared with what `virsh` reports for the same file.
//!
//! The test driver starts every pool and network of a node XML, and each connection to a file
//! gets its own private copy of it. Inactive objects are therefore made by stopping them on
//! the very connection the collectors read (in-process), and `virsh` does the same in one
//! session for the reference values.

mod common;

use common::host::{
    assert_network_matches, assert_node_matches, exported_free_pages, fields, freepages,
    info_labels, number, yes,
};
use common::{promtool_check, virsh, Exporter, Metrics};
use libvirt_exporter::collect::{all_host_collectors, HostOptions};
use libvirt_exporter::exposition::Format;
use libvirt_exporter::libvirt::Connection;
use libvirt_exporter::snapshot::{HostStats, Snapshot};
use std::sync::Arc;

const NODE_XML: &str = r#"<node>
  <cpu>
    <mhz>2400</mhz>
    <model>x86_64</model>
    <active>12</active>
    <nodes>2</nodes>
    <sockets>1</sockets>
    <cores>3</cores>
    <threads>2</threads>
  </cpu>
  <memory>16777216</memory>
  <network>
    <name>net-a</name>
    <uuid>0a0a0a0a-0000-4000-8000-00000000000a</uuid>
    <bridge name='br-a'/>
  </network>
  <network>
    <name>net-b</name>
    <uuid>0b0b0b0b-0000-4000-8000-00000000000b</uuid>
    <bridge name='br-b'/>
    <forward mode='nat'/>
    <ip address='192.168.77.1' netmask='255.255.255.0'/>
  </network>
  <network>
    <name>net-direct</name>
    <uuid>0c0c0c0c-0000-4000-8000-00000000000c</uuid>
    <forward mode='bridge'><interface dev='eth0'/></forward>
  </network>
  <pool type='dir'>
    <name>pool-a</name>
    <uuid>1a1a1a1a-0000-4000-8000-00000000001a</uuid>
    <target><path>/srv/pool-a</path></target>
    <volume type='file'>
      <name>disk1.qcow2</name>
      <capacity unit='GiB'>10</capacity>
      <allocation unit='MiB'>300</allocation>
      <target><format type='qcow2'/></target>
    </volume>
    <volume type='file'>
      <name>disk2.raw</name>
      <capacity unit='MiB'>512</capacity>
      <allocation unit='MiB'>512</allocation>
      <target><format type='raw'/></target>
    </volume>
  </pool>
  <pool type='dir'>
    <name>pool-b</name>
    <uuid>1b1b1b1b-0000-4000-8000-00000000001b</uuid>
    <target><path>/srv/pool-b</path></target>
    <volume type='file'>
      <name>iso.img</name>
      <capacity unit='MiB'>700</capacity>
      <allocation unit='MiB'>700</allocation>
    </volume>
  </pool>
  <pool type='dir'>
    <name>pool-empty</name>
    <uuid>1c1c1c1c-0000-4000-8000-00000000001c</uuid>
    <target><path>/srv/pool-empty</path></target>
  </pool>
</node>
"#;

/// The node XML in a temporary directory, and its `test:///abs/path` URI.
struct NodeFile {
    _dir: tempfile::TempDir,
    uri: String,
}

fn node_file() -> NodeFile {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.xml");
    std::fs::write(&path, NODE_XML).unwrap();
    NodeFile {
        uri: format!("test://{}", path.display()),
        _dir: dir,
    }
}

fn names(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Volume names of a pool: the first column of `vol-list` (it has no `--name` in 9.0).
fn volume_names(uri: &str, pool: &str) -> Vec<String> {
    names(&virsh(uri, &["vol-list", "--pool", pool]))
        .iter()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

const POOL_STATES: [&str; 5] = [
    "inactive",
    "building",
    "running",
    "degraded",
    "inaccessible",
];

/// Pools, as `virsh pool-info --bytes` reports them, against the exposition.
fn check_pools(m: &Metrics, uri: &str, pool_info: impl Fn(&str) -> String) {
    let all = names(&virsh(uri, &["pool-list", "--all", "--name"]));
    assert_eq!(
        m.find("libvirt_storage_pool_info", &[]).count(),
        all.len(),
        "one info series per pool"
    );
    for pool in &all {
        let v = fields(&pool_info(pool));
        let key = [("storage_pool", pool.as_str())];
        let state = POOL_STATES.iter().position(|s| *s == v["State"]).unwrap();
        assert_eq!(
            m.get("libvirt_storage_pool_state", &key),
            state as f64,
            "{pool}"
        );
        let labels = info_labels(m, "libvirt_storage_pool_info", &key);
        assert_eq!(labels["uuid"], v["UUID"]);
        assert_eq!(labels["persistent"], yes(&v["Persistent"]));
        assert_eq!(labels["autostart"], yes(&v["Autostart"]));
        assert_eq!(labels["type"], "dir");
        assert_eq!(labels["path"], format!("/srv/{pool}"));
        for (metric, field) in [
            ("libvirt_storage_pool_capacity_bytes", "Capacity"),
            ("libvirt_storage_pool_allocation_bytes", "Allocation"),
            ("libvirt_storage_pool_available_bytes", "Available"),
        ] {
            // virsh shows sizes only for running pools; so does the exporter.
            assert_eq!(
                m.value(metric, &key),
                v.get(field).map(|s| number(s)),
                "{metric} of {pool}"
            );
        }
    }
}

/// Volumes of active pools against `vol-info`, `vol-path` and `vol-dumpxml`.
fn check_volumes(m: &Metrics, uri: &str) {
    let active = names(&virsh(uri, &["pool-list", "--name"]));
    let mut count = 0;
    for pool in &active {
        for vol in volume_names(uri, pool) {
            count += 1;
            let key = [("storage_pool", pool.as_str()), ("volume", vol.as_str())];
            let v = fields(&virsh(uri, &["vol-info", "--bytes", "--pool", pool, &vol]));
            let capacity = number(&v["Capacity"]);
            assert_eq!(
                m.get("libvirt_storage_volume_capacity_bytes", &key),
                capacity
            );
            let allocation = number(&v["Allocation"]);
            assert_eq!(
                m.get("libvirt_storage_volume_allocation_bytes", &key),
                allocation
            );
            // The test driver has no virStorageVolGetInfoFlags: no physical size at all.
            assert_eq!(m.value("libvirt_storage_volume_physical_bytes", &key), None);
            let labels = info_labels(m, "libvirt_storage_volume_info", &key);
            assert_eq!(labels["type"], v["Type"]);
            let path = virsh(uri, &["vol-path", "--pool", pool, &vol]);
            assert_eq!(labels["path"], path.trim());
            let xml = virsh(uri, &["vol-dumpxml", "--pool", pool, &vol]);
            let format = xml
                .split("<format type='")
                .nth(1)
                .and_then(|rest| rest.split('\'').next())
                .unwrap_or("");
            assert_eq!(labels["format"], format, "{vol}");
        }
    }
    assert_eq!(
        m.find("libvirt_storage_volume_info", &[]).count(),
        count,
        "volumes of active pools only"
    );
}

/// Networks against `net-list --all` and `net-info`.
fn check_networks(m: &Metrics, uri: &str, net_info: impl Fn(&str) -> String) {
    let all = names(&virsh(uri, &["net-list", "--all", "--name"]));
    assert_eq!(m.find("libvirt_network_info", &[]).count(), all.len());
    for net in &all {
        assert_network_matches(m, net, &fields(&net_info(net)));
    }
}

fn check_node(m: &Metrics, uri: &str) {
    assert_node_matches(m, &fields(&virsh(uri, &["nodeinfo"])));
    // virsh nodecpustats shows libvirt's `kernel` as `system`.
    let cpu = fields(&virsh(uri, &["nodecpustats"]));
    assert_eq!(
        m.find("libvirt_node_cpu_seconds_total", &[]).count(),
        cpu.len()
    );
    for (virsh_name, mode) in [
        ("user", "user"),
        ("system", "kernel"),
        ("idle", "idle"),
        ("iowait", "iowait"),
    ] {
        let seconds = number(&cpu[virsh_name]) / 1e9;
        let got = m.get("libvirt_node_cpu_seconds_total", &[("mode", mode)]);
        assert!((got - seconds).abs() < 1e-6, "{mode}: {got} vs {seconds}");
    }
}

fn check_versions(m: &Metrics, uri: &str) {
    let v = fields(&virsh(uri, &["version", "--daemon"]));
    let last_word = |k: &str| v[k].split_whitespace().last().unwrap().to_string();
    let labels = info_labels(m, "libvirt_versions_info", &[]);
    assert_eq!(labels["libvirt_library"], last_word("Using library"));
    assert_eq!(
        labels["hypervisor_running"],
        last_word("Running hypervisor")
    );
    assert_eq!(
        labels["libvirtd_running"],
        last_word("Running against daemon")
    );
}

#[test]
fn the_exporter_reports_pools_volumes_networks_and_the_node_as_virsh_does() {
    let node = node_file();
    let uri = node.uri.as_str();
    let exporter = Exporter::start(&[
        "--libvirt.uri",
        uri,
        "--collect.interval",
        "1s",
        "--collector.volume.interval",
        "1s",
    ]);
    let m = exporter.wait_for("every host collector", |m| {
        ["pool", "volume", "network", "node", "pages"]
            .iter()
            .all(|c| {
                m.value("libvirt_exporter_collector_success", &[("collector", c)]) == Some(1.0)
            })
    });
    check_pools(&m, uri, |p| virsh(uri, &["pool-info", "--bytes", p]));
    check_volumes(&m, uri);
    check_networks(&m, uri, |n| virsh(uri, &["net-info", n]));
    check_node(&m, uri);
    check_versions(&m, uri);

    // What the file defines, spelled out, so a virsh quirk cannot hide a mistake.
    assert_eq!(m.find("libvirt_storage_pool_info", &[]).count(), 3);
    assert_eq!(m.find("libvirt_storage_volume_info", &[]).count(), 3);
    let disk1 = [("storage_pool", "pool-a"), ("volume", "disk1.qcow2")];
    assert_eq!(
        m.get("libvirt_storage_volume_capacity_bytes", &disk1),
        (10u64 << 30) as f64
    );
    // The test driver sizes every pool at 100 GiB and allocates the sum of its volumes.
    let pool_a = [("storage_pool", "pool-a")];
    assert_eq!(
        m.get("libvirt_storage_pool_allocation_bytes", &pool_a),
        ((300u64 << 20) + (512 << 20)) as f64
    );
    assert_eq!(
        m.get(
            "libvirt_storage_pool_allocation_bytes",
            &[("storage_pool", "pool-empty")]
        ),
        0.0
    );
    assert_eq!(
        info_labels(&m, "libvirt_network_info", &[("network", "net-direct")])["bridge"],
        ""
    );
    assert_eq!(m.get("libvirt_node_cpus", &[]), 12.0);
    // The test driver has no memory statistics and no NUMA cells for a node XML: no series.
    for absent in [
        "libvirt_node_memory_total_bytes",
        "libvirt_node_memory_free_bytes",
        "libvirt_node_memory_buffers_bytes",
        "libvirt_node_memory_cached_bytes",
        "libvirt_node_cell_memory_free_bytes",
        "libvirt_node_cell_memory_total_bytes",
        "libvirt_node_cell_pages",
        "libvirt_node_cell_pages_free",
    ] {
        assert_eq!(m.find(absent, &[]).count(), 0, "{absent}");
    }
    let text = exporter.get("/metrics").text();
    assert_eq!(promtool_check(&text), "");
}

#[test]
fn pages_per_cell_and_size_match_virsh_freepages_and_the_capabilities() {
    let uri = "test:///default";
    let exporter = Exporter::start(&["--libvirt.uri", uri, "--collect.interval", "1s"]);
    let m = exporter.wait_for("the pages collector", |m| {
        m.value(
            "libvirt_exporter_collector_success",
            &[("collector", "pages")],
        ) == Some(1.0)
    });
    // Free pages: every cell, every size the host supports (4, 8, 2048 and 1048576 KiB).
    let virsh_free = freepages(&virsh(uri, &["freepages", "--all"]));
    assert_eq!(virsh_free.len(), 8, "{virsh_free:?}");
    assert_eq!(exported_free_pages(&m), virsh_free);
    // Pages per cell: only the sizes the capabilities list for the cell, as
    // `<pages unit='KiB' size='4'>524288</pages>` (the test driver's fixed topology).
    let caps = virsh(uri, &["capabilities"]);
    assert!(
        caps.contains("<pages unit='KiB' size='8'>524288</pages>"),
        "{caps}"
    );
    let mut totals: Vec<(String, String, f64)> = m
        .find("libvirt_node_cell_pages", &[])
        .map(|s| {
            let l = &s.labels;
            (l["cell"].clone(), l["page_size_bytes"].clone(), s.value)
        })
        .collect();
    totals.sort_by(|a, b| (&a.0, a.1.len(), &a.1).cmp(&(&b.0, b.1.len(), &b.1)));
    let want: Vec<(String, String, f64)> = [
        ("0", "4096", 524_288.0),
        ("0", "2097152", 0.0),
        ("0", "1073741824", 0.0),
        ("1", "8192", 524_288.0),
        ("1", "2097152", 0.0),
        ("1", "1073741824", 0.0),
    ]
    .iter()
    .map(|(c, s, v)| (c.to_string(), s.to_string(), *v))
    .collect();
    assert_eq!(totals, want);
    // The test driver has no memory parameters: no KSM series, and no failure for it.
    assert!(
        m.names().iter().all(|n| !n.starts_with("libvirt_node_ksm")),
        "{:?}",
        m.names()
    );
}

/// Runs every host collector once on `conn` and encodes the result.
fn collect_in_process(conn: &Connection) -> Metrics {
    let mut host = HostStats::default();
    for collector in all_host_collectors(&HostOptions::default()) {
        collector
            .collect(conn, &mut host)
            .unwrap_or_else(|e| panic!("{}: {e}", collector.name()));
    }
    let snapshot = Snapshot {
        host,
        ..Snapshot::default()
    };
    let exposition =
        libvirt_exporter::encode::encode(Arc::new(snapshot), &[Format::Text], Default::default());
    let text = exposition.plain(Format::Text);
    Metrics::parse(std::str::from_utf8(&text).unwrap())
}

#[test]
fn inactive_pools_and_networks_are_reported_with_state_0_and_no_sizes() {
    libvirt_exporter::libvirt::silence_default_error_printer();
    let node = node_file();
    let uri = node.uri.as_str();
    let changes = [
        "pool-destroy pool-b",
        "net-destroy net-b",
        "pool-autostart pool-a",
        "net-autostart net-a",
    ];
    let virt_conn = virt::connect::Connect::open(Some(uri)).unwrap();
    virt_conn
        .lookup_storage_pool_by_name("pool-b")
        .unwrap()
        .destroy()
        .unwrap();
    virt_conn
        .lookup_network_by_name("net-b")
        .unwrap()
        .destroy()
        .unwrap();
    virt_conn
        .lookup_storage_pool_by_name("pool-a")
        .unwrap()
        .set_autostart(true)
        .unwrap();
    virt_conn
        .lookup_network_by_name("net-a")
        .unwrap()
        .set_autostart(true)
        .unwrap();
    let m = collect_in_process(&Connection::from(virt_conn));

    // virsh gets its own copy of the file: make the same changes, then ask, in one session.
    let after_changes = |query: String| {
        let script = format!("{}; {query}", changes.join("; "));
        virsh(uri, &[script.as_str()])
    };
    check_pools(&m, uri, |p| after_changes(format!("pool-info --bytes {p}")));
    check_networks(&m, uri, |n| after_changes(format!("net-info {n}")));

    let pool_b = [("storage_pool", "pool-b")];
    assert_eq!(m.get("libvirt_storage_pool_state", &pool_b), 0.0);
    assert_eq!(
        m.value("libvirt_storage_pool_capacity_bytes", &pool_b),
        None
    );
    assert_eq!(
        m.get("libvirt_network_active", &[("network", "net-b")]),
        0.0
    );
    assert_eq!(
        info_labels(
            &m,
            "libvirt_storage_pool_info",
            &[("storage_pool", "pool-a")]
        )["autostart"],
        "true"
    );
    assert_eq!(
        m.get("libvirt_network_autostart", &[("network", "net-a")]),
        1.0
    );
    // The stopped pool's volume is gone; the running pool's two remain.
    assert_eq!(
        m.find("libvirt_storage_volume_info", &[("storage_pool", "pool-b")])
            .count(),
        0
    );
    assert_eq!(m.find("libvirt_storage_volume_info", &[]).count(), 2);
}

#[test]
fn a_switched_off_host_collector_leaves_no_series_and_no_outcome() {
    let node = node_file();
    let exporter = Exporter::start(&[
        "--libvirt.uri",
        &node.uri,
        "--collect.interval",
        "1s",
        "--no-collector.volume",
        "--no-collector.network",
    ]);
    let m = exporter.wait_for("pool and node collected", |m| {
        m.value(
            "libvirt_exporter_collector_success",
            &[("collector", "pool")],
        ) == Some(1.0)
            && m.value(
                "libvirt_exporter_collector_success",
                &[("collector", "node")],
            ) == Some(1.0)
    });
    assert!(m.get("libvirt_storage_pool_state", &[("storage_pool", "pool-a")]) == 2.0);
    for absent in ["libvirt_storage_volume_info", "libvirt_network_info"] {
        assert_eq!(m.find(absent, &[]).count(), 0, "{absent}");
    }
    for off in ["volume", "network"] {
        assert_eq!(
            m.value("libvirt_exporter_collector_success", &[("collector", off)]),
            None
        );
    }
}

#[test]
fn pool_refresh_with_a_read_only_connection_stops_the_exporter_naming_both_flags() {
    let out = std::process::Command::new(common::BIN)
        .args([
            "--libvirt.uri",
            "test:///default",
            "--collector.pool.refresh",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--collector.pool.refresh"), "{stderr}");
    assert!(stderr.contains("--no-libvirt.read-only"), "{stderr}");
}
