//! Every `unsafe` call into libvirt lives in this module (and its submodules); the rest of the
//! crate sees safe Rust types. The one foreign call that is not libvirt's, glibc's allocator
//! tuning, lives here too (`alloc`), to keep all `unsafe` in one place.
//!
//! The `virt` crate's safe wrappers are used where they are sound and leak-free; the calls it
//! lacks or gets wrong (bulk domain stats, whose records `virt` never frees; vCPU info; raw
//! domain state) go through `virt::sys`. Typed parameters are copied into owned Rust values
//! before libvirt's memory is released.

mod alloc;
mod event_callbacks;
mod events;
mod guest;
mod health;
mod jobs;

pub use alloc::{limit_malloc_arenas, release_free_memory};

pub use event_callbacks::{DomainEvent, DomainEventKind};
pub use events::{start_event_loop, Subscription};
pub use guest::{GuestAddressRaw, GuestInterfaceRaw};
pub use health::{BlockJobRaw, ControlInfoRaw};
pub use jobs::JobStatsRaw;

use super::error::LibvirtError;
use std::ffi::{c_int, c_uint, CStr};
use virt::sys;

mod host;
pub use host::{Network, NodeInfoRaw, PoolInfoRaw, StoragePool, StorageVolume, VolumeInfoRaw};

/// An open connection to one libvirt URI.
pub struct Connection {
    inner: virt::connect::Connect,
}

/// A reference to one domain, valid while the connection lives.
pub struct Domain {
    inner: virt::domain::Domain,
}

/// One domain's record from `virConnectGetAllDomainStats`.
pub struct StatsRecord {
    pub domain: Domain,
    pub params: Vec<TypedParam>,
}

/// A typed parameter copied out of libvirt.
#[derive(Debug, Clone, PartialEq)]
pub struct TypedParam {
    pub field: String,
    pub value: ParamValue,
}

/// The value of a typed parameter: every numeric type libvirt has, and strings.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Int(i64),
    UInt(u64),
    Double(f64),
    Bool(bool),
    Text(String),
}

/// `virDomainGetInfo`, in libvirt's units (KiB, ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainInfoRaw {
    pub state: u32,
    pub max_mem_kib: u64,
    pub memory_kib: u64,
    pub nr_virt_cpu: u32,
    pub cpu_time_ns: u64,
}

/// One entry of `virDomainGetVcpus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VcpuInfoRaw {
    pub number: u32,
    pub state: i32,
    pub cpu_time_ns: u64,
    pub cpu: i32,
}

/// `virDomainBlockStats` plus `virDomainGetBlockInfo`; negative means "not reported".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockStatsRaw {
    pub rd_req: i64,
    pub rd_bytes: i64,
    pub wr_req: i64,
    pub wr_bytes: i64,
    pub errs: i64,
}

/// `virDomainGetBlockInfo`, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfoRaw {
    pub capacity: u64,
    pub allocation: u64,
    pub physical: u64,
}

/// `virDomainInterfaceStats`; negative means "not reported".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfaceStatsRaw {
    pub rx_bytes: i64,
    pub rx_packets: i64,
    pub rx_errs: i64,
    pub rx_drop: i64,
    pub tx_bytes: i64,
    pub tx_packets: i64,
    pub tx_errs: i64,
    pub tx_drop: i64,
}

/// Stops libvirt from printing every error to stderr; errors reach us as values instead.
pub fn silence_default_error_printer() {
    virt::error::clear_error_callback();
}

/// The libvirt library version as `major.minor.micro`.
pub fn library_version() -> Option<String> {
    virt::connect::Connect::version().ok().map(format_version)
}

pub(crate) fn format_version(v: u32) -> String {
    format!("{}.{}.{}", v / 1_000_000, (v / 1000) % 1000, v % 1000)
}

/// A read-only connection to libvirt's built-in test driver, for unit tests.
#[cfg(test)]
pub(crate) fn test_connection() -> Connection {
    silence_default_error_printer();
    Connection::open("test:///default", true).expect("test driver opens")
}

