//! The `tuning` group: CPU scheduler parameters (`virDomainGetSchedulerParameters`: shares,
//! and the period and quota of the vCPUs, the emulator, the whole domain and the I/O threads)
//! and memory limits (`virDomainGetMemoryParameters`: hard, soft and swap hard limits, the
//! minimum guarantee) of each running domain. An unlimited quota or limit is no series, not
//! a huge number.

use super::{running, unless_unsupported};
use crate::collect::fields::kib_to_bytes;
use crate::collect::slow::SlowDomainCollector;
use crate::collect::Fields;
use crate::family::{domain_label, emit, Kind, Sink, Value};
use crate::libvirt::{Domain, LibvirtError, ParamValue};
use crate::snapshot::{DomainStats, Tuning};
use std::fmt;
use std::time::Duration;

/// Scopes of the CPU period and quota parameters (`<scope>_period`, `<scope>_quota`).
const CPU_SCOPES: [&str; 4] = ["vcpu", "emulator", "global", "iothread"];

/// Quotas at or above this are "no limit" (libvirt's maximum is 17592186044415 µs; -1 also
/// means none).
const UNBOUNDED_QUOTA_US: i64 = 17_592_186_044_415;

/// Memory limits at this many KiB mean unlimited (`VIR_DOMAIN_MEMORY_PARAM_UNLIMITED`).
const UNLIMITED_KIB: u64 = 9_007_199_254_740_991;

/// Memory parameters and their families.
const MEMORY_LIMITS: [(&str, &str, &str); 4] = [
    (
        "hard_limit",
        "libvirt_domain_memory_tune_hard_limit_bytes",
        "Most host memory the domain may use, in bytes (set limits only).",
    ),
    (
        "soft_limit",
        "libvirt_domain_memory_tune_soft_limit_bytes",
        "Host memory the domain is held to when the host runs short, in bytes (set limits only).",
    ),
    (
        "swap_hard_limit",
        "libvirt_domain_memory_tune_swap_hard_limit_bytes",
        "Most memory plus swap the domain may use, in bytes (set limits only).",
    ),
    (
        "min_guarantee",
        "libvirt_domain_memory_tune_min_guarantee_bytes",
        "Host memory guaranteed to the domain, in bytes (set values only).",
    ),
];

pub struct TuningGroup;

impl SlowDomainCollector for TuningGroup {
    fn name(&self) -> &'static str {
        "tuning"
    }
    fn enabled_by_default(&self) -> bool {
        false
    }
    fn interval(&self, collect_interval: Duration) -> Duration {
        collect_interval.max(Duration::from_secs(60))
    }
    fn collect(&self, domain: &Domain, out: &mut DomainStats) -> Result<(), LibvirtError> {
        out.tuning = Tuning::default();
        if !running(domain) {
            return Ok(());
        }
        let sched = unless_unsupported(domain.scheduler_parameters())?;
        let memory = unless_unsupported(domain.memory_parameters())?;
        out.tuning = decode(&Fields::new(&sched), &Fields::new(&memory));
        Ok(())
    }
    fn merge(&self, from: &DomainStats, into: &mut DomainStats) {
        into.tuning.clone_from(&from.tuning);
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        let mut all = vec![
            ("libvirt_domain_cpu_tune_shares", Kind::Gauge),
            ("libvirt_domain_cpu_tune_period_seconds", Kind::Gauge),
            ("libvirt_domain_cpu_tune_quota_seconds", Kind::Gauge),
        ];
        all.extend(MEMORY_LIMITS.iter().map(|(_, f, _)| (*f, Kind::Gauge)));
        all
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
        emit(
            sink,
            "libvirt_domain_cpu_tune_shares",
            Kind::Gauge,
            "CPU shares (weight) of the domain against the other domains.",
            domains
                .iter()
                .filter_map(|&d| Some((domain_label(d), Value::Int(d.tuning.cpu_shares?)))),
        )?;
        let by_scope = |d: &DomainStats, scope: &str, v: f64| {
            let mut labels = domain_label(d);
            labels.push(("scope", scope.to_string()));
            (labels, Value::Float(v))
        };
        emit(
            sink,
            "libvirt_domain_cpu_tune_period_seconds",
            Kind::Gauge,
            "CPU bandwidth period, in seconds, by scope (vcpu: each vCPU, emulator, global: the whole domain, iothread).",
            domains.iter().flat_map(|&d| {
                d.tuning.cpu_periods.iter().map(move |(s, v)| by_scope(d, s, *v))
            }),
        )?;
        emit(
            sink,
            "libvirt_domain_cpu_tune_quota_seconds",
            Kind::Gauge,
            "CPU time allowed per period, in seconds, by scope; only bounded quotas.",
            domains.iter().flat_map(|&d| {
                d.tuning
                    .cpu_quotas
                    .iter()
                    .map(move |(s, v)| by_scope(d, s, *v))
            }),
        )?;
        for (parameter, family, help) in MEMORY_LIMITS {
            emit(
                sink,
                family,
                Kind::Gauge,
                help,
                domains.iter().filter_map(|&d| {
                    let (_, bytes) = d
                        .tuning
                        .memory_limits
                        .iter()
                        .find(|(p, _)| *p == parameter)?;
                    Some((domain_label(d), Value::Int(*bytes)))
                }),
            )?;
        }
        Ok(())
    }
}

