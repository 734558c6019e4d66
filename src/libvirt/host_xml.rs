//! What the exporter reads from pool, volume and capabilities XML: pool type and path, volume
//! path and format, and the memory and memory pages of each NUMA cell.
//!
//! Parsed with roxmltree; anything missing or unexpected is left out rather than failing.

/// The parts of a storage pool description the collectors need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolXml {
    /// `<pool type>`: dir, fs, netfs, logical, rbd, iscsi...
    pub pool_type: Option<String>,
    /// `<target><path>`; pools without a local path (rbd, gluster...) have none.
    pub path: Option<String>,
}

/// The parts of a storage volume description the collectors need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeXml {
    /// `<target><path>`.
    pub path: Option<String>,
    /// `<target><format type>`: raw, qcow2, iso...
    pub format: Option<String>,
}

impl PoolXml {
    pub fn parse(xml: &str) -> Result<PoolXml, roxmltree::Error> {
        let doc = roxmltree::Document::parse(xml)?;
        let root = doc.root_element();
        Ok(PoolXml {
            pool_type: root.attribute("type").map(str::to_string),
            path: target_child(root, "path").and_then(text),
        })
    }
}

impl VolumeXml {
    pub fn parse(xml: &str) -> Result<VolumeXml, roxmltree::Error> {
        let doc = roxmltree::Document::parse(xml)?;
        let root = doc.root_element();
        Ok(VolumeXml {
            path: target_child(root, "path").and_then(text),
            format: target_child(root, "format")
                .and_then(|f| f.attribute("type"))
                .map(str::to_string),
        })
    }
}

/// Total memory of each NUMA cell in bytes, as (cell id, bytes), from the capabilities XML
/// (`<host><topology><cells><cell id><memory unit>`).
pub fn cell_memory(capabilities: &str) -> Result<Vec<(u32, u64)>, roxmltree::Error> {
    let doc = roxmltree::Document::parse(capabilities)?;
    let cells = topology_cells(&doc)
        .filter_map(|cell| {
            let id = cell.attribute("id")?.parse().ok()?;
            let memory = cell.children().find(|n| n.has_tag_name("memory"))?;
            let amount: u64 = memory.text()?.trim().parse().ok()?;
            let bytes = amount.checked_mul(unit_bytes(memory.attribute("unit"))?)?;
            Some((id, bytes))
        })
        .collect();
    Ok(cells)
}

/// The memory pages of the host, from the capabilities XML.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPages {
    /// The page sizes the host supports (`<host><cpu><pages size unit>`), in bytes, in the
    /// order listed.
    pub sizes_bytes: Vec<u64>,
    /// Each NUMA cell's pages (`<cell id><pages size unit>count</pages>`), as (cell id,
    /// [(page size in bytes, pages)]). For huge pages the count is the size of the pool
    /// (`nr_hugepages` of the cell), for the base size the cell's memory in pages.
    pub cells: Vec<(u32, Vec<(u64, u64)>)>,
}

impl HostPages {
    pub fn parse(capabilities: &str) -> Result<HostPages, roxmltree::Error> {
        let doc = roxmltree::Document::parse(capabilities)?;
        let host_cpu = |n: &roxmltree::Node| {
            n.parent()
                .filter(|p| p.has_tag_name("cpu"))
                .and_then(|p| p.parent())
                .is_some_and(|h| h.has_tag_name("host"))
        };
        let sizes_bytes = doc
            .descendants()
            .filter(|n| n.has_tag_name("pages") && host_cpu(n))
            .filter_map(page_size_bytes)
            .collect();
        let cells = topology_cells(&doc)
            .filter_map(|cell| {
                let id = cell.attribute("id")?.parse().ok()?;
                let pages = cell
                    .children()
                    .filter(|n| n.has_tag_name("pages"))
                    .filter_map(|p| Some((page_size_bytes(p)?, p.text()?.trim().parse().ok()?)))
                    .collect();
                Some((id, pages))
            })
            .collect();
        Ok(HostPages { sizes_bytes, cells })
    }
}

/// The NUMA cells of the host (`<host><topology><cells><cell>`), not those of guests.
fn topology_cells<'a>(
    doc: &'a roxmltree::Document<'a>,
) -> impl Iterator<Item = roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| n.has_tag_name("cell") && n.parent().is_some_and(|p| p.has_tag_name("cells")))
}

