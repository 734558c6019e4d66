//! The `cpu_total` group: CPU time of the whole domain, split into user and system.

use crate::collect::{fields::ns_to_seconds, DomainCollector, FallbackContext, Fields};
use crate::family::{catalogue, emit_per_domain, family, Family, Kind, Sink};
use crate::libvirt::{consts, LibvirtError};
use crate::snapshot::DomainStats;
use std::fmt;

use Kind::Counter;

const FAMILIES: &[Family<DomainStats>] = &[
    family!(
        "libvirt_domain_info_cpu_time_seconds",
        Counter,
        "CPU time used by the domain, in seconds.",
        |d: DomainStats| d.cpu.time_seconds
    ),
    family!(
        "libvirt_domain_cpu_user_seconds",
        Counter,
        "User-mode CPU time used by the domain, in seconds.",
        |d: DomainStats| d.cpu.user_seconds
    ),
    family!(
        "libvirt_domain_cpu_system_seconds",
        Counter,
        "Kernel-mode CPU time used by the domain, in seconds.",
        |d: DomainStats| d.cpu.system_seconds
    ),
];

pub struct Cpu;

impl DomainCollector for Cpu {
    fn name(&self) -> &'static str {
        "cpu"
    }
    fn group(&self) -> u32 {
        consts::GROUP_CPU
    }
    fn decode(&self, f: &Fields, out: &mut DomainStats) -> bool {
        out.cpu.time_seconds = f.seconds_from_ns("cpu.time");
        out.cpu.user_seconds = f.seconds_from_ns("cpu.user");
        out.cpu.system_seconds = f.seconds_from_ns("cpu.system");
        out.cpu.time_seconds.is_some()
    }
    fn fallback(&self, ctx: &FallbackContext, out: &mut DomainStats) -> Result<(), LibvirtError> {
        if ctx.active {
            out.cpu.time_seconds = Some(ns_to_seconds(ctx.info()?.cpu_time_ns));
        }
        Ok(())
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        catalogue(FAMILIES).collect()
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
        emit_per_domain(sink, FAMILIES, domains)
    }
}
