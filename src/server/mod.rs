//! A local emulator of the Authenteq API's three export endpoints, for tests and for trying a
//! client without the real service.
//!
//! It serves `GET /export/verification-result-as-multipart`, `-as-json` and `-as-pdf`
//! `?verificationId=ID` for the verifications stored under one folder, one sub-folder per
//! verification id, in the layout `split` (and [`save`](crate::save)) writes: `result.json`
//! plus the files named by their part, such as `faceImage.jpeg`, `croppedFrontImage2.jpeg` or
//! `addressProofDocument.pdf`, and optionally `result.pdf`.
//!
//! # What it answers
//!
//! - **multipart**: `multipart/mixed` with a fresh random boundary; the `result` part
//!   (`result.json` verbatim, `application/json`) first, then each file, named by its file
//!   name's stem, with its file name and the content type of its extension, in the API's order
//!   (`livenessFaceImage`, each document's front, back and face, `addressProofDocument`, then
//!   any other file by name).
//! - **json**: the result's members, each file embedded where the API puts it as
//!   `{"contentType": ..., "content": <base64>}`, byte for byte what
//!   [`json_export`](crate::export::json_export) writes.
//! - **pdf**: the stored `result.pdf` when there is one; else a one-page summary of the result
//!   (id, platform, times, status and decision members, each document's type, issuer and
//!   dates; no images, no names).
//!
//! The multipart and JSON bodies are made as they are sent, from the stored files
//! ([`crate::export::ExportBody`]): a 1 GiB image is served in bounded memory.
//! Every body has a `Content-Length`, computed from the stored sizes, so a client can tell a
//! cut body from a whole one.
//!
//! It speaks HTTP/1.1 and, to a client that starts with HTTP/2's preface (prior knowledge,
//! `ClientBuilder::http2_prior_knowledge` of the `client` feature),
//! HTTP/2, up to 1,024 requests open at once on one connection.
//!
//! # Errors it answers, and their causes
//!
//! Checked in this order; the bodies are those of the API (see `corpus/errors`), with
//! `errorDescription` for the two marked so and `errorMessage` for the others.
//!
//! | cause | `errorCode` | status |
//! |---|---|---|
//! | no `Authorization` header | `API_KEYS_MISSING` (`errorDescription`) | 401 |
//! | a header that is not `Basic base64(id:secret)`: another scheme, bad base64, no colon | `API_KEYS_BAD` (`errorDescription`) | 401 |
//! | another client id or secret (compared in constant time) | `API_KEYS_INVALID` | 401 |
//! | the emulator runs with `deactivated` | `ACCOUNT_DEACTIVATED` | 403 |
//! | no `verificationId` parameter | `MISSING_REQUEST_PARAMETER` | 400 |
//! | a `verificationId` that is empty, over 128 bytes, holds a control character, is given twice, or is not one safe path component (`/`, `\`, `.`, `..`, a leading dot...) | `INVALID_REQUEST_PARAMETER` | 400 |
//! | no folder of that name (or, for multipart and JSON, one without `result.json`) | `VERIFICATION_NOT_FOUND` | 404 |
//! | a stored verification that cannot be read | `INTERNAL_ERROR` (the emulator's own) | 500 |
//!
//! # Faults
//!
//! [`Fault`]s make it misbehave on purpose: cut a body, stall it, drip it slowly, garble a
//! byte, or answer `429`/`503` with `Retry-After` to the first requests. They are set with
//! [`EmulatorBuilder::fault`] (or the CLI's `serve` flags).
//!
//! # Logs
//!
//! One `tracing` event per request at `INFO` (target `authenteq_export::server`), when its body
//! ends: the path, the status, the body bytes sent and whether the body was sent whole. Never
//! the query (the verification id), a header, or anything of the stored results.
//!
//! # Examples
//!
//! ```
//! use authenteq_export::server::{Emulator, Fault};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = tempfile::tempdir()?; // holds ID/result.json, ID/faceImage.jpeg...
//! let emulator = Emulator::builder(store.path())
//!     .credentials("client-id", "client-secret")
//!     .fault(Fault::TooManyRequests { first: 1, retry_after_secs: 2 })
//!     .build()?;
//! let server = emulator.spawn().await?;
//! assert!(server.url().starts_with("http://127.0.0.1:"));
//! // Point a client at server.url() ...
//! server.shutdown().await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod auth;
mod fault;
mod pdf;
mod reply;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum::body::{Body, BodyDataStream, HttpBody as _};
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures_core::Stream;
use tokio::sync::watch;

