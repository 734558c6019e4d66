//! What the exporter reads from a domain's XML: OS type, disks, network interfaces, the QEMU
//! guest agent's channel and OpenStack Nova's metadata.
//!
//! Parsed with roxmltree; anything unexpected is skipped rather than failing the domain.

/// The parts of a domain description the collectors need.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainXml {
    pub os_type: Option<String>,
    pub arch: Option<String>,
    pub machine: Option<String>,
    pub disks: Vec<DiskXml>,
    pub interfaces: Vec<InterfaceXml>,
    /// The virtio channel of the QEMU guest agent (`org.qemu.guest_agent.0`), if it has one.
    pub guest_agent: Option<AgentChannelXml>,
    /// `<metadata><nova:instance>`, written by OpenStack Nova.
    pub nova: Option<NovaXml>,
}

/// Namespaces of Nova's `<instance>` element start with this (1.0 and 1.1 exist; later
/// versions are read the same way).
pub const NOVA_NAMESPACE_PREFIX: &str = "http://openstack.org/xmlns/libvirt/nova/";

/// The parts of Nova's metadata the exporter exposes; empty strings where Nova wrote nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NovaXml {
    /// `<nova:name>`: the instance's display name.
    pub name: String,
    /// `<nova:flavor name>`.
    pub flavor: String,
    /// `<nova:owner><nova:user uuid>NAME</nova:user>`.
    pub user_name: String,
    pub user_id: String,
    /// `<nova:owner><nova:project uuid>NAME</nova:project>`.
    pub project_name: String,
    pub project_id: String,
}

/// One `<disk>` of device kind disk/cdrom/floppy/lun.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiskXml {
    /// `<target dev>`, e.g. `vda`.
    pub target_device: String,
    pub bus: Option<String>,
    /// `<disk type>`: file, block, network, volume...
    pub disk_type: Option<String>,
    /// The source file, block device, volume or network name, whichever the disk has.
    pub source: Option<String>,
    /// `<driver type>`, e.g. qcow2 or raw.
    pub driver_type: Option<String>,
}

/// The name of the QEMU guest agent's virtio-serial port.
pub const GUEST_AGENT_CHANNEL: &str = "org.qemu.guest_agent.0";

/// The guest agent's `<channel>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentChannelXml {
    /// `<target state>` of a running domain: whether the agent holds its port open in the
    /// guest (`connected`, `disconnected`), as libvirt learns it from QEMU (the same as its
    /// agent lifecycle events); absent when QEMU does not tell.
    pub connected: Option<bool>,
}

/// One `<interface>`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InterfaceXml {
    /// Host-side `<target dev>`; only set while the domain runs.
    pub target_device: Option<String>,
    pub interface_type: Option<String>,
    pub mac: Option<String>,
    pub network: Option<String>,
    pub bridge: Option<String>,
    pub model: Option<String>,
}

