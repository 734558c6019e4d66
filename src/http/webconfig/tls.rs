//! `tls_server_config` → a rustls server configuration (ring provider). exporter-toolkit's
//! names are Go's (`TLS12`, `CurveP256`, `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`); every value
//! rustls cannot honour (TLS 1.0/1.1, CBC or RSA key-exchange suites, P-521) is an error naming
//! it, never dropped quietly. Client certificates: the five Go client auth types, with
//! `client_allowed_sans` checked against the leaf certificate's subject alternative names.

use super::file::TlsServerConfig;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{ring, CryptoProvider, SupportedKxGroup, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName, Error as TlsError, RootCertStore, ServerConfig,
    SignatureScheme, SupportedCipherSuite, SupportedProtocolVersion,
};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

/// Go's cipher suite names that rustls (ring) implements. Go accepts the CHACHA20 ones
/// without `_SHA256` too.
fn cipher_suite(name: &str) -> Option<SupportedCipherSuite> {
    use ring::cipher_suite as cs;
    Some(match name {
        "TLS_AES_128_GCM_SHA256" => cs::TLS13_AES_128_GCM_SHA256,
        "TLS_AES_256_GCM_SHA384" => cs::TLS13_AES_256_GCM_SHA384,
        "TLS_CHACHA20_POLY1305_SHA256" => cs::TLS13_CHACHA20_POLY1305_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

const CIPHER_SUITES: &str = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 (TLS 1.2) and TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256 (TLS 1.3)";

fn kx_group(name: &str) -> Option<&'static dyn SupportedKxGroup> {
    use ring::kx_group as kx;
    Some(match name {
        "X25519" => kx::X25519,
        "CurveP256" => kx::SECP256R1,
        "CurveP384" => kx::SECP384R1,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Version {
    Tls12,
    Tls13,
}

fn version(key: &str, name: &str) -> Result<Version, String> {
    match name {
        "TLS12" => Ok(Version::Tls12),
        "TLS13" => Ok(Version::Tls13),
        "TLS10" | "TLS11" => Err(format!(
            "tls_server_config.{key}: {name} is not supported: this exporter (rustls) speaks only TLS12 and TLS13; use TLS12 or TLS13"
        )),
        _ => Err(format!(
            "tls_server_config.{key}: unknown TLS version {name:?}; use TLS12 or TLS13"
        )),
    }
}

/// Go's client auth types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

fn client_auth(name: Option<&str>) -> Result<ClientAuth, String> {
    Ok(match name {
        None | Some("NoClientCert") => ClientAuth::NoClientCert,
        Some("RequestClientCert") => ClientAuth::RequestClientCert,
        // exporter-toolkit keeps the old name as an alias.
        Some("RequireAnyClientCert" | "RequireClientCert") => ClientAuth::RequireAnyClientCert,
        Some("VerifyClientCertIfGiven") => ClientAuth::VerifyClientCertIfGiven,
        Some("RequireAndVerifyClientCert") => ClientAuth::RequireAndVerifyClientCert,
        Some(other) => {
            return Err(format!(
                "tls_server_config.client_auth_type: unknown value {other:?}; use one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"
            ))
        }
    })
}

/// PEM text from a file (`file_key`, resolved against `dir`) or inline (`inline_key`); at most
/// one of the two.
fn pem_source(
    file: Option<&str>,
    inline: Option<&str>,
    file_key: &str,
    inline_key: &str,
    dir: &Path,
) -> Result<Option<(Vec<u8>, String)>, String> {
    match (file, inline) {
        (Some(_), Some(_)) => Err(format!(
            "tls_server_config: both {file_key} and {inline_key} are set; keep one"
        )),
        (Some(path), None) => {
            let path = dir.join(path);
            let what = format!("tls_server_config.{file_key} {}", path.display());
            let bytes = std::fs::read(&path).map_err(|e| {
                format!("{what}: cannot read it: {e}; check the path and that the exporter's user may read it")
            })?;
            Ok(Some((bytes, what)))
        }
        (None, Some(text)) => Ok(Some((
            text.as_bytes().to_vec(),
            format!("tls_server_config.{inline_key}"),
        ))),
        (None, None) => Ok(None),
    }
}

fn certificates(bytes: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what}: not valid PEM ({e}); give PEM certificates"))?;
    if certs.is_empty() {
        return Err(format!(
            "{what}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(certs)
}

/// Builds the rustls configuration, with a few words on client certificates for the log.
pub(super) fn server_config(
    t: &TlsServerConfig,
    dir: &Path,
    http2: bool,
) -> Result<(ServerConfig, &'static str), String> {
    let (cert_pem, cert_what) = pem_source(
        t.cert_file.as_deref(),
        t.cert.as_deref(),
        "cert_file",
        "cert",
        dir,
    )?
    .ok_or("tls_server_config: no certificate; set cert_file (and key_file)")?;
    let (key_pem, key_what) = pem_source(
        t.key_file.as_deref(),
        t.key.as_deref(),
        "key_file",
        "key",
        dir,
    )?
    .ok_or("tls_server_config: no private key; set key_file (and cert_file)")?;
    let chain = certificates(&cert_pem, &cert_what)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        format!("{key_what}: no usable PEM private key ({e}); give the certificate's key as PKCS#8, PKCS#1 or SEC1 PEM")
    })?;

    let provider = Arc::new(provider(t)?);
    let versions = versions(t)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| {
            format!("tls_server_config: the cipher_suites leave nothing for the allowed TLS versions ({e}); list a suite of each version, or narrow min_version/max_version")
        })?;
    let verifier = client_verifier(t, dir, &provider)?;
    let client_certificates = match client_auth(t.client_auth_type.as_deref())? {
        ClientAuth::NoClientCert => "no client certificates",
        ClientAuth::RequestClientCert => "client certificates requested, not checked",
        ClientAuth::RequireAnyClientCert => {
            "client certificates required, not checked against a CA"
        }
        ClientAuth::VerifyClientCertIfGiven => "client certificates verified when given",
        ClientAuth::RequireAndVerifyClientCert => "client certificates required and verified",
    };
    let mut config = builder
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| match e {
            TlsError::InconsistentKeys(_) => format!(
                "{key_what} does not belong to the certificate in {cert_what}; give the certificate's own key"
            ),
            e => format!("{cert_what} with {key_what}: cannot be used ({e})"),
        })?;
    config.ignore_client_order = t.prefer_server_cipher_suites.unwrap_or(true);
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok((config, client_certificates))
}

/// The ring provider narrowed to the listed suites and curves, in the listed order.
fn provider(t: &TlsServerConfig) -> Result<CryptoProvider, String> {
    let mut provider = ring::default_provider();
    if let Some(names) = &t.cipher_suites {
        if names.is_empty() {
            return Err("tls_server_config.cipher_suites: empty list; remove the key to use every supported suite".into());
        }
        let mut chosen = Vec::new();
        for name in names {
            let suite = cipher_suite(name).ok_or_else(|| {
                format!("tls_server_config.cipher_suites: {name:?} is not available; this exporter (rustls) supports {CIPHER_SUITES}")
            })?;
            if !chosen.contains(&suite) {
                chosen.push(suite);
            }
        }
        // As with exporter-toolkit (Go), listing only TLS 1.2 suites leaves TLS 1.3 with all of
        // its suites; listing TLS 1.3 suites too narrows those as well.
        if !chosen
            .iter()
            .any(|s| s.version() == &rustls::version::TLS13)
        {
            chosen.extend(
                provider
                    .cipher_suites
                    .iter()
                    .filter(|s| s.version() == &rustls::version::TLS13),
            );
        }
        provider.cipher_suites = chosen;
    }
    if let Some(names) = &t.curve_preferences {
        if names.is_empty() {
            return Err("tls_server_config.curve_preferences: empty list; remove the key to use every supported curve".into());
        }
        let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
        for name in names {
            let group = kx_group(name).ok_or_else(|| match name.as_str() {
                "CurveP521" | "X25519MLKEM768" => format!(
                    "tls_server_config.curve_preferences: {name} is not supported by this exporter (rustls with ring); use X25519, CurveP256 or CurveP384"
                ),
                _ => format!(
                    "tls_server_config.curve_preferences: unknown curve {name:?}; use X25519, CurveP256 or CurveP384"
                ),
            })?;
            if !groups.iter().any(|g| g.name() == group.name()) {
                groups.push(group);
            }
        }
        provider.kx_groups = groups;
    }
    Ok(provider)
}

fn versions(t: &TlsServerConfig) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let min = t
        .min_version
        .as_deref()
        .map(|v| version("min_version", v))
        .transpose()?
        .unwrap_or(Version::Tls12);
    let max = t
        .max_version
        .as_deref()
        .map(|v| version("max_version", v))
        .transpose()?
        .unwrap_or(Version::Tls13);
    if min > max {
        return Err(format!(
            "tls_server_config: min_version {min:?} is above max_version {max:?}; swap them"
        )
        .replace("Tls1", "TLS1"));
    }
    Ok([
        (Version::Tls12, &rustls::version::TLS12),
        (Version::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (min..=max).contains(v))
    .map(|(_, p)| p)
    .collect())
}

fn client_verifier(
    t: &TlsServerConfig,
    dir: &Path,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let auth = client_auth(t.client_auth_type.as_deref())?;
    let ca = pem_source(
        t.client_ca_file.as_deref(),
        t.client_ca.as_deref(),
        "client_ca_file",
        "client_ca",
        dir,
    )?;
    let verifies = matches!(
        auth,
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
    );
    let roots = match (ca, verifies) {
        (Some(_), false) => {
            return Err(format!(
                "tls_server_config: client_ca_file is set but client_auth_type {auth:?} does not verify client certificates; use RequireAndVerifyClientCert (or VerifyClientCertIfGiven)"
            ))
        }
        (None, true) => {
            return Err(format!(
                "tls_server_config.client_auth_type {auth:?} needs client_ca_file, the CA that signs the client certificates"
            ))
        }
        (Some((pem, what)), true) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(&pem, &what)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("{what}: not a usable CA certificate ({e})"))?;
            }
            Some(Arc::new(roots))
        }
        (None, false) => None,
    };
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ClientCertVerifier> = match auth {
        ClientAuth::NoClientCert => WebPkiClientVerifier::no_client_auth(),
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            Arc::new(AnyClientCert {
                mandatory: auth == ClientAuth::RequireAnyClientCert,
                algorithms,
            })
        }
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let roots = roots.ok_or("tls_server_config: client_ca_file is missing")?;
            let builder = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
            let builder = if auth == ClientAuth::VerifyClientCertIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder
                .build()
                .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?
        }
    };
    match &t.client_allowed_sans {
        None => Ok(verifier),
        Some(allowed) => {
            if !matches!(
                auth,
                ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
            ) {
                return Err(format!(
                    "tls_server_config.client_allowed_sans needs client_auth_type RequireAndVerifyClientCert (or RequireAnyClientCert), not {auth:?}"
                ));
            }
            if allowed.is_empty() {
                return Err("tls_server_config.client_allowed_sans: empty list would refuse every client; list the allowed names or remove the key".into());
            }
            Ok(Arc::new(AllowedSans {
                inner: verifier,
                allowed: allowed.clone(),
            }))
        }
    }
}

