//! The blocking front-end: a multipart body from any [`std::io::Read`], for code without an
//! async runtime. The names mirror the async ones: [`Multipart`] and [`Part`].

use std::io::Read;

use super::boundary::Boundary;
use super::decoder::{Decoder, Event};
use super::headers::PartHeaders;
use super::limits::Limits;
use crate::driver::BlockingDriver;
use crate::error::Result;
use crate::payload::{blocking_payload_reader, Payload};

/// A multipart body read from a [`Read`], for code without an async runtime.
///
/// It reads the source in chunks of [`chunk_size`](Self::chunk_size) bytes, only when the
/// decoder needs more, and hands out payload as slices of those chunks. A [`Part`]
/// borrows the reader mutably: one part at a time, checked at compile time.
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use authenteq_export::multipart::{blocking::Multipart, Boundary};
///
/// let body: &[u8] = b"--b\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xd9\r\n--b--\r\n";
/// let mut reader = Multipart::new(body, Boundary::new("b")?);
/// let mut part = reader.next_part()?.expect("one part");
/// assert_eq!(part.headers().content_type(), Some("image/jpeg"));
/// let mut jpeg = Vec::new();
/// part.read_to_end(&mut jpeg)?;
/// assert_eq!(jpeg, b"\xff\xd8\xff\xd9");
/// assert!(reader.next_part()?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Multipart<R> {
    driver: BlockingDriver<R, Decoder>,
}

impl<R: Read> Multipart<R> {
    /// A body read from `source` with `boundary` and the default [`Limits`].
    pub fn new(source: R, boundary: Boundary) -> Self {
        Self::with_limits(source, boundary, Limits::default())
    }

    /// A body read from `source` with `boundary` and the given limits.
    pub fn with_limits(source: R, boundary: Boundary, limits: Limits) -> Self {
        Multipart {
            driver: BlockingDriver::new(source, Decoder::with_limits(boundary, limits)),
        }
    }

    /// A body whose boundary is taken from its own first delimiter line
    /// ([`Boundary::sniff`]), for a body saved without its `Content-Type`.
    ///
    /// Reads from `source` until the first line starting with `--` ends: at most the preamble
    /// limit plus one delimiter line. Those bytes are decoded as the body's start, not read
    /// again.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::multipart::{blocking::Multipart, Limits};
    ///
    /// let saved: &[u8] = b"--xyz\r\nContent-Disposition: form-data; name=\"result\"\r\n\r\n{}\r\n--xyz--\r\n";
    /// let mut body = Multipart::sniffing(saved, Limits::default())?;
    /// let part = body.next_part()?.expect("a part");
    /// assert_eq!(part.headers().name(), Some("result"));
    /// # Ok::<(), authenteq_export::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Boundary::sniff`] ([`ErrorKind::BoundaryNotFound`](crate::ErrorKind::BoundaryNotFound)
    /// when no delimiter line ends within the preamble limit or the body), and
    /// [`ErrorKind::Read`](crate::ErrorKind::Read) when reading failed.
    pub fn sniffing(mut source: R, limits: Limits) -> Result<Self> {
        // The preamble, then `--`, the boundary, transport padding and a line ending.
        let most = limits.get_max_preamble_bytes().saturating_add(
            (2 + super::MAX_BOUNDARY_LEN + super::MAX_TRANSPORT_PADDING + 2) as u64,
        );
        let mut head = Vec::new();
        let boundary = loop {
            let err = match Boundary::sniff(&head) {
                Ok(boundary) => break boundary,
                Err(err) => err,
            };
            if err.kind() != crate::ErrorKind::BoundaryNotFound || head.len() as u64 >= most {
                return Err(err);
            }
            let want = (most - head.len() as u64).min(crate::driver::DEFAULT_CHUNK_SIZE as u64);
            let before = head.len();
            let read = (&mut source).take(want).read_to_end(&mut head);
            match read {
                Ok(0) => return Err(err),
                Ok(_) => {}
                Err(e) => {
                    let read_err = crate::Error::with_source(crate::ErrorKind::Read, "", e);
                    return Err(read_err.at(before as u64));
                }
            }
        };
        let mut decoder = Decoder::with_limits(boundary, limits);
        decoder.feed(bytes::Bytes::from(head));
        Ok(Multipart {
            driver: BlockingDriver::new(source, decoder),
        })
    }

    /// Sets the size of the chunks read from the source (at least 1 byte; default
    /// [`DEFAULT_CHUNK_SIZE`](crate::multipart::DEFAULT_CHUNK_SIZE)).
    pub fn chunk_size(mut self, size: usize) -> Self {
        self.driver.set_chunk_size(size);
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
    /// `None`), or [`ErrorKind::Read`](crate::ErrorKind::Read) when reading failed.
    pub fn next_part(&mut self) -> Result<Option<Part<'_, R>>> {
        loop {
            match self.next_event()? {
                Event::Data(_) | Event::PartEnd => continue,
                Event::End => return Ok(None),
                Event::PartStart(headers) => {
                    let number = self.driver.core.parts_started();
                    return Ok(Some(Part {
                        driver: &mut self.driver,
                        headers: *headers,
                        number,
                        payload: Payload::default(),
                    }));
                }
            }
        }
    }
}

/// One part of a [`Multipart`] body. Its payload is read with [`chunk`](Self::chunk)
/// (zero-copy) or through [`Read`]; it ends only once the part's closing delimiter was read.
pub struct Part<'a, R> {
    driver: &'a mut BlockingDriver<R, Decoder>,
    headers: PartHeaders,
    number: usize,
    payload: Payload,
}

impl<R> std::fmt::Debug for Multipart<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multipart")
            .field("decoder", &self.driver.core)
            .field("chunk_size", &self.driver.chunk_size)
            .finish_non_exhaustive()
    }
}

impl<R> std::fmt::Debug for Part<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Part")
            .field("number", &self.number)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl<R> Part<'_, R> {
    /// The part's headers.
    pub fn headers(&self) -> &PartHeaders {
        &self.headers
    }

    /// The part's 1-based position in the body.
    pub fn number(&self) -> usize {
        self.number
    }
}

blocking_payload_reader!(
    Part,
    "payload",
    "the part's closing delimiter was read",
    "[`Multipart::next_part`]"
);
