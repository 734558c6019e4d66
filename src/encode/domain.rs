//! The per-domain families every domain has whichever groups are on: the number of domains,
//! the domain's attributes (`libvirt_domain_info`) and OpenStack's metadata, then each
//! statistics group's own families (see the group registry in `groups`).

use crate::family::{emit, opt, yes_no, DomainSeriesCounter, Kind, Labels, Sink, Value};
use crate::groups::{groups, Group};
use crate::snapshot::DomainStats;
use std::fmt;

/// The families written here rather than by a group.
pub const FAMILIES: &[(&str, Kind)] = &[
    ("libvirt_domains", Kind::Gauge),
    ("libvirt_domain", Kind::Info),
    ("libvirt_domain_openstack", Kind::Info),
];

/// Encodes every per-domain family: the counts over `all` domains, the per-domain series of
/// the `shown` ones (all of them unless the series cap left some out). Without `up` and
/// without data the number of domains is unknown, so no counts are written rather than zeros.
pub fn encode(
    sink: &mut dyn Sink,
    all: &[DomainStats],
    shown: &[&DomainStats],
    up: bool,
) -> fmt::Result {
    if up || !all.is_empty() {
        encode_counts(sink, all)?;
    }
    encode_domains(sink, shown)
}

/// How many series each domain adds to the exposition, in the order given.
pub fn series_per_domain(domains: &[DomainStats]) -> Vec<usize> {
    let mut counter = DomainSeriesCounter::default();
    for d in domains {
        // Counting cannot fail: the counter's sink never returns an error.
        let _ = encode_domains(&mut counter, &[d]);
    }
    domains
        .iter()
        .map(|d| counter.per_domain.get(&d.name).copied().unwrap_or(0))
        .collect()
}

fn encode_domains(sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
    emit(
        sink,
        "libvirt_domain",
        Kind::Info,
        "Attributes of the domain: UUID, OS type, architecture, machine, persistence, autostart, and the --domain.label labels.",
        domains.iter().map(|d| {
            let mut labels = vec![
                ("domain", d.name.clone()),
                ("uuid", d.uuid.clone()),
                ("os_type", opt(&d.info.os_type)),
                ("os_type_arch", opt(&d.info.arch)),
                ("os_type_machine", opt(&d.info.machine)),
                ("persistent", yes_no(d.info.persistent)),
                ("autostart", yes_no(d.info.autostart)),
            ];
            labels.extend(d.info.labels.iter().cloned());
            (labels, Value::Int(1))
        }),
    )?;
    emit(
        sink,
        "libvirt_domain_openstack",
        Kind::Info,
        "OpenStack Nova's metadata of the domain (--libvirt.metadata.nova); instance_id is the domain UUID.",
        domains.iter().filter_map(|d| {
            let o = d.info.openstack.as_ref()?;
            let labels = vec![
                ("domain", d.name.clone()),
                ("instance_name", o.instance_name.clone()),
                ("instance_id", d.uuid.clone()),
                ("flavor_name", o.flavor_name.clone()),
                ("user_name", o.user_name.clone()),
                ("user_id", o.user_id.clone()),
                ("project_name", o.project_name.clone()),
                ("project_id", o.project_id.clone()),
            ];
            Some((labels, Value::Int(1)))
        }),
    )?;
    for group in groups() {
        match group {
            Group::Domain(collector) => collector.encode(sink, domains)?,
            Group::Slow(collector) => collector.encode(sink, domains)?,
            Group::Host(_) => {}
        }
    }
    Ok(())
}

fn encode_counts(sink: &mut dyn Sink, domains: &[DomainStats]) -> fmt::Result {
    emit(
        sink,
        "libvirt_domains",
        Kind::Gauge,
        "Number of domains libvirt knows, in any state (those --domain.include/--domain.exclude let through).",
        [(Labels::new(), Value::Int(domains.len() as u64))],
    )?;
    for group in groups() {
        if let Group::Domain(collector) = group {
            collector.encode_totals(sink, domains)?;
        }
    }
    Ok(())
}
