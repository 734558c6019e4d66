//! libvirt's event machinery: the process-wide event loop thread, keepalive, the connection
//! close callback and the domain event subscriptions (the events and their callbacks are in
//! `event_callbacks`).
//!
//! Callbacks run on the event loop thread inside libvirt. They only copy plain values into a
//! channel or set a flag, inside `catch_unwind`, so nothing can unwind across the C boundary.

use super::event_callbacks::{free_sender, registrations, DomainEvent};
use super::{Connection, LibvirtError};
use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, OnceLock};
use virt::sys;

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

/// Keeps a connection's event subscriptions and close callback registered; all are removed
/// when this is dropped (before the connection itself).
pub struct Subscription {
    conn: virt::connect::Connect,
    callback_ids: Vec<c_int>,
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

    /// Sends every domain event the exporter counts to `events` (see `event_callbacks`), and
    /// sets `closed` when libvirt closes the connection (daemon gone, keepalive timeout).
    /// Fails without lifecycle events; a driver that refuses the others or the close callback
    /// gets a subscription without them, which is logged.
    pub fn subscribe(
        &self,
        events: Sender<DomainEvent>,
        closed: Arc<AtomicBool>,
    ) -> Result<Subscription, LibvirtError> {
        let mut subscription = Subscription {
            conn: self.inner.clone(),
            callback_ids: Vec::new(),
            close_registered: false,
        };
        // SAFETY: the pointer stays valid while `self` (and the clone in `subscription`) lives.
        let ptr = unsafe { self.inner.as_ptr() };
        for registration in registrations() {
            let sender = Box::into_raw(Box::new(events.clone()));
            // SAFETY: the callback matches the event ID (see `registrations`); `sender` stays
            // valid until libvirt calls `free_sender`, which frees it once.
            let id = unsafe {
                sys::virConnectDomainEventRegisterAny(
                    ptr,
                    std::ptr::null_mut(),
                    registration.id as c_int,
                    registration.callback,
                    sender.cast(),
                    Some(free_sender),
                )
            };
            if id >= 0 {
                subscription.callback_ids.push(id);
                continue;
            }
            // SAFETY: libvirt did not take ownership on failure.
            drop(unsafe { Box::from_raw(sender) });
            let error = LibvirtError::last("virConnectDomainEventRegisterAny");
            if registration.required {
                // Dropping `subscription` removes what was registered.
                return Err(error);
            }
            tracing::warn!(%error, "no {} events from this connection", registration.what);
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
        subscription.close_registered = rc >= 0;
        Ok(subscription)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // SAFETY: `self.conn` holds a reference on the connection.
        let ptr = unsafe { self.conn.as_ptr() };
        for id in self.callback_ids.drain(..) {
            // SAFETY: `id` was returned by a successful registration on this connection.
            unsafe { sys::virConnectDomainEventDeregisterAny(ptr, id) };
        }
        if self.close_registered {
            // SAFETY: the callback was registered on this connection.
            unsafe { sys::virConnectUnregisterCloseCallback(ptr, Some(on_close)) };
        }
    }
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
    use super::super::event_callbacks::DomainEventKind;
    use super::*;
    use std::sync::mpsc::{self, Receiver};
    use std::time::Duration;

    /// A read-write connection to a test node of its own: `test:///default` is one state
    /// shared by every connection of the process, and other tests expect its domain to be
    /// running.
    fn own_node(purpose: &str) -> Connection {
        start_event_loop().unwrap();
        super::super::silence_default_error_printer();
        let node =
            std::env::temp_dir().join(format!("events-test-{purpose}-{}.xml", std::process::id()));
        std::fs::write(
            &node,
            "<node><domain type='test'><name>test</name>\
             <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid><memory>1024</memory>\
             <vcpu>1</vcpu><os><type>hvm</type></os></domain></node>",
        )
        .unwrap();
        let conn = Connection::open(&format!("test://{}", node.display()), false).unwrap();
        std::fs::remove_file(&node).unwrap();
        conn
    }

    fn next_lifecycle(rx: &Receiver<DomainEvent>) -> (i32, i32) {
        let event = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a lifecycle event");
        assert_eq!(event.name, "test");
        assert_eq!(event.uuid, "6695eb01-f6a4-8304-79aa-97f2502e193f");
        match event.kind {
            DomainEventKind::Lifecycle { event, detail } => (event, detail),
            other => panic!("not a lifecycle event: {other:?}"),
        }
    }

    const SUSPENDED: (i32, i32) = (
        sys::VIR_DOMAIN_EVENT_SUSPENDED as i32,
        sys::VIR_DOMAIN_EVENT_SUSPENDED_PAUSED as i32,
    );
    const RESUMED: (i32, i32) = (
        sys::VIR_DOMAIN_EVENT_RESUMED as i32,
        sys::VIR_DOMAIN_EVENT_RESUMED_UNPAUSED as i32,
    );

    #[test]
    fn lifecycle_events_of_the_test_driver_arrive_as_plain_values() {
        let conn = own_node("lifecycle");
        let (tx, rx) = mpsc::channel();
        let closed = Arc::new(AtomicBool::new(false));
        let sub = conn.subscribe(tx, closed.clone()).unwrap();
        assert_eq!(
            sub.callback_ids.len(),
            registrations().len(),
            "the test driver takes every event subscription"
        );
        let dom = conn.list_domains(0).unwrap().pop().unwrap();
        dom.suspend_for_test();
        assert_eq!(next_lifecycle(&rx), SUSPENDED);
        drop(sub);
        assert!(!closed.load(Ordering::SeqCst));
    }

    #[test]
    fn a_dropped_subscription_delivers_nothing_more() {
        let conn = own_node("resubscribe");
        let (tx, rx) = mpsc::channel();
        let closed = Arc::new(AtomicBool::new(false));
        drop(conn.subscribe(tx.clone(), closed.clone()).unwrap());
        let _sub = conn.subscribe(tx, closed).unwrap();
        let dom = conn.list_domains(0).unwrap().pop().unwrap();
        dom.suspend_for_test();
        dom.resume_for_test();
        // libvirt hands each event to every callback registered for it before the next
        // event: a callback left over from the first subscription would repeat the first.
        assert_eq!(next_lifecycle(&rx), SUSPENDED);
        assert_eq!(next_lifecycle(&rx), RESUMED, "the suspension came once");
    }
}