impl DomainXml {
    /// Parses a domain XML document.
    pub fn parse(xml: &str) -> Result<DomainXml, roxmltree::Error> {
        let doc = roxmltree::Document::parse(xml)?;
        let root = doc.root_element();
        let mut out = DomainXml::default();
        if let Some(os_type) = child(root, "os").and_then(|os| child(os, "type")) {
            out.os_type = os_type.text().map(|t| t.trim().to_string());
            out.arch = attr(os_type, "arch");
            out.machine = attr(os_type, "machine");
        }
        out.nova = child(root, "metadata").and_then(parse_nova);
        if let Some(devices) = child(root, "devices") {
            for node in devices.children().filter(|n| n.is_element()) {
                match node.tag_name().name() {
                    "disk" => out.disks.extend(parse_disk(node)),
                    "interface" => out.interfaces.push(parse_interface(node)),
                    "channel" => {
                        if let Some(agent) = parse_agent_channel(node) {
                            out.guest_agent = Some(agent);
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(out)
    }
}

fn parse_disk(disk: roxmltree::Node) -> Option<DiskXml> {
    let target_device = child(disk, "target").and_then(|t| attr(t, "dev"))?;
    let source = child(disk, "source").and_then(|s| {
        ["file", "dev", "volume", "name", "dir"]
            .iter()
            .find_map(|a| attr(s, a))
    });
    Some(DiskXml {
        bus: child(disk, "target").and_then(|t| attr(t, "bus")),
        disk_type: attr(disk, "type"),
        source,
        driver_type: child(disk, "driver").and_then(|d| attr(d, "type")),
        target_device,
    })
}

fn parse_interface(iface: roxmltree::Node) -> InterfaceXml {
    let source = child(iface, "source");
    InterfaceXml {
        target_device: child(iface, "target").and_then(|t| attr(t, "dev")),
        interface_type: attr(iface, "type"),
        mac: child(iface, "mac").and_then(|m| attr(m, "address")),
        network: source.and_then(|s| attr(s, "network")),
        bridge: source.and_then(|s| attr(s, "bridge")),
        model: child(iface, "model").and_then(|m| attr(m, "type")),
    }
}

fn parse_agent_channel(channel: roxmltree::Node) -> Option<AgentChannelXml> {
    let target = child(channel, "target")?;
    if target.attribute("type") != Some("virtio")
        || target.attribute("name") != Some(GUEST_AGENT_CHANNEL)
    {
        return None;
    }
    Some(AgentChannelXml {
        connected: match target.attribute("state") {
            Some("connected") => Some(true),
            Some("disconnected") => Some(false),
            _ => None,
        },
    })
}

/// A child element in one of Nova's namespaces.
fn nova_child<'a, 'i>(
    parent: roxmltree::Node<'a, 'i>,
    name: &str,
) -> Option<roxmltree::Node<'a, 'i>> {
    parent.children().find(|n| {
        n.is_element()
            && n.tag_name().name() == name
            && n.tag_name()
                .namespace()
                .is_some_and(|ns| ns.starts_with(NOVA_NAMESPACE_PREFIX))
    })
}

fn parse_nova(metadata: roxmltree::Node) -> Option<NovaXml> {
    let instance = nova_child(metadata, "instance")?;
    let text = |n: Option<roxmltree::Node>| {
        n.and_then(|n| n.text())
            .map(|t| t.trim().to_string())
            .unwrap_or_default()
    };
    let uuid = |n: Option<roxmltree::Node>| n.and_then(|n| attr(n, "uuid")).unwrap_or_default();
    let owner = nova_child(instance, "owner");
    let user = owner.and_then(|o| nova_child(o, "user"));
    let project = owner.and_then(|o| nova_child(o, "project"));
    Some(NovaXml {
        name: text(nova_child(instance, "name")),
        flavor: nova_child(instance, "flavor")
            .and_then(|f| attr(f, "name"))
            .unwrap_or_default(),
        user_name: text(user),
        user_id: uuid(user),
        project_name: text(project),
        project_id: uuid(project),
    })
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

fn attr(node: roxmltree::Node, name: &str) -> Option<String> {
    node.attribute(name).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<domain type='kvm' id='3'>
      <name>web "1"</name>
      <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
      <devices>
        <disk type='file' device='disk'>
          <driver name='qemu' type='qcow2'/>
          <source file='/var/lib/libvirt/images/web.qcow2'/>
          <target dev='vda' bus='virtio'/>
        </disk>
        <disk type='network' device='disk'>
          <source protocol='rbd' name='pool/img'/>
          <target dev='vdb' bus='virtio'/>
        </disk>
        <disk type='file' device='cdrom'><target dev='sda' bus='sata'/></disk>
        <interface type='bridge'>
          <mac address='52:54:00:aa:bb:cc'/>
          <source bridge='virbr-lab'/>
          <target dev='vnet3'/>
          <model type='virtio'/>
        </interface>
        <interface type='network'><source network='default'/></interface>
      </devices>
    </domain>"#;

    #[test]
    fn reads_os_disks_and_interfaces() {
        let d = DomainXml::parse(XML).unwrap();
        assert_eq!(d.os_type.as_deref(), Some("hvm"));
        assert_eq!(d.arch.as_deref(), Some("x86_64"));
        assert_eq!(d.machine.as_deref(), Some("pc-q35-7.2"));
        assert_eq!(d.disks.len(), 3);
        assert_eq!(d.disks[0].target_device, "vda");
        assert_eq!(
            d.disks[0].source.as_deref(),
            Some("/var/lib/libvirt/images/web.qcow2")
        );
        assert_eq!(d.disks[0].driver_type.as_deref(), Some("qcow2"));
        assert_eq!(d.disks[1].source.as_deref(), Some("pool/img"));
        assert_eq!(d.disks[2].source, None);
        assert_eq!(d.interfaces[0].target_device.as_deref(), Some("vnet3"));
        assert_eq!(d.interfaces[0].bridge.as_deref(), Some("virbr-lab"));
        assert_eq!(d.interfaces[0].mac.as_deref(), Some("52:54:00:aa:bb:cc"));
        assert_eq!(d.interfaces[0].model.as_deref(), Some("virtio"));
        assert_eq!(d.interfaces[1].network.as_deref(), Some("default"));
        assert_eq!(d.interfaces[1].target_device, None);
    }

    fn nova_domain(version: &str) -> String {
        format!(
            r#"<domain type='kvm'><name>instance-0000002a</name><metadata>
              <lab:x xmlns:lab="urn:lab"><lab:name>not nova</lab:name></lab:x>
              <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/{version}">
                <nova:package version="27.1.0"/>
                <nova:name>web "1"</nova:name>
                <nova:creationTime>2024-01-01 00:00:00</nova:creationTime>
                <nova:flavor name="m1.small"><nova:memory>2048</nova:memory></nova:flavor>
                <nova:owner>
                  <nova:user uuid="0c1e">alice</nova:user>
                  <nova:project uuid="9f3a">shop</nova:project>
                </nova:owner>
                <nova:root type="image" uuid="cafe"/>
              </nova:instance></metadata></domain>"#
        )
    }

    #[test]
    fn nova_metadata_of_both_namespace_versions_is_read() {
        for version in ["1.0", "1.1"] {
            let d = DomainXml::parse(&nova_domain(version)).unwrap();
            assert_eq!(
                d.nova,
                Some(NovaXml {
                    name: "web \"1\"".into(),
                    flavor: "m1.small".into(),
                    user_name: "alice".into(),
                    user_id: "0c1e".into(),
                    project_name: "shop".into(),
                    project_id: "9f3a".into(),
                }),
                "{version}"
            );
        }
    }

    #[test]
    fn no_or_foreign_metadata_is_no_nova() {
        assert_eq!(DomainXml::parse(XML).unwrap().nova, None);
        let foreign = nova_domain("1.1").replace("openstack.org", "example.org");
        assert_eq!(DomainXml::parse(&foreign).unwrap().nova, None);
        let partial = r#"<domain><metadata><n:instance xmlns:n="http://openstack.org/xmlns/libvirt/nova/1.1"><n:name>x</n:name></n:instance></metadata></domain>"#;
        let nova = DomainXml::parse(partial).unwrap().nova.unwrap();
        assert_eq!((nova.name.as_str(), nova.flavor.as_str()), ("x", ""));
    }

    #[test]
    fn the_guest_agent_channel_and_its_state_are_read() {
        let agent = |target: &str| {
            let xml = format!(
                "<domain><devices>\
                 <channel type='unix'><target type='virtio' name='org.example.other' state='connected'/></channel>\
                 <channel type='pty'><target type='guestfwd'/></channel>\
                 {target}</devices></domain>"
            );
            DomainXml::parse(&xml).unwrap().guest_agent
        };
        let channel = |state: &str| {
            format!("<channel type='unix'><source mode='bind'/><target type='virtio' name='org.qemu.guest_agent.0'{state}/></channel>")
        };
        assert_eq!(agent(""), None, "no agent channel");
        assert_eq!(DomainXml::parse(XML).unwrap().guest_agent, None);
        assert_eq!(
            agent(&channel(" state='connected'")),
            Some(AgentChannelXml {
                connected: Some(true)
            })
        );
        assert_eq!(
            agent(&channel(" state='disconnected'")),
            Some(AgentChannelXml {
                connected: Some(false)
            })
        );
        assert_eq!(
            agent(&channel("")),
            Some(AgentChannelXml { connected: None }),
            "a domain that is not running has no state"
        );
    }

    #[test]
    fn malformed_xml_is_an_error() {
        assert!(DomainXml::parse("<domain><os>").is_err());
    }
}
