//! The `iftune` group: the bandwidth limits set on each NIC of a running domain
//! (`virDomainGetInterfaceParameters`): inbound and outbound average, peak and burst, and
//! the inbound floor, converted from libvirt's KiB to bytes. Only limits that are set
//! produce series.

use super::limits::{self, Parameter};
use super::{parse_xml, running, unless_unsupported};
use crate::collect::slow::SlowDomainCollector;
use crate::collect::Fields;
use crate::family::{device_labels, Kind, Sink};
use crate::libvirt::{Domain, LibvirtError};
use crate::snapshot::{DomainStats, InterfaceLimits};
use std::fmt;
use std::time::Duration;

/// libvirt's parameters, the family each goes to and its `direction` label. Rates are in
/// kilobytes per second as tc counts them (1000 bytes: libvirt hands them to tc as `kbps`),
/// the burst in KiB (1024 bytes: tc's `kb`).
pub const PARAMETERS: &[Parameter] = &[
    Parameter {
        name: "inbound.average",
        family: "libvirt_domain_interface_limit_average_bytes_per_second",
        direction: Some("inbound"),
        scale: 1000,
    },
    Parameter {
        name: "inbound.peak",
        family: "libvirt_domain_interface_limit_peak_bytes_per_second",
        direction: Some("inbound"),
        scale: 1000,
    },
    Parameter {
        name: "inbound.burst",
        family: "libvirt_domain_interface_limit_burst_bytes",
        direction: Some("inbound"),
        scale: 1024,
    },
    Parameter {
        name: "inbound.floor",
        family: "libvirt_domain_interface_limit_floor_bytes_per_second",
        direction: Some("inbound"),
        scale: 1000,
    },
    Parameter {
        name: "outbound.average",
        family: "libvirt_domain_interface_limit_average_bytes_per_second",
        direction: Some("outbound"),
        scale: 1000,
    },
    Parameter {
        name: "outbound.peak",
        family: "libvirt_domain_interface_limit_peak_bytes_per_second",
        direction: Some("outbound"),
        scale: 1000,
    },
    Parameter {
        name: "outbound.burst",
        family: "libvirt_domain_interface_limit_burst_bytes",
        direction: Some("outbound"),
        scale: 1024,
    },
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
            let limits = limits::decode(PARAMETERS, &Fields::new(&params));
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
        limits::encode(sink, FAMILIES, PARAMETERS, || {
            Box::new(domains.iter().flat_map(|&d| {
                d.interface_limits
                    .iter()
                    .map(move |nic| (device_labels(d, &nic.target_device), &nic.limits[..]))
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::{ParamValue, TypedParam};
    use crate::snapshot::Limit;

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
            limits::decode(PARAMETERS, &Fields::new(&params)),
            vec![Limit {
                parameter: "inbound.average",
                value: 1_000_000.0
            }]
        );
    }
}
