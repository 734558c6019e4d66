//! The Grafana dashboards of dashboards/: their structure (current schema, unique ids, a
//! datasource, a unit and a query on every panel, template variables that resolve), every
//! PromQL expression in them parsing (promtool), every metric they name being exported or
//! recorded, and, on the QEMU lab, every panel query returning data from a real Prometheus
//! that scrapes the exporter and evaluates the shipped rules.

mod common;
mod prom;

use prom::promql::{selectors, Matcher, Selector};
use prom::{
    annotation_queries, dashboards, documented_families, lab_names, lab_prometheus, panel_queries,
    panels, parse_label_values, recorded_names, referenced_variables, regex_escape, substitute,
    tolerated_absent, variables, Dashboard, GRAFANA_BUILTINS, ONLY_DURING_MIGRATION,
};
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Values for every variable, to turn a dashboard's queries into plain PromQL.
fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut v: BTreeMap<String, String> = [
        ("__rate_interval", "1m"),
        ("__interval", "15s"),
        ("__interval_ms", "15000"),
        ("__range", "10m"),
        ("__range_s", "600"),
        ("__range_ms", "600000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, val) in pairs {
        v.insert(k.to_string(), val.to_string());
    }
    v
}

fn placeholder_values() -> BTreeMap<String, String> {
    values(&[
        ("datasource", "prometheus"),
        ("instance", "hv1"),
        ("domain", "vm1"),
        ("storage_pool", "p1"),
        ("network", "n1"),
    ])
}

fn all_queries(d: &Dashboard) -> Vec<prom::PanelQuery> {
    let mut q = panel_queries(d);
    q.extend(annotation_queries(d));
    q
}

#[test]
fn every_dashboard_is_current_grafana_json_with_unique_ids_and_no_overlapping_panels() {
    let mut uids = BTreeSet::new();
    for d in dashboards() {
        let f = &d.file;
        let j = &d.json;
        let schema = j["schemaVersion"].as_i64().unwrap_or(0);
        assert!(
            schema >= 39,
            "{f}: schemaVersion {schema}, want 39 or newer"
        );
        let uid = j["uid"].as_str().unwrap_or("");
        assert!(
            !uid.is_empty() && uid.len() <= 40,
            "{f}: uid {uid:?} must be set, at most 40 characters"
        );
        assert!(uids.insert(uid.to_string()), "{f}: uid {uid} used twice");
        assert!(
            j["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("libvirt / ")),
            "{f}: title"
        );
        assert!(
            j["tags"].as_array().unwrap().contains(&json!("libvirt")),
            "{f}: tag libvirt (the dashboards link each other by it)"
        );
        assert!(
            j["id"].is_null(),
            "{f}: id must be null so that import creates it"
        );

        let mut ids = BTreeSet::new();
        let mut boxes: Vec<(i64, [i64; 4])> = Vec::new();
        for p in panels(&d) {
            let id = p["id"]
                .as_i64()
                .unwrap_or_else(|| panic!("{f}: a panel without id"));
            assert!(ids.insert(id), "{f}: panel id {id} used twice");
            let g = &p["gridPos"];
            let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| {
                g[k].as_i64()
                    .unwrap_or_else(|| panic!("{f}: panel {id} has no gridPos.{k}"))
            });
            assert!(
                w > 0 && h > 0 && x >= 0 && x + w <= 24,
                "{f}: panel {id} lies outside the 24-column grid: {g}"
            );
            for (other, [ox, oy, ow, oh]) in &boxes {
                let overlap = x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h;
                assert!(!overlap, "{f}: panels {id} and {other} overlap");
            }
            boxes.push((id, [x, y, w, h]));
        }
    }
}

#[test]
fn every_panel_has_the_datasource_variable_a_unit_and_a_query() {
    let datasource = json!({"type": "prometheus", "uid": "${datasource}"});
    let mut count = 0;
    for d in dashboards() {
        let f = &d.file;
        for p in panels(&d) {
            let id = &p["id"];
            if p["type"] == "row" {
                assert!(
                    p["targets"].is_null(),
                    "{f}: row {id} must not carry queries"
                );
                continue;
            }
            count += 1;
            assert_eq!(p["datasource"], datasource, "{f}: panel {id} datasource");
            let unit = p["fieldConfig"]["defaults"]["unit"].as_str().unwrap_or("");
            assert!(
                !unit.is_empty(),
                "{f}: panel {id} ({}) has no unit",
                p["title"]
            );
            assert!(
                p["title"].as_str().is_some_and(|t| !t.is_empty()),
                "{f}: panel {id} has no title"
            );
            assert!(
                p["description"].as_str().is_some_and(|t| !t.is_empty()),
                "{f}: panel {id} has no description"
            );
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            assert!(!targets.is_empty(), "{f}: panel {id} has no query");
            let mut refs = BTreeSet::new();
            for t in &targets {
                assert_eq!(
                    t["datasource"], datasource,
                    "{f}: panel {id} target datasource"
                );
                let expr = t["expr"].as_str().unwrap_or("");
                assert!(
                    !expr.trim().is_empty(),
                    "{f}: panel {id} has an empty query"
                );
                let r = t["refId"].as_str().unwrap_or("");
                assert!(
                    refs.insert(r.to_string()),
                    "{f}: panel {id} refId {r:?} twice"
                );
            }
        }
    }
    assert!(count >= 50, "only {count} panels in all dashboards");
}

