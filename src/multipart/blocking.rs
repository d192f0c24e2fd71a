//! The blocking front-end: a multipart body from any [`std::io::Read`].

use std::io::{self, Read};

use bytes::{Buf, Bytes, BytesMut};

use super::boundary::Boundary;
use super::decoder::{Decoder, Event};
use super::headers::PartHeaders;
use super::limits::Limits;
use crate::error::{Error, ErrorKind, Result};

/// Default size of the chunks read from the source: 64 KiB.
pub const DEFAULT_CHUNK_SIZE: usize = 64 * 1024;

/// A multipart body read from a [`Read`], for code without an async runtime.
///
/// It reads the source in chunks of [`chunk_size`](Self::chunk_size) bytes, only when the
/// decoder needs more, and hands out payload as slices of those chunks. A [`BlockingPart`]
/// borrows the reader mutably: one part at a time, checked at compile time.
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use authenteq_export::multipart::{Boundary, MultipartReader};
///
/// let body: &[u8] = b"--b\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xd9\r\n--b--\r\n";
/// let mut reader = MultipartReader::new(body, Boundary::new("b")?);
/// let mut part = reader.next_part()?.expect("one part");
/// assert_eq!(part.headers().content_type(), Some("image/jpeg"));
/// let mut jpeg = Vec::new();
/// part.read_to_end(&mut jpeg)?;
/// assert_eq!(jpeg, b"\xff\xd8\xff\xd9");
/// assert!(reader.next_part()?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MultipartReader<R> {
    source: R,
    decoder: Decoder,
    buf: BytesMut,
    chunk_size: usize,
}

impl<R: Read> MultipartReader<R> {
    /// A body read from `source` with `boundary` and the default [`Limits`].
    pub fn new(source: R, boundary: Boundary) -> Self {
        Self::with_limits(source, boundary, Limits::default())
    }

    /// A body read from `source` with `boundary` and the given limits.
    pub fn with_limits(source: R, boundary: Boundary, limits: Limits) -> Self {
        MultipartReader {
            source,
            decoder: Decoder::with_limits(boundary, limits),
            buf: BytesMut::new(),
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }

    /// Sets the size of the chunks read from the source (at least 1 byte).
    pub fn chunk_size(mut self, size: usize) -> Self {
        self.chunk_size = size.max(1);
        self
    }

    /// Bytes read from the source so far.
    pub fn bytes_read(&self) -> u64 {
        self.decoder.bytes_fed()
    }

    /// Reads one chunk into a fresh buffer and feeds it; at end of file, finishes the decoder.
    fn fill(&mut self) -> Result<()> {
        self.buf.clear();
        self.buf.resize(self.chunk_size, 0);
        let n = loop {
            match self.source.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let err = Error::with_source(ErrorKind::Source, "", e);
                    return Err(self.decoder.poison(err));
                }
            }
        };
        if n == 0 {
            self.decoder.finish();
        } else {
            self.buf.truncate(n);
            self.decoder.feed(self.buf.split().freeze());
        }
        Ok(())
    }

    fn next_event(&mut self) -> Result<Event> {
        loop {
            if let Some(event) = self.decoder.next_event()? {
                return Ok(event);
            }
            self.fill()?;
        }
    }

    /// The next part, or `None` after the close delimiter; skips what is left of the current
    /// part.
    ///
    /// # Errors
    ///
    /// Any decoding error (a truncated body gives [`ErrorKind::UnexpectedEnd`] here too, never
    /// `None`), or [`ErrorKind::Source`] when reading failed.
    pub fn next_part(&mut self) -> Result<Option<BlockingPart<'_, R>>> {
        loop {
            match self.next_event()? {
                Event::Data(_) | Event::PartEnd => continue,
                Event::End => return Ok(None),
                Event::PartStart(headers) => {
                    let number = self.decoder.parts_started();
                    return Ok(Some(BlockingPart {
                        body: self,
                        headers,
                        number,
                        done: false,
                        unread: Bytes::new(),
                    }));
                }
            }
        }
    }
}

/// One part of a [`MultipartReader`] body. Its payload is read with [`chunk`](Self::chunk)
/// (zero-copy) or through [`Read`]; it ends only once the part's closing delimiter was read.
pub struct BlockingPart<'a, R> {
    body: &'a mut MultipartReader<R>,
    headers: PartHeaders,
    number: usize,
    done: bool,
    unread: Bytes,
}

impl<R> std::fmt::Debug for MultipartReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultipartReader")
            .field("decoder", &self.decoder)
            .field("chunk_size", &self.chunk_size)
            .finish_non_exhaustive()
    }
}

impl<R> std::fmt::Debug for BlockingPart<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingPart")
            .field("number", &self.number)
            .field("headers", &self.headers)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<R: Read> BlockingPart<'_, R> {
    /// The part's headers.
    pub fn headers(&self) -> &PartHeaders {
        &self.headers
    }

    /// The part's 1-based position in the body.
    pub fn number(&self) -> usize {
        self.number
    }

    /// The next chunk of the payload, or `None` once the part's closing delimiter was read.
    ///
    /// # Errors
    ///
    /// As [`MultipartReader::next_part`]: a body that ends inside this part gives
    /// [`ErrorKind::UnexpectedEnd`], never `None`.
    pub fn chunk(&mut self) -> Result<Option<Bytes>> {
        if !self.unread.is_empty() {
            return Ok(Some(std::mem::take(&mut self.unread)));
        }
        if self.done {
            return Ok(None);
        }
        match self.body.next_event()? {
            Event::Data(data) => Ok(Some(data)),
            Event::PartEnd => {
                self.done = true;
                Ok(None)
            }
            Event::PartStart(_) | Event::End => {
                self.done = true;
                Err(Error::new(ErrorKind::Usage, "part read after it ended"))
            }
        }
    }

    /// The whole payload in one `Bytes`: no copy when it came in one chunk.
    ///
    /// # Errors
    ///
    /// As [`chunk`](Self::chunk).
    pub fn bytes(mut self) -> Result<Bytes> {
        let Some(first) = self.chunk()? else {
            return Ok(Bytes::new());
        };
        let Some(second) = self.chunk()? else {
            return Ok(first);
        };
        let mut all = BytesMut::from(&first[..]);
        all.extend_from_slice(&second);
        while let Some(chunk) = self.chunk()? {
            all.extend_from_slice(&chunk);
        }
        Ok(all.freeze())
    }
}

impl<R: Read> Read for BlockingPart<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let Some(mut chunk) = self.chunk()? else {
            return Ok(0);
        };
        let n = buf.len().min(chunk.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.advance(n);
        self.unread = chunk;
        Ok(n)
    }
}
