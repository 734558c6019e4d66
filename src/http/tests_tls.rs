//! The server with a web configuration file, over real loopback sockets with a real TLS client
//! (tokio-rustls): TLS, client certificates, basic authentication, limits over TLS, headers,
//! the rate limit and reloading.

use super::tests::{
    config, exposition, get, read_response, request, request_head, start, until_closed,
    RawResponse, TestServer, LIMIT,
};
use super::webconfig::tests::{Pki, TLS};
use super::*;
use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::ClientConfig;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// A server using `pki`'s `web.yml`, rereading it every 50 ms.
async fn start_with(pki: &Pki, yaml: &str, tune: impl FnOnce(&mut WebConfig)) -> TestServer {
    let mut config = config();
    config.web_config_file = Some(WebConfigFile::load(pki.write(yaml)).unwrap());
    config.web_config_poll = Duration::from_millis(50);
    tune(&mut config);
    start(config, Some(exposition())).await
}

/// A client trusting `pki`'s CA, presenting `client` (certificate, key file names) if given,
/// offering `alpn`.
fn client(pki: &Pki, client: Option<(&str, &str)>, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(&pki.pem("ca.pem")).unwrap())
        .unwrap();
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(&pki.pem(cert)).unwrap()],
                PrivateKeyDer::from_pem_slice(&pki.pem(key)).unwrap(),
            )
            .unwrap(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

async fn connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    timeout(LIMIT, TlsConnector::from(config).connect(name, tcp))
        .await
        .expect("handshake ends in time")
}

/// One request on a new TLS connection. `Err` when the server refuses the client, during the
/// handshake or (TLS 1.3 client certificates) at the first read.
async fn tls_request(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    req: &str,
) -> Result<RawResponse, String> {
    let mut tls = connect(addr, config)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tls.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut first = [0u8; 1];
    match timeout(LIMIT, tls.read(&mut first))
        .await
        .expect("answer in time")
    {
        Ok(1) => {}
        Ok(_) => return Err("closed without an answer".into()),
        Err(e) => return Err(format!("read: {e}")),
    }
    let mut rest = Prefixed {
        first: Some(first[0]),
        inner: tls,
    };
    Ok(read_response(&mut rest, req.starts_with("HEAD ")).await)
}

