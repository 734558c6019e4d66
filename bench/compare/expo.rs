//! Just enough reading of a Prometheus text exposition for the benchmark: label values, one
//! sample's value, and the newest sample timestamp.

use std::collections::BTreeSet;

/// The sample lines (no comments, no blank lines).
fn samples(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
}

/// The value of label `name` in a sample line, unescaped.
fn label(line: &str, name: &str) -> Option<String> {
    let open = line.find('{')?;
    let body = &line[open + 1..];
    let mut rest = body;
    loop {
        let eq = rest.find("=\"")?;
        let key = rest[..eq].trim_start_matches(',').trim();
        let mut value = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => {
                    end = Some(eq + 2 + i + 1);
                    break;
                }
                other => value.push(other),
            }
        }
        if key == name {
            return Some(value);
        }
        rest = &rest[end?..];
        if rest.starts_with('}') {
            return None;
        }
    }
}

/// Every distinct value of label `name` across the exposition.
pub fn label_values(text: &str, name: &str) -> BTreeSet<String> {
    samples(text).filter_map(|l| label(l, name)).collect()
}

/// The value of the first sample named exactly `metric` (any labels).
pub fn value(text: &str, metric: &str) -> Option<f64> {
    samples(text).find_map(|l| {
        let rest = l.strip_prefix(metric)?;
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            return None;
        }
        let after = match rest.rfind('}') {
            Some(i) if rest.starts_with('{') => &rest[i + 1..],
            _ => rest,
        };
        after.split_whitespace().next()?.parse().ok()
    })
}

/// The explicit timestamp (ms) of the first sample whose name starts with `prefix` and whose
/// label `name` is `value`.
pub fn timestamp_of(text: &str, prefix: &str, name: &str, value: &str) -> Option<i64> {
    samples(text)
        .filter(|l| l.starts_with(prefix))
        .find(|l| label(l, name).as_deref() == Some(value))
        .and_then(|l| {
            let after = match l.rfind('}') {
                Some(i) => &l[i + 1..],
                None => l.split_once(' ')?.1,
            };
            after.split_whitespace().nth(1)?.parse().ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP x y\nx_total{domain=\"a\",uuid=\"1\"} 3\nx_total{uuid=\"2\",domain=\"b\\\"q\"} 4\nup 1\ncollectd_virt_m{virt=\"a\",instance=\"h\"} 5 1700000000123\ncollectd_virt_m{virt=\"b\",instance=\"h\"} 5 1700000000456\n";

    #[test]
    fn reads_labels_values_and_timestamps() {
        let names: Vec<String> = label_values(TEXT, "domain").into_iter().collect();
        assert_eq!(names, ["a", "b\"q"]);
        assert_eq!(value(TEXT, "up"), Some(1.0));
        assert_eq!(value(TEXT, "x_total"), Some(3.0));
        assert_eq!(value(TEXT, "x"), None);
        assert_eq!(
            timestamp_of(TEXT, "collectd_virt_", "virt", "b"),
            Some(1700000000456)
        );
        assert_eq!(timestamp_of(TEXT, "collectd_virt_", "virt", "c"), None);
        assert_eq!(label_values(TEXT, "virt").len(), 2);
    }
}
