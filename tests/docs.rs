//! docs/metrics.md documents exactly the families the code can expose, with the right types,
//! in both directions: no exposed family left out of the metric tables, no documented family
//! the code lacks, no name in prose or examples that is neither exposed nor an old name, no
//! old name ("Names from other exporters") that is exposed after all or whose row misstates
//! the compatibility rules, and no table row left outside its table.

use libvirt_exporter::encode::catalogue;
use libvirt_exporter::encode::family::Kind;
use std::collections::{BTreeMap, BTreeSet};

const HEADER: &str = "| Metric | Type | Unit | Labels | libvirt source | Replaces |";

/// One documented family: exposed name, type word and the line it is on.
#[derive(Debug)]
struct Row {
    name: String,
    kind: String,
    line: usize,
}

fn kind_word(kind: Kind) -> &'static str {
    match kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Info => "info",
    }
}

/// The cells of a table row, without the outer pipes.
fn cells(line: &str) -> Vec<&str> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(str::trim).collect()
}

/// Every row of every table whose header starts with `| Metric |`.
fn documented_rows(doc: &str) -> Vec<Row> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut rows = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].trim_start().starts_with("| Metric |") {
            i += 1;
            continue;
        }
        assert_eq!(
            lines[i].trim(),
            HEADER,
            "docs/metrics.md:{}: metric table header must be exactly {HEADER:?}",
            i + 1
        );
        let separator = lines.get(i + 1).copied().unwrap_or("");
        assert!(
            separator.trim_start().starts_with("|-") || separator.trim_start().starts_with("| -"),
            "docs/metrics.md:{}: expected the separator row under the header",
            i + 2
        );
        i += 2;
        while i < lines.len() && lines[i].trim_start().starts_with('|') {
            let line_no = i + 1;
            let c = cells(lines[i]);
            assert_eq!(
                c.len(),
                6,
                "docs/metrics.md:{line_no}: a metric row needs 6 cells (no `|` inside cells): {:?}",
                lines[i]
            );
            let metric = c[0];
            let name = metric
                .strip_prefix('`')
                .and_then(|m| m.strip_suffix('`'))
                .filter(|n| !n.is_empty() && !n.contains('`'))
                .unwrap_or_else(|| {
                    panic!("docs/metrics.md:{line_no}: Metric cell must be one name in backticks, got {metric:?}")
                });
            rows.push(Row {
                name: name.to_string(),
                kind: c[1].to_string(),
                line: line_no,
            });
            i += 1;
        }
    }
    rows
}

/// What the code exposes and the compatibility rules recreate, to check the docs against.
struct Truth {
    /// Exposed family name (with `_total`/`_info`) → type.
    code: BTreeMap<String, Kind>,
    /// Names `deploy/prometheus/libvirt-compat.rules.yml` records.
    compat: BTreeSet<String>,
}

fn truth() -> Truth {
    let catalogue = catalogue();
    let code: BTreeMap<String, Kind> = catalogue.iter().cloned().collect();
    assert_eq!(
        code.len(),
        catalogue.len(),
        "catalogue() lists a family twice"
    );
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/prometheus/libvirt-compat.rules.yml"
    );
    let rules = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let compat = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- record:"))
        .map(|n| n.trim().to_string())
        .collect();
    Truth { code, compat }
}

/// Every problem of `doc` against `truth`; none when the docs are right.
fn problems(doc: &str, truth: &Truth) -> Vec<String> {
    let mut out = table_problems(doc);
    out.extend(metric_table_problems(doc, &truth.code));
    let old = old_names(doc);
    out.extend(old_name_problems(&old, truth));
    out.extend(mention_problems(doc, &truth.code, &old));
    out
}

