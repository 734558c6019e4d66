//! The `guest` collector through the real binary against libvirt's test driver, read-write.
//! The test driver has no `virDomainGetGuestInfo` but answers `virDomainInterfaceAddresses`
//! from the agent with made-up addresses, one per NIC: those must come out exactly as `virsh
//! domifaddr --source agent` shows them, with the host-side name `virsh domiflist` gives the
//! NIC of that MAC. A domain without an agent channel gets no guest series at all. (The real
//! agent is in tests/lab_guest.rs.) The domains have fixed UUIDs: each test-driver connection
//! makes up its own otherwise, and the slow collectors match domains by UUID across theirs.

mod common;

use common::{virsh, Exporter};
use std::collections::BTreeSet;

const NODE_XML: &str = r#"<node>
  <domain type='test'>
    <name>with-agent</name>
    <uuid>6a9e0000-0000-4000-8000-00000000000a</uuid>
    <memory>65536</memory>
    <vcpu>1</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <interface type='ethernet'><mac address='52:54:00:00:aa:01'/></interface>
      <interface type='ethernet'><mac address='52:54:00:00:aa:02'/></interface>
      <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    </devices>
  </domain>
  <domain type='test'>
    <name>without-agent</name>
    <uuid>6a9e0000-0000-4000-8000-00000000000b</uuid>
    <memory>65536</memory>
    <vcpu>1</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <interface type='ethernet'><mac address='52:54:00:00:bb:01'/></interface>
    </devices>
  </domain>
</node>
"#;

/// (MAC, address, prefix) of every address `virsh domifaddr --source agent` lists.
fn domifaddr(uri: &str, domain: &str) -> BTreeSet<(String, String, String)> {
    let mut mac = String::new();
    virsh(uri, &["domifaddr", domain, "--source", "agent", "--full"])
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let [_, m, _, cidr] = cols[..] else {
                return None;
            };
            if m != "-" {
                mac = m.to_string();
            }
            let (address, prefix) = cidr.split_once('/')?;
            Some((mac.clone(), address.to_string(), prefix.to_string()))
        })
        .collect()
}

/// The host-side name of the NIC with `mac`, from `virsh domiflist`.
fn target_of(uri: &str, domain: &str, mac: &str) -> String {
    virsh(uri, &["domiflist", domain])
        .lines()
        .find(|l| l.split_whitespace().last() == Some(mac))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no NIC with {mac} in virsh domiflist {domain}"))
        .to_string()
}

#[test]
fn agent_addresses_come_with_the_host_side_nic_and_only_for_domains_with_an_agent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.xml");
    std::fs::write(&path, NODE_XML).unwrap();
    let uri = format!("test://{}", path.display());
    let exporter = Exporter::start(&[
        "--libvirt.uri",
        &uri,
        "--no-libvirt.read-only",
        "--collector.guest",
        "--collect.interval",
        "1s",
    ]);
    let m = exporter.wait_for("the guest collector's first run", |m| {
        m.value(
            "libvirt_exporter_collector_success",
            &[("collector", "guest")],
        )
        .is_some()
    });
    assert_eq!(
        m.get(
            "libvirt_exporter_collector_success",
            &[("collector", "guest")]
        ),
        1.0
    );
    let expected = domifaddr(&uri, "with-agent");
    assert_eq!(expected.len(), 2, "{expected:?}");
    let by = [("domain", "with-agent")];
    let exposed: BTreeSet<(String, String, String)> = m
        .find("libvirt_domain_guest_address_info", &by)
        .map(|s| {
            let target = target_of(&uri, "with-agent", &s.labels["mac"]);
            assert_eq!(s.labels["target_device"], target, "{s:?}");
            assert_eq!(s.labels["family"], "ipv4", "{s:?}");
            (
                s.labels["mac"].clone(),
                s.labels["address"].clone(),
                s.labels["prefix"].clone(),
            )
        })
        .collect();
    assert_eq!(exposed, expected);
    assert_eq!(m.get("libvirt_domain_guest_addresses", &by), 2.0);
    assert_eq!(m.get("libvirt_domain_guest_agent_answered", &by), 1.0);
    assert_eq!(m.get("libvirt_domain_guest_agent_connected", &by), 1.0);
    assert_eq!(
        m.get(
            "libvirt_exporter_slow_result_stale",
            &[("collector", "guest"), ("domain", "with-agent")]
        ),
        0.0
    );
    // No virDomainGetGuestInfo in the test driver: no OS, no filesystems.
    assert_eq!(m.find("libvirt_domain_guest_info", &[]).count(), 0);
    assert_eq!(
        m.find("libvirt_domain_guest_filesystem_size_bytes", &[])
            .count(),
        0
    );
    let guest_series_of_the_other: Vec<_> = m
        .samples
        .iter()
        .filter(|s| s.name.starts_with("libvirt_domain_guest"))
        .filter(|s| s.labels.get("domain").map(String::as_str) == Some("without-agent"))
        .collect();
    assert!(
        guest_series_of_the_other.is_empty(),
        "{guest_series_of_the_other:?}"
    );
    // The bulk statistics of both are there as ever.
    for d in ["with-agent", "without-agent"] {
        assert_eq!(
            m.get("libvirt_domain_info_virtual_cpus", &[("domain", d)]),
            1.0
        );
    }
}
