//! The exporters under test: how to start each one on a loopback port, where its domain name
//! is, and how its collections are counted.

use anyhow::Context;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// This exporter: collects in the background every interval, serves the cached encoding.
    Ours,
    /// This exporter built from another revision (`--baseline-exporter`), run exactly like
    /// `Ours`: a before/after comparison in the same run.
    Baseline,
    /// This exporter reading what the peers read: without the balloon and vCPU groups (the
    /// QEMU queries neither peer makes).
    OursPeerStats,
    /// Debian's prometheus-libvirt-exporter (kumina 0.2.0): collects on every scrape.
    Debian,
    /// Debian's collectd with the virt and write_prometheus plugins: collects every interval,
    /// serves its value cache.
    Collectd,
}

/// How collections are counted during a CPU window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cycles {
    /// `libvirt_exporter_collections_total`.
    Counter,
    /// One collection per scrape.
    PerScrape,
    /// A new timestamp on one domain's value (write_prometheus stamps every value with the time
    /// it was read).
    Timestamps,
}

/// What is measured without `--only` (and `Baseline` after `Ours` when there is a baseline).
pub const DEFAULT: [Subject; 4] = [
    Subject::Ours,
    Subject::OursPeerStats,
    Subject::Debian,
    Subject::Collectd,
];

/// Every subject, by its short name for `--only`.
pub const ALL: [Subject; 5] = [
    Subject::Ours,
    Subject::Baseline,
    Subject::OursPeerStats,
    Subject::Debian,
    Subject::Collectd,
];

/// This exporter's host collectors, left out of the CPU windows and call counts.
pub const HOST_COLLECTORS_OFF: [&str; 4] = [
    "--no-collector.pool",
    "--no-collector.volume",
    "--no-collector.network",
    "--no-collector.node",
];

/// Collectors newer than the host collectors above, left out of the CPU windows and call
/// counts for the same reason: the `pages` host collector, and the slow per-domain collectors
/// on by default, which run on intervals of their own (15 s and more), not per collection, and
/// make calls neither the peers nor `virsh domstats` make. A baseline build may predate them,
/// so only `Ours` and `OursPeerStats` get these flags.
pub const NEWER_COLLECTORS_OFF: [&str; 4] = [
    "--no-collector.pages",
    "--no-collector.diskerror",
    "--no-collector.control",
    "--no-collector.snapshot",
];

/// What `OursPeerStats` leaves out of this exporter's default groups.
pub const PEER_STATS_FLAGS: [&str; 2] = ["--no-collector.balloon", "--no-collector.vcpu"];

impl Subject {
    pub fn name(self) -> &'static str {
        match self {
            Subject::Ours => "libvirt-exporter (this)",
            Subject::Baseline => "libvirt-exporter (baseline)",
            Subject::OursPeerStats => "libvirt-exporter (this), the peers' statistics",
            Subject::Debian => "prometheus-libvirt-exporter",
            Subject::Collectd => "collectd virt + write_prometheus",
        }
    }

    pub fn short(self) -> &'static str {
        match self {
            Subject::Ours => "ours",
            Subject::Baseline => "baseline",
            Subject::OursPeerStats => "ours-peerstats",
            Subject::Debian => "debian",
            Subject::Collectd => "collectd",
        }
    }

    /// The label carrying the domain name.
    pub fn domain_label(self) -> &'static str {
        match self {
            Subject::Ours | Subject::Baseline | Subject::OursPeerStats | Subject::Debian => {
                "domain"
            }
            Subject::Collectd => "virt",
        }
    }

    pub fn cycles(self) -> Cycles {
        match self {
            Subject::Ours | Subject::Baseline | Subject::OursPeerStats => Cycles::Counter,
            Subject::Debian => Cycles::PerScrape,
            Subject::Collectd => Cycles::Timestamps,
        }
    }
}

/// A started exporter; killed (and its pid forgotten) when dropped.
pub struct Running {
    pub subject: Subject,
    pub addr: SocketAddr,
    /// Where its output goes.
    pub log: PathBuf,
    child: Child,
    pids_file: PathBuf,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still there (an exit is reported with its log's tail).
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = &self.log;
            let tail = fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(8).collect();
            anyhow::bail!(
                "{} exited ({status}); log {}:\n{}",
                self.subject.name(),
                log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        forget_pid(&self.pids_file, self.child.id());
    }
}

/// What a start needs to know.
pub struct Launch<'a> {
    /// The binary of this exporter's subjects (the baseline's for `Baseline`).
    pub exporter_bin: &'a Path,
    pub uri: &'a str,
    pub interval: Duration,
    pub state_dir: &'a Path,
    /// `LIBVIRT_LOG_FILTERS` and the log file, to count calls.
    pub libvirt_log: Option<&'a Path>,
    /// Where stdout and stderr go.
    pub log: &'a Path,
    /// Measuring the domain path only (CPU windows, call counts): this exporter's host
    /// collectors are left off.
    pub domain_path_only: bool,
}

