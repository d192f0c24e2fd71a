//! The thin I/O loops shared by every front-end: pull a chunk from the source only when the
//! sans-I/O core cannot go on without one, feed it, and return the core's next event.

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_core::Stream;
use tokio::io::ReadBuf;

use crate::error::{Error, ErrorKind, Result};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A sans-I/O core: fed chunks, it answers with events.
pub(crate) trait Core {
    type Event;
    fn feed(&mut self, chunk: Bytes);
    fn finish(&mut self);
    /// The next event, or `Ok(None)` when the core needs input.
    fn next_event(&mut self) -> Result<Option<Self::Event>>;
    /// Stops the core with a source error, which later calls return again.
    fn poison(&mut self, err: Error) -> Error;
}

/// A core driven by an async stream of chunks.
pub(crate) struct AsyncDriver<S, C> {
    source: Pin<Box<S>>,
    pub(crate) core: C,
    /// The core asked for input and has had none since: poll the source first.
    starved: bool,
}

impl<S, C: std::fmt::Debug> std::fmt::Debug for AsyncDriver<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncDriver")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl<S, E, C> AsyncDriver<S, C>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<BoxError>,
    C: Core,
{
    pub(crate) fn new(source: S, core: C) -> Self {
        AsyncDriver {
            source: Box::pin(source),
            core,
            starved: false,
        }
    }

    #[inline]
    pub(crate) fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<C::Event>> {
        self.poll_map(cx, |event| event)
    }

    /// Polls for the next event and maps it with `f` where it is read: a payload reader takes
    /// its bytes out of the event there, instead of moving the whole event through each layer.
    #[inline]
    pub(crate) fn poll_map<R>(
        &mut self,
        cx: &mut Context<'_>,
        f: impl FnOnce(C::Event) -> R,
    ) -> Poll<Result<R>> {
        loop {
            if !self.starved {
                match self.core.next_event() {
                    Ok(Some(event)) => return Poll::Ready(Ok(f(event))),
                    Ok(None) => self.starved = true,
                    Err(err) => return Poll::Ready(Err(err)),
                }
            }
            match ready!(self.source.as_mut().poll_next(cx)) {
                Some(Ok(chunk)) => self.core.feed(chunk),
                Some(Err(e)) => {
                    self.starved = false;
                    let err = Error::with_source(ErrorKind::Source, "", e.into());
                    return Poll::Ready(Err(self.core.poison(err)));
                }
                None => self.core.finish(),
            }
            self.starved = false;
        }
    }
}

/// Default size of the chunks a blocking front-end reads: 64 KiB.
pub const DEFAULT_CHUNK_SIZE: usize = 64 * 1024;

/// A core driven by a blocking reader.
pub(crate) struct BlockingDriver<R, C> {
    source: R,
    pub(crate) core: C,
    buf: BytesMut,
    pub(crate) chunk_size: usize,
}

impl<R, C: std::fmt::Debug> std::fmt::Debug for BlockingDriver<R, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingDriver")
            .field("core", &self.core)
            .field("chunk_size", &self.chunk_size)
            .finish_non_exhaustive()
    }
}

impl<R: Read, C: Core> BlockingDriver<R, C> {
    pub(crate) fn new(source: R, core: C) -> Self {
        BlockingDriver {
            source,
            core,
            buf: BytesMut::new(),
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }

    /// Reads one chunk into a fresh buffer and feeds it; at end of file, finishes the core.
    fn fill(&mut self) -> Result<()> {
        self.buf.clear();
        self.buf.resize(self.chunk_size, 0);
        let n = loop {
            match self.source.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let err = Error::with_source(ErrorKind::Source, "", e);
                    return Err(self.core.poison(err));
                }
            }
        };
        if n == 0 {
            self.core.finish();
        } else {
            self.buf.truncate(n);
            self.core.feed(self.buf.split().freeze());
        }
        Ok(())
    }

    pub(crate) fn next_event(&mut self) -> Result<C::Event> {
        loop {
            if let Some(event) = self.core.next_event()? {
                return Ok(event);
            }
            self.fill()?;
        }
    }
}

