//! Host-level libvirt calls: storage pools and volumes, virtual networks and the node.
//!
//! `virt`'s wrappers are used where they exist and are sound; node CPU and memory statistics,
//! free pages and memory parameters (KSM), which `virt` lacks, go through `virt::sys` here.
//! Everything is handed out as plain Rust values in libvirt's own units (the collectors
//! convert).

use super::{copy_params, Connection, LibvirtError, TypedParam};
use std::ffi::{c_char, c_int, c_uint, CStr};
use virt::sys;

/// A storage pool, valid while the connection lives.
pub struct StoragePool {
    inner: virt::storage_pool::StoragePool,
}

/// A storage volume, valid while the connection lives.
pub struct StorageVolume {
    inner: virt::storage_vol::StorageVol,
}

/// A virtual network, valid while the connection lives.
pub struct Network {
    inner: virt::network::Network,
}

/// `virStoragePoolGetInfo`: state (`virStoragePoolState`) and sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolInfoRaw {
    pub state: u32,
    pub capacity: u64,
    pub allocation: u64,
    pub available: u64,
}

/// `virStorageVolGetInfoFlags`: type (`virStorageVolType`) and sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeInfoRaw {
    pub kind: u32,
    pub capacity: u64,
    pub allocation: u64,
}

/// `virNodeGetInfo`, in libvirt's units (KiB, MHz).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfoRaw {
    pub model: String,
    pub memory_kib: u64,
    pub cpus: u32,
    pub mhz: u32,
    /// NUMA cells.
    pub nodes: u32,
    /// Sockets per NUMA cell.
    pub sockets: u32,
    /// Cores per socket.
    pub cores: u32,
    /// Threads per core.
    pub threads: u32,
}

impl From<virt::connect::Connect> for Connection {
    /// Wraps a connection opened through `virt` (tests use it to change the test driver's
    /// private state on the very connection the collectors then read).
    fn from(inner: virt::connect::Connect) -> Self {
        Connection { inner }
    }
}

impl Connection {
    /// `virConnectListAllStoragePools`, every pool or only the active ones.
    pub fn list_pools(&self, active_only: bool) -> Result<Vec<StoragePool>, LibvirtError> {
        let flags = if active_only {
            sys::VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE
        } else {
            0
        };
        self.inner
            .list_all_storage_pools(flags)
            .map(|v| v.into_iter().map(|inner| StoragePool { inner }).collect())
            .map_err(|e| LibvirtError::from_virt("virConnectListAllStoragePools", e))
    }

    /// `virConnectListAllNetworks`, active or not.
    pub fn list_networks(&self) -> Result<Vec<Network>, LibvirtError> {
        self.inner
            .list_all_networks(0)
            .map(|v| v.into_iter().map(|inner| Network { inner }).collect())
            .map_err(|e| LibvirtError::from_virt("virConnectListAllNetworks", e))
    }

    pub fn node_info(&self) -> Result<NodeInfoRaw, LibvirtError> {
        let i = self
            .inner
            .node_info()
            .map_err(|e| LibvirtError::from_virt("virNodeGetInfo", e))?;
        Ok(NodeInfoRaw {
            model: i.model,
            memory_kib: i.memory,
            cpus: i.cpus,
            mhz: i.mhz,
            nodes: i.nodes,
            sockets: i.sockets,
            cores: i.cores,
            threads: i.threads,
        })
    }

