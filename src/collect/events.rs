//! Counts the domain events libvirt's event thread queues: lifecycle events per domain and
//! for the host, disk I/O errors, block thresholds and block jobs per domain.
//!
//! The counters are owned by the publishing side of the collection loop, not by the
//! connection: a reconnection to libvirt neither resets them nor (the old subscription being
//! gone before the new one is made) counts an event twice.

use crate::libvirt::states::event_kinds;
use crate::libvirt::{DomainEvent, DomainEventKind};
use crate::snapshot::{
    BlockIoError, BlockJobEvent, DomainEvents, DomainStats, EventCounts, EventKind, EventStats,
};
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
    domains: HashMap<String, EventCounts>,
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
    /// Counts one event. `domains`, the snapshot about to be published, tells which disk an
    /// I/O error is about. Negative numbers (never sent by libvirt) are not counted.
    pub fn record(&mut self, event: &DomainEvent, domains: &[DomainStats]) {
        match &event.kind {
            DomainEventKind::Lifecycle { event: e, detail } => {
                let (Ok(e), Ok(d)) = (u32::try_from(*e), u32::try_from(*detail)) else {
                    return;
                };
                *self.host.entry((e, d)).or_default() += 1;
                *self.of(&event.uuid).lifecycle.entry((e, d)).or_default() += 1;
            }
            DomainEventKind::IoError {
                src_path,
                dev_alias,
                action,
                reason,
            } => {
                let Ok(action) = u32::try_from(*action) else {
                    return;
                };
                let key = BlockIoError {
                    target_device: io_error_disk(domains, &event.uuid, src_path, dev_alias),
                    action,
                    reason: if reason.is_empty() {
                        "unspecified".to_string()
                    } else {
                        reason.clone()
                    },
                };
                *self.of(&event.uuid).block_io_errors.entry(key).or_default() += 1;
            }
            DomainEventKind::BlockThreshold { dev, .. } => {
                let counts = self.of(&event.uuid);
                *counts.block_thresholds.entry(dev.clone()).or_default() += 1;
            }
            DomainEventKind::BlockJob {
                disk,
                job_type,
                status,
            } => {
                let (Ok(job_type), Ok(status)) = (u32::try_from(*job_type), u32::try_from(*status))
                else {
                    return;
                };
                let key = BlockJobEvent {
                    target_device: disk.clone(),
                    job_type,
                    status,
                };
                *self.of(&event.uuid).block_jobs.entry(key).or_default() += 1;
            }
        }
    }

    /// The counters of the domain with `uuid`, new ones with their zeros.
    fn of(&mut self, uuid: &str) -> &mut EventCounts {
        self.domains.entry(uuid.to_string()).or_insert_with(zeroed)
    }

    /// The counters of exactly `domains` (new ones start at zero, gone ones are dropped) and
    /// of the host. A disk with a write threshold set gets its threshold counter at zero.
    pub fn stats_for(&mut self, domains: &[DomainStats], subscribed: bool) -> EventStats {
        let mut keep = HashMap::with_capacity(domains.len());
        let per_domain = domains
            .iter()
            .map(|d| {
                let mut counts = self.domains.remove(&d.uuid).unwrap_or_else(zeroed);
                for disk in d.blocks.iter().filter(|b| b.threshold_bytes.is_some()) {
                    counts
                        .block_thresholds
                        .entry(disk.target_device.clone())
                        .or_insert(0);
                }
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

fn zeroed() -> EventCounts {
    EventCounts {
        lifecycle: event_kinds(PER_DOMAIN_EVENTS).map(|k| (k, 0)).collect(),
        ..EventCounts::default()
    }
}

/// The target device of the disk an I/O error event names by source path and device alias:
/// the domain's disk with that source file in the snapshot. Failing that (a network disk, a
/// disk unplugged since, the `block` collector off), libvirt's alias (`virtio-disk1`), else
/// the path, else `unknown`.
fn io_error_disk(domains: &[DomainStats], uuid: &str, src_path: &str, dev_alias: &str) -> String {
    let by_path = domains
        .iter()
        .find(|d| d.uuid == uuid)
        .and_then(|d| {
            d.blocks
                .iter()
                .find(|b| !src_path.is_empty() && b.source_file.as_deref() == Some(src_path))
        })
        .map(|b| b.target_device.clone());
    by_path.unwrap_or_else(|| {
        [dev_alias, src_path]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::BlockStats;

    fn domain(name: &str, uuid: &str) -> DomainStats {
        DomainStats {
            name: name.into(),
            uuid: uuid.into(),
            ..DomainStats::default()
        }
    }

    fn disk(target: &str, source: &str, threshold: Option<u64>) -> BlockStats {
        BlockStats {
            target_device: target.into(),
            source_file: Some(source.into()),
            threshold_bytes: threshold,
            ..BlockStats::default()
        }
    }

    fn of(uuid: &str, kind: DomainEventKind) -> DomainEvent {
        DomainEvent {
            uuid: uuid.into(),
            name: "ignored".into(),
            kind,
        }
    }

    fn event(uuid: &str, event: i32, detail: i32) -> DomainEvent {
        of(uuid, DomainEventKind::Lifecycle { event, detail })
    }

    fn io_error(uuid: &str, path: &str, alias: &str, action: i32, reason: &str) -> DomainEvent {
        of(
            uuid,
            DomainEventKind::IoError {
                src_path: path.into(),
                dev_alias: alias.into(),
                action,
                reason: reason.into(),
            },
        )
    }

    fn threshold(uuid: &str, dev: &str) -> DomainEvent {
        of(
            uuid,
            DomainEventKind::BlockThreshold {
                dev: dev.into(),
                path: "/ignored".into(),
                threshold: 1,
                excess: 65536,
            },
        )
    }

    fn block_job(uuid: &str, disk: &str, job_type: i32, status: i32) -> DomainEvent {
        of(
            uuid,
            DomainEventKind::BlockJob {
                disk: disk.into(),
                job_type,
                status,
            },
        )
    }

    #[test]
    fn counters_exist_at_zero_count_per_domain_and_survive_on_the_host() {
        let mut c = EventCounter::default();
        let stats = c.stats_for(&[domain("a", "u-a")], true);
        assert_eq!(stats.domains[0].counts.lifecycle.len(), 33);
        assert!(stats.domains[0].counts.lifecycle.values().all(|n| *n == 0));
        assert_eq!(stats.domains[0].counts.series(), 33, "no other counter yet");
        assert_eq!(stats.host.len(), 39);

        c.record(&event("u-a", 5, 1), &[]); // stopped/destroyed
        c.record(&event("u-a", 5, 1), &[]);
        c.record(&event("u-b", 8, 0), &[]); // crashed/panicked, domain b not yet seen
        let stats = c.stats_for(&[domain("a renamed", "u-a")], true);
        assert_eq!(stats.domains.len(), 1);
        assert_eq!(stats.domains[0].domain, "a renamed");
        assert_eq!(stats.domains[0].counts.lifecycle[&(5, 1)], 2);
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
            stats.domains[0].counts.lifecycle[&(5, 1)],
            0,
            "a domain seen again starts afresh"
        );
    }

    #[test]
    fn negative_numbers_from_libvirt_are_ignored() {
        let mut c = EventCounter::default();
        c.record(&event("u", -1, 0), &[]);
        c.record(&io_error("u", "/d", "virtio-disk0", -1, ""), &[]);
        c.record(&block_job("u", "vda", 2, -3), &[]);
        let stats = c.stats_for(&[domain("a", "u")], true);
        assert!(stats.host.values().all(|n| *n == 0));
        let counts = &stats.domains[0].counts;
        assert!(counts.lifecycle.values().all(|n| *n == 0));
        assert!(counts.block_io_errors.is_empty());
        assert!(counts.block_jobs.is_empty());
    }

    #[test]
    fn an_io_error_is_counted_on_the_disk_with_its_source_by_action_and_reason() {
        let mut a = domain("a", "u-a");
        a.blocks = vec![
            disk("vda", "/img/a.qcow2", None),
            disk("vdb", "/full/b.raw", None),
        ];
        let domains = [a];
        let mut c = EventCounter::default();
        c.record(
            &io_error("u-a", "/full/b.raw", "virtio-disk1", 1, "enospc"),
            &domains,
        );
        c.record(
            &io_error("u-a", "/full/b.raw", "virtio-disk1", 1, "enospc"),
            &domains,
        );
        c.record(
            &io_error("u-a", "/full/b.raw", "virtio-disk1", 2, ""),
            &domains,
        );
        // Not a disk of the snapshot: a network disk, or one unplugged since.
        c.record(
            &io_error("u-a", "pool/image", "virtio-disk2", 0, ""),
            &domains,
        );
        c.record(&io_error("u-a", "", "", 0, ""), &domains);
        let stats = c.stats_for(&domains, true);
        let errors: Vec<(&str, u32, &str, u64)> = stats.domains[0]
            .counts
            .block_io_errors
            .iter()
            .map(|(k, n)| (k.target_device.as_str(), k.action, k.reason.as_str(), *n))
            .collect();
        assert_eq!(
            errors,
            [
                ("unknown", 0, "unspecified", 1),
                ("vdb", 1, "enospc", 2),
                ("vdb", 2, "unspecified", 1),
                ("virtio-disk2", 0, "unspecified", 1),
            ]
        );
        assert_eq!(stats.domains[0].counts.series(), 33 + 4);
    }

    #[test]
    fn thresholds_count_per_disk_from_zero_where_one_is_set() {
        let mut a = domain("a", "u-a");
        a.blocks = vec![
            disk("vda", "/img/a.qcow2", Some(1 << 30)),
            disk("vdb", "/img/b.qcow2", None),
        ];
        let mut c = EventCounter::default();
        let stats = c.stats_for(std::slice::from_ref(&a), true);
        assert_eq!(
            stats.domains[0].counts.block_thresholds,
            BTreeMap::from([("vda".to_string(), 0)])
        );
        c.record(&threshold("u-a", "vda"), &[]);
        c.record(&threshold("u-a", "vdb[1]"), &[]);
        // libvirt clears a threshold once it fires: the counter stays.
        a.blocks[0].threshold_bytes = None;
        let stats = c.stats_for(std::slice::from_ref(&a), true);
        assert_eq!(
            stats.domains[0].counts.block_thresholds,
            BTreeMap::from([("vda".to_string(), 1), ("vdb[1]".to_string(), 1)])
        );
    }

    #[test]
    fn block_job_events_count_by_disk_type_and_status() {
        let mut c = EventCounter::default();
        c.record(&block_job("u-a", "vda", 2, 3), &[]); // copy ready
        c.record(&block_job("u-a", "vda", 2, 0), &[]); // copy completed
        c.record(&block_job("u-a", "vda", 2, 3), &[]); // a second copy, ready
        c.record(&block_job("u-a", "vda", 2, 2), &[]); // and cancelled
        c.record(&block_job("u-a", "vdb", 4, 1), &[]); // active commit failed
        let stats = c.stats_for(&[domain("a", "u-a")], true);
        let jobs: Vec<(&str, u32, u32, u64)> = stats.domains[0]
            .counts
            .block_jobs
            .iter()
            .map(|(k, n)| (k.target_device.as_str(), k.job_type, k.status, *n))
            .collect();
        assert_eq!(
            jobs,
            [
                ("vda", 2, 0, 1),
                ("vda", 2, 2, 1),
                ("vda", 2, 3, 2),
                ("vdb", 4, 1, 1)
            ]
        );
    }

    #[test]
    fn events_from_before_and_after_a_reconnection_add_up() {
        // The worker's reconnection changes nothing here: the same counter takes the events of
        // every connection, and each event is one record.
        let domains = [domain("a", "u-a")];
        let mut c = EventCounter::default();
        c.record(&block_job("u-a", "vda", 2, 2), &domains);
        c.record(&threshold("u-a", "vda"), &domains);
        let before = c.stats_for(&domains, true);
        let between = c.stats_for(&domains, false);
        assert_eq!(between.domains, before.domains, "kept while disconnected");
        c.record(&block_job("u-a", "vda", 2, 2), &domains);
        let after = c.stats_for(&domains, true);
        let counts = &after.domains[0].counts;
        assert_eq!(counts.block_jobs.values().copied().collect::<Vec<_>>(), [2]);
        assert_eq!(counts.block_thresholds["vda"], 1);
    }
}
