//! Domain jobs, the opt-in groups (perf, I/O threads, dirty rate, KVM statistics), metadata
//! labels and the cardinality controls against the real QEMU lab (tests/lab/setup.sh).
//!
//! Tests that change a domain (a dump, a dirty-rate calculation, perf events, metadata) run
//! on a small transient firmware-only KVM guest of their own, named `issue3-domain-<purpose>`
//! and destroyed when the test ends; the shared lab guests are only read.

mod common;

use common::{domstats, poll_until, unix_now, virsh, Exporter, Metrics};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MIB: f64 = 1024.0 * 1024.0;

fn lab_uri() -> String {
    common::lab_env()["LAB_URI"].clone()
}

/// A transient KVM guest with no disk and no kernel (SeaBIOS finds nothing to boot and
/// idles), 2 vCPUs and 2 I/O threads. Destroyed when dropped.
struct Guest {
    uri: String,
    name: String,
}

impl Guest {
    fn start(purpose: &str, memory_mib: u32, extra: &str) -> Guest {
        assert!(
            std::path::Path::new("/dev/kvm").exists(),
            "these tests need /dev/kvm for a KVM guest"
        );
        let uri = lab_uri();
        let name = format!("issue3-domain-{purpose}");
        // A guest left over by a killed run would make `create` fail.
        let _ = Command::new("virsh")
            .args(["-q", "-c", &uri, "destroy", &name])
            .output();
        let xml = format!(
            "<domain type='kvm'><name>{name}</name>{extra}<memory unit='MiB'>{memory_mib}</memory>\
             <vcpu>2</vcpu><iothreads>2</iothreads><os><type arch='x86_64' machine='pc'>hvm</type></os>\
             <devices><controller type='usb' model='none'/><memballoon model='none'/></devices></domain>"
        );
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), xml).unwrap();
        virsh(&uri, &["create", file.path().to_str().unwrap()]);
        Guest { uri, name }
    }

    fn exporter(&self, extra: &[&str]) -> Exporter {
        self.exporter_with_env(extra, &[])
    }

    /// An exporter whose domain API calls `log` records.
    fn exporter_logging_calls(&self, extra: &[&str], log: &CallLog) -> Exporter {
        let env = log.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.exporter_with_env(extra, &env)
    }

    fn exporter_with_env(&self, extra: &[&str], env: &[(&str, &str)]) -> Exporter {
        let mut args = vec![
            "--libvirt.uri",
            &self.uri,
            "--collect.interval",
            "1s",
            "--domain.include",
            &self.name,
        ];
        args.extend_from_slice(extra);
        Exporter::start_with_env(&args, env)
    }

    fn by_dom(&self) -> [(&str, &str); 1] {
        [("domain", self.name.as_str())]
    }

    fn stats(&self, groups: &[&str]) -> BTreeMap<String, String> {
        domstats(&self.uri, &self.name, groups)
    }

    fn qemu_pid(&self) -> i32 {
        std::fs::read_to_string(format!("/run/libvirt/qemu/{}.pid", self.name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = Command::new("virsh")
            .args(["-q", "-c", &self.uri, "destroy", &self.name])
            .output();
    }
}

/// A child process killed (and reaped) when dropped.
struct Reaped(Child);

impl Reaped {
    /// Waits for the child to exit; returns its status and standard error.
    fn finish(&mut self) -> (std::process::ExitStatus, String) {
        let mut stderr = String::new();
        if let Some(mut e) = self.0.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        (self.0.wait().unwrap(), stderr)
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn value_or_nan(m: &Metrics, name: &str, labels: &[(&str, &str)]) -> f64 {
    m.value(name, labels).unwrap_or(f64::NAN)
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn a_memory_dump_is_seen_as_a_job_while_it_runs_and_gone_after() {
    let guest = Guest::start("job", 32, "");
    let dom = guest.by_dom();
    let exporter = guest.exporter(&[]);
    let idle = exporter.next_complete_snapshot();
    assert_eq!(idle.get("libvirt_domain_job_info_type", &dom), 0.0);
    assert!(idle
        .value("libvirt_domain_job_info_memory_total_bytes", &dom)
        .is_none());

    // QEMU writes the dump into a FIFO that this test drains slowly, so the job lasts
    // several collection cycles; once seen, the rest is drained at full speed.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("dump.fifo");
    let status = Command::new("mkfifo")
        .args(["-m", "0666"])
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let fast = Arc::new(AtomicBool::new(false));
    let reader = {
        let (fifo, fast) = (fifo.clone(), fast.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut f = std::fs::File::open(fifo).unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0u64;
            loop {
                match f.read(&mut buf) {
                    Ok(0) | Err(_) => return total,
                    Ok(n) => total += n as u64,
                }
                if !fast.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) {
                    std::thread::sleep(Duration::from_millis(15));
                }
            }
        })
    };
    let dump = Reaped(
        Command::new("virsh")
            .args(["-q", "-c", &guest.uri, "dump", "--memory-only", &guest.name])
            .arg(&fifo)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );

    let processed =
        |m: &Metrics| value_or_nan(m, "libvirt_domain_job_info_memory_processed_bytes", &dom);
    let running = exporter.wait_for("the dump job with progress", |m| {
        m.value("libvirt_domain_job_info_type", &dom) == Some(2.0) && processed(m) > 0.0
    });
    let first = processed(&running);
    let later = exporter.wait_for("the dump to progress", |m| {
        m.value("libvirt_domain_job_info_type", &dom) == Some(2.0) && processed(m) > first
    });
    let jobinfo = virsh(&guest.uri, &["domjobinfo", &guest.name]);
    fast.store(true, Ordering::Relaxed);

    for m in [&running, &later] {
        let get = |f: &str| m.get(&format!("libvirt_domain_job_info_{f}"), &dom);
        assert_eq!(
            get("memory_total_bytes"),
            get("memory_processed_bytes") + get("memory_remaining_bytes")
        );
        assert!(
            get("memory_total_bytes") >= 32.0 * MIB,
            "{}",
            get("memory_total_bytes")
        );
        assert!(get("time_elapsed_seconds") > 0.0);
        assert!(m
            .value("libvirt_domain_job_info_data_total_bytes", &dom)
            .is_none());
        let state = m.find("libvirt_domain_info_state", &dom).next().unwrap();
        assert_eq!(state.labels["reason"], "dump");
    }
    assert!(
        later.get("libvirt_domain_job_info_time_elapsed_seconds", &dom)
            > running.get("libvirt_domain_job_info_time_elapsed_seconds", &dom)
    );
    // virsh prints the total in MiB with three decimals.
    let virsh_total: f64 = jobinfo
        .lines()
        .find_map(|l| l.strip_prefix("Memory total:"))
        .and_then(|v| v.trim().strip_suffix("MiB"))
        .expect("Memory total in domjobinfo")
        .trim()
        .parse()
        .unwrap();
    let total = later.get("libvirt_domain_job_info_memory_total_bytes", &dom) / MIB;
    assert!(
        (total - virsh_total).abs() < 0.001,
        "{total} vs virsh {virsh_total}"
    );

    let mut dump = dump;
    let (status, stderr) = dump.finish();
    assert!(status.success(), "virsh dump: {stderr}");
    assert!(reader.join().unwrap() as f64 >= 32.0 * MIB);
    let after = exporter.wait_for("the job to end", |m| {
        m.value("libvirt_domain_job_info_type", &dom) == Some(0.0)
    });
    assert!(after
        .value("libvirt_domain_job_info_memory_processed_bytes", &dom)
        .is_none());
    assert!(after
        .value("libvirt_domain_job_info_time_elapsed_seconds", &dom)
        .is_none());
}

/// libvirt's client-side log of the domain API calls an exporter makes, in a directory of its
/// own that goes with it.
struct CallLog {
    dir: tempfile::TempDir,
}

impl CallLog {
    fn new() -> CallLog {
        CallLog {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("libvirt.log")
    }

    /// The environment that makes the exporter write this log.
    fn env(&self) -> [(&'static str, String); 2] {
        [
            ("LIBVIRT_LOG_FILTERS", "1:libvirt.domain".to_string()),
            (
                "LIBVIRT_LOG_OUTPUTS",
                format!("1:file:{}", self.path().display()),
            ),
        ]
    }

    /// How many times the log says the exporter called `virDomainGetJobStats`.
    fn job_calls(&self) -> usize {
        std::fs::read_to_string(self.path())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("virDomainGetJobStats:"))
            .count()
    }
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn a_domain_without_a_job_is_asked_again_only_when_its_state_changes() {
    let guest = Guest::start("jobcalls", 32, "");
    let dom = guest.by_dom();
    let log = CallLog::new();
    let exporter = guest.exporter_logging_calls(&["--collector.job.interval", "1h"], &log);
    let state = |m: &Metrics| m.value("libvirt_domain_info_state", &dom);
    exporter.wait_for("the idle job type", |m| {
        m.value("libvirt_domain_job_info_type", &dom) == Some(0.0)
    });
    for _ in 0..3 {
        let m = exporter.next_complete_snapshot();
        assert_eq!(m.get("libvirt_domain_job_info_type", &dom), 0.0);
    }
    assert_eq!(log.job_calls(), 1, "asked once in four cycles");

    virsh(&guest.uri, &["suspend", &guest.name]);
    exporter.wait_for("the paused state", |m| state(m) == Some(3.0));
    let m = exporter.next_complete_snapshot();
    assert_eq!(m.get("libvirt_domain_job_info_type", &dom), 0.0);
    assert_eq!(log.job_calls(), 2, "asked again once it paused");

    virsh(&guest.uri, &["resume", &guest.name]);
    exporter.wait_for("the running state", |m| state(m) == Some(1.0));
    exporter.next_complete_snapshot();
    assert_eq!(log.job_calls(), 3, "asked again once it ran again");
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn a_domain_without_a_job_is_asked_again_once_per_job_interval() {
    // (Every job this lab can start also pauses the domain and so is asked about at once; a
    // live migration or a backup, which do not, are found by this periodic question.)
    let guest = Guest::start("jobinterval", 32, "");
    let dom = guest.by_dom();
    let log = CallLog::new();
    let exporter = guest.exporter_logging_calls(&["--collector.job.interval", "4s"], &log);
    let collected = |m: &Metrics| m.get("libvirt_exporter_last_collection_timestamp_seconds", &[]);
    let first = exporter.wait_for("the idle job type", |m| {
        m.value("libvirt_domain_job_info_type", &dom) == Some(0.0)
    });
    let cycles_so_far = |m: &Metrics| m.get("libvirt_exporter_collections_total", &[]);
    let start = collected(&first);
    let (elapsed, cycles) = loop {
        let m = exporter.next_complete_snapshot();
        assert_eq!(m.get("libvirt_domain_job_info_type", &dom), 0.0);
        if collected(&m) - start >= 12.0 {
            let cycles = cycles_so_far(&m) - cycles_so_far(&first);
            break (collected(&m) - start, cycles as usize);
        }
    };
    // the first question again after a share of the interval, then one per interval
    let calls = log.job_calls();
    let most = 2 + (elapsed / 4.0) as usize;
    assert!(
        (2..=most).contains(&calls),
        "{calls} questions in {elapsed} s, {cycles} cycles"
    );
    assert!(calls < cycles, "{calls} questions in {cycles} cycles");
}

/// Resumes a SIGSTOPped process when dropped, so a failing test leaves no frozen guest.
struct Stopped(i32);

impl Stopped {
    fn new(pid: i32) -> Stopped {
        assert!(Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()
            .unwrap()
            .success());
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn a_domain_busy_with_a_synchronous_job_does_not_hold_up_the_cycle() {
    let guest = Guest::start("busy", 32, "");
    let dom = guest.by_dom();
    // The collection timeout is the 1 s interval: a job query waiting 30 s for the busy
    // domain would turn libvirt_up to 0.
    let exporter = guest.exporter(&[]);
    exporter.wait_for("the idle job type", |m| {
        m.value("libvirt_domain_job_info_type", &dom) == Some(0.0)
    });
    // A frozen QEMU keeps this monitor command, and so the domain's job, busy.
    let stopped = Stopped::new(guest.qemu_pid());
    let _monitor = Reaped(
        Command::new("virsh")
            .args(["-q", "-c", &guest.uri, "qemu-monitor-command", &guest.name])
            .arg(r#"{"execute":"query-status"}"#)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let since = unix_now() + 1.0;
    let busy = |m: &Metrics| {
        m.value("libvirt_exporter_last_collection_timestamp_seconds", &[])
            .is_some_and(|t| t >= since)
            && m.value("libvirt_exporter_incomplete_domains", &[("reason", "busy")]) == Some(1.0)
    };
    let mut seen = BTreeSet::new();
    while seen.len() < 3 {
        let m = exporter.wait_for("a cycle with the domain busy", |m| {
            busy(m)
                && !seen.contains(
                    &(m.get("libvirt_exporter_last_collection_timestamp_seconds", &[]) as u64),
                )
        });
        assert_eq!(m.get("libvirt_up", &[]), 1.0);
        assert_eq!(m.value("libvirt_domain_job_info_type", &dom), None);
        assert_eq!(
            m.get(
                "libvirt_exporter_collector_success",
                &[("collector", "job")]
            ),
            1.0
        );
        seen.insert(m.get("libvirt_exporter_last_collection_timestamp_seconds", &[]) as u64);
    }
    drop(stopped);
    exporter.wait_for("the job type after the domain is free", |m| {
        m.value("libvirt_domain_job_info_type", &dom) == Some(0.0)
    });
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn the_dirty_rate_appears_once_a_calculation_ran() {
    let guest = Guest::start("dirtyrate", 32, "");
    let dom = guest.by_dom();
    let exporter = guest.exporter(&["--collector.dirtyrate"]);
    let before = exporter.next_complete_snapshot();
    assert_eq!(
        before.get("libvirt_domain_dirty_rate_calc_status", &dom),
        0.0
    );
    for family in [
        "libvirt_domain_dirty_rate_bytes_per_second",
        "libvirt_domain_dirty_rate_calc_start_time_seconds",
        "libvirt_domain_dirty_rate_calc_period_seconds",
    ] {
        assert!(before.value(family, &dom).is_none(), "{family}");
    }
    virsh(
        &guest.uri,
        &["domdirtyrate-calc", &guest.name, "--seconds", "1"],
    );
    let m = exporter.wait_for("a measured dirty rate", |m| {
        m.value("libvirt_domain_dirty_rate_calc_status", &dom) == Some(2.0)
    });
    let s = guest.stats(&["--dirtyrate"]);
    let num = |k: &str| s[k].parse::<f64>().unwrap();
    assert_eq!(num("dirtyrate.calc_status"), 2.0);
    assert_eq!(
        m.get("libvirt_domain_dirty_rate_calc_start_time_seconds", &dom),
        num("dirtyrate.calc_start_time")
    );
    assert_eq!(
        m.get("libvirt_domain_dirty_rate_calc_period_seconds", &dom),
        1.0
    );
    assert_eq!(
        m.get("libvirt_domain_dirty_rate_bytes_per_second", &dom),
        num("dirtyrate.megabytes_per_second") * MIB
    );
    // QEMU's start time is its monotonic clock: seconds since the host booted.
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let start = num("dirtyrate.calc_start_time");
    assert!(
        start <= uptime && start > uptime - 600.0,
        "{start} vs uptime {uptime}"
    );
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn perf_events_appear_once_enabled_on_the_domain() {
    let guest = Guest::start("perf", 32, "");
    let dom = guest.by_dom();
    let exporter = guest.exporter(&["--collector.perf"]);
    let before = exporter.next_complete_snapshot();
    assert_eq!(
        before
            .find("libvirt_domain_perf_events_total", &dom)
            .count(),
        0
    );
    assert_eq!(
        before.get(
            "libvirt_exporter_collector_success",
            &[("collector", "perf")]
        ),
        1.0
    );
    // A hardware event needs a PMU, which a VM may not have: then libvirt refuses it.
    let hw = Command::new("virsh")
        .args([
            "-q",
            "-c",
            &guest.uri,
            "perf",
            &guest.name,
            "--enable",
            "cpu_cycles",
            "--live",
        ])
        .output()
        .unwrap();
    let hw_enabled = hw.status.success();
    if !hw_enabled {
        let err = String::from_utf8_lossy(&hw.stderr);
        assert!(err.contains("perf event"), "{err}");
    }
    // Intel RDT (cmt, mbmt, mbml) needs resctrl on the host; without it libvirt refuses them.
    let rdt = Command::new("virsh")
        .args(["-q", "-c", &guest.uri, "perf", &guest.name])
        .args(["--enable", "cmt,mbmt,mbml", "--live"])
        .output()
        .unwrap();
    let rdt_enabled = rdt.status.success();
    // Software events work everywhere: two counts of events and the two clocks (ns).
    let events = ["context_switches", "page_faults"];
    let clocks = [
        ("cpu_clock", "libvirt_domain_perf_cpu_clock_seconds_total"),
        ("task_clock", "libvirt_domain_perf_task_clock_seconds_total"),
    ];
    let enable: Vec<&str> = events
        .iter()
        .chain(clocks.iter().map(|(e, _)| e))
        .copied()
        .collect();
    virsh(
        &guest.uri,
        &["perf", &guest.name, "--enable", &enable.join(","), "--live"],
    );
    // `virsh perf` (not quiet: `-q` hides the list) says what is enabled: exactly what the
    // exporter then reports.
    let listed = Command::new("virsh")
        .args(["-c", &guest.uri, "perf", &guest.name])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let enabled: BTreeSet<&str> = listed
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(_, state)| state.trim() == "enabled")
        .map(|(event, _)| event.trim())
        .collect();
    let mut want: BTreeSet<&str> = enable.iter().copied().collect();
    if hw_enabled {
        want.insert("cpu_cycles");
    }
    if rdt_enabled {
        want.extend(["cmt", "mbmt", "mbml"]);
    }
    assert_eq!(enabled, want, "{listed}");
    // The clocks of an idling guest's QEMU grow by microseconds: wait until both have, so a
    // value left in nanoseconds cannot pass for seconds.
    let started = poll_until(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || guest.stats(&["--perf"]),
        |s| clocks.iter().all(|(e, _)| s[&format!("perf.{e}")] != "0"),
    );
    assert!(
        clocks
            .iter()
            .all(|(e, _)| started[&format!("perf.{e}")] != "0"),
        "{started:?}"
    );
    let early = guest.stats(&["--perf"]);
    let m = exporter.next_complete_snapshot();
    let late = guest.stats(&["--perf"]);
    let between = |what: &str, value: f64, field: &str, factor: f64| {
        let (lo, hi): (f64, f64) = (
            early[field].parse::<f64>().unwrap() * factor,
            late[field].parse::<f64>().unwrap() * factor,
        );
        assert!(
            lo <= value && value <= hi,
            "{what}: {value} not in {lo}..{hi}"
        );
    };
    for event in events {
        let labels = [("domain", guest.name.as_str()), ("event", event)];
        let value = m.get("libvirt_domain_perf_events_total", &labels);
        between(event, value, &format!("perf.{event}"), 1.0);
    }
    for (event, family) in clocks {
        let value = m.get(family, &dom);
        between(family, value, &format!("perf.{event}"), 1e-9);
        let as_event = [("domain", guest.name.as_str()), ("event", event)];
        assert_eq!(
            m.value("libvirt_domain_perf_events_total", &as_event),
            None,
            "{event} is a time, not an event count"
        );
    }
    for family in [
        "libvirt_domain_perf_cmt_bytes",
        "libvirt_domain_perf_mbmt_bytes_per_second",
        "libvirt_domain_perf_mbml_bytes_per_second",
    ] {
        assert_eq!(m.value(family, &dom).is_some(), rdt_enabled, "{family}");
    }
    let cycles = [("domain", guest.name.as_str()), ("event", "cpu_cycles")];
    assert_eq!(
        m.value("libvirt_domain_perf_events_total", &cycles)
            .is_some(),
        hw_enabled
    );
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn io_threads_of_a_guest_that_has_them_match_virsh() {
    let guest = Guest::start("iothread", 32, "");
    let exporter = guest.exporter(&["--collector.iothread"]);
    let m = exporter.next_complete_snapshot();
    let s = guest.stats(&["--iothread"]);
    assert_eq!(s["iothread.count"], "2");
    for id in ["1", "2"] {
        let labels = [("domain", guest.name.as_str()), ("iothread", id)];
        let num = |leaf: &str| s[&format!("iothread.{id}.{leaf}")].parse::<f64>().unwrap();
        assert_eq!(
            m.get("libvirt_domain_iothread_poll_max_seconds", &labels),
            num("poll-max-ns") / 1e9
        );
        assert_eq!(
            m.get("libvirt_domain_iothread_poll_grow", &labels),
            num("poll-grow")
        );
        assert_eq!(
            m.get("libvirt_domain_iothread_poll_shrink", &labels),
            num("poll-shrink")
        );
    }
}

/// A `domstats --raw` value as a number (booleans are `yes`/`no`).
fn raw_number(v: &str) -> f64 {
    match v {
        "yes" => 1.0,
        "no" => 0.0,
        v => v.parse().unwrap(),
    }
}

/// The exposed name and scale of a KVM field `<stat>.<type>`, as the exporter maps it.
fn kvm_family(prefix: &str, stat: &str, kind: &str) -> (String, f64) {
    let (stat, scale) = match stat.strip_suffix("_ns") {
        Some(base) => (format!("{base}_seconds"), 1e-9),
        None => (stat.to_string(), 1.0),
    };
    let total = if kind == "sum" { "_total" } else { "" };
    (format!("{prefix}{stat}{total}"), scale)
}

fn assert_between(what: &str, value: f64, a: f64, b: f64) {
    let (lo, hi) = (a.min(b), a.max(b));
    let slack = 1e-9 * hi.abs();
    assert!(
        lo - slack <= value && value <= hi + slack,
        "{what} = {value}, not between virsh's {a} and {b}"
    );
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn kvm_statistics_of_the_vm_and_each_vcpu_match_virsh() {
    let guest = Guest::start("kvm", 32, "");
    let exporter = guest.exporter(&["--collector.vm"]);
    exporter.next_complete_snapshot();
    let before = guest.stats(&["--vm", "--vcpu"]);
    let m = exporter.next_complete_snapshot();
    let after = guest.stats(&["--vm", "--vcpu"]);
    let mut vm_stats = 0;
    let mut vcpu_stats = BTreeSet::new();
    for (field, value) in &after {
        let parts: Vec<&str> = field.split('.').collect();
        let (prefix, stat, kind, labels) = match parts[..] {
            ["vm", stat, kind] => {
                vm_stats += 1;
                (
                    "libvirt_domain_kvm_",
                    stat,
                    kind,
                    vec![("domain", guest.name.as_str())],
                )
            }
            ["vcpu", n, stat, kind] => {
                vcpu_stats.insert(stat);
                (
                    "libvirt_domain_vcpu_kvm_",
                    stat,
                    kind,
                    vec![("domain", guest.name.as_str()), ("vcpu", n)],
                )
            }
            _ => continue,
        };
        let (name, scale) = kvm_family(prefix, stat, kind);
        let exposed = m.get(&name, &labels);
        let (a, b) = (
            raw_number(&before[field]) * scale,
            raw_number(value) * scale,
        );
        assert_between(&format!("{name}{labels:?}"), exposed, a, b);
    }
    assert!(vm_stats >= 10, "libvirt reports {vm_stats} vm.* fields");
    assert!(vcpu_stats.contains("exits") && vcpu_stats.contains("halt_wait_ns"));
    let families: BTreeSet<&str> = m
        .names()
        .into_iter()
        .filter(|n| n.starts_with("libvirt_domain_kvm_"))
        .collect();
    assert_eq!(families.len(), vm_stats);
    common::assert_promtool_passes(&exporter.get("/metrics").text());
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn per_domain_mode_sums_vcpu_times_and_kvm_counters() {
    let guest = Guest::start("pervcpu", 32, "");
    let dom = guest.by_dom();
    let exporter = guest.exporter(&["--collector.vm", "--collector.vcpu.per-domain"]);
    exporter.next_complete_snapshot();
    let before = guest.stats(&["--vcpu"]);
    let m = exporter.next_complete_snapshot();
    let after = guest.stats(&["--vcpu"]);
    let sum = |s: &BTreeMap<String, String>, leaf: &str| -> f64 {
        (0..2)
            .map(|n| raw_number(&s[&format!("vcpu.{n}.{leaf}")]))
            .sum()
    };
    for (family, leaf, scale) in [
        ("libvirt_domain_vcpus_time_seconds_total", "time", 1e-9),
        ("libvirt_domain_vcpus_wait_seconds_total", "wait", 1e-9),
        ("libvirt_domain_vcpus_delay_seconds_total", "delay", 1e-9),
        ("libvirt_domain_vcpus_kvm_exits_total", "exits.sum", 1.0),
        (
            "libvirt_domain_vcpus_kvm_halt_wait_seconds_total",
            "halt_wait_ns.sum",
            1e-9,
        ),
    ] {
        let value = m.get(family, &dom);
        assert_between(
            family,
            value,
            sum(&before, leaf) * scale,
            sum(&after, leaf) * scale,
        );
    }
    assert!(m
        .names()
        .iter()
        .all(|n| !n.starts_with("libvirt_domain_vcpu_kvm_")
            && !n.starts_with("libvirt_domain_vcpu_time")));
    assert_eq!(m.get("libvirt_domain_vcpu_current", &dom), 2.0);
}

const METADATA: &str = r#"<title>Shop front</title>
  <description>Serves the shop.</description>
  <metadata>
    <app:team xmlns:app="urn:example:app">payments</app:team>
    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:name>shop-1</nova:name>
      <nova:flavor name="m1.tiny"><nova:memory>32</nova:memory></nova:flavor>
      <nova:owner><nova:user uuid="u-1">alice</nova:user><nova:project uuid="p-1">shop</nova:project></nova:owner>
    </nova:instance>
  </metadata>"#;

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn metadata_labels_come_from_a_guests_xml_and_follow_live_changes() {
    let guest = Guest::start("metadata", 32, METADATA);
    let exporter = guest.exporter(&[
        "--libvirt.metadata.nova",
        "--domain.label-namespace",
        "a=urn:example:app",
        "--domain.label",
        "team=/domain/metadata/a:team",
        "--domain.label",
        "title=/domain/title",
        "--domain.label",
        "description=/domain/description",
        "--domain.metadata-refresh",
        "1s",
    ]);
    let labels_of = |m: &Metrics, family: &str| {
        m.find(family, &guest.by_dom())
            .next()
            .map(|s| s.labels.clone())
    };
    let m = exporter.next_complete_snapshot();
    let info = labels_of(&m, "libvirt_domain_info").unwrap();
    assert_eq!(info["team"], "payments");
    assert_eq!(info["title"], "Shop front");
    assert_eq!(info["description"], "Serves the shop.");
    let uuid = virsh(&guest.uri, &["domuuid", &guest.name])
        .trim()
        .to_string();
    let nova = labels_of(&m, "libvirt_domain_openstack_info").unwrap();
    for (k, v) in [
        ("instance_name", "shop-1"),
        ("instance_id", uuid.as_str()),
        ("flavor_name", "m1.tiny"),
        ("user_name", "alice"),
        ("user_id", "u-1"),
        ("project_name", "shop"),
        ("project_id", "p-1"),
    ] {
        assert_eq!(nova[k], v, "{k}");
    }
    // Metadata changes without a restart or a device change: the refresh picks it up.
    virsh(
        &guest.uri,
        &["desc", &guest.name, "--live", "--title", "Shop back"],
    );
    virsh(
        &guest.uri,
        &[
            "metadata",
            &guest.name,
            "--live",
            "--uri",
            "urn:example:app",
            "--key",
            "app",
            "--set",
            "<team>search</team>",
        ],
    );
    exporter.wait_for("the changed metadata", |m| {
        labels_of(m, "libvirt_domain_info").is_some_and(|l| {
            l["title"] == "Shop back"
                && l["team"] == "search"
                && l["description"] == "Serves the shop."
        })
    });
}

/// The four shared lab guests, by name order.
const LAB_GUESTS: [&str; 4] = ["lab-off", "lab-paused", "lab-run-1", "lab-run-2"];
const LAB_GUESTS_RE: &str = "lab-(off|paused|run-1|run-2)";

fn lab_exporter(extra: &[&str]) -> Exporter {
    let uri = lab_uri();
    let mut args = vec!["--libvirt.uri", uri.as_str(), "--collect.interval", "1s"];
    args.extend_from_slice(extra);
    Exporter::start(&args)
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn include_and_exclude_pick_lab_guests() {
    let exporter = lab_exporter(&[
        "--domain.include",
        LAB_GUESTS_RE,
        "--domain.exclude",
        "lab-run-2",
    ]);
    let m = exporter.next_complete_snapshot();
    let expected: BTreeSet<String> = LAB_GUESTS[..3].iter().map(|s| s.to_string()).collect();
    assert_eq!(m.domains_shown(), expected);
    assert_eq!(m.get("libvirt_domains", &[]), 3.0);
    assert_eq!(
        m.get("libvirt_domains_by_state", &[("state", "running")]),
        1.0
    );
    assert_eq!(
        m.get("libvirt_domains_by_state", &[("state", "paused")]),
        1.0
    );
    assert_eq!(
        m.get("libvirt_domains_by_state", &[("state", "shutoff")]),
        1.0
    );
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn the_series_cap_drops_the_last_lab_guest_by_name() {
    let series_of = |m: &Metrics, dom: &str| {
        m.samples
            .iter()
            .filter(|s| s.labels.get("domain").map(String::as_str) == Some(dom))
            .count()
    };
    // The host's pools, volumes, networks and node count towards the cap: measure with them
    // in, whatever the host holds besides the lab.
    let full =
        lab_exporter(&["--domain.include", LAB_GUESTS_RE]).next_complete_snapshot_with_host();
    let per_guest: Vec<usize> = LAB_GUESTS.iter().map(|g| series_of(&full, g)).collect();
    let last = per_guest[3];
    assert!(last > 20, "lab-run-2 has {last} series");
    let never_left_out = full.samples.len() - per_guest.iter().sum::<usize>();
    // Room for everything but half of the last guest.
    let max = full.samples.len() - last / 2;
    let exporter = lab_exporter(&[
        "--domain.include",
        LAB_GUESTS_RE,
        "--web.max-series",
        &max.to_string(),
    ]);
    let m = exporter.next_complete_snapshot_with_host();
    let shown: usize = LAB_GUESTS[..3].iter().map(|g| series_of(&m, g)).sum();
    assert_eq!(
        m.samples.len() - shown,
        never_left_out,
        "the exporter's own and the host's series changed between the two exporters: did \
         the host change meanwhile?"
    );
    let expected: BTreeSet<String> = LAB_GUESTS[..3].iter().map(|s| s.to_string()).collect();
    assert_eq!(m.domains_shown(), expected);
    assert!(m.samples.len() <= max, "{} series > {max}", m.samples.len());
    assert_eq!(m.get("libvirt_exporter_dropped_series", &[]), last as f64);
    assert_eq!(m.get("libvirt_domains", &[]), 4.0);
    assert_eq!(m.get("libvirt_up", &[]), 1.0);
    common::assert_promtool_passes(&exporter.get("/metrics").text());
}
