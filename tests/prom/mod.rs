//! Shared by tests/deploy.rs and tests/dashboards.rs: the rule files and the dashboards as
//! data, the families docs/metrics.md documents, the metric selectors of a PromQL expression,
//! Grafana's variable substitution, promtool, and a real Prometheus (Debian's
//! `/usr/bin/prometheus`) on loopback that scrapes an exporter on the QEMU lab.
#![allow(dead_code)]

pub mod promql;

use crate::common::guest::{disk_xml, Guest, Undo, Workdir};
use crate::common::http::try_http_get;
use crate::common::{http_get, lab_env, poll_until, virsh, Exporter};
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The rule files of deploy/prometheus, in the order Prometheus loads them.
pub const RULE_FILES: &[&str] = &[
    "deploy/prometheus/libvirt-alerts.rules.yml",
    "deploy/prometheus/libvirt-recording.rules.yml",
    "deploy/prometheus/libvirt-compat.rules.yml",
];

/// Families libvirt reports only during a bounded job, a live migration, which a one-host lab
/// cannot run (the lab tests run a memory dump, an unbounded job, for the other job panels).
/// A query or selector on one of these may come back empty, and only while the family is
/// documented in docs/metrics.md (which tests/docs.rs ties to the code).
pub const ONLY_DURING_MIGRATION: &[&str] = &[
    "libvirt_domain_job_info_time_remaining_seconds",
    "libvirt_domain_job_info_data_total_bytes",
    "libvirt_domain_job_info_data_processed_bytes",
    "libvirt_domain_job_info_data_remaining_bytes",
];

/// `(family, label, value)` that rules select on and the lab cannot show, because no lab
/// guest crashes, fails, hangs in a transitional state or hits a disk error. A selector that
/// matches nothing on the lab is accepted only if each of its `=`/`=~` values is either seen
/// on the family in the lab or listed here (and every value listed here must be a value
/// docs/metrics.md names).
pub const VALUES_THE_LAB_CANNOT_SHOW: &[(&str, &str, &str)] = &[
    ("libvirt_domain_info_state", "reason", "ioerror"),
    ("libvirt_domain_info_state", "reason", "crashed"),
    ("libvirt_domain_info_state", "reason", "failed"),
    ("libvirt_domain_info_state", "state_desc", "nostate"),
    ("libvirt_domain_info_state", "state_desc", "blocked"),
    ("libvirt_domain_info_state", "state_desc", "shutdown"),
    ("libvirt_domain_info_state", "state_desc", "crashed"),
    ("libvirt_domain_info_state", "state_desc", "pmsuspended"),
];

pub fn path(rel: &str) -> PathBuf {
    Path::new(ROOT).join(rel)
}

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

pub fn yaml(rel: &str) -> Yaml {
    serde_yaml_ng::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"))
}

/// Every document of a multi-document YAML file.
pub fn yaml_documents(rel: &str) -> Vec<Yaml> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(&read(rel))
        .map(|doc| Yaml::deserialize(doc).unwrap_or_else(|e| panic!("{rel}: bad YAML: {e}")))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// The exposed names (with `_total` on counters) in the metric tables of docs/metrics.md.
pub fn documented_families() -> BTreeSet<String> {
    let doc = read("docs/metrics.md");
    let mut names = BTreeSet::new();
    let mut in_table = false;
    for line in doc.lines() {
        let line = line.trim();
        if line.starts_with("| Metric |") {
            in_table = true;
            continue;
        }
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        if in_table {
            let cell = line.trim_start_matches('|').split('|').next().unwrap_or("");
            let cell = cell.trim();
            if let Some(name) = cell.strip_prefix('`').and_then(|c| c.strip_suffix('`')) {
                names.insert(name.to_string());
            }
        }
    }
    assert!(
        !names.is_empty(),
        "no metric tables found in docs/metrics.md"
    );
    names
}

/// Families QEMU never reports, whatever the lab does: libvirt's block `errors` is Xen's
/// oo_req count. A compatibility rule still recreates an older name from it.
pub const NEVER_ON_QEMU: &[&str] = &["libvirt_domain_block_stats_xen_oo_requests_total"];

