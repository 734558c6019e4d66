//! The `guest` group (off by default): what the QEMU guest agent inside each running domain
//! reports, through `virDomainGetGuestInfo` (OS, host name, time zone, logged-in users,
//! filesystems with their size and use, disks, and load averages from libvirt 11.2 on) and
//! `virDomainInterfaceAddresses` from the agent (IP addresses), joined to the host-side disk
//! and NIC names so the series join the block and interface families. Whether the agent's
//! port is open comes from the domain's live XML (the channel state libvirt also reports in
//! its agent lifecycle events); whether it answered, from the latest call.
//!
//! An agent can answer late or never: libvirt blocks on an agent command for as long as the
//! agent takes (its agent timeout is never changed here, it is the domain's for everyone).
//! These are slow per-domain calls (`collect::slow`), so a hanging agent only holds its own
//! call thread; past the deadline the domain's guest data is marked stale and the domain is
//! not asked again until the call returns. libvirt refuses agent calls on a read-only
//! connection, which the command line checks.
//!
//! Everything the agent says comes from inside the guest, so its number and size are
//! bounded here: at most [`MAX_ITEMS`] filesystems, disks and addresses per domain, label
//! values cut at [`MAX_TEXT`] bytes.

use super::{parse_xml, running};
use crate::collect::slow::SlowDomainCollector;
use crate::collect::Fields;
use crate::family::{domain_label, emit, Kind, Labels, Sink, Value};
use crate::libvirt::consts::{
    GUEST_INFO_DISKS, GUEST_INFO_FILESYSTEM, GUEST_INFO_HOSTNAME, GUEST_INFO_LOAD, GUEST_INFO_OS,
    GUEST_INFO_TIMEZONE, GUEST_INFO_USERS, IP_ADDR_IPV4, IP_ADDR_IPV6,
};
use crate::libvirt::domain_xml::DomainXml;
use crate::libvirt::{Domain, GuestInterfaceRaw, LibvirtError, TypedParam};
use crate::snapshot::{DomainStats, GuestAddress, GuestDisk, GuestFilesystem, GuestOs, GuestStats};
use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The collector's name.
pub const NAME: &str = "guest";
/// How often each domain's agent is asked unless `--collector.guest.interval` says otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Filesystems, disks and addresses kept per domain at most (a guest may report hundreds of
/// bind mounts or container interfaces).
pub const MAX_ITEMS: usize = 32;
/// Longest label value taken from the guest, in bytes.
pub const MAX_TEXT: usize = 128;

/// Every type asked for but the load, which libvirt knows from 11.2 on.
const TYPES: u32 = GUEST_INFO_USERS
    | GUEST_INFO_OS
    | GUEST_INFO_TIMEZONE
    | GUEST_INFO_HOSTNAME
    | GUEST_INFO_FILESYSTEM
    | GUEST_INFO_DISKS;

pub struct Guest {
    interval: Duration,
    /// Cleared once libvirt refuses the load type as unknown (before 11.2).
    ask_load: AtomicBool,
}

impl Guest {
    pub fn new(interval: Duration) -> Self {
        Guest {
            interval,
            ask_load: AtomicBool::new(true),
        }
    }

    /// `virDomainGetGuestInfo`, with the load while libvirt knows it.
    fn guest_info(&self, domain: &Domain) -> Result<Vec<TypedParam>, LibvirtError> {
        if self.ask_load.load(Ordering::Relaxed) {
            match domain.guest_info(TYPES | GUEST_INFO_LOAD) {
                Err(e) if e.is_invalid_arg() => self.ask_load.store(false, Ordering::Relaxed),
                other => return other,
            }
        }
        domain.guest_info(TYPES)
    }
}

