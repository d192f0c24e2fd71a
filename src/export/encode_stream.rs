//! Writing exports as streams: the multipart and JSON formats from readers, in bounded memory,
//! with their length known before the first byte.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, ReadBuf};

use super::encode::embed_file;
use super::files::FileKind;
use crate::error::{Error, ErrorKind, Result};
use crate::multipart::{form_data_disposition, Boundary, Encoder};

/// Bytes read from a file at a time: a multiple of 3, so that each read encodes to whole base64
/// quadruples (64 KiB of base64 out).
const READ_CHUNK: usize = 48 * 1024;

/// A file to stream into an [`ExportBody`]: what it is, its exact length and where its bytes
/// come from.
///
/// `len` must be the number of bytes `reader` yields: the body's length is computed from it. A
/// reader that ends sooner makes the body fail at that point (a cut body, never a short file
/// passed off as whole); bytes past `len` are not read.
pub struct StreamedFile<R> {
    /// What the file is; gives its part name (multipart) or field (JSON).
    pub kind: FileKind,
    /// The multipart part's file name, such as `faceImage.jpeg` (the JSON export has none).
    pub filename: String,
    /// Its content type, such as `image/jpeg`.
    pub content_type: String,
    /// Its length in bytes.
    pub len: u64,
    /// Its bytes: a `tokio::fs::File`, or any `AsyncRead`.
    pub reader: R,
}

impl<R> fmt::Debug for StreamedFile<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamedFile")
            .field("kind", &self.kind)
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// How a file's bytes go into the body.
enum Encoding {
    /// As they are, checked for the multipart delimiter as they pass.
    Multipart(Box<Encoder>),
    /// As base64 (standard alphabet, padded).
    Base64,
    /// As they are.
    Raw,
}

enum Segment<R> {
    Literal(Bytes),
    File {
        reader: R,
        remaining: u64,
        encoding: Encoding,
    },
}

/// An export body written as it is read: a [`Stream`] of `Bytes` chunks whose total length,
/// [`content_length`](Self::content_length), is known before the first chunk.
///
/// Memory is bounded by one read chunk (48 KiB, 64 KiB once base64-encoded) plus the result
/// JSON, whatever the size of the files; each file is read once, front to back.
///
/// The stream's bytes are exactly those of
/// [`write_multipart_export`](super::write_multipart_export) (for
/// [`multipart`](Self::multipart)) and [`json_export`](super::json_export) (for
/// [`json`](Self::json)) given the same result and files in the same order.
///
/// # Errors
///
/// The stream yields an `io::Error` and then ends when a reader fails, when a reader ends before
/// its file's `len` (`UnexpectedEof`), or when a multipart file turns out to contain the
/// delimiter (`InvalidData`). An HTTP server then closes the connection, and the client sees a
/// body shorter than its `Content-Length`.
///
/// # Examples
///
/// ```
/// use authenteq_export::export::{ExportBody, FileKind, StreamedFile};
/// use authenteq_export::multipart::Boundary;
/// use futures::StreamExt;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let jpeg: &[u8] = b"\xff\xd8\xff\xd9";
/// let face = StreamedFile {
///     kind: FileKind::LivenessFaceImage,
///     filename: "livenessFaceImage.jpeg".into(),
///     content_type: "image/jpeg".into(),
///     len: jpeg.len() as u64,
///     reader: jpeg, // a tokio::fs::File in real code
/// };
/// let mut body = ExportBody::json(br#"{"id":"v1","endTime":"2020-04-10T11:47:02Z"}"#, vec![face])?;
/// let length = body.content_length();
/// let mut bytes = Vec::new();
/// while let Some(chunk) = body.next().await {
///     bytes.extend_from_slice(&chunk?);
/// }
/// assert_eq!(bytes.len() as u64, length);
/// assert!(String::from_utf8(bytes)?.contains(r#""content": "/9j/2Q==""#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct ExportBody<R> {
    segments: VecDeque<Segment<R>>,
    remaining: u64,
    content_type: String,
    buf: BytesMut,
    failed: bool,
}

impl<R> fmt::Debug for ExportBody<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportBody")
            .field("content_type", &self.content_type)
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

/// The length of the base64 encoding (padded) of `n` bytes.
///
/// # Examples
///
/// ```
/// assert_eq!(authenteq_export::export::base64_len(4), 8);
/// assert_eq!(authenteq_export::export::base64_len(0), 0);
/// ```
pub fn base64_len(n: u64) -> u64 {
    n.div_ceil(3) * 4
}

