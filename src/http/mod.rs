//! The HTTP side: serves the latest published exposition; never touches libvirt.
//!
//! This file owns the configuration, binding ([`bind`]) and the accept loops ([`Server::run`]).
//! Starting is two-phase so that bind errors surface clearly before anything runs and tests can
//! learn the OS-assigned port. Accepted connections go through `handshake.rs` (TLS when the web
//! configuration asks for it), are served by `conn.rs`, requests by `routes.rs`; `webconfig/`
//! owns `--web.config.file`.

mod address;
mod body;
mod conn;
mod handshake;
mod negotiate;
mod routes;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_tls;
pub mod webconfig;

pub use address::{ListenAddress, ParseListenAddressError};
pub use webconfig::{Settings, WebConfigError, WebConfigFile};

use crate::exposition::Published;
use arc_swap::ArcSwap;
use conn::ConnContext;
use routes::{AppState, Limiter};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// hyper refuses read buffers below 8 KiB; smaller `max_header_bytes` are raised to this.
pub const MIN_HEADER_BYTES: usize = 8 * 1024;

/// How long [`Server::run`] waits for in-flight requests after shutdown before closing them.
pub const SHUTDOWN_GRACE: Duration = conn::CLOSE_GRACE;

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub listen: Vec<ListenAddress>,
    /// Path of the metrics endpoint; must start with `/`.
    pub telemetry_path: String,
    /// Concurrent scrapes of the telemetry path above this get 503 at once; 0 means unlimited.
    pub max_requests: usize,
    /// A client must send a complete request head within this time of connecting or of its
    /// previous response. Because hyper's HTTP/1 header timer also runs while a keep-alive
    /// connection waits for its next request, idle HTTP/1 connections are closed after the
    /// shorter of this and `idle_timeout`. Zero disables it.
    pub header_read_timeout: Duration,
    /// Connections without any traffic for this long are closed. Zero disables it.
    pub idle_timeout: Duration,
    /// Largest request head accepted (431 above it, HTTP/1; header list limit on h2). Values
    /// below [`MIN_HEADER_BYTES`] are raised to it.
    pub max_header_bytes: usize,
    /// A TLS client must finish its handshake within this time of connecting. Zero disables it.
    pub tls_handshake_timeout: Duration,
    /// `--web.config.file`, loaded: TLS, basic authentication, headers. `None`: plain HTTP
    /// without authentication.
    pub web_config_file: Option<WebConfigFile>,
    /// How often the web configuration file and the files it names are checked for changes.
    pub web_config_poll: Duration,
}

impl WebConfig {
    pub const DEFAULT_MAX_REQUESTS: usize = 40;
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
    pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_WEB_CONFIG_POLL: Duration = Duration::from_secs(1);

    /// The given addresses and path with default limits and timeouts.
    pub fn new(listen: Vec<ListenAddress>, telemetry_path: impl Into<String>) -> Self {
        WebConfig {
            listen,
            telemetry_path: telemetry_path.into(),
            max_requests: Self::DEFAULT_MAX_REQUESTS,
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            max_header_bytes: Self::DEFAULT_MAX_HEADER_BYTES,
            tls_handshake_timeout: Self::DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            web_config_file: None,
            web_config_poll: Self::DEFAULT_WEB_CONFIG_POLL,
        }
    }

    /// Whether the server starts with TLS (the web configuration file may change that later).
    pub fn tls_enabled(&self) -> bool {
        self.web_config_file
            .as_ref()
            .is_some_and(|f| f.settings.tls_enabled())
    }
}

/// [`bind`] then [`Server::run`], for callers that need neither the bound addresses nor to report
/// bind errors before other startup work.
pub async fn serve(
    config: WebConfig,
    published: Arc<Published>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    bind(&config).await?.run(published, shutdown).await
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("no listen address given; use --web.listen-address, e.g. :9177")]
    NoListenAddress,
    #[error("invalid telemetry path {0:?}: it must start with /, e.g. /metrics")]
    TelemetryPath(String),
    // The OS error is part of the message (not a `source`), so `{:#}` does not repeat it.
    #[error("cannot resolve listen address {address}: {error}")]
    Resolve { address: String, error: io::Error },
    #[error("listen address {address} resolves to no addresses")]
    NoAddresses { address: String },
    #[error("cannot listen on {address}: {error}{hint}", hint = listen_hint(error))]
    Listen { address: String, error: io::Error },
}

fn listen_hint(err: &io::Error) -> &'static str {
    match err.kind() {
        io::ErrorKind::AddrInUse => {
            "; is another exporter running? choose another --web.listen-address"
        }
        io::ErrorKind::PermissionDenied => {
            "; ports below 1024 need root or CAP_NET_BIND_SERVICE; choose another --web.listen-address"
        }
        io::ErrorKind::AddrNotAvailable => "; is that address configured on this host?",
        _ => "",
    }
}

/// Bound listeners, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    listeners: Vec<TcpListener>,
    config: WebConfig,
}

/// Binds every configured address. Host names are resolved and every address they resolve to is
/// bound (with port 0 each gets its own port); `:port` binds `[::]` (dual-stack), or `0.0.0.0`
/// when the host has no IPv6.
pub async fn bind(config: &WebConfig) -> Result<Server, BindError> {
    if config.listen.is_empty() {
        return Err(BindError::NoListenAddress);
    }
    if !config.telemetry_path.starts_with('/') {
        return Err(BindError::TelemetryPath(config.telemetry_path.clone()));
    }
    let mut listeners = Vec::new();
    for address in &config.listen {
        listeners.extend(bind_address(address).await?);
    }
    Ok(Server {
        listeners,
        config: config.clone(),
    })
}

