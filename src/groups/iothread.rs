//! The opt-in `iothread` group: polling parameters of each I/O thread.

use crate::collect::{DomainCollector, FallbackContext, Fields};
use crate::family::{catalogue, emit_family, family, Family, Kind, Sink};
use crate::libvirt::{consts, LibvirtError};
use crate::snapshot::{DomainStats, IoThreadStats};
use std::collections::BTreeSet;
use std::fmt;

use Kind::Gauge;

const FAMILIES: &[Family<IoThreadStats>] = &[
    family!(
        "libvirt_domain_iothread_poll_max_seconds",
        Gauge,
        "Longest time the I/O thread polls before sleeping, in seconds.",
        |t: IoThreadStats| t.poll_max_seconds
    ),
    family!(
        "libvirt_domain_iothread_poll_grow",
        Gauge,
        "Factor by which the I/O thread's polling time grows.",
        |t: IoThreadStats| t.poll_grow
    ),
    family!(
        "libvirt_domain_iothread_poll_shrink",
        Gauge,
        "Divisor by which the I/O thread's polling time shrinks.",
        |t: IoThreadStats| t.poll_shrink
    ),
];

pub struct IoThread;

impl DomainCollector for IoThread {
    fn name(&self) -> &'static str {
        "iothread"
    }
    fn group(&self) -> u32 {
        consts::GROUP_IOTHREAD
    }
    fn enabled_by_default(&self) -> bool {
        false
    }
    fn decode(&self, f: &Fields, out: &mut DomainStats) -> bool {
        let ids: BTreeSet<u32> = f
            .names_with_prefix("iothread.")
            .filter_map(|k| k.split('.').nth(1)?.parse().ok())
            .collect();
        out.iothreads = ids
            .into_iter()
            .map(|id| {
                let key = |leaf: &str| format!("iothread.{id}.{leaf}");
                IoThreadStats {
                    id,
                    poll_max_seconds: f.seconds_from_ns(&key("poll-max-ns")),
                    poll_grow: f.u64(&key("poll-grow")),
                    poll_shrink: f.u64(&key("poll-shrink")),
                }
            })
            .collect();
        true
    }
    fn fallback(&self, _: &FallbackContext, _: &mut DomainStats) -> Result<(), LibvirtError> {
        Ok(())
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        catalogue(FAMILIES).collect()
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
        for f in FAMILIES {
            let items = domains.iter().flat_map(|&d| {
                d.iothreads.iter().map(move |t| {
                    let labels = vec![("domain", d.name.clone()), ("iothread", t.id.to_string())];
                    (labels, t)
                })
            });
            emit_family(sink, f, items)?;
        }
        Ok(())
    }
}
