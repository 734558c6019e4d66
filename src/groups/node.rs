//! The `node` collector: the host's CPUs, memory, NUMA cells and CPU time, and the versions of
//! the libvirt library, daemon and hypervisor.
//!
//! Parts a driver does not implement (the test driver has no memory statistics) are left out;
//! only `virNodeGetInfo` is required.

use crate::collect::HostCollector;
use crate::family::{catalogue, emit, emit_family, family, opt, Family, Kind, Labels, Sink, Value};
use crate::libvirt::host_xml::cell_memory;
use crate::libvirt::{library_version, Connection, LibvirtError};
use crate::snapshot::{HostStats, NodeCell, NodeMemory, NodeStats, Versions};
use std::fmt;

use Kind::{Counter, Gauge, Info};

const FAMILIES: &[Family<NodeStats>] = &[
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
    family!(
        "libvirt_node_memory_total_bytes",
        Gauge,
        "Memory of the host that the kernel manages (virNodeGetMemoryStats total), in bytes.",
        |n: NodeStats| n.memory.total_bytes
    ),
    family!(
        "libvirt_node_memory_free_bytes",
        Gauge,
        "Free memory of the host (virNodeGetMemoryStats free), in bytes.",
        |n: NodeStats| n.memory.free_bytes
    ),
    family!(
        "libvirt_node_memory_buffers_bytes",
        Gauge,
        "Host memory in block device buffers (virNodeGetMemoryStats buffers), in bytes.",
        |n: NodeStats| n.memory.buffers_bytes
    ),
    family!(
        "libvirt_node_memory_cached_bytes",
        Gauge,
        "Host memory in the page cache (virNodeGetMemoryStats cached), in bytes.",
        |n: NodeStats| n.memory.cached_bytes
    ),
];

fn info(labels: Labels) -> (Labels, Value) {
    (labels, Value::Int(1))
}

fn encode_node(sink: &mut dyn Sink, node: &NodeStats) -> fmt::Result {
    emit(
        sink,
        "libvirt_node",
        Info,
        "The host's CPU model as virNodeGetInfo reports it.",
        [info(vec![("model", node.model.clone())])],
    )?;
    for f in FAMILIES {
        emit_family(sink, f, [(Labels::new(), node)])?;
    }
    let by_cell = |c: &crate::snapshot::NodeCell| vec![("cell", c.id.to_string())];
    emit(
        sink,
        "libvirt_node_cell_memory_free_bytes",
        Gauge,
        "Free memory of the NUMA cell, in bytes.",
        node.cells
            .iter()
            .filter_map(|c| Some((by_cell(c), Value::Int(c.free_bytes?)))),
    )?;
    emit(
        sink,
        "libvirt_node_cell_memory_total_bytes",
        Gauge,
        "Memory of the NUMA cell, in bytes.",
        node.cells
            .iter()
            .filter_map(|c| Some((by_cell(c), Value::Int(c.total_bytes?)))),
    )?;
    emit(
        sink,
        "libvirt_node_cpu_seconds",
        Counter,
        "CPU time of all host CPUs together by mode (kernel, user, idle, iowait, intr), in seconds.",
        node.cpu_seconds
            .iter()
            .map(|(mode, s)| (vec![("mode", mode.clone())], Value::Float(*s))),
    )
}

fn encode_versions(sink: &mut dyn Sink, v: &Versions) -> fmt::Result {
    let labels = vec![
        ("libvirt_library", v.library.clone()),
        ("libvirtd_running", opt(&v.daemon)),
        ("hypervisor_running", opt(&v.hypervisor)),
    ];
    emit(
        sink,
        "libvirt_versions",
        Info,
        "Versions of the libvirt library the exporter uses, of the libvirt daemon it talks to and of the hypervisor, as major.minor.micro.",
        [info(labels)],
    )
}

pub struct Node;

/// The time modes of `virNodeGetCPUStats` (it may also report `utilization`, a percentage).
const CPU_MODES: [&str; 5] = ["kernel", "user", "idle", "iowait", "intr"];