/// A table row (a line starting with `|`) must sit under a header and its separator and
/// have as many cells as the header: a row left behind after a table was cut is stale.
fn table_problems(doc: &str) -> Vec<String> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].trim_start().starts_with('|') {
            i += 1;
            continue;
        }
        let header = cells(lines[i]).len();
        let separator = lines.get(i + 1).copied().unwrap_or("").trim_start();
        if !(separator.starts_with("|-") || separator.starts_with("| -")) {
            out.push(format!(
                "docs/metrics.md:{}: a table row outside any table (a stale row?): {:?}",
                i + 1,
                lines[i]
            ));
            i += 1;
            continue;
        }
        i += 2;
        while i < lines.len() && lines[i].trim_start().starts_with('|') {
            if cells(lines[i]).len() != header {
                out.push(format!(
                    "docs/metrics.md:{}: {} cells under a header of {header}: {:?}",
                    i + 1,
                    cells(lines[i]).len(),
                    lines[i]
                ));
            }
            i += 1;
        }
    }
    out
}

/// The metric tables list exactly the catalogue, once each, with the code's types.
fn metric_table_problems(doc: &str, code: &BTreeMap<String, Kind>) -> Vec<String> {
    let rows = documented_rows(doc);
    let mut out = Vec::new();
    if rows.is_empty() {
        out.push("no metric tables found in docs/metrics.md".to_string());
    }
    let mut first_seen: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &rows {
        if let Some(prev) = first_seen.insert(&r.name, r.line) {
            out.push(format!(
                "{} is documented twice (lines {prev} and {})",
                r.name, r.line
            ));
        }
    }
    let documented: BTreeSet<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    for name in code.keys().filter(|n| !documented.contains(n.as_str())) {
        out.push(format!("{name} is exposed by the code but not documented"));
    }
    for r in rows.iter().filter(|r| !code.contains_key(&r.name)) {
        out.push(format!(
            "{} (line {}) is documented but the code does not expose it",
            r.name, r.line
        ));
    }
    for r in rows.iter().filter(|r| code.contains_key(&r.name)) {
        let want = kind_word(code[&r.name]);
        if r.kind != want {
            out.push(format!(
                "{} (line {}): documented {:?}, code says {want}",
                r.name, r.line, r.kind
            ));
        }
    }
    out
}

/// One row of the "Names from other exporters" table.
#[derive(Debug)]
struct OldName {
    line: usize,
    /// The old names (a trailing `*` kept for a pattern).
    names: Vec<String>,
    /// The family names of "Use instead".
    instead: Vec<String>,
    /// Whether "Recreated by" names the compatibility rules.
    recreated: bool,
}

const OLD_NAMES_HEADER: &str = "| Old name | Use instead | Recreated by |";

/// The rows of every table headed [`OLD_NAMES_HEADER`].
fn old_names(doc: &str) -> Vec<OldName> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != OLD_NAMES_HEADER {
            i += 1;
            continue;
        }
        i += 2;
        while i < lines.len() && lines[i].trim_start().starts_with('|') {
            let c = cells(lines[i]);
            let names = backticked(c[0])
                .into_iter()
                .filter(|n| family_like(n))
                .collect();
            let instead = c.get(1).map_or_else(Vec::new, |cell| {
                backticked(cell)
                    .iter()
                    .filter_map(|n| metric_of(n))
                    .collect()
            });
            let recreated = c
                .get(2)
                .is_some_and(|r| r.contains("libvirt-compat.rules.yml"));
            out.push(OldName {
                line: i + 1,
                names,
                instead,
                recreated,
            });
            i += 1;
        }
    }
    out
}

