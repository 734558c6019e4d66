//! The domain events the exporter subscribes to, as plain values, and the C callbacks that
//! make them.
//!
//! Each callback runs on libvirt's event loop thread. It copies the domain's UUID and name
//! and the event's numbers and strings into a [`DomainEvent`] and sends it on the channel
//! given at registration, inside `catch_unwind`, so nothing unwinds across the C boundary.
//! Besides the domain's local name and UUID accessors it makes no libvirt call. Adding an event: a [`DomainEventKind`] variant, a callback
//! here, and a row in [`registrations`].

use std::ffi::{c_char, c_int, c_ulonglong, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::Sender;
use virt::sys;

/// One domain event, copied out of libvirt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainEvent {
    pub uuid: String,
    pub name: String,
    pub kind: DomainEventKind,
}

/// What happened, as libvirt reported it (its numbers, and its strings; a NULL string is
/// empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainEventKind {
    /// `VIR_DOMAIN_EVENT_ID_LIFECYCLE`: `virDomainEventType` and the matching detail.
    Lifecycle { event: i32, detail: i32 },
    /// `VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON`: the disk by its source path and device alias
    /// (`virtio-disk0`), `virDomainEventIOErrorAction` (0 none, 1 pause, 2 report) and the
    /// reason (QEMU: `enospc`, or empty).
    IoError {
        src_path: String,
        dev_alias: String,
        action: i32,
        reason: String,
    },
    /// `VIR_DOMAIN_EVENT_ID_BLOCK_THRESHOLD`: the disk's target (`vda`, or `vda[1]` for a
    /// backing image), its source path, the threshold and by how many bytes it was passed.
    BlockThreshold {
        dev: String,
        path: String,
        threshold: u64,
        excess: u64,
    },
    /// `VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2`: the disk's target, `virDomainBlockJobType` and
    /// `virConnectDomainEventBlockJobStatus` (0 completed, 1 failed, 2 canceled, 3 ready).
    BlockJob {
        disk: String,
        job_type: i32,
        status: i32,
    },
}

/// One event subscription: which event, whether the connection is useless without it, and
/// its callback cast to the generic type the registration call takes.
pub(super) struct Registration {
    pub id: sys::virDomainEventID,
    pub what: &'static str,
    /// Lifecycle events are what "subscribed" means; a driver without the others (older
    /// daemons lack block thresholds) still gets a subscription.
    pub required: bool,
    pub callback: sys::virConnectDomainEventGenericCallback,
}

type GenericCallback = unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, *mut c_void);
type LifecycleCallback =
    unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, c_int, c_int, *mut c_void) -> c_int;
type IoErrorReasonCallback = unsafe extern "C" fn(
    sys::virConnectPtr,
    sys::virDomainPtr,
    *const c_char,
    *const c_char,
    c_int,
    *const c_char,
    *mut c_void,
);
type BlockThresholdCallback = unsafe extern "C" fn(
    sys::virConnectPtr,
    sys::virDomainPtr,
    *const c_char,
    *const c_char,
    c_ulonglong,
    c_ulonglong,
    *mut c_void,
);
type BlockJobCallback = unsafe extern "C" fn(
    sys::virConnectPtr,
    sys::virDomainPtr,
    *const c_char,
    c_int,
    c_int,
    *mut c_void,
);

/// Every event the exporter subscribes to.
pub(super) fn registrations() -> [Registration; 4] {
    // SAFETY (each transmute): libvirt casts the generic callback back to the signature that
    // belongs to the event ID it is registered with, which is the one each is cast from.
    unsafe {
        [
            Registration {
                id: sys::VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                what: "lifecycle",
                required: true,
                callback: Some(std::mem::transmute::<LifecycleCallback, GenericCallback>(
                    on_lifecycle,
                )),
            },
            Registration {
                id: sys::VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON,
                what: "I/O error",
                required: false,
                callback: Some(
                    std::mem::transmute::<IoErrorReasonCallback, GenericCallback>(
                        on_io_error_reason,
                    ),
                ),
            },
            Registration {
                id: sys::VIR_DOMAIN_EVENT_ID_BLOCK_THRESHOLD,
                what: "block threshold",
                required: false,
                callback: Some(
                    std::mem::transmute::<BlockThresholdCallback, GenericCallback>(
                        on_block_threshold,
                    ),
                ),
            },
            Registration {
                id: sys::VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2,
                what: "block job",
                required: false,
                callback: Some(std::mem::transmute::<BlockJobCallback, GenericCallback>(
                    on_block_job,
                )),
            },
        ]
    }
}

/// Copies a C string libvirt owns; NULL is empty.
///
/// # Safety
/// `s` is NULL or a valid NUL-terminated string for the duration of the call.
unsafe fn owned(s: *const c_char) -> String {
    if s.is_null() {
        String::new()
    } else {
        CStr::from_ptr(s).to_string_lossy().into_owned()
    }
}

/// Sends `kind` for `dom` to the channel behind `opaque`.
///
/// # Safety
/// `opaque` is the `Sender<DomainEvent>` given at registration and `dom` a valid domain, as
/// libvirt guarantees for the duration of a callback.
unsafe fn send(dom: sys::virDomainPtr, opaque: *mut c_void, kind: DomainEventKind) {
    let sender = &*(opaque as *const Sender<DomainEvent>);
    let name = owned(sys::virDomainGetName(dom));
    let mut uuid = [0 as c_char; sys::VIR_UUID_STRING_BUFLEN as usize];
    let uuid = if sys::virDomainGetUUIDString(dom, uuid.as_mut_ptr()) == 0 {
        owned(uuid.as_ptr())
    } else {
        String::new()
    };
    // The receiver is gone only while collection stops.
    let _ = sender.send(DomainEvent { uuid, name, kind });
}

