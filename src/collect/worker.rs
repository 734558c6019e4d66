//! The bulk cycle's worker: the thread that owns the exporter's main libvirt connection and
//! runs one domain cycle ([`DomainSource::collect`]) each time the clock asks.
//!
//! It opens the connection (with keepalive and backoff, see `connector`), subscribes to
//! lifecycle events and the close callback, reconnects after the connection breaks, and
//! publishes the connection in [`SharedConnection`] for the host collectors. It knows nothing
//! about time: the clock decides when to ask and how long to wait for the answer.

use super::connector::{Connector, OpenError};
use super::domains::{DomainCycle, DomainSource};
use super::shared_connection::SharedConnection;
use crate::libvirt::{Connection, LibvirtError, LifecycleEvent, Subscription};
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
    events: Sender<LifecycleEvent>,
    /// Whether the current connection has a lifecycle subscription (read by the clock).
    subscribed: Arc<AtomicBool>,
}

impl Worker {
    pub fn new(
        connector: Connector,
        source: DomainSource,
        shared: Arc<SharedConnection>,
        events: Sender<LifecycleEvent>,
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
