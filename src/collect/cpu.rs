//! The `cpu_total` group: CPU time of the whole domain, split into user and system.

use super::{fields::ns_to_seconds, DomainCollector, FallbackContext, Fields};
use crate::libvirt::{consts, LibvirtError};
use crate::snapshot::DomainStats;

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
}
