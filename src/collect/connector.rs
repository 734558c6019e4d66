//! Opening a libvirt connection the way every collection thread wants it: keepalive probes
//! set, and exponential backoff between failed attempts so a dead daemon is not hammered.

use crate::libvirt::{Connection, LibvirtError};
use std::time::{Duration, Instant};

/// Seconds of silence before a keepalive probe, and unanswered probes before libvirt closes
/// the connection: a dead daemon is noticed within about 20 seconds even mid-call. libvirtd
/// probes its clients every 5 seconds itself, and its probes count as traffic: with the same
/// interval this side seldom needs to send one (after 3 seconds of silence, sending them was
/// most of the exporter's CPU between collections).
const KEEPALIVE_INTERVAL: i32 = 5;
const KEEPALIVE_COUNT: u32 = 3;

/// Opens connections to one URI, at most as often as the backoff allows.
#[derive(Debug)]
pub struct Connector {
    uri: String,
    read_only: bool,
    backoff: Backoff,
}

impl Connector {
    pub fn new(uri: impl Into<String>, read_only: bool) -> Self {
        Connector {
            uri: uri.into(),
            read_only,
            backoff: Backoff::default(),
        }
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// A new connection with keepalive set. While the backoff after the last failure lasts,
    /// libvirt is not asked. The caller logs failures (it knows what it connects for).
    pub fn open(&mut self) -> Result<Connection, OpenError> {
        if let Some(wait) = self.backoff.remaining() {
            return Err(OpenError::BackingOff(not_connected(
                &self.uri,
                &format!("next attempt in {}s", wait.as_secs() + 1),
            )));
        }
        match Connection::open(&self.uri, self.read_only) {
            Ok(conn) => {
                self.backoff.reset();
                conn.set_keepalive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT);
                Ok(conn)
            }
            Err(e) => {
                self.backoff.failed();
                Err(OpenError::Failed(e))
            }
        }
    }
}

/// Why no connection was opened.
#[derive(Debug)]
pub enum OpenError {
    /// libvirt was asked and refused, or could not be reached.
    Failed(LibvirtError),
    /// The backoff after an earlier failure still lasts: libvirt was not asked.
    BackingOff(LibvirtError),
}

/// The error of a call made while there is no connection.
pub fn not_connected(uri: &str, why: &str) -> LibvirtError {
    LibvirtError {
        call: "virConnectOpen",
        code: -1,
        message: format!("not connected to {uri}: {why}"),
    }
}

/// Exponential backoff between reconnection attempts: 1 s, 2 s, 4 s ... at most 30 s.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    next_attempt: Option<Instant>,
}

impl Backoff {
    const MAX: Duration = Duration::from_secs(30);

    fn failed(&mut self) {
        let delay = Duration::from_secs(1u64 << self.failures.min(5)).min(Self::MAX);
        self.failures += 1;
        self.next_attempt = Some(Instant::now() + delay);
    }

    fn reset(&mut self) {
        *self = Backoff::default();
    }

    /// How long until the next attempt is allowed, if it is not yet.
    fn remaining(&self) -> Option<Duration> {
        let wait = self.next_attempt?.saturating_duration_since(Instant::now());
        (!wait.is_zero()).then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnection_attempts_back_off_exponentially_up_to_thirty_seconds() {
        let mut b = Backoff::default();
        assert_eq!(b.remaining(), None, "the first attempt is immediate");
        let waits: Vec<u64> = (0..8)
            .map(|_| {
                b.failed();
                b.remaining().unwrap().as_secs_f64().round() as u64
            })
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        b.reset();
        assert_eq!(b.remaining(), None);
    }

    #[test]
    fn a_failed_attempt_holds_the_next_one_back_without_asking_libvirt() {
        crate::libvirt::silence_default_error_printer();
        let mut c = Connector::new("test:///no/such/node.xml", true);
        let first = c.open().err().expect("no such node file");
        assert!(matches!(first, OpenError::Failed(_)), "{first:?}");
        let Some(OpenError::BackingOff(second)) = c.open().err() else {
            panic!("libvirt asked again during the backoff");
        };
        assert!(
            second
                .message
                .starts_with("not connected to test:///no/such/node.xml: next attempt in "),
            "{second:?}"
        );
    }
}
