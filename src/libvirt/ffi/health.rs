//! Per-domain calls about a domain's health and limits, as owned plain values: disk errors,
//! the QEMU monitor's state, I/O and network limits, CPU and memory tuning, snapshots and
//! block jobs. Each is one call (or one per disk/NIC); all are allowed on a read-only
//! connection.

use super::{copy_params, Domain, TypedParam};
use crate::libvirt::LibvirtError;
use std::ffi::{c_char, c_int, c_uint, CStr, CString};
use virt::sys;

/// `virDomainGetControlInfo`: the state of libvirt's control interface (the QEMU monitor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlInfoRaw {
    /// `virDomainControlState`: 0 ok, 1 job, 2 occupied, 3 error.
    pub state: u32,
    /// `virDomainControlErrorReason` when the state is error (0 none, 1 unknown, 2 monitor,
    /// 3 internal).
    pub details: u32,
    /// How long the control interface has been in this state, in milliseconds (0 for ok).
    pub state_time_ms: u64,
}

/// `virDomainGetBlockJobInfo`: the block job running on one disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockJobRaw {
    /// `virDomainBlockJobType`: 1 pull, 2 copy, 3 commit, 4 active commit, 5 backup.
    pub job_type: u32,
    /// Bandwidth limit, in bytes per second (0: none).
    pub bandwidth_bytes_per_second: u64,
    /// Progress: work done and total work, in bytes (the end may grow while the job runs).
    pub cursor: u64,
    pub end: u64,
}

/// Calls a libvirt getter that fills a caller-allocated typed parameter array: first with
/// no array to learn the count, then with one; the parameters' strings are cleared after
/// they are copied.
fn typed_params(
    call: &'static str,
    fill: impl Fn(sys::virTypedParameterPtr, &mut c_int) -> c_int,
) -> Result<Vec<TypedParam>, LibvirtError> {
    let mut n: c_int = 0;
    if fill(std::ptr::null_mut(), &mut n) < 0 {
        return Err(LibvirtError::last(call));
    }
    if n <= 0 {
        return Ok(Vec::new());
    }
    // SAFETY: an all-zero virTypedParameter is a valid (empty) parameter.
    let mut params: Vec<sys::virTypedParameter> =
        (0..n).map(|_| unsafe { std::mem::zeroed() }).collect();
    if fill(params.as_mut_ptr(), &mut n) < 0 {
        return Err(LibvirtError::last(call));
    }
    let n = n.min(params.len() as c_int);
    // SAFETY: libvirt initialised the first `n` parameters; their strings are libvirt's to
    // free, which virTypedParamsClear does (not the array itself, which is ours).
    unsafe {
        let copied = copy_params(params.as_ptr(), n);
        sys::virTypedParamsClear(params.as_mut_ptr(), n);
        Ok(copied)
    }
}

fn c_string(call: &'static str, s: &str) -> Result<CString, LibvirtError> {
    CString::new(s).map_err(|_| LibvirtError {
        call,
        code: -1,
        message: format!("device name {s:?} contains a NUL byte"),
    })
}

impl Domain {
    /// `virDomainGetDiskErrors`: (disk, `virDomainDiskErrorCode`) for every disk with an
    /// error since the domain started (1 unspecified, 2 no space); empty when none has one.
    pub fn disk_errors(&self) -> Result<Vec<(String, u32)>, LibvirtError> {
        // SAFETY: the pointer stays valid while `self` lives.
        let ptr = unsafe { self.inner.as_ptr() };
        // SAFETY: valid domain pointer; NULL/0 asks for the number of disks with errors.
        let count = unsafe { sys::virDomainGetDiskErrors(ptr, std::ptr::null_mut(), 0, 0) };
        if count < 0 {
            return Err(LibvirtError::last("virDomainGetDiskErrors"));
        }
        if count == 0 {
            return Ok(Vec::new());
        }
        // SAFETY: an all-zero virDomainDiskError (NULL disk, no error) is valid.
        let mut errors: Vec<sys::virDomainDiskError> =
            (0..count).map(|_| unsafe { std::mem::zeroed() }).collect();
        // SAFETY: `errors` has room for `count` entries; libvirt fills at most that many
        // and allocates each `disk` string, freed below exactly once.
        let filled =
            unsafe { sys::virDomainGetDiskErrors(ptr, errors.as_mut_ptr(), count as c_uint, 0) };
        if filled < 0 {
            return Err(LibvirtError::last("virDomainGetDiskErrors"));
        }
        let mut out = Vec::with_capacity(filled as usize);
        for e in errors.iter().take(filled as usize) {
            if e.disk.is_null() {
                continue;
            }
            // SAFETY: libvirt set `disk` to a NUL-terminated string it allocated.
            let disk = unsafe { CStr::from_ptr(e.disk) }
                .to_string_lossy()
                .into_owned();
            // SAFETY: allocated by libvirt with malloc; freed once.
            unsafe { libc::free(e.disk.cast()) };
            out.push((disk, e.error.max(0) as u32));
        }
        Ok(out)
    }

