//! The results as markdown: the machine and versions, one table with the targets of issue 7 as
//! pass/fail columns, and how it was measured.

use crate::calls::CallCount;
use crate::measure::{
    Bare, Cpu, Idle, Scenario, Settings, SubjectResult, IDLE_INTERVAL, VIRSH_GROUPS,
};
use crate::subjects::Subject;
use std::fmt::Write;
use std::fs;
use std::path::Path;
use std::process::Command;

pub struct ScenarioResult {
    pub scenario: Scenario,
    pub bare: Bare,
    pub subjects: Vec<(Subject, SubjectResult)>,
}

/// The machine and the versions measured.
pub struct Machine {
    pub lines: Vec<(String, String)>,
}

fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn deb(package: &str) -> String {
    run("dpkg-query", &["-W", "-f=${Version}", package]).unwrap_or_else(|| "not installed".into())
}

impl Machine {
    pub fn detect() -> Machine {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let mem_kib: u64 = fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0);
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let libvirt = run("libvirtd", &["--version"])
            .and_then(|v| v.split_whitespace().last().map(str::to_string))
            .unwrap_or_else(|| "unknown".into());
        let qemu = run("qemu-system-x86_64", &["--version"])
            .and_then(|v| {
                v.lines()
                    .next()?
                    .split_whitespace()
                    .nth(3)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "unknown".into());
        let commit =
            run("git", &["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
        let dirty = run(
            "git",
            &["status", "--porcelain", "--", ".", ":!BENCHMARKS.md"],
        )
        .is_some_and(|s| !s.is_empty());
        let lines = vec![
            ("CPU".into(), format!("{model}, {cores} cores")),
            (
                "Memory".into(),
                format!("{:.1} GiB", mem_kib as f64 / 1048576.0),
            ),
            ("Kernel".into(), kernel.trim().to_string()),
            (
                "libvirt".into(),
                format!("{libvirt} (Debian {})", deb("libvirt-daemon")),
            ),
            (
                "QEMU".into(),
                format!("{qemu} (Debian {})", deb("qemu-system-x86")),
            ),
            (
                "libvirt-exporter (this)".into(),
                format!(
                    "{} at commit {commit}{}",
                    env!("CARGO_PKG_VERSION"),
                    if dirty { " + uncommitted changes" } else { "" }
                ),
            ),
            (
                "prometheus-libvirt-exporter".into(),
                deb("prometheus-libvirt-exporter"),
            ),
            ("collectd".into(), deb("collectd-core")),
            (
                "Date".into(),
                humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            ),
        ];
        Machine { lines }
    }

    /// The baseline build's version and what it is (`label`, else its path), after this
    /// exporter's line.
    pub fn add_baseline(&mut self, bin: &Path, label: Option<&str>) {
        let version = run(&bin.to_string_lossy(), &["--version"])
            .and_then(|v| v.split_whitespace().last().map(str::to_string))
            .unwrap_or_else(|| "unknown version".into());
        let what = label.map_or_else(|| bin.display().to_string(), str::to_string);
        let at = self
            .lines
            .iter()
            .position(|(k, _)| k == Subject::Ours.name())
            .map_or(self.lines.len(), |i| i + 1);
        self.lines.insert(
            at,
            (
                Subject::Baseline.name().into(),
                format!("{version} at {what}"),
            ),
        );
    }
}

fn ms(s: f64) -> String {
    format!("{:.2}", s * 1e3)
}

fn cpu_cell(cpu: Option<Cpu>) -> String {
    match cpu {
        Some(c) => format!("{} ({} + {})", ms(c.total()), ms(c.client), ms(c.libvirtd)),
        None => "—".into(),
    }
}

fn calls_cell(calls: Option<CallCount>) -> String {
    match calls {
        Some(c) => format!(
            "{} ({} RPC); first {} ({} RPC)",
            c.steady.api, c.steady.rpc, c.first.api, c.first.rpc
        ),
        None => "—".into(),
    }
}

fn rss_cell(rss_kib: Option<u64>, anon_kib: Option<u64>, pss_kib: Option<u64>) -> String {
    let mb = |k: u64| k as f64 * 1024.0 / 1e6;
    match (rss_kib, anon_kib, pss_kib) {
        (Some(k), Some(a), Some(p)) => format!("{:.1} ({:.1}; PSS {:.1})", mb(k), mb(a), mb(p)),
        (Some(k), Some(a), None) => format!("{:.1} ({:.1})", mb(k), mb(a)),
        _ => "—".into(),
    }
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "pass",
        Some(false) => "**FAIL**",
        None => "n/a",
    }
}

/// RSS limit of issue 7 for a scenario's size, in bytes (MB = 10^6 bytes).
fn rss_limit(expected: usize) -> f64 {
    if expected <= 100 {
        15e6
    } else {
        40e6
    }
}

/// A row's CPU against bare `virsh domstats`: the median of its windows' ratios to the virsh
/// windows run around each (guest scenarios), else against the reference row.
fn ratio(s: &ScenarioResult, r: &SubjectResult) -> Option<f64> {
    r.paired_ratio().or_else(|| reference_ratio(s, r))
}

/// A row's median window against the reference row.
fn reference_ratio(s: &ScenarioResult, r: &SubjectResult) -> Option<f64> {
    match (r.cpu, s.bare.cpu) {
        (Some(c), Some(b)) if b.total() > 0.0 => Some(c.total() / b.total()),
        _ => None,
    }
}

/// Whether a row is this exporter's (default groups, the peers' statistics, or the baseline
/// build): it gets verdicts, and is no peer of the others.
fn is_ours(subject: Subject) -> bool {
    matches!(
        subject,
        Subject::Ours | Subject::Baseline | Subject::OursPeerStats
    )
}

/// The verdicts of one of our rows (`which`) in a scenario, in the order of [`TARGETS`].
fn targets(s: &ScenarioResult, which: Subject) -> Vec<Option<bool>> {
    let find = |subject| {
        s.subjects
            .iter()
            .find(|(x, _)| *x == subject)
            .map(|(_, r)| r)
    };
    let Some(ours) = find(which) else {
        return vec![None; TARGETS.len()];
    };
    let vs_virsh = s
        .scenario
        .same_groups
        .then(|| ratio(s, ours))
        .flatten()
        .map(|r| r <= 1.1);
    // against each peer: the ratios to the virsh windows around each one's own windows when
    // every row has them (libvirtd's cost drifts between the minutes each exporter runs in),
    // the absolute figures otherwise
    let peers: Vec<&SubjectResult> = s
        .subjects
        .iter()
        .filter(|(x, _)| !is_ours(*x))
        .map(|(_, r)| r)
        .collect();
    let paired = ours.paired_ratio().is_some() && peers.iter().all(|p| p.paired_ratio().is_some());
    let cost = |r: &SubjectResult| match paired {
        true => r.paired_ratio(),
        false => r.cpu.map(|c| c.total()),
    };
    let peer_costs: Vec<f64> = peers.iter().filter_map(|p| cost(p)).collect();
    let below_peers = cost(ours)
        .filter(|_| !peer_costs.is_empty())
        .map(|o| peer_costs.iter().all(|p| o < *p));
    let p99 = ours
        .load_prometheus
        .as_ref()
        .and_then(|l| l.quantile(0.99))
        .map(|d| d.as_secs_f64() <= 0.002);
    let rate = |r: &SubjectResult| {
        r.load_prometheus
            .as_ref()
            .filter(|l| l.ok > 0)
            .map(|l| l.per_second())
    };
    let above_collectd = match (rate(ours), find(Subject::Collectd).and_then(rate)) {
        (Some(o), Some(c)) => Some(o > c),
        _ => None,
    };
    let rss = ours
        .rss_kib
        .map(|k| (k * 1024) as f64 <= rss_limit(s.scenario.expected.len()));
    let all = Some(ours.reported_expected == s.scenario.expected.len());
    vec![vs_virsh, below_peers, p99, above_collectd, rss, all]
}

const TARGETS: [&str; 6] = [
    "CPU ≤ 1.1× virsh",
    "CPU below every peer",
    "p99 ≤ 2 ms",
    "scrapes/s > collectd",
    "RSS ≤ 15 MB (≤100) / 40 MB",
    "all reported",
];

pub fn table(results: &[ScenarioResult]) -> String {
    let mut t = String::new();
    let head = [
        "Domains",
        "Exporter",
        "Reported",
        "CPU ms per collection (exporter + libvirtd)",
        "× virsh: paired (against the reference row)",
        "libvirt calls per cycle (round trips)",
        "p50 / p99 ms",
        "scrapes/s (gzip / plain)",
        "body KiB (gzip / plain)",
        "RSS MB after load (anonymous; PSS); idle",
    ];
    let _ = writeln!(t, "| {} | {} |", head.join(" | "), TARGETS.join(" | "));
    let _ = writeln!(t, "|{}", "---|".repeat(head.len() + TARGETS.len()));
    for s in results {
        let size = format!(
            "{} ({} on host)",
            s.scenario.label, s.scenario.total_domains
        );
        let _ = writeln!(
            t,
            "| {size} | bare `virsh domstats` (the limit) | | {} | 1.00 | {} | | | | {} |{}",
            cpu_cell(s.bare.cpu),
            match s.bare.calls {
                Some(c) => format!("{} ({} RPC)", c.steady.api, c.steady.rpc),
                None => "—".into(),
            },
            rss_cell(s.bare.rss_kib, s.bare.anon_kib, s.bare.pss_kib),
            " |".repeat(TARGETS.len())
        );
        for (subject, r) in &s.subjects {
            let ratio = match (r.paired_ratio(), reference_ratio(s, r)) {
                (Some(p), Some(x)) => format!("{p:.2} ({x:.2})"),
                (Some(x), None) | (None, Some(x)) => format!("{x:.2}"),
                (None, None) => "—".into(),
            };
            let lp = r.load_prometheus.as_ref();
            let lq = r.load_plain.as_ref();
            let lat = lp
                .and_then(|l| {
                    Some(format!(
                        "{:.2} / {:.2}",
                        l.quantile(0.5)?.as_secs_f64() * 1e3,
                        l.quantile(0.99)?.as_secs_f64() * 1e3
                    ))
                })
                .unwrap_or_else(|| "—".into());
            let rate = |l: Option<&crate::http::LoadResult>| {
                l.filter(|l| l.ok > 0)
                    .map_or("—".into(), |l| format!("{:.0}", l.per_second()))
            };
            let kib = |l: Option<&crate::http::LoadResult>| {
                l.and_then(|l| l.mean_body_bytes())
                    .map_or("—".into(), |b| format!("{:.0}", b as f64 / 1024.0))
            };
            let mut rss = rss_cell(r.rss_kib, r.anon_kib, r.pss_kib);
            if let Some(idle) = r.idle_rss_kib {
                rss.push_str(&format!("; idle {:.1}", idle as f64 * 1024.0 / 1e6));
            }
            let marks: String = if is_ours(*subject) {
                targets(s, *subject)
                    .iter()
                    .map(|v| format!(" {} |", verdict(*v)))
                    .collect()
            } else {
                " |".repeat(TARGETS.len())
            };
            let _ = writeln!(
                t,
                "| {size} | {} | {} of {} ({} names) | {} | {ratio} | {} | {lat} | {} / {} | {} / {} | {rss} |{marks}",
                subject.name(),
                r.reported_expected,
                s.scenario.expected.len(),
                r.reported_total,
                cpu_cell(r.cpu),
                calls_cell(r.calls),
                rate(lp),
                rate(lq),
                kib(lp),
                kib(lq),
            );
        }
    }
    t
}

/// libvirtd's CPU per statistics group, from `virsh domstats --<group>` alone.
pub fn groups(results: &[ScenarioResult]) -> String {
    let with: Vec<&ScenarioResult> = results
        .iter()
        .filter(|s| !s.bare.per_group.is_empty())
        .collect();
    let Some(first) = with.first() else {
        return String::new();
    };
    let names: Vec<&str> = first.bare.per_group.iter().map(|(g, _)| *g).collect();
    let mut t = String::new();
    let _ = writeln!(t, "| Domains | all groups | {} |", names.join(" | "));
    let _ = writeln!(t, "|{}", "---|".repeat(names.len() + 2));
    for s in with {
        let cells: Vec<String> = s
            .bare
            .per_group
            .iter()
            .map(|(_, c)| ms(c.libvirtd))
            .collect();
        let all = s.bare.cpu.map_or("—".into(), |c| ms(c.libvirtd));
        let _ = writeln!(
            t,
            "| {} | {all} | {} |",
            s.scenario.label,
            cells.join(" | ")
        );
    }
    t
}

/// CPU per minute between collections, for the scenarios where it was measured.
pub fn idle(results: &[ScenarioResult]) -> String {
    let with: Vec<&ScenarioResult> = results.iter().filter(|s| s.bare.idle.is_some()).collect();
    if with.is_empty() {
        return String::new();
    }
    let cell = |i: Option<Idle>| match i {
        Some(i) => format!("{} ({} + {})", ms(i.total()), ms(i.client), ms(i.libvirtd)),
        None => "—".into(),
    };
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| Domains | bare `virsh` session | {} |",
        with[0]
            .subjects
            .iter()
            .filter(|(_, r)| r.idle.is_some())
            .map(|(s, _)| s.name())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let columns = 2 + with[0]
        .subjects
        .iter()
        .filter(|(_, r)| r.idle.is_some())
        .count();
    let _ = writeln!(t, "|{}", "---|".repeat(columns));
    for s in with {
        let cells: Vec<String> = s
            .subjects
            .iter()
            .filter(|(_, r)| r.idle.is_some())
            .map(|(_, r)| cell(r.idle))
            .collect();
        let _ = writeln!(
            t,
            "| {} | {} | {} |",
            s.scenario.label,
            cell(s.bare.idle),
            cells.join(" | ")
        );
    }
    t
}

/// Problems met while measuring (a missing number in the table has its reason here).
pub fn problems(results: &[ScenarioResult]) -> String {
    let mut t = String::new();
    for s in results {
        for p in &s.bare.problems {
            let _ = writeln!(t, "- {}, virsh: {p}", s.scenario.label);
        }
        for (subject, r) in &s.subjects {
            for p in &r.problems {
                let _ = writeln!(
                    t,
                    "- {}, {}: {}",
                    s.scenario.label,
                    subject.name(),
                    p.replace('\n', " ")
                );
            }
        }
    }
    t
}

pub fn method(settings: &Settings) -> String {
    let mut text = format!(
        "\
- **Guests**: transient KVM guests `bench-NNN` (1 vCPU, 16 MiB, one read-only virtio disk shared by
  all, whose boot sector only halts the vCPU, a virtio NIC on `lab-net`, a virtio balloon with stats
  every 10 s), created before and destroyed after the run: once booted they use no CPU. The
  lab's guests and anything else on the host stay and are collected too (\"on host\"); \"Reported\"
  counts the bench domains each exporter names. The 1,000-domain scenario is a generated
  test-driver node (`test+unix:///…/node-1000.xml`, every domain running with one disk and one
  NIC), opened through libvirtd: the test driver then runs inside the daemon, as a hypervisor's
  driver does, and every exporter talks to it over libvirt's RPC as it would on a real host
  (opened as `test:///…`, the driver and its copy of every domain would live inside each
  client instead). Its bulk call reports only the `state` group, so exporters read the other
  statistics per domain there, and the bare `virsh domstats` is not the same work: no
  ratio target at that size.
- **CPU per collection**: time on CPU of the exporter and of libvirtd (`/proc/<pid>/task/*/schedstat`,
  the scheduler's nanosecond account that utime+stime of `/proc/<pid>/stat` are rounded from; the
  rounded ticks are used instead if threads that exited took more) over about {collections}
  collections per window, the median of {repeats} windows. Windows are dense, so that libvirtd's
  work for other users of the host weighs little: this exporter collects back to back, or every
  10 ms when a cycle is shorter (`--collect.interval 10ms`; collections counted with
  `libvirt_exporter_collections_total`, the window starting and ending as a collection is
  published); collectd reads on the shortest interval
  its reads keep to (from 100 ms, doubling; reads counted by the timestamps write_prometheus puts on
  each value, the window starting and ending half an interval after a read began). The scrapes
  that find those moments cost the exporter CPU inside the window too, so they are fine-grained
  only near its end (from half a cycle before this exporter's last collection is due, from just
  before collectd's last read begins); the Debian
  exporter, which collects on every scrape, is scraped back to back. libvirtd's CPU from other users
  is measured for {background:?} before and after each window, with this exporter or collectd stopped
  (SIGSTOP; measured once a call still in flight has had 1.5 cycles to finish), and its rate
  times the window's length is taken out of libvirtd's share. In CPU windows and call counts this
  exporter runs without its host collectors and its slow per-domain collectors (`{host_off}`;
  a baseline build gets only the flags it knows): they read pools, networks, the node, disk
  errors, the monitor's state and snapshots, which neither the peers nor `virsh domstats` read,
  and at a 10 ms interval the host collectors would run 100 times a second (the scrape and
  memory runs have them on).
- **Bare `virsh domstats`** (the limit): one interactive `virsh` session, connected and warmed up by
  a first `domstats {groups}`, then running it {collections} times per window, with the same
  background correction: virsh's and libvirtd's CPU. The groups are this exporter's defaults.
  libvirtd's cost for the same call drifts by 10-20 % over minutes here, so the reference is
  measured before and after the exporters of a scenario, and the median of all {both} windows kept.
- **× virsh, paired**: in the guest scenarios each exporter's CPU windows are also paired with
  bare `virsh domstats` windows of their own: a second `virsh` session runs one window before
  each CPU window and one after the last, with the exporter stopped (SIGSTOP, after {settle:?}
  for a call in flight). Each CPU window is divided by the mean of the two virsh windows around
  it, and the median of those ratios is the row's figure (in parentheses: its median window
  against the reference row). Targets use the paired figure: \"≤ 1.1× virsh\", and \"below
  every peer\", which then compares each row's paired figure (each exporter against libvirtd's
  cost in the minutes it ran) rather than milliseconds measured minutes apart.
- **libvirt calls per cycle**: each exporter is run again with `LIBVIRT_LOG_FILTERS=\"{filters}\"`
  (client-side debug log) and collects {call_cycles} + 1 times, {call_interval:?} apart (twice that above 200 domains);
  API calls are the public entry points logged (`virDomainGetInfo`, `virConnectGetAllDomainStats`, …,
  without local handle accessors such as `virDomainGetName` or `virDomainFree`), round trips are
  `RPC_CLIENT_MSG_TX_QUEUE` calls to the remote program. Calls are grouped into cycles by the pauses
  between them; \"first\" is the first cycle (connecting, probing, first look at every domain), the
  other number the median of the later ones.
- **Scrapes**, **RSS**, **Reported**: this exporter and collectd run again, collecting every {interval:?}.
  {concurrency} keep-alive connections on loopback scraping `/metrics` back to back for at most
  {load_time:?} or {load_requests} requests, first with Prometheus' headers (OpenMetrics preferred, `Accept-Encoding: gzip`;
  p50/p99 and the first scrapes/s are from this run), then plain (no Accept headers). The load
  generator (`bench/compare/http.rs`, hyper + tokio) runs on the same 2 cores.
