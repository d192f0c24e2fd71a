//! The body of an export answer as a `Stream` of `Bytes`: transport errors in the crate's own
//! error, a body shorter than its `Content-Length` an unexpected end.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

use super::transport::{body_error, Timeouts};
use crate::error::{Error, ErrorKind, Limit, Result};

type Chunks = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// What a progress callback is told: bytes of the body received so far, and its
/// `Content-Length` when the answer gave one.
pub(crate) type ProgressFn = Arc<dyn Fn(u64, Option<u64>) + Send + Sync>;

/// The body of an export answer, as the [`Export`](crate::export::Export) that a
/// [`Client`](super::Client) call returns reads it: a `Stream` of `Bytes` chunks pulled from the
/// socket only as the reader asks for them, so a slow consumer slows the sender down (TCP
/// backpressure) and nothing is buffered whole.
///
/// Its errors are the crate's: [`ErrorKind::Http`] when the connection breaks,
/// [`ErrorKind::Timeout`] when no bytes come for the read timeout or a deadline passes, and
/// [`ErrorKind::UnexpectedEnd`] when it ends before its `Content-Length`: all
/// [retryable](Error::is_retryable) but the total deadline. A body longer than the client's
/// [`max_body_bytes`](super::ClientBuilder::max_body_bytes) is an
/// [`ErrorKind::LimitExceeded`] error ([`Limit::BodyBytes`]) once a byte over it arrives, not
/// retried.
pub struct ResponseBody {
    /// Chunks already read from the socket (to find the export's first item) and not yet handed
    /// out.
    replay: VecDeque<Bytes>,
    chunks: Chunks,
    received: u64,
    content_length: Option<u64>,
    timeouts: Timeouts,
    max_bytes: u64,
    progress: Option<ProgressFn>,
    done: bool,
    /// The bytes up to the body cap were handed out: the next poll is the cap's error.
    over_cap: bool,
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("received", &self.received)
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

impl ResponseBody {
    pub(super) fn new(response: reqwest::Response, timeouts: Timeouts, max_bytes: u64) -> Self {
        let content_length = response.content_length();
        ResponseBody {
            replay: VecDeque::new(),
            chunks: Box::pin(response.bytes_stream()),
            received: 0,
            content_length,
            timeouts,
            max_bytes,
            progress: None,
            done: false,
            over_cap: false,
        }
    }

    pub(super) fn set_progress(&mut self, progress: Option<ProgressFn>) {
        self.progress = progress;
    }

    /// Gives `chunk` back, to be handed out again before anything else (in the order given).
    pub(super) fn replay(&mut self, chunk: Bytes) {
        self.replay.push_back(chunk);
    }

    /// Bytes received from the socket so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The answer's `Content-Length`, when it gave one.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// The next chunk from the socket (not from the replay queue).
    pub(super) async fn next_from_socket(&mut self) -> Option<Result<Bytes>> {
        std::future::poll_fn(|cx| self.poll_socket(cx)).await
    }

    fn poll_socket(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.over_cap {
            self.done = true;
            return Poll::Ready(Some(Err(self.cap_error())));
        }
        let next = match self.chunks.as_mut().poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(next) => next,
        };
        Poll::Ready(match next {
            Some(Ok(mut chunk)) => {
                let room = self.max_bytes - self.received;
                if chunk.len() as u64 > room {
                    // The bytes up to the cap, so that the error comes at the cap itself
                    // whatever the chunks, then the error.
                    chunk.truncate(room as usize);
                    self.over_cap = true;
                    if chunk.is_empty() {
                        self.done = true;
                        return Poll::Ready(Some(Err(self.cap_error())));
                    }
                }
                self.received += chunk.len() as u64;
                if let Some(progress) = &self.progress {
                    progress(self.received, self.content_length);
                }
                Some(Ok(chunk))
            }
            Some(Err(e)) => {
                self.done = true;
                Some(Err(self.failure(e)))
            }
            None => {
                self.done = true;
                match self.content_length {
                    Some(expected) if self.received < expected => {
                        Some(Err(self.cut_short(expected, None)))
                    }
                    _ => None,
                }
            }
        })
    }

    fn failure(&self, e: reqwest::Error) -> Error {
        match self.content_length {
            // hyper's "end of file before message length reached": the peer closed early.
            Some(expected) if self.received < expected && !e.is_timeout() => {
                self.cut_short(expected, Some(e))
            }
            _ => body_error(e, &self.timeouts, self.received),
        }
    }

    fn cap_error(&self) -> Error {
        Error::limit_exceeded(Limit::BodyBytes, self.max_bytes)
            .at(self.max_bytes)
            .with_hint(
                "an answer over the client's max_body_bytes cap: raise it with \
                 ClientBuilder::max_body_bytes or the --max-body-bytes flag",
            )
    }

    fn cut_short(&self, expected: u64, cause: Option<reqwest::Error>) -> Error {
        let detail = format!(
            "the connection closed after {} of the {expected} bytes of the response's content-length",
            self.received
        );
        let err = match cause {
            Some(cause) => {
                Error::with_source(ErrorKind::UnexpectedEnd, detail, cause.without_url())
            }
            None => Error::new(ErrorKind::UnexpectedEnd, detail),
        };
        err.transient()
    }
}

impl Stream for ResponseBody {
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(chunk) = this.replay.pop_front() {
            return Poll::Ready(Some(Ok(chunk)));
        }
        this.poll_socket(cx)
    }
}
