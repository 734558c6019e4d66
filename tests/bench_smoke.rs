//! The benchmark's smoke run, `bench/run.sh --smoke`: two guests and a 10-domain test-driver
//! node, a few seconds per exporter. It checks that the benchmark still measures every exporter
//! and that each one names every bench domain; the numbers themselves belong to BENCHMARKS.md,
//! not to a test.

mod common;

use std::path::PathBuf;
use std::process::Command;

/// The table rows of one scenario, split into cells.
fn rows<'a>(table: &'a str, scenario: &str) -> Vec<Vec<&'a str>> {
    table
        .lines()
        .filter(|l| l.starts_with(&format!("| {scenario} (")))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect()
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn the_smoke_run_measures_every_exporter_on_every_domain() {
    // `cargo test` builds examples only as tests: build the driver itself, next to the exporter
    // binary (the build lock is free while tests run; only the example is left to compile)
    let exporter = PathBuf::from(env!("CARGO_BIN_EXE_libvirt-exporter"));
    let profile_dir = exporter.parent().unwrap();
    let mut build = vec!["build", "--example", "compare"];
    if profile_dir.ends_with("release") {
        build.push("--release");
    }
    let built = Command::new(env!("CARGO"))
        .args(&build)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        built.status.success(),
        "cargo build --example compare failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let driver = profile_dir.join("examples/compare");
    let state = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .args(["bench/run.sh", "--smoke"])
        .env("BENCH_EXPORTER", &exporter)
        .env("BENCH_DRIVER", &driver)
        .env("BENCH_STATE_DIR", state.path())
        .env("BENCH_SKIP_SETUP", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("bash runs");
    let table = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench/run.sh --smoke failed:\n{log}\n{table}"
    );

    for (scenario, domains) in [("2 guests", 2), ("10 test-driver domains", 10)] {
        let rows = rows(&table, scenario);
        let names: Vec<&str> = rows.iter().map(|r| r[1]).collect();
        assert_eq!(
            names,
            [
                "bare `virsh domstats` (the limit)",
                "libvirt-exporter (this)",
                "libvirt-exporter (this), the peers' statistics",
                "prometheus-libvirt-exporter",
                "collectd virt + write_prometheus"
            ],
            "{table}"
        );
        // virsh: a CPU figure; every exporter: all bench domains, a CPU figure, scrapes served
        assert!(
            rows[0][3].parse::<f64>().is_ok() || rows[0][3].contains(" ("),
            "{table}"
        );
        for row in &rows[1..] {
            let reported = format!("{domains} of {domains} ");
            assert!(
                row[2].starts_with(&reported),
                "{} reported {}:\n{table}",
                row[1],
                row[2]
            );
            assert_ne!(row[3], "—", "{} has no CPU figure:\n{table}\n{log}", row[1]);
            assert_ne!(
                row[7], "— / —",
                "{} served no scrape:\n{table}\n{log}",
                row[1]
            );
        }
    }
    // on the guests each exporter's windows are paired with virsh windows of their own: the
    // paired ratio, then the ratio to the reference row in parentheses; on the test-driver
    // node (not the same work as virsh's call) only the latter
    let paired = |cell: &str| {
        let (p, rest) = cell.split_once(" (")?;
        p.parse::<f64>().ok()?;
        rest.strip_suffix(')')?.parse::<f64>().ok()
    };
    for row in &rows(&table, "2 guests")[1..] {
        assert!(
            paired(row[4]).is_some(),
            "{}: no paired ratio in {:?}\n{table}\n{log}",
            row[1],
            row[4]
        );
    }
    for row in &rows(&table, "10 test-driver domains")[1..] {
        assert!(row[4].parse::<f64>().is_ok(), "{}: {:?}", row[1], row[4]);
    }
    // On QEMU a steady cycle of this exporter is the one bulk call: the domain lists are read
    // again only when the domains change or a minute passed, and a domain without a job is
    // asked about it only once per `--collector.job.interval` (60 s).
    let calls = "1 (1 RPC);";
    for row in &rows(&table, "2 guests")[1..3] {
        assert!(
            row[5].starts_with(calls),
            "{}: {} not {calls}\n{table}",
            row[1],
            row[5]
        );
    }
    // idle between collections: a figure for virsh and every exporter on the guests (the
    // per-group table's row has no " + ")
    let idle: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("| 2 guests | ") && l.contains(" + "))
        .collect();
    assert_eq!(idle.len(), 1, "one idle row:\n{table}");
    let cells: Vec<&str> = idle[0]
        .trim_matches('|')
        .split(" | ")
        .map(str::trim)
        .collect();
    assert_eq!(cells.len(), 5, "virsh and three exporters: {cells:?}");
    assert!(
        cells[1..].iter().all(|c| c.contains(" + ")),
        "an idle figure is missing: {cells:?}\n{log}"
    );
    // the guests are gone again
    let left = common::virsh("qemu:///system", &["list", "--all", "--name"]);
    assert!(
        !left.lines().any(|l| l.starts_with("benchsmoke-")),
        "{left}"
    );
}
