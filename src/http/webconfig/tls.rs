//! `tls_server_config` → a rustls server configuration (ring provider): the certificate and
//! key, the TLS versions, cipher suites and curves (exporter-toolkit's Go names, read by
//! `tls_names.rs`), and the client certificate verifier (`client_certs.rs`). Every value rustls
//! cannot honour (TLS 1.0/1.1, CBC or RSA key-exchange suites, P-521) is an error naming it,
//! never dropped quietly.

use super::client_certs::client_verifier;
use super::file::TlsServerConfig;
use super::tls_names::{ClientAuth, TlsVersion};
use rustls::crypto::{ring, CryptoProvider, SupportedKxGroup};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{Error as TlsError, ServerConfig, SupportedProtocolVersion};
use std::path::Path;
use std::sync::Arc;

/// PEM text from a file (`file_key`, resolved against `dir`) or inline (`inline_key`); at most
/// one of the two.
pub(super) fn pem_source(
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

pub(super) fn certificates(
    bytes: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
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
    let auth = t.client_auth_type.unwrap_or(ClientAuth::NoClientCert);
    let verifier = client_verifier(t, auth, dir, &provider)?;
    let client_certificates = match auth {
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
        for suite in names.iter().map(|name| name.rustls()) {
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
        for group in names.iter().map(|name| name.rustls()) {
            if !groups.iter().any(|g| g.name() == group.name()) {
                groups.push(group);
            }
        }
        provider.kx_groups = groups;
    }
    Ok(provider)
}

fn versions(t: &TlsServerConfig) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let min = t.min_version.unwrap_or(TlsVersion::Tls12);
    let max = t.max_version.unwrap_or(TlsVersion::Tls13);
    if min > max {
        return Err(format!(
            "tls_server_config: min_version {min} is above max_version {max}; swap them"
        ));
    }
    Ok(TlsVersion::ALL
        .into_iter()
        .filter(|v| (min..=max).contains(v))
        .map(TlsVersion::rustls)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(yaml: &str) -> TlsServerConfig {
        serde_norway::from_str(yaml).unwrap()
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
            .map(|s| s.suite())
            .collect();
        assert_eq!(
            tls12,
            [rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
        );
        assert_eq!(
            p.cipher_suites
                .iter()
                .filter(|s| s.version() == &rustls::version::TLS13)
                .count(),
            3
        );
        let p = provider(&tls(
            "cipher_suites: [TLS_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]",
        ))
        .unwrap();
        assert_eq!(p.cipher_suites.len(), 2);
    }

    #[test]
    fn curves_keep_the_listed_order() {
        let p = provider(&tls("curve_preferences: [CurveP384, X25519, CurveP384]")).unwrap();
        let names: Vec<_> = p.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(
            names,
            [rustls::NamedGroup::secp384r1, rustls::NamedGroup::X25519]
        );
    }

    #[test]
    fn versions_are_the_range_from_min_to_max() {
        for (yaml, expected) in [
            (
                "{}",
                &[&rustls::version::TLS12, &rustls::version::TLS13][..],
            ),
            ("min_version: TLS13", &[&rustls::version::TLS13]),
            ("max_version: TLS12", &[&rustls::version::TLS12]),
            (
                "min_version: TLS12\nmax_version: TLS12",
                &[&rustls::version::TLS12],
            ),
        ] {
            assert_eq!(versions(&tls(yaml)).unwrap(), expected, "{yaml}");
        }
    }

    #[test]
    fn values_rustls_cannot_honour_together_are_errors_naming_them() {
        let err = versions(&tls("min_version: TLS13\nmax_version: TLS12")).unwrap_err();
        assert_eq!(
            err,
            "tls_server_config: min_version TLS13 is above max_version TLS12; swap them"
        );
        for (yaml, needle) in [
            ("cipher_suites: []", "cipher_suites: empty list"),
            ("curve_preferences: []", "curve_preferences: empty list"),
        ] {
            let err = provider(&tls(yaml)).unwrap_err();
            assert!(err.contains(needle), "{yaml}: {err}");
        }
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
}
