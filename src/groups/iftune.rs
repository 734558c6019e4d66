//! The `iftune` group: the bandwidth limits set on each NIC of a running domain
//! (`virDomainGetInterfaceParameters`): inbound and outbound average, peak and burst, and
//! the inbound floor, converted from libvirt's KiB to bytes. Only limits that are set
//! produce series.

use super::{parse_xml, running, unless_unsupported, SLOW_CALL_DEADLINE};
use crate::collect::slow::SlowDomainCollector;
use crate::collect::Fields;
use crate::family::{device_labels, emit, Kind, Sink, Value};
use crate::libvirt::{Domain, LibvirtError};
use crate::snapshot::{DomainStats, InterfaceLimits, Limit};
use std::fmt;
use std::time::Duration;

/// libvirt's parameter (in KiB or KiB/s), its family and its `direction` label.
pub const PARAMETERS: &[(&str, &str, &str)] = &[
    (
        "inbound.average",
        "libvirt_domain_interface_limit_average_bytes_per_second",
        "inbound",
    ),
    (
        "inbound.peak",
        "libvirt_domain_interface_limit_peak_bytes_per_second",
        "inbound",
    ),
    (
        "inbound.burst",
        "libvirt_domain_interface_limit_burst_bytes",
        "inbound",
    ),
    (
        "inbound.floor",
        "libvirt_domain_interface_limit_floor_bytes_per_second",
        "inbound",
    ),
    (
        "outbound.average",
        "libvirt_domain_interface_limit_average_bytes_per_second",
        "outbound",
    ),
    (
        "outbound.peak",
        "libvirt_domain_interface_limit_peak_bytes_per_second",
        "outbound",
    ),
    (
        "outbound.burst",
        "libvirt_domain_interface_limit_burst_bytes",
        "outbound",
    ),
];

const FAMILIES: &[(&str, &str)] = &[
    ("libvirt_domain_interface_limit_average_bytes_per_second", "Average bandwidth limit of the interface, in bytes per second, by direction (inbound, outbound: as the guest sees it, like the interface counters); only limits that are set."),
    ("libvirt_domain_interface_limit_peak_bytes_per_second", "Peak bandwidth limit of the interface, in bytes per second, by direction."),
    ("libvirt_domain_interface_limit_burst_bytes", "Bytes the interface may send or receive in one burst at its peak rate, by direction."),
    ("libvirt_domain_interface_limit_floor_bytes_per_second", "Guaranteed inbound bandwidth of the interface, in bytes per second."),
];

pub struct IfTune;

impl SlowDomainCollector for IfTune {
    fn name(&self) -> &'static str {
        "iftune"
    }
    fn enabled_by_default(&self) -> bool {
        false
    }
    fn interval(&self, collect_interval: Duration) -> Duration {
        collect_interval.max(Duration::from_secs(60))
    }
    fn deadline(&self) -> Duration {
        SLOW_CALL_DEADLINE
    }
    fn collect(&self, domain: &Domain, out: &mut DomainStats) -> Result<(), LibvirtError> {
        out.interface_limits.clear();
        if !running(domain) {
            return Ok(());
        }
        let xml = parse_xml(&domain.xml()?)?;
        for target_device in xml
            .interfaces
            .iter()
            .filter_map(|i| i.target_device.clone())
        {
            let params = unless_unsupported(domain.interface_parameters(&target_device))?;
            let limits = decode(&Fields::new(&params));
            if !limits.is_empty() {
                out.interface_limits.push(InterfaceLimits {
                    target_device,
                    limits,
                });
            }
        }
        Ok(())
    }
    fn merge(&self, from: &DomainStats, into: &mut DomainStats) {
        into.interface_limits.clone_from(&from.interface_limits);
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        FAMILIES.iter().map(|(f, _)| (*f, Kind::Gauge)).collect()
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
        for (family, help) in FAMILIES {
            let samples = domains.iter().flat_map(|&d| {
                d.interface_limits.iter().flat_map(move |nic| {
                    nic.limits.iter().filter_map(move |l| {
                        let (_, f, direction) = PARAMETERS.iter().find(|p| p.0 == l.parameter)?;
                        (f == family).then(|| {
                            let mut labels = device_labels(d, &nic.target_device);
                            labels.push(("direction", direction.to_string()));
                            (labels, Value::Float(l.value))
                        })
                    })
                })
            });
            emit(sink, family, Kind::Gauge, help, samples)?;
        }
        Ok(())
    }
}

/// The limits that are set (non-zero), in bytes (per second).
fn decode(f: &Fields) -> Vec<Limit> {
    PARAMETERS
        .iter()
        .filter_map(|(parameter, _, _)| {
            let kib = f.u64(parameter).filter(|v| *v > 0)?;
            Some(Limit {
                parameter,
                value: (kib * 1024) as f64,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::{ParamValue, TypedParam};

    #[test]
    fn limits_are_converted_from_kib_and_unset_ones_dropped() {
        let params = [
            TypedParam {
                field: "inbound.average".into(),
                value: ParamValue::UInt(1000),
            },
            TypedParam {
                field: "outbound.peak".into(),
                value: ParamValue::UInt(0),
            },
        ];
        assert_eq!(
            decode(&Fields::new(&params)),
            vec![Limit {
                parameter: "inbound.average",
                value: 1_024_000.0
            }]
        );
    }
}
