//! The `interface` group: per-NIC traffic counters, keyed by the host-side device.

use crate::collect::{fields::non_negative, DomainCollector, FallbackContext, Fields};
use crate::family::{
    catalogue, device_labels, emit, emit_family, family, opt, Family, Kind, Sink, Value,
};
use crate::libvirt::{consts, LibvirtError};
use crate::snapshot::{DomainStats, InterfaceStats};
use std::fmt;

use Kind::Counter;

const FAMILIES: &[Family<InterfaceStats>] = &[
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
    fn families(&self) -> Vec<(&'static str, Kind)> {
        let mut all = vec![("libvirt_domain_interface_stats", Kind::Info)];
        all.extend(catalogue(FAMILIES));
        all
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
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
        for f in FAMILIES {
            let items = domains.iter().flat_map(|&d| {
                d.interfaces
                    .iter()
                    .map(move |n| (device_labels(d, &n.target_device), n))
            });
            emit_family(sink, f, items)?;
        }
        Ok(())
    }
}
