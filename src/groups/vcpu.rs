//! The `vcpu` group: current and maximum vCPUs, and each vCPU's state, time, wait and delay
//! (or their sums per domain, see [`fold_per_domain`]).

use crate::collect::{fields::ns_to_seconds, DomainCollector, FallbackContext, Fields};
use crate::family::{catalogue, emit_family, emit_per_domain, family, Family, Kind, Sink};
use crate::libvirt::{consts, LibvirtError};
use crate::snapshot::{DomainStats, KvmStat, KvmValue, Vcpu as VcpuSample, VcpuTotals};
use std::fmt;

use Kind::{Counter, Gauge};

const FAMILIES: &[Family<DomainStats>] = &[
    family!(
        "libvirt_domain_info_virtual_cpus",
        Gauge,
        "Number of virtual CPUs of the domain.",
        |d: DomainStats| d.info.virtual_cpus
    ),
    family!(
        "libvirt_domain_vcpu_current",
        Gauge,
        "Number of vCPUs currently online.",
        |d: DomainStats| d.vcpu.current
    ),
    family!(
        "libvirt_domain_vcpu_maximum",
        Gauge,
        "Maximum number of vCPUs the domain may have.",
        |d: DomainStats| d.vcpu.maximum
    ),
];

const PER_VCPU_FAMILIES: &[Family<VcpuSample>] = &[
    family!(
        "libvirt_domain_vcpu_state",
        Gauge,
        "State of the vCPU (0 offline, 1 running, 2 blocked).",
        |v: VcpuSample| v.state
    ),
    family!(
        "libvirt_domain_vcpu_time_seconds",
        Counter,
        "CPU time used by the vCPU, in seconds.",
        |v: VcpuSample| v.time_seconds
    ),
    family!(
        "libvirt_domain_vcpu_wait_seconds",
        Counter,
        "Time the vCPU spent waiting on I/O, in seconds.",
        |v: VcpuSample| v.wait_seconds
    ),
    family!(
        "libvirt_domain_vcpu_delay_seconds",
        Counter,
        "Time the vCPU was runnable but waited for a host CPU (steal), in seconds.",
        |v: VcpuSample| v.delay_seconds
    ),
    family!(
        "libvirt_domain_vcpu_cpu",
        Gauge,
        "Host CPU the vCPU last ran on.",
        |v: VcpuSample| v.physical_cpu.and_then(|c| u32::try_from(c).ok())
    ),
];

/// Per-vCPU times summed per domain (`--collector.vcpu.per-domain`).
const TOTAL_FAMILIES: &[Family<DomainStats>] = &[
    family!(
        "libvirt_domain_vcpus_time_seconds",
        Counter,
        "CPU time used by all vCPUs of the domain together, in seconds.",
        |d: DomainStats| d.vcpu.totals.as_ref().and_then(|t| t.time_seconds)
    ),
    family!(
        "libvirt_domain_vcpus_wait_seconds",
        Counter,
        "Time all vCPUs of the domain together spent waiting on I/O, in seconds.",
        |d: DomainStats| d.vcpu.totals.as_ref().and_then(|t| t.wait_seconds)
    ),
    family!(
        "libvirt_domain_vcpus_delay_seconds",
        Counter,
        "Time all vCPUs of the domain together were runnable but waited for a host CPU (steal), in seconds.",
        |d: DomainStats| d.vcpu.totals.as_ref().and_then(|t| t.delay_seconds)
    ),
];

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
    fn families(&self) -> Vec<(&'static str, Kind)> {
        catalogue(FAMILIES)
            .chain(catalogue(TOTAL_FAMILIES))
            .chain(catalogue(PER_VCPU_FAMILIES))
            .collect()
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
        emit_per_domain(sink, FAMILIES, domains)?;
        emit_per_domain(sink, TOTAL_FAMILIES, domains)?;
        for f in PER_VCPU_FAMILIES {
            let items = domains.iter().flat_map(|&d| {
                d.vcpu.vcpus.iter().map(move |v| {
                    let labels = vec![("domain", d.name.clone()), ("vcpu", v.index.to_string())];
                    (labels, v)
                })
            });
            emit_family(sink, f, items)?;
        }
        Ok(())
    }
}

