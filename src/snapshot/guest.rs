//! Plain data of the `guest` group: what the QEMU guest agent inside a running domain said
//! about the guest (OS, users, filesystems, disks, addresses, load) and whether it answers.
//! Every text here comes from inside the guest: bounded in number and length by the group
//! before it gets here.

use std::time::SystemTime;

/// One domain's guest agent and its latest answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuestStats {
    /// Whether the agent holds its port open in the guest, from the channel state of the
    /// domain's live XML (an agent that answered is connected); `None` when unknown.
    pub connected: Option<bool>,
    /// When the agent last answered (the end of the call that got the data below); `None`:
    /// it was not asked, its port being closed.
    pub answered_at: Option<SystemTime>,
    pub os: Option<GuestOs>,
    /// Users logged in (`user.count`).
    pub users: Option<u64>,
    /// Filesystems, the first few (by mount point, each once).
    pub filesystems: Vec<GuestFilesystem>,
    /// How many filesystems the agent reported, before the per-domain cap.
    pub filesystems_reported: Option<u64>,
    /// Whole disks the guest sees and the host-side disk each one is.
    pub disks: Vec<GuestDisk>,
    /// IP addresses other than loopback ones, the first few.
    pub addresses: Vec<GuestAddress>,
    /// How many such addresses the agent reported, before the per-domain cap; `None` when
    /// the agent would not list interfaces.
    pub addresses_reported: Option<u64>,
    /// Load averages over 1, 5 and 15 minutes (libvirt 11.2 and later).
    pub load: [Option<f64>; 3],
}

/// The guest's OS, host name and time zone; empty strings where the agent said nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestOs {
    /// `os.id`, e.g. `debian` (from the guest's os-release).
    pub id: String,
    pub name: String,
    pub version: String,
    pub version_id: String,
    pub kernel_release: String,
    /// `os.machine`: the guest kernel's architecture, e.g. `x86_64`.
    pub machine: String,
    pub hostname: String,
    /// `timezone.name`, e.g. `UTC` or `CET`.
    pub timezone: String,
}

/// One mounted filesystem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestFilesystem {
    pub mountpoint: String,
    pub fstype: String,
    /// The host-side target devices (`vdb`) of the disks it lives on, as libvirt maps them.
    pub target_devices: Vec<String>,
    pub total_bytes: Option<u64>,
    pub used_bytes: Option<u64>,
}

/// One whole disk as the guest sees it, and the domain's disk it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestDisk {
    /// The guest's device name, e.g. `/dev/vda`.
    pub guest_device: String,
    /// The domain's `<target dev>`, e.g. `vdc`.
    pub target_device: String,
}

/// One IP address of a guest interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestAddress {
    /// The guest's interface name, e.g. `eth0`.
    pub interface: String,
    pub mac: String,
    /// The host side of the domain's NIC with that MAC (`vnet3`); empty when no NIC of the
    /// domain has it (a bridge made inside the guest, say).
    pub target_device: String,
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    pub address: String,
    pub prefix: u32,
}
