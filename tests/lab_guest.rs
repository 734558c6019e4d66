//! The `guest` collector against the real QEMU guest agent of the lab's `lab-agent`
//! (tests/lab/setup.sh builds it: Debian 12's qemu-ga in its initramfs, an ext4 disk on
//! `/mnt/data`). Ignored by a plain `cargo test`; run one at a time:
//! `cargo test --test lab_guest -- --ignored --test-threads=1 NAME`.
//!
//! Every figure is compared with `virsh guestinfo` and `virsh domifaddr --source agent`. The
//! guest's control port (see tests/lab/agent-init.sh) writes files in the guest and stops,
//! resumes, kills and restarts its agent; each test leaves the agent answering again, even
//! when it fails. Only `lab-agent` (and `lab-run-1`, read only) is looked at.

mod common;

use common::{unix_now, virsh, Exporter, Metrics};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

const CONTROL_PORT: &str = "org.libvirt-exporter.lab.control";

struct Lab {
    uri: String,
    agent: String,
    /// A running guest without an agent channel.
    plain: String,
}

fn lab() -> Lab {
    let vars = common::lab_env();
    let uri = vars["LAB_URI"].clone();
    // An env file written by an older setup.sh has no LAB_AGENT; the name is fixed anyway.
    let agent = vars.get("LAB_AGENT").map_or("lab-agent", String::as_str);
    let state = virsh(&uri, &["list", "--all", "--name"]);
    assert!(
        state.lines().any(|l| l.trim() == agent),
        "no domain {agent}: run tests/lab/setup.sh (of this version) first"
    );
    Lab {
        agent: agent.to_string(),
        uri,
        plain: vars["LAB_RUNNING"]
            .split_whitespace()
            .next()
            .unwrap()
            .to_string(),
    }
}

impl Lab {
    /// Sends one command to the guest's control port and waits for it to be done.
    fn control(&self, command: &str) {
        self.try_control(command)
            .unwrap_or_else(|e| panic!("control port of {}: {command}: {e}", self.agent));
    }

    fn try_control(&self, command: &str) -> Result<(), String> {
        let xml = virsh(&self.uri, &["dumpxml", &self.agent]);
        let path = xml
            .lines()
            .filter(|l| l.contains("<source mode='bind'"))
            .filter_map(|l| l.split("path='").nth(1)?.split('\'').next())
            .find(|p| p.ends_with(CONTROL_PORT))
            .ok_or_else(|| format!("no {CONTROL_PORT} channel in the domain XML"))?;
        let mut stream = UnixStream::connect(path).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        writeln!(stream, "{command}").map_err(|e| e.to_string())?;
        let mut reply = String::new();
        BufReader::new(stream)
            .read_line(&mut reply)
            .map_err(|e| e.to_string())?;
        match reply.trim_end() {
            r if r == format!("done {command}") => Ok(()),
            r => Err(format!("answered {r:?}")),
        }
    }

    /// `virsh guestinfo` as field → value.
    fn guestinfo(&self) -> BTreeMap<String, String> {
        virsh(&self.uri, &["guestinfo", &self.agent])
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect()
    }

    /// (interface, MAC, family, address, prefix) of every address `virsh domifaddr --source
    /// agent --full` lists, loopback ones left out.
    fn domifaddr(&self) -> BTreeSet<[String; 5]> {
        virsh(
            &self.uri,
            &["domifaddr", &self.agent, "--source", "agent", "--full"],
        )
        .lines()
        .filter_map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            let [name, mac, family, cidr] = c[..] else {
                return None;
            };
            let (address, prefix) = cidr.split_once('/')?;
            let loopback = address.parse::<std::net::IpAddr>().ok()?.is_loopback();
            (!loopback).then(|| [name, mac, family, address, prefix].map(str::to_string))
        })
        .collect()
    }

    /// The host-side name of the domain's NIC with `mac` (`virsh domiflist`).
    fn tap_of(&self, mac: &str) -> String {
        virsh(&self.uri, &["domiflist", &self.agent])
            .lines()
            .find(|l| l.split_whitespace().last() == Some(mac))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no NIC with MAC {mac}"))
            .to_string()
    }

    /// The exporter with the guest collector on, asking every second.
    fn exporter(&self, domains: &str) -> Exporter {
        Exporter::start(&[
            "--libvirt.uri",
            &self.uri,
            "--no-libvirt.read-only",
            "--collector.guest",
            "--collector.guest.interval",
            "1s",
            "--collect.interval",
            "1s",
            "--domain.include",
            domains,
        ])
    }
}

