//! Counts lifecycle events from the libvirt event thread into per-domain and host counters.

use crate::libvirt::states::event_kinds;
use crate::libvirt::LifecycleEvent;
use crate::snapshot::{DomainEvents, DomainStats, EventKind, EventStats};
use std::collections::{BTreeMap, HashMap};
use std::ops::RangeInclusive;

/// Per-domain counters start at zero for these events (started .. crashed); defined and
/// undefined are counted per domain only once they happen, and always for the host.
const PER_DOMAIN_EVENTS: RangeInclusive<u32> = 2..=8;
const ALL_EVENTS: RangeInclusive<u32> = 0..=8;

/// Event counters, owned by the publishing side of the collection loop.
#[derive(Debug)]
pub struct EventCounter {
    /// By domain UUID.
    domains: HashMap<String, BTreeMap<EventKind, u64>>,
    host: BTreeMap<EventKind, u64>,
}

impl Default for EventCounter {
    fn default() -> Self {
        EventCounter {
            domains: HashMap::new(),
            host: event_kinds(ALL_EVENTS).map(|k| (k, 0)).collect(),
        }
    }
}

impl EventCounter {
    pub fn record(&mut self, event: &LifecycleEvent) {
        let (Ok(e), Ok(d)) = (u32::try_from(event.event), u32::try_from(event.detail)) else {
            return;
        };
        *self.host.entry((e, d)).or_default() += 1;
        let counts = self
            .domains
            .entry(event.uuid.clone())
            .or_insert_with(zeroed);
        *counts.entry((e, d)).or_default() += 1;
    }

    /// The counters of exactly `domains` (new ones start at zero, gone ones are dropped) and
    /// of the host.
    pub fn stats_for(&mut self, domains: &[DomainStats], subscribed: bool) -> EventStats {
        let mut keep = HashMap::with_capacity(domains.len());
        let per_domain = domains
            .iter()
            .map(|d| {
                let counts = self.domains.remove(&d.uuid).unwrap_or_else(zeroed);
                keep.insert(d.uuid.clone(), counts.clone());
                DomainEvents {
                    domain: d.name.clone(),
                    counts,
                }
            })
            .collect();
        self.domains = keep;
        EventStats {
            subscribed,
            domains: per_domain,
            host: self.host.clone(),
        }
    }
}

fn zeroed() -> BTreeMap<EventKind, u64> {
    event_kinds(PER_DOMAIN_EVENTS).map(|k| (k, 0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(name: &str, uuid: &str) -> DomainStats {
        DomainStats {
            name: name.into(),
            uuid: uuid.into(),
            ..DomainStats::default()
        }
    }

    fn event(uuid: &str, event: i32, detail: i32) -> LifecycleEvent {
        LifecycleEvent {
            uuid: uuid.into(),
            name: "ignored".into(),
            event,
            detail,
        }
    }

    #[test]
    fn counters_exist_at_zero_count_per_domain_and_survive_on_the_host() {
        let mut c = EventCounter::default();
        let stats = c.stats_for(&[domain("a", "u-a")], true);
        assert_eq!(stats.domains[0].counts.len(), 36);
        assert!(stats.domains[0].counts.values().all(|n| *n == 0));
        assert_eq!(stats.host.len(), 42);

        c.record(&event("u-a", 5, 1)); // stopped/destroyed
        c.record(&event("u-a", 5, 1));
        c.record(&event("u-b", 8, 0)); // crashed/panicked, domain b not yet seen
        let stats = c.stats_for(&[domain("a renamed", "u-a")], true);
        assert_eq!(stats.domains.len(), 1);
        assert_eq!(stats.domains[0].domain, "a renamed");
        assert_eq!(stats.domains[0].counts[&(5, 1)], 2);
        assert_eq!(stats.host[&(5, 1)], 2);
        assert_eq!(
            stats.host[&(8, 0)],
            1,
            "host totals keep the vanished domain's event"
        );

        let stats = c.stats_for(&[], false);
        assert!(stats.domains.is_empty());
        assert_eq!(stats.host[&(5, 1)], 2);
        assert!(!stats.subscribed);
        let stats = c.stats_for(&[domain("a", "u-a")], true);
        assert_eq!(
            stats.domains[0].counts[&(5, 1)],
            0,
            "a domain seen again starts afresh"
        );
    }

    #[test]
    fn negative_numbers_from_libvirt_are_ignored() {
        let mut c = EventCounter::default();
        c.record(&event("u", -1, 0));
        assert!(c.stats_for(&[], true).host.values().all(|n| *n == 0));
    }
}
