//! libvirt's event machinery: the process-wide event loop thread, keepalive, the connection
//! close callback and lifecycle event subscriptions.
//!
//! Callbacks run on the event loop thread inside libvirt. They only copy plain values (the
//! domain's UUID and name, the event and detail numbers) into a channel or set a flag, inside
//! `catch_unwind`, so nothing can unwind across the C boundary.

use super::{Connection, LibvirtError};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, OnceLock};
use virt::sys;

/// One domain lifecycle event, as libvirt's numbers (`virDomainEventType` and its detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    pub uuid: String,
    pub name: String,
    pub event: i32,
    pub detail: i32,
}

/// Registers libvirt's default event loop and runs it on its own thread, once per process.
/// Must be called before the first connection is opened, or that connection gets no
/// keepalive and no events.
pub fn start_event_loop() -> Result<(), LibvirtError> {
    static STARTED: OnceLock<Result<(), LibvirtError>> = OnceLock::new();
    STARTED
        .get_or_init(|| {
            virt::event::event_register_default_impl()
                .map_err(|e| LibvirtError::from_virt("virEventRegisterDefaultImpl", e))?;
            std::thread::Builder::new()
                .name("libvirt-events".into())
                .spawn(|| loop {
                    if let Err(e) = virt::event::event_run_default_impl() {
                        tracing::warn!(error = %e, "libvirt event loop iteration failed");
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                })
                .map_err(|e| LibvirtError {
                    call: "start event loop thread",
                    code: -1,
                    message: e.to_string(),
                })?;
            Ok(())
        })
        .clone()
}

/// Keeps a connection's lifecycle subscription and close callback registered; both are
/// removed when this is dropped (before the connection itself).
pub struct Subscription {
    conn: virt::connect::Connect,
    callback_id: Option<c_int>,
    close_registered: bool,
}

impl Connection {
    /// Has libvirt probe the daemon every `interval_seconds` and close the connection after
    /// `count` unanswered probes. Returns false where the driver has no keepalive (local ones).
    pub fn set_keepalive(&self, interval_seconds: i32, count: u32) -> bool {
        // SAFETY: valid connection pointer.
        let rc =
            unsafe { sys::virConnectSetKeepAlive(self.inner.as_ptr(), interval_seconds, count) };
        rc == 0
    }

    /// Sends every lifecycle event to `events` and sets `closed` when libvirt closes the
    /// connection (daemon gone, keepalive timeout). Either half may be unsupported by the
    /// driver; the subscription reports what it got.
    pub fn subscribe(
        &self,
        events: Sender<LifecycleEvent>,
        closed: Arc<AtomicBool>,
    ) -> Result<Subscription, LibvirtError> {
        // SAFETY: the pointer stays valid while `self` (and the clone kept below) lives.
        let ptr = unsafe { self.inner.as_ptr() };
        let events = Box::into_raw(Box::new(events));
        // SAFETY: the callback matches the LIFECYCLE signature libvirt casts it back to;
        // `events` stays valid until libvirt calls `free_sender`, which frees it once.
        let id = unsafe {
            sys::virConnectDomainEventRegisterAny(
                ptr,
                std::ptr::null_mut(),
                sys::VIR_DOMAIN_EVENT_ID_LIFECYCLE as c_int,
                Some(std::mem::transmute::<
                    unsafe extern "C" fn(
                        sys::virConnectPtr,
                        sys::virDomainPtr,
                        c_int,
                        c_int,
                        *mut c_void,
                    ) -> c_int,
                    unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, *mut c_void),
                >(on_lifecycle)),
                events.cast(),
                Some(free_sender),
            )
        };
        if id < 0 {
            // SAFETY: libvirt did not take ownership on failure.
            drop(unsafe { Box::from_raw(events) });
            return Err(LibvirtError::last("virConnectDomainEventRegisterAny"));
        }
        let flag = Arc::into_raw(closed) as *mut c_void;
        // SAFETY: `flag` is an Arc reference released by `free_flag` exactly once.
        let rc = unsafe {
            sys::virConnectRegisterCloseCallback(ptr, Some(on_close), flag, Some(free_flag))
        };
        if rc < 0 {
            // SAFETY: not registered, so we still own the reference.
            drop(unsafe { Arc::from_raw(flag as *const AtomicBool) });
            tracing::debug!(error = %LibvirtError::last("virConnectRegisterCloseCallback"), "no close callback for this driver");
        }
        Ok(Subscription {
            conn: self.inner.clone(),
            callback_id: Some(id),
            close_registered: rc >= 0,
        })
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // SAFETY: `self.conn` holds a reference on the connection.
        let ptr = unsafe { self.conn.as_ptr() };
        if let Some(id) = self.callback_id.take() {
            // SAFETY: `id` was returned by a successful registration on this connection.
            unsafe { sys::virConnectDomainEventDeregisterAny(ptr, id) };
        }
        if self.close_registered {
            // SAFETY: the callback was registered on this connection.
            unsafe { sys::virConnectUnregisterCloseCallback(ptr, Some(on_close)) };
        }
    }
}

