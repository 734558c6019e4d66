//! One cycle of domain statistics: a single bulk call for every domain, per-domain fallbacks
//! only for groups the driver's bulk call lacks, and the domain XML, job answers and domain
//! lists kept between cycles.

use super::domain_lists::DomainLists;
use super::job_schedule::JobSchedule;
use super::options::DomainOptions;
use super::{DomainCollector, FallbackContext, Fields};
use crate::groups::vcpu;
use crate::libvirt::domain_xml::DomainXml;
use crate::libvirt::{consts, Connection, Domain, LibvirtError};
use crate::snapshot::{CollectorOutcome, DomainStats, OpenStackInfo};
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
    jobs: JobSchedule,
    lists: DomainLists,
    options: DomainOptions,
}

struct CachedXml {
    id: Option<u32>,
    xml: DomainXml,
    /// `--domain.label` values read from this XML.
    labels: Vec<(&'static str, String)>,
    fetched: Instant,
}

impl DomainSource {
    pub fn new(collectors: Vec<Box<dyn DomainCollector>>, options: DomainOptions) -> Self {
        DomainSource {
            collectors,
            support: None,
            xml_cache: HashMap::new(),
            jobs: JobSchedule::new(options.job_interval),
            lists: DomainLists::default(),
            options,
        }
    }

    /// Forgets what was learned from the previous connection.
    pub fn reset(&mut self) {
        self.support = None;
        self.xml_cache.clear();
        self.jobs.clear();
        self.lists.clear();
    }

    pub fn support(&self) -> Option<DriverSupport> {
        self.support
    }

    fn enabled_groups(&self) -> u32 {
        self.collectors.iter().fold(0, |acc, c| acc | c.group())
    }

