//! The `block` group: per-disk I/O counters and sizes.

use super::{fields::non_negative, DomainCollector, FallbackContext, Fields};
use crate::libvirt::{consts, LibvirtError};
use crate::snapshot::{BlockStats, DomainStats};

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
                    errors: f.u64(&key("errors")),
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
                b.errors = non_negative(s.errs);
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
}
