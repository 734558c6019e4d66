//! Reading `virsh` host answers (`pool-info`, `net-info`, `nodeinfo`...) and comparing them
//! with the host families, for the test-driver and the lab host tests.

use super::Metrics;
use std::collections::BTreeMap;

/// `Key:   value` lines of a `virsh *-info` style answer.
pub fn fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The number at the start of a virsh value ("67108864 bytes", "2600 MHz").
pub fn number(value: &str) -> f64 {
    value
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a number: {value:?}"))
}

/// virsh's `yes`/`no` as the exporter's label values.
pub fn yes(value: &str) -> &'static str {
    match value {
        "yes" => "true",
        "no" => "false",
        other => panic!("not yes/no: {other:?}"),
    }
}

/// The labels of the one sample of an info family matching `key`.
pub fn info_labels(m: &Metrics, name: &str, key: &[(&str, &str)]) -> BTreeMap<String, String> {
    let found: Vec<_> = m.find(name, key).collect();
    assert_eq!(found.len(), 1, "{name}{key:?}: {found:?}");
    assert_eq!(found[0].value, 1.0);
    found[0].labels.clone()
}

/// Network `net`'s info labels and state gauges against its `virsh net-info` [`fields`].
pub fn assert_network_matches(m: &Metrics, net: &str, v: &BTreeMap<String, String>) {
    let key = [("network", net)];
    let labels = info_labels(m, "libvirt_network_info", &key);
    assert_eq!(labels["uuid"], v["UUID"], "{net}");
    assert_eq!(
        labels["bridge"],
        v.get("Bridge").cloned().unwrap_or_default(),
        "{net}"
    );
    for (metric, field) in [
        ("libvirt_network_active", "Active"),
        ("libvirt_network_persistent", "Persistent"),
        ("libvirt_network_autostart", "Autostart"),
    ] {
        let want = if v[field] == "yes" { 1.0 } else { 0.0 };
        assert_eq!(m.get(metric, &key), want, "{metric} of {net}");
    }
}

/// The node's model, CPU topology, frequency and memory against `virsh nodeinfo` [`fields`].
pub fn assert_node_matches(m: &Metrics, v: &BTreeMap<String, String>) {
    let labels = info_labels(m, "libvirt_node_info", &[]);
    assert_eq!(labels["model"], v["CPU model"]);
    for (metric, field, factor) in [
        ("libvirt_node_cpus", "CPU(s)", 1.0),
        ("libvirt_node_cpu_sockets", "CPU socket(s)", 1.0),
        ("libvirt_node_cpu_cores", "Core(s) per socket", 1.0),
        ("libvirt_node_cpu_threads", "Thread(s) per core", 1.0),
        ("libvirt_node_numa_cells", "NUMA cell(s)", 1.0),
        ("libvirt_node_cpu_frequency_hertz", "CPU frequency", 1e6),
        ("libvirt_node_memory_bytes", "Memory size", 1024.0),
    ] {
        assert_eq!(m.get(metric, &[]), number(&v[field]) * factor, "{metric}");
    }
}

/// `virsh freepages --all` ("Node 0:" then "2048KiB: 16" lines) as free pages by (cell,
/// page size in bytes).
pub fn freepages(text: &str) -> BTreeMap<(String, u64), f64> {
    let mut out = BTreeMap::new();
    let mut cell = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(c) = line.strip_prefix("Node ").and_then(|c| c.strip_suffix(':')) {
            cell = Some(c.to_string());
            continue;
        }
        let (size, free) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("not a freepages line: {line:?}"));
        let kib: u64 = size
            .strip_suffix("KiB")
            .and_then(|k| k.parse().ok())
            .unwrap_or_else(|| panic!("not a page size: {size:?}"));
        let cell = cell.clone().expect("a Node line before the sizes");
        out.insert((cell, kib * 1024), number(free));
    }
    out
}

/// The `libvirt_node_cell_pages_free` samples as free pages by (cell, page size in bytes).
pub fn exported_free_pages(m: &Metrics) -> BTreeMap<(String, u64), f64> {
    m.find("libvirt_node_cell_pages_free", &[])
        .map(|s| {
            let size = s.labels["page_size_bytes"].parse().unwrap();
            ((s.labels["cell"].clone(), size), s.value)
        })
        .collect()
}