impl<R: AsyncRead + Unpin> ExportBody<R> {
    /// A multipart export, as the API writes it: the `result` part (`result.json`,
    /// `application/json`, `result_json` verbatim), then one part per file in the order given,
    /// named by its kind, with its file name and content type. The body's `Content-Type` is
    /// `multipart/mixed` with `boundary`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidHeader`] when a file name or content type holds a control character,
    /// [`ErrorKind::DelimiterInPayload`] when `result_json` contains the delimiter. A file that
    /// contains it makes the stream fail where it is found: use a fresh [`Boundary::random`] per
    /// body, which no file can have been made to contain.
    pub fn multipart(
        boundary: Boundary,
        result_json: Bytes,
        files: Vec<StreamedFile<R>>,
    ) -> Result<Self> {
        let content_type = boundary.content_type("mixed");
        let mut encoder = Encoder::new(boundary.clone());
        let mut segments = VecDeque::with_capacity(2 * files.len() + 3);
        segments.push_back(Segment::Literal(encoder.begin_part(&[
            (
                "Content-Disposition",
                &form_data_disposition("result", Some("result.json")),
            ),
            ("Content-Type", "application/json"),
        ])?));
        encoder.check_payload(&result_json)?;
        segments.push_back(Segment::Literal(result_json));
        for file in files {
            let name = file.kind.part_name();
            segments.push_back(Segment::Literal(encoder.begin_part(&[
                (
                    "Content-Disposition",
                    &form_data_disposition(&name, Some(&file.filename)),
                ),
                ("Content-Type", &file.content_type),
            ])?));
            // The main encoder's delimiter check covers the part being begun; each file gets
            // its own checker, in a part of its own from the start.
            let mut checker = Encoder::new(boundary.clone());
            checker.begin_part(&[])?;
            segments.push_back(Segment::File {
                reader: file.reader,
                remaining: file.len,
                encoding: Encoding::Multipart(Box::new(checker)),
            });
        }
        segments.push_back(Segment::Literal(encoder.close()?));
        Ok(Self::from_segments(segments, content_type))
    }

    /// A JSON export, as [`json_export`](super::json_export) writes it: the result's members
    /// with each file embedded where the API puts it, as
    /// `{"contentType": ..., "content": <base64>}`, pretty-printed with a final newline. The
    /// base64 is encoded as the files are read. The body's `Content-Type` is
    /// `application/json`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Json`] when `result_json` is not a JSON object.
    pub fn json(result_json: &[u8], files: Vec<StreamedFile<R>>) -> Result<Self> {
        let root: Map<String, Value> = serde_json::from_slice(result_json).map_err(|e| {
            Error::with_source(ErrorKind::Json, "the result is not a json object", e)
        })?;
        // Each file's content is first written as a placeholder string, found again in the
        // serialized text and replaced by the file's base64. The placeholder's prefix is grown
        // until it occurs nowhere in the result, so each placeholder is found exactly once.
        let mut prefix = String::from("@authenteq-export-file-");
        let (text, marks) = loop {
            let mut tree = root.clone();
            for (i, file) in files.iter().enumerate() {
                let mut embedded = Map::new();
                embedded.insert("contentType".into(), file.content_type.clone().into());
                embedded.insert("content".into(), format!("{prefix}{i}@").into());
                embed_file(&mut tree, &file.kind, Value::Object(embedded));
            }
            let mut text = serde_json::to_vec_pretty(&Value::Object(tree))
                .map_err(|e| Error::with_source(ErrorKind::Json, "", e))?;
            text.push(b'\n');
            let marks: Vec<usize> = memchr::memmem::find_iter(&text, prefix.as_bytes()).collect();
            if marks.len() == files.len() {
                break (text, marks);
            }
            prefix.insert(0, '@');
        };
        // Placeholders appear in the text in an order that need not be the files' order.
        let mut found: Vec<(usize, usize, usize)> = marks
            .into_iter()
            .map(|at| {
                let digits = &text[at + prefix.len()..];
                let end = digits.iter().position(|&b| b == b'@').unwrap_or(0);
                let index = std::str::from_utf8(&digits[..end])
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(usize::MAX);
                (at, at + prefix.len() + end + 1, index)
            })
            .collect();
        found.sort_unstable();
        let text = Bytes::from(text);
        let mut files: Vec<Option<StreamedFile<R>>> = files.into_iter().map(Some).collect();
        let mut segments = VecDeque::with_capacity(2 * files.len() + 1);
        let mut at = 0;
        for (start, end, index) in found {
            let file = files
                .get_mut(index)
                .and_then(Option::take)
                .ok_or_else(|| Error::new(ErrorKind::Json, "a file placeholder was garbled"))?;
            segments.push_back(Segment::Literal(text.slice(at..start)));
            segments.push_back(Segment::File {
                reader: file.reader,
                remaining: file.len,
                encoding: Encoding::Base64,
            });
            at = end;
        }
        segments.push_back(Segment::Literal(text.slice(at..)));
        Ok(Self::from_segments(segments, "application/json".into()))
    }

