//! Host families against the real lab (tests/lab/setup.sh): the lab pool, its volumes, the lab
//! network, the node and the versions, each compared with `virsh` (and `qemu-img` or the image
//! file where there is one). Values that move are read before and after the exporter's
//! reading and must lie between them.
//!
//! Tests that need more libvirt objects define their own, named `issue3-host-<pid>-...`, and
//! remove them when they end, also on failure.

mod common;

use common::host::{
    assert_network_matches, assert_node_matches, exported_free_pages, fields, freepages,
    info_labels, number, yes,
};
use common::{promtool_check, virsh, Exporter, Metrics};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

struct Lab {
    uri: String,
    pool: String,
    pool_path: String,
    network: String,
    bridge: String,
}

fn lab() -> Lab {
    let vars = common::lab_env();
    Lab {
        uri: vars["LAB_URI"].clone(),
        pool: vars["LAB_POOL"].clone(),
        pool_path: vars["LAB_POOL_PATH"].clone(),
        network: vars["LAB_NETWORK"].clone(),
        bridge: vars["LAB_BRIDGE"].clone(),
    }
}

/// An exporter on the lab reading host data every second.
fn start(lab: &Lab, extra: &[&str]) -> Exporter {
    let mut args = vec![
        "--libvirt.uri",
        lab.uri.as_str(),
        "--collect.interval",
        "1s",
        "--collector.volume.interval",
        "1s",
    ];
    args.extend_from_slice(extra);
    Exporter::start(&args)
}

/// Waits until `collector` has reported success (domain collection is not waited for: other
/// tests' jobs on the lab guests may hold it up).
fn collected(exporter: &Exporter, collector: &str) -> Metrics {
    exporter.wait_for(&format!("the {collector} collector"), |m| {
        m.value(
            "libvirt_exporter_collector_success",
            &[("collector", collector)],
        ) == Some(1.0)
    })
}

fn assert_between(what: &str, got: f64, before: f64, after: f64, slack: f64) {
    let (lo, hi) = (before.min(after) - slack, before.max(after) + slack);
    assert!(
        lo <= got && got <= hi,
        "{what}: {got} not within [{lo}, {hi}] (virsh before {before}, after {after})"
    );
}

