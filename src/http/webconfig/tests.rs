//! Loading whole files: what each key turns into, and the one-line errors for bad ones.

use super::*;
use std::fs;

/// A CA, a server certificate and key it signed, and a client certificate, in a tempdir; plus
/// two self-signed client certificates marked `CA:TRUE` as `openssl req -x509` makes them:
/// `pinned.pem` (`pinned.key`, for `scraper.example`) and `unpinned.pem` (`other.key`), and
/// `pinned-and-ca.pem` holding `pinned.pem` and `ca.pem`.
pub(crate) struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();
        let client_key = rcgen::KeyPair::generate().unwrap();
        let client = rcgen::CertificateParams::new(vec!["scraper.example".into()])
            .unwrap()
            .signed_by(&client_key, &ca)
            .unwrap();
        let other_key = rcgen::KeyPair::generate().unwrap();
        let pinned_key = rcgen::KeyPair::generate().unwrap();
        let pinned = self_signed_ca("scraper.example", &pinned_key);
        let unpinned = self_signed_ca("scraper.example", &other_key);
        for (name, pem) in [
            ("pinned.pem", pinned.clone()),
            ("pinned.key", pinned_key.serialize_pem()),
            ("unpinned.pem", unpinned),
            ("pinned-and-ca.pem", format!("{pinned}{}", ca.pem())),
            ("ca.pem", ca.pem()),
            ("server.pem", server.pem()),
            ("server.key", server_key.serialize_pem()),
            ("client.pem", client.pem()),
            ("client.key", client_key.serialize_pem()),
            ("other.key", other_key.serialize_pem()),
        ] {
            fs::write(dir.path().join(name), pem).unwrap();
        }
        Pki { dir }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn pem(&self, name: &str) -> Vec<u8> {
        fs::read(self.path(name)).unwrap()
    }

    /// Writes `web.yml` with `yaml` and returns its path.
    pub(crate) fn write(&self, yaml: &str) -> PathBuf {
        let path = self.path("web.yml");
        fs::write(&path, yaml).unwrap();
        path
    }
}

/// A self-signed certificate for `name` with `basicConstraints: critical, CA:TRUE` and key
/// identifiers, as `openssl req -x509 -addext subjectAltName=DNS:NAME` makes it.
pub(crate) fn self_signed_ca(name: &str, key: &rcgen::KeyPair) -> String {
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.use_authority_key_identifier_extension = true;
    params.self_signed(key).unwrap().pem()
}

pub(crate) const TLS: &str =
    "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n";

fn load(pki: &Pki, yaml: &str) -> Result<WebConfigFile, WebConfigError> {
    WebConfigFile::load(pki.write(yaml))
}

#[test]
fn an_empty_mapping_is_plain_http_without_authentication() {
    let pki = Pki::new();
    let s = load(&pki, "{}\n").unwrap().settings;
    assert!(!s.tls_enabled() && !s.auth_enabled() && s.http2);
    assert!(s.headers.is_empty() && s.rate_limit.is_none());
    assert_eq!(s.to_string(), "TLS off, no basic authentication, HTTP/2 on");
}

#[test]
fn a_full_file_turns_every_key_on() {
    let pki = Pki::new();
    let hash = bcrypt::hash("secret", 4).unwrap();
    let yaml = format!(
        "{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  client_allowed_sans: [scraper.example]\n  min_version: TLS13\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n  curve_preferences: [X25519]\n  prefer_server_cipher_suites: false\nhttp_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\nbasic_auth_users:\n  alice: {hash}\nrate_limit:\n  interval: 1s\n  burst: 5\n"
    );
    let s = load(&pki, &yaml).unwrap().settings;
    let tls = s.tls.as_ref().unwrap();
    assert!(!tls.ignore_client_order);
    assert_eq!(tls.alpn_protocols, [b"http/1.1".to_vec()]);
    assert!(!s.http2);
    assert_eq!(s.auth.as_ref().unwrap().len(), 1);
    assert!(s.rate_limit.is_some());
    let headers: Vec<_> = s
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
        .collect();
    assert_eq!(
        headers,
        [
            ("strict-transport-security", "max-age=31536000"),
            ("x-frame-options", "deny")
        ]
    );
    assert_eq!(
        s.to_string(),
        "TLS on (client certificates required and verified), basic authentication for 1 user(s), HTTP/2 off, 2 extra header(s), rate limited"
    );
}

#[test]
fn inline_pem_and_relative_paths_work() {
    let pki = Pki::new();
    let indent = |pem: Vec<u8>| String::from_utf8(pem).unwrap().replace('\n', "\n    ");
    let yaml = format!(
        "tls_server_config:\n  cert: |\n    {}\n  key: |\n    {}\n",
        indent(pki.pem("server.pem")),
        indent(pki.pem("server.key"))
    );
    let s = load(&pki, &yaml).unwrap().settings;
    assert!(s.tls_enabled());
    let s = load(&pki, TLS).unwrap().settings;
    assert!(s.tls_enabled());
    let http2 = &s.tls.as_ref().unwrap().alpn_protocols;
    assert_eq!(http2, &[b"h2".to_vec(), b"http/1.1".to_vec()]);
}

