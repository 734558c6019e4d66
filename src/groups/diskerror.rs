//! The `diskerror` group: each disk's I/O error state from `virDomainGetDiskErrors` (none,
//! unspecified, no space), for running and paused domains. libvirt asks QEMU (`query-block`,
//! under a query job, so a domain busy with another job answers late). QEMU records an error
//! only when it paused the domain for it (the default `error_policy`, or `stop`, `enospc`),
//! and keeps the record after the domain is resumed, until it stops (QEMU 7.2). An error that
//! `error_policy='report'` or `'ignore'` passes to the guest while the domain keeps running
//! leaves the state at none, as in `virsh domblkerror`: only the I/O error events count those.

use super::{disk_targets, running};
use crate::collect::slow::SlowDomainCollector;
use crate::family::{device_labels, emit, Kind, Sink, Value};
use crate::libvirt::{Domain, LibvirtError};
use crate::snapshot::{DiskError, DomainStats};
use std::fmt;
use std::time::Duration;

/// `virDomainDiskErrorCode` names, by number.
pub const ERRORS: [&str; 3] = ["none", "unspecified", "no_space"];

pub struct DiskErrors;

impl SlowDomainCollector for DiskErrors {
    fn name(&self) -> &'static str {
        "diskerror"
    }
    fn enabled_by_default(&self) -> bool {
        true
    }
    fn interval(&self, collect_interval: Duration) -> Duration {
        // Not more often than every 15 s even with a denser domain cycle: each run is a
        // call per domain.
        collect_interval.max(Duration::from_secs(15))
    }
    fn collect(&self, domain: &Domain, out: &mut DomainStats) -> Result<(), LibvirtError> {
        out.disk_errors.clear();
        if !running(domain) {
            return Ok(());
        }
        let errors = domain.disk_errors()?;
        out.disk_errors = disk_targets(domain)?
            .into_iter()
            .map(|target_device| {
                let error = errors
                    .iter()
                    .find(|(disk, _)| *disk == target_device)
                    .map_or(0, |(_, e)| *e);
                DiskError {
                    target_device,
                    error,
                }
            })
            .collect();
        Ok(())
    }
    fn merge(&self, from: &DomainStats, into: &mut DomainStats) {
        into.disk_errors.clone_from(&from.disk_errors);
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        vec![("libvirt_domain_block_error", Kind::Gauge)]
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
        emit(
            sink,
            "libvirt_domain_block_error",
            Kind::Gauge,
            "I/O error that made QEMU pause the domain since it started, by disk, one series per state (none, unspecified, no_space): 1 for the disk's state; it stays after the domain is resumed.",
            domains.iter().flat_map(|&d| {
                d.disk_errors.iter().flat_map(move |e| {
                    // a code newer than this table gets a series of its own, by number
                    let newer = (e.error as usize >= ERRORS.len()).then(|| e.error.to_string());
                    let names = ERRORS.iter().map(|n| n.to_string()).chain(newer);
                    names.map(move |name| {
                        let is = ERRORS.get(e.error as usize).map_or(e.error.to_string(), |n| n.to_string()) == name;
                        let mut labels = device_labels(d, &e.target_device);
                        labels.push(("error", name));
                        (labels, Value::from(is))
                    })
                })
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::{Labels, Value};

    /// Every sample written, as (family, labels, value).
    #[derive(Default)]
    struct Written(Vec<(String, Labels, Value)>);

    impl Sink for Written {
        fn family(
            &mut self,
            name: &str,
            _: Kind,
            _: &str,
            samples: &mut dyn Iterator<Item = (Labels, Value)>,
        ) -> fmt::Result {
            self.0
                .extend(samples.map(|(l, v)| (name.to_string(), l, v)));
            Ok(())
        }
    }

    fn states(error: u32) -> Vec<(String, Value)> {
        let d = DomainStats {
            name: "web".into(),
            disk_errors: vec![DiskError {
                target_device: "vda".into(),
                error,
            }],
            ..DomainStats::default()
        };
        let mut out = Written::default();
        DiskErrors.encode(&mut out, &[&d]).unwrap();
        out.0
            .into_iter()
            .map(|(_, labels, v)| (labels.last().unwrap().1.clone(), v))
            .collect()
    }

    #[test]
    fn one_series_per_state_and_a_newer_code_by_its_number() {
        assert_eq!(
            states(2),
            [
                ("none".into(), Value::Int(0)),
                ("unspecified".into(), Value::Int(0)),
                ("no_space".into(), Value::Int(1)),
            ]
        );
        assert_eq!(
            states(7),
            [
                ("none".into(), Value::Int(0)),
                ("unspecified".into(), Value::Int(0)),
                ("no_space".into(), Value::Int(0)),
                ("7".into(), Value::Int(1)),
            ]
        );
    }
}
