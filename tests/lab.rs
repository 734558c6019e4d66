//! The exporter against a real libvirtd with QEMU guests (tests/lab/setup.sh builds them).
//!
//! Ignored by a plain `cargo test`; `scripts/test` sets up the lab and runs them. Each counter
//! is checked against `virsh domstats` read just before and just after the snapshot was
//! collected, and against an independent source where there is one: the host side of the
//! tap device in sysfs, `qemu-img info`, `virsh dominfo`.

mod common;

use common::{domstats, virsh, Exporter, Metrics};
use std::collections::BTreeMap;

const NEEDS_LAB: &str = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)";

struct Lab {
    uri: String,
    running: Vec<String>,
    paused: String,
    off: String,
}

fn lab() -> Lab {
    let vars = common::lab_env();
    Lab {
        uri: vars["LAB_URI"].clone(),
        running: vars["LAB_RUNNING"]
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        paused: vars["LAB_PAUSED"].clone(),
        off: vars["LAB_OFF"].clone(),
    }
}

fn start(lab: &Lab, extra: &[&str]) -> Exporter {
    let mut args = vec![
        "--libvirt.uri",
        lab.uri.as_str(),
        "--collect.interval",
        "1s",
    ];
    args.extend_from_slice(extra);
    Exporter::start(&args)
}

fn num(stats: &BTreeMap<String, String>, field: &str) -> f64 {
    stats
        .get(field)
        .unwrap_or_else(|| panic!("virsh domstats has no {field}"))
        .parse()
        .unwrap()
}

/// (metric, domstats field, factor from libvirt's unit to ours, must be above zero)
type Check = (&'static str, &'static str, f64, bool);

const NS: f64 = 1e-9;
const KIB: f64 = 1024.0;

const DOMAIN_COUNTERS: &[Check] = &[
    (
        "libvirt_domain_info_cpu_time_seconds_total",
        "cpu.time",
        NS,
        true,
    ),
    (
        "libvirt_domain_cpu_user_seconds_total",
        "cpu.user",
        NS,
        true,
    ),
    (
        "libvirt_domain_cpu_system_seconds_total",
        "cpu.system",
        NS,
        false,
    ),
    (
        "libvirt_domain_memory_stats_minor_fault_total",
        "balloon.minor_fault",
        1.0,
        true,
    ),
    (
        "libvirt_domain_memory_stats_major_fault_total",
        "balloon.major_fault",
        1.0,
        false,
    ),
];

const VCPU_COUNTERS: &[Check] = &[
    ("libvirt_domain_vcpu_time_seconds_total", "time", NS, false),
    ("libvirt_domain_vcpu_wait_seconds_total", "wait", NS, false),
    (
        "libvirt_domain_vcpu_delay_seconds_total",
        "delay",
        NS,
        false,
    ),
];

const BLOCK_COUNTERS: &[Check] = &[
    (
        "libvirt_domain_block_stats_read_requests_total",
        "rd.reqs",
        1.0,
        true,
    ),
    (
        "libvirt_domain_block_stats_read_bytes_total",
        "rd.bytes",
        1.0,
        true,
    ),
    (
        "libvirt_domain_block_stats_read_time_seconds_total",
        "rd.times",
        NS,
        true,
    ),
    (
        "libvirt_domain_block_stats_write_requests_total",
        "wr.reqs",
        1.0,
        true,
    ),
    (
        "libvirt_domain_block_stats_write_bytes_total",
        "wr.bytes",
        1.0,
        true,
    ),
    (
        "libvirt_domain_block_stats_write_time_seconds_total",
        "wr.times",
        NS,
        true,
    ),
    (
        "libvirt_domain_block_stats_flush_requests_total",
        "fl.reqs",
        1.0,
        false,
    ),
    (
        "libvirt_domain_block_stats_flush_time_seconds_total",
        "fl.times",
        NS,
        false,
    ),
];

const NET_COUNTERS: &[Check] = &[
    (
        "libvirt_domain_interface_stats_receive_bytes_total",
        "rx.bytes",
        1.0,
        true,
    ),
    (
        "libvirt_domain_interface_stats_receive_packets_total",
        "rx.pkts",
        1.0,
        true,
    ),
    (
        "libvirt_domain_interface_stats_receive_errors_total",
        "rx.errs",
        1.0,
        false,
    ),
    (
        "libvirt_domain_interface_stats_receive_drops_total",
        "rx.drop",
        1.0,
        false,
    ),
    (
        "libvirt_domain_interface_stats_transmit_bytes_total",
        "tx.bytes",
        1.0,
        true,
    ),
    (
        "libvirt_domain_interface_stats_transmit_packets_total",
        "tx.pkts",
        1.0,
        true,
    ),
    (
        "libvirt_domain_interface_stats_transmit_errors_total",
        "tx.errs",
        1.0,
        false,
    ),
    (
        "libvirt_domain_interface_stats_transmit_drops_total",
        "tx.drop",
        1.0,
        false,
    ),
];