impl SlowDomainCollector for Guest {
    fn name(&self) -> &'static str {
        NAME
    }
    fn interval(&self, _collect_interval: Duration) -> Duration {
        self.interval
    }
    fn collect(&self, domain: &Domain, out: &mut DomainStats) -> Result<(), LibvirtError> {
        out.guest = None;
        if !running(domain) {
            return Ok(());
        }
        let xml = parse_xml(&domain.xml()?)?;
        let Some(channel) = &xml.guest_agent else {
            return Ok(());
        };
        let closed = GuestStats {
            connected: Some(false),
            ..GuestStats::default()
        };
        if channel.connected == Some(false) {
            out.guest = Some(Box::new(closed));
            return Ok(());
        }
        let params = match self.guest_info(domain) {
            Ok(params) => Some(params),
            Err(e) if e.is_agent_not_connected() => {
                out.guest = Some(Box::new(closed));
                return Ok(());
            }
            // The channel went, or the domain stopped, meanwhile.
            Err(e) if e.is_agent_not_configured() || e.is_operation_invalid() => return Ok(()),
            // A driver without the call (libvirt before 5.7, the test driver): the addresses
            // may still come.
            Err(e) if e.is_unsupported() => None,
            Err(e) => return Err(e),
        };
        let interfaces = match domain.agent_interface_addresses() {
            Ok(interfaces) => Some(interfaces),
            // Refused by the agent (`qemu-ga --block-rpcs`) or the driver.
            Err(e) if e.is_agent_command_failed() || e.is_unsupported() => None,
            Err(e) => return Err(e),
        };
        if params.is_none() && interfaces.is_none() {
            return Ok(());
        }
        let params = params.unwrap_or_default();
        let mut guest = decode(&params, interfaces.as_deref(), &xml);
        guest.connected = channel.connected.or(Some(true));
        guest.answered_at = Some(SystemTime::now());
        out.guest = Some(Box::new(guest));
        Ok(())
    }
    fn merge(&self, from: &DomainStats, into: &mut DomainStats) {
        into.guest.clone_from(&from.guest);
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        vec![
            ("libvirt_domain_guest_agent_connected", Kind::Gauge),
            ("libvirt_domain_guest_agent_answered", Kind::Gauge),
            (
                "libvirt_domain_guest_agent_last_answer_timestamp_seconds",
                Kind::Gauge,
            ),
            ("libvirt_domain_guest", Kind::Info),
            ("libvirt_domain_guest_users", Kind::Gauge),
            ("libvirt_domain_guest_filesystems", Kind::Gauge),
            ("libvirt_domain_guest_filesystem_size_bytes", Kind::Gauge),
            ("libvirt_domain_guest_filesystem_used_bytes", Kind::Gauge),
            ("libvirt_domain_guest_disk", Kind::Info),
            ("libvirt_domain_guest_addresses", Kind::Gauge),
            ("libvirt_domain_guest_address", Kind::Info),
            ("libvirt_domain_guest_load1", Kind::Gauge),
            ("libvirt_domain_guest_load5", Kind::Gauge),
            ("libvirt_domain_guest_load15", Kind::Gauge),
        ]
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
        let with = || {
            domains
                .iter()
                .filter_map(|&d| Some((d, d.guest.as_deref()?)))
        };
        emit(
            sink,
            "libvirt_domain_guest_agent_connected",
            Kind::Gauge,
            "1 when the QEMU guest agent holds its port open in the guest (channel state of the domain's live XML), 0 when it is closed.",
            with().filter_map(|(d, g)| Some((domain_label(d), Value::from(g.connected?)))),
        )?;
        emit(
            sink,
            "libvirt_domain_guest_agent_answered",
            Kind::Gauge,
            "1 when the guest agent answered the latest call; 0 when its port is closed, or the call failed or has not returned within its deadline (the other guest series are then from an earlier answer, if any).",
            domains.iter().filter_map(|&d| {
                let stale = d.slow.iter().any(|r| r.collector == NAME && r.stale);
                let answered = d.guest.as_deref().map(|g| g.answered_at.is_some());
                let answered = match (answered, stale) {
                    (None, false) => return None,
                    (answered, stale) => answered == Some(true) && !stale,
                };
                Some((domain_label(d), Value::from(answered)))
            }),
        )?;
        emit(
            sink,
            "libvirt_domain_guest_agent_last_answer_timestamp_seconds",
            Kind::Gauge,
            "When the guest agent last answered, as a Unix timestamp.",
            with().filter_map(|(d, g)| {
                let at = g.answered_at?.duration_since(UNIX_EPOCH).ok()?;
                Some((domain_label(d), Value::Float(at.as_secs_f64())))
            }),
        )?;
        emit(
            sink,
            "libvirt_domain_guest",
            Kind::Info,
            "The guest's OS (from its os-release), kernel release, architecture, host name and time zone, as the guest agent reports them.",
            with().filter_map(|(d, g)| {
                let os = g.os.as_ref()?;
                let mut labels = domain_label(d);
                labels.extend([
                    ("os_id", os.id.clone()),
                    ("os_name", os.name.clone()),
                    ("os_version", os.version.clone()),
                    ("os_version_id", os.version_id.clone()),
                    ("kernel_release", os.kernel_release.clone()),
                    ("machine", os.machine.clone()),
                    ("hostname", os.hostname.clone()),
                    ("timezone", os.timezone.clone()),
                ]);
                Some((labels, Value::Int(1)))
            }),
        )?;
        emit(
            sink,
            "libvirt_domain_guest_users",
            Kind::Gauge,
            "Users logged in to the guest, as the guest agent reports them.",
            with().filter_map(|(d, g)| Some((domain_label(d), Value::Int(g.users?)))),
        )?;
        emit(
            sink,
            "libvirt_domain_guest_filesystems",
            Kind::Gauge,
            "Filesystems the guest agent reported (those on block devices); the first 32 have series.",
            with().filter_map(|(d, g)| {
                Some((domain_label(d), Value::Int(g.filesystems_reported?)))
            }),
        )?;
        let filesystems = || {
            with().flat_map(|(d, g)| {
                g.filesystems.iter().map(move |fs| {
                    let mut labels = domain_label(d);
                    labels.extend([
                        ("mountpoint", fs.mountpoint.clone()),
                        ("fstype", fs.fstype.clone()),
                        ("target_device", fs.target_devices.join(",")),
                    ]);
                    (labels, fs)
                })
            })
        };
        emit(
            sink,
            "libvirt_domain_guest_filesystem_size_bytes",
            Kind::Gauge,
            "Size of a filesystem in the guest, in bytes; target_device is the domain's disk it lives on (several joined by commas).",
            filesystems().filter_map(|(l, fs)| Some((l, Value::Int(fs.total_bytes?)))),
        )?;
        emit(
            sink,
            "libvirt_domain_guest_filesystem_used_bytes",
            Kind::Gauge,
            "Bytes used on a filesystem in the guest.",
            filesystems().filter_map(|(l, fs)| Some((l, Value::Int(fs.used_bytes?)))),
        )?;
        emit(
            sink,
            "libvirt_domain_guest_disk",
            Kind::Info,
            "A disk as the guest sees it (guest_device) and the domain's disk it is (target_device).",
            with().flat_map(|(d, g)| {
                g.disks.iter().map(move |disk| {
                    let mut labels = domain_label(d);
                    labels.extend([
                        ("target_device", disk.target_device.clone()),
                        ("guest_device", disk.guest_device.clone()),
                    ]);
                    (labels, Value::Int(1))
                })
            }),
        )?;
        emit(
            sink,
            "libvirt_domain_guest_addresses",
            Kind::Gauge,
            "IP addresses the guest agent reported, loopback addresses left out; the first 32 have series.",
            with().filter_map(|(d, g)| {
                Some((domain_label(d), Value::Int(g.addresses_reported?)))
            }),
        )?;
        emit(
            sink,
            "libvirt_domain_guest_address",
            Kind::Info,
            "An IP address of a guest interface; target_device is the host side of the domain's NIC with that MAC, empty when none has it.",
            with().flat_map(|(d, g)| g.addresses.iter().map(move |a| (address_labels(d, a), Value::Int(1)))),
        )?;
        for (i, (name, help)) in [
            (
                "libvirt_domain_guest_load1",
                "The guest's load average over 1 minute (libvirt 11.2 and later).",
            ),
            (
                "libvirt_domain_guest_load5",
                "The guest's load average over 5 minutes (libvirt 11.2 and later).",
            ),
            (
                "libvirt_domain_guest_load15",
                "The guest's load average over 15 minutes (libvirt 11.2 and later).",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            emit(
                sink,
                name,
                Kind::Gauge,
                help,
                with().filter_map(|(d, g)| Some((domain_label(d), Value::Float(g.load[i]?)))),
            )?;
        }
        Ok(())
    }
}

