//! The integration tests' one exposition parser: strict about the Prometheus text format and
//! OpenMetrics (every line a comment the format allows or a well-formed sample, only the
//! escapes `\\`, `\"` and `\n` in label values, no label twice, `# EOF` last in OpenMetrics),
//! and [`Metrics`], the parsed samples with look-ups by name and labels.
//!
//! No crate on crates.io reads label values with quotes, braces, commas and raw control
//! characters correctly (`prometheus-parse` cuts labels at the first `}` and `,`;
//! `openmetrics-parser` refuses a carriage return, which the text format leaves unescaped),
//! so this one is ours.

use std::collections::{BTreeMap, BTreeSet};

/// One sample of an exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses an exposition strictly (see the module's doc). OpenMetrics must end with `# EOF`
/// and have nothing after it; the error names the line and what is wrong with it.
pub fn parse_strict(text: &str, openmetrics: bool) -> Result<Vec<Sample>, String> {
    let body = if openmetrics {
        text.strip_suffix("# EOF\n")
            .ok_or("OpenMetrics must end with \"# EOF\\n\"")?
    } else {
        text
    };
    let mut samples = Vec::new();
    for (n, line) in body.split_terminator('\n').enumerate() {
        let err = |what: &str| format!("line {}: {what}: {line:?}", n + 1);
        if let Some(comment) = line.strip_prefix("# ") {
            let ok = ["HELP ", "TYPE ", "UNIT "]
                .iter()
                .any(|k| comment.starts_with(k));
            if !ok {
                return Err(err("unexpected comment"));
            }
            continue;
        }
        samples.push(parse_sample(line).map_err(|e| err(&e))?);
    }
    Ok(samples)
}

fn is_name(s: &str, colon: bool) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
}

/// `name{label="value",...} value [timestamp]`.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_name(name, true) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(mut cur) = rest.strip_prefix('{') {
        rest = match cur.strip_prefix('}') {
            Some(after) => after,
            None => loop {
                let eq = cur.find('=').ok_or("label without =")?;
                let label = &cur[..eq];
                if !is_name(label, false) {
                    return Err(format!("bad label name {label:?}"));
                }
                cur = cur[eq + 1..]
                    .strip_prefix('"')
                    .ok_or("label value without opening quote")?;
                let (value, close) = label_value(cur)?;
                if labels.insert(label.to_string(), value).is_some() {
                    return Err(format!("label {label:?} twice"));
                }
                cur = &cur[close + 1..];
                if let Some(after) = cur.strip_prefix(',') {
                    cur = after;
                } else if let Some(after) = cur.strip_prefix('}') {
                    break after;
                } else {
                    return Err("expected , or } after a label".into());
                }
            },
        };
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut parts = value.split(' ');
    let number = parts.next().unwrap_or("");
    let parsed = match number {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        n => n.parse::<f64>().ok().filter(|v| v.is_finite()),
    };
    let timestamp_ok = parts.next().is_none_or(|t| t.parse::<f64>().is_ok());
    match parsed {
        Some(value) if timestamp_ok && parts.next().is_none() => Ok(Sample {
            name: name.to_string(),
            labels,
            value,
        }),
        _ => Err(format!("bad value {value:?}")),
    }
}

/// The unescaped label value that starts `text` (just after its opening quote), and the
/// index of its closing quote.
fn label_value(text: &str) -> Result<(String, usize), String> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    loop {
        match chars.next().ok_or("unterminated label value")? {
            (_, '\\') => match chars.next().ok_or("dangling backslash")?.1 {
                '\\' => value.push('\\'),
                '"' => value.push('"'),
                'n' => value.push('\n'),
                other => return Err(format!("bad escape \\{other}")),
            },
            (i, '"') => return Ok((value, i)),
            (_, c) => value.push(c),
        }
    }
}

/// A parsed exposition.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub samples: Vec<Sample>,
}

impl Metrics {
    /// Parses the text format, or OpenMetrics when `text` ends with `# EOF`, strictly; panics
    /// with the parser's complaint.
    pub fn parse(text: &str) -> Metrics {
        let openmetrics = text.ends_with("# EOF\n");
        let samples = parse_strict(text, openmetrics).unwrap_or_else(|e| {
            let format = if openmetrics {
                "OpenMetrics"
            } else {
                "text format"
            };
            panic!("not a valid {format} exposition: {e}")
        });
        Metrics { samples }
    }

    /// Samples of `name` whose labels include all of `labels`.
    pub fn find<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The value of the one sample of `name` matching `labels`; panics if there are several.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<_> = self.find(name, labels).collect();
        assert!(
            found.len() <= 1,
            "{name}{labels:?} matches {} samples",
            found.len()
        );
        found.first().map(|s| s.value)
    }

    /// Like [`Metrics::value`] but the sample must exist.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
    }

    pub fn names(&self) -> BTreeSet<&str> {
        self.samples.iter().map(|s| s.name.as_str()).collect()
    }

    /// The `domain` label values of all samples.
    pub fn domains_shown(&self) -> BTreeSet<String> {
        self.samples
            .iter()
            .filter_map(|s| s.labels.get("domain").cloned())
            .collect()
    }
}
