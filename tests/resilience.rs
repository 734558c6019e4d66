//! Never hung, never wrong: the exporter against a stopped, restarted or busy libvirtd, domain
//! churn and lifecycle events, on the real QEMU lab.
//!
//! These tests stop, kill and restart the lab's libvirtd, so they run one at a time (a lock),
//! and every change to the daemon is undone by a guard, even when a test fails.

mod common;

use common::{unix_now, Exporter, Metrics};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
const URI: &str = "qemu:///system";

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn start(extra: &[&str]) -> Exporter {
    let mut args = vec!["--libvirt.uri", URI, "--collect.interval", "1s"];
    args.extend_from_slice(extra);
    Exporter::start(&args)
}

fn libvirtd_pid() -> Option<i32> {
    let out = Command::new("pgrep")
        .args(["-x", "libvirtd"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

fn signal(pid: i32, sig: &str) {
    let status = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{sig} {pid}");
}

/// Sends SIGCONT to libvirtd when dropped.
struct ContinueOnDrop(i32);
impl Drop for ContinueOnDrop {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

/// Starts libvirtd the way the lab does, unless it runs; waits until it answers.
fn ensure_libvirtd() {
    let lab = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lab/lib.sh");
    let status = Command::new("bash")
        .args(["-c", &format!(". {lab} && start_daemons")])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "libvirtd does not start again");
}

struct RestartOnDrop;
impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        ensure_libvirtd();
    }
}

fn virsh(args: &[&str]) -> std::process::Output {
    Command::new("virsh")
        .args(["-q", "-c", URI])
        .args(args)
        .output()
        .unwrap()
}

fn virsh_ok(args: &[&str]) -> String {
    let out = virsh(args);
    assert!(
        out.status.success(),
        "virsh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A firmware-only KVM guest: starts in well under a second, needs no disk or kernel.
fn firmware_guest_xml(name: &str) -> String {
    format!(
        "<domain type='kvm'><name>{name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type></os>\
         <devices><controller type='usb' model='none'/><memballoon model='none'/></devices></domain>"
    )
}

/// A TCG guest booting the lab's Debian kernel with busybox `poweroff -f` as init: the guest
/// itself powers the machine off about two seconds after it starts.
fn poweroff_guest_xml(name: &str) -> String {
    let boot = "/var/lib/libvirt-exporter-lab/boot";
    format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{boot}/vmlinuz</kernel>\
         <initrd>{boot}/initrd.img</initrd>\
         <cmdline>console=ttyS0 nokaslr rdinit=/bin/busybox -- poweroff -f</cmdline></os>\
         <features><acpi/><apic/></features><on_poweroff>destroy</on_poweroff>\
         <devices><controller type='usb' model='none'/><memballoon model='none'/></devices></domain>"
    )
}

fn write_xml(dir: &tempfile::TempDir, name: &str, xml: &str) -> String {
    let path = dir.path().join(format!("{name}.xml"));
    std::fs::write(&path, xml).unwrap();
    path.to_string_lossy().into_owned()
}

/// Destroys and undefines the named domains when dropped.
struct RemoveDomains(Vec<String>);
impl Drop for RemoveDomains {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = virsh(&["destroy", d]);
            let _ = virsh(&["undefine", d]);
        }
    }
}

fn wait_until(what: &str, timeout: Duration, ready: impl FnMut() -> bool) {
    let ready = common::poll_until(timeout, Duration::from_millis(200), ready, |ok| *ok);
    assert!(ready, "timed out waiting for {what}");
}

fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn up(m: &Metrics) -> f64 {
    m.get("libvirt_up", &[])
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn a_sigstopped_libvirtd_never_blocks_a_scrape_and_up_recovers_after_sigcont() {
    let _serial = serial();
    ensure_libvirtd();
    let exporter = start(&["--collect.timeout", "1s", "--collect.max-age", "4s"]);
    let before = exporter.next_complete_snapshot();
    assert_eq!(up(&before), 1.0);
    let threads_before = thread_count(exporter.pid());
    let pid = libvirtd_pid().expect("libvirtd runs");
    let stopped_at = unix_now();
    signal(pid, "STOP");
    let guard = ContinueOnDrop(pid);

    // Scrape continuously for 8 s (8 intervals): every scrape is answered.
    let (mut saw_down, mut saw_stale_domains, mut saw_domains_dropped, mut scrapes) =
        (false, false, false, 0);
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until {
        let r = exporter.get("/metrics");
        assert_eq!(r.status, 200, "scrape {scrapes} while libvirtd is stopped");
        let m = Metrics::parse(&r.text());
        scrapes += 1;
        if up(&m) == 0.0 {
            saw_down = true;
            let last_success = m.get("libvirt_exporter_last_success_timestamp_seconds", &[]);
            assert!(last_success <= stopped_at, "no success while stopped");
            let has_domains = m
                .value("libvirt_domain_info_state", &[("domain", "lab-run-1")])
                .is_some();
            saw_stale_domains |= has_domains;
            saw_domains_dropped |= !has_domains && saw_stale_domains;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(saw_down, "libvirt_up never turned 0 in {scrapes} scrapes");
    assert!(
        saw_stale_domains,
        "the last good data was not served while young"
    );
    assert!(
        saw_domains_dropped,
        "data older than --collect.max-age was still served"
    );
    assert!(
        thread_count(exporter.pid()) <= threads_before + 2,
        "threads grew while libvirtd hung"
    );

    let resumed_at = unix_now();
    drop(guard);
    let m = exporter.wait_for("libvirt_up 1 with fresh data after SIGCONT", |m| {
        up(m) == 1.0
            && m.value("libvirt_exporter_last_success_timestamp_seconds", &[])
                .is_some_and(|t| t >= resumed_at)
    });
    assert!(m
        .value("libvirt_domain_info_state", &[("domain", "lab-run-1")])
        .is_some());
    assert!(!exporter.log().contains("panicked"));
}

/// The host collectors a default exporter runs (volumes run every 60 s, too slow to wait for).
const HOST_COLLECTORS: [&str; 4] = ["pool", "network", "node", "pages"];

fn host_collector_success(m: &Metrics, collector: &str) -> f64 {
    m.value(
        "libvirt_exporter_collector_success",
        &[("collector", collector)],
    )
    .unwrap_or(-1.0)
}

/// How many of libvirtd's clients are process `pid` (from `virt-admin`, which asks the daemon).
fn libvirtd_clients_of(pid: u32) -> usize {
    let list = Command::new("virt-admin")
        .args(["srv-clients-list", "libvirtd"])
        .output()
        .unwrap();
    assert!(
        list.status.success(),
        "virt-admin srv-clients-list: {list:?}"
    );
    let ids: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    ids.iter()
        .filter(|id| {
            let info = Command::new("virt-admin")
                .args(["client-info", "libvirtd", id])
                .output()
                .unwrap();
            // A client that left between the list and this call has no info.
            String::from_utf8_lossy(&info.stdout).lines().any(|l| {
                l.split_once(':').is_some_and(|(k, v)| {
                    k.trim() == "unix_process_id" && v.trim() == pid.to_string()
                })
            })
        })
        .count()
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn the_domain_and_host_collectors_share_one_connection_and_each_slow_one_has_its_own() {
    let _serial = serial();
    ensure_libvirtd();
    let exporter = start(&[]);
    let m = exporter.next_complete_snapshot();
    m.assert_default_collectors_succeeded();
    for c in HOST_COLLECTORS {
        assert_eq!(host_collector_success(&m, c), 1.0, "{c}");
    }
    assert_eq!(
        m.get("libvirt_network_active", &[("network", "lab-net")]),
        1.0
    );
    // Domain worker, events and the host collector threads: one client of libvirtd; each
    // slow per-domain collector on by default has a connection of its own, so that calls
    // hanging in one cannot hold up the others (or the domain cycle).
    let slow_on = libvirt_exporter::groups::all_slow_domain_collectors(
        &libvirt_exporter::collect::HostOptions::default(),
    )
    .into_iter()
    .filter(|c| c.enabled_by_default())
    .count();
    assert_eq!(slow_on, 3, "diskerror, control, snapshot");
    // the slow collectors connect on their first run, just after the first domain cycle
    let clients = common::poll_until(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || libvirtd_clients_of(exporter.pid()),
        |n| *n == 1 + slow_on,
    );
    assert_eq!(clients, 1 + slow_on);
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn a_restarted_libvirtd_is_reconnected_and_events_flow_again() {
    let _serial = serial();
    ensure_libvirtd();
    let exporter = start(&[]);
    let m = exporter.next_complete_snapshot();
    assert_eq!(m.get("libvirt_exporter_events_subscribed", &[]), 1.0);

    let restart = RestartOnDrop;
    let pid = libvirtd_pid().unwrap();
    signal(pid, "TERM");
    wait_until("libvirtd to exit", Duration::from_secs(30), || {
        libvirtd_pid().is_none()
    });
    // The host collectors borrow the domain worker's connection, so they fail with it...
    exporter.wait_for("libvirt_up 0 and failing host collectors", |m| {
        up(m) == 0.0
            && HOST_COLLECTORS
                .iter()
                .all(|c| host_collector_success(m, c) == 0.0)
    });
    drop(restart); // starts libvirtd again
    let back = unix_now();
    // ...and come back with it.
    let m = exporter.wait_for("reconnected with fresh data", |m| {
        up(m) == 1.0
            && m.value("libvirt_exporter_last_success_timestamp_seconds", &[])
                .is_some_and(|t| t >= back)
            && HOST_COLLECTORS
                .iter()
                .all(|c| host_collector_success(m, c) == 1.0)
    });
    assert_eq!(
        m.get(
            "libvirt_storage_pool_state",
            &[("storage_pool", "lab-pool")]
        ),
        2.0,
        "running"
    );
    assert_eq!(libvirtd_clients_of(exporter.pid()), 1);
    assert_eq!(m.get("libvirt_exporter_events_subscribed", &[]), 1.0);
    assert!(
        m.get(
            "libvirt_domain_block_stats_read_bytes_total",
            &[("domain", "lab-run-1"), ("target_device", "vda")]
        ) > 0.0
    );

    // The new subscription delivers events: a guest started and destroyed is counted.
    let dir = tempfile::tempdir().unwrap();
    let name = "resilience-restart";
    let _cleanup = RemoveDomains(vec![name.into()]);
    let before = m.get(
        "libvirt_lifecycle_events_total",
        &[("event", "stopped"), ("detail", "destroyed")],
    );
    virsh_ok(&["create", &write_xml(&dir, name, &firmware_guest_xml(name))]);
    virsh_ok(&["destroy", name]);
    exporter.wait_for("the destroy event after the restart", |m| {
        m.value(
            "libvirt_lifecycle_events_total",
            &[("event", "stopped"), ("detail", "destroyed")],
        ) == Some(before + 1.0)
    });
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn destroy_guest_poweroff_and_a_killed_qemu_each_raise_the_right_counter() {
    let _serial = serial();
    ensure_libvirtd();
    let dir = tempfile::tempdir().unwrap();
    let (fw, off) = ("resilience-events", "resilience-poweroff");
    let _cleanup = RemoveDomains(vec![fw.into(), off.into()]);
    virsh_ok(&["define", &write_xml(&dir, fw, &firmware_guest_xml(fw))]);
    let exporter = start(&[]);
    let stopped = |detail: &'static str| [("domain", fw), ("event", "stopped"), ("detail", detail)];
    let m = exporter.next_complete_snapshot();
    // Counters exist at 0 as soon as the domain is seen, so the first event is an increase.
    assert_eq!(
        m.get(
            "libvirt_domain_lifecycle_events_total",
            &stopped("destroyed")
        ),
        0.0
    );
    assert_eq!(
        m.get("libvirt_domain_lifecycle_events_total", &stopped("failed")),
        0.0
    );

    virsh_ok(&["start", fw]);
    virsh_ok(&["destroy", fw]);
    exporter.wait_for("stopped/destroyed", |m| {
        m.value(
            "libvirt_domain_lifecycle_events_total",
            &stopped("destroyed"),
        ) == Some(1.0)
    });

    virsh_ok(&["start", fw]);
    let pid = wait_for_qemu_pid(fw);
    signal(pid, "KILL");
    let m = exporter.wait_for("stopped/failed after SIGKILL of QEMU", |m| {
        m.value("libvirt_domain_lifecycle_events_total", &stopped("failed")) == Some(1.0)
    });
    assert_eq!(
        m.get(
            "libvirt_domain_lifecycle_events_total",
            &[("domain", fw), ("event", "started"), ("detail", "booted")]
        ),
        2.0
    );

    let host = |event: &'static str, detail: &'static str| {
        exporter.next_snapshot().get(
            "libvirt_lifecycle_events_total",
            &[("event", event), ("detail", detail)],
        )
    };
    let (shutdowns, guest_requests) = (host("stopped", "shutdown"), host("shutdown", "guest"));
    virsh_ok(&["create", &write_xml(&dir, off, &poweroff_guest_xml(off))]);
    let m = exporter.wait_for("the guest's own poweroff", |m| {
        m.value(
            "libvirt_lifecycle_events_total",
            &[("event", "stopped"), ("detail", "shutdown")],
        ) == Some(shutdowns + 1.0)
    });
    assert_eq!(
        m.get(
            "libvirt_lifecycle_events_total",
            &[("event", "shutdown"), ("detail", "guest")]
        ),
        guest_requests + 1.0
    );
    // The transient guest is gone; its per-domain series went with it, the host total stays.
    let m = exporter.next_snapshot();
    assert!(m
        .find("libvirt_domain_lifecycle_events_total", &[("domain", off)])
        .next()
        .is_none());
}

fn wait_for_qemu_pid(domain: &str) -> i32 {
    let pidfile = format!("/run/libvirt/qemu/{domain}.pid");
    let mut pid = 0;
    wait_until("the QEMU pid file", Duration::from_secs(10), || {
        pid = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0);
        pid > 0
    });
    pid
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn churn_of_transient_domains_leaves_no_errors_and_no_leftover_series() {
    let _serial = serial();
    ensure_libvirtd();
    let exporter = start(&[]);
    exporter.next_complete_snapshot();
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..24).map(|i| format!("churn-{i:02}")).collect();
    let _cleanup = RemoveDomains(names.clone());
    let scraping = std::sync::atomic::AtomicBool::new(true);
    std::thread::scope(|s| {
        let scraper = s.spawn(|| {
            let mut answered = 0;
            while scraping.load(std::sync::atomic::Ordering::SeqCst) {
                let r = exporter.get("/metrics");
                assert_eq!(r.status, 200, "a scrape during churn");
                Metrics::parse(&r.text());
                answered += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            answered
        });
        for round in 0..2 {
            in_parallel(&names, |name| {
                virsh_ok(&["create", &write_xml(&dir, name, &firmware_guest_xml(name))]);
            });
            if round == 0 {
                let m = exporter.next_snapshot();
                let seen = names
                    .iter()
                    .filter(|n| {
                        m.value("libvirt_domain_info_state", &[("domain", n.as_str())])
                            .is_some()
                    })
                    .count();
                assert!(seen > 0, "the churned domains were never reported");
            }
            in_parallel(&names, |name| {
                virsh_ok(&["destroy", name]);
            });
        }
        scraping.store(false, std::sync::atomic::Ordering::SeqCst);
        assert!(scraper.join().unwrap() > 10);
    });
    let m = exporter.next_complete_snapshot();
    assert!(
        m.samples.iter().all(|s| !s
            .labels
            .get("domain")
            .is_some_and(|d| d.starts_with("churn-"))),
        "series of destroyed domains left over"
    );
    assert_eq!(up(&m), 1.0);
    assert_eq!(
        m.get(
            "libvirt_exporter_collector_success",
            &[("collector", "domains")]
        ),
        1.0
    );
    assert!(
        m.get(
            "libvirt_lifecycle_events_total",
            &[("event", "stopped"), ("detail", "destroyed")]
        ) >= 48.0
    );
    assert!(!exporter.log().contains("panicked"));
}

/// Runs `work` for every name, eight at a time.
fn in_parallel(names: &[String], work: impl Fn(&str) + Sync) {
    for chunk in names.chunks(8) {
        std::thread::scope(|s| {
            for name in chunk {
                s.spawn(|| work(name));
            }
        });
    }
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn a_long_job_on_one_guest_does_not_hold_up_the_others() {
    let _serial = serial();
    ensure_libvirtd();
    let exporter = start(&[]);
    exporter.next_complete_snapshot();
    let disk = [("domain", "lab-run-1"), ("target_device", "vda")];
    let mut dump = common::SlowDump::start(URI, "lab-run-2");
    std::thread::sleep(Duration::from_secs(1));
    let mut last_read = 0.0;
    for cycle in 0..4 {
        let m = exporter.next_snapshot();
        assert!(dump.running(), "the dump job ended before cycle {cycle}");
        assert_eq!(up(&m), 1.0);
        let read = m.get("libvirt_domain_block_stats_read_bytes_total", &disk);
        assert!(read >= last_read, "lab-run-1 counters in cycle {cycle}");
        last_read = read;
        assert!(
            m.value("libvirt_domain_info_state", &[("domain", "lab-run-2")])
                .is_some(),
            "the busy guest is still listed"
        );
    }
    dump.finish();
    let m = exporter.next_complete_snapshot();
    assert!(m
        .value(
            "libvirt_domain_block_stats_read_bytes_total",
            &[("domain", "lab-run-2"), ("target_device", "vda")]
        )
        .is_some());
}
