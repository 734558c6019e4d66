//! The opt-in `perf` group: the perf events enabled on a domain, each in its own unit.
//!
//! libvirt reports these only for events enabled on the domain (`virsh perf DOMAIN --enable
//! cpu_cycles`); there is no per-domain fallback. The two software clocks count nanoseconds
//! (exposed as seconds), `cmt` is a size and `mbmt`/`mbml` are rates (Intel RDT); every other
//! event is a count, in one family labelled by event.

use crate::collect::{fields::ns_to_seconds, DomainCollector, FallbackContext, Fields};
use crate::family::{
    catalogue, domain_label, emit, emit_per_domain, family, Family, Kind, Sink, Value,
};
use crate::libvirt::{consts, LibvirtError};
use crate::snapshot::{DomainStats, PerfStats};
use std::fmt;

use Kind::{Counter, Gauge};

const EVENTS: &str = "libvirt_domain_perf_events";

const FAMILIES: &[Family<DomainStats>] = &[
    family!(
        "libvirt_domain_perf_cpu_clock_seconds",
        Counter,
        "CPU clock time of the domain's QEMU process as perf counts it (perf.cpu_clock), in seconds.",
        |d: DomainStats| d.perf.cpu_clock_seconds
    ),
    family!(
        "libvirt_domain_perf_task_clock_seconds",
        Counter,
        "Task clock time of the domain's QEMU process as perf counts it (perf.task_clock), in seconds.",
        |d: DomainStats| d.perf.task_clock_seconds
    ),
    family!(
        "libvirt_domain_perf_cmt_bytes",
        Gauge,
        "Last level cache the domain occupies (perf.cmt, Intel CMT), in bytes.",
        |d: DomainStats| d.perf.cmt_bytes
    ),
    family!(
        "libvirt_domain_perf_mbmt_bytes_per_second",
        Gauge,
        "Total memory bandwidth of the domain from one level of cache (perf.mbmt, Intel MBM), in bytes per second.",
        |d: DomainStats| d.perf.mbmt_bytes_per_second
    ),
    family!(
        "libvirt_domain_perf_mbml_bytes_per_second",
        Gauge,
        "Memory bandwidth of the domain through the local memory controller (perf.mbml, Intel MBM), in bytes per second.",
        |d: DomainStats| d.perf.mbml_bytes_per_second
    ),
];

/// Sorts one `perf.<event>` value into its place.
fn apply(perf: &mut PerfStats, event: &str, value: u64) {
    match event {
        "cpu_clock" => perf.cpu_clock_seconds = Some(ns_to_seconds(value)),
        "task_clock" => perf.task_clock_seconds = Some(ns_to_seconds(value)),
        "cmt" => perf.cmt_bytes = Some(value),
        "mbmt" => perf.mbmt_bytes_per_second = Some(value),
        "mbml" => perf.mbml_bytes_per_second = Some(value),
        _ => {
            perf.events.insert(event.to_string(), value);
        }
    }
}

pub struct Perf;

impl DomainCollector for Perf {
    fn name(&self) -> &'static str {
        "perf"
    }
    fn group(&self) -> u32 {
        consts::GROUP_PERF
    }
    fn enabled_by_default(&self) -> bool {
        false
    }
    fn decode(&self, f: &Fields, out: &mut DomainStats) -> bool {
        let mut perf = PerfStats::default();
        for key in f.names_with_prefix("perf.") {
            if let (Some(event), Some(value)) = (key.strip_prefix("perf."), f.u64(key)) {
                apply(&mut perf, event, value);
            }
        }
        out.perf = perf;
        true
    }
    fn fallback(&self, _: &FallbackContext, _: &mut DomainStats) -> Result<(), LibvirtError> {
        Ok(())
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        let mut all: Vec<_> = catalogue(FAMILIES).collect();
        all.push((EVENTS, Counter));
        all
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
        emit_per_domain(sink, FAMILIES, domains)?;
        emit(
            sink,
            EVENTS,
            Counter,
            "Perf events counted for the domain's QEMU process, by event (only events enabled on the domain; the clocks, cmt, mbmt and mbml have families of their own).",
            domains.iter().flat_map(|&d| {
                d.perf.events.iter().map(move |(event, count)| {
                    let mut labels = domain_label(d);
                    labels.push(("event", event.clone()));
                    (labels, Value::Int(*count))
                })
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::{ParamValue, TypedParam};

    fn decoded(fields: &[(&str, u64)]) -> PerfStats {
        let params: Vec<TypedParam> = fields
            .iter()
            .map(|(k, v)| TypedParam {
                field: k.to_string(),
                value: ParamValue::UInt(*v),
            })
            .collect();
        let mut out = DomainStats::default();
        assert!(Perf.decode(&Fields::new(&params), &mut out));
        out.perf
    }

    #[test]
    fn clocks_become_seconds_rdt_figures_keep_their_units_and_the_rest_are_events() {
        let perf = decoded(&[
            ("perf.cpu_clock", 2_500_000_000),
            ("perf.task_clock", 1_250_000),
            ("perf.cmt", 3 << 20),
            ("perf.mbmt", 4096),
            ("perf.mbml", 8192),
            ("perf.cpu_cycles", 42),
            ("perf.page_faults", 7),
            ("state.state", 1),
        ]);
        assert_eq!(
            perf,
            PerfStats {
                cpu_clock_seconds: Some(2.5),
                task_clock_seconds: Some(0.00125),
                cmt_bytes: Some(3 << 20),
                mbmt_bytes_per_second: Some(4096),
                mbml_bytes_per_second: Some(8192),
                events: [
                    ("cpu_cycles".to_string(), 42),
                    ("page_faults".to_string(), 7)
                ]
                .into_iter()
                .collect(),
            }
        );
    }

    #[test]
    fn events_not_enabled_give_nothing() {
        assert_eq!(decoded(&[("state.state", 1)]), PerfStats::default());
    }
}
