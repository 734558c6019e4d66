//! The `network` collector: every virtual network, active or not, with its bridge and flags.

use super::HostCollector;
use crate::libvirt::{Connection, LibvirtError, Network as VirNetwork};
use crate::snapshot::{HostStats, NetworkStats};

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