#[test]
fn every_dashboard_has_datasource_instance_and_domain_variables_that_resolve() {
    for d in dashboards() {
        let f = &d.file;
        let vars = variables(&d);
        let names: Vec<&str> = vars.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            &names[..3],
            ["datasource", "instance", "domain"],
            "{f}: the first variables"
        );
        let ds = &vars[0];
        assert_eq!(ds.kind, "datasource", "{f}");
        assert_eq!(ds.json["query"], "prometheus", "{f}: datasource type");

        let mut defined: BTreeSet<String> =
            GRAFANA_BUILTINS.iter().map(|s| s.to_string()).collect();
        for v in &vars {
            assert!(
                defined.insert(v.name.clone()),
                "{f}: variable {} defined twice",
                v.name
            );
            if v.kind != "query" {
                continue;
            }
            assert_eq!(
                v.json["datasource"],
                json!({"type": "prometheus", "uid": "${datasource}"}),
                "{f}: variable {} datasource",
                v.name
            );
            let q = v.query.clone().unwrap_or_default();
            let (selector, label) = parse_label_values(&q).unwrap_or_else(|| {
                panic!("{f}: variable {} query {q:?} is not label_values()", v.name)
            });
            assert_eq!(
                label, v.name,
                "{f}: variable {} lists label {label}",
                v.name
            );
            assert_eq!(
                v.json["definition"],
                q.as_str(),
                "{f}: {} definition",
                v.name
            );
            // a variable may only use the ones before it, so that they resolve in order
            for used in referenced_variables(&q) {
                assert!(
                    defined.contains(&used) && used != v.name,
                    "{f}: variable {} uses ${used}, which is not defined before it",
                    v.name
                );
            }
            assert!(selector.is_some(), "{f}: {} must select a metric", v.name);
        }
        for q in all_queries(&d) {
            for used in referenced_variables(&q.expr) {
                assert!(
                    defined.contains(&used),
                    "{f}: {} uses ${used}, which the dashboard does not define",
                    q.what
                );
            }
        }
        // titles, legends and links too
        let text = serde_json::to_string(&d.json["panels"]).unwrap();
        for used in referenced_variables(&text) {
            assert!(defined.contains(&used), "{f}: ${used} is not defined");
        }
    }
}

#[test]
fn every_dashboard_expression_and_variable_query_parses() {
    let values = placeholder_values();
    let mut exprs = Vec::new();
    for d in dashboards() {
        for q in all_queries(&d) {
            let expr = substitute(&q.expr, &values).unwrap();
            exprs.push((format!("{} {}", q.file, q.what), expr));
        }
        for v in variables(&d) {
            if let Some((Some(selector), _)) = v.query.as_deref().and_then(parse_label_values) {
                let expr = substitute(&selector, &values).unwrap();
                exprs.push((format!("{} variable {}", d.file, v.name), expr));
            }
        }
    }
    assert!(exprs.len() > 100, "only {} expressions", exprs.len());
    if let Err(e) = prom::promtool_check_expressions(&exprs) {
        panic!("promtool rejects dashboard expressions:\n{e}");
    }
}

#[test]
fn every_metric_a_dashboard_queries_is_exported_recorded_or_explicitly_not_yet_exported() {
    let documented = documented_families();
    let recorded = recorded_names();
    let values = placeholder_values();
    let mut used_during_migration = BTreeSet::new();
    for d in dashboards() {
        let mut exprs: Vec<(String, String)> = all_queries(&d)
            .into_iter()
            .map(|q| (q.what, q.expr))
            .collect();
        for v in variables(&d) {
            if let Some((Some(sel), _)) = v.query.as_deref().and_then(parse_label_values) {
                exprs.push((format!("variable {}", v.name), sel));
            }
        }
        for (what, expr) in exprs {
            let expr = substitute(&expr, &values).unwrap();
            let sels = selectors(&expr);
            assert!(!sels.is_empty(), "{} {what}: no metric in {expr}", d.file);
            for s in sels {
                let known = documented.contains(&s.metric) || recorded.contains(&s.metric);
                if ONLY_DURING_MIGRATION.contains(&s.metric.as_str()) {
                    used_during_migration.insert(s.metric.clone());
                }
                assert!(
                    known,
                    "{} {what}: {} is neither in docs/metrics.md nor recorded by deploy/prometheus",
                    d.file, s.metric
                );
            }
        }
    }
    // the allowlist holds nothing the dashboards do not need
    for name in ONLY_DURING_MIGRATION {
        assert!(
            used_during_migration.contains(*name),
            "ONLY_DURING_MIGRATION lists {name}, which no dashboard queries: remove it"
        );
    }
}

