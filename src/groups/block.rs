//! The `block` group: per-disk I/O counters and sizes.
//!
//! What libvirt calls a disk's `errors` (`block.<n>.errors`, `virDomainBlockStats` errs) is
//! Xen's `oo_req`, the times the block backend had no free request slot, so it is exposed as
//! `libvirt_domain_block_stats_xen_oo_requests_total`; QEMU never reports it.

use crate::collect::{fields::non_negative, DomainCollector, FallbackContext, Fields};
use crate::family::{
    catalogue, device_labels, emit, emit_family, family, opt, Family, Kind, Sink, Value,
};
use crate::libvirt::{consts, LibvirtError};
use crate::snapshot::{BlockStats, DomainStats};
use std::fmt;

use Kind::{Counter, Gauge};

const FAMILIES: &[Family<BlockStats>] = &[
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
        "libvirt_domain_block_stats_xen_oo_requests",
        Counter,
        "Times Xen's block backend ran out of free request slots for the disk (blkback's oo_req, which libvirt reports as block errors; not I/O errors; Xen only).",
        |b: BlockStats| b.xen_oo_requests
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

pub struct Block;

impl DomainCollector for Block {
    fn name(&self) -> &'static str {
        "block"
    }
    fn group(&self) -> u32 {
        consts::GROUP_BLOCK
    }
    fn decode(&self, f: &Fields, out: &mut DomainStats) -> bool {
        let Some(count) = f.u32("block.count") else {
            return false;
        };
        out.blocks = (0..count)
            .filter_map(|i| {
                let key = |leaf: &str| format!("block.{i}.{leaf}");
                Some(BlockStats {
                    target_device: f.str(&key("name"))?.to_string(),
                    source_file: f.str(&key("path")).map(str::to_string),
                    read_requests: f.u64(&key("rd.reqs")),
                    read_bytes: f.u64(&key("rd.bytes")),
                    read_seconds: f.seconds_from_ns(&key("rd.times")),
                    write_requests: f.u64(&key("wr.reqs")),
                    write_bytes: f.u64(&key("wr.bytes")),
                    write_seconds: f.seconds_from_ns(&key("wr.times")),
                    flush_requests: f.u64(&key("fl.reqs")),
                    flush_seconds: f.seconds_from_ns(&key("fl.times")),
                    capacity_bytes: f.u64(&key("capacity")),
                    allocation_bytes: f.u64(&key("allocation")),
                    physical_bytes: f.u64(&key("physical")),
                    threshold_bytes: f.u64(&key("threshold")),
                    xen_oo_requests: f.u64(&key("errors")),
                    ..BlockStats::default()
                })
            })
            .collect();
        // Names and paths come without the domain job; the I/O counters need it.
        count == 0 || out.blocks.iter().any(|b| b.read_requests.is_some())
    }
    fn fallback(&self, ctx: &FallbackContext, out: &mut DomainStats) -> Result<(), LibvirtError> {
        out.blocks.clear();
        for disk in &ctx.xml.disks {
            let mut b = BlockStats {
                target_device: disk.target_device.clone(),
                ..BlockStats::default()
            };
            if ctx.active {
                let s = ctx.domain.block_stats(&disk.target_device)?;
                b.read_requests = non_negative(s.rd_req);
                b.read_bytes = non_negative(s.rd_bytes);
                b.write_requests = non_negative(s.wr_req);
                b.write_bytes = non_negative(s.wr_bytes);
                b.xen_oo_requests = non_negative(s.errs);
            }
            if let Ok(info) = ctx.domain.block_info(&disk.target_device) {
                b.capacity_bytes = Some(info.capacity);
                b.allocation_bytes = Some(info.allocation);
                b.physical_bytes = Some(info.physical);
            }
            out.blocks.push(b);
        }
        Ok(())
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        let mut all = vec![("libvirt_domain_block_stats", Kind::Info)];
        all.extend(catalogue(FAMILIES));
        all
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
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
        for f in FAMILIES {
            let items = domains.iter().flat_map(|&d| {
                d.blocks
                    .iter()
                    .map(move |b| (device_labels(d, &b.target_device), b))
            });
            emit_family(sink, f, items)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::{ParamValue, TypedParam};

    #[test]
    fn libvirt_block_errors_are_read_as_xen_oo_requests() {
        let params: Vec<TypedParam> = [
            ("block.count", ParamValue::UInt(1)),
            ("block.0.name", ParamValue::Text("xvda".into())),
            ("block.0.rd.reqs", ParamValue::UInt(10)),
            ("block.0.errors", ParamValue::UInt(3)),
        ]
        .into_iter()
        .map(|(field, value)| TypedParam {
            field: field.into(),
            value,
        })
        .collect();
        let mut out = DomainStats::default();
        assert!(Block.decode(&Fields::new(&params), &mut out));
        assert_eq!(out.blocks[0].xen_oo_requests, Some(3));
        let kinds: std::collections::BTreeMap<_, _> = Block.families().into_iter().collect();
        assert_eq!(
            kinds["libvirt_domain_block_stats_xen_oo_requests"],
            Kind::Counter
        );
        assert!(!kinds.contains_key("libvirt_domain_block_stats_errors"));
    }
}
