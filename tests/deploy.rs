//! What deploy/ ships, checked with the real tools: the Prometheus rules with `promtool check
//! rules` and `promtool test rules` (a firing and a quiet case for every alert, a case for
//! every recording and compatibility rule), the runbook behind every alert, the scrape
//! examples with `promtool check config`, the systemd unit with `systemd-analyze`, the
//! Kubernetes manifests parsed and cross-checked (and the PrometheusRule generated from the
//! rule files), the Debian package built with cargo-deb, installed, run and removed, and, on
//! the QEMU lab, every selector of every rule matching series in a real Prometheus.

mod common;
mod prom;

use common::{http_get, poll_until, Metrics};
use prom::promql::{metric_names, selectors};
use prom::{
    documented_families, lab_names, lab_prometheus, path, read, recorded_names, rule_groups, rules,
    yaml, yaml_documents, RULE_FILES, VALUES_THE_LAB_CANNOT_SHOW,
};
use serde_yaml_ng::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const UNIT: &str = "deploy/systemd/libvirt-exporter.service";
const ENV_FILE: &str = "deploy/systemd/libvirt-exporter.default";
const PROMETHEUS_RULE: &str = "deploy/kubernetes/prometheusrule.yaml";
const BLESS: &str = "LIBVIRT_EXPORTER_BLESS";

// ----------------------------------------------------------------------------- rules

#[test]
fn the_rule_files_pass_promtool_check_rules() {
    for file in RULE_FILES {
        let (ok, out) = prom::promtool(&["check", "rules", path(file).to_str().unwrap()]);
        assert!(ok, "promtool check rules {file}:\n{out}");
        assert!(
            out.contains("SUCCESS") && !out.contains("WARNING"),
            "promtool check rules {file}:\n{out}"
        );
    }
}

