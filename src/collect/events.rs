//! Counts the domain events libvirt's event thread queues: lifecycle events per domain and
//! for the host, disk I/O errors, block thresholds and block jobs per domain (what a disk
//! event counts as is `disk_events`).
//!
//! The counters are owned by the publishing side of the collection loop, not by the
//! connection: a reconnection to libvirt neither resets them nor (the old subscription being
//! gone before the new one is made) counts an event twice.

use super::disk_events::{self, ThresholdCrossings};
use crate::libvirt::states::event_kinds;
use crate::libvirt::{DomainEvent, DomainEventKind};
use crate::snapshot::{DomainEvents, DomainStats, EventCounts, EventKind, EventStats};
use std::collections::{BTreeMap, HashMap};
use std::ops::RangeInclusive;
use std::time::SystemTime;

/// Per-domain counters start at zero for these events (started .. crashed); defined and
/// undefined are counted per domain only once they happen, and always for the host.
const PER_DOMAIN_EVENTS: RangeInclusive<u32> = 2..=8;
const ALL_EVENTS: RangeInclusive<u32> = 0..=8;

/// Event counters, owned by the publishing side of the collection loop.
#[derive(Debug)]
pub struct EventCounter {
    /// By domain UUID.
    domains: HashMap<String, Tracked>,
    host: BTreeMap<EventKind, u64>,
    thresholds: ThresholdCrossings,
}

/// One domain's counters.
#[derive(Debug)]
struct Tracked {
    counts: EventCounts,
    /// When the first event of a domain no snapshot has shown yet was counted (a domain
    /// created after the cycle listed the domains); `None` once a snapshot has shown it.
    unseen_since: Option<SystemTime>,
    /// The domain's disks as (source file, target device), from the last snapshot that had
    /// them: an I/O error names its disk by source, and the snapshot it is counted with may
    /// lack the disks (served while libvirt is unreachable) or no longer have this one.
    disks: Vec<(String, String)>,
}

impl Tracked {
    fn new(unseen_since: Option<SystemTime>) -> Tracked {
        Tracked {
            counts: zeroed(),
            unseen_since,
            disks: Vec::new(),
        }
    }
}

impl Default for EventCounter {
    fn default() -> Self {
        EventCounter {
            domains: HashMap::new(),
            host: event_kinds(ALL_EVENTS).map(|k| (k, 0)).collect(),
            thresholds: ThresholdCrossings::default(),
        }
    }
}

impl EventCounter {
    /// Counts one event. `domains`, the snapshot about to be published, tells which disk an
    /// I/O error is about (or else the last one that had the domain's disks). Negative
    /// numbers (never sent by libvirt) are not counted.
    pub fn record(&mut self, event: &DomainEvent, domains: &[DomainStats]) {
        let uuid = event.uuid.as_str();
        match &event.kind {
            DomainEventKind::Lifecycle { event: e, detail } => {
                let (Ok(e), Ok(d)) = (u32::try_from(*e), u32::try_from(*detail)) else {
                    return;
                };
                *self.host.entry((e, d)).or_default() += 1;
                *self.of(uuid).lifecycle.entry((e, d)).or_default() += 1;
            }
            DomainEventKind::IoError {
                src_path,
                dev_alias,
                action,
                reason,
            } => {
                let disks = self.disks_of(uuid, domains);
                let key = disk_events::io_error(&disks, src_path, dev_alias, *action, reason);
                if let Some(key) = key {
                    *self.of(uuid).block_io_errors.entry(key).or_default() += 1;
                }
            }
            DomainEventKind::BlockThreshold {
                dev,
                path,
                threshold,
                excess,
            } => {
                if let Some(disk) = self.thresholds.disk(uuid, dev, path, *threshold, *excess) {
                    *self.of(uuid).block_thresholds.entry(disk).or_default() += 1;
                }
            }
            DomainEventKind::BlockJob {
                disk,
                job_type,
                status,
            } => {
                if let Some(key) = disk_events::block_job(disk, *job_type, *status) {
                    *self.of(uuid).block_jobs.entry(key).or_default() += 1;
                }
            }
        }
    }