impl Connection {
    /// Opens `uri`, read-only unless asked otherwise.
    pub fn open(uri: &str, read_only: bool) -> Result<Connection, LibvirtError> {
        let result = if read_only {
            virt::connect::Connect::open_read_only(Some(uri))
        } else {
            virt::connect::Connect::open(Some(uri))
        };
        result
            .map(|inner| Connection { inner })
            .map_err(|e| LibvirtError::from_virt("virConnectOpen", e))
    }

    pub fn is_alive(&self) -> bool {
        self.inner.is_alive().unwrap_or(false)
    }

    /// The driver's name, e.g. `QEMU` or `TEST`.
    pub fn driver_type(&self) -> Result<String, LibvirtError> {
        self.inner
            .driver_type()
            .map_err(|e| LibvirtError::from_virt("virConnectGetType", e))
    }

    /// The hypervisor's version, `major.minor.micro`.
    pub fn hypervisor_version(&self) -> Result<String, LibvirtError> {
        self.inner
            .hyp_version()
            .map(format_version)
            .map_err(|e| LibvirtError::from_virt("virConnectGetVersion", e))
    }

    /// The daemon's library version, `major.minor.micro`.
    pub fn daemon_version(&self) -> Result<String, LibvirtError> {
        self.inner
            .lib_version()
            .map(format_version)
            .map_err(|e| LibvirtError::from_virt("virConnectGetLibVersion", e))
    }

    /// `virConnectListAllDomains` with `flags` (e.g. only persistent ones).
    pub fn list_domains(&self, flags: u32) -> Result<Vec<Domain>, LibvirtError> {
        self.inner
            .list_all_domains(flags)
            .map(|v| v.into_iter().map(|inner| Domain { inner }).collect())
            .map_err(|e| LibvirtError::from_virt("virConnectListAllDomains", e))
    }

    /// One `virConnectGetAllDomainStats` call for every domain; records are copied and freed.
    pub fn all_domain_stats(
        &self,
        groups: u32,
        flags: u32,
    ) -> Result<Vec<StatsRecord>, LibvirtError> {
        let mut list: *mut sys::virDomainStatsRecordPtr = std::ptr::null_mut();
        // SAFETY: the connection pointer is valid while `self` lives; `list` is an out
        // pointer that libvirt fills with a NULL-terminated array it allocates.
        let count = unsafe {
            sys::virConnectGetAllDomainStats(
                self.inner.as_ptr(),
                groups as c_uint,
                &mut list,
                flags as c_uint,
            )
        };
        if count < 0 {
            return Err(LibvirtError::last("virConnectGetAllDomainStats"));
        }
        let guard = RecordList(list);
        let mut records = Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            // SAFETY: libvirt returned `count` valid record pointers in `list`.
            let record = unsafe { &**guard.0.add(i) };
            // SAFETY: `record.dom` is a valid domain; taking our own reference keeps it
            // alive after the list (which holds the other reference) is freed.
            let domain = unsafe {
                if sys::virDomainRef(record.dom) < 0 {
                    continue;
                }
                virt::domain::Domain::from_ptr(record.dom)
            };
            // SAFETY: `params` holds `nparams` initialised typed parameters.
            let params = unsafe { copy_params(record.params, record.nparams) };
            records.push(StatsRecord {
                domain: Domain { inner: domain },
                params,
            });
        }
        Ok(records)
    }
}

/// Owns a list returned by `virConnectGetAllDomainStats` and frees it with its records.
struct RecordList(*mut sys::virDomainStatsRecordPtr);

impl Drop for RecordList {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from virConnectGetAllDomainStats and is freed once.
            unsafe { sys::virDomainStatsRecordListFree(self.0) };
        }
    }
}

