//! The `balloon` group: balloon size and the guest's own memory statistics, in bytes.

use super::{fields::kib_to_bytes, DomainCollector, FallbackContext, Fields};
use crate::libvirt::{consts, LibvirtError};
use crate::snapshot::{BalloonStats, DomainStats};

pub struct Balloon;

impl DomainCollector for Balloon {
    fn name(&self) -> &'static str {
        "balloon"
    }
    fn group(&self) -> u32 {
        consts::GROUP_BALLOON
    }
    fn decode(&self, f: &Fields, out: &mut DomainStats) -> bool {
        let kib = |k: &str| f.bytes_from_kib(k);
        out.balloon = BalloonStats {
            current_bytes: kib("balloon.current"),
            maximum_bytes: kib("balloon.maximum"),
            swap_in_bytes: kib("balloon.swap_in"),
            swap_out_bytes: kib("balloon.swap_out"),
            major_faults: f.u64("balloon.major_fault"),
            minor_faults: f.u64("balloon.minor_fault"),
            unused_bytes: kib("balloon.unused"),
            available_bytes: kib("balloon.available"),
            usable_bytes: kib("balloon.usable"),
            rss_bytes: kib("balloon.rss"),
            disk_caches_bytes: kib("balloon.disk_caches"),
            hugetlb_pgalloc: f.u64("balloon.hugetlb_pgalloc"),
            hugetlb_pgfail: f.u64("balloon.hugetlb_pgfail"),
            last_update_seconds: f.u64("balloon.last-update"),
        };
        out.info.maximum_memory_bytes = out.balloon.maximum_bytes;
        out.info.memory_bytes = out.balloon.current_bytes;
        // `balloon.current` comes from the definition; `balloon.rss` needs the domain job,
        // which NOWAIT skips when another job holds the domain.
        out.balloon.rss_bytes.is_some()
    }
    fn fallback(&self, ctx: &FallbackContext, out: &mut DomainStats) -> Result<(), LibvirtError> {
        let info = ctx.info()?;
        let b = &mut out.balloon;
        b.maximum_bytes = Some(kib_to_bytes(info.max_mem_kib));
        b.current_bytes = Some(kib_to_bytes(info.memory_kib));
        if ctx.active {
            for (tag, value) in ctx.domain.memory_stats()? {
                apply_memory_stat(b, tag, value);
            }
        }
        out.info.maximum_memory_bytes = out.balloon.maximum_bytes;
        out.info.memory_bytes = out.balloon.current_bytes;
        Ok(())
    }
}

/// Stores one `virDomainMemoryStats` entry (sizes in KiB) into `b`.
fn apply_memory_stat(b: &mut BalloonStats, tag: u32, value: u64) {
    let bytes = Some(kib_to_bytes(value));
    match tag {
        consts::MEM_ACTUAL_BALLOON => b.current_bytes = bytes,
        consts::MEM_SWAP_IN => b.swap_in_bytes = bytes,
        consts::MEM_SWAP_OUT => b.swap_out_bytes = bytes,
        consts::MEM_MAJOR_FAULT => b.major_faults = Some(value),
        consts::MEM_MINOR_FAULT => b.minor_faults = Some(value),
        consts::MEM_UNUSED => b.unused_bytes = bytes,
        consts::MEM_AVAILABLE => b.available_bytes = bytes,
        consts::MEM_USABLE => b.usable_bytes = bytes,
        consts::MEM_RSS => b.rss_bytes = bytes,
        consts::MEM_DISK_CACHES => b.disk_caches_bytes = bytes,
        consts::MEM_HUGETLB_PGALLOC => b.hugetlb_pgalloc = Some(value),
        consts::MEM_HUGETLB_PGFAIL => b.hugetlb_pgfail = Some(value),
        consts::MEM_LAST_UPDATE => b.last_update_seconds = Some(value),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::{ParamValue, TypedParam};

    fn fields(names: &[&str]) -> Vec<TypedParam> {
        names
            .iter()
            .map(|n| TypedParam {
                field: n.to_string(),
                value: ParamValue::UInt(4),
            })
            .collect()
    }

    #[test]
    fn a_record_without_the_job_only_fields_reads_as_busy() {
        let mut out = DomainStats::default();
        let skipped = fields(&["balloon.current", "balloon.maximum"]);
        assert!(!Balloon.decode(&Fields::new(&skipped), &mut out));
        assert_eq!(
            out.balloon.current_bytes,
            Some(4096),
            "what libvirt gave is kept"
        );
        let full = fields(&["balloon.current", "balloon.maximum", "balloon.rss"]);
        assert!(Balloon.decode(&Fields::new(&full), &mut out));
    }
}
