//! One cycle of domain statistics: a single bulk call for every domain, per-domain fallbacks
//! only for groups the driver's bulk call lacks, and the domain XML cached between cycles.

use super::{DomainCollector, FallbackContext, Fields};
use crate::libvirt::domain_xml::DomainXml;
use crate::libvirt::{consts, Connection, Domain, LibvirtError};
use crate::snapshot::{CollectorOutcome, DomainStats};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// What one cycle learned about domains.
#[derive(Debug, Default)]
pub struct DomainCycle {
    pub domains: Vec<DomainStats>,
    /// One outcome for the bulk call (`domains`) and one per enabled collector.
    pub outcomes: Vec<CollectorOutcome>,
    /// Domains reported with less than asked, by reason.
    pub incomplete: BTreeMap<String, u64>,
}

/// How the connected driver answers the bulk call, decided once per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverSupport {
    /// Groups the bulk call reports; the others use per-domain fallbacks.
    pub bulk_groups: u32,
    /// Whether the driver accepts the NOWAIT flag.
    pub nowait: bool,
}

/// Collects domain statistics with the enabled collectors.
pub struct DomainSource {
    collectors: Vec<Box<dyn DomainCollector>>,
    support: Option<DriverSupport>,
    xml_cache: HashMap<String, CachedXml>,
}

struct CachedXml {
    id: Option<u32>,
    xml: DomainXml,
}

impl DomainSource {
    pub fn new(collectors: Vec<Box<dyn DomainCollector>>) -> Self {
        DomainSource {
            collectors,
            support: None,
            xml_cache: HashMap::new(),
        }
    }

    /// Forgets what was learned from the previous connection.
    pub fn reset(&mut self) {
        self.support = None;
        self.xml_cache.clear();
    }

    pub fn support(&self) -> Option<DriverSupport> {
        self.support
    }

    fn enabled_groups(&self) -> u32 {
        self.collectors.iter().fold(0, |acc, c| acc | c.group())
    }

