//! Readable names for libvirt's domain states and state reasons.

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
}
