//! The statistics groups, one module each (what it asks libvirt for, how it decodes the
//! answer, its metric families and how it writes them), and their registry: the one list of
//! what the exporter can collect. The registry yields the `--[no-]collector.NAME` flags and
//! their defaults, the collectors whose outcome is reported, the order families are written
//! in and the family catalogue that the documentation test and the series cap read.
//!
//! Adding a group is its module, its `mod` line and one line in [`all_groups`] here, its
//! plain data in `snapshot` if it has any, and its rows in `docs/metrics.md`.

mod balloon;
mod block;
pub(crate) mod blockjob;
mod control;
mod cpu;
mod dirtyrate;
mod diskerror;
mod guest;
mod iftune;
mod interface;
mod iothread;
mod iotune;
mod job;
mod limits;
mod network;
mod node;
mod pages;
mod perf;
mod pool;
mod snapshot;
mod state;
mod tuning;
pub mod vcpu;
pub mod vm;
mod volume;

use crate::collect::{DomainCollector, HostCollector, HostOptions, SlowDomainCollector};
use crate::family::Kind;
use crate::libvirt::domain_xml::DomainXml;
use crate::libvirt::{Domain, LibvirtError};
use std::sync::LazyLock;

/// One statistics group, by the way it is collected.
pub enum Group {
    /// Read from `virConnectGetAllDomainStats` (or per-domain calls where the driver's bulk
    /// call lacks the group), once per collection cycle.
    Domain(Box<dyn DomainCollector>),
    /// Read on its own thread and interval, off the domain path.
    Host(Box<dyn HostCollector>),
    /// Read per domain off the bulk cycle, on its own interval, each call with a deadline.
    Slow(Box<dyn SlowDomainCollector>),
}

impl Group {
    /// The name used in `--collector.NAME` and in the collector metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Group::Domain(c) => c.name(),
            Group::Host(c) => c.name(),
            Group::Slow(c) => c.name(),
        }
    }

    /// Whether the group is collected unless switched off.
    pub fn enabled_by_default(&self) -> bool {
        match self {
            Group::Domain(c) => c.enabled_by_default(),
            Group::Host(c) => c.enabled_by_default(),
            Group::Slow(c) => c.enabled_by_default(),
        }
    }

    /// Every family the group can write, as (name without `_total`/`_info`, type).
    pub fn families(&self) -> Vec<(&'static str, Kind)> {
        match self {
            Group::Domain(c) => c.families(),
            Group::Host(c) => c.families(),
            Group::Slow(c) => c.families(),
        }
    }
}

/// Every statistics group, in the order its families are written, with the host groups
/// configured by `options`.
pub fn all_groups(options: &HostOptions) -> Vec<Group> {
    vec![
        Group::Domain(Box::new(state::State)),
        Group::Domain(Box::new(cpu::Cpu)),
        Group::Domain(Box::new(balloon::Balloon)),
        Group::Domain(Box::new(vcpu::Vcpu)),
        Group::Domain(Box::new(interface::Interface)),
        Group::Domain(Box::new(block::Block)),
        Group::Domain(Box::new(perf::Perf)),
        Group::Domain(Box::new(iothread::IoThread)),
        Group::Domain(Box::new(dirtyrate::DirtyRate)),
        Group::Domain(Box::new(vm::Vm)),
        Group::Domain(Box::new(job::Job)),
        Group::Slow(Box::new(diskerror::DiskErrors)),
        Group::Slow(Box::new(control::Control)),
        Group::Slow(Box::new(iotune::IoTune)),
        Group::Slow(Box::new(iftune::IfTune)),
        Group::Slow(Box::new(tuning::TuningGroup)),
        Group::Slow(Box::new(snapshot::SnapshotGroup)),
        Group::Slow(Box::new(blockjob::BlockJobs)),
        Group::Slow(Box::new(guest::Guest::new(options.guest_interval))),
        Group::Host(Box::new(pool::Pool {
            refresh: options.pool_refresh,
        })),
        Group::Host(Box::new(volume::Volume {
            interval: options.volume_interval,
        })),
        Group::Host(Box::new(network::Network)),
        Group::Host(Box::new(node::Node)),
        Group::Host(Box::new(pages::Pages)),
    ]
}

