//! The `blockjob` group: the block job running on each disk of a running domain (pull,
//! copy, commit, active commit, backup) from `virDomainGetBlockJobInfo`: its type, the bytes
//! done and to do, and its bandwidth limit. Disks without a job have no series.

use super::{disk_targets, running, unless_unsupported};
use crate::collect::slow::SlowDomainCollector;
use crate::family::{device_labels, emit, Kind, Sink, Value};
use crate::libvirt::{Domain, LibvirtError};
use crate::snapshot::{BlockJob, DomainStats};
use std::fmt;
use std::time::Duration;

/// `virDomainBlockJobType` names, by number.
pub const JOB_TYPES: [&str; 6] = [
    "unknown",
    "pull",
    "copy",
    "commit",
    "active_commit",
    "backup",
];

/// The name of a block job type; a type newer than this code as its number.
pub fn job_type_name(job_type: u32) -> String {
    JOB_TYPES
        .get(job_type as usize)
        .map_or_else(|| job_type.to_string(), |n| n.to_string())
}

pub struct BlockJobs;

impl SlowDomainCollector for BlockJobs {
    fn name(&self) -> &'static str {
        "blockjob"
    }
    fn enabled_by_default(&self) -> bool {
        false
    }
    fn interval(&self, collect_interval: Duration) -> Duration {
        collect_interval.max(Duration::from_secs(15))
    }
    fn collect(&self, domain: &Domain, out: &mut DomainStats) -> Result<(), LibvirtError> {
        out.block_jobs.clear();
        if !running(domain) {
            return Ok(());
        }
        for target_device in disk_targets(domain)? {
            if let Some(job) = unless_unsupported(domain.block_job(&target_device))? {
                out.block_jobs.push(BlockJob {
                    target_device,
                    job_type: job_type_name(job.job_type),
                    processed_bytes: job.cursor,
                    total_bytes: job.end,
                    bandwidth_bytes_per_second: job.bandwidth_bytes_per_second,
                });
            }
        }
        Ok(())
    }
    fn merge(&self, from: &DomainStats, into: &mut DomainStats) {
        into.block_jobs.clone_from(&from.block_jobs);
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        vec![
            ("libvirt_domain_block_job", Kind::Info),
            ("libvirt_domain_block_job_processed_bytes", Kind::Gauge),
            ("libvirt_domain_block_job_total_bytes", Kind::Gauge),
            (
                "libvirt_domain_block_job_bandwidth_bytes_per_second",
                Kind::Gauge,
            ),
        ]
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
        let jobs = || {
            domains
                .iter()
                .flat_map(|&d| d.block_jobs.iter().map(move |j| (d, j)))
        };
        emit(
            sink,
            "libvirt_domain_block_job",
            Kind::Info,
            "The block job running on the disk, with its type (pull, copy, commit, active_commit, backup).",
            jobs().map(|(d, j)| {
                let mut labels = device_labels(d, &j.target_device);
                labels.push(("type", j.job_type.clone()));
                (labels, Value::Int(1))
            }),
        )?;
        let value = |name, help, f: fn(&BlockJob) -> u64| (name, help, f);
        for (name, help, f) in [
            value("libvirt_domain_block_job_processed_bytes", "Work the disk's block job has done, in bytes.", |j| j.processed_bytes),
            value("libvirt_domain_block_job_total_bytes", "Work the disk's block job has to do in all, in bytes (it may grow while the job runs).", |j| j.total_bytes),
            value("libvirt_domain_block_job_bandwidth_bytes_per_second", "Bandwidth limit of the disk's block job, in bytes per second (0: none).", |j| j.bandwidth_bytes_per_second),
        ] {
            emit(
                sink,
                name,
                Kind::Gauge,
                help,
                jobs().map(|(d, j)| (device_labels(d, &j.target_device), Value::Int(f(j)))),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_types_have_names_and_new_ones_their_number() {
        assert_eq!(job_type_name(2), "copy");
        assert_eq!(job_type_name(4), "active_commit");
        assert_eq!(job_type_name(9), "9");
    }
}
