//! Which domains are persistent and which start with the host: two domain lists
//! (`virConnectListAllDomains` with the PERSISTENT and AUTOSTART filters), read again only when
//! the set of domains changed or [`LISTS_REFRESH`] passed. Neither changes often, and reading
//! them every cycle would make a cycle three round trips instead of the one bulk call.

use crate::libvirt::{consts, Connection};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// How old the lists may get while the set of domains stays the same (`virsh define` of a
/// running transient domain and `virsh autostart` change them without changing that set).
pub const LISTS_REFRESH: Duration = Duration::from_secs(60);

/// The two lists as last read, and what they were read for.
#[derive(Debug, Default)]
pub struct DomainLists {
    persistent: Option<HashSet<String>>,
    autostart: Option<HashSet<String>>,
    /// The domains (UUIDs) of the cycle that read the lists, and when; `None`: read next cycle.
    read_for: HashSet<String>,
    read_at: Option<Instant>,
}

impl DomainLists {
    /// Reads the lists unless they were read for exactly `domains` less than
    /// [`LISTS_REFRESH`] ago. A list that could not be read is tried again next cycle.
    pub fn update(&mut self, conn: &Connection, domains: &HashSet<String>, now: Instant) {
        let fresh = self
            .read_at
            .is_some_and(|t| now.saturating_duration_since(t) < LISTS_REFRESH)
            && self.read_for == *domains;
        if fresh {
            return;
        }
        self.persistent = uuid_set(conn, consts::LIST_PERSISTENT);
        self.autostart = uuid_set(conn, consts::LIST_AUTOSTART);
        let complete = self.persistent.is_some() && self.autostart.is_some();
        self.read_at = complete.then_some(now);
        self.read_for.clone_from(domains);
    }

    /// Whether the domain is persistent; `None` if the list could not be read.
    pub fn persistent(&self, uuid: &str) -> Option<bool> {
        self.persistent.as_ref().map(|s| s.contains(uuid))
    }

    /// Whether the domain starts with the host; `None` if the list could not be read.
    pub fn autostart(&self, uuid: &str) -> Option<bool> {
        self.autostart.as_ref().map(|s| s.contains(uuid))
    }

    /// Forgets the lists (a new connection reads them again).
    pub fn clear(&mut self) {
        *self = DomainLists::default();
    }
}

/// UUIDs of the domains `virConnectListAllDomains(flags)` returns; `None` if it failed.
fn uuid_set(conn: &Connection, flags: u32) -> Option<HashSet<String>> {
    let domains = conn.list_domains(flags).ok()?;
    Some(domains.iter().filter_map(|d| d.uuid().ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::test_connection;

    const TEST_UUID: &str = "6695eb01-f6a4-8304-79aa-97f2502e193f";

    #[test]
    fn the_lists_are_read_again_when_the_domains_change_or_a_minute_passed() {
        let conn = test_connection();
        let domains = HashSet::from([TEST_UUID.to_string()]);
        let mut lists = DomainLists::default();
        let t0 = Instant::now();
        lists.update(&conn, &domains, t0);
        assert_eq!(lists.persistent(TEST_UUID), Some(true));
        assert_eq!(lists.autostart(TEST_UUID), Some(false));
        assert_eq!(lists.autostart("no-such-domain"), Some(false));

        // what was read stands (a stand-in answer shows it was not read again) ...
        let pretend = || Some(HashSet::from([TEST_UUID.to_string()]));
        lists.autostart = pretend();
        lists.update(&conn, &domains, t0 + LISTS_REFRESH / 2);
        assert_eq!(lists.autostart(TEST_UUID), Some(true));
        // ... until a minute passed
        lists.update(&conn, &domains, t0 + LISTS_REFRESH);
        assert_eq!(lists.autostart(TEST_UUID), Some(false));

        // or until the set of domains changed
        let t1 = t0 + LISTS_REFRESH;
        lists.autostart = pretend();
        let more = HashSet::from([TEST_UUID.to_string(), "another".to_string()]);
        lists.update(&conn, &more, t1);
        assert_eq!(lists.autostart(TEST_UUID), Some(false));
        lists.autostart = pretend();
        lists.update(&conn, &domains, t1);
        assert_eq!(lists.autostart(TEST_UUID), Some(false), "one domain gone");
    }

    #[test]
    fn cleared_lists_are_read_again() {
        let conn = test_connection();
        let domains = HashSet::from([TEST_UUID.to_string()]);
        let mut lists = DomainLists::default();
        let now = Instant::now();
        lists.update(&conn, &domains, now);
        lists.autostart = Some(HashSet::from([TEST_UUID.to_string()]));
        lists.clear();
        assert_eq!(lists.autostart(TEST_UUID), None);
        lists.update(&conn, &domains, now);
        assert_eq!(lists.autostart(TEST_UUID), Some(false));
    }
}