/// Sends `on_drop` to the control port when dropped, so that a failing test leaves the
/// guest's agent running.
struct Restore<'a>(&'a Lab, &'static str);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.try_control(self.1) {
            eprintln!("could not restore {} ({}): {e}", self.0.agent, self.1);
        }
    }
}

fn answered(m: &Metrics, domain: &str) -> Option<f64> {
    m.value("libvirt_domain_guest_agent_answered", &[("domain", domain)])
}

/// Waits for an answer of the agent given after `since`.
fn answer_after(exporter: &Exporter, domain: &str, since: f64) -> Metrics {
    exporter.wait_for("an answer of the guest agent", |m| {
        answered(m, domain) == Some(1.0)
            && m.value(
                "libvirt_domain_guest_agent_last_answer_timestamp_seconds",
                &[("domain", domain)],
            )
            .is_some_and(|t| t > since)
    })
}

/// The bulk statistics of `domain` are all there: the cycle was complete, the domain runs,
/// and its two disks and its NIC have their counters.
fn assert_bulk_complete(m: &Metrics, domain: &str) {
    assert_eq!(m.get("libvirt_up", &[]), 1.0);
    for s in m.find("libvirt_exporter_incomplete_domains", &[]) {
        assert_eq!(s.value, 0.0, "{s:?}");
    }
    assert_eq!(
        m.get(
            "libvirt_exporter_collector_success",
            &[("collector", "domains")]
        ),
        1.0
    );
    let by = [("domain", domain)];
    assert_eq!(
        m.find("libvirt_domain_info_state", &by)
            .next()
            .unwrap()
            .labels["state_desc"],
        "running"
    );
    assert!(m.get("libvirt_domain_info_cpu_time_seconds_total", &by) > 0.0);
    for disk in ["vda", "vdc"] {
        let key = [("domain", domain), ("target_device", disk)];
        assert!(
            m.value("libvirt_domain_block_stats_read_requests_total", &key)
                .is_some(),
            "{disk}"
        );
    }
    assert_eq!(
        m.find("libvirt_domain_interface_stats_receive_bytes_total", &by)
            .count(),
        1
    );
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn every_guest_figure_equals_virsh_guestinfo_and_domifaddr() {
    let lab = lab();
    let agent = lab.agent.as_str();
    let exporter = lab.exporter(&format!("{agent}|{}", lab.plain));
    let before = lab.guestinfo();
    let m = answer_after(&exporter, agent, unix_now());
    let after = lab.guestinfo();
    assert_eq!(before, after, "the guest changed meanwhile: {before:?}");
    let g = |k: &str| {
        after
            .get(k)
            .unwrap_or_else(|| panic!("virsh guestinfo has no {k}"))
            .as_str()
    };
    let by = [("domain", agent)];
    assert_eq!(m.get("libvirt_domain_guest_agent_connected", &by), 1.0);
    let info = m.find("libvirt_domain_guest_info", &by).next().unwrap();
    for (label, field) in [
        ("os_id", "os.id"),
        ("os_name", "os.name"),
        ("os_version", "os.version"),
        ("os_version_id", "os.version-id"),
        ("kernel_release", "os.kernel-release"),
        ("machine", "os.machine"),
        ("hostname", "hostname"),
        ("timezone", "timezone.name"),
    ] {
        assert_eq!(info.labels[label], g(field), "{label}");
    }
    assert_eq!(
        m.get("libvirt_domain_guest_users", &by),
        g("user.count").parse::<f64>().unwrap()
    );
    let fs_count: usize = g("fs.count").parse().unwrap();
    assert!(fs_count >= 1, "{after:?}");
    assert_eq!(
        m.get("libvirt_domain_guest_filesystems", &by),
        fs_count as f64
    );
    for i in 0..fs_count {
        let disks: usize = g(&format!("fs.{i}.disk.count")).parse().unwrap();
        let targets: Vec<&str> = (0..disks)
            .map(|j| g(&format!("fs.{i}.disk.{j}.alias")))
            .collect();
        let key = [
            ("domain", agent),
            ("mountpoint", g(&format!("fs.{i}.mountpoint"))),
            ("fstype", g(&format!("fs.{i}.fstype"))),
            ("target_device", &targets.join(",")),
        ];
        for (family, field) in [
            ("libvirt_domain_guest_filesystem_size_bytes", "total-bytes"),
            ("libvirt_domain_guest_filesystem_used_bytes", "used-bytes"),
        ] {
            assert_eq!(
                m.get(family, &key),
                g(&format!("fs.{i}.{field}")).parse::<f64>().unwrap(),
                "{family} {key:?}"
            );
        }
    }
    // The data disk: /dev/vdb in the guest, vdc on the host, where its block stats are.
    let data = [("domain", agent), ("mountpoint", "/mnt/data")];
    let data_fs = m
        .find("libvirt_domain_guest_filesystem_size_bytes", &data)
        .next()
        .unwrap();
    assert_eq!(data_fs.labels["target_device"], "vdc");
    assert_eq!(data_fs.labels["fstype"], "ext4");
    assert!(m
        .value(
            "libvirt_domain_block_stats_capacity_bytes",
            &[("domain", agent), ("target_device", "vdc")]
        )
        .is_some());
    let disks: BTreeSet<(String, String)> = (0..g("disk.count").parse().unwrap())
        .filter(|i| g(&format!("disk.{i}.partition")) == "no")
        .map(|i| {
            (
                g(&format!("disk.{i}.alias")).to_string(),
                g(&format!("disk.{i}.name")).to_string(),
            )
        })
        .collect();
    let exposed: BTreeSet<(String, String)> = m
        .find("libvirt_domain_guest_disk_info", &by)
        .map(|s| {
            (
                s.labels["target_device"].clone(),
                s.labels["guest_device"].clone(),
            )
        })
        .collect();
    assert_eq!(exposed, disks);
    assert!(
        disks.contains(&("vdc".into(), "/dev/vdb".into())),
        "{disks:?}"
    );
    let addresses = lab.domifaddr();
    assert!(
        addresses.iter().any(|a| a[3] == "192.0.2.10"),
        "{addresses:?}"
    );
    let exposed: BTreeSet<[String; 5]> = m
        .find("libvirt_domain_guest_address_info", &by)
        .map(|s| {
            assert_eq!(s.labels["target_device"], lab.tap_of(&s.labels["mac"]));
            ["interface", "mac", "family", "address", "prefix"].map(|l| s.labels[l].clone())
        })
        .collect();
    assert_eq!(exposed, addresses);
    assert_eq!(
        m.get("libvirt_domain_guest_addresses", &by),
        addresses.len() as f64
    );
    // libvirt 9.0 has no guest load: none is made up.
    if !after.contains_key("load.1m") {
        assert_eq!(m.find("libvirt_domain_guest_load1", &[]).count(), 0);
    }
    // A guest without an agent channel: no guest series at all, and no failure.
    assert!(
        m.samples
            .iter()
            .all(|s| !(s.name.starts_with("libvirt_domain_guest")
                && s.labels.get("domain") == Some(&lab.plain))),
        "guest series for {}",
        lab.plain
    );
    assert_eq!(
        m.get(
            "libvirt_exporter_slow_result_stale",
            &[("collector", "guest"), ("domain", &lab.plain)]
        ),
        0.0
    );
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn the_used_bytes_follow_a_file_written_in_the_guest() {
    let lab = lab();
    let agent = lab.agent.as_str();
    let _restore = Restore(&lab, "fill 0");
    let exporter = lab.exporter(agent);
    let key = [("domain", agent), ("mountpoint", "/mnt/data")];
    let used_of = |info: &BTreeMap<String, String>| -> f64 {
        let i = (0..32)
            .find(|i| {
                info.get(&format!("fs.{i}.mountpoint")).map(String::as_str) == Some("/mnt/data")
            })
            .unwrap();
        info[&format!("fs.{i}.used-bytes")].parse().unwrap()
    };
    let mut used = Vec::new();
    for mib in [0, 8, 3] {
        lab.control(&format!("fill {mib}"));
        let expected = used_of(&lab.guestinfo());
        let m = exporter.wait_for("the used bytes virsh shows", |m| {
            m.find("libvirt_domain_guest_filesystem_used_bytes", &key)
                .next()
                .is_some_and(|s| s.value == expected)
        });
        assert_eq!(
            m.find("libvirt_domain_guest_filesystem_used_bytes", &key)
                .next()
                .unwrap()
                .value,
            expected
        );
        used.push(expected);
    }
    const MIB: f64 = 1024.0 * 1024.0;
    assert!(used[1] - used[0] >= 8.0 * MIB, "{used:?}");
    assert!(
        used[1] - used[2] >= 5.0 * MIB && used[2] - used[0] >= 3.0 * MIB,
        "{used:?}"
    );
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn a_frozen_agent_marks_the_guest_data_stale_and_costs_nothing_else() {
    let lab = lab();
    let agent = lab.agent.as_str();
    let exporter = lab.exporter(agent);
    answer_after(&exporter, agent, unix_now());
    let frozen_at = unix_now();
    let restore = Restore(&lab, "agent-cont");
    lab.control("agent-stop");
    // libvirt blocks on the stopped agent: past the 10 s deadline the data is stale.
    let stale = [("collector", "guest"), ("domain", agent)];
    let m = exporter.wait_for("the guest data marked stale", |m| {
        m.value("libvirt_exporter_slow_result_stale", &stale) == Some(1.0)
    });
    assert_eq!(answered(&m, agent), Some(0.0));
    assert_eq!(
        m.get(
            "libvirt_exporter_collector_success",
            &[("collector", "guest")]
        ),
        0.0
    );
    if let Some(t) = m.value(
        "libvirt_domain_guest_agent_last_answer_timestamp_seconds",
        &[("domain", agent)],
    ) {
        assert!(
            t < frozen_at,
            "an answer after the freeze: {t} >= {frozen_at}"
        );
    }
    // Meanwhile every bulk cycle is complete and on time, several in a row.
    let mut last = 0.0;
    for _ in 0..5 {
        let m = exporter.next_snapshot();
        assert_bulk_complete(&m, agent);
        let at = m.get("libvirt_exporter_last_collection_timestamp_seconds", &[]);
        assert!(at > last);
        last = at;
        assert_eq!(
            m.value("libvirt_exporter_slow_result_stale", &stale),
            Some(1.0)
        );
        assert_eq!(answered(&m, agent), Some(0.0));
    }
    let resumed_at = unix_now();
    drop(restore);
    let m = answer_after(&exporter, agent, resumed_at);
    assert_eq!(m.get("libvirt_exporter_slow_result_stale", &stale), 0.0);
    assert_bulk_complete(&m, agent);
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn an_agent_stopped_in_the_guest_shows_as_disconnected_and_back() {
    let lab = lab();
    let agent = lab.agent.as_str();
    let exporter = lab.exporter(agent);
    answer_after(&exporter, agent, unix_now());
    let restore = Restore(&lab, "agent-start");
    lab.control("agent-kill");
    let by = [("domain", agent)];
    let m = exporter.wait_for("the agent's port closed", |m| {
        m.value("libvirt_domain_guest_agent_connected", &by) == Some(0.0)
    });
    assert!(virsh(&lab.uri, &["dumpxml", agent])
        .contains("name='org.qemu.guest_agent.0' state='disconnected'"));
    assert_eq!(answered(&m, agent), Some(0.0));
    // Known, not failed: the closed port is the answer.
    assert_eq!(
        m.get(
            "libvirt_exporter_slow_result_stale",
            &[("collector", "guest"), ("domain", agent)]
        ),
        0.0
    );
    assert_eq!(
        m.find("libvirt_domain_guest_filesystem_size_bytes", &by)
            .count(),
        0
    );
    assert_bulk_complete(&m, agent);
    let started_at = unix_now();
    drop(restore);
    let m = answer_after(&exporter, agent, started_at);
    assert_eq!(m.get("libvirt_domain_guest_agent_connected", &by), 1.0);
    assert_bulk_complete(&m, agent);
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn a_guest_that_reboots_answers_again_and_keeps_its_bulk_statistics() {
    let lab = lab();
    let agent = lab.agent.as_str();
    let exporter = lab.exporter(agent);
    answer_after(&exporter, agent, unix_now());
    let reset_at = unix_now();
    virsh(&lab.uri, &["reset", agent]);
    // The agent's port closes while the guest boots (a few seconds under TCG).
    let m = exporter.wait_for("the agent gone while the guest boots", |m| {
        answered(m, agent) == Some(0.0)
    });
    assert_bulk_complete(&m, agent);
    let m = answer_after(&exporter, agent, reset_at);
    assert_bulk_complete(&m, agent);
    // The data disk was formatted again at boot: nearly empty.
    let used = m
        .find(
            "libvirt_domain_guest_filesystem_used_bytes",
            &[("domain", agent), ("mountpoint", "/mnt/data")],
        )
        .next()
        .unwrap()
        .value;
    assert!(used < 1024.0 * 1024.0, "{used}");
    // Answering for good, not just once.
    let first = m.get(
        "libvirt_domain_guest_agent_last_answer_timestamp_seconds",
        &[("domain", agent)],
    );
    let m = answer_after(&exporter, agent, first);
    assert_bulk_complete(&m, agent);
}
