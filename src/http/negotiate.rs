//! Content negotiation for the telemetry endpoint: the exposition format from `Accept` and
//! whether to send gzip from `Accept-Encoding`. Pure functions over the request headers.

use hyper::header::{HeaderMap, HeaderName, ACCEPT, ACCEPT_ENCODING};

/// The exposition format to answer with.
pub use crate::exposition::Format;

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Picks the format: OpenMetrics if the client explicitly accepts `application/openmetrics-text`
/// (unversioned or version 1.0.0) with a q-value above 0 and at least as high as the one it gives
/// the text format; otherwise the text format (also when nothing acceptable is listed).
///
/// For each format the most specific matching media range decides its q-value (RFC 9110 §12.5.1):
/// for text, `text/plain;version=0.0.4` over `text/plain` over `text/*` over `*/*`. Wildcards
/// never select OpenMetrics.
pub fn format(headers: &HeaderMap) -> Format {
    let mut openmetrics = Best::default();
    let mut text = Best::default();
    for element in elements(headers, &ACCEPT) {
        let Some(q) = element.q else { continue };
        let version = element.param("version");
        let media = element.value;
        if media.eq_ignore_ascii_case("application/openmetrics-text") {
            match version {
                None => openmetrics.offer(1, q),
                Some("1.0.0") => openmetrics.offer(2, q),
                Some(_) => {}
            }
        } else if media.eq_ignore_ascii_case("text/plain") {
            match version {
                None => text.offer(3, q),
                Some("0.0.4") => text.offer(4, q),
                Some(_) => {}
            }
        } else if media.eq_ignore_ascii_case("text/*") {
            text.offer(2, q);
        } else if media == "*/*" {
            text.offer(1, q);
        }
    }
    let openmetrics_q = openmetrics.q();
    if openmetrics_q > 0.0 && openmetrics_q >= text.q() {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

/// Whether the client accepts gzip: `gzip` (or `x-gzip`) with q > 0, or, when gzip is not
/// listed, `*` with q > 0. `identity` does not matter: gzip is offered whenever it is acceptable.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip: Option<f32> = None;
    let mut any: Option<f32> = None;
    for element in elements(headers, &ACCEPT_ENCODING) {
        let Some(q) = element.q else { continue };
        let coding = element.value;
        let slot = if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            &mut gzip
        } else if coding == "*" {
            &mut any
        } else {
            continue;
        };
        *slot = Some(slot.map_or(q, |prev| prev.max(q)));
    }
    gzip.or(any).is_some_and(|q| q > 0.0)
}

/// The q-value of the most specific media range seen so far for one format.
#[derive(Default)]
struct Best {
    /// (specificity, q)
    found: Option<(u8, f32)>,
}

impl Best {
    fn offer(&mut self, specificity: u8, q: f32) {
        self.found = match self.found {
            Some((s, prev)) if s > specificity => Some((s, prev)),
            Some((s, prev)) if s == specificity => Some((s, prev.max(q))),
            _ => Some((specificity, q)),
        };
    }

    /// 0 when no range matched: not acceptable.
    fn q(&self) -> f32 {
        self.found.map_or(0.0, |(_, q)| q)
    }
}

/// One element of a comma-separated header list: `value;name=param;q=0.5`.
struct Element<'a> {
    value: &'a str,
    params: Vec<(&'a str, &'a str)>,
    /// `None` when the q parameter is malformed: the element is ignored.
    q: Option<f32>,
}

impl<'a> Element<'a> {
    fn parse(raw: &'a str) -> Option<Self> {
        let mut parts = split_unquoted(raw, b';').into_iter().map(str::trim);
        let value = parts.next().filter(|v| !v.is_empty())?;
        let mut params = Vec::new();
        let mut q = Some(1.0);
        for part in parts {
            let (name, val) = part.split_once('=').unwrap_or((part, ""));
            let (name, val) = (name.trim(), unquote(val.trim()));
            if name.eq_ignore_ascii_case("q") {
                q = parse_q(val);
            } else {
                params.push((name, val));
            }
        }
        Some(Element { value, params, q })
    }

    /// The value of parameter `name` (case-insensitive name), unquoted.
    fn param(&self, name: &str) -> Option<&'a str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, v)| v)
    }
}

/// All elements of every `name` header. Values that are not valid UTF-8 are skipped.
fn elements<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = Element<'a>> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| split_unquoted(value, b','))
        .filter_map(Element::parse)
}

/// Splits on `sep` outside double-quoted strings (honouring backslash escapes inside them).
fn split_unquoted(s: &str, sep: u8) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, b) in s.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if b == sep && !quoted {
            out.push(&s[start..i]);
            start = i + 1;
        }
    }
    out.push(&s[start..]);
    out
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