pub use fault::Fault;

/// The webhook side of the vendor, for testing a receiver in-process: deliver a verification
/// stored in this emulator's layout, signed and retried as the vendor does (see
/// [`webhook`](crate::webhook)).
#[cfg(all(feature = "webhook", feature = "client"))]
pub use crate::webhook::{RetrySchedule, Sender as WebhookSender};

use crate::error::{Error, Result};
use crate::export::{Endpoint, ExportBody, VerificationId};
use crate::multipart::Boundary;
use crate::stored::StoredVerification;
use crate::{ConnectionLimits, Server};
use auth::Credentials;
use fault::Faults;
use reply::Failure;

/// The largest `result.json` served; a bigger one is answered as a server error.
const MAX_RESULT_BYTES: u64 = 16 << 20;

const LOG_TARGET: &str = "authenteq_export::server";

/// The emulator of the API's export endpoints: made by [`Emulator::builder`], then served with
/// [`spawn`](Self::spawn) or [`bind`](Self::bind), or mounted with [`router`](Self::router).
///
/// Cheap to clone: clones share their settings, faults and request count.
///
/// # Examples
///
/// ```
/// use authenteq_export::server::Emulator;
///
/// let folder = tempfile::tempdir()?;
/// let emulator = Emulator::builder(folder.path()).build()?;
/// assert_eq!(emulator.requests(), 0);
/// # Ok::<(), authenteq_export::Error>(())
/// ```
#[derive(Clone)]
pub struct Emulator {
    settings: Arc<Settings>,
    requests: Arc<AtomicU64>,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("dir", &self.settings.dir)
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// A builder for an emulator serving the verifications stored under `dir`.
    ///
    /// Defaults: client id `client-id` and secret `client-secret`, the account active, no
    /// faults.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::server::Emulator;
    ///
    /// let builder = Emulator::builder("verifications").credentials("id", "secret").deactivated(true);
    /// assert!(!format!("{builder:?}").contains("secret\""));
    /// ```
    pub fn builder(dir: impl Into<PathBuf>) -> EmulatorBuilder {
        EmulatorBuilder {
            dir: dir.into(),
            credentials: Credentials::new("client-id".into(), "client-secret".into()),
            deactivated: false,
            faults: Vec::new(),
            faulty_answers: None,
            connections: ConnectionLimits::default(),
        }
    }
}

/// Settings of an emulator: where its verifications are, the credentials it accepts, whether the
/// account is deactivated, and the faults it injects. `Debug` never shows the secret.
#[derive(Debug, Clone)]
pub struct EmulatorBuilder {
    dir: PathBuf,
    credentials: Credentials,
    deactivated: bool,
    faults: Vec<Fault>,
    faulty_answers: Option<u64>,
    connections: ConnectionLimits,
}

impl EmulatorBuilder {
    /// The client id and secret that requests must carry (`Authorization: Basic
    /// base64(id:secret)`).
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = authenteq_export::server::Emulator::builder("dir").credentials("id", "secret");
    /// # let _ = builder;
    /// ```
    pub fn credentials(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.credentials = Credentials::new(id.into(), secret.into());
        self
    }

    /// Whether the account is deactivated: then every authenticated request is answered
    /// `ACCOUNT_DEACTIVATED` (403).
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = authenteq_export::server::Emulator::builder("dir").deactivated(true);
    /// # let _ = builder;
    /// ```
    pub fn deactivated(mut self, deactivated: bool) -> Self {
        self.deactivated = deactivated;
        self
    }

