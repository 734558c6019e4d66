//! The `node` collector: the host's CPUs, memory, NUMA cells and CPU time, and the versions of
//! the libvirt library, daemon and hypervisor.
//!
//! Parts a driver does not implement (the test driver has no memory statistics) are left out;
//! only `virNodeGetInfo` is required.

use super::HostCollector;
use crate::libvirt::host_xml::cell_memory;
use crate::libvirt::{library_version, Connection, LibvirtError};
use crate::snapshot::{HostStats, NodeCell, NodeStats, Versions};
use std::collections::BTreeMap;

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
