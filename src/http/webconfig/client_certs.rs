//! Client certificates for `tls_server_config`: the rustls verifier for each of Go's client
//! auth types, certificates pinned by being listed in `client_ca_file` themselves, and
//! `client_allowed_sans` checked against the leaf certificate's subject alternative names.

use super::file::TlsServerConfig;
use super::tls::{certificates, pem_source};
use super::tls_names::ClientAuth;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error as TlsError, RootCertStore,
    SignatureScheme,
};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

/// The verifier for `auth`, with the CA certificates of `client_ca_file` (or `client_ca`).
pub(super) fn client_verifier(
    t: &TlsServerConfig,
    auth: ClientAuth,
    dir: &Path,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
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
    let ca_certificates = match (ca, verifies) {
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
            let certs = certificates(&pem, &what)?;
            let mut roots = RootCertStore::empty();
            for cert in &certs {
                roots
                    .add(cert.clone())
                    .map_err(|e| format!("{what}: not a usable CA certificate ({e})"))?;
            }
            Some((Arc::new(roots), certs))
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
            let (roots, pinned) =
                ca_certificates.ok_or("tls_server_config: client_ca_file is missing")?;
            let builder = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
            let builder = if auth == ClientAuth::VerifyClientCertIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            let webpki = builder
                .build()
                .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?;
            Arc::new(LeafChecks {
                pinned,
                allowed_sans: None,
                inner: webpki,
            })
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
            Ok(Arc::new(LeafChecks {
                pinned: Vec::new(),
                allowed_sans: Some(allowed.clone()),
                inner: verifier,
            }))
        }
    }
}

/// What is checked of a client certificate on top of `inner`'s verification.
///
/// Pinning: a certificate that is byte for byte (DER) one of `pinned` (`client_ca_file`'s
/// certificates) is accepted as it stands, as Go's crypto/x509 does when the leaf is itself
/// one of the roots. That is how a self-signed certificate made by `openssl req -x509` (which
/// marks it `CA:TRUE`, and webpki refuses a CA as an end entity) names itself as its own CA.
/// It must still be within its validity period and, if it lists extended key usages, allow
/// client authentication; the handshake signature proves the client holds its key. Every
/// other certificate goes through `inner` (webpki's full verification).
///
/// `client_allowed_sans`: with `allowed_sans`, a certificate `inner` accepted must also carry
/// one of these DNS, email, IP or URI subject alternative names (exact match).
#[derive(Debug)]
struct LeafChecks {
    pinned: Vec<CertificateDer<'static>>,
    allowed_sans: Option<Vec<String>>,
    inner: Arc<dyn ClientCertVerifier>,
}

impl LeafChecks {
    fn check_sans(&self, end_entity: &CertificateDer<'_>) -> Result<(), TlsError> {
        let Some(allowed) = &self.allowed_sans else {
            return Ok(());
        };
        let names = subject_alt_names(end_entity).map_err(|e| {
            TlsError::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
                Arc::new(std::io::Error::other(e)),
            )))
        })?;
        if names.iter().any(|n| allowed.contains(n)) {
            return Ok(());
        }
        tracing::debug!(
            ?names,
            "client certificate refused: no subject alternative name in client_allowed_sans"
        );
        Err(TlsError::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure,
        ))
    }
}

impl ClientCertVerifier for LeafChecks {
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
        let verified = if self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            usable_as_pinned(end_entity, now)?;
            ClientCertVerified::assertion()
        } else {
            self.inner
                .verify_client_cert(end_entity, intermediates, now)?
        };
        self.check_sans(end_entity)?;
        Ok(verified)
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

/// What Go still checks of a leaf that is one of the roots: the validity period and the
/// extended key usage.
fn usable_as_pinned(cert: &CertificateDer<'_>, now: UnixTime) -> Result<(), TlsError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|_| TlsError::InvalidCertificate(CertificateError::BadEncoding))?;
    let now_secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = parsed.validity();
    if now_secs < validity.not_before.timestamp() {
        return Err(TlsError::InvalidCertificate(CertificateError::NotValidYet));
    }
    if now_secs > validity.not_after.timestamp() {
        return Err(TlsError::InvalidCertificate(CertificateError::Expired));
    }
    let usage = parsed
        .extended_key_usage()
        .map_err(|_| TlsError::InvalidCertificate(CertificateError::BadEncoding))?;
    match usage {
        Some(eku) if !(eku.value.any || eku.value.client_auth) => Err(
            TlsError::InvalidCertificate(CertificateError::InvalidPurpose),
        ),
        _ => Ok(()),
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
    use std::time::Duration;

    /// A self-signed `CA:TRUE` certificate for `scraper.example`, as `openssl req -x509` makes.
    fn self_signed_ca(tune: impl FnOnce(&mut rcgen::CertificateParams)) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["scraper.example".into()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        tune(&mut params);
        params.self_signed(&key).unwrap().der().clone()
    }

    fn pinning(pinned: &CertificateDer<'static>) -> LeafChecks {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(pinned.clone()).unwrap();
        let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        LeafChecks {
            pinned: vec![pinned.clone()],
            allowed_sans: None,
            inner,
        }
    }

    #[test]
    fn a_pinned_certificate_is_accepted_where_webpki_alone_refuses_it() {
        let cert = self_signed_ca(|_| {});
        let verifier = pinning(&cert);
        let webpki_alone = verifier
            .inner
            .verify_client_cert(&cert, &[], UnixTime::now());
        let refusal = format!("{:?}", webpki_alone.unwrap_err());
        assert!(refusal.contains("CaUsedAsEndEntity"), "{refusal}");
        assert!(verifier
            .verify_client_cert(&cert, &[], UnixTime::now())
            .is_ok());
        // Another self-signed certificate, same names, different bytes: webpki's answer.
        let other = self_signed_ca(|_| {});
        assert!(verifier
            .verify_client_cert(&other, &[], UnixTime::now())
            .is_err());
    }

    #[test]
    fn a_pinned_certificate_must_be_within_its_validity_and_for_client_authentication() {
        let cert = self_signed_ca(|p| {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        });
        let verifier = pinning(&cert);
        let at = |y: u64| UnixTime::since_unix_epoch(Duration::from_secs((y - 1970) * 31_557_600));
        assert!(verifier.verify_client_cert(&cert, &[], at(2020)).is_ok());
        assert_eq!(
            verifier
                .verify_client_cert(&cert, &[], at(2019))
                .unwrap_err(),
            TlsError::InvalidCertificate(CertificateError::NotValidYet)
        );
        assert_eq!(
            verifier
                .verify_client_cert(&cert, &[], at(2022))
                .unwrap_err(),
            TlsError::InvalidCertificate(CertificateError::Expired)
        );
        let server_only = self_signed_ca(|p| {
            p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        });
        assert_eq!(
            pinning(&server_only)
                .verify_client_cert(&server_only, &[], UnixTime::now())
                .unwrap_err(),
            TlsError::InvalidCertificate(CertificateError::InvalidPurpose)
        );
        let client_too = self_signed_ca(|p| {
            p.extended_key_usages = vec![
                rcgen::ExtendedKeyUsagePurpose::ServerAuth,
                rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            ];
        });
        assert!(pinning(&client_too)
            .verify_client_cert(&client_too, &[], UnixTime::now())
            .is_ok());
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
