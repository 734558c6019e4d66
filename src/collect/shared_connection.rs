//! The exporter's one libvirt connection, as the collector threads see it.
//!
//! The domain worker opens it, keeps it alive (keepalive probes, close callback, reconnection
//! with backoff) and publishes it here; the host collectors' threads borrow it for each run.
//! libvirt connections take calls from several threads at once, so a host collector blocked in
//! a call (a volume on a dead mount) holds its own thread, not the connection. One connection
//! instead of one per thread also means one copy of the node for URIs whose driver lives in
//! the client (`test:///path/node.xml` parses the whole file again for every connection).

use crate::libvirt::Connection;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The current connection, if the worker has one.
#[derive(Default)]
pub struct SharedConnection {
    current: Mutex<Option<Arc<Connection>>>,
    changed: Condvar,
}

impl std::fmt::Debug for SharedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedConnection")
            .field("connected", &self.lock().is_some())
            .finish()
    }
}

impl SharedConnection {
    fn lock(&self) -> MutexGuard<'_, Option<Arc<Connection>>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes a new connection, or `None` once the old one is given up. Borrowers that still
    /// hold the old one keep it open until their call returns.
    pub fn set(&self, connection: Option<Arc<Connection>>) {
        *self.lock() = connection;
        self.changed.notify_all();
    }

    /// The current connection, waiting at most `patience` for one to be published.
    pub fn wait(&self, patience: Duration) -> Option<Arc<Connection>> {
        let deadline = Instant::now() + patience;
        let mut current = self.lock();
        loop {
            if let Some(conn) = current.as_ref() {
                return Some(conn.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            current = self
                .changed
                .wait_timeout(current, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn waiting_returns_a_connection_published_meanwhile() {
        let shared = Arc::new(SharedConnection::default());
        let publisher = {
            let shared = shared.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                let conn = Connection::open("test:///default", true).unwrap();
                shared.set(Some(Arc::new(conn)));
            })
        };
        let conn = shared.wait(Duration::from_secs(30)).expect("published");
        publisher.join().unwrap();
        assert_eq!(conn.driver_type().unwrap(), "TEST");
    }

    #[test]
    fn waiting_without_a_connection_gives_up_after_the_patience() {
        let shared = SharedConnection::default();
        assert!(shared.wait(Duration::from_millis(20)).is_none());
        let conn = Arc::new(Connection::open("test:///default", true).unwrap());
        shared.set(Some(conn.clone()));
        assert!(Arc::ptr_eq(&shared.wait(Duration::ZERO).unwrap(), &conn));
        shared.set(None);
        assert!(shared.wait(Duration::ZERO).is_none());
    }
}
