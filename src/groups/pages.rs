//! The `pages` collector: the host's memory pages. Per NUMA cell and page size, how many
//! pages there are and how many are free (huge pages: when a size runs out, domains backed by
//! it fail to start), and the kernel's same-page merging (KSM).
//!
//! A host collector of its own, apart from `node`, so that an operator can switch it off
//! where huge pages and KSM do not matter, and so that a failing `virNodeGetFreePages` or
//! `virNodeGetMemoryParameters` marks this collector failed, not the node's CPU and memory
//! figures. Sizes come from the capabilities XML (`virsh capabilities`), free counts from
//! `virNodeGetFreePages` (`virsh freepages --all`), KSM from `virNodeGetMemoryParameters`
//! (`virsh node-memory-tune`). A driver without the calls gives no series.

use super::node::optional;
use crate::collect::{Fields, HostCollector};
use crate::family::{catalogue, emit_family, family, Family, Kind, Labels, Sink};
use crate::libvirt::host_xml::HostPages;
use crate::libvirt::{Connection, LibvirtError, TypedParam};
use crate::snapshot::{CellPages, HostStats, KsmStats, PageStats};
use std::fmt;

use Kind::{Counter, Gauge};

const CELL_FAMILIES: &[Family<CellPages>] = &[
    family!(
        "libvirt_node_cell_pages",
        Gauge,
        "Memory pages of the size in the NUMA cell, from the capabilities XML; for huge pages the size of the cell's pool.",
        |p: CellPages| p.pages
    ),
    family!(
        "libvirt_node_cell_pages_free",
        Gauge,
        "Free memory pages of the size in the NUMA cell (virNodeGetFreePages).",
        |p: CellPages| p.free
    ),
];

const KSM_FAMILIES: &[Family<KsmStats>] = &[
    family!(
        "libvirt_node_ksm_pages_shared",
        Gauge,
        "Pages KSM has merged and shares (shm_pages_shared).",
        |k: KsmStats| k.pages_shared
    ),
    family!(
        "libvirt_node_ksm_pages_sharing",
        Gauge,
        "Further mappings of the pages KSM shares, about the pages it saves (shm_pages_sharing).",
        |k: KsmStats| k.pages_sharing
    ),
    family!(
        "libvirt_node_ksm_pages_unshared",
        Gauge,
        "Pages KSM checked and found unique (shm_pages_unshared).",
        |k: KsmStats| k.pages_unshared
    ),
    family!(
        "libvirt_node_ksm_pages_volatile",
        Gauge,
        "Pages changing too fast for KSM to merge (shm_pages_volatile).",
        |k: KsmStats| k.pages_volatile
    ),
    family!(
        "libvirt_node_ksm_full_scans",
        Counter,
        "Times KSM has scanned all mergeable memory (shm_full_scans).",
        |k: KsmStats| k.full_scans
    ),
    family!(
        "libvirt_node_ksm_merge_across_nodes",
        Gauge,
        "Whether KSM merges pages of different NUMA cells (shm_merge_across_nodes, 0/1).",
        |k: KsmStats| k.merge_across_nodes
    ),
    family!(
        "libvirt_node_ksm_sleep_seconds",
        Gauge,
        "Time KSM sleeps between scans (shm_sleep_millisecs), in seconds.",
        |k: KsmStats| k.sleep_seconds
    ),
    family!(
        "libvirt_node_ksm_pages_to_scan",
        Gauge,
        "Pages KSM scans before it sleeps (shm_pages_to_scan).",
        |k: KsmStats| k.pages_to_scan
    ),
];

pub struct Pages;

impl HostCollector for Pages {
    fn name(&self) -> &'static str {
        "pages"
    }

    fn collect(&self, conn: &Connection, out: &mut HostStats) -> Result<(), LibvirtError> {
        let mut error = None;
        let host = optional(conn.capabilities(), &mut error)
            .and_then(|caps| HostPages::parse(&caps).ok())
            .unwrap_or_default();
        let mut stats = PageStats {
            cells: cell_pages(&host, |cell, sizes| {
                optional(conn.free_pages(cell, sizes), &mut error)
            }),
            ..PageStats::default()
        };
        if let Some(params) = optional(conn.node_memory_parameters(), &mut error) {
            stats.ksm = ksm(&params);
        }
        out.pages = Some(stats);
        error.map_or(Ok(()), Err)
    }

    fn families(&self) -> Vec<(&'static str, Kind)> {
        catalogue(CELL_FAMILIES)
            .chain(catalogue(KSM_FAMILIES))
            .collect()
    }

    fn encode(&self, sink: &mut dyn Sink, host: &HostStats) -> fmt::Result {
        let Some(pages) = &host.pages else {
            return Ok(());
        };
        let labels = |p: &CellPages| -> Labels {
            vec![
                ("cell", p.cell.to_string()),
                ("page_size_bytes", p.page_size_bytes.to_string()),
            ]
        };
        for f in CELL_FAMILIES {
            emit_family(sink, f, pages.cells.iter().map(|p| (labels(p), p)))?;
        }
        for f in KSM_FAMILIES {
            emit_family(sink, f, [(Labels::new(), &pages.ksm)])?;
        }
        Ok(())
    }
}

