//! End-to-end tests of the HTTP server over real loopback sockets with a raw HTTP/1.1 client.

use super::*;
use crate::exposition::{Exposition, Format};
use std::io::Read as _;
use std::time::{Instant, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::timeout;

pub(super) const TEXT: &str =
    "# HELP libvirt_up Whether libvirt answered.\n# TYPE libvirt_up gauge\nlibvirt_up 1\n";
const OPENMETRICS: &str =
    "# HELP libvirt_up Whether libvirt answered.\n# TYPE libvirt_up gauge\nlibvirt_up 1\n# EOF\n";
const TEXT_CT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS_CT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub(super) const LIMIT: Duration = Duration::from_secs(10);

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn exposition_of(text: &[u8]) -> Exposition {
    Exposition::from_plain(
        text,
        OPENMETRICS.as_bytes(),
        Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        true,
    )
}

pub(super) fn exposition() -> Exposition {
    exposition_of(TEXT.as_bytes())
}

/// Larger than any loopback socket buffers, so a client that does not read stalls the response.
fn huge_exposition() -> Exposition {
    exposition_of(&vec![b'#'; 32 << 20])
}

pub(super) fn config() -> WebConfig {
    WebConfig::new(vec!["127.0.0.1:0".parse().unwrap()], "/metrics")
}

pub(super) struct TestServer {
    pub(super) addr: SocketAddr,
    pub(super) published: Arc<Published>,
    shutdown: watch::Sender<bool>,
    handle: JoinHandle<anyhow::Result<()>>,
}

pub(super) async fn start(config: WebConfig, exposition: Option<Exposition>) -> TestServer {
    let published = Arc::new(Published::new("qemu:///system?name=<b>&x"));
    if let Some(exposition) = exposition {
        published.store(exposition);
    }
    let server = bind(&config).await.unwrap();
    let addr = server.local_addrs()[0];
    let (shutdown, rx) = watch::channel(false);
    let handle = tokio::spawn(server.run(published.clone(), rx));
    TestServer {
        addr,
        published,
        shutdown,
        handle,
    }
}

impl TestServer {
    /// Signals shutdown and returns how long `run` took to return.
    pub(super) async fn stop(self) -> Duration {
        let started = Instant::now();
        self.shutdown.send(true).unwrap();
        timeout(LIMIT, self.handle)
            .await
            .expect("run() returns after shutdown")
            .unwrap()
            .unwrap();
        started.elapsed()
    }
}

#[derive(Debug)]
pub(super) struct RawResponse {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl RawResponse {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub(super) fn get(path: &str, extra_headers: &[&str]) -> String {
    request_head("GET", path, extra_headers)
}

pub(super) fn request_head(method: &str, path: &str, extra_headers: &[&str]) -> String {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
    for h in extra_headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req
}

/// Reads one response (head, then `Content-Length` bytes unless `head_request`).
pub(super) async fn read_response<S: AsyncRead + Unpin>(
    stream: &mut S,
    head_request: bool,
) -> RawResponse {
    let mut buf = Vec::new();
    let header_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = timeout(LIMIT, stream.read(&mut chunk))
            .await
            .expect("response head in time")
            .expect("read response head");
        assert!(n > 0, "connection closed before the response head: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..header_end]).unwrap().to_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let mut body = buf[header_end..].to_vec();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let want = if head_request { 0 } else { len };
    while body.len() < want {
        let mut chunk = vec![0u8; 64 * 1024];
        let n = timeout(LIMIT, stream.read(&mut chunk))
            .await
            .expect("response body in time")
            .expect("read response body");
        assert!(n > 0, "connection closed mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(body.len(), want, "no bytes beyond the response");
    RawResponse {
        status,
        headers,
        body,
    }
}

/// One request on a new connection.
pub(super) async fn request(addr: SocketAddr, req: &str) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(req.as_bytes()).await.unwrap();
    read_response(&mut stream, req.starts_with("HEAD ")).await
}

/// Waits until the server closes the connection (EOF or reset); returns what it sent meanwhile.
pub(super) async fn until_closed<S: AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match timeout(LIMIT, stream.read(&mut chunk)).await {
            Err(_) => panic!("server did not close the connection; got {got:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
        }
    }
}

#[tokio::test]
async fn serves_text_format_by_default() {
    let server = start(config(), Some(exposition())).await;
    for accept in [&[][..], &["Accept: */*"], &["Accept: text/plain"]] {
        let res = request(server.addr, &get("/metrics", accept)).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("content-type"), Some(TEXT_CT));
        assert_eq!(res.header("vary"), Some("Accept, Accept-Encoding"));
        assert_eq!(res.header("content-encoding"), None);
        assert_eq!(res.header("content-length"), Some(&*TEXT.len().to_string()));
        assert_eq!(res.body, TEXT.as_bytes());
    }
    server.stop().await;
}

/// Only OpenMetrics was encoded when the cycle ended (all Prometheus asks for): a text scrape
/// has the text encoded then, once for every later scrape of it, and is recorded so that the
/// next cycles encode the text at once too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_not_encoded_ahead_is_encoded_on_first_demand_and_recorded() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let encodings = Arc::new(AtomicUsize::new(0));
    let counter = encodings.clone();
    let gzip = |plain: &str| {
        Exposition::from_plain(plain.as_bytes(), b"", None, true)
            .gzip(Format::Text)
            .clone()
    };
    let lazy = Exposition::lazy(
        vec![(Format::OpenMetrics, gzip(OPENMETRICS))],
        Box::new(move |format| {
            assert_eq!(format, Format::Text, "OpenMetrics was given");
            counter.fetch_add(1, Ordering::SeqCst);
            gzip(TEXT)
        }),
        Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        true,
    );
    let server = start(config(), Some(lazy)).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(!server.published.asked_after_start(Format::Text));
    for accept_encoding in [&[][..], &["Accept-Encoding: gzip"], &[]] {
        let res = request(server.addr, &get("/metrics", accept_encoding)).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("content-type"), Some(TEXT_CT));
        let body = match res.header("content-encoding") {
            Some("gzip") => gunzip(&res.body),
            _ => res.body,
        };
        assert_eq!(body, TEXT.as_bytes());
    }
    assert_eq!(encodings.load(Ordering::SeqCst), 1, "encoded once");
    assert!(server.published.asked_after_start(Format::Text));
    assert!(!server.published.asked_after_start(Format::OpenMetrics));
    server.stop().await;
}

#[tokio::test]
async fn serves_openmetrics_when_accepted() {
    let server = start(config(), Some(exposition())).await;
    let prometheus3 = "Accept: application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    for accept in ["Accept: application/openmetrics-text", prometheus3] {
        let res = request(server.addr, &get("/metrics", &[accept])).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("content-type"), Some(OPENMETRICS_CT));
        assert_eq!(res.header("vary"), Some("Accept, Accept-Encoding"));
        assert_eq!(res.body, OPENMETRICS.as_bytes());
    }
    let res = request(
        server.addr,
        &get("/metrics", &["Accept: application/openmetrics-text;q=0"]),
    )
    .await;
    assert_eq!(res.header("content-type"), Some(TEXT_CT));
    server.stop().await;
}

