//! The sans-I/O export decoder: one state machine for the three export formats.

use bytes::{Bytes, BytesMut};

use super::files::{FileInfo, FileKind};
use super::format::{decide, leading_junk, ExportFormat, Head};
use super::json::JsonExport;
use super::limits::ExportLimits;
use super::response::{Response, SHOWN_BYTES};
use super::VerificationResult;
use crate::error::{Error, ErrorKind, Limit, Result};
use crate::multipart::{Decoder, Event};
use crate::payload::Collector;

/// What the export decoder found.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportEvent {
    /// The typed result and the JSON it was read from: the multipart `result` part verbatim, or
    /// for the JSON export, the document without its files, pretty-printed (2-space indent, the
    /// API's field order, a final newline). The JSON export yields it after its files, at the end
    /// of the document; the multipart export where its part comes.
    Result {
        /// The typed result.
        result: Box<VerificationResult>,
        /// The result's JSON bytes.
        json: Bytes,
    },
    /// A file begins.
    FileStart(FileInfo),
    /// The next bytes of the current file.
    FileData(Bytes),
    /// The current file is complete: its closing delimiter (multipart), the end of its base64
    /// string (JSON), or the PDF's `%%EOF` at the end of input was read.
    FileEnd,
    /// The export is complete.
    End,
}

#[derive(Debug)]
enum MultipartPart {
    Between,
    Result {
        collected: Collector,
        len: usize,
        /// Body offset of the result JSON's first byte.
        start: u64,
    },
    File,
}

#[derive(Debug)]
struct MultipartExport {
    decoder: Decoder,
    part: MultipartPart,
    result_seen: bool,
    files: usize,
    /// The boundary came from the `Content-Type`, not from the body: a body without it says
    /// so.
    boundary_declared: bool,
}

#[derive(Debug)]
struct PdfExport {
    fed: u64,
    finished: bool,
    started: bool,
    input: Bytes,
    /// The last bytes of the document, to find `%%EOF`.
    tail: Vec<u8>,
    done: bool,
    /// Bytes of the document handed out.
    handed_out: u64,
    /// The most bytes the document may have (`max_file_bytes`).
    max_bytes: u64,
    /// The document went over `max_bytes`: the error that follows the bytes up to it.
    over_limit: Option<Error>,
}

/// How far from the end the PDF trailer `%%EOF` may stand (PDF readers look 1024 bytes back).
const PDF_TRAILER_WINDOW: usize = 1024;

#[derive(Debug)]
enum Inner {
    /// The first bytes are buffered until they tell the format: detected, or the declared one,
    /// except that a JSON object is always read as JSON (the API answers errors as JSON,
    /// whatever format was asked for).
    Detecting {
        head: Head,
        declared: Option<ExportFormat>,
    },
    Multipart(Box<MultipartExport>),
    Json(Box<JsonExport>),
    Pdf(PdfExport),
}

/// The sans-I/O export decoder: fed the body's chunks, it answers with [`ExportEvent`]s, the
/// same for the three formats.
///
/// # Declared and detected formats
///
/// One policy decides between the `Content-Type` (or the format given) and the body's first
/// bytes:
///
/// - a body that starts with a JSON object is read as JSON, whatever was declared: the API
///   answers its errors as JSON for every endpoint;
/// - a declared `multipart/*` type is trusted otherwise, boundary included: a body that never
///   shows that boundary fails with [`ErrorKind::BoundaryNotFound`], naming it;
/// - a body declared JSON or PDF is read as what its first bytes show when they show another
///   format (a `--boundary` line, `%PDF-`), and as the declared format when they show none (so
///   its errors are that format's);
/// - without a declared type, the first bytes decide ([`ExportFormat::detect`]).
///
/// The async [`Export`](super::Export) and the blocking
/// [`blocking::Export`](super::blocking::Export) drive it.
#[derive(Debug)]
pub struct ExportDecoder {
    inner: Inner,
    limits: ExportLimits,
    finished: bool,
    /// Bytes taken from the chunks fed, leading bytes included, at most `max_body_bytes`.
    fed: u64,
    /// A chunk went over `max_body_bytes` and was cut at it: input has ended for the format's
    /// decoder, which is never told so, and the limit error comes when it needs more.
    over_body_limit: bool,
    /// Leading bytes not fed to the format's decoder (a byte-order mark, whitespace before a
    /// JSON document or a PDF header): added to its error offsets.
    skipped: u64,
    /// The error that stopped the export; every later call returns it.
    failed: Option<Error>,
    /// The format, once decided.
    format: Option<ExportFormat>,
    /// The HTTP answer the body came with, when the caller said.
    response: Option<Box<Response>>,
}

