//! The `pool` collector: state, sizes and attributes of every storage pool, active or not,
//! optionally after asking libvirt to rescan each active pool (`--collector.pool.refresh`).

use crate::collect::HostCollector;
use crate::family::{
    catalogue, emit, emit_family, family, opt, yes_no, Family, Kind, Labels, Sink, Value,
};
use crate::libvirt::host_xml::PoolXml;
use crate::libvirt::{Connection, LibvirtError, StoragePool};
use crate::snapshot::{HostStats, PoolStats};
use std::fmt;

use Kind::{Gauge, Info};

/// `virStoragePoolState` values whose sizes libvirt keeps up to date (running, degraded).
const STATES_WITH_SIZES: [u32; 2] = [2, 3];

const FAMILIES: &[Family<PoolStats>] = &[
    family!("libvirt_storage_pool_state", Gauge, "State of the storage pool (0 inactive, 1 building, 2 running, 3 degraded, 4 inaccessible).", |p: PoolStats| p.state),
    family!("libvirt_storage_pool_capacity_bytes", Gauge, "Size of the running storage pool, in bytes.", |p: PoolStats| p.capacity_bytes),
    family!("libvirt_storage_pool_allocation_bytes", Gauge, "Bytes allocated in the running storage pool.", |p: PoolStats| p.allocation_bytes),
    family!("libvirt_storage_pool_available_bytes", Gauge, "Free space left in the running storage pool, in bytes.", |p: PoolStats| p.available_bytes),
];

fn info(labels: Labels) -> (Labels, Value) {
    (labels, Value::Int(1))
}

fn encode_pools(sink: &mut dyn Sink, pools: &[PoolStats]) -> fmt::Result {
    emit(
        sink,
        "libvirt_storage_pool",
        Info,
        "Attributes of the storage pool: UUID, type, target path, persistence, autostart.",
        pools.iter().map(|p| {
            info(vec![
                ("storage_pool", p.name.clone()),
                ("uuid", p.uuid.clone()),
                ("type", opt(&p.pool_type)),
                ("path", opt(&p.path)),
                ("persistent", yes_no(p.persistent)),
                ("autostart", yes_no(p.autostart)),
            ])
        }),
    )?;
    for f in FAMILIES {
        let items = pools
            .iter()
            .map(|p| (vec![("storage_pool", p.name.clone())], p));
        emit_family(sink, f, items)?;
    }
    Ok(())
}

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
    fn families(&self) -> Vec<(&'static str, Kind)> {
        let mut all = vec![("libvirt_storage_pool", Info)];
        all.extend(catalogue(FAMILIES));
        all
    }
    fn encode(&self, sink: &mut dyn Sink, host: &HostStats) -> fmt::Result {
        encode_pools(sink, &host.pools)
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