fn test_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(path("deploy/tests"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".test.yml"))
        .map(|n| format!("deploy/tests/{n}"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_rule_unit_tests_pass_promtool_test_rules() {
    let files = test_files();
    assert_eq!(
        files,
        [
            "deploy/tests/alerts.test.yml",
            "deploy/tests/compat.test.yml",
            "deploy/tests/recording.test.yml"
        ]
    );
    let paths: Vec<String> = files
        .iter()
        .map(|f| path(f).to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["test", "rules"];
    args.extend(paths.iter().map(String::as_str));
    let (ok, out) = prom::promtool(&args);
    assert!(ok, "promtool test rules:\n{out}");
    assert_eq!(
        out.matches("SUCCESS").count(),
        files.len(),
        "promtool test rules:\n{out}"
    );
}

/// GitHub's anchor for a Markdown heading.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn every_alert_has_a_severity_a_summary_a_description_and_a_runbook_section() {
    let runbook = read("docs/runbook.md");
    let sections: BTreeSet<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(anchor)
        .collect();
    let alerts: Vec<_> = rules().into_iter().filter(|r| r.alert.is_some()).collect();
    assert!(alerts.len() >= 12, "only {} alert rules", alerts.len());
    for a in &alerts {
        let name = a.name();
        let severity = a.labels.get("severity").map(String::as_str);
        assert!(
            matches!(severity, Some("warning" | "critical")),
            "{name}: severity {severity:?}"
        );
        for key in ["summary", "description", "runbook_url"] {
            assert!(
                a.annotations.get(key).is_some_and(|v| !v.trim().is_empty()),
                "{name}: no {key} annotation"
            );
        }
        let url = &a.annotations["runbook_url"];
        let section = anchor(name);
        assert_eq!(
            url,
            &format!("docs/runbook.md#{section}"),
            "{name}: runbook_url"
        );
        assert!(
            sections.contains(&section),
            "{name}: docs/runbook.md has no section \"## {name}\""
        );
        assert!(
            !a.annotations["description"].contains('\n'),
            "{name}: description should be one paragraph (use >-)"
        );
    }
    // and no runbook section for an alert that does not exist
    let names: BTreeSet<String> = alerts.iter().map(|a| anchor(a.name())).collect();
    for s in &sections {
        assert!(
            names.contains(s),
            "docs/runbook.md has a section for no alert: {s}"
        );
    }
    // the alerts the deployment promises
    for wanted in [
        "LibvirtExporterDown",
        "LibvirtUnreachable",
        "LibvirtCollectionStale",
        "LibvirtDomainCrashed",
        "LibvirtDomainPausedOnIOError",
        "LibvirtDomainPausedTooLong",
        "LibvirtRunningDomainsDropped",
        "LibvirtStoragePoolAlmostFull",
        "LibvirtStoragePoolFillingUp",
        "LibvirtStoragePoolInactive",
        "LibvirtDomainHighVcpuDelay",
    ] {
        assert!(
            alerts.iter().any(|a| a.name() == wanted),
            "no alert {wanted}"
        );
    }
    let io = alerts
        .iter()
        .find(|a| a.name() == "LibvirtDomainPausedOnIOError")
        .unwrap();
    assert_eq!(io.labels["severity"], "critical");
    assert_eq!(
        io.expr.trim(),
        r#"libvirt_domain_info_state{state_desc="paused", reason="ioerror"}"#
    );
    let filling = alerts
        .iter()
        .find(|a| a.name() == "LibvirtStoragePoolFillingUp")
        .unwrap();
    assert!(filling.expr.contains("predict_linear("), "{}", filling.expr);
}

#[test]
fn every_alert_is_tested_firing_and_quiet_and_every_recorded_name_is_tested() {
    let mut firing = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    let mut queried = Vec::new();
    for file in test_files() {
        let doc = yaml(&file);
        for case in doc["tests"].as_sequence().unwrap() {
            for t in case["alert_rule_test"].as_sequence().into_iter().flatten() {
                let name = t["alertname"].as_str().unwrap().to_string();
                let expected = t["exp_alerts"].as_sequence().map_or(0, Vec::len);
                if expected > 0 {
                    firing.insert(name);
                } else {
                    quiet.insert(name);
                }
            }
            for t in case["promql_expr_test"].as_sequence().into_iter().flatten() {
                queried.push(t["expr"].as_str().unwrap().to_string());
            }
        }
    }
    let queried_names: BTreeSet<String> = metric_names(queried.iter().map(String::as_str))
        .into_iter()
        .collect();
    for r in rules() {
        match (&r.alert, &r.record) {
            (Some(a), _) => {
                assert!(firing.contains(a), "no test case where {a} fires");
                assert!(quiet.contains(a), "no test case where {a} must not fire");
            }
            (_, Some(name)) => assert!(
                queried_names.contains(name),
                "{}: no promql_expr_test for {name}",
                r.file
            ),
            _ => unreachable!(),
        }
    }
}

#[test]
fn every_metric_the_rules_use_is_exported_recorded_or_prometheus_own() {
    let documented = documented_families();
    let recorded = recorded_names();
    for r in rules() {
        for s in selectors(&r.expr) {
            assert!(
                documented.contains(&s.metric) || recorded.contains(&s.metric) || s.metric == "up",
                "{} {}: {} is neither in docs/metrics.md nor recorded",
                r.file,
                r.name(),
                s.metric
            );
        }
    }
    // the lab allowlist names only values the docs name
    let doc = read("docs/metrics.md");
    for (family, label, value) in VALUES_THE_LAB_CANNOT_SHOW {
        assert!(documented.contains(*family), "{family}");
        assert!(
            doc.contains(&format!("`{value}`")) || doc.contains(&format!("= `{value}`")),
            "VALUES_THE_LAB_CANNOT_SHOW: {label}=\"{value}\" is not a value docs/metrics.md names"
        );
    }
}

#[test]
fn compatibility_rules_recreate_only_old_names_the_exporter_lacks_and_are_documented() {
    let documented = documented_families();
    let doc = read("docs/metrics.md");
    let section = doc
        .split("## Names from other exporters")
        .nth(1)
        .expect("docs/metrics.md has a \"Names from other exporters\" section");
    let section = section.split("\n## ").next().unwrap();
    let compat: Vec<_> = rules()
        .into_iter()
        .filter(|r| r.file.ends_with("libvirt-compat.rules.yml"))
        .collect();
    assert!(compat.len() >= 10);
    let peers = std::fs::read_to_string("/work/shared/reference/peer-metrics.md").ok();
    for r in &compat {
        let name = r
            .record
            .as_deref()
            .expect("only recording rules in the compat file");
        assert!(
            !documented.contains(name),
            "{name} is exported by the exporter itself: a recording rule would duplicate it"
        );
        let row = section
            .lines()
            .find(|l| l.starts_with('|') && l.contains(&format!("`{name}`")))
            .unwrap_or_else(|| {
                panic!("docs/metrics.md \"Names from other exporters\" has no row for {name}")
            });
        assert!(
            row.contains("libvirt-compat.rules.yml"),
            "the docs row of {name} does not say the compatibility rules recreate it: {row}"
        );
        if let Some(peers) = &peers {
            let stem = name.trim_end_matches("_total");
            assert!(
                peers.contains(stem) || doc.contains(name),
                "{name} is not an older exporter's name"
            );
        }
    }
    // libvirt_domain_memory_stats_used_percent is exported, so it needs no rule
    assert!(documented.contains("libvirt_domain_memory_stats_used_percent"));
}

// ----------------------------------------------------------------------------- Kubernetes

fn expected_prometheus_rule() -> Yaml {
    let doc = "apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: libvirt-exporter
  labels:
    app.kubernetes.io/name: libvirt-exporter
spec:
  groups: []
";
    let mut v: Yaml = serde_yaml_ng::from_str(doc).unwrap();
    v["spec"]["groups"] = Yaml::Sequence(rule_groups());
    v
}

#[test]
fn the_prometheus_rule_carries_exactly_the_groups_of_the_rule_files() {
    let expected = expected_prometheus_rule();
    if std::env::var(BLESS).as_deref() == Ok("1") {
        let text = format!(
            "# GENERATED from deploy/prometheus/libvirt-*.rules.yml: do not edit. After changing the\n# rules, regenerate with `{BLESS}=1 cargo test --test deploy prometheus_rule`.\n{}",
            serde_yaml_ng::to_string(&expected).unwrap()
        );
        std::fs::write(path(PROMETHEUS_RULE), text).unwrap();
    }
    let actual = yaml(PROMETHEUS_RULE);
    assert!(
        actual == expected,
        "{PROMETHEUS_RULE} has drifted from the rule files; regenerate it with\n  {BLESS}=1 cargo test --test deploy prometheus_rule"
    );
    // and it is what promtool accepts as a rule file
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("from-prometheusrule.yml");
    let mut groups = serde_yaml_ng::Mapping::new();
    groups.insert("groups".into(), actual["spec"]["groups"].clone());
    std::fs::write(&file, serde_yaml_ng::to_string(&groups).unwrap()).unwrap();
    let (ok, out) = prom::promtool(&["check", "rules", file.to_str().unwrap()]);
    assert!(ok, "{out}");
}

fn manifests() -> BTreeMap<String, Yaml> {
    let mut by_kind = BTreeMap::new();
    for file in [
        "namespace.yaml",
        "daemonset.yaml",
        "service.yaml",
        "servicemonitor.yaml",
        "prometheusrule.yaml",
    ] {
        for doc in yaml_documents(&format!("deploy/kubernetes/{file}")) {
            let kind = doc["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{file}: no kind"))
                .to_string();
            assert!(
                doc["apiVersion"].as_str().is_some(),
                "{file}: no apiVersion"
            );
            assert!(
                doc["metadata"]["name"].as_str().is_some(),
                "{file}: no name"
            );
            assert!(by_kind.insert(kind.clone(), doc).is_none(), "two {kind}s");
        }
    }
    by_kind
}

#[test]
fn the_kubernetes_manifests_parse_and_fit_together() {
    let m = manifests();
    let kinds: Vec<&str> = m.keys().map(String::as_str).collect();
    assert_eq!(
        kinds,
        [
            "DaemonSet",
            "Namespace",
            "PrometheusRule",
            "Service",
            "ServiceMonitor"
        ]
    );
    let ds = &m["DaemonSet"];
    assert_eq!(ds["apiVersion"], "apps/v1");
    let pod = &ds["spec"]["template"];
    let pod_labels = pod["metadata"]["labels"].as_mapping().unwrap();
    let selects = |sel: &Yaml| {
        sel.as_mapping()
            .unwrap()
            .iter()
            .all(|(k, v)| pod_labels.get(k) == Some(v))
    };
    assert!(
        selects(&ds["spec"]["selector"]["matchLabels"]),
        "DaemonSet selector"
    );
    assert!(
        selects(&m["Service"]["spec"]["selector"]),
        "Service selector"
    );

    // /run/libvirt as a directory, read-only: a libvirtd restart replaces the socket files
    let volumes = pod["spec"]["volumes"].as_sequence().unwrap();
    let run = volumes
        .iter()
        .find(|v| v["hostPath"]["path"] == "/run/libvirt")
        .expect("a hostPath volume for /run/libvirt");
    assert_eq!(run["hostPath"]["type"], "Directory");
    assert!(
        volumes.iter().all(|v| !v["hostPath"]["path"]
            .as_str()
            .unwrap_or("")
            .contains("sock")),
        "no socket file may be mounted by itself"
    );
    let containers = pod["spec"]["containers"].as_sequence().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let mount = c["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|vm| vm["name"] == run["name"])
        .expect("the /run/libvirt volume is mounted");
    assert_eq!(mount["mountPath"], "/run/libvirt");
    assert_eq!(mount["readOnly"], true);

    // hardened: nobody, no capabilities, read-only root file system
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["spec"]["automountServiceAccountToken"], false);

    // one port name from the container through the Service to the ServiceMonitor
    let port = &c["ports"][0];
    assert_eq!(port["containerPort"], 9177);
    let port_name = port["name"].as_str().unwrap();
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(c[probe]["httpGet"]["path"], "/healthz", "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], port_name, "{probe}");
    }
    let svc = &m["Service"];
    assert_eq!(
        svc["spec"]["clusterIP"], "None",
        "headless: every pod is scraped"
    );
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], port_name);
    let svc_port = svc["spec"]["ports"][0]["name"].clone();
    let sm = &m["ServiceMonitor"];
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], svc_port);
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
    let sm_sel = sm["spec"]["selector"]["matchLabels"].as_mapping().unwrap();
    let svc_labels = svc["metadata"]["labels"].as_mapping().unwrap();
    assert!(
        sm_sel.iter().all(|(k, v)| svc_labels.get(k) == Some(v)),
        "ServiceMonitor selects the Service"
    );
    // the alert rules select job="libvirt-exporter": the Operator names the job after the Service
    assert_eq!(svc["metadata"]["name"], "libvirt-exporter");
    assert_eq!(
        m["PrometheusRule"]["apiVersion"],
        "monitoring.coreos.com/v1"
    );

    // the kustomization lists every manifest, and the image the Containerfile builds
    let k = yaml("deploy/kubernetes/kustomization.yaml");
    let resources: BTreeSet<&str> = k["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for file in std::fs::read_dir(path("deploy/kubernetes")).unwrap() {
        let name = file.unwrap().file_name().to_string_lossy().into_owned();
        if name != "kustomization.yaml" {
            assert!(
                resources.contains(name.as_str()),
                "kustomization.yaml misses {name}"
            );
        }
    }
    assert_eq!(k["images"][0]["name"], c["image"]);
    assert_eq!(k["images"][0]["newTag"], env!("CARGO_PKG_VERSION"));
    assert_eq!(k["namespace"], m["Namespace"]["metadata"]["name"]);

    // kubectl renders it, where kubectl is installed (it is not needed otherwise)
    if let Ok(out) = Command::new("kubectl")
        .args(["kustomize", path("deploy/kubernetes").to_str().unwrap()])
        .output()
    {
        assert!(
            out.status.success(),
            "kubectl kustomize: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("image: libvirt-exporter:0.1.0"), "{text}");
        assert_eq!(
            text.matches("namespace: libvirt-exporter").count(),
            4,
            "{text}"
        );
    }
}

