//! The per-domain families: info and state, CPU, vCPUs, memory, disks, NICs, perf, I/O
//! threads, dirty rate, jobs and KVM statistics. Names keep the common core of the older
//! libvirt exporters.

use super::family::{
    emit, emit_family, family, DomainSeriesCounter, Family, Kind, Labels, Sink, Value,
};
use super::states::{reason_name, state_name, STATE_NAMES};
use super::{job, kvm};
use crate::snapshot::{BlockStats, DomainStats, InterfaceStats, IoThreadStats, Vcpu};
use std::fmt;

use Kind::{Counter, Gauge};

pub const DOMAIN_FAMILIES: &[Family<DomainStats>] = &[
    family!("libvirt_domain_info_maximum_memory_bytes", Gauge, "Maximum memory of the domain, in bytes.", |d: DomainStats| d.info.maximum_memory_bytes),
    family!("libvirt_domain_info_memory_usage_bytes", Gauge, "Memory currently given to the domain (balloon size), in bytes.", |d: DomainStats| d.info.memory_bytes),
    family!("libvirt_domain_info_virtual_cpus", Gauge, "Number of virtual CPUs of the domain.", |d: DomainStats| d.info.virtual_cpus),
    family!("libvirt_domain_info_cpu_time_seconds", Counter, "CPU time used by the domain, in seconds.", |d: DomainStats| d.cpu.time_seconds),
    family!("libvirt_domain_cpu_user_seconds", Counter, "User-mode CPU time used by the domain, in seconds.", |d: DomainStats| d.cpu.user_seconds),
    family!("libvirt_domain_cpu_system_seconds", Counter, "Kernel-mode CPU time used by the domain, in seconds.", |d: DomainStats| d.cpu.system_seconds),
    family!("libvirt_domain_vcpu_current", Gauge, "Number of vCPUs currently online.", |d: DomainStats| d.vcpu.current),
    family!("libvirt_domain_vcpu_maximum", Gauge, "Maximum number of vCPUs the domain may have.", |d: DomainStats| d.vcpu.maximum),
    family!("libvirt_domain_memory_stats_current_balloon_bytes", Gauge, "Current balloon size, in bytes.", |d: DomainStats| d.balloon.current_bytes),
    family!("libvirt_domain_memory_stats_maximum_bytes", Gauge, "Maximum balloon size, in bytes.", |d: DomainStats| d.balloon.maximum_bytes),
    family!("libvirt_domain_memory_stats_swap_in_bytes", Gauge, "Memory swapped in by the guest since boot, in bytes (reported by the guest).", |d: DomainStats| d.balloon.swap_in_bytes),
    family!("libvirt_domain_memory_stats_swap_out_bytes", Gauge, "Memory swapped out by the guest since boot, in bytes (reported by the guest).", |d: DomainStats| d.balloon.swap_out_bytes),
    family!("libvirt_domain_memory_stats_major_fault", Counter, "Major page faults in the guest (reported by the guest).", |d: DomainStats| d.balloon.major_faults),
    family!("libvirt_domain_memory_stats_minor_fault", Counter, "Minor page faults in the guest (reported by the guest).", |d: DomainStats| d.balloon.minor_faults),
    family!("libvirt_domain_memory_stats_unused_bytes", Gauge, "Memory the guest leaves unused, in bytes (reported by the guest).", |d: DomainStats| d.balloon.unused_bytes),
    family!("libvirt_domain_memory_stats_available_bytes", Gauge, "Memory the guest sees as usable in total, in bytes (reported by the guest).", |d: DomainStats| d.balloon.available_bytes),
    family!("libvirt_domain_memory_stats_usable_bytes", Gauge, "Memory the guest could use without swapping, in bytes (reported by the guest).", |d: DomainStats| d.balloon.usable_bytes),
    family!("libvirt_domain_memory_stats_rss_bytes", Gauge, "Resident memory of the domain's process on the host, in bytes.", |d: DomainStats| d.balloon.rss_bytes),
    family!("libvirt_domain_memory_stats_disk_caches_bytes", Gauge, "Guest memory used for disk caches that can be reclaimed, in bytes.", |d: DomainStats| d.balloon.disk_caches_bytes),
    family!("libvirt_domain_memory_stats_hugetlb_pgalloc", Counter, "Successful huge page allocations in the guest.", |d: DomainStats| d.balloon.hugetlb_pgalloc),
    family!("libvirt_domain_memory_stats_hugetlb_pgfail", Counter, "Failed huge page allocations in the guest.", |d: DomainStats| d.balloon.hugetlb_pgfail),
    family!("libvirt_domain_memory_stats_last_update_timestamp_seconds", Gauge, "When the guest last updated its memory statistics, as a Unix timestamp.", |d: DomainStats| d.balloon.last_update_seconds),
    family!("libvirt_domain_memory_stats_used_percent", Gauge, "Share of the guest's available memory in use ((available - usable) / available), in percent.", |d: DomainStats| used_percent(d)),
    family!("libvirt_domain_dirty_rate_bytes_per_second", Gauge, "Rate at which the guest dirties memory, from the last calculation, in bytes per second.", |d: DomainStats| d.dirty_rate.bytes_per_second),
    family!("libvirt_domain_dirty_rate_calc_status", Gauge, "State of the last dirty rate calculation (0 unstarted, 1 measuring, 2 measured).", |d: DomainStats| d.dirty_rate.calc_status),
    family!("libvirt_domain_dirty_rate_calc_start_time_seconds", Gauge, "When the last dirty rate calculation started, on the host's monotonic clock (seconds since the host booted, not a Unix time).", |d: DomainStats| d.dirty_rate.calc_start_time_seconds),
    family!("libvirt_domain_dirty_rate_calc_period_seconds", Gauge, "Length of the last dirty rate calculation, in seconds.", |d: DomainStats| d.dirty_rate.calc_period_seconds),
];

