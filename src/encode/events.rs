//! Lifecycle event families: counters per domain, event and detail, and host totals.

use super::family::Kind;
use crate::snapshot::EventStats;
use prometheus_client::encoding::DescriptorEncoder;
use std::fmt;

/// Every family this module writes, for the documentation test.
pub const FAMILIES: &[(&str, Kind)] = &[];

pub fn encode(_enc: &mut DescriptorEncoder, _events: &EventStats) -> fmt::Result {
    Ok(())
}