#[test]
fn the_containerfile_builds_the_binary_the_daemonset_runs_as_nobody() {
    let cf = read("deploy/Containerfile");
    let lines: Vec<&str> = cf.lines().filter(|l| !l.starts_with('#')).collect();
    let from: Vec<&&str> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(from.len(), 2, "a build stage and a runtime stage");
    assert!(
        from[1].contains("bookworm"),
        "runtime on Debian 12: {}",
        from[1]
    );
    assert!(cf.contains("cargo build --release --locked"));
    assert!(
        cf.contains("libvirt0"),
        "the runtime needs libvirt's library"
    );
    assert!(lines.contains(&"USER 65534:65534"));
    assert!(lines.contains(&"EXPOSE 9177"));
    assert!(lines.contains(&r#"ENTRYPOINT ["/usr/bin/libvirt-exporter"]"#));
    let ignore = read(".dockerignore");
    assert!(
        ignore.lines().any(|l| l.trim() == "target/"),
        "keep target/ out of the context"
    );
    let ds = &manifests()["DaemonSet"];
    let run_as = &ds["spec"]["template"]["spec"]["securityContext"]["runAsUser"];
    assert_eq!(run_as, 65534);
}

// ----------------------------------------------------------------------------- Prometheus configs

#[test]
fn the_scrape_configuration_examples_pass_promtool_check_config() {
    for file in [
        "deploy/prometheus/prometheus-static.yml",
        "deploy/prometheus/prometheus-file-sd.yml",
    ] {
        let (ok, out) = prom::promtool(&["check", "config", path(file).to_str().unwrap()]);
        assert!(ok, "promtool check config {file}:\n{out}");
        assert_eq!(
            out.matches("SUCCESS").count(),
            5,
            "{file}: config and 3 rule files:\n{out}"
        );
        let config = yaml(file);
        let job = &config["scrape_configs"][0];
        assert_eq!(
            job["job_name"], "libvirt-exporter",
            "{file}: the job the alerts select"
        );
        let files: Vec<String> = config["rule_files"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|f| format!("deploy/prometheus/{}", f.as_str().unwrap()))
            .collect();
        assert_eq!(files, RULE_FILES, "{file}: rule_files");
    }
    // the file-SD example reads the target file, which promtool checks too
    let targets = yaml("deploy/prometheus/targets/libvirt-hosts.yml");
    assert!(targets[0]["targets"]
        .as_sequence()
        .is_some_and(|t| !t.is_empty()));
    let doc = read("docs/deployment.md");
    for topic in [
        "federation",
        "remote_write",
        "file_sd_configs",
        "static_configs",
    ] {
        assert!(
            doc.to_lowercase().contains(topic),
            "docs/deployment.md does not cover {topic}"
        );
    }
}

#[test]
fn the_grafana_provisioning_file_loads_the_dashboards_from_where_the_package_puts_them() {
    let p = yaml("deploy/grafana/libvirt-dashboards.yaml");
    assert_eq!(p["apiVersion"], 1);
    let provider = &p["providers"][0];
    assert_eq!(provider["type"], "file");
    let dir = provider["options"]["path"].as_str().unwrap();
    assert_eq!(dir, "/usr/share/libvirt-exporter/dashboards");
    let cargo = read("Cargo.toml");
    assert!(
        cargo.contains(&format!(
            "[\"dashboards/*.json\", \"{}/\", \"644\"]",
            dir.trim_start_matches('/')
        )),
        "Cargo.toml's deb assets do not install the dashboards in {dir}"
    );
}

// ----------------------------------------------------------------------------- systemd

/// `(section, key) -> values` of a unit file, in order.
fn unit_keys(text: &str) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_string();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{UNIT}: not key=value: {line}"));
        out.entry((section.clone(), k.trim().to_string()))
            .or_default()
            .push(v.trim().to_string());
    }
    out
}