- **RSS**: `VmRSS` after the load runs (\"idle\": before them, after the first collections); in
  parentheses `RssAnon`, the process' own memory (the rest
  is pages of shared libraries, libvirt's and its dependencies, shared with every libvirt client),
  and `Pss` from `smaps_rollup` (shared pages divided among the processes that map them: what
  the process adds to the host's memory use, given libvirtd and QEMU map the same libraries).
  The virsh row shows the same for the `virsh` session: what any libvirt client on that URI
  holds. MB = 10^6 bytes; the target is checked against `VmRSS`.
- **Idle**: what a connected exporter costs between collections (keepalive probes, timers,
  threads that wake up), per minute: in the guest scenarios each exporter runs again with a
  {idle_interval:?} interval (collectd's `Interval` too, the Debian exporter scraped once), and once its
  first collection is served and {idle_settle:?} passed, its CPU and libvirtd's are read over {idle_window:?},
  libvirtd's rate without it (measured just before it started) taken out; the bare `virsh`
  session is watched the same way after its windows. At a real interval this is paid on top of
  every collection: at 15 s, a quarter of the per-minute figure per collection.
- What each exporter collects differs: this exporter reads the groups above in one
  `virConnectGetAllDomainStats` call and fetches a domain's XML only when the domain is new or its
  devices change; the Debian exporter (0.2.0) lists domains and asks each one for its info, XML,
  and block and interface statistics on every scrape; collectd's virt plugin (default
  `ExtraStats`) asks each domain for its info and per-device block and interface statistics every
  interval and re-reads the domain list and XML every 60 s (their call logs). Every bench guest
  has one disk and one NIC, so both peers pay for block and interface statistics on every domain,
  as the bulk call does. Neither asks QEMU for balloon or vCPU statistics. So this exporter is
  measured twice: with its default groups, and reading what the peers read (\"the peers'
  statistics\": `{peer_flags}`, leaving state, cpu-total, interface and block; the memory and vCPU
  counts that `virDomainGetInfo` gives the peers come with the groups left out).
",
        collections = settings.collections,
        repeats = settings.repeats,
        peer_flags = crate::subjects::PEER_STATS_FLAGS.join(" "),
        host_off = crate::subjects::HOST_COLLECTORS_OFF
            .iter()
            .chain(&crate::subjects::NEWER_COLLECTORS_OFF)
            .copied()
            .collect::<Vec<_>>()
            .join(" "),
        groups = VIRSH_GROUPS.join(" "),
        filters = crate::calls::LOG_FILTERS,
        call_cycles = settings.call_cycles,
        both = settings.repeats * 2,
        settle = crate::measure::PAUSE_SETTLE,
        background = settings.background,
        call_interval = settings.call_interval,
        concurrency = settings.concurrency,
        interval = settings.interval,
        load_time = settings.load_time,
        load_requests = settings.load_requests,
        idle_interval = IDLE_INTERVAL,
        idle_settle = settings.idle_settle(),
        idle_window = settings.idle_window,
    );
    if settings.baseline_bin.is_some() {
        text.push_str(
            "- **Baseline**: this exporter built from another revision (see \"Machine and \
             versions\"), run exactly as this exporter with its default groups, in the same \
             scenarios and windows; it is no peer for \"below every peer\".\n",
        );
    }
    text
}

