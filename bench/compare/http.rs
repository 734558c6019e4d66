//! The benchmark's HTTP side: single scrapes and the load generator, on hyper's HTTP/1 client
//! over keep-alive loopback connections.

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// How a scrape presents itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The headers Prometheus sends: OpenMetrics preferred, text accepted, gzip accepted.
    Prometheus,
    /// No Accept or Accept-Encoding header: plain Prometheus text.
    Plain,
}

const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

fn request(addr: SocketAddr, mode: Mode) -> Request<Empty<Bytes>> {
    let mut r = Request::get("/metrics").header("host", addr.to_string());
    if mode == Mode::Prometheus {
        r = r
            .header("accept", PROMETHEUS_ACCEPT)
            .header("accept-encoding", "gzip");
    }
    r.body(Empty::new()).expect("a static request")
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One request on `sender`; the body bytes on 200.
async fn get(
    sender: &mut SendRequest<Empty<Bytes>>,
    addr: SocketAddr,
    mode: Mode,
) -> anyhow::Result<Bytes> {
    sender.ready().await?;
    let response = sender.send_request(request(addr, mode)).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!("HTTP {status} from {addr}");
    }
    Ok(body)
}

/// One scrape on a fresh connection, bounded by `timeout`; the text, gunzipped if it came
/// compressed (Prometheus mode asks for gzip, which makes frequent polls cheap for exporters
/// that compress once per cycle).
pub async fn scrape(addr: SocketAddr, mode: Mode, timeout: Duration) -> anyhow::Result<String> {
    let body = tokio::time::timeout(timeout, async {
        let mut sender = connect(addr).await?;
        get(&mut sender, addr, mode).await
    })
    .await
    .with_context(|| format!("no answer from {addr} within {timeout:?}"))??;
    if body.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .context("a gzip body that does not decompress")?;
        return Ok(text);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Bounds and shape of one load run.
#[derive(Debug, Clone, Copy)]
pub struct LoadSpec {
    pub concurrency: usize,
    pub max_requests: usize,
    pub max_time: Duration,
    pub mode: Mode,
}

/// What one load run measured.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    pub ok: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Sorted latencies of the successful requests.
    pub latencies: Vec<Duration>,
    pub bytes: u64,
}

impl LoadResult {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let n = self.latencies.len();
        (n > 0).then(|| self.latencies[((n as f64 * q).ceil() as usize).clamp(1, n) - 1])
    }
    pub fn mean_body_bytes(&self) -> Option<u64> {
        (self.ok > 0).then(|| self.bytes / self.ok as u64)
    }
}

/// `concurrency` keep-alive connections scraping back to back until `max_requests` were sent
/// or `max_time` passed.
pub async fn load(addr: SocketAddr, spec: LoadSpec) -> LoadResult {
    let sent = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + spec.max_time;
    let mut tasks = Vec::new();
    for _ in 0..spec.concurrency {
        let sent = sent.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = LoadResult::default();
            let mut sender = None;
            while Instant::now() < deadline
                && sent.fetch_add(1, Ordering::Relaxed) < spec.max_requests
            {
                let t = Instant::now();
                let outcome = async {
                    if sender.is_none() {
                        sender = Some(connect(addr).await?);
                    }
                    get(sender.as_mut().expect("just set"), addr, spec.mode).await
                };
                let left = deadline.saturating_duration_since(t) + Duration::from_secs(5);
                match tokio::time::timeout(left, outcome).await {
                    Ok(Ok(body)) => {
                        r.latencies.push(t.elapsed());
                        r.bytes += body.len() as u64;
                        r.ok += 1;
                    }
                    Ok(Err(e)) => {
                        r.errors += 1;
                        r.first_error.get_or_insert(format!("{e:#}"));
                        sender = None;
                    }
                    Err(_) => {
                        r.errors += 1;
                        r.first_error.get_or_insert("request timed out".into());
                        sender = None;
                    }
                }
            }
            r
        }));
    }
    let mut total = LoadResult::default();
    for task in tasks {
        if let Ok(r) = task.await {
            total.ok += r.ok;
            total.errors += r.errors;
            total.bytes += r.bytes;
            total.latencies.extend(r.latencies);
            if total.first_error.is_none() {
                total.first_error = r.first_error;
            }
        }
    }
    total.elapsed = started.elapsed();
    total.latencies.sort_unstable();
    total
}
