//! The encoder: writes multipart bodies part by part.
//!
//! [`Encoder`] is the sans-I/O piece: it hands out the bytes that open each part and close the
//! body, and checks payload bytes for the delimiter as they pass. [`MultipartWriter`] drives it
//! over any [`std::io::Write`].

use std::io::{self, Write};

use bytes::{BufMut, Bytes, BytesMut};
use memchr::memmem::Finder;

use super::boundary::Boundary;
use super::headers::{is_tchar, is_value_byte};
use crate::error::{Error, ErrorKind, Result};

/// Builds a `Content-Disposition` value: `form-data; name="..."` and, when given,
/// `; filename="..."`, quoting `"` and `\`. A non-ASCII file name is also given as
/// `filename*=UTF-8''...` (RFC 5987), which decoders that know it prefer.
///
/// # Examples
///
/// ```
/// use authenteq_export::multipart::form_data_disposition;
///
/// assert_eq!(
///     form_data_disposition("faceImage", Some("face \"1\".jpeg")),
///     r#"form-data; name="faceImage"; filename="face \"1\".jpeg""#,
/// );
/// ```
pub fn form_data_disposition(name: &str, filename: Option<&str>) -> String {
    let mut out = String::from("form-data; name=");
    push_quoted(&mut out, name);
    if let Some(filename) = filename {
        out.push_str("; filename=");
        push_quoted(&mut out, filename);
        if !filename.is_ascii() {
            out.push_str("; filename*=UTF-8''");
            for b in filename.bytes() {
                if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                    out.push(char::from(b));
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    out
}

fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EncoderState {
    BeforeFirstPart,
    InPart,
    Closed,
}

/// The sans-I/O multipart encoder (CRLF line endings).
///
/// Call [`begin_part`](Self::begin_part) for each part and write its result, then the payload,
/// passing each payload slice through [`check_payload`](Self::check_payload); finally write
/// [`close`](Self::close). The check refuses a payload that contains the delimiter (or starts
/// with `--boundary`), so every body it lets through decodes back to the same parts.
///
/// # Examples
///
/// ```
/// use authenteq_export::multipart::{Boundary, Encoder};
///
/// let mut enc = Encoder::new(Boundary::new("b").unwrap());
/// let mut body = Vec::new();
/// body.extend_from_slice(&enc.begin_part(&[("Content-Type", "text/plain")]).unwrap());
/// enc.check_payload(b"hello").unwrap();
/// body.extend_from_slice(b"hello");
/// body.extend_from_slice(&enc.close().unwrap());
/// assert_eq!(body, b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n");
/// ```
#[derive(Debug)]
pub struct Encoder {
    boundary: Boundary,
    finder: Finder<'static>,
    state: EncoderState,
    /// The last payload bytes of the current part (at most the needle length minus one),
    /// to catch a delimiter split across two payload writes.
    tail: Vec<u8>,
    scratch: Vec<u8>,
}

impl Encoder {
    /// An encoder for a body with `boundary`.
    pub fn new(boundary: Boundary) -> Self {
        let mut needle = b"\r\n--".to_vec();
        needle.extend_from_slice(boundary.as_bytes());
        Encoder {
            finder: Finder::new(&needle).into_owned(),
            boundary,
            state: EncoderState::BeforeFirstPart,
            tail: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// An encoder with a fresh [`Boundary::random`].
    pub fn with_random_boundary() -> Self {
        Self::new(Boundary::random())
    }

    /// The body's boundary.
    pub fn boundary(&self) -> &Boundary {
        &self.boundary
    }

    /// The `Content-Type` of the body for `subtype` (`mixed`, `form-data`...).
    pub fn content_type(&self, subtype: &str) -> String {
        self.boundary.content_type(subtype)
    }

    /// The bytes that end the previous part (if any) and open a new one with `headers`: the
    /// delimiter line, the header lines and the blank line.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidHeader`] when a name is not a token or a value holds a control
    /// character; [`ErrorKind::Usage`] after [`close`](Self::close).
    pub fn begin_part(&mut self, headers: &[(&str, &str)]) -> Result<Bytes> {
        if self.state == EncoderState::Closed {
            return Err(Error::new(
                ErrorKind::Usage,
                "part begun after the body was closed",
            ));
        }
        let mut out = BytesMut::with_capacity(
            self.boundary.as_bytes().len()
                + 8
                + headers
                    .iter()
                    .map(|(n, v)| n.len() + v.len() + 4)
                    .sum::<usize>(),
        );
        if self.state == EncoderState::InPart {
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"--");
        out.put_slice(self.boundary.as_bytes());
        out.put_slice(b"\r\n");
        for (name, value) in headers {
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err(Error::new(
                    ErrorKind::InvalidHeader,
                    format!("{name:?} is not a valid header name"),
                ));
            }
            if !value.bytes().all(is_value_byte) {
                return Err(Error::new(
                    ErrorKind::InvalidHeader,
                    format!("the value of {name:?} holds a control character"),
                ));
            }
            out.put_slice(name.as_bytes());
            out.put_slice(b": ");
            out.put_slice(value.as_bytes());
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"\r\n");
        self.state = EncoderState::InPart;
        // A payload must not start with `--boundary` either: seed the tail with a line break.
        self.tail.clear();
        self.tail.extend_from_slice(b"\r\n");
        Ok(out.freeze())
    }

    /// Checks the next payload bytes of the current part for the delimiter, including one that
    /// straddles this and the previous call. Linear in `payload.len()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::DelimiterInPayload`] when the payload so far contains `CRLF--boundary` or
    /// starts with `--boundary`; [`ErrorKind::Usage`] outside a part.
    pub fn check_payload(&mut self, payload: &[u8]) -> Result<()> {
        if self.state != EncoderState::InPart {
            return Err(Error::new(
                ErrorKind::Usage,
                "payload written outside a part",
            ));
        }
        let keep = self.finder.needle().len() - 1;
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.tail);
        self.scratch
            .extend_from_slice(&payload[..payload.len().min(keep)]);
        if self.finder.find(&self.scratch).is_some() || self.finder.find(payload).is_some() {
            return Err(Error::new(
                ErrorKind::DelimiterInPayload,
                format!(
                    "the payload contains the delimiter of boundary {:?}",
                    self.boundary.as_str()
                ),
            ));
        }
        if payload.len() >= keep {
            self.tail.clear();
            self.tail
                .extend_from_slice(&payload[payload.len() - keep..]);
        } else {
            self.tail.extend_from_slice(payload);
            let excess = self.tail.len().saturating_sub(keep);
            self.tail.drain(..excess);
        }
        Ok(())
    }

    /// The bytes that end the last part and close the body: `CRLF--boundary--CRLF` (without the
    /// leading line break when no part was written).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] when the body was already closed.
    pub fn close(&mut self) -> Result<Bytes> {
        let lead: &[u8] = match self.state {
            EncoderState::Closed => {
                return Err(Error::new(ErrorKind::Usage, "body closed twice"));
            }
            EncoderState::InPart => b"\r\n",
            EncoderState::BeforeFirstPart => b"",
        };
        self.state = EncoderState::Closed;
        let mut out = BytesMut::with_capacity(self.boundary.as_bytes().len() + 8);
        out.put_slice(lead);
        out.put_slice(b"--");
        out.put_slice(self.boundary.as_bytes());
        out.put_slice(b"--\r\n");
        Ok(out.freeze())
    }
}

/// Writes a multipart body to any [`Write`], part by part, streaming.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use authenteq_export::multipart::{Boundary, MultipartWriter, form_data_disposition};
///
/// let mut w = MultipartWriter::new(Vec::new(), Boundary::new("b").unwrap());
/// w.write_part(&[("Content-Disposition", &form_data_disposition("result", Some("result.json")))], b"{}")?;
/// let mut part = w.start_part(&[("Content-Type", "image/jpeg")])?;
/// part.write_all(b"\xff\xd8...")?;
/// let body = w.finish()?;
/// assert!(body.ends_with(b"\r\n--b--\r\n"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct MultipartWriter<W: Write> {
    out: W,
    encoder: Encoder,
}

impl<W: Write> MultipartWriter<W> {
    /// A writer of a body with `boundary` into `out`.
    pub fn new(out: W, boundary: Boundary) -> Self {
        MultipartWriter {
            out,
            encoder: Encoder::new(boundary),
        }
    }

    /// A writer with a random boundary.
    pub fn with_random_boundary(out: W) -> Self {
        Self::new(out, Boundary::random())
    }

    /// The body's boundary.
    pub fn boundary(&self) -> &Boundary {
        self.encoder.boundary()
    }

    /// Starts a part; write its payload through the returned writer.
    ///
    /// # Errors
    ///
    /// An I/O error from `out`, or `InvalidData` wrapping an [`Error`] for bad headers.
    pub fn start_part(&mut self, headers: &[(&str, &str)]) -> io::Result<PartWriter<'_, W>> {
        let head = self.encoder.begin_part(headers)?;
        self.out.write_all(&head)?;
        Ok(PartWriter { writer: self })
    }

    /// Writes a whole part.
    ///
    /// # Errors
    ///
    /// As [`start_part`](Self::start_part), and `InvalidData` wrapping
    /// [`ErrorKind::DelimiterInPayload`] when `payload` contains the delimiter.
    pub fn write_part(&mut self, headers: &[(&str, &str)], payload: &[u8]) -> io::Result<()> {
        self.start_part(headers)?.write_all(payload)
    }

    /// Closes the body and returns the inner writer, flushed.
    ///
    /// # Errors
    ///
    /// An I/O error from `out`.
    pub fn finish(mut self) -> io::Result<W> {
        let close = self.encoder.close()?;
        self.out.write_all(&close)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The payload writer of one part, from [`MultipartWriter::start_part`]. The part ends when the
/// next one starts or the body is finished.
#[derive(Debug)]
pub struct PartWriter<'a, W: Write> {
    writer: &'a mut MultipartWriter<W>,
}

impl<W: Write> Write for PartWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.encoder.check_payload(buf)?;
        self.writer.out.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc() -> Encoder {
        Encoder::new(Boundary::new("XX").unwrap())
    }

    #[test]
    fn delimiter_in_payload_is_refused_even_across_writes() {
        let mut e = enc();
        e.begin_part(&[]).unwrap();
        e.check_payload(b"abc\r\n-").unwrap();
        let err = e.check_payload(b"-XX").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DelimiterInPayload);

        let mut e = enc();
        e.begin_part(&[]).unwrap();
        assert!(
            e.check_payload(b"--XX").is_err(),
            "payload starting with --boundary"
        );

        let mut e = enc();
        e.begin_part(&[]).unwrap();
        for b in b"data\r\n--XX" {
            if e.check_payload(&[*b]).is_err() {
                return;
            }
        }
        panic!("a delimiter written byte by byte went through");
    }

    #[test]
    fn near_misses_pass() {
        let mut e = enc();
        e.begin_part(&[]).unwrap();
        e.check_payload(b"\r\n--X\r\n-XX\n--XX").unwrap();
    }

    #[test]
    fn bad_headers_are_refused() {
        assert!(enc().begin_part(&[("Bad Name", "x")]).is_err());
        assert!(enc().begin_part(&[("X", "a\r\nInjected: 1")]).is_err());
    }

    #[test]
    fn misuse_is_an_error() {
        let mut e = enc();
        assert!(e.check_payload(b"x").is_err());
        e.close().unwrap();
        assert!(e.close().is_err());
        assert!(e.begin_part(&[]).is_err());
    }

    #[test]
    fn disposition_with_non_ascii_filename() {
        assert_eq!(
            form_data_disposition("f", Some("é.txt")),
            "form-data; name=\"f\"; filename=\"é.txt\"; filename*=UTF-8''%C3%A9.txt"
        );
    }
}
