//! The `network` collector: every virtual network, active or not, with its bridge and flags.

use crate::collect::HostCollector;
use crate::family::{catalogue, emit, emit_family, family, opt, Family, Kind, Labels, Sink, Value};
use crate::libvirt::{Connection, LibvirtError, Network as VirNetwork};
use crate::snapshot::{HostStats, NetworkStats};
use std::fmt;

use Kind::{Gauge, Info};

const FAMILIES: &[Family<NetworkStats>] = &[
    family!(
        "libvirt_network_active",
        Gauge,
        "Whether the virtual network is active (1) or not (0).",
        |n: NetworkStats| n.active
    ),
    family!(
        "libvirt_network_persistent",
        Gauge,
        "Whether the virtual network is persistent (1) or transient (0).",
        |n: NetworkStats| n.persistent
    ),
    family!(
        "libvirt_network_autostart",
        Gauge,
        "Whether the virtual network starts with the host (1) or not (0).",
        |n: NetworkStats| n.autostart
    ),
];

fn info(labels: Labels) -> (Labels, Value) {
    (labels, Value::Int(1))
}

fn encode_networks(sink: &mut dyn Sink, networks: &[NetworkStats]) -> fmt::Result {
    emit(
        sink,
        "libvirt_network",
        Info,
        "Attributes of the virtual network: UUID and bridge device.",
        networks.iter().map(|n| {
            info(vec![
                ("network", n.name.clone()),
                ("uuid", n.uuid.clone()),
                ("bridge", opt(&n.bridge)),
            ])
        }),
    )?;
    for f in FAMILIES {
        let items = networks
            .iter()
            .map(|n| (vec![("network", n.name.clone())], n));
        emit_family(sink, f, items)?;
    }
    Ok(())
}

pub struct Network;

impl HostCollector for Network {
    fn name(&self) -> &'static str {
        "network"
    }

    fn collect(&self, conn: &Connection, out: &mut HostStats) -> Result<(), LibvirtError> {
        let mut first_error = None;
        for net in conn.list_networks()? {
            match read(&net) {
                Ok(stats) => out.networks.push(stats),
                Err(e) if e.is_vanished() => {}
                Err(e) => {
                    tracing::debug!(error = %e, "network not read");
                    first_error.get_or_insert(e);
                }
            }
        }
        out.networks.sort_by(|a, b| a.name.cmp(&b.name));
        first_error.map_or(Ok(()), Err)
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        let mut all = vec![("libvirt_network", Info)];
        all.extend(catalogue(FAMILIES));
        all
    }
    fn encode(&self, sink: &mut dyn Sink, host: &HostStats) -> fmt::Result {
        encode_networks(sink, &host.networks)
    }
}

fn read(net: &VirNetwork) -> Result<NetworkStats, LibvirtError> {
    Ok(NetworkStats {
        name: net.name()?,
        uuid: net.uuid()?,
        // Networks that forward to a host device or macvtap have no bridge.
        bridge: net.bridge().ok().filter(|b| !b.is_empty()),
        active: Some(net.is_active()?),
        persistent: Some(net.is_persistent()?),
        autostart: Some(net.autostart()?),
    })
}