/// The generated part of BENCHMARKS.md.
pub fn document(
    machine: &Machine,
    settings: &Settings,
    results: &[ScenarioResult],
    command: &str,
) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "Generated by `{command}`.\n");
    let _ = writeln!(t, "### Machine and versions\n");
    for (k, v) in &machine.lines {
        let _ = writeln!(t, "- {k}: {v}");
    }
    let _ = writeln!(t, "\n### Results\n");
    t.push_str(&table(results));
    let g = groups(results);
    if !g.is_empty() {
        let _ = writeln!(
            t,
            "\nlibvirtd's CPU in ms per collection for each statistics group on its own (bare `virsh domstats --<group> --nowait`, one window each):\n\n{g}"
        );
    }
    let i = idle(results);
    if !i.is_empty() {
        let _ = writeln!(
            t,
            "\nCPU in ms per minute while connected and collecting nothing (exporter + libvirtd; see \"Idle\" below):\n\n{i}"
        );
    }
    let p = problems(results);
    if !p.is_empty() {
        let _ = writeln!(t, "\nProblems met while measuring:\n\n{p}");
    }
    let _ = writeln!(t, "\n### How it was measured\n\n{}", method(settings));
    t
}

pub const BEGIN: &str = "<!-- bench/run.sh: generated from here -->";
pub const END: &str = "<!-- bench/run.sh: generated up to here -->";

