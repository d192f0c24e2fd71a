//! An HTTP client for the three export endpoints of the Authenteq API.
//!
//! [`Client`] asks one endpoint for one verification and hands back the export layer's
//! streaming reader, [`Export`], fed by the response body as the caller reads it:
//! nothing is buffered whole, and a slow consumer slows the socket down. [`Client::save`]
//! fetches one verification into an [`OutputDir`](crate::save::OutputDir), whole files only.
//!
//! | call | endpoint | answer |
//! |---|---|---|
//! | [`Client::multipart`] | `GET /export/verification-result-as-multipart?verificationId=...` | `multipart/*` |
//! | [`Client::json`] | `GET /export/verification-result-as-json?verificationId=...` | `application/json` |
//! | [`Client::pdf`] | `GET /export/verification-result-as-pdf?verificationId=...` | `application/pdf` |
//!
//! [`Client`] is async and needs a [tokio](https://docs.rs/tokio) runtime with its I/O and
//! time drivers (`#[tokio::main]`, or a runtime built with `enable_all`): another executor
//! (`futures::executor::block_on`) panics for want of tokio's reactor. Code that is not async
//! uses [`blocking::Client`], the same names with a runtime of its own inside.
//!
//! # Credentials
//!
//! Every request carries `Authorization: Basic base64(client_id:client_secret)`. Authenteq's
//! documentation calls the header "Authentication"; what its servers read is the standard
//! `Authorization` header with the Basic scheme (RFC 7617), which is what this client sends. The
//! secret is never logged, never in an error, and not in the `Debug` output of a [`Client`].
//! So that it does not cross a network in clear text, a plain `http://` base URL is refused
//! unless its host is loopback (`127.0.0.0/8`, `::1`, `localhost`) or
//! [`ClientBuilder::allow_insecure_http`] says so.
//!
//! # Against a server that misbehaves
//!
//! Whatever a server sends, a call ends and holds a bounded amount: with the defaults, an
//! answer's body is read up to [`DEFAULT_MAX_BODY_BYTES`], a file of the export up to
//! [`DEFAULT_MAX_FILE_BYTES`], and an attempt (informational `1xx` answers, the head and the
//! whole body included) lasts at most [`DEFAULT_ATTEMPT_TIMEOUT`]. Each is a setting of
//! [`ClientBuilder`]; going over one is an error that names it and says how to raise it.
//!
//! # Retries
//!
//! A connection that fails or breaks, a timeout, and the answers `429`, `500`, `502`, `503`
//! and `504` are retried (up to [`ClientBuilder::retries`] times after the first attempt), after
//! an exponential backoff with jitter or the answer's `Retry-After` (seconds or an HTTP-date),
//! whichever is longer. The API's documented errors (`VERIFICATION_NOT_FOUND`,
//! `API_KEYS_INVALID`...) are never retried, whatever their status: the same request would meet
//! them again.
//!
//! A call retries until the export's first item is ready; once it returns, the reader's
//! errors are the caller's to handle ([`Error::is_retryable`] says whether asking again might
//! help). [`Client::save`] goes further: a retryable failure in the middle of the body restarts
//! the whole export, within the same budget, and the files already saved are found again
//! rather than written twice. Both go through [`Attempts`].
//!
//! # Logging
//!
//! With a `tracing` subscriber, each request, retry and outcome is one event (target
//! `authenteq_export::client`) with the endpoint, attempt, status, wait and error kind: never
//! the credentials, the verification id, or any byte of a body.
//!
//! # Examples
//!
//! ```no_run
//! use authenteq_export::client::Client;
//! use authenteq_export::export::ExportItem;
//!
//! # async fn run() -> authenteq_export::Result<()> {
//! let client = Client::new("my-client-id", "my-client-secret")?;
//! let mut export = client.json("8c3f6a2e-8d2f-4a4c-9f0a-0d6b1b0e6c11").await?;
//! while let Some(item) = export.next_item().await? {
//!     match item {
//!         ExportItem::Result { result, .. } => println!("verification {}", result.id),
//!         ExportItem::File(mut file) => {
//!             let mut sink = tokio::io::sink(); // a file in real code: see `save`
//!             tokio::io::copy(&mut file, &mut sink).await?;
//!         }
//!     }
//! }
//! # Ok(())
//! # }
//! ```

