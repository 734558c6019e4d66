//! The slow per-domain groups about a domain's health and limits (disk errors, the QEMU
//! monitor's state, I/O and NIC limits, CPU and memory tuning, snapshots, block jobs) against
//! `virsh` on the real QEMU lab (tests/lab/setup.sh).
//!
//! Every test that changes a domain does it on transient guests of its own, `hl-<purpose>`,
//! with their files in `/var/tmp/libvirt-exporter-hl/<purpose>`; a guest, mount or directory
//! left by a killed run is removed when the test runs again, and guards put back whatever a
//! test changed (a frozen process, a limit, a snapshot, a block job) also when it fails. The
//! shared lab guests are only read. Most guests are KVM guests whose disk's boot sector halts
//! the vCPU (no kernel, next to no CPU); the disk-filling test boots the lab's kernel under TCG
//! with an `/init` of its own that writes to every disk but `vda`.
//!
//! The slow groups read each domain on their own interval (a minute for the limits and tuning,
//! five for snapshots) and once at once when the exporter starts, so a test that changes
//! something starts a fresh exporter to see it rather than waiting.

mod common;

use common::guest::{disk_xml, run, Guest, Reaped, Stopped, Undo, Workdir, LAB_NIC};
use common::host::fields;
use common::{poll_until, unix_now, virsh, Exporter, Metrics};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

fn lab_uri() -> String {
    common::lab_env()["LAB_URI"].clone()
}

/// The first running lab guest: a domain the tests read but never change.
fn shared_running_guest() -> String {
    common::lab_env()["LAB_RUNNING"]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

// ------------------------------------------------------------------------- exposition

/// When the data of slow collector `collector` shown for `domain` was taken.
fn taken(m: &Metrics, collector: &str, domain: &str) -> Option<f64> {
    m.value(
        "libvirt_exporter_slow_result_timestamp_seconds",
        &[("collector", collector), ("domain", domain)],
    )
}

/// Whether `m` shows, for each of `domains`, fresh data of `collector` taken at or after
/// `since`.
fn fresh(m: &Metrics, collector: &str, domains: &[&str], since: f64) -> bool {
    domains.iter().all(|d| {
        taken(m, collector, d).is_some_and(|t| t >= since)
            && m.value(
                "libvirt_exporter_slow_result_stale",
                &[("collector", collector), ("domain", d)],
            ) == Some(0.0)
    })
}

/// Waits for data of `collector` about `domains` taken after now, and checks that the
/// collector succeeded.
fn result_after_now(exporter: &Exporter, collector: &str, domains: &[&str]) -> Metrics {
    let since = unix_now();
    let m = exporter.wait_for(&format!("{collector} data taken after now"), |m| {
        fresh(m, collector, domains, since)
    });
    assert_eq!(
        m.get(
            "libvirt_exporter_collector_success",
            &[("collector", collector)]
        ),
        1.0,
        "{collector}"
    );
    m
}

/// Every sample of a family starting with `prefix` about `domain`, keyed by name and the
/// labels besides `domain` (`name{k=v,...}`).
fn series_of(m: &Metrics, prefix: &str, domain: &str) -> BTreeMap<String, f64> {
    m.samples
        .iter()
        .filter(|s| {
            s.name.starts_with(prefix) && s.labels.get("domain").map(String::as_str) == Some(domain)
        })
        .map(|s| {
            let labels: Vec<String> = s
                .labels
                .iter()
                .filter(|(k, _)| *k != "domain")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            (format!("{}{{{}}}", s.name, labels.join(",")), s.value)
        })
        .collect()
}

/// `name{k=v,...}` as [`series_of`] writes it.
fn key(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    format!("{name}{{{}}}", labels.join(","))
}

// --------------------------------------------------------------------------- disk errors

const ERROR_STATES: [&str; 3] = ["none", "unspecified", "no_space"];

/// `virsh domblkerror` as disk → state (`no_space`...); empty for "No errors found".
fn domblkerror(uri: &str, domain: &str) -> BTreeMap<String, String> {
    let out = virsh(uri, &["domblkerror", domain]);
    if out.trim() == "No errors found" {
        return BTreeMap::new();
    }
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (disk, what) = l.split_once(':').unwrap_or_else(|| panic!("{out}"));
            let state = match what.trim() {
                "no error" => "none",
                "unspecified error" => "unspecified",
                "no space" => "no_space",
                other => panic!("domblkerror says {other:?}"),
            };
            (disk.trim().to_string(), state.to_string())
        })
        .collect()
}

