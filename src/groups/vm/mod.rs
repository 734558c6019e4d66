//! The opt-in `vm` collector: KVM's own statistics that QEMU reports through `query-stats`
//! (libvirt >= 8.9), for the whole VM (`vm.<stat>.<type>`, the `vm` group) and for each vCPU
//! (`vcpu.<n>.<stat>.<type>`, which libvirt puts in the `vcpu` group).
//!
//! The statistic names come from the host kernel, so they are mapped generically but safely:
//! names are reduced to `[a-z0-9_]` (at most [`MAX_NAME`] bytes), a `_ns` suffix becomes
//! `_seconds` with the value converted, `.sum` is a counter and `.cur`/`.max` a gauge
//! (booleans as 0/1), and at most [`MAX_STATS`] statistics per level are kept (the first by
//! name), so the number of families stays bounded whatever the kernel reports.

mod families;

pub use families::pattern_of;

use crate::collect::{DomainCollector, FallbackContext, Fields};
use crate::family::{Kind, Sink};
use crate::libvirt::{consts, LibvirtError, ParamValue};
use crate::snapshot::{DomainStats, KvmStat, KvmValue, MAX_KVM_STATS as MAX_STATS};
use std::collections::BTreeMap;
use std::fmt;

/// The longest statistic name kept, in bytes.
pub const MAX_NAME: usize = 64;

pub struct Vm;

impl DomainCollector for Vm {
    fn name(&self) -> &'static str {
        "vm"
    }
    /// The vCPU group too: that is where libvirt puts the per-vCPU KVM statistics.
    fn group(&self) -> u32 {
        consts::GROUP_VM | consts::GROUP_VCPU
    }
    fn enabled_by_default(&self) -> bool {
        false
    }
    fn decode(&self, f: &Fields, out: &mut DomainStats) -> bool {
        let mut vm = Vec::new();
        let mut vcpus: BTreeMap<u32, Vec<KvmStat>> = BTreeMap::new();
        for key in f.names_with_prefix("") {
            let parts: Vec<&str> = key.split('.').collect();
            match parts[..] {
                ["vm", stat, kind] => vm.extend(kvm_stat(stat, kind, f.value(key))),
                ["vcpu", index, stat, kind] => {
                    if let (Ok(index), Some(s)) =
                        (index.parse(), kvm_stat(stat, kind, f.value(key)))
                    {
                        vcpus.entry(index).or_default().push(s);
                    }
                }
                _ => {}
            }
        }
        out.kvm.vm = bounded(vm);
        out.kvm.vcpus = vcpus.into_iter().map(|(i, s)| (i, bounded(s))).collect();
        true
    }
    fn fallback(&self, _: &FallbackContext, _: &mut DomainStats) -> Result<(), LibvirtError> {
        Ok(())
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        families::FAMILIES.to_vec()
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
        families::encode(sink, domains)
    }
}

/// Sorts by name, drops duplicates and keeps at most [`MAX_STATS`].
fn bounded(mut stats: Vec<KvmStat>) -> Vec<KvmStat> {
    stats.sort_by(|a, b| a.name.cmp(&b.name));
    stats.dedup_by(|a, b| a.name == b.name);
    stats.truncate(MAX_STATS);
    stats
}

/// One `<stat>.<cur|sum|max>` field as a statistic; `None` for anything else.
fn kvm_stat(stat: &str, kind: &str, value: Option<&ParamValue>) -> Option<KvmStat> {
    let (cumulative, peak) = match kind {
        "sum" => (true, false),
        "cur" => (false, false),
        "max" => (false, true),
        _ => return None,
    };
    let mut name = sanitize(stat)?;
    if let Some(base) = name.strip_suffix("_total") {
        // A counter gets `_total` from the encoder; a gauge must not look like a counter.
        if !cumulative {
            return None;
        }
        name = base.to_string();
    }
    let count = match value? {
        ParamValue::UInt(v) => *v,
        ParamValue::Int(v) => u64::try_from(*v).ok()?,
        ParamValue::Bool(b) => u64::from(*b),
        ParamValue::Double(_) | ParamValue::Text(_) => return None,
    };
    let value = match name.strip_suffix("_ns") {
        Some(base) => {
            name = format!("{base}_seconds");
            KvmValue::Seconds(count as f64 / 1e9)
        }
        None => KvmValue::Count(count),
    };
    Some(KvmStat {
        name,
        cumulative,
        peak,
        value,
    })
}

