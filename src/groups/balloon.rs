//! The `balloon` group: balloon size and the guest's own memory statistics, in bytes.
//!
//! The guest's swap traffic (`balloon.swap_in`, `balloon.swap_out`) only grows while the guest
//! runs, so it is a counter (`..._swap_in_bytes_total`); inovex's gauge names for it are
//! recreated by `deploy/prometheus/libvirt-compat.rules.yml`.

use crate::collect::{fields::kib_to_bytes, DomainCollector, FallbackContext, Fields};
use crate::family::{catalogue, emit_per_domain, family, Family, Kind, Sink};
use crate::libvirt::{consts, LibvirtError};
use crate::snapshot::{BalloonStats, DomainStats};
use std::fmt;

use Kind::{Counter, Gauge};

const FAMILIES: &[Family<DomainStats>] = &[
    family!("libvirt_domain_info_maximum_memory_bytes", Gauge, "Maximum memory of the domain, in bytes.", |d: DomainStats| d.info.maximum_memory_bytes),
    family!("libvirt_domain_info_memory_usage_bytes", Gauge, "Memory currently given to the domain (balloon size), in bytes.", |d: DomainStats| d.info.memory_bytes),
    family!("libvirt_domain_memory_stats_current_balloon_bytes", Gauge, "Current balloon size, in bytes.", |d: DomainStats| d.balloon.current_bytes),
    family!("libvirt_domain_memory_stats_maximum_bytes", Gauge, "Maximum balloon size, in bytes.", |d: DomainStats| d.balloon.maximum_bytes),
    family!("libvirt_domain_memory_stats_swap_in_bytes", Counter, "Memory swapped in by the guest since it booted, in bytes (reported by the guest).", |d: DomainStats| d.balloon.swap_in_bytes),
    family!("libvirt_domain_memory_stats_swap_out_bytes", Counter, "Memory swapped out by the guest since it booted, in bytes (reported by the guest).", |d: DomainStats| d.balloon.swap_out_bytes),
    family!("libvirt_domain_memory_stats_major_fault", Counter, "Major page faults in the guest (reported by the guest).", |d: DomainStats| d.balloon.major_faults),
    family!("libvirt_domain_memory_stats_minor_fault", Counter, "Minor page faults in the guest (reported by the guest).", |d: DomainStats| d.balloon.minor_faults),
    family!("libvirt_domain_memory_stats_unused_bytes", Gauge, "Memory the guest leaves unused, in bytes (reported by the guest).", |d: DomainStats| d.balloon.unused_bytes),
    family!("libvirt_domain_memory_stats_available_bytes", Gauge, "Memory the guest sees as usable in total, in bytes (reported by the guest).", |d: DomainStats| d.balloon.available_bytes),
    family!("libvirt_domain_memory_stats_usable_bytes", Gauge, "Memory the guest could use without swapping, in bytes (reported by the guest).", |d: DomainStats| d.balloon.usable_bytes),
    family!("libvirt_domain_memory_stats_rss_bytes", Gauge, "Resident memory of the domain's process on the host, in bytes.", |d: DomainStats| d.balloon.rss_bytes),
    family!("libvirt_domain_memory_stats_disk_caches_bytes", Gauge, "Guest memory used for disk caches that can be reclaimed, in bytes.", |d: DomainStats| d.balloon.disk_caches_bytes),
    family!("libvirt_domain_memory_stats_hugetlb_pgalloc", Counter, "Successful huge page allocations in the guest.", |d: DomainStats| d.balloon.hugetlb_pgalloc),
    family!("libvirt_domain_memory_stats_hugetlb_pgfail", Counter, "Failed huge page allocations in the guest.", |d: DomainStats| d.balloon.hugetlb_pgfail),
    family!("libvirt_domain_memory_stats_last_update_timestamp_seconds", Gauge, "When the guest last updated its memory statistics, as a Unix timestamp.", |d: DomainStats| d.balloon.last_update_seconds),
    family!("libvirt_domain_memory_stats_used_percent", Gauge, "Share of the guest's available memory in use ((available - usable) / available), in percent.", |d: DomainStats| used_percent(d)),
];

fn used_percent(d: &DomainStats) -> Option<f64> {
    let available = d.balloon.available_bytes? as f64;
    let usable = d.balloon.usable_bytes? as f64;
    (available > 0.0).then(|| (available - usable) / available * 100.0)
}

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
    fn families(&self) -> Vec<(&'static str, Kind)> {
        catalogue(FAMILIES).collect()
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
        emit_per_domain(sink, FAMILIES, domains)
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

    #[test]
    fn swap_traffic_is_read_in_kib_and_kept_in_bytes_on_both_paths() {
        let bulk = [
            TypedParam {
                field: "balloon.swap_in".into(),
                value: ParamValue::UInt(3),
            },
            TypedParam {
                field: "balloon.swap_out".into(),
                value: ParamValue::UInt(5),
            },
        ];
        let mut out = DomainStats::default();
        Balloon.decode(&Fields::new(&bulk), &mut out);
        assert_eq!(out.balloon.swap_in_bytes, Some(3 * 1024));
        assert_eq!(out.balloon.swap_out_bytes, Some(5 * 1024));
        let mut b = BalloonStats::default();
        apply_memory_stat(&mut b, consts::MEM_SWAP_IN, 7);
        apply_memory_stat(&mut b, consts::MEM_SWAP_OUT, 9);
        assert_eq!(
            (b.swap_in_bytes, b.swap_out_bytes),
            (Some(7 * 1024), Some(9 * 1024))
        );
    }

    #[test]
    fn swap_traffic_is_a_counter() {
        let kinds: std::collections::BTreeMap<_, _> = Balloon.families().into_iter().collect();
        for name in [
            "libvirt_domain_memory_stats_swap_in_bytes",
            "libvirt_domain_memory_stats_swap_out_bytes",
        ] {
            assert_eq!(kinds[name], Kind::Counter, "{name}");
        }
    }
}