#[test]
fn the_selector_reader_finds_every_selector_and_nothing_else() {
    let m = |label: &str, op: &str, value: &str| Matcher {
        label: label.into(),
        op: op.into(),
        value: value.into(),
    };
    let found = selectors(
        r#"sum without (domain, target_device) (
    rate(a_total{instance=~"x\\.y", job!="j"}[5m] offset 1m)
  * on (instance, job) group_left (source_network)
    label_replace(b_info{source_network!=""}, "network", "$1", "source_network", "(.+)")
) / ignoring (mode) group_left c > bool 0.5 and topk(3, d) or {__name__="e", k='v'}"#,
    );
    assert_eq!(
        found,
        vec![
            Selector {
                metric: "a_total".into(),
                matchers: vec![m("instance", "=~", "x\\.y"), m("job", "!=", "j")],
                text: r#"a_total{instance=~"x\\.y",job!="j"}"#.into(),
            },
            Selector {
                metric: "b_info".into(),
                matchers: vec![m("source_network", "!=", "")],
                text: r#"b_info{source_network!=""}"#.into(),
            },
            Selector {
                metric: "c".into(),
                matchers: vec![],
                text: "c".into(),
            },
            Selector {
                metric: "d".into(),
                matchers: vec![],
                text: "d".into(),
            },
            Selector {
                metric: "e".into(),
                matchers: vec![m("__name__", "=", "e"), m("k", "=", "v")],
                text: r#"{__name__="e",k="v"}"#.into(),
            },
        ]
    );
    let names: Vec<String> = selectors("predict_linear(x[6h], 24 * 3600) < 0 and y / z")
        .into_iter()
        .map(|s| s.metric)
        .collect();
    assert_eq!(names, ["x", "y", "z"]);
    // aggregation parameters, subqueries, modifiers, comments
    let names: Vec<String> = selectors(
        "topk(scalar(k), max_over_time(v[1h:5m] @ 100 offset 5m)) # not_a_metric\n or -w",
    )
    .into_iter()
    .map(|s| s.metric)
    .collect();
    assert_eq!(names, ["k", "v", "w"]);
    let r = std::panic::catch_unwind(|| selectors("sum(rate(x[5m])"));
    assert!(r.is_err(), "an expression that does not parse");
}