/// A `<pages size unit>` element's page size in bytes.
fn page_size_bytes(pages: roxmltree::Node) -> Option<u64> {
    let size: u64 = pages.attribute("size")?.trim().parse().ok()?;
    size.checked_mul(unit_bytes(pages.attribute("unit"))?)
}

/// Bytes per unit of libvirt's scaled integers (`KiB` when no unit is given, as for cells).
fn unit_bytes(unit: Option<&str>) -> Option<u64> {
    Some(match unit.unwrap_or("KiB") {
        "b" | "bytes" => 1,
        "KB" => 1000,
        "k" | "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "M" | "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "G" | "GiB" => 1 << 30,
        "TB" => 1_000_000_000_000,
        "T" | "TiB" => 1 << 40,
        _ => return None,
    })
}

fn target_child<'a>(root: roxmltree::Node<'a, 'a>, name: &str) -> Option<roxmltree::Node<'a, 'a>> {
    root.children()
        .find(|n| n.has_tag_name("target"))?
        .children()
        .find(|n| n.has_tag_name(name))
}

fn text(node: roxmltree::Node) -> Option<String> {
    node.text()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_type_and_path() {
        let xml = "<pool type='dir'><name>p</name><source/>\
                   <target><path>/var/lib/p</path><permissions/></target></pool>";
        assert_eq!(
            PoolXml::parse(xml).unwrap(),
            PoolXml {
                pool_type: Some("dir".into()),
                path: Some("/var/lib/p".into())
            }
        );
        let rbd = "<pool type='rbd'><name>r</name><source><name>rbd</name></source></pool>";
        assert_eq!(PoolXml::parse(rbd).unwrap().path, None);
    }

    #[test]
    fn volume_path_and_format() {
        let xml = "<volume type='file'><name>a</name><key>/p/a</key>\
                   <target><path>/p/a</path><format type='qcow2'/></target></volume>";
        assert_eq!(
            VolumeXml::parse(xml).unwrap(),
            VolumeXml {
                path: Some("/p/a".into()),
                format: Some("qcow2".into())
            }
        );
        assert_eq!(
            VolumeXml::parse("<volume><name>a</name></volume>").unwrap(),
            VolumeXml::default()
        );
    }

    #[test]
    fn cell_memory_in_bytes_and_guest_cells_ignored() {
        let caps = "<capabilities><host><topology><cells num='2'>\
            <cell id='0'><memory unit='KiB'>2048</memory><cpus num='1'/></cell>\
            <cell id='1'><memory unit='MiB'>3</memory></cell>\
            <cell id='2'><memory unit='parsec'>3</memory></cell>\
            </cells></topology></host>\
            <guest><cell id='9'><memory>1</memory></cell></guest></capabilities>";
        assert_eq!(cell_memory(caps).unwrap(), [(0, 2048 * 1024), (1, 3 << 20)]);
    }

    #[test]
    fn page_sizes_of_the_host_and_pages_per_cell_in_bytes() {
        let caps = "<capabilities><host><cpu><arch>x86_64</arch>\
            <pages unit='KiB' size='4'/><pages unit='KiB' size='2048'/>\
            <pages unit='KiB' size='1048576'/><pages unit='parsec' size='1'/></cpu>\
            <topology><cells num='2'>\
            <cell id='0'><memory unit='KiB'>8192</memory>\
            <pages unit='KiB' size='4'>2048</pages><pages unit='KiB' size='2048'>16</pages>\
            <pages unit='KiB' size='1048576'>0</pages></cell>\
            <cell id='3'><pages size='2048'>x</pages><pages unit='MiB' size='2'>4</pages></cell>\
            </cells></topology></host>\
            <guest><arch><pages size='64'/></arch><cell id='9'><pages size='4'>1</pages></cell></guest>\
            </capabilities>";
        assert_eq!(
            HostPages::parse(caps).unwrap(),
            HostPages {
                sizes_bytes: vec![4096, 2 << 20, 1 << 30],
                cells: vec![
                    (0, vec![(4096, 2048), (2 << 20, 16), (1 << 30, 0)]),
                    (3, vec![(2 << 20, 4)]),
                ],
            }
        );
        assert_eq!(
            HostPages::parse("<capabilities><host/></capabilities>").unwrap(),
            HostPages::default()
        );
    }
}