    /// Free memory of the `count` NUMA cells from `first` on, in bytes.
    pub fn cells_free_memory(&self, first: u32, count: u32) -> Result<Vec<u64>, LibvirtError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let first = i32::try_from(first).unwrap_or(i32::MAX);
        let count = i32::try_from(count).unwrap_or(i32::MAX);
        self.inner
            .cells_free_memory(first, count)
            .map_err(|e| LibvirtError::from_virt("virNodeGetCellsFreeMemory", e))
    }

    /// The capabilities XML (host CPU, NUMA topology, guests).
    pub fn capabilities(&self) -> Result<String, LibvirtError> {
        self.inner
            .capabilities()
            .map_err(|e| LibvirtError::from_virt("virConnectGetCapabilities", e))
    }

    /// `virNodeGetCPUStats` summed over all CPUs, as (field, nanoseconds): `kernel`, `user`,
    /// `idle`, `iowait`, `intr` where the driver reports them.
    pub fn node_cpu_stats(&self) -> Result<Vec<(String, u64)>, LibvirtError> {
        let conn = self.as_ptr();
        node_stats(
            "virNodeGetCPUStats",
            // SAFETY: valid connection; `params` is NULL (count query) or has room for `*n`.
            |params: *mut sys::virNodeCPUStats, n| unsafe {
                sys::virNodeGetCPUStats(conn, sys::VIR_NODE_CPU_STATS_ALL_CPUS, params, n, 0)
            },
            |p| (&p.field, p.value),
        )
    }

    /// `virNodeGetMemoryStats` of the whole host (`cell` None) or one NUMA cell, as
    /// (field, KiB): `total`, `free`, `buffers`, `cached` where the driver reports them.
    pub fn node_memory_stats(&self, cell: Option<u32>) -> Result<Vec<(String, u64)>, LibvirtError> {
        let conn = self.as_ptr();
        let cell = cell
            .and_then(|c| c_int::try_from(c).ok())
            .unwrap_or(sys::VIR_NODE_MEMORY_STATS_ALL_CELLS);
        node_stats(
            "virNodeGetMemoryStats",
            // SAFETY: valid connection; `params` is NULL (count query) or has room for `*n`.
            |params: *mut sys::virNodeMemoryStats, n| unsafe {
                sys::virNodeGetMemoryStats(conn, cell, params, n, 0)
            },
            |p| (&p.field, p.value),
        )
    }

    /// `virNodeGetFreePages` for one NUMA cell: the free pages of each size in `sizes_kib`
    /// (page sizes in KiB, as the capabilities XML lists them), in that order.
    pub fn free_pages(&self, cell: u32, sizes_kib: &[u32]) -> Result<Vec<u64>, LibvirtError> {
        if sizes_kib.is_empty() {
            return Ok(Vec::new());
        }
        let mut pages: Vec<c_uint> = sizes_kib.to_vec();
        let npages = c_uint::try_from(pages.len()).unwrap_or(c_uint::MAX);
        let mut counts = vec![0u64; pages.len()];
        let cell = c_int::try_from(cell).unwrap_or(c_int::MAX);
        // SAFETY: valid connection; `pages` holds `npages` sizes and `counts` has room for
        // `npages` counts of the one cell asked for.
        let rc = unsafe {
            sys::virNodeGetFreePages(
                self.as_ptr(),
                npages,
                pages.as_mut_ptr(),
                cell,
                1,
                counts.as_mut_ptr(),
                0,
            )
        };
        if rc < 0 {
            return Err(LibvirtError::last("virNodeGetFreePages"));
        }
        // libvirt fills every count or fails; what it returns on success differs between
        // drivers (the count, or 0 from the test driver), so like virsh it is not used.
        Ok(counts)
    }

    /// `virNodeGetMemoryParameters`: the kernel's shared-memory (KSM) figures, `shm_*`, as
    /// libvirt reads them from `/sys/kernel/mm/ksm` (those the kernel lacks are left out).
    pub fn node_memory_parameters(&self) -> Result<Vec<TypedParam>, LibvirtError> {
        const CALL: &str = "virNodeGetMemoryParameters";
        let conn = self.as_ptr();
        let mut n: c_int = 0;
        // SAFETY: valid connection; with NULL parameters libvirt only stores their count.
        if unsafe { sys::virNodeGetMemoryParameters(conn, std::ptr::null_mut(), &mut n, 0) } < 0 {
            return Err(LibvirtError::last(CALL));
        }
        if n <= 0 {
            return Ok(Vec::new());
        }
        // SAFETY: virTypedParameter is a plain C struct (field name, type, value union) for
        // which all-zero bytes are valid.
        let mut params: Vec<sys::virTypedParameter> =
            (0..n).map(|_| unsafe { std::mem::zeroed() }).collect();
        // SAFETY: `params` has room for `n` parameters, which libvirt fills and sets `n` to
        // the number it filled.
        let rc = unsafe { sys::virNodeGetMemoryParameters(conn, params.as_mut_ptr(), &mut n, 0) };
        if rc < 0 {
            return Err(LibvirtError::last(CALL));
        }
        let n = n.clamp(0, c_int::try_from(params.len()).unwrap_or(c_int::MAX));
        // SAFETY: the first `n` parameters are initialised; string values (none are expected)
        // are copied before virTypedParamsClear frees them, once; the array is ours.
        unsafe {
            let copied = copy_params(params.as_mut_ptr(), n);
            sys::virTypedParamsClear(params.as_mut_ptr(), n);
            Ok(copied)
        }
    }

    fn as_ptr(&self) -> sys::virConnectPtr {
        // SAFETY: the pointer is only used while `self` (which owns the reference) lives.
        unsafe { self.inner.as_ptr() }
    }
}

