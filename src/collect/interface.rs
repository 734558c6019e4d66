//! The `interface` group: per-NIC traffic counters, keyed by the host-side device.

use super::{fields::non_negative, DomainCollector, FallbackContext, Fields};
use crate::libvirt::{consts, LibvirtError};
use crate::snapshot::{DomainStats, InterfaceStats};

pub struct Interface;

impl DomainCollector for Interface {
    fn name(&self) -> &'static str {
        "interface"
    }
    fn group(&self) -> u32 {
        consts::GROUP_INTERFACE
    }
    fn decode(&self, f: &Fields, out: &mut DomainStats) -> bool {
        let Some(count) = f.u32("net.count") else {
            return false;
        };
        out.interfaces = (0..count)
            .filter_map(|i| {
                let key = |leaf: &str| format!("net.{i}.{leaf}");
                Some(InterfaceStats {
                    target_device: f.str(&key("name"))?.to_string(),
                    receive_bytes: f.u64(&key("rx.bytes")),
                    receive_packets: f.u64(&key("rx.pkts")),
                    receive_errors: f.u64(&key("rx.errs")),
                    receive_drops: f.u64(&key("rx.drop")),
                    transmit_bytes: f.u64(&key("tx.bytes")),
                    transmit_packets: f.u64(&key("tx.pkts")),
                    transmit_errors: f.u64(&key("tx.errs")),
                    transmit_drops: f.u64(&key("tx.drop")),
                    ..InterfaceStats::default()
                })
            })
            .collect();
        true
    }
    fn fallback(&self, ctx: &FallbackContext, out: &mut DomainStats) -> Result<(), LibvirtError> {
        out.interfaces.clear();
        if !ctx.active {
            return Ok(());
        }
        for nic in &ctx.xml.interfaces {
            let Some(dev) = nic.target_device.as_deref() else {
                continue;
            };
            let s = ctx.domain.interface_stats(dev)?;
            out.interfaces.push(InterfaceStats {
                target_device: dev.to_string(),
                receive_bytes: non_negative(s.rx_bytes),
                receive_packets: non_negative(s.rx_packets),
                receive_errors: non_negative(s.rx_errs),
                receive_drops: non_negative(s.rx_drop),
                transmit_bytes: non_negative(s.tx_bytes),
                transmit_packets: non_negative(s.tx_packets),
                transmit_errors: non_negative(s.tx_errs),
                transmit_drops: non_negative(s.tx_drop),
                ..InterfaceStats::default()
            });
        }
        Ok(())
    }
}