impl HostCollector for Node {
    fn name(&self) -> &'static str {
        "node"
    }

    fn collect(&self, conn: &Connection, out: &mut HostStats) -> Result<(), LibvirtError> {
        out.versions = Some(Versions {
            library: library_version().unwrap_or_default(),
            daemon: conn.daemon_version().ok(),
            hypervisor: conn.hypervisor_version().ok(),
        });
        let info = conn.node_info()?;
        let mut node = NodeStats {
            model: info.model,
            cpus: info.cpus,
            cpu_sockets: info.sockets,
            cpu_cores: info.cores,
            cpu_threads: info.threads,
            numa_cells: info.nodes,
            cpu_frequency_hertz: (info.mhz > 0).then(|| u64::from(info.mhz) * 1_000_000),
            memory_bytes: info.memory_kib * 1024,
            ..NodeStats::default()
        };
        let mut error = None;
        let totals = optional(conn.capabilities(), &mut error)
            .and_then(|caps| cell_memory(&caps).ok())
            .unwrap_or_default();
        node.cells = cells(conn, info.nodes, &totals, &mut error);
        if let Some(stats) = optional(conn.node_cpu_stats(), &mut error) {
            node.cpu_seconds = stats
                .into_iter()
                .filter(|(mode, _)| CPU_MODES.contains(&mode.as_str()))
                .map(|(mode, ns)| (mode, ns as f64 / 1e9))
                .collect();
        }
        if let Some(stats) = optional(conn.node_memory_stats(None), &mut error) {
            node.memory = node_memory(&stats);
        }
        out.node = Some(node);
        error.map_or(Ok(()), Err)
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        let mut all = vec![
            ("libvirt_node", Info),
            ("libvirt_node_cell_memory_free_bytes", Gauge),
            ("libvirt_node_cell_memory_total_bytes", Gauge),
            ("libvirt_node_cpu_seconds", Counter),
            ("libvirt_versions", Info),
        ];
        all.extend(catalogue(FAMILIES));
        all
    }
    fn encode(&self, sink: &mut dyn Sink, host: &HostStats) -> fmt::Result {
        if let Some(node) = &host.node {
            encode_node(sink, node)?;
        }
        match &host.versions {
            Some(v) => encode_versions(sink, v),
            None => Ok(()),
        }
    }
}

/// `virNodeGetMemoryStats` fields (KiB) in bytes; fields other than the four are ignored.
fn node_memory(stats: &[(String, u64)]) -> NodeMemory {
    let field = |name: &str| {
        stats
            .iter()
            .find(|(f, _)| f == name)
            .map(|(_, kib)| kib.saturating_mul(1024))
    };
    NodeMemory {
        total_bytes: field("total"),
        free_bytes: field("free"),
        buffers_bytes: field("buffers"),
        cached_bytes: field("cached"),
    }
}

/// The value of a call the driver may not implement; other errors are kept in `error` (the
/// first one) and the value left out.
pub(super) fn optional<T>(
    result: Result<T, LibvirtError>,
    error: &mut Option<LibvirtError>,
) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) if e.is_unsupported() => None,
        Err(e) => {
            error.get_or_insert(e);
            None
        }
    }
}

/// Free and total memory per NUMA cell: the cells the capabilities list (their IDs need not
/// be contiguous), otherwise cells `0..nodes`.
fn cells(
    conn: &Connection,
    nodes: u32,
    totals: &[(u32, u64)],
    error: &mut Option<LibvirtError>,
) -> Vec<NodeCell> {
    if totals.is_empty() {
        let free = optional(conn.cells_free_memory(0, nodes), error).unwrap_or_default();
        return (0..)
            .zip(free)
            .map(|(id, free)| NodeCell {
                id,
                free_bytes: Some(free),
                total_bytes: None,
            })
            .collect();
    }
    totals
        .iter()
        .map(|&(id, total)| NodeCell {
            id,
            free_bytes: optional(conn.cells_free_memory(id, 1), error)
                .and_then(|v| v.first().copied()),
            total_bytes: Some(total),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_memory_fields_are_kib_in_libvirt_and_bytes_here() {
        let stats = [
            ("total".to_string(), 16_384),
            ("free".to_string(), 2_048),
            ("buffers".to_string(), 1),
            ("cached".to_string(), 4_096),
            ("other".to_string(), 7),
        ];
        assert_eq!(
            node_memory(&stats),
            NodeMemory {
                total_bytes: Some(16 << 20),
                free_bytes: Some(2 << 20),
                buffers_bytes: Some(1024),
                cached_bytes: Some(4 << 20),
            }
        );
        let partial = [("free".to_string(), u64::MAX)];
        assert_eq!(
            node_memory(&partial),
            NodeMemory {
                free_bytes: Some(u64::MAX),
                ..NodeMemory::default()
            }
        );
    }

    #[test]
    fn each_memory_field_has_its_own_family() {
        let kinds: std::collections::BTreeMap<_, _> = Node.families().into_iter().collect();
        for field in ["total", "free", "buffers", "cached"] {
            let name = format!("libvirt_node_memory_{field}_bytes");
            assert_eq!(kinds.get(name.as_str()), Some(&Gauge), "{name}");
        }
        assert!(!kinds.contains_key("libvirt_node_memory_stats_bytes"));
    }
}
