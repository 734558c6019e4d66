//! The `diskerror` group: each disk's I/O error state from `virDomainGetDiskErrors` (none,
//! unspecified, no space), for running domains. With `error_policy='report'` the guest gets
//! I/O errors while the domain keeps running, so the paused-on-I/O-error state alone misses
//! them. libvirt keeps the error until the domain stops; the call reads libvirt's own record
//! and does not talk to QEMU.

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
            "I/O error state of the disk since the domain started, one series per state (none, unspecified, no_space): 1 for the disk's state.",
            domains.iter().flat_map(|&d| {
                d.disk_errors.iter().flat_map(move |e| {
                    ERRORS.iter().enumerate().map(move |(i, name)| {
                        let mut labels = device_labels(d, &e.target_device);
                        labels.push(("error", name.to_string()));
                        (labels, Value::from(e.error as usize == i))
                    })
                })
            }),
        )
    }
}
