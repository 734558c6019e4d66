//! The measurements of one exporter on one scenario: host CPU per collection, scrape latency and
//! throughput, resident memory, domains reported, and libvirt calls per cycle; and the bare
//! `virsh domstats` reference.

use crate::calls::{self, CallCount};
use crate::expo;
use crate::http::{self, LoadResult, LoadSpec, Mode};
use crate::procfs::{self, CpuSample};
use crate::subjects::{self, Cycles, Launch, Running, Subject};
use anyhow::{bail, Context};
use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, sleep};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// The statistics groups every exporter is compared on (this exporter's defaults).
pub const VIRSH_GROUPS: &[&str] = &[
    "--state",
    "--cpu-total",
    "--balloon",
    "--vcpu",
    "--interface",
    "--block",
    "--nowait",
];

/// This exporter's interval in the CPU windows: short enough that cycles run (almost) back to
/// back, as `virsh domstats` runs in its windows, yet long enough that its clock thread, which
/// wakes once per interval while a cycle is in flight, costs nothing measurable (at 1 ms it
/// added about 10 ms per 1 s cycle; at 10 ms about 5 wakeups per 55 ms cycle of 10 guests).
/// Pace matters: at 50 ms a 55 ms cycle waited for the tick after next, one call per 100 ms,
/// and libvirtd's share per call came out 1-2 ms (about 10 %) above the same call back to back.
const OURS_CPU_INTERVAL: Duration = Duration::from_millis(10);

/// How long a stopped exporter's call in flight is given to finish before libvirtd is measured
/// without it (a cycle of 100 guests' bulk call takes about 0.2 s here).
pub const PAUSE_SETTLE: Duration = Duration::from_secs(2);

/// The interval of an exporter watched while idle: nothing falls due while it is watched.
pub const IDLE_INTERVAL: Duration = Duration::from_secs(3600);

/// CPU seconds per minute of a process connected to libvirt while it collects nothing, and
/// libvirtd's for it (keepalive probes, timers, threads waking to look at flags).
#[derive(Debug, Clone, Copy, Default)]
pub struct Idle {
    pub client: f64,
    pub libvirtd: f64,
}

impl Idle {
    pub fn total(&self) -> f64 {
        self.client + self.libvirtd
    }
}

/// How much to measure; every loop is bounded by these.
#[derive(Debug, Clone)]
pub struct Settings {
    pub exporter_bin: PathBuf,
    /// This exporter built from another revision, measured as `Subject::Baseline`.
    pub baseline_bin: Option<PathBuf>,
    pub state_dir: PathBuf,
    /// Collection interval of the exporters that collect in the background.
    pub interval: Duration,
    /// Collections per CPU window.
    pub collections: u32,
    /// CPU windows per exporter; the median is kept.
    pub repeats: u32,
    pub concurrency: usize,
    pub load_time: Duration,
    pub load_requests: usize,
    /// Cycles logged to count libvirt calls (after the first).
    pub call_cycles: u32,
    /// Interval of the call-counting runs (twice this above 200 domains), long enough that
    /// cycles never touch: calls more than half of it apart belong to different cycles.
    pub call_interval: Duration,
    pub ready_timeout: Duration,
    /// How long libvirtd's background load is measured before and after each CPU window.
    pub background: Duration,
    /// How long an idle exporter (or `virsh` session) is watched, a fifth of it after it
    /// settled.
    pub idle_window: Duration,
}

impl Settings {
    pub fn idle_settle(&self) -> Duration {
        self.idle_window / 5
    }
}

/// What is being collected from.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub label: String,
    pub uri: String,
    /// Whether the driver's bulk call has every group the exporter reads, so that the bare
    /// `virsh domstats` does the same work (QEMU; the test driver's has only `state`).
    pub same_groups: bool,
    /// The bench domains every exporter should report.
    pub expected: BTreeSet<String>,
    /// Every domain on the connection (the lab's and other users' too).
    pub total_domains: usize,
}

/// CPU seconds per collection, split by process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    pub client: f64,
    pub libvirtd: f64,
    pub collections: u64,
    /// libvirtd's CPU seconds per second from other users, taken out of `libvirtd`.
    pub background: f64,
}

impl Cpu {
    pub fn total(&self) -> f64 {
        self.client + self.libvirtd
    }
}

#[derive(Debug, Default)]
pub struct SubjectResult {
    pub cpu: Option<Cpu>,
    pub calls: Option<CallCount>,
    pub load_prometheus: Option<LoadResult>,
    pub load_plain: Option<LoadResult>,
    pub rss_kib: Option<u64>,
    pub anon_kib: Option<u64>,
    pub pss_kib: Option<u64>,
    /// VmRSS before the load runs, after the first collections.
    pub idle_rss_kib: Option<u64>,
    /// Between collections (guest scenarios only).
    pub idle: Option<Idle>,
    pub reported_expected: usize,
    pub reported_total: usize,
    /// Each CPU window against the bare `virsh domstats` windows run just before and after it
    /// (guest scenarios): see [`paired_ratios`].
    pub paired: Vec<f64>,
    pub problems: Vec<String>,
}

