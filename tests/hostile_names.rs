//! Hostile names (quotes, backslashes, newlines, control characters, exposition look-alikes,
//! very long strings) in every label the exporter fills from libvirt must come out as valid
//! exposition and read back exactly:
//!
//! - a corpus of such strings, placed in each label slot of hand-built snapshots, encoded and
//!   checked by `promtool check metrics`, by the tests' strict parser of the text format and
//!   of OpenMetrics (tests/common/exposition.rs), and value by value;
//! - a property test doing the same with arbitrary strings;
//! - the real binary on a test-driver node whose domains and disks carry such names.
//!
//! To cover a new family (networks, pools, volumes...), add a [`Slot`] to [`slots`]: where the
//! string goes in a snapshot, and which family and label it must come out in.

mod common;

use common::exposition::{parse_strict, Sample};
use libvirt_exporter::encode::encode;
use libvirt_exporter::exposition::Format;
use libvirt_exporter::snapshot::{
    BlockStats, CollectorOutcome, DomainInfo, DomainStats, InterfaceStats, NetworkStats, PoolStats,
    Snapshot, VolumeStats,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// Strings that break naive encoders and parsers. All distinct.
fn corpus() -> Vec<String> {
    let mut c: Vec<String> = [
        "plain",
        "",
        " ",
        "double \"quote\"",
        "\"",
        "\"\"\"",
        "single 'quote'",
        "back\\slash",
        "\\",
        "trailing\\",
        "\\\\double",
        "\\n literally",
        "\\\"",
        "new\nline",
        "\n",
        "\n\n",
        "ends with newline\n",
        "carriage\rreturn",
        "crlf\r\n",
        "tab\there",
        "nul\0byte",
        "bell\x07 escape\x1b[31m red",
        "del\x7f",
        "all controls \x01\x02\x03\x04\x05\x06\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1c\x1d\x1e\x1f",
        "c1 controls \u{80}\u{85}\u{9f}",
        "line separators \u{2028}\u{2029}",
        "bidi \u{202e}txet\u{202c}",
        "zero\u{200b}width\u{200d}joiner",
        "\u{feff}bom",
        "ünïcødé λ 仮想マシン",
        "emoji 🚀👩‍💻",
        "{a=\"b\"} 1",
        "x\"} 1\nfake_metric{y=\"",
        "} 42 1700000000",
        "# HELP fake a comment",
        "\n# EOF\n",
        "# TYPE libvirt_up counter",
        "brace}{and=comma,",
        "=\"",
        "NaN",
        "+Inf",
        "<script>alert(1)</script>",
        "'; DROP TABLE metrics; --",
        "%s%n%x",
        "${jndi:ldap://x}",
        "/var/lib/libvirt/images/my disk (copy).qcow2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    c.push("long".repeat(2_000));
    c.push("\\\"\n".repeat(5_000));
    c.push("λ".repeat(40_000));
    c
}

/// Where a string goes in a snapshot, and the family and label it must come out in.
struct Slot {
    what: &'static str,
    family: &'static str,
    label: &'static str,
    /// Puts `value` into the snapshot as its `i`-th item.
    place: fn(&mut Snapshot, usize, &str),
}

fn domain(s: &mut Snapshot, i: usize) -> &mut DomainStats {
    while s.domains.len() <= i {
        let n = s.domains.len();
        s.domains.push(DomainStats {
            name: format!("dom-{n}"),
            uuid: format!("uuid-{n}"),
            ..DomainStats::default()
        });
    }
    &mut s.domains[i]
}

fn disk(s: &mut Snapshot, i: usize) -> &mut BlockStats {
    let d = domain(s, i);
    if d.blocks.is_empty() {
        d.blocks.push(BlockStats {
            target_device: "vda".into(),
            read_bytes: Some(1),
            ..BlockStats::default()
        });
    }
    &mut d.blocks[0]
}

fn nic(s: &mut Snapshot, i: usize) -> &mut InterfaceStats {
    let d = domain(s, i);
    if d.interfaces.is_empty() {
        d.interfaces.push(InterfaceStats {
            target_device: "vnet0".into(),
            receive_bytes: Some(1),
            ..InterfaceStats::default()
        });
    }
    &mut d.interfaces[0]
}

fn pool(s: &mut Snapshot, i: usize) -> &mut PoolStats {
    while s.host.pools.len() <= i {
        let n = s.host.pools.len();
        s.host.pools.push(PoolStats {
            name: format!("pool-{n}"),
            state: Some(2),
            ..PoolStats::default()
        });
    }
    &mut s.host.pools[i]
}

fn volume(s: &mut Snapshot, i: usize) -> &mut VolumeStats {
    while s.host.volumes.len() <= i {
        let n = s.host.volumes.len();
        s.host.volumes.push(VolumeStats {
            pool: "pool".into(),
            name: format!("vol-{n}"),
            capacity_bytes: Some(1),
            ..VolumeStats::default()
        });
    }
    &mut s.host.volumes[i]
}

fn network(s: &mut Snapshot, i: usize) -> &mut NetworkStats {
    while s.host.networks.len() <= i {
        let n = s.host.networks.len();
        s.host.networks.push(NetworkStats {
            name: format!("net-{n}"),
            active: Some(true),
            ..NetworkStats::default()
        });
    }
    &mut s.host.networks[i]
}

fn slots() -> Vec<Slot> {
    vec![
        Slot {
            what: "storage pool name",
            family: "libvirt_storage_pool_state",
            label: "storage_pool",
            place: |s, i, v| pool(s, i).name = v.into(),
        },
        Slot {
            what: "storage pool path",
            family: "libvirt_storage_pool_info",
            label: "path",
            place: |s, i, v| pool(s, i).path = Some(v.into()),
        },
        Slot {
            what: "volume name",
            family: "libvirt_storage_volume_capacity_bytes",
            label: "volume",
            place: |s, i, v| volume(s, i).name = v.into(),
        },
        Slot {
            what: "volume path",
            family: "libvirt_storage_volume_info",
            label: "path",
            place: |s, i, v| volume(s, i).path = Some(v.into()),
        },
        Slot {
            what: "network name",
            family: "libvirt_network_active",
            label: "network",
            place: |s, i, v| network(s, i).name = v.into(),
        },
        Slot {
            what: "network bridge",
            family: "libvirt_network_info",
            label: "bridge",
            place: |s, i, v| network(s, i).bridge = Some(v.into()),
        },
        Slot {
            what: "domain name",
            family: "libvirt_domain_info",
            label: "domain",
            place: |s, i, v| domain(s, i).name = v.into(),
        },
        Slot {
            what: "domain UUID",
            family: "libvirt_domain_info",
            label: "uuid",
            place: |s, i, v| domain(s, i).uuid = v.into(),
        },
        Slot {
            what: "OS type",
            family: "libvirt_domain_info",
            label: "os_type",
            place: |s, i, v| {
                domain(s, i).info = DomainInfo {
                    os_type: Some(v.into()),
                    ..DomainInfo::default()
                }
            },
        },
        Slot {
            what: "architecture",
            family: "libvirt_domain_info",
            label: "os_type_arch",
            place: |s, i, v| domain(s, i).info.arch = Some(v.into()),
        },
        Slot {
            what: "machine",
            family: "libvirt_domain_info",
            label: "os_type_machine",
            place: |s, i, v| domain(s, i).info.machine = Some(v.into()),
        },
        Slot {
            what: "disk target",
            family: "libvirt_domain_block_stats_read_bytes_total",
            label: "target_device",
            place: |s, i, v| disk(s, i).target_device = v.into(),
        },
        Slot {
            what: "disk source file",
            family: "libvirt_domain_block_stats_info",
            label: "source_file",
            place: |s, i, v| disk(s, i).source_file = Some(v.into()),
        },
        Slot {
            what: "disk bus",
            family: "libvirt_domain_block_stats_info",
            label: "target_bus",
            place: |s, i, v| disk(s, i).bus = Some(v.into()),
        },
        Slot {
            what: "disk driver",
            family: "libvirt_domain_block_stats_info",
            label: "driver_type",
            place: |s, i, v| disk(s, i).driver_type = Some(v.into()),
        },
        Slot {
            what: "disk type",
            family: "libvirt_domain_block_stats_info",
            label: "disk_type",
            place: |s, i, v| disk(s, i).disk_type = Some(v.into()),
        },
        Slot {
            what: "NIC target",
            family: "libvirt_domain_interface_stats_receive_bytes_total",
            label: "target_device",
            place: |s, i, v| nic(s, i).target_device = v.into(),
        },
        Slot {
            what: "NIC network",
            family: "libvirt_domain_interface_stats_info",
            label: "source_network",
            place: |s, i, v| nic(s, i).network = Some(v.into()),
        },
        Slot {
            what: "NIC bridge",
            family: "libvirt_domain_interface_stats_info",
            label: "source_bridge",
            place: |s, i, v| nic(s, i).bridge = Some(v.into()),
        },
        Slot {
            what: "NIC MAC",
            family: "libvirt_domain_interface_stats_info",
            label: "mac_address",
            place: |s, i, v| nic(s, i).mac = Some(v.into()),
        },
        Slot {
            what: "NIC model",
            family: "libvirt_domain_interface_stats_info",
            label: "model_type",
            place: |s, i, v| nic(s, i).model = Some(v.into()),
        },
        Slot {
            what: "NIC type",
            family: "libvirt_domain_interface_stats_info",
            label: "interface_type",
            place: |s, i, v| nic(s, i).interface_type = Some(v.into()),
        },
        Slot {
            what: "perf event",
            family: "libvirt_domain_perf_events_total",
            label: "event",
            place: |s, i, v| {
                domain(s, i).perf.events.insert(v.into(), 1);
            },
        },
        Slot {
            what: "collector name",
            family: "libvirt_exporter_collector_success",
            label: "collector",
            place: |s, _, v| {
                s.collectors.push(CollectorOutcome {
                    name: v.into(),
                    success: true,
                    duration: Default::default(),
                })
            },
        },
    ]
}

/// A snapshot holding every string of `values` in `slot`, one item each.
fn snapshot_with(slot: &Slot, values: &[String]) -> Snapshot {
    let mut s = Snapshot {
        up: true,
        ..Snapshot::default()
    };
    for (i, v) in values.iter().enumerate() {
        (slot.place)(&mut s, i, v);
    }
    s
}

/// Encodes `snapshot` and checks both formats strictly and against each other; returns the
/// text exposition and its samples.
fn encode_checked(snapshot: Snapshot) -> (String, Vec<Sample>) {
    // OpenMetrics encoded at once, the text when asked for (as when only Prometheus scrapes).
    let e = encode(Arc::new(snapshot), &[], Default::default());
    let text = String::from_utf8(e.plain(Format::Text).to_vec()).unwrap();
    let om = String::from_utf8(e.plain(Format::OpenMetrics).to_vec()).unwrap();
    let samples = parse_strict(&text, false).unwrap_or_else(|err| panic!("text format: {err}"));
    let om_samples = parse_strict(&om, true).unwrap_or_else(|err| panic!("OpenMetrics: {err}"));
    assert_eq!(
        samples.len(),
        om_samples.len(),
        "the two formats hold different samples"
    );
    for (t, o) in samples.iter().zip(&om_samples) {
        assert_eq!(t.name, o.name);
        assert_eq!(t.labels, o.labels, "labels of {}", t.name);
    }
    (text, samples)
}

/// The values of `label` on the samples of `family`, in order.
fn values_of(samples: &[Sample], family: &str, label: &str) -> Vec<String> {
    samples
        .iter()
        .filter(|s| s.name == family)
        .filter_map(|s| s.labels.get(label).cloned())
        .collect()
}

#[test]
fn the_strict_parser_rejects_broken_expositions() {
    for bad in [
        "m{l=\"a\nb\"} 1\n",
        "m{l=\"a\\tb\"} 1\n",
        "m{l=\"a} 1\n",
        "m{l=a} 1\n",
        "m{1l=\"a\"} 1\n",
        "m{l=\"a\"}1\n",
        "m 1 2 3\n",
        "m one\n",
        "# random comment\n",
        "bad-name 1\n",
        "m{l=\"a\",l=\"b\"} 1\n",
        "m inf\n",
        "\n",
    ] {
        assert!(parse_strict(bad, false).is_err(), "accepted {bad:?}");
    }
    assert!(
        parse_strict("m 1\n", true).is_err(),
        "OpenMetrics without # EOF"
    );
    let ok = parse_strict(
        "# HELP m h\n# TYPE m gauge\nm{a=\"x\\\\\\\"\\n\",b=\"\"} 1.5\nn 2\n",
        false,
    )
    .unwrap();
    assert_eq!(
        ok[0].labels,
        BTreeMap::from([
            ("a".to_string(), "x\\\"\n".to_string()),
            ("b".to_string(), String::new())
        ])
    );
    assert_eq!(ok[0].value, 1.5);
    assert_eq!((ok[1].name.as_str(), ok[1].value), ("n", 2.0));
    assert!(
        parse_strict("m 1\n# EOF\nn 2\n# EOF\n", true).is_err(),
        "a sample after # EOF"
    );
}

#[test]
fn the_corpus_in_every_slot_passes_promtool_and_reads_back_exactly() {
    let corpus = corpus();
    let mut all = String::new();
    for slot in slots() {
        let (text, samples) = encode_checked(snapshot_with(&slot, &corpus));
        let mut got = values_of(&samples, slot.family, slot.label);
        let mut want = corpus.clone();
        got.sort();
        want.sort();
        assert!(
            got == want,
            "{} in {}{{{}}}: {} values came back, {} went in; first difference: {:?}",
            slot.what,
            slot.family,
            slot.label,
            got.len(),
            want.len(),
            got.iter().zip(&want).find(|(g, w)| g != w)
        );
        let complaints = common::promtool_check(&text);
        assert!(
            complaints.trim().is_empty(),
            "{}: promtool check metrics:\n{complaints}",
            slot.what
        );
        writeln!(all, "{} ok", slot.what).unwrap();
    }
    assert_eq!(all.lines().count(), slots().len());
}

/// Strings biased towards what breaks encoders, plus anything at all.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(
            prop_oneof![
                Just('"'),
                Just('\\'),
                Just('\n'),
                Just('\r'),
                Just('{'),
                Just('}'),
                Just('='),
                Just(','),
                Just('#'),
                Just(' '),
                proptest::char::range('\0', '\x1f'),
                any::<char>(),
            ],
            0..64
        )
        .prop_map(|chars| chars.into_iter().collect()),
        (any::<String>(), 1usize..2000).prop_map(|(s, n)| s.repeat(n.min(20_000 / (s.len() + 1)))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_names_read_back_exactly_in_both_formats(
        names in proptest::collection::btree_set(hostile_string(), 1..4),
        device in hostile_string(),
        source in hostile_string(),
        mac in hostile_string(),
        bridge in hostile_string(),
        event in hostile_string(),
    ) {
        let names: Vec<String> = names.into_iter().collect();
        let mut s = Snapshot { up: true, ..Snapshot::default() };
        for (i, name) in names.iter().enumerate() {
            let d = domain(&mut s, i);
            d.name = name.clone();
            d.blocks.push(BlockStats {
                target_device: device.clone(),
                source_file: Some(source.clone()),
                read_bytes: Some(i as u64),
                ..BlockStats::default()
            });
            d.interfaces.push(InterfaceStats {
                target_device: device.clone(),
                mac: Some(mac.clone()),
                bridge: Some(bridge.clone()),
                receive_bytes: Some(1),
                ..InterfaceStats::default()
            });
            d.perf.events = BTreeMap::from([(event.clone(), 7)]);
        }
        let (_, samples) = encode_checked(s);
        let mut domains = values_of(&samples, "libvirt_domain_info", "domain");
        domains.sort();
        prop_assert_eq!(&domains, &names);
        let n = names.len();
        let disk = values_of(&samples, "libvirt_domain_block_stats_info", "source_file");
        prop_assert_eq!(disk, vec![source.clone(); n]);
        let dev = values_of(&samples, "libvirt_domain_block_stats_read_bytes_total", "target_device");
        prop_assert_eq!(dev, vec![device.clone(); n]);
        prop_assert_eq!(values_of(&samples, "libvirt_domain_interface_stats_info", "mac_address"), vec![mac.clone(); n]);
        prop_assert_eq!(values_of(&samples, "libvirt_domain_interface_stats_info", "source_bridge"), vec![bridge.clone(); n]);
        prop_assert_eq!(values_of(&samples, "libvirt_domain_perf_events_total", "event"), vec![event.clone(); n]);
        // Every per-domain sample names one of the domains.
        for sample in samples.iter().filter(|s| s.name.starts_with("libvirt_domain_")) {
            let domain = sample.labels.get("domain");
            prop_assert!(domain.is_some_and(|d| names.contains(d)), "{:?}", sample);
        }
    }
}

/// Names a test-driver node file can carry (XML 1.0 has no other control characters).
fn xml_safe_corpus() -> Vec<String> {
    corpus()
        .into_iter()
        .filter(|s| !s.is_empty() && s.len() < 5_000)
        .filter(|s| {
            s.chars()
                .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        })
        .filter(|s| !s.contains('\u{feff}') && !s.contains('\u{2028}'))
        .filter(|s| !s.trim().is_empty() && s.trim() == s.as_str())
        .filter(|s| !s.contains('/'))
        .collect()
}

fn xml_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            '\n' => "&#10;".to_string(),
            '\r' => "&#13;".to_string(),
            '\t' => "&#9;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[test]
fn the_binary_serves_hostile_domain_names_and_disk_paths_as_valid_exposition() {
    let names = xml_safe_corpus();
    assert!(names.len() >= 25, "{} names", names.len());
    let dir = tempfile::tempdir().unwrap();
    let mut xml = String::from("<node>\n");
    for (i, name) in names.iter().enumerate() {
        writeln!(
            xml,
            "<domain type='test'><name>{}</name><memory>1024</memory><os><type>hvm</type></os><devices><disk type='file' device='disk'><source file='/img/{i} {}'/><target dev='vda' bus='virtio'/></disk></devices></domain>",
            xml_text(name),
            xml_text(name),
        )
        .unwrap();
    }
    xml.push_str("</node>\n");
    let node = dir.path().join("node.xml");
    std::fs::write(&node, xml).unwrap();
    let uri = format!("test://{}", node.display());
    // libvirt itself may normalise some names; compare with what it reports.
    let listed = common::virsh(&uri, &["list", "--all", "--uuid"]);
    assert_eq!(
        listed.lines().filter(|l| !l.trim().is_empty()).count(),
        names.len()
    );

    let exporter = common::Exporter::start(&["--libvirt.uri", &uri, "--collect.interval", "1s"]);
    exporter.next_snapshot();
    let text = exporter.get("/metrics").text();
    common::assert_promtool_passes(&text);
    let samples = parse_strict(&text, false).unwrap();
    let mut got = values_of(&samples, "libvirt_domain_info", "domain");
    let mut want = names.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let om = common::http_get(
        exporter.addr,
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
    );
    let om_samples = parse_strict(&om.text(), true).unwrap();
    let mut got = values_of(&om_samples, "libvirt_domain_info", "domain");
    got.sort();
    assert_eq!(got, want);
    assert_eq!(
        values_of(&samples, "libvirt_domain_block_stats_info", "source_file").len(),
        names.len()
    );
}
