//! Encoding: a snapshot becomes Prometheus text 0.0.4 and OpenMetrics 1.0, gzipped as it is
//! written (see `gzip_text`), through a prometheus-client registry with one custom collector,
//! once per cycle.

mod cap;
mod domain;
mod events;
mod exporter;
mod gzip_text;
mod host;
mod slow_results;

use crate::exposition::{Exposition, Format};
pub use crate::family;
use crate::groups::{groups, Group};
use crate::snapshot::Snapshot;
use bytes::Bytes;
use family::Kind;
use gzip_text::GzipText;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// Presents a snapshot to prometheus-client as const metrics.
#[derive(Debug, Clone)]
struct SnapshotCollector {
    snapshot: Arc<Snapshot>,
    /// The domains whose series are shown (indices); `None`: all of them.
    shown: Option<Arc<Vec<usize>>>,
    /// Series the series cap left out.
    dropped: u64,
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.snapshot;
        exporter::encode(&mut enc, s)?;
        cap::encode(&mut enc, self.dropped)?;
        let shown: Vec<_> = match &self.shown {
            None => s.domains.iter().collect(),
            Some(indices) => indices.iter().map(|&i| &s.domains[i]).collect(),
        };
        domain::encode(&mut enc, &s.domains, &shown, s.up)?;
        slow_results::encode(&mut enc, &shown)?;
        match &self.shown {
            None => events::encode(&mut enc, &s.events)?,
            Some(_) => {
                let names: std::collections::HashSet<&str> =
                    shown.iter().map(|d| d.name.as_str()).collect();
                let mut visible = s.events.clone();
                visible
                    .domains
                    .retain(|e| names.contains(e.domain.as_str()));
                events::encode(&mut enc, &visible)?
            }
        }
        host::encode(&mut enc, &s.host)
    }
}

fn registry(collector: SnapshotCollector) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector));
    registry
}

/// How to encode, beyond what the snapshot says: configuration only the encoder uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// `--web.max-series`: at most this many series per scrape; whole domains beyond it are
    /// left out (see `cap`). `None`: no cap.
    pub max_series: Option<usize>,
}

/// Encodes `snapshot` straight into gzip in the `eager` formats now (OpenMetrics if none is
/// given), and leaves the others to be encoded from it when first asked for. Under a series
/// cap that the snapshot exceeds, the first format is encoded a second time without the
/// domains that do not fit, and every format leaves them out.
pub fn encode(snapshot: Arc<Snapshot>, eager: &[Format], options: EncodeOptions) -> Exposition {
    let collected_at = snapshot.collected_at;
    let up = snapshot.up;
    let mut collector = SnapshotCollector {
        snapshot: snapshot.clone(),
        shown: None,
        dropped: 0,
    };
    let first = eager.first().copied().unwrap_or(Format::OpenMetrics);
    let mut body = gzipped(&collector, first);
    if let Some(max) = options.max_series {
        // Both formats have one line per series, so either one's count decides.
        let total = body.series();
        if total > max {
            let (shown, dropped) = cap::choose(&snapshot, total, max);
            collector.shown = Some(Arc::new(shown));
            collector.dropped = dropped;
            body = gzipped(&collector, first);
        }
    }
    let mut encoded = vec![(first, finish(body))];
    for &format in eager {
        if encoded.iter().all(|(done, _)| *done != format) {
            encoded.push((format, finish(gzipped(&collector, format))));
        }
    }
    let encoder = Box::new(move |format| finish(gzipped(&collector, format)));
    Exposition::lazy(encoded, encoder, collected_at, up)
}

/// The collector's exposition in `format`, gzipped, with its series counted.
fn gzipped(collector: &SnapshotCollector, format: Format) -> GzipText {
    let registry = registry(collector.clone());
    let mut out = GzipText::new();
    // Writing into memory cannot fail; an encoder error would be a bug in a family table.
    match format {
        Format::Text => prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
            .expect("encoding Prometheus text into memory"),
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("encoding OpenMetrics into memory"),
    }
    out
}

fn finish(out: GzipText) -> Bytes {
    Bytes::from(out.finish().expect("gzip into memory"))
}

/// Every family the exporter can expose, as (exposed name, type), for docs and tests: the
/// exporter's own, then every group's from the registry.
pub fn catalogue() -> Vec<(String, Kind)> {
    let mut all: Vec<(&str, Kind)> = exporter::FAMILIES.to_vec();
    all.extend(cap::FAMILIES.iter().copied());
    all.extend(domain::FAMILIES.iter().copied());
    all.extend(events::FAMILIES.iter().copied());
    all.extend(groups().iter().flat_map(Group::families));
    all.extend(slow_results::FAMILIES.iter().copied());
    all.into_iter()
        .map(|(name, kind)| (family::exposed_name(name, kind), kind))
        .collect()
}

#[cfg(test)]
mod tests;
