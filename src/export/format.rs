//! The three export formats, and telling which one a body is: from its `Content-Type`, from its
//! first bytes, and the policy between the two.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::{Error, ErrorKind, Result};
use crate::multipart::Boundary;

/// The three formats of the export endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportFormat {
    /// `/export/verification-result-as-multipart`: `multipart/mixed` with a `result` part and one
    /// part per file.
    Multipart(Boundary),
    /// `/export/verification-result-as-json`: one JSON document, files embedded as base64 (or an
    /// API error body).
    Json,
    /// `/export/verification-result-as-pdf`: a PDF report.
    Pdf,
}

/// Bytes looked at, at most, to tell the format of a body without a `Content-Type`.
pub const DETECT_BYTES: usize = 8 * 1024;

impl ExportFormat {
    /// The format's short name: `multipart`, `json` or `pdf`.
    pub fn name(&self) -> &'static str {
        match self {
            ExportFormat::Multipart(_) => "multipart",
            ExportFormat::Json => "json",
            ExportFormat::Pdf => "pdf",
        }
    }

    /// The format a `Content-Type` value announces: `multipart/*` (with its boundary),
    /// `application/json` (or any `+json`), `application/pdf`. `None` for anything else
    /// (`application/octet-stream`, say), where the body's first bytes must tell.
    ///
    /// # Errors
    ///
    /// For a `multipart/*` type without a valid boundary, as
    /// [`Boundary::from_content_type`].
    pub fn from_content_type(content_type: &str) -> Result<Option<ExportFormat>> {
        // A multipart type is parsed once, by the boundary's own parser.
        let essence = content_type.trim_start().as_bytes();
        if essence.len() >= 10 && essence[..10].eq_ignore_ascii_case(b"multipart/") {
            return Ok(Some(ExportFormat::Multipart(Boundary::from_content_type(
                content_type,
            )?)));
        }
        let Ok(parsed) = content_type.trim().parse::<mime::Mime>() else {
            return Err(Error::new(
                ErrorKind::InvalidContentType,
                format!("cannot parse {content_type:?}"),
            ));
        };
        Ok(match (parsed.type_(), parsed.subtype(), parsed.suffix()) {
            (mime::MULTIPART, _, _) => Some(ExportFormat::Multipart(Boundary::from_content_type(
                content_type,
            )?)),
            (mime::APPLICATION, mime::JSON, _) | (_, _, Some(mime::JSON)) => {
                Some(ExportFormat::Json)
            }
            (mime::APPLICATION, mime::PDF, _) => Some(ExportFormat::Pdf),
            _ => None,
        })
    }

    /// Tells the format from a body's first bytes: a JSON object, `%PDF-`, or a line starting with
    /// `--` (whose boundary is taken). `Ok(None)` when `head` is too short to tell.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnknownFormat`] when the bytes fit no format (or `head` holds
    /// [`DETECT_BYTES`] and still does not tell); boundary errors as [`Boundary::sniff`].
    pub fn detect(head: &[u8]) -> Result<Option<ExportFormat>> {
        let rest = &head[leading_junk(head)..];
        if rest.is_empty() {
            // Only whitespace so far: it counts toward the bytes looked at, like anything else.
            if head.len() >= DETECT_BYTES {
                return Err(Error::new(
                    ErrorKind::UnknownFormat,
                    "the body starts with 8 KiB of whitespace",
                )
                .at(head.len() as u64));
            }
            return Ok(None);
        }
        if rest[0] == b'{' {
            return Ok(Some(ExportFormat::Json));
        }
        if b"%PDF-".starts_with(&rest[..rest.len().min(5)]) {
            return Ok((rest.len() >= 5).then_some(ExportFormat::Pdf));
        }
        match Boundary::sniff(head) {
            Ok(boundary) => Ok(Some(ExportFormat::Multipart(boundary))),
            Err(e) if e.kind() == ErrorKind::BoundaryNotFound && head.len() < DETECT_BYTES => {
                Ok(None)
            }
            Err(e) if e.kind() == ErrorKind::BoundaryNotFound => Err(Error::new(
                ErrorKind::UnknownFormat,
                "the body is not a multipart, json or pdf export",
            )
            .at(0)),
            Err(e) => Err(e),
        }
    }
}