    /// A body of one file's bytes as they are, such as a stored PDF export.
    ///
    /// # Errors
    ///
    /// None yet; a `Result` like the other constructors.
    pub fn raw(content_type: impl Into<String>, len: u64, reader: R) -> Result<Self> {
        let segments = VecDeque::from([Segment::File {
            reader,
            remaining: len,
            encoding: Encoding::Raw,
        }]);
        Ok(Self::from_segments(segments, content_type.into()))
    }

    fn from_segments(segments: VecDeque<Segment<R>>, content_type: String) -> Self {
        let remaining = segments
            .iter()
            .map(|s| match s {
                Segment::Literal(b) => b.len() as u64,
                Segment::File {
                    remaining,
                    encoding: Encoding::Base64,
                    ..
                } => base64_len(*remaining),
                Segment::File { remaining, .. } => *remaining,
            })
            .sum();
        ExportBody {
            segments,
            remaining,
            content_type,
            buf: BytesMut::new(),
            failed: false,
        }
    }

    /// The number of bytes the stream yields in all: the body's `Content-Length`. `O(1)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::export::ExportBody;
    ///
    /// let body = ExportBody::raw("application/pdf", 5, &b"%PDF-"[..])?;
    /// assert_eq!(body.content_length(), 5);
    /// # Ok::<(), authenteq_export::Error>(())
    /// ```
    pub fn content_length(&self) -> u64 {
        self.remaining
    }

    /// The body's `Content-Type`.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    fn fail(&mut self, error: io::Error) -> Poll<Option<io::Result<Bytes>>> {
        self.failed = true;
        self.segments.clear();
        Poll::Ready(Some(Err(error)))
    }
}

impl<R: AsyncRead + Unpin> Stream for ExportBody<R> {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.failed {
                return Poll::Ready(None);
            }
            let (reader, remaining, encoding) = match this.segments.front_mut() {
                None => return Poll::Ready(None),
                Some(Segment::Literal(bytes)) => {
                    let bytes = std::mem::take(bytes);
                    this.segments.pop_front();
                    if bytes.is_empty() {
                        continue;
                    }
                    this.remaining -= bytes.len() as u64;
                    return Poll::Ready(Some(Ok(bytes)));
                }
                Some(Segment::File {
                    remaining: 0,
                    encoding,
                    ..
                }) => {
                    // A base64 file's last, partial group is encoded (padded) here.
                    let tail = match encoding {
                        Encoding::Base64 if !this.buf.is_empty() => Some(Bytes::from(
                            base64::engine::general_purpose::STANDARD.encode(&this.buf),
                        )),
                        _ => None,
                    };
                    this.buf.clear();
                    this.segments.pop_front();
                    if let Some(tail) = tail {
                        this.remaining -= tail.len() as u64;
                        return Poll::Ready(Some(Ok(tail)));
                    }
                    continue;
                }
                Some(Segment::File {
                    reader,
                    remaining,
                    encoding,
                }) => (reader, remaining, encoding),
            };
            // Base64 carries up to two bytes of the last read in `buf`; fill up to one chunk.
            let want = (READ_CHUNK - this.buf.len())
                .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
            let start = this.buf.len();
            this.buf.resize(start + want, 0);
            let mut read_buf = ReadBuf::new(&mut this.buf[start..]);
            let polled = Pin::new(reader).poll_read(cx, &mut read_buf);
            let n = read_buf.filled().len();
            this.buf.truncate(start + n);
            match polled {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return this.fail(e),
                Poll::Ready(Ok(())) => {}
            }
            if n == 0 {
                let missing = *remaining;
                return this.fail(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("a file ended {missing} bytes before its stated length"),
                ));
            }
            *remaining -= n as u64;
            let out = match encoding {
                Encoding::Raw => this.buf.split().freeze(),
                Encoding::Multipart(checker) => {
                    let chunk = this.buf.split().freeze();
                    if let Err(e) = checker.check_payload(&chunk) {
                        return this.fail(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                    chunk
                }
                Encoding::Base64 => {
                    let whole = if *remaining == 0 {
                        this.buf.len()
                    } else {
                        this.buf.len() / 3 * 3
                    };
                    if whole == 0 {
                        continue;
                    }
                    let group = this.buf.split_to(whole);
                    Bytes::from(base64::engine::general_purpose::STANDARD.encode(&group))
                }
            };
            if out.is_empty() {
                continue;
            }
            this.remaining -= out.len() as u64;
            return Poll::Ready(Some(Ok(out)));
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, None)
    }
}
