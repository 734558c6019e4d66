//! The `node` collector: the host's CPUs, memory, NUMA cells and CPU time, and the versions of
//! the libvirt library, daemon and hypervisor.
//!
//! Parts a driver does not implement (the test driver has no memory statistics) are left out;
//! only `virNodeGetInfo` is required.

use crate::collect::HostCollector;
use crate::family::{catalogue, emit, emit_family, family, opt, Family, Kind, Labels, Sink, Value};
use crate::libvirt::host_xml::cell_memory;
use crate::libvirt::{library_version, Connection, LibvirtError};
use crate::snapshot::{HostStats, NodeCell, NodeStats, Versions};
use std::collections::BTreeMap;
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
    )?;
    emit(
        sink,
        "libvirt_node_memory_stats_bytes",
        Gauge,
        "Host memory by field (total, free, buffers, cached), in bytes.",
        node.memory_stats_bytes
            .iter()
            .map(|(field, b)| (vec![("field", field.clone())], Value::Int(*b))),
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
            node.memory_stats_bytes = stats
                .into_iter()
                .map(|(field, kib)| (field, kib.saturating_mul(1024)))
                .collect::<BTreeMap<_, _>>();
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
            ("libvirt_node_memory_stats_bytes", Gauge),
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

/// The value of a call the driver may not implement; other errors are kept in `error` (the
/// first one) and the value left out.
fn optional<T>(result: Result<T, LibvirtError>, error: &mut Option<LibvirtError>) -> Option<T> {
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
