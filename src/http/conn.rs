//! One connection: serves HTTP/1.1 and HTTP/2 (h2c, or h2 over TLS) over any
//! `AsyncRead + AsyncWrite` stream (plain TCP or TLS), with a watchdog for silent and idle
//! clients and graceful shutdown.

use super::routes::{self, AppState};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// How long a connection may take to finish after it was asked to close (idle or shutdown)
/// before it is dropped.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Per-server connection settings, shared by every connection.
pub(crate) struct ConnContext {
    builder: auto::Builder<TokioExecutor>,
    /// The same, without HTTP/2 (`http2: false` in the web configuration).
    builder_http1: auto::Builder<TokioExecutor>,
    pub(crate) state: Arc<AppState>,
    header_read_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    pub(crate) tls_handshake_timeout: Option<Duration>,
}

impl ConnContext {
    /// Zero timeouts mean "no timeout".
    pub(crate) fn new(
        state: Arc<AppState>,
        header_read_timeout: Duration,
        idle_timeout: Duration,
        max_header_bytes: usize,
        tls_handshake_timeout: Duration,
    ) -> Self {
        let header_read_timeout = Some(header_read_timeout).filter(|d| !d.is_zero());
        let idle_timeout = Some(idle_timeout).filter(|d| !d.is_zero());
        let tls_handshake_timeout = Some(tls_handshake_timeout).filter(|d| !d.is_zero());
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .max_buf_size(max_header_bytes.max(super::MIN_HEADER_BYTES))
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(64);
        let builder_http1 = builder.clone().http1_only();
        ConnContext {
            builder,
            builder_http1,
            state,
            header_read_timeout,
            idle_timeout,
            tls_handshake_timeout,
        }
    }
}

/// Serves one connection until the client leaves, it idles out, or shutdown is signalled (then
/// in-flight requests finish, bounded by [`CLOSE_GRACE`]). Errors are logged at debug level.
///
/// Generic over the stream: plain TCP, or TLS after the handshake. Without `http2` only
/// HTTP/1.1 is spoken.
pub(crate) async fn serve<IO>(
    io: IO,
    peer: SocketAddr,
    ctx: Arc<ConnContext>,
    http2: bool,
    mut shutdown: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        io,
        activity: activity.clone(),
    });
    let service = {
        let state = ctx.state.clone();
        let activity = activity.clone();
        service_fn(move |req| {
            activity.request_started();
            routes::handle(req, state.clone())
        })
    };
    let builder = if http2 {
        &ctx.builder
    } else {
        &ctx.builder_http1
    };
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);

    let mut closing_since = None;
    if *shutdown.borrow_and_update() {
        conn.as_mut().graceful_shutdown();
        closing_since = Some(Instant::now());
    }
    loop {
        let deadline = match closing_since {
            Some(since) => Some(since + CLOSE_GRACE),
            None => activity.deadline(ctx.header_read_timeout, ctx.idle_timeout),
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(%peer, error = %err, "HTTP connection error");
                }
                return;
            }
            changed = shutdown.changed(), if closing_since.is_none() => {
                if changed.is_err() || *shutdown.borrow_and_update() {
                    conn.as_mut().graceful_shutdown();
                    closing_since = Some(Instant::now());
                }
            }
            // The first request switches the deadline from header-read to idle.
            () = activity.first_request.notified(), if !activity.requested() => {}
            () = sleep_until(deadline) => {
                if closing_since.is_some() {
                    tracing::debug!(%peer, "HTTP connection did not close in time; dropping it");
                    return;
                }
                // Activity may have moved the deadline while we slept.
                let now = Instant::now();
                let expired = activity
                    .deadline(ctx.header_read_timeout, ctx.idle_timeout)
                    .is_some_and(|d| d <= now);
                if expired && !activity.requested() {
                    // Nothing was ever served on it, so there is nothing to finish.
                    tracing::debug!(%peer, "closing HTTP connection that sent no request in time");
                    return;
                }
                if expired {
                    tracing::debug!(%peer, "closing idle HTTP connection");
                    conn.as_mut().graceful_shutdown();
                    closing_since = Some(now);
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// When the connection last did anything, and whether a request ever arrived.
struct Activity {
    accepted: Instant,
    /// Milliseconds after `accepted` of the last read or write.
    last_ms: AtomicU64,
    requested: AtomicBool,
    first_request: Notify,
}

impl Activity {
    fn new() -> Self {
        Activity {
            accepted: Instant::now(),
            last_ms: AtomicU64::new(0),
            requested: AtomicBool::new(false),
            first_request: Notify::new(),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn request_started(&self) {
        self.touch();
        if !self.requested.swap(true, Ordering::Relaxed) {
            self.first_request.notify_one();
        }
    }

    fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    /// Until the first request: accept time + header read timeout (covers clients that never
    /// send a complete request, including before HTTP version detection and on h2). Afterwards:
    /// last activity + idle timeout.
    fn deadline(&self, header_read: Option<Duration>, idle: Option<Duration>) -> Option<Instant> {
        if self.requested() {
            let last = self.accepted + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            idle.map(|idle| last + idle)
        } else {
            header_read.map(|t| self.accepted + t)
        }
    }
}

/// A stream that records activity on every successful read or write.
struct Tracked<IO> {
    io: IO,
    activity: Arc<Activity>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tracked<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.touch();
        }
        poll
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tracked<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        poll
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
