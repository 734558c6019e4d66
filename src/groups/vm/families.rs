//! The `vm` group's families: one family per KVM statistic name the host kernel reports, so
//! their names are only known at run time. The documentation and the catalogue list them as
//! patterns (`libvirt_domain_kvm_<stat>`...); the collector keeps the names safe and the
//! number of statistics bounded, and this module bounds the families once more over all
//! domains.

use crate::family::{emit, Kind, Labels, Sink, Value};
use crate::snapshot::{DomainStats, KvmStat, KvmValue, MAX_KVM_STATS};
use std::collections::BTreeMap;
use std::fmt;

/// Name prefixes: per VM, per vCPU, and per vCPU summed over the domain.
const VM: &str = "libvirt_domain_kvm_";
const VCPU: &str = "libvirt_domain_vcpu_kvm_";
const VCPUS: &str = "libvirt_domain_vcpus_kvm_";

/// The pattern families, for the catalogue and the documentation.
pub(super) const FAMILIES: &[(&str, Kind)] = &[
    ("libvirt_domain_kvm_<stat>", Kind::Gauge),
    ("libvirt_domain_kvm_<stat>", Kind::Counter),
    ("libvirt_domain_vcpu_kvm_<stat>", Kind::Gauge),
    ("libvirt_domain_vcpu_kvm_<stat>", Kind::Counter),
    ("libvirt_domain_vcpus_kvm_<stat>", Kind::Gauge),
    ("libvirt_domain_vcpus_kvm_<stat>", Kind::Counter),
];

/// The pattern an exposed KVM family name belongs to, if it is one.
pub fn pattern_of(exposed: &str) -> Option<String> {
    [VCPUS, VCPU, VM].iter().find_map(|prefix| {
        let stat = exposed.strip_prefix(prefix)?;
        let total = if stat.ends_with("_total") {
            "_total"
        } else {
            ""
        };
        Some(format!("{prefix}<stat>{total}"))
    })
}

/// Samples of one level, grouped by family (statistic name and kind).
type Grouped = BTreeMap<(String, bool), Vec<(Labels, Value)>>;

pub(super) fn encode(sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
    let mut vm = Grouped::new();
    let mut vcpu = Grouped::new();
    let mut vcpus = Grouped::new();
    for d in domains {
        let by_domain = || vec![("domain", d.name.clone())];
        add(&mut vm, &d.kvm.vm, by_domain);
        add(&mut vcpus, &d.kvm.vcpu_totals, by_domain);
        for (index, stats) in &d.kvm.vcpus {
            add(&mut vcpu, stats, || {
                vec![("domain", d.name.clone()), ("vcpu", index.to_string())]
            });
        }
    }
    write(sink, VM, "of the VM", vm)?;
    write(sink, VCPU, "of the vCPU", vcpu)?;
    write(sink, VCPUS, "of all vCPUs of the domain together", vcpus)
}

fn add(into: &mut Grouped, stats: &[KvmStat], labels: impl Fn() -> Labels) {
    for s in stats {
        let value = match s.value {
            KvmValue::Count(n) => Value::Int(n),
            KvmValue::Seconds(v) => Value::Float(v),
        };
        into.entry((s.name.clone(), s.cumulative))
            .or_default()
            .push((labels(), value));
    }
}

fn write(sink: &mut dyn Sink, prefix: &str, of: &str, grouped: Grouped) -> fmt::Result {
    for ((stat, cumulative), samples) in grouped.into_iter().take(MAX_KVM_STATS) {
        let (kind, what) = if cumulative {
            (Kind::Counter, "cumulative")
        } else {
            (Kind::Gauge, "current or peak value")
        };
        let help = format!("KVM statistic {stat} {of} ({what}), from QEMU's query-stats.");
        emit(sink, &format!("{prefix}{stat}"), kind, &help, samples)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_names_map_to_their_pattern() {
        let p = |n| pattern_of(n);
        assert_eq!(
            p("libvirt_domain_kvm_pages_4k").as_deref(),
            Some("libvirt_domain_kvm_<stat>")
        );
        assert_eq!(
            p("libvirt_domain_vcpu_kvm_exits_total").as_deref(),
            Some("libvirt_domain_vcpu_kvm_<stat>_total")
        );
        assert_eq!(
            p("libvirt_domain_vcpus_kvm_halt_wait_seconds_total").as_deref(),
            Some("libvirt_domain_vcpus_kvm_<stat>_total")
        );
        assert_eq!(p("libvirt_domain_vcpu_time_seconds_total"), None);
    }
}
