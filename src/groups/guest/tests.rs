//! The `guest` group on hand-made agent answers (shaped like libvirt 9.0's for the lab's
//! `lab-agent`) and on the test driver, which has no agent.

use super::*;
use crate::exposition::Format;
use crate::libvirt::{Connection, GuestAddressRaw, ParamValue};
use crate::snapshot::{SlowResult, Snapshot};
use std::sync::Arc;

fn text(field: &str, v: &str) -> TypedParam {
    TypedParam {
        field: field.into(),
        value: ParamValue::Text(v.into()),
    }
}

fn num(field: &str, v: u64) -> TypedParam {
    TypedParam {
        field: field.into(),
        value: ParamValue::UInt(v),
    }
}

fn flag(field: &str, v: bool) -> TypedParam {
    TypedParam {
        field: field.into(),
        value: ParamValue::Bool(v),
    }
}

/// What `virsh guestinfo lab-agent` shows, as typed parameters.
fn lab_params() -> Vec<TypedParam> {
    vec![
        num("user.count", 0),
        text("os.id", "lab"),
        text("os.name", "libvirt-exporter lab"),
        text("os.pretty-name", "libvirt-exporter lab 1"),
        text("os.version", "1 (agent)"),
        text("os.version-id", "1"),
        text("os.machine", "x86_64"),
        text("os.kernel-release", "6.1.0-57-amd64"),
        text("timezone.name", "UTC"),
        TypedParam {
            field: "timezone.offset".into(),
            value: ParamValue::Int(0),
        },
        text("hostname", "lab-agent"),
        num("fs.count", 1),
        text("fs.0.name", "vdb"),
        text("fs.0.mountpoint", "/mnt/data"),
        text("fs.0.fstype", "ext4"),
        num("fs.0.total-bytes", 30_813_184),
        num("fs.0.used-bytes", 4_225_024),
        num("fs.0.disk.count", 1),
        text("fs.0.disk.0.alias", "vdc"),
        text("fs.0.disk.0.device", "/dev/vdb"),
        num("disk.count", 3),
        text("disk.0.name", "/dev/vda"),
        flag("disk.0.partition", false),
        text("disk.0.alias", "vda"),
        text("disk.1.name", "/dev/vdb"),
        flag("disk.1.partition", false),
        text("disk.1.alias", "vdc"),
        text("disk.2.name", "/dev/vdb1"),
        flag("disk.2.partition", true),
        text("disk.2.alias", "vdc"),
    ]
}

fn iface(name: &str, mac: &str, addrs: &[(u32, &str, u32)]) -> GuestInterfaceRaw {
    GuestInterfaceRaw {
        name: name.into(),
        mac: Some(mac.into()),
        addresses: addrs
            .iter()
            .map(|&(family, address, prefix)| GuestAddressRaw {
                family,
                address: address.into(),
                prefix,
            })
            .collect(),
    }
}

/// What `virsh domifaddr lab-agent --source agent` shows.
fn lab_interfaces() -> Vec<GuestInterfaceRaw> {
    vec![
        iface(
            "lo",
            "00:00:00:00:00:00",
            &[(IP_ADDR_IPV4, "127.0.0.1", 8), (IP_ADDR_IPV6, "::1", 128)],
        ),
        iface(
            "eth0",
            "52:54:00:1A:B0:05",
            &[
                (IP_ADDR_IPV4, "192.0.2.10", 24),
                (IP_ADDR_IPV6, "fe80::5054:ff:fe1a:b005", 64),
            ],
        ),
    ]
}

fn lab_xml() -> DomainXml {
    DomainXml::parse(
        "<domain><devices>\
         <interface type='network'><mac address='52:54:00:1a:b0:05'/><target dev='vnet7'/></interface>\
         <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0' state='connected'/></channel>\
         </devices></domain>",
    )
    .unwrap()
}