    /// Adds a fault to inject; faults add up (see [`Fault`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::server::{Emulator, Fault};
    ///
    /// let builder = Emulator::builder("dir")
    ///     .fault(Fault::Drip { bytes_per_second: 4096 })
    ///     .fault(Fault::Garble { offset: 100 });
    /// # let _ = builder;
    /// ```
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Applies the body faults ([`Fault::CloseAfter`], [`Fault::StallAfter`], [`Fault::Drip`],
    /// [`Fault::Garble`]) to the first `answers` successful answers only, counted across all
    /// endpoints; the later ones are sent whole (default: every successful answer is faulty).
    /// With `1`, a client that retries a cut body gets it whole the second time.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::server::{Emulator, Fault};
    ///
    /// // The first answer is cut after 5000 body bytes, the next ones are whole.
    /// let builder = Emulator::builder("dir")
    ///     .fault(Fault::CloseAfter { bytes: 5000 })
    ///     .faulty_answers(1);
    /// # let _ = builder;
    /// ```
    pub fn faulty_answers(mut self, answers: u64) -> Self {
        self.faulty_answers = Some(answers);
        self
    }

    /// The limits of its connections ([`ConnectionLimits::default`]: a 20 s head timeout, a
    /// 30 s idle timeout, connections up to the open-file limit), so that a test suite that
    /// forgets a client does not keep its connection open.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use authenteq_export::{server::Emulator, ConnectionLimits};
    ///
    /// let builder = Emulator::builder("dir")
    ///     .connections(ConnectionLimits::default().idle_timeout(Duration::from_secs(5)));
    /// # let _ = builder;
    /// ```
    pub fn connections(mut self, limits: ConnectionLimits) -> Self {
        self.connections = limits;
        self
    }

    /// The emulator.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when the folder of verifications is not an
    /// existing folder: an emulator that answers 404 to everything helps nobody.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::server::Emulator;
    ///
    /// let missing = Emulator::builder("/no/such/folder").build().unwrap_err();
    /// assert!(missing.to_string().contains("/no/such/folder"), "{missing}");
    /// ```
    pub fn build(self) -> Result<Emulator> {
        match std::fs::metadata(&self.dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(Error::new(
                    crate::ErrorKind::Io,
                    format!(
                        "the emulator's folder {} is a file: give the folder that holds one \
                         folder per verification id",
                        self.dir.display()
                    ),
                ))
            }
            Err(e) => {
                return Err(Error::with_source(
                    crate::ErrorKind::Io,
                    format!(
                        "the emulator's folder {} cannot be read: give the folder that holds \
                         one folder per verification id",
                        self.dir.display()
                    ),
                    e,
                ))
            }
        }
        Ok(Emulator {
            settings: Arc::new(Settings {
                dir: self.dir,
                credentials: self.credentials,
                deactivated: self.deactivated,
                faults: Faults::new(&self.faults, self.faulty_answers),
                connections: self.connections,
            }),
            requests: Arc::new(AtomicU64::new(0)),
        })
    }
}

impl Emulator {
    /// The emulator as an axum [`Router`], to mount in a server of your own. Its stalls
    /// ([`Fault::StallAfter`]) last until the router is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # let folder = tempfile::tempdir()?;
    /// let emulator = authenteq_export::server::Emulator::builder(folder.path()).build()?;
    /// let app = axum::Router::new().merge(emulator.router());
    /// # let _ = app;
    /// # Ok::<(), authenteq_export::Error>(())
    /// ```
    pub fn router(&self) -> Router {
        let (stop, stopped) = watch::channel(false);
        self.app(stopped, Some(stop))
    }

