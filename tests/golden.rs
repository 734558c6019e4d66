//! Golden expositions: for a fixed input (`test:///default`, and a test-driver node of odd
//! domains, pools and networks), every collector on, the exporter exposes exactly the families,
//! help texts, types, label names and label values recorded in `tests/golden/*.txt`, in both
//! formats. Values are compared too, except those of the families listed in [`VOLATILE`]
//! (timers, timestamps and the test driver's clock-driven counters).
//!
//! A deliberate change of the exposition is recorded with
//! `GOLDEN_UPDATE=1 cargo test --test golden` and reviewed in the diff of `tests/golden/`.

mod common;

use common::{http_get, Exporter, Metrics};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Every collector, switched on (host collectors and the default ones are on already).
const ALL_COLLECTORS: &[&str] = &[
    "--collector.perf",
    "--collector.iothread",
    "--collector.dirtyrate",
    "--collector.vm",
    "--collector.iotune",
    "--collector.iftune",
    "--collector.tuning",
    "--collector.blockjob",
];

/// The collectors whose outcome must be in before the exposition is recorded: the bulk cycle
/// ("domains"), every domain collector and every host collector.
const COLLECTORS: &[&str] = &[
    "domains",
    "state",
    "cpu",
    "balloon",
    "vcpu",
    "interface",
    "block",
    "perf",
    "iothread",
    "dirtyrate",
    "vm",
    "job",
    "diskerror",
    "control",
    "snapshot",
    "iotune",
    "iftune",
    "tuning",
    "blockjob",
    "pool",
    "volume",
    "network",
    "node",
    "pages",
];

/// Families whose values depend on time (durations, timestamps, process figures, and the
/// test driver's CPU times, which it derives from the clock), by family name (without
/// `_total`): their values are masked, their labels are still compared.
const VOLATILE: &[&str] = &[
    "libvirt_exporter_collector_duration_seconds",
    "libvirt_exporter_last_collection_timestamp_seconds",
    "libvirt_exporter_last_success_timestamp_seconds",
    "libvirt_exporter_collections",
    "libvirt_exporter_collection_failures",
    "libvirt_exporter_web_config_last_reload_success_timestamp_seconds",
    "process_cpu_seconds",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_start_time_seconds",
    "process_threads",
    "libvirt_domain_info_cpu_time_seconds",
    "libvirt_domain_vcpu_time_seconds",
    "libvirt_exporter_slow_result_timestamp_seconds",
];

/// Families of which every counter is volatile: the test driver derives disk and NIC
/// counters from the clock.
const VOLATILE_COUNTER_PREFIXES: &[&str] = &[
    "libvirt_domain_block_stats_",
    "libvirt_domain_interface_stats_",
];

/// Whether the values of family `family` (as in its `# TYPE` line) of type `kind` are masked.
fn volatile(family: &str, kind: &str) -> bool {
    let base = family.strip_suffix("_total").unwrap_or(family);
    VOLATILE.contains(&base)
        || (kind == "counter"
            && VOLATILE_COUNTER_PREFIXES
                .iter()
                .any(|p| family.starts_with(p)))
}

/// Label values that are the machine's, not the input's: masked.
const MACHINE_LABELS: &[&str] = &["hostname", "version", "libvirt_library", "revision"];