    /// `virDomainGetControlInfo`: whether the QEMU monitor answers, is busy or broken.
    pub fn control_info(&self) -> Result<ControlInfoRaw, LibvirtError> {
        // SAFETY: an all-zero virDomainControlInfo is valid.
        let mut info: sys::virDomainControlInfo = unsafe { std::mem::zeroed() };
        // SAFETY: valid domain pointer and a live out structure.
        let rc = unsafe { sys::virDomainGetControlInfo(self.inner.as_ptr(), &mut info, 0) };
        if rc < 0 {
            return Err(LibvirtError::last("virDomainGetControlInfo"));
        }
        Ok(ControlInfoRaw {
            state: info.state,
            details: info.details,
            state_time_ms: info.stateTime,
        })
    }

    /// `virDomainGetBlockIoTune` of one disk (live values of a running domain): total, read
    /// and write bytes and IOPS per second, their burst values and lengths, the group name.
    pub fn block_io_tune(&self, disk: &str) -> Result<Vec<TypedParam>, LibvirtError> {
        let call = "virDomainGetBlockIoTune";
        let disk = c_string(call, disk)?;
        // SAFETY: the pointer stays valid while `self` lives.
        let ptr = unsafe { self.inner.as_ptr() };
        typed_params(call, |params, n| {
            // SAFETY: valid domain pointer and disk name; `params` is NULL (count query) or
            // has room for `*n` parameters.
            unsafe { sys::virDomainGetBlockIoTune(ptr, disk.as_ptr(), params, n, 0) }
        })
    }

    /// `virDomainGetInterfaceParameters` of one NIC: inbound and outbound average, peak and
    /// burst, floor.
    pub fn interface_parameters(&self, device: &str) -> Result<Vec<TypedParam>, LibvirtError> {
        let call = "virDomainGetInterfaceParameters";
        let device = c_string(call, device)?;
        // SAFETY: the pointer stays valid while `self` lives.
        let ptr = unsafe { self.inner.as_ptr() };
        typed_params(call, |params, n| {
            // SAFETY: as in `block_io_tune`.
            unsafe { sys::virDomainGetInterfaceParameters(ptr, device.as_ptr(), params, n, 0) }
        })
    }

    /// `virDomainGetMemoryParameters`: hard, soft and swap hard limits, in KiB
    /// (`VIR_DOMAIN_MEMORY_PARAM_UNLIMITED` when unset), and the minimum guarantee.
    pub fn memory_parameters(&self) -> Result<Vec<TypedParam>, LibvirtError> {
        // SAFETY: the pointer stays valid while `self` lives.
        let ptr = unsafe { self.inner.as_ptr() };
        typed_params("virDomainGetMemoryParameters", |params, n| {
            // SAFETY: as in `block_io_tune`.
            unsafe { sys::virDomainGetMemoryParameters(ptr, params, n, 0) }
        })
    }

    /// `virDomainGetSchedulerParameters`: cpu_shares and the vCPU, emulator, global and I/O
    /// thread period and quota, as they apply now. (The `Flags` variant with flags 0 means
    /// the same, but libvirt adds a flag to it that the test driver refuses.)
    pub fn scheduler_parameters(&self) -> Result<Vec<TypedParam>, LibvirtError> {
        // SAFETY: the pointer stays valid while `self` lives.
        let ptr = unsafe { self.inner.as_ptr() };
        let mut n: c_int = 0;
        // SAFETY: valid domain pointer; libvirt returns an allocated type name, freed below.
        let kind = unsafe { sys::virDomainGetSchedulerType(ptr, &mut n) };
        if kind.is_null() {
            return Err(LibvirtError::last("virDomainGetSchedulerType"));
        }
        // SAFETY: allocated by libvirt with malloc; freed once.
        unsafe { libc::free(kind.cast()) };
        if n <= 0 {
            return Ok(Vec::new());
        }
        // SAFETY: an all-zero virTypedParameter is a valid (empty) parameter.
        let mut params: Vec<sys::virTypedParameter> =
            (0..n).map(|_| unsafe { std::mem::zeroed() }).collect();
        // SAFETY: `params` has room for `n` parameters.
        let rc = unsafe { sys::virDomainGetSchedulerParameters(ptr, params.as_mut_ptr(), &mut n) };
        if rc < 0 {
            return Err(LibvirtError::last("virDomainGetSchedulerParameters"));
        }
        let n = n.min(params.len() as c_int);
        // SAFETY: as in `typed_params`.
        unsafe {
            let copied = copy_params(params.as_ptr(), n);
            sys::virTypedParamsClear(params.as_mut_ptr(), n);
            Ok(copied)
        }
    }