    /// The router of one serving: stalls end when `stopped` turns true. `keep` is a sender to
    /// keep alive as long as the router, for a router that is never stopped.
    fn app(&self, stopped: watch::Receiver<bool>, keep: Option<watch::Sender<bool>>) -> Router {
        let app = Arc::new(App {
            settings: Arc::clone(&self.settings),
            requests: Arc::clone(&self.requests),
            stopped,
            _keep: keep,
        });
        let mut router = Router::new();
        for endpoint in Endpoint::ALL {
            router = router.route(endpoint.path(), get(export));
        }
        router
            .layer(middleware::from_fn_with_state(app.clone(), observe))
            .with_state(app)
    }

    /// Starts the emulator on `127.0.0.1` at a free port, in a task of the current tokio
    /// runtime.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when no socket can be bound.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// See the [module documentation](self).
    pub async fn spawn(&self) -> Result<Server<Emulator>> {
        self.bind(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts the emulator on `addr`, in a task of the current tokio runtime. Stopping the
    /// [`Server`] ends its stalls and drips too.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when `addr` cannot be bound.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::server::Emulator;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let folder = tempfile::tempdir()?;
    /// let server = Emulator::builder(folder.path()).build()?.bind("127.0.0.1:0".parse()?).await?;
    /// assert_eq!(server.addr().ip().to_string(), "127.0.0.1");
    /// server.shutdown().await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn bind(&self, addr: SocketAddr) -> Result<Server<Emulator>> {
        let limits = self.settings.connections;
        Server::bind(
            addr,
            "emulator",
            limits,
            self.clone(),
            |emulator, signals| emulator.app(signals.stopping, None),
        )
        .await
    }

    /// How many requests it has received so far, on any path, whatever their answer, across
    /// every serving of it (and its clones).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let folder = tempfile::tempdir()?;
    /// let server = authenteq_export::server::Emulator::builder(folder.path()).build()?.spawn().await?;
    /// assert_eq!(server.requests(), 0); // a `Server<Emulator>` is also its emulator
    /// server.shutdown().await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// What every serving of one emulator shares.
struct Settings {
    dir: PathBuf,
    credentials: Credentials,
    deactivated: bool,
    faults: Faults,
    connections: ConnectionLimits,
}

/// What the handlers of one router share.
struct App {
    settings: Arc<Settings>,
    /// Requests answered (or being answered), every endpoint and outcome.
    requests: Arc<AtomicU64>,
    /// Turns `true` when the server stops; stalls and drips end then.
    stopped: watch::Receiver<bool>,
    _keep: Option<watch::Sender<bool>>,
}

/// A request whose credentials are good, for an active account.
struct Authorized;

impl FromRequestParts<Arc<App>> for Authorized {
    type Rejection = Failure;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> std::result::Result<Self, Failure> {
        app.settings
            .credentials
            .check(parts.headers.get(header::AUTHORIZATION))?;
        if app.settings.deactivated {
            return Err(Failure::deactivated());
        }
        Ok(Authorized)
    }
}

/// The request's endpoint and `verificationId`, checked.
struct Requested(Endpoint, VerificationId);

impl<S: Send + Sync> FromRequestParts<S> for Requested {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> std::result::Result<Self, Failure> {
        let endpoint = Endpoint::ALL
            .into_iter()
            .find(|e| e.path() == parts.uri.path())
            .ok_or_else(Failure::not_found)?;
        let Query(params) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|_| Failure::invalid_parameter())?;
        let mut ids = params
            .into_iter()
            .filter(|(name, _)| name == "verificationId")
            .map(|(_, value)| value);
        let id = ids.next().ok_or_else(Failure::missing_parameter)?;
        if ids.next().is_some() {
            return Err(Failure::invalid_parameter());
        }
        let id = VerificationId::new(id).map_err(|_| Failure::invalid_parameter())?;
        Ok(Requested(endpoint, id))
    }
}

type Answer = std::result::Result<Response, Failure>;

/// Every endpoint: the stored verification `id`, encoded as `endpoint` asks.
async fn export(
    State(app): State<Arc<App>>,
    _: Authorized,
    Requested(endpoint, id): Requested,
) -> Answer {
    let stored = StoredVerification::open(&app.settings.dir.join(id.as_str()))
        .await
        .map_err(internal)?
        .ok_or_else(Failure::not_found)?;
    if endpoint == Endpoint::Pdf {
        if let Some((path, len)) = &stored.pdf {
            let file = tokio::fs::File::open(path).await.map_err(internal)?;
            let body = ExportBody::raw("application/pdf", *len, file).map_err(encode_failure)?;
            return Ok(streamed(body));
        }
    }
    let result = stored
        .read_result(MAX_RESULT_BYTES)
        .await
        .map_err(internal)?
        .ok_or_else(Failure::not_found)?;
    let body = match endpoint {
        Endpoint::Pdf => {
            let result: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&result).map_err(|_| {
                    tracing::warn!(target: LOG_TARGET, "a stored result.json is not a JSON object");
                    Failure::internal()
                })?;
            return Ok((
                [(header::CONTENT_TYPE, "application/pdf")],
                pdf::summary_pdf(&result),
            )
                .into_response());
        }
        Endpoint::Json => ExportBody::json(&result, stored.open_files().await.map_err(internal)?),
        _ => ExportBody::multipart(
            Boundary::random(),
            Bytes::from(result),
            stored.open_files().await.map_err(internal)?,
        ),
    };
    Ok(streamed(body.map_err(encode_failure)?))
}

