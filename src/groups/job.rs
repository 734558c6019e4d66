//! The `job` collector: the type and progress of the job running on each active domain (a
//! migration, a save, a dump...), through `virDomainGetJobStats`.
//!
//! There is no bulk group for jobs: each question is one call per domain, so a domain is asked
//! only when `job_schedule` says (new, changed, with a job, or once per interval). With QEMU
//! the call takes the domain's query job, which runs alongside the long asynchronous jobs it
//! reports on but waits (up to 30 s) behind another synchronous job. So a domain the bulk
//! call found busy (NOWAIT skipped its job-only fields) is not asked this cycle.

use crate::collect::{DomainCollector, FallbackContext, Fields};
use crate::family::{catalogue, emit_per_domain, family, Family, Kind, Sink};
use crate::libvirt::{JobStatsRaw, LibvirtError};
use crate::snapshot::{DomainStats, JobStats};
use std::fmt;

use Kind::Gauge;

/// inovex's names: the type of the job running on each active domain and, while one runs,
/// its progress in seconds and bytes.
const FAMILIES: &[Family<DomainStats>] = &[
    family!(
        "libvirt_domain_job_info_type",
        Gauge,
        "Type of the domain's current job (0 none, 1 bounded, 2 unbounded, 3 completed, 4 failed, 5 cancelled).",
        |d: DomainStats| d.job.job_type
    ),
    family!(
        "libvirt_domain_job_info_time_elapsed_seconds",
        Gauge,
        "Time since the domain's current job started, in seconds.",
        |d: DomainStats| d.job.time_elapsed_seconds
    ),
    family!(
        "libvirt_domain_job_info_time_remaining_seconds",
        Gauge,
        "Estimated time until the domain's current job ends, in seconds (bounded jobs only).",
        |d: DomainStats| d.job.time_remaining_seconds
    ),
    family!(
        "libvirt_domain_job_info_data_total_bytes",
        Gauge,
        "Data the domain's current job has to move in total (memory and disks), in bytes.",
        |d: DomainStats| d.job.data_total_bytes
    ),
    family!(
        "libvirt_domain_job_info_data_processed_bytes",
        Gauge,
        "Data the domain's current job has moved so far, in bytes.",
        |d: DomainStats| d.job.data_processed_bytes
    ),
    family!(
        "libvirt_domain_job_info_data_remaining_bytes",
        Gauge,
        "Data the domain's current job still has to move, in bytes.",
        |d: DomainStats| d.job.data_remaining_bytes
    ),
    family!(
        "libvirt_domain_job_info_memory_total_bytes",
        Gauge,
        "Guest memory the domain's current job has to move in total, in bytes.",
        |d: DomainStats| d.job.memory_total_bytes
    ),
    family!(
        "libvirt_domain_job_info_memory_processed_bytes",
        Gauge,
        "Guest memory the domain's current job has moved so far, in bytes.",
        |d: DomainStats| d.job.memory_processed_bytes
    ),
    family!(
        "libvirt_domain_job_info_memory_remaining_bytes",
        Gauge,
        "Guest memory the domain's current job still has to move, in bytes.",
        |d: DomainStats| d.job.memory_remaining_bytes
    ),
    family!(
        "libvirt_domain_job_info_file_total_bytes",
        Gauge,
        "Disk data the domain's current job has to copy in total, in bytes.",
        |d: DomainStats| d.job.file_total_bytes
    ),
    family!(
        "libvirt_domain_job_info_file_processed_bytes",
        Gauge,
        "Disk data the domain's current job has copied so far, in bytes.",
        |d: DomainStats| d.job.file_processed_bytes
    ),
    family!(
        "libvirt_domain_job_info_file_remaining_bytes",
        Gauge,
        "Disk data the domain's current job still has to copy, in bytes.",
        |d: DomainStats| d.job.file_remaining_bytes
    ),
];

pub struct Job;

