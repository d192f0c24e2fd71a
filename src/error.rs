//! The crate's one error type.
//!
//! Every failure, whatever layer it comes from, is an [`Error`]: a small value (one pointer wide)
//! with a [`kind`](Error::kind) to match on, the byte offset in the body where it was noticed, and
//! the part (number and name) where one was being read. Its `Display` says what failed; the
//! underlying I/O, stream or JSON error, if any, is its [`std::error::Error::source`], so error
//! reporters (anyhow's `{:#}`, `tracing`) print each cause once.
//!
//! This module belongs to no layer: the multipart decoder and the export layer both report
//! through it, and neither depends on the other for it.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// What went wrong, as a category to match on.
///
/// New kinds may be added in minor releases; match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended before the multipart close delimiter (or inside a JSON or PDF export).
    ///
    /// A truncated body never looks complete: this error is raised on the part being read and
    /// again on the next call that asks for a part.
    UnexpectedEnd,
    /// A part's header block is malformed: a line without a colon, a bad byte in a name, a bare
    /// CR or LF, a NUL, whitespace before the first header, and the like.
    InvalidHeader,
    /// A `Content-Disposition` header value could not be parsed.
    InvalidContentDisposition,
    /// A `Content-Type` value is not a `multipart/*` type with exactly one valid `boundary`.
    InvalidContentType,
    /// A boundary is empty, longer than 70 characters, ends in a space or contains a character
    /// outside RFC 2046's `bchars`.
    InvalidBoundary,
    /// No delimiter line was found where one is needed to guess the boundary from a saved body.
    BoundaryNotFound,
    /// A configured limit was exceeded; [`Error::limit`] says which.
    LimitExceeded,
    /// The byte source (a stream or a reader) reported an error; see `source()`.
    Read,
    /// An I/O error while writing output; see `source()`.
    Io,
    /// A file name that is not one plain path component (it holds a `/`, `\`, a control
    /// character, is `.` or `..`, a Windows device name...), given where only a safe name is
    /// accepted.
    UnsafeName,
    /// JSON that does not parse, or a result that does not fit the model (for example, no `id`);
    /// see `source()` for serde_json's error.
    Json,
    /// A base64 `content` string of the JSON export holds a byte outside the base64 alphabet, or
    /// data after its padding.
    InvalidBase64,
    /// A PDF export does not start with `%PDF-`.
    InvalidPdf,
    /// The body is an error from the Authenteq API (`{"errorCode": ...}`); see
    /// [`Error::api_error`].
    Api,
    /// The body is none of the three export formats (multipart, JSON, PDF).
    UnknownFormat,
    /// The export is not shaped as the API writes it: no `result` part, or two of them.
    InvalidExport,
    /// A part declares a `Content-Transfer-Encoding` other than `binary`, `8bit` or `7bit`: its
    /// payload would need decoding, which this crate does not do (HTTP bodies are binary).
    UnsupportedEncoding,
    /// The encoder was asked to write a part whose payload contains the delimiter.
    DelimiterInPayload,
    /// The encoder or decoder was used out of order (for example, data written after the body was
    /// closed), or a setting was given a value it cannot take (a client id with a `:`).
    Usage,
    /// The HTTP exchange failed: no connection could be made ([`Error::is_connect`]), it broke,
    /// or the answer was not valid HTTP; see `source()`.
    Http,
    /// A timeout passed ([`Error::is_timeout`]): the connect timeout, the read timeout (no
    /// response head, or no body bytes, for that long), the deadline of one attempt or the total
    /// deadline of a call.
    Timeout,
    /// A success answer whose `Content-Type` is not the one its endpoint gives (HTML from a proxy
    /// on the JSON endpoint, JSON on the PDF endpoint...).
    UnexpectedContentType,
    /// A verification id that cannot be sent: empty, longer than 128 bytes, or holding a control
    /// character. Checked before any request.
    InvalidId,
    /// The object store failed: a request it refused or could not make, a missing or refused
    /// credential ([`Error::is_credentials`]); see `source()` for `object_store`'s error.
    Storage,
    /// Another writer stored the same verification at the same time with other bytes: what is
    /// stored is that writer's, complete under its manifest, and this writer's differs.
    Conflict,
    /// A stored file that cannot be read back as its manifest lists it: no identity given
    /// decrypts it, its ciphertext is cut short or altered, or its content's size or SHA-256
    /// is not the manifest's. The message names the file.
    Unreadable,
    /// A signed webhook delivery whose client id or signature does not match: a missing or
    /// malformed `X-CLIENT-ID` or `X-SIGNATURE` header, another client id, or a signature that
    /// is not the digest of the body with the client secret. Neither the secret nor the
    /// expected digest is ever part of the message.
    Signature,
    /// The application's handler of a stored verification (the webhook receiver's
    /// `on_stored`) returned an error, panicked or took longer than its timeout; the delivery
    /// is answered `500`, so that it comes again. The message says which, never what the
    /// handler's error said; `source()` holds that error.
    Handler,
}

