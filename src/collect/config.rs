//! How and how often to collect: the settings every kind of collection (the bulk cycle, the
//! host collectors, the slow per-domain collectors) reads. Its own module so that none of
//! them has to import another to know the interval.

use super::options::DomainOptions;
use std::time::Duration;

/// How and how often to collect.
#[derive(Debug, Clone)]
pub struct CollectConfig {
    pub libvirt_uri: String,
    pub read_only: bool,
    pub interval: Duration,
    pub timeout: Duration,
    /// Data from the last good cycle is served for at most this long.
    pub max_age: Duration,
    /// Which domains, which labels, how fine, how many series.
    pub domains: DomainOptions,
}
