//! Readable names for libvirt's domain states, state reasons and lifecycle events.

use std::borrow::Cow;

/// `virDomainState` names, indexed by state number.
pub const STATE_NAMES: [&str; 8] = [
    "nostate",
    "running",
    "blocked",
    "paused",
    "shutdown",
    "shutoff",
    "crashed",
    "pmsuspended",
];

pub fn state_name(state: u32) -> &'static str {
    STATE_NAMES
        .get(state as usize)
        .copied()
        .unwrap_or("unknown")
}

/// The reason names of each state, indexed by reason number (`virDomain*Reason`).
pub fn reason_names(state: u32) -> &'static [&'static str] {
    match state {
        1 => &[
            "unknown",
            "booted",
            "migrated",
            "restored",
            "from_snapshot",
            "unpaused",
            "migration_canceled",
            "save_canceled",
            "wakeup",
            "crashed",
            "postcopy",
            "postcopy_failed",
        ],
        3 => &[
            "unknown",
            "user",
            "migration",
            "save",
            "dump",
            "ioerror",
            "watchdog",
            "from_snapshot",
            "shutting_down",
            "snapshot",
            "crashed",
            "starting_up",
            "postcopy",
            "postcopy_failed",
            "api_error",
        ],
        4 => &["unknown", "user"],
        5 => &[
            "unknown",
            "shutdown",
            "destroyed",
            "crashed",
            "migrated",
            "saved",
            "failed",
            "from_snapshot",
            "daemon",
        ],
        6 => &["unknown", "panicked"],
        _ => &["unknown"],
    }
}

pub fn reason_name(state: u32, reason: u32) -> &'static str {
    reason_names(state)
        .get(reason as usize)
        .copied()
        .unwrap_or("unknown")
}

/// Lifecycle event names (`virDomainEventType`) and, for each, its detail names, indexed by
/// number (`virDomainEvent*DetailType`), including the details newer libvirt added: started
/// and stopped `recreated` (11.6), suspended `guest_shutdown` (11.10).
pub const LIFECYCLE_EVENTS: [(&str, &[&str]); 9] = [
    ("defined", &["added", "updated", "renamed", "from_snapshot"]),
    ("undefined", &["removed", "renamed"]),
    (
        "started",
        &[
            "booted",
            "migrated",
            "restored",
            "from_snapshot",
            "wakeup",
            "recreated",
        ],
    ),
    (
        "suspended",
        &[
            "paused",
            "migrated",
            "ioerror",
            "watchdog",
            "restored",
            "from_snapshot",
            "api_error",
            "postcopy",
            "postcopy_failed",
            "guest_shutdown",
        ],
    ),
    (
        "resumed",
        &[
            "unpaused",
            "migrated",
            "from_snapshot",
            "postcopy",
            "postcopy_failed",
        ],
    ),
    (
        "stopped",
        &[
            "shutdown",
            "destroyed",
            "crashed",
            "migrated",
            "saved",
            "failed",
            "from_snapshot",
            "recreated",
        ],
    ),
    ("shutdown", &["finished", "guest", "host"]),
    ("pmsuspended", &["memory", "disk"]),
    ("crashed", &["panicked", "crashloaded"]),
];

/// The (event, detail) name pair of a lifecycle event; a number this table does not know
/// (from a libvirt newer than it) is shown as the number itself, so it stays distinguishable.
pub fn event_names(event: u32, detail: u32) -> (Cow<'static, str>, Cow<'static, str>) {
    let number = |n: u32| Cow::Owned(n.to_string());
    match LIFECYCLE_EVENTS.get(event as usize) {
        Some((name, details)) => (
            Cow::Borrowed(*name),
            details
                .get(detail as usize)
                .map_or_else(|| number(detail), |d| Cow::Borrowed(*d)),
        ),
        None => (number(event), number(detail)),
    }
}

/// Every known (event, detail) pair whose event is in `events`.
pub fn event_kinds(events: std::ops::RangeInclusive<u32>) -> impl Iterator<Item = (u32, u32)> {
    events.flat_map(|e| {
        let details = LIFECYCLE_EVENTS.get(e as usize).map_or(0, |(_, d)| d.len());
        (0..details as u32).map(move |d| (e, d))
    })
}

/// `virDomainEventIOErrorAction` names, by number: what QEMU did about an I/O error (the
/// disk's `error_policy`: `ignore` is none, `stop` and `enospace` on a full disk pause).
pub const IO_ERROR_ACTIONS: [&str; 3] = ["none", "pause", "report"];

/// `virConnectDomainEventBlockJobStatus` names, by number: how a block job ended, or
/// `ready` when a copy or active commit mirrors its disk and can be pivoted or cancelled.
pub const BLOCK_JOB_STATUSES: [&str; 4] = ["completed", "failed", "canceled", "ready"];

/// The name of number `n` in `names`; a number newer than this code as itself.
pub fn name_or_number(names: &[&str], n: u32) -> String {
    names
        .get(n as usize)
        .map_or_else(|| n.to_string(), |name| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_states_and_reasons() {
        assert_eq!(state_name(3), "paused");
        assert_eq!(reason_name(3, 5), "ioerror");
        assert_eq!(reason_name(5, 2), "destroyed");
        assert_eq!(reason_name(1, 1), "booted");
        assert_eq!(state_name(42), "unknown");
        assert_eq!(reason_name(5, 99), "unknown");
    }

    fn names(event: u32, detail: u32) -> (String, String) {
        let (e, d) = event_names(event, detail);
        (e.into_owned(), d.into_owned())
    }

    #[test]
    fn names_lifecycle_events_and_their_details_by_libvirt_number() {
        let pair = |e: &str, d: &str| (e.to_string(), d.to_string());
        assert_eq!(names(5, 1), pair("stopped", "destroyed"));
        assert_eq!(names(8, 0), pair("crashed", "panicked"));
        // VIR_DOMAIN_EVENT_STARTED_RECREATED = 5, VIR_DOMAIN_EVENT_STOPPED_RECREATED = 7
        // (libvirt 11.6), VIR_DOMAIN_EVENT_SUSPENDED_GUEST_SHUTDOWN = 9 (libvirt 11.10).
        assert_eq!(names(2, 5), pair("started", "recreated"));
        assert_eq!(names(5, 7), pair("stopped", "recreated"));
        assert_eq!(names(3, 9), pair("suspended", "guest_shutdown"));
        assert_eq!(names(3, 8), pair("suspended", "postcopy_failed"));
        assert_eq!(event_kinds(0..=8).count(), 42);
    }

    #[test]
    fn unknown_lifecycle_numbers_are_shown_as_numbers() {
        let pair = |e: &str, d: &str| (e.to_string(), d.to_string());
        assert_eq!(names(5, 42), pair("stopped", "42"));
        assert_eq!(names(2, 6), pair("started", "6"));
        assert_eq!(names(9, 0), pair("9", "0"));
        assert_eq!(names(u32::MAX, 3), pair("4294967295", "3"));
        assert_eq!(name_or_number(&IO_ERROR_ACTIONS, 1), "pause");
        assert_eq!(name_or_number(&BLOCK_JOB_STATUSES, 2), "canceled");
        assert_eq!(name_or_number(&BLOCK_JOB_STATUSES, 7), "7");
    }
}
