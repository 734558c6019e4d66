//! The opt-in `dirtyrate` group: the guest memory dirty rate, once a calculation was started
//! on the domain (`virsh domdirtyrate-calc`).

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
        out.dirty_rate = DirtyRateStats {
            calc_status: f.u32("dirtyrate.calc_status"),
            calc_start_time_seconds: f.u64("dirtyrate.calc_start_time"),
            calc_period_seconds: f.u64("dirtyrate.calc_period"),
            bytes_per_second: f.f64("dirtyrate.megabytes_per_second").map(|v| v * MIB),
            vcpu_bytes_per_second: vcpus,
        };
        true
    }
    fn fallback(&self, _: &FallbackContext, _: &mut DomainStats) -> Result<(), LibvirtError> {
        Ok(())
    }
}