impl ExportDecoder {
    /// A decoder for a body of a known format.
    ///
    /// A body that turns out to be a JSON object is read as JSON all the same, so that an API
    /// error body is reported as [`ErrorKind::Api`] whatever format was asked for.
    pub fn new(format: ExportFormat, limits: ExportLimits) -> Self {
        Self::with_inner(
            Inner::Detecting {
                head: Head::default(),
                declared: Some(format),
            },
            limits,
        )
    }

    /// A decoder that tells the format from the body's first bytes.
    pub fn detecting(limits: ExportLimits) -> Self {
        Self::with_inner(
            Inner::Detecting {
                head: Head::default(),
                declared: None,
            },
            limits,
        )
    }

    fn with_inner(inner: Inner, limits: ExportLimits) -> Self {
        ExportDecoder {
            inner,
            limits,
            finished: false,
            fed: 0,
            over_body_limit: false,
            skipped: 0,
            failed: None,
            format: None,
            response: None,
        }
    }

    /// A decoder for a body with this `Content-Type` (or none): the type tells the format when it
    /// can, else the first bytes do.
    ///
    /// # Errors
    ///
    /// As [`ExportFormat::from_content_type`].
    pub fn for_content_type(content_type: Option<&str>, limits: ExportLimits) -> Result<Self> {
        Ok(
            match content_type
                .map(ExportFormat::from_content_type)
                .transpose()?
                .flatten()
            {
                Some(format) => Self::new(format, limits),
                None => Self::detecting(limits),
            },
        )
    }

    /// A decoder for the body of an HTTP answer with this status and `Content-Type`: as
    /// [`for_content_type`](Self::for_content_type), and errors say what the answer was. An API
    /// error body gets the status ([`ApiError::http_status`](super::ApiError::http_status),
    /// [`Error::http_status`]); a body that is no export reads, for example,
    /// `HTTP 404 text/html: the body is not a multipart, json or pdf export (first bytes:
    /// "<html>...")`; an error status (not `2xx`) whose body is not an API error is an
    /// [`ErrorKind::UnknownFormat`] error too.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::export::{ExportDecoder, ExportLimits};
    /// use authenteq_export::ErrorKind;
    ///
    /// let mut decoder = ExportDecoder::for_response(404, Some("text/html"), ExportLimits::default())?;
    /// decoder.feed(bytes::Bytes::from_static(b"<html><body>Not Found</body></html>"));
    /// decoder.finish();
    /// let err = decoder.next_event().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::UnknownFormat);
    /// assert_eq!(err.http_status(), 404);
    /// assert!(err.to_string().starts_with("unknown export format: HTTP 404 text/html: the body is not"));
    /// # Ok::<(), authenteq_export::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ExportFormat::from_content_type`].
    pub fn for_response(
        status: u16,
        content_type: Option<&str>,
        limits: ExportLimits,
    ) -> Result<Self> {
        let mut decoder = Self::for_content_type(content_type, limits)?;
        decoder.response = Some(Box::new(Response {
            status,
            content_type: content_type.map(str::to_owned),
            first_bytes: Vec::new(),
        }));
        Ok(decoder)
    }