/// The groups as the encoder and the catalogue use them: what a group writes does not depend
/// on how it is configured to collect, so the default configuration serves.
pub fn groups() -> &'static [Group] {
    static GROUPS: LazyLock<Vec<Group>> = LazyLock::new(|| all_groups(&HostOptions::default()));
    &GROUPS
}

/// Every domain group, in output order.
pub fn all_domain_collectors() -> Vec<Box<dyn DomainCollector>> {
    all_groups(&HostOptions::default())
        .into_iter()
        .filter_map(|g| match g {
            Group::Domain(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// Every host group, configured by `options`, in output order.
pub fn all_host_collectors(options: &HostOptions) -> Vec<Box<dyn HostCollector>> {
    all_groups(options)
        .into_iter()
        .filter_map(|g| match g {
            Group::Host(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// Every slow per-domain group, configured by `options`, in output order.
pub fn all_slow_domain_collectors(options: &HostOptions) -> Vec<Box<dyn SlowDomainCollector>> {
    all_groups(options)
        .into_iter()
        .filter_map(|g| match g {
            Group::Slow(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// Every disk I/O limit parameter the `iotune` group knows, for encoder tests.
pub fn block_limit_parameters() -> impl Iterator<Item = &'static str> {
    iotune::PARAMETERS.iter().map(|p| p.name)
}

/// Every NIC bandwidth parameter the `iftune` group knows, for encoder tests.
pub fn interface_limit_parameters() -> impl Iterator<Item = &'static str> {
    iftune::PARAMETERS.iter().map(|p| p.name)
}

pub use guest::DEFAULT_INTERVAL as DEFAULT_GUEST_INTERVAL;

/// Whether the domain runs (or is paused): only then does it have an ID and a monitor.
pub(crate) fn running(domain: &Domain) -> bool {
    domain.id().is_some()
}

/// A call the driver does not implement (the test driver has no block jobs) gives no data
/// rather than a failed run every interval.
pub(crate) fn unless_unsupported<T: Default>(
    result: Result<T, LibvirtError>,
) -> Result<T, LibvirtError> {
    match result {
        Err(e) if e.is_unsupported() => Ok(T::default()),
        other => other,
    }
}

/// The target devices of the domain's disks (`vda`...), from its XML.
pub(crate) fn disk_targets(domain: &Domain) -> Result<Vec<String>, LibvirtError> {
    Ok(parse_xml(&domain.xml()?)?
        .disks
        .into_iter()
        .map(|d| d.target_device)
        .collect())
}

/// The domain XML, parsed; an unreadable one is an error of the call that gave it.
pub(crate) fn parse_xml(xml: &str) -> Result<DomainXml, LibvirtError> {
    DomainXml::parse(xml).map_err(|e| LibvirtError {
        call: "virDomainGetXMLDesc",
        code: -1,
        message: format!("unreadable domain XML: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn group_names_and_families_are_unique() {
        let names: Vec<_> = groups().iter().map(Group::name).collect();
        let unique: BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        let families: Vec<String> = groups()
            .iter()
            .flat_map(Group::families)
            .map(|(name, kind)| crate::family::exposed_name(name, kind))
            .collect();
        let unique: BTreeSet<_> = families.iter().collect();
        assert_eq!(
            unique.len(),
            families.len(),
            "a family belongs to two groups"
        );
        assert!(families.len() > 90, "every group lists its families");
    }

    #[test]
    fn host_options_reach_the_host_and_slow_groups() {
        let options = HostOptions {
            pool_refresh: true,
            volume_interval: std::time::Duration::from_secs(7),
            guest_interval: std::time::Duration::from_secs(9),
        };
        let volume = all_host_collectors(&options)
            .into_iter()
            .find(|c| c.name() == "volume")
            .unwrap();
        assert_eq!(
            volume.interval(std::time::Duration::from_secs(1)),
            std::time::Duration::from_secs(7)
        );
        let guest = all_slow_domain_collectors(&options)
            .into_iter()
            .find(|c| c.name() == "guest")
            .unwrap();
        assert_eq!(
            guest.interval(std::time::Duration::from_secs(1)),
            std::time::Duration::from_secs(9)
        );
        assert!(!guest.enabled_by_default());
    }
}