#[test]
fn the_agent_answers_become_the_group_data_with_host_side_names() {
    let g = decode(&lab_params(), Some(&lab_interfaces()), &lab_xml());
    assert_eq!(
        g.os,
        Some(GuestOs {
            id: "lab".into(),
            name: "libvirt-exporter lab".into(),
            version: "1 (agent)".into(),
            version_id: "1".into(),
            kernel_release: "6.1.0-57-amd64".into(),
            machine: "x86_64".into(),
            hostname: "lab-agent".into(),
            timezone: "UTC".into(),
        })
    );
    assert_eq!(g.users, Some(0));
    assert_eq!(
        g.filesystems,
        vec![GuestFilesystem {
            mountpoint: "/mnt/data".into(),
            fstype: "ext4".into(),
            target_devices: vec!["vdc".into()],
            total_bytes: Some(30_813_184),
            used_bytes: Some(4_225_024),
        }]
    );
    assert_eq!(g.filesystems_reported, Some(1));
    // Partitions are left out: their disk is listed.
    assert_eq!(
        g.disks,
        vec![
            GuestDisk {
                guest_device: "/dev/vda".into(),
                target_device: "vda".into()
            },
            GuestDisk {
                guest_device: "/dev/vdb".into(),
                target_device: "vdc".into()
            },
        ]
    );
    // Loopback addresses are left out; the MAC matches whatever its case.
    let eth0 = |family, address: &str, prefix| GuestAddress {
        interface: "eth0".into(),
        mac: "52:54:00:1A:B0:05".into(),
        target_device: "vnet7".into(),
        family,
        address: address.into(),
        prefix,
    };
    assert_eq!(
        g.addresses,
        vec![
            eth0("ipv4", "192.0.2.10", 24),
            eth0("ipv6", "fe80::5054:ff:fe1a:b005", 64)
        ]
    );
    assert_eq!(g.addresses_reported, Some(2));
    assert_eq!(g.load, [None, None, None], "libvirt 9.0 has no load");
}

#[test]
fn load_averages_are_read_when_libvirt_has_them() {
    let mut params = lab_params();
    for (field, v) in [("load.1m", 0.5), ("load.5m", 0.25), ("load.15m", 2.0)] {
        params.push(TypedParam {
            field: field.into(),
            value: ParamValue::Double(v),
        });
    }
    let g = decode(&params, None, &lab_xml());
    assert_eq!(g.load, [Some(0.5), Some(0.25), Some(2.0)]);
    assert_eq!(g.addresses_reported, None, "interfaces not listed");
}

#[test]
fn what_the_guest_says_is_bounded_in_number_and_length() {
    let long = format!("/{}λ", "m".repeat(MAX_TEXT));
    let mut params = vec![num("fs.count", 41), text("hostname", &long)];
    for i in 0..41 {
        // fs.1 is mounted over fs.0: the same mount point again.
        let mountpoint = if i == 1 {
            "/m0".into()
        } else {
            format!("/m{i}")
        };
        params.push(text(&format!("fs.{i}.mountpoint"), &mountpoint));
        params.push(num(&format!("fs.{i}.disk.count"), 1000));
        params.push(text(&format!("fs.{i}.disk.0.alias"), "vda"));
    }
    let ifaces = vec![GuestInterfaceRaw {
        name: "docker0".into(),
        mac: Some("02:42:ac:11:00:02".into()),
        addresses: (0..50)
            .map(|i| GuestAddressRaw {
                family: IP_ADDR_IPV4,
                address: format!("10.0.0.{i}"),
                prefix: 8,
            })
            .collect(),
    }];
    let g = decode(&params, Some(&ifaces), &lab_xml());
    assert_eq!(g.filesystems.len(), MAX_ITEMS);
    assert_eq!(g.filesystems_reported, Some(41));
    let unique: HashSet<_> = g.filesystems.iter().map(|f| &f.mountpoint).collect();
    assert_eq!(unique.len(), MAX_ITEMS);
    assert_eq!(g.filesystems[1].mountpoint, "/m2");
    assert_eq!(g.filesystems[0].target_devices, ["vda"]);
    assert_eq!(g.addresses.len(), MAX_ITEMS);
    assert_eq!(g.addresses_reported, Some(50));
    assert_eq!(
        g.addresses[0].target_device, "",
        "no NIC of the domain has that MAC"
    );
    let hostname = g.os.unwrap().hostname;
    assert!(hostname.len() <= MAX_TEXT, "{}", hostname.len());
    assert!(long.starts_with(&hostname));
}

fn domain(name: &str, guest: Option<GuestStats>, stale: Option<bool>) -> DomainStats {
    DomainStats {
        name: name.into(),
        guest: guest.map(Box::new),
        slow: stale
            .map(|stale| SlowResult {
                collector: NAME,
                taken_at: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
                stale,
            })
            .into_iter()
            .collect(),
        ..DomainStats::default()
    }
}

