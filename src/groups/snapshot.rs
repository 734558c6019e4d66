//! The `snapshot` group: how many snapshots each domain has and when the oldest and the
//! newest were taken (`creationTime` of the snapshot XML). libvirt delivers no event when
//! snapshots change, so they are read every five minutes.

use crate::collect::slow::SlowDomainCollector;
use crate::family::{domain_label, emit, Kind, Sink, Value};
use crate::libvirt::{Domain, LibvirtError};
use crate::snapshot::{DomainStats, Snapshots};
use std::fmt;
use std::time::Duration;

/// How often a domain's snapshots are read.
pub const INTERVAL: Duration = Duration::from_secs(300);

pub struct SnapshotGroup;

impl SlowDomainCollector for SnapshotGroup {
    fn name(&self) -> &'static str {
        "snapshot"
    }
    fn enabled_by_default(&self) -> bool {
        true
    }
    fn interval(&self, collect_interval: Duration) -> Duration {
        collect_interval.max(INTERVAL)
    }
    fn collect(&self, domain: &Domain, out: &mut DomainStats) -> Result<(), LibvirtError> {
        let times: Vec<Option<u64>> = domain
            .snapshot_xmls()?
            .iter()
            .map(|xml| creation_time(xml))
            .collect();
        out.snapshots = Some(Snapshots {
            count: times.len() as u64,
            oldest_seconds: times.iter().flatten().min().copied(),
            newest_seconds: times.iter().flatten().max().copied(),
        });
        Ok(())
    }
    fn merge(&self, from: &DomainStats, into: &mut DomainStats) {
        into.snapshots = from.snapshots;
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        vec![
            ("libvirt_domain_snapshots", Kind::Gauge),
            (
                "libvirt_domain_snapshot_oldest_timestamp_seconds",
                Kind::Gauge,
            ),
            (
                "libvirt_domain_snapshot_newest_timestamp_seconds",
                Kind::Gauge,
            ),
        ]
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
        let with = || domains.iter().filter_map(|&d| Some((d, d.snapshots?)));
        emit(
            sink,
            "libvirt_domain_snapshots",
            Kind::Gauge,
            "Number of snapshots of the domain.",
            with().map(|(d, s)| (domain_label(d), Value::Int(s.count))),
        )?;
        emit(
            sink,
            "libvirt_domain_snapshot_oldest_timestamp_seconds",
            Kind::Gauge,
            "When the domain's oldest snapshot was taken, as a Unix timestamp.",
            with().filter_map(|(d, s)| Some((domain_label(d), Value::Int(s.oldest_seconds?)))),
        )?;
        emit(
            sink,
            "libvirt_domain_snapshot_newest_timestamp_seconds",
            Kind::Gauge,
            "When the domain's newest snapshot was taken, as a Unix timestamp.",
            with().filter_map(|(d, s)| Some((domain_label(d), Value::Int(s.newest_seconds?)))),
        )
    }
}

/// `<domainsnapshot><creationTime>` of one snapshot's XML.
fn creation_time(xml: &str) -> Option<u64> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    doc.root_element()
        .children()
        .find(|n| n.has_tag_name("creationTime"))?
        .text()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_creation_time_is_read_from_the_snapshot_xml() {
        let xml = "<domainsnapshot><name>s1</name><state>running</state>\
                   <creationTime>1733300000</creationTime><domain/></domainsnapshot>";
        assert_eq!(creation_time(xml), Some(1_733_300_000));
        assert_eq!(creation_time("<domainsnapshot/>"), None);
        assert_eq!(creation_time("not xml"), None);
    }
}
