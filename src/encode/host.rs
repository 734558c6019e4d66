//! Host families: storage pools and volumes, virtual networks, the node, versions.
//! Pool names keep inovex's, the versions family Tinkoff's.

use super::family::{emit, emit_family, family, Family, Kind, Labels, Value};
use crate::snapshot::{HostStats, NetworkStats, NodeStats, PoolStats, VolumeStats};
use prometheus_client::encoding::DescriptorEncoder;
use std::fmt;

use Kind::{Counter, Gauge, Info};

const POOL_FAMILIES: &[Family<PoolStats>] = &[
    family!("libvirt_storage_pool_state", Gauge, "State of the storage pool (0 inactive, 1 building, 2 running, 3 degraded, 4 inaccessible).", |p: PoolStats| p.state),
    family!("libvirt_storage_pool_capacity_bytes", Gauge, "Size of the running storage pool, in bytes.", |p: PoolStats| p.capacity_bytes),
    family!("libvirt_storage_pool_allocation_bytes", Gauge, "Bytes allocated in the running storage pool.", |p: PoolStats| p.allocation_bytes),
    family!("libvirt_storage_pool_available_bytes", Gauge, "Free space left in the running storage pool, in bytes.", |p: PoolStats| p.available_bytes),
];

const VOLUME_FAMILIES: &[Family<VolumeStats>] = &[
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

const NETWORK_FAMILIES: &[Family<NetworkStats>] = &[
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

const NODE_FAMILIES: &[Family<NodeStats>] = &[
    family!(
        "libvirt_node_cpus",
        Gauge,
        "Active host CPUs.",
        |n: NodeStats| Some(n.cpus)
    ),
    family!(
        "libvirt_node_cpu_sockets",
        Gauge,
        "CPU sockets per NUMA cell, as virNodeGetInfo reports them.",
        |n: NodeStats| Some(n.cpu_sockets)
    ),
    family!(
        "libvirt_node_cpu_cores",
        Gauge,
        "CPU cores per socket.",
        |n: NodeStats| Some(n.cpu_cores)
    ),
    family!(
        "libvirt_node_cpu_threads",
        Gauge,
        "CPU threads per core.",
        |n: NodeStats| Some(n.cpu_threads)
    ),
    family!(
        "libvirt_node_numa_cells",
        Gauge,
        "NUMA cells of the host.",
        |n: NodeStats| Some(n.numa_cells)
    ),
    family!(
        "libvirt_node_cpu_frequency_hertz",
        Gauge,
        "Expected CPU frequency, in hertz.",
        |n: NodeStats| n.cpu_frequency_hertz
    ),
    family!(
        "libvirt_node_memory_bytes",
        Gauge,
        "Memory of the host, in bytes.",
        |n: NodeStats| Some(n.memory_bytes)
    ),
];

/// Families built from several fields at once rather than from a table.
const OTHER_FAMILIES: &[(&str, Kind)] = &[
    ("libvirt_storage_pool", Info),
    ("libvirt_storage_volume", Info),
    ("libvirt_network", Info),
    ("libvirt_node", Info),
    ("libvirt_node_cell_memory_free_bytes", Gauge),
    ("libvirt_node_cell_memory_total_bytes", Gauge),
    ("libvirt_node_cpu_seconds", Counter),
    ("libvirt_node_memory_stats_bytes", Gauge),
    ("libvirt_versions", Info),
];

/// Every family this module writes, for the documentation test.
pub fn families() -> Vec<(&'static str, Kind)> {
    let mut all = OTHER_FAMILIES.to_vec();
    all.extend(POOL_FAMILIES.iter().map(|f| (f.name, f.kind)));
    all.extend(VOLUME_FAMILIES.iter().map(|f| (f.name, f.kind)));
    all.extend(NETWORK_FAMILIES.iter().map(|f| (f.name, f.kind)));
    all.extend(NODE_FAMILIES.iter().map(|f| (f.name, f.kind)));
    all
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn yes_no(v: Option<bool>) -> String {
    v.map(|b| b.to_string()).unwrap_or_default()
}

fn info(labels: Labels) -> (Labels, Value) {
    (labels, Value::Int(1))
}

pub fn encode(enc: &mut DescriptorEncoder, host: &HostStats) -> fmt::Result {
    encode_pools(enc, &host.pools)?;
    encode_volumes(enc, &host.volumes)?;
    encode_networks(enc, &host.networks)?;
    if let Some(node) = &host.node {
        encode_node(enc, node)?;
    }
    if let Some(v) = &host.versions {
        let labels = vec![
            ("libvirt_library", v.library.clone()),
            ("libvirtd_running", opt(&v.daemon)),
            ("hypervisor_running", opt(&v.hypervisor)),
        ];
        emit(
            enc,
            "libvirt_versions",
            Info,
            "Versions of the libvirt library the exporter uses, of the libvirt daemon it talks to and of the hypervisor, as major.minor.micro.",
            [info(labels)],
        )?;
    }
    Ok(())
}

fn encode_pools(enc: &mut DescriptorEncoder, pools: &[PoolStats]) -> fmt::Result {
    emit(
        enc,
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
    for f in POOL_FAMILIES {
        let items = pools
            .iter()
            .map(|p| (vec![("storage_pool", p.name.clone())], p));
        emit_family(enc, f, items)?;
    }
    Ok(())
}

fn encode_volumes(enc: &mut DescriptorEncoder, volumes: &[VolumeStats]) -> fmt::Result {
    let key = |v: &VolumeStats| vec![("storage_pool", v.pool.clone()), ("volume", v.name.clone())];
    emit(
        enc,
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
    for f in VOLUME_FAMILIES {
        emit_family(enc, f, volumes.iter().map(|v| (key(v), v)))?;
    }
    Ok(())
}

fn encode_networks(enc: &mut DescriptorEncoder, networks: &[NetworkStats]) -> fmt::Result {
    emit(
        enc,
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
    for f in NETWORK_FAMILIES {
        let items = networks
            .iter()
            .map(|n| (vec![("network", n.name.clone())], n));
        emit_family(enc, f, items)?;
    }
    Ok(())
}

fn encode_node(enc: &mut DescriptorEncoder, node: &NodeStats) -> fmt::Result {
    emit(
        enc,
        "libvirt_node",
        Info,
        "The host's CPU model as virNodeGetInfo reports it.",
        [info(vec![("model", node.model.clone())])],
    )?;
    for f in NODE_FAMILIES {
        emit_family(enc, f, [(Labels::new(), node)])?;
    }
    let by_cell = |c: &crate::snapshot::NodeCell| vec![("cell", c.id.to_string())];
    emit(
        enc,
        "libvirt_node_cell_memory_free_bytes",
        Gauge,
        "Free memory of the NUMA cell, in bytes.",
        node.cells
            .iter()
            .filter_map(|c| Some((by_cell(c), Value::Int(c.free_bytes?)))),
    )?;
    emit(
        enc,
        "libvirt_node_cell_memory_total_bytes",
        Gauge,
        "Memory of the NUMA cell, in bytes.",
        node.cells
            .iter()
            .filter_map(|c| Some((by_cell(c), Value::Int(c.total_bytes?)))),
    )?;
    emit(
        enc,
        "libvirt_node_cpu_seconds",
        Counter,
        "CPU time of all host CPUs together by mode (kernel, user, idle, iowait, intr), in seconds.",
        node.cpu_seconds
            .iter()
            .map(|(mode, s)| (vec![("mode", mode.clone())], Value::Float(*s))),
    )?;
    emit(
        enc,
        "libvirt_node_memory_stats_bytes",
        Gauge,
        "Host memory by field (total, free, buffers, cached), in bytes.",
        node.memory_stats_bytes
            .iter()
            .map(|(field, b)| (vec![("field", field.clone())], Value::Int(*b))),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::snapshot::{NodeCell, Versions};
    use std::collections::BTreeMap;

    /// A host with every field set, for the catalogue test.
    pub(crate) fn full_host() -> HostStats {
        HostStats {
            pools: vec![
                PoolStats {
                    name: "images".into(),
                    uuid: "aaaaaaaa-0000-0000-0000-000000000001".into(),
                    state: Some(2),
                    pool_type: Some("dir".into()),
                    path: Some("/var/lib/libvirt/images".into()),
                    persistent: Some(true),
                    autostart: Some(true),
                    capacity_bytes: Some(100 << 30),
                    allocation_bytes: Some(10 << 30),
                    available_bytes: Some(90 << 30),
                },
                PoolStats {
                    name: "off".into(),
                    uuid: "aaaaaaaa-0000-0000-0000-000000000002".into(),
                    state: Some(0),
                    pool_type: Some("logical".into()),
                    persistent: Some(true),
                    autostart: Some(false),
                    ..PoolStats::default()
                },
            ],
            volumes: vec![VolumeStats {
                pool: "images".into(),
                name: "web.qcow2".into(),
                volume_type: Some("file".into()),
                path: Some("/var/lib/libvirt/images/web.qcow2".into()),
                format: Some("qcow2".into()),
                capacity_bytes: Some(20 << 30),
                allocation_bytes: Some(3 << 30),
                physical_bytes: Some(3 << 30),
            }],
            networks: vec![NetworkStats {
                name: "default".into(),
                uuid: "bbbbbbbb-0000-0000-0000-000000000001".into(),
                bridge: Some("virbr0".into()),
                active: Some(false),
                persistent: Some(true),
                autostart: Some(false),
            }],
            node: Some(NodeStats {
                model: "x86_64".into(),
                cpus: 8,
                cpu_sockets: 1,
                cpu_cores: 4,
                cpu_threads: 2,
                numa_cells: 1,
                cpu_frequency_hertz: Some(2_600_000_000),
                memory_bytes: 16 << 30,
                cells: vec![NodeCell {
                    id: 0,
                    free_bytes: Some(4 << 30),
                    total_bytes: Some(16 << 30),
                }],
                cpu_seconds: BTreeMap::from([("idle".to_string(), 1234.5)]),
                memory_stats_bytes: BTreeMap::from([("cached".to_string(), 1 << 30)]),
            }),
            versions: Some(Versions {
                library: "9.0.0".into(),
                daemon: Some("9.0.0".into()),
                hypervisor: Some("7.2.0".into()),
            }),
        }
    }

    fn host_text(host: HostStats) -> String {
        let snapshot = crate::snapshot::Snapshot {
            host,
            ..Default::default()
        };
        String::from_utf8(
            crate::encode::encode(
                std::sync::Arc::new(snapshot),
                &crate::exposition::Format::ALL,
                Default::default(),
            )
            .plain(crate::exposition::Format::Text)
            .to_vec(),
        )
        .unwrap()
    }

    #[test]
    fn host_values_with_their_labels() {
        let text = host_text(full_host());
        for line in [
            r#"libvirt_storage_pool_info{storage_pool="images",uuid="aaaaaaaa-0000-0000-0000-000000000001",type="dir",path="/var/lib/libvirt/images",persistent="true",autostart="true"} 1"#,
            r#"libvirt_storage_pool_info{storage_pool="off",uuid="aaaaaaaa-0000-0000-0000-000000000002",type="logical",path="",persistent="true",autostart="false"} 1"#,
            r#"libvirt_storage_pool_state{storage_pool="images"} 2"#,
            r#"libvirt_storage_pool_state{storage_pool="off"} 0"#,
            r#"libvirt_storage_pool_capacity_bytes{storage_pool="images"} 107374182400"#,
            r#"libvirt_storage_pool_available_bytes{storage_pool="images"} 96636764160"#,
            r#"libvirt_storage_volume_info{storage_pool="images",volume="web.qcow2",type="file",path="/var/lib/libvirt/images/web.qcow2",format="qcow2"} 1"#,
            r#"libvirt_storage_volume_physical_bytes{storage_pool="images",volume="web.qcow2"} 3221225472"#,
            r#"libvirt_network_info{network="default",uuid="bbbbbbbb-0000-0000-0000-000000000001",bridge="virbr0"} 1"#,
            r#"libvirt_network_active{network="default"} 0"#,
            r#"libvirt_network_persistent{network="default"} 1"#,
            r#"libvirt_node_info{model="x86_64"} 1"#,
            r#"libvirt_node_cpu_frequency_hertz 2600000000"#,
            r#"libvirt_node_memory_bytes 17179869184"#,
            r#"libvirt_node_cell_memory_free_bytes{cell="0"} 4294967296"#,
            r#"libvirt_node_cpu_seconds_total{mode="idle"} 1234.5"#,
            r#"libvirt_node_memory_stats_bytes{field="cached"} 1073741824"#,
            r#"libvirt_versions_info{libvirt_library="9.0.0",libvirtd_running="9.0.0",hypervisor_running="7.2.0"} 1"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn sizes_of_an_inactive_pool_and_unreported_fields_give_no_series() {
        let mut host = full_host();
        host.pools.remove(0);
        host.volumes.clear();
        let node = host.node.as_mut().unwrap();
        node.cells[0].total_bytes = None;
        node.memory_stats_bytes.clear();
        node.cpu_frequency_hertz = None;
        let text = host_text(host);
        assert!(text.contains(r#"libvirt_storage_pool_state{storage_pool="off"} 0"#));
        for absent in [
            "libvirt_storage_pool_capacity_bytes",
            "libvirt_storage_volume",
            "libvirt_node_cell_memory_total_bytes",
            "libvirt_node_memory_stats_bytes",
            "libvirt_node_cpu_frequency_hertz",
        ] {
            assert!(!text.contains(absent), "{absent} in\n{text}");
        }
        assert!(!host_text(HostStats::default()).contains("libvirt_node"));
    }
}
