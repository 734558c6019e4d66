//! Disk and block job event counters against the real QEMU lab (tests/lab/setup.sh): block
//! threshold crossings, block copies that are finished, pivoted and aborted, and I/O errors
//! on a disk whose host file system is full, each counted as often as `virsh event` sees it.
//!
//! Every test runs a transient TCG guest of its own, `issue16-events-<purpose>`, booting the
//! lab's kernel and init (which writes 1 MiB to /dev/vda every second) from its own disk in
//! `/tmp/issue16-events-<purpose>`, with a user-mode NIC, so the shared lab guests and network
//! are not touched. The guest, the directory and any tmpfs in it are removed when the test
//! ends, even when it fails, and whatever a killed run left behind when it runs again.

mod common;

use common::{poll_until, virsh, Exporter, Metrics};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BOOT: &str = "/var/lib/libvirt-exporter-lab/boot";
const THRESHOLDS: &str = "libvirt_domain_block_threshold_events_total";
const BLOCK_JOBS: &str = "libvirt_domain_block_job_events_total";
const IO_ERRORS: &str = "libvirt_domain_block_io_error_events_total";

fn lab_uri() -> String {
    common::lab_env()["LAB_URI"].clone()
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `/tmp/issue16-events-<purpose>`, readable by QEMU, with the tmpfs mounts made in it;
/// all removed when dropped.
struct Workdir {
    path: PathBuf,
    mounts: Vec<PathBuf>,
}

impl Workdir {
    fn new(purpose: &str) -> Workdir {
        let path = PathBuf::from(format!("/tmp/issue16-events-{purpose}"));
        // What a killed run left: its tmpfs, its files.
        let _ = Command::new("umount").arg(path.join("full")).output();
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Workdir {
            path,
            mounts: Vec::new(),
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// A tmpfs of `size` (`512k`) at `<workdir>/full`.
    fn full_tmpfs(&mut self, size: &str) -> PathBuf {
        let dir = self.file("full");
        std::fs::create_dir(&dir).unwrap();
        let options = format!("size={size}");
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &options,
                "tmpfs",
                dir.to_str().unwrap(),
            ],
        );
        self.mounts.push(dir.clone());
        dir
    }

    fn qcow2(&self, name: &str) -> PathBuf {
        let path = self.file(name);
        run(
            "qemu-img",
            &["create", "-q", "-f", "qcow2", path.to_str().unwrap(), "64M"],
        );
        path
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        for m in &self.mounts {
            let _ = Command::new("umount").arg(m).output();
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A transient TCG guest booting the lab's kernel and init from `disk`, created paused so
/// that every watcher is ready before it runs. Destroyed when dropped.
struct Guest {
    uri: String,
    name: String,
    serial: PathBuf,
}

impl Guest {
    fn create_paused(purpose: &str, workdir: &Workdir, disk: &str) -> Guest {
        let uri = lab_uri();
        let name = format!("issue16-events-{purpose}");
        let _ = Command::new("virsh")
            .args(["-q", "-c", &uri, "destroy", &name])
            .output();
        let serial = workdir.file("serial.log");
        let xml = format!(
            "<domain type='qemu'><name>{name}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>\
             <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{BOOT}/vmlinuz</kernel>\
             <initrd>{BOOT}/initrd.img</initrd><cmdline>console=ttyS0 nokaslr</cmdline></os>\
             <features><acpi/><apic/></features><on_poweroff>destroy</on_poweroff>\
             <devices>{disk}<interface type='user'><model type='virtio'/></interface>\
             <serial type='file'><source path='{}'/><target port='0'/></serial>\
             <controller type='usb' model='none'/><memballoon model='none'/></devices></domain>",
            serial.display()
        );
        let file = workdir.file("domain.xml");
        std::fs::write(&file, xml).unwrap();
        virsh(&uri, &["create", file.to_str().unwrap(), "--paused"]);
        Guest { uri, name, serial }
    }

    fn virsh(&self, args: &[&str]) -> String {
        virsh(&self.uri, args)
    }

    /// Resumes the guest and waits until its init writes to /dev/vda.
    fn run(&self) {
        self.virsh(&["resume", &self.name]);
        let booted = poll_until(
            Duration::from_secs(120),
            Duration::from_millis(200),
            || std::fs::read_to_string(&self.serial).unwrap_or_default(),
            |log| log.contains("LAB-READY"),
        );
        assert!(booted.contains("LAB-READY"), "no LAB-READY:\n{booted}");
    }

    fn state(&self) -> String {
        self.virsh(&["domstate", "--reason", &self.name])
            .trim()
            .to_string()
    }

    /// An exporter of this guest only, once it is subscribed and shows the guest.
    fn exporter(&self) -> Exporter {
        let exporter = Exporter::start(&[
            "--libvirt.uri",
            &self.uri,
            "--collect.interval",
            "1s",
            "--domain.include",
            &self.name,
        ]);
        exporter.wait_for("the guest, with events subscribed", |m| {
            m.value("libvirt_exporter_events_subscribed", &[]) == Some(1.0)
                && m.find(
                    "libvirt_domain_lifecycle_events_total",
                    &[("domain", &self.name)],
                )
                .next()
                .is_some()
        });
        exporter
    }

    fn disk(&self) -> [(&str, &str); 2] {
        [("domain", &self.name), ("target_device", "vda")]
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = Command::new("virsh")
            .args(["-q", "-c", &self.uri, "destroy", &self.name])
            .output();
    }
}

/// `virsh event --all --loop`: the events libvirt sends, as virsh prints them. Killed when
/// dropped.
struct EventWatch {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl EventWatch {
    /// Starts watching and waits until virsh sees `guest`'s description change, so that it
    /// is subscribed.
    fn start(guest: &Guest) -> EventWatch {
        let mut child = Command::new("virsh")
            .args(["-q", "-c", &guest.uri, "event", "--all", "--loop"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let watch = EventWatch { child, lines };
        let subscribed = poll_until(
            Duration::from_secs(30),
            Duration::from_millis(300),
            || {
                guest.virsh(&["desc", &guest.name, "--live", "watched"]);
                watch.of(&guest.name, "metadata-change").len()
            },
            |n| *n > 0,
        );
        assert!(subscribed > 0, "virsh event saw no metadata change");
        watch
    }

    /// What virsh said about `domain`'s events of `kind` (`block-job-2`...), after the colon.
    fn of(&self, domain: &str, kind: &str) -> Vec<String> {
        let prefix = format!("event '{kind}' for domain '{domain}': ");
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }

    fn wait_for(&self, what: &str, ready: impl Fn(&EventWatch) -> bool) {
        let done = poll_until(
            Duration::from_secs(60),
            Duration::from_millis(200),
            || ready(self),
            |ok| *ok,
        );
        assert!(
            done,
            "virsh event did not see {what}; it saw:\n{}",
            self.lines.lock().unwrap().join("\n")
        );
    }
}

impl Drop for EventWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the exporter's `count` equals the watch's `seen` in one snapshot, then checks
/// that the next snapshot still agrees (nothing is counted late or twice). Returns the count.
fn agree(
    exporter: &Exporter,
    what: &str,
    count: impl Fn(&Metrics) -> Option<f64>,
    seen: impl Fn() -> usize,
) -> f64 {
    let (exported, watched) = poll_until(
        Duration::from_secs(60),
        Duration::from_millis(100),
        || (count(&exporter.next_snapshot()), seen()),
        |(e, w)| *e == Some(*w as f64),
    );
    assert_eq!(
        exported,
        Some(watched as f64),
        "{what}: exporter vs virsh; exporter log:\n{}",
        exporter.log()
    );
    let again = count(&exporter.next_snapshot());
    assert_eq!(again, Some(seen() as f64), "{what}: the next snapshot");
    watched as f64
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn each_block_threshold_crossing_is_counted_once_for_its_disk() {
    let workdir = Workdir::new("threshold");
    let disk = workdir.qcow2("disk.qcow2");
    let guest = Guest::create_paused(
        "threshold",
        &workdir,
        &format!(
            "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>\
             <source file='{}'/><target dev='vda' bus='virtio'/></disk>",
            disk.display()
        ),
    );
    let watch = EventWatch::start(&guest);
    let exporter = guest.exporter();
    guest.run();
    let m = exporter.next_snapshot();
    assert_eq!(
        m.value(THRESHOLDS, &guest.disk()),
        None,
        "no threshold set and none crossed: no series"
    );

    for crossing in 1..=2 {
        guest.virsh(&["domblkthreshold", &guest.name, "vda", "1"]);
        // libvirt reports each crossing twice: by target and by target and image index.
        watch.wait_for("the crossing", |w| {
            w.of(&guest.name, "block-threshold").len() == 2 * crossing
        });
        // Counted, and the threshold cleared by libvirt, the counter stays.
        exporter.wait_for("the crossing counted", |m| {
            m.value(THRESHOLDS, &guest.disk()) == Some(crossing as f64)
                && m.value("libvirt_domain_block_stats_threshold_bytes", &guest.disk())
                    .is_none()
        });
    }
    let reports = watch.of(&guest.name, "block-threshold");
    let path = disk.display();
    for pair in reports.chunks(2) {
        assert!(
            pair[0].starts_with(&format!("dev: vda({path}) 1 ")),
            "{reports:?}"
        );
        assert!(
            pair[1].starts_with(&format!("dev: vda[1]({path}) 1 ")),
            "{reports:?}"
        );
    }
    let m = exporter.next_snapshot();
    assert_eq!(m.value(THRESHOLDS, &guest.disk()), Some(2.0), "once each");
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn block_copies_finished_pivoted_and_aborted_are_counted_by_status() {
    let workdir = Workdir::new("blockjob");
    let disk = workdir.qcow2("disk.qcow2");
    let guest = Guest::create_paused(
        "blockjob",
        &workdir,
        &format!(
            "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>\
             <source file='{}'/><target dev='vda' bus='virtio'/></disk>",
            disk.display()
        ),
    );
    let watch = EventWatch::start(&guest);
    let exporter = guest.exporter();
    guest.run();
    let copy = |n: u32| workdir.file(&format!("copy{n}.qcow2"));
    let name = guest.name.as_str();

    // Mirrored until ready, then ended without a pivot: the disk stays on its image.
    guest.virsh(&[
        "blockcopy",
        name,
        "vda",
        copy(1).to_str().unwrap(),
        "--wait",
        "--finish",
    ]);
    // Mirrored until ready, then pivoted: the guest now runs on the copy (its own file).
    guest.virsh(&[
        "blockcopy",
        name,
        "vda",
        copy(2).to_str().unwrap(),
        "--wait",
        "--pivot",
    ]);
    // Slowed to 1 MiB/s and aborted at once.
    guest.virsh(&[
        "blockcopy",
        name,
        "vda",
        copy(3).to_str().unwrap(),
        "--bandwidth",
        "1",
    ]);
    guest.virsh(&["blockjob", name, "vda", "--abort"]);

    let statuses = || {
        let mut by_status = BTreeMap::<String, usize>::new();
        for said in watch.of(name, "block-job-2") {
            let status = said
                .strip_prefix("Block Copy for vda ")
                .unwrap_or_else(|| panic!("not a copy of vda: {said}"));
            *by_status.entry(status.to_string()).or_default() += 1;
        }
        by_status
    };
    watch.wait_for("three copies ending", |_| {
        let s = statuses();
        s.get("canceled") == Some(&2) && s.get("completed") == Some(&1)
    });
    let seen = statuses();
    // The aborted copy may have caught up (ready) before the abort.
    assert!(matches!(seen.get("ready"), Some(2 | 3)), "{seen:?}");
    assert_eq!(seen.len(), 3, "{seen:?}");
    for (status, _) in seen {
        let labels = [
            ("domain", name),
            ("target_device", "vda"),
            ("type", "copy"),
            ("status", status.as_str()),
        ];
        agree(
            &exporter,
            &status,
            |m| m.value(BLOCK_JOBS, &labels),
            || statuses()[&status],
        );
    }
}

/// A guest whose vda is a 32 MiB sparse raw file on a 512 KiB tmpfs: its first 1 MiB write
/// fails with ENOSPC on the host.
fn guest_on_a_full_disk(purpose: &str, workdir: &mut Workdir, error_policy: &str) -> Guest {
    let full = workdir.full_tmpfs("512k");
    let raw = full.join("disk.raw");
    std::fs::File::create(&raw)
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    Guest::create_paused(
        purpose,
        workdir,
        &format!(
            "<disk type='file' device='disk'><driver name='qemu' type='raw'{error_policy}/>\
             <source file='{}'/><target dev='vda' bus='virtio'/></disk>",
            raw.display()
        ),
    )
}

/// The I/O errors virsh saw on `guest`'s vda (`virtio-disk0`, the file `raw`) with `action`,
/// by reason (`enospc`; libvirt's empty reason as the exporter names it, `unspecified`).
fn io_errors_seen(
    watch: &EventWatch,
    guest: &Guest,
    raw: &Path,
    action: &str,
) -> BTreeMap<String, usize> {
    let prefix = format!("{} (virtio-disk0) {action} due to ", raw.display());
    let mut by_reason = BTreeMap::new();
    for said in watch.of(&guest.name, "io-error-reason") {
        let reason = said
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("not {prefix:?}: {said}"));
        let reason = if reason.is_empty() {
            "unspecified"
        } else {
            reason
        };
        *by_reason.entry(reason.to_string()).or_default() += 1;
    }
    by_reason
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn an_io_error_that_pauses_the_domain_is_counted_on_its_disk() {
    let mut workdir = Workdir::new("ioerror-pause");
    let guest = guest_on_a_full_disk("ioerror-pause", &mut workdir, "");
    let raw = workdir.file("full/disk.raw");
    let watch = EventWatch::start(&guest);
    let exporter = guest.exporter();
    guest.virsh(&["resume", &guest.name]);
    let state = poll_until(
        Duration::from_secs(120),
        Duration::from_millis(200),
        || guest.state(),
        |s| s == "paused (I/O error)",
    );
    assert_eq!(state, "paused (I/O error)");
    assert_eq!(
        guest.virsh(&["domblkerror", &guest.name]).trim(),
        "vda: no space"
    );
    watch.wait_for("the I/O error", |w| {
        !io_errors_seen(w, &guest, &raw, "pause").is_empty()
    });
    let seen = io_errors_seen(&watch, &guest, &raw, "pause");
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["enospc"], "{seen:?}");

    let labels = [
        ("domain", guest.name.as_str()),
        ("target_device", "vda"),
        ("action", "pause"),
        ("reason", "enospc"),
    ];
    agree(
        &exporter,
        "pause/enospc",
        |m| m.value(IO_ERRORS, &labels),
        || io_errors_seen(&watch, &guest, &raw, "pause")["enospc"],
    );
    let m = exporter.next_snapshot();
    assert_eq!(
        m.find(IO_ERRORS, &[("domain", &guest.name)]).count(),
        1,
        "one disk, one action, one reason"
    );
    assert_eq!(
        m.get(
            "libvirt_domain_lifecycle_events_total",
            &[
                ("domain", &guest.name),
                ("event", "suspended"),
                ("detail", "ioerror")
            ]
        ),
        1.0
    );
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn io_errors_reported_to_a_running_guest_are_counted_while_it_runs() {
    let mut workdir = Workdir::new("ioerror-report");
    let guest = guest_on_a_full_disk("ioerror-report", &mut workdir, " error_policy='report'");
    let raw = workdir.file("full/disk.raw");
    let watch = EventWatch::start(&guest);
    let exporter = guest.exporter();
    guest.virsh(&["resume", &guest.name]);
    // The init writes every second; each write fails, and the guest goes on.
    let total =
        |w: &EventWatch| -> usize { io_errors_seen(w, &guest, &raw, "report").values().sum() };
    watch.wait_for("two failed writes", |w| total(w) >= 2);
    assert!(guest.state().starts_with("running"), "{}", guest.state());
    exporter.wait_for("reported errors counted", |m| {
        m.find(
            IO_ERRORS,
            &[
                ("domain", &guest.name),
                ("target_device", "vda"),
                ("action", "report"),
            ],
        )
        .map(|s| s.value)
        .sum::<f64>()
            >= 2.0
    });
    // Paused, the guest writes no more: the counts settle.
    guest.virsh(&["suspend", &guest.name]);
    let seen = io_errors_seen(&watch, &guest, &raw, "report");
    for reason in seen.keys() {
        let labels = [
            ("domain", guest.name.as_str()),
            ("target_device", "vda"),
            ("action", "report"),
            ("reason", reason.as_str()),
        ];
        agree(
            &exporter,
            &format!("report/{reason}"),
            |m| m.value(IO_ERRORS, &labels),
            || io_errors_seen(&watch, &guest, &raw, "report")[reason],
        );
    }
    let m = exporter.next_snapshot();
    assert_eq!(
        m.find(IO_ERRORS, &[("domain", &guest.name)]).count(),
        seen.len(),
        "no other disk, action or reason: {seen:?}"
    );
    eprintln!(
        "reported I/O errors by reason: {seen:?}; exporter log:\n{}",
        exporter.log()
    );
}
