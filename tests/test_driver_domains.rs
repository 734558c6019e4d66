//! Metadata labels, the OpenStack preset, domain filters, per-domain vCPU sums, the series cap
//! and jobs, through the real binary against libvirt's test driver.

mod common;

use common::{virsh, Exporter, Metrics};
use std::collections::BTreeSet;
use std::fmt::Write as _;

const DEFAULT: &str = "test:///default";

/// A test-driver node whose domains carry a title, a description and metadata: Nova's in
/// both namespace versions, and an application's own.
fn metadata_node() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let nova = |version: &str, name: &str, user: &str| {
        format!(
            r#"<nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/{version}">
                 <nova:package version="27.1.0"/><nova:name>{name}</nova:name>
                 <nova:flavor name="m1.{version}"><nova:memory>512</nova:memory></nova:flavor>
                 <nova:owner><nova:user uuid="{user}-id">{user}</nova:user>
                   <nova:project uuid="proj-id">shop</nova:project></nova:owner>
               </nova:instance>"#
        )
    };
    let domain = |name: &str, uuid: &str, extra: &str| {
        format!(
            "<domain type='test'><name>{name}</name><uuid>{uuid}</uuid>{extra}<memory>1024</memory><vcpu>2</vcpu><os><type>hvm</type></os></domain>"
        )
    };
    let mut xml = String::from("<node>");
    xml += &domain(
        "nova-old",
        "00000000-0000-0000-0000-000000000001",
        &format!("<metadata>{}</metadata>", nova("1.0", "web one", "alice")),
    );
    xml += &domain(
        "nova-new",
        "00000000-0000-0000-0000-000000000002",
        &format!(
            "<title>Shop front</title><description>  Serves the shop.\n</description><metadata><app:app xmlns:app='urn:example:app'><app:team id='7'>payments</app:team></app:app>{}</metadata>",
            nova("1.1", "web two", "bob")
        ),
    );
    xml += &domain("plain", "00000000-0000-0000-0000-000000000003", "");
    xml += "</node>";
    let path = dir.path().join("node.xml");
    std::fs::write(&path, xml).unwrap();
    (dir, format!("test://{}", path.display()))
}

fn start(uri: &str, extra: &[&str]) -> Exporter {
    let mut args = vec!["--libvirt.uri", uri, "--collect.interval", "1s"];
    args.extend_from_slice(extra);
    Exporter::start(&args)
}

fn info(m: &Metrics, family: &str, domain: &str) -> std::collections::BTreeMap<String, String> {
    m.find(family, &[("domain", domain)])
        .next()
        .unwrap_or_else(|| panic!("no {family} for {domain}"))
        .labels
        .clone()
}

#[test]
fn xpath_labels_read_title_description_and_namespaced_metadata() {
    let (_dir, uri) = metadata_node();
    let exporter = start(
        &uri,
        &[
            "--domain.label-namespace",
            "a=urn:example:app",
            "--domain.label",
            "team=/domain/metadata/a:app/a:team",
            "--domain.label",
            "team_id=/domain/metadata/a:app/a:team/@id",
            "--domain.label",
            "title=/domain/title",
            "--domain.label",
            "description=/domain/description",
        ],
    );
    let m = exporter.next_snapshot();
    let new = info(&m, "libvirt_domain_info", "nova-new");
    assert_eq!(new["team"], "payments");
    assert_eq!(new["team_id"], "7");
    assert_eq!(new["title"], "Shop front");
    assert_eq!(new["description"], "Serves the shop.");
    assert_eq!(new["uuid"], "00000000-0000-0000-0000-000000000002");
    let plain = info(&m, "libvirt_domain_info", "plain");
    for label in ["team", "team_id", "title", "description"] {
        assert_eq!(plain[label], "", "{label}");
    }
    assert!(m
        .find("libvirt_domain_openstack_info", &[])
        .next()
        .is_none());
    common::assert_promtool_passes(&exporter.get("/metrics").text());
}

#[test]
fn the_nova_preset_reads_both_namespace_versions() {
    let (_dir, uri) = metadata_node();
    let exporter = start(&uri, &["--libvirt.metadata.nova"]);
    let m = exporter.next_snapshot();
    let old = info(&m, "libvirt_domain_openstack_info", "nova-old");
    let expected_old = [
        ("instance_name", "web one"),
        ("instance_id", "00000000-0000-0000-0000-000000000001"),
        ("flavor_name", "m1.1.0"),
        ("user_name", "alice"),
        ("user_id", "alice-id"),
        ("project_name", "shop"),
        ("project_id", "proj-id"),
    ];
    for (k, v) in expected_old {
        assert_eq!(old[k], v, "{k}");
    }
    let new = info(&m, "libvirt_domain_openstack_info", "nova-new");
    assert_eq!(
        (new["instance_name"].as_str(), new["flavor_name"].as_str()),
        ("web two", "m1.1.1")
    );
    assert_eq!(new["user_name"], "bob");
    assert!(m
        .find("libvirt_domain_openstack_info", &[("domain", "plain")])
        .next()
        .is_none());
    assert_eq!(m.find("libvirt_domain_openstack_info", &[]).count(), 2);
}

