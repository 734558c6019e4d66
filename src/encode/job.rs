//! Domain job families (inovex's names): the type of the job running on each active domain
//! and, while one runs, its progress in seconds and bytes.

use super::family::family;
use super::family::{Family, Kind::Gauge};
use crate::snapshot::DomainStats;

pub const FAMILIES: &[Family<DomainStats>] = &[
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