fn exposition(domains: Vec<DomainStats>) -> Vec<String> {
    let snapshot = Snapshot {
        up: true,
        domains,
        ..Snapshot::default()
    };
    let e = crate::encode::encode(
        Arc::new(snapshot),
        &[Format::Text],
        crate::encode::EncodeOptions { max_series: None },
    );
    String::from_utf8(e.plain(Format::Text).to_vec())
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("libvirt_domain_guest"))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_series_join_the_block_and_interface_families() {
    let mut g = decode(&lab_params(), Some(&lab_interfaces()), &lab_xml());
    g.connected = Some(true);
    g.answered_at = Some(UNIX_EPOCH + Duration::from_millis(1_700_000_001_500));
    assert_eq!(
        exposition(vec![domain("lab-agent", Some(g), Some(false))]),
        [
            "libvirt_domain_guest_agent_connected{domain=\"lab-agent\"} 1",
            "libvirt_domain_guest_agent_answered{domain=\"lab-agent\"} 1",
            "libvirt_domain_guest_agent_last_answer_timestamp_seconds{domain=\"lab-agent\"} 1700000001.5",
            "libvirt_domain_guest_info{domain=\"lab-agent\",os_id=\"lab\",os_name=\"libvirt-exporter lab\",os_version=\"1 (agent)\",os_version_id=\"1\",kernel_release=\"6.1.0-57-amd64\",machine=\"x86_64\",hostname=\"lab-agent\",timezone=\"UTC\"} 1",
            "libvirt_domain_guest_users{domain=\"lab-agent\"} 0",
            "libvirt_domain_guest_filesystems{domain=\"lab-agent\"} 1",
            "libvirt_domain_guest_filesystem_size_bytes{domain=\"lab-agent\",mountpoint=\"/mnt/data\",fstype=\"ext4\",target_device=\"vdc\"} 30813184",
            "libvirt_domain_guest_filesystem_used_bytes{domain=\"lab-agent\",mountpoint=\"/mnt/data\",fstype=\"ext4\",target_device=\"vdc\"} 4225024",
            "libvirt_domain_guest_disk_info{domain=\"lab-agent\",target_device=\"vda\",guest_device=\"/dev/vda\"} 1",
            "libvirt_domain_guest_disk_info{domain=\"lab-agent\",target_device=\"vdc\",guest_device=\"/dev/vdb\"} 1",
            "libvirt_domain_guest_addresses{domain=\"lab-agent\"} 2",
            "libvirt_domain_guest_address_info{domain=\"lab-agent\",interface=\"eth0\",mac=\"52:54:00:1A:B0:05\",target_device=\"vnet7\",family=\"ipv4\",address=\"192.0.2.10\",prefix=\"24\"} 1",
            "libvirt_domain_guest_address_info{domain=\"lab-agent\",interface=\"eth0\",mac=\"52:54:00:1A:B0:05\",target_device=\"vnet7\",family=\"ipv6\",address=\"fe80::5054:ff:fe1a:b005\",prefix=\"64\"} 1",
        ]
    );
}

#[test]
fn an_agent_that_does_not_answer_is_answered_0_with_its_earlier_data() {
    let earlier = GuestStats {
        connected: Some(true),
        answered_at: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        users: Some(2),
        ..GuestStats::default()
    };
    let closed = GuestStats {
        connected: Some(false),
        ..GuestStats::default()
    };
    let lines = exposition(vec![
        // The latest call hangs or failed: its earlier answer, stale.
        domain("frozen", Some(earlier), Some(true)),
        // The port is closed: nothing asked.
        domain("closed", Some(closed), Some(false)),
        // Failed with no earlier answer left.
        domain("gone", None, Some(true)),
        // No agent channel, or not running.
        domain("none", None, Some(false)),
    ]);
    assert_eq!(
        lines,
        [
            "libvirt_domain_guest_agent_connected{domain=\"frozen\"} 1",
            "libvirt_domain_guest_agent_connected{domain=\"closed\"} 0",
            "libvirt_domain_guest_agent_answered{domain=\"frozen\"} 0",
            "libvirt_domain_guest_agent_answered{domain=\"closed\"} 0",
            "libvirt_domain_guest_agent_answered{domain=\"gone\"} 0",
            "libvirt_domain_guest_agent_last_answer_timestamp_seconds{domain=\"frozen\"} 1700000000.0",
            "libvirt_domain_guest_users{domain=\"frozen\"} 2",
        ]
    );
}

#[test]
fn a_domain_without_an_agent_channel_gets_no_guest_data() {
    crate::libvirt::silence_default_error_printer();
    // Read-write: agent calls would be allowed, but the test domain has no agent channel.
    let conn = Connection::open("test:///default", false).unwrap();
    let dom = conn.list_domains(0).unwrap().pop().unwrap();
    let mut out = DomainStats {
        guest: Some(Box::default()),
        ..DomainStats::default()
    };
    Guest::new(DEFAULT_INTERVAL)
        .collect(&dom, &mut out)
        .unwrap();
    assert_eq!(out.guest, None);
}

#[test]
fn merge_replaces_the_guest_data() {
    let g = Guest::new(DEFAULT_INTERVAL);
    let from = domain("a", Some(GuestStats::default()), None);
    let mut into = domain("a", None, None);
    g.merge(&from, &mut into);
    assert_eq!(into.guest, from.guest);
    g.merge(&DomainStats::default(), &mut into);
    assert_eq!(into.guest, None);
}