/// An old name is not exposed (else it would not be old), what replaces it is, and a row says
/// the compatibility rules recreate the name exactly when they do.
fn old_name_problems(rows: &[OldName], truth: &Truth) -> Vec<String> {
    let mut out = Vec::new();
    if rows.is_empty() {
        out.push(format!("no {OLD_NAMES_HEADER:?} table in docs/metrics.md"));
    }
    for row in rows {
        let line = row.line;
        for name in &row.names {
            let exposed = match name.strip_suffix('*') {
                Some(prefix) => truth.code.keys().any(|n| n.starts_with(prefix)),
                None => truth.code.contains_key(name),
            };
            if exposed {
                out.push(format!(
                    "docs/metrics.md:{line}: {name} is listed as not exposed, but the exporter exposes it"
                ));
            }
            let recorded = truth.compat.contains(name);
            if !name.ends_with('*') && recorded != row.recreated {
                out.push(format!(
                    "docs/metrics.md:{line}: {name}: the row says the compatibility rules {} it, they {}",
                    if row.recreated { "recreate" } else { "do not recreate" },
                    if recorded { "do" } else { "do not" }
                ));
            }
        }
        for name in row.instead.iter().filter(|n| !truth.code.contains_key(*n)) {
            out.push(format!(
                "docs/metrics.md:{line}: {name} is named as the replacement, but the exporter does not expose it"
            ));
        }
    }
    out
}

/// Every family name the docs mention (in prose, tables and examples) is one the exporter
/// exposes, an old name of the "Names from other exporters" table, or a label name of a
/// metric table; a name of a pattern (`libvirt_domain_kvm_<stat>`) must start a family.
fn mention_problems(doc: &str, code: &BTreeMap<String, Kind>, old: &[OldName]) -> Vec<String> {
    let old: BTreeSet<&str> = old
        .iter()
        .flat_map(|r| r.names.iter().map(String::as_str))
        .collect();
    let labels: BTreeSet<String> = metric_table_labels(doc);
    let mut out = Vec::new();
    for (n, line) in doc.lines().enumerate() {
        for (token, pattern) in family_tokens(line) {
            let known = if pattern {
                code.keys().any(|c| c.starts_with(token))
                    || old.iter().any(|o| o.strip_suffix('*') == Some(token))
            } else {
                code.contains_key(token) || old.contains(token) || labels.contains(token)
            };
            if !known {
                out.push(format!(
                    "docs/metrics.md:{}: {token} is neither exposed, nor an old name, nor a label",
                    n + 1
                ));
            }
        }
    }
    out
}

/// The spans between backticks of a cell.
fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Whether a span looks like a metric name of ours or an older exporter's.
fn family_like(span: &str) -> bool {
    span.starts_with("libvirt_")
        && span
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '*')
}

/// The metric name of a span that is one (`name` or `name{labels}`).
fn metric_of(span: &str) -> Option<String> {
    let name = span.split('{').next()?;
    family_like(name).then(|| name.to_string())
}

/// The label names in the Labels column of the metric tables.
fn metric_table_labels(doc: &str) -> BTreeSet<String> {
    let mut in_table = false;
    let mut out = BTreeSet::new();
    for line in doc.lines() {
        if line.trim() == HEADER {
            in_table = true;
        } else if !line.trim_start().starts_with('|') {
            in_table = false;
        } else if in_table {
            if let Some(labels) = cells(line).get(3) {
                out.extend(
                    backticked(labels)
                        .into_iter()
                        .map(|l| l.split_whitespace().next().unwrap_or_default().to_string()),
                );
            }
        }
    }
    out
}

/// The `libvirt_`/`process_` names in a line, each with whether it only starts a pattern
/// (`libvirt_domain_kvm_<stat>`, `process_*`, `libvirt_domain_kvm_…`).
fn family_tokens(line: &str) -> Vec<(&str, bool)> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find(|c: char| is_name(c)) {
        let tail = &rest[start..];
        let len = tail.find(|c: char| !is_name(c)).unwrap_or(tail.len());
        let token = &tail[..len];
        let after = tail[len..].chars().next();
        let preceded = rest[..start].chars().last();
        let glued = matches!(preceded, Some('-' | '.' | '/' | '$'));
        if (token.starts_with("libvirt_") || token.starts_with("process_")) && !glued {
            let pattern = token.ends_with('_') || matches!(after, Some('<' | '*'));
            out.push((token, pattern));
        }
        rest = &tail[len..];
    }
    out
}

fn read_doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

