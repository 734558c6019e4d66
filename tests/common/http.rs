//! The integration tests' one HTTP client: hyper's HTTP/1.1 client connection over a tokio
//! TCP stream (or a TLS stream over one, see `tls.rs`), driven to completion on a
//! current-thread runtime, one request per connection, the whole answer read.

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole exchange may take once connected.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP response, read in full (the body as sent: not decompressed).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Runs `future` to completion on a runtime of its own (each caller thread gets one, so tests
/// that scrape from many threads at once do not share one).
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime for the test client")
        .block_on(future)
}

/// GET `path` with extra headers; panics when there is no HTTP answer.
pub fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    try_http_get(addr, path, headers).unwrap_or_else(|e| panic!("GET http://{addr}{path}: {e}"))
}

/// GET `path` with extra headers; `Err` when connecting fails or no HTTP answer comes.
pub fn try_http_get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Response, String> {
    block_on(async {
        let tcp = connect(addr).await?;
        get_over(tcp, &addr.to_string(), path, headers).await
    })
}

/// Connects to `addr` over TCP within the connect timeout.
pub async fn connect(addr: SocketAddr) -> Result<tokio::net::TcpStream, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => Ok(tcp),
        Ok(Err(e)) => Err(format!("connect to {addr}: {e}")),
        Err(_) => Err(format!(
            "connect to {addr}: no answer in {CONNECT_TIMEOUT:?}"
        )),
    }
}

/// Sends one GET over `io` (with `Host: host` and `Connection: close`) and reads the whole
/// answer.
pub async fn get_over<S>(
    io: S,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Response, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut request = Request::get(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::CONNECTION, "close");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("building the request: {e}"))?;
    let exchange = async {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        let connection = tokio::spawn(connection);
        let answer = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = answer.status().as_u16();
        let headers = answer
            .headers()
            .iter()
            .map(|(k, v)| {
                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (k.as_str().to_string(), v)
            })
            .collect();
        let body = answer
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the body: {e}"))?
            .to_bytes()
            .to_vec();
        drop(sender);
        let _ = connection.await;
        Ok(Response {
            status,
            headers,
            body,
        })
    };
    tokio::time::timeout(ANSWER_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no complete answer in {ANSWER_TIMEOUT:?}")))
}
