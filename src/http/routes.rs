//! The service: a plain async fn from request to response over shared state. Applies the web
//! configuration's rate limit and basic authentication to every path, routes the telemetry
//! path, `/`, `/healthz`, applies the in-flight limit to scrapes and adds the configured
//! headers to every answer.

use super::body::Body;
use super::negotiate;
use super::webconfig::Settings;
use crate::exposition::{Exposition, Format, Published};
use arc_swap::ArcSwap;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
const ALLOW: &str = "GET, HEAD";
const WWW_AUTHENTICATE: &str = "Basic realm=\"libvirt-exporter\", charset=\"UTF-8\"";

/// Everything the service needs, shared by all connections.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) published: Arc<Published>,
    pub(crate) telemetry_path: String,
    pub(crate) limiter: Limiter,
    /// The web configuration in force; replaced when the file is reloaded.
    pub(crate) settings: Arc<ArcSwap<Settings>>,
}

/// The service function.
pub(crate) async fn handle<B>(
    req: Request<B>,
    state: Arc<AppState>,
) -> Result<Response<Body>, Infallible> {
    let settings = state.settings.load_full();
    let head = req.method() == Method::HEAD;
    let mut res = if settings.rate_limit.as_ref().is_some_and(|r| !r.allow()) {
        plain(StatusCode::TOO_MANY_REQUESTS, "too many requests\n", head)
    } else if let Some(auth) = &settings.auth {
        if auth.allows(req.headers().get(header::AUTHORIZATION)).await {
            route(&req, &state)
        } else {
            let mut res = plain(StatusCode::UNAUTHORIZED, "unauthorized\n", head);
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(WWW_AUTHENTICATE),
            );
            res
        }
    } else {
        route(&req, &state)
    };
    for (name, value) in &settings.headers {
        res.headers_mut().insert(name.clone(), value.clone());
    }
    Ok(res)
}

fn route<B>(req: &Request<B>, state: &AppState) -> Response<Body> {
    let path = req.uri().path();
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        let mut res = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n", head);
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(ALLOW));
        return res;
    }
    if path == state.telemetry_path {
        telemetry(req, state, head)
    } else if path == "/" {
        landing(state, head)
    } else if path == "/healthz" {
        plain(StatusCode::OK, "ok\n", head)
    } else {
        plain(StatusCode::NOT_FOUND, "not found\n", head)
    }
}

fn telemetry<B>(req: &Request<B>, state: &AppState, head: bool) -> Response<Body> {
    let permit = match state.limiter.try_admit() {
        Ok(permit) => permit,
        Err(Busy { limit }) => {
            let msg = format!("too many concurrent scrapes (limit {limit}); retry later\n");
            let mut res = plain(StatusCode::SERVICE_UNAVAILABLE, msg, head);
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return res;
        }
    };
    let exposition = state.published.load();
    if exposition.collected_at.is_none() && exposition.is_empty() {
        let msg = "no metrics collected yet; retry shortly\n";
        let mut res = plain(StatusCode::SERVICE_UNAVAILABLE, msg, head);
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return res;
    }
    let format = negotiate::format(req.headers());
    state.published.asked_for(format);
    let gzip_bytes = body_in(&exposition, format);
    let gzip = negotiate::accepts_gzip(req.headers()) && !gzip_bytes.is_empty();
    let (len, body) = if gzip {
        (gzip_bytes.len() as u64, Body::new(gzip_bytes))
    } else {
        // Decompressed while it is sent: no plain copy of the exposition is ever kept.
        let len = crate::exposition::gzip_plain_len(&gzip_bytes);
        (len, Body::gunzip(gzip_bytes, len))
    };
    let body = if head { Body::empty() } else { body };

    let mut res = respond_with(StatusCode::OK, format.content_type(), len, body, permit);
    let headers = res.headers_mut();
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    res
}

