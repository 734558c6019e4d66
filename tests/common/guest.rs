//! Transient guests of a test's own on the QEMU lab, with their files and guards that undo
//! what a test changed: a [`Workdir`] (tmpfs mounts, sparse and halting disk images), a
//! [`Guest`] (a KVM guest that halts after the firmware, or a TCG guest booting the lab's
//! kernel that writes to its disks), [`Stopped`] (a frozen process), [`Reaped`] (a child
//! process) and [`Undo`] (virsh commands run when dropped).

use super::{poll_until, virsh, Exporter};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

fn lab_uri() -> String {
    super::lab_env()["LAB_URI"].clone()
}

/// Where the tests' guests keep their files, one directory per test.
pub const WORK_ROOT: &str = "/var/tmp/libvirt-exporter-hl";

/// `virsh -q -c uri args...`: whether it succeeded, its standard output and error.
pub fn try_virsh(uri: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("virsh")
        .args(["-q", "-c", uri])
        .args(args)
        .output()
        .expect("virsh runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ------------------------------------------------------------------------------ guests

/// A test's own directory for its guest's files, with the tmpfs mounts in it. Created empty
/// (whatever a killed run left there is unmounted and removed first); unmounted and removed
/// when dropped, after the guest that uses it is gone.
pub struct Workdir {
    pub path: PathBuf,
}

impl Workdir {
    pub fn new(purpose: &str) -> Workdir {
        let path = Path::new(WORK_ROOT).join(purpose);
        unmount_below(&path);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        // QEMU runs as its own user: it must reach the files libvirt hands it.
        for dir in [Path::new(WORK_ROOT), &path] {
            run("chmod", &["0755", dir.to_str().unwrap()]);
        }
        Workdir { path }
    }

    pub fn file(&self, name: &str) -> String {
        self.path.join(name).to_string_lossy().into_owned()
    }

    /// A tmpfs of `size` (`3m`) at `name`. QEMU runs in a mount namespace of its own that
    /// sees only what was mounted when it started: mount before the guest starts.
    pub fn tmpfs(&self, name: &str, size: &str) -> String {
        let dir = self.file(name);
        std::fs::create_dir_all(&dir).unwrap();
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
                &dir,
            ],
        );
        dir
    }

    /// A sparse raw file of `mib` MiB.
    pub fn sparse(&self, name: &str, mib: u64) -> String {
        let path = self.file(name);
        std::fs::File::create(&path)
            .unwrap()
            .set_len(mib * MIB)
            .unwrap();
        path
    }

    /// A qcow2 image whose first sector halts the vCPU for good (cli; hlt; jmp back and the
    /// boot signature), followed by `data_mib` MiB of non-zero data (the image grows to hold
    /// them: a block copy of it has that much to copy).
    pub fn halting_disk(&self, name: &str, data_mib: u64) -> String {
        let raw = self.file(&format!("{name}.raw"));
        let mut image = vec![0u8; ((1 + data_mib) * MIB) as usize];
        image[..4].copy_from_slice(&[0xfa, 0xf4, 0xeb, 0xfd]);
        image[510..512].copy_from_slice(&[0x55, 0xaa]);
        image[MIB as usize..].fill(0x5a);
        std::fs::write(&raw, image).unwrap();
        let qcow2 = self.file(name);
        run(
            "qemu-img",
            &["convert", "-f", "raw", "-O", "qcow2", &raw, &qcow2],
        );
        std::fs::remove_file(raw).unwrap();
        qcow2
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        unmount_below(&self.path);
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Unmounts every mount point at or below `dir`, deepest first.
pub fn unmount_below(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| Path::new(p).starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Command::new("umount").arg(p).status();
    }
}

/// A file-backed virtio disk for a domain's `<devices>`, with optional `<driver>` attributes.
pub fn disk_xml(file: &str, format: &str, target: &str, driver_extra: &str) -> String {
    format!(
        "<disk type='file' device='disk'><driver name='qemu' type='{format}'{driver_extra}/>\
         <source file='{file}'/><target dev='{target}' bus='virtio'/></disk>"
    )
}

pub const LAB_NIC: &str = "<interface type='network'><source network='lab-net'/>\
                       <model type='virtio'/><rom bar='off'/></interface>";

/// A transient guest `hl-<purpose>` with the files of its [`Workdir`]; destroyed when dropped,
/// before its directory goes.
pub struct Guest {
    pub uri: String,
    pub name: String,
    pub dir: Workdir,
}

impl Guest {
    /// A KVM guest of 32 MiB, one vCPU and `devices` (its boot disk first); with a
    /// [`Workdir::halting_disk`] it halts right after the firmware.
    pub fn firmware(purpose: &str, dir: Workdir, devices: &str) -> Guest {
        assert!(
            Path::new("/dev/kvm").exists(),
            "this test needs /dev/kvm for a KVM guest"
        );
        let name = format!("hl-{purpose}");
        let xml = format!(
            "<domain type='kvm'><name>{name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>\
             <os><type arch='x86_64' machine='pc'>hvm</type><bios rebootTimeout='-1'/></os>\
             <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot>\
             <on_crash>destroy</on_crash><devices>{devices}<controller type='usb' model='none'/>\
             <memballoon model='none'/></devices></domain>"
        );
        Guest::create(name, dir, &xml)
    }

    /// A TCG guest booting the lab's kernel with an `/init` that loads the virtio drivers,
    /// prints `HL-READY` and then, every second, writes 32 MiB to each virtio disk but `vda`
    /// with O_DIRECT, printing `HL-WROTE` or `HL-WRITE-FAILED` for each. Waits for `HL-READY`.
    pub fn linux_writer(purpose: &str, dir: Workdir, devices: &str) -> Guest {
        let env = super::lab_env();
        let boot = Path::new(&env["LAB_POOL_PATH"])
            .parent()
            .unwrap()
            .join("boot");
        let (kernel, lab_initrd) = (boot.join("vmlinuz"), boot.join("initrd.img"));
        assert!(
            kernel.exists() && lab_initrd.exists(),
            "no lab kernel in {}: run tests/lab/setup.sh",
            boot.display()
        );
        let initrd = writer_initrd(&dir, &lab_initrd);
        let serial = dir.file("serial.log");
        std::fs::write(&serial, "").unwrap();
        let name = format!("hl-{purpose}");
        let xml = format!(
            "<domain type='qemu'><name>{name}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>\
             <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{}</kernel>\
             <initrd>{initrd}</initrd><cmdline>console=ttyS0 nokaslr</cmdline></os>\
             <features><acpi/><apic/></features>\
             <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot>\
             <on_crash>destroy</on_crash><devices>{devices}\
             <serial type='file'><source path='{serial}'/><target port='0'/></serial>\
             <console type='file'><source path='{serial}'/><target type='serial' port='0'/></console>\
             <controller type='usb' model='none'/><memballoon model='none'/></devices></domain>",
            kernel.display()
        );
        let guest = Guest::create(name, dir, &xml);
        let log = poll_until(
            Duration::from_secs(120),
            Duration::from_millis(500),
            || guest.serial(),
            |log| log.contains("HL-READY"),
        );
        assert!(
            log.contains("HL-READY"),
            "{} did not boot:\n{log}",
            guest.name
        );
        guest
    }

    pub fn create(name: String, dir: Workdir, xml: &str) -> Guest {
        let uri = lab_uri();
        // a guest left by a killed run would make `create` fail
        let _ = try_virsh(&uri, &["destroy", &name]);
        let file = dir.file("domain.xml");
        std::fs::write(&file, xml).unwrap();
        virsh(&uri, &["create", &file]);
        Guest { uri, name, dir }
    }

    pub fn virsh(&self, args: &[&str]) -> String {
        let mut all = vec![args[0], self.name.as_str()];
        all.extend_from_slice(&args[1..]);
        virsh(&self.uri, &all)
    }

    pub fn try_virsh(&self, args: &[&str]) -> (bool, String, String) {
        let mut all = vec![args[0], self.name.as_str()];
        all.extend_from_slice(&args[1..]);
        try_virsh(&self.uri, &all)
    }

    pub fn serial(&self) -> String {
        std::fs::read_to_string(self.dir.file("serial.log")).unwrap_or_default()
    }

    pub fn qemu_pid(&self) -> i32 {
        std::fs::read_to_string(format!("/run/libvirt/qemu/{}.pid", self.name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Hot-plugs a device given as XML (`virsh attach-device --live`).
    pub fn attach(&self, device_xml: &str, file: &str) {
        let path = self.dir.file(file);
        std::fs::write(&path, device_xml).unwrap();
        self.virsh(&["attach-device", &path, "--live"]);
    }

    /// `virsh domstate --reason`, e.g. `paused (I/O error)`.
    pub fn state(&self) -> String {
        self.virsh(&["domstate", "--reason"]).trim().to_string()
    }

    /// An exporter collecting every second, showing this guest and `others`.
    pub fn exporter(&self, others: &[&str], extra: &[&str]) -> Exporter {
        let mut names = vec![self.name.as_str()];
        names.extend_from_slice(others);
        let include = names.join("|");
        let mut args = vec![
            "--libvirt.uri",
            self.uri.as_str(),
            "--collect.interval",
            "1s",
            "--domain.include",
            &include,
        ];
        args.extend_from_slice(extra);
        Exporter::start(&args)
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = try_virsh(&self.uri, &["destroy", &self.name]);
    }
}

/// The lab's initramfs with a second archive appended whose `/init` replaces the lab's (the
/// kernel unpacks concatenated archives in order, later files winning).
fn writer_initrd(dir: &Workdir, lab_initrd: &Path) -> String {
    const INIT: &str = r#"#!/bin/sh
export PATH=/bin
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
    [ -f "/modules/$m.ko" ] && insmod "/modules/$m.ko"
done
echo HL-READY
while :; do
    for d in /dev/vd?; do
        [ -b "$d" ] && [ "$d" != /dev/vda ] || continue
        if dd if=/dev/zero of="$d" bs=1M count=32 oflag=direct 2>/dev/null; then
            echo "HL-WROTE $d"
        else
            echo "HL-WRITE-FAILED $d"
        fi
    done
    sleep 1
done
"#;
    let root = dir.path.join("initrd-root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("init"), INIT).unwrap();
    run("chmod", &["0755", root.join("init").to_str().unwrap()]);
    let out = Command::new("sh")
        .arg("-c")
        .arg("echo init | cpio -o -H newc --quiet | gzip -1")
        .current_dir(&root)
        .output()
        .expect("cpio and gzip run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut image = std::fs::read(lab_initrd).unwrap();
    image.extend_from_slice(&out.stdout);
    let path = dir.file("initrd.img");
    std::fs::write(&path, image).unwrap();
    path
}

/// Sends SIGSTOP to a process now and SIGCONT when dropped, so a failing test leaves nothing
/// frozen.
pub struct Stopped(i32);

impl Stopped {
    pub fn new(pid: i32) -> Stopped {
        run("kill", &["-STOP", &pid.to_string()]);
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

/// A child process killed (and reaped) when dropped.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `virsh args` when dropped, to undo a change (a limit, a snapshot, a block job) also
/// when the test fails; [`Undo::now`] runs it at once and checks that it worked.
pub struct Undo {
    uri: String,
    commands: Vec<Vec<String>>,
}

impl Undo {
    pub fn new(uri: &str) -> Undo {
        Undo {
            uri: uri.to_string(),
            commands: Vec::new(),
        }
    }

    pub fn push(&mut self, args: &[&str]) {
        self.commands
            .push(args.iter().map(|s| s.to_string()).collect());
    }

    pub fn now(mut self) {
        for args in std::mem::take(&mut self.commands).iter().rev() {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            virsh(&self.uri, &args);
        }
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        for args in self.commands.iter().rev() {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let _ = try_virsh(&self.uri, &args);
        }
    }
}