#[tokio::test]
async fn serves_gzip_when_accepted() {
    let server = start(config(), Some(exposition())).await;
    let res = request(
        server.addr,
        &get("/metrics", &["Accept-Encoding: gzip, br"]),
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-encoding"), Some("gzip"));
    assert_eq!(res.header("content-type"), Some(TEXT_CT));
    assert_eq!(res.header("vary"), Some("Accept, Accept-Encoding"));
    assert_eq!(gunzip(&res.body), TEXT.as_bytes());

    let res = request(
        server.addr,
        &get(
            "/metrics",
            &[
                "Accept: application/openmetrics-text",
                "Accept-Encoding: gzip",
            ],
        ),
    )
    .await;
    assert_eq!(res.header("content-type"), Some(OPENMETRICS_CT));
    assert_eq!(res.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&res.body), OPENMETRICS.as_bytes());

    let res = request(
        server.addr,
        &get("/metrics", &["Accept-Encoding: gzip;q=0"]),
    )
    .await;
    assert_eq!(res.header("content-encoding"), None);
    assert_eq!(res.body, TEXT.as_bytes());
    server.stop().await;
}

#[tokio::test]
async fn plain_and_gzip_bodies_agree_and_plain_is_decompressed_as_it_is_sent() {
    // Several chunks long, in both formats.
    let text: String = (0..20_000)
        .map(|i| format!("libvirt_test{{domain=\"d{i}\"}} {i}\n"))
        .collect();
    let openmetrics = format!("{text}# EOF\n");
    let exposition = Exposition::from_plain(
        text.as_bytes(),
        openmetrics.as_bytes(),
        Some(UNIX_EPOCH),
        true,
    );
    let server = start(config(), Some(exposition)).await;
    for (format, accept, want) in [
        (Format::Text, "Accept: text/plain", &text),
        (
            Format::OpenMetrics,
            "Accept: application/openmetrics-text",
            &openmetrics,
        ),
    ] {
        let zipped = request(
            server.addr,
            &get("/metrics", &[accept, "Accept-Encoding: gzip"]),
        )
        .await;
        assert_eq!(zipped.header("content-encoding"), Some("gzip"));
        let first = request(server.addr, &get("/metrics", &[accept])).await;
        let second = request(server.addr, &get("/metrics", &[accept])).await;
        assert_eq!(first.header("content-encoding"), None);
        assert_eq!(first.header("content-type"), Some(format.content_type()));
        assert_eq!(gunzip(&zipped.body), first.body);
        assert_eq!(first.body, want.as_bytes());
        assert_eq!(first.body, second.body);
        assert_eq!(
            first.header("content-length"),
            Some(&*want.len().to_string())
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn head_has_headers_and_no_body() {
    let server = start(config(), Some(exposition())).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let req = request_head(
        "HEAD",
        "/metrics",
        &["Accept-Encoding: gzip", "Connection: close"],
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let res = read_response(&mut stream, true).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some(TEXT_CT));
    assert_eq!(res.header("content-encoding"), Some("gzip"));
    let gzip_len = server.published.load().gzip(Format::Text).len();
    assert_eq!(res.header("content-length"), Some(&*gzip_len.to_string()));
    assert!(res.body.is_empty());
    assert!(
        until_closed(&mut stream).await.is_empty(),
        "HEAD sent a body"
    );
    server.stop().await;
}

#[tokio::test]
async fn status_codes() {
    let server = start(config(), Some(exposition())).await;
    let res = request(server.addr, &get("/nope", &[])).await;
    assert_eq!(res.status, 404);
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; charset=utf-8")
    );

    // The telemetry path is exact.
    assert_eq!(
        request(server.addr, &get("/metrics/", &[])).await.status,
        404
    );
    assert_eq!(
        request(server.addr, &get("/metrics?x=1", &[])).await.status,
        200
    );

    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let req = request_head(method, "/metrics", &["Content-Length: 0"]);
        let res = request(server.addr, &req).await;
        assert_eq!(res.status, 405, "{method}");
        assert_eq!(res.header("allow"), Some("GET, HEAD"));
        assert!(res.header("content-type").is_some());
    }

    let res = request(server.addr, &get("/healthz", &[])).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(res.body, b"ok\n");
    server.stop().await;
}

#[tokio::test]
async fn unavailable_until_first_publish() {
    let server = start(config(), None).await;
    let res = request(server.addr, &get("/metrics", &[])).await;
    assert_eq!(res.status, 503);
    assert_eq!(res.header("retry-after"), Some("1"));
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(res.body, b"no metrics collected yet; retry shortly\n");
    // Health and landing page work meanwhile.
    assert_eq!(
        request(server.addr, &get("/healthz", &[])).await.status,
        200
    );
    let landing = request(server.addr, &get("/", &[])).await;
    assert!(String::from_utf8(landing.body)
        .unwrap()
        .contains("none yet"));

    server.published.store(exposition());
    let res = request(server.addr, &get("/metrics", &[])).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body, TEXT.as_bytes());
    server.stop().await;
}