#[test]
fn bad_files_give_one_line_naming_the_key_and_value() {
    let pki = Pki::new();
    fs::write(pki.path("garbage.pem"), "not a certificate\n").unwrap();
    let cases: &[(&str, &str)] = &[
        ("", "is empty"),
        ("# only a comment\n", "is empty"),
        ("tls_server_config:\n\tcert_file: x\n", "line 2"),
        ("basic_auth_users: {alice\n", "did not find expected ',' or '}'"),
        ("tls_server_config:\n  cert_fil: x\n", "unknown field `cert_fil`"),
        ("basic_auth_users:\n  alice: hunter2\n", "basic_auth_users.alice: not a bcrypt hash"),
        (
            "tls_server_config:\n  cert_file: missing.pem\n  key_file: server.key\n",
            "tls_server_config.cert_file",
        ),
        (
            "tls_server_config:\n  cert_file: garbage.pem\n  key_file: server.key\n",
            "holds no PEM certificate",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: other.key\n",
            "does not belong to the certificate",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.pem\n",
            "no usable PEM private key",
        ),
        ("tls_server_config:\n  cert_file: server.pem\n", "no private key"),
        ("tls_server_config:\n  min_version: TLS13\n", "sets min_version but no certificate"),
        (
            "tls_server_config:\n  cert_file: server.pem\n  cert: x\n  key_file: server.key\n",
            "both cert_file and cert",
        ),
        (
            &format!("{TLS}  min_version: TLS10\n"),
            "min_version: TLS10 is not supported",
        ),
        (
            &format!("{TLS}  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n"),
            "\"TLS_RSA_WITH_AES_128_CBC_SHA\" is not available",
        ),
        (
            &format!("{TLS}  curve_preferences: [CurveP521]\n"),
            "CurveP521 is not supported",
        ),
        (
            &format!("{TLS}  max_version: TLS14\n"),
            "tls_server_config.max_version: unknown TLS version \"TLS14\"; use TLS12 or TLS13",
        ),
        (
            &format!("{TLS}  client_auth_type: RequireAndVerify\n  client_ca_file: ca.pem\n"),
            "tls_server_config.client_auth_type: unknown value \"RequireAndVerify\"; use one of NoClientCert,",
        ),
        (
            &format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n"),
            "needs client_ca_file",
        ),
        (
            &format!("{TLS}  client_ca_file: ca.pem\n"),
            "client_ca_file is set but client_auth_type NoClientCert",
        ),
        (
            &format!("{TLS}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.pem\n  client_allowed_sans: [x]\n"),
            "client_allowed_sans needs client_auth_type",
        ),
        (
            &format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: garbage.pem\n"),
            "client_ca_file",
        ),
        (
            "http_server_config:\n  headers:\n    Server: nginx\n",
            "\"Server\" cannot be set",
        ),
        (
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
            "\"allow\" is not allowed",
        ),
        ("rate_limit:\n  interval: 1s\n", "burst must be at least 1"),
    ];
    for (yaml, needle) in cases {
        let err = load(&pki, yaml).unwrap_err().to_string();
        assert!(err.contains(needle), "{yaml:?}: {err}");
        assert!(
            err.starts_with(&pki.path("web.yml").display().to_string()),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn the_fingerprint_follows_the_file_and_the_files_it_names() {
    let pki = Pki::new();
    let path = pki.write(TLS);
    let first = fingerprint(&path);
    assert_eq!(fingerprint(&path), first);
    // Rotating the certificate (same config text) changes it.
    let key = pki.pem("server.key");
    fs::write(pki.path("server.key"), b"rotated").unwrap();
    let rotated = fingerprint(&path);
    assert_ne!(rotated, first);
    fs::write(pki.path("server.key"), key).unwrap();
    assert_eq!(fingerprint(&path), first);
    // A missing file has a fingerprint of its own.
    let missing = fingerprint(&pki.path("nope.yml"));
    assert_ne!(missing, first);
    assert_eq!(fingerprint(&pki.path("nope.yml")), missing);
}

#[tokio::test]
async fn the_readme_example_is_a_valid_file() {
    let readme = include_str!("../../../README.md");
    let section = &readme[readme
        .find("## Securing the endpoint")
        .expect("README section")..];
    let start = section.find("```yaml\n").unwrap() + "```yaml\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    let pki = Pki::new();
    let yaml = example
        .replace("/etc/libvirt-exporter/server.crt", "server.pem")
        .replace("/etc/libvirt-exporter/server.key", "server.key")
        .replace("/etc/libvirt-exporter/clients-ca.crt", "ca.pem");
    assert!(!yaml.contains("/etc/"), "{yaml}");
    let s = load(&pki, &yaml).unwrap().settings;
    assert!(s.tls_enabled());
    assert_eq!(s.headers.len(), 1);
    let auth = s.auth.as_ref().unwrap();
    let token = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "prometheus:the password",
    );
    let header = hyper::header::HeaderValue::from_str(&format!("Basic {token}")).unwrap();
    assert!(
        auth.allows(Some(&header)).await,
        "the hash is of 'the password'"
    );
}