impl SubjectResult {
    /// The median of the paired ratios, if any window was paired.
    pub fn paired_ratio(&self) -> Option<f64> {
        let mut r = self.paired.clone();
        r.sort_by(f64::total_cmp);
        r.get(r.len().saturating_sub(1) / 2).copied()
    }
}

/// The bare `virsh domstats` reference.
#[derive(Debug, Default)]
pub struct Bare {
    pub cpu: Option<Cpu>,
    /// virsh's VmRSS, RssAnon and Pss after its windows: a libvirt client's floor on this URI.
    pub rss_kib: Option<u64>,
    pub anon_kib: Option<u64>,
    pub pss_kib: Option<u64>,
    /// `virsh domstats --<group>` alone, per group (libvirtd scenarios only).
    pub per_group: Vec<(&'static str, Cpu)>,
    /// Every window of the reference (`cpu` is their median).
    pub windows: Vec<Cpu>,
    /// An interactive `virsh` session left idle after one `domstats` (guest scenarios only).
    pub idle: Option<Idle>,
    pub calls: Option<CallCount>,
    pub problems: Vec<String>,
}

pub fn log(msg: impl AsRef<str>) {
    eprintln!(
        "[bench {}] {}",
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
        msg.as_ref()
    );
}

struct Ctx<'a> {
    rt: &'a Runtime,
    settings: &'a Settings,
    scenario: &'a Scenario,
    libvirtd: Option<u32>,
}

