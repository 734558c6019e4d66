//! The side-by-side benchmark of issue 7: this exporter, Debian's prometheus-libvirt-exporter and
//! Debian's collectd (virt + write_prometheus) on the same guests in one run; with
//! `--baseline-exporter` also this exporter built from another revision, and with `--only` just
//! the exporters named (`select.rs`).
//!
//! `bench/run.sh` prepares the host (lab, packages, release build) and runs this driver, which
//! sizes the bench guests through `bench/guests.sh`, writes the test-driver node, measures every
//! exporter in turn (`measure.rs`), prints the markdown table and writes it into BENCHMARKS.md
//! (`report.rs`). Only `bench/run.sh` is meant to start it.

mod calls;
mod expo;
mod http;
mod measure;
mod procfs;
mod report;
mod select;
mod subjects;

use anyhow::{bail, Context};
use clap::{parser::ValueSource, value_parser, Arg, ArgAction, Command as Cli};
use measure::{log, Scenario, Settings};
use report::{Machine, ScenarioResult};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use subjects::Subject;

const QEMU_URI: &str = "qemu:///system";

fn cli() -> Cli {
    Cli::new("compare")
        .about("Benchmarks this exporter against Debian's libvirt exporter and collectd (run bench/run.sh)")
        .arg(Arg::new("sizes").long("sizes").default_value("10,100").help("Running bench guests per scenario, comma-separated (empty: none)"))
        .arg(Arg::new("test-domains").long("test-domains").default_value("1000").value_parser(value_parser!(usize)).help("Domains of the test-driver node scenario (0: skip it)"))
        .arg(Arg::new("out").long("out").default_value("BENCHMARKS.md").help("Markdown file whose generated part is replaced"))
        .arg(Arg::new("state-dir").long("state-dir").default_value("/run/libvirt-exporter-bench"))
        .arg(Arg::new("guests").long("guests").default_value("bench/guests.sh").help("Script that sizes the bench guests"))
        .arg(Arg::new("exporter").long("exporter").default_value("target/release/libvirt-exporter"))
        .arg(Arg::new("baseline-exporter").long("baseline-exporter").value_name("PATH").help("This exporter built from another revision, measured like it as \"libvirt-exporter (baseline)\" (bench/run.sh --baseline REV builds it)"))
        .arg(Arg::new("baseline-label").long("baseline-label").value_name("TEXT").help("What the baseline is, for the report (bench/run.sh: its revision and commit)"))
        .arg(Arg::new("only").long("only").value_name("NAMES").help("Measure only these exporters, in this order: comma-separated of ours, baseline, ours-peerstats, debian, collectd (the table is then only printed, unless --out is given)"))
        .arg(Arg::new("interval").long("interval").default_value("500ms").help("Collection interval of this exporter and collectd"))
        .arg(Arg::new("collections").long("collections").default_value("12").value_parser(value_parser!(u32).range(1..)))
        .arg(Arg::new("repeats").long("repeats").default_value("5").value_parser(value_parser!(u32).range(1..)))
        .arg(Arg::new("concurrency").long("concurrency").default_value("4").value_parser(value_parser!(usize)))
        .arg(Arg::new("load-time").long("load-time").default_value("3s"))
        .arg(Arg::new("load-requests").long("load-requests").default_value("20000").value_parser(value_parser!(usize)))
        .arg(Arg::new("call-cycles").long("call-cycles").default_value("3").value_parser(value_parser!(u32).range(1..)))
        .arg(Arg::new("call-interval").long("call-interval").default_value("2s").help("Interval of the call-counting runs (2x above 200 domains)"))
        .arg(Arg::new("ready-timeout").long("ready-timeout").default_value("90s"))
        .arg(Arg::new("command").long("command").default_value("bench/run.sh").help("How the run was started, for the report"))
        .arg(Arg::new("prefix").long("prefix").default_value("bench").help("Name prefix of the bench guests (as BENCH_PREFIX of bench/guests.sh)"))
        .arg(Arg::new("background").long("background").default_value("1s").help("How long libvirtd's background is measured before and after each CPU window"))
        .arg(Arg::new("idle-window").long("idle-window").default_value("30s").help("How long idle exporters are watched (guest scenarios)"))
        .arg(Arg::new("no-write").long("no-write").action(ArgAction::SetTrue).help("Print the table only"))
}

