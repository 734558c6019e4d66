//! TLS for the integration tests: a throwaway PKI made with rcgen in a tempdir, web
//! configuration files, and HTTPS for the tests' one HTTP client (`http.rs`) over rustls.

use super::http::{block_on, connect, get_over, Response};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::ClientConfig;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// A CA (`ca.pem`), a server certificate for localhost/127.0.0.1 (`server.pem`, `server.key`)
/// and a client certificate for `scraper.example` (`client.pem`, `client.key`) it signed, plus
/// a stray key (`other.key`) and a self-signed client certificate for it (`stranger.pem`), and
/// a self-signed client certificate marked `CA:TRUE` as `openssl req -x509` makes it, for
/// `scraper.example` (`pinned.pem`, `pinned.key`).
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let signed = |names: &[&str]| {
            let key = rcgen::KeyPair::generate().unwrap();
            let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
            let cert = rcgen::CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &ca)
                .unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server, server_key) = signed(&["localhost", "127.0.0.1"]);
        let (client, client_key) = signed(&["scraper.example"]);
        let other_key = rcgen::KeyPair::generate().unwrap();
        let stranger = rcgen::CertificateParams::new(vec!["scraper.example".to_string()])
            .unwrap()
            .self_signed(&other_key)
            .unwrap();
        let pinned_key = rcgen::KeyPair::generate().unwrap();
        let mut pinned =
            rcgen::CertificateParams::new(vec!["scraper.example".to_string()]).unwrap();
        pinned.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        pinned.use_authority_key_identifier_extension = true;
        let pinned = pinned.self_signed(&pinned_key).unwrap();
        for (name, pem) in [
            ("pinned.pem", pinned.pem()),
            ("pinned.key", pinned_key.serialize_pem()),
            ("ca.pem", ca.pem()),
            ("server.pem", server),
            ("server.key", server_key),
            ("client.pem", client),
            ("client.key", client_key),
            ("other.key", other_key.serialize_pem()),
            ("stranger.pem", stranger.pem()),
        ] {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        Pki { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `name` in the PKI's directory and returns its path as a string.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }

    /// A client trusting the CA, with the client certificate when `with_cert`.
    pub fn client(&self, with_cert: bool) -> Arc<ClientConfig> {
        if with_cert {
            self.client_with("client.pem", "client.key")
        } else {
            Arc::new(self.builder().with_no_client_auth())
        }
    }

    /// A client trusting the CA and presenting `cert` with `key` (file names in the PKI).
    pub fn client_with(&self, cert: &str, key: &str) -> Arc<ClientConfig> {
        let pem = |name: &str| std::fs::read(self.path(name)).unwrap();
        Arc::new(
            self.builder()
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(&pem(cert)).unwrap()],
                    PrivateKeyDer::from_pem_slice(&pem(key)).unwrap(),
                )
                .unwrap(),
        )
    }

    fn builder(&self) -> rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert> {
        let mut roots = rustls::RootCertStore::empty();
        let ca = std::fs::read(self.path("ca.pem")).unwrap();
        roots
            .add(CertificateDer::from_pem_slice(&ca).unwrap())
            .unwrap();
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
    }
}

/// The bcrypt hash of `password` (at the lowest cost, to keep tests fast).
pub fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

/// `Authorization` header value for basic authentication.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// GET over TLS. `Err` when the server refuses the client: in the handshake, or (TLS 1.3
/// client certificates) when the answer is read.
pub fn https_get(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Response, String> {
    block_on(async {
        let tcp = connect(addr).await?;
        let name = ServerName::try_from("localhost").unwrap();
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        get_over(tls, "localhost", path, headers).await
    })
}