pub mod blocking;
mod body;
mod retry;
#[cfg(feature = "save")]
mod save;
mod transport;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};

/// The `reqwest` crate this client is built on, for [`ClientBuilder::http_client`]: a
/// `reqwest::Client` of this very version, with no version to pin.
pub use reqwest;
/// An HTTP status code, as [`Error::status_code`] gives it (the `http` crate's, through
/// reqwest).
pub use reqwest::StatusCode;

pub use body::ResponseBody;
pub use retry::Attempts;
#[cfg(feature = "save")]
pub use save::Fetched;

use crate::error::{Error, ErrorKind, Result};
pub use crate::export::Endpoint;
use crate::export::{Export, ExportDecoder, ExportEvent, ExportLimits};
use body::ProgressFn;
use retry::{retry_after, Failure};
use transport::{request_error, Timeouts};

/// The Authenteq API: `https://api.app.authenteq.com`.
pub const DEFAULT_BASE_URL: &str = "https://api.app.authenteq.com";

/// How many bytes of an error answer's body are read to tell what it says.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// How many first bytes of an error answer that is no API error its error shows.
const SHOWN_ERROR_BYTES: usize = 48;

/// With [`ClientBuilder::http2_prior_knowledge`]: the most bytes of one download received and
/// not yet read (HTTP/2's stream window), 128 KiB.
pub const HTTP2_STREAM_WINDOW: u32 = 128 << 10;

/// With [`ClientBuilder::http2_prior_knowledge`]: the most bytes of all downloads on one
/// connection received and not yet read (HTTP/2's connection window), 64 MiB: 512 stream
/// windows, so that downloads not being read do not stall the others.
pub const HTTP2_CONNECTION_WINDOW: u32 = 64 << 20;

/// The default of [`ClientBuilder::max_body_bytes`]: 256 MiB, the most bytes of one answer's
/// body that are read.
///
/// A real export is a result of a few KiB, a handful of camera JPEGs of a few MiB each and
/// perhaps a PDF report: tens of MiB at the very most, a third more as the JSON export (base64
/// writes 4 bytes for 3). 256 MiB leaves a factor of several above the largest, and stops a
/// server that sends an endless body after seconds on a fast link rather than when the disk
/// is full.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 256 << 20;

/// The default of [`ClientBuilder::max_file_bytes`]: 64 MiB, the most bytes of one file of an
/// export (decoded, for the JSON export's base64).
///
/// The largest files of a real export, a photo of a document or the PDF report, are a few MiB;
/// 64 MiB is ten times a large camera JPEG, and a file that never ends stops there.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 << 20;

/// The default of [`ClientBuilder::attempt_timeout`]: 10 minutes, the longest one attempt may
/// last, from connecting to the last byte of its body.
///
/// 50 MiB, more than any real export, takes about 7 minutes at 1 Mbit/s; a server that drips
/// its body just fast enough to beat the read timeout, or sends informational `1xx` answers
/// forever, is cut off here.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(600);