impl Ctx<'_> {
    fn scrape(&self, running: &Running) -> anyhow::Result<String> {
        self.rt.block_on(http::scrape(
            running.addr,
            Mode::Plain,
            Duration::from_secs(30),
        ))
    }

    /// A scrape as Prometheus does it (gzip), cheap to repeat for exporters that compress once.
    fn poll(&self, running: &Running) -> anyhow::Result<String> {
        self.rt.block_on(http::scrape(
            running.addr,
            Mode::Prometheus,
            Duration::from_secs(30),
        ))
    }

    fn file(&self, subject: Subject, what: &str) -> PathBuf {
        let tag: String = self
            .scenario
            .label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        self.settings
            .state_dir
            .join(format!("{}-{tag}-{what}", subject.short()))
    }

    fn launch(
        &self,
        subject: Subject,
        interval: Duration,
        phase: &str,
        calls: bool,
    ) -> anyhow::Result<Running> {
        let log = self.file(subject, &format!("{phase}.out"));
        let libvirt_log = self.file(subject, "libvirt.log");
        let exporter_bin = match subject {
            Subject::Baseline => (self.settings.baseline_bin.as_deref())
                .context("the baseline is measured only with --baseline-exporter")?,
            _ => &self.settings.exporter_bin,
        };
        let launch = Launch {
            exporter_bin,
            uri: &self.scenario.uri,
            interval,
            state_dir: &self.settings.state_dir,
            libvirt_log: calls.then_some(libvirt_log.as_path()),
            log: &log,
            domain_path_only: calls || phase == "cpu",
        };
        let mut running = subjects::start(subject, &launch)?;
        running.log = log;
        Ok(running)
    }

    /// Waits until the exporter answers with data about the bench domains.
    fn wait_ready(&self, running: &mut Running) -> anyhow::Result<()> {
        let cycles = running.subject.cycles();
        self.wait_for_scrape(running, "data", |text| match cycles {
            Cycles::Counter => {
                expo::value(text, "libvirt_exporter_collections_total").unwrap_or(0.0) >= 2.0
            }
            Cycles::PerScrape => true,
            Cycles::Timestamps => self.collectd_marker(text).is_some(),
        })
    }

    /// Scrapes every 200 ms until `ready` holds for an answer (at most `--ready-timeout`),
    /// asking as Prometheus does: a plain-text scrape would make this exporter keep encoding
    /// text as well for the next five minutes, through the windows measured after it.
    fn wait_for_scrape(
        &self,
        running: &mut Running,
        what: &str,
        ready: impl Fn(&str) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + self.settings.ready_timeout;
        loop {
            running.check_alive()?;
            if self.poll(running).is_ok_and(|text| ready(&text)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} gave no {what} within {:?} (log: {})",
                    running.subject.name(),
                    self.settings.ready_timeout,
                    running.log.display()
                );
            }
            sleep(Duration::from_millis(200));
        }
    }

    /// Every collectd read stamps each value when it is dispatched: the first bench domain's
    /// first value marks a read.
    fn collectd_marker(&self, text: &str) -> Option<i64> {
        let first = self.scenario.expected.first().map_or("", String::as_str);
        expo::timestamp_of(text, "collectd_virt_", "virt", first)
    }

    fn counter(&self, running: &Running) -> anyhow::Result<i64> {
        let text = self.poll(running)?;
        expo::value(&text, "libvirt_exporter_collections_total")
            .map(|v| v as i64)
            .context("no libvirt_exporter_collections_total in the exposition")
    }

    /// The newest read's marker. collectd drops values it has not updated for two intervals
    /// (its `Timeout`), as after a SIGSTOP: they are back with the next read.
    fn marker(&self, running: &Running) -> anyhow::Result<i64> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = self.poll(running)?;
            if let Some(m) = self.collectd_marker(&text) {
                return Ok(m);
            }
            if Instant::now() > deadline {
                bail!("no value of the first bench domain in collectd's exposition for 5 s");
            }
            sleep(Duration::from_millis(20));
        }
    }

    fn daemon(&self) -> Vec<u32> {
        self.libvirtd.into_iter().collect()
    }

    /// Runs `f` with the exporter stopped (SIGSTOP; not the Debian exporter, idle between
    /// scrapes), once a call it still had in flight has had `settle` to finish.
    fn paused<T>(&self, running: Option<&Running>, settle: Duration, f: impl FnOnce() -> T) -> T {
        let stopped = running.filter(|r| r.subject.cycles() != Cycles::PerScrape);
        if let Some(r) = stopped {
            signal(r.pid(), "STOP");
            sleep(settle);
        }
        let out = f();
        if let Some(r) = stopped {
            signal(r.pid(), "CONT");
        }
        out
    }

    /// A `virsh` session on the scenario's URI that has connected and run `domstats` once.
    fn warm_virsh(&self) -> anyhow::Result<Virsh> {
        let err = self.settings.state_dir.join("virsh-paired.err");
        let mut virsh = Virsh::start(&self.scenario.uri, None, &err, Duration::from_secs(3600))?;
        virsh.domstats(1)?;
        Ok(virsh)
    }

    /// libvirtd's CPU seconds per second over `--background` with the exporter under test stopped
    /// (SIGSTOP) or idle: what other users of the host cost it. A stopped exporter may have a
    /// call in flight, which libvirtd still completes: the measurement starts `settle` later.
    fn background(&self, running: Option<&Running>, settle: Duration) -> f64 {
        if self.libvirtd.is_none() {
            return 0.0;
        }
        self.paused(running, settle, || {
            background(&self.daemon(), self.settings.background)
        })
    }

    /// Polls the collections counter every `poll` until it moves; returns the new value.
    fn next_collection(
        &self,
        running: &Running,
        poll: Duration,
        limit: Instant,
    ) -> anyhow::Result<i64> {
        let last = self.counter(running)?;
        loop {
            sleep(poll);
            let now = self.counter(running)?;
            if now != last {
                return Ok(now);
            }
            if Instant::now() > limit {
                bail!("no collection within the time limit");
            }
        }
    }

    /// CPU of the exporter and libvirtd over about `collections` whole collections, with
    /// libvirtd's background (measured just before and after) taken out.
    fn cpu_window(&self, running: &Running, interval: Duration) -> anyhow::Result<Cpu> {
        let k = self.settings.collections as i64;
        let own = [running.pid()];
        let daemon = self.daemon();
        let limit = Instant::now() + Duration::from_secs(300);
        let late = || -> anyhow::Result<()> {
            if Instant::now() > limit {
                bail!("{k} collections took more than 300 s");
            }
            Ok(())
        };
        let (before, after, c0, d0, t0, c1, d1, t1, n);
        match running.subject.cycles() {
            Cycles::PerScrape => {
                before = self.background(None, Duration::ZERO);
                (c0, d0, t0) = (
                    CpuSample::take(&own),
                    CpuSample::take(&daemon),
                    Instant::now(),
                );
                for _ in 0..k {
                    self.scrape(running)?;
                }
                (c1, d1, t1) = (
                    CpuSample::take(&own),
                    CpuSample::take(&daemon),
                    Instant::now(),
                );
                n = k;
                after = self.background(None, Duration::ZERO);
            }
            Cycles::Counter => {
                // back-to-back cycles: learn their length, then start right when one was
                // published and stop right when the k-th after it was, polling at a
                // twenty-fifth of a cycle. Every poll is a scrape, which costs the exporter
                // CPU (about 0.1 ms here) inside the window: polls only start half a cycle
                // before the k-th collection is due, after checks halfway and two cycles
                // before it that correct the cycle's length (an estimate from the collections
                // seen so far errs long, on the safe side).
                let first = self.next_collection(running, Duration::from_millis(5), limit)?;
                let at = Instant::now();
                let second = self.next_collection(running, Duration::from_millis(5), limit)?;
                let cycle = at.elapsed() / (second - first).max(1) as u32;
                let poll = (cycle / 25).clamp(Duration::from_millis(1), Duration::from_millis(20));
                let settle =
                    (cycle * 3 / 2 + Duration::from_millis(100)).min(Duration::from_secs(5));
                before = self.background(Some(running), settle);
                let start = self.next_collection(running, poll, limit)?;
                (c0, d0, t0) = (
                    CpuSample::take(&own),
                    CpuSample::take(&daemon),
                    Instant::now(),
                );
                let mut last = start;
                for ahead in [k as f64 / 2.0, 2.0, 0.5] {
                    let seen = last - start;
                    if seen >= k {
                        break;
                    }
                    let cycle = if seen > 0 {
                        t0.elapsed() / seen as u32
                    } else {
                        cycle
                    };
                    let due = t0 + cycle.mul_f64((k as f64 - ahead).max(0.0));
                    sleep(due.saturating_duration_since(Instant::now()));
                    last = self.counter(running)?;
                }
                while last < start + k {
                    late()?;
                    sleep(poll);
                    last = self.counter(running)?;
                }
                (c1, d1, t1) = (
                    CpuSample::take(&own),
                    CpuSample::take(&daemon),
                    Instant::now(),
                );
                n = last - start;
                after = self.background(Some(running), settle);
            }
            Cycles::Timestamps => {
                // reads on a fixed grid: sample half an interval after a read began
                let settle = Duration::from_millis(200);
                before = self.background(Some(running), settle);
                // after SIGCONT, collectd catches up with the reads it missed before keeping
                // to its grid
                sleep(interval * 3);
                let poll = Duration::from_millis(10);
                let first = self.marker(running)?;
                let mut start = first;
                while start == first {
                    sleep(poll);
                    start = self.marker(running)?;
                    late()?;
                }
                sleep(interval / 2);
                (c0, d0, t0) = (
                    CpuSample::take(&own),
                    CpuSample::take(&daemon),
                    Instant::now(),
                );
                // to just before the k-th read begins: every poll is a scrape, which costs
                // collectd CPU inside the window
                sleep(interval.mul_f64(k as f64 - 0.55));
                let poll = (interval / 25).max(poll);
                let ms = interval.as_millis() as i64;
                let target = start + ms * k - ms / 4;
                let mut end = self.marker(running)?;
                while end < target {
                    sleep(poll);
                    end = self.marker(running)?;
                    late()?;
                }
                sleep(interval / 2);
                (c1, d1, t1) = (
                    CpuSample::take(&own),
                    CpuSample::take(&daemon),
                    Instant::now(),
                );
                n = ((end - start) as f64 / ms as f64).round() as i64;
                after = self.background(Some(running), settle);
            }
        }
        if n <= 0 {
            bail!("no collection counted");
        }
        let background = (before + after) / 2.0;
        let daemon_seconds = d1.seconds_since(&d0) - background * (t1 - t0).as_secs_f64();
        let mut cpu = per_collection(c1.seconds_since(&c0), daemon_seconds.max(0.0), n as u64);
        cpu.background = background;
        Ok(cpu)
    }

    fn load(&self, running: &Running, mode: Mode) -> LoadResult {
        let spec = LoadSpec {
            concurrency: self.settings.concurrency,
            max_requests: self.settings.load_requests,
            max_time: self.settings.load_time,
            mode,
        };
        self.rt.block_on(http::load(running.addr, spec))
    }

    /// The exporter's and libvirtd's CPU while the exporter is connected and nothing is due: it
    /// runs with a one-hour interval, is watched once its first collection is served (and
    /// the Debian exporter, which collects on scrapes, once it was scraped) and has settled.
    fn idle(&self, subject: Subject) -> anyhow::Result<Idle> {
        let background = self.background(None, Duration::ZERO);
        let mut running = self.launch(subject, IDLE_INTERVAL, "idle", false)?;
        let first = self.scenario.expected.first().context("no bench domain")?;
        self.wait_for_scrape(&mut running, &format!("data about {first}"), |text| {
            expo::label_values(text, subject.domain_label()).contains(first)
        })?;
        sleep(self.settings.idle_settle());
        let daemon = self.daemon();
        idle_window(
            running.pid(),
            &daemon,
            background,
            self.settings.idle_window,
        )
    }

    /// Interval for the call-counting run: long enough that cycles never touch.
    fn call_interval(&self) -> Duration {
        if self.scenario.expected.len() > 200 {
            self.settings.call_interval * 2
        } else {
            self.settings.call_interval
        }
    }

    fn count_calls(&self, subject: Subject) -> anyhow::Result<CallCount> {
        let interval = self.call_interval();
        let mut running = self.launch(subject, interval, "calls", true)?;
        let cycles = self.settings.call_cycles as f64 + 1.0;
        let deadline = Instant::now()
            + interval * (self.settings.call_cycles + 2) * 3
            + self.settings.ready_timeout;
        let file = self.file(subject, "libvirt.log");
        let mut offset = 0;
        match subject.cycles() {
            Cycles::PerScrape => {
                // calls made at start-up are not a scrape's
                sleep(Duration::from_millis(500));
                offset = fs::metadata(&file).map_or(0, |m| m.len() as usize);
                for _ in 0..cycles as u32 {
                    running.check_alive()?;
                    self.scrape(&running)?;
                    sleep(interval);
                }
            }
            Cycles::Counter => loop {
                running.check_alive()?;
                let done = self
                    .scrape(&running)
                    .ok()
                    .and_then(|t| expo::value(&t, "libvirt_exporter_collections_total"))
                    .unwrap_or(0.0);
                if done >= cycles || Instant::now() > deadline {
                    break;
                }
                sleep(interval / 4);
            },
            Cycles::Timestamps => {
                sleep(interval.mul_f64(cycles) + interval / 2);
                running.check_alive()?;
            }
        }
        drop(running);
        let text = fs::read_to_string(&file)
            .with_context(|| format!("no libvirt log at {}", file.display()))?;
        calls::count(text.get(offset..).unwrap_or(""), interval / 2)
            .context("no libvirt calls in the log")
    }

    /// collectd with the shortest interval (from 100 ms, doubling) whose reads keep to it: a
    /// read longer than the interval makes the next one start late and off the grid.
    fn collectd_on_grid(&self) -> anyhow::Result<(Running, Duration)> {
        let mut interval = Duration::from_millis(100);
        loop {
            let mut running = self.launch(Subject::Collectd, interval, "cpu", false)?;
            self.wait_ready(&mut running)?;
            let mut marks = BTreeSet::new();
            let until = Instant::now() + interval * 8;
            while Instant::now() < until {
                marks.extend(self.marker(&running).ok());
                sleep(interval / 5);
            }
            let ms = interval.as_millis() as i64;
            let marks: Vec<i64> = marks.into_iter().collect();
            let on_grid = marks.len() >= 4
                && marks.windows(2).all(|w| {
                    ((w[1] - w[0]) as f64 / ms as f64 - ((w[1] - w[0]) as f64 / ms as f64).round())
                        .abs()
                        < 0.2
                });
            if on_grid || interval >= Duration::from_secs(2) {
                log(format!("collectd: reads keep to a {interval:?} interval"));
                return Ok((running, interval));
            }
            interval *= 2;
        }
    }
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

