//! The `vcpu` group: current and maximum vCPUs, and each vCPU's state, time, wait and delay.

use super::{fields::ns_to_seconds, DomainCollector, FallbackContext, Fields};
use crate::libvirt::{consts, LibvirtError};
use crate::snapshot::{DomainStats, Vcpu as VcpuSample};

pub struct Vcpu;

impl DomainCollector for Vcpu {
    fn name(&self) -> &'static str {
        "vcpu"
    }
    fn group(&self) -> u32 {
        consts::GROUP_VCPU
    }
    fn decode(&self, f: &Fields, out: &mut DomainStats) -> bool {
        let v = &mut out.vcpu;
        v.current = f.u32("vcpu.current");
        v.maximum = f.u32("vcpu.maximum");
        let count = v.maximum.or(v.current).unwrap_or(0);
        v.vcpus = (0..count)
            .filter_map(|i| {
                let key = |leaf: &str| format!("vcpu.{i}.{leaf}");
                let sample = VcpuSample {
                    index: i,
                    state: f.u32(&key("state")),
                    time_seconds: f.seconds_from_ns(&key("time")),
                    wait_seconds: f.seconds_from_ns(&key("wait")),
                    delay_seconds: f.seconds_from_ns(&key("delay")),
                    physical_cpu: None,
                };
                let any = sample.state.is_some() || sample.time_seconds.is_some();
                any.then_some(sample)
            })
            .collect();
        out.info.virtual_cpus = v.current;
        v.current.is_some()
    }
    fn fallback(&self, ctx: &FallbackContext, out: &mut DomainStats) -> Result<(), LibvirtError> {
        let info = ctx.info()?;
        out.vcpu.current = Some(info.nr_virt_cpu);
        out.info.virtual_cpus = Some(info.nr_virt_cpu);
        out.vcpu.maximum = ctx.domain.max_vcpus().ok();
        if ctx.active {
            out.vcpu.vcpus = ctx
                .domain
                .vcpus(info.nr_virt_cpu)?
                .into_iter()
                .map(|raw| VcpuSample {
                    index: raw.number,
                    state: u32::try_from(raw.state).ok(),
                    time_seconds: Some(ns_to_seconds(raw.cpu_time_ns)),
                    wait_seconds: None,
                    delay_seconds: None,
                    physical_cpu: (raw.cpu >= 0).then_some(raw.cpu),
                })
                .collect();
        }
        Ok(())
    }
}