/// Builds a [`Client`] with settings other than the defaults.
///
/// | setting | default |
/// |---|---|
/// | [`base_url`](Self::base_url) | [`DEFAULT_BASE_URL`] |
/// | [`connect_timeout`](Self::connect_timeout) | 10 s |
/// | [`read_timeout`](Self::read_timeout) | 30 s |
/// | [`attempt_timeout`](Self::attempt_timeout) (deadline of one attempt) | [`DEFAULT_ATTEMPT_TIMEOUT`], 10 min |
/// | [`timeout`](Self::timeout) (total deadline of a call) | none |
/// | [`retries`](Self::retries) | 3 |
/// | [`backoff_base`](Self::backoff_base) | 500 ms |
/// | [`backoff_cap`](Self::backoff_cap) | 30 s |
/// | [`retry_after_cap`](Self::retry_after_cap) | 60 s |
/// | [`max_body_bytes`](Self::max_body_bytes) | [`DEFAULT_MAX_BODY_BYTES`], 256 MiB |
/// | [`max_file_bytes`](Self::max_file_bytes) | [`DEFAULT_MAX_FILE_BYTES`], 64 MiB |
/// | [`limits`](Self::limits) | [`ExportLimits::default`] |
/// | [`allow_insecure_http`](Self::allow_insecure_http) | off: `http://` only to loopback |
/// | [`http2_prior_knowledge`](Self::http2_prior_knowledge) | off |
/// | [`http_client`](Self::http_client) | one of the client's own |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use authenteq_export::client::Client;
///
/// let client = Client::builder()
///     .credentials("my-client-id", "my-client-secret")
///     .base_url("http://127.0.0.1:8080")
///     .retries(5)
///     .read_timeout(Duration::from_secs(60))
///     .max_file_bytes(128 << 20)
///     .build()?;
/// assert_eq!(client.base_url(), "http://127.0.0.1:8080/");
/// assert!(!format!("{client:?}").contains("my-client-secret"));
/// # Ok::<(), authenteq_export::Error>(())
/// ```
#[must_use]
pub struct ClientBuilder {
    credentials: Option<(String, String)>,
    base_url: String,
    http: Option<reqwest::Client>,
    settings: Settings,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("client_id", &self.credentials.as_ref().map(|(id, _)| id))
            .field("secret", &self.credentials.as_ref().map(|_| Redacted))
            .field("base_url", &self.base_url)
            .field("own_http_client", &self.http.is_some())
            .field("settings", &self.settings)
            .finish()
    }
}

struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone)]
struct Settings {
    connect_timeout: Duration,
    read_timeout: Duration,
    attempt_timeout: Duration,
    total_timeout: Option<Duration>,
    retries: u32,
    backoff_base: Duration,
    backoff_cap: Duration,
    retry_after_cap: Duration,
    limits: ExportLimits,
    max_body_bytes: u64,
    max_file_bytes: u64,
    allow_insecure_http: bool,
    http2_prior_knowledge: bool,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            credentials: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            http: None,
            settings: Settings {
                connect_timeout: Duration::from_secs(10),
                read_timeout: Duration::from_secs(30),
                attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
                total_timeout: None,
                retries: 3,
                backoff_base: Duration::from_millis(500),
                backoff_cap: Duration::from_secs(30),
                retry_after_cap: Duration::from_secs(60),
                limits: ExportLimits::default(),
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                max_file_bytes: DEFAULT_MAX_FILE_BYTES,
                allow_insecure_http: false,
                http2_prior_knowledge: false,
            },
        }
    }
}

impl ClientBuilder {
    /// The API keys: the client id and its secret (required).
    pub fn credentials(mut self, client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.credentials = Some((client_id.into(), secret.into()));
        self
    }