impl ErrorKind {
    /// The HTTP status that fits an error of this kind when it is answered to a client, so a
    /// handler maps errors in one line: `400` for a body that is malformed, cut short or not an
    /// export, `413` for a body over a limit, `502` for an error of the API upstream, `500` for
    /// a failure of our own (writing output, misuse), `401` for a webhook delivery whose
    /// signature does not match, `502` for an upstream that could not be
    /// reached or answered something else than an export, `504` for one that took too long.
    ///
    /// [`Error::http_status`] refines it with the status the API answered, when known.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::ErrorKind;
    ///
    /// assert_eq!(ErrorKind::LimitExceeded.http_status(), 413);
    /// assert_eq!(ErrorKind::UnexpectedEnd.http_status(), 400);
    /// ```
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::UnexpectedEnd
            | ErrorKind::InvalidHeader
            | ErrorKind::InvalidContentDisposition
            | ErrorKind::InvalidContentType
            | ErrorKind::InvalidBoundary
            | ErrorKind::BoundaryNotFound
            | ErrorKind::Read
            | ErrorKind::Json
            | ErrorKind::InvalidBase64
            | ErrorKind::InvalidPdf
            | ErrorKind::UnknownFormat
            | ErrorKind::InvalidExport
            | ErrorKind::UnsupportedEncoding
            | ErrorKind::UnsafeName
            | ErrorKind::InvalidId => 400,
            ErrorKind::LimitExceeded => 413,
            ErrorKind::Signature => 401,
            ErrorKind::Api | ErrorKind::Http | ErrorKind::UnexpectedContentType => 502,
            ErrorKind::Timeout => 504,
            ErrorKind::Io
            | ErrorKind::DelimiterInPayload
            | ErrorKind::Usage
            | ErrorKind::Storage => 500,
            ErrorKind::Conflict => 409,
            ErrorKind::Unreadable | ErrorKind::Handler => 500,
        }
    }
}

/// Which configurable limit an [`ErrorKind::LimitExceeded`] error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// Bytes in one part's header block ([`Limits::max_header_bytes`](crate::multipart::Limits::max_header_bytes)).
    HeaderBytes,
    /// Header lines in one part ([`Limits::max_headers`](crate::multipart::Limits::max_headers)).
    Headers,
    /// Parts in one body ([`Limits::max_parts`](crate::multipart::Limits::max_parts)).
    Parts,
    /// Payload bytes in one part ([`Limits::max_part_bytes`](crate::multipart::Limits::max_part_bytes)).
    PartBytes,
    /// Bytes in the whole body ([`Limits::max_body_bytes`](crate::multipart::Limits::max_body_bytes)).
    BodyBytes,
    /// Bytes before the first delimiter ([`Limits::max_preamble_bytes`](crate::multipart::Limits::max_preamble_bytes)).
    PreambleBytes,
    /// Bytes of the result JSON of an export (`ExportLimits::max_result_bytes` in the export
    /// module).
    ResultBytes,
    /// Files in one export (`ExportLimits::max_files`).
    ExportFiles,
    /// Nesting depth of the JSON export (`ExportLimits::max_json_depth`).
    JsonDepth,
    /// Bytes a webhook receiver holds, across all deliveries, before their signatures are
    /// checked (`ReceiverBuilder::unverified_bytes` in the webhook module).
    UnverifiedBytes,
}

