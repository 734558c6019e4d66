//! The `volume` collector: sizes and attributes of every volume of every active pool.
//!
//! Reading a volume makes libvirt open its file or device, which can hang on a dead network
//! mount, so this collector runs on its own thread, connection and interval
//! (`--collector.volume.interval`).

use crate::collect::HostCollector;
use crate::family::{catalogue, emit, emit_family, family, opt, Family, Kind, Labels, Sink, Value};
use crate::libvirt::host_xml::VolumeXml;
use crate::libvirt::{Connection, LibvirtError, StorageVolume};
use crate::snapshot::{HostStats, VolumeStats};
use std::fmt;
use std::time::Duration;

use Kind::{Gauge, Info};

const FAMILIES: &[Family<VolumeStats>] = &[
    family!(
        "libvirt_storage_volume_capacity_bytes",
        Gauge,
        "Size of the volume as its users see it, in bytes.",
        |v: VolumeStats| v.capacity_bytes
    ),
    family!(
        "libvirt_storage_volume_allocation_bytes",
        Gauge,
        "Bytes allocated to the volume.",
        |v: VolumeStats| v.allocation_bytes
    ),
    family!(
        "libvirt_storage_volume_physical_bytes",
        Gauge,
        "Bytes the volume takes on its storage (file size of an image).",
        |v: VolumeStats| v.physical_bytes
    ),
];

fn info(labels: Labels) -> (Labels, Value) {
    (labels, Value::Int(1))
}

fn encode_volumes(sink: &mut dyn Sink, volumes: &[VolumeStats]) -> fmt::Result {
    let key = |v: &VolumeStats| vec![("storage_pool", v.pool.clone()), ("volume", v.name.clone())];
    emit(
        sink,
        "libvirt_storage_volume",
        Info,
        "Attributes of the storage volume: type, path and image format.",
        volumes.iter().map(|v| {
            let mut labels = key(v);
            labels.push(("type", opt(&v.volume_type)));
            labels.push(("path", opt(&v.path)));
            labels.push(("format", opt(&v.format)));
            info(labels)
        }),
    )?;
    for f in FAMILIES {
        emit_family(sink, f, volumes.iter().map(|v| (key(v), v)))?;
    }
    Ok(())
}

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
    fn families(&self) -> Vec<(&'static str, Kind)> {
        let mut all = vec![("libvirt_storage_volume", Info)];
        all.extend(catalogue(FAMILIES));
        all
    }
    fn encode(&self, sink: &mut dyn Sink, host: &HostStats) -> fmt::Result {
        encode_volumes(sink, &host.volumes)
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
