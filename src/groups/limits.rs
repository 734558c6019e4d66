//! What the `iotune` and `iftune` groups share: a table of libvirt's limit parameters, each
//! going to one family with an optional `direction` label; decoding the limits that are set
//! and writing them.

use crate::collect::Fields;
use crate::family::{emit, Kind, Labels, Sink, Value};
use crate::snapshot::Limit;
use std::fmt;

/// One libvirt limit parameter.
pub struct Parameter {
    /// libvirt's name (`total_bytes_sec`, `inbound.average`).
    pub name: &'static str,
    /// The family it is exposed in.
    pub family: &'static str,
    /// Its `direction` label (total, read, write; inbound, outbound), if any.
    pub direction: Option<&'static str>,
    /// Factor from libvirt's unit to the family's (1024 for KiB).
    pub scale: u64,
}

/// The limits among `f` that are set (non-zero), in the families' units.
pub fn decode(table: &'static [Parameter], f: &Fields) -> Vec<Limit> {
    table
        .iter()
        .filter_map(|p| {
            let value = f.u64(p.name).filter(|v| *v > 0)?;
            Some(Limit {
                parameter: p.name,
                value: value.saturating_mul(p.scale) as f64,
            })
        })
        .collect()
}

/// Writes every family of `families` (name, help) from the limits of each device in
/// `devices` (its labels and limits), each sample with its parameter's `direction`.
pub fn encode<'a>(
    sink: &mut dyn Sink,
    families: &[(&'static str, &'static str)],
    table: &'static [Parameter],
    devices: impl Fn() -> Box<dyn Iterator<Item = (Labels, &'a [Limit])> + 'a>,
) -> fmt::Result {
    for &(family, help) in families {
        let samples = devices().flat_map(move |(labels, limits)| {
            limits.iter().filter_map(move |l| {
                let p = table.iter().find(|p| p.name == l.parameter)?;
                (p.family == family).then(|| {
                    let mut labels = labels.clone();
                    if let Some(direction) = p.direction {
                        labels.push(("direction", direction.to_string()));
                    }
                    (labels, Value::Float(l.value))
                })
            })
        });
        emit(sink, family, Kind::Gauge, help, samples)?;
    }
    Ok(())
}
