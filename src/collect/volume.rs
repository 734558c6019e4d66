//! The `volume` collector: sizes and attributes of every volume of every active pool.
//!
//! Reading a volume makes libvirt open its file or device, which can hang on a dead network
//! mount, so this collector runs on its own thread, connection and interval
//! (`--collector.volume.interval`).

use super::HostCollector;
use crate::libvirt::host_xml::VolumeXml;
use crate::libvirt::{Connection, LibvirtError, StorageVolume};
use crate::snapshot::{HostStats, VolumeStats};
use std::time::Duration;

pub struct Volume {
    pub interval: Duration,
}

/// `virStorageVolType` names, indexed by number.
const TYPE_NAMES: [&str; 6] = ["file", "block", "dir", "network", "netdir", "ploop"];

impl HostCollector for Volume {
    fn name(&self) -> &'static str {
        "volume"
    }

    fn interval(&self, _collect_interval: Duration) -> Duration {
        self.interval
    }

    fn collect(&self, conn: &Connection, out: &mut HostStats) -> Result<(), LibvirtError> {
        let mut first_error = None;
        let mut note = |e: LibvirtError| {
            // A pool stopped or a volume deleted while we were reading is normal churn.
            if !e.is_vanished() && !e.is_operation_invalid() {
                tracing::debug!(error = %e, "storage volume not read");
                first_error.get_or_insert(e);
            }
        };
        for pool in conn.list_pools(true)? {
            let (pool_name, volumes) = match pool.name().and_then(|n| Ok((n, pool.volumes()?))) {
                Ok(found) => found,
                Err(e) => {
                    note(e);
                    continue;
                }
            };
            for vol in volumes {
                match read(&pool_name, &vol) {
                    Ok(stats) => out.volumes.push(stats),
                    Err(e) => note(e),
                }
            }
        }
        out.volumes
            .sort_by(|a, b| (&a.pool, &a.name).cmp(&(&b.pool, &b.name)));
        first_error.map_or(Ok(()), Err)
    }
}

fn read(pool: &str, vol: &StorageVolume) -> Result<VolumeStats, LibvirtError> {
    let info = vol.info()?;
    let mut stats = VolumeStats {
        pool: pool.to_string(),
        name: vol.name()?,
        volume_type: TYPE_NAMES.get(info.kind as usize).map(|t| t.to_string()),
        capacity_bytes: Some(info.capacity),
        allocation_bytes: Some(info.allocation),
        ..VolumeStats::default()
    };
    stats.physical_bytes = match vol.physical() {
        Ok(bytes) => Some(bytes),
        Err(e) if e.is_unsupported() => None,
        Err(e) => return Err(e),
    };
    match VolumeXml::parse(&vol.xml()?) {
        Ok(xml) => {
            stats.path = xml.path;
            stats.format = xml.format;
        }
        Err(e) => tracing::warn!(volume = %stats.name, error = %e, "unparsable volume XML"),
    }
    Ok(stats)
}
