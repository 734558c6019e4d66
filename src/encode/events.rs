//! Domain event families: lifecycle counters per domain, event and detail, and host totals;
//! disk I/O error, block threshold and block job counters per domain and disk.

use crate::family::{emit, Kind, Value};
use crate::groups::blockjob::job_type_name;
use crate::libvirt::states::{event_names, name_or_number, BLOCK_JOB_STATUSES, IO_ERROR_ACTIONS};
use crate::snapshot::{DomainEvents, EventStats};
use prometheus_client::encoding::DescriptorEncoder;
use std::fmt;

/// Every family this module writes, for the documentation test.
pub const FAMILIES: &[(&str, Kind)] = &[
    ("libvirt_domain_lifecycle_events", Kind::Counter),
    ("libvirt_lifecycle_events", Kind::Counter),
    ("libvirt_exporter_events_subscribed", Kind::Gauge),
    ("libvirt_domain_block_io_error_events", Kind::Counter),
    ("libvirt_domain_block_threshold_events", Kind::Counter),
    ("libvirt_domain_block_job_events", Kind::Counter),
];

pub fn encode(enc: &mut DescriptorEncoder, events: &EventStats) -> fmt::Result {
    emit(
        enc,
        "libvirt_exporter_events_subscribed",
        Kind::Gauge,
        "Whether the libvirt connection delivers domain lifecycle events (1) or not (0).",
        [(Vec::new(), Value::from(events.subscribed))],
    )?;
    emit(
        enc,
        "libvirt_domain_lifecycle_events",
        Kind::Counter,
        "Lifecycle events of the domain since the exporter started, by event and detail (stopped/crashed, stopped/destroyed, suspended/ioerror...).",
        events.domains.iter().flat_map(|d| {
            d.counts.lifecycle.iter().map(move |((e, detail), n)| {
                let (event, detail) = event_names(*e, *detail);
                let labels = vec![
                    ("domain", d.domain.clone()),
                    ("event", event.to_string()),
                    ("detail", detail.to_string()),
                ];
                (labels, Value::Int(*n))
            })
        }),
    )?;
    emit(
        enc,
        "libvirt_lifecycle_events",
        Kind::Counter,
        "Lifecycle events of all domains since the exporter started, by event and detail; kept after a domain is gone.",
        events.host.iter().map(|((e, detail), n)| {
            let (event, detail) = event_names(*e, *detail);
            let labels = vec![("event", event.to_string()), ("detail", detail.to_string())];
            (labels, Value::Int(*n))
        }),
    )?;
    encode_disk_events(enc, &events.domains)
}

fn encode_disk_events(enc: &mut DescriptorEncoder, domains: &[DomainEvents]) -> fmt::Result {
    let disk = |d: &DomainEvents, target: &str| {
        vec![
            ("domain", d.domain.clone()),
            ("target_device", target.to_string()),
        ]
    };
    emit(
        enc,
        "libvirt_domain_block_io_error_events",
        Kind::Counter,
        "I/O errors on the disk since the exporter started, by what was done (pause, report, none) and reason (enospc, unspecified).",
        domains.iter().flat_map(|d| {
            d.counts.block_io_errors.iter().map(move |(e, n)| {
                let mut labels = disk(d, &e.target_device);
                labels.push(("action", name_or_number(&IO_ERROR_ACTIONS, e.action)));
                labels.push(("reason", e.reason.clone()));
                (labels, Value::Int(*n))
            })
        }),
    )?;
    emit(
        enc,
        "libvirt_domain_block_threshold_events",
        Kind::Counter,
        "Writes past the disk's write threshold since the exporter started (libvirt clears the threshold each time); 0 from when a threshold is seen set.",
        domains.iter().flat_map(|d| {
            d.counts
                .block_thresholds
                .iter()
                .map(move |(target, n)| (disk(d, target), Value::Int(*n)))
        }),
    )?;
    emit(
        enc,
        "libvirt_domain_block_job_events",
        Kind::Counter,
        "Block jobs of the disk that ended since the exporter started, by type and status (completed, failed, canceled), and copies or active commits that became ready to pivot (ready).",
        domains.iter().flat_map(|d| {
            d.counts.block_jobs.iter().map(move |(j, n)| {
                let mut labels = disk(d, &j.target_device);
                labels.push(("type", job_type_name(j.job_type)));
                labels.push(("status", name_or_number(&BLOCK_JOB_STATUSES, j.status)));
                (labels, Value::Int(*n))
            })
        }),
    )
}
