//! `--web.config.file`: exporter-toolkit's web configuration file (TLS, client certificates,
//! basic authentication, extra response headers, HTTP/2, a rate limit) turned into the
//! [`Settings`] the server applies, and reread when it or a file it names changes.
//!
//! `file.rs` is the YAML as written, `tls_names.rs` its TLS enumerations, `tls.rs` the rustls
//! side, `client_certs.rs` the client certificate verifiers, `auth.rs` basic authentication,
//! `rate.rs` the rate limit and `reload.rs` the watcher. Every error names the key and value
//! at fault and says what to do.

mod auth;
mod client_certs;
mod file;
mod rate;
mod reload;
mod tls;
mod tls_names;

pub(crate) use auth::BasicAuth;
pub(crate) use rate::RateLimiter;
pub(crate) use reload::watch;

use hyper::header::{HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the server applies to connections and requests. The default (no file) is plain HTTP
/// with HTTP/2 by prior knowledge, no authentication, no extra headers and no rate limit.
pub struct Settings {
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    pub(crate) http2: bool,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) auth: Option<BasicAuth>,
    pub(crate) rate_limit: Option<RateLimiter>,
    /// What client certificates TLS asks for, in a few words for the log.
    client_certificates: &'static str,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tls: None,
            http2: true,
            headers: Vec::new(),
            auth: None,
            rate_limit: None,
            client_certificates: "",
        }
    }
}

impl Settings {
    /// Whether connections are served over TLS.
    pub fn tls_enabled(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether requests need basic authentication.
    pub fn auth_enabled(&self) -> bool {
        self.auth.is_some()
    }

    /// Logs a warning when passwords would cross the network in clear.
    pub fn warn_if_unsafe(&self, path: &Path) {
        if self.auth_enabled() && !self.tls_enabled() {
            tracing::warn!(
                path = %path.display(),
                "basic authentication without TLS: passwords cross the network in clear; add tls_server_config"
            );
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// A one-line summary for the log.
impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tls = match &self.tls {
            None => "TLS off".to_string(),
            Some(_) => format!("TLS on ({})", self.client_certificates),
        };
        let users = match &self.auth {
            None => "no basic authentication".to_string(),
            Some(a) => format!("basic authentication for {} user(s)", a.len()),
        };
        let http2 = if self.http2 {
            "HTTP/2 on"
        } else {
            "HTTP/2 off"
        };
        write!(f, "{tls}, {users}, {http2}")?;
        if !self.headers.is_empty() {
            write!(f, ", {} extra header(s)", self.headers.len())?;
        }
        if self.rate_limit.is_some() {
            write!(f, ", rate limited")?;
        }
        Ok(())
    }
}

/// A web configuration file, loaded.
#[derive(Debug, Clone)]
pub struct WebConfigFile {
    pub path: PathBuf,
    pub settings: Arc<Settings>,
    /// The file and the files it names, as they were when loaded.
    fingerprint: Fingerprint,
}

/// Why a web configuration file cannot be used: one line naming the file, the key and the value.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct WebConfigError {
    pub path: PathBuf,
    pub message: String,
}

impl WebConfigFile {
    /// Reads and checks the file and every file it names.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, WebConfigError> {
        let path = path.into();
        let fingerprint = fingerprint(&path);
        let settings = load_settings(&path).map_err(|message| WebConfigError {
            path: path.clone(),
            message: one_line(&message),
        })?;
        Ok(WebConfigFile {
            path,
            settings: Arc::new(settings),
            fingerprint,
        })
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads the file and builds the settings.
fn load_settings(path: &Path) -> Result<Settings, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!("cannot read the web configuration file: {e}; check the path and that the exporter's user may read it")
    })?;
    if is_empty(&text) {
        return Err("the web configuration file is empty; write `{}` for plain HTTP without authentication, or leave out --web.config.file".into());
    }
    let f = file::parse(&text)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let http = f.http_server_config.unwrap_or_default();
    let http2 = http.http2.unwrap_or(true);
    let headers = headers(http.headers.unwrap_or_default())?;
    let mut client_certificates = "";
    let tls = match f.tls_server_config {
        Some(t) if t.enables_tls() => {
            let (config, clients) = tls::server_config(&t, dir, http2)?;
            client_certificates = clients;
            Some(Arc::new(config))
        }
        Some(t) if !t.tuning_keys().is_empty() => {
            return Err(format!(
                "tls_server_config sets {} but no certificate; add cert_file and key_file, or remove tls_server_config",
                t.tuning_keys().join(", ")
            ))
        }
        _ => None,
    };
    let auth = BasicAuth::new(&f.basic_auth_users.unwrap_or_default())?;
    let rate_limit = match f.rate_limit {
        Some(r) => rate::from_file(r.interval.as_deref(), r.burst)?,
        None => None,
    };
    Ok(Settings {
        tls,
        http2,
        headers,
        auth,
        rate_limit,
        client_certificates,
    })
}

/// Nothing but blank lines and comments (what a file caught mid-write may look like).
fn is_empty(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    })
}

/// The headers exporter-toolkit lets a file add, with the values it allows (empty: any).
const EXTRA_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

fn headers(
    configured: std::collections::BTreeMap<String, String>,
) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let allowed_names = || {
        EXTRA_HEADERS
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    configured
        .into_iter()
        .map(|(name, value)| {
            let (canonical, values) = EXTRA_HEADERS
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&name))
                .ok_or_else(|| {
                    format!(
                        "http_server_config.headers: {name:?} cannot be set; only {} can",
                        allowed_names()
                    )
                })?;
            if !values.is_empty() && !values.contains(&value.as_str()) {
                return Err(format!(
                    "http_server_config.headers.{canonical}: {value:?} is not allowed; use one of {}",
                    values.join(", ")
                ));
            }
            let header_value = HeaderValue::from_str(&value).map_err(|_| {
                format!("http_server_config.headers.{canonical}: {value:?} is not a valid header value (printable ASCII only)")
            })?;
            Ok((HeaderName::from_static(lowercase(canonical)), header_value))
        })
        .collect()
}

fn lowercase(name: &str) -> &'static str {
    match name {
        "Strict-Transport-Security" => "strict-transport-security",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-Frame-Options" => "x-frame-options",
        "X-XSS-Protection" => "x-xss-protection",
        _ => "content-security-policy",
    }
}

/// A digest of the file's bytes and of every file it names, to notice any change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint([u8; 32]);

pub(crate) fn fingerprint(path: &Path) -> Fingerprint {
    let mut h = Sha256::new();
    let mut add = |what: &Path| match std::fs::read(what) {
        Ok(bytes) => {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(&bytes);
            Some(bytes)
        }
        Err(e) => {
            h.update(format!("unreadable {:?}", e.kind()));
            None
        }
    };
    let Some(bytes) = add(path) else {
        return Fingerprint(h.finalize().into());
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let named = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|text| file::parse(text).ok())
        .and_then(|f| f.tls_server_config)
        .map(|t| {
            [t.cert_file, t.key_file, t.client_ca_file]
                .into_iter()
                .flatten()
                .map(|p| dir.join(p))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for p in named {
        add(&p);
    }
    Fingerprint(h.finalize().into())
}

#[cfg(test)]
pub(crate) mod tests;
