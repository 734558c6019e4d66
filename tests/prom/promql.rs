//! The metric selectors of a PromQL expression (`name{label op "value", ...}`), found by a
//! small scanner that knows PromQL's keywords, aggregations, strings, ranges and label
//! lists. It assumes the expression parses (promtool checks that separately).

/// `name{matchers}` as written in the expression, without its range.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    pub metric: String,
    pub matchers: Vec<Matcher>,
    /// The selector's text, e.g. `up{job="x"}`.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    pub label: String,
    pub op: String,
    pub value: String,
}

/// Words followed by a parenthesised list of label names.
const LABEL_LIST_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const OPERATOR_WORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "Inf", "NaN",
];
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Index just past the string literal starting at `i`, and its unescaped value.
fn string_at(s: &str, i: usize) -> (usize, String) {
    let b = s.as_bytes();
    let quote = b[i];
    let mut j = i + 1;
    let mut value = String::new();
    while j < b.len() && b[j] != quote {
        if b[j] == b'\\' && quote != b'`' && j + 1 < b.len() {
            value.push(b[j + 1] as char);
            j += 2;
        } else {
            let ch = s[j..].chars().next().unwrap();
            value.push(ch);
            j += ch.len_utf8();
        }
    }
    (j + 1, value)
}

/// Index just past the bracket that closes the one at `i` (strings skipped).
fn close_of(s: &str, i: usize) -> usize {
    let b = s.as_bytes();
    let (open, close) = (b[i], if b[i] == b'(' { b')' } else { b']' });
    let mut depth = 0;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'"' | b'\'' | b'`' => {
                j = string_at(s, j).0;
                continue;
            }
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    b.len()
}

/// Parses `{label op "value", ...}` at `i`; returns the matchers and the index past `}`.
fn matchers_at(s: &str, i: usize) -> (Vec<Matcher>, usize) {
    let b = s.as_bytes();
    let mut j = i + 1;
    let mut out = Vec::new();
    loop {
        j = skip_ws(b, j);
        while j < b.len() && b[j] == b',' {
            j = skip_ws(b, j + 1);
        }
        if j >= b.len() || b[j] == b'}' {
            return (out, (j + 1).min(b.len()));
        }
        let start = j;
        while j < b.len() && is_ident(b[j]) {
            j += 1;
        }
        let label = s[start..j].to_string();
        j = skip_ws(b, j);
        let op_len =
            if s[j..].starts_with("=~") || s[j..].starts_with("!~") || s[j..].starts_with("!=") {
                2
            } else {
                1
            };
        let op = s[j..j + op_len].to_string();
        j = skip_ws(b, j + op_len);
        let (end, value) = string_at(s, j);
        j = end;
        out.push(Matcher { label, op, value });
    }
}

/// Every metric selector of `expr`, in order.
pub fn selectors(expr: &str) -> Vec<Selector> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'"' || c == b'\'' || c == b'`' {
            i = string_at(expr, i).0;
        } else if c == b'[' {
            i = close_of(expr, i);
        } else if c == b'{' {
            // a selector without a metric name: `{__name__="x", ...}`
            let (matchers, end) = matchers_at(expr, i);
            let metric = matchers
                .iter()
                .find(|m| m.label == "__name__" && m.op == "=")
                .map(|m| m.value.clone())
                .unwrap_or_default();
            out.push(Selector {
                metric,
                matchers,
                text: expr[i..end].to_string(),
            });
            i = end;
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            // numbers and durations: 0.75, 24, 5m, 1e3, 0x1f
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            let word = &expr[start..i];
            let next = skip_ws(b, i);
            let next_char = b.get(next).copied();
            if LABEL_LIST_KEYWORDS.contains(&word) {
                if next_char == Some(b'(') {
                    i = close_of(expr, next);
                }
            } else if OPERATOR_WORDS.contains(&word)
                || AGGREGATIONS.contains(&word)
                || next_char == Some(b'(')
            {
                // a keyword, an aggregation or a function name
            } else if next_char == Some(b'{') {
                let (matchers, end) = matchers_at(expr, next);
                out.push(Selector {
                    metric: word.to_string(),
                    matchers,
                    text: expr[start..end].to_string(),
                });
                i = end;
            } else {
                out.push(Selector {
                    metric: word.to_string(),
                    matchers: Vec::new(),
                    text: word.to_string(),
                });
            }
        } else {
            i += 1;
        }
    }
    out
}