/// A test-driver node with odd domains: several disks and NICs, shut off, paused, crashed,
/// no devices at all, and names that need escaping; pools with and without volumes; networks
/// with and without a bridge.
const ODD_NODE: &str = r#"<node>
  <cpu><mhz>2400</mhz><model>x86_64</model><active>8</active><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>2</threads></cpu>
  <memory>16777216</memory>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>many-devices</name><uuid>6f0c0000-0000-4000-8000-000000000001</uuid>
    <memory>2097152</memory><currentMemory>1048576</currentMemory><vcpu current='2'>4</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/img/root.qcow2'/><target dev='vda' bus='virtio'/></disk>
      <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/img/data.raw'/><target dev='vdb' bus='virtio'/></disk>
      <disk type='file' device='cdrom'><source file='/img/install.iso'/><target dev='sda' bus='sata'/><readonly/></disk>
      <interface type='network'><mac address='52:54:00:aa:00:01'/><source network='net-bridged'/><target dev='vnet-a'/><model type='virtio'/></interface>
      <interface type='bridge'><mac address='52:54:00:aa:00:02'/><source bridge='br-lab'/><target dev='vnet-b'/><model type='e1000'/></interface>
    </devices>
  </domain>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>no-devices</name><uuid>6f0c0000-0000-4000-8000-000000000002</uuid>
    <memory>524288</memory><vcpu>1</vcpu><os><type>hvm</type></os>
  </domain>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>shut-off</name><uuid>6f0c0000-0000-4000-8000-000000000003</uuid>
    <memory>524288</memory><vcpu>2</vcpu><os><type arch='x86_64'>hvm</type></os>
    <devices><disk type='file' device='disk'><source file='/img/off.qcow2'/><target dev='vda' bus='virtio'/></disk></devices>
    <test:runstate>5</test:runstate>
  </domain>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>paused</name><uuid>6f0c0000-0000-4000-8000-000000000004</uuid>
    <memory>524288</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os>
    <devices><interface type='network'><mac address='52:54:00:aa:00:04'/><source network='net-bridged'/><target dev='vnet-p'/></interface></devices>
    <test:runstate>3</test:runstate>
  </domain>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>crashed</name><uuid>6f0c0000-0000-4000-8000-000000000005</uuid>
    <memory>524288</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os>
    <test:runstate>6</test:runstate>
  </domain>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>odd "quoted" \ name ünï</name><uuid>6f0c0000-0000-4000-8000-000000000006</uuid>
    <title>A title, with "quotes"</title>
    <memory>262144</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os>
    <devices><disk type='file' device='disk'><source file='/img/odd name.img'/><target dev='hda' bus='ide'/></disk></devices>
  </domain>
  <network>
    <name>net-bridged</name><uuid>0a0a0a0a-0000-4000-8000-0000000000aa</uuid>
    <bridge name='br-lab'/>
  </network>
  <network>
    <name>net-nat</name><uuid>0a0a0a0a-0000-4000-8000-0000000000bb</uuid>
    <bridge name='br-nat'/><forward mode='nat'/>
    <ip address='192.168.91.1' netmask='255.255.255.0'/>
  </network>
  <pool type='dir'>
    <name>images</name><uuid>1a1a1a1a-0000-4000-8000-0000000000aa</uuid>
    <target><path>/srv/images</path></target>
    <volume type='file'><name>root.qcow2</name><capacity unit='GiB'>20</capacity><allocation unit='MiB'>900</allocation><target><format type='qcow2'/></target></volume>
    <volume type='file'><name>data.raw</name><capacity unit='MiB'>512</capacity><allocation unit='MiB'>512</allocation><target><format type='raw'/></target></volume>
  </pool>
  <pool type='dir'>
    <name>empty</name><uuid>1a1a1a1a-0000-4000-8000-0000000000bb</uuid>
    <target><path>/srv/empty</path></target>
  </pool>
</node>
"#;

/// Starts the exporter on `uri` with every collector on and returns its exposition in both
/// formats, from one complete snapshot in which every collector has reported.
fn expositions(uri: &str) -> (String, String) {
    let mut args = vec!["--libvirt.uri", uri, "--collect.interval", "1s"];
    args.extend_from_slice(ALL_COLLECTORS);
    let exporter = Exporter::start(&args);
    let reported = |m: &Metrics| {
        m.value("libvirt_up", &[]) == Some(1.0)
            && COLLECTORS.iter().all(|c| {
                m.value("libvirt_exporter_collector_success", &[("collector", c)])
                    .is_some()
            })
    };
    exporter.wait_for("every collector's first outcome", reported);
    // One more cycle, so that what the first results triggered (host data, job answers) is in.
    exporter.next_complete_snapshot();
    let text = http_get(exporter.addr, "/metrics", &[("Accept", "text/plain")]);
    let open = http_get(
        exporter.addr,
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
    );
    assert_eq!(text.status, 200);
    assert_eq!(open.status, 200);
    assert!(
        open.header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "OpenMetrics negotiated: {:?}",
        open.header("content-type")
    );
    (text.text(), open.text())
}