/// CPU per minute of `client` and of libvirtd over `window`, libvirtd's `background` rate
/// (seconds per second, from other users) taken out.
fn idle_window(
    client: u32,
    libvirtd: &[u32],
    background: f64,
    window: Duration,
) -> anyhow::Result<Idle> {
    let (c0, d0, t0) = (
        CpuSample::take(&[client]),
        CpuSample::take(libvirtd),
        Instant::now(),
    );
    sleep(window);
    let (c1, d1) = (CpuSample::take(&[client]), CpuSample::take(libvirtd));
    let seconds = t0.elapsed().as_secs_f64();
    let daemon = (d1.seconds_since(&d0) - background * seconds).max(0.0);
    Ok(Idle {
        client: c1.seconds_since(&c0) * 60.0 / seconds,
        libvirtd: daemon * 60.0 / seconds,
    })
}

fn per_collection(client_seconds: f64, daemon_seconds: f64, n: u64) -> Cpu {
    Cpu {
        client: client_seconds / n as f64,
        libvirtd: daemon_seconds / n as f64,
        collections: n,
        background: 0.0,
    }
}

/// Each CPU window's total against the mean of the reference windows just before it
/// (`references[i]`) and just after it (`references[i + 1]`), or the one of them there is;
/// windows without a figure or without a reference are left out.
pub fn paired_ratios(windows: &[Option<Cpu>], references: &[Option<Cpu>]) -> Vec<f64> {
    windows
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            let w = (*w)?;
            let around: Vec<f64> = [references.get(i), references.get(i + 1)]
                .into_iter()
                .flatten()
                .flatten()
                .map(|c| c.total())
                .collect();
            let reference = around.iter().sum::<f64>() / around.len() as f64;
            (reference > 0.0).then(|| w.total() / reference)
        })
        .collect()
}