impl Limit {
    /// The setting's name, as it appears in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Limit::HeaderBytes => "max_header_bytes",
            Limit::Headers => "max_headers",
            Limit::Parts => "max_parts",
            Limit::PartBytes => "max_part_bytes",
            Limit::BodyBytes => "max_body_bytes",
            Limit::PreambleBytes => "max_preamble_bytes",
            Limit::ResultBytes => "max_result_bytes",
            Limit::ExportFiles => "max_files",
            Limit::JsonDepth => "max_json_depth",
            Limit::UnverifiedBytes => "unverified_bytes",
        }
    }
}

/// The part an error happened in: its 1-based number in the body and, when its headers were read,
/// its `Content-Disposition` name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartRef {
    /// 1-based position of the part in the body.
    pub number: usize,
    /// The part's `name` parameter, when known.
    pub name: Option<String>,
}

type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    detail: Cow<'static, str>,
    offset: Option<u64>,
    part: Option<PartRef>,
    limit: Option<(Limit, u64)>,
    /// The cause: what `source()` returns.
    source: Option<Source>,
    /// A value that is the error itself rather than its cause (the API's error body): `Display`
    /// shows it, `source()` does not return it.
    value: Option<Source>,
    /// The HTTP status the body came with, when it was an error answer.
    http_status: Option<u16>,
    /// Repeating the request might succeed: a broken connection, a timeout, a body cut short by
    /// the transport, a 429 or 5xx answer that is no documented API error.
    transient: bool,
    /// No connection could be made.
    connect: bool,
    /// Credentials were missing or refused.
    credentials: bool,
    /// What to do about it, shown last: `raise it with ...`.
    hint: Option<Cow<'static, str>>,
}

/// The error type of every fallible operation in this crate.
///
/// It is one pointer wide (the details are boxed) and cheap to clone. Its `Display` is one
/// lowercase line with no trailing period that says what went wrong, in which part and at which
/// byte, for example `unexpected end of input in part 3 "faceImage" at byte 1042`.
///
/// # Examples
///
/// ```
/// use authenteq_export::multipart::{Boundary, Decoder};
/// use authenteq_export::ErrorKind;
///
/// let boundary = Boundary::new("XyZ").unwrap();
/// let mut decoder = Decoder::new(boundary);
/// decoder.feed(bytes::Bytes::from_static(b"--XyZ\r\nContent-Type: text/plain\r\n\r\nhel"));
/// decoder.finish();
/// let err = loop {
///     match decoder.next_event() {
///         Ok(_) => continue,
///         Err(e) => break e,
///     }
/// };
/// assert_eq!(err.kind(), ErrorKind::UnexpectedEnd);
/// assert_eq!(err.offset(), Some(38));
/// assert_eq!(err.to_string(), "unexpected end of input in part 1 at byte 38");
/// ```
#[derive(Clone)]
pub struct Error(Box<Inner>);

impl Error {
    pub(crate) fn new(kind: ErrorKind, detail: impl Into<Cow<'static, str>>) -> Self {
        Error(Box::new(Inner {
            kind,
            detail: detail.into(),
            offset: None,
            part: None,
            limit: None,
            source: None,
            value: None,
            http_status: None,
            transient: false,
            connect: false,
            credentials: false,
            hint: None,
        }))
    }

    pub(crate) fn limit_exceeded(limit: Limit, max: u64) -> Self {
        let mut e = Error::new(ErrorKind::LimitExceeded, "");
        e.0.limit = Some((limit, max));
        e
    }

    pub(crate) fn with_source(
        kind: ErrorKind,
        detail: impl Into<Cow<'static, str>>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        let mut e = Error::new(kind, detail);
        e.0.source = Some(Arc::from(source.into()));
        e
    }