/// The two-call pattern of the node statistics APIs: ask for the count, then fill an array.
/// `T` is a plain C struct of a field name and a value, for which all-zero bytes are valid.
fn node_stats<T>(
    call: &'static str,
    get: impl Fn(*mut T, *mut c_int) -> c_int,
    field: impl Fn(&T) -> (&[c_char; 80], u64),
) -> Result<Vec<(String, u64)>, LibvirtError> {
    let mut n: c_int = 0;
    if get(std::ptr::null_mut(), &mut n) < 0 {
        return Err(LibvirtError::last(call));
    }
    if n <= 0 {
        return Ok(Vec::new());
    }
    // SAFETY: T is one of libvirt's {field: [c_char; 80], value: u64} structs; zero is valid.
    let mut params: Vec<T> = (0..n).map(|_| unsafe { std::mem::zeroed() }).collect();
    if get(params.as_mut_ptr(), &mut n) < 0 {
        return Err(LibvirtError::last(call));
    }
    params.truncate(n.max(0) as usize);
    Ok(params
        .iter()
        .map(|p| {
            let (name, value) = field(p);
            (c_field(name), value)
        })
        .collect())
}

/// A fixed-size, NUL-padded C field name as a String.
fn c_field(name: &[c_char; 80]) -> String {
    let bytes: Vec<u8> = name.iter().map(|&c| c as u8).collect();
    match CStr::from_bytes_until_nul(&bytes) {
        Ok(c) => c.to_string_lossy().into_owned(),
        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
    }
}

impl StoragePool {
    pub fn name(&self) -> Result<String, LibvirtError> {
        self.inner
            .name()
            .map_err(|e| LibvirtError::from_virt("virStoragePoolGetName", e))
    }

    pub fn uuid(&self) -> Result<String, LibvirtError> {
        self.inner
            .uuid_string()
            .map_err(|e| LibvirtError::from_virt("virStoragePoolGetUUIDString", e))
    }

    pub fn info(&self) -> Result<PoolInfoRaw, LibvirtError> {
        let i = self
            .inner
            .info()
            .map_err(|e| LibvirtError::from_virt("virStoragePoolGetInfo", e))?;
        Ok(PoolInfoRaw {
            state: i.state,
            capacity: i.capacity,
            allocation: i.allocation,
            available: i.available,
        })
    }

    /// The pool XML (type, target path); does not touch the storage.
    pub fn xml(&self) -> Result<String, LibvirtError> {
        self.inner
            .xml_desc(0)
            .map_err(|e| LibvirtError::from_virt("virStoragePoolGetXMLDesc", e))
    }

    pub fn is_persistent(&self) -> Result<bool, LibvirtError> {
        self.inner
            .is_persistent()
            .map_err(|e| LibvirtError::from_virt("virStoragePoolIsPersistent", e))
    }

    pub fn autostart(&self) -> Result<bool, LibvirtError> {
        self.inner
            .autostart()
            .map_err(|e| LibvirtError::from_virt("virStoragePoolGetAutostart", e))
    }

    /// Rescans the pool's storage (needs a read-write connection; touches the storage).
    pub fn refresh(&self) -> Result<(), LibvirtError> {
        self.inner
            .refresh(0)
            .map_err(|e| LibvirtError::from_virt("virStoragePoolRefresh", e))
    }

    /// The pool's volumes (the pool must be active).
    pub fn volumes(&self) -> Result<Vec<StorageVolume>, LibvirtError> {
        self.inner
            .list_all_volumes(0)
            .map(|v| v.into_iter().map(|inner| StorageVolume { inner }).collect())
            .map_err(|e| LibvirtError::from_virt("virStoragePoolListAllVolumes", e))
    }
}

impl StorageVolume {
    pub fn name(&self) -> Result<String, LibvirtError> {
        self.inner
            .name()
            .map_err(|e| LibvirtError::from_virt("virStorageVolGetName", e))
    }

    /// Type, capacity and allocation (`virStorageVolGetInfo`, which every driver has);
    /// reads the volume's file or device.
    pub fn info(&self) -> Result<VolumeInfoRaw, LibvirtError> {
        let i = self
            .inner
            .info()
            .map_err(|e| LibvirtError::from_virt("virStorageVolGetInfo", e))?;
        Ok(VolumeInfoRaw {
            kind: i.kind,
            capacity: i.capacity,
            allocation: i.allocation,
        })
    }

