//! The response body: pre-encoded bytes handed to hyper in bounded chunks (zero-copy slices),
//! optionally holding a concurrency-limit permit until the last chunk has been taken.

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::OwnedSemaphorePermit;

/// Chunk size handed to the connection. Bounded so hyper's write buffer fills and a slow reader
/// keeps the request (and its permit) in flight for as long as the transfer lasts.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Default)]
pub(crate) struct Body {
    data: Bytes,
    permit: Option<OwnedSemaphorePermit>,
}

impl Body {
    pub(crate) fn empty() -> Self {
        Body::default()
    }

    pub(crate) fn new(data: impl Into<Bytes>) -> Self {
        Body {
            data: data.into(),
            permit: None,
        }
    }

    /// Keeps `permit` until the body has been fully taken (or dropped).
    pub(crate) fn holding(mut self, permit: Option<OwnedSemaphorePermit>) -> Self {
        self.permit = permit;
        self
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
        if this.data.is_empty() {
            this.permit = None;
            return Poll::Ready(None);
        }
        let chunk = this.data.split_to(this.data.len().min(CHUNK));
        if this.data.is_empty() {
            this.permit = None;
        }
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.len() as u64)
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
    async fn empty_body_ends_at_once() {
        let mut body = Body::empty();
        assert!(hyper::body::Body::is_end_stream(&body));
        assert!(body.frame().await.is_none());
    }
}