/// The exposition's gzip body in `format`. The first scrape of a format not encoded when the
/// cycle ended encodes it here; on the multi-threaded runtime that work leaves this worker's
/// other connections to the other workers meanwhile.
fn body_in(exposition: &Exposition, format: Format) -> bytes::Bytes {
    let multi_threaded = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if exposition.is_encoded(format) || !multi_threaded {
        exposition.gzip(format).clone()
    } else {
        tokio::task::block_in_place(|| exposition.gzip(format).clone())
    }
}

fn landing(state: &AppState, head: bool) -> Response<Body> {
    let exposition = state.published.load();
    let html = landing_html(
        &state.published.libvirt_uri,
        &state.telemetry_path,
        &exposition,
    );
    respond(
        StatusCode::OK,
        "text/html; charset=utf-8",
        html.into(),
        head,
        None,
    )
}

fn landing_html(libvirt_uri: &str, telemetry_path: &str, exposition: &Exposition) -> String {
    let (collected, up) = match exposition.collected_at {
        None => ("none yet".to_owned(), "unknown"),
        Some(at) => (
            rfc3339_utc(at).unwrap_or_else(|| "unknown".to_owned()),
            if exposition.up { "yes" } else { "no" },
        ),
    };
    format!(
        "<!DOCTYPE html>\n\
         <html lang=\"en\">\n\
         <head><meta charset=\"utf-8\"><title>libvirt exporter</title></head>\n\
         <body>\n\
         <h1>libvirt exporter</h1>\n\
         <p>{name} {version}</p>\n\
         <table>\n\
         <tr><th align=\"left\">libvirt URI</th><td>{uri}</td></tr>\n\
         <tr><th align=\"left\">Last collection</th><td>{collected}</td></tr>\n\
         <tr><th align=\"left\">libvirt up</th><td>{up}</td></tr>\n\
         </table>\n\
         <p><a href=\"{path}\">Metrics</a></p>\n\
         </body>\n\
         </html>\n",
        name = env!("CARGO_PKG_NAME"),
        version = env!("CARGO_PKG_VERSION"),
        uri = escape_html(libvirt_uri),
        path = escape_html(telemetry_path),
    )
}

fn plain(status: StatusCode, body: impl Into<bytes::Bytes>, head: bool) -> Response<Body> {
    respond(status, TEXT_PLAIN, body.into(), head, None)
}

/// A response with `Content-Type` and `Content-Length`; for HEAD the body is left out.
fn respond(
    status: StatusCode,
    content_type: &'static str,
    data: bytes::Bytes,
    head: bool,
    permit: Option<OwnedSemaphorePermit>,
) -> Response<Body> {
    let len = data.len() as u64;
    let body = if head { Body::empty() } else { Body::new(data) };
    respond_with(status, content_type, len, body, permit)
}

/// A response with `Content-Type` and a `Content-Length` of `len` (also for HEAD, whose
/// `body` is empty).
fn respond_with(
    status: StatusCode,
    content_type: &'static str,
    len: u64,
    body: Body,
    permit: Option<OwnedSemaphorePermit>,
) -> Response<Body> {
    let mut res = Response::new(body.holding(permit));
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    res
}

/// At most `limit` scrapes in flight; 0 means unlimited. Never queues.
#[derive(Debug)]
pub(crate) struct Limiter {
    semaphore: Option<Arc<Semaphore>>,
    limit: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Busy {
    limit: usize,
}

impl Limiter {
    pub(crate) fn new(limit: usize) -> Self {
        let limit = limit.min(Semaphore::MAX_PERMITS);
        Limiter {
            semaphore: (limit > 0).then(|| Arc::new(Semaphore::new(limit))),
            limit,
        }
    }