/// Copies `n` typed parameters into owned values.
///
/// # Safety
/// `params` must point to `n` initialised `virTypedParameter`s (or be NULL with `n <= 0`).
pub(super) unsafe fn copy_params(
    params: *const sys::virTypedParameter,
    n: c_int,
) -> Vec<TypedParam> {
    if params.is_null() || n <= 0 {
        return Vec::new();
    }
    let slice = std::slice::from_raw_parts(params, n as usize);
    slice.iter().filter_map(|p| copy_param(p)).collect()
}

/// Copies one typed parameter; `None` for a type this code does not know.
///
/// # Safety
/// `p` must be an initialised `virTypedParameter` whose string member, if it is a string,
/// is NULL or NUL-terminated.
unsafe fn copy_param(p: &sys::virTypedParameter) -> Option<TypedParam> {
    let field_bytes: &[u8] = std::slice::from_raw_parts(p.field.as_ptr().cast(), p.field.len());
    let field = match CStr::from_bytes_until_nul(field_bytes) {
        Ok(c) => c.to_string_lossy().into_owned(),
        Err(_) => String::from_utf8_lossy(field_bytes).into_owned(),
    };
    let value = match p.type_ as u32 {
        sys::VIR_TYPED_PARAM_INT => ParamValue::Int(p.value.i as i64),
        sys::VIR_TYPED_PARAM_UINT => ParamValue::UInt(p.value.ui as u64),
        sys::VIR_TYPED_PARAM_LLONG => ParamValue::Int(p.value.l),
        sys::VIR_TYPED_PARAM_ULLONG => ParamValue::UInt(p.value.ul),
        sys::VIR_TYPED_PARAM_DOUBLE => ParamValue::Double(p.value.d),
        sys::VIR_TYPED_PARAM_BOOLEAN => ParamValue::Bool(p.value.b != 0),
        sys::VIR_TYPED_PARAM_STRING => {
            let s = p.value.s;
            if s.is_null() {
                ParamValue::Text(String::new())
            } else {
                ParamValue::Text(CStr::from_ptr(s).to_string_lossy().into_owned())
            }
        }
        _ => return None,
    };
    Some(TypedParam { field, value })
}

impl Domain {
    pub fn name(&self) -> Result<String, LibvirtError> {
        self.inner
            .name()
            .map_err(|e| LibvirtError::from_virt("virDomainGetName", e))
    }

    pub fn uuid(&self) -> Result<String, LibvirtError> {
        self.inner
            .uuid_string()
            .map_err(|e| LibvirtError::from_virt("virDomainGetUUIDString", e))
    }

    /// The domain's ID; only running and paused domains have one.
    pub fn id(&self) -> Option<u32> {
        self.inner.id()
    }

    /// The domain XML as libvirt describes it now.
    pub fn xml(&self) -> Result<String, LibvirtError> {
        self.inner
            .xml_desc(0)
            .map_err(|e| LibvirtError::from_virt("virDomainGetXMLDesc", e))
    }

    /// State and reason as libvirt's raw numbers.
    pub fn state(&self) -> Result<(u32, u32), LibvirtError> {
        let mut state: c_int = 0;
        let mut reason: c_int = 0;
        // SAFETY: valid domain pointer; both out pointers point at live integers.
        let rc = unsafe { sys::virDomainGetState(self.inner.as_ptr(), &mut state, &mut reason, 0) };
        if rc < 0 {
            return Err(LibvirtError::last("virDomainGetState"));
        }
        Ok((state.max(0) as u32, reason.max(0) as u32))
    }

    pub fn info(&self) -> Result<DomainInfoRaw, LibvirtError> {
        let info = self
            .inner
            .info()
            .map_err(|e| LibvirtError::from_virt("virDomainGetInfo", e))?;
        Ok(DomainInfoRaw {
            state: info.state.to_raw(),
            max_mem_kib: info.max_mem,
            memory_kib: info.memory,
            nr_virt_cpu: info.nr_virt_cpu,
            cpu_time_ns: info.cpu_time,
        })
    }

