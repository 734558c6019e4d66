//! The series cap (`--web.max-series`): when an exposition would hold more series than the
//! cap, whole domains are left out, keeping domains in name order as long as they fit, and
//! `libvirt_exporter_dropped_series` says how many series went. The exporter's own families,
//! the host families and the domain counts are never left out, but they count towards the cap.

use super::{domain, slow_results};
use crate::family::{emit, Kind, Labels, Sink, Value};
use crate::snapshot::Snapshot;
use std::collections::HashMap;
use std::fmt;

/// Every family this module writes, for the documentation test.
pub const FAMILIES: &[(&str, Kind)] = &[("libvirt_exporter_dropped_series", Kind::Gauge)];

pub fn encode(sink: &mut dyn Sink, dropped: u64) -> fmt::Result {
    emit(
        sink,
        "libvirt_exporter_dropped_series",
        Kind::Gauge,
        "Series left out of this exposition by --web.max-series (whole domains), 0 when nothing was.",
        [(Labels::new(), Value::Int(dropped))],
    )
}

/// How many series each domain of the snapshot adds: its own families, its slow results and
/// its event counters.
pub fn series_per_domain(snapshot: &Snapshot) -> Vec<usize> {
    let events: HashMap<&str, usize> = snapshot
        .events
        .domains
        .iter()
        .map(|e| (e.domain.as_str(), e.counts.series()))
        .collect();
    domain::series_per_domain(&snapshot.domains)
        .into_iter()
        .zip(&snapshot.domains)
        .map(|(n, d)| {
            n + slow_results::series(d) + events.get(d.name.as_str()).copied().unwrap_or(0)
        })
        .collect()
}

/// The domains to show (indices into the snapshot's domains, in their order) and the number
/// of series left out, for an exposition of `total` series under a cap of `max`.
pub fn choose(snapshot: &Snapshot, total: usize, max: usize) -> (Vec<usize>, u64) {
    let domains = &snapshot.domains;
    let per_domain = series_per_domain(snapshot);
    let domain_series: usize = per_domain.iter().sum();
    let budget = max.saturating_sub(total.saturating_sub(domain_series));
    let mut by_name: Vec<usize> = (0..domains.len()).collect();
    by_name.sort_by(|&a, &b| domains[a].name.cmp(&domains[b].name));
    let mut used = 0;
    let mut shown = Vec::new();
    for i in by_name {
        if used + per_domain[i] > budget {
            break;
        }
        used += per_domain[i];
        shown.push(i);
    }
    shown.sort_unstable();
    (shown, (domain_series - used) as u64)
}