    /// The bytes the volume takes on its storage: `virStorageVolGetInfoFlags` with
    /// `VIR_STORAGE_VOL_GET_PHYSICAL`, which puts them in the allocation field.
    pub fn physical(&self) -> Result<u64, LibvirtError> {
        self.inner
            .info_flags(sys::VIR_STORAGE_VOL_GET_PHYSICAL)
            .map(|i| i.allocation)
            .map_err(|e| LibvirtError::from_virt("virStorageVolGetInfoFlags", e))
    }

    /// The volume XML (path, format); reads the volume's file or device.
    pub fn xml(&self) -> Result<String, LibvirtError> {
        self.inner
            .xml_desc(0)
            .map_err(|e| LibvirtError::from_virt("virStorageVolGetXMLDesc", e))
    }
}

impl Network {
    pub fn name(&self) -> Result<String, LibvirtError> {
        self.inner
            .name()
            .map_err(|e| LibvirtError::from_virt("virNetworkGetName", e))
    }

    pub fn uuid(&self) -> Result<String, LibvirtError> {
        self.inner
            .uuid_string()
            .map_err(|e| LibvirtError::from_virt("virNetworkGetUUIDString", e))
    }

    /// The bridge device; an error for networks without one (e.g. macvtap forwarding).
    pub fn bridge(&self) -> Result<String, LibvirtError> {
        self.inner
            .bridge_name()
            .map_err(|e| LibvirtError::from_virt("virNetworkGetBridgeName", e))
    }

    pub fn is_active(&self) -> Result<bool, LibvirtError> {
        self.inner
            .is_active()
            .map_err(|e| LibvirtError::from_virt("virNetworkIsActive", e))
    }

    pub fn is_persistent(&self) -> Result<bool, LibvirtError> {
        self.inner
            .is_persistent()
            .map_err(|e| LibvirtError::from_virt("virNetworkIsPersistent", e))
    }

