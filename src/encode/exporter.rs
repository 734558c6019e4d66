//! The exporter's own families: libvirt reachability, collector timings, build info,
//! collection timestamps and process statistics.

use crate::family::{emit, Kind, Labels, Value};
use crate::snapshot::Snapshot;
use prometheus_client::encoding::DescriptorEncoder;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Every family this module writes, for the documentation test.
pub const FAMILIES: &[(&str, Kind)] = &[
    ("libvirt_up", Kind::Gauge),
    ("libvirt_exporter_build", Kind::Info),
    ("libvirt_exporter_collector_duration_seconds", Kind::Gauge),
    ("libvirt_exporter_collector_success", Kind::Gauge),
    (
        "libvirt_exporter_last_collection_timestamp_seconds",
        Kind::Gauge,
    ),
    (
        "libvirt_exporter_last_success_timestamp_seconds",
        Kind::Gauge,
    ),
    ("libvirt_exporter_incomplete_domains", Kind::Gauge),
    ("libvirt_exporter_collections", Kind::Counter),
    ("libvirt_exporter_collection_failures", Kind::Counter),
    ("libvirt_exporter_web_config_reload_success", Kind::Gauge),
    (
        "libvirt_exporter_web_config_last_reload_success_timestamp_seconds",
        Kind::Gauge,
    ),
    ("process_resident_memory_bytes", Kind::Gauge),
    ("process_virtual_memory_bytes", Kind::Gauge),
    ("process_cpu_seconds", Kind::Counter),
    ("process_open_fds", Kind::Gauge),
    ("process_max_fds", Kind::Gauge),
    ("process_start_time_seconds", Kind::Gauge),
];

/// Reasons a domain is reported in part; each is always exposed, at 0 when none.
pub const INCOMPLETE_REASONS: &[&str] = &["busy", "error", "vanished"];

const SNAPSHOT_NOTE: &str =
    "Collected in the background every --collect.interval, not at scrape time.";

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn one(value: impl Into<Value>) -> [(Labels, Value); 1] {
    [(Labels::new(), value.into())]
}

pub fn encode(enc: &mut DescriptorEncoder, s: &Snapshot) -> fmt::Result {
    emit(
        enc,
        "libvirt_up",
        Kind::Gauge,
        "Whether the last collection reached libvirt (1) or not (0). Collected in the background every --collect.interval, not at scrape time.",
        one(s.up),
    )?;
    let e = &s.exporter;
    let build = vec![
        ("version", e.version.clone()),
        (
            "libvirt_library",
            e.libvirt_library_version.clone().unwrap_or_default(),
        ),
    ];
    emit(
        enc,
        "libvirt_exporter_build",
        Kind::Info,
        "Version of the exporter and of the libvirt library it is linked with.",
        [(build, Value::Int(1))],
    )?;
    let by_collector = |o: &crate::snapshot::CollectorOutcome| vec![("collector", o.name.clone())];
    emit(
        enc,
        "libvirt_exporter_collector_duration_seconds",
        Kind::Gauge,
        "Time the collector took in the last cycle, in seconds.",
        s.collectors
            .iter()
            .map(|o| (by_collector(o), o.duration.as_secs_f64().into())),
    )?;
    emit(
        enc,
        "libvirt_exporter_collector_success",
        Kind::Gauge,
        "Whether the collector succeeded in the last cycle (1) or not (0).",
        s.collectors
            .iter()
            .map(|o| (by_collector(o), o.success.into())),
    )?;
    let stamp = |t: Option<SystemTime>| t.map(|t| one(unix_seconds(t))).into_iter().flatten();
    let help =
        format!("When the last collection cycle started, as a Unix timestamp. {SNAPSHOT_NOTE}");
    emit(
        enc,
        "libvirt_exporter_last_collection_timestamp_seconds",
        Kind::Gauge,
        &help,
        stamp(s.collected_at),
    )?;
    let help = format!(
        "When a collection cycle last reached libvirt, as a Unix timestamp. {SNAPSHOT_NOTE}"
    );
    emit(
        enc,
        "libvirt_exporter_last_success_timestamp_seconds",
        Kind::Gauge,
        &help,
        stamp(s.last_success),
    )?;
    emit(
        enc,
        "libvirt_exporter_incomplete_domains",
        Kind::Gauge,
        "Domains reported with less than asked in the last cycle, by reason (busy with a job, an error, vanished during the cycle).",
        INCOMPLETE_REASONS.iter().map(|r| {
            let n = s.domain_errors.get(*r).copied().unwrap_or(0);
            (vec![("reason", r.to_string())], Value::Int(n))
        }),
    )?;
    emit(
        enc,
        "libvirt_exporter_collections",
        Kind::Counter,
        "Collection cycles finished since the exporter started.",
        one(e.cycles),
    )?;
    emit(
        enc,
        "libvirt_exporter_collection_failures",
        Kind::Counter,
        "Collection cycles that could not reach libvirt.",
        one(e.failed_cycles),
    )?;
    emit(
        enc,
        "libvirt_exporter_web_config_reload_success",
        Kind::Gauge,
        "Whether the latest version of --web.config.file is in force (1) or was refused (0), in which case the last good one still is.",
        e.web_config_reload_success.map(one).into_iter().flatten(),
    )?;
    emit(
        enc,
        "libvirt_exporter_web_config_last_reload_success_timestamp_seconds",
        Kind::Gauge,
        "When a version of --web.config.file was last taken into use, as a Unix timestamp.",
        e.web_config_last_reload_success_seconds
            .map(one)
            .into_iter()
            .flatten(),
    )?;
    let opt = |v: Option<u64>| v.map(one).into_iter().flatten();
    emit(
        enc,
        "process_resident_memory_bytes",
        Kind::Gauge,
        "Resident memory size in bytes.",
        opt(e.resident_memory_bytes),
    )?;
    emit(
        enc,
        "process_virtual_memory_bytes",
        Kind::Gauge,
        "Virtual memory size in bytes.",
        opt(e.virtual_memory_bytes),
    )?;
    emit(
        enc,
        "process_cpu_seconds",
        Kind::Counter,
        "User and system CPU time spent, in seconds.",
        e.cpu_seconds.map(one).into_iter().flatten(),
    )?;
    emit(
        enc,
        "process_open_fds",
        Kind::Gauge,
        "Number of open file descriptors.",
        opt(e.open_fds),
    )?;
    emit(
        enc,
        "process_max_fds",
        Kind::Gauge,
        "Maximum number of open file descriptors.",
        opt(e.max_fds),
    )?;
    emit(
        enc,
        "process_start_time_seconds",
        Kind::Gauge,
        "Start time of the process since the Unix epoch, in seconds.",
        e.start_time_seconds.map(one).into_iter().flatten(),
    )?;
    Ok(())
}
