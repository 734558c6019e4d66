//! An accepted connection before HTTP: plain, or a TLS handshake bounded by the handshake
//! timeout and by shutdown. A client that speaks plain HTTP to the TLS port gets a short 400
//! (as Go's servers answer) and is closed; a failed handshake only costs that connection.

use super::conn::{self, ConnContext};
use super::webconfig::Settings;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

const PLAIN_HTTP_TO_TLS: &[u8] = b"HTTP/1.0 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Connection: close\r\n\
\r\n\
Client sent an HTTP request to an HTTPS server; use https://\n";

/// Serves one accepted connection with the settings in force when it was accepted.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    settings: Arc<Settings>,
    ctx: Arc<ConnContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    let http2 = settings.http2;
    let Some(tls) = settings.tls.clone() else {
        return conn::serve(stream, peer, ctx, http2, shutdown).await;
    };
    drop(settings);
    let handshake = handshake(stream, TlsAcceptor::from(tls));
    let bounded = async {
        match ctx.tls_handshake_timeout {
            Some(limit) => tokio::time::timeout(limit, handshake)
                .await
                .unwrap_or_else(|_| Err("handshake not finished in time".to_string())),
            None => handshake.await,
        }
    };
    let result = tokio::select! {
        result = bounded => result,
        _ = shutdown.wait_for(|stop| *stop) => return,
    };
    match result {
        Ok(tls_stream) => conn::serve(tls_stream, peer, ctx, http2, shutdown).await,
        Err(reason) => tracing::debug!(%peer, "TLS connection refused: {reason}"),
    }
}

async fn handshake(
    mut stream: TcpStream,
    acceptor: TlsAcceptor,
) -> Result<tokio_rustls::server::TlsStream<TcpStream>, String> {
    let mut first = [0u8; 1];
    let n = stream
        .peek(&mut first)
        .await
        .map_err(|e| format!("read failed: {e}"))?;
    if n == 0 {
        return Err("closed before the handshake".into());
    }
    if first[0] != TLS_HANDSHAKE_RECORD {
        if first[0].is_ascii_uppercase() {
            // Take the request off the socket first, or closing it with unread data would
            // reset the connection and lose the answer.
            let mut request = [0u8; 8192];
            let _ = stream.read(&mut request).await;
            let _ = stream.write_all(PLAIN_HTTP_TO_TLS).await;
            let _ = stream.shutdown().await;
            while matches!(stream.read(&mut request).await, Ok(n) if n > 0) {}
        }
        return Err("not a TLS client (plain HTTP to the TLS port?)".into());
    }
    acceptor
        .accept(stream)
        .await
        .map_err(|e| format!("handshake failed: {e}"))
}