/// The first chunks of a body, kept until they tell its format. They are handed on as they
/// came; only when the first chunk alone is too short to tell are they also joined.
#[derive(Debug, Default)]
pub(super) struct Head {
    /// The first chunk (usually the only one needed: no allocation then).
    first: Option<Bytes>,
    /// The chunks after it.
    rest: Vec<Bytes>,
    /// All of them joined, once there are two.
    joined: BytesMut,
}

impl Head {
    pub(super) fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        let Some(first) = &self.first else {
            self.first = Some(chunk);
            return;
        };
        if self.rest.is_empty() {
            self.joined.extend_from_slice(first);
        }
        self.joined.extend_from_slice(&chunk);
        self.rest.push(chunk);
    }

    pub(super) fn bytes(&self) -> &[u8] {
        match (&self.first, self.rest.is_empty()) {
            (None, _) => &[],
            (Some(first), true) => first,
            (Some(_), false) => &self.joined,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.first.iter().chain(&self.rest).map(Bytes::len).sum()
    }

    /// The chunks, without their first `skip` bytes.
    pub(super) fn into_chunks(self, mut skip: usize) -> impl Iterator<Item = Bytes> {
        self.first
            .into_iter()
            .chain(self.rest)
            .filter_map(move |mut chunk| {
                let n = skip.min(chunk.len());
                chunk.advance(n);
                skip -= n;
                (!chunk.is_empty()).then_some(chunk)
            })
    }
}

/// Length of a UTF-8 byte-order mark and whitespace at the start of `head`.
pub(super) fn leading_junk(head: &[u8]) -> usize {
    let bom = if head.starts_with(b"\xef\xbb\xbf") {
        3
    } else {
        0
    };
    bom + head[bom..]
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .count()
}

/// The format of a body from its first bytes and the declared format, `Ok(None)` while the
/// bytes seen so far do not tell.
pub(super) fn decide(
    head: &[u8],
    declared: Option<ExportFormat>,
    finished: bool,
) -> Result<Option<ExportFormat>> {
    // A byte-order mark cut by the chunking does not tell yet.
    let partial_bom = head.len() < 3 && b"\xef\xbb\xbf".starts_with(head) && !head.is_empty();
    let first = if partial_bom && !finished {
        None
    } else {
        head.get(leading_junk(head)).copied()
    };
    match declared {
        Some(format) => match first {
            Some(b'{') => Ok(Some(ExportFormat::Json)),
            Some(_) if matches!(format, ExportFormat::Multipart(_)) => Ok(Some(format)),
            // Declared JSON or PDF: what the bytes show wins, when they show a format.
            Some(_) => match ExportFormat::detect(head) {
                Ok(Some(shown)) => Ok(Some(shown)),
                Ok(None) if !finished => Ok(None),
                Ok(None) | Err(_) => Ok(Some(format)),
            },
            // Only whitespace so far: after DETECT_BYTES of it, the declared format decides.
            None if finished || head.len() >= DETECT_BYTES => Ok(Some(format)),
            None => Ok(None),
        },
        None => match ExportFormat::detect(head) {
            Ok(Some(format)) => Ok(Some(format)),
            Ok(None) if !finished => Ok(None),
            Ok(None) => {
                // Cut inside a format's first line: a truncated body, not an unknown one.
                let rest = &head[leading_junk(head)..];
                let truncated = !rest.is_empty()
                    && (rest.starts_with(b"--") || b"%PDF-".starts_with(rest) || rest == b"-");
                let err = if truncated {
                    Error::new(
                        ErrorKind::UnexpectedEnd,
                        "inside the first line of the body",
                    )
                } else if head.is_empty() {
                    Error::new(ErrorKind::UnknownFormat, "the body is empty")
                } else {
                    Error::new(
                        ErrorKind::UnknownFormat,
                        "the body is not a multipart, json or pdf export",
                    )
                };
                Err(err.at(head.len() as u64))
            }
            Err(e) => Err(e),
        },
    }
}
