//! Fault injection: what the emulator does wrong on purpose, as a wrapper around each answer's
//! body and a counter of requests, never in the handlers.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use axum::http::StatusCode;
use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use tokio::sync::watch;

/// A fault the emulator injects, for testing how a client copes.
///
/// The body faults ([`CloseAfter`](Self::CloseAfter), [`StallAfter`](Self::StallAfter),
/// [`Drip`](Self::Drip), [`Garble`](Self::Garble)) apply to every successful (`200`) answer,
/// or to the first ones only ([`EmulatorBuilder::faulty_answers`](super::EmulatorBuilder::faulty_answers)),
/// with its `Content-Length` unchanged; [`TooManyRequests`](Self::TooManyRequests) and
/// [`Unavailable`](Self::Unavailable) answer the first requests instead of the handlers, counted
/// from the start across all endpoints (one after the other when both are set). Faults combine:
/// a garbled, dripped body cut at some byte is three faults.
///
/// # Examples
///
/// ```
/// use authenteq_export::server::Fault;
///
/// let faults = [
///     Fault::CloseAfter { bytes: 1000 },
///     Fault::TooManyRequests { first: 2, retry_after_secs: 1 },
/// ];
/// assert_eq!(faults[0].to_string(), "close the connection after 1000 body bytes");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// Send the first `bytes` bytes of the body, then close the connection: the client gets
    /// fewer bytes than the `Content-Length`.
    CloseAfter {
        /// Body bytes sent before the connection is closed.
        bytes: u64,
    },
    /// Send the first `bytes` bytes of the body, then send nothing more while keeping the
    /// connection open (until the emulator shuts down): a client needs a read timeout.
    StallAfter {
        /// Body bytes sent before the stall.
        bytes: u64,
    },
    /// Send the body at about `bytes_per_second` (in pieces of a twentieth of that, at least one
    /// byte); the body is complete, only slow.
    Drip {
        /// The rate; `0` is taken as `1`.
        bytes_per_second: u64,
    },
    /// Answer the first `first` requests `429 Too Many Requests` with `Retry-After`.
    TooManyRequests {
        /// How many requests get the answer.
        first: u64,
        /// The `Retry-After` value, in seconds.
        retry_after_secs: u64,
    },
    /// Answer the first `first` requests `503 Service Unavailable` with `Retry-After`.
    Unavailable {
        /// How many requests get the answer.
        first: u64,
        /// The `Retry-After` value, in seconds.
        retry_after_secs: u64,
    },
    /// Flip every bit of the body byte at `offset` (counted from 0); a shorter body is left as
    /// it is.
    Garble {
        /// The offset of the byte changed.
        offset: u64,
    },
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::CloseAfter { bytes } => {
                write!(f, "close the connection after {bytes} body bytes")
            }
            Fault::StallAfter { bytes } => write!(f, "stall after {bytes} body bytes"),
            Fault::Drip { bytes_per_second } => {
                write!(f, "send bodies at {bytes_per_second} bytes per second")
            }
            Fault::TooManyRequests {
                first,
                retry_after_secs,
            } => write!(
                f,
                "answer the first {first} requests 429 with Retry-After: {retry_after_secs}"
            ),
            Fault::Unavailable {
                first,
                retry_after_secs,
            } => write!(
                f,
                "answer the first {first} requests 503 with Retry-After: {retry_after_secs}"
            ),
            Fault::Garble { offset } => write!(f, "garble the body byte at offset {offset}"),
        }
    }
}

/// The faults of one emulator, sorted by what they act on.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    body: BodyFaults,
    /// `(status, first, retry_after)`, in the order given.
    busy: Vec<(StatusCode, u64, u64)>,
    /// How many successful answers get the body faults (`None`: all of them).
    body_answers: Option<u64>,
    /// Requests seen, for the busy faults.
    requests: AtomicU64,
    /// Successful answers seen, for `body_answers`.
    answers: AtomicU64,
}

#[derive(Debug, Default, Clone, Copy)]
struct BodyFaults {
    /// The byte at which the body stops, and whether it stalls there (else it is cut).
    stop: Option<(u64, bool)>,
    drip: Option<u64>,
    garble: Option<u64>,
}

impl Faults {
    pub(crate) fn new(faults: &[Fault], body_answers: Option<u64>) -> Self {
        let mut out = Faults {
            body_answers,
            ..Faults::default()
        };
        for fault in faults {
            match *fault {
                Fault::CloseAfter { bytes } => out.stop_at(bytes, false),
                Fault::StallAfter { bytes } => out.stop_at(bytes, true),
                Fault::Drip { bytes_per_second } => out.body.drip = Some(bytes_per_second.max(1)),
                Fault::Garble { offset } => out.body.garble = Some(offset),
                Fault::TooManyRequests {
                    first,
                    retry_after_secs,
                } => out
                    .busy
                    .push((StatusCode::TOO_MANY_REQUESTS, first, retry_after_secs)),
                Fault::Unavailable {
                    first,
                    retry_after_secs,
                } => out
                    .busy
                    .push((StatusCode::SERVICE_UNAVAILABLE, first, retry_after_secs)),
            }
        }
        out
    }