    /// The disks of the domain with `uuid` as (source file, target device): those in
    /// `domains`, then those last seen.
    fn disks_of<'a>(&'a self, uuid: &str, domains: &'a [DomainStats]) -> Vec<(&'a str, &'a str)> {
        let current = domains
            .iter()
            .filter(|d| d.uuid == uuid)
            .flat_map(|d| d.blocks.iter())
            .filter_map(|b| Some((b.source_file.as_deref()?, b.target_device.as_str())));
        let known = self
            .domains
            .get(uuid)
            .into_iter()
            .flat_map(|t| t.disks.iter())
            .map(|(source, target)| (source.as_str(), target.as_str()));
        current.chain(known).collect()
    }

    /// The counters of the domain with `uuid`, new ones with their zeros.
    fn of(&mut self, uuid: &str) -> &mut EventCounts {
        &mut self
            .domains
            .entry(uuid.to_string())
            .or_insert_with(|| Tracked::new(Some(SystemTime::now())))
            .counts
    }

    /// The counters of exactly `domains`, collected at `collected_at` (new ones start at zero,
    /// gone ones are dropped), and of the host. A disk with a write threshold set gets its
    /// threshold counter at zero. The counts of a domain these `domains` could not show yet
    /// (its first event came after they were collected) are kept for the next ones, and
    /// without data (`collected_at` is `None`: libvirt unreachable for longer than
    /// `--collect.max-age`) every count is kept: a domain is gone only when a collection
    /// does not list it.
    pub fn stats_for(
        &mut self,
        domains: &[DomainStats],
        collected_at: Option<SystemTime>,
        subscribed: bool,
    ) -> EventStats {
        let mut keep = HashMap::with_capacity(domains.len());
        let per_domain = domains
            .iter()
            .map(|d| {
                let mut tracked = self
                    .domains
                    .remove(&d.uuid)
                    .unwrap_or_else(|| Tracked::new(None));
                tracked.unseen_since = None;
                for disk in d.blocks.iter().filter(|b| b.threshold_bytes.is_some()) {
                    let thresholds = &mut tracked.counts.block_thresholds;
                    thresholds.entry(disk.target_device.clone()).or_insert(0);
                }
                if !d.blocks.is_empty() {
                    tracked.disks = d
                        .blocks
                        .iter()
                        .filter_map(|b| Some((b.source_file.clone()?, b.target_device.clone())))
                        .collect();
                }
                let counts = tracked.counts.clone();
                keep.insert(d.uuid.clone(), tracked);
                DomainEvents {
                    domain: d.name.clone(),
                    counts,
                }
            })
            .collect();
        for (uuid, tracked) in self.domains.drain() {
            let listed_after = |at: SystemTime| tracked.unseen_since.is_none_or(|t| at > t);
            if !collected_at.is_some_and(listed_after) {
                keep.insert(uuid, tracked);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::BlockStats;
    use std::time::Duration;

    /// When the snapshots of these tests were collected: after every event (the usual case,
    /// an event counted with the snapshot of a later cycle).
    fn later() -> Option<SystemTime> {
        Some(SystemTime::now() + Duration::from_secs(3600))
    }

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

    fn io_error(uuid: &str, path: &str, action: i32, reason: &str) -> DomainEvent {
        of(
            uuid,
            DomainEventKind::IoError {
                src_path: path.into(),
                dev_alias: "virtio-disk1".into(),
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
                path: "/img/a.qcow2".into(),
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
        let stats = c.stats_for(&[domain("a", "u-a")], later(), true);
        assert_eq!(stats.domains[0].counts.lifecycle.len(), 36);
        assert!(stats.domains[0].counts.lifecycle.values().all(|n| *n == 0));
        assert_eq!(stats.domains[0].counts.series(), 36, "no other counter yet");
        assert_eq!(stats.host.len(), 42);

        c.record(&event("u-a", 5, 1), &[]); // stopped/destroyed
        c.record(&event("u-a", 5, 1), &[]);
        c.record(&event("u-b", 8, 0), &[]); // crashed/panicked, domain b not yet seen
        let stats = c.stats_for(&[domain("a renamed", "u-a")], later(), true);
        assert_eq!(stats.domains.len(), 1);
        assert_eq!(stats.domains[0].domain, "a renamed");
        assert_eq!(stats.domains[0].counts.lifecycle[&(5, 1)], 2);
        assert_eq!(stats.host[&(5, 1)], 2);
        assert_eq!(
            stats.host[&(8, 0)],
            1,
            "host totals keep the vanished domain's event"
        );

        // libvirt unreachable for too long: no domains are shown, none is gone.
        let stats = c.stats_for(&[], None, false);
        assert!(stats.domains.is_empty());
        assert_eq!(stats.host[&(5, 1)], 2);
        assert!(!stats.subscribed);
        let stats = c.stats_for(&[domain("a", "u-a")], later(), true);
        assert_eq!(stats.domains[0].counts.lifecycle[&(5, 1)], 2, "kept");

        // A collection that does not list it: gone.
        let stats = c.stats_for(&[], later(), true);
        assert!(stats.domains.is_empty());
        let stats = c.stats_for(&[domain("a", "u-a")], later(), true);
        assert_eq!(
            stats.domains[0].counts.lifecycle[&(5, 1)],
            0,
            "a domain seen again starts afresh"
        );
    }

    #[test]
    fn the_events_of_a_domain_newer_than_the_snapshot_wait_for_the_next_one() {
        let mut c = EventCounter::default();
        let listed_before = Some(SystemTime::now() - Duration::from_secs(1));
        c.record(&event("u-new", 2, 0), &[]); // started/booted
        c.record(&block_job("u-new", "vda", 2, 3), &[]);
        assert!(c.stats_for(&[], listed_before, true).domains.is_empty());
        assert!(c.stats_for(&[], None, false).domains.is_empty(), "stale");
        let stats = c.stats_for(&[domain("new", "u-new")], later(), true);
        let counts = &stats.domains[0].counts;
        assert_eq!(counts.lifecycle[&(2, 0)], 1);
        assert_eq!(counts.block_jobs.values().sum::<u64>(), 1);

        // A domain that a snapshot collected after its events does not show is gone (or
        // left out by --domain.include): its counts go.
        c.record(&event("u-gone", 5, 1), &[]);
        assert!(c.stats_for(&[], later(), true).domains.is_empty());
        let stats = c.stats_for(&[domain("gone", "u-gone")], later(), true);
        assert_eq!(stats.domains[0].counts.lifecycle[&(5, 1)], 0);
    }

    #[test]
    fn negative_numbers_from_libvirt_are_ignored() {
        let mut c = EventCounter::default();
        c.record(&event("u", -1, 0), &[]);
        c.record(&io_error("u", "/d", -1, ""), &[]);
        c.record(&block_job("u", "vda", 2, -3), &[]);
        let stats = c.stats_for(&[domain("a", "u")], later(), true);
        assert!(stats.host.values().all(|n| *n == 0));
        let counts = &stats.domains[0].counts;
        assert!(counts.lifecycle.values().all(|n| *n == 0));
        assert!(counts.block_io_errors.is_empty());
        assert!(counts.block_jobs.is_empty());
    }

    #[test]
    fn io_errors_count_per_disk_action_and_reason() {
        let mut a = domain("a", "u-a");
        a.blocks = vec![
            disk("vda", "/img/a.qcow2", None),
            disk("vdb", "/full/b.raw", None),
        ];
        let domains = [a];
        let mut c = EventCounter::default();
        c.record(&io_error("u-a", "/full/b.raw", 1, "enospc"), &domains);
        c.record(&io_error("u-a", "/full/b.raw", 1, "enospc"), &domains);
        c.record(&io_error("u-a", "/full/b.raw", 2, ""), &domains);
        c.record(&io_error("u-a", "pool/image", 0, ""), &domains);
        let stats = c.stats_for(&domains, later(), true);
        let errors: Vec<(&str, u32, &str, u64)> = stats.domains[0]
            .counts
            .block_io_errors
            .iter()
            .map(|(k, n)| (k.target_device.as_str(), k.action, k.reason.as_str(), *n))
            .collect();
        assert_eq!(
            errors,
            [
                ("vdb", 1, "enospc", 2),
                ("vdb", 2, "unspecified", 1),
                ("virtio-disk1", 0, "unspecified", 1),
            ]
        );
        assert_eq!(stats.domains[0].counts.series(), 36 + 3);
    }

    #[test]
    fn an_io_error_counted_without_the_disks_in_the_snapshot_is_on_the_disk_last_seen() {
        let mut a = domain("a", "u-a");
        a.blocks = vec![disk("vdb", "/full/b.raw", None)];
        let mut c = EventCounter::default();
        c.stats_for(std::slice::from_ref(&a), later(), true);
        // Served again while libvirt does not answer: no domains; or listed, but without
        // its disks.
        c.record(&io_error("u-a", "/full/b.raw", 1, "enospc"), &[]);
        a.blocks.clear();
        c.record(&io_error("u-a", "/full/b.raw", 1, "enospc"), &[a.clone()]);
        let stats = c.stats_for(&[a], later(), true);
        let errors: Vec<(&str, u64)> = stats.domains[0]
            .counts
            .block_io_errors
            .iter()
            .map(|(k, n)| (k.target_device.as_str(), *n))
            .collect();
        assert_eq!(errors, [("vdb", 2)]);
    }

    #[test]
    fn thresholds_count_each_crossing_once_per_disk_from_zero_where_one_is_set() {
        let mut a = domain("a", "u-a");
        a.blocks = vec![
            disk("vda", "/img/a.qcow2", Some(1 << 30)),
            disk("vdb", "/img/b.qcow2", None),
        ];
        let mut c = EventCounter::default();
        let stats = c.stats_for(std::slice::from_ref(&a), later(), true);
        assert_eq!(
            stats.domains[0].counts.block_thresholds,
            BTreeMap::from([("vda".to_string(), 0)])
        );
        // One crossing, as libvirt reports it: by target, then by target and index.
        c.record(&threshold("u-a", "vda"), &[]);
        c.record(&threshold("u-a", "vda[1]"), &[]);
        c.record(&threshold("u-a", "vdb[2]"), &[]);
        // libvirt clears a threshold once it fires: the counter stays.
        a.blocks[0].threshold_bytes = None;
        let stats = c.stats_for(std::slice::from_ref(&a), later(), true);
        assert_eq!(
            stats.domains[0].counts.block_thresholds,
            BTreeMap::from([("vda".to_string(), 1), ("vdb".to_string(), 1)])
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
        let stats = c.stats_for(&[domain("a", "u-a")], later(), true);
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
    fn counts_are_kept_while_disconnected_and_add_up_after() {
        // The same counter takes the events of every connection the worker opens.
        let domains = [domain("a", "u-a")];
        let mut c = EventCounter::default();
        c.record(&block_job("u-a", "vda", 2, 2), &domains);
        c.record(&threshold("u-a", "vda"), &domains);
        let before = c.stats_for(&domains, later(), true);
        let between = c.stats_for(&domains, later(), false);
        assert_eq!(between.domains, before.domains, "kept while disconnected");
        c.record(&block_job("u-a", "vda", 2, 2), &domains);
        let after = c.stats_for(&domains, later(), true);
        let counts = &after.domains[0].counts;
        assert_eq!(counts.block_jobs.values().copied().collect::<Vec<_>>(), [2]);
        assert_eq!(counts.block_thresholds["vda"], 1);
    }
}