    /// The XML of every snapshot of the domain (`virDomainListAllSnapshots` and
    /// `virDomainSnapshotGetXMLDesc`); a snapshot deleted in between is left out.
    pub fn snapshot_xmls(&self) -> Result<Vec<String>, LibvirtError> {
        let mut snaps: *mut sys::virDomainSnapshotPtr = std::ptr::null_mut();
        // SAFETY: valid domain pointer; libvirt allocates the array and references each
        // snapshot, both released below exactly once.
        let n = unsafe { sys::virDomainListAllSnapshots(self.inner.as_ptr(), &mut snaps, 0) };
        if n < 0 {
            return Err(LibvirtError::last("virDomainListAllSnapshots"));
        }
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n as usize {
            // SAFETY: `snaps` holds `n` valid snapshot references.
            let snap = unsafe { *snaps.add(i) };
            // SAFETY: valid snapshot; the returned string is allocated by libvirt.
            let xml: *mut c_char = unsafe { sys::virDomainSnapshotGetXMLDesc(snap, 0) };
            if !xml.is_null() {
                // SAFETY: NUL-terminated, freed once after copying.
                out.push(
                    unsafe { CStr::from_ptr(xml) }
                        .to_string_lossy()
                        .into_owned(),
                );
                unsafe { libc::free(xml.cast()) };
            }
            // SAFETY: releases the reference the listing took.
            unsafe { sys::virDomainSnapshotFree(snap) };
        }
        if !snaps.is_null() {
            // SAFETY: the array itself, allocated by libvirt.
            unsafe { libc::free(snaps.cast()) };
        }
        Ok(out)
    }

    /// `virDomainGetBlockJobInfo` of one disk: `None` when no block job runs on it.
    pub fn block_job(&self, disk: &str) -> Result<Option<BlockJobRaw>, LibvirtError> {
        let call = "virDomainGetBlockJobInfo";
        let disk = c_string(call, disk)?;
        // SAFETY: an all-zero virDomainBlockJobInfo is valid.
        let mut info: sys::virDomainBlockJobInfo = unsafe { std::mem::zeroed() };
        // SAFETY: valid domain pointer, disk name and out structure. The BYTES flag asks
        // for the bandwidth in bytes per second rather than MiB/s.
        let rc = unsafe {
            sys::virDomainGetBlockJobInfo(
                self.inner.as_ptr(),
                disk.as_ptr(),
                &mut info,
                sys::VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES,
            )
        };
        match rc {
            r if r < 0 => Err(LibvirtError::last(call)),
            0 => Ok(None),
            _ => Ok(Some(BlockJobRaw {
                job_type: info.type_.max(0) as u32,
                bandwidth_bytes_per_second: info.bandwidth,
                cursor: info.cur,
                end: info.end,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_connection;
    use super::*;
    use crate::libvirt::ParamValue;

    fn test_domain() -> Domain {
        let conn = test_connection();
        conn.list_domains(0).unwrap().pop().unwrap()
    }

    #[test]
    fn disk_errors_and_monitor_state_are_those_virsh_shows() {
        let dom = test_domain();
        // The test driver reports an unspecified error on every disk (`virsh domblkerror`).
        assert_eq!(dom.disk_errors().unwrap(), vec![("vda".to_string(), 1)]);
        let control = dom.control_info().unwrap();
        assert_eq!(control.state, sys::VIR_DOMAIN_CONTROL_OK);
        assert_eq!(control.state_time_ms, 0);
    }

    #[test]
    fn tuning_parameters_of_the_test_driver_come_as_typed_values() {
        let dom = test_domain();
        let sched = dom.scheduler_parameters().unwrap();
        assert!(
            sched
                .iter()
                .any(|p| p.field == "weight" && p.value == ParamValue::UInt(50)),
            "{sched:?}"
        );
        // `virsh memtune test` on the test driver: every limit "unlimited", which libvirt
        // reports as VIR_DOMAIN_MEMORY_PARAM_UNLIMITED (KiB).
        let memory = dom.memory_parameters().unwrap();
        let unlimited = ParamValue::UInt(sys::VIR_DOMAIN_MEMORY_PARAM_UNLIMITED);
        for limit in ["hard_limit", "soft_limit", "swap_hard_limit"] {
            assert!(
                memory
                    .iter()
                    .any(|p| p.field == limit && p.value == unlimited),
                "{limit}: {memory:?}"
            );
        }
    }

    #[test]
    fn a_device_name_with_a_nul_byte_is_an_error_not_a_crash() {
        let err = test_domain().block_io_tune("vd\0a").unwrap_err();
        assert!(err.message.contains("NUL"), "{err:?}");
    }
}