fn signed(f: &Fields, key: &str) -> Option<i64> {
    match f.value(key)? {
        ParamValue::Int(v) => Some(*v),
        ParamValue::UInt(v) => i64::try_from(*v).ok(),
        _ => None,
    }
}

fn decode(sched: &Fields, memory: &Fields) -> Tuning {
    Tuning {
        cpu_shares: sched.u64("cpu_shares"),
        cpu_periods: CPU_SCOPES
            .iter()
            .filter_map(|s| {
                let us = sched.u64(&format!("{s}_period")).filter(|v| *v > 0)?;
                Some((*s, us as f64 / 1e6))
            })
            .collect(),
        cpu_quotas: CPU_SCOPES
            .iter()
            .filter_map(|s| {
                let us = signed(sched, &format!("{s}_quota"))
                    .filter(|v| *v > 0 && *v < UNBOUNDED_QUOTA_US)?;
                Some((*s, us as f64 / 1e6))
            })
            .collect(),
        memory_limits: MEMORY_LIMITS
            .iter()
            .filter_map(|(p, _, _)| {
                let kib = memory.u64(p).filter(|v| *v > 0 && *v < UNLIMITED_KIB)?;
                Some((*p, kib_to_bytes(kib)))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::TypedParam;

    fn p(field: &str, value: ParamValue) -> TypedParam {
        TypedParam {
            field: field.into(),
            value,
        }
    }

    #[test]
    fn unlimited_values_are_left_out_and_units_converted() {
        let sched = [
            p("cpu_shares", ParamValue::UInt(1024)),
            p("vcpu_period", ParamValue::UInt(100_000)),
            p("vcpu_quota", ParamValue::Int(50_000)),
            p("emulator_period", ParamValue::UInt(100_000)),
            p("emulator_quota", ParamValue::Int(-1)),
            p("global_quota", ParamValue::Int(UNBOUNDED_QUOTA_US)),
        ];
        let memory = [
            p("hard_limit", ParamValue::UInt(1_048_576)),
            p("soft_limit", ParamValue::UInt(UNLIMITED_KIB)),
            p("swap_hard_limit", ParamValue::UInt(UNLIMITED_KIB)),
        ];
        let t = decode(&Fields::new(&sched), &Fields::new(&memory));
        assert_eq!(t.cpu_shares, Some(1024));
        assert_eq!(t.cpu_periods, vec![("vcpu", 0.1), ("emulator", 0.1)]);
        assert_eq!(t.cpu_quotas, vec![("vcpu", 0.05)]);
        assert_eq!(t.memory_limits, vec![("hard_limit", 1_073_741_824)]);
    }
}
