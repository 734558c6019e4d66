//! Calls that go through the QEMU guest agent inside a domain, as owned plain values:
//! `virDomainGetGuestInfo` (users, OS, time zone, host name, filesystems, disks, load) and
//! `virDomainInterfaceAddresses` with the agent as the source. libvirt refuses both on a
//! read-only connection. Either may block for as long as the agent does not answer: callers
//! make them off every cycle, each with a deadline of its own. The domain's agent timeout is
//! never changed here (`virDomainAgentSetResponseTimeout` would change it for every client).

use super::{copy_params, Domain, TypedParam};
use crate::libvirt::LibvirtError;
use std::ffi::{c_int, c_uint, CStr};
use virt::sys;

/// One guest network interface as the agent reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestInterfaceRaw {
    /// The guest's name for it (`eth0`).
    pub name: String,
    /// Its MAC address, when the guest reports one.
    pub mac: Option<String>,
    pub addresses: Vec<GuestAddressRaw>,
}

/// One IP address of a guest interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestAddressRaw {
    /// `VIR_IP_ADDR_TYPE_IPV4` (0) or `VIR_IP_ADDR_TYPE_IPV6` (1).
    pub family: u32,
    pub address: String,
    pub prefix: u32,
}

/// A C string libvirt owns (not freed here); empty when NULL.
///
/// # Safety
/// `s` must be NULL or a NUL-terminated string valid for the call.
unsafe fn text(s: *const std::ffi::c_char) -> String {
    if s.is_null() {
        String::new()
    } else {
        CStr::from_ptr(s).to_string_lossy().into_owned()
    }
}

impl Domain {
    /// `virDomainGetGuestInfo` for `types` (`VIR_DOMAIN_GUEST_INFO_*` bits), as typed
    /// parameters: `user.count`, `os.*`, `timezone.*`, `hostname`, `fs.N.*`, `disk.N.*`,
    /// `load.*` (libvirt 11.2 and later). Types the guest's agent does not support are left
    /// out by libvirt; asking for a type libvirt does not know is `VIR_ERR_INVALID_ARG`.
    pub fn guest_info(&self, types: u32) -> Result<Vec<TypedParam>, LibvirtError> {
        let mut params: sys::virTypedParameterPtr = std::ptr::null_mut();
        let mut n: c_int = 0;
        // SAFETY: valid domain pointer; libvirt allocates the parameter array (and its
        // strings) into `params`, freed below exactly once with virTypedParamsFree.
        let rc = unsafe {
            sys::virDomainGetGuestInfo(self.inner.as_ptr(), types as c_uint, &mut params, &mut n, 0)
        };
        if rc < 0 {
            return Err(LibvirtError::last("virDomainGetGuestInfo"));
        }
        // SAFETY: on success `params` holds `n` initialised parameters (or is NULL with 0).
        unsafe {
            let copied = copy_params(params, n);
            if !params.is_null() {
                sys::virTypedParamsFree(params, n);
            }
            Ok(copied)
        }
    }

    /// `virDomainInterfaceAddresses` with `VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT`: every
    /// interface the guest agent reports, with its addresses. (The `virt` crate's wrapper
    /// frees neither the interfaces nor their address arrays.)
    pub fn agent_interface_addresses(&self) -> Result<Vec<GuestInterfaceRaw>, LibvirtError> {
        let mut ifaces: *mut sys::virDomainInterfacePtr = std::ptr::null_mut();
        // SAFETY: valid domain pointer; libvirt allocates the array and every interface in
        // it, each released below exactly once with virDomainInterfaceFree, then the array.
        let n = unsafe {
            sys::virDomainInterfaceAddresses(
                self.inner.as_ptr(),
                &mut ifaces,
                sys::VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT,
                0,
            )
        };
        if n < 0 {
            return Err(LibvirtError::last("virDomainInterfaceAddresses"));
        }
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n as usize {
            // SAFETY: `ifaces` holds `n` interface pointers.
            let iface = unsafe { *ifaces.add(i) };
            if iface.is_null() {
                continue;
            }
            // SAFETY: a valid interface whose `addrs` holds `naddrs` addresses; its strings
            // are NUL-terminated or NULL. All are copied before the interface is freed.
            unsafe {
                let raw = &*iface;
                let addrs: &[sys::virDomainIPAddress] = if raw.addrs.is_null() {
                    &[]
                } else {
                    std::slice::from_raw_parts(raw.addrs, raw.naddrs as usize)
                };
                out.push(GuestInterfaceRaw {
                    name: text(raw.name),
                    mac: (!raw.hwaddr.is_null()).then(|| text(raw.hwaddr)),
                    addresses: addrs
                        .iter()
                        .map(|a| GuestAddressRaw {
                            family: a.type_.max(0) as u32,
                            address: text(a.addr),
                            prefix: a.prefix,
                        })
                        .collect(),
                });
                sys::virDomainInterfaceFree(iface);
            }
        }
        if !ifaces.is_null() {
            // SAFETY: the array itself, allocated by libvirt with malloc.
            unsafe { libc::free(ifaces.cast()) };
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{silence_default_error_printer, Connection};
    use super::*;

    /// The test driver's domain on a read-write or a read-only connection.
    fn test_domain(read_only: bool) -> Domain {
        silence_default_error_printer();
        let conn = Connection::open("test:///default", read_only).unwrap();
        conn.list_domains(0).unwrap().pop().unwrap()
    }

    #[test]
    fn the_test_driver_reports_its_fixed_agent_address() {
        // `virsh -c test:///default domifaddr test --source agent`.
        let ifaces = test_domain(false).agent_interface_addresses().unwrap();
        assert_eq!(
            ifaces,
            vec![GuestInterfaceRaw {
                name: "testnet0".into(),
                mac: Some("aa:bb:cc:dd:ee:ff".into()),
                addresses: vec![GuestAddressRaw {
                    family: sys::VIR_IP_ADDR_TYPE_IPV4,
                    address: "192.168.122.3".into(),
                    prefix: 24,
                }],
            }]
        );
    }

    #[test]
    fn agent_calls_on_a_read_only_connection_are_refused() {
        let dom = test_domain(true);
        let err = dom
            .guest_info(sys::VIR_DOMAIN_GUEST_INFO_HOSTNAME)
            .unwrap_err();
        assert_eq!(err.call, "virDomainGetGuestInfo");
        assert_eq!(err.code, sys::VIR_ERR_OPERATION_DENIED as i32, "{err:?}");
        assert!(err.message.contains("read only"), "{err:?}");
        let err = dom.agent_interface_addresses().unwrap_err();
        assert_eq!(err.code, sys::VIR_ERR_OPERATION_DENIED as i32, "{err:?}");
    }

    #[test]
    fn a_driver_without_guest_info_says_so() {
        let err = test_domain(false)
            .guest_info(sys::VIR_DOMAIN_GUEST_INFO_HOSTNAME)
            .unwrap_err();
        assert!(err.is_unsupported(), "{err:?}");
    }
}