/// A stream with one byte already read put back in front.
struct Prefixed<S> {
    first: Option<u8>,
    inner: S,
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if let Some(b) = self.first.take() {
            buf.put_slice(&[b]);
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Authorization: Basic {token}")
}

fn users_yaml(users: &[(&str, &str)]) -> String {
    let mut yaml = String::from("basic_auth_users:\n");
    for (user, password) in users {
        yaml.push_str(&format!(
            "  {user}: {}\n",
            bcrypt::hash(password, 4).unwrap()
        ));
    }
    yaml
}

#[tokio::test]
async fn basic_auth_over_tls_refuses_wrong_and_missing_credentials() {
    let pki = Pki::new();
    let yaml = format!("{TLS}{}", users_yaml(&[("alice", "s3cret")]));
    let server = start_with(&pki, &yaml, |_| {}).await;
    let c = client(&pki, None, &[]);

    let res = tls_request(server.addr, c.clone(), &get("/metrics", &[]))
        .await
        .unwrap();
    assert_eq!(res.status, 401);
    assert_eq!(
        res.header("www-authenticate"),
        Some("Basic realm=\"libvirt-exporter\", charset=\"UTF-8\"")
    );
    for (user, password) in [("alice", "wrong"), ("mallory", "s3cret"), ("alice", "")] {
        let res = tls_request(
            server.addr,
            c.clone(),
            &get("/metrics", &[&basic(user, password)]),
        )
        .await
        .unwrap();
        assert_eq!(res.status, 401, "{user}:{password}");
        assert!(res.header("www-authenticate").is_some());
    }
    // Every path is behind authentication, unknown ones too.
    for path in ["/", "/healthz", "/nope"] {
        let res = tls_request(server.addr, c.clone(), &get(path, &[]))
            .await
            .unwrap();
        assert_eq!(res.status, 401, "{path}");
    }
    let res = tls_request(
        server.addr,
        c.clone(),
        &get("/metrics", &[&basic("alice", "s3cret")]),
    )
    .await
    .unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(res.body, super::tests::TEXT.as_bytes());
    // After authentication the usual answers: 404, and 405 for other methods.
    let auth = basic("alice", "s3cret");
    let res = tls_request(server.addr, c.clone(), &get("/nope", &[&auth]))
        .await
        .unwrap();
    assert_eq!(res.status, 404);
    let post = request_head("POST", "/metrics", &[&auth, "Content-Length: 0"]);
    let res = tls_request(server.addr, c.clone(), &post).await.unwrap();
    assert_eq!(res.status, 405);
    assert_eq!(res.header("allow"), Some("GET, HEAD"));
    server.stop().await;
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_400_and_tls_keeps_working() {
    let pki = Pki::new();
    let server = start_with(&pki, TLS, |_| {}).await;
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    plain
        .write_all(get("/metrics", &[]).as_bytes())
        .await
        .unwrap();
    let answer = String::from_utf8(until_closed(&mut plain).await).unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 400 Bad Request\r\n"),
        "{answer:?}"
    );
    assert!(answer.contains("HTTPS server"), "{answer:?}");
    // Garbage that is not HTTP either is closed without an answer.
    let mut junk = TcpStream::connect(server.addr).await.unwrap();
    junk.write_all(b"\x00\x01\x02\x03").await.unwrap();
    assert!(until_closed(&mut junk).await.is_empty());

    let res = tls_request(server.addr, client(&pki, None, &[]), &get("/metrics", &[]))
        .await
        .unwrap();
    assert_eq!(res.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_does_not_finish_the_handshake_is_cut_off() {
    let pki = Pki::new();
    let server = start_with(&pki, TLS, |c| {
        c.tls_handshake_timeout = Duration::from_millis(300);
        c.header_read_timeout = Duration::from_secs(60);
        c.idle_timeout = Duration::from_secs(60);
    })
    .await;
    // Connects and says nothing.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    // Starts a TLS record and stops.
    let mut stalled = TcpStream::connect(server.addr).await.unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01, 0x01]).await.unwrap();
    assert!(until_closed(&mut silent).await.is_empty());
    assert!(until_closed(&mut stalled).await.is_empty());
    let res = tls_request(server.addr, client(&pki, None, &[]), &get("/healthz", &[]))
        .await
        .unwrap();
    assert_eq!(res.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn oversized_headers_over_tls_get_431() {
    let pki = Pki::new();
    let server = start_with(&pki, TLS, |_| {}).await;
    let big = "a".repeat(64 * 1024);
    let mut tls = connect(server.addr, client(&pki, None, &[])).await.unwrap();
    let req = get("/metrics", &[&format!("X-Big: {big}")]);
    let (mut rd, mut wr) = tokio::io::split(&mut tls);
    let write = async {
        let _ = wr.write_all(req.as_bytes()).await;
    };
    let read = async {
        let mut got = Vec::new();
        let _ = timeout(LIMIT, rd.read_to_end(&mut got)).await;
        got
    };
    let ((), got) = tokio::join!(write, read);
    let got = String::from_utf8_lossy(&got);
    assert!(
        got.starts_with("HTTP/1.1 431 "),
        "expected 431, got {got:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn slow_headers_over_tls_are_cut_off() {
    let pki = Pki::new();
    let server = start_with(&pki, TLS, |c| {
        c.header_read_timeout = Duration::from_millis(500);
    })
    .await;
    let tls = connect(server.addr, client(&pki, None, &[])).await.unwrap();
    let (mut rd, mut wr) = tokio::io::split(tls);
    let dribble = tokio::spawn(async move {
        for line in std::iter::once("GET /metrics HTTP/1.1\r\n").chain(["X-Drip: 1\r\n"; 200]) {
            if wr.write_all(line.as_bytes()).await.is_err() || wr.flush().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut got = Vec::new();
    let closed = timeout(LIMIT, rd.read_to_end(&mut got)).await;
    dribble.abort();
    assert!(closed.is_ok(), "the slow client was not cut off");
    assert!(!String::from_utf8_lossy(&got).contains(" 200 "), "{got:?}");
    server.stop().await;
}

#[tokio::test]
async fn required_client_certificates_are_checked() {
    let pki = Pki::new();
    let yaml =
        format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n");
    let server = start_with(&pki, &yaml, |_| {}).await;
    let req = get("/metrics", &[]);
    let without = tls_request(server.addr, client(&pki, None, &[]), &req).await;
    assert!(without.is_err(), "{without:?}");
    // A certificate the CA did not sign (the server's key, self-signed).
    let self_signed = rcgen::CertificateParams::new(vec!["scraper.example".into()])
        .unwrap()
        .self_signed(
            &rcgen::KeyPair::from_pem(&String::from_utf8(pki.pem("other.key")).unwrap()).unwrap(),
        )
        .unwrap();
    std::fs::write(pki.path("self.pem"), self_signed.pem()).unwrap();
    let untrusted = tls_request(
        server.addr,
        client(&pki, Some(("self.pem", "other.key")), &[]),
        &req,
    )
    .await;
    assert!(untrusted.is_err(), "{untrusted:?}");
    let with = tls_request(
        server.addr,
        client(&pki, Some(("client.pem", "client.key")), &[]),
        &req,
    )
    .await
    .unwrap();
    assert_eq!(with.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn client_allowed_sans_restricts_the_verified_clients() {
    let pki = Pki::new();
    let req = get("/healthz", &[]);
    let with_cert = || client(&pki, Some(("client.pem", "client.key")), &[]);
    for (sans, allowed) in [
        ("[scraper.example]", true),
        ("[other.example, 10.0.0.1]", false),
    ] {
        let yaml = format!(
            "{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  client_allowed_sans: {sans}\n"
        );
        let server = start_with(&pki, &yaml, |_| {}).await;
        let res = tls_request(server.addr, with_cert(), &req).await;
        assert_eq!(res.is_ok(), allowed, "{sans}: {res:?}");
        server.stop().await;
    }
}

/// `tls_server_config` requiring verified client certificates from `ca`, and `extra` keys.
fn verified_clients(ca: &str, extra: &str) -> String {
    format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {ca}\n{extra}")
}

#[tokio::test]
async fn a_self_signed_ca_certificate_named_as_its_own_ca_is_pinned() {
    let pki = Pki::new();
    let req = get("/metrics", &[]);
    let pinned = || client(&pki, Some(("pinned.pem", "pinned.key")), &[]);
    let unpinned = || client(&pki, Some(("unpinned.pem", "other.key")), &[]);
    let issued = || client(&pki, Some(("client.pem", "client.key")), &[]);

    let server = start_with(&pki, &verified_clients("pinned.pem", ""), |_| {}).await;
    let res = tls_request(server.addr, pinned(), &req).await.unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(res.body, super::tests::TEXT.as_bytes());
    // Another self-signed CA:TRUE certificate for the same name is not the pinned one.
    let res = tls_request(server.addr, unpinned(), &req).await;
    assert!(res.is_err(), "{res:?}");
    // Nor is a certificate from a CA the file does not hold.
    let res = tls_request(server.addr, issued(), &req).await;
    assert!(res.is_err(), "{res:?}");
    server.stop().await;

    // A file holding the pinned certificate and a CA: both ways in work, strangers stay out.
    let server = start_with(&pki, &verified_clients("pinned-and-ca.pem", ""), |_| {}).await;
    for (who, config) in [("pinned", pinned()), ("CA-issued", issued())] {
        let res = tls_request(server.addr, config, &req).await;
        assert_eq!(res.map(|r| r.status), Ok(200), "{who}");
    }
    let res = tls_request(server.addr, unpinned(), &req).await;
    assert!(res.is_err(), "{res:?}");
    server.stop().await;

    // Optional client certificates: the pinned one is accepted when given.
    let yaml =
        format!("{TLS}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: pinned.pem\n");
    let server = start_with(&pki, &yaml, |_| {}).await;
    let res = tls_request(server.addr, pinned(), &req).await;
    assert_eq!(res.map(|r| r.status), Ok(200));
    let res = tls_request(server.addr, unpinned(), &req).await;
    assert!(res.is_err(), "{res:?}");
    server.stop().await;
}

#[tokio::test]
async fn client_allowed_sans_applies_to_pinned_certificates() {
    let pki = Pki::new();
    let req = get("/healthz", &[]);
    for (sans, allowed) in [
        ("[scraper.example]", true),
        ("[other.example, 10.0.0.1]", false),
    ] {
        let yaml = verified_clients(
            "pinned-and-ca.pem",
            &format!("  client_allowed_sans: {sans}\n"),
        );
        let server = start_with(&pki, &yaml, |_| {}).await;
        let res = tls_request(
            server.addr,
            client(&pki, Some(("pinned.pem", "pinned.key")), &[]),
            &req,
        )
        .await;
        assert_eq!(res.map(|r| r.status).ok(), allowed.then_some(200), "{sans}");
        server.stop().await;
    }
}

#[tokio::test]
async fn optional_client_certificates_are_verified_when_given() {
    let pki = Pki::new();
    let yaml =
        format!("{TLS}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.pem\n");
    let server = start_with(&pki, &yaml, |_| {}).await;
    let req = get("/healthz", &[]);
    assert_eq!(
        tls_request(server.addr, client(&pki, None, &[]), &req)
            .await
            .unwrap()
            .status,
        200
    );
    let res = tls_request(
        server.addr,
        client(&pki, Some(("client.pem", "client.key")), &[]),
        &req,
    )
    .await;
    assert_eq!(res.unwrap().status, 200);
    let self_signed = rcgen::CertificateParams::new(vec!["x".into()])
        .unwrap()
        .self_signed(
            &rcgen::KeyPair::from_pem(&String::from_utf8(pki.pem("other.key")).unwrap()).unwrap(),
        )
        .unwrap();
    std::fs::write(pki.path("self.pem"), self_signed.pem()).unwrap();
    let res = tls_request(
        server.addr,
        client(&pki, Some(("self.pem", "other.key")), &[]),
        &req,
    )
    .await;
    assert!(res.is_err(), "{res:?}");
    server.stop().await;
}

#[tokio::test]
async fn http2_is_offered_by_alpn_unless_switched_off() {
    let pki = Pki::new();
    for (http2, expected) in [
        ("true", Some(&b"h2"[..])),
        ("false", Some(&b"http/1.1"[..])),
    ] {
        let yaml = format!("{TLS}http_server_config:\n  http2: {http2}\n");
        let server = start_with(&pki, &yaml, |_| {}).await;
        let tls = connect(server.addr, client(&pki, None, &[b"h2", b"http/1.1"]))
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), expected, "http2: {http2}");
        drop(tls);
        server.stop().await;
    }
}

#[tokio::test]
async fn tls_versions_and_suites_are_enforced() {
    let pki = Pki::new();
    let yaml = format!("{TLS}  min_version: TLS13\n");
    let server = start_with(&pki, &yaml, |_| {}).await;
    let tls12_only = {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(&pki.pem("ca.pem")).unwrap())
            .unwrap();
        Arc::new(
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(&[&rustls::version::TLS12])
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    };
    assert!(connect(server.addr, tls12_only.clone()).await.is_err());
    let tls = connect(server.addr, client(&pki, None, &[])).await.unwrap();
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    drop(tls);
    server.stop().await;

    // TLS 1.2 with one suite (the server key is ECDSA): a client offering only another is refused.
    let yaml = format!(
        "{TLS}  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n"
    );
    let server = start_with(&pki, &yaml, |_| {}).await;
    let with_suites = |suites: Vec<rustls::SupportedCipherSuite>| {
        let mut provider = rustls::crypto::ring::default_provider();
        provider.cipher_suites = suites;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(&pki.pem("ca.pem")).unwrap())
            .unwrap();
        Arc::new(
            ClientConfig::builder_with_provider(Arc::new(provider))
                .with_protocol_versions(&[&rustls::version::TLS12])
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    };
    use rustls::crypto::ring::cipher_suite as cs;
    let other = with_suites(vec![cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]);
    assert!(connect(server.addr, other).await.is_err());
    let listed = with_suites(vec![
        cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ]);
    let tls = connect(server.addr, listed).await.unwrap();
    assert_eq!(
        tls.get_ref().1.negotiated_cipher_suite().map(|s| s.suite()),
        Some(rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)
    );
    drop(tls);
    server.stop().await;
}

#[tokio::test]
async fn configured_headers_are_on_every_answer_and_the_rate_limit_answers_429() {
    let pki = Pki::new();
    let yaml = "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\nrate_limit:\n  interval: 1h\n  burst: 2\n";
    let server = start_with(&pki, yaml, |_| {}).await;
    for status in [200, 404, 429, 429] {
        let path = if status == 404 { "/nope" } else { "/healthz" };
        let res = request(server.addr, &get(path, &[])).await;
        assert_eq!(res.status, status, "{path}");
        assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    }
    server.stop().await;
}

/// Polls `check` until it holds (10 s at most).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + LIMIT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn reloading_adds_users_and_a_bad_file_keeps_the_last_good_one() {
    let pki = Pki::new();
    let alice = users_yaml(&[("alice", "a")]);
    let server = start_with(&pki, &format!("{TLS}{alice}"), |_| {}).await;
    let c = client(&pki, None, &[]);
    let status = |user: &'static str, password: &'static str| {
        let c = c.clone();
        let addr = server.addr;
        async move {
            tls_request(addr, c, &get("/healthz", &[&basic(user, password)]))
                .await
                .unwrap()
                .status
        }
    };
    assert_eq!(status("alice", "a").await, 200);
    assert_eq!(status("bob", "b").await, 401);
    let loaded = server.published.web_config.get().unwrap();
    assert!(loaded.success);

    pki.write(&format!(
        "{TLS}{}",
        users_yaml(&[("alice", "a"), ("bob", "b")])
    ));
    eventually("bob to be let in", || async {
        status("bob", "b").await == 200
    })
    .await;
    assert_eq!(status("alice", "a").await, 200);
    let reloaded = server.published.web_config.get().unwrap();
    assert!(reloaded.success && reloaded.last_success > loaded.last_success);

    // An invalid version is refused: bob still works, the status says so.
    pki.write(&format!(
        "{TLS}basic_auth_users:\n  bob: not-a-hash\n  carol: also-not\n"
    ));
    eventually("the refusal", || async {
        server
            .published
            .web_config
            .get()
            .is_some_and(|r| !r.success)
    })
    .await;
    assert_eq!(status("bob", "b").await, 200);
    assert_eq!(status("alice", "a").await, 200);
    let refused = server.published.web_config.get().unwrap();
    assert_eq!(refused.last_success, reloaded.last_success);

    // A good version again, then one whose key file is gone: TLS goes on with the key loaded.
    pki.write(&format!("{TLS}{}", users_yaml(&[("carol", "c")])));
    eventually("carol to be let in", || async {
        status("carol", "c").await == 200
    })
    .await;
    assert!(server.published.web_config.get().unwrap().success);
    std::fs::remove_file(pki.path("server.key")).unwrap();
    pki.write(&format!("{TLS}{}", users_yaml(&[("dave", "d")])));
    eventually("the refusal of a missing key", || async {
        server
            .published
            .web_config
            .get()
            .is_some_and(|r| !r.success)
    })
    .await;
    assert_eq!(status("dave", "d").await, 401);
    assert_eq!(status("carol", "c").await, 200);

    // Switching TLS off by reload: new connections are plain.
    pki.write("{}\n");
    eventually("plain HTTP", || async {
        let mut plain = TcpStream::connect(server.addr).await.unwrap();
        let req = get("/healthz", &["Connection: close"]);
        plain.write_all(req.as_bytes()).await.unwrap();
        until_closed(&mut plain).await.starts_with(b"HTTP/1.1 200 ")
    })
    .await;
    assert!(server.published.web_config.get().unwrap().success);
    server.stop().await;
}