unsafe extern "C" fn on_lifecycle(
    _conn: sys::virConnectPtr,
    dom: sys::virDomainPtr,
    event: c_int,
    detail: c_int,
    opaque: *mut c_void,
) -> c_int {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: called by libvirt with the registration's opaque pointer and a valid domain.
        send(dom, opaque, DomainEventKind::Lifecycle { event, detail });
    }));
    0
}

unsafe extern "C" fn on_io_error_reason(
    _conn: sys::virConnectPtr,
    dom: sys::virDomainPtr,
    src_path: *const c_char,
    dev_alias: *const c_char,
    action: c_int,
    reason: *const c_char,
    opaque: *mut c_void,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: libvirt's strings are valid (or NULL) during the callback.
        let kind = DomainEventKind::IoError {
            src_path: owned(src_path),
            dev_alias: owned(dev_alias),
            action,
            reason: owned(reason),
        };
        // SAFETY: as in `on_lifecycle`.
        send(dom, opaque, kind);
    }));
}

unsafe extern "C" fn on_block_threshold(
    _conn: sys::virConnectPtr,
    dom: sys::virDomainPtr,
    dev: *const c_char,
    path: *const c_char,
    threshold: c_ulonglong,
    excess: c_ulonglong,
    opaque: *mut c_void,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: libvirt's strings are valid (or NULL) during the callback.
        let kind = DomainEventKind::BlockThreshold {
            dev: owned(dev),
            path: owned(path),
            threshold,
            excess,
        };
        // SAFETY: as in `on_lifecycle`.
        send(dom, opaque, kind);
    }));
}

unsafe extern "C" fn on_block_job(
    _conn: sys::virConnectPtr,
    dom: sys::virDomainPtr,
    disk: *const c_char,
    job_type: c_int,
    status: c_int,
    opaque: *mut c_void,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: libvirt's string is valid (or NULL) during the callback.
        let kind = DomainEventKind::BlockJob {
            disk: owned(disk),
            job_type,
            status,
        };
        // SAFETY: as in `on_lifecycle`.
        send(dom, opaque, kind);
    }));
}

/// Frees the sender given to one registration; libvirt calls it once, when the callback is
/// deregistered or the connection closes.
pub(super) unsafe extern "C" fn free_sender(opaque: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: created by Box::into_raw at registration; libvirt frees it once.
        drop(Box::from_raw(opaque as *mut Sender<DomainEvent>));
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Calls `callback` the way libvirt would, for the test driver's domain, and returns the
    /// event it sent.
    fn delivered(callback: impl FnOnce(sys::virDomainPtr, *mut c_void)) -> DomainEvent {
        let conn = super::super::test_connection();
        let dom = conn.list_domains(0).unwrap().pop().unwrap();
        let (tx, rx) = mpsc::channel::<DomainEvent>();
        let opaque = Box::into_raw(Box::new(tx)).cast::<c_void>();
        // SAFETY: the domain pointer is valid while `dom` lives.
        callback(unsafe { dom.inner.as_ptr() }, opaque);
        // SAFETY: as libvirt would after deregistration.
        unsafe { free_sender(opaque) };
        let event = rx.try_recv().expect("the callback sent an event");
        assert_eq!(event.name, "test");
        assert_eq!(event.uuid, "6695eb01-f6a4-8304-79aa-97f2502e193f");
        assert!(rx.try_recv().is_err(), "one event per callback");
        event
    }

    #[test]
    fn an_io_error_is_copied_with_its_path_alias_action_and_reason() {
        let event = delivered(|dom, opaque| unsafe {
            on_io_error_reason(
                std::ptr::null_mut(),
                dom,
                c"/var/lib/disk.qcow2".as_ptr(),
                c"virtio-disk1".as_ptr(),
                sys::VIR_DOMAIN_EVENT_IO_ERROR_REPORT as c_int,
                c"enospc".as_ptr(),
                opaque,
            )
        });
        assert_eq!(
            event.kind,
            DomainEventKind::IoError {
                src_path: "/var/lib/disk.qcow2".into(),
                dev_alias: "virtio-disk1".into(),
                action: 2,
                reason: "enospc".into(),
            }
        );
    }

    #[test]
    fn null_strings_from_libvirt_become_empty_ones() {
        let event = delivered(|dom, opaque| unsafe {
            on_io_error_reason(
                std::ptr::null_mut(),
                dom,
                std::ptr::null(),
                std::ptr::null(),
                0,
                std::ptr::null(),
                opaque,
            )
        });
        assert_eq!(
            event.kind,
            DomainEventKind::IoError {
                src_path: String::new(),
                dev_alias: String::new(),
                action: 0,
                reason: String::new(),
            }
        );
    }

    #[test]
    fn a_block_threshold_and_a_block_job_are_copied() {
        let event = delivered(|dom, opaque| unsafe {
            on_block_threshold(
                std::ptr::null_mut(),
                dom,
                c"vda[1]".as_ptr(),
                c"/img/base.qcow2".as_ptr(),
                1 << 30,
                4096,
                opaque,
            )
        });
        assert_eq!(
            event.kind,
            DomainEventKind::BlockThreshold {
                dev: "vda[1]".into(),
                path: "/img/base.qcow2".into(),
                threshold: 1 << 30,
                excess: 4096,
            }
        );
        let event = delivered(|dom, opaque| unsafe {
            on_block_job(
                std::ptr::null_mut(),
                dom,
                c"vdb".as_ptr(),
                sys::VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT as c_int,
                sys::VIR_DOMAIN_BLOCK_JOB_READY as c_int,
                opaque,
            )
        });
        assert_eq!(
            event.kind,
            DomainEventKind::BlockJob {
                disk: "vdb".into(),
                job_type: 4,
                status: 3,
            }
        );
    }
}