    /// The earliest stop wins.
    fn stop_at(&mut self, bytes: u64, stall: bool) {
        if self.body.stop.is_none_or(|(at, _)| bytes < at) {
            self.body.stop = Some((bytes, stall));
        }
    }

    /// Counts a request; for the first ones, the busy answer they get: `(status, retry_after)`.
    pub(crate) fn busy(&self) -> Option<(StatusCode, u64)> {
        if self.busy.is_empty() {
            return None;
        }
        let mut n = self.requests.fetch_add(1, Ordering::Relaxed);
        for &(status, first, retry_after) in &self.busy {
            if n < first {
                return Some((status, retry_after));
            }
            n -= first;
        }
        None
    }

    /// Counts a successful answer; whether the body faults apply to it.
    pub(crate) fn faulty_body(&self) -> bool {
        let b = &self.body;
        if b.stop.is_none() && b.drip.is_none() && b.garble.is_none() {
            return false;
        }
        let n = self.answers.fetch_add(1, Ordering::Relaxed);
        self.body_answers.is_none_or(|first| n < first)
    }

    /// `body` with the body faults applied; a stall lasts until `shutdown` changes.
    pub(crate) fn wrap(&self, body: Body, shutdown: watch::Receiver<bool>) -> Body {
        Body::from_stream(FaultyBody {
            inner: body.into_data_stream(),
            faults: self.body,
            sent: 0,
            rest: None,
            wait: None,
            stalled: false,
            flushed: false,
            shutdown: Some(shutdown),
        })
    }
}

type Wait = Pin<Box<dyn Future<Output = bool> + Send>>;

/// Waits for `delay` (or forever, for a stall); `true` when the emulator shut down first.
fn wait(delay: Option<Duration>, mut shutdown: watch::Receiver<bool>) -> Wait {
    Box::pin(async move {
        let closed = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        match delay {
            None => {
                closed.await;
                true
            }
            Some(delay) => {
                let sleep = tokio::time::sleep(delay);
                tokio::pin!(sleep);
                tokio::pin!(closed);
                std::future::poll_fn(|cx| {
                    if closed.as_mut().poll(cx).is_ready() {
                        Poll::Ready(true)
                    } else if sleep.as_mut().poll(cx).is_ready() {
                        Poll::Ready(false)
                    } else {
                        Poll::Pending
                    }
                })
                .await
            }
        }
    })
}

struct FaultyBody {
    inner: BodyDataStream,
    faults: BodyFaults,
    sent: u64,
    /// The part of the last chunk not sent yet.
    rest: Option<Bytes>,
    /// A drip's pause or a stall.
    wait: Option<Wait>,
    stalled: bool,
    /// Whether the body pended once at the cut, for the bytes before it to be flushed.
    flushed: bool,
    shutdown: Option<watch::Receiver<bool>>,
}

fn fault_error(what: &'static str) -> axum::Error {
    axum::Error::new(io::Error::other(what))
}

impl Stream for FaultyBody {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(pause) = this.wait.as_mut() {
            let shut_down = ready!(pause.as_mut().poll(cx));
            this.wait = None;
            if shut_down || this.stalled {
                this.shutdown = None;
                return Poll::Ready(Some(Err(fault_error("the emulator shut down"))));
            }
        }
        if this.stalled {
            return Poll::Ready(None);
        }
        let mut chunk = match this.rest.take() {
            Some(rest) => rest,
            None => match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                None => return Poll::Ready(None),
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                Some(Ok(chunk)) => chunk,
            },
        };
        let mut n = chunk.len() as u64;
        if let Some((at, stall)) = this.faults.stop {
            if this.sent >= at && n > 0 {
                if !stall {
                    // The server flushes what it holds when the body is pending, and drops it
                    // when the body fails: pend once, so the bytes before the cut are sent.
                    if !this.flushed {
                        this.flushed = true;
                        this.rest = Some(chunk);
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    return Poll::Ready(Some(Err(fault_error("closed after the fault's bytes"))));
                }
                this.stalled = true;
                let shutdown = this.shutdown.clone();
                match shutdown {
                    Some(shutdown) => this.wait = Some(wait(None, shutdown)),
                    None => return Poll::Ready(None),
                }
                // Register the waker with the stall.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            n = n.min(at - this.sent);
        }
        if let Some(rate) = this.faults.drip {
            n = n.min((rate / 20).max(1));
        }
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if n < chunk.len() {
            this.rest = Some(chunk.split_off(n));
        }
        if let Some(offset) = this.faults.garble {
            if (this.sent..this.sent + n as u64).contains(&offset) {
                let mut garbled = BytesMut::from(&chunk[..]);
                garbled[(offset - this.sent) as usize] ^= 0xff;
                chunk = garbled.freeze();
            }
        }
        this.sent += n as u64;
        if let (Some(rate), Some(shutdown)) = (this.faults.drip, this.shutdown.clone()) {
            let delay = Duration::from_secs_f64(n as f64 / rate as f64);
            this.wait = Some(wait(Some(delay), shutdown));
        }
        Poll::Ready(Some(Ok(chunk)))
    }
}
