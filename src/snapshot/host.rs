//! Host-level statistics: storage pools and volumes, virtual networks, the node.

/// Everything about the host that is not a domain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostStats {}