/// What an event means to the reader of one part's (or file's) payload.
pub(crate) enum PayloadStep {
    Data(Bytes),
    End,
    /// Anything else: the core never sends it inside a payload.
    Other,
}

/// Events that carry a payload: the multipart decoder's and the export decoder's.
pub(crate) trait PayloadEvent {
    fn payload_step(self) -> PayloadStep;
}

/// The payload state of one part or file, shared by every front-end's part type: what is left
/// of a chunk that a reader did not take whole, and whether the end was read.
#[derive(Debug, Default)]
pub(crate) struct Payload {
    done: bool,
    unread: Bytes,
}

impl Payload {
    /// The next chunk: what a reader left, or the payload of the next event, which `event` is
    /// asked for only when needed.
    #[inline]
    pub(crate) fn next<E: PayloadEvent>(
        &mut self,
        event: impl FnOnce() -> Result<E>,
    ) -> Result<Option<Bytes>> {
        match self.without_event() {
            Some(chunk) => Ok(chunk),
            None => self.step(event()?.payload_step()),
        }
    }

    /// Polls for the next chunk, using `poll_step` (an event, read as a payload step) only when
    /// one is needed.
    #[inline]
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        poll_step: impl FnOnce(&mut Context<'_>) -> Poll<Result<PayloadStep>>,
    ) -> Poll<Result<Option<Bytes>>> {
        if let Some(chunk) = self.without_event() {
            return Poll::Ready(Ok(chunk));
        }
        let step = ready!(poll_step(cx))?;
        Poll::Ready(self.step(step))
    }

    /// The answer when no event is needed: what a reader left, or the end once it was read.
    #[inline]
    fn without_event(&mut self) -> Option<Option<Bytes>> {
        if !self.unread.is_empty() {
            return Some(Some(std::mem::take(&mut self.unread)));
        }
        self.done.then_some(None)
    }

    /// What a step read inside the payload means for it.
    #[inline]
    fn step(&mut self, step: PayloadStep) -> Result<Option<Bytes>> {
        match step {
            PayloadStep::Data(data) => Ok(Some(data)),
            PayloadStep::End => {
                self.done = true;
                Ok(None)
            }
            PayloadStep::Other => {
                self.done = true;
                Err(Error::new(ErrorKind::Usage, "payload read after it ended"))
            }
        }
    }

    /// Keeps what a reader did not take of a chunk, for the next read.
    pub(crate) fn keep(&mut self, rest: Bytes) {
        self.unread = rest;
    }
}

/// Copies the front of `chunk` into `buf`; returns what did not fit.
pub(crate) fn copy_into(mut chunk: Bytes, buf: &mut [u8]) -> (usize, Bytes) {
    let n = buf.len().min(chunk.len());
    buf[..n].copy_from_slice(&chunk[..n]);
    chunk.advance(n);
    (n, chunk)
}

/// Copies the front of `chunk` into `buf`; returns what did not fit.
pub(crate) fn copy_into_read_buf(mut chunk: Bytes, buf: &mut ReadBuf<'_>) -> Bytes {
    let n = buf.remaining().min(chunk.len());
    buf.put_slice(&chunk[..n]);
    chunk.advance(n);
    chunk
}

/// Joins payload chunks into one `Bytes`: no copy when there is a single chunk.
#[derive(Debug)]
pub(crate) struct Collector {
    first: Option<Bytes>,
    rest: BytesMut,
}

impl Collector {
    pub(crate) fn new() -> Self {
        Collector {
            first: None,
            rest: BytesMut::new(),
        }
    }

    pub(crate) fn push(&mut self, chunk: Bytes) {
        match self.first.take() {
            None if self.rest.is_empty() => self.first = Some(chunk),
            first => {
                if let Some(f) = first {
                    self.rest.extend_from_slice(&f);
                }
                self.rest.extend_from_slice(&chunk);
            }
        }
    }

    pub(crate) fn finish(self) -> Bytes {
        self.first.unwrap_or_else(|| self.rest.freeze())
    }
}
