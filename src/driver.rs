//! The thin I/O loops shared by every front-end: pull a chunk from the source only when the
//! sans-I/O core cannot go on without one, feed it, and return the core's next event.

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;

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
                    // A source that reports in the crate's own error (the HTTP client's timeout
                    // or cut body) has said what failed: keep its kind.
                    let err = match e.into().downcast::<Error>() {
                        Ok(ours) => *ours,
                        Err(other) => Error::with_source(ErrorKind::Read, "", other),
                    };
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

    /// Sets the size of the chunks read, at least 1 byte.
    pub(crate) fn set_chunk_size(&mut self, size: usize) {
        self.chunk_size = size.max(1);
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
                    // A reader that reports in the crate's own error (the blocking HTTP
                    // client's body) has said what failed: keep its kind.
                    let err = match Error::from_io(&e) {
                        Some(ours) => ours.clone(),
                        None => Error::with_source(ErrorKind::Read, "", e),
                    };
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