#[test]
fn the_systemd_unit_runs_unprivileged_and_hardened_with_an_environment_file() {
    let keys = unit_keys(&read(UNIT));
    let one = |section: &str, key: &str| -> String {
        let v = keys
            .get(&(section.to_string(), key.to_string()))
            .unwrap_or_else(|| panic!("{UNIT}: no {key}= in [{section}]"));
        assert_eq!(v.len(), 1, "{UNIT}: {key}= more than once");
        v[0].clone()
    };
    for (key, want) in [
        ("User", "libvirt-exporter"),
        ("Group", "libvirt-exporter"),
        ("EnvironmentFile", "-/etc/default/libvirt-exporter"),
        ("ExecStart", "/usr/bin/libvirt-exporter $ARGS"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
        ("RestrictNamespaces", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("LockPersonality", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectControlGroups", "yes"),
        ("Restart", "on-failure"),
    ] {
        assert_eq!(one("Service", key), want, "{UNIT}: {key}=");
    }
    assert_eq!(one("Install", "WantedBy"), "multi-user.target");
    assert!(one("Unit", "After").contains("libvirtd.service"));
    // no ReadWritePaths, no supplementary groups (the read-only socket needs neither)
    assert!(!keys
        .keys()
        .any(|(_, k)| k == "ReadWritePaths" || k == "SupplementaryGroups"));

    // the environment file defines ARGS, and as a shell-style assignment the unit can read
    let env = read(ENV_FILE);
    let args: Vec<&str> = env.lines().filter(|l| l.starts_with("ARGS=")).collect();
    assert_eq!(args, ["ARGS=\"\""], "{ENV_FILE}");
}

/// The unit with ExecStart pointing at the binary this build made (verify wants an
/// executable there).
fn unit_for_this_build(dir: &std::path::Path) -> std::path::PathBuf {
    let unit = read(UNIT).replace("/usr/bin/libvirt-exporter", common::BIN);
    let file = dir.join("libvirt-exporter.service");
    std::fs::write(&file, unit).unwrap();
    file
}

fn systemd_analyze(args: &[&str]) -> Option<(bool, String, String)> {
    let out = Command::new("systemd-analyze").args(args).output().ok()?;
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify_and_rates_ok_for_security() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_for_this_build(dir.path());
    let unit = unit.to_str().unwrap();
    let Some((ok, out, err)) = systemd_analyze(&["verify", unit]) else {
        eprintln!("systemd-analyze is not installed: only the key checks of the other test ran");
        return;
    };
    assert!(
        ok && err.trim().is_empty(),
        "systemd-analyze verify:\n{out}{err}"
    );
    // verify fails on a unit it cannot use, so this check can fail
    let broken = dir.path().join("broken.service");
    std::fs::write(&broken, "[Service]\nExecStart=relative/path\n").unwrap();
    let (ok, _, err) = systemd_analyze(&["verify", broken.to_str().unwrap()]).unwrap();
    assert!(
        !ok || !err.trim().is_empty(),
        "verify accepted a broken unit"
    );

    let (_, out, err) = systemd_analyze(&["security", "--offline=true", unit]).unwrap();
    let all = format!("{out}{err}");
    let level: f64 = all
        .split("Overall exposure level for")
        .nth(1)
        .and_then(|rest| rest.split(':').nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{all}"));
    assert!(
        level <= 2.0,
        "systemd-analyze security rates the unit {level} (want at most 2.0, \"OK\"):\n{all}"
    );
}

// ----------------------------------------------------------------------------- Debian package

/// Removes (then purges) the package when the test ends, passed or not.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["--purge", "libvirt-exporter"])
            .output();
    }
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} does not run: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_debian_package_installs_runs_as_its_own_user_and_removes_cleanly() {
    assert_eq!(
        run("id", &["-u"]).trim(),
        "0",
        "dpkg -i needs root: run the tests as root (scripts/test does)"
    );
    let cargo_deb = Command::new(env!("CARGO"))
        .args(["deb", "--version"])
        .output();
    assert!(
        cargo_deb.is_ok_and(|o| o.status.success()),
        "cargo-deb is missing: scripts/test installs it (cargo install cargo-deb --locked)"
    );
    let out_dir = tempfile::tempdir().unwrap();
    let build = Command::new(env!("CARGO"))
        .args(["deb", "--locked", "--output"])
        .arg(out_dir.path())
        .current_dir(prom::ROOT)
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "cargo deb failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let deb = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("cargo deb wrote a .deb");
    let deb = deb.to_str().unwrap();

    let control = run(
        "dpkg-deb",
        &["--field", deb, "Package", "Version", "Depends"],
    );
    assert!(control.contains("Package: libvirt-exporter"), "{control}");
    assert!(
        control.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "{control}"
    );
    assert!(
        control.contains("libvirt0"),
        "depends on libvirt's library: {control}"
    );
    assert!(
        control.contains("adduser"),
        "postinst needs adduser: {control}"
    );

    let _guard = Installed;
    run("dpkg", &["-i", deb]);
    let status = run("dpkg-query", &["-W", "-f=${Status}", "libvirt-exporter"]);
    assert_eq!(status, "install ok installed");
    for file in [
        "/usr/bin/libvirt-exporter",
        "/usr/lib/systemd/system/libvirt-exporter.service",
        "/etc/default/libvirt-exporter",
        "/usr/share/doc/libvirt-exporter/README.md",
        "/usr/share/doc/libvirt-exporter/metrics.md",
        "/usr/share/doc/libvirt-exporter/runbook.md",
        "/usr/share/doc/libvirt-exporter/deployment.md",
        "/usr/share/libvirt-exporter/prometheus/libvirt-alerts.rules.yml",
        "/usr/share/libvirt-exporter/prometheus/libvirt-recording.rules.yml",
        "/usr/share/libvirt-exporter/prometheus/libvirt-compat.rules.yml",
        "/usr/share/libvirt-exporter/dashboards/libvirt-host-overview.json",
        "/usr/share/libvirt-exporter/dashboards/libvirt-domain-detail.json",
        "/usr/share/libvirt-exporter/dashboards/libvirt-storage-networks.json",
    ] {
        assert!(
            std::path::Path::new(file).exists(),
            "the package did not install {file}"
        );
    }
    assert_eq!(
        std::fs::read_to_string("/usr/lib/systemd/system/libvirt-exporter.service").unwrap(),
        read(UNIT)
    );
    let conffiles = run("dpkg-query", &["-W", "-f=${Conffiles}", "libvirt-exporter"]);
    assert!(
        conffiles.contains("/etc/default/libvirt-exporter"),
        "{conffiles}"
    );

    // postinst made an unprivileged system user with no login
    let passwd = run("getent", &["passwd", "libvirt-exporter"]);
    let fields: Vec<&str> = passwd.trim().split(':').collect();
    let uid: u32 = fields[2].parse().unwrap();
    assert!(uid > 0 && uid < 1000, "a system uid: {passwd}");
    assert!(
        fields[6].ends_with("nologin") || fields[6].ends_with("false"),
        "{passwd}"
    );

    // the installed unit verifies, now that its ExecStart exists
    if let Some((ok, out, err)) =
        systemd_analyze(&["verify", "/usr/lib/systemd/system/libvirt-exporter.service"])
    {
        assert!(
            ok && err.trim().is_empty(),
            "systemd-analyze verify:\n{out}{err}"
        );
    }

    let version = run("/usr/bin/libvirt-exporter", &["--version"]);
    assert_eq!(
        version.trim(),
        format!("libvirt-exporter {}", env!("CARGO_PKG_VERSION"))
    );

    // a short run as the package's user against libvirt's test driver
    let mut child = Command::new("setpriv")
        .args([
            "--reuid=libvirt-exporter",
            "--regid=libvirt-exporter",
            "--init-groups",
            "--",
            "/usr/bin/libvirt-exporter",
            "--libvirt.uri",
            "test:///default",
            "--web.listen-address",
            "127.0.0.1:0",
            "--collect.interval",
            "1s",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("setpriv runs (util-linux)");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let _ = tx.send(rest.split('/').next().unwrap_or("").to_string());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30));
    let result = std::panic::catch_unwind(|| {
        let addr: std::net::SocketAddr = addr
            .expect("the installed exporter listens")
            .parse()
            .unwrap();
        let owner = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        let uid_line = owner
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .unwrap()
            .to_string();
        assert!(
            uid_line
                .split_whitespace()
                .skip(1)
                .all(|u| u == uid.to_string()),
            "runs as the package's user: {uid_line}"
        );
        let scrape = || {
            let r = http_get(addr, "/metrics", &[]);
            // 503 until the first collection is published
            assert!(matches!(r.status, 200 | 503), "/metrics: {}", r.status);
            let text = if r.status == 200 {
                r.text()
            } else {
                String::new()
            };
            (Metrics::parse(&text), r)
        };
        let collected = |m: &Metrics| {
            m.value("libvirt_up", &[]) == Some(1.0)
                && m.value("libvirt_domains_by_state", &[("state", "running")])
                    .is_some()
        };
        let (m, r) = poll_until(
            Duration::from_secs(30),
            Duration::from_millis(200),
            scrape,
            |(m, _)| collected(m),
        );
        assert!(collected(&m), "no collection:\n{}", r.text());
        assert_eq!(
            m.get("libvirt_domain_info_state", &[("domain", "test")]),
            1.0,
            "the test driver's domain runs"
        );
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }

    run("dpkg", &["-r", "libvirt-exporter"]);
    assert!(!std::path::Path::new("/usr/bin/libvirt-exporter").exists());
    assert!(!std::path::Path::new("/usr/lib/systemd/system/libvirt-exporter.service").exists());
    // -r keeps the configuration; the guard's purge removes it
    assert!(std::path::Path::new("/etc/default/libvirt-exporter").exists());
}

// ----------------------------------------------------------------------------- the lab

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn every_rule_selector_matches_series_and_every_recorded_name_has_data_on_the_lab() {
    let lab = lab_names();
    let (exporter, prom, instance, _conditions) = lab_prometheus(&lab);
    let documented = documented_families();
    let mut failures = Vec::new();
    let mut seen = BTreeMap::new();
    for r in rules() {
        let mut only_tolerated_absent = true;
        for s in selectors(&r.expr) {
            let verdict = prom::check_selector(&prom, &s, &documented);
            only_tolerated_absent &= matches!(verdict, prom::SelectorCheck::ToleratedAbsent);
            if let prom::SelectorCheck::Fails(why) = &verdict {
                failures.push(format!("{} {}: {} -> {why}", r.file, r.name(), s.text));
            }
            seen.insert(s.text.clone(), format!("{verdict:?}"));
        }
        // A recording rule over families the lab cannot show has nothing to record.
        if let (Some(name), false) = (&r.record, only_tolerated_absent) {
            let q = format!("{name}{{instance=\"{instance}\"}}");
            match prom.query_until_data(&q, Duration::from_secs(60)) {
                Ok(v) if !v.is_empty() => {}
                other => failures.push(format!(
                    "{}: recorded {name} has no data: {other:?}",
                    r.file
                )),
            }
        }
    }
    // the alerts see the lab: its guest paused by hand is a pending LibvirtDomainPausedTooLong
    let env = common::lab_env();
    let pending = format!(
        "ALERTS{{alertname=\"LibvirtDomainPausedTooLong\", alertstate=\"pending\", domain=\"{}\"}}",
        env["LAB_PAUSED"]
    );
    match prom.query_until_data(&pending, Duration::from_secs(30)) {
        Ok(v) if !v.is_empty() => {}
        other => failures.push(format!("{pending}: {other:?}")),
    }
    // and the one whose guest is running is not crashed
    let crashed = format!(
        "ALERTS{{alertname=\"LibvirtDomainCrashed\", domain=\"{}\"}}",
        lab.domain
    );
    if !prom.query(&crashed).unwrap().is_empty() {
        failures.push(format!("{crashed} fires for a running guest"));
    }
    assert!(
        failures.is_empty(),
        "rules against the lab:\n{}\nselectors: {seen:#?}\nexporter log:\n{}\nprometheus log:\n{}",
        failures.join("\n"),
        exporter.log(),
        prom.log()
    );
    let lab_cannot: Vec<_> = seen
        .iter()
        .filter(|(_, v)| v.as_str() == "ValuesTheLabCannotShow")
        .map(|(k, _)| k.as_str())
        .collect();
    eprintln!(
        "selectors the lab cannot show (checked by name, labels and values): {lab_cannot:#?}"
    );
}
