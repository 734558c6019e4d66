//! The response body: pre-encoded bytes handed to hyper in bounded chunks (zero-copy slices),
//! or a kept gzip body decompressed one chunk at a time for clients that do not take gzip;
//! optionally holding a concurrency-limit permit until the last chunk has been taken.

use bytes::buf::Reader;
use bytes::{Buf, Bytes};
use flate2::read::GzDecoder;
use hyper::body::{Frame, SizeHint};
use std::convert::Infallible;
use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::OwnedSemaphorePermit;

/// Chunk size handed to the connection. Bounded so hyper's write buffer fills and a slow reader
/// keeps the request (and its permit) in flight for as long as the transfer lasts.
const CHUNK: usize = 64 * 1024;

#[derive(Default)]
pub(crate) struct Body {
    source: Source,
    permit: Option<OwnedSemaphorePermit>,
}

#[derive(Default)]
enum Source {
    #[default]
    Empty,
    Bytes(Bytes),
    /// A complete gzip stream and how many plain bytes are still to come out of it.
    Gunzip {
        decoder: Box<GzDecoder<Reader<Bytes>>>,
        remaining: u64,
    },
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, left) = match &self.source {
            Source::Empty => ("empty", 0),
            Source::Bytes(b) => ("bytes", b.len() as u64),
            Source::Gunzip { remaining, .. } => ("gunzip", *remaining),
        };
        f.debug_struct("Body")
            .field("kind", &kind)
            .field("remaining", &left)
            .field("permit", &self.permit.is_some())
            .finish()
    }
}

impl Body {
    pub(crate) fn empty() -> Self {
        Body::default()
    }

    pub(crate) fn new(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        Body {
            source: if data.is_empty() {
                Source::Empty
            } else {
                Source::Bytes(data)
            },
            permit: None,
        }
    }

    /// The data of the complete gzip stream `gz`, whose trailer says it holds `plain_len`
    /// bytes, decompressed as it is sent: a plain scrape of a large exposition needs a chunk
    /// of memory, not a copy of the whole body.
    pub(crate) fn gunzip(gz: Bytes, plain_len: u64) -> Self {
        Body {
            source: if plain_len == 0 {
                Source::Empty
            } else {
                Source::Gunzip {
                    decoder: Box::new(GzDecoder::new(gz.reader())),
                    remaining: plain_len,
                }
            },
            permit: None,
        }
    }

    /// Keeps `permit` until the body has been fully taken (or dropped).
    pub(crate) fn holding(mut self, permit: Option<OwnedSemaphorePermit>) -> Self {
        self.permit = permit;
        self
    }

    /// Bytes still to be sent.
    fn remaining(&self) -> u64 {
        match &self.source {
            Source::Empty => 0,
            Source::Bytes(b) => b.len() as u64,
            Source::Gunzip { remaining, .. } => *remaining,
        }
    }

    fn next_chunk(&mut self) -> Option<Bytes> {
        match &mut self.source {
            Source::Empty => None,
            Source::Bytes(data) => Some(data.split_to(data.len().min(CHUNK))),
            Source::Gunzip { decoder, remaining } => {
                let want = (*remaining).min(CHUNK as u64) as usize;
                let mut chunk = vec![0; want];
                let mut filled = 0;
                while filled < want {
                    match decoder.read(&mut chunk[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            // Cannot happen for the exposition's own gzip bodies; the short
                            // body makes hyper close the connection (Content-Length unmet).
                            tracing::error!(error = %e, "a kept gzip body does not decompress");
                            break;
                        }
                    }
                }
                chunk.truncate(filled);
                *remaining = if filled < want {
                    0
                } else {
                    *remaining - want as u64
                };
                (filled > 0).then(|| Bytes::from(chunk))
            }
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let chunk = this.next_chunk();
        if this.remaining() == 0 {
            this.source = Source::Empty;
            this.permit = None;
        }
        Poll::Ready(chunk.map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::sync::Arc;
    use tokio::sync::Semaphore;

    #[tokio::test]
    async fn yields_all_bytes_in_bounded_chunks_then_releases_permit() {
        let data: Bytes = (0..CHUNK * 2 + 10)
            .map(|i| i as u8)
            .collect::<Vec<_>>()
            .into();
        let semaphore = Arc::new(Semaphore::new(1));
        let permit = semaphore.clone().try_acquire_owned().unwrap();
        let mut body = Body::new(data.clone()).holding(Some(permit));
        assert_eq!(
            hyper::body::Body::size_hint(&body).exact(),
            Some(data.len() as u64)
        );

        let mut got = Vec::new();
        while let Some(frame) = body.frame().await {
            let chunk = frame.unwrap().into_data().unwrap();
            assert!(chunk.len() <= CHUNK);
            got.extend_from_slice(&chunk);
            let done = got.len() == data.len();
            assert_eq!(semaphore.available_permits(), usize::from(done));
        }
        assert_eq!(got, data);
        assert!(hyper::body::Body::is_end_stream(&body));
    }

    #[tokio::test]
    async fn a_gzip_body_is_decompressed_in_bounded_chunks_then_releases_permit() {
        use std::io::Write;
        let data: Vec<u8> = (0..CHUNK * 3 + 17).map(|i| (i % 251) as u8).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = Bytes::from(gz.finish().unwrap());
        let len = crate::exposition::gzip_plain_len(&gz);
        assert_eq!(len, data.len() as u64);
        let semaphore = Arc::new(Semaphore::new(1));
        let permit = semaphore.clone().try_acquire_owned().unwrap();
        let mut body = Body::gunzip(gz, len).holding(Some(permit));
        assert_eq!(hyper::body::Body::size_hint(&body).exact(), Some(len));

        let mut got = Vec::new();
        while let Some(frame) = body.frame().await {
            let chunk = frame.unwrap().into_data().unwrap();
            assert!(!chunk.is_empty() && chunk.len() <= CHUNK);
            got.extend_from_slice(&chunk);
            let done = got.len() == data.len();
            assert_eq!(semaphore.available_permits(), usize::from(done));
            assert_eq!(
                hyper::body::Body::size_hint(&body).exact(),
                Some((data.len() - got.len()) as u64)
            );
        }
        assert_eq!(got, data);
        assert!(hyper::body::Body::is_end_stream(&body));
    }

    #[tokio::test]
    async fn empty_body_ends_at_once() {
        let mut body = Body::empty();
        assert!(hyper::body::Body::is_end_stream(&body));
        assert!(body.frame().await.is_none());
    }
}