    /// Where the API is: a URL whose path the endpoint paths are added to
    /// (default [`DEFAULT_BASE_URL`]). Plain `http://` only to a loopback host unless
    /// [`allow_insecure_http`](Self::allow_insecure_http).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// How long to wait for a TCP (and TLS) connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// How long to wait for the answer's head, and for each next bytes of its body (default
    /// 30 s): reqwest's `read_timeout`. A stalled answer is an [`ErrorKind::Timeout`] error.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.settings.read_timeout = timeout;
        self
    }

    /// The longest one attempt may last, from connecting to the last byte of its body,
    /// informational `1xx` answers included (default [`DEFAULT_ATTEMPT_TIMEOUT`], 10 minutes).
    /// When it passes, the attempt fails with an [`ErrorKind::Timeout`] error that is retried
    /// like the read timeout: a body that comes, but too slowly, ends here.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.settings.attempt_timeout = timeout;
        self
    }

    /// A deadline for a whole call, retries and body included (default: none). When it passes
    /// the call, or the reading of its body, fails with an [`ErrorKind::Timeout`] error that is
    /// not retried.
    pub fn timeout(mut self, deadline: Duration) -> Self {
        self.settings.total_timeout = Some(deadline);
        self
    }

    /// How many times a call is repeated after its first attempt when it fails in a way that
    /// may pass (default 3); `0` turns retries off. One budget for every kind of retry.
    pub fn retries(mut self, retries: u32) -> Self {
        self.settings.retries = retries;
        self
    }

    /// The first backoff: retry `n` waits a random time between half and all of
    /// `base * 2^(n-1)`, at most the [cap](Self::backoff_cap) (default 500 ms).
    pub fn backoff_base(mut self, base: Duration) -> Self {
        self.settings.backoff_base = base;
        self
    }

    /// The longest backoff (default 30 s).
    pub fn backoff_cap(mut self, cap: Duration) -> Self {
        self.settings.backoff_cap = cap;
        self
    }

    /// The longest wait a `Retry-After` header is obeyed for (default 60 s): a longer one waits
    /// this long.
    pub fn retry_after_cap(mut self, cap: Duration) -> Self {
        self.settings.retry_after_cap = cap;
        self
    }

    /// The most bytes of one answer's body that are read (default [`DEFAULT_MAX_BODY_BYTES`],
    /// 256 MiB, whose doc says why). A byte over it ends the read with an
    /// [`ErrorKind::LimitExceeded`] error ([`Limit::BodyBytes`](crate::Limit::BodyBytes)) that
    /// names this setting and is not retried. `u64::MAX` turns the cap off.
    pub fn max_body_bytes(mut self, max: u64) -> Self {
        self.settings.max_body_bytes = max;
        self
    }

    /// The most bytes of one file of an export (default [`DEFAULT_MAX_FILE_BYTES`], 64 MiB,
    /// whose doc says why): the export readers' [`ExportLimits::max_file_bytes`], or the
    /// [`limits`](Self::limits)' own when lower. A file over it is an
    /// [`ErrorKind::LimitExceeded`] error ([`Limit::PartBytes`](crate::Limit::PartBytes)), not
    /// retried; when it reaches [`Client::save`] or [`Attempts::retry`], its text names this
    /// setting. `u64::MAX` leaves only the `limits`' cap.
    pub fn max_file_bytes(mut self, max: u64) -> Self {
        self.settings.max_file_bytes = max;
        self
    }

    /// The limits of the export readers the client hands out (default
    /// [`ExportLimits::default`]); their file bytes are at most
    /// [`max_file_bytes`](Self::max_file_bytes).
    pub fn limits(mut self, limits: ExportLimits) -> Self {
        self.settings.limits = limits;
        self
    }

    /// Lets the base URL be plain `http://` to a host that is not loopback (default off).
    ///
    /// Over plain HTTP the client secret (in every request's `Authorization` header) and the
    /// exports (personal data) cross the network unencrypted, readable and changeable by
    /// anyone on the path: turn it on only for a network you trust, such as a test setup
    /// behind your own proxy.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.settings.allow_insecure_http = allow;
        self
    }

    /// Speak HTTP/2 from the first byte, without negotiating it (default off: HTTP/1.1): for
    /// a plain `http://` server known to speak it, such as the
    /// emulator (`server::Emulator`, feature `server`).
    ///
    /// Every download from one server then shares one connection, and each may have at most
    /// [`HTTP2_STREAM_WINDOW`] bytes received and not yet read; the connection's window
    /// ([`HTTP2_CONNECTION_WINDOW`]) is large enough that hundreds of downloads whose readers
    /// are busy elsewhere do not hold back the others. Over HTTP/1.1 each download has its own
    /// connection, whose read buffer grows to about 400 KiB while the socket has that much
    /// waiting (hyper's, not settable through reqwest): hundreds of downloads at once from one
    /// server take a fraction of the memory over HTTP/2.
    pub fn http2_prior_knowledge(mut self, on: bool) -> Self {
        self.settings.http2_prior_knowledge = on;
        self
    }

    /// Sends the requests with `http`, a `reqwest::Client` of your own making (proxies, root
    /// certificates, default headers, a resolver...), from the re-exported
    /// [`reqwest`](mod@reqwest) so that its version is the one this crate uses.
    ///
    /// Its own settings then hold for what they cover: [`connect_timeout`](Self::connect_timeout),
    /// [`read_timeout`](Self::read_timeout) and
    /// [`http2_prior_knowledge`](Self::http2_prior_knowledge) are not applied (set them on
    /// `http`). Everything else is: the credentials, the attempt and total deadlines (per
    /// request), the caps, the retries, and the refusal of plain `http://`.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::client::{reqwest, Client};
    ///
    /// let http = reqwest::Client::builder()
    ///     .connect_timeout(std::time::Duration::from_secs(5))
    ///     .build()
    ///     .expect("a TLS stack");
    /// let client = Client::builder()
    ///     .credentials("my-client-id", "my-client-secret")
    ///     .http_client(http)
    ///     .build()?;
    /// # drop(client);
    /// # Ok::<(), authenteq_export::Error>(())
    /// ```
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The client.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`]: no credentials, a client id that is empty or holds a `:` or a
    /// control character, a secret with a control character, a base URL that is not an
    /// absolute `http` or `https` URL, or a plain `http` one to a host that is not loopback
    /// without [`allow_insecure_http`](Self::allow_insecure_http). [`ErrorKind::Http`]: the
    /// TLS stack could not be set up. No connection is made.
    pub fn build(self) -> Result<Client> {
        let Some((client_id, secret)) = self.credentials else {
            return Err(Error::new(ErrorKind::Usage, "the client needs credentials"));
        };
        if client_id.is_empty() || client_id.contains(':') || client_id.contains(char::is_control) {
            return Err(Error::new(
                ErrorKind::Usage,
                "the client id is empty, or holds a ':' or a control character",
            ));
        }
        if secret.contains(char::is_control) {
            return Err(Error::new(
                ErrorKind::Usage,
                "the client secret holds a control character",
            ));
        }
        let mut base = crate::http_url::parse(&self.base_url).ok_or_else(|| {
            Error::new(ErrorKind::Usage, "the base URL is not an http or https URL")
        })?;
        base.set_query(None);
        base.set_fragment(None);
        let origin = base.origin().ascii_serialization();
        let settings = self.settings;
        if crate::http_url::is_insecure(&base) && !settings.allow_insecure_http {
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "the base URL {origin} is plain http to a host that is not loopback: the \
                     client secret and the exports would cross the network unencrypted; use \
                     https, or allow it with ClientBuilder::allow_insecure_http(true) or the \
                     --allow-insecure-http flag"
                ),
            ));
        }
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
        let mut authorization = HeaderValue::from_str(&format!("Basic {token}"))
            .map_err(|_| Error::new(ErrorKind::Usage, "the credentials do not fit a header"))?;
        authorization.set_sensitive(true);
        let http = match self.http {
            Some(http) => http,
            None => {
                let mut http = reqwest::Client::builder()
                    .connect_timeout(settings.connect_timeout)
                    .read_timeout(settings.read_timeout)
                    .user_agent(concat!("authenteq-export/", env!("CARGO_PKG_VERSION")));
                http = if settings.http2_prior_knowledge {
                    http.http2_prior_knowledge()
                        .http2_initial_stream_window_size(HTTP2_STREAM_WINDOW)
                        .http2_initial_connection_window_size(HTTP2_CONNECTION_WINDOW)
                } else {
                    http.http1_only()
                };
                http.build().map_err(|e| {
                    Error::with_source(ErrorKind::Http, "cannot set up the HTTP client", e)
                })?
            }
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                origin,
                client_id,
                authorization,
                settings,
            }),
        })
    }
}

/// Whether `url`'s host is loopback: `127.0.0.0/8`, `::1` or the name `localhost`.
/// A client of the Authenteq export API: cheap to clone (the clones share one connection pool).
///
/// Made by [`Client::new`] with the default settings, or by [`Client::builder`]. Its `Debug`
/// shows the base URL, the client id and the settings, never the secret. Its calls are async
/// and need a tokio runtime (see the [module docs](self)); [`blocking::Client`] is the same
/// without one.
///
/// # Examples
///
/// ```no_run
/// use authenteq_export::client::Client;
/// use authenteq_export::save::OutputDir;
///
/// # async fn run() -> authenteq_export::Result<()> {
/// let client = Client::new(
///     std::env::var("AUTHENTEQ_CLIENT_ID").unwrap_or_default(),
///     std::env::var("AUTHENTEQ_CLIENT_SECRET").unwrap_or_default(),
/// )?;
/// let fetched = client
///     .save(authenteq_export::client::Endpoint::Multipart, "8c3f6a2e", &OutputDir::create("out")?)
///     .await?;
/// println!("{} files", fetched.saved().files().len());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: reqwest::Url,
    /// `scheme://host:port` of `base`, for errors.
    origin: String,
    client_id: String,
    /// `Basic base64(id:secret)`, marked sensitive.
    authorization: HeaderValue,
    settings: Settings,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base.as_str())
            .field("client_id", &self.inner.client_id)
            .field("secret", &Redacted)
            .field("settings", &self.inner.settings)
            .finish()
    }
}