/// A statistic name as a Prometheus name part: lower case ASCII letters, digits and single
/// underscores, starting with a letter; `None` when nothing usable is left or it is too long.
pub fn sanitize(stat: &str) -> Option<String> {
    let mut out = String::with_capacity(stat.len());
    for c in stat.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '_'
        };
        if !(c == '_' && (out.is_empty() || out.ends_with('_'))) {
            out.push(c);
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    let ok = out.starts_with(|c: char| c.is_ascii_lowercase()) && out.len() <= MAX_NAME;
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::TypedParam;

    #[test]
    fn names_are_reduced_to_safe_prometheus_parts() {
        assert_eq!(sanitize("exits").as_deref(), Some("exits"));
        assert_eq!(sanitize("halt_wait_ns").as_deref(), Some("halt_wait_ns"));
        assert_eq!(sanitize("Pages-2M").as_deref(), Some("pages_2m"));
        assert_eq!(sanitize("a..b__c_").as_deref(), Some("a_b_c"));
        assert_eq!(sanitize("__x").as_deref(), Some("x"));
        assert_eq!(sanitize("λ{}=\"\n").as_deref(), None);
        assert_eq!(sanitize("4k_pages"), None, "must start with a letter");
        assert_eq!(sanitize(""), None);
        assert_eq!(
            sanitize(&"x".repeat(MAX_NAME)).map(|s| s.len()),
            Some(MAX_NAME)
        );
        assert_eq!(sanitize(&"x".repeat(MAX_NAME + 1)), None);
    }

    fn p(field: &str, value: ParamValue) -> TypedParam {
        TypedParam {
            field: field.into(),
            value,
        }
    }

    #[test]
    fn vm_and_vcpu_fields_become_typed_statistics_in_base_units() {
        let params = vec![
            p("vm.mmu_cache_miss.sum", ParamValue::UInt(12)),
            p("vm.pages_4k.cur", ParamValue::UInt(3)),
            p("vm.max_mmu_rmap_size.max", ParamValue::UInt(7)),
            p("vcpu.current", ParamValue::UInt(2)),
            p("vcpu.0.time", ParamValue::UInt(20_000_000)),
            p("vcpu.0.exits.sum", ParamValue::UInt(198)),
            p("vcpu.0.halt_wait_ns.sum", ParamValue::UInt(1_500_000_000)),
            p("vcpu.0.guest_mode.cur", ParamValue::Bool(true)),
            p("vcpu.1.exits.sum", ParamValue::UInt(5)),
            p("vcpu.1.odd.hist", ParamValue::UInt(5)),
            p("vcpu.x.exits.sum", ParamValue::UInt(5)),
            p("vm.text.cur", ParamValue::Text("no".into())),
        ];
        let mut out = DomainStats::default();
        assert!(Vm.decode(&Fields::new(&params), &mut out));
        let names = |v: &[KvmStat]| v.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&out.kvm.vm),
            ["max_mmu_rmap_size", "mmu_cache_miss", "pages_4k"]
        );
        assert!(out.kvm.vm[0].peak && !out.kvm.vm[0].cumulative);
        assert!(out.kvm.vm[1].cumulative);
        assert_eq!(out.kvm.vm[1].value, KvmValue::Count(12));
        assert_eq!(out.kvm.vcpus.len(), 2);
        let (index, vcpu0) = &out.kvm.vcpus[0];
        assert_eq!(*index, 0);
        assert_eq!(names(vcpu0), ["exits", "guest_mode", "halt_wait_seconds"]);
        assert_eq!(vcpu0[1].value, KvmValue::Count(1));
        assert_eq!(vcpu0[2].value, KvmValue::Seconds(1.5));
        assert!(vcpu0[2].cumulative);
        assert_eq!(names(&out.kvm.vcpus[1].1), ["exits"]);
    }

    #[test]
    fn the_number_of_statistics_is_bounded() {
        let params: Vec<_> = (0..MAX_STATS + 20)
            .map(|i| p(&format!("vm.s{i:04}.sum"), ParamValue::UInt(1)))
            .collect();
        let mut out = DomainStats::default();
        Vm.decode(&Fields::new(&params), &mut out);
        assert_eq!(out.kvm.vm.len(), MAX_STATS);
        assert_eq!(out.kvm.vm[0].name, "s0000");
    }
}
