//! A metric family as data: name, type, help and how to read its value from a snapshot item.
//!
//! Each statistics group declares its families in tables (see `groups/block.rs`), so the
//! encoder, the documentation test, the series cap and the catalogue all read one list.

use crate::snapshot::DomainStats;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use std::fmt;

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    /// Exposed with a `_total` suffix, which the name must not carry.
    Counter,
    /// Exposed with an `_info` suffix and the value 1; the attributes are labels.
    Info,
}

/// A sample's value: integers stay exact, the rest is a float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(u64),
    Float(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(v.into())
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(v.into())
    }
}

/// A table entry: `family!(name, kind, help, |item: Type| Option<value>)`.
macro_rules! family {
    ($name:literal, $kind:expr, $help:literal, |$x:ident: $t:ty| $value:expr) => {
        $crate::family::Family::<$t> {
            name: $name,
            kind: $kind,
            help: $help,
            value: |$x: &$t| $value.map($crate::family::Value::from),
        }
    };
}
pub(crate) use family;

/// A family whose value comes from an item of type `T` (a domain, a disk, a vCPU...).
pub struct Family<T> {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    pub value: fn(&T) -> Option<Value>,
}

/// Labels of one sample.
pub type Labels = Vec<(&'static str, String)>;

/// The name a family is exposed under (with `_total` or `_info` added).
pub fn exposed_name(name: &str, kind: Kind) -> String {
    match kind {
        Kind::Gauge => name.to_string(),
        Kind::Counter => format!("{name}_total"),
        Kind::Info => format!("{name}_info"),
    }
}

/// Where a family's samples go: the exposition, or a count of series (for the series cap).
pub trait Sink {
    fn family(
        &mut self,
        name: &str,
        kind: Kind,
        help: &str,
        samples: &mut dyn Iterator<Item = (Labels, Value)>,
    ) -> fmt::Result;
}

impl Sink for DescriptorEncoder<'_> {
    fn family(
        &mut self,
        name: &str,
        kind: Kind,
        help: &str,
        samples: &mut dyn Iterator<Item = (Labels, Value)>,
    ) -> fmt::Result {
        write_samples(self, name, kind, help, samples)
    }
}

/// Counts the series of each domain (by the `domain` label); other series are not counted.
#[derive(Debug, Default)]
pub struct DomainSeriesCounter {
    pub per_domain: std::collections::HashMap<String, usize>,
}

impl Sink for DomainSeriesCounter {
    fn family(
        &mut self,
        _: &str,
        _: Kind,
        _: &str,
        samples: &mut dyn Iterator<Item = (Labels, Value)>,
    ) -> fmt::Result {
        for (labels, _) in samples {
            if let Some((_, domain)) = labels.iter().find(|(k, _)| *k == "domain") {
                *self.per_domain.entry(domain.clone()).or_default() += 1;
            }
        }
        Ok(())
    }
}

/// Sends one family's ready samples to `sink`.
pub fn emit(
    sink: &mut dyn Sink,
    name: &str,
    kind: Kind,
    help: &str,
    samples: impl IntoIterator<Item = (Labels, Value)>,
) -> fmt::Result {
    sink.family(name, kind, help, &mut samples.into_iter())
}

/// Sends one table family over `items` to `sink`.
pub fn emit_family<'i, T: 'i>(
    sink: &mut dyn Sink,
    family: &Family<T>,
    items: impl IntoIterator<Item = (Labels, &'i T)>,
) -> fmt::Result {
    let samples = items
        .into_iter()
        .filter_map(|(labels, item)| Some((labels, (family.value)(item)?)));
    emit(sink, family.name, family.kind, family.help, samples)
}

/// Writes one family from ready samples; nothing at all when there are none.
fn write_samples(
    enc: &mut DescriptorEncoder,
    name: &str,
    kind: Kind,
    help: &str,
    samples: impl IntoIterator<Item = (Labels, Value)>,
) -> fmt::Result {
    let mut samples = samples.into_iter().peekable();
    if samples.peek().is_none() {
        return Ok(());
    }
    let metric_type = match kind {
        Kind::Gauge => MetricType::Gauge,
        Kind::Counter => MetricType::Counter,
        Kind::Info => MetricType::Info,
    };
    let mut metric = enc.encode_descriptor(name, help, None, metric_type)?;
    for (labels, value) in samples {
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let labels = labels.as_slice();
        if kind == Kind::Info {
            metric.encode_info(&labels)?;
            continue;
        }
        let mut sample = metric.encode_family(&labels)?;
        match (kind, value) {
            (Kind::Counter, Value::Int(v)) => {
                sample.encode_counter::<NoLabelSet, _, u64>(&v, None)?
            }
            (Kind::Counter, Value::Float(v)) => {
                sample.encode_counter::<NoLabelSet, _, u64>(&v, None)?
            }
            (_, Value::Int(v)) => sample.encode_gauge(&v)?,
            (_, Value::Float(v)) => sample.encode_gauge(&v)?,
        }
    }
    Ok(())
}

/// The (name, type) of every family of a table, for the catalogue.
pub fn catalogue<T>(table: &[Family<T>]) -> impl Iterator<Item = (&'static str, Kind)> + '_ {
    table.iter().map(|f| (f.name, f.kind))
}

/// The labels of a series about a whole domain.
pub fn domain_label(d: &DomainStats) -> Labels {
    vec![("domain", d.name.clone())]
}

/// The labels of a series about one device (disk, NIC) of a domain.
pub fn device_labels(d: &DomainStats, device: &str) -> Labels {
    vec![
        ("domain", d.name.clone()),
        ("target_device", device.to_string()),
    ]
}

/// Sends every family of a per-domain table over `domains`, one series per domain.
pub fn emit_per_domain(
    sink: &mut dyn Sink,
    table: &[Family<DomainStats>],
    domains: &[&DomainStats],
) -> fmt::Result {
    for f in table {
        emit_family(sink, f, domains.iter().map(|&d| (domain_label(d), d)))?;
    }
    Ok(())
}

/// An optional label value: empty when unknown.
pub fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// An optional yes/no label value: `true`, `false`, or empty when unknown.
pub fn yes_no(v: Option<bool>) -> String {
    v.map(|b| b.to_string()).unwrap_or_default()
}