    /// An error whose meaning is `value` itself (shown by `Display`, found again with
    /// [`value`](Self::value)), not a cause.
    pub(crate) fn with_value(
        kind: ErrorKind,
        value: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let mut e = Error::new(kind, "");
        e.0.value = Some(Arc::new(value));
        e
    }

    /// Sets the HTTP status that answered the body (an API error's status).
    pub(crate) fn with_http_status(mut self, status: u16) -> Self {
        self.0.http_status = Some(status);
        self
    }

    /// Marks the error as one that repeating the request might not meet again.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn transient(mut self) -> Self {
        self.0.transient = true;
        self
    }

    /// Marks the error as a failure to connect (and transient).
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn connecting(mut self) -> Self {
        self.0.connect = true;
        self.0.transient = true;
        self
    }

    /// Adds what to do about the error, shown at the end of its `Display`.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn with_hint(mut self, hint: impl Into<Cow<'static, str>>) -> Self {
        self.0.hint = Some(hint.into());
        self
    }

    /// The value given to [`with_value`](Self::with_value).
    pub(crate) fn value(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.0.value.as_deref()
    }

    pub(crate) fn at(mut self, offset: u64) -> Self {
        self.0.offset = Some(offset);
        self
    }

    /// Moves the offset by `by` bytes (for errors found in a body whose first bytes were
    /// skipped).
    pub(crate) fn shifted(mut self, by: u64) -> Self {
        if let Some(o) = self.0.offset.as_mut() {
            *o += by;
        }
        self
    }

    pub(crate) fn in_part(mut self, part: Option<PartRef>) -> Self {
        if self.0.part.is_none() {
            self.0.part = part;
        }
        self
    }

    /// The category of this error.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The byte offset in the body where the error was noticed, counted from the first byte of
    /// the body, when it is known.
    pub fn offset(&self) -> Option<u64> {
        self.0.offset
    }

    /// The part being read when the error happened, if any.
    pub fn part(&self) -> Option<&PartRef> {
        self.0.part.as_ref()
    }

    /// For [`ErrorKind::LimitExceeded`]: which limit, and its configured maximum.
    pub fn limit(&self) -> Option<(Limit, u64)> {
        self.0.limit
    }

    /// The HTTP status that fits this error when it is answered to a client: the status the API
    /// answered for an API error, when known, else [`ErrorKind::http_status`].
    pub fn http_status(&self) -> u16 {
        self.0
            .http_status
            .unwrap_or_else(|| self.0.kind.http_status())
    }

    /// The HTTP status of the answer this error is about, when it is about one: an API error
    /// body, a body that is no export, a `Content-Type` the endpoint does not give.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::export::{ExportDecoder, ExportLimits};
    ///
    /// let mut decoder = ExportDecoder::for_response(404, Some("text/html"), ExportLimits::default())?;
    /// decoder.feed(bytes::Bytes::from_static(b"<html>Not Found</html>"));
    /// decoder.finish();
    /// assert_eq!(decoder.next_event().unwrap_err().status(), Some(404));
    /// # Ok::<(), authenteq_export::Error>(())
    /// ```
    pub fn status(&self) -> Option<u16> {
        self.0.http_status
    }

    /// Whether a timeout caused this error ([`ErrorKind::Timeout`]).
    pub fn is_timeout(&self) -> bool {
        self.0.kind == ErrorKind::Timeout
    }

    /// Marks the error as one of missing or refused credentials.
    #[cfg_attr(not(feature = "object-store"), allow(dead_code))]
    pub(crate) fn refused_credentials(mut self) -> Self {
        self.0.credentials = true;
        self
    }

    /// Whether credentials were missing or refused: the API's `API_KEYS_MISSING`,
    /// `API_KEYS_BAD`, `API_KEYS_INVALID` and `ACCOUNT_DEACTIVATED`, or an object store that
    /// found no credentials or refused them. Every other request with the same credentials
    /// would fail the same way.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::export::blocking::Export;
    ///
    /// let body: &[u8] = br#"{"errorCode":"API_KEYS_INVALID","errorMessage":"Invalid API keys"}"#;
    /// let err = Export::new(body, Some("application/json"))?.next_item().unwrap_err();
    /// assert!(err.is_credentials());
    /// # Ok::<(), authenteq_export::Error>(())
    /// ```
    pub fn is_credentials(&self) -> bool {
        use crate::export::ApiErrorCode as C;
        self.0.credentials
            || self.api_error().is_some_and(|api| {
                matches!(
                    api.code,
                    C::ApiKeysMissing | C::ApiKeysBad | C::ApiKeysInvalid | C::AccountDeactivated
                )
            })
    }

    /// Whether no connection could be made (refused, unreachable, name not resolved, TLS
    /// handshake failed, or the connect timeout passed).
    pub fn is_connect(&self) -> bool {
        self.0.connect
    }

    /// Whether the same request again might succeed: a connection that failed or broke, a
    /// timeout, a body cut short by the transport, an answer `429`, `500`, `502`, `503` or `504`
    /// whose body is no documented API error. Never for a documented API error (bad
    /// credentials, unknown verification...) nor for a body that was delivered whole but is
    /// wrong: the same request would meet them again.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::export::{ExportDecoder, ExportLimits};
    ///
    /// let mut decoder = ExportDecoder::for_response(404, Some("application/json"), ExportLimits::default())?;
    /// decoder.feed(bytes::Bytes::from_static(br#"{"errorCode":"VERIFICATION_NOT_FOUND"}"#));
    /// decoder.finish();
    /// assert!(!decoder.next_event().unwrap_err().is_retryable());
    /// # Ok::<(), authenteq_export::Error>(())
    /// ```
    pub fn is_retryable(&self) -> bool {
        self.0.transient
    }

    /// The crate's error inside an `std::io::Error`, when there is one: the `Read` and
    /// `AsyncRead` impls of parts and files hand their errors out wrapped in `io::Error`, and
    /// `std::io::copy` or `tokio::io::copy` pass them on as they are.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use authenteq_export::multipart::{blocking, Boundary};
    /// use authenteq_export::{Error, ErrorKind};
    ///
    /// let cut: &[u8] = b"--b\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8";
    /// let mut body = blocking::Multipart::new(cut, Boundary::new("b")?);
    /// let mut part = body.next_part()?.expect("a part");
    /// let io_err = std::io::copy(&mut part, &mut std::io::sink()).unwrap_err();
    /// let err = Error::from_io(&io_err).expect("our error inside");
    /// assert_eq!(err.kind(), ErrorKind::UnexpectedEnd);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn from_io(err: &std::io::Error) -> Option<&Error> {
        err.get_ref().and_then(|e| e.downcast_ref::<Error>())
    }

    /// A short description of the specific problem, without the location (empty when the kind
    /// says it all).
    pub fn detail(&self) -> &str {
        &self.0.detail
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.0;
        match inner.kind {
            ErrorKind::UnexpectedEnd => f.write_str("unexpected end of input")?,
            ErrorKind::InvalidHeader => f.write_str("invalid part header")?,
            ErrorKind::InvalidContentDisposition => f.write_str("invalid content-disposition")?,
            ErrorKind::InvalidContentType => f.write_str("invalid content-type")?,
            ErrorKind::InvalidBoundary => f.write_str("invalid boundary")?,
            ErrorKind::BoundaryNotFound => f.write_str("no multipart boundary found")?,
            ErrorKind::LimitExceeded => match inner.limit {
                Some((limit, max)) => write!(f, "limit {} ({max}) exceeded", limit.name())?,
                None => f.write_str("limit exceeded")?,
            },
            ErrorKind::Read => f.write_str("error reading the body")?,
            ErrorKind::Io => f.write_str("i/o error")?,
            ErrorKind::UnsafeName => f.write_str("unsafe file name")?,
            ErrorKind::DelimiterInPayload => f.write_str("payload contains the delimiter")?,
            ErrorKind::Json => f.write_str("invalid json")?,
            ErrorKind::InvalidBase64 => f.write_str("invalid base64")?,
            ErrorKind::InvalidPdf => f.write_str("invalid pdf")?,
            // The API error's own text names it: `API error VERIFICATION_NOT_FOUND: ...`.
            ErrorKind::Api if inner.value.is_some() => {}
            ErrorKind::Api => f.write_str("api error")?,
            ErrorKind::UnknownFormat => f.write_str("unknown export format")?,
            ErrorKind::InvalidExport => f.write_str("invalid export")?,
            ErrorKind::UnsupportedEncoding => {
                f.write_str("unsupported content-transfer-encoding")?
            }
            ErrorKind::Usage => f.write_str("invalid use")?,
            ErrorKind::Http => f.write_str("http error")?,
            ErrorKind::Timeout => f.write_str("timed out")?,
            ErrorKind::UnexpectedContentType => f.write_str("unexpected content-type")?,
            ErrorKind::InvalidId => f.write_str("invalid verification id")?,
            ErrorKind::Storage => f.write_str("object store error")?,
            ErrorKind::Conflict => f.write_str("conflicting writer")?,
            ErrorKind::Unreadable => f.write_str("stored file unreadable")?,
            ErrorKind::Signature => f.write_str("webhook signature check failed")?,
            ErrorKind::Handler => f.write_str("hand-off failed")?,
        }
        if let Some(value) = &inner.value {
            if inner.kind == ErrorKind::Api {
                write!(f, "{value}")?;
            } else {
                write!(f, ": {value}")?;
            }
        }
        if !inner.detail.is_empty() {
            write!(f, ": {}", inner.detail)?;
        }
        if let Some(part) = &inner.part {
            write!(f, " in part {}", part.number)?;
            if let Some(name) = &part.name {
                write!(f, " {name:?}")?;
            }
        }
        if let Some(offset) = inner.offset {
            write!(f, " at byte {offset}")?;
        }
        if let Some(hint) = &inner.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.0;
        let mut d = f.debug_struct("Error");
        d.field("kind", &inner.kind);
        if !inner.detail.is_empty() {
            d.field("detail", &inner.detail);
        }
        if let Some(offset) = inner.offset {
            d.field("offset", &offset);
        }
        if let Some(part) = &inner.part {
            d.field("part", part);
        }
        if let Some(limit) = &inner.limit {
            d.field("limit", limit);
        }
        if let Some(value) = &inner.value {
            d.field("value", value);
        }
        if let Some(status) = inner.http_status {
            d.field("http_status", &status);
        }
        if inner.transient {
            d.field("retryable", &true);
        }
        if inner.connect {
            d.field("connect", &true);
        }
        if let Some(source) = &inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.source {
            Some(s) => Some(&**s as &(dyn std::error::Error + 'static)),
            None => None,
        }
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        let kind = match e.kind() {
            ErrorKind::UnexpectedEnd => std::io::ErrorKind::UnexpectedEof,
            ErrorKind::Timeout => std::io::ErrorKind::TimedOut,
            ErrorKind::Io | ErrorKind::Read | ErrorKind::Http => std::io::ErrorKind::Other,
            _ => std::io::ErrorKind::InvalidData,
        };
        std::io::Error::new(kind, e)
    }
}

/// An `io::Error` that carries the crate's error (see [`Error::from_io`]) gives it back as it
/// was; any other is an [`ErrorKind::Io`] error with the `io::Error` as its source. So code
/// that mixes the crate's calls with file I/O needs no error enum of its own.
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        if Error::from_io(&e).is_none() {
            return Error::with_source(ErrorKind::Io, "", e);
        }
        let kind = e.kind();
        match e.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(ours)) => *ours,
            // Not reached (checked above); kept whole rather than dropped.
            Some(Err(other)) => {
                Error::with_source(ErrorKind::Io, "", std::io::Error::new(kind, other))
            }
            None => Error::with_source(ErrorKind::Io, "", std::io::Error::from(kind)),
        }
    }
}

/// Shorthand for `Result<T, authenteq_export::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
