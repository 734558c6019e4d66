//! The opt-in `dirtyrate` group: the guest memory dirty rate, once a calculation was started
//! on the domain (`virsh domdirtyrate-calc`). Until then QEMU reports status 0 with a zero
//! start time and period, which mean nothing: only the status is kept.

use crate::collect::{DomainCollector, FallbackContext, Fields};
use crate::family::{catalogue, emit, emit_per_domain, family, Family, Kind, Sink, Value};
use crate::libvirt::{consts, LibvirtError};
use crate::snapshot::{DirtyRateStats, DomainStats};
use std::fmt;

use Kind::Gauge;

const MIB: f64 = 1024.0 * 1024.0;

const FAMILIES: &[Family<DomainStats>] = &[
    family!("libvirt_domain_dirty_rate_bytes_per_second", Gauge, "Rate at which the guest dirties memory, from the last calculation, in bytes per second.", |d: DomainStats| d.dirty_rate.bytes_per_second),
    family!("libvirt_domain_dirty_rate_calc_status", Gauge, "State of the last dirty rate calculation (0 unstarted, 1 measuring, 2 measured).", |d: DomainStats| d.dirty_rate.calc_status),
    family!("libvirt_domain_dirty_rate_calc_start_time_seconds", Gauge, "When the last dirty rate calculation started, on the host's monotonic clock (seconds since the host booted, not a Unix time).", |d: DomainStats| d.dirty_rate.calc_start_time_seconds),
    family!("libvirt_domain_dirty_rate_calc_period_seconds", Gauge, "Length of the last dirty rate calculation, in seconds.", |d: DomainStats| d.dirty_rate.calc_period_seconds),
];

pub struct DirtyRate;

impl DomainCollector for DirtyRate {
    fn name(&self) -> &'static str {
        "dirtyrate"
    }
    fn group(&self) -> u32 {
        consts::GROUP_DIRTYRATE
    }
    fn enabled_by_default(&self) -> bool {
        false
    }
    fn decode(&self, f: &Fields, out: &mut DomainStats) -> bool {
        let mut vcpus: Vec<(u32, f64)> = f
            .names_with_prefix("dirtyrate.vcpu.")
            .filter_map(|k| {
                let index = k.split('.').nth(2)?.parse().ok()?;
                Some((index, f.f64(k)? * MIB))
            })
            .collect();
        vcpus.sort_by_key(|(i, _)| *i);
        let calc_status = f.u32("dirtyrate.calc_status");
        let started = |v: Option<u64>| v.filter(|_| calc_status.is_some_and(|s| s != 0));
        out.dirty_rate = DirtyRateStats {
            calc_status,
            calc_start_time_seconds: started(f.u64("dirtyrate.calc_start_time")),
            calc_period_seconds: started(f.u64("dirtyrate.calc_period")),
            bytes_per_second: f.f64("dirtyrate.megabytes_per_second").map(|v| v * MIB),
            vcpu_bytes_per_second: vcpus,
        };
        true
    }
    fn fallback(&self, _: &FallbackContext, _: &mut DomainStats) -> Result<(), LibvirtError> {
        Ok(())
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        let mut all: Vec<_> = catalogue(FAMILIES).collect();
        all.push(("libvirt_domain_vcpu_dirty_rate_bytes_per_second", Gauge));
        all
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
        emit_per_domain(sink, FAMILIES, domains)?;
        emit(
            sink,
            "libvirt_domain_vcpu_dirty_rate_bytes_per_second",
            Gauge,
            "Rate at which the vCPU dirties memory, from the last calculation, in bytes per second.",
            domains.iter().flat_map(|d| {
                d.dirty_rate
                    .vcpu_bytes_per_second
                    .iter()
                    .map(move |(i, rate)| {
                        let labels = vec![("domain", d.name.clone()), ("vcpu", i.to_string())];
                        (labels, Value::Float(*rate))
                    })
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::{ParamValue, TypedParam};

    fn decode(fields: &[(&str, ParamValue)]) -> DirtyRateStats {
        let params: Vec<_> = fields
            .iter()
            .map(|(k, v)| TypedParam {
                field: k.to_string(),
                value: v.clone(),
            })
            .collect();
        let mut out = DomainStats::default();
        DirtyRate.decode(&Fields::new(&params), &mut out);
        out.dirty_rate
    }

    #[test]
    fn an_unstarted_calculation_gives_only_its_status() {
        let d = decode(&[
            ("dirtyrate.calc_status", ParamValue::Int(0)),
            ("dirtyrate.calc_start_time", ParamValue::Int(0)),
            ("dirtyrate.calc_period", ParamValue::Int(0)),
        ]);
        assert_eq!(
            d,
            DirtyRateStats {
                calc_status: Some(0),
                ..DirtyRateStats::default()
            }
        );
    }

    #[test]
    fn a_measured_rate_is_in_bytes_per_second() {
        let d = decode(&[
            ("dirtyrate.calc_status", ParamValue::Int(2)),
            ("dirtyrate.calc_start_time", ParamValue::Int(1878)),
            ("dirtyrate.calc_period", ParamValue::Int(1)),
            ("dirtyrate.megabytes_per_second", ParamValue::Int(3)),
            ("dirtyrate.vcpu.1.megabytes_per_second", ParamValue::Int(2)),
            ("dirtyrate.vcpu.0.megabytes_per_second", ParamValue::Int(1)),
        ]);
        assert_eq!(d.calc_start_time_seconds, Some(1878));
        assert_eq!(d.calc_period_seconds, Some(1));
        assert_eq!(d.bytes_per_second, Some(3.0 * MIB));
        assert_eq!(d.vcpu_bytes_per_second, vec![(0, MIB), (1, 2.0 * MIB)]);
    }
}