/// The window with the median total (the background taken out leaves noise both ways).
fn median(mut cpus: Vec<Cpu>) -> Option<Cpu> {
    cpus.sort_by(|a, b| a.total().total_cmp(&b.total()));
    cpus.get(cpus.len().saturating_sub(1) / 2).copied()
}

/// Everything about one exporter on one scenario. Failures become notes in the result.
pub fn subject(
    rt: &Runtime,
    settings: &Settings,
    scenario: &Scenario,
    subject: Subject,
) -> SubjectResult {
    let ctx = Ctx {
        rt,
        settings,
        scenario,
        libvirtd: procfs::pid_of("libvirtd"),
    };
    let mut r = SubjectResult::default();
    if let Err(e) = main_run(&ctx, subject, &mut r) {
        log(format!("{}: {e:#}", subject.name()));
        r.problems.push(format!("{e:#}"));
    }
    log(format!("{}: counting libvirt calls", subject.name()));
    match ctx.count_calls(subject) {
        Ok(c) => r.calls = Some(c),
        Err(e) => r.problems.push(format!("call count: {e:#}")),
    }
    // idle: the guest scenarios, each exporter once (the peers' statistics change nothing)
    if scenario.same_groups && subject != Subject::OursPeerStats {
        log(format!("{}: idle between collections", subject.name()));
        match ctx.idle(subject) {
            Ok(idle) => {
                log(format!(
                    "{}: idle {:.2} + {:.2} ms (libvirtd) per minute",
                    subject.name(),
                    idle.client * 1e3,
                    idle.libvirtd * 1e3
                ));
                r.idle = Some(idle);
            }
            Err(e) => r.problems.push(format!("idle: {e:#}")),
        }
    }
    r
}

