//! The `iotune` group: the I/O limits set on each disk (`virDomainGetBlockIoTune`): bytes
//! and requests per second in total, for reads and for writes, their burst values and burst
//! lengths, the request size counted as one I/O, and the throttle group. Only limits that
//! are set produce series (and only disks with a medium: an empty CD-ROM drive has nothing to
//! throttle, and libvirt fails the call for it), so `rate(libvirt_domain_block_stats_read_bytes_total[5m]) /
//! libvirt_domain_block_limit_bytes_per_second` is the share of its limit a disk uses.

use super::limits::{self, Parameter};
use super::{parse_xml, running, unless_unsupported};
use crate::collect::slow::SlowDomainCollector;
use crate::collect::Fields;
use crate::family::{device_labels, emit, Kind, Sink, Value};
use crate::libvirt::domain_xml::DiskXml;
use crate::libvirt::{Domain, LibvirtError, ParamValue};
use crate::snapshot::{DiskLimits, DomainStats};
use std::fmt;
use std::time::Duration;

/// libvirt's parameters, the family each goes to and its `direction` label (if any).
pub const PARAMETERS: &[Parameter] = &[
    Parameter {
        name: "total_bytes_sec",
        family: "libvirt_domain_block_limit_bytes_per_second",
        direction: Some("total"),
        scale: 1,
    },
    Parameter {
        name: "read_bytes_sec",
        family: "libvirt_domain_block_limit_bytes_per_second",
        direction: Some("read"),
        scale: 1,
    },
    Parameter {
        name: "write_bytes_sec",
        family: "libvirt_domain_block_limit_bytes_per_second",
        direction: Some("write"),
        scale: 1,
    },
    Parameter {
        name: "total_iops_sec",
        family: "libvirt_domain_block_limit_requests_per_second",
        direction: Some("total"),
        scale: 1,
    },
    Parameter {
        name: "read_iops_sec",
        family: "libvirt_domain_block_limit_requests_per_second",
        direction: Some("read"),
        scale: 1,
    },
    Parameter {
        name: "write_iops_sec",
        family: "libvirt_domain_block_limit_requests_per_second",
        direction: Some("write"),
        scale: 1,
    },
    Parameter {
        name: "total_bytes_sec_max",
        family: "libvirt_domain_block_limit_burst_bytes_per_second",
        direction: Some("total"),
        scale: 1,
    },
    Parameter {
        name: "read_bytes_sec_max",
        family: "libvirt_domain_block_limit_burst_bytes_per_second",
        direction: Some("read"),
        scale: 1,
    },
    Parameter {
        name: "write_bytes_sec_max",
        family: "libvirt_domain_block_limit_burst_bytes_per_second",
        direction: Some("write"),
        scale: 1,
    },
    Parameter {
        name: "total_iops_sec_max",
        family: "libvirt_domain_block_limit_burst_requests_per_second",
        direction: Some("total"),
        scale: 1,
    },
    Parameter {
        name: "read_iops_sec_max",
        family: "libvirt_domain_block_limit_burst_requests_per_second",
        direction: Some("read"),
        scale: 1,
    },
    Parameter {
        name: "write_iops_sec_max",
        family: "libvirt_domain_block_limit_burst_requests_per_second",
        direction: Some("write"),
        scale: 1,
    },
    Parameter {
        name: "total_bytes_sec_max_length",
        family: "libvirt_domain_block_limit_burst_bytes_length_seconds",
        direction: Some("total"),
        scale: 1,
    },
    Parameter {
        name: "read_bytes_sec_max_length",
        family: "libvirt_domain_block_limit_burst_bytes_length_seconds",
        direction: Some("read"),
        scale: 1,
    },
    Parameter {
        name: "write_bytes_sec_max_length",
        family: "libvirt_domain_block_limit_burst_bytes_length_seconds",
        direction: Some("write"),
        scale: 1,
    },
    Parameter {
        name: "total_iops_sec_max_length",
        family: "libvirt_domain_block_limit_burst_requests_length_seconds",
        direction: Some("total"),
        scale: 1,
    },
    Parameter {
        name: "read_iops_sec_max_length",
        family: "libvirt_domain_block_limit_burst_requests_length_seconds",
        direction: Some("read"),
        scale: 1,
    },
    Parameter {
        name: "write_iops_sec_max_length",
        family: "libvirt_domain_block_limit_burst_requests_length_seconds",
        direction: Some("write"),
        scale: 1,
    },
    Parameter {
        name: "size_iops_sec",
        family: "libvirt_domain_block_limit_request_size_bytes",
        direction: None,
        scale: 1,
    },
];

/// Families and their help, in output order.
const FAMILIES: &[(&str, &str)] = &[
    ("libvirt_domain_block_limit_bytes_per_second", "I/O limit of the disk, in bytes per second, by direction (total, read, write); only limits that are set."),
    ("libvirt_domain_block_limit_requests_per_second", "I/O limit of the disk, in requests per second, by direction; only limits that are set."),
    ("libvirt_domain_block_limit_burst_bytes_per_second", "Burst I/O limit of the disk, in bytes per second, by direction."),
    ("libvirt_domain_block_limit_burst_requests_per_second", "Burst I/O limit of the disk, in requests per second, by direction."),
    ("libvirt_domain_block_limit_burst_bytes_length_seconds", "How long the disk may stay at its burst limit in bytes, in seconds, by direction."),
    ("libvirt_domain_block_limit_burst_requests_length_seconds", "How long the disk may stay at its burst limit in requests, in seconds, by direction."),
    ("libvirt_domain_block_limit_request_size_bytes", "Request size counted as one request by the disk's request limits, in bytes."),
];