/// An answer whose export's first item is ready: its body, and the decoder that read that far.
pub(crate) struct Opened {
    body: ResponseBody,
    decoder: ExportDecoder,
}

impl Client {
    /// A client of the Authenteq API with these credentials and the default settings (see
    /// [`ClientBuilder`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let client = authenteq_export::client::Client::new("my-client-id", "my-client-secret")?;
    /// assert_eq!(client.base_url(), "https://api.app.authenteq.com/");
    /// # Ok::<(), authenteq_export::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::build`].
    pub fn new(client_id: impl Into<String>, secret: impl Into<String>) -> Result<Client> {
        Client::builder().credentials(client_id, secret).build()
    }

    /// A builder, for other settings than the defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The base URL the endpoint paths are added to.
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// The multipart export of verification `id`: `multipart/*`, the result first, then one
    /// part per file.
    ///
    /// Returns once the answer's head has come and its body holds the export's first item;
    /// the rest of the body is read as the export is. Retries (see the
    /// [module docs](self#retries)) happen before it returns.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run() -> authenteq_export::Result<()> {
    /// let client = authenteq_export::client::Client::new("my-client-id", "my-client-secret")?;
    /// let mut export = client.multipart("8c3f6a2e").await?;
    /// while let Some(item) = export.next_item().await? {
    ///     // ...
    /// #   drop(item);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::InvalidId`]: the id is not sent ([`VerificationId`](crate::export::VerificationId)).
    /// - [`ErrorKind::Api`]: the API answered one of its errors; [`Error::api_error`] gives its
    ///   code and message, [`Error::status`] the HTTP status.
    /// - [`ErrorKind::UnknownFormat`]: an error status whose body is no API error (an HTML
    ///   404...), named with its status, content type and first bytes.
    /// - [`ErrorKind::UnexpectedContentType`]: a success answer of another content type.
    /// - [`ErrorKind::Http`], [`ErrorKind::Timeout`]: the last attempt's transport failure once
    ///   the retries are spent (or at once for the total deadline).
    /// - Any error of the export's first bytes ([`Export::next_item`]).
    pub async fn multipart(&self, id: &str) -> Result<Export<ResponseBody>> {
        self.export(Endpoint::Multipart, id).await
    }

