//! The `pool` collector: state, sizes and attributes of every storage pool, active or not,
//! optionally after asking libvirt to rescan each active pool (`--collector.pool.refresh`).

use super::HostCollector;
use crate::libvirt::host_xml::PoolXml;
use crate::libvirt::{Connection, LibvirtError, StoragePool};
use crate::snapshot::{HostStats, PoolStats};

/// `virStoragePoolState` values whose sizes libvirt keeps up to date (running, degraded).
const STATES_WITH_SIZES: [u32; 2] = [2, 3];

pub struct Pool {
    /// Call `virStoragePoolRefresh` on every active pool before reading it.
    pub refresh: bool,
}

impl HostCollector for Pool {
    fn name(&self) -> &'static str {
        "pool"
    }

    fn collect(&self, conn: &Connection, out: &mut HostStats) -> Result<(), LibvirtError> {
        let mut first_error = None;
        for pool in conn.list_pools(false)? {
            match self.read(&pool) {
                Ok(stats) => out.pools.push(stats),
                Err(e) if e.is_vanished() => {}
                Err(e) => {
                    tracing::debug!(error = %e, "storage pool not read");
                    first_error.get_or_insert(e);
                }
            }
        }
        out.pools.sort_by(|a, b| a.name.cmp(&b.name));
        first_error.map_or(Ok(()), Err)
    }
}

impl Pool {
    fn read(&self, pool: &StoragePool) -> Result<PoolStats, LibvirtError> {
        let mut stats = PoolStats {
            name: pool.name()?,
            uuid: pool.uuid()?,
            ..PoolStats::default()
        };
        let mut info = pool.info()?;
        if self.refresh && STATES_WITH_SIZES.contains(&info.state) {
            pool.refresh()?;
            info = pool.info()?;
        }
        stats.state = Some(info.state);
        if STATES_WITH_SIZES.contains(&info.state) {
            stats.capacity_bytes = Some(info.capacity);
            stats.allocation_bytes = Some(info.allocation);
            stats.available_bytes = Some(info.available);
        }
        match PoolXml::parse(&pool.xml()?) {
            Ok(xml) => {
                stats.pool_type = xml.pool_type;
                stats.path = xml.path;
            }
            Err(e) => tracing::warn!(pool = %stats.name, error = %e, "unparsable pool XML"),
        }
        stats.persistent = pool.is_persistent().ok();
        stats.autostart = pool.autostart().ok();
        Ok(stats)
    }
}