fn duration(m: &clap::ArgMatches, name: &str) -> anyhow::Result<Duration> {
    let v: &String = m.get_one(name).expect("has a default");
    humantime::parse_duration(v)
        .with_context(|| format!("--{name}: {v:?} is not a duration like 500ms or 3s"))
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let m = cli().get_matches();
    let sizes: Vec<usize> = m
        .get_one::<String>("sizes")
        .expect("default")
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse()
                .with_context(|| format!("--sizes: {s:?} is not a number"))
        })
        .collect::<anyhow::Result<_>>()?;
    if sizes.iter().any(|n| *n == 0 || *n > 999) {
        bail!("--sizes: each size must be between 1 and 999 guests");
    }
    let test_domains: usize = *m.get_one("test-domains").expect("default");
    let state_dir = PathBuf::from(m.get_one::<String>("state-dir").expect("default"));
    fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create {}", state_dir.display()))?;
    let baseline_bin = m.get_one::<String>("baseline-exporter").map(PathBuf::from);
    let subjects = select::subjects(
        m.get_one::<String>("only").map(String::as_str),
        baseline_bin.is_some(),
    )?;
    let settings = Settings {
        exporter_bin: PathBuf::from(m.get_one::<String>("exporter").expect("default")),
        baseline_bin,
        state_dir: state_dir.clone(),
        interval: duration(&m, "interval")?,
        collections: *m.get_one("collections").expect("default"),
        repeats: *m.get_one("repeats").expect("default"),
        concurrency: *m.get_one("concurrency").expect("default"),
        load_time: duration(&m, "load-time")?,
        load_requests: *m.get_one("load-requests").expect("default"),
        call_cycles: *m.get_one("call-cycles").expect("default"),
        call_interval: duration(&m, "call-interval")?,
        ready_timeout: duration(&m, "ready-timeout")?,
        background: duration(&m, "background")?,
        idle_window: duration(&m, "idle-window")?,
    };
    if !settings.exporter_bin.is_file() {
        bail!(
            "no exporter binary at {} (cargo build --release)",
            settings.exporter_bin.display()
        );
    }
    if let Some(bin) = settings.baseline_bin.as_ref().filter(|b| !b.is_file()) {
        bail!(
            "no baseline exporter binary at {} (bench/run.sh --baseline REV builds one)",
            bin.display()
        );
    }
    let guests = PathBuf::from(m.get_one::<String>("guests").expect("default"));
    let prefix = m.get_one::<String>("prefix").expect("default").clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;

    let mut machine = Machine::detect();
    if let Some(bin) = &settings.baseline_bin {
        let label = m.get_one::<String>("baseline-label");
        machine.add_baseline(bin, label.map(String::as_str));
    }
    let mut results = Vec::new();
    for &n in &sizes {
        log(format!("scenario: {n} running bench guests"));
        set_guests(&guests, &prefix, n)?;
        let expected: BTreeSet<String> = (1..=n).map(|i| format!("{prefix}-{i:03}")).collect();
        let scenario = Scenario {
            label: format!("{n} guests"),
            uri: QEMU_URI.into(),
            same_groups: true,
            expected,
            total_domains: count_domains(QEMU_URI)?,
        };
        results.push(measure_all(&rt, &settings, &subjects, scenario));
    }
    if !sizes.is_empty() {
        set_guests(&guests, &prefix, 0)?;
    }
    if test_domains > 0 {
        log(format!(
            "scenario: test-driver node with {test_domains} domains"
        ));
        let path = state_dir.join(format!("node-{test_domains}.xml"));
        let expected = write_test_node(&path, test_domains)?;
        // Through libvirtd, like a hypervisor: see report::method.
        let uri = format!("test+unix://{}", path.display());
        let scenario = Scenario {
            label: format!("{test_domains} test-driver domains"),
            total_domains: count_domains(&uri)?,
            uri,
            same_groups: false,
            expected,
        };
        results.push(measure_all(&rt, &settings, &subjects, scenario));
    }

    let command = m.get_one::<String>("command").expect("default");
    let doc = report::document(&machine, &settings, &results, command);
    println!("{doc}");
    let out_given = m.value_source("out") == Some(ValueSource::CommandLine);
    if select::writes_report(&subjects, m.get_flag("no-write"), out_given) {
        let out = PathBuf::from(m.get_one::<String>("out").expect("default"));
        let existing = fs::read_to_string(&out).ok();
        fs::write(&out, report::splice(existing.as_deref(), &doc))
            .with_context(|| format!("cannot write {}", out.display()))?;
        log(format!("wrote {}", out.display()));
    } else if !m.get_flag("no-write") {
        log("a comparison of chosen exporters is only printed (--out FILE writes it)");
    }
    Ok(())
}

fn measure_all(
    rt: &tokio::runtime::Runtime,
    settings: &Settings,
    subjects: &[Subject],
    scenario: Scenario,
) -> ScenarioResult {
    log(format!(
        "{}: {} domains on {}",
        scenario.label, scenario.total_domains, scenario.uri
    ));
    let mut bare = measure::bare(settings, &scenario, true);
    let subjects = subjects
        .iter()
        .map(|s| (*s, measure::subject(rt, settings, &scenario, *s)))
        .collect();
    bare.merge(measure::bare(settings, &scenario, false));
    ScenarioResult {
        scenario,
        bare,
        subjects,
    }
}

/// Makes exactly `n` bench guests run (0: none), through the guests script.
fn set_guests(script: &Path, prefix: &str, n: usize) -> anyhow::Result<()> {
    let status = Command::new("bash")
        .env("BENCH_PREFIX", prefix)
        .arg(script)
        .arg("set")
        .arg(n.to_string())
        .status()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !status.success() {
        bail!("{} set {n} failed ({status})", script.display());
    }
    Ok(())
}

fn count_domains(uri: &str) -> anyhow::Result<usize> {
    let out = Command::new("virsh")
        .args(["-q", "-c", uri, "list", "--all", "--name"])
        .output()
        .context("cannot run virsh")?;
    if !out.status.success() {
        bail!(
            "virsh list on {uri}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count())
}

/// A test-driver node of `n` running domains `bench-0001`…, each with one disk and one NIC.
fn write_test_node(path: &Path, n: usize) -> anyhow::Result<BTreeSet<String>> {
    let mut xml = String::from("<node>\n<cpu><mhz>2400</mhz><model>x86_64</model><active>16</active><nodes>1</nodes><sockets>1</sockets><cores>16</cores><threads>1</threads></cpu>\n<memory>268435456</memory>\n");
    let mut names = BTreeSet::new();
    for i in 1..=n {
        let name = format!("bench-{i:04}");
        let _ = writeln!(
            xml,
            "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'><source file='/var/lib/bench/{name}.qcow2'/><target dev='vda' bus='virtio'/></disk><interface type='network'><mac address='52:54:00:be:{:02x}:{:02x}'/><source network='default'/><target dev='tapb{i}'/><model type='virtio'/></interface></devices><test:runstate>1</test:runstate></domain>",
            i / 256,
            i % 256
        );
        names.insert(name);
    }
    xml.push_str("</node>\n");
    fs::write(path, xml).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(names)
}