unsafe extern "C" fn on_lifecycle(
    _conn: sys::virConnectPtr,
    dom: sys::virDomainPtr,
    event: c_int,
    detail: c_int,
    opaque: *mut c_void,
) -> c_int {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: libvirt passes the opaque pointer given at registration and a valid domain.
        let sender = &*(opaque as *const Sender<LifecycleEvent>);
        let name_ptr = sys::virDomainGetName(dom);
        let name = if name_ptr.is_null() {
            String::new()
        } else {
            CStr::from_ptr(name_ptr).to_string_lossy().into_owned()
        };
        let mut uuid = [0 as c_char; sys::VIR_UUID_STRING_BUFLEN as usize];
        let uuid = if sys::virDomainGetUUIDString(dom, uuid.as_mut_ptr()) == 0 {
            CStr::from_ptr(uuid.as_ptr()).to_string_lossy().into_owned()
        } else {
            String::new()
        };
        let _ = sender.send(LifecycleEvent {
            uuid,
            name,
            event,
            detail,
        });
    }));
    0
}

unsafe extern "C" fn free_sender(opaque: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: created by Box::into_raw in `subscribe`; libvirt frees it once.
        drop(Box::from_raw(opaque as *mut Sender<LifecycleEvent>));
    }));
}

unsafe extern "C" fn on_close(_conn: sys::virConnectPtr, _reason: c_int, opaque: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the opaque pointer is the Arc<AtomicBool> given at registration.
        let flag = &*(opaque as *const AtomicBool);
        flag.store(true, Ordering::SeqCst);
    }));
}

unsafe extern "C" fn free_flag(opaque: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: created by Arc::into_raw in `subscribe`; libvirt releases it once.
        drop(Arc::from_raw(opaque as *const AtomicBool));
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn lifecycle_events_of_the_test_driver_arrive_as_plain_values() {
        start_event_loop().unwrap();
        super::super::silence_default_error_printer();
        // A node of its own: `test:///default` is one state shared by every connection of
        // the process, and other tests expect its domain to be running.
        let node = std::env::temp_dir().join(format!("events-test-{}.xml", std::process::id()));
        std::fs::write(
            &node,
            "<node><domain type='test'><name>test</name>\
             <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid><memory>1024</memory>\
             <vcpu>1</vcpu><os><type>hvm</type></os></domain></node>",
        )
        .unwrap();
        let conn = Connection::open(&format!("test://{}", node.display()), false).unwrap();
        std::fs::remove_file(&node).unwrap();
        let (tx, rx) = mpsc::channel();
        let closed = Arc::new(AtomicBool::new(false));
        let sub = conn.subscribe(tx, closed.clone()).unwrap();
        let dom = conn.list_domains(0).unwrap().pop().unwrap();
        dom.suspend_for_test();
        let event = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a SUSPENDED event");
        assert_eq!(event.name, "test");
        assert_eq!(event.uuid, "6695eb01-f6a4-8304-79aa-97f2502e193f");
        assert_eq!(event.event, sys::VIR_DOMAIN_EVENT_SUSPENDED as i32);
        assert_eq!(event.detail, sys::VIR_DOMAIN_EVENT_SUSPENDED_PAUSED as i32);
        drop(sub);
        assert!(!closed.load(Ordering::SeqCst));
    }
}
