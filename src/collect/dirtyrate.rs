//! The opt-in `dirtyrate` group: the guest memory dirty rate, once a calculation was started
//! on the domain (`virsh domdirtyrate-calc`). Until then QEMU reports status 0 with a zero
//! start time and period, which mean nothing: only the status is kept.

use super::{DomainCollector, FallbackContext, Fields};
use crate::libvirt::{consts, LibvirtError};
use crate::snapshot::{DirtyRateStats, DomainStats};

const MIB: f64 = 1024.0 * 1024.0;

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