    fn inner_for(format: ExportFormat, limits: ExportLimits, boundary_declared: bool) -> Inner {
        match format {
            ExportFormat::Multipart(boundary) => Inner::Multipart(Box::new(MultipartExport {
                decoder: Decoder::with_limits(boundary, limits.multipart_decoder_limits()),
                part: MultipartPart::Between,
                result_seen: false,
                files: 0,
                boundary_declared,
            })),
            ExportFormat::Json => Inner::Json(Box::new(JsonExport::new(limits))),
            ExportFormat::Pdf => Inner::Pdf(PdfExport {
                fed: 0,
                finished: false,
                started: false,
                input: Bytes::new(),
                tail: Vec::new(),
                done: false,
                handed_out: 0,
                max_bytes: limits.get_max_file_bytes(),
                over_limit: None,
            }),
        }
    }

    /// The format, once known.
    pub fn format(&self) -> Option<&ExportFormat> {
        self.format.as_ref()
    }

    /// Gives the decoder the next chunk; call it when [`next_event`](Self::next_event) returned
    /// `Ok(None)`.
    ///
    /// Bytes past [`max_body_bytes`](ExportLimits::max_body_bytes) are never looked at: the
    /// chunk is cut there, and the limit error comes when the decoder needs the byte after
    /// it. Everything fed after that, or after [`finish`](Self::finish), is ignored.
    pub fn feed(&mut self, mut chunk: Bytes) {
        if self.over_body_limit || self.finished || chunk.is_empty() {
            return;
        }
        // `fed` never exceeds the limit, so this does not underflow.
        let room = self.limits.get_max_body_bytes() - self.fed;
        if chunk.len() as u64 > room {
            chunk.truncate(room as usize);
            self.over_body_limit = true;
        }
        self.fed += chunk.len() as u64;
        if let Some(response) = &mut self.response {
            let room = SHOWN_BYTES - response.first_bytes.len();
            response
                .first_bytes
                .extend_from_slice(&chunk[..room.min(chunk.len())]);
        }
        self.feed_inner(chunk);
    }

    /// Hands a chunk, already counted, to the format's decoder.
    fn feed_inner(&mut self, chunk: Bytes) {
        match &mut self.inner {
            Inner::Detecting { head, .. } => head.push(chunk),
            Inner::Multipart(m) => m.decoder.feed(chunk),
            Inner::Json(j) => j.feed(chunk),
            Inner::Pdf(p) => p.feed(chunk),
        }
    }

    /// Marks the end of input.
    pub fn finish(&mut self) {
        self.finished = true;
        self.finish_inner();
    }

    /// Tells the format's decoder that input has ended, unless it was cut at the body limit:
    /// then more bytes were there, and the decoder must ask for them (and get the limit error),
    /// not report a truncated body.
    fn finish_inner(&mut self) {
        if self.over_body_limit {
            return;
        }
        match &mut self.inner {
            Inner::Detecting { .. } => {}
            Inner::Multipart(m) => m.decoder.finish(),
            Inner::Json(j) => j.finish(),
            Inner::Pdf(p) => p.finished = true,
        }
    }

    /// Bytes fed so far, up to [`max_body_bytes`](ExportLimits::max_body_bytes): a chunk
    /// that goes over the limit counts up to it.
    pub fn bytes_fed(&self) -> u64 {
        self.fed
    }

    /// Stops the export with a source error.
    pub(crate) fn poison(&mut self, err: Error) -> Error {
        let at = self.fed;
        let err = match &mut self.inner {
            Inner::Multipart(m) => {
                let part = m.decoder.current_part();
                m.decoder.stop(err.at(at).in_part(part))
            }
            Inner::Json(j) => j.poison(err).shifted(self.skipped),
            Inner::Detecting { .. } | Inner::Pdf(_) => err.at(at),
        };
        self.failed = Some(err.clone());
        err
    }