fn main_run(ctx: &Ctx, subject: Subject, r: &mut SubjectResult) -> anyhow::Result<()> {
    log(format!(
        "{}: starting on {}",
        subject.name(),
        ctx.scenario.uri
    ));
    // CPU: this exporter collecting back to back (or every 10 ms), collectd on the
    // shortest interval its reads keep to, the Debian exporter scraped back to back
    let (mut running, interval) = match subject {
        Subject::Ours | Subject::Baseline | Subject::OursPeerStats => (
            ctx.launch(subject, OURS_CPU_INTERVAL, "cpu", false)?,
            OURS_CPU_INTERVAL,
        ),
        Subject::Collectd => ctx.collectd_on_grid()?,
        Subject::Debian => (
            ctx.launch(subject, ctx.settings.interval, "run", false)?,
            ctx.settings.interval,
        ),
    };
    ctx.wait_ready(&mut running)?;
    // guest scenarios: a bare `virsh domstats` window before each CPU window and after the
    // last, with the exporter stopped, so that each window has a reference from the same
    // minutes (libvirtd's cost for the same call drifts over minutes here)
    let mut virsh = match ctx.scenario.same_groups {
        true => Some(ctx.warm_virsh()?),
        false => None,
    };
    let mut references = Vec::new();
    let mut reference = |running: &Running, problems: &mut Vec<String>| {
        if let Some(v) = virsh.as_mut() {
            let cpu = ctx.paused(Some(running), PAUSE_SETTLE, || {
                virsh_window(v, &ctx.daemon(), ctx.settings, &VIRSH_GROUPS.join(" "))
            });
            match &cpu {
                Ok(c) => log(format!(
                    "paired virsh window: {:.2} ms + {:.2} ms (libvirtd) per call",
                    c.client * 1e3,
                    c.libvirtd * 1e3
                )),
                Err(e) => problems.push(format!("paired virsh window: {e:#}")),
            }
            references.push(cpu.ok());
        }
    };
    reference(&running, &mut r.problems);
    let mut windows = Vec::new();
    let mut all_windows = Vec::new();
    for i in 0..ctx.settings.repeats {
        running.check_alive()?;
        let window = ctx.cpu_window(&running, interval);
        all_windows.push(window.as_ref().ok().copied());
        reference(&running, &mut r.problems);
        match window {
            Ok(cpu) => {
                log(format!(
                    "{}: CPU window {}: {:.2} ms + {:.2} ms (libvirtd, {:.1} ms/s background taken out) per collection over {}",
                    subject.name(),
                    i + 1,
                    cpu.client * 1e3,
                    cpu.libvirtd * 1e3,
                    cpu.background * 1e3,
                    cpu.collections
                ));
                windows.push(cpu);
            }
            Err(e) => r.problems.push(format!("CPU window: {e:#}")),
        }
    }
    drop(virsh);
    r.cpu = median(windows);
    r.paired = paired_ratios(&all_windows, &references);
    if let Some(ratio) = r.paired_ratio() {
        log(format!(
            "{}: {:.2} x the virsh windows around its windows (median of {})",
            subject.name(),
            ratio,
            r.paired.len()
        ));
    }

    // scrapes, memory, domains: the exporters that collect in the background at the
    // benchmark's interval
    if subject != Subject::Debian {
        drop(running);
        running = ctx.launch(subject, ctx.settings.interval, "run", false)?;
        ctx.wait_ready(&mut running)?;
    }
    let text = ctx.scrape(&running)?;
    r.idle_rss_kib = procfs::status_kib(running.pid(), "VmRSS");
    let names = expo::label_values(&text, subject.domain_label());
    r.reported_total = names.len();
    r.reported_expected = names.intersection(&ctx.scenario.expected).count();

    for mode in [Mode::Prometheus, Mode::Plain] {
        running.check_alive()?;
        let l = ctx.load(&running, mode);
        log(format!(
            "{}: load ({mode:?}): {} ok, {} errors, {:.0}/s, p99 {:?}",
            subject.name(),
            l.ok,
            l.errors,
            l.per_second(),
            l.quantile(0.99)
        ));
        if let Some(e) = &l.first_error {
            r.problems
                .push(format!("load ({mode:?}): {} errors, first: {e}", l.errors));
        }
        match mode {
            Mode::Prometheus => r.load_prometheus = Some(l),
            Mode::Plain => r.load_plain = Some(l),
        }
    }
    r.rss_kib = procfs::status_kib(running.pid(), "VmRSS");
    r.anon_kib = procfs::status_kib(running.pid(), "RssAnon");
    r.pss_kib = procfs::smaps_rollup_kib(running.pid(), "Pss");
    Ok(())
}