impl DomainCollector for Job {
    fn name(&self) -> &'static str {
        "job"
    }
    fn group(&self) -> u32 {
        0
    }
    fn decode(&self, _: &Fields, _: &mut DomainStats) -> bool {
        true
    }
    fn fallback(&self, ctx: &FallbackContext, out: &mut DomainStats) -> Result<(), LibvirtError> {
        if !ctx.active || ctx.busy {
            return Ok(());
        }
        if let Some(known) = &ctx.known_job {
            out.job = known.clone();
            return Ok(());
        }
        match ctx.domain.job_stats() {
            Ok(raw) => {
                out.job = job_stats(&raw);
                ctx.job_answered.set(true);
                Ok(())
            }
            // A driver without job statistics (the test driver), or a domain that stopped
            // between the bulk call and this one: no job series, not a failure.
            Err(e) if e.is_unsupported() || e.is_operation_invalid() => {
                ctx.job_answered.set(true);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        catalogue(FAMILIES).collect()
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
        emit_per_domain(sink, FAMILIES, domains)
    }
}

/// Converts libvirt's job fields (times in ms, sizes in bytes) to base units. The sizes are
/// kept only while a job runs.
fn job_stats(raw: &JobStatsRaw) -> JobStats {
    let f = Fields::new(&raw.params);
    let ms = |k: &str| f.u64(k).map(|v| v as f64 / 1000.0);
    let mut job = JobStats {
        job_type: Some(raw.job_type),
        ..JobStats::default()
    };
    if raw.job_type == 0 {
        return job;
    }
    job.time_elapsed_seconds = ms("time_elapsed");
    job.time_remaining_seconds = ms("time_remaining");
    job.data_total_bytes = f.u64("data_total");
    job.data_processed_bytes = f.u64("data_processed");
    job.data_remaining_bytes = f.u64("data_remaining");
    job.memory_total_bytes = f.u64("memory_total");
    job.memory_processed_bytes = f.u64("memory_processed");
    job.memory_remaining_bytes = f.u64("memory_remaining");
    // The older `virDomainJobInfo` called the disk copy of a migration "file".
    job.file_total_bytes = f.u64("disk_total");
    job.file_processed_bytes = f.u64("disk_processed");
    job.file_remaining_bytes = f.u64("disk_remaining");
    job
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::{ParamValue, TypedParam};

    fn raw(job_type: u32, fields: &[(&str, u64)]) -> JobStatsRaw {
        JobStatsRaw {
            job_type,
            params: fields
                .iter()
                .map(|(k, v)| TypedParam {
                    field: k.to_string(),
                    value: ParamValue::UInt(*v),
                })
                .collect(),
        }
    }

    #[test]
    fn a_running_dump_gives_seconds_and_bytes() {
        let job = job_stats(&raw(
            2,
            &[
                ("time_elapsed", 4056),
                ("memory_total", 67_371_008),
                ("memory_processed", 14_675_968),
                ("memory_remaining", 52_695_040),
                ("disk_total", 10),
                ("disk_processed", 4),
                ("disk_remaining", 6),
                ("operation", 4),
            ],
        ));
        assert_eq!(job.job_type, Some(2));
        assert_eq!(job.time_elapsed_seconds, Some(4.056));
        assert_eq!(job.time_remaining_seconds, None);
        assert_eq!(job.memory_total_bytes, Some(67_371_008));
        assert_eq!(job.memory_processed_bytes, Some(14_675_968));
        assert_eq!(job.memory_remaining_bytes, Some(52_695_040));
        assert_eq!(job.data_total_bytes, None);
        assert_eq!(
            (
                job.file_total_bytes,
                job.file_processed_bytes,
                job.file_remaining_bytes
            ),
            (Some(10), Some(4), Some(6))
        );
    }

    #[test]
    fn no_job_gives_only_the_type() {
        let job = job_stats(&raw(0, &[("time_elapsed", 5), ("memory_total", 1)]));
        assert_eq!(
            job,
            JobStats {
                job_type: Some(0),
                ..JobStats::default()
            }
        );
    }
}
