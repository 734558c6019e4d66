//! `virDomainGetJobStats`: the type and progress of a domain's current job (a migration, a
//! save, a dump...), as owned typed parameters.
//!
//! Called directly rather than through `virt::domain::Domain::job_stats`, which panics when
//! a parameter's type is not the one it expects.

use super::{copy_params, Domain, TypedParam};
use crate::libvirt::LibvirtError;
use std::ffi::c_int;
use virt::sys;

/// The current job of a domain: libvirt's job type and its statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct JobStatsRaw {
    /// `virDomainJobType`: 0 none, 1 bounded, 2 unbounded, 3 completed, 4 failed, 5 cancelled.
    pub job_type: u32,
    /// Fields such as `time_elapsed` (ms), `data_total`, `memory_processed`, `disk_remaining`
    /// (bytes); empty when no job runs.
    pub params: Vec<TypedParam>,
}

impl Domain {
    /// Statistics of the job running now (flags 0: not the last completed one).
    ///
    /// With QEMU this takes the domain's query job: it runs alongside an asynchronous job
    /// (migration, dump, save) but waits up to 30 s behind another synchronous one.
    pub fn job_stats(&self) -> Result<JobStatsRaw, LibvirtError> {
        let mut job_type: c_int = 0;
        let mut params: sys::virTypedParameterPtr = std::ptr::null_mut();
        let mut nparams: c_int = 0;
        // SAFETY: valid domain pointer; the three out pointers point at live locals, and
        // libvirt fills `params` with an array of `nparams` parameters that it allocates.
        let rc = unsafe {
            sys::virDomainGetJobStats(
                self.inner.as_ptr(),
                &mut job_type,
                &mut params,
                &mut nparams,
                0,
            )
        };
        if rc < 0 {
            return Err(LibvirtError::last("virDomainGetJobStats"));
        }
        // SAFETY: libvirt returned `nparams` initialised parameters (or NULL and 0); they are
        // copied before being freed exactly once.
        let copied = unsafe {
            let copied = copy_params(params, nparams);
            if !params.is_null() {
                sys::virTypedParamsFree(params, nparams);
            }
            copied
        };
        Ok(JobStatsRaw {
            job_type: job_type.max(0) as u32,
            params: copied,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::libvirt::{silence_default_error_printer, Connection};

    #[test]
    fn the_test_driver_says_job_stats_are_unsupported() {
        silence_default_error_printer();
        let conn = Connection::open("test:///default", true).unwrap();
        let dom = conn.list_domains(0).unwrap().pop().unwrap();
        let err = dom.job_stats().unwrap_err();
        assert_eq!(err.call, "virDomainGetJobStats");
        assert!(err.is_unsupported(), "{err:?}");
    }
}