/// An interactive `virsh` session fed commands on stdin; killed after a deadline or on drop.
struct Virsh {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    done: Arc<AtomicBool>,
    batches: u32,
}

impl Virsh {
    fn start(
        uri: &str,
        log: Option<&Path>,
        stderr: &Path,
        limit: Duration,
    ) -> anyhow::Result<Virsh> {
        let mut cmd = Command::new("virsh");
        cmd.args(["-q", "-c", uri])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(stderr)?);
        if let Some(file) = log {
            let _ = fs::remove_file(file);
            cmd.env("LIBVIRT_LOG_FILTERS", calls::LOG_FILTERS)
                .env("LIBVIRT_LOG_OUTPUTS", format!("1:file:{}", file.display()));
        }
        let mut child = cmd.spawn().context("cannot run virsh")?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        // a watchdog, so that a stuck libvirtd cannot hold the benchmark forever
        let done = Arc::new(AtomicBool::new(false));
        let (flag, pid) = (done.clone(), child.id());
        thread::spawn(move || {
            let deadline = Instant::now() + limit;
            while !flag.load(Ordering::Relaxed) {
                if Instant::now() > deadline {
                    let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                    return;
                }
                sleep(Duration::from_millis(100));
            }
        });
        Ok(Virsh {
            child,
            stdin,
            stdout,
            done,
            batches: 0,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs `domstats` of [`VIRSH_GROUPS`] `n` times and waits until virsh has printed it all.
    fn domstats(&mut self, n: u32) -> anyhow::Result<()> {
        self.domstats_of(&VIRSH_GROUPS.join(" "), n)
    }

    /// Runs `domstats <flags>` `n` times and waits until virsh has printed it all.
    fn domstats_of(&mut self, flags: &str, n: u32) -> anyhow::Result<()> {
        self.batches += 1;
        let marker = format!("bench-batch-{}-done", self.batches);
        let line = format!("domstats {flags}\n");
        self.stdin
            .write_all(format!("{}echo {marker}\n", line.repeat(n as usize)).as_bytes())?;
        self.stdin.flush()?;
        // virsh echoes each command after its prompt ("virsh # echo <marker>") and prints the
        // echo's output without a newline, so the marker's output is a line starting with it
        let needle = format!("\n{marker}").into_bytes();
        let mut window: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let n = self.stdout.read(&mut chunk)?;
            if n == 0 {
                bail!(
                    "virsh ended before finishing its commands (stuck or failing; see its stderr)"
                );
            }
            window.extend_from_slice(&chunk[..n]);
            if window.windows(needle.len()).any(|w| w == needle.as_slice()) {
                return Ok(());
            }
            let keep = window.len().saturating_sub(needle.len());
            window.drain(..keep);
        }
    }
}

impl Drop for Virsh {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bare {
    /// Adds the windows of a later measurement of the same reference: libvirtd's cost drifts
    /// over minutes (guests' state, the host's other work), so the reference is measured
    /// before and after the exporters and the median of all its windows kept.
    pub fn merge(&mut self, later: Bare) {
        self.windows.extend(later.windows);
        self.cpu = median(self.windows.clone());
        self.problems.extend(later.problems);
    }
}

/// libvirtd's CPU seconds per second over `span` (nothing of the benchmark running).
fn background(libvirtd: &[u32], span: Duration) -> f64 {
    if libvirtd.is_empty() {
        return 0.0;
    }
    let started = Instant::now();
    let a = CpuSample::take(libvirtd);
    sleep(span);
    CpuSample::take(libvirtd).seconds_since(&a) / started.elapsed().as_secs_f64()
}

/// One window of `domstats <flags>` run `--collections` times in a warmed-up session: virsh's
/// and libvirtd's CPU per call, libvirtd's background (measured before and after) taken out.
fn virsh_window(
    virsh: &mut Virsh,
    libvirtd: &[u32],
    settings: &Settings,
    flags: &str,
) -> anyhow::Result<Cpu> {
    let k = settings.collections;
    let before = background(libvirtd, settings.background);
    let (c0, d0, t0) = (
        CpuSample::take(&[virsh.pid()]),
        CpuSample::take(libvirtd),
        Instant::now(),
    );
    virsh.domstats_of(flags, k)?;
    let (c1, d1, t1) = (
        CpuSample::take(&[virsh.pid()]),
        CpuSample::take(libvirtd),
        Instant::now(),
    );
    let bg = (before + background(libvirtd, settings.background)) / 2.0;
    let daemon = (d1.seconds_since(&d0) - bg * (t1 - t0).as_secs_f64()).max(0.0);
    let mut cpu = per_collection(c1.seconds_since(&c0), daemon, k as u64);
    cpu.background = bg;
    Ok(cpu)
}

/// `virsh domstats` of the same groups, in one session that has already connected and run it
/// once: as many times as a CPU window has collections, virsh's and libvirtd's CPU.
pub fn bare(settings: &Settings, scenario: &Scenario, with_groups: bool) -> Bare {
    let libvirtd: Vec<u32> = procfs::pid_of("libvirtd").into_iter().collect();
    let mut r = Bare::default();
    let dir = &settings.state_dir;
    let limit = Duration::from_secs(600);
    let mut rss = (None, None, None);
    let mut per_group = Vec::new();
    let mut idle = None;
    let mut cpu = || -> anyhow::Result<Vec<Cpu>> {
        let mut virsh = Virsh::start(&scenario.uri, None, &dir.join("virsh.err"), limit)?;
        virsh.domstats(1)?;
        let window =
            |virsh: &mut Virsh, flags: &str| virsh_window(virsh, &libvirtd, settings, flags);
        let mut windows = Vec::new();
        for _ in 0..settings.repeats {
            windows.push(window(&mut virsh, &VIRSH_GROUPS.join(" "))?);
        }
        // what each group costs libvirtd on its own (one window each), and the session idle
        if scenario.same_groups && with_groups {
            for group in VIRSH_GROUPS.iter().filter(|g| **g != "--nowait") {
                let cpu = window(&mut virsh, &format!("{group} --nowait"))?;
                per_group.push((group.trim_start_matches("--"), cpu));
            }
            let background = background(&libvirtd, settings.background);
            sleep(settings.idle_settle());
            idle = Some(idle_window(
                virsh.pid(),
                &libvirtd,
                background,
                settings.idle_window,
            )?);
        }
        rss = (
            procfs::status_kib(virsh.pid(), "VmRSS"),
            procfs::status_kib(virsh.pid(), "RssAnon"),
            procfs::smaps_rollup_kib(virsh.pid(), "Pss"),
        );
        Ok(windows)
    };
    let windows = cpu();
    (r.rss_kib, r.anon_kib, r.pss_kib) = rss;
    r.per_group = per_group;
    r.idle = idle;
    match windows {
        Ok(w) => {
            r.cpu = median(w.clone());
            r.windows = w;
        }
        Err(e) => r.problems.push(format!("{e:#}")),
    }
    if let Some(cpu) = r.cpu {
        log(format!(
            "virsh domstats: {:.2} ms + {:.2} ms (libvirtd, {:.1} ms/s background taken out) per collection",
            cpu.client * 1e3,
            cpu.libvirtd * 1e3,
            cpu.background * 1e3
        ));
    }
    // calls: connecting and the first domstats, then three more
    let counted = || -> anyhow::Result<CallCount> {
        let file = dir.join("virsh-libvirt.log");
        let mut virsh = Virsh::start(&scenario.uri, Some(&file), &dir.join("virsh.err"), limit)?;
        virsh.domstats(1)?;
        let first = calls::bursts(&fs::read_to_string(&file)?, Duration::from_secs(3600));
        let offset = fs::metadata(&file)?.len() as usize;
        virsh.domstats(3)?;
        let text = fs::read_to_string(&file)?;
        let three = calls::bursts(text.get(offset..).unwrap_or(""), Duration::from_secs(3600));
        let three = three.first().copied().unwrap_or_default();
        Ok(CallCount {
            first: first.first().copied().unwrap_or_default(),
            steady: calls::Burst {
                api: three.api / 3,
                rpc: three.rpc / 3,
            },
            cycles: 4,
        })
    };
    match counted() {
        Ok(c) => r.calls = Some(c),
        Err(e) => r.problems.push(format!("call count: {e:#}")),
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(ms: f64) -> Option<Cpu> {
        Some(Cpu {
            libvirtd: ms / 1e3,
            ..Cpu::default()
        })
    }

    #[test]
    fn each_window_is_divided_by_the_mean_of_the_references_around_it() {
        // references 10, 20, 30 ms around windows of 15 and 30 ms
        let r = paired_ratios(&[cpu(15.0), cpu(30.0)], &[cpu(10.0), cpu(20.0), cpu(30.0)]);
        assert_eq!(r.len(), 2);
        assert!((r[0] - 1.0).abs() < 1e-9, "{r:?}");
        assert!((r[1] - 1.2).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn a_missing_reference_leaves_the_other_and_a_missing_window_is_left_out() {
        let r = paired_ratios(
            &[cpu(20.0), None, cpu(30.0)],
            &[None, cpu(10.0), None, None],
        );
        assert_eq!(r.len(), 1, "the last window has no reference: {r:?}");
        assert!((r[0] - 2.0).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn the_paired_ratio_is_the_median() {
        let r = SubjectResult {
            paired: vec![1.3, 0.9, 1.0, 5.0, 1.1],
            ..SubjectResult::default()
        };
        assert_eq!(r.paired_ratio(), Some(1.1));
        assert_eq!(SubjectResult::default().paired_ratio(), None);
    }
}
