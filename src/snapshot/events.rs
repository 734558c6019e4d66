//! Domain lifecycle event counters, kept across cycles.

/// Lifecycle events counted since the exporter started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventStats {}