pub struct IoTune;

impl SlowDomainCollector for IoTune {
    fn name(&self) -> &'static str {
        "iotune"
    }
    fn enabled_by_default(&self) -> bool {
        false
    }
    fn interval(&self, collect_interval: Duration) -> Duration {
        collect_interval.max(Duration::from_secs(60))
    }
    fn collect(&self, domain: &Domain, out: &mut DomainStats) -> Result<(), LibvirtError> {
        out.disk_limits.clear();
        if !running(domain) {
            return Ok(());
        }
        let xml = parse_xml(&domain.xml()?)?;
        for target_device in xml
            .disks
            .into_iter()
            .filter(has_medium)
            .map(|d| d.target_device)
        {
            let params = unless_unsupported(domain.block_io_tune(&target_device))?;
            let limits = decode(&target_device, &Fields::new(&params));
            if !limits.limits.is_empty() || limits.group.is_some() {
                out.disk_limits.push(limits);
            }
        }
        Ok(())
    }
    fn merge(&self, from: &DomainStats, into: &mut DomainStats) {
        into.disk_limits.clone_from(&from.disk_limits);
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        let mut all: Vec<_> = FAMILIES.iter().map(|(f, _)| (*f, Kind::Gauge)).collect();
        all.push(("libvirt_domain_block_limit_group", Kind::Info));
        all
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
        limits::encode(sink, FAMILIES, PARAMETERS, || {
            Box::new(domains.iter().flat_map(|&d| {
                d.disk_limits
                    .iter()
                    .map(move |disk| (device_labels(d, &disk.target_device), &disk.limits[..]))
            }))
        })?;
        emit(
            sink,
            "libvirt_domain_block_limit_group",
            Kind::Info,
            "The throttle group whose I/O limits the disk shares.",
            domains.iter().flat_map(|&d| {
                d.disk_limits.iter().filter_map(move |disk| {
                    let mut labels = device_labels(d, &disk.target_device);
                    labels.push(("group", disk.group.clone()?));
                    Some((labels, Value::Int(1)))
                })
            }),
        )
    }
}

/// Whether the disk has something in it to throttle. An empty CD-ROM or floppy drive (a file
/// or block disk without a source) has not: QEMU answers libvirt's question about it in a form
/// libvirt rejects ("block_io_throttle inserted entry was not in expected format"), which
/// would fail the whole domain.
fn has_medium(disk: &DiskXml) -> bool {
    disk.source.is_some() || !matches!(disk.disk_type.as_deref(), Some("file" | "block"))
}

/// The limits that are set among one disk's parameters, and its throttle group.
fn decode(target_device: &str, f: &Fields) -> DiskLimits {
    DiskLimits {
        target_device: target_device.to_string(),
        limits: limits::decode(PARAMETERS, f),
        group: match f.value("group_name") {
            Some(ParamValue::Text(g)) if !g.is_empty() => Some(g.clone()),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::TypedParam;
    use crate::snapshot::Limit;

    fn param(field: &str, value: ParamValue) -> TypedParam {
        TypedParam {
            field: field.into(),
            value,
        }
    }

    #[test]
    fn only_limits_that_are_set_are_kept() {
        let params = [
            param("total_bytes_sec", ParamValue::UInt(1_048_576)),
            param("read_bytes_sec", ParamValue::UInt(0)),
            param("write_iops_sec_max_length", ParamValue::UInt(30)),
            param("group_name", ParamValue::Text("db".into())),
        ];
        let limits = decode("vda", &Fields::new(&params));
        assert_eq!(
            limits.limits,
            vec![
                Limit {
                    parameter: "total_bytes_sec",
                    value: 1_048_576.0
                },
                Limit {
                    parameter: "write_iops_sec_max_length",
                    value: 30.0
                },
            ]
        );
        assert_eq!(limits.group.as_deref(), Some("db"));
        let none = decode(
            "vda",
            &Fields::new(&[param("group_name", ParamValue::Text(String::new()))]),
        );
        assert!(none.limits.is_empty() && none.group.is_none());
    }

    #[test]
    fn an_empty_drive_is_not_asked_but_a_disk_of_any_other_kind_is() {
        let disk = |disk_type: &str, source: Option<&str>| DiskXml {
            target_device: "hdc".into(),
            disk_type: Some(disk_type.into()),
            source: source.map(str::to_string),
            ..DiskXml::default()
        };
        assert!(!has_medium(&disk("file", None)));
        assert!(!has_medium(&disk("block", None)));
        assert!(has_medium(&disk("file", Some("/img/a.iso"))));
        assert!(has_medium(&disk("network", Some("pool/img"))));
        // an NVMe disk names its source by PCI address, which the XML reader does not keep
        assert!(has_medium(&disk("nvme", None)));
    }

    #[test]
    fn every_parameter_goes_to_a_listed_family() {
        for p in PARAMETERS {
            assert!(FAMILIES.iter().any(|(f, _)| *f == p.family), "{}", p.name);
        }
        for (family, _) in FAMILIES {
            assert!(PARAMETERS.iter().any(|p| p.family == *family), "{family}");
        }
        assert_eq!(PARAMETERS.len(), 19);
    }
}