/// The target devices of a domain's disks (`virsh domblklist`).
fn disk_targets(uri: &str, domain: &str) -> Vec<String> {
    virsh(uri, &["domblklist", domain])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The exporter's disk error series of `domain` are one state set per disk of
/// `virsh domblklist`, each 1 for the state `virsh domblkerror` gives (none when it lists the
/// disk not); returns that state per disk.
fn assert_block_errors_match(m: &Metrics, uri: &str, domain: &str) -> BTreeMap<String, String> {
    let virsh_says = domblkerror(uri, domain);
    let mut expected = BTreeMap::new();
    let mut states = BTreeMap::new();
    for disk in disk_targets(uri, domain) {
        let state = virsh_says.get(&disk).cloned().unwrap_or("none".into());
        for s in ERROR_STATES {
            let labels = [("target_device", disk.as_str()), ("error", s)];
            expected.insert(
                key("libvirt_domain_block_error", &labels),
                f64::from(s == state),
            );
        }
        states.insert(disk, state);
    }
    assert_eq!(
        series_of(m, "libvirt_domain_block_error", domain),
        expected,
        "{domain}: virsh domblkerror says {virsh_says:?}"
    );
    states
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn disk_errors_of_the_lab_guests_are_those_virsh_domblkerror_shows() {
    let env = common::lab_env();
    let uri = lab_uri();
    let active: Vec<&str> = env["LAB_RUNNING"]
        .split_whitespace()
        .chain([env["LAB_PAUSED"].as_str()])
        .collect();
    let off = env["LAB_OFF"].as_str();
    let mut names = active.clone();
    names.push(off);
    let exporter = Exporter::start(&[
        "--libvirt.uri",
        &uri,
        "--collect.interval",
        "1s",
        "--domain.include",
        &names.join("|"),
    ]);
    let m = result_after_now(&exporter, "diskerror", &names);
    for domain in &active {
        let states = assert_block_errors_match(&m, &uri, domain);
        assert_eq!(
            states.get("vda").map(String::as_str),
            Some("none"),
            "{domain}"
        );
    }
    // a domain that is not running has no disk error state, and no error for it
    assert!(series_of(&m, "libvirt_domain_block_error", off).is_empty());
    assert!(virsh(&uri, &["domstate", off]).contains("shut off"));
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn a_full_disk_pauses_its_domain_with_no_space_while_a_reporting_one_leaves_none() {
    // Two hot-plugged disks of 32 MiB on 3 MiB tmpfs mounts: vdb passes errors to the guest
    // (error_policy='report'), vdc has the default policy, which pauses the domain.
    let dir = Workdir::new("diskfull");
    let reporting = dir.tmpfs("report", "3m");
    let stopping = dir.tmpfs("stop", "3m");
    let vda = dir.sparse("vda.raw", 1);
    let report_file = dir.sparse("report/vdb.raw", 32);
    let stop_file = dir.sparse("stop/vdc.raw", 32);
    assert!(report_file.starts_with(&reporting) && stop_file.starts_with(&stopping));
    let guest = Guest::linux_writer("diskfull", dir, &disk_xml(&vda, "raw", "vda", ""));
    let dom = guest.name.as_str();
    let exporter = guest.exporter(&[], &[]);
    let m = result_after_now(&exporter, "diskerror", &[dom]);
    assert_eq!(
        assert_block_errors_match(&m, &guest.uri, dom),
        BTreeMap::from([("vda".to_string(), "none".to_string())])
    );

    // error_policy='report': the guest's writes fail, the domain keeps running, and neither
    // libvirt nor the exporter shows a disk error (QEMU records one only when it pauses)
    guest.attach(
        &disk_xml(&report_file, "raw", "vdb", " error_policy='report'"),
        "vdb.xml",
    );
    let failed = poll_until(
        Duration::from_secs(60),
        Duration::from_millis(500),
        || guest.serial(),
        |log| log.contains("HL-WRITE-FAILED"),
    );
    assert!(
        failed.contains("HL-WRITE-FAILED"),
        "the guest's writes to the full disk did not fail:\n{failed}"
    );
    assert!(guest.state().starts_with("running"), "{}", guest.state());
    let m = result_after_now(&exporter, "diskerror", &[dom]);
    let states = assert_block_errors_match(&m, &guest.uri, dom);
    assert_eq!(states["vdb"], "none");
    assert!(guest.state().starts_with("running"), "{}", guest.state());

    // the default policy: the domain pauses on the first write that finds no space
    guest.attach(&disk_xml(&stop_file, "raw", "vdc", ""), "vdc.xml");
    let state = poll_until(
        Duration::from_secs(60),
        Duration::from_millis(250),
        || guest.state(),
        |s| s == "paused (I/O error)",
    );
    assert_eq!(state, "paused (I/O error)");
    let m = result_after_now(&exporter, "diskerror", &[dom]);
    let states = assert_block_errors_match(&m, &guest.uri, dom);
    assert_eq!(
        states,
        BTreeMap::from([
            ("vda".to_string(), "none".to_string()),
            ("vdb".to_string(), "none".to_string()),
            ("vdc".to_string(), "no_space".to_string()),
        ])
    );
    let by_dom = [("domain", dom)];
    let paused = m.find("libvirt_domain_info_state", &by_dom).next();
    let paused = paused.expect("the domain's state");
    assert_eq!(paused.value, 3.0);
    assert_eq!(paused.labels["reason"], "ioerror");

    // Room again and resumed: the domain runs and writes to vdc again. QEMU (7.2, with the
    // -blockdev disks libvirt gives it) keeps the disk's error record after the resume, until
    // the domain stops; whatever libvirt says, the exporter says the same.
    run(
        "mount",
        &["-o", "remount,size=64m", guest.dir.file("stop").as_str()],
    );
    let wrote = guest.serial().matches("HL-WROTE").count();
    guest.virsh(&["resume"]);
    let log = poll_until(
        Duration::from_secs(60),
        Duration::from_millis(500),
        || guest.serial(),
        |log| log.matches("HL-WROTE").count() > wrote,
    );
    assert!(
        log.matches("HL-WROTE").count() > wrote,
        "no write after the resume:\n{log}"
    );
    assert!(guest.state().starts_with("running"), "{}", guest.state());
    let m = result_after_now(&exporter, "diskerror", &[dom]);
    let states = assert_block_errors_match(&m, &guest.uri, dom);
    assert_eq!(states["vdb"], "none");
    assert!(guest.state().starts_with("running"), "{}", guest.state());
}

// -------------------------------------------------------------------------- the monitor

/// `virsh domcontrol`: the state and, for a busy monitor, for how long (s).
fn domcontrol(uri: &str, domain: &str) -> (String, Option<f64>) {
    let out = virsh(uri, &["domcontrol", domain]);
    let out = out.trim();
    let state = out.split_whitespace().next().unwrap_or("").to_string();
    let seconds = out
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix("s)"))
        .and_then(|s| s.parse().ok());
    (state, seconds)
}

/// The one control state the exporter shows at 1 for `domain`.
fn control_state(m: &Metrics, domain: &str) -> String {
    let on: Vec<_> = m
        .find("libvirt_domain_control_state", &[("domain", domain)])
        .filter(|s| s.value == 1.0)
        .map(|s| s.labels["state"].clone())
        .collect();
    assert_eq!(on.len(), 1, "{domain}: {on:?}");
    assert_eq!(
        m.find("libvirt_domain_control_state", &[("domain", domain)])
            .count(),
        4
    );
    on[0].clone()
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn the_monitor_state_is_virsh_domcontrol_and_a_frozen_qemu_is_occupied_at_the_next_call() {
    let guest = Guest::firmware("control", Workdir::new("control"), "");
    let (dom, other) = (guest.name.as_str(), shared_running_guest());
    let exporter = guest.exporter(&[&other], &[]);
    let m = result_after_now(&exporter, "control", &[dom, &other]);
    for d in [dom, other.as_str()] {
        // Any client's monitor command in flight (the exporter's own bulk call among them)
        // makes the monitor "occupied" for a moment: ask virsh until it sees a quiet one.
        let quiet = poll_until(
            Duration::from_secs(10),
            Duration::from_millis(100),
            || domcontrol(&guest.uri, d),
            |c| c.0 == "ok",
        );
        assert_eq!(quiet, ("ok".to_string(), None), "{d}");
        assert_eq!(control_state(&m, d), "ok");
        let labels = [("domain", d)];
        assert_eq!(
            m.get("libvirt_domain_control_state_duration_seconds", &labels),
            0.0
        );
        assert_eq!(
            m.get(
                "libvirt_domain_control_error_reason",
                &[("domain", d), ("reason", "none")]
            ),
            1.0
        );
    }

    // Freeze QEMU with nothing talking to it (the exporter stopped meanwhile, so none of its
    // own calls hangs on the frozen monitor), then hold its monitor with a command that cannot
    // be answered: what a hung QEMU looks like to libvirt.
    let monitor = {
        let _exporter_stopped = Stopped::new(exporter.pid() as i32);
        let idle = poll_until(
            Duration::from_secs(30),
            Duration::from_millis(100),
            || domcontrol(&guest.uri, dom).0,
            |s| s == "ok",
        );
        assert_eq!(idle, "ok");
        let frozen = Stopped::new(guest.qemu_pid());
        let monitor = Reaped(
            Command::new("virsh")
                .args(["-q", "-c", &guest.uri, "qemu-monitor-command", dom])
                .arg(r#"{"execute":"query-status"}"#)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let busy = poll_until(
            Duration::from_secs(30),
            Duration::from_millis(100),
            || domcontrol(&guest.uri, dom).0,
            |s| s == "occupied",
        );
        assert_eq!(busy, "occupied");
        (frozen, monitor)
    };
    let frozen_at = unix_now();

    // Every answer from now on is served at once; the first control data taken after the
    // freeze already says occupied; the other domain's data stays fresh.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let m = loop {
        let r = exporter.get("/metrics");
        assert_eq!(r.status, 200, "{}", r.text());
        let m = Metrics::parse(&r.text());
        if taken(&m, "control", dom).is_some_and(|t| t >= frozen_at) {
            assert_eq!(control_state(&m, dom), "occupied");
        }
        let cycle = m.value("libvirt_exporter_last_collection_timestamp_seconds", &[]);
        if fresh(&m, "control", &[dom, &other], frozen_at) && cycle.is_some_and(|t| t >= frozen_at)
        {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no fresh control data after the freeze:\n{}\nlog:\n{}",
            r.text(),
            exporter.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let virsh_before = unix_now();
    let (state, held) = domcontrol(&guest.uri, dom);
    let virsh_after = unix_now();
    assert_eq!(state, "occupied");
    assert_eq!(control_state(&m, dom), "occupied");
    assert_eq!(control_state(&m, &other), "ok");
    assert_eq!(m.get("libvirt_up", &[]), 1.0);
    assert_eq!(
        m.get("libvirt_exporter_incomplete_domains", &[("reason", "busy")]),
        1.0,
        "the bulk cycle skips the frozen domain and only it"
    );
    assert!(m.value("libvirt_domain_info_state", &[("domain", &other)]) == Some(1.0));
    // Both say since when the monitor is occupied: the exporter's call started `taken` and
    // was told `duration`; virsh was told `held` between `virsh_before` and `virsh_after`.
    let held = held.expect("virsh domcontrol gives the time for occupied");
    let since_exporter = taken(&m, "control", dom).unwrap()
        - m.get(
            "libvirt_domain_control_state_duration_seconds",
            &[("domain", dom)],
        );
    let (earliest, latest) = (virsh_before - held, virsh_after - held);
    assert!(
        since_exporter >= earliest - 0.5 && since_exporter <= latest + 0.01,
        "occupied since {since_exporter} by the exporter, between {earliest} and {latest} by virsh"
    );

    // thawed: the monitor answers and the exporter says ok again
    let (frozen, mut monitor) = monitor;
    drop(frozen);
    let status = monitor.0.wait().unwrap();
    assert!(status.success(), "the held monitor command: {status}");
    let thawed_at = unix_now();
    let m = exporter.wait_for("ok after the thaw", |m| {
        fresh(m, "control", &[dom], thawed_at)
    });
    assert_eq!(control_state(&m, dom), "ok");
    assert_eq!(domcontrol(&guest.uri, dom), ("ok".to_string(), None));
}

// ------------------------------------------------------------------------------- limits

/// `virsh blkdeviotune DOM DISK` as field → value.
fn blkdeviotune(guest: &Guest, disk: &str) -> BTreeMap<String, String> {
    fields(&guest.virsh(&["blkdeviotune", disk]))
}

/// The series the exporter must show for the limits `virsh blkdeviotune` gives one disk:
/// one per field that is not 0 (and the group's name, when set).
fn expected_block_limits(disk: &str, v: &BTreeMap<String, String>) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (field, value) in v {
        if field == "group_name" {
            if !value.is_empty() {
                out.insert(
                    key(
                        "libvirt_domain_block_limit_group_info",
                        &[("target_device", disk), ("group", value)],
                    ),
                    1.0,
                );
            }
            continue;
        }
        let value: f64 = value.parse().unwrap();
        if value == 0.0 {
            continue;
        }
        if field == "size_iops_sec" {
            out.insert(
                key(
                    "libvirt_domain_block_limit_request_size_bytes",
                    &[("target_device", disk)],
                ),
                value,
            );
            continue;
        }
        let (direction, rest) = field.split_once('_').unwrap();
        let family = match rest {
            "bytes_sec" => "bytes_per_second",
            "iops_sec" => "requests_per_second",
            "bytes_sec_max" => "burst_bytes_per_second",
            "iops_sec_max" => "burst_requests_per_second",
            "bytes_sec_max_length" => "burst_bytes_length_seconds",
            "iops_sec_max_length" => "burst_requests_length_seconds",
            other => panic!("blkdeviotune field {field} ({other}) is new to this test"),
        };
        out.insert(
            key(
                &format!("libvirt_domain_block_limit_{family}"),
                &[("target_device", disk), ("direction", direction)],
            ),
            value,
        );
    }
    out
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn io_limits_set_with_blkdeviotune_are_exported_as_virsh_shows_them() {
    let dir = Workdir::new("iotune");
    let devices = [
        disk_xml(&dir.halting_disk("vda.qcow2", 0), "qcow2", "vda", ""),
        disk_xml(&dir.sparse("vdb.raw", 1), "raw", "vdb", ""),
        // an empty CD-ROM drive: nothing to throttle, and libvirt refuses the question
        "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>\
         <target dev='hdc' bus='ide'/><readonly/></disk>"
            .to_string(),
    ];
    let guest = Guest::firmware("iotune", dir, &devices.concat());
    let dom = guest.name.as_str();
    let (ok, _, err) = guest.try_virsh(&["blkdeviotune", "hdc"]);
    assert!(
        !ok,
        "libvirt answers for the empty drive now: drop this check"
    );
    assert!(err.contains("not in expected format"), "{err}");
    let prefix = "libvirt_domain_block_limit_";
    {
        let exporter = guest.exporter(&[], &["--collector.iotune"]);
        let m = result_after_now(&exporter, "iotune", &[dom]);
        assert_eq!(series_of(&m, prefix, dom), BTreeMap::new());
    }

    let mut undo = Undo::new(&guest.uri);
    let set = |disk: &str, limits: &[&str], undo: &mut Undo| {
        let mut args = vec!["blkdeviotune", dom, disk, "--live"];
        args.extend_from_slice(limits);
        virsh(&guest.uri, &args);
        // all limits 0 at once (libvirt refuses to drop a limit while its burst is set);
        // the group goes with the last limit
        let mut reset = vec!["blkdeviotune", dom, disk, "--live"];
        for l in limits.chunks(2).filter(|l| l[0] != "--group-name") {
            reset.extend([l[0], "0"]);
        }
        undo.push(&reset);
    };
    #[rustfmt::skip]
    set("vda", &[
        "--total-bytes-sec", "1048576", "--read-iops-sec", "100", "--write-iops-sec", "50",
        "--total-bytes-sec-max", "2097152", "--total-bytes-sec-max-length", "7",
        "--read-iops-sec-max", "200", "--size-iops-sec", "8192", "--group-name", "hl-group",
    ], &mut undo);
    #[rustfmt::skip]
    set("vdb", &[
        "--read-bytes-sec", "3000000", "--write-bytes-sec", "4000000", "--total-iops-sec", "300",
        "--write-bytes-sec-max", "5000000", "--write-bytes-sec-max-length", "4",
        "--total-iops-sec-max", "600", "--total-iops-sec-max-length", "2",
    ], &mut undo);
    let vda = blkdeviotune(&guest, "vda");
    let vdb = blkdeviotune(&guest, "vdb");
    let mut expected = expected_block_limits("vda", &vda);
    expected.extend(expected_block_limits("vdb", &vdb));
    // every family has a series in this test, and the lengths QEMU defaults to are in
    let families: std::collections::BTreeSet<&str> = expected
        .keys()
        .map(|k| k.split('{').next().unwrap())
        .collect();
    assert_eq!(families.len(), 8, "{families:?}");
    assert_eq!(vda["read_iops_sec_max_length"], "1");
    {
        let exporter = guest.exporter(&[], &["--collector.iotune"]);
        let m = result_after_now(&exporter, "iotune", &[dom]);
        assert_eq!(series_of(&m, prefix, dom), expected);
        common::assert_promtool_passes(&exporter.get("/metrics").text());
    }

    undo.now();
    assert!(blkdeviotune(&guest, "vda")
        .iter()
        .all(|(k, v)| v == "0" || (k == "group_name" && v.is_empty())));
    let exporter = guest.exporter(&[], &["--collector.iotune"]);
    let m = result_after_now(&exporter, "iotune", &[dom]);
    assert_eq!(series_of(&m, prefix, dom), BTreeMap::new());
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn interface_limits_set_with_domiftune_are_exported_in_bytes() {
    let guest = Guest::firmware("iftune", Workdir::new("iftune"), LAB_NIC);
    let dom = guest.name.as_str();
    let tap = guest
        .virsh(&["domiflist"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .find(|t| t.starts_with("vnet"))
        .expect("a vnetN tap in domiflist")
        .to_string();
    let prefix = "libvirt_domain_interface_limit_";
    {
        let exporter = guest.exporter(&[], &["--collector.iftune"]);
        let m = result_after_now(&exporter, "iftune", &[dom]);
        assert_eq!(series_of(&m, prefix, dom), BTreeMap::new());
    }

    let mut undo = Undo::new(&guest.uri);
    undo.push(&[
        "domiftune",
        dom,
        &tap,
        "--inbound",
        "0",
        "--outbound",
        "0",
        "--live",
    ]);
    let (ok, _, err) = guest.try_virsh(&[
        "domiftune",
        &tap,
        "--inbound",
        "1000,2000,3000",
        "--outbound",
        "500,600,700",
        "--live",
    ]);
    if !ok && (err.contains("qdisc kind is unknown") || err.contains("Failed to load TC action")) {
        // libvirt shapes a tap with tc's htb and sfq qdiscs and the police action; a host
        // kernel without sch_sfq or act_police cannot limit a NIC at all, so there is nothing
        // to read back here. The decoding is covered by the iftune unit tests.
        eprintln!("SKIPPED on this host: its kernel cannot shape a NIC: {err}");
        return;
    }
    assert!(ok, "virsh domiftune failed: {err}");
    let v = fields(&guest.virsh(&["domiftune", &tap]));
    let mut expected = BTreeMap::new();
    for (field, value) in &v {
        let kilo: f64 = value.parse().unwrap();
        if kilo == 0.0 {
            continue;
        }
        let (direction, what) = field.split_once('.').unwrap();
        let family = match what {
            "average" => "average_bytes_per_second",
            "peak" => "peak_bytes_per_second",
            "burst" => "burst_bytes",
            "floor" => "floor_bytes_per_second",
            other => panic!("domiftune field {other} is new to this test"),
        };
        expected.insert(
            key(
                &format!("{prefix}{family}"),
                &[("target_device", &tap), ("direction", direction)],
            ),
            // rates in tc's kB/s (1000 bytes), the burst in KiB
            kilo * if what == "burst" { 1024.0 } else { 1000.0 },
        );
    }
    assert_eq!(expected.len(), 6, "{v:?}");
    {
        let exporter = guest.exporter(&[], &["--collector.iftune"]);
        let m = result_after_now(&exporter, "iftune", &[dom]);
        assert_eq!(series_of(&m, prefix, dom), expected);
    }

    undo.now();
    let exporter = guest.exporter(&[], &["--collector.iftune"]);
    let m = result_after_now(&exporter, "iftune", &[dom]);
    assert_eq!(series_of(&m, prefix, dom), BTreeMap::new());
}

// ------------------------------------------------------------------------------- tuning

/// The tuning series the exporter must show for what `virsh schedinfo` and `virsh memtune`
/// say: periods and bounded quotas in seconds (µs / 10⁶), limits in bytes (KiB · 1024), no
/// series for an unbounded quota (-1) or an unlimited limit.
fn expected_tuning(
    sched: &BTreeMap<String, String>,
    mem: &BTreeMap<String, String>,
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (field, value) in sched {
        if field == "Scheduler" {
            assert_eq!(value, "posix");
            continue;
        }
        let v: f64 = value.parse().unwrap();
        if field == "cpu_shares" {
            out.insert(key("libvirt_domain_cpu_tune_shares", &[]), v);
            continue;
        }
        let (scope, what) = field.rsplit_once('_').unwrap();
        // libvirt's largest quota, 17592186044415 µs, also means none
        if v <= 0.0 || v >= 17_592_186_044_415.0 {
            assert_eq!(what, "quota", "{field} = {value}");
            continue;
        }
        let family = match what {
            "period" => "libvirt_domain_cpu_tune_period_seconds",
            "quota" => "libvirt_domain_cpu_tune_quota_seconds",
            other => panic!("schedinfo field {other} is new to this test"),
        };
        out.insert(key(family, &[("scope", scope)]), v / 1e6);
    }
    for (field, value) in mem {
        if value == "unlimited" {
            continue;
        }
        let kib: f64 = value.parse().unwrap();
        out.insert(
            key(&format!("libvirt_domain_memory_tune_{field}_bytes"), &[]),
            kib * 1024.0,
        );
    }
    out
}

fn tuning_series(m: &Metrics, domain: &str) -> BTreeMap<String, f64> {
    let mut s = series_of(m, "libvirt_domain_cpu_tune_", domain);
    s.extend(series_of(m, "libvirt_domain_memory_tune_", domain));
    s
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn cpu_and_memory_tuning_is_what_schedinfo_and_memtune_show() {
    let guest = Guest::firmware("tuning", Workdir::new("tuning"), "");
    let (dom, other) = (guest.name.as_str(), shared_running_guest());
    let mut undo = Undo::new(&guest.uri);
    undo.push(&[
        "schedinfo",
        dom,
        "--live",
        "--set",
        "cpu_shares=1024",
        "vcpu_quota=-1",
        "emulator_quota=-1",
        "emulator_period=100000",
        "global_quota=-1",
        "global_period=100000",
    ]);
    #[rustfmt::skip]
    guest.virsh(&[
        "schedinfo", "--live", "--set", "cpu_shares=512", "vcpu_quota=50000",
        "emulator_period=200000", "emulator_quota=30000", "global_period=300000",
        "global_quota=600000",
    ]);
    undo.push(&[
        "memtune",
        dom,
        "--live",
        "--hard-limit",
        "-1",
        "--soft-limit",
        "-1",
        "--swap-hard-limit",
        "-1",
    ]);
    #[rustfmt::skip]
    guest.virsh(&[
        "memtune", "--live", "--hard-limit", "1048576", "--soft-limit", "524288",
        "--swap-hard-limit", "2097152",
    ]);
    let exporter = guest.exporter(&[&other], &["--collector.tuning"]);
    let m = result_after_now(&exporter, "tuning", &[dom, &other]);
    for d in [dom, other.as_str()] {
        let sched = fields(&virsh(&guest.uri, &["schedinfo", d]));
        let mem = fields(&virsh(&guest.uri, &["memtune", d]));
        assert_eq!(tuning_series(&m, d), expected_tuning(&sched, &mem), "{d}");
    }
    // what was set is there, as set
    let mine = tuning_series(&m, dom);
    for (k, v) in [
        (key("libvirt_domain_cpu_tune_shares", &[]), 512.0),
        (
            key(
                "libvirt_domain_cpu_tune_quota_seconds",
                &[("scope", "vcpu")],
            ),
            0.05,
        ),
        (
            key(
                "libvirt_domain_cpu_tune_quota_seconds",
                &[("scope", "emulator")],
            ),
            0.03,
        ),
        (
            key(
                "libvirt_domain_cpu_tune_period_seconds",
                &[("scope", "emulator")],
            ),
            0.2,
        ),
        (
            key(
                "libvirt_domain_cpu_tune_quota_seconds",
                &[("scope", "global")],
            ),
            0.6,
        ),
        (
            key("libvirt_domain_memory_tune_hard_limit_bytes", &[]),
            1024.0 * MIB as f64,
        ),
        (
            key("libvirt_domain_memory_tune_soft_limit_bytes", &[]),
            512.0 * MIB as f64,
        ),
        (
            key("libvirt_domain_memory_tune_swap_hard_limit_bytes", &[]),
            2048.0 * MIB as f64,
        ),
    ] {
        assert_eq!(mine.get(&k), Some(&v), "{k}: {mine:#?}");
    }
    drop(exporter);

    undo.now();
    let mem = fields(&guest.virsh(&["memtune"]));
    assert!(mem.values().all(|v| v == "unlimited"), "{mem:?}");
    let exporter = guest.exporter(&[], &["--collector.tuning"]);
    let m = result_after_now(&exporter, "tuning", &[dom]);
    assert!(series_of(&m, "libvirt_domain_memory_tune_", dom).is_empty());
    assert!(series_of(&m, "libvirt_domain_cpu_tune_quota_", dom).is_empty());
}

// ---------------------------------------------------------------------------- snapshots

/// `<creationTime>` of a snapshot, from `virsh snapshot-dumpxml`.
fn creation_time(guest: &Guest, snapshot: &str) -> f64 {
    let xml = guest.virsh(&["snapshot-dumpxml", snapshot]);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    doc.root_element()
        .children()
        .find(|n| n.has_tag_name("creationTime"))
        .and_then(|n| n.text())
        .expect("a creationTime")
        .trim()
        .parse()
        .unwrap()
}

fn snapshot_series(m: &Metrics, domain: &str) -> BTreeMap<String, f64> {
    series_of(m, "libvirt_domain_snapshot", domain)
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn snapshots_are_counted_with_the_creation_times_snapshot_dumpxml_shows() {
    let dir = Workdir::new("snapshot");
    let vda = disk_xml(&dir.halting_disk("vda.qcow2", 0), "qcow2", "vda", "");
    let guest = Guest::firmware("snapshot", dir, &vda);
    let dom = guest.name.as_str();
    let count = key("libvirt_domain_snapshots", &[]);
    {
        let exporter = guest.exporter(&[], &[]);
        let m = result_after_now(&exporter, "snapshot", &[dom]);
        assert_eq!(
            snapshot_series(&m, dom),
            BTreeMap::from([(count.clone(), 0.0)])
        );
    }

    let mut undo = Undo::new(&guest.uri);
    let mut previous = None;
    for name in ["hl-first", "hl-second"] {
        // a second apart at least, so that the oldest and the newest differ
        if let Some(t) = previous {
            while unix_now() < t + 1.0 {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        undo.push(&["snapshot-delete", dom, name]);
        guest.virsh(&["snapshot-create-as", name]);
        previous = Some(creation_time(&guest, name));
    }
    let names: Vec<String> = guest
        .virsh(&["snapshot-list", "--name"])
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(names, ["hl-first", "hl-second"]);
    let times: Vec<f64> = names.iter().map(|n| creation_time(&guest, n)).collect();
    assert!(times[0] < times[1], "{times:?}");
    {
        let exporter = guest.exporter(&[], &[]);
        let m = result_after_now(&exporter, "snapshot", &[dom]);
        assert_eq!(
            snapshot_series(&m, dom),
            BTreeMap::from([
                (count.clone(), 2.0),
                (
                    key("libvirt_domain_snapshot_oldest_timestamp_seconds", &[]),
                    times[0]
                ),
                (
                    key("libvirt_domain_snapshot_newest_timestamp_seconds", &[]),
                    times[1]
                ),
            ])
        );
    }

    undo.now();
    assert_eq!(guest.virsh(&["snapshot-list", "--name"]).trim(), "");
    let exporter = guest.exporter(&[], &[]);
    let m = result_after_now(&exporter, "snapshot", &[dom]);
    assert_eq!(snapshot_series(&m, dom), BTreeMap::from([(count, 0.0)]));
}

// ---------------------------------------------------------------------------- block jobs

/// `virsh blockjob DOM DISK --raw --bytes` as field → value; empty when no job runs.
fn blockjob(guest: &Guest, disk: &str) -> BTreeMap<String, String> {
    guest
        .virsh(&["blockjob", disk, "--raw", "--bytes"])
        .lines()
        .filter_map(|l| l.trim().split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn a_block_copy_is_shown_with_the_progress_and_bandwidth_virsh_blockjob_shows() {
    let dir = Workdir::new("blockjob");
    let vda = disk_xml(&dir.halting_disk("vda.qcow2", 48), "qcow2", "vda", "");
    let copy = dir.file("copy.qcow2");
    let guest = Guest::firmware("blockjob", dir, &vda);
    let dom = guest.name.as_str();
    let prefix = "libvirt_domain_block_job";
    let exporter = guest.exporter(&[], &["--collector.blockjob"]);
    let m = result_after_now(&exporter, "blockjob", &[dom]);
    assert_eq!(series_of(&m, prefix, dom), BTreeMap::new());

    let mut undo = Undo::new(&guest.uri);
    undo.push(&["blockjob", dom, "vda", "--abort"]);
    #[rustfmt::skip]
    guest.virsh(&[
        "blockcopy", "vda", &copy, "--transient-job", "--bandwidth", "1", "--format", "qcow2",
    ]);
    let before = blockjob(&guest, "vda");
    let m = result_after_now(&exporter, "blockjob", &[dom]);
    let after = blockjob(&guest, "vda");
    for v in [&before, &after] {
        assert_eq!(v["type"], "Block Copy", "{v:?}");
        assert_eq!(v["bandwidth"], "1048576", "{v:?}");
    }
    let num = |v: &BTreeMap<String, String>, k: &str| v[k].parse::<f64>().unwrap();
    let on = [("target_device", "vda")];
    let got = series_of(&m, prefix, dom);
    assert_eq!(
        got.keys().cloned().collect::<Vec<_>>(),
        [
            key("libvirt_domain_block_job_bandwidth_bytes_per_second", &on),
            key(
                "libvirt_domain_block_job_info",
                &[("target_device", "vda"), ("type", "copy")]
            ),
            key("libvirt_domain_block_job_processed_bytes", &on),
            key("libvirt_domain_block_job_total_bytes", &on),
        ]
    );
    let get = |name: &str| got[&key(name, &on)];
    assert_eq!(
        get("libvirt_domain_block_job_bandwidth_bytes_per_second"),
        MIB as f64
    );
    for (family, field) in [
        ("libvirt_domain_block_job_processed_bytes", "cur"),
        ("libvirt_domain_block_job_total_bytes", "end"),
    ] {
        let (lo, hi, value) = (num(&before, field), num(&after, field), get(family));
        assert!(
            lo <= value && value <= hi,
            "{family} = {value}, virsh {lo}..{hi}"
        );
    }
    assert!(num(&after, "end") >= 48.0 * MIB as f64, "{after:?}");

    undo.now();
    assert!(blockjob(&guest, "vda").is_empty());
    let m = result_after_now(&exporter, "blockjob", &[dom]);
    let mut left = series_of(&m, prefix, dom);
    // the copy's end is counted by the block job events, which stay
    left.retain(|k, _| !k.starts_with("libvirt_domain_block_job_events_total"));
    assert_eq!(left, BTreeMap::new());
}