/// `0`..`1` with up to three decimals per RFC 9110, parsed leniently; anything else is malformed.
fn parse_q(s: &str) -> Option<f32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    s.parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(name: HeaderName, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(name.clone(), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn negotiated(accept: &[&str]) -> Format {
        format(&headers(ACCEPT, accept))
    }

    #[test]
    fn accept_table() {
        use Format::{OpenMetrics as OM, Text};
        let cases: &[(&[&str], Format)] = &[
            (&[], Text),
            (&[""], Text),
            (&["*/*"], Text),
            (&["text/*"], Text),
            (&["text/plain"], Text),
            (&["application/json"], Text),
            (&["application/openmetrics-text"], OM),
            (&["application/openmetrics-text;version=1.0.0"], OM),
            (&["application/openmetrics-text; version=\"1.0.0\""], OM),
            (&["application/openmetrics-text;version=0.0.1"], Text),
            (&["application/openmetrics-text;version=2.0.0"], Text),
            // Case-insensitive type and parameter names.
            (&["Application/OpenMetrics-Text; Version=1.0.0"], OM),
            (&["APPLICATION/OPENMETRICS-TEXT;Q=0.5"], OM),
            // q-values.
            (&["application/openmetrics-text;q=0"], Text),
            (&["application/openmetrics-text;q=0.0"], Text),
            (&["application/openmetrics-text;q=0.001"], OM),
            (&["application/openmetrics-text;q=0.5,text/plain"], Text),
            (&["application/openmetrics-text;q=0.5,text/plain;q=0.4"], OM),
            (&["application/openmetrics-text;q=0.5,*/*;q=0.1"], OM),
            (&["application/openmetrics-text;q=0.5, */*"], Text),
            (&["text/plain;q=0.5,application/openmetrics-text;q=0.5"], OM),
            (&["text/plain;q=0, application/openmetrics-text;q=0.1"], OM),
            (&["text/plain;q=0, application/openmetrics-text;q=0"], Text),
            // Malformed q: the element is ignored.
            (&["application/openmetrics-text;q=abc"], Text),
            (&["application/openmetrics-text;q=1.5"], Text),
            (&["application/openmetrics-text;q=-1"], Text),
            // Parameters: versions that are not ours do not match; others are ignored.
            (&["application/openmetrics-text;version=1.0.0;escaping=allow-utf-8"], OM),
            (&["application/openmetrics-text;q=0.5,text/plain;version=1.0.0"], OM),
            // More specific ranges decide: text/plain;version=0.0.4 over text/plain over */*.
            (&["text/plain;version=0.0.4;q=0.2,text/plain,application/openmetrics-text;q=0.5"], OM),
            (&["text/plain;q=0.2,*/*,application/openmetrics-text;q=0.5"], OM),
            (&["text/*;q=0.2,*/*,application/openmetrics-text;q=0.5"], OM),
            // The highest q among equally specific OpenMetrics ranges counts.
            (&["application/openmetrics-text;version=1.0.0;q=0.2,application/openmetrics-text;version=1.0.0;q=0.9,text/plain;q=0.5"], OM),
            // Several Accept headers are one list.
            (&["text/plain;q=0.3", "application/openmetrics-text;q=0.6"], OM),
            // Quoted commas and semicolons do not split elements.
            (&["text/plain;x=\"a,application/openmetrics-text\""], Text),
            (&["text/plain;x=\"a;q=0\";q=0.1,application/openmetrics-text;q=0.2"], OM),
            // What Prometheus 2 and 3 send.
            (&["application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"], OM),
            (&["application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"], OM),
            // Prometheus configured for the text format only.
            (&["text/plain;version=0.0.4;q=1,*/*;q=0.1"], Text),
            // Junk.
            (&[",,;;,"], Text),
            (&[";q=1"], Text),
            (&["application/openmetrics-text;;q"], Text),
        ];
        for (accept, want) in cases {
            assert_eq!(negotiated(accept), *want, "Accept: {accept:?}");
        }
    }

    #[test]
    fn non_utf8_accept_is_ignored() {
        let mut map = HeaderMap::new();
        map.append(
            ACCEPT,
            HeaderValue::from_bytes(b"\xffapplication/openmetrics-text").unwrap(),
        );
        assert_eq!(format(&map), Format::Text);
    }

    #[test]
    fn gzip_table() {
        let cases: &[(&[&str], bool)] = &[
            (&[], false),
            (&[""], false),
            (&["gzip"], true),
            (&["GZIP"], true),
            (&["x-gzip"], true),
            (&["gzip, deflate, br"], true),
            (&["deflate, br"], false),
            (&["gzip;q=0"], false),
            (&["gzip; q=0.000"], false),
            (&["gzip;q=0.1"], true),
            (&["gzip;q=bogus"], false),
            (&["identity"], false),
            (&["identity;q=1, gzip;q=0.5"], true),
            (&["*"], true),
            (&["*;q=0"], false),
            (&["*, gzip;q=0"], false),
            (&["*;q=0, gzip"], true),
            (&["br", "gzip"], true),
        ];
        for (accept_encoding, want) in cases {
            assert_eq!(
                accepts_gzip(&headers(ACCEPT_ENCODING, accept_encoding)),
                *want,
                "Accept-Encoding: {accept_encoding:?}"
            );
        }
    }

    /// A client that names the content type it was served in its `Accept` header gets that
    /// format again, also over the other one offered with a lower q-value; and the charset
    /// parameter the server sends reads as UTF-8.
    #[test]
    fn each_content_type_negotiates_its_own_format() {
        for (format, other) in [
            (
                Format::Text,
                "application/openmetrics-text;version=1.0.0;q=0.5",
            ),
            (Format::OpenMetrics, "text/plain;version=0.0.4;q=0.5"),
        ] {
            let served = format.content_type();
            assert_eq!(negotiated(&[served]), format, "Accept: {served}");
            let accept = format!("{served}, {other}");
            assert_eq!(negotiated(&[&accept]), format, "Accept: {accept}");
            let element = Element::parse(served).unwrap();
            assert_eq!(element.param("charset"), Some("utf-8"), "{served}");
        }
    }
}