fn check_between(
    m: &Metrics,
    check: &Check,
    labels: &[(&str, &str)],
    field: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) {
    let (metric, _, factor, positive) = *check;
    let value = m.get(metric, labels);
    let (lo, hi) = (num(before, field) * factor, num(after, field) * factor);
    let slack = 1e-9 * hi.abs();
    assert!(
        lo - slack <= value && value <= hi + slack,
        "{metric}{labels:?} = {value}, not between virsh's {lo} and {hi}"
    );
    if positive {
        assert!(value > 0.0, "{metric}{labels:?} should have grown above 0");
    }
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn every_counter_of_the_running_guests_lies_between_virsh_readings() {
    let _ = NEEDS_LAB;
    let lab = lab();
    let exporter = start(&lab, &[]);
    exporter.next_complete_snapshot();
    let before: Vec<_> = lab
        .running
        .iter()
        .map(|d| domstats(&lab.uri, d, &[]))
        .collect();
    let m = exporter.next_complete_snapshot();
    let after: Vec<_> = lab
        .running
        .iter()
        .map(|d| domstats(&lab.uri, d, &[]))
        .collect();
    for (i, dom) in lab.running.iter().enumerate() {
        let (b, a) = (&before[i], &after[i]);
        let by_dom = [("domain", dom.as_str())];
        for c in DOMAIN_COUNTERS {
            check_between(&m, c, &by_dom, c.1, b, a);
        }
        for n in 0..num(a, "vcpu.current") as usize {
            let vcpu = n.to_string();
            let labels = [("domain", dom.as_str()), ("vcpu", vcpu.as_str())];
            for c in VCPU_COUNTERS {
                check_between(&m, c, &labels, &format!("vcpu.{n}.{}", c.1), b, a);
            }
            assert_eq!(
                m.get("libvirt_domain_vcpu_state", &labels),
                num(a, &format!("vcpu.{n}.state"))
            );
        }
        let disk = a["block.0.name"].clone();
        let labels = [("domain", dom.as_str()), ("target_device", disk.as_str())];
        for c in BLOCK_COUNTERS {
            check_between(&m, c, &labels, &format!("block.0.{}", c.1), b, a);
        }
        let nic = a["net.0.name"].clone();
        let labels = [("domain", dom.as_str()), ("target_device", nic.as_str())];
        for c in NET_COUNTERS {
            check_between(&m, c, &labels, &format!("net.0.{}", c.1), b, a);
        }
    }
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn interface_counters_match_the_host_side_of_the_tap_device() {
    let lab = lab();
    let exporter = start(&lab, &[]);
    let dom = lab.running[0].as_str();
    let tap = domstats(&lab.uri, dom, &["--interface"])["net.0.name"].clone();
    let sysfs = |counter: &str| -> f64 {
        std::fs::read_to_string(format!("/sys/class/net/{tap}/statistics/{counter}"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    // What the guest receives, the host's tap transmits, and the other way round.
    let (tx_before, rx_before) = (sysfs("tx_bytes"), sysfs("rx_bytes"));
    let m = exporter.next_complete_snapshot();
    let (tx_after, rx_after) = (sysfs("tx_bytes"), sysfs("rx_bytes"));
    let labels = [("domain", dom), ("target_device", tap.as_str())];
    let received = m.get(
        "libvirt_domain_interface_stats_receive_bytes_total",
        &labels,
    );
    let sent = m.get(
        "libvirt_domain_interface_stats_transmit_bytes_total",
        &labels,
    );
    assert!(
        tx_before <= received && received <= tx_after,
        "rx {received} vs tap tx {tx_before}..{tx_after}"
    );
    assert!(
        rx_before <= sent && sent <= rx_after,
        "tx {sent} vs tap rx {rx_before}..{rx_after}"
    );
    assert!(received > 0.0 && sent > 0.0);
    let info = m
        .find("libvirt_domain_interface_stats_info", &labels)
        .next()
        .unwrap();
    assert_eq!(info.labels["source_network"], "lab-net");
    assert_eq!(info.labels["source_bridge"], "virbr-lab");
    assert_eq!(info.labels["model_type"], "virtio");
    assert!(
        info.labels["mac_address"].starts_with("52:54:00:1a:b0:"),
        "{info:?}"
    );
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn disk_sizes_match_qemu_img_and_the_image_file() {
    let lab = lab();
    let exporter = start(&lab, &[]);
    let m = exporter.next_complete_snapshot();
    for dom in lab.running.iter().chain([&lab.off]) {
        let labels = [("domain", dom.as_str()), ("target_device", "vda")];
        let info = m
            .find("libvirt_domain_block_stats_info", &labels)
            .next()
            .unwrap();
        let path = info.labels["source_file"].clone();
        assert_eq!(info.labels["driver_type"], "qcow2");
        assert_eq!(info.labels["target_bus"], "virtio");
        let out = std::process::Command::new("qemu-img")
            .args(["info", "-U", "--output=json", &path])
            .output()
            .unwrap();
        let json = String::from_utf8_lossy(&out.stdout);
        let field = |name: &str| -> f64 {
            let at = json
                .find(&format!("\"{name}\":"))
                .unwrap_or_else(|| panic!("{name} in {json}"));
            json[at + name.len() + 3..]
                .trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert_eq!(
            m.get("libvirt_domain_block_stats_capacity_bytes", &labels),
            field("virtual-size"),
            "{dom}"
        );
        assert_eq!(
            m.get("libvirt_domain_block_stats_capacity_bytes", &labels),
            64.0 * 1024.0 * 1024.0
        );
        let physical = m.get("libvirt_domain_block_stats_physical_bytes", &labels);
        let file_len = std::fs::metadata(&path).unwrap().len() as f64;
        assert!(
            physical > 0.0 && physical <= file_len.max(field("actual-size")),
            "{dom}: physical {physical}, file {file_len}"
        );
    }
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn memory_vcpus_and_state_match_virsh_dominfo() {
    let lab = lab();
    let exporter = start(&lab, &[]);
    let m = exporter.next_complete_snapshot();
    let all: Vec<&String> = lab.running.iter().chain([&lab.paused, &lab.off]).collect();
    assert!(m.get("libvirt_domains", &[]) >= all.len() as f64);
    for dom in all {
        let info: BTreeMap<String, String> = virsh(&lab.uri, &["dominfo", dom])
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let kib = |k: &str| info[k].trim_end_matches(" KiB").parse::<f64>().unwrap() * KIB;
        let by_dom = [("domain", dom.as_str())];
        assert_eq!(
            m.get("libvirt_domain_info_maximum_memory_bytes", &by_dom),
            kib("Max memory"),
            "{dom}"
        );
        assert_eq!(
            m.get("libvirt_domain_info_memory_usage_bytes", &by_dom),
            kib("Used memory"),
            "{dom}"
        );
        assert_eq!(
            m.get("libvirt_domain_info_virtual_cpus", &by_dom),
            info["CPU(s)"].parse::<f64>().unwrap(),
            "{dom}"
        );
        let uuid = m
            .find("libvirt_domain_info", &by_dom)
            .next()
            .unwrap()
            .labels["uuid"]
            .clone();
        assert_eq!(uuid, info["UUID"]);
    }
    let state = |d: &str| {
        m.find("libvirt_domain_info_state", &[("domain", d)])
            .next()
            .unwrap()
            .clone()
    };
    let paused = state(&lab.paused);
    assert_eq!(
        (
            paused.value,
            paused.labels["state_desc"].as_str(),
            paused.labels["reason"].as_str()
        ),
        (3.0, "paused", "user")
    );
    let off = state(&lab.off);
    assert_eq!(
        (off.value, off.labels["state_desc"].as_str()),
        (5.0, "shutoff")
    );
    // Other tests pause a running guest for a memory dump, so its reason may be `unpaused`:
    // compare with what virsh says now rather than with `booted`.
    let run = state(&lab.running[0]);
    let virsh_state = virsh(&lab.uri, &["domstate", "--reason", &lab.running[0]]);
    let reason = run.labels["reason"].as_str();
    assert_eq!(run.value, 1.0);
    assert_eq!(virsh_state.trim(), format!("running ({reason})"));
    assert!(m
        .value(
            "libvirt_domain_interface_stats_receive_bytes_total",
            &[("domain", lab.off.as_str())]
        )
        .is_none());
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn the_guest_balloon_reports_its_memory() {
    let lab = lab();
    let exporter = start(&lab, &[]);
    let dom = lab.running[0].as_str();
    let before = domstats(&lab.uri, dom, &["--balloon"]);
    let m = exporter.next_complete_snapshot();
    let after = domstats(&lab.uri, dom, &["--balloon"]);
    let by_dom = [("domain", dom)];
    for (metric, field) in [
        (
            "libvirt_domain_memory_stats_current_balloon_bytes",
            "balloon.current",
        ),
        (
            "libvirt_domain_memory_stats_maximum_bytes",
            "balloon.maximum",
        ),
        (
            "libvirt_domain_memory_stats_available_bytes",
            "balloon.available",
        ),
    ] {
        assert_eq!(m.get(metric, &by_dom), num(&after, field) * KIB, "{metric}");
    }
    for (metric, field) in [
        ("libvirt_domain_memory_stats_unused_bytes", "balloon.unused"),
        ("libvirt_domain_memory_stats_usable_bytes", "balloon.usable"),
        ("libvirt_domain_memory_stats_rss_bytes", "balloon.rss"),
        (
            "libvirt_domain_memory_stats_disk_caches_bytes",
            "balloon.disk_caches",
        ),
        (
            "libvirt_domain_memory_stats_last_update_timestamp_seconds",
            "balloon.last-update",
        ),
    ] {
        let factor = if field.ends_with("update") { 1.0 } else { KIB };
        let value = m.get(metric, &by_dom);
        let (a, b) = (num(&before, field) * factor, num(&after, field) * factor);
        // Guest-reported gauges move both ways; the sample must be one the guest reported.
        assert!(value > 0.0, "{metric} = {value}");
        assert!(
            value >= a.min(b) * 0.5 && value <= a.max(b) * 1.5,
            "{metric} = {value}, virsh {a} / {b}"
        );
    }
    let used = m.get("libvirt_domain_memory_stats_used_percent", &by_dom);
    assert!(used > 0.0 && used < 100.0, "used_percent {used}");
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn swap_traffic_and_faults_are_counters_that_match_virsh_dommemstat() {
    let lab = lab();
    let exporter = start(&lab, &[]);
    let dom = lab.running[0].as_str();
    // `virsh dommemstat`: one `name value` line per statistic (KiB for sizes).
    let dommemstat = || -> BTreeMap<String, String> {
        virsh(&lab.uri, &["dommemstat", dom])
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect()
    };
    let before = dommemstat();
    let m = exporter.next_complete_snapshot();
    let after = dommemstat();
    let text = exporter.get("/metrics").text();
    let by_dom = [("domain", dom)];
    for (family, field, factor) in [
        (
            "libvirt_domain_memory_stats_swap_in_bytes_total",
            "swap_in",
            KIB,
        ),
        (
            "libvirt_domain_memory_stats_swap_out_bytes_total",
            "swap_out",
            KIB,
        ),
        (
            "libvirt_domain_memory_stats_major_fault_total",
            "major_fault",
            1.0,
        ),
        (
            "libvirt_domain_memory_stats_minor_fault_total",
            "minor_fault",
            1.0,
        ),
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} counter\n")),
            "{family} is not typed counter"
        );
        let (b, a) = (num(&before, field) * factor, num(&after, field) * factor);
        let got = m.get(family, &by_dom);
        assert!(
            b <= got && got <= a,
            "{family} = {got}, dommemstat {b} / {a}"
        );
    }
    // inovex's gauge names are left to the compatibility rules.
    for old in [
        "libvirt_domain_memory_stats_swap_in_bytes",
        "libvirt_domain_memory_stats_swap_out_bytes",
    ] {
        assert_eq!(m.find(old, &[]).count(), 0, "{old}");
    }
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn the_lab_exposition_passes_promtool_and_uses_the_bulk_call() {
    let lab = lab();
    let exporter = start(&lab, &[]);
    let m = exporter.next_complete_snapshot();
    assert_eq!(m.get("libvirt_up", &[]), 1.0);
    m.assert_default_collectors_succeeded();
    assert_eq!(
        m.get(
            "libvirt_exporter_incomplete_domains",
            &[("reason", "error")]
        ),
        0.0
    );
    let text = exporter.get("/metrics").text();
    common::assert_promtool_passes(&text);
}

/// Families that a default run against QEMU does not produce, and why (a trailing `*` matches
/// every family with that prefix).
const NOT_ON_QEMU_BY_DEFAULT: &[(&str, &str)] = &[
    (
        "libvirt_exporter_web_config_*",
        "only with --web.config.file",
    ),
    (
        "libvirt_domain_openstack_info",
        "only with --libvirt.metadata.nova",
    ),
    ("libvirt_domain_kvm_*", "opt-in collector vm"),
    ("libvirt_domain_vcpu_kvm_*", "opt-in collector vm"),
    (
        "libvirt_domain_vcpus_*",
        "only with --collector.vcpu.per-domain",
    ),
    (
        "libvirt_domain_dirty_rate_calc_start_time_seconds",
        "opt-in collector dirtyrate",
    ),
    (
        "libvirt_domain_job_info_t*",
        "job times: only while a job runs",
    ),
    (
        "libvirt_domain_job_info_data_*",
        "job sizes: only while a job runs",
    ),
    (
        "libvirt_domain_job_info_memory_*",
        "job sizes: only while a job runs",
    ),
    (
        "libvirt_domain_job_info_file_*",
        "job sizes: only while a job runs",
    ),
    (
        "libvirt_domain_vcpu_cpu",
        "host CPU of a vCPU: only the per-domain fallback reports it",
    ),
    (
        "libvirt_domain_block_stats_xen_oo_requests_total",
        "Xen's oo_req: Xen only",
    ),
    (
        "libvirt_domain_block_stats_threshold_bytes",
        "only once a write threshold is set",
    ),
    ("libvirt_domain_perf_*", "opt-in collector perf"),
    (
        "libvirt_domain_iothread_poll_max_seconds",
        "opt-in collector iothread",
    ),
    (
        "libvirt_domain_iothread_poll_grow",
        "opt-in collector iothread",
    ),
    (
        "libvirt_domain_iothread_poll_shrink",
        "opt-in collector iothread",
    ),
    (
        "libvirt_domain_dirty_rate_bytes_per_second",
        "opt-in collector dirtyrate",
    ),
    (
        "libvirt_domain_vcpu_dirty_rate_bytes_per_second",
        "opt-in collector dirtyrate",
    ),
    (
        "libvirt_domain_dirty_rate_calc_status",
        "opt-in collector dirtyrate",
    ),
    (
        "libvirt_domain_dirty_rate_calc_start_timestamp_seconds",
        "opt-in collector dirtyrate",
    ),
    (
        "libvirt_domain_dirty_rate_calc_period_seconds",
        "opt-in collector dirtyrate",
    ),
    (
        "libvirt_domain_block_io_error_events_total",
        "only once a disk had an I/O error",
    ),
    (
        "libvirt_domain_block_threshold_events_total",
        "only on disks with a write threshold set",
    ),
    (
        "libvirt_domain_block_job_*",
        "opt-in collector blockjob, and the events only once a block job ended",
    ),
    (
        "libvirt_domain_block_limit_*",
        "opt-in collector iotune, and only limits that are set",
    ),
    (
        "libvirt_domain_interface_limit_*",
        "opt-in collector iftune, and only limits that are set",
    ),
    ("libvirt_domain_cpu_tune_*", "opt-in collector tuning"),
    ("libvirt_domain_memory_tune_*", "opt-in collector tuning"),
    (
        "libvirt_domain_snapshot_*",
        "only for domains that have snapshots",
    ),
    (
        "libvirt_domain_guest_*",
        "opt-in collector guest (needs a read-write connection)",
    ),
];

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn every_default_family_is_exposed_on_the_qemu_lab() {
    let lab = lab();
    let exporter = start(&lab, &[]);
    exporter.next_complete_snapshot();
    // Host collectors run on their own threads; give them a cycle too.
    let m = exporter.wait_for("host families", |m| {
        m.value(
            "libvirt_storage_pool_state",
            &[("storage_pool", "lab-pool")],
        )
        .is_some()
    });
    let exposed: std::collections::BTreeSet<String> =
        m.samples.iter().map(|s| s.name.clone()).collect();
    let missing: Vec<String> = libvirt_exporter::encode::catalogue()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| !exposed.contains(name))
        .filter(|name| !NOT_ON_QEMU_BY_DEFAULT.iter().any(|(n, _)| matches(n, name)))
        .collect();
    assert!(
        missing.is_empty(),
        "families missing from a default run on QEMU: {missing:?}"
    );
    let listed_but_present: Vec<&str> = NOT_ON_QEMU_BY_DEFAULT
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| exposed.contains(*n))
        .collect();
    assert!(
        listed_but_present.is_empty(),
        "exceptions that are exposed after all: {listed_but_present:?}"
    );
}