#[tokio::test]
async fn landing_page() {
    let mut config = config();
    config.telemetry_path = "/custom".into();
    let server = start(config, Some(exposition())).await;
    let res = request(server.addr, &get("/", &[])).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    let html = String::from_utf8(res.body).unwrap();
    assert!(html.contains(env!("CARGO_PKG_VERSION")), "{html}");
    assert!(
        html.contains("qemu:///system?name=&lt;b&gt;&amp;x"),
        "{html}"
    );
    assert!(!html.contains("<b>"));
    assert!(html.contains("2023-11-14T22:13:20Z"), "{html}");
    assert!(html.contains("<td>yes</td>"), "{html}");
    assert!(html.contains("href=\"/custom\""), "{html}");
    assert_eq!(request(server.addr, &get("/custom", &[])).await.status, 200);
    assert_eq!(
        request(server.addr, &get("/metrics", &[])).await.status,
        404
    );
    server.stop().await;
}

#[tokio::test]
async fn keep_alive_serves_several_requests() {
    let server = start(config(), Some(exposition())).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for _ in 0..3 {
        stream
            .write_all(get("/metrics", &[]).as_bytes())
            .await
            .unwrap();
        let res = read_response(&mut stream, false).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.body, TEXT.as_bytes());
    }
    server.stop().await;
}

