//! The opt-in `iothread` group: polling parameters of each I/O thread.

use super::{DomainCollector, FallbackContext, Fields};
use crate::libvirt::{consts, LibvirtError};
use crate::snapshot::{DomainStats, IoThreadStats};
use std::collections::BTreeSet;

pub struct IoThread;

impl DomainCollector for IoThread {
    fn name(&self) -> &'static str {
        "iothread"
    }
    fn group(&self) -> u32 {
        consts::GROUP_IOTHREAD
    }
    fn enabled_by_default(&self) -> bool {
        false
    }
    fn decode(&self, f: &Fields, out: &mut DomainStats) -> bool {
        let ids: BTreeSet<u32> = f
            .names_with_prefix("iothread.")
            .filter_map(|k| k.split('.').nth(1)?.parse().ok())
            .collect();
        out.iothreads = ids
            .into_iter()
            .map(|id| {
                let key = |leaf: &str| format!("iothread.{id}.{leaf}");
                IoThreadStats {
                    id,
                    poll_max_seconds: f.seconds_from_ns(&key("poll-max-ns")),
                    poll_grow: f.u64(&key("poll-grow")),
                    poll_shrink: f.u64(&key("poll-shrink")),
                }
            })
            .collect();
        true
    }
    fn fallback(&self, _: &FallbackContext, _: &mut DomainStats) -> Result<(), LibvirtError> {
        Ok(())
    }
}