    /// The JSON export of verification `id`: `application/json`, the files in base64 (decoded
    /// as they are read). As [`multipart`](Self::multipart).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run() -> authenteq_export::Result<()> {
    /// let client = authenteq_export::client::Client::new("my-client-id", "my-client-secret")?;
    /// let export = client.json("8c3f6a2e").await?;
    /// # drop(export);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`multipart`](Self::multipart).
    pub async fn json(&self, id: &str) -> Result<Export<ResponseBody>> {
        self.export(Endpoint::Json, id).await
    }

    /// The PDF report of verification `id`: `application/pdf`, one file. As
    /// [`multipart`](Self::multipart).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run() -> authenteq_export::Result<()> {
    /// let client = authenteq_export::client::Client::new("my-client-id", "my-client-secret")?;
    /// let export = client.pdf("8c3f6a2e").await?;
    /// # drop(export);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`multipart`](Self::multipart).
    pub async fn pdf(&self, id: &str) -> Result<Export<ResponseBody>> {
        self.export(Endpoint::Pdf, id).await
    }

    /// The export of verification `id` from `endpoint`: [`multipart`](Self::multipart),
    /// [`json`](Self::json) or [`pdf`](Self::pdf).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use authenteq_export::client::{Client, Endpoint};
    ///
    /// # async fn run() -> authenteq_export::Result<()> {
    /// let client = Client::new("my-client-id", "my-client-secret")?;
    /// let export = client.export(Endpoint::Pdf, "8c3f6a2e").await?;
    /// # drop(export);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`multipart`](Self::multipart).
    pub async fn export(&self, endpoint: Endpoint, id: &str) -> Result<Export<ResponseBody>> {
        self.attempts(endpoint, id)?.first().await
    }