fn used_percent(d: &DomainStats) -> Option<f64> {
    let available = d.balloon.available_bytes? as f64;
    let usable = d.balloon.usable_bytes? as f64;
    (available > 0.0).then(|| (available - usable) / available * 100.0)
}

pub const VCPU_FAMILIES: &[Family<Vcpu>] = &[
    family!(
        "libvirt_domain_vcpu_state",
        Gauge,
        "State of the vCPU (0 offline, 1 running, 2 blocked).",
        |v: Vcpu| v.state
    ),
    family!(
        "libvirt_domain_vcpu_time_seconds",
        Counter,
        "CPU time used by the vCPU, in seconds.",
        |v: Vcpu| v.time_seconds
    ),
    family!(
        "libvirt_domain_vcpu_wait_seconds",
        Counter,
        "Time the vCPU spent waiting on I/O, in seconds.",
        |v: Vcpu| v.wait_seconds
    ),
    family!(
        "libvirt_domain_vcpu_delay_seconds",
        Counter,
        "Time the vCPU was runnable but waited for a host CPU (steal), in seconds.",
        |v: Vcpu| v.delay_seconds
    ),
    family!(
        "libvirt_domain_vcpu_cpu",
        Gauge,
        "Host CPU the vCPU last ran on.",
        |v: Vcpu| v.physical_cpu.and_then(|c| u32::try_from(c).ok())
    ),
];

pub const BLOCK_FAMILIES: &[Family<BlockStats>] = &[
    family!(
        "libvirt_domain_block_stats_read_requests",
        Counter,
        "Read requests of the disk.",
        |b: BlockStats| b.read_requests
    ),
    family!(
        "libvirt_domain_block_stats_read_bytes",
        Counter,
        "Bytes read from the disk.",
        |b: BlockStats| b.read_bytes
    ),
    family!(
        "libvirt_domain_block_stats_read_time_seconds",
        Counter,
        "Time spent reading from the disk, in seconds.",
        |b: BlockStats| b.read_seconds
    ),
    family!(
        "libvirt_domain_block_stats_write_requests",
        Counter,
        "Write requests of the disk.",
        |b: BlockStats| b.write_requests
    ),
    family!(
        "libvirt_domain_block_stats_write_bytes",
        Counter,
        "Bytes written to the disk.",
        |b: BlockStats| b.write_bytes
    ),
    family!(
        "libvirt_domain_block_stats_write_time_seconds",
        Counter,
        "Time spent writing to the disk, in seconds.",
        |b: BlockStats| b.write_seconds
    ),
    family!(
        "libvirt_domain_block_stats_flush_requests",
        Counter,
        "Flush requests of the disk.",
        |b: BlockStats| b.flush_requests
    ),
    family!(
        "libvirt_domain_block_stats_flush_time_seconds",
        Counter,
        "Time spent flushing the disk, in seconds.",
        |b: BlockStats| b.flush_seconds
    ),
    family!(
        "libvirt_domain_block_stats_errors",
        Counter,
        "I/O errors of the disk (Xen only).",
        |b: BlockStats| b.errors
    ),
    family!(
        "libvirt_domain_block_stats_capacity_bytes",
        Gauge,
        "Size of the disk as the guest sees it, in bytes.",
        |b: BlockStats| b.capacity_bytes
    ),
    family!(
        "libvirt_domain_block_stats_allocation_bytes",
        Gauge,
        "Highest offset written in the disk's image, in bytes.",
        |b: BlockStats| b.allocation_bytes
    ),
    family!(
        "libvirt_domain_block_stats_physical_bytes",
        Gauge,
        "Size of the disk's image on the host, in bytes.",
        |b: BlockStats| b.physical_bytes
    ),
    family!(
        "libvirt_domain_block_stats_threshold_bytes",
        Gauge,
        "Write threshold set on the disk, in bytes.",
        |b: BlockStats| b.threshold_bytes
    ),
];

