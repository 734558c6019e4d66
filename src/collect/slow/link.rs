//! A slow collector's own libvirt connection (one per collector), opened when first needed
//! and again after it broke (keepalive and backoff as for the bulk cycle's, see `connector`).
//!
//! Why not the bulk cycle's connection: libvirtd serves at most `max_client_requests` calls
//! of one connection at once (5 by default) and stops reading the connection while that many
//! are in progress. Slow calls are the ones expected to hang (an unresponsive guest agent, a
//! domain whose monitor is busy), and a few of them hanging on the shared connection would
//! hold up the bulk call, which must never wait for them. Hanging calls on this connection
//! only hold up other calls of the same collector; five of them at once (five stuck domains)
//! stall that collector until one returns.

use crate::collect::connector::{Connector, OpenError};
use crate::libvirt::{Connection, LibvirtError};
use std::sync::{Arc, Mutex, PoisonError};

/// The connection one slow collector calls through.
pub struct Link {
    connector: Mutex<Connector>,
    current: Mutex<Option<Arc<Connection>>>,
}

impl Link {
    pub fn new(connector: Connector) -> Self {
        Link {
            connector: Mutex::new(connector),
            current: Mutex::new(None),
        }
    }

    /// The connection, opened now if there is none or the old one is no longer alive.
    pub fn get(&self) -> Result<Arc<Connection>, LibvirtError> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(conn) = current.as_ref().filter(|c| c.is_alive()) {
            return Ok(conn.clone());
        }
        *current = None;
        let mut connector = self
            .connector
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match connector.open() {
            Ok(conn) => {
                tracing::debug!(
                    uri = connector.uri(),
                    "connected to libvirt for the slow collectors"
                );
                let conn = Arc::new(conn);
                *current = Some(conn.clone());
                Ok(conn)
            }
            Err(OpenError::BackingOff(e)) => Err(e),
            Err(OpenError::Failed(e)) => {
                tracing::warn!(error = %e, "cannot connect to libvirt for the slow collectors; retrying with backoff");
                Err(e)
            }
        }
    }
}