#[test]
fn metrics_doc_lists_exactly_the_catalogue_with_matching_types() {
    let problems = problems(&read_doc(), &truth());
    assert!(
        problems.is_empty(),
        "docs/metrics.md is out of date:\n  {}",
        problems.join("\n  ")
    );
}

/// The real docs with one row added after the table it belongs to, a row changed or a row
/// removed: each must be reported.
#[test]
fn a_wrong_row_in_either_direction_is_reported() {
    let doc = read_doc();
    let truth = truth();
    let with = |edit: &dyn Fn(&str) -> String| problems(&edit(&doc), &truth);
    let reported = |problems: &[String], what: &str| {
        assert!(
            problems.iter().any(|p| p.contains(what)),
            "{what:?} not reported in {problems:#?}"
        );
    };
    // A stale row claiming an exported family is not exported, outside any table.
    let stale = with(&|d| {
        d.replacen(
            "needs no rule: the exporter computes and\nexports it itself.\n",
            "needs no rule: the exporter computes and\nexports it itself.\n\n\
             | `libvirt_storage_pool_state` (I) | not exported (storage pools) |\n",
            1,
        )
    });
    reported(&stale, "a table row outside any table");
    // The same claim inside the table of old names.
    let not_old = with(&|d| {
        d.replacen(
            &format!("{OLD_NAMES_HEADER}\n|---|---|---|\n"),
            &format!(
                "{OLD_NAMES_HEADER}\n|---|---|---|\n\
                 | `libvirt_storage_pool_state` (I) | not exported (storage pools) | — |\n"
            ),
            1,
        )
    });
    reported(
        &not_old,
        "libvirt_storage_pool_state is listed as not exposed",
    );
    // A documented family the exposition lacks, and an exposed one the docs lack.
    let renamed = with(&|d| {
        d.replacen(
            "| `libvirt_node_cpus` | gauge |",
            "| `libvirt_node_cpu_count` | gauge |",
            1,
        )
    });
    reported(&renamed, "libvirt_node_cpu_count (line");
    reported(
        &renamed,
        "libvirt_node_cpus is exposed by the code but not documented",
    );
    // A prose mention of a family that does not exist.
    let prose = with(&|d| {
        d.replacen(
            "Multiply `libvirt_node_cpu_sockets`",
            "Multiply `libvirt_node_sockets`",
            1,
        )
    });
    reported(&prose, "libvirt_node_sockets is neither exposed");
    // A replacement the exporter does not have, and a compatibility claim without a rule.
    let instead = with(&|d| {
        d.replacen(
            "| `libvirt_domains_number` (K) | `libvirt_domains` |",
            "| `libvirt_domains_number` (K) | `libvirt_domain_count` |",
            1,
        )
    });
    reported(&instead, "libvirt_domain_count is named as the replacement");
    let no_rule = with(&|d| {
        d.replacen(
            "| `libvirt_domain_timed_out` (I) |",
            "| `libvirt_domain_timed_out` (I), `libvirt_domain_gone` (I) |",
            1,
        )
        .replacen(
            "a host-wide count with no per-domain series | — (no per-domain source) |",
            "a host-wide count with no per-domain series | `libvirt-compat.rules.yml` |",
            1,
        )
    });
    reported(
        &no_rule,
        "libvirt_domain_gone: the row says the compatibility rules recreate it, they do not",
    );
}

#[test]
fn the_row_parser_reads_only_metric_tables() {
    let doc = "\
| Collector | Default |
|---|---|
| `cpu` | on |

| Metric | Type | Unit | Labels | libvirt source | Replaces |
|---|---|---|---|---|---|
| `a_total` | counter | s | `domain` | `cpu.time` | — |
| `b_info` | info | — | — | XML | `x` (I) |
text after
| `not_a_row_of_the_table` | gauge | | | | |
";
    // The trailing pipe row sits outside any metric table (a paragraph line ended the table).
    let rows = documented_rows(doc);
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a_total", "b_info"]);
    assert_eq!(rows[0].kind, "counter");
    assert_eq!(rows[1].kind, "info");
}
