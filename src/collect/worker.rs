//! The bulk cycle's worker: the thread that owns the exporter's main libvirt connection and
//! runs one domain cycle ([`DomainSource::collect`]) each time the clock asks.
//!
//! It opens the connection (with keepalive and backoff, see `connector`), subscribes to
//! domain events and the close callback, reconnects after the connection breaks, and
//! publishes the connection in [`SharedConnection`] for the host collectors. It knows nothing
//! about time: the clock decides when to ask and how long to wait for the answer.

use super::connector::{Connector, OpenError};
use super::domains::{DomainCycle, DomainSource};
use super::shared_connection::SharedConnection;
use crate::libvirt::{Connection, DomainEvent, LibvirtError, Subscription};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::SystemTime;

/// One cycle's answer.
pub struct CycleResult {
    pub started_at: SystemTime,
    pub outcome: Result<DomainCycle, LibvirtError>,
}

/// One open connection with its event subscription.
struct Session {
    // Dropped first: the subscription deregisters from the connection it refers to.
    _subscription: Option<Subscription>,
    closed: Arc<AtomicBool>,
    conn: Arc<Connection>,
}

/// Runs cycles on request; owns the connection and reconnects after it breaks.
pub struct Worker {
    connector: Connector,
    source: DomainSource,
    session: Option<Session>,
    /// Where the host collectors find the session's connection.
    shared: Arc<SharedConnection>,
    events: Sender<DomainEvent>,
    /// Whether the current connection has a lifecycle subscription (read by the clock).
    subscribed: Arc<AtomicBool>,
}

impl Worker {
    pub fn new(
        connector: Connector,
        source: DomainSource,
        shared: Arc<SharedConnection>,
        events: Sender<DomainEvent>,
        subscribed: Arc<AtomicBool>,
    ) -> Self {
        Worker {
            connector,
            source,
            session: None,
            shared,
            events,
            subscribed,
        }
    }

    /// Runs a cycle for every request and hands each answer to `answer`, until the requests
    /// end or `answer` returns false.
    pub fn run(mut self, requests: Receiver<()>, mut answer: impl FnMut(CycleResult) -> bool) {
        while requests.recv().is_ok() {
            let started_at = SystemTime::now();
            let outcome = self.cycle();
            if !answer(CycleResult {
                started_at,
                outcome,
            }) {
                return;
            }
        }
    }

    fn cycle(&mut self) -> Result<DomainCycle, LibvirtError> {
        if self
            .session
            .as_ref()
            .is_some_and(|s| s.closed.load(Ordering::SeqCst))
        {
            tracing::warn!("libvirt closed the connection; reconnecting");
            self.disconnect();
        }
        if self.session.is_none() {
            self.connect()?;
        }
        let session = self.session.as_ref().expect("connected above");
        let outcome = self.source.collect(&session.conn);
        if let Err(e) = &outcome {
            tracing::warn!(error = %e, "collection failed");
            if !session.conn.is_alive() || session.closed.load(Ordering::SeqCst) {
                self.disconnect();
            }
        }
        outcome
    }

    fn connect(&mut self) -> Result<(), LibvirtError> {
        let conn = match self.connector.open() {
            Ok(conn) => conn,
            // Said when the attempt failed.
            Err(OpenError::BackingOff(e)) => return Err(e),
            Err(OpenError::Failed(e)) => {
                tracing::warn!(error = %e, "cannot connect to libvirt; retrying with backoff");
                return Err(e);
            }
        };
        let closed = Arc::new(AtomicBool::new(false));
        let subscription = match conn.subscribe(self.events.clone(), closed.clone()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "no lifecycle events from this connection");
                None
            }
        };
        self.subscribed
            .store(subscription.is_some(), Ordering::SeqCst);
        let uri = self.connector.uri();
        tracing::info!(%uri, events = subscription.is_some(), "connected to libvirt");
        self.source.reset();
        let conn = Arc::new(conn);
        self.shared.set(Some(conn.clone()));
        self.session = Some(Session {
            _subscription: subscription,
            closed,
            conn,
        });
        Ok(())
    }

    fn disconnect(&mut self) {
        self.shared.set(None);
        self.session = None;
        self.subscribed.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::options::DomainOptions;
    use crate::libvirt::DomainEventKind;
    use std::sync::mpsc;
    use std::time::Duration;

    /// `virDomainEventType` suspended/paused and resumed/unpaused.
    const SUSPENDED: (i32, i32) = (3, 0);
    const RESUMED: (i32, i32) = (4, 0);

    fn next_lifecycle(rx: &Receiver<DomainEvent>) -> (i32, i32) {
        let event = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a lifecycle event");
        match event.kind {
            DomainEventKind::Lifecycle { event, detail } => (event, detail),
            other => panic!("not a lifecycle event: {other:?}"),
        }
    }

    #[test]
    fn after_a_reconnection_each_event_comes_once_from_the_new_subscription() {
        crate::libvirt::start_event_loop().unwrap();
        crate::libvirt::silence_default_error_printer();
        // A node of its own (each connection to it gets its own copy), read-write to suspend.
        let node = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            node.path(),
            "<node><domain type='test'><name>reconnected</name><memory>1024</memory>\
             <vcpu>1</vcpu><os><type>hvm</type></os></domain></node>",
        )
        .unwrap();
        let uri = format!("test://{}", node.path().display());
        let shared = Arc::new(SharedConnection::default());
        let (tx, rx) = mpsc::channel();
        let subscribed = Arc::new(AtomicBool::new(false));
        let mut worker = Worker::new(
            Connector::new(uri, false),
            DomainSource::new(Vec::new(), DomainOptions::default()),
            shared.clone(),
            tx,
            subscribed.clone(),
        );
        assert_eq!(worker.cycle().unwrap().domains.len(), 1);
        assert!(subscribed.load(Ordering::SeqCst));
        let first = shared.wait(Duration::ZERO).unwrap();

        // libvirt closed the connection, as when libvirtd restarts: the next cycle reconnects.
        let session = worker.session.as_ref().unwrap();
        session.closed.store(true, Ordering::SeqCst);
        assert_eq!(worker.cycle().unwrap().domains.len(), 1);
        let second = shared.wait(Duration::ZERO).unwrap();
        assert!(!Arc::ptr_eq(&first, &second), "a new connection");
        assert!(subscribed.load(Ordering::SeqCst));

        // The old connection, kept open here, raises an event first: only a subscription
        // left on it would pass that on, ahead of the new connection's two.
        first
            .list_domains(0)
            .unwrap()
            .pop()
            .unwrap()
            .suspend_for_test();
        let dom = second.list_domains(0).unwrap().pop().unwrap();
        dom.suspend_for_test();
        dom.resume_for_test();
        assert_eq!(next_lifecycle(&rx), SUSPENDED);
        assert_eq!(next_lifecycle(&rx), RESUMED, "one suspension, not two");
    }
}