    /// One request, up to the export's first item.
    async fn attempt(
        &self,
        endpoint: Endpoint,
        id: &str,
        deadline: Option<Instant>,
        attempt: u32,
        progress: Option<&ProgressFn>,
    ) -> std::result::Result<Opened, Failure> {
        let inner = &*self.inner;
        let s = &inner.settings;
        let started = Instant::now();
        let timeouts = Timeouts {
            connect: s.connect_timeout,
            read: s.read_timeout,
            attempt: s.attempt_timeout,
            total: s.total_timeout,
            started,
            deadline,
            origin: inner.origin.clone(),
        };
        let mut url = inner.base.clone();
        {
            let path = format!("{}{}", url.path().trim_end_matches('/'), endpoint.path());
            url.set_path(&path);
        }
        let path = url.path().to_owned();
        url.query_pairs_mut().append_pair("verificationId", id);
        // reqwest's per-request timeout runs from connecting to the body's last byte, so it
        // bounds informational answers and a dripped body alike.
        let mut limit = s.attempt_timeout;
        if let Some(deadline) = deadline {
            limit = limit.min(deadline.saturating_duration_since(started));
        }
        let request = inner
            .http
            .get(url)
            .header(AUTHORIZATION, inner.authorization.clone())
            .timeout(limit);
        tracing::debug!(
            target: "authenteq_export::client",
            endpoint = endpoint.name(),
            attempt,
            "sending export request"
        );
        let response = request
            .send()
            .await
            .map_err(|e| Failure::from(request_error(e, &timeouts)))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let asked = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, SystemTime::now()));
        tracing::debug!(
            target: "authenteq_export::client",
            endpoint = endpoint.name(),
            attempt,
            status,
            content_length = response.content_length(),
            "export answer"
        );
        let mut body = ResponseBody::new(response, timeouts, s.max_body_bytes);
        let limits = s
            .limits
            .max_file_bytes(s.limits.get_max_file_bytes().min(s.max_file_bytes));
        let ct = content_type.as_deref();
        if !(200..300).contains(&status) {
            let error = error_answer(&mut body, status, ct, limits, &path).await;
            return Err(Failure {
                error,
                retry_after: asked,
            });
        }
        if !ct.is_some_and(|ct| endpoint.accepts(ct)) {
            let shown = ct.map_or_else(|| "no content-type".to_owned(), |ct| ct.to_owned());
            return Err(Error::new(
                ErrorKind::UnexpectedContentType,
                format!(
                    "HTTP {status} {shown}: the {endpoint} endpoint answers {}",
                    endpoint.expected()
                ),
            )
            .with_http_status(status)
            .into());
        }
        body.set_progress(progress.cloned());
        let decoder = ExportDecoder::for_response(status, ct, limits).map_err(Failure::from)?;
        // A second decoder reads the body up to the first item, so that a failure there is
        // retried before the caller has seen anything; the chunks it read are replayed.
        let mut probe = ExportDecoder::for_response(status, ct, limits).map_err(Failure::from)?;
        let mut seen = Vec::new();
        loop {
            match probe.next_event() {
                Ok(Some(
                    ExportEvent::Result { .. } | ExportEvent::FileStart(_) | ExportEvent::End,
                )) => break,
                Ok(Some(ExportEvent::FileData(_) | ExportEvent::FileEnd)) => continue,
                Ok(None) => {}
                // The export reader would give the same error: give it now.
                Err(e) => return Err(e.into()),
            }
            match body.next_from_socket().await {
                Some(Ok(chunk)) => {
                    probe.feed(chunk.clone());
                    seen.push(chunk);
                }
                Some(Err(e)) => return Err(e.into()),
                None => probe.finish(),
            }
        }
        for chunk in seen {
            body.replay(chunk);
        }
        Ok(Opened { body, decoder })
    }
}

