//! Domain lifecycle event counters, kept across cycles.

use std::collections::BTreeMap;

/// A lifecycle event and its detail, as libvirt's numbers (`virDomainEventType` and the
/// matching `virDomainEvent*DetailType`).
pub type EventKind = (u32, u32);

/// Lifecycle events counted since the exporter started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventStats {
    /// Whether the current libvirt connection delivers lifecycle events.
    pub subscribed: bool,
    /// Counters of the domains in the snapshot; zero for every event kind that matters from
    /// the moment a domain is seen, so the first event shows up in `increase()`.
    pub domains: Vec<DomainEvents>,
    /// Counters for the whole host; they survive the removal of the domain.
    pub host: BTreeMap<EventKind, u64>,
}

/// The event counters of one domain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainEvents {
    pub domain: String,
    pub counts: BTreeMap<EventKind, u64>,
}