async fn bind_address(address: &ListenAddress) -> Result<Vec<TcpListener>, BindError> {
    let addrs = address
        .resolve()
        .await
        .map_err(|error| BindError::Resolve {
            address: address.to_string(),
            error,
        })?;
    let listen_error = |addr: SocketAddr, error| BindError::Listen {
        address: match address {
            ListenAddress::Socket(_) => addr.to_string(),
            _ => format!("{address} ({addr})"),
        },
        error,
    };
    match address {
        ListenAddress::AllInterfaces { .. } => {
            // Alternatives: the first that works.
            let mut last = None;
            for addr in addrs {
                match TcpListener::bind(addr).await {
                    Ok(listener) => return Ok(vec![listener]),
                    Err(err) if addr.is_ipv6() && ipv6_unavailable(&err) => {
                        tracing::debug!(%addr, error = %err, "IPv6 unavailable; trying IPv4");
                        last = Some(listen_error(addr, err));
                    }
                    Err(err) => return Err(listen_error(addr, err)),
                }
            }
            Err(last.unwrap_or_else(|| BindError::NoAddresses {
                address: address.to_string(),
            }))
        }
        ListenAddress::Socket(_) | ListenAddress::Host { .. } => {
            // `localhost` may resolve to ::1 on a host without IPv6: skip what cannot be bound
            // for that reason as long as something else is.
            let is_host = matches!(address, ListenAddress::Host { .. });
            let mut listeners = Vec::new();
            let mut skipped = None;
            for addr in addrs {
                match TcpListener::bind(addr).await {
                    Ok(listener) => listeners.push(listener),
                    Err(err) if is_host && ipv6_unavailable(&err) => {
                        tracing::debug!(%addr, error = %err, "skipping unusable resolved address");
                        skipped = Some(listen_error(addr, err));
                    }
                    Err(err) => return Err(listen_error(addr, err)),
                }
            }
            if listeners.is_empty() {
                return Err(skipped.unwrap_or_else(|| BindError::NoAddresses {
                    address: address.to_string(),
                }));
            }
            Ok(listeners)
        }
    }
}

fn ipv6_unavailable(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::AddrNotAvailable
        || matches!(
            err.raw_os_error(),
            Some(libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT)
        )
}

impl Server {
    /// The bound addresses (with the actual ports when 0 was asked for).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Serves until `shutdown` becomes true (or its sender is dropped): then stops accepting,
    /// lets in-flight requests finish for up to [`SHUTDOWN_GRACE`], closes what is left and
    /// returns.
    pub async fn run(
        self,
        published: Arc<Published>,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let initial = match &self.config.web_config_file {
            Some(file) => file.settings.clone(),
            None => Arc::new(Settings::default()),
        };
        let settings = Arc::new(ArcSwap::new(initial));
        let watcher = self.config.web_config_file.clone().map(|file| {
            if published.web_config.get().is_none() {
                published.web_config.succeeded();
            }
            tokio::spawn(webconfig::watch(
                file,
                settings.clone(),
                published.clone(),
                self.config.web_config_poll,
                shutdown.clone(),
            ))
        });
        let state = Arc::new(AppState {
            published,
            telemetry_path: self.config.telemetry_path.clone(),
            limiter: Limiter::new(self.config.max_requests),
            settings,
        });
        let ctx = Arc::new(ConnContext::new(
            state,
            self.config.header_read_timeout,
            self.config.idle_timeout,
            self.config.max_header_bytes,
            self.config.tls_handshake_timeout,
        ));
        let mut loops = JoinSet::new();
        for listener in self.listeners {
            loops.spawn(accept_loop(listener, ctx.clone(), shutdown.clone()));
        }
        let mut failed = None;
        while let Some(result) = loops.join_next().await {
            if let Err(err) = result {
                failed.get_or_insert(err);
            }
        }
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        match failed {
            Some(err) => anyhow::bail!("HTTP accept loop failed: {err}"),
            None => Ok(()),
        }
    }
}

/// Accepts connections on one listener until shutdown, then drains them.
async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<ConnContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    let local = listener.local_addr().ok();
    tracing::debug!(?local, "HTTP listener started");
    let mut connections = JoinSet::new();
    let mut stop = *shutdown.borrow_and_update();
    while !stop {
        tokio::select! {
            changed = shutdown.changed() => {
                stop = changed.is_err() || *shutdown.borrow_and_update();
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if let Err(err) = stream.set_nodelay(true) {
                        tracing::debug!(%peer, error = %err, "cannot set TCP_NODELAY");
                    }
                    // The settings in force now decide TLS and HTTP/2 for this connection.
                    let settings = ctx.state.settings.load_full();
                    connections.spawn(handshake::serve(
                        stream,
                        peer,
                        settings,
                        ctx.clone(),
                        shutdown.clone(),
                    ));
                }
                Err(err) => accept_error(err).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let open = connections.len();
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(1), drain)
        .await
        .is_err()
    {
        tracing::debug!(
            ?local,
            "closing HTTP connections still open after shutdown grace"
        );
        connections.shutdown().await;
    }
    tracing::debug!(?local, open, "HTTP listener stopped");
}

/// Per-connection accept errors are skipped; running out of file descriptors pauses accepting
/// briefly instead of spinning.
async fn accept_error(err: io::Error) {
    let exhausted = matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    );
    if exhausted {
        tracing::warn!(error = %err, "cannot accept HTTP connection; pausing accepts");
        tokio::time::sleep(Duration::from_millis(100)).await;
    } else {
        tracing::debug!(error = %err, "cannot accept HTTP connection");
    }
}