#[test]
fn a_bad_label_or_filter_stops_the_exporter_with_one_line() {
    for (args, needle) in [
        (
            &["--domain.label", "t=/domain/metadata/x:y"][..],
            "--domain.label-namespace x=URI",
        ),
        (
            &["--domain.label", "t=/domain/title[1"],
            "not a valid XPath",
        ),
        (
            &["--domain.label", "domain=/domain/name"],
            "one of the exporter's own labels",
        ),
        (&["--domain.include", "*web"], "--domain.include"),
    ] {
        let out = std::process::Command::new(common::BIN)
            .args(["--libvirt.uri", DEFAULT])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}

/// A node of `count` running domains `vm-000`..., each with 2 vCPUs, a disk and a NIC.
fn plain_node(count: usize) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut xml = String::from("<node>");
    for i in 0..count {
        write!(
            xml,
            "<domain type='test'><name>vm-{i:03}</name><memory>1024</memory><vcpu>2</vcpu><os><type>hvm</type></os><devices><disk type='file' device='disk'><source file='/img/{i}.qcow2'/><target dev='vda' bus='virtio'/></disk><interface type='network'><mac address='52:54:00:00:00:{i:02x}'/><source network='default'/><target dev='tap{i}'/></interface></devices></domain>"
        )
        .unwrap();
    }
    xml += "</node>";
    let path = dir.path().join("node.xml");
    std::fs::write(&path, xml).unwrap();
    (dir, format!("test://{}", path.display()))
}

#[test]
fn include_and_exclude_pick_domains_by_whole_name() {
    let (_dir, uri) = plain_node(12);
    let exporter = start(
        &uri,
        &[
            "--domain.include",
            "vm-00[0-9]",
            "--domain.exclude",
            "vm-00[2-8]",
        ],
    );
    let m = exporter.next_snapshot();
    let expected: BTreeSet<String> = ["vm-000", "vm-001", "vm-009"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(m.domains_shown(), expected);
    assert_eq!(m.get("libvirt_domains", &[]), 3.0);
    assert_eq!(
        m.get("libvirt_domains_by_state", &[("state", "running")]),
        3.0
    );
}

#[test]
fn the_series_cap_drops_whole_domains_last_by_name_and_says_how_many() {
    let (_dir, uri) = plain_node(10);
    let full = start(&uri, &[]).next_snapshot();
    let total = full.samples.len();
    let per_domain = full
        .samples
        .iter()
        .filter(|s| s.labels.get("domain").map(String::as_str) == Some("vm-009"))
        .count();
    assert!(per_domain > 10, "{per_domain}");
    // Room for everything but the last three domains and a bit.
    let max = total - 3 * per_domain + per_domain / 2;
    let exporter = start(&uri, &["--web.max-series", &max.to_string()]);
    let m = exporter.next_snapshot();
    let expected: BTreeSet<String> = (0..7).map(|i| format!("vm-{i:03}")).collect();
    assert_eq!(m.domains_shown(), expected);
    assert!(m.samples.len() <= max, "{} > {max}", m.samples.len());
    assert_eq!(
        m.get("libvirt_exporter_dropped_series", &[]),
        (3 * per_domain) as f64
    );
    assert_eq!(
        m.get("libvirt_domains", &[]),
        10.0,
        "counts keep every domain"
    );
    assert_eq!(m.get("libvirt_up", &[]), 1.0);
    assert_eq!(full.get("libvirt_exporter_dropped_series", &[]), 0.0);
}

#[test]
fn per_domain_vcpu_mode_sums_the_vcpu_times() {
    let exporter = start(DEFAULT, &["--collector.vcpu.per-domain"]);
    let vcpu_times = || -> f64 {
        virsh(DEFAULT, &["vcpuinfo", "test"])
            .lines()
            .filter_map(|l| l.strip_prefix("CPU time:"))
            .map(|t| t.trim().trim_end_matches('s').parse::<f64>().unwrap())
            .sum()
    };
    let before = vcpu_times();
    let m = exporter.next_snapshot();
    let after = vcpu_times();
    let total = m.get(
        "libvirt_domain_vcpus_time_seconds_total",
        &[("domain", "test")],
    );
    // virsh prints one decimal.
    assert!(
        before - 0.1 <= total && total <= after + 0.1,
        "{total} not between {before} and {after}"
    );
    assert!(m
        .names()
        .iter()
        .all(|n| !n.starts_with("libvirt_domain_vcpu_time")));
    assert!(m.find("libvirt_domain_vcpu_state", &[]).next().is_none());
    assert_eq!(
        m.get("libvirt_domain_vcpu_current", &[("domain", "test")]),
        2.0
    );
}

#[test]
fn the_test_driver_has_no_jobs_and_the_job_collector_still_succeeds() {
    let exporter = start(DEFAULT, &[]);
    let m = exporter.next_snapshot();
    assert_eq!(
        m.get(
            "libvirt_exporter_collector_success",
            &[("collector", "job")]
        ),
        1.0
    );
    assert!(m
        .names()
        .iter()
        .all(|n| !n.starts_with("libvirt_domain_job")));
    assert_eq!(
        m.get(
            "libvirt_exporter_incomplete_domains",
            &[("reason", "error")]
        ),
        0.0
    );
}
