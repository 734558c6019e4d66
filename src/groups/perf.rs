//! The opt-in `perf` group: hardware and software perf event counters of a domain.
//!
//! libvirt reports these only for events enabled on the domain (`virsh perf DOMAIN --enable
//! cpu_cycles`); there is no per-domain fallback.

use crate::collect::{DomainCollector, FallbackContext, Fields};
use crate::family::{emit, Kind, Sink, Value};
use crate::libvirt::{consts, LibvirtError};
use crate::snapshot::DomainStats;
use std::fmt;

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
        out.perf = f
            .names_with_prefix("perf.")
            .filter_map(|k| Some((k.strip_prefix("perf.")?.to_string(), f.u64(k)?)))
            .collect();
        true
    }
    fn fallback(&self, _: &FallbackContext, _: &mut DomainStats) -> Result<(), LibvirtError> {
        Ok(())
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        vec![("libvirt_domain_perf_events", Kind::Counter)]
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
        emit(
            sink,
            "libvirt_domain_perf_events",
            Kind::Counter,
            "Perf events counted for the domain, by event (only events enabled on the domain).",
            domains.iter().flat_map(|d| {
                d.perf.iter().map(move |(event, count)| {
                    let labels = vec![("domain", d.name.clone()), ("event", event.clone())];
                    (labels, Value::Int(*count))
                })
            }),
        )
    }
}
