//! docs/metrics.md documents exactly the families the code can expose, with the right types.

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

fn read_doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

#[test]
fn metrics_doc_lists_exactly_the_catalogue_with_matching_types() {
    let rows = documented_rows(&read_doc());
    assert!(
        !rows.is_empty(),
        "no metric tables found in docs/metrics.md"
    );

    // No family documented twice.
    let mut first_seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut duplicates = Vec::new();
    for r in &rows {
        if let Some(prev) = first_seen.insert(&r.name, r.line) {
            duplicates.push(format!("{} (lines {prev} and {})", r.name, r.line));
        }
    }
    assert!(
        duplicates.is_empty(),
        "documented more than once in docs/metrics.md: {duplicates:?}"
    );

    // The code's catalogue must itself be free of duplicates for the comparison to mean anything.
    let catalogue = catalogue();
    let code: BTreeMap<String, Kind> = catalogue.iter().cloned().collect();
    assert_eq!(
        code.len(),
        catalogue.len(),
        "catalogue() lists a family twice"
    );

    let documented: BTreeSet<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    let exposed: BTreeSet<&str> = code.keys().map(String::as_str).collect();
    let missing: Vec<&str> = exposed.difference(&documented).copied().collect();
    let extra: Vec<&str> = documented.difference(&exposed).copied().collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/metrics.md is out of date.\n  exposed by the code but not documented: {missing:?}\n  documented but not exposed by the code: {extra:?}"
    );

    let wrong_types: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let want = kind_word(code[&r.name]);
            (r.kind != want).then(|| {
                format!(
                    "{} (line {}): documented {:?}, code says {want}",
                    r.name, r.line, r.kind
                )
            })
        })
        .collect();
    assert!(
        wrong_types.is_empty(),
        "wrong Type in docs/metrics.md: {wrong_types:#?}"
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
