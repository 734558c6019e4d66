//! The web configuration file as written: exporter-toolkit's YAML keys, parsed strictly (an
//! unknown or misspelt key is an error, not a silently ignored line). Values stay close to the
//! text here, except the TLS enumerations, which are checked as they are read (`tls_names.rs`);
//! `mod.rs`, `tls.rs` and `auth.rs` turn them into something that can serve.

use super::tls_names::{self, CipherSuite, ClientAuth, Curve, TlsVersion};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename = "web configuration")]
pub(super) struct Document {
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    #[serde(default)]
    pub http_server_config: Option<HttpServerConfig>,
    /// User name → bcrypt hash.
    #[serde(default)]
    pub basic_auth_users: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
}

/// `tls_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename = "tls_server_config")]
pub(super) struct TlsServerConfig {
    /// PEM certificate chain, inline.
    pub cert: Option<String>,
    /// PEM private key, inline.
    pub key: Option<String>,
    /// PEM client CA certificates, inline.
    pub client_ca: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub client_ca_file: Option<String>,
    #[serde(default, deserialize_with = "tls_names::optional")]
    pub client_auth_type: Option<ClientAuth>,
    pub client_allowed_sans: Option<Vec<String>>,
    #[serde(default, deserialize_with = "tls_names::optional")]
    pub min_version: Option<TlsVersion>,
    #[serde(default, deserialize_with = "tls_names::optional")]
    pub max_version: Option<TlsVersion>,
    #[serde(default, deserialize_with = "tls_names::list")]
    pub cipher_suites: Option<Vec<CipherSuite>>,
    #[serde(default, deserialize_with = "tls_names::list")]
    pub curve_preferences: Option<Vec<Curve>>,
    pub prefer_server_cipher_suites: Option<bool>,
}

impl TlsServerConfig {
    /// Whether anything that switches TLS on is set (as exporter-toolkit decides it).
    pub fn enables_tls(&self) -> bool {
        self.cert.is_some()
            || self.key.is_some()
            || self.cert_file.is_some()
            || self.key_file.is_some()
            || self.client_ca.is_some()
            || self.client_ca_file.is_some()
            || self.client_auth_type.is_some()
    }

    /// The keys that tune TLS without switching it on, for the error when they stand alone.
    pub fn tuning_keys(&self) -> Vec<&'static str> {
        [
            ("client_allowed_sans", self.client_allowed_sans.is_some()),
            ("min_version", self.min_version.is_some()),
            ("max_version", self.max_version.is_some()),
            ("cipher_suites", self.cipher_suites.is_some()),
            ("curve_preferences", self.curve_preferences.is_some()),
            (
                "prefer_server_cipher_suites",
                self.prefer_server_cipher_suites.is_some(),
            ),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect()
    }
}

/// `http_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename = "http_server_config")]
pub(super) struct HttpServerConfig {
    pub http2: Option<bool>,
    pub headers: Option<BTreeMap<String, String>>,
}

/// `rate_limit`: a token bucket of `burst` requests refilled one per `interval`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename = "rate_limit")]
pub(super) struct RateLimit {
    pub interval: Option<String>,
    pub burst: Option<u32>,
}

/// Parses the YAML text. An empty document is refused by the caller before this.
pub(super) fn parse(text: &str) -> Result<Document, String> {
    serde_norway::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_key_parses() {
        let f = parse(
            r#"
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  client_allowed_sans: ["scraper.example"]
  min_version: TLS12
  max_version: TLS13
  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
  curve_preferences: [X25519, CurveP256]
  prefer_server_cipher_suites: false
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
basic_auth_users:
  alice: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi
rate_limit:
  interval: 1s
  burst: 10
"#,
        )
        .unwrap();
        let tls = f.tls_server_config.unwrap();
        assert_eq!(tls.cert_file.as_deref(), Some("server.crt"));
        assert_eq!(tls.curve_preferences.unwrap(), [Curve::X25519, Curve::P256]);
        assert_eq!(
            tls.client_auth_type,
            Some(ClientAuth::RequireAndVerifyClientCert)
        );
        assert_eq!(tls.min_version, Some(TlsVersion::Tls12));
        assert_eq!(tls.max_version, Some(TlsVersion::Tls13));
        assert_eq!(
            tls.cipher_suites.unwrap(),
            [CipherSuite::EcdheRsaAes128GcmSha256]
        );
        assert_eq!(tls.prefer_server_cipher_suites, Some(false));
        let http = f.http_server_config.unwrap();
        assert_eq!(http.http2, Some(false));
        assert_eq!(http.headers.unwrap()["X-Frame-Options"], "deny");
        assert_eq!(f.basic_auth_users.unwrap().len(), 1);
        assert_eq!(f.rate_limit.unwrap().burst, Some(10));
    }

    #[test]
    fn null_sections_are_empty() {
        let f = parse("tls_server_config:\nbasic_auth_users:\n").unwrap();
        assert!(f.tls_server_config.is_none());
        assert!(f.basic_auth_users.is_none());
        let f = parse("tls_server_config:\n  min_version:\n  cipher_suites:\n").unwrap();
        let tls = f.tls_server_config.unwrap();
        assert!(tls.min_version.is_none() && tls.cipher_suites.is_none());
    }

    #[test]
    fn a_bad_value_of_each_enumeration_is_an_error_naming_the_key_the_value_and_the_choices() {
        for (text, expected) in [
            (
                "tls_server_config:\n  min_version: TLS11\n",
                "tls_server_config.min_version: TLS11 is not supported: this exporter (rustls) speaks only TLS12 and TLS13; use TLS12 or TLS13 at line 2 column 16",
            ),
            (
                "tls_server_config:\n  max_version: TLS1.3\n",
                "tls_server_config.max_version: unknown TLS version \"TLS1.3\"; use TLS12 or TLS13 at line 2 column 16",
            ),
            (
                "tls_server_config:\n  curve_preferences: [X25519, P-256]\n",
                "tls_server_config.curve_preferences[1]: unknown curve \"P-256\"; use X25519, CurveP256 or CurveP384 at line 2 column 31",
            ),
            (
                "tls_server_config:\n  client_auth_type: RequireClientCertificate\n",
                "tls_server_config.client_auth_type: unknown value \"RequireClientCertificate\"; use one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert at line 2 column 21",
            ),
            (
                "tls_server_config:\n  cipher_suites:\n    - TLS_AES_128_GCM_SHA256\n    - TLS_RSA_WITH_AES_256_GCM_SHA384\n",
                &format!("tls_server_config.cipher_suites[1]: \"TLS_RSA_WITH_AES_256_GCM_SHA384\" is not available; this exporter (rustls) supports {} at line 4 column 7", tls_names::CIPHER_SUITES),
            ),
        ] {
            assert_eq!(parse(text).unwrap_err(), expected, "{text:?}");
        }
        // Not a name at all.
        let err =
            parse("tls_server_config:\n  cipher_suites: TLS_AES_128_GCM_SHA256\n").unwrap_err();
        assert!(
            err.starts_with("tls_server_config.cipher_suites: invalid type: string"),
            "{err}"
        );
    }

    #[test]
    fn unknown_and_misplaced_keys_are_errors_naming_the_key() {
        for (text, needle) in [
            ("tls_config: {}\n", "tls_config"),
            ("tls_server_config:\n  cert_fille: x\n", "cert_fille"),
            ("http_server_config:\n  http3: true\n", "http3"),
            ("basic_auth_users: [alice]\n", "basic_auth_users"),
            ("rate_limit:\n  burst: -1\n", "burst"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