/// A free loopback port (bound and released; the exporter binds it right after).
fn free_addr() -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(l.local_addr()?)
}

pub fn start(subject: Subject, launch: &Launch) -> anyhow::Result<Running> {
    let addr = free_addr()?;
    let mut cmd = match subject {
        Subject::Ours | Subject::Baseline | Subject::OursPeerStats => {
            let mut c = Command::new(launch.exporter_bin);
            c.arg("--libvirt.uri")
                .arg(launch.uri)
                .arg("--web.listen-address")
                .arg(addr.to_string())
                .arg("--collect.interval")
                .arg(format!("{}ms", launch.interval.as_millis()))
                .arg("--collect.timeout")
                .arg("10s")
                .arg("--collect.max-age")
                .arg(format!("{}s", launch.interval.as_secs().max(60)))
                .arg("--log.level")
                .arg("warn");
            if subject == Subject::OursPeerStats {
                c.args(PEER_STATS_FLAGS);
            }
            if launch.domain_path_only {
                // CPU and calls are measured on the domain path, which the peers and the bare
                // virsh domstats share; the host collectors (pools, networks, the node) read
                // nothing they read and would run at the benchmark's dense interval too.
                c.args(HOST_COLLECTORS_OFF);
                if subject != Subject::Baseline {
                    c.args(NEWER_COLLECTORS_OFF);
                }
            }
            c
        }
        Subject::Debian => {
            let mut c = Command::new("prometheus-libvirt-exporter");
            c.arg(format!("--web.listen-address={addr}"))
                .arg(format!("--libvirt.uri={}", launch.uri));
            c
        }
        Subject::Collectd => {
            let conf = launch.state_dir.join("collectd.conf");
            write_collectd_conf(&conf, launch, addr)?;
            let mut c = Command::new("collectd");
            c.arg("-C").arg(&conf).arg("-f");
            c
        }
    };
    if let Some(file) = launch.libvirt_log {
        let _ = fs::remove_file(file);
        cmd.env("LIBVIRT_LOG_FILTERS", crate::calls::LOG_FILTERS)
            .env("LIBVIRT_LOG_OUTPUTS", format!("1:file:{}", file.display()));
    }
    let out = File::create(launch.log)
        .with_context(|| format!("cannot create {}", launch.log.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    let child = cmd.spawn().with_context(|| {
        format!(
            "cannot start {} (bench/run.sh installs it with apt-get)",
            subject.name()
        )
    })?;
    let pids_file = launch.state_dir.join("pids");
    remember_pid(&pids_file, child.id(), subject)?;
    Ok(Running {
        subject,
        addr,
        log: launch.log.to_path_buf(),
        child,
        pids_file,
    })
}

/// A minimal collectd.conf: only the virt and write_prometheus plugins, on `addr`.
fn write_collectd_conf(path: &Path, launch: &Launch, addr: SocketAddr) -> anyhow::Result<()> {
    let dir = launch.state_dir.display();
    let interval = launch.interval.as_secs_f64();
    let conf = format!(
        r#"# Written by bench/compare: collectd with only the virt and write_prometheus plugins.
Hostname "bench"
FQDNLookup false
BaseDir "{dir}"
PIDFile "{dir}/collectd.pid"
TypesDB "/usr/share/collectd/types.db"
Interval {interval}
AutoLoadPlugin false
LoadPlugin virt
LoadPlugin write_prometheus
<Plugin virt>
  Connection "{uri}"
  RefreshInterval 60
  HostnameFormat "hostname"
  PluginInstanceFormat "name"
</Plugin>
<Plugin write_prometheus>
  Host "{ip}"
  Port "{port}"
</Plugin>
"#,
        uri = launch.uri,
        ip = addr.ip(),
        port = addr.port(),
    );
    fs::write(path, conf).with_context(|| format!("cannot write {}", path.display()))
}

/// Appends "<pid> <command name>" so that bench/run.sh can stop it if this driver dies.
fn remember_pid(file: &Path, pid: u32, subject: Subject) -> anyhow::Result<()> {
    let comm = match subject {
        Subject::Ours | Subject::Baseline | Subject::OursPeerStats => "libvirt-exporte",
        Subject::Debian => "prometheus-libv",
        Subject::Collectd => "collectd",
    };
    let mut f = OpenOptions::new().create(true).append(true).open(file)?;
    writeln!(f, "{pid} {comm}")?;
    Ok(())
}

fn forget_pid(file: &Path, pid: u32) {
    if let Ok(text) = fs::read_to_string(file) {
        let kept: String = text
            .lines()
            .filter(|l| l.split_whitespace().next() != Some(&pid.to_string()))
            .map(|l| format!("{l}\n"))
            .collect();
        let _ = fs::write(file, kept);
    }
}