    /// Asks the driver which of the enabled groups its bulk call supports (ENFORCE_STATS
    /// fails on an unsupported group instead of omitting it).
    fn probe(&self, conn: &Connection) -> Result<DriverSupport, LibvirtError> {
        let enforce = consts::STATS_ENFORCE;
        let mut nowait = consts::STATS_NOWAIT;
        let state_only = consts::GROUP_STATE;
        if let Err(e) = conn.all_domain_stats(state_only, enforce | nowait) {
            if !e.is_unsupported() {
                return Err(e);
            }
            nowait = 0;
            conn.all_domain_stats(state_only, enforce)?;
        }
        let wanted = self.enabled_groups() | state_only;
        let mut bulk_groups = wanted;
        if conn.all_domain_stats(wanted, enforce | nowait).is_err() {
            bulk_groups = state_only;
            for c in &self.collectors {
                match conn.all_domain_stats(c.group(), enforce | nowait) {
                    Ok(_) => bulk_groups |= c.group(),
                    Err(e) if e.is_unsupported() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(DriverSupport {
            bulk_groups,
            nowait: nowait != 0,
        })
    }

    /// Runs one cycle. An error means the bulk call itself failed (libvirt unreachable).
    pub fn collect(&mut self, conn: &Connection) -> Result<DomainCycle, LibvirtError> {
        let started = Instant::now();
        let support = match self.support {
            Some(s) => s,
            None => *self.support.insert(self.probe(conn)?),
        };
        let flags = if support.nowait {
            consts::STATS_NOWAIT
        } else {
            0
        };
        let groups = (self.enabled_groups() & support.bulk_groups) | consts::GROUP_STATE;
        let records = conn.all_domain_stats(groups, flags)?;
        let persistent = uuid_set(conn, consts::LIST_PERSISTENT);
        let autostart = uuid_set(conn, consts::LIST_AUTOSTART);

        let mut cycle = DomainCycle::default();
        let mut timings = vec![Duration::ZERO; self.collectors.len()];
        let mut failures = vec![false; self.collectors.len()];
        let bulk_duration = started.elapsed();
        let mut seen = HashSet::new();

        for record in &records {
            let dom = &record.domain;
            let (Ok(name), Ok(uuid)) = (dom.name(), dom.uuid()) else {
                *cycle.incomplete.entry("vanished".into()).or_default() += 1;
                continue;
            };
            let id = dom.id();
            let active = id.is_some();
            let fields = Fields::new(&record.params);
            let xml = self.domain_xml(dom, &uuid, id, &fields);
            let mut stats = DomainStats {
                name,
                uuid: uuid.clone(),
                id,
                ..DomainStats::default()
            };
            stats.info.os_type = xml.os_type.clone();
            stats.info.arch = xml.arch.clone();
            stats.info.machine = xml.machine.clone();
            stats.info.persistent = persistent.as_ref().map(|s| s.contains(&uuid));
            stats.info.autostart = autostart.as_ref().map(|s| s.contains(&uuid));

            let ctx = FallbackContext::new(dom, &xml, active);
            let mut busy = false;
            let mut error: Option<LibvirtError> = None;
            for (i, c) in self.collectors.iter().enumerate() {
                let t = Instant::now();
                if support.bulk_groups & c.group() != 0 {
                    busy |= !c.decode(&fields, &mut stats) && active;
                } else if let Err(e) = c.fallback(&ctx, &mut stats) {
                    if !e.is_no_domain() {
                        failures[i] = true;
                    }
                    error.get_or_insert(e);
                }
                timings[i] += t.elapsed();
            }
            enrich_devices(&mut stats, &xml);
            seen.insert(uuid);
            match error {
                Some(e) if e.is_no_domain() => {
                    *cycle.incomplete.entry("vanished".into()).or_default() += 1;
                    continue;
                }
                Some(e) => {
                    let reason = if e.is_busy() { "busy" } else { "error" };
                    tracing::debug!(domain = %stats.name, error = %e, "domain reported in part");
                    *cycle.incomplete.entry(reason.into()).or_default() += 1;
                }
                None if busy => *cycle.incomplete.entry("busy".into()).or_default() += 1,
                None => {}
            }
            cycle.domains.push(stats);
        }
        self.xml_cache.retain(|uuid, _| seen.contains(uuid));

        cycle.outcomes.push(CollectorOutcome {
            name: "domains".into(),
            success: true,
            duration: bulk_duration,
        });
        for (i, c) in self.collectors.iter().enumerate() {
            cycle.outcomes.push(CollectorOutcome {
                name: c.name().into(),
                success: !failures[i],
                duration: timings[i],
            });
        }
        Ok(cycle)
    }

    /// The domain's parsed XML, fetched again only for a new domain, a new run (ID) or a
    /// device list that no longer matches the bulk record.
    fn domain_xml(&mut self, dom: &Domain, uuid: &str, id: Option<u32>, f: &Fields) -> DomainXml {
        if let Some(cached) = self.xml_cache.get(uuid) {
            if cached.id == id && devices_match(&cached.xml, f) {
                return cached.xml.clone();
            }
        }
        let xml = match dom.xml().map(|text| DomainXml::parse(&text)) {
            Ok(Ok(xml)) => xml,
            Ok(Err(e)) => {
                tracing::warn!(%uuid, error = %e, "unparsable domain XML");
                return DomainXml::default();
            }
            Err(e) => {
                tracing::debug!(%uuid, error = %e, "domain XML unavailable");
                return DomainXml::default();
            }
        };
        self.xml_cache.insert(
            uuid.to_string(),
            CachedXml {
                id,
                xml: xml.clone(),
            },
        );
        xml
    }
}

/// Whether the bulk record's disks and NICs are all known to the cached XML.
fn devices_match(xml: &DomainXml, f: &Fields) -> bool {
    let disks_known = (0..f.u32("block.count").unwrap_or(0)).all(|i| {
        f.str(&format!("block.{i}.name"))
            .is_none_or(|n| xml.disks.iter().any(|d| d.target_device == n))
    });
    let nics_known = (0..f.u32("net.count").unwrap_or(0)).all(|i| {
        f.str(&format!("net.{i}.name")).is_none_or(|n| {
            xml.interfaces
                .iter()
                .any(|d| d.target_device.as_deref() == Some(n))
        })
    });
    disks_known && nics_known
}

/// Adds the XML's attributes (source, bus, network, MAC...) to the disks and NICs.
fn enrich_devices(stats: &mut DomainStats, xml: &DomainXml) {
    for b in &mut stats.blocks {
        if let Some(d) = xml
            .disks
            .iter()
            .find(|d| d.target_device == b.target_device)
        {
            b.source_file = b.source_file.take().or_else(|| d.source.clone());
            b.bus = d.bus.clone();
            b.driver_type = d.driver_type.clone();
            b.disk_type = d.disk_type.clone();
        }
    }
    for n in &mut stats.interfaces {
        let dev = Some(n.target_device.as_str());
        if let Some(x) = xml
            .interfaces
            .iter()
            .find(|x| x.target_device.as_deref() == dev)
        {
            n.network = x.network.clone();
            n.bridge = x.bridge.clone();
            n.mac = x.mac.clone();
            n.model = x.model.clone();
            n.interface_type = x.interface_type.clone();
        }
    }
}

/// UUIDs of the domains `virConnectListAllDomains(flags)` returns; `None` if it failed.
fn uuid_set(conn: &Connection, flags: u32) -> Option<HashSet<String>> {
    let domains = conn.list_domains(flags).ok()?;
    Some(domains.iter().filter_map(|d| d.uuid().ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::all_domain_collectors;

    fn test_driver() -> Connection {
        crate::libvirt::silence_default_error_printer();
        Connection::open("test:///default", true).unwrap()
    }

    #[test]
    fn the_test_driver_gets_only_state_in_bulk_and_the_rest_by_fallback() {
        let conn = test_driver();
        let mut source = DomainSource::new(all_domain_collectors());
        let cycle = source.collect(&conn).unwrap();
        let support = source.support().unwrap();
        assert_eq!(support.bulk_groups & consts::GROUP_VCPU, 0);
        assert_ne!(support.bulk_groups & consts::GROUP_STATE, 0);
        assert!(support.nowait);
        assert_eq!(cycle.domains.len(), 1);
        let d = &cycle.domains[0];
        assert_eq!(d.name, "test");
        assert_eq!(d.state.unwrap().state, 1);
        assert_eq!(d.info.maximum_memory_bytes, Some(8_388_608 * 1024));
        assert_eq!(d.info.memory_bytes, Some(2_097_152 * 1024));
        assert_eq!(d.info.virtual_cpus, Some(2));
        assert_eq!(d.info.persistent, Some(true));
        assert_eq!(d.info.autostart, Some(false));
        assert_eq!(d.info.arch.as_deref(), Some("i686"));
        assert_eq!(d.vcpu.vcpus.len(), 2);
        assert_eq!(d.blocks[0].target_device, "vda");
        assert_eq!(
            d.blocks[0].source_file.as_deref(),
            Some("/guest/diskimage1")
        );
        assert!(d.blocks[0].read_bytes.unwrap() > 0);
        assert_eq!(d.interfaces[0].target_device, "testnet0");
        assert_eq!(d.interfaces[0].network.as_deref(), Some("default"));
        assert_eq!(d.interfaces[0].mac.as_deref(), Some("aa:bb:cc:dd:ee:ff"));
        assert_eq!(d.balloon.unused_bytes, Some(1_048_576 * 1024));
        assert!(cycle.incomplete.is_empty(), "{:?}", cycle.incomplete);
        assert!(
            cycle.outcomes.iter().all(|o| o.success),
            "{:?}",
            cycle.outcomes
        );
    }

    #[test]
    fn the_domain_xml_is_fetched_once_and_reused() {
        let conn = test_driver();
        let mut source = DomainSource::new(all_domain_collectors());
        source.collect(&conn).unwrap();
        assert_eq!(source.xml_cache.len(), 1);
        let uuid = "6695eb01-f6a4-8304-79aa-97f2502e193f";
        source.xml_cache.get_mut(uuid).unwrap().xml.arch = Some("cached".into());
        let cycle = source.collect(&conn).unwrap();
        assert_eq!(cycle.domains[0].info.arch.as_deref(), Some("cached"));
    }
}