#[test]
fn variable_substitution_handles_grafanas_forms_and_leaves_regex_groups_alone() {
    let v = values(&[("instance", "hv1"), ("domain", "vm1")]);
    assert_eq!(
        substitute(
            r#"rate(x{instance=~"$instance", domain="${domain}", d="[[domain]]", e="${domain:regex}"}[$__rate_interval])"#,
            &v
        )
        .unwrap(),
        r#"rate(x{instance=~"hv1", domain="vm1", d="vm1", e="vm1"}[1m])"#
    );
    assert_eq!(
        substitute(r#"label_replace(x, "a", "$1", "b", "(.+)")[5m]"#, &v).unwrap(),
        r#"label_replace(x, "a", "$1", "b", "(.+)")[5m]"#
    );
    assert!(substitute("x{a=\"$nope\"}", &v).is_err());
    assert_eq!(
        referenced_variables("$a ${b:csv} [[c]] $1"),
        ["a", "b", "c"]
    );
    assert_eq!(regex_escape("127.0.0.1:9177"), r"127\\.0\\.0\\.1:9177");
}

/// The values the lab gives the variables: the test's own exporter as `instance`, a running
/// lab guest, the lab pool and network.
fn lab_values(instance: &str, lab: &prom::LabNames) -> BTreeMap<String, String> {
    values(&[
        ("instance", &regex_escape(instance)),
        ("domain", &lab.domain),
        ("storage_pool", &lab.pool),
        ("network", &lab.network),
    ])
}

#[test]
#[ignore = "needs the QEMU lab: run scripts/test (or tests/lab/setup.sh first)"]
fn every_dashboard_query_returns_data_from_a_real_prometheus_scraping_the_lab() {
    let lab = lab_names();
    let (exporter, prom, instance, _conditions) = lab_prometheus(&lab);
    let documented = documented_families();
    let values = lab_values(&instance, &lab);

    // the template variables list what the lab has
    let expected: BTreeMap<&str, &str> = [
        ("instance", instance.as_str()),
        ("domain", lab.domain.as_str()),
        ("storage_pool", lab.pool.as_str()),
        ("network", lab.network.as_str()),
    ]
    .into();
    for d in dashboards() {
        for v in variables(&d) {
            let Some((Some(selector), label)) = v.query.as_deref().and_then(parse_label_values)
            else {
                continue;
            };
            let selector = substitute(&selector, &values).unwrap();
            let options: BTreeSet<String> = prom
                .series(&selector)
                .unwrap()
                .into_iter()
                .filter_map(|s| s.get(&label).cloned())
                .collect();
            assert!(
                options.contains(expected[v.name.as_str()]),
                "{}: variable {} ({selector}) offers {options:?}, not {}",
                d.file,
                v.name,
                expected[v.name.as_str()]
            );
        }
    }

    // every panel query (and annotation) returns data, or names a not-yet-exported family
    let mut queries: Vec<(String, String)> = Vec::new();
    for d in dashboards() {
        for q in all_queries(&d) {
            queries.push((
                format!("{} {}", q.file, q.what),
                substitute(&q.expr, &values).unwrap(),
            ));
        }
    }
    // The job panels' series exist only while a job runs: keep a real one (a slow memory dump
    // of the dashboard's domain) going while the queries run.
    let mut dump = common::SlowDump::start(&lab.uri, &lab.domain);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut tolerated = Vec::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (what, expr) in &queries {
        let sels = selectors(expr);
        let absent_ok: Vec<&Selector> = sels
            .iter()
            .filter(|s| tolerated_absent(&s.metric, &documented))
            .collect();
        let annotation = what.contains(" annotation ");
        let left = deadline.saturating_duration_since(Instant::now());
        let wait = if absent_ok.is_empty() && !annotation {
            left
        } else {
            Duration::ZERO
        };
        match prom.query_until_data(expr, wait) {
            Err(e) => failures.push(format!("{what}: query error {e}\n    {expr}")),
            Ok(v) if !v.is_empty() => checked += 1,
            // an annotation marks events, and the lab has none to mark: its selectors are
            // checked below
            Ok(_) if annotation => {}
            Ok(_) if !absent_ok.is_empty() => tolerated.push(what.clone()),
            Ok(_) => failures.push(format!("{what}: no data\n    {expr}")),
        }
        // and every selector in it matches series
        for s in &sels {
            match prom::check_selector(&prom, s, &documented) {
                prom::SelectorCheck::Matches | prom::SelectorCheck::ToleratedAbsent => {}
                other => failures.push(format!("{what}: selector {} -> {other:?}", s.text)),
            }
        }
    }
    assert!(dump.running(), "the dump job ended before every query ran");
    dump.finish();
    assert!(
        failures.is_empty(),
        "{} of {} dashboard queries fail on the lab:\n{}\nexporter log:\n{}\nprometheus log:\n{}",
        failures.len(),
        queries.len(),
        failures.join("\n"),
        exporter.log(),
        prom.log()
    );
    assert!(checked > 0, "no dashboard query returned data");
    eprintln!(
        "{checked} dashboard queries returned data; tolerated while not exported: {tolerated:?}"
    );
}

/// The dashboards' JSON files are what Grafana's "Export for sharing externally" would not
/// need: no `__inputs`, and a `${datasource}` variable instead of a fixed datasource.
#[test]
fn dashboards_import_without_inputs_and_never_name_a_fixed_datasource() {
    for d in dashboards() {
        assert!(d.json.get("__inputs").is_none(), "{}: __inputs", d.file);
        let text = serde_json::to_string(&d.json).unwrap();
        let mut uids = BTreeSet::new();
        collect_uids(&d.json, &mut uids);
        uids.remove("${datasource}");
        uids.remove("-- Grafana --");
        assert!(
            uids.is_empty(),
            "{}: fixed datasource uids {uids:?}",
            d.file
        );
        assert!(!text.contains("DS_PROMETHEUS"), "{}", d.file);
    }
}

fn collect_uids(j: &Json, out: &mut BTreeSet<String>) {
    match j {
        Json::Object(o) => {
            if let Some(Json::Object(ds)) = o.get("datasource") {
                if let Some(uid) = ds.get("uid").and_then(Json::as_str) {
                    out.insert(uid.to_string());
                }
            }
            o.values().for_each(|v| collect_uids(v, out));
        }
        Json::Array(a) => a.iter().for_each(|v| collect_uids(v, out)),
        _ => {}
    }
}
