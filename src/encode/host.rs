//! Host families: each host group (storage pools and volumes, virtual networks, the node and
//! versions) writes its own, in registry order.

use crate::family::Sink;
use crate::groups::{groups, Group};
use crate::snapshot::HostStats;
use std::fmt;

pub fn encode(sink: &mut dyn Sink, host: &HostStats) -> fmt::Result {
    for group in groups() {
        if let Group::Host(collector) = group {
            collector.encode(sink, host)?;
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::snapshot::{
        CellPages, KsmStats, NetworkStats, NodeCell, NodeMemory, NodeStats, PageStats, PoolStats,
        Versions, VolumeStats,
    };
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
                memory: NodeMemory {
                    total_bytes: Some(16 << 30),
                    free_bytes: Some(2 << 30),
                    buffers_bytes: Some(1 << 20),
                    cached_bytes: Some(1 << 30),
                },
            }),
            pages: Some(PageStats {
                cells: vec![
                    CellPages {
                        cell: 0,
                        page_size_bytes: 4096,
                        pages: Some(4 << 18),
                        free: Some(1 << 18),
                    },
                    CellPages {
                        cell: 0,
                        page_size_bytes: 2 << 20,
                        pages: Some(16),
                        free: Some(3),
                    },
                ],
                ksm: KsmStats {
                    pages_to_scan: Some(100),
                    sleep_seconds: Some(0.02),
                    pages_shared: Some(5),
                    pages_sharing: Some(50),
                    pages_unshared: Some(7),
                    pages_volatile: Some(9),
                    full_scans: Some(11),
                    merge_across_nodes: Some(true),
                },
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
            r#"libvirt_node_memory_total_bytes 17179869184"#,
            r#"libvirt_node_memory_free_bytes 2147483648"#,
            r#"libvirt_node_memory_buffers_bytes 1048576"#,
            r#"libvirt_node_memory_cached_bytes 1073741824"#,
            r#"libvirt_node_cell_pages{cell="0",page_size_bytes="4096"} 1048576"#,
            r#"libvirt_node_cell_pages{cell="0",page_size_bytes="2097152"} 16"#,
            r#"libvirt_node_cell_pages_free{cell="0",page_size_bytes="2097152"} 3"#,
            r#"libvirt_node_ksm_pages_shared 5"#,
            r#"libvirt_node_ksm_pages_sharing 50"#,
            r#"libvirt_node_ksm_pages_unshared 7"#,
            r#"libvirt_node_ksm_pages_volatile 9"#,
            r#"libvirt_node_ksm_full_scans_total 11"#,
            r#"libvirt_node_ksm_merge_across_nodes 1"#,
            r#"libvirt_node_ksm_sleep_seconds 0.02"#,
            r#"libvirt_node_ksm_pages_to_scan 100"#,
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
        node.memory = NodeMemory::default();
        node.cpu_frequency_hertz = None;
        host.pages.as_mut().unwrap().ksm = KsmStats::default();
        host.pages.as_mut().unwrap().cells[1].pages = None;
        let text = host_text(host);
        assert!(text.contains(r#"libvirt_storage_pool_state{storage_pool="off"} 0"#));
        for absent in [
            "libvirt_storage_pool_capacity_bytes",
            "libvirt_storage_volume",
            "libvirt_node_cell_memory_total_bytes",
            "libvirt_node_memory_total_bytes",
            "libvirt_node_memory_free_bytes",
            "libvirt_node_memory_buffers_bytes",
            "libvirt_node_memory_cached_bytes",
            "libvirt_node_cpu_frequency_hertz",
            "libvirt_node_ksm",
            "libvirt_node_cell_pages{cell=\"0\",page_size_bytes=\"2097152\"}",
        ] {
            assert!(!text.contains(absent), "{absent} in\n{text}");
        }
        assert!(!host_text(HostStats::default()).contains("libvirt_node"));
    }
}
