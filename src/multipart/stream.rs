//! The async front-end: a multipart body from any `Stream` of `Bytes` chunks.

use std::future::poll_fn;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

use super::boundary::Boundary;
use super::decoder::{Decoder, Event};
use super::headers::PartHeaders;
use super::limits::Limits;
use crate::driver::{AsyncDriver, BoxError};
use crate::error::Result;
use crate::payload::{async_payload_reader, Payload};

/// A multipart body read from a [`Stream`] of `Result<Bytes, E>` chunks: reqwest's
/// `bytes_stream()`, a hyper or axum body's data stream, `tokio_util::io::ReaderStream` over a
/// file.
///
/// Parts come one after another from [`next_part`](Self::next_part). A [`Part`] borrows the
/// body mutably, so the borrow checker rules out reading two parts at once; asking for the next
/// part skips what is left of the current one without copying it. The source is polled only
/// when the decoder cannot go on without another chunk, and never after the close delimiter.
///
/// # Examples
///
/// ```
/// use authenteq_export::multipart::{Boundary, Multipart};
/// use bytes::Bytes;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let chunks = vec![
///     Ok::<_, std::io::Error>(Bytes::from_static(b"--b\r\nContent-Disposition: form-data; name=\"result\"\r\n\r\n{\"id\"")),
///     Ok(Bytes::from_static(b":\"1\"}\r\n--b--\r\n")),
/// ];
/// let mut body = Multipart::new(futures::stream::iter(chunks), Boundary::new("b")?);
/// while let Some(mut part) = body.next_part().await? {
///     assert_eq!(part.headers().name(), Some("result"));
///     let mut json = Vec::new();
///     while let Some(chunk) = part.chunk().await? {
///         json.extend_from_slice(&chunk);
///     }
///     assert_eq!(json, b"{\"id\":\"1\"}");
/// }
/// # Ok::<(), authenteq_export::Error>(())
/// # }).unwrap();
/// ```
pub struct Multipart<S> {
    driver: AsyncDriver<S, Decoder>,
}

impl<S> std::fmt::Debug for Multipart<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multipart")
            .field("decoder", &self.driver.core)
            .finish_non_exhaustive()
    }
}

impl<S, E> Multipart<S>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<BoxError>,
{
    /// A body read from `source` with `boundary` and the default [`Limits`].
    pub fn new(source: S, boundary: Boundary) -> Self {
        Self::with_limits(source, boundary, Limits::default())
    }

    /// A body read from `source` with `boundary` and the given limits.
    pub fn with_limits(source: S, boundary: Boundary, limits: Limits) -> Self {
        Multipart {
            driver: AsyncDriver::new(source, Decoder::with_limits(boundary, limits)),
        }
    }

    /// Bytes pulled from the source so far.
    pub fn bytes_read(&self) -> u64 {
        self.driver.core.bytes_fed()
    }

    #[inline]
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<Event>> {
        self.driver.poll_event(cx)
    }

    /// Polls for the next part, skipping what is left of the current one.
    pub fn poll_next_part(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<PartHeaders>>> {
        loop {
            match ready!(self.poll_event(cx))? {
                Event::Data(_) | Event::PartEnd => continue,
                Event::PartStart(headers) => return Poll::Ready(Ok(Some(*headers))),
                Event::End => return Poll::Ready(Ok(None)),
            }
        }
    }

    /// The next part, or `None` after the close delimiter.
    ///
    /// # Errors
    ///
    /// Any decoding error (a truncated body gives [`ErrorKind::UnexpectedEnd`](crate::ErrorKind::UnexpectedEnd) here too, never
    /// `None`), or [`ErrorKind::Read`](crate::ErrorKind::Read) when the stream failed.
    pub async fn next_part(&mut self) -> Result<Option<Part<'_, S>>> {
        let headers = poll_fn(|cx| self.poll_next_part(cx)).await?;
        let number = self.driver.core.parts_started();
        Ok(headers.map(move |headers| Part {
            driver: &mut self.driver,
            headers,
            number,
            payload: Payload::default(),
        }))
    }
}

/// One part of a [`Multipart`] body: its headers, and its payload pulled lazily.
///
/// Read the payload chunk by chunk with [`chunk`](Self::chunk) (zero-copy slices of the source's
/// chunks), as a [`Stream`], or as a tokio `AsyncRead` (`tokio::io::copy(&mut part, &mut file)`;
/// feature `tokio-io`, on by default). The payload ends (`None`, or end of file) only once the
/// part's closing delimiter was read.
pub struct Part<'a, S> {
    driver: &'a mut AsyncDriver<S, Decoder>,
    headers: PartHeaders,
    number: usize,
    payload: Payload,
}

impl<S> std::fmt::Debug for Part<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Part")
            .field("number", &self.number)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl<S> Part<'_, S> {
    /// The part's headers.
    pub fn headers(&self) -> &PartHeaders {
        &self.headers
    }

    /// The part's 1-based position in the body.
    pub fn number(&self) -> usize {
        self.number
    }
}

async_payload_reader!(
    Part,
    "payload",
    "the part's closing delimiter was read",
    "[`Multipart::next_part`]"
);