    /// The next event, `Ok(None)` when more input is needed.
    ///
    /// # Errors
    ///
    /// The multipart decoder's errors; [`ErrorKind::LimitExceeded`] when the body, a file or
    /// another [`ExportLimits`] setting goes over its limit, in every format;
    /// [`ErrorKind::Json`], [`ErrorKind::InvalidBase64`],
    /// [`ErrorKind::InvalidPdf`], [`ErrorKind::Api`] (the body is an API error),
    /// [`ErrorKind::UnknownFormat`], [`ErrorKind::InvalidExport`], and
    /// [`ErrorKind::UnexpectedEnd`] for a body cut short in any format.
    pub fn next_event(&mut self) -> Result<Option<ExportEvent>> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.step();
        // The usual answer, an event of a body that is not an error answer, goes straight out.
        if matches!(result, Ok(Some(_))) && self.response.as_ref().is_none_or(|r| r.is_success()) {
            return result;
        }
        self.after_step(result)
    }

    /// What `next_event` answers when the step did not give an event of a success answer: the
    /// body limit, the HTTP answer's context, and the error kept for later calls.
    #[inline(never)]
    fn after_step(
        &mut self,
        mut result: Result<Option<ExportEvent>>,
    ) -> Result<Option<ExportEvent>> {
        if self.over_body_limit && matches!(result, Ok(None)) {
            result = Err(self.body_limit_error());
        }
        if let Some(response) = &self.response {
            result = match result {
                Err(err) => Err(response.explain(err)),
                Ok(Some(_)) if !response.is_success() => {
                    let format = self.format.as_ref().map_or("", ExportFormat::name);
                    Err(response.not_an_error_body(format))
                }
                ok => ok,
            };
        }
        if let Err(err) = &result {
            self.failed = Some(err.clone());
        }
        result
    }

    /// The format's decoder needs the byte after the body limit: the limit error, about the part
    /// or file being read.
    #[cold]
    fn body_limit_error(&mut self) -> Error {
        let max = self.limits.get_max_body_bytes();
        let err = Error::limit_exceeded(Limit::BodyBytes, max).at(max);
        match &mut self.inner {
            Inner::Multipart(m) => {
                let part = m.decoder.current_part();
                m.decoder.stop(err.in_part(part))
            }
            Inner::Json(j) => err.in_part(j.part_ref()),
            Inner::Detecting { .. } | Inner::Pdf(_) => err,
        }
    }

    fn step(&mut self) -> Result<Option<ExportEvent>> {
        loop {
            // Input cut at the body limit has not ended: there was more.
            let finished = self.finished && !self.over_body_limit;
            match &mut self.inner {
                Inner::Detecting { head, declared } => {
                    // The head holds every byte taken so far.
                    debug_assert_eq!(head.len() as u64, self.fed);
                    let Some(format) = decide(head.bytes(), declared.clone(), finished)? else {
                        return Ok(None);
                    };
                    let mut skip = 0;
                    if !matches!(format, ExportFormat::Multipart(_)) {
                        // JSON and PDF start at their first byte; multipart keeps its preamble.
                        skip = leading_junk(head.bytes());
                        self.skipped = skip as u64;
                    }
                    let declared_multipart = matches!(declared, Some(ExportFormat::Multipart(_)));
                    let chunks = std::mem::take(head).into_chunks(skip);
                    self.inner = Self::inner_for(format.clone(), self.limits, declared_multipart);
                    self.format = Some(format);
                    for chunk in chunks {
                        self.feed_inner(chunk);
                    }
                    if self.finished {
                        self.finish_inner();
                    }
                }
                Inner::Multipart(m) => return m.next_event(&self.limits),
                Inner::Json(j) => return j.next_event().map_err(|e| e.shifted(self.skipped)),
                Inner::Pdf(p) => return p.next_event().map_err(|e| e.shifted(self.skipped)),
            }
        }
    }
}