/// Whether an empty answer for `family` is tolerated (see [`ONLY_DURING_MIGRATION`] and
/// [`NEVER_ON_QEMU`]).
pub fn tolerated_absent(family: &str, documented: &BTreeSet<String>) -> bool {
    (ONLY_DURING_MIGRATION.contains(&family) || NEVER_ON_QEMU.contains(&family))
        && documented.contains(family)
}

// ------------------------------------------------------------------------------- rules

#[derive(Debug, Clone)]
pub struct Rule {
    pub file: String,
    pub group: String,
    /// `Some(name)` for an alert, `None` for a recording rule.
    pub alert: Option<String>,
    pub record: Option<String>,
    pub expr: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

impl Rule {
    pub fn name(&self) -> &str {
        self.alert.as_deref().or(self.record.as_deref()).unwrap()
    }
}

fn string_map(v: Option<&Yaml>) -> BTreeMap<String, String> {
    v.and_then(Yaml::as_mapping)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Yaml::String(s) => s.clone(),
                        other => serde_yaml_ng::to_string(other).unwrap().trim().to_string(),
                    };
                    (k.as_str().unwrap().to_string(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The `groups` of every file of [`RULE_FILES`], as YAML values.
pub fn rule_groups() -> Vec<Yaml> {
    RULE_FILES
        .iter()
        .flat_map(|f| {
            yaml(f)["groups"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{f}: no `groups` list"))
                .clone()
        })
        .collect()
}

pub fn rules() -> Vec<Rule> {
    let mut out = Vec::new();
    for file in RULE_FILES {
        let doc = yaml(file);
        for group in doc["groups"].as_sequence().unwrap() {
            let gname = group["name"].as_str().unwrap().to_string();
            for r in group["rules"].as_sequence().unwrap() {
                out.push(Rule {
                    file: file.to_string(),
                    group: gname.clone(),
                    alert: r["alert"].as_str().map(str::to_string),
                    record: r["record"].as_str().map(str::to_string),
                    expr: r["expr"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{file}: a rule without expr"))
                        .to_string(),
                    labels: string_map(r.get("labels")),
                    annotations: string_map(r.get("annotations")),
                });
            }
        }
    }
    out
}

/// Names the recording rules produce.
pub fn recorded_names() -> BTreeSet<String> {
    rules().into_iter().filter_map(|r| r.record).collect()
}

// ------------------------------------------------------------------------------- dashboards

pub struct Dashboard {
    pub file: String,
    pub json: Json,
}

pub fn dashboards() -> Vec<Dashboard> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(path("dashboards"))
        .expect("dashboards/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no dashboards/*.json");
    files
        .into_iter()
        .map(|p| {
            let file = format!("dashboards/{}", p.file_name().unwrap().to_string_lossy());
            let json = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{file} is not JSON: {e}"));
            Dashboard { file, json }
        })
        .collect()
}

/// One PromQL query of a dashboard: a panel target or an annotation.
#[derive(Debug, Clone)]
pub struct PanelQuery {
    pub file: String,
    /// "panel 12 \"CPU used\" A" or "annotation \"Lifecycle events\"".
    pub what: String,
    pub panel_id: Option<i64>,
    pub expr: String,
}

/// Every panel, rows' nested panels included.
pub fn panels(d: &Dashboard) -> Vec<&Json> {
    fn walk<'a>(list: &'a Json, out: &mut Vec<&'a Json>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&d.json["panels"], &mut out);
    out
}

pub fn panel_queries(d: &Dashboard) -> Vec<PanelQuery> {
    let mut out = Vec::new();
    for p in panels(d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(PanelQuery {
                file: d.file.clone(),
                what: format!(
                    "panel {} {:?} {}",
                    p["id"],
                    p["title"].as_str().unwrap_or(""),
                    t["refId"].as_str().unwrap_or("?")
                ),
                panel_id: p["id"].as_i64(),
                expr: t["expr"].as_str().unwrap_or("").to_string(),
            });
        }
    }
    out
}

pub fn annotation_queries(d: &Dashboard) -> Vec<PanelQuery> {
    d.json["annotations"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["builtIn"].as_i64() != Some(1))
        .map(|a| PanelQuery {
            file: d.file.clone(),
            what: format!("annotation {:?}", a["name"].as_str().unwrap_or("")),
            panel_id: None,
            expr: a["expr"].as_str().unwrap_or("").to_string(),
        })
        .collect()
}

/// A template variable: name, type and (for query variables) its query.
#[derive(Debug, Clone)]
pub struct Variable {
    pub name: String,
    pub kind: String,
    pub query: Option<String>,
    pub json: Json,
}

pub fn variables(d: &Dashboard) -> Vec<Variable> {
    d.json["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            let query = match &v["query"] {
                Json::String(s) => Some(s.clone()),
                Json::Object(o) => o.get("query").and_then(Json::as_str).map(str::to_string),
                _ => None,
            };
            Variable {
                name: v["name"].as_str().unwrap_or("").to_string(),
                kind: v["type"].as_str().unwrap_or("").to_string(),
                query,
                json: v.clone(),
            }
        })
        .collect()
}

/// Grafana's global variables the dashboards may use.
pub const GRAFANA_BUILTINS: &[&str] = &[
    "__rate_interval",
    "__interval",
    "__interval_ms",
    "__range",
    "__range_s",
    "__range_ms",
    "__from",
    "__to",
    "__name",
    "__dashboard",
];

/// The variables `text` refers to: `$name`, `${name}`, `${name:format}`, `[[name]]`.
pub fn referenced_variables(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    substitute_with(text, |name| {
        out.push(name.to_string());
        Some(String::new())
    })
    .unwrap();
    out
}

/// Replaces Grafana variable references with `values`; an unknown name is an error.
pub fn substitute(text: &str, values: &BTreeMap<String, String>) -> Result<String, String> {
    substitute_with(text, |name| values.get(name).cloned())
}

fn substitute_with(
    text: &str,
    mut value: impl FnMut(&str) -> Option<String>,
) -> Result<String, String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find(['$', '[']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let (name, len) = if let Some(braced) = tail.strip_prefix("${") {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
            let inner = &braced[..end];
            (inner.split(':').next().unwrap().to_string(), end + 3)
        } else if let Some(bracketed) = tail.strip_prefix("[[") {
            match bracketed.find("]]") {
                Some(end) if bracketed[..end].chars().all(is_name) && end > 0 => {
                    (bracketed[..end].to_string(), end + 4)
                }
                _ => {
                    out.push('[');
                    rest = &tail[1..];
                    continue;
                }
            }
        } else if let Some(plain) = tail.strip_prefix('$') {
            let end = plain.find(|c: char| !is_name(c)).unwrap_or(plain.len());
            // "$1" in label_replace is a regex group, not a variable
            if end == 0 || plain.starts_with(|c: char| c.is_ascii_digit()) {
                out.push('$');
                rest = plain;
                continue;
            }
            (plain[..end].to_string(), end + 1)
        } else {
            out.push('[');
            rest = &tail[1..];
            continue;
        };
        let v = value(&name).ok_or_else(|| format!("unknown variable ${name} in {text:?}"))?;
        out.push_str(&v);
        rest = &tail[len..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `label_values(selector, label)` or `label_values(label)` of a query variable.
pub fn parse_label_values(query: &str) -> Option<(Option<String>, String)> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")?
        .strip_suffix(')')?;
    match inner.rfind(',') {
        Some(comma) => Some((
            Some(inner[..comma].trim().to_string()),
            inner[comma + 1..].trim().to_string(),
        )),
        None => Some((None, inner.trim().to_string())),
    }
}

/// Escapes a value for use inside a PromQL regex matcher.
pub fn regex_escape(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

// ------------------------------------------------------------------------------- promtool

pub fn promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool runs (apt-get install prometheus; scripts/test installs it)");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Checks that each expression parses, by writing them as recording rules named after
/// their index and running `promtool check rules`. Returns promtool's complaints.
pub fn promtool_check_expressions(exprs: &[(String, String)]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("expressions.rules.yml");
    let mut yaml = String::from("groups:\n  - name: expressions\n    rules:\n");
    for (i, (_, expr)) in exprs.iter().enumerate() {
        let _ = writeln!(
            yaml,
            "      - record: expression_{i}\n        expr: {}",
            serde_json::to_string(expr).unwrap()
        );
    }
    std::fs::write(&file, yaml).unwrap();
    let (ok, out) = promtool(&["check", "rules", file.to_str().unwrap()]);
    if ok {
        return Ok(());
    }
    // name the queries promtool refers to ("expression_<n>")
    let mut msg = out.clone();
    for (i, (what, expr)) in exprs.iter().enumerate() {
        if out.contains(&format!("\"expression_{i}\"")) {
            let _ = write!(msg, "\n  expression_{i} is {what}: {expr}");
        }
    }
    Err(msg)
}

// ------------------------------------------------------------------------------- the lab

/// The first running lab guest, the lab pool and the lab network.
pub struct LabNames {
    pub uri: String,
    pub domain: String,
    pub pool: String,
    pub network: String,
}

pub fn lab_names() -> LabNames {
    let env = lab_env();
    LabNames {
        uri: env["LAB_URI"].clone(),
        domain: env["LAB_RUNNING"]
            .split_whitespace()
            .next()
            .unwrap()
            .to_string(),
        pool: env["LAB_POOL"].clone(),
        network: env["LAB_NETWORK"].clone(),
    }
}

/// An exporter on the lab collecting every second, for Prometheus to scrape every second.
pub fn lab_exporter(lab: &LabNames) -> Exporter {
    Exporter::start(&[
        "--libvirt.uri",
        &lab.uri,
        "--collect.interval",
        "1s",
        // the lab is shared: let a slow cycle finish rather than count it as libvirt down
        "--collect.timeout",
        "10s",
        "--collect.max-age",
        "60s",
        "--collector.volume.interval",
        "2s",
        // the dashboards' job panels need the test's job seen within seconds, even one that
        // does not pause the domain
        "--collector.job.interval",
        "2s",
        // the I/O limits of the rules and panels (see `LabConditions`)
        "--collector.iotune",
    ])
}

/// What the shared lab guests lack for every rule and dashboard panel to have data, for the
/// time of a test: I/O limits (a total one on the dashboards' domain, read and write ones on
/// a guest of this fixture's own, `hl-conditions`), far above what the guests do, and a
/// snapshot of that guest. Set up before the exporter starts, which reads limits and
/// snapshots at once and then only every minute or five; undone when dropped.
pub struct LabConditions {
    _undo: Undo,
    _guest: Guest,
}

/// 1 GiB/s: a limit the lab's guests never come near.
const FAR_ABOVE: &str = "1073741824";

pub fn lab_conditions(lab: &LabNames) -> LabConditions {
    let mut undo = Undo::new(&lab.uri);
    #[rustfmt::skip]
    undo.push(&[
        "blkdeviotune", &lab.domain, "vda", "--live", "--total-bytes-sec", "0",
        "--total-iops-sec", "0",
    ]);
    #[rustfmt::skip]
    virsh(&lab.uri, &[
        "blkdeviotune", &lab.domain, "vda", "--live", "--total-bytes-sec", FAR_ABOVE,
        "--total-iops-sec", "100000",
    ]);
    let dir = Workdir::new("conditions");
    let vda = disk_xml(&dir.halting_disk("vda.qcow2", 0), "qcow2", "vda", "");
    let guest = Guest::firmware("conditions", dir, &vda);
    #[rustfmt::skip]
    guest.virsh(&[
        "blkdeviotune", "vda", "--live", "--read-bytes-sec", FAR_ABOVE, "--write-bytes-sec",
        FAR_ABOVE,
    ]);
    guest.virsh(&["snapshot-create-as", "hl-conditions"]);
    LabConditions {
        _undo: undo,
        _guest: guest,
    }
}

/// prometheus.yml for the lab: the shipped file-SD example (its job name and relabeling), a
/// one-second scrape and evaluation interval, the shipped rule files, and a target file
/// naming `exporter`.
pub fn lab_prometheus_config(exporter: SocketAddr, dir: &Path) -> String {
    let mut config = yaml("deploy/prometheus/prometheus-file-sd.yml");
    let targets = dir.join("targets.yml");
    std::fs::write(&targets, format!("- targets: [\"{exporter}\"]\n")).unwrap();
    config["global"]["scrape_interval"] = "1s".into();
    config["global"]["evaluation_interval"] = "1s".into();
    config["rule_files"] = Yaml::Sequence(
        RULE_FILES
            .iter()
            .map(|f| path(f).to_string_lossy().into_owned().into())
            .collect(),
    );
    let job = &mut config["scrape_configs"][0];
    job["scrape_timeout"] = "1s".into();
    job["file_sd_configs"][0]["files"] =
        Yaml::Sequence(vec![targets.to_string_lossy().into_owned().into()]);
    job["file_sd_configs"][0]["refresh_interval"] = "1s".into();
    serde_yaml_ng::to_string(&config).unwrap()
}

// ------------------------------------------------------------------------------- Prometheus

/// A real Prometheus on a loopback port with its own temporary storage, killed when dropped.
pub struct Prometheus {
    child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

/// One sample of an instant query.
#[derive(Debug, Clone)]
pub struct PromSample {
    pub labels: BTreeMap<String, String>,
    pub value: String,
}

fn free_loopback_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Prometheus {
    /// Starts `/usr/bin/prometheus` with the config `config(dir)` returns and waits until it
    /// is ready.
    pub fn start(config: impl FnOnce(&Path) -> String) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config_file = dir.path().join("prometheus.yml");
        std::fs::write(&config_file, config(dir.path())).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_loopback_port())
            .parse()
            .unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("/usr/bin/prometheus starts (apt-get install prometheus)");
        let mut prom = Prometheus { child, addr, dir };
        let ready = poll_until(
            Duration::from_secs(60),
            Duration::from_millis(200),
            || {
                if let Some(status) = prom.child.try_wait().unwrap() {
                    panic!("prometheus exited with {status}:\n{}", prom.log());
                }
                try_http_get(addr, "/-/ready", &[]).is_ok_and(|r| r.status == 200)
            },
            |ready| *ready,
        );
        assert!(ready, "prometheus not ready within 60 s:\n{}", prom.log());
        prom
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    fn api(&self, path_and_query: &str) -> Result<Json, String> {
        let r = http_get(self.addr, path_and_query, &[]);
        let body: Json = serde_json::from_slice(&r.body)
            .map_err(|e| format!("HTTP {}: not JSON ({e}): {}", r.status, r.text()))?;
        if body["status"] != "success" {
            return Err(format!(
                "{}: {}",
                body["errorType"].as_str().unwrap_or("error"),
                body["error"].as_str().unwrap_or("")
            ));
        }
        Ok(body["data"].clone())
    }

    /// An instant query at the current time.
    pub fn query(&self, expr: &str) -> Result<Vec<PromSample>, String> {
        let data = self.api(&format!("/api/v1/query?query={}", encode(expr)))?;
        let result = data["result"].as_array().cloned().unwrap_or_default();
        Ok(result
            .into_iter()
            .map(|s| PromSample {
                labels: s["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect(),
                value: s["value"][1].as_str().unwrap_or("").to_string(),
            })
            .collect())
    }

    /// The label sets of the series `selector` matches (in the last few minutes).
    pub fn series(&self, selector: &str) -> Result<Vec<BTreeMap<String, String>>, String> {
        let data = self.api(&format!("/api/v1/series?match[]={}", encode(selector)))?;
        Ok(data
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|s| {
                s.as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect()
            })
            .collect())
    }

    /// Polls `expr` until it returns data (at most `limit`); the last answer either way.
    pub fn query_until_data(&self, expr: &str, limit: Duration) -> Result<Vec<PromSample>, String> {
        poll_until(
            limit,
            Duration::from_millis(500),
            || self.query(expr),
            |r| !matches!(r, Ok(v) if v.is_empty()),
        )
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Sets up the [`LabConditions`], starts an exporter on the lab and a Prometheus scraping it
/// with the shipped rules, and waits until the series every check needs are there: domain
/// statistics with rates, the recording rules over them, the host collectors' series, the
/// limits and the snapshot.
pub fn lab_prometheus(lab: &LabNames) -> (Exporter, Prometheus, String, LabConditions) {
    let conditions = lab_conditions(lab);
    let exporter = lab_exporter(lab);
    let addr = exporter.addr;
    let prom = Prometheus::start(|dir| lab_prometheus_config(addr, dir));
    let d = &lab.domain;
    let ready = [
        format!("libvirt_domain_info_state{{domain=\"{d}\"}}"),
        format!("domain:libvirt_domain_info_cpu_time_seconds:rate5m{{domain=\"{d}\"}}"),
        format!("domain:libvirt_domain_block_stats_bytes:rate5m{{domain=\"{d}\"}}"),
        format!(
            "network:libvirt_domain_interface_stats_receive_bytes:rate5m{{network=\"{}\"}}",
            lab.network
        ),
        format!(
            "libvirt_storage_volume_info{{storage_pool=\"{}\"}}",
            lab.pool
        ),
        "libvirt_node_cpus".to_string(),
        format!("libvirt_domain_block_limit_bytes_per_second{{domain=\"{d}\"}}"),
        "libvirt_domain_block_limit_bytes_per_second{domain=\"hl-conditions\"}".to_string(),
        "libvirt_domain_snapshot_oldest_timestamp_seconds{domain=\"hl-conditions\"}".to_string(),
    ];
    for expr in &ready {
        let r = prom.query_until_data(expr, Duration::from_secs(120));
        assert!(
            matches!(&r, Ok(v) if !v.is_empty()),
            "Prometheus never got {expr}: {r:?}\nexporter log:\n{}\nprometheus log:\n{}",
            exporter.log(),
            prom.log()
        );
    }
    let instance = prom.query("libvirt_up").unwrap()[0].labels["instance"].clone();
    (exporter, prom, instance, conditions)
}

/// How a selector fared against the lab's Prometheus.
#[derive(Debug, PartialEq)]
pub enum SelectorCheck {
    /// It matches series.
    Matches,
    /// Its family exists only during a migration (see [`ONLY_DURING_MIGRATION`]).
    ToleratedAbsent,
    /// It matches nothing, but only because of values in [`VALUES_THE_LAB_CANNOT_SHOW`].
    ValuesTheLabCannotShow,
    /// It matches nothing, and that is wrong: the reason.
    Fails(String),
}

/// Checks one selector (see [`SelectorCheck`]).
pub fn check_selector(
    prom: &Prometheus,
    sel: &promql::Selector,
    documented: &BTreeSet<String>,
) -> SelectorCheck {
    match prom.query(&format!("count({})", sel.text)) {
        Err(e) => return SelectorCheck::Fails(format!("query error: {e}")),
        Ok(v) if !v.is_empty() => return SelectorCheck::Matches,
        Ok(_) => {}
    }
    if tolerated_absent(&sel.metric, documented) {
        return SelectorCheck::ToleratedAbsent;
    }
    let series = match prom.series(&sel.metric) {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => return SelectorCheck::Fails(format!("no series of {} at all", sel.metric)),
        Err(e) => return SelectorCheck::Fails(e),
    };
    let mut explained = false;
    for m in &sel.matchers {
        let seen: BTreeSet<&str> = series
            .iter()
            .filter_map(|s| s.get(&m.label).map(String::as_str))
            .collect();
        if seen.is_empty() {
            return SelectorCheck::Fails(format!(
                "no series of {} has label {}",
                sel.metric, m.label
            ));
        }
        let values: Vec<&str> = match m.op.as_str() {
            "=" => vec![m.value.as_str()],
            "=~" if m
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_|-".contains(c)) =>
            {
                m.value.split('|').collect()
            }
            _ => continue,
        };
        for v in values {
            if seen.contains(v) {
                continue;
            }
            if VALUES_THE_LAB_CANNOT_SHOW.contains(&(sel.metric.as_str(), m.label.as_str(), v)) {
                explained = true;
                continue;
            }
            return SelectorCheck::Fails(format!(
                "{}=\"{v}\" is not on any series of {} (seen: {seen:?})",
                m.label, sel.metric
            ));
        }
    }
    if explained {
        SelectorCheck::ValuesTheLabCannotShow
    } else {
        SelectorCheck::Fails("matches no series".into())
    }
}