/// Replaces the generated part of `existing` (or the whole file when it has none).
pub fn splice(existing: Option<&str>, generated: &str) -> String {
    let block = format!("{BEGIN}\n{generated}{END}\n");
    match existing {
        Some(old) => match (old.find(BEGIN), old.find(END)) {
            (Some(b), Some(e)) if b < e => {
                let rest = old[e + END.len()..].trim_start_matches('\n');
                let gap = if rest.is_empty() { "" } else { "\n" };
                format!("{}{block}{gap}{rest}", &old[..b])
            }
            _ => format!("{}\n{block}", old.trim_end()),
        },
        None => format!("# Benchmarks\n\n{block}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_keeps_what_surrounds_the_generated_part() {
        let first = splice(None, "one\n");
        assert!(first.starts_with("# Benchmarks\n"));
        let edited = format!("{first}\n## Profile\nnotes\n");
        let again = splice(Some(&edited), "two\n");
        assert!(
            again.contains("two\n") && !again.contains("one\n"),
            "{again}"
        );
        assert!(again.ends_with("## Profile\nnotes\n"), "{again}");
    }

    fn cpu(ms: f64) -> Option<Cpu> {
        Some(Cpu {
            client: ms / 1e3,
            ..Cpu::default()
        })
    }

    fn row(ms: f64, paired: &[f64]) -> SubjectResult {
        SubjectResult {
            cpu: cpu(ms),
            paired: paired.to_vec(),
            ..SubjectResult::default()
        }
    }

    fn guests(bare_ms: f64, rows: Vec<(Subject, SubjectResult)>) -> ScenarioResult {
        ScenarioResult {
            scenario: Scenario {
                label: "10 guests".into(),
                uri: "qemu:///system".into(),
                same_groups: true,
                expected: Default::default(),
                total_domains: 10,
            },
            bare: Bare {
                cpu: cpu(bare_ms),
                ..Bare::default()
            },
            subjects: rows,
        }
    }

    #[test]
    fn the_cpu_targets_use_the_paired_figures_when_every_row_has_them() {
        // against the reference row ours is 1.2 x virsh and above the Debian exporter, but
        // each in the minutes it ran: ours 1.05 x, Debian's 1.30 x
        let s = guests(
            10.0,
            vec![
                (Subject::Ours, row(12.0, &[1.2, 1.05, 1.0])),
                (Subject::Debian, row(11.0, &[1.3, 1.4, 1.3])),
            ],
        );
        let t = targets(&s, Subject::Ours);
        assert_eq!(t[0], Some(true), "paired 1.05 is within 1.1 x");
        assert_eq!(t[1], Some(true), "paired 1.05 is below the peer's 1.30");
        let table = table(&[s]);
        assert!(table.contains("| 1.05 (1.20) |"), "{table}");

        // one peer without pairs: the absolute figures decide "below every peer"
        let s = guests(
            10.0,
            vec![
                (Subject::Ours, row(12.0, &[1.05])),
                (Subject::Debian, row(11.0, &[])),
            ],
        );
        let t = targets(&s, Subject::Ours);
        assert_eq!(t[0], Some(true));
        assert_eq!(t[1], Some(false), "12 ms is not below 11 ms");

        // no pairs at all: against the reference row
        let s = guests(10.0, vec![(Subject::Ours, row(12.0, &[]))]);
        assert_eq!(targets(&s, Subject::Ours)[0], Some(false), "1.2 x");
    }

    #[test]
    fn the_baseline_row_has_verdicts_of_its_own_and_is_no_peer() {
        let s = guests(
            10.0,
            vec![
                (Subject::Ours, row(12.0, &[1.05])),
                (Subject::Baseline, row(9.0, &[0.9])),
                (Subject::Debian, row(15.0, &[1.3])),
            ],
        );
        let t = targets(&s, Subject::Ours);
        assert_eq!(
            t[1],
            Some(true),
            "below Debian's 1.30; the cheaper baseline is no peer"
        );
        let table = table(&[s]);
        let baseline = table
            .lines()
            .find(|l| l.contains("| libvirt-exporter (baseline) |"))
            .expect("a baseline row");
        assert!(
            baseline.ends_with("| 0.90 (0.90) | — | — | — / — | — / — | — | pass | pass | n/a | n/a | n/a | pass |"),
            "{baseline}"
        );

        // this exporter and its baseline alone: no peer to be below
        let s = guests(
            10.0,
            vec![
                (Subject::Ours, row(12.0, &[1.05])),
                (Subject::Baseline, row(9.0, &[0.9])),
            ],
        );
        assert_eq!(targets(&s, Subject::Ours)[1], None);
        assert_eq!(targets(&s, Subject::Baseline)[1], None);
    }

    #[test]
    fn the_baseline_is_listed_after_this_exporter() {
        let mut machine = Machine {
            lines: vec![
                ("CPU".into(), "x".into()),
                (Subject::Ours.name().into(), "0.1.0 at commit abc".into()),
                ("collectd".into(), "5".into()),
            ],
        };
        machine.add_baseline(Path::new("/nonexistent/libvirt-exporter"), Some("b29b7f1"));
        assert_eq!(
            machine.lines[2],
            (
                "libvirt-exporter (baseline)".to_string(),
                "unknown version at b29b7f1".to_string()
            )
        );
        assert_eq!(machine.lines.len(), 4);
    }
}
