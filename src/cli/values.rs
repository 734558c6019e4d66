//! clap value parsers for the flags whose values have a shape: durations, whole numbers, the
//! telemetry path, libvirt URIs and domain-name regular expressions. Each error says what was
//! wrong and gives an example; clap puts the flag in front of it.

use regex::Regex;
use std::time::Duration;

/// A duration with a unit, greater than zero: `500ms`, `15s`, `2m`.
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration ({e}); use e.g. 15s, 1m or 500ms"))?;
    if d.is_zero() {
        return Err("must be greater than zero, e.g. 15s".into());
    }
    Ok(d)
}

/// A count, 0 included.
pub fn whole_number(text: &str) -> Result<usize, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not a whole number >= 0"))
}

/// The path metrics are served under: absolute, not `/` or `/healthz`, no white space.
pub fn telemetry_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/')
        || path == "/"
        || path == "/healthz"
        || path.contains(char::is_whitespace)
    {
        return Err(format!(
            "{path:?} must be a path like /metrics, other than / and /healthz"
        ));
    }
    Ok(path.to_owned())
}

/// A libvirt URI: `driver[+transport]://[host]/path`, e.g. `qemu:///system`.
pub fn libvirt_uri(uri: &str) -> Result<String, String> {
    let scheme_ok = uri.split_once(':').is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if !scheme_ok || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{uri:?} is not a libvirt URI; use e.g. qemu:///system or test:///default"
        ));
    }
    Ok(uri.to_owned())
}

/// A regular expression for domain names (matched against the whole name later).
pub fn regex(text: &str) -> Result<Regex, String> {
    Regex::new(text).map_err(|e| {
        let reason = e.to_string().lines().last().unwrap_or_default().to_owned();
        format!("{text:?} is not a regular expression ({reason})")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit_and_must_be_positive() {
        assert_eq!(positive_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(positive_duration(" 500ms "), Ok(Duration::from_millis(500)));
        assert_eq!(
            positive_duration("0s").unwrap_err(),
            "must be greater than zero, e.g. 15s"
        );
        for bad in ["15", "-5s", "soon", ""] {
            let err = positive_duration(bad).unwrap_err();
            assert!(
                err.starts_with(&format!("{bad:?} is not a duration (")),
                "{err}"
            );
            assert!(err.ends_with("use e.g. 15s, 1m or 500ms"), "{err}");
        }
    }

    #[test]
    fn whole_numbers_paths_and_uris_are_checked() {
        assert_eq!(whole_number("0"), Ok(0));
        assert_eq!(
            whole_number("-1").unwrap_err(),
            "\"-1\" is not a whole number >= 0"
        );
        assert_eq!(telemetry_path("/m/x"), Ok("/m/x".into()));
        for bad in ["metrics", "/", "/healthz", "/a b"] {
            assert!(telemetry_path(bad).is_err(), "{bad}");
        }
        for good in [
            "qemu:///system",
            "test:///default",
            "qemu+ssh://h/system?x=1",
        ] {
            assert_eq!(libvirt_uri(good).as_deref(), Ok(good));
        }
        for bad in ["qemu system", "///system", "9p:///x", "qemu:///sys\ttem"] {
            assert!(libvirt_uri(bad)
                .unwrap_err()
                .contains("use e.g. qemu:///system"));
        }
    }

    #[test]
    fn a_bad_regex_names_the_reason_on_one_line() {
        assert_eq!(regex("web-.*").unwrap().as_str(), "web-.*");
        assert_eq!(
            regex("web-(").unwrap_err(),
            "\"web-(\" is not a regular expression (error: unclosed group)"
        );
    }
}