    /// A permit to hold while the request is in flight (`None` when unlimited), or `Busy`.
    pub(crate) fn try_admit(&self) -> Result<Option<OwnedSemaphorePermit>, Busy> {
        match &self.semaphore {
            None => Ok(None),
            Some(semaphore) => semaphore
                .clone()
                .try_acquire_owned()
                .map(Some)
                .map_err(|_| Busy { limit: self.limit }),
        }
    }
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SSZ` (whole seconds, UTC), or `None` before 1970 or after 9999, which
/// humantime cannot write (it panics before the epoch and fails after 9999).
fn rfc3339_utc(t: SystemTime) -> Option<String> {
    use std::fmt::Write;
    t.duration_since(UNIX_EPOCH).ok()?;
    let mut out = String::new();
    write!(out, "{}", humantime::format_rfc3339_seconds(t)).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn limiter_admits_up_to_limit_without_queueing() {
        let limiter = Limiter::new(2);
        let a = limiter.try_admit().unwrap();
        let b = limiter.try_admit().unwrap();
        assert!(a.is_some() && b.is_some());
        assert_eq!(limiter.try_admit().unwrap_err(), Busy { limit: 2 });
        drop(a);
        assert!(limiter.try_admit().unwrap().is_some());
    }

    #[test]
    fn limiter_zero_is_unlimited_and_huge_does_not_panic() {
        let limiter = Limiter::new(0);
        let permits: Vec<_> = (0..1000).map(|_| limiter.try_admit().unwrap()).collect();
        assert!(permits.iter().all(Option::is_none));
        assert!(Limiter::new(usize::MAX).try_admit().unwrap().is_some());
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape_html(r#"qemu+ssh://u@h/system?x=<a href="'&'">"#),
            "qemu+ssh://u@h/system?x=&lt;a href=&quot;&#39;&amp;&#39;&quot;&gt;"
        );
    }

    #[test]
    fn formats_rfc3339_in_whole_seconds_and_refuses_what_it_cannot_write() {
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(rfc3339_utc(at(0)).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_utc(at(1_700_000_000) + Duration::from_millis(999)).unwrap(),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            rfc3339_utc(at(951_782_400)).unwrap(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            rfc3339_utc(at(253_402_300_799)).unwrap(),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(rfc3339_utc(at(253_402_300_800)), None);
        assert_eq!(rfc3339_utc(UNIX_EPOCH - Duration::from_secs(1)), None);
    }

    fn state(uri: &str, exposition: Option<Exposition>) -> AppState {
        let published = Arc::new(Published::new(uri));
        if let Some(e) = exposition {
            published.store(e);
        }
        AppState {
            published,
            telemetry_path: "/metrics".into(),
            limiter: Limiter::new(1),
            settings: Default::default(),
        }
    }

    #[test]
    fn landing_page_escapes_and_reports_state() {
        let s = state("qemu:///system?<script>", None);
        let html = landing_html(&s.published.libvirt_uri, "/m\"x", &s.published.load());
        assert!(html.contains("qemu:///system?&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"));
        assert!(html.contains("href=\"/m&quot;x\""));
        assert!(html.contains(env!("CARGO_PKG_VERSION")));
        assert!(html.contains("<td>none yet</td>"));
        assert!(html.contains("<td>unknown</td>"));

        let mut e = Exposition::default();
        e.collected_at = Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        e.up = false;
        let html = landing_html("qemu:///system", "/metrics", &e);
        assert!(html.contains("<td>2023-11-14T22:13:20Z</td>"));
        assert!(html.contains("<td>no</td>"));
    }

    #[test]
    fn scrape_above_limit_gets_503_and_permit_is_released_with_body() {
        let s = state(
            "test:///default",
            Some(Exposition::from_plain(
                b"up 1\n",
                b"up 1\n# EOF\n",
                Some(SystemTime::now()),
                true,
            )),
        );
        let req = || Request::get("/metrics").body(()).unwrap();
        let held = route(&req(), &s);
        assert_eq!(held.status(), StatusCode::OK);
        let busy = route(&req(), &s);
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
        // Other routes are not limited.
        assert_eq!(
            route(&Request::get("/healthz").body(()).unwrap(), &s).status(),
            StatusCode::OK
        );
        drop(held);
        assert_eq!(route(&req(), &s).status(), StatusCode::OK);
    }
}