/// A number field of a one-line-per-key JSON document (qemu-img's `--output=json`).
fn json_number(json: &str, key: &str) -> f64 {
    let rest = json
        .split(&format!("\"{key}\":"))
        .nth(1)
        .unwrap_or_else(|| panic!("no {key} in {json}"));
    number(rest.split([',', '\n', '}']).next().unwrap())
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Undoes what a test defined on the lab, in reverse order, when dropped (also on panic).
struct Cleanup {
    uri: String,
    virsh: Vec<Vec<String>>,
    dirs: Vec<PathBuf>,
}

impl Cleanup {
    fn new(uri: &str) -> Self {
        Cleanup {
            uri: uri.to_string(),
            virsh: Vec::new(),
            dirs: Vec::new(),
        }
    }

    fn virsh(&mut self, args: &[&str]) {
        self.virsh
            .push(args.iter().map(|a| a.to_string()).collect());
    }

    /// Defines (not starts) a dir pool named `unique(what)` on a fresh temporary directory,
    /// both removed on drop; returns the pool's name and directory.
    fn define_dir_pool(&mut self, what: &str) -> (String, PathBuf) {
        let pool = unique(what);
        let dir = std::env::temp_dir().join(&pool);
        std::fs::create_dir_all(&dir).unwrap();
        self.dirs.push(dir.clone());
        self.virsh(&["pool-undefine", &pool]);
        virsh(
            &self.uri,
            &[
                "pool-define-as",
                &pool,
                "dir",
                "--target",
                dir.to_str().unwrap(),
            ],
        );
        (pool, dir)
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for args in self.virsh.iter().rev() {
            let _ = Command::new("virsh")
                .args(["-q", "-c", &self.uri])
                .args(args)
                .output();
        }
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A name no other test (or earlier run of this one) uses.
fn unique(what: &str) -> String {
    format!("issue3-host-{}-{what}", std::process::id())
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn the_lab_pool_matches_virsh_pool_info_to_the_byte() {
    let lab = lab();
    let before = fields(&virsh(&lab.uri, &["pool-info", "--bytes", &lab.pool]));
    let exporter = start(&lab, &[]);
    let m = collected(&exporter, "pool");
    let after = fields(&virsh(&lab.uri, &["pool-info", "--bytes", &lab.pool]));
    let key = [("storage_pool", lab.pool.as_str())];
    assert_eq!(before["State"], "running");
    assert_eq!(m.get("libvirt_storage_pool_state", &key), 2.0);
    for (metric, field) in [
        ("libvirt_storage_pool_capacity_bytes", "Capacity"),
        ("libvirt_storage_pool_allocation_bytes", "Allocation"),
        ("libvirt_storage_pool_available_bytes", "Available"),
    ] {
        let got = m.get(metric, &key);
        // libvirt only changes these when the pool is refreshed: one reading or the other.
        assert!(
            got == number(&before[field]) || got == number(&after[field]),
            "{metric}: {got}, virsh said {} then {}",
            before[field],
            after[field]
        );
    }
    let labels = info_labels(&m, "libvirt_storage_pool_info", &key);
    assert_eq!(labels["uuid"], before["UUID"]);
    assert_eq!(labels["type"], "dir");
    assert_eq!(labels["path"], lab.pool_path);
    assert_eq!(labels["persistent"], yes(&before["Persistent"]));
    assert_eq!(labels["autostart"], yes(&before["Autostart"]));
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn lab_volumes_match_vol_info_qemu_img_and_the_image_files() {
    let lab = lab();
    let volumes: Vec<String> = virsh(&lab.uri, &["vol-list", "--pool", &lab.pool])
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert!(volumes.len() >= 4, "{volumes:?}");
    // virsh vol-info, vol-info --physical, qemu-img info, the file's size.
    let read = |vol: &str| {
        let path = format!("{}/{vol}", lab.pool_path);
        let info = fields(&virsh(
            &lab.uri,
            &["vol-info", "--bytes", "--pool", &lab.pool, vol],
        ));
        let physical = fields(&virsh(
            &lab.uri,
            &[
                "vol-info",
                "--bytes",
                "--physical",
                "--pool",
                &lab.pool,
                vol,
            ],
        ));
        let qemu_img = run("qemu-img", &["info", "-U", "--output=json", &path]);
        let file_size = std::fs::metadata(&path).unwrap().len() as f64;
        (info, physical, qemu_img, file_size)
    };
    let before: Vec<_> = volumes.iter().map(|v| read(v)).collect();
    let exporter = start(&lab, &[]);
    let m = collected(&exporter, "volume");
    for (vol, (info, physical, qemu_img, file_size)) in volumes.iter().zip(before) {
        let (info_after, physical_after, qemu_img_after, file_size_after) = read(vol);
        let key = [
            ("storage_pool", lab.pool.as_str()),
            ("volume", vol.as_str()),
        ];
        let capacity = m.get("libvirt_storage_volume_capacity_bytes", &key);
        assert_eq!(capacity, number(&info["Capacity"]), "{vol}");
        assert_eq!(capacity, json_number(&qemu_img, "virtual-size"), "{vol}");
        // Guests write to their disks: allocation and file size may grow while we look.
        let allocation = m.get("libvirt_storage_volume_allocation_bytes", &key);
        let low = number(&info["Allocation"]).min(json_number(&qemu_img, "actual-size"));
        let high =
            number(&info_after["Allocation"]).max(json_number(&qemu_img_after, "actual-size"));
        assert_between(&format!("{vol} allocation"), allocation, low, high, 0.0);
        let physical_bytes = m.get("libvirt_storage_volume_physical_bytes", &key);
        let low = number(&physical["Physical"]).min(file_size);
        let high = number(&physical_after["Physical"]).max(file_size_after);
        assert_between(&format!("{vol} physical"), physical_bytes, low, high, 0.0);
        let labels = info_labels(&m, "libvirt_storage_volume_info", &key);
        assert_eq!(labels["type"], info["Type"]);
        assert_eq!(labels["path"], format!("{}/{vol}", lab.pool_path));
        assert_eq!(labels["format"], "qcow2");
        assert!(qemu_img.contains("\"format\": \"qcow2\""), "{qemu_img}");
    }
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn networks_match_net_list_and_net_info() {
    let lab = lab();
    let listed = |uri: &str| -> Vec<String> {
        virsh(uri, &["net-list", "--all", "--name"])
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    let before = listed(&lab.uri);
    let exporter = start(&lab, &[]);
    let m = collected(&exporter, "network");
    let after = listed(&lab.uri);
    // Other tests may add networks meanwhile: every network in both listings must be there.
    let stable: Vec<&String> = before.iter().filter(|n| after.contains(n)).collect();
    assert!(stable.contains(&&lab.network), "{stable:?}");
    for net in stable {
        assert_network_matches(&m, net, &fields(&virsh(&lab.uri, &["net-info", net])));
    }
    let lab_net = [("network", lab.network.as_str())];
    assert_eq!(m.get("libvirt_network_active", &lab_net), 1.0);
    assert_eq!(
        info_labels(&m, "libvirt_network_info", &lab_net)["bridge"],
        lab.bridge
    );
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn an_inactive_pool_and_network_of_our_own_are_reported_as_inactive() {
    let lab = lab();
    let mut cleanup = Cleanup::new(&lab.uri);
    let (pool, dir) = cleanup.define_dir_pool("pool");
    let net = unique("net");
    let bridge = format!("i3h{}", std::process::id() % 1_000_000);
    let net_xml = dir.join("net.xml");
    std::fs::write(
        &net_xml,
        format!("<network><name>{net}</name><bridge name='{bridge}'/></network>"),
    )
    .unwrap();
    cleanup.virsh(&["net-undefine", &net]);
    virsh(&lab.uri, &["net-define", net_xml.to_str().unwrap()]);

    let exporter = start(&lab, &[]);
    let m = exporter.wait_for("our pool and network", |m| {
        m.value("libvirt_storage_pool_state", &[("storage_pool", &pool)])
            .is_some()
            && m.value("libvirt_network_active", &[("network", &net)])
                .is_some()
    });
    let pool_info = fields(&virsh(&lab.uri, &["pool-info", "--bytes", &pool]));
    assert_eq!(pool_info["State"], "inactive");
    let key = [("storage_pool", pool.as_str())];
    assert_eq!(m.get("libvirt_storage_pool_state", &key), 0.0);
    assert_eq!(m.value("libvirt_storage_pool_capacity_bytes", &key), None);
    let labels = info_labels(&m, "libvirt_storage_pool_info", &key);
    assert_eq!(labels["uuid"], pool_info["UUID"]);
    assert_eq!(labels["path"], dir.to_str().unwrap());
    assert_eq!(labels["persistent"], "true");
    assert_eq!(labels["autostart"], "false");
    assert_eq!(
        m.find("libvirt_storage_volume_info", &[("storage_pool", &pool)])
            .count(),
        0
    );

    let net_info = fields(&virsh(&lab.uri, &["net-info", &net]));
    assert_eq!(net_info["Active"], "no");
    let key = [("network", net.as_str())];
    assert_eq!(m.get("libvirt_network_active", &key), 0.0);
    assert_eq!(m.get("libvirt_network_persistent", &key), 1.0);
    assert_eq!(m.get("libvirt_network_autostart", &key), 0.0);
    let labels = info_labels(&m, "libvirt_network_info", &key);
    assert_eq!(labels["uuid"], net_info["UUID"]);
    assert_eq!(labels["bridge"], bridge);
    drop(cleanup);
    assert!(!virsh(&lab.uri, &["pool-list", "--all", "--name"]).contains(&pool));
    assert!(!virsh(&lab.uri, &["net-list", "--all", "--name"]).contains(&net));
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn pool_refresh_finds_a_volume_file_libvirt_did_not_know() {
    let lab = lab();
    let mut cleanup = Cleanup::new(&lab.uri);
    let (pool, dir) = cleanup.define_dir_pool("refresh");
    cleanup.virsh(&["pool-destroy", &pool]);
    virsh(&lab.uri, &["pool-start", &pool]);
    // Created behind libvirt's back, after the pool started: unknown until a refresh.
    let image = dir.join("new.qcow2");
    run(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            image.to_str().unwrap(),
            "16M",
        ],
    );
    assert!(!virsh(&lab.uri, &["vol-list", "--pool", &pool]).contains("new.qcow2"));

    let exporter = start(
        &lab,
        &["--collector.pool.refresh", "--no-libvirt.read-only"],
    );
    let key = [("storage_pool", pool.as_str()), ("volume", "new.qcow2")];
    let m = exporter.wait_for("the new volume", |m| {
        m.value("libvirt_storage_volume_capacity_bytes", &key)
            .is_some()
    });
    assert_eq!(
        m.get("libvirt_storage_volume_capacity_bytes", &key),
        (16u64 << 20) as f64
    );
    let labels = info_labels(&m, "libvirt_storage_volume_info", &key);
    assert_eq!(labels["format"], "qcow2");
    assert_eq!(labels["path"], image.to_str().unwrap());
    assert!(virsh(&lab.uri, &["vol-list", "--pool", &pool]).contains("new.qcow2"));
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn the_node_matches_nodeinfo_nodecpustats_and_nodememstats() {
    let lab = lab();
    let cpu_before = fields(&virsh(&lab.uri, &["nodecpustats"]));
    let mem_before = fields(&virsh(&lab.uri, &["nodememstats"]));
    let exporter = start(&lab, &[]);
    let m = collected(&exporter, "node");
    let cpu_after = fields(&virsh(&lab.uri, &["nodecpustats"]));
    let mem_after = fields(&virsh(&lab.uri, &["nodememstats"]));

    let info = fields(&virsh(&lab.uri, &["nodeinfo"]));
    assert_node_matches(&m, &info);

    // nodecpustats shows libvirt's `kernel` as `system`; the counters only grow.
    assert_eq!(
        m.find("libvirt_node_cpu_seconds_total", &[]).count(),
        cpu_before.len()
    );
    for (field, mode) in [
        ("user", "user"),
        ("system", "kernel"),
        ("idle", "idle"),
        ("iowait", "iowait"),
    ] {
        let got = m.get("libvirt_node_cpu_seconds_total", &[("mode", mode)]);
        let (b, a) = (
            number(&cpu_before[field]) / 1e9,
            number(&cpu_after[field]) / 1e9,
        );
        assert_between(mode, got, b, a, 1e-6);
    }

    // Memory moves both ways with other work on the machine: total exactly, the rest within
    // 1 GiB of the readings around ours (still far apart from one another here).
    let kib = |v: &BTreeMap<String, String>, f: &str| number(&v[f]) * 1024.0;
    assert_eq!(
        m.get("libvirt_node_memory_total_bytes", &[]),
        kib(&mem_before, "total")
    );
    for field in ["free", "buffers", "cached"] {
        let got = m.get(&format!("libvirt_node_memory_{field}_bytes"), &[]);
        let (b, a) = (kib(&mem_before, field), kib(&mem_after, field));
        assert_between(field, got, b, a, (1u64 << 30) as f64);
    }

    // Per NUMA cell: total exactly (nodememstats --cell), free as above (freecell).
    let cells = number(&info["NUMA cell(s)"]) as usize;
    assert_eq!(
        m.find("libvirt_node_cell_memory_total_bytes", &[]).count(),
        cells
    );
    for sample in m.find("libvirt_node_cell_memory_total_bytes", &[]) {
        let cell = sample.labels["cell"].as_str();
        let stats = fields(&virsh(&lab.uri, &["nodememstats", "--cell", cell]));
        assert_eq!(sample.value, kib(&stats, "total"), "cell {cell}");
        let free = fields(&virsh(&lab.uri, &["freecell", "--cellno", cell]));
        let virsh_free = free.values().next().map(|v| number(v) * 1024.0).unwrap();
        let got = m.get("libvirt_node_cell_memory_free_bytes", &[("cell", cell)]);
        assert_between(
            &format!("cell {cell} free"),
            got,
            virsh_free,
            virsh_free,
            (1u64 << 30) as f64,
        );
    }
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn versions_match_virsh_version_and_the_output_passes_promtool() {
    let lab = lab();
    let exporter = start(&lab, &[]);
    for collector in ["pool", "volume", "network"] {
        collected(&exporter, collector);
    }
    let m = collected(&exporter, "node");
    let v = fields(&virsh(&lab.uri, &["version", "--daemon"]));
    let last_word = |k: &str| v[k].split_whitespace().last().unwrap().to_string();
    let labels = info_labels(&m, "libvirt_versions_info", &[]);
    assert_eq!(labels["libvirt_library"], last_word("Using library"));
    assert_eq!(
        labels["libvirtd_running"],
        last_word("Running against daemon")
    );
    assert_eq!(
        labels["hypervisor_running"],
        last_word("Running hypervisor")
    );
    let text = exporter.get("/metrics").text();
    assert!(text.contains("libvirt_storage_volume_physical_bytes{"));
    let complaints = promtool_check(&text);
    assert!(
        complaints.is_empty(),
        "promtool check metrics:\n{complaints}"
    );
}

/// Puts `/proc/sys/vm/nr_hugepages` back to what it was when dropped (also on panic).
struct RestoreHugepages(String);

impl RestoreHugepages {
    const PATH: &'static str = "/proc/sys/vm/nr_hugepages";

    fn save() -> Self {
        RestoreHugepages(
            std::fs::read_to_string(Self::PATH)
                .unwrap()
                .trim()
                .to_string(),
        )
    }
}

impl Drop for RestoreHugepages {
    fn drop(&mut self) {
        let _ = std::fs::write(Self::PATH, &self.0);
    }
}

/// The kernel's own count of `kib`-sized huge pages of NUMA cell `cell`.
fn sysfs_hugepages(cell: &str, kib: u64, what: &str) -> f64 {
    let path = format!("/sys/devices/system/node/node{cell}/hugepages/hugepages-{kib}kB/{what}");
    number(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// The exporter's free pages against `virsh freepages --all` read around its reading: huge
/// pages exactly (nothing on the lab uses them), base pages within 1 GiB.
fn assert_free_pages_match(m: &Metrics, before: &str, after: &str) {
    let (before, after) = (freepages(before), freepages(after));
    let got = exported_free_pages(m);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (key, value) in &got {
        let (b, a) = (before[key], after[key]);
        if key.1 == 4096 {
            assert_between(
                &format!("{key:?}"),
                *value,
                b,
                a,
                ((1u64 << 30) / 4096) as f64,
            );
        } else {
            assert_eq!((*value, b, a), (a, a, a), "{key:?}");
        }
    }
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn huge_pages_per_cell_match_freepages_sysfs_and_allocpages() {
    let lab = lab();
    let restore = RestoreHugepages::save();
    std::fs::write(RestoreHugepages::PATH, "16").unwrap();
    let exporter = start(&lab, &[]);
    let cells: Vec<String> = freepages(&virsh(&lab.uri, &["freepages", "--all"]))
        .into_keys()
        .map(|(cell, _)| cell)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(!cells.is_empty());
    // The kernel spreads the 16 pages over the cells; each cell's pool as sysfs has it.
    let want: BTreeMap<String, f64> = cells
        .iter()
        .map(|c| (c.clone(), sysfs_hugepages(c, 2048, "nr_hugepages")))
        .collect();
    assert_eq!(want.values().sum::<f64>(), 16.0, "{want:?}");
    let pool = |m: &Metrics, cell: &str| {
        m.value(
            "libvirt_node_cell_pages",
            &[("cell", cell), ("page_size_bytes", "2097152")],
        )
    };
    let before = virsh(&lab.uri, &["freepages", "--all"]);
    let m = exporter.wait_for("16 huge pages of 2 MiB", |m| {
        want.iter().all(|(c, n)| pool(m, c) == Some(*n))
    });
    let after = virsh(&lab.uri, &["freepages", "--all"]);
    assert_free_pages_match(&m, &before, &after);
    for cell in &cells {
        assert_eq!(
            m.get(
                "libvirt_node_cell_pages_free",
                &[("cell", cell), ("page_size_bytes", "2097152")]
            ),
            sysfs_hugepages(cell, 2048, "free_hugepages"),
            "cell {cell}"
        );
        // The cell's memory is its pages of every size: base pages and the huge page pools.
        let in_pages: f64 = m
            .find("libvirt_node_cell_pages", &[("cell", cell)])
            .map(|s| s.value * number(&s.labels["page_size_bytes"]))
            .sum();
        assert_eq!(
            in_pages,
            m.get("libvirt_node_cell_memory_total_bytes", &[("cell", cell)]),
            "cell {cell}"
        );
    }

    // libvirt's own way to size the pool: 24 pages on the first cell.
    let first = cells[0].as_str();
    virsh(&lab.uri, &["allocpages", "--cellno", first, "2048", "24"]);
    assert_eq!(sysfs_hugepages(first, 2048, "nr_hugepages"), 24.0);
    let before = virsh(&lab.uri, &["freepages", "--all"]);
    let m = exporter.wait_for("24 huge pages on the first cell", |m| {
        pool(m, first) == Some(24.0)
    });
    let after = virsh(&lab.uri, &["freepages", "--all"]);
    assert_free_pages_match(&m, &before, &after);
    assert_eq!(
        m.get(
            "libvirt_node_cell_pages_free",
            &[("cell", first), ("page_size_bytes", "2097152")]
        ),
        24.0
    );
    let old = restore.0.clone();
    drop(restore);
    assert_eq!(
        std::fs::read_to_string(RestoreHugepages::PATH)
            .unwrap()
            .trim(),
        old
    );
}

/// `virsh node-memory-tune`: `shm_<name> <value>` lines as name → value.
fn node_memory_tune(uri: &str) -> BTreeMap<String, f64> {
    virsh(uri, &["node-memory-tune"])
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next()?.strip_prefix("shm_")?;
            Some((name.to_string(), number(words.next()?)))
        })
        .collect()
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn ksm_matches_virsh_node_memory_tune() {
    let lab = lab();
    let exporter = start(&lab, &[]);
    let before = node_memory_tune(&lab.uri);
    let m = collected(&exporter, "pages");
    let after = node_memory_tune(&lab.uri);
    assert_eq!(before.len(), 8, "{before:?}");
    for (family, field, factor) in [
        ("libvirt_node_ksm_pages_to_scan", "pages_to_scan", 1.0),
        ("libvirt_node_ksm_sleep_seconds", "sleep_millisecs", 1e-3),
        (
            "libvirt_node_ksm_merge_across_nodes",
            "merge_across_nodes",
            1.0,
        ),
        ("libvirt_node_ksm_pages_shared", "pages_shared", 1.0),
        ("libvirt_node_ksm_pages_sharing", "pages_sharing", 1.0),
        ("libvirt_node_ksm_pages_unshared", "pages_unshared", 1.0),
        ("libvirt_node_ksm_pages_volatile", "pages_volatile", 1.0),
        ("libvirt_node_ksm_full_scans_total", "full_scans", 1.0),
    ] {
        let got = m.get(family, &[]);
        let (b, a) = (before[field] * factor, after[field] * factor);
        assert_between(family, got, b, a, 1e-9);
    }
    let text = exporter.get("/metrics").text();
    assert!(text.contains("# TYPE libvirt_node_ksm_full_scans_total counter\n"));
    assert!(text.contains("# TYPE libvirt_node_ksm_pages_sharing gauge\n"));
}
