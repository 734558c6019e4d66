//! Lifecycle event families: counters per domain, event and detail, and host totals.

use crate::family::{emit, Kind, Value};
use crate::libvirt::states::event_names;
use crate::snapshot::EventStats;
use prometheus_client::encoding::DescriptorEncoder;
use std::fmt;

/// Every family this module writes, for the documentation test.
pub const FAMILIES: &[(&str, Kind)] = &[
    ("libvirt_domain_lifecycle_events", Kind::Counter),
    ("libvirt_lifecycle_events", Kind::Counter),
    ("libvirt_exporter_events_subscribed", Kind::Gauge),
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
            d.counts.iter().map(move |((e, detail), n)| {
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
    )
}
