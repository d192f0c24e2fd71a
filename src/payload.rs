//! Reading one part's (or one file's) payload: the state every front-end's part type shares, and
//! the macros that give those types their one reading API (`chunk`, `bytes`, `Stream`,
//! `AsyncRead`, `Read`), so it is written once.

use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};

use crate::error::{Error, ErrorKind, Result};

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

/// What a payload reader can answer without asking the core for an event.
enum Unaided {
    /// A chunk that a reader left unread.
    Chunk(Bytes),
    /// The payload's end was read already.
    Ended,
    /// An event is needed.
    NeedEvent,
}

/// The payload state of one part or file: what is left of a chunk that a reader did not take
/// whole, and whether the end was read.
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
        match self.unaided() {
            Unaided::Chunk(chunk) => Ok(Some(chunk)),
            Unaided::Ended => Ok(None),
            Unaided::NeedEvent => self.step(event()?.payload_step()),
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
        match self.unaided() {
            Unaided::Chunk(chunk) => Poll::Ready(Ok(Some(chunk))),
            Unaided::Ended => Poll::Ready(Ok(None)),
            Unaided::NeedEvent => {
                let step = ready!(poll_step(cx))?;
                Poll::Ready(self.step(step))
            }
        }
    }

    #[inline]
    fn unaided(&mut self) -> Unaided {
        if !self.unread.is_empty() {
            Unaided::Chunk(std::mem::take(&mut self.unread))
        } else if self.done {
            Unaided::Ended
        } else {
            Unaided::NeedEvent
        }
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

/// The reading API of an async part type: a struct with fields `driver: &mut AsyncDriver<S, _>`
/// and `payload: Payload`. `$what` names the payload in the docs ("part", "file"), `$ends` says
/// when it ends, `$errors` points to the method whose errors apply.
macro_rules! async_payload_reader {
    ($ty:ident, $what:literal, $ends:literal, $errors:literal) => {
        impl<S, E> $ty<'_, S>
        where
            S: futures_core::Stream<Item = std::result::Result<bytes::Bytes, E>>,
            E: Into<crate::driver::BoxError>,
        {
            #[doc = concat!("Polls for the next chunk of the ", $what, ".")]
            #[inline]
            pub fn poll_chunk(
                &mut self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<crate::Result<Option<bytes::Bytes>>> {
                let driver = &mut *self.driver;
                self.payload.poll_next(cx, |cx| {
                    driver.poll_map(cx, crate::payload::PayloadEvent::payload_step)
                })
            }

            #[doc = concat!("The next chunk of the ", $what, " (a zero-copy slice of the source's chunks), or `None` once ", $ends, ".")]
            ///
            /// # Errors
            ///
            #[doc = concat!("As ", $errors, ": a body that ends inside this ", $what, " gives [`ErrorKind::UnexpectedEnd`](crate::ErrorKind::UnexpectedEnd), never `None`.")]
            pub async fn chunk(&mut self) -> crate::Result<Option<bytes::Bytes>> {
                std::future::poll_fn(|cx| self.poll_chunk(cx)).await
            }

            #[doc = concat!("The whole ", $what, " in one `Bytes`: no copy when it came in one chunk.")]
            ///
            /// # Errors
            ///
            /// As [`chunk`](Self::chunk).
            pub async fn bytes(mut self) -> crate::Result<bytes::Bytes> {
                let mut all = crate::payload::Collector::new();
                while let Some(chunk) = self.chunk().await? {
                    all.push(chunk);
                }
                Ok(all.finish())
            }
        }

        impl<S, E> futures_core::Stream for $ty<'_, S>
        where
            S: futures_core::Stream<Item = std::result::Result<bytes::Bytes, E>>,
            E: Into<crate::driver::BoxError>,
        {
            type Item = crate::Result<bytes::Bytes>;

            fn poll_next(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<Self::Item>> {
                self.poll_chunk(cx).map(crate::Result::transpose)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl<S, E> tokio::io::AsyncRead for $ty<'_, S>
        where
            S: futures_core::Stream<Item = std::result::Result<bytes::Bytes, E>>,
            E: Into<crate::driver::BoxError>,
        {
            fn poll_read(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                if buf.remaining() == 0 {
                    return std::task::Poll::Ready(Ok(()));
                }
                match std::task::ready!(self.poll_chunk(cx)) {
                    Ok(Some(mut chunk)) => {
                        let n = buf.remaining().min(chunk.len());
                        buf.put_slice(&chunk[..n]);
                        bytes::Buf::advance(&mut chunk, n);
                        self.payload.keep(chunk);
                    }
                    Ok(None) => {}
                    Err(e) => return std::task::Poll::Ready(Err(e.into())),
                }
                std::task::Poll::Ready(Ok(()))
            }
        }
    };
}

/// The reading API of a blocking part type: a struct with fields
/// `driver: &mut BlockingDriver<R, _>` and `payload: Payload`; the arguments as for
/// `async_payload_reader!`.
macro_rules! blocking_payload_reader {
    ($ty:ident, $what:literal, $ends:literal, $errors:literal) => {
        impl<R: std::io::Read> $ty<'_, R> {
            #[doc = concat!("The next chunk of the ", $what, " (a zero-copy slice of the chunks read), or `None` once ", $ends, ".")]
            ///
            /// # Errors
            ///
            #[doc = concat!("As ", $errors, ": a body that ends inside this ", $what, " gives [`ErrorKind::UnexpectedEnd`](crate::ErrorKind::UnexpectedEnd), never `None`.")]
            pub fn chunk(&mut self) -> crate::Result<Option<bytes::Bytes>> {
                let driver = &mut *self.driver;
                self.payload.next(|| driver.next_event())
            }

            #[doc = concat!("The whole ", $what, " in one `Bytes`: no copy when it came in one chunk.")]
            ///
            /// # Errors
            ///
            /// As [`chunk`](Self::chunk).
            pub fn bytes(mut self) -> crate::Result<bytes::Bytes> {
                let mut all = crate::payload::Collector::new();
                while let Some(chunk) = self.chunk()? {
                    all.push(chunk);
                }
                Ok(all.finish())
            }
        }

        impl<R: std::io::Read> std::io::Read for $ty<'_, R> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if buf.is_empty() {
                    return Ok(0);
                }
                let Some(chunk) = self.chunk()? else {
                    return Ok(0);
                };
                let (n, rest) = crate::payload::copy_into(chunk, buf);
                self.payload.keep(rest);
                Ok(n)
            }
        }
    };
}

pub(crate) use {async_payload_reader, blocking_payload_reader};