pub const INTERFACE_FAMILIES: &[Family<InterfaceStats>] = &[
    family!(
        "libvirt_domain_interface_stats_receive_bytes",
        Counter,
        "Bytes received by the guest on the interface.",
        |n: InterfaceStats| n.receive_bytes
    ),
    family!(
        "libvirt_domain_interface_stats_receive_packets",
        Counter,
        "Packets received by the guest on the interface.",
        |n: InterfaceStats| n.receive_packets
    ),
    family!(
        "libvirt_domain_interface_stats_receive_errors",
        Counter,
        "Receive errors on the interface.",
        |n: InterfaceStats| n.receive_errors
    ),
    family!(
        "libvirt_domain_interface_stats_receive_drops",
        Counter,
        "Received packets dropped on the interface.",
        |n: InterfaceStats| n.receive_drops
    ),
    family!(
        "libvirt_domain_interface_stats_transmit_bytes",
        Counter,
        "Bytes sent by the guest on the interface.",
        |n: InterfaceStats| n.transmit_bytes
    ),
    family!(
        "libvirt_domain_interface_stats_transmit_packets",
        Counter,
        "Packets sent by the guest on the interface.",
        |n: InterfaceStats| n.transmit_packets
    ),
    family!(
        "libvirt_domain_interface_stats_transmit_errors",
        Counter,
        "Transmit errors on the interface.",
        |n: InterfaceStats| n.transmit_errors
    ),
    family!(
        "libvirt_domain_interface_stats_transmit_drops",
        Counter,
        "Sent packets dropped on the interface.",
        |n: InterfaceStats| n.transmit_drops
    ),
];

pub const IOTHREAD_FAMILIES: &[Family<IoThreadStats>] = &[
    family!(
        "libvirt_domain_iothread_poll_max_seconds",
        Gauge,
        "Longest time the I/O thread polls before sleeping, in seconds.",
        |t: IoThreadStats| t.poll_max_seconds
    ),
    family!(
        "libvirt_domain_iothread_poll_grow",
        Gauge,
        "Factor by which the I/O thread's polling time grows.",
        |t: IoThreadStats| t.poll_grow
    ),
    family!(
        "libvirt_domain_iothread_poll_shrink",
        Gauge,
        "Divisor by which the I/O thread's polling time shrinks.",
        |t: IoThreadStats| t.poll_shrink
    ),
];

/// Per-vCPU times summed per domain (`--collector.vcpu.per-domain`).
pub const VCPU_TOTAL_FAMILIES: &[Family<DomainStats>] = &[
    family!(
        "libvirt_domain_vcpus_time_seconds",
        Counter,
        "CPU time used by all vCPUs of the domain together, in seconds.",
        |d: DomainStats| d.vcpu.totals.as_ref().and_then(|t| t.time_seconds)
    ),
    family!(
        "libvirt_domain_vcpus_wait_seconds",
        Counter,
        "Time all vCPUs of the domain together spent waiting on I/O, in seconds.",
        |d: DomainStats| d.vcpu.totals.as_ref().and_then(|t| t.wait_seconds)
    ),
    family!(
        "libvirt_domain_vcpus_delay_seconds",
        Counter,
        "Time all vCPUs of the domain together were runnable but waited for a host CPU (steal), in seconds.",
        |d: DomainStats| d.vcpu.totals.as_ref().and_then(|t| t.delay_seconds)
    ),
];