fn address_labels(d: &DomainStats, a: &GuestAddress) -> Labels {
    let mut labels = domain_label(d);
    labels.extend([
        ("interface", a.interface.clone()),
        ("mac", a.mac.clone()),
        ("target_device", a.target_device.clone()),
        ("family", a.family.to_string()),
        ("address", a.address.clone()),
        ("prefix", a.prefix.to_string()),
    ]);
    labels
}

/// A text from the guest, cut to [`MAX_TEXT`] bytes (at a character boundary).
fn bounded(s: &str) -> String {
    let mut end = s.len().min(MAX_TEXT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The agent's answers as the group's data: `params` of `virDomainGetGuestInfo`,
/// `interfaces` of `virDomainInterfaceAddresses` (`None`: the agent would not list them),
/// the domain's XML for the host-side NIC names. Bounded as the module says.
fn decode(
    params: &[TypedParam],
    interfaces: Option<&[GuestInterfaceRaw]>,
    xml: &DomainXml,
) -> GuestStats {
    let f = Fields::new(params);
    let text = |key: &str| f.str(key).map(bounded);
    let os_keys = [
        "os.id",
        "os.name",
        "os.version",
        "os.version-id",
        "os.kernel-release",
        "os.machine",
        "hostname",
        "timezone.name",
    ];
    let os = os_keys.iter().any(|k| f.contains(k)).then(|| GuestOs {
        id: text("os.id").unwrap_or_default(),
        name: text("os.name").unwrap_or_default(),
        version: text("os.version").unwrap_or_default(),
        version_id: text("os.version-id").unwrap_or_default(),
        kernel_release: text("os.kernel-release").unwrap_or_default(),
        machine: text("os.machine").unwrap_or_default(),
        hostname: text("hostname").unwrap_or_default(),
        timezone: text("timezone.name").unwrap_or_default(),
    });
    let fs_count = f.u64("fs.count");
    let mut filesystems = Vec::new();
    let mut mountpoints = HashSet::new();
    for i in 0..fs_count.unwrap_or(0) {
        if filesystems.len() == MAX_ITEMS {
            break;
        }
        let Some(mountpoint) = text(&format!("fs.{i}.mountpoint")) else {
            continue;
        };
        // The same mount point twice (one mounted over another) would be one series twice.
        if !mountpoints.insert(mountpoint.clone()) {
            continue;
        }
        let disks = f.u64(&format!("fs.{i}.disk.count")).unwrap_or(0);
        filesystems.push(GuestFilesystem {
            mountpoint,
            fstype: text(&format!("fs.{i}.fstype")).unwrap_or_default(),
            target_devices: (0..disks.min(MAX_ITEMS as u64))
                .filter_map(|j| text(&format!("fs.{i}.disk.{j}.alias")))
                .collect(),
            total_bytes: f.u64(&format!("fs.{i}.total-bytes")),
            used_bytes: f.u64(&format!("fs.{i}.used-bytes")),
        });
    }
    let disks = (0..f.u64("disk.count").unwrap_or(0))
        .filter(|i| f.u64(&format!("disk.{i}.partition")) != Some(1))
        .filter_map(|i| {
            Some(GuestDisk {
                guest_device: text(&format!("disk.{i}.name"))?,
                target_device: text(&format!("disk.{i}.alias"))?,
            })
        })
        .take(MAX_ITEMS)
        .collect();
    let (addresses, addresses_reported) = match interfaces {
        Some(interfaces) => {
            let all: Vec<GuestAddress> = addresses(interfaces, xml).collect();
            let reported = all.len() as u64;
            (all.into_iter().take(MAX_ITEMS).collect(), Some(reported))
        }
        None => (Vec::new(), None),
    };
    GuestStats {
        connected: None,
        answered_at: None,
        os,
        users: f.u64("user.count"),
        filesystems,
        filesystems_reported: fs_count,
        disks,
        addresses,
        addresses_reported,
        load: ["load.1m", "load.5m", "load.15m"].map(|k| f.f64(k)),
    }
}

/// Every address of `interfaces` but loopback ones, with the host side of the NIC whose MAC
/// the interface has.
fn addresses<'a>(
    interfaces: &'a [GuestInterfaceRaw],
    xml: &'a DomainXml,
) -> impl Iterator<Item = GuestAddress> + 'a {
    interfaces.iter().flat_map(move |iface| {
        let mac = iface.mac.as_deref().unwrap_or("");
        let target_device = xml
            .interfaces
            .iter()
            .find(|nic| {
                !mac.is_empty()
                    && nic
                        .mac
                        .as_deref()
                        .is_some_and(|m| m.eq_ignore_ascii_case(mac))
            })
            .and_then(|nic| nic.target_device.clone())
            .unwrap_or_default();
        iface
            .addresses
            .iter()
            .filter(|a| !a.address.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))
            .map(move |a| GuestAddress {
                interface: bounded(&iface.name),
                mac: bounded(mac),
                target_device: target_device.clone(),
                family: match a.family {
                    IP_ADDR_IPV4 => "ipv4",
                    IP_ADDR_IPV6 => "ipv6",
                    _ => "unknown",
                },
                address: bounded(&a.address),
                prefix: a.prefix,
            })
    })
}

#[cfg(test)]
mod tests;