/// `RequestClientCert` and `RequireAnyClientCert`: a certificate is asked for (and required for
/// the latter) but not checked against any CA; the handshake signature is still verified.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, TlsError> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Accepts a client certificate only if one of its DNS, email, IP or URI subject alternative
/// names is listed in `client_allowed_sans` (exact match), after `inner` accepted it.
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, TlsError> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let names = subject_alt_names(end_entity).map_err(|e| {
            TlsError::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
                Arc::new(std::io::Error::other(e)),
            )))
        })?;
        if names.iter().any(|n| self.allowed.contains(n)) {
            Ok(verified)
        } else {
            tracing::debug!(
                ?names,
                "client certificate refused: no subject alternative name in client_allowed_sans"
            );
            Err(TlsError::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// DNS names, email addresses, IP addresses (in their usual text form) and URIs of a
/// certificate's subject alternative name extension.
fn subject_alt_names(cert: &CertificateDer<'_>) -> Result<Vec<String>, String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| format!("cannot parse the client certificate: {e}"))?;
    let Some(san) = cert
        .subject_alternative_name()
        .map_err(|e| format!("bad subject alternative name extension: {e}"))?
    else {
        return Ok(Vec::new());
    };
    Ok(san
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                Some(s.to_string())
            }
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => Some(IpAddr::from(<[u8; 4]>::try_from(*bytes).ok()?).to_string()),
                16 => Some(IpAddr::from(<[u8; 16]>::try_from(*bytes).ok()?).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(yaml: &str) -> TlsServerConfig {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn go_cipher_names_map_to_rustls_suites() {
        assert_eq!(
            cipher_suite("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"),
            cipher_suite("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256")
        );
        assert_eq!(
            cipher_suite("TLS_AES_256_GCM_SHA384").unwrap().suite(),
            rustls::CipherSuite::TLS13_AES_256_GCM_SHA384
        );
        assert!(cipher_suite("TLS_RSA_WITH_AES_128_CBC_SHA").is_none());
        // Every suite the provider has is reachable by a Go name listed in the message.
        for suite in ring::default_provider().cipher_suites {
            let go = format!("{:?}", suite.suite()).replace("TLS13_", "TLS_");
            assert_eq!(cipher_suite(&go), Some(suite), "{go}");
            assert!(CIPHER_SUITES.contains(&go), "{go}");
        }
    }

    #[test]
    fn listing_tls12_suites_keeps_every_tls13_suite() {
        let p = provider(&tls(
            "cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]",
        ))
        .unwrap();
        let tls12: Vec<_> = p
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS12)
            .collect();
        assert_eq!(tls12.len(), 1);
        assert_eq!(
            p.cipher_suites
                .iter()
                .filter(|s| s.version() == &rustls::version::TLS13)
                .count(),
            3
        );
        let p = provider(&tls(
            "cipher_suites: [TLS_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]",
        ))
        .unwrap();
        assert_eq!(p.cipher_suites.len(), 2);
    }

    #[test]
    fn curves_keep_the_listed_order() {
        let p = provider(&tls("curve_preferences: [CurveP384, X25519]")).unwrap();
        let names: Vec<_> = p.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(
            names,
            [rustls::NamedGroup::secp384r1, rustls::NamedGroup::X25519]
        );
    }

    #[test]
    fn values_rustls_cannot_honour_are_errors_naming_them() {
        for (yaml, needle) in [
            ("min_version: TLS10", "TLS10 is not supported"),
            ("max_version: TLS11", "TLS11 is not supported"),
            ("min_version: SSL3", "\"SSL3\""),
            ("min_version: TLS13\nmax_version: TLS12", "swap them"),
        ] {
            let err = versions(&tls(yaml)).unwrap_err();
            assert!(err.contains(needle), "{yaml}: {err}");
        }
        for (yaml, needle) in [
            (
                "cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]",
                "\"TLS_RSA_WITH_AES_128_CBC_SHA\" is not available",
            ),
            ("cipher_suites: [NOPE]", "\"NOPE\" is not available"),
            ("cipher_suites: []", "empty list"),
            (
                "curve_preferences: [CurveP521]",
                "CurveP521 is not supported",
            ),
            ("curve_preferences: [P256]", "unknown curve \"P256\""),
        ] {
            let err = provider(&tls(yaml)).unwrap_err();
            assert!(err.contains(needle), "{yaml}: {err}");
        }
        let err = client_auth(Some("RequireCert")).unwrap_err();
        assert!(err.contains("\"RequireCert\""), "{err}");
        assert_eq!(
            client_auth(Some("RequireClientCert")).unwrap(),
            ClientAuth::RequireAnyClientCert
        );
    }

    #[test]
    fn tls13_only_with_only_tls12_suites_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.path().join("c.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("k.pem"), key.serialize_pem()).unwrap();
        let base = "cert_file: c.pem\nkey_file: k.pem\n";
        server_config(&tls(base), dir.path(), true).unwrap();
        let err = server_config(
            &tls(&format!(
                "{base}min_version: TLS12\nmax_version: TLS12\ncipher_suites: [TLS_AES_128_GCM_SHA256]"
            )),
            dir.path(),
            true,
        )
        .unwrap_err();
        assert!(err.contains("leave nothing"), "{err}");
    }

    #[test]
    fn subject_alt_names_are_read_in_their_text_forms() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["scraper.example".into(), "::1".into()]).unwrap();
        params.subject_alt_names.push(rcgen::SanType::Rfc822Name(
            "ops@example.org".try_into().unwrap(),
        ));
        params.subject_alt_names.push(rcgen::SanType::URI(
            "spiffe://example/prom".try_into().unwrap(),
        ));
        let cert = params.self_signed(&key).unwrap();
        let names = subject_alt_names(cert.der()).unwrap();
        assert_eq!(
            names,
            [
                "scraper.example",
                "::1",
                "ops@example.org",
                "spiffe://example/prom"
            ]
        );
    }
}