#[tokio::test]
async fn oversized_header_gets_431() {
    let server = start(config(), Some(exposition())).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let big = "a".repeat(64 * 1024);
    let req = get("/metrics", &[&format!("X-Big: {big}")]);
    let (mut rd, mut wr) = stream.split();
    let write = async {
        // The server stops reading once the limit is hit; a failed write is fine.
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

    // A header just under the default limit is fine.
    let ok = "a".repeat(WebConfig::DEFAULT_MAX_HEADER_BYTES - 1024);
    let res = request(server.addr, &get("/metrics", &[&format!("X-Ok: {ok}")])).await;
    assert_eq!(res.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn slow_header_client_is_cut_off() {
    let mut config = config();
    config.header_read_timeout = Duration::from_millis(500);
    let server = start(config, Some(exposition())).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let (mut rd, mut wr) = stream.into_split();
    let dribble = tokio::spawn(async move {
        if wr
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n")
            .await
            .is_err()
        {
            return;
        }
        // Well under every size limit, and longer than LIMIT: only the timeout can end it.
        for _ in 0..300 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if wr.write_all(b"X-Drip: 1\r\n").await.is_err() {
                return;
            }
        }
    });
    let mut got = Vec::new();
    let closed = timeout(LIMIT, rd.read_to_end(&mut got)).await.is_ok();
    let elapsed = started.elapsed();
    dribble.abort();
    assert!(closed, "the server never cut the slow client off");
    assert!(!String::from_utf8_lossy(&got).contains(" 200 "), "{got:?}");
    assert!(
        elapsed >= Duration::from_millis(400),
        "cut off too early: {elapsed:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn slow_header_on_keep_alive_connection_is_cut_off() {
    // After the first request only hyper's header timer guards the connection.
    let mut config = config();
    config.header_read_timeout = Duration::from_millis(500);
    config.idle_timeout = Duration::from_secs(30);
    let server = start(config, Some(exposition())).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(get("/healthz", &[]).as_bytes())
        .await
        .unwrap();
    assert_eq!(read_response(&mut stream, false).await.status, 200);
    let (mut rd, mut wr) = stream.into_split();
    let dribble = tokio::spawn(async move {
        // Longer than LIMIT: only the header timeout can end it.
        for line in std::iter::once("GET /metrics HTTP/1.1\r\n").chain(["X-Drip: 1\r\n"; 300]) {
            if wr.write_all(line.as_bytes()).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut got = Vec::new();
    let closed = timeout(LIMIT, rd.read_to_end(&mut got)).await.is_ok();
    dribble.abort();
    assert!(closed, "the server never cut the slow client off");
    assert!(!String::from_utf8_lossy(&got).contains(" 200 "), "{got:?}");
    server.stop().await;
}

#[tokio::test]
async fn silent_client_is_cut_off() {
    let mut config = config();
    config.header_read_timeout = Duration::from_millis(500);
    let server = start(config, Some(exposition())).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    assert!(until_closed(&mut stream).await.is_empty());
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(400),
        "cut off too early: {elapsed:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed() {
    let mut config = config();
    config.idle_timeout = Duration::from_millis(500);
    config.header_read_timeout = Duration::from_secs(30);
    let server = start(config, Some(exposition())).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(get("/healthz", &[]).as_bytes())
        .await
        .unwrap();
    assert_eq!(read_response(&mut stream, false).await.status, 200);
    let started = Instant::now();
    assert!(until_closed(&mut stream).await.is_empty());
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(400),
        "closed too early: {elapsed:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn scrapes_above_max_requests_get_503() {
    let mut config = config();
    config.max_requests = 1;
    let server = start(config, Some(huge_exposition())).await;

    // A scrape whose client does not read keeps its response, and its permit, in flight.
    let mut stalled = TcpStream::connect(server.addr).await.unwrap();
    stalled
        .write_all(get("/metrics", &[]).as_bytes())
        .await
        .unwrap();

    let head = request_head("HEAD", "/metrics", &[]);
    let deadline = Instant::now() + LIMIT;
    let busy = loop {
        let res = request(server.addr, &head).await;
        if res.status == 503 {
            break res;
        }
        assert!(Instant::now() < deadline, "never saw 503");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(busy.header("retry-after"), Some("1"));
    assert_eq!(
        busy.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    // Only scrapes are limited.
    assert_eq!(
        request(server.addr, &get("/healthz", &[])).await.status,
        200
    );
    let res = request(server.addr, &get("/metrics", &[])).await;
    assert_eq!(res.status, 503);
    assert!(String::from_utf8_lossy(&res.body).contains("limit 1"));

    // Once the stalled client goes away its permit is released.
    drop(stalled);
    let deadline = Instant::now() + LIMIT;
    while request(server.addr, &head).await.status != 200 {
        assert!(Instant::now() < deadline, "permit never released");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_and_closes_idle() {
    let server = start(config(), Some(huge_exposition())).await;
    let addr = server.addr;

    // An idle keep-alive connection.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(get("/healthz", &[]).as_bytes())
        .await
        .unwrap();
    assert_eq!(read_response(&mut idle, false).await.status, 200);

    // A scrape in flight: the response has started but most of it is not yet read.
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(get("/metrics", &[]).as_bytes())
        .await
        .unwrap();
    let mut first = [0u8; 12];
    busy.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    let stop = tokio::spawn(server.stop());
    // The idle connection is closed promptly.
    assert!(until_closed(&mut idle).await.is_empty());
    // The in-flight response completes.
    let mut rest = Vec::new();
    timeout(LIMIT, busy.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    let body_start = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(rest.len() - body_start, 32 << 20);

    let took = stop.await.unwrap();
    assert!(took < SHUTDOWN_GRACE, "run() took {took:?}");
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
}

#[tokio::test]
async fn run_returns_when_shutdown_sender_is_dropped() {
    let server = start(config(), Some(exposition())).await;
    drop(server.shutdown);
    timeout(LIMIT, server.handle)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn speaks_h2c_with_prior_knowledge() {
    let server = start(config(), Some(exposition())).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let mut frame = [0u8; 9];
    timeout(LIMIT, stream.read_exact(&mut frame))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frame[3], 0x4, "first frame is SETTINGS: {frame:?}");
    assert_eq!(&frame[5..9], &[0, 0, 0, 0], "on stream 0");
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn bind_error_names_address_and_reason() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let config = WebConfig::new(vec![addr.to_string().parse().unwrap()], "/metrics");
    let err = bind(&config).await.unwrap_err();
    assert!(matches!(err, BindError::Listen { .. }));
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("cannot listen on {addr}: ")),
        "{msg}"
    );
    assert!(msg.contains("(os error"), "{msg}");
    assert!(
        msg.ends_with("; is another exporter running? choose another --web.listen-address"),
        "{msg}"
    );
    // Printed through anyhow's chain the OS reason appears once.
    let chained = format!("{:#}", anyhow::Error::from(err));
    assert_eq!(chained, msg);

    let err = bind(&WebConfig::new(vec![], "/metrics")).await.unwrap_err();
    assert!(matches!(err, BindError::NoListenAddress));
    let err = bind(&WebConfig::new(config.listen.clone(), "metrics"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid telemetry path \"metrics\": it must start with /, e.g. /metrics"
    );
}

#[tokio::test]
async fn binds_every_address() {
    let config = WebConfig::new(
        vec![
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
            "localhost:0".parse().unwrap(),
        ],
        "/metrics",
    );
    let server = bind(&config).await.unwrap();
    let addrs = server.local_addrs();
    assert!(addrs.len() >= 3, "{addrs:?}");
    assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() != 0));
    let published = Arc::new(Published::new("test:///default"));
    published.store(exposition());
    let (tx, rx) = watch::channel(false);
    let handle = tokio::spawn(server.run(published, rx));
    for addr in &addrs {
        assert_eq!(request(*addr, &get("/healthz", &[])).await.status, 200);
    }
    tx.send(true).unwrap();
    timeout(LIMIT, handle).await.unwrap().unwrap().unwrap();
}