    pub fn autostart(&self) -> Result<bool, LibvirtError> {
        self.inner
            .autostart()
            .map_err(|e| LibvirtError::from_virt("virNetworkGetAutostart", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::{silence_default_error_printer, test_connection};

    #[test]
    fn the_default_pool_and_its_sizes() {
        let conn = test_connection();
        let pools = conn.list_pools(false).unwrap();
        let pool = pools
            .iter()
            .find(|p| p.name().unwrap() == "default-pool")
            .expect("test:///default has default-pool");
        assert_eq!(pool.uuid().unwrap(), "dfe224cb-28fb-8dd0-c4b2-64eb3f0f4566");
        let info = pool.info().unwrap();
        assert_eq!(info.state, sys::VIR_STORAGE_POOL_RUNNING);
        // The test driver gives every pool 100 GiB, allocation the sum of its volumes.
        assert_eq!(info.capacity, 100 << 30);
        assert_eq!(info.available, info.capacity - info.allocation);
        assert!(pool.is_persistent().unwrap());
        assert!(!pool.autostart().unwrap());
        assert!(pool.xml().unwrap().contains("<path>/default-pool</path>"));
        assert_eq!(conn.list_pools(true).unwrap().len(), pools.len());
    }

    /// A test-driver node XML with one pool of two volumes, in a temporary directory.
    fn node_xml_connection() -> (tempfile::TempDir, Connection) {
        silence_default_error_printer();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.xml");
        std::fs::write(
            &path,
            "<node><pool type='dir'><name>p</name><target><path>/p</path></target>\
             <volume><name>a.qcow2</name><capacity unit='MiB'>10</capacity>\
             <allocation unit='KiB'>4</allocation><target><format type='qcow2'/></target></volume>\
             <volume><name>b</name><capacity>5</capacity><allocation>5</allocation></volume>\
             </pool></node>",
        )
        .unwrap();
        let uri = format!("test://{}", path.display());
        (dir, Connection::open(&uri, true).expect("node XML opens"))
    }

    #[test]
    fn volumes_report_sizes_but_the_test_driver_has_no_physical_size() {
        let (_dir, conn) = node_xml_connection();
        let pool = conn.list_pools(true).unwrap().pop().unwrap();
        assert_eq!(pool.name().unwrap(), "p");
        let mut vols = pool.volumes().unwrap();
        vols.sort_by_key(|v| v.name().unwrap());
        let names: Vec<String> = vols.iter().map(|v| v.name().unwrap()).collect();
        assert_eq!(names, ["a.qcow2", "b"]);
        let info = vols[0].info().unwrap();
        assert_eq!(info.kind, sys::VIR_STORAGE_VOL_FILE);
        assert_eq!(info.capacity, 10 << 20);
        assert_eq!(info.allocation, 4 << 10);
        assert_eq!(vols[1].info().unwrap().capacity, 5);
        let xml = vols[0].xml().unwrap();
        assert!(xml.contains("<path>/p/a.qcow2</path>"), "{xml}");
        assert!(xml.contains("<format type='qcow2'/>"), "{xml}");
        let err = vols[0].physical().unwrap_err();
        assert!(err.is_unsupported(), "{err:?}");
        // The pool's allocation is the sum of its volumes' (test driver rule).
        assert_eq!(pool.info().unwrap().allocation, (4 << 10) + 5);
    }

    #[test]
    fn the_default_network() {
        let conn = test_connection();
        let nets = conn.list_networks().unwrap();
        let net = nets
            .iter()
            .find(|n| n.name().unwrap() == "default")
            .unwrap();
        assert_eq!(net.uuid().unwrap(), "dd8fe884-6c02-601e-7551-cca97df1c5df");
        assert_eq!(net.bridge().unwrap(), "virbr0");
        assert!(net.is_active().unwrap());
        assert!(net.is_persistent().unwrap());
        assert!(!net.autostart().unwrap());
    }

    #[test]
    fn node_info_cells_and_capabilities() {
        let conn = test_connection();
        let info = conn.node_info().unwrap();
        assert_eq!(info.model, "i686");
        assert_eq!(info.cpus, 16);
        assert_eq!(info.mhz, 1400);
        assert_eq!(info.nodes, 2);
        assert_eq!(info.sockets, 2);
        assert_eq!(info.cores, 2);
        assert_eq!(info.threads, 2);
        assert_eq!(info.memory_kib, 3_145_728);
        // test:///default answers with each cell's memory figure, (i+1) * 2 GiB in KiB.
        assert_eq!(
            conn.cells_free_memory(0, 2).unwrap(),
            [2_097_152, 4_194_304]
        );
        assert_eq!(conn.cells_free_memory(1, 1).unwrap(), [4_194_304]);
        assert_eq!(conn.cells_free_memory(0, 0).unwrap(), Vec::<u64>::new());
        assert!(conn.cells_free_memory(2, 1).unwrap_err().is_unsupported());
        assert!(conn.capabilities().unwrap().contains("<cells num='2'>"));
    }

    #[test]
    fn node_cpu_stats_are_copied_with_their_names() {
        let conn = test_connection();
        let stats = conn.node_cpu_stats().unwrap();
        // The test driver's fixed values (ns).
        assert_eq!(
            stats,
            [
                ("user".to_string(), 9_797_400_000),
                ("kernel".to_string(), 34_678_723_400_000),
                ("idle".to_string(), 87_264_900_000),
                ("iowait".to_string(), 763_600_000),
            ]
        );
    }

    #[test]
    fn node_memory_stats_are_unsupported_by_the_test_driver() {
        let conn = test_connection();
        let err = conn.node_memory_stats(None).unwrap_err();
        assert!(err.is_unsupported(), "{err:?}");
        assert_eq!(err.call, "virNodeGetMemoryStats");
    }

    #[test]
    fn free_pages_come_in_the_order_of_the_sizes_asked_for() {
        let conn = test_connection();
        // The test driver's fixed answer depends on the position of the size in the request.
        assert_eq!(
            conn.free_pages(0, &[4, 8, 2048, 1_048_576]).unwrap(),
            [19, 45, 97, 201]
        );
        assert_eq!(conn.free_pages(1, &[2048]).unwrap(), [19]);
        assert_eq!(conn.free_pages(0, &[]).unwrap(), Vec::<u64>::new());
    }

    #[test]
    fn node_memory_parameters_are_unsupported_by_the_test_driver() {
        let conn = test_connection();
        let err = conn.node_memory_parameters().unwrap_err();
        assert!(err.is_unsupported(), "{err:?}");
        assert_eq!(err.call, "virNodeGetMemoryParameters");
    }

    #[test]
    fn c_field_names_stop_at_the_first_nul() {
        let mut name = [0 as c_char; 80];
        for (dst, src) in name.iter_mut().zip(b"iowait\0junk") {
            *dst = *src as c_char;
        }
        assert_eq!(c_field(&name), "iowait");
        let full = [b'x' as c_char; 80];
        assert_eq!(c_field(&full).len(), 80);
    }
}