    /// The maximum number of vCPUs the domain may have.
    pub fn max_vcpus(&self) -> Result<u32, LibvirtError> {
        self.inner
            .vcpus_flags(sys::VIR_DOMAIN_VCPU_MAXIMUM)
            .map_err(|e| LibvirtError::from_virt("virDomainGetVcpusFlags", e))
    }

    /// Per-vCPU state, time and physical CPU of a running domain.
    pub fn vcpus(&self, count: u32) -> Result<Vec<VcpuInfoRaw>, LibvirtError> {
        let mut infos: Vec<sys::virVcpuInfo> = Vec::with_capacity(count as usize);
        // SAFETY: `infos` has room for `count` entries; no CPU maps are asked for.
        let n = unsafe {
            sys::virDomainGetVcpus(
                self.inner.as_ptr(),
                infos.as_mut_ptr(),
                count as c_int,
                std::ptr::null_mut(),
                0,
            )
        };
        if n < 0 {
            return Err(LibvirtError::last("virDomainGetVcpus"));
        }
        // SAFETY: libvirt initialised the first `n` (<= count) entries.
        unsafe { infos.set_len((n as usize).min(count as usize)) };
        Ok(infos
            .iter()
            .map(|v| VcpuInfoRaw {
                number: v.number,
                state: v.state,
                cpu_time_ns: v.cpuTime,
                cpu: v.cpu,
            })
            .collect())
    }

    pub fn block_stats(&self, disk: &str) -> Result<BlockStatsRaw, LibvirtError> {
        let s = self
            .inner
            .block_stats(disk)
            .map_err(|e| LibvirtError::from_virt("virDomainBlockStats", e))?;
        Ok(BlockStatsRaw {
            rd_req: s.rd_req,
            rd_bytes: s.rd_bytes,
            wr_req: s.wr_req,
            wr_bytes: s.wr_bytes,
            errs: s.errs,
        })
    }

    pub fn block_info(&self, disk: &str) -> Result<BlockInfoRaw, LibvirtError> {
        let s = self
            .inner
            .block_info(disk, 0)
            .map_err(|e| LibvirtError::from_virt("virDomainGetBlockInfo", e))?;
        Ok(BlockInfoRaw {
            capacity: s.capacity,
            allocation: s.allocation,
            physical: s.physical,
        })
    }

    pub fn interface_stats(&self, device: &str) -> Result<InterfaceStatsRaw, LibvirtError> {
        let s = self
            .inner
            .interface_stats(device)
            .map_err(|e| LibvirtError::from_virt("virDomainInterfaceStats", e))?;
        Ok(InterfaceStatsRaw {
            rx_bytes: s.rx_bytes,
            rx_packets: s.rx_packets,
            rx_errs: s.rx_errs,
            rx_drop: s.rx_drop,
            tx_bytes: s.tx_bytes,
            tx_packets: s.tx_packets,
            tx_errs: s.tx_errs,
            tx_drop: s.tx_drop,
        })
    }

    #[cfg(test)]
    pub(crate) fn suspend_for_test(&self) {
        self.inner.suspend().expect("suspend");
    }

    #[cfg(test)]
    pub(crate) fn resume_for_test(&self) {
        self.inner.resume().expect("resume");
    }