fn internal(e: std::io::Error) -> Failure {
    tracing::warn!(target: LOG_TARGET, error = %e, "cannot read a stored verification");
    Failure::internal()
}

fn encode_failure(e: Error) -> Failure {
    tracing::warn!(target: LOG_TARGET, error = %e, "a stored verification cannot be encoded");
    Failure::internal()
}

fn streamed(body: ExportBody<tokio::fs::File>) -> Response {
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(body.content_type()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(body.content_length()),
    );
    *response.body_mut() = Body::from_stream(body);
    response
}

/// The one layer over every endpoint: the busy faults, the body faults, and the log line.
async fn observe(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    app.requests.fetch_add(1, Ordering::Relaxed);
    let response = match app.settings.faults.busy() {
        Some((status, retry_after)) => Failure::busy(status, retry_after).into_response(),
        None => next.run(request).await,
    };
    let (mut parts, body) = response.into_parts();
    if !parts.headers.contains_key(header::CONTENT_LENGTH) {
        if let Some(len) = body.size_hint().exact() {
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
    }
    let body = if parts.status == StatusCode::OK && app.settings.faults.faulty_body() {
        app.settings.faults.wrap(body, app.stopped.clone())
    } else {
        body
    };
    let expected = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let logged = Logged {
        inner: body.into_data_stream(),
        expected,
        path,
        status: parts.status,
        bytes: 0,
        complete: false,
    };
    Response::from_parts(parts, Body::from_stream(logged))
}

/// A body that logs its request's line when it ends (or is dropped unfinished).
struct Logged {
    inner: BodyDataStream,
    path: String,
    status: StatusCode,
    /// The `Content-Length`: the server stops asking for chunks once it is sent.
    expected: Option<u64>,
    bytes: u64,
    complete: bool,
}

impl Stream for Logged {
    type Item = std::result::Result<Bytes, axum::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = ready!(Pin::new(&mut this.inner).poll_next(cx));
        match &item {
            Some(Ok(chunk)) => {
                this.bytes += chunk.len() as u64;
                this.complete = this.expected == Some(this.bytes);
            }
            None => this.complete = this.expected.is_none_or(|n| n == this.bytes),
            Some(Err(_)) => {}
        }
        Poll::Ready(item)
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        tracing::info!(
            target: LOG_TARGET,
            path = %self.path,
            status = self.status.as_u16(),
            bytes = self.bytes,
            complete = self.complete,
            "request"
        );
    }
}
