//! Host families: storage pools and volumes, virtual networks, the node, versions.

use super::family::Kind;
use crate::snapshot::HostStats;
use prometheus_client::encoding::DescriptorEncoder;
use std::fmt;

/// Every family this module writes, for the documentation test.
pub const FAMILIES: &[(&str, Kind)] = &[];

pub fn encode(_enc: &mut DescriptorEncoder, _host: &HostStats) -> fmt::Result {
    Ok(())
}