/// Families built from several fields at once rather than from a table.
pub const OTHER_FAMILIES: &[(&str, Kind)] = &[
    ("libvirt_domains", Gauge),
    ("libvirt_domains_by_state", Gauge),
    ("libvirt_domain", Kind::Info),
    ("libvirt_domain_openstack", Kind::Info),
    ("libvirt_domain_info_state", Gauge),
    ("libvirt_domain_block_stats", Kind::Info),
    ("libvirt_domain_interface_stats", Kind::Info),
    ("libvirt_domain_perf_events", Counter),
    ("libvirt_domain_vcpu_dirty_rate_bytes_per_second", Gauge),
];

fn domain_label(d: &DomainStats) -> Labels {
    vec![("domain", d.name.clone())]
}

fn device_labels(d: &DomainStats, device: &str) -> Labels {
    vec![
        ("domain", d.name.clone()),
        ("target_device", device.to_string()),
    ]
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn yes_no(v: Option<bool>) -> String {
    v.map(|b| b.to_string()).unwrap_or_default()
}

/// Encodes every per-domain family: the counts over `all` domains, the per-domain series of
/// the `shown` ones (all of them unless the series cap left some out). Without `up` and
/// without data the number of domains is unknown, so no counts are written rather than zeros.
pub fn encode(
    sink: &mut dyn Sink,
    all: &[DomainStats],
    shown: &[&DomainStats],
    up: bool,
) -> fmt::Result {
    if up || !all.is_empty() {
        encode_counts(sink, all)?;
    }
    encode_domains(sink, shown)
}

/// How many series each domain adds to the exposition, in the order given.
pub fn series_per_domain(domains: &[DomainStats]) -> Vec<usize> {
    let mut counter = DomainSeriesCounter::default();
    for d in domains {
        // Counting cannot fail: the counter's sink never returns an error.
        let _ = encode_domains(&mut counter, &[d]);
    }
    domains
        .iter()
        .map(|d| counter.per_domain.get(&d.name).copied().unwrap_or(0))
        .collect()
}

fn encode_domains(sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
    emit(
        sink,
        "libvirt_domain",
        Kind::Info,
        "Attributes of the domain: UUID, OS type, architecture, machine, persistence, autostart, and the --domain.label labels.",
        domains.iter().map(|d| {
            let mut labels = vec![
                ("domain", d.name.clone()),
                ("uuid", d.uuid.clone()),
                ("os_type", opt(&d.info.os_type)),
                ("os_type_arch", opt(&d.info.arch)),
                ("os_type_machine", opt(&d.info.machine)),
                ("persistent", yes_no(d.info.persistent)),
                ("autostart", yes_no(d.info.autostart)),
            ];
            labels.extend(d.info.labels.iter().cloned());
            (labels, Value::Int(1))
        }),
    )?;
    emit(
        sink,
        "libvirt_domain_openstack",
        Kind::Info,
        "OpenStack Nova's metadata of the domain (--libvirt.metadata.nova); instance_id is the domain UUID.",
        domains.iter().filter_map(|d| {
            let o = d.info.openstack.as_ref()?;
            let labels = vec![
                ("domain", d.name.clone()),
                ("instance_name", o.instance_name.clone()),
                ("instance_id", d.uuid.clone()),
                ("flavor_name", o.flavor_name.clone()),
                ("user_name", o.user_name.clone()),
                ("user_id", o.user_id.clone()),
                ("project_name", o.project_name.clone()),
                ("project_id", o.project_id.clone()),
            ];
            Some((labels, Value::Int(1)))
        }),
    )?;
    emit(
        sink,
        "libvirt_domain_info_state",
        Gauge,
        "State of the domain as libvirt's number (see docs/metrics.md), with its name and reason as labels.",
        domains.iter().filter_map(|d| {
            let s = d.state?;
            let labels = vec![
                ("domain", d.name.clone()),
                ("state_desc", state_name(s.state).to_string()),
                ("reason", reason_name(s.state, s.reason).to_string()),
            ];
            Some((labels, Value::Int(s.state.into())))
        }),
    )?;
    for f in DOMAIN_FAMILIES.iter().chain(VCPU_TOTAL_FAMILIES) {
        emit_family(sink, f, domains.iter().map(|&d| (domain_label(d), d)))?;
    }
    for f in VCPU_FAMILIES {
        let items = domains.iter().flat_map(|&d| {
            d.vcpu.vcpus.iter().map(move |v| {
                let labels = vec![("domain", d.name.clone()), ("vcpu", v.index.to_string())];
                (labels, v)
            })
        });
        emit_family(sink, f, items)?;
    }
    emit(
        sink,
        "libvirt_domain_vcpu_dirty_rate_bytes_per_second",
        Gauge,
        "Rate at which the vCPU dirties memory, from the last calculation, in bytes per second.",
        domains.iter().flat_map(|d| {
            d.dirty_rate
                .vcpu_bytes_per_second
                .iter()
                .map(move |(i, rate)| {
                    let labels = vec![("domain", d.name.clone()), ("vcpu", i.to_string())];
                    (labels, Value::Float(*rate))
                })
        }),
    )?;
    encode_blocks(sink, domains)?;
    encode_interfaces(sink, domains)?;
    emit(
        sink,
        "libvirt_domain_perf_events",
        Counter,
        "Perf events counted for the domain, by event (only events enabled on the domain).",
        domains.iter().flat_map(|d| {
            d.perf.iter().map(move |(event, count)| {
                let labels = vec![("domain", d.name.clone()), ("event", event.clone())];
                (labels, Value::Int(*count))
            })
        }),
    )?;
    for f in IOTHREAD_FAMILIES {
        let items = domains.iter().flat_map(|&d| {
            d.iothreads.iter().map(move |t| {
                let labels = vec![("domain", d.name.clone()), ("iothread", t.id.to_string())];
                (labels, t)
            })
        });
        emit_family(sink, f, items)?;
    }
    for f in job::FAMILIES {
        emit_family(sink, f, domains.iter().map(|&d| (domain_label(d), d)))?;
    }
    kvm::encode(sink, domains)
}

fn encode_counts(sink: &mut dyn Sink, domains: &[DomainStats]) -> fmt::Result {
    emit(
        sink,
        "libvirt_domains",
        Gauge,
        "Number of domains libvirt knows, in any state (those --domain.include/--domain.exclude let through).",
        [(Labels::new(), Value::Int(domains.len() as u64))],
    )?;
    if !domains.is_empty() && domains.iter().all(|d| d.state.is_none()) {
        return Ok(()); // the state collector is off: unknown is not zero
    }
    let mut by_state = [0u64; STATE_NAMES.len()];
    for s in domains.iter().filter_map(|d| d.state) {
        if let Some(n) = by_state.get_mut(s.state as usize) {
            *n += 1;
        }
    }
    emit(
        sink,
        "libvirt_domains_by_state",
        Gauge,
        "Number of domains in each state.",
        STATE_NAMES
            .iter()
            .zip(by_state)
            .map(|(name, n)| (vec![("state", name.to_string())], Value::Int(n))),
    )
}

fn encode_blocks(sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
    emit(
        sink,
        "libvirt_domain_block_stats",
        Kind::Info,
        "Attributes of the domain's disk: source, bus, image format and disk type.",
        domains.iter().flat_map(|&d| {
            d.blocks.iter().map(move |b| {
                let mut labels = device_labels(d, &b.target_device);
                labels.push(("source_file", opt(&b.source_file)));
                labels.push(("target_bus", opt(&b.bus)));
                labels.push(("driver_type", opt(&b.driver_type)));
                labels.push(("disk_type", opt(&b.disk_type)));
                (labels, Value::Int(1))
            })
        }),
    )?;
    for f in BLOCK_FAMILIES {
        let items = domains.iter().flat_map(|&d| {
            d.blocks
                .iter()
                .map(move |b| (device_labels(d, &b.target_device), b))
        });
        emit_family(sink, f, items)?;
    }
    Ok(())
}

fn encode_interfaces(sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
    emit(
        sink,
        "libvirt_domain_interface_stats",
        Kind::Info,
        "Attributes of the domain's network interface: type, virtual network, bridge, MAC address and model.",
        domains.iter().flat_map(|&d| {
            d.interfaces.iter().map(move |n| {
                let mut labels = device_labels(d, &n.target_device);
                labels.push(("interface_type", opt(&n.interface_type)));
                labels.push(("source_network", opt(&n.network)));
                labels.push(("source_bridge", opt(&n.bridge)));
                labels.push(("mac_address", opt(&n.mac)));
                labels.push(("model_type", opt(&n.model)));
                (labels, Value::Int(1))
            })
        }),
    )?;
    for f in INTERFACE_FAMILIES {
        let items = domains.iter().flat_map(|&d| {
            d.interfaces
                .iter()
                .map(move |n| (device_labels(d, &n.target_device), n))
        });
        emit_family(sink, f, items)?;
    }
    Ok(())
}
