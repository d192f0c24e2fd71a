//! The blocking front-end: a multipart body from any [`std::io::Read`].

use std::io::{self, Read};

use bytes::Bytes;

use super::boundary::Boundary;
use super::decoder::{Decoder, Event};
use super::headers::PartHeaders;
use super::limits::Limits;
use crate::driver::{copy_into, BlockingDriver, Collector, Payload};
use crate::error::Result;

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
    driver: BlockingDriver<R, Decoder>,
}

impl<R: Read> MultipartReader<R> {
    /// A body read from `source` with `boundary` and the default [`Limits`].
    pub fn new(source: R, boundary: Boundary) -> Self {
        Self::with_limits(source, boundary, Limits::default())
    }

    /// A body read from `source` with `boundary` and the given limits.
    pub fn with_limits(source: R, boundary: Boundary, limits: Limits) -> Self {
        MultipartReader {
            driver: BlockingDriver::new(source, Decoder::with_limits(boundary, limits)),
        }
    }

    /// Sets the size of the chunks read from the source (at least 1 byte; default
    /// [`DEFAULT_CHUNK_SIZE`](crate::multipart::DEFAULT_CHUNK_SIZE)).
    pub fn chunk_size(mut self, size: usize) -> Self {
        self.driver.chunk_size = size.max(1);
        self
    }

    /// Bytes read from the source so far.
    pub fn bytes_read(&self) -> u64 {
        self.driver.core.bytes_fed()
    }

    fn next_event(&mut self) -> Result<Event> {
        self.driver.next_event()
    }

    /// The next part, or `None` after the close delimiter; skips what is left of the current
    /// part.
    ///
    /// # Errors
    ///
    /// Any decoding error (a truncated body gives [`ErrorKind::UnexpectedEnd`](crate::ErrorKind::UnexpectedEnd) here too, never
    /// `None`), or [`ErrorKind::Source`](crate::ErrorKind::Source) when reading failed.
    pub fn next_part(&mut self) -> Result<Option<BlockingPart<'_, R>>> {
        loop {
            match self.next_event()? {
                Event::Data(_) | Event::PartEnd => continue,
                Event::End => return Ok(None),
                Event::PartStart(headers) => {
                    let number = self.driver.core.parts_started();
                    return Ok(Some(BlockingPart {
                        body: self,
                        headers: *headers,
                        number,
                        payload: Payload::default(),
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
    payload: Payload,
}

impl<R> std::fmt::Debug for MultipartReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultipartReader")
            .field("decoder", &self.driver.core)
            .field("chunk_size", &self.driver.chunk_size)
            .finish_non_exhaustive()
    }
}

impl<R> std::fmt::Debug for BlockingPart<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingPart")
            .field("number", &self.number)
            .field("headers", &self.headers)
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
    /// [`ErrorKind::UnexpectedEnd`](crate::ErrorKind::UnexpectedEnd), never `None`.
    pub fn chunk(&mut self) -> Result<Option<Bytes>> {
        let body = &mut *self.body;
        self.payload.next(|| body.next_event())
    }

    /// The whole payload in one `Bytes`: no copy when it came in one chunk.
    ///
    /// # Errors
    ///
    /// As [`chunk`](Self::chunk).
    pub fn bytes(mut self) -> Result<Bytes> {
        let mut all = Collector::new();
        while let Some(chunk) = self.chunk()? {
            all.push(chunk);
        }
        Ok(all.finish())
    }
}

impl<R: Read> Read for BlockingPart<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let Some(chunk) = self.chunk()? else {
            return Ok(0);
        };
        let (n, rest) = copy_into(chunk, buf);
        self.payload.keep(rest);
        Ok(n)
    }
}