impl MultipartExport {
    fn next_event(&mut self, limits: &ExportLimits) -> Result<Option<ExportEvent>> {
        loop {
            let event = match self.decoder.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => return Ok(None),
                Err(err) => return Err(self.explain_missing_boundary(err)),
            };
            // Errors about the export are placed where the decoder stands in the body, which is
            // the same under every chunking.
            let at = self.decoder.position();
            match event {
                Event::PartStart(headers) => {
                    if let Some(encoding) = headers.content_transfer_encoding() {
                        let encoding = encoding.trim_ascii();
                        if ![&b"binary"[..], b"8bit", b"7bit"]
                            .iter()
                            .any(|e| e.eq_ignore_ascii_case(encoding))
                        {
                            let detail = format!(
                                "content-transfer-encoding {:?}: only binary, 8bit and 7bit parts are read",
                                String::from_utf8_lossy(encoding)
                            );
                            let err = Error::new(ErrorKind::UnsupportedEncoding, detail);
                            return Err(self.fail(err.at(at)));
                        }
                    }
                    if headers.name() == Some("result") {
                        if self.result_seen {
                            let err = Error::new(ErrorKind::InvalidExport, "a second result part");
                            return Err(self.fail(err.at(at)));
                        }
                        self.result_seen = true;
                        self.part = MultipartPart::Result {
                            collected: Collector::new(),
                            len: 0,
                            start: at,
                        };
                        continue;
                    }
                    self.files += 1;
                    if self.files > limits.max_files {
                        let max = limits.max_files as u64;
                        return Err(
                            self.fail(Error::limit_exceeded(Limit::ExportFiles, max).at(at))
                        );
                    }
                    self.part = MultipartPart::File;
                    return Ok(Some(ExportEvent::FileStart(FileInfo::from_part(headers))));
                }
                Event::Data(data) => match &mut self.part {
                    MultipartPart::File => return Ok(Some(ExportEvent::FileData(data))),
                    MultipartPart::Result { collected, len, .. } => {
                        *len += data.len();
                        let max = limits.max_result_bytes;
                        if *len > max {
                            // The first byte over the limit.
                            let over = at - (*len - max) as u64;
                            let err = Error::limit_exceeded(Limit::ResultBytes, max as u64);
                            return Err(self.fail(err.at(over)));
                        }
                        collected.push(data);
                    }
                    MultipartPart::Between => {}
                },
                Event::PartEnd => match std::mem::replace(&mut self.part, MultipartPart::Between) {
                    MultipartPart::File => return Ok(Some(ExportEvent::FileEnd)),
                    MultipartPart::Result {
                        collected, start, ..
                    } => {
                        let json = collected.finish();
                        let result = match VerificationResult::from_json_boxed(&json) {
                            Ok(result) => result,
                            Err(e) => {
                                let detail = "the result part does not fit the model";
                                let err = Error::with_source(ErrorKind::Json, detail, e);
                                return Err(self.fail(err.at(start)));
                            }
                        };
                        return Ok(Some(ExportEvent::Result { result, json }));
                    }
                    MultipartPart::Between => {}
                },
                Event::End => {
                    if !self.result_seen {
                        let err = Error::new(ErrorKind::InvalidExport, "no result part");
                        return Err(self.decoder.stop(err.at(at)));
                    }
                    return Ok(Some(ExportEvent::End));
                }
            }
        }
    }

    /// A body that never shows the boundary its `Content-Type` declared fails in the preamble
    /// (its limit, or the end of input): the error names the boundary, since the body is likely
    /// of another kind or was declared with another boundary.
    fn explain_missing_boundary(&mut self, err: Error) -> Error {
        if !self.boundary_declared || self.decoder.line_ending().is_some() {
            return err;
        }
        let boundary = self.decoder.boundary().as_str();
        let explained = match (err.kind(), err.limit()) {
            (ErrorKind::LimitExceeded, Some((Limit::PreambleBytes, max))) => Error::new(
                ErrorKind::BoundaryNotFound,
                format!(
                    "boundary {boundary:?} from the content-type was not found in the first {max} bytes"
                ),
            )
            .at(0),
            // The body may have been cut inside its first delimiter line: still a truncation,
            // but the message names the boundary looked for.
            (ErrorKind::UnexpectedEnd, _) => Error::new(
                ErrorKind::UnexpectedEnd,
                format!(
                    "no delimiter line with boundary {boundary:?} from the content-type in the {} bytes read",
                    self.decoder.bytes_fed()
                ),
            )
            .at(self.decoder.bytes_fed()),
            _ => return err,
        };
        self.decoder.stop(explained)
    }

    /// Stops the export with an error about the current part.
    fn fail(&mut self, err: Error) -> Error {
        let part = self.decoder.current_part();
        self.decoder.stop(err.in_part(part))
    }
}