/// Every cell of the capabilities with every page size the host supports (or, if it lists
/// none, those the cells list): the cell's count from the XML, the free count from
/// `free_pages(cell, sizes in KiB)`, which gives them in the order asked or `None`.
fn cell_pages(
    host: &HostPages,
    mut free_pages: impl FnMut(u32, &[u32]) -> Option<Vec<u64>>,
) -> Vec<CellPages> {
    let mut sizes = host.sizes_bytes.clone();
    if sizes.is_empty() {
        sizes = host
            .cells
            .iter()
            .flat_map(|(_, pages)| pages.iter().map(|(size, _)| *size))
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
    }
    // virNodeGetFreePages takes sizes in KiB; a size it cannot express is not asked for.
    let asked: Vec<(u64, u32)> = sizes
        .iter()
        .filter(|&&b| b % 1024 == 0)
        .filter_map(|&b| Some((b, u32::try_from(b / 1024).ok()?)))
        .collect();
    let kib: Vec<u32> = asked.iter().map(|(_, k)| *k).collect();
    let mut out = Vec::new();
    for (cell, counts) in &host.cells {
        let free = free_pages(*cell, &kib).unwrap_or_default();
        for (i, (size, _)) in asked.iter().enumerate() {
            out.push(CellPages {
                cell: *cell,
                page_size_bytes: *size,
                pages: counts.iter().find(|(s, _)| s == size).map(|(_, n)| *n),
                free: free.get(i).copied(),
            });
        }
    }
    out
}

/// The `shm_*` memory parameters as KSM figures (milliseconds in seconds).
fn ksm(params: &[TypedParam]) -> KsmStats {
    let f = Fields::new(params);
    KsmStats {
        pages_to_scan: f.u64("shm_pages_to_scan"),
        sleep_seconds: f.u64("shm_sleep_millisecs").map(|ms| ms as f64 / 1000.0),
        pages_shared: f.u64("shm_pages_shared"),
        pages_sharing: f.u64("shm_pages_sharing"),
        pages_unshared: f.u64("shm_pages_unshared"),
        pages_volatile: f.u64("shm_pages_volatile"),
        full_scans: f.u64("shm_full_scans"),
        merge_across_nodes: f.u64("shm_merge_across_nodes").map(|v| v != 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::ParamValue;

    const MIB2: u64 = 2 << 20;
    const GIB: u64 = 1 << 30;

    fn pages(cell: u32, size: u64, pages: Option<u64>, free: Option<u64>) -> CellPages {
        CellPages {
            cell,
            page_size_bytes: size,
            pages,
            free,
        }
    }

    #[test]
    fn every_cell_gets_every_host_page_size_with_its_count_and_free_pages() {
        let host = HostPages {
            sizes_bytes: vec![4096, MIB2, GIB],
            cells: vec![
                (0, vec![(4096, 1000), (MIB2, 16), (GIB, 0)]),
                (2, vec![(MIB2, 8)]),
            ],
        };
        let mut asked = Vec::new();
        let got = cell_pages(&host, |cell, sizes| {
            asked.push((cell, sizes.to_vec()));
            Some(
                sizes
                    .iter()
                    .map(|k| u64::from(*k) + u64::from(cell))
                    .collect(),
            )
        });
        assert_eq!(
            asked,
            [(0, vec![4, 2048, 1_048_576]), (2, vec![4, 2048, 1_048_576])]
        );
        assert_eq!(
            got,
            [
                pages(0, 4096, Some(1000), Some(4)),
                pages(0, MIB2, Some(16), Some(2048)),
                pages(0, GIB, Some(0), Some(1_048_576)),
                pages(2, 4096, None, Some(6)),
                pages(2, MIB2, Some(8), Some(2050)),
                pages(2, GIB, None, Some(1_048_578)),
            ]
        );
    }

    #[test]
    fn a_failed_free_count_leaves_the_counts_and_sizes_come_from_cells_if_need_be() {
        let host = HostPages {
            sizes_bytes: vec![],
            cells: vec![(0, vec![(MIB2, 16), (4096, 10), (1000, 1)])],
        };
        let got = cell_pages(&host, |_, sizes| {
            assert_eq!(sizes, [4, 2048], "sizes not in whole KiB are not asked for");
            None
        });
        assert_eq!(
            got,
            [
                pages(0, 4096, Some(10), None),
                pages(0, MIB2, Some(16), None)
            ]
        );
    }

    #[test]
    fn ksm_parameters_in_their_units() {
        let params: Vec<TypedParam> = [
            ("shm_pages_to_scan", 100),
            ("shm_sleep_millisecs", 20),
            ("shm_pages_shared", 3),
            ("shm_pages_sharing", 40),
            ("shm_pages_unshared", 5),
            ("shm_pages_volatile", 6),
            ("shm_full_scans", 7),
            ("shm_merge_across_nodes", 1),
        ]
        .into_iter()
        .map(|(field, v)| TypedParam {
            field: field.into(),
            value: ParamValue::UInt(v),
        })
        .collect();
        assert_eq!(
            ksm(&params),
            KsmStats {
                pages_to_scan: Some(100),
                sleep_seconds: Some(0.02),
                pages_shared: Some(3),
                pages_sharing: Some(40),
                pages_unshared: Some(5),
                pages_volatile: Some(6),
                full_scans: Some(7),
                merge_across_nodes: Some(true),
            }
        );
        assert_eq!(ksm(&[]), KsmStats::default());
    }
}