/// The error an answer with a non-success `status` stands for: the API error its body holds,
/// else one naming the status, content type and first bytes. Retryable for 429, 500, 502, 503
/// and 504 unless it is a documented API error.
async fn error_answer(
    body: &mut ResponseBody,
    status: u16,
    content_type: Option<&str>,
    limits: ExportLimits,
    path: &str,
) -> Error {
    let mut decoder = match ExportDecoder::for_response(status, content_type, limits) {
        Ok(decoder) => decoder,
        // A multipart content type without a boundary: detect from the bytes instead.
        Err(_) => match ExportDecoder::for_response(status, None, limits) {
            Ok(decoder) => decoder,
            Err(e) => return e,
        },
    };
    let mut read = 0usize;
    let mut first = Vec::new();
    let transport = loop {
        if read >= MAX_ERROR_BODY {
            break None;
        }
        match body.next_from_socket().await {
            Some(Ok(chunk)) => {
                read += chunk.len();
                let room = SHOWN_ERROR_BYTES.saturating_sub(first.len());
                first.extend_from_slice(&chunk[..room.min(chunk.len())]);
                decoder.feed(chunk);
            }
            Some(Err(e)) => break Some(e),
            None => break None,
        }
    };
    decoder.finish();
    let error = loop {
        match decoder.next_event() {
            Ok(Some(ExportEvent::End)) | Ok(None) => {
                break Error::new(
                    ErrorKind::UnknownFormat,
                    format!("HTTP {status}: an error status without an error body"),
                )
                .with_http_status(status)
            }
            Ok(Some(_)) => continue,
            Err(e) => break e,
        }
    };
    let documented = error
        .api_error()
        .is_some_and(|api| !matches!(api.code, crate::export::ApiErrorCode::Unknown(_)));
    let error = match transport {
        // The body broke off before it said anything we know.
        Some(cut) if error.kind() != ErrorKind::Api => cut.with_http_status(status),
        // No such path, rather than no such verification: the base URL is likely wrong.
        _ if status == 404 && error.kind() != ErrorKind::Api => {
            let shown = content_type.unwrap_or("no content-type");
            let body = if first.is_empty() {
                "an empty body".to_owned()
            } else {
                format!("first bytes {:?}", String::from_utf8_lossy(&first))
            };
            Error::new(
                ErrorKind::Http,
                format!(
                    "the server answered 404 for {path}: is the base URL right? \
                     (HTTP 404 {shown}, {body})"
                ),
            )
            .with_http_status(status)
        }
        _ => error,
    };
    if matches!(status, 429 | 500 | 502 | 503 | 504) && !documented {
        error.transient()
    } else {
        error
    }
}

/// The HTTP status as a [`StatusCode`], for code written against reqwest's errors.
impl Error {
    /// The HTTP status of the answer this error is about, as reqwest's `Error::status` gives
    /// it: [`status`](Error::status) as an [`http::StatusCode`](StatusCode) (re-exported as
    /// [`client::StatusCode`](StatusCode), so no `http` version needs pinning).
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::client::StatusCode;
    /// use authenteq_export::export::{ExportDecoder, ExportLimits};
    ///
    /// let mut decoder = ExportDecoder::for_response(404, Some("application/json"), ExportLimits::default())?;
    /// decoder.feed(bytes::Bytes::from_static(br#"{"errorCode":"VERIFICATION_NOT_FOUND"}"#));
    /// decoder.finish();
    /// let err = decoder.next_event().unwrap_err();
    /// assert_eq!(err.status_code(), Some(StatusCode::NOT_FOUND));
    /// # Ok::<(), authenteq_export::Error>(())
    /// ```
    pub fn status_code(&self) -> Option<StatusCode> {
        self.status().and_then(|s| StatusCode::from_u16(s).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_are_send() {
        fn send<T: Send>() {}
        send::<Export<ResponseBody>>();
        send::<Client>();
    }

    #[test]
    fn builder_refuses_bad_settings() {
        let no_creds = Client::builder().build().unwrap_err();
        assert_eq!(no_creds.kind(), ErrorKind::Usage);
        for (id, secret) in [("", "s"), ("a:b", "s"), ("a\nb", "s"), ("a", "hunter2\r\n")] {
            let err = Client::new(id, secret).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Usage, "{id:?}");
            assert!(!format!("{err} {err:?}").contains("hunter2"));
        }
        for url in ["ftp://x", "not a url", "/relative"] {
            let err = Client::builder()
                .credentials("a", "b")
                .base_url(url)
                .build()
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Usage, "{url}");
        }
    }

    #[test]
    fn base_url_keeps_its_path() {
        let client = Client::builder()
            .credentials("a", "b")
            .base_url("http://127.0.0.1:9/api/?x=1#f")
            .build()
            .unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:9/api/");
    }
}