impl PdfExport {
    fn feed(&mut self, chunk: Bytes) {
        if self.finished || self.done || chunk.is_empty() {
            return;
        }
        self.fed += chunk.len() as u64;
        // Keep the last bytes of the document to look for the trailer at the end.
        let keep = PDF_TRAILER_WINDOW.min(chunk.len());
        let overflow = (self.tail.len() + keep).saturating_sub(PDF_TRAILER_WINDOW);
        self.tail.drain(..overflow);
        self.tail.extend_from_slice(&chunk[chunk.len() - keep..]);
        if self.input.is_empty() {
            self.input = chunk;
        } else {
            let mut joined = BytesMut::from(&self.input[..]);
            joined.extend_from_slice(&chunk);
            self.input = joined.freeze();
        }
    }

    fn next_event(&mut self) -> Result<Option<ExportEvent>> {
        if self.done {
            return Ok(Some(ExportEvent::End));
        }
        if let Some(err) = &self.over_limit {
            return Err(err.clone());
        }
        if !self.started {
            if self.input.len() < 5 && !self.finished {
                return Ok(None);
            }
            if !self.input.starts_with(b"%PDF-") {
                if self.input.len() < 5 && b"%PDF-".starts_with(&self.input) {
                    return Err(
                        Error::new(ErrorKind::UnexpectedEnd, "inside the pdf header").at(self.fed),
                    );
                }
                return Err(Error::new(
                    ErrorKind::InvalidPdf,
                    "the body does not start with %PDF-",
                )
                .at(0));
            }
            self.started = true;
            return Ok(Some(ExportEvent::FileStart(FileInfo::new(
                FileKind::Report,
                Some("result.pdf".to_owned()),
                Some("application/pdf".to_owned()),
            ))));
        }
        if !self.input.is_empty() {
            let data = std::mem::take(&mut self.input);
            // `handed_out` never exceeds the limit, so this does not underflow.
            let room = self.max_bytes - self.handed_out;
            if data.len() as u64 > room {
                return self.over_file_limit(data, room);
            }
            self.handed_out += data.len() as u64;
            return Ok(Some(ExportEvent::FileData(data)));
        }
        if !self.finished {
            return Ok(None);
        }
        if memchr::memmem::find(&self.tail, b"%%EOF").is_none() {
            return Err(Error::new(
                ErrorKind::UnexpectedEnd,
                "the pdf has no %%EOF trailer in its last 1024 bytes",
            )
            .at(self.fed));
        }
        self.done = true;
        Ok(Some(ExportEvent::FileEnd))
    }

    /// Hands out the bytes of `data` up to `max_file_bytes`; the error, at the first byte over
    /// it, comes next.
    #[cold]
    fn over_file_limit(&mut self, data: Bytes, room: u64) -> Result<Option<ExportEvent>> {
        let err = Error::limit_exceeded(Limit::PartBytes, self.max_bytes).at(self.max_bytes);
        self.over_limit = Some(err.clone());
        if room == 0 {
            return Err(err);
        }
        self.handed_out = self.max_bytes;
        // Less than `data.len()`, which is a usize.
        Ok(Some(ExportEvent::FileData(data.slice(..room as usize))))
    }
}

impl crate::driver::Core for ExportDecoder {
    type Event = ExportEvent;
    fn feed(&mut self, chunk: Bytes) {
        ExportDecoder::feed(self, chunk)
    }
    fn finish(&mut self) {
        ExportDecoder::finish(self)
    }
    fn next_event(&mut self) -> Result<Option<ExportEvent>> {
        ExportDecoder::next_event(self)
    }
    fn poison(&mut self, err: Error) -> Error {
        ExportDecoder::poison(self, err)
    }
}

impl crate::payload::PayloadEvent for ExportEvent {
    #[inline]
    fn payload_step(self) -> crate::payload::PayloadStep {
        use crate::payload::PayloadStep;
        match self {
            ExportEvent::FileData(data) => PayloadStep::Data(data),
            ExportEvent::FileEnd => PayloadStep::End,
            ExportEvent::Result { .. } | ExportEvent::FileStart(_) | ExportEvent::End => {
                PayloadStep::Other
            }
        }
    }
}