    /// Asks the driver which of the enabled groups its bulk call supports (ENFORCE_STATS
    /// fails on an unsupported group instead of omitting it). Only running domains are asked:
    /// QEMU refuses groups that need a QEMU capability (iothread, dirtyrate, vm) for a
    /// shut-off domain, which has no QEMU to ask.
    fn probe(&self, conn: &Connection) -> Result<DriverSupport, LibvirtError> {
        let enforce = consts::STATS_ENFORCE | consts::STATS_ACTIVE_ONLY;
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
            for c in self.collectors.iter().filter(|c| c.group() != 0) {
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
            if !self.options.filter.accepts(&name) {
                continue;
            }
            let id = dom.id();
            let active = id.is_some();
            let fields = Fields::new(&record.params);
            let (xml, labels) = self.domain_xml(dom, &uuid, id, &fields);
            let mut stats = DomainStats {
                name,
                uuid: uuid.clone(),
                id,
                ..DomainStats::default()
            };
            stats.info.os_type = xml.os_type.clone();
            stats.info.arch = xml.arch.clone();
            stats.info.machine = xml.machine.clone();
            stats.info.labels = labels;
            if self.options.nova {
                stats.info.openstack = xml.nova.as_ref().map(|n| OpenStackInfo {
                    instance_name: n.name.clone(),
                    flavor_name: n.flavor.clone(),
                    user_name: n.user_name.clone(),
                    user_id: n.user_id.clone(),
                    project_name: n.project_name.clone(),
                    project_id: n.project_id.clone(),
                });
            }

            let in_bulk = |c: &dyn DomainCollector| support.bulk_groups & c.group() != 0;
            let mut busy = false;
            for (i, c) in self.collectors.iter().enumerate() {
                if in_bulk(c.as_ref()) {
                    let t = Instant::now();
                    busy |= !c.decode(&fields, &mut stats) && active;
                    timings[i] += t.elapsed();
                }
            }
            // Per-domain calls come after every bulk group, so they know whether the domain
            // is busy (and calls that would wait for its job can step around it).
            let mut ctx = FallbackContext::new(dom, &xml, active);
            ctx.busy = busy;
            ctx.known_job = self.jobs.known(&uuid, id, stats.state, started).cloned();
            let mut error: Option<LibvirtError> = None;
            for (i, c) in self.collectors.iter().enumerate() {
                if in_bulk(c.as_ref()) {
                    continue;
                }
                let t = Instant::now();
                if let Err(e) = c.fallback(&ctx, &mut stats) {
                    if !e.is_no_domain() {
                        failures[i] = true;
                    }
                    error.get_or_insert(e);
                }
                timings[i] += t.elapsed();
            }
            if ctx.job_answered.get() {
                self.jobs
                    .answered(&uuid, id, stats.state, &stats.job, started);
            }
            enrich_devices(&mut stats, &xml);
            if self.options.vcpu_per_domain {
                vcpu::fold_per_domain(&mut stats);
            }
            seen.insert(uuid);
            stats.shrink_to_fit();
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
        self.jobs.retain(&seen);
        self.lists.update(conn, &seen, started);
        for d in &mut cycle.domains {
            d.info.persistent = self.lists.persistent(&d.uuid);
            d.info.autostart = self.lists.autostart(&d.uuid);
        }

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

    /// The domain's parsed XML and its `--domain.label` values, fetched again only for a new
    /// domain, a new run (ID), a device list that no longer matches the bulk record, or, while
    /// labels or the Nova preset read the metadata, once `--domain.metadata-refresh` passed
    /// (`virsh metadata` and `virsh desc` change it without any of the rest).
    fn domain_xml(
        &mut self,
        dom: &Domain,
        uuid: &str,
        id: Option<u32>,
        f: &Fields,
    ) -> (DomainXml, Vec<(&'static str, String)>) {
        if let Some(cached) = self.xml_cache.get(uuid) {
            let fresh = !self.options.reads_metadata()
                || cached.fetched.elapsed() < self.options.metadata_refresh;
            if cached.id == id && devices_match(&cached.xml, f) && fresh {
                return (cached.xml.clone(), cached.labels.clone());
            }
        }
        let no_labels = || self.options.labels.evaluate("");
        let text = match dom.xml() {
            Ok(text) => text,
            Err(e) => {
                tracing::debug!(%uuid, error = %e, "domain XML unavailable");
                return (DomainXml::default(), no_labels());
            }
        };
        let xml = match DomainXml::parse(&text) {
            Ok(xml) => xml,
            Err(e) => {
                tracing::warn!(%uuid, error = %e, "unparsable domain XML");
                return (DomainXml::default(), no_labels());
            }
        };
        let labels = self.options.labels.evaluate(&text);
        self.xml_cache.insert(
            uuid.to_string(),
            CachedXml {
                id,
                xml: xml.clone(),
                labels: labels.clone(),
                fetched: Instant::now(),
            },
        );
        (xml, labels)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::all_domain_collectors;

    use crate::libvirt::test_connection as test_driver;

    #[test]
    fn the_test_driver_gets_only_state_in_bulk_and_the_rest_by_fallback() {
        let conn = test_driver();
        let mut source = DomainSource::new(all_domain_collectors(), DomainOptions::default());
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

    const NODE: &str = r#"<node>
      <domain type='test'>
        <name>web-1</name><uuid>7c6f3c56-6e43-4a36-a0d5-1c5a8e7f0001</uuid>
        <title>Web one</title>
        <metadata>
          <app:app xmlns:app="urn:example:app"><app:team>payments</app:team></app:app>
          <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
            <nova:name>shop-1</nova:name><nova:flavor name="m1.small"/>
            <nova:owner><nova:user uuid="u1">alice</nova:user><nova:project uuid="p1">shop</nova:project></nova:owner>
          </nova:instance>
        </metadata>
        <memory>1024</memory><vcpu>1</vcpu><os><type>hvm</type></os>
      </domain>
      <domain type='test'>
        <name>db-1</name><uuid>7c6f3c56-6e43-4a36-a0d5-1c5a8e7f0002</uuid>
        <memory>1024</memory><vcpu>1</vcpu><os><type>hvm</type></os>
      </domain>
    </node>"#;

    fn node_driver() -> (tempfile::TempDir, Connection) {
        crate::libvirt::silence_default_error_printer();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.xml");
        std::fs::write(&path, NODE).unwrap();
        let conn = Connection::open(&format!("test://{}", path.display()), true).unwrap();
        (dir, conn)
    }

    fn options(labels: &[&str]) -> DomainOptions {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        DomainOptions {
            labels: crate::collect::labels::LabelSet::new(
                &own(labels),
                &own(&["app=urn:example:app"]),
            )
            .unwrap(),
            nova: true,
            metadata_refresh: Duration::from_secs(3600),
            ..DomainOptions::default()
        }
    }

    fn by_name<'a>(cycle: &'a DomainCycle, name: &str) -> &'a DomainStats {
        cycle.domains.iter().find(|d| d.name == name).unwrap()
    }

    #[test]
    fn labels_and_nova_metadata_come_from_the_domain_xml() {
        let (_dir, conn) = node_driver();
        let labels = [
            "team=/domain/metadata/app:app/app:team",
            "title=/domain/title",
        ];
        let mut source = DomainSource::new(all_domain_collectors(), options(&labels));
        let cycle = source.collect(&conn).unwrap();
        let web = by_name(&cycle, "web-1");
        assert_eq!(
            web.info.labels,
            [("team", "payments".into()), ("title", "Web one".into())]
        );
        let nova = web.info.openstack.as_ref().unwrap();
        assert_eq!(
            (nova.instance_name.as_str(), nova.flavor_name.as_str()),
            ("shop-1", "m1.small")
        );
        assert_eq!(
            (nova.user_id.as_str(), nova.project_name.as_str()),
            ("u1", "shop")
        );
        let db = by_name(&cycle, "db-1");
        assert_eq!(
            db.info.labels,
            [("team", String::new()), ("title", String::new())]
        );
        assert_eq!(db.info.openstack, None);
    }

    #[test]
    fn metadata_is_read_again_once_the_refresh_period_passed() {
        let (_dir, conn) = node_driver();
        let mut opts = options(&["title=/domain/title"]);
        let mut source = DomainSource::new(all_domain_collectors(), opts.clone());
        source.collect(&conn).unwrap();
        let uuid = "7c6f3c56-6e43-4a36-a0d5-1c5a8e7f0001";
        source.xml_cache.get_mut(uuid).unwrap().labels[0].1 = "cached".into();
        let cycle = source.collect(&conn).unwrap();
        assert_eq!(by_name(&cycle, "web-1").info.labels[0].1, "cached");
        opts.metadata_refresh = Duration::ZERO;
        source.options = opts;
        let cycle = source.collect(&conn).unwrap();
        assert_eq!(by_name(&cycle, "web-1").info.labels[0].1, "Web one");
    }

    #[test]
    fn excluded_domains_are_not_collected_at_all() {
        let (_dir, conn) = node_driver();
        let opts = DomainOptions {
            filter: crate::collect::options::DomainFilter::new(Some("web-.*"), None).unwrap(),
            ..DomainOptions::default()
        };
        let mut source = DomainSource::new(all_domain_collectors(), opts);
        let cycle = source.collect(&conn).unwrap();
        let names: Vec<_> = cycle.domains.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["web-1"]);
        assert_eq!(source.xml_cache.len(), 1, "no XML fetched for db-1");
    }

    #[test]
    fn the_job_collector_on_a_driver_without_jobs_gives_nothing_and_succeeds() {
        let conn = test_driver();
        let opts = DomainOptions {
            job_interval: Duration::from_secs(60),
            ..DomainOptions::default()
        };
        let mut source = DomainSource::new(all_domain_collectors(), opts);
        let cycle = source.collect(&conn).unwrap();
        let d = &cycle.domains[0];
        assert_eq!(d.job, crate::snapshot::JobStats::default());
        let job = cycle.outcomes.iter().find(|o| o.name == "job").unwrap();
        assert!(job.success);
        // "not supported" is an answer: it stands until the job interval passed
        let now = Instant::now();
        let known = source.jobs.known(&d.uuid, d.id, d.state, now);
        assert_eq!(known, Some(&crate::snapshot::JobStats::default()));
    }

    #[test]
    fn without_the_job_collector_no_job_answer_is_kept() {
        let conn = test_driver();
        let collectors = all_domain_collectors()
            .into_iter()
            .filter(|c| c.name() != "job")
            .collect();
        let opts = DomainOptions {
            job_interval: Duration::from_secs(60),
            ..DomainOptions::default()
        };
        let mut source = DomainSource::new(collectors, opts);
        let cycle = source.collect(&conn).unwrap();
        let d = &cycle.domains[0];
        assert_eq!(
            source.jobs.known(&d.uuid, d.id, d.state, Instant::now()),
            None
        );
    }

    #[test]
    fn the_domain_xml_is_fetched_once_and_reused() {
        let conn = test_driver();
        let mut source = DomainSource::new(all_domain_collectors(), DomainOptions::default());
        source.collect(&conn).unwrap();
        assert_eq!(source.xml_cache.len(), 1);
        let uuid = "6695eb01-f6a4-8304-79aa-97f2502e193f";
        source.xml_cache.get_mut(uuid).unwrap().xml.arch = Some("cached".into());
        let cycle = source.collect(&conn).unwrap();
        assert_eq!(cycle.domains[0].info.arch.as_deref(), Some("cached"));
    }
}