/// `--collector.vcpu.per-domain`: replaces the per-vCPU samples of `d` with their sums over
/// the domain's vCPUs (time, wait and delay; the KVM statistics summed, or their maximum for
/// peaks), for hosts where one series per vCPU is too many. Per-vCPU states and dirty rates
/// have no meaningful sum and are dropped.
pub fn fold_per_domain(d: &mut DomainStats) {
    let vcpus = std::mem::take(&mut d.vcpu.vcpus);
    if !vcpus.is_empty() {
        let sum =
            |get: fn(&VcpuSample) -> Option<f64>| vcpus.iter().filter_map(get).reduce(|a, b| a + b);
        d.vcpu.totals = Some(VcpuTotals {
            time_seconds: sum(|v| v.time_seconds),
            wait_seconds: sum(|v| v.wait_seconds),
            delay_seconds: sum(|v| v.delay_seconds),
        });
    }
    d.dirty_rate.vcpu_bytes_per_second.clear();
    let mut folded: Vec<KvmStat> = Vec::new();
    for (_, stats) in std::mem::take(&mut d.kvm.vcpus) {
        for s in stats {
            match folded.iter_mut().find(|f| f.name == s.name) {
                Some(f) => f.value = fold(f.value, s.value, s.peak),
                None => folded.push(s),
            }
        }
    }
    d.kvm.vcpu_totals = folded;
}

fn fold(a: KvmValue, b: KvmValue, peak: bool) -> KvmValue {
    match (a, b, peak) {
        (KvmValue::Count(a), KvmValue::Count(b), false) => KvmValue::Count(a.saturating_add(b)),
        (KvmValue::Count(a), KvmValue::Count(b), true) => KvmValue::Count(a.max(b)),
        (KvmValue::Seconds(a), KvmValue::Seconds(b), false) => KvmValue::Seconds(a + b),
        (KvmValue::Seconds(a), KvmValue::Seconds(b), true) => KvmValue::Seconds(a.max(b)),
        (a, _, _) => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(name: &str, peak: bool, value: KvmValue) -> KvmStat {
        KvmStat {
            name: name.into(),
            cumulative: !peak,
            peak,
            value,
        }
    }

    #[test]
    fn per_domain_mode_sums_the_vcpus() {
        let vcpu = |index, time, wait| VcpuSample {
            index,
            state: Some(1),
            time_seconds: Some(time),
            wait_seconds: wait,
            delay_seconds: Some(0.25),
            physical_cpu: None,
        };
        let mut d = DomainStats::default();
        d.vcpu.vcpus = vec![vcpu(0, 1.5, Some(0.5)), vcpu(1, 2.0, None)];
        d.dirty_rate.vcpu_bytes_per_second = vec![(0, 1.0)];
        d.kvm.vcpus = vec![
            (
                0,
                vec![
                    stat("exits", false, KvmValue::Count(10)),
                    stat("peak", true, KvmValue::Count(7)),
                    stat("halt_wait_seconds", false, KvmValue::Seconds(0.5)),
                ],
            ),
            (
                1,
                vec![
                    stat("exits", false, KvmValue::Count(5)),
                    stat("peak", true, KvmValue::Count(9)),
                    stat("halt_wait_seconds", false, KvmValue::Seconds(0.25)),
                ],
            ),
        ];
        fold_per_domain(&mut d);
        assert!(d.vcpu.vcpus.is_empty() && d.kvm.vcpus.is_empty());
        assert!(d.dirty_rate.vcpu_bytes_per_second.is_empty());
        assert_eq!(
            d.vcpu.totals,
            Some(VcpuTotals {
                time_seconds: Some(3.5),
                wait_seconds: Some(0.5),
                delay_seconds: Some(0.5),
            })
        );
        let values: Vec<_> = d
            .kvm
            .vcpu_totals
            .iter()
            .map(|s| (s.name.as_str(), s.value))
            .collect();
        assert_eq!(
            values,
            [
                ("exits", KvmValue::Count(15)),
                ("peak", KvmValue::Count(9)),
                ("halt_wait_seconds", KvmValue::Seconds(0.75)),
            ]
        );
    }

    #[test]
    fn a_domain_without_vcpu_samples_gets_no_totals() {
        let mut d = DomainStats::default();
        fold_per_domain(&mut d);
        assert_eq!(d.vcpu.totals, None);
    }
}
