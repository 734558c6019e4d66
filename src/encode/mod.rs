//! Encoding: a snapshot becomes Prometheus text 0.0.4 and OpenMetrics 1.0 bytes (plain and
//! gzipped), through a prometheus-client registry with one custom collector, once per cycle.

mod domain;
mod events;
mod exporter;
pub mod family;
mod host;
pub mod states;

use crate::exposition::Exposition;
use crate::snapshot::Snapshot;
use bytes::Bytes;
use family::Kind;
use flate2::{write::GzEncoder, Compression};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;
use std::io::Write;
use std::sync::Arc;

/// Presents a snapshot to prometheus-client as const metrics.
#[derive(Debug)]
struct SnapshotCollector(Arc<Snapshot>);

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        exporter::encode(&mut enc, &self.0)?;
        domain::encode(&mut enc, &self.0.domains)?;
        events::encode(&mut enc, &self.0.events)?;
        host::encode(&mut enc, &self.0.host)
    }
}

/// Encodes `snapshot` in every format the server offers.
pub fn encode(snapshot: Arc<Snapshot>) -> Exposition {
    let collected_at = snapshot.collected_at;
    let up = snapshot.up;
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(snapshot)));
    let mut text = String::new();
    let mut openmetrics = String::new();
    // Writing into a String cannot fail; an encoder error would be a bug in a family table.
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
        .expect("encoding Prometheus text into a String");
    prometheus_client::encoding::text::encode(&mut openmetrics, &registry)
        .expect("encoding OpenMetrics into a String");
    Exposition {
        text_gzip: gzip(text.as_bytes()),
        openmetrics_gzip: gzip(openmetrics.as_bytes()),
        text: exact_bytes(text),
        openmetrics: exact_bytes(openmetrics),
        collected_at,
        up,
    }
}

/// The string's bytes without the spare capacity it grew into (up to half of it), which would
/// otherwise stay allocated for as long as the exposition is published. (The gzip buffers are
/// trimmed the same way.)
fn exact_bytes(s: String) -> Bytes {
    Bytes::from(s.into_bytes().into_boxed_slice())
}

fn gzip(data: &[u8]) -> Bytes {
    let mut gz = GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::fast());
    gz.write_all(data).expect("gzip into memory");
    Bytes::from(gz.finish().expect("gzip into memory").into_boxed_slice())
}

/// Every family the exporter can expose, as (exposed name, type), for docs and tests.
pub fn catalogue() -> Vec<(String, Kind)> {
    let mut all: Vec<(&str, Kind)> = exporter::FAMILIES.to_vec();
    all.extend(domain::OTHER_FAMILIES.iter().copied());
    all.extend(events::FAMILIES.iter().copied());
    all.extend(host::FAMILIES.iter().copied());
    all.extend(domain::DOMAIN_FAMILIES.iter().map(|f| (f.name, f.kind)));
    all.extend(domain::VCPU_FAMILIES.iter().map(|f| (f.name, f.kind)));
    all.extend(domain::BLOCK_FAMILIES.iter().map(|f| (f.name, f.kind)));
    all.extend(domain::INTERFACE_FAMILIES.iter().map(|f| (f.name, f.kind)));
    all.extend(domain::IOTHREAD_FAMILIES.iter().map(|f| (f.name, f.kind)));
    all.into_iter()
        .map(|(name, kind)| (family::exposed_name(name, kind), kind))
        .collect()
}

#[cfg(test)]
mod tests;