    /// `virDomainMemoryStats` as (tag, value) pairs; tags are `VIR_DOMAIN_MEMORY_STAT_*`.
    pub fn memory_stats(&self) -> Result<Vec<(u32, u64)>, LibvirtError> {
        self.inner
            .memory_stats(0)
            .map(|v| v.into_iter().map(|s| (s.tag, s.val)).collect())
            .map_err(|e| LibvirtError::from_virt("virDomainMemoryStats", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_stats_of_the_test_driver_give_state_of_domain_test() {
        let conn = test_connection();
        let records = conn
            .all_domain_stats(sys::VIR_DOMAIN_STATS_STATE, 0)
            .unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].domain.name().unwrap(), "test");
        assert!(records[0].params.contains(&TypedParam {
            field: "state.state".into(),
            value: ParamValue::Int(1)
        }));
    }

    #[test]
    fn repeated_bulk_stats_do_not_leak_domain_references() {
        // Each record's domain is re-referenced then released; a leak or double free would
        // show up as a crash or as libvirt refusing to close under valgrind/ASan.
        let conn = test_connection();
        for _ in 0..200 {
            let records = conn
                .all_domain_stats(sys::VIR_DOMAIN_STATS_STATE, 0)
                .unwrap();
            assert_eq!(records.len(), 1);
        }
    }

    #[test]
    fn enforcing_an_unsupported_group_is_reported_as_unsupported() {
        let conn = test_connection();
        let err = conn
            .all_domain_stats(
                sys::VIR_DOMAIN_STATS_VCPU,
                sys::VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS,
            )
            .err()
            .expect("the test driver has no bulk vcpu stats");
        assert!(err.is_unsupported(), "{err:?}");
        assert!(err.message.contains("not supported"), "{}", err.message);
    }

    #[test]
    fn per_domain_calls_work_on_the_test_driver() {
        let conn = test_connection();
        let dom = conn.list_domains(0).unwrap().pop().unwrap();
        assert_eq!(dom.uuid().unwrap(), "6695eb01-f6a4-8304-79aa-97f2502e193f");
        assert_eq!(dom.id(), Some(1));
        assert_eq!(dom.state().unwrap().0, sys::VIR_DOMAIN_RUNNING);
        let info = dom.info().unwrap();
        assert_eq!(info.max_mem_kib, 8_388_608);
        assert_eq!(info.nr_virt_cpu, 2);
        let vcpus = dom.vcpus(info.nr_virt_cpu).unwrap();
        assert_eq!(vcpus.iter().map(|v| v.number).collect::<Vec<_>>(), [0, 1]);
        assert!(dom.block_stats("vda").unwrap().rd_bytes > 0);
        assert!(dom.block_info("vda").unwrap().capacity > 0);
        assert!(dom.interface_stats("testnet0").unwrap().tx_bytes > 0);
        let mem = dom.memory_stats().unwrap();
        assert!(mem.contains(&(sys::VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON, 2_097_152)));
        assert!(dom.xml().unwrap().contains("<name>test</name>"));
    }

    #[test]
    fn a_missing_disk_is_an_error_value_not_a_crash() {
        let conn = test_connection();
        let dom = conn.list_domains(0).unwrap().pop().unwrap();
        let err = dom.block_stats("nope").unwrap_err();
        assert_eq!(err.call, "virDomainBlockStats");
        assert!(!err.message.is_empty());
    }

    #[test]
    fn versions_are_dotted() {
        assert_eq!(format_version(9_000_000), "9.0.0");
        assert_eq!(format_version(7_002_015), "7.2.15");
        assert!(library_version().unwrap().starts_with(char::is_numeric));
    }

    #[test]
    fn params_of_every_type_are_copied() {
        let mut raw: [sys::virTypedParameter; 3] = unsafe { std::mem::zeroed() };
        let name = |p: &mut sys::virTypedParameter, s: &str| {
            for (dst, src) in p.field.iter_mut().zip(s.bytes()) {
                *dst = src as _;
            }
        };
        name(&mut raw[0], "a.llong");
        raw[0].type_ = sys::VIR_TYPED_PARAM_LLONG as c_int;
        raw[0].value.l = -5;
        name(&mut raw[1], "b.double");
        raw[1].type_ = sys::VIR_TYPED_PARAM_DOUBLE as c_int;
        raw[1].value.d = 2.5;
        name(&mut raw[2], "c.unknown");
        raw[2].type_ = 99;
        let params = unsafe { copy_params(raw.as_ptr(), 3) };
        assert_eq!(
            params,
            vec![
                TypedParam {
                    field: "a.llong".into(),
                    value: ParamValue::Int(-5)
                },
                TypedParam {
                    field: "b.double".into(),
                    value: ParamValue::Double(2.5)
                },
            ]
        );
    }
}