/// The exposition with volatile values and machine labels masked, families in name order
/// and samples sorted within each family, so the order families are written in may change.
fn normalise(exposition: &str) -> String {
    let mut families: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut current = String::new();
    let mut kind = String::new();
    for line in exposition.lines() {
        if line == "# EOF" || line.is_empty() {
            continue;
        }
        if let Some(meta) = line.strip_prefix("# ") {
            let mut parts = meta.splitn(3, ' ');
            let keyword = parts.next();
            current = parts.next().unwrap_or_default().to_string();
            if keyword == Some("TYPE") {
                kind = parts.next().unwrap_or_default().to_string();
            }
            families
                .entry(current.clone())
                .or_default()
                .0
                .push(line.to_string());
            continue;
        }
        let (series, value) = split_sample(line);
        let name = series.split('{').next().unwrap_or_default();
        let value = if volatile(&current, &kind) {
            "<volatile>".to_string()
        } else {
            value.to_string()
        };
        let family = if name.starts_with(current.as_str()) {
            current.clone()
        } else {
            name.to_string()
        };
        families
            .entry(family)
            .or_default()
            .1
            .push(format!("{} {value}", mask_machine_labels(series)));
    }
    let mut out = String::new();
    for (meta, mut samples) in families.into_values() {
        samples.sort();
        for line in meta.iter().chain(&samples) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Splits a sample line into its series (name and labels) and its value, ignoring quotes
/// and braces inside label values.
fn split_sample(line: &str) -> (&str, &str) {
    let end_of_series = match line.find('{') {
        None => line.find(' ').unwrap_or(line.len()),
        Some(_) => {
            let mut in_quotes = false;
            let mut escaped = false;
            let mut end = line.len();
            for (i, c) in line.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => in_quotes = !in_quotes,
                    '}' if !in_quotes => {
                        end = i + 1;
                        break;
                    }
                    _ => {}
                }
            }
            end
        }
    };
    let (series, rest) = line.split_at(end_of_series);
    let value = rest.split_whitespace().next().unwrap_or_default();
    (series, value)
}

fn mask_machine_labels(series: &str) -> String {
    let mut out = series.to_string();
    for label in MACHINE_LABELS {
        let key = format!("{label}=\"");
        let mut from = 0;
        while let Some(at) = out[from..].find(&key) {
            let start = from + at + key.len();
            let preceded_ok =
                at + from == 0 || matches!(out.as_bytes()[from + at - 1], b'{' | b',');
            let Some(len) = out[start..].find('"') else {
                break;
            };
            if preceded_ok {
                out.replace_range(start..start + len, "<machine>");
                from = start + "<machine>".len();
            } else {
                from = start + len;
            }
        }
    }
    out
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares `actual` with the golden file `name`, or records it under `GOLDEN_UPDATE=1`.
fn assert_golden(name: &str, actual: &str) {
    let path = golden_path(name);
    if std::env::var_os("GOLDEN_UPDATE").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; record it with GOLDEN_UPDATE=1 cargo test --test golden",
            path.display()
        )
    });
    if expected == actual {
        return;
    }
    let expected_lines: std::collections::BTreeSet<&str> = expected.lines().collect();
    let actual_lines: std::collections::BTreeSet<&str> = actual.lines().collect();
    let mut report = String::new();
    for gone in expected_lines.difference(&actual_lines) {
        report.push_str(&format!("- {gone}\n"));
    }
    for new in actual_lines.difference(&expected_lines) {
        report.push_str(&format!("+ {new}\n"));
    }
    if report.is_empty() {
        report.push_str("(same lines, different multiplicity)\n");
    }
    panic!(
        "the exposition differs from {} (- recorded, + now); if the change is meant, \
         record it with GOLDEN_UPDATE=1 cargo test --test golden\n{report}",
        path.display()
    );
}

fn check(uri: &str, name: &str) {
    let (text, open) = expositions(uri);
    assert_golden(&format!("{name}.text.txt"), &normalise(&text));
    assert_golden(&format!("{name}.openmetrics.txt"), &normalise(&open));
}

#[test]
fn the_default_test_node_exposes_the_recorded_families() {
    check("test:///default", "test-default");
}

#[test]
fn a_node_of_odd_domains_exposes_the_recorded_families() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd-node.xml");
    std::fs::write(&path, ODD_NODE).unwrap();
    check(&format!("test://{}", path.display()), "odd-node");
}

#[test]
fn normalising_masks_only_volatile_values_and_machine_labels() {
    let exposition = "# HELP b_total B.\n# TYPE b_total counter\nb_total{domain=\"x}\\\"y\"} 7\n\
                      # HELP libvirt_exporter_collector_duration_seconds D.\n\
                      # TYPE libvirt_exporter_collector_duration_seconds gauge\n\
                      libvirt_exporter_collector_duration_seconds{collector=\"cpu\"} 0.25\n\
                      # HELP a A.\n# TYPE a gauge\na{hostname=\"h1\",myhostname=\"keep\"} 2\n# EOF\n";
    let normalised = normalise(exposition);
    assert_eq!(
        normalised,
        "# HELP a A.\n# TYPE a gauge\na{hostname=\"<machine>\",myhostname=\"keep\"} 2\n\
         # HELP b_total B.\n# TYPE b_total counter\nb_total{domain=\"x}\\\"y\"} 7\n\
         # HELP libvirt_exporter_collector_duration_seconds D.\n\
         # TYPE libvirt_exporter_collector_duration_seconds gauge\n\
         libvirt_exporter_collector_duration_seconds{collector=\"cpu\"} <volatile>\n"
    );
}
