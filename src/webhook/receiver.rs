//! The receiver: an axum router that verifies deliveries as they stream and stores the verified
//! ones, once per verification id.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use futures_core::Stream;
use tokio::sync::watch;

use super::metrics::{self, InFlight, Outcome};
use super::pace::{Budget, MinRate, Paced, Ticket};
use super::verify::{Delivery, Verifier, WebhookKey, CLIENT_ID_HEADER, SIGNATURE_HEADER};
use crate::driver::BoxError;
use crate::error::{Error, ErrorKind, Result};
use crate::export::{ExportItem, ExportLimits, VerificationId, VerificationResult};
use crate::save::{file_name, RESULT_JSON};
use crate::serving::Connection;
use crate::store::{Committed, FolderSink, Manifest, ManifestFile, Sink, Staging};
use crate::{ConnectionLimits, Server};

/// The body cap of a receiver unless [`ReceiverBuilder::max_body_bytes`] says otherwise:
/// 128 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 128 << 20;

/// The slowest a body may come unless [`ReceiverBuilder::min_body_rate`] says otherwise:
/// 1 KiB a second, on average over each [`DEFAULT_MIN_RATE_WINDOW`].
pub const DEFAULT_MIN_BODY_RATE: u64 = 1024;

/// The window of the minimum rate: 20 s (as Apache's `mod_reqtimeout` `MinRate`).
pub const DEFAULT_MIN_RATE_WINDOW: Duration = Duration::from_secs(20);

/// The longest one delivery may take, head to last byte and stored, unless
/// [`ReceiverBuilder::delivery_timeout`] says otherwise: 10 minutes.
pub const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(600);

/// The most bytes of deliveries not yet verified held at once, across all of them, unless
/// [`ReceiverBuilder::unverified_bytes`] says otherwise: 160 MiB, above the default body cap
/// so that one delivery of the cap fits.
pub const DEFAULT_UNVERIFIED_BYTES: u64 = 160 << 20;

/// The longest the application's handler may take with one stored verification unless
/// [`ReceiverBuilder::handler_timeout`] says otherwise: 30 s.
pub const DEFAULT_HANDLER_TIMEOUT: Duration = Duration::from_secs(30);

/// What an HTTP/1 body's framing (chunk-size lines, extensions) may add to the body cap on
/// the wire: 64 KiB plus 1/64 of the cap.
fn framing_allowance(max_body_bytes: u64) -> u64 {
    (64 << 10) + max_body_bytes / 64
}

/// A receiver of signed webhook deliveries that stores each verified one through a
/// [`Sink`]: a [`FolderSink`] (`DIR/<id>/`, `split`'s layout plus `manifest.json`), an
/// `ObjectSink` (S3 and the other object stores), or one of your own.
///
/// It answers a `POST` on any path (mount [`router`](Self::router) where you like), with a
/// `multipart/mixed` or `multipart/form-data` body, with a `Content-Length` or chunked:
///
/// | delivery | answer | stored |
/// |---|---|---|
/// | client id and signature match (of any of its keys), new id | `200` | `<id>/`: `result.json` and each file, then `manifest.json`, all only after the check |
/// | the same, an id stored already (its manifest is there) | `200` | nothing (the first copy stays as it is) |
/// | no or another `X-CLIENT-ID`, no `X-SIGNATURE`, or a signature that does not match | `401` | nothing |
/// | malformed or cut body, a result that is no JSON or has no `id`, an `id` that is no [`VerificationId`], a file before the result | `400` (a body cut on the wire: the connection is gone) | nothing |
/// | over the body cap, by `Content-Length` or as it streams | `413` | nothing |
/// | not a `POST` | `405` | nothing |
///
/// Nothing is claimed before the signature matched: deliveries of one id at the same time
/// (a retry racing the first try, or an unsigned copy from someone who knows the id) are each
/// staged on their own, unseen, and only a verified one commits; the store's create-once
/// manifest decides which commit is the record, and the others answer `200` too. So an
/// unsigned or dripping delivery cannot block, delay or change a verified one. A refused
/// delivery is discarded before the answer goes out: no file, no folder, no unfinished
/// upload.
///
/// The body is never logged: one `tracing` line per delivery gives the outcome, bytes and time
/// (and, once verified, the id and the key that matched, by its label or position; never a
/// secret).
///
/// # Examples
///
/// ```no_run
/// use authenteq_export::store::FolderSink;
/// use authenteq_export::webhook::{Receiver, WebhookKey};
///
/// # async fn run() -> authenteq_export::Result<()> {
/// let receiver = Receiver::builder(FolderSink::create("deliveries")?)
///     .key(WebhookKey::new("my-client-id", "my-client-secret"))
///     .build()?;
/// let app: axum::Router = axum::Router::new().nest_service("/authenteq", receiver.router());
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
pub struct Receiver<S = FolderSink> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Receiver<S> {
    fn clone(&self) -> Self {
        Receiver {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<S> {
    sink: S,
    keys: Vec<WebhookKey>,
    max_body_bytes: u64,
    limits: ExportLimits,
    rate: MinRate,
    delivery_timeout: Duration,
    budget: Arc<Budget>,
    connections: ConnectionLimits,
    handler: Option<Handler>,
    handler_timeout: Duration,
}

/// The application's handler, boxed.
type Handler = Arc<
    dyn Fn(
            StoredVerification,
        ) -> Pin<Box<dyn Future<Output = std::result::Result<(), BoxError>> + Send>>
        + Send
        + Sync,
>;

/// A verification the receiver stored, as its handler ([`ReceiverBuilder::on_stored`]) gets
/// it: the typed result, the manifest (each file's name, size, SHA-256 and content type) and
/// where each file is, readable when the handler runs.
///
/// Its `Debug` shows the files' names and sizes, not the id or anything of the result.
#[derive(Clone)]
pub struct StoredVerification {
    id: VerificationId,
    result: Arc<VerificationResult>,
    manifest: Manifest,
    locations: Vec<String>,
    key: usize,
    stored: bool,
}

impl fmt::Debug for StoredVerification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredVerification")
            .field("manifest", &self.manifest)
            .field("stored", &self.stored)
            .finish_non_exhaustive()
    }
}

impl StoredVerification {
    /// The verification id.
    pub fn id(&self) -> &VerificationId {
        &self.id
    }

    /// The verification's result, as the delivery (verified) carried it.
    pub fn result(&self) -> &VerificationResult {
        &self.result
    }

    /// The manifest that is stored: every file with its name, size, SHA-256 and content type.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Each file of the manifest, in its order, with where it is: a path for a
    /// [`FolderSink`], an object key for an `ObjectSink` (see [`Sink::location`]).
    pub fn files(&self) -> impl Iterator<Item = (&ManifestFile, &str)> {
        self.manifest
            .files()
            .iter()
            .zip(self.locations.iter().map(String::as_str))
    }

    /// The position of the key the delivery matched (see [`ReceiverBuilder::key`]).
    pub fn key(&self) -> usize {
        self.key
    }

    /// Whether this delivery stored the verification; `false` when it was stored before (a
    /// repeat, handed over again because no earlier call succeeded).
    pub fn newly_stored(&self) -> bool {
        self.stored
    }
}

impl<S: fmt::Debug> fmt::Debug for Receiver<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("sink", &self.inner.sink)
            .field("keys", &self.inner.keys)
            .field("max_body_bytes", &self.inner.max_body_bytes)
            .finish_non_exhaustive()
    }
}

/// Settings of a [`Receiver`], with documented defaults.
///
/// | setting | default |
/// |---|---|
/// | [`key`](Self::key), [`keys`](Self::keys) | at least one required |
/// | [`max_body_bytes`](Self::max_body_bytes) | [`DEFAULT_MAX_BODY_BYTES`] (128 MiB) |
/// | [`min_body_rate`](Self::min_body_rate) | [`DEFAULT_MIN_BODY_RATE`] (1 KiB/s) over [`DEFAULT_MIN_RATE_WINDOW`] (20 s) |
/// | [`delivery_timeout`](Self::delivery_timeout) | [`DEFAULT_DELIVERY_TIMEOUT`] (10 min) |
/// | [`unverified_bytes`](Self::unverified_bytes) | [`DEFAULT_UNVERIFIED_BYTES`] (160 MiB) |
/// | [`connections`](Self::connections) | [`ConnectionLimits::default`] (20 s head, 30 s idle) |
/// | [`limits`](Self::limits) | [`ExportLimits::default`] |
/// | [`on_stored`](Self::on_stored) | none: stored is handled |
/// | [`handler_timeout`](Self::handler_timeout) | [`DEFAULT_HANDLER_TIMEOUT`] (30 s) |
pub struct ReceiverBuilder<S> {
    sink: S,
    keys: Vec<WebhookKey>,
    max_body_bytes: u64,
    limits: ExportLimits,
    rate: MinRate,
    delivery_timeout: Duration,
    unverified_bytes: u64,
    connections: ConnectionLimits,
    handler: Option<Handler>,
    handler_timeout: Duration,
}

impl<S: fmt::Debug> fmt::Debug for ReceiverBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverBuilder")
            .field("sink", &self.sink)
            .field("keys", &self.keys)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("on_stored", &self.handler.is_some())
            .field("handler_timeout", &self.handler_timeout)
            .finish_non_exhaustive()
    }
}

impl<S> Receiver<S>
where
    S: Sink + fmt::Debug + 'static,
    S::Staging: 'static,
{
    /// Settings for a receiver that stores into `sink`: each verified delivery as
    /// `<id>/<file name>` plus `<id>/manifest.json`, written last (its content types as the
    /// parts declared them, and each file's SHA-256), the way `store::fetch_into` stores a
    /// download. An id whose manifest is there is answered `200` and not stored again,
    /// whoever stored it (another receiver, or a `fetch` into the same place).
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::store::FolderSink;
    /// use authenteq_export::webhook::{Receiver, WebhookKey};
    ///
    /// # fn main() -> authenteq_export::Result<()> {
    /// # let folder = tempfile::tempdir().unwrap();
    /// let receiver = Receiver::builder(FolderSink::create(folder.path())?)
    ///     .key(WebhookKey::new("my-client-id", "my-client-secret"))
    ///     .max_body_bytes(64 << 20)
    ///     .build()?;
    /// # let _ = receiver;
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder(sink: S) -> ReceiverBuilder<S> {
        ReceiverBuilder {
            sink,
            keys: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            limits: ExportLimits::default(),
            rate: MinRate {
                bytes_per_second: DEFAULT_MIN_BODY_RATE,
                window: DEFAULT_MIN_RATE_WINDOW,
            },
            delivery_timeout: DEFAULT_DELIVERY_TIMEOUT,
            unverified_bytes: DEFAULT_UNVERIFIED_BYTES,
            connections: ConnectionLimits::default(),
            handler: None,
            handler_timeout: DEFAULT_HANDLER_TIMEOUT,
        }
    }

    /// The sink it stores into.
    pub fn sink(&self) -> &S {
        &self.inner.sink
    }

    /// Bytes of deliveries not yet verified that it holds right now (see
    /// [`ReceiverBuilder::unverified_bytes`]).
    pub fn unverified_bytes(&self) -> u64 {
        self.inner.budget.used()
    }

    /// The budget of unverified bytes, for the admin router's gauge.
    pub(super) fn budget(&self) -> Arc<Budget> {
        Arc::clone(&self.inner.budget)
    }

    /// The limits of its connections as a server.
    pub(super) fn connection_limits(&self) -> ConnectionLimits {
        self.inner.connections
    }

    /// The axum router to mount: a `POST` on any path is a delivery.
    pub fn router(&self) -> Router {
        self.router_until(None)
    }

    fn router_until(&self, cut: Option<watch::Receiver<bool>>) -> Router {
        Router::new().fallback(handle::<S>).with_state(Routed {
            receiver: self.clone(),
            cut,
        })
    }

    /// Receives one delivery: its headers and body, as an axum handler would.
    pub async fn receive<B, E>(&self, headers: &HeaderMap, body: B) -> Response
    where
        B: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: Into<BoxError>,
    {
        answer(&self.inner, headers, body, None).await
    }

    /// Starts the receiver on `127.0.0.1` at a free port, in a task of the current tokio
    /// runtime.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when no socket can be bound.
    pub async fn spawn(&self) -> Result<Server<Receiver<S>>> {
        self.bind(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts the receiver on `addr`, in a task of the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when `addr` cannot be bound.
    pub async fn bind(&self, addr: SocketAddr) -> Result<Server<Receiver<S>>> {
        let limits = self.inner.connections;
        Server::bind(
            addr,
            "receiver",
            limits,
            self.clone(),
            |receiver, signals| receiver.router_until(Some(signals.cut)),
        )
        .await
    }
}

impl<S> ReceiverBuilder<S> {
    /// Adds a client id, secret and scheme deliveries are checked against; at least one is
    /// required. Called again, it adds another key: a delivery is accepted when it matches
    /// any of them (while a secret is rotated, deliveries signed with the old one keep coming
    /// for a week of retries). Every key is checked in the same single pass over the body (see
    /// [`Verifier`]). The log line of a delivery names the key that matched by its
    /// [label](WebhookKey::label), or else by its position (`0` for the first key added),
    /// never by its secret.
    pub fn key(mut self, key: WebhookKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Adds several keys, in order, as [`key`](Self::key) does one by one.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::store::FolderSink;
    /// use authenteq_export::webhook::{Receiver, WebhookKey};
    ///
    /// # fn main() -> authenteq_export::Result<()> {
    /// # let folder = tempfile::tempdir().unwrap();
    /// let receiver = Receiver::builder(FolderSink::create(folder.path())?)
    ///     .keys([
    ///         WebhookKey::new("my-client-id", "the-new-secret").label("current"),
    ///         WebhookKey::new("my-client-id", "the-old-secret").label("previous"),
    ///     ])
    ///     .build()?;
    /// # let _ = receiver;
    /// # Ok(())
    /// # }
    /// ```
    pub fn keys(mut self, keys: impl IntoIterator<Item = WebhookKey>) -> Self {
        self.keys.extend(keys);
        self
    }

    /// The most bytes a delivery's body may have, by its `Content-Length` or as it streams;
    /// default [`DEFAULT_MAX_BODY_BYTES`] (128 MiB). axum's own body limit does not apply to a
    /// streamed body: this is the one that does.
    pub fn max_body_bytes(mut self, n: u64) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// The export limits of the decoder (files per delivery, result size...); their
    /// `max_body_bytes` is replaced by [`max_body_bytes`](Self::max_body_bytes).
    pub fn limits(mut self, limits: ExportLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The slowest a body may come: a window of `window` (at least 1 ms) that brings fewer
    /// than `bytes_per_second` bytes a second on average ends the delivery, answered `408`
    /// (in the manner of Apache's `mod_reqtimeout` `MinRate`). Default
    /// [`DEFAULT_MIN_BODY_RATE`] (1 KiB/s) over [`DEFAULT_MIN_RATE_WINDOW`] (20 s); `0` bytes
    /// turns it off.
    pub fn min_body_rate(mut self, bytes_per_second: u64, window: Duration) -> Self {
        self.rate = MinRate {
            bytes_per_second,
            window: window.max(Duration::from_millis(1)),
        };
        self
    }

    /// The longest one delivery may take, from its head to its answer: past it, it ends with
    /// `408`, nothing stored. Default [`DEFAULT_DELIVERY_TIMEOUT`] (10 minutes).
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.delivery_timeout = timeout;
        self
    }

    /// The most bytes held at once, across every delivery, before their signatures are
    /// checked; at least [`max_body_bytes`](Self::max_body_bytes). When a delivery needs room,
    /// an unverified delivery that has made no progress for a second (the stalest) is ended
    /// (`503`, nothing stored) to make it; else the delivery waits for deliveries ahead of it
    /// to finish, the oldest one ending the youngest when it needs room itself. Default
    /// [`DEFAULT_UNVERIFIED_BYTES`] (160 MiB), whatever the body cap is.
    pub fn unverified_bytes(mut self, n: u64) -> Self {
        self.unverified_bytes = n;
        self
    }

    /// The limits of its connections when it runs as a server ([`Receiver::spawn`],
    /// [`Receiver::bind`]); default [`ConnectionLimits::default`].
    pub fn connections(mut self, limits: ConnectionLimits) -> Self {
        self.connections = limits;
        self
    }

    /// Hands each stored verification to the application, **at least once**: `handler` is
    /// called with a [`StoredVerification`] (the typed result, the manifest, where each file
    /// is) after the commit (every file and the manifest in place, readable) and before the
    /// answer.
    ///
    /// - `Ok(())`: handled. The receiver records it durably in the store with a create-once
    ///   marker, `<id>/handled.json` ([`HANDLED_JSON`](crate::store::HANDLED_JSON), through
    ///   [`Sink::mark_handled`]), then answers `200`.
    /// - An error, a panic, or no answer within [`handler_timeout`](Self::handler_timeout)
    ///   (the call is then dropped): the delivery is answered `500`, so that the vendor
    ///   delivers it again (hourly, for a week). The files stay stored.
    /// - A later delivery of that id (signed) is not stored again; without the marker, the
    ///   handler is called again, until a call succeeds; with it, the delivery is answered
    ///   `200` without a call.
    ///
    /// So the handler must be **idempotent by verification id**: it may see one id more than
    /// once (a call that succeeded but whose marker could not be written, two deliveries of
    /// one id at once, or several receivers on one store), and never sees an id whose files
    /// are not all stored. The log line of each delivery says how the hand-off went, never
    /// what the handler's error said (log it in the handler if you need it).
    ///
    /// The sink must keep the marker ([`Sink::is_handled`], [`Sink::mark_handled`]): the
    /// crate's backends do; a sink of your own without them answers `500` every time.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::store::FolderSink;
    /// use authenteq_export::webhook::{Receiver, StoredVerification, WebhookKey};
    ///
    /// # fn main() -> authenteq_export::Result<()> {
    /// # let folder = tempfile::tempdir().unwrap();
    /// let receiver = Receiver::builder(FolderSink::create(folder.path())?)
    ///     .key(WebhookKey::new("my-client-id", "my-client-secret"))
    ///     .on_stored(|stored: StoredVerification| async move {
    ///         // Move the customer's onboarding on: idempotent by `stored.id()`.
    ///         for (file, location) in stored.files() {
    ///             let _ = (file.name(), file.sha256(), location);
    ///         }
    ///         Ok::<(), std::io::Error>(())
    ///     })
    ///     .build()?;
    /// # let _ = receiver;
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_stored<F, Fut, E>(mut self, handler: F) -> Self
    where
        F: Fn(StoredVerification) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        self.handler = Some(Arc::new(move |stored| {
            let called = handler(stored);
            Box::pin(async move { called.await.map_err(Into::into) })
        }));
        self
    }

    /// The longest one call of the [`on_stored`](Self::on_stored) handler may take: past it,
    /// the call is dropped and the delivery answered `500`. Default
    /// [`DEFAULT_HANDLER_TIMEOUT`] (30 s).
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = timeout;
        self
    }

    /// The receiver.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] without a [`key`](Self::key), or with
    /// [`unverified_bytes`](Self::unverified_bytes) under
    /// [`max_body_bytes`](Self::max_body_bytes) (a body of the cap could never be received).
    pub fn build(self) -> Result<Receiver<S>> {
        if self.keys.is_empty() {
            return Err(Error::new(ErrorKind::Usage, "a receiver needs a key"));
        }
        if self.unverified_bytes < self.max_body_bytes {
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "unverified_bytes ({}) is under max_body_bytes ({}): a body of the cap could \
                     never be received; raise unverified_bytes (--unverified-bytes) to at least \
                     the cap",
                    self.unverified_bytes, self.max_body_bytes
                ),
            ));
        }
        Ok(Receiver {
            inner: Arc::new(Inner {
                sink: self.sink,
                keys: self.keys,
                max_body_bytes: self.max_body_bytes,
                limits: self.limits.max_body_bytes(self.max_body_bytes),
                rate: self.rate,
                delivery_timeout: self.delivery_timeout,
                budget: Arc::new(Budget::new(self.unverified_bytes)),
                connections: self.connections,
                handler: self.handler,
                handler_timeout: self.handler_timeout,
            }),
        })
    }
}

/// A receiver's router state: the receiver, and its server's drain deadline.
struct Routed<S> {
    receiver: Receiver<S>,
    cut: Option<watch::Receiver<bool>>,
}

impl<S> Clone for Routed<S> {
    fn clone(&self) -> Self {
        Routed {
            receiver: self.receiver.clone(),
            cut: self.cut.clone(),
        }
    }
}

async fn handle<S>(State(routed): State<Routed<S>>, request: Request) -> Response
where
    S: Sink + fmt::Debug + 'static,
    S::Staging: 'static,
{
    if request.method() != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "deliveries are POSTed\n",
        )
            .into_response();
    }
    let inner = &routed.receiver.inner;
    // On HTTP/1 the wire carries the body's chunk framing too: it counts towards the cap.
    let connection = (request.version() <= Version::HTTP_11)
        .then(|| request.extensions().get::<Arc<Connection>>().cloned())
        .flatten();
    if let Some(connection) = &connection {
        connection.limit_reading(inner.max_body_bytes + framing_allowance(inner.max_body_bytes));
    }
    let (parts, body) = request.into_parts();
    let answered = answer(
        inner,
        &parts.headers,
        Body::into_data_stream(body),
        routed.cut.clone(),
    )
    .await;
    if let Some(connection) = &connection {
        connection.unlimit_reading();
    }
    answered
}

/// What a verified delivery came to.
struct Received {
    id: VerificationId,
    /// The position of the key that matched.
    key: usize,
    /// Whether this delivery stored it (else it was stored already).
    stored: bool,
    handoff: Handoff,
}

/// How the hand-off to the application went.
enum Handoff {
    /// No handler.
    None,
    /// The handler succeeded now.
    Done,
    /// An earlier call succeeded: no call.
    AlreadyDone,
    /// The handler failed, panicked or timed out, or the marker could not be read or written.
    Failed(Error),
}

/// A delivery refused: the error it is answered with, what it counts as in the metrics, and
/// the key its signature matched when the failure came after that (a commit that failed).
struct Refused {
    error: Error,
    outcome: Outcome,
    key: Option<usize>,
}

impl Refused {
    /// A failure of the store (or of staging in it), whatever its kind.
    fn store(error: Error) -> Refused {
        Refused {
            error,
            outcome: Outcome::StoreFailed,
            key: None,
        }
    }

    /// A refusal counted as `outcome`.
    fn counted(error: Error, outcome: Outcome) -> Refused {
        Refused {
            error,
            outcome,
            key: None,
        }
    }
}

/// A failure of the delivery itself (its headers, body, pace or signature), counted by kind.
impl From<Error> for Refused {
    fn from(error: Error) -> Refused {
        Refused {
            outcome: Outcome::of_delivery(error.kind()),
            error,
            key: None,
        }
    }
}

async fn answer<K, B, E>(
    inner: &Inner<K>,
    headers: &HeaderMap,
    body: B,
    cut: Option<watch::Receiver<bool>>,
) -> Response
where
    K: Sink,
    B: Stream<Item = std::result::Result<Bytes, E>> + Send,
    E: Into<BoxError>,
{
    let started = Instant::now();
    let in_flight = InFlight::start();
    let mut bytes = 0;
    let outcome = receive(inner, headers, body, &mut bytes, cut).await;
    let took = started.elapsed();
    drop(in_flight);
    let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    let (status, text) = match &outcome {
        Ok(received) => {
            let key = key_name(&inner.keys, received.key);
            metrics::verified(&key);
            if let Handoff::Failed(err) = &received.handoff {
                // The kind and the message: ours, never the handler's error.
                tracing::warn!(
                    id = %received.id,
                    outcome = "hand-off failed",
                    stored = received.stored,
                    key,
                    status = 500,
                    error = %err,
                    bytes,
                    ms,
                    "webhook delivery"
                );
                metrics::delivery(Outcome::HandoffFailed, bytes, took);
                (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n"))
            } else {
                let (counted, outcome) = if received.stored {
                    (Outcome::Stored, "stored")
                } else {
                    (Outcome::Repeat, "already stored")
                };
                let handoff = match &received.handoff {
                    Handoff::Done => Some("done"),
                    Handoff::AlreadyDone => Some("done before"),
                    Handoff::None | Handoff::Failed(_) => None,
                };
                tracing::info!(id = %received.id, outcome, key, handoff, bytes, ms, "webhook delivery");
                metrics::delivery(counted, bytes, took);
                (StatusCode::OK, format!("{outcome}\n"))
            }
        }
        Err(refused) => {
            let err = &refused.error;
            let status = StatusCode::from_u16(err.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            // Its signature matched before the failure (a commit that failed): counted.
            if let Some(key) = refused.key {
                metrics::verified(&key_name(&inner.keys, key));
            }
            // The kind and place only: a JSON error's message can quote the body.
            tracing::warn!(
                outcome = "refused",
                status = status.as_u16(),
                kind = ?err.kind(),
                offset = err.offset(),
                bytes,
                ms,
                "webhook delivery"
            );
            metrics::delivery(refused.outcome, bytes, took);
            let text = if err.kind() == ErrorKind::Json {
                "invalid json in the result part\n".to_owned()
            } else {
                format!("{err}\n")
            };
            (status, text)
        }
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// Checks the headers, reads and verifies the body, and stores it if it is new.
async fn receive<K, B, E>(
    inner: &Inner<K>,
    headers: &HeaderMap,
    body: B,
    bytes: &mut u64,
    cut: Option<watch::Receiver<bool>>,
) -> std::result::Result<Received, Refused>
where
    K: Sink,
    B: Stream<Item = std::result::Result<Bytes, E>> + Send,
    E: Into<BoxError>,
{
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(length) = header(header::CONTENT_LENGTH.as_str()) {
        if length
            .trim()
            .parse::<u64>()
            .is_ok_and(|n| n > inner.max_body_bytes)
        {
            return Err(Error::limit_exceeded(
                crate::error::Limit::BodyBytes,
                inner.max_body_bytes,
            )
            .into());
        }
    }
    let verifier = Verifier::new(
        &inner.keys,
        header(CLIENT_ID_HEADER),
        header(SIGNATURE_HEADER),
    )?;
    let content_type = header(header::CONTENT_TYPE.as_str());
    if !content_type.is_some_and(|ct| {
        ct.trim_start()
            .get(..10)
            .is_some_and(|p| p.eq_ignore_ascii_case("multipart/"))
    }) {
        return Err(Error::new(
            ErrorKind::InvalidContentType,
            "a delivery is multipart/mixed or multipart/form-data",
        )
        .into());
    }
    let ticket = inner.budget.ticket();
    let body = Paced::new(body, inner.rate, &ticket);
    let mut delivery = Delivery::new(body, content_type, verifier, inner.limits)?;
    let result = read(inner, &mut delivery, &ticket, cut).await;
    *bytes = delivery.bytes_read();
    result
}

/// What reading a delivery to its verified end found.
enum Verified {
    /// A new verification, staged.
    New(VerificationId, Box<VerificationResult>),
    /// One whose manifest is there already.
    Repeat(VerificationId, Box<VerificationResult>, Manifest),
}

/// Reads and stores a delivery, unless it is ended first: by the delivery timeout, by another
/// delivery that needs its unverified bytes' room, or by the server's drain deadline. Whatever
/// ends it, what it staged is discarded before the answer.
async fn read<K, B>(
    inner: &Inner<K>,
    delivery: &mut Delivery<B>,
    ticket: &Ticket,
    cut: Option<watch::Receiver<bool>>,
) -> std::result::Result<Received, Refused>
where
    K: Sink,
    B: Stream<Item = std::result::Result<Bytes, BoxError>>,
{
    let mut staging = None;
    let reading = read_verified(inner, delivery, &mut staging);
    let verified = tokio::select! {
        verified = reading => verified,
        ended = ended(inner.delivery_timeout, ticket, cut) => Err(ended),
    };
    let (id, result, manifest, stored) = match verified {
        Ok(Verified::Repeat(id, result, manifest)) => (id, result, manifest, false),
        Ok(Verified::New(id, result)) => {
            let staging = staging.ok_or_else(|| Error::new(ErrorKind::Usage, "nothing staged"))?;
            match staging.commit().await {
                Ok(Committed::Stored(manifest)) => (id, result, manifest, true),
                // Another delivery (or a `fetch` into the same place) stored the same bytes first.
                Ok(Committed::AlreadyComplete(manifest)) => (id, result, manifest, false),
                Err(e) => {
                    let mut refused = Refused::store(e);
                    refused.key = delivery.matched_key();
                    return Err(refused);
                }
            }
        }
        Err(mut refused) => {
            if let Some(staging) = staging {
                staging.discard().await;
            }
            refused.key = delivery.matched_key();
            return Err(refused);
        }
    };
    let key = matched(delivery)?;
    let handoff = match &inner.handler {
        None => Handoff::None,
        Some(handler) => {
            let locations = manifest
                .files()
                .iter()
                .map(|file| inner.sink.location(&id, file.stored_name()))
                .collect();
            let verification = StoredVerification {
                id: id.clone(),
                result: Arc::from(result),
                manifest,
                locations,
                key,
                stored,
            };
            let started = Instant::now();
            let handoff = hand_off(inner, handler, verification).await;
            match &handoff {
                Handoff::Done => metrics::handoff(started.elapsed(), false),
                Handoff::Failed(_) => metrics::handoff(started.elapsed(), true),
                Handoff::None | Handoff::AlreadyDone => {}
            }
            handoff
        }
    };
    Ok(Received {
        id,
        key,
        stored,
        handoff,
    })
}

/// Hands `verification` to `handler` unless its marker says an earlier call succeeded; writes
/// the marker once a call succeeds.
async fn hand_off<K: Sink>(
    inner: &Inner<K>,
    handler: &Handler,
    verification: StoredVerification,
) -> Handoff {
    let id = verification.id.clone();
    match inner.sink.is_handled(&id).await {
        Ok(true) => return Handoff::AlreadyDone,
        Ok(false) => {}
        Err(e) => return Handoff::Failed(e),
    }
    let handler = Arc::clone(handler);
    // In a task of its own: a panic (even in the call that makes the future) ends the task,
    // not the delivery.
    let task = tokio::spawn(async move { handler(verification).await });
    let abort = task.abort_handle();
    let failed = match tokio::time::timeout(inner.handler_timeout, task).await {
        Ok(Ok(Ok(()))) => None,
        Ok(Ok(Err(source))) => Some(Error::with_source(
            ErrorKind::Handler,
            "the application's handler failed: deliver it again",
            source,
        )),
        Ok(Err(join)) if join.is_panic() => Some(Error::new(
            ErrorKind::Handler,
            "the application's handler panicked: deliver it again",
        )),
        Ok(Err(join)) => Some(Error::with_source(
            ErrorKind::Handler,
            "the application's handler was cancelled: deliver it again",
            join,
        )),
        Err(_) => {
            abort.abort();
            Some(Error::new(
                ErrorKind::Handler,
                format!(
                    "the application's handler took longer than {} s: deliver it again",
                    inner.handler_timeout.as_secs_f64()
                ),
            ))
        }
    };
    if let Some(err) = failed {
        return Handoff::Failed(err);
    }
    match inner.sink.mark_handled(&id).await {
        Ok(_) => Handoff::Done,
        Err(e) => Handoff::Failed(e),
    }
}

/// The position of the key a verified delivery matched.
fn matched<B>(delivery: &Delivery<B>) -> Result<usize>
where
    B: Stream<Item = std::result::Result<Bytes, BoxError>>,
{
    delivery
        .matched_key()
        .ok_or_else(|| Error::new(ErrorKind::Usage, "no key matched a verified delivery"))
}

/// How the log names key `position` of `keys`: its label, else its position.
fn key_name(keys: &[WebhookKey], position: usize) -> String {
    keys.get(position)
        .and_then(WebhookKey::get_label)
        .map_or_else(|| position.to_string(), str::to_owned)
}

/// Why a delivery is ended before its end: resolves when one of the reasons comes.
async fn ended(timeout: Duration, ticket: &Ticket, cut: Option<watch::Receiver<bool>>) -> Refused {
    let draining = async {
        match cut {
            Some(mut cut) => {
                let _ = cut.wait_for(|cut| *cut).await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = tokio::time::sleep(timeout) => Refused::counted(
            Error::new(
                ErrorKind::Timeout,
                format!("the delivery took longer than {} s", timeout.as_secs_f64()),
            )
            .with_http_status(408),
            Outcome::TimedOut,
        ),
        () = ticket.evicted() => Refused::counted(
            Error::new(
                ErrorKind::LimitExceeded,
                "other deliveries needed the room this unverified one held: deliver it again",
            )
            .with_http_status(503),
            Outcome::Unavailable,
        ),
        () = draining => Refused::counted(
            Error::new(
                ErrorKind::Timeout,
                "the receiver is stopping: deliver it again",
            )
            .with_http_status(503),
            Outcome::Unavailable,
        ),
    }
}

/// Reads `delivery` to its verified end: a repeat, or a new verification staged in `staging`.
async fn read_verified<K, B>(
    inner: &Inner<K>,
    delivery: &mut Delivery<B>,
    staging: &mut Option<K::Staging>,
) -> std::result::Result<Verified, Refused>
where
    K: Sink,
    B: Stream<Item = std::result::Result<Bytes, BoxError>>,
{
    let (id, result, json) = match delivery.next_item().await? {
        Some(ExportItem::Result { result, json }) => {
            (VerificationId::new(&result.id)?, result, json)
        }
        Some(ExportItem::File(_)) => {
            return Err(Error::new(
                ErrorKind::InvalidExport,
                "a file came before the result part",
            )
            .into())
        }
        // Not reached: a body without a result is an error of the decoder.
        None => return Err(Error::new(ErrorKind::InvalidExport, "no result part").into()),
    };
    if let Some(manifest) = inner.sink.manifest(&id).await.map_err(Refused::store)? {
        // Verified all the same: only a signed repeat is told it is stored.
        while delivery.next_item().await?.is_some() {}
        return Ok(Verified::Repeat(id, result, manifest));
    }
    let staged = staging.insert(inner.sink.stage(&id).await.map_err(Refused::store)?);
    // `Ok`: the export is complete and the signature matched.
    write_files(staged, json, delivery).await?;
    Ok(Verified::New(id, result))
}

/// Stages the result and then every file of `delivery`, reading it to its verified end.
async fn write_files<T, B, E>(
    staging: &mut T,
    json: Bytes,
    delivery: &mut Delivery<B>,
) -> std::result::Result<(), Refused>
where
    T: Staging,
    B: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<BoxError>,
{
    staging
        .start_file(RESULT_JSON, Some("application/json"))
        .await
        .map_err(Refused::store)?;
    staging.write(json).await.map_err(Refused::store)?;
    staging.end_file().await.map_err(Refused::store)?;
    let mut number = 1;
    while let Some(item) = delivery.next_item().await? {
        number += 1;
        match item {
            ExportItem::File(mut file) => {
                staging
                    .start_file(&file_name(file.info(), number), file.info().content_type())
                    .await
                    .map_err(Refused::store)?;
                while let Some(chunk) = file.chunk().await? {
                    staging.write(chunk).await.map_err(Refused::store)?;
                }
                staging.end_file().await.map_err(Refused::store)?;
            }
            ExportItem::Result { .. } => {
                return Err(Error::new(ErrorKind::InvalidExport, "two result parts").into())
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder whose commits fail with an error of `kind`.
    #[derive(Debug)]
    struct CommitFails {
        folder: FolderSink,
        kind: ErrorKind,
    }

    struct FailingStaging {
        inner: <FolderSink as Sink>::Staging,
        kind: ErrorKind,
    }

    impl Staging for FailingStaging {
        async fn start_file(&mut self, name: &str, content_type: Option<&str>) -> Result<()> {
            self.inner.start_file(name, content_type).await
        }
        async fn write(&mut self, chunk: Bytes) -> Result<()> {
            self.inner.write(chunk).await
        }
        async fn end_file(&mut self) -> Result<()> {
            self.inner.end_file().await
        }
        async fn commit(self) -> Result<Committed> {
            self.inner.discard().await;
            Err(Error::new(self.kind, "the store failed"))
        }
        async fn discard(self) {
            self.inner.discard().await;
        }
    }

    impl Sink for CommitFails {
        type Staging = FailingStaging;
        async fn manifest(&self, id: &VerificationId) -> Result<Option<Manifest>> {
            self.folder.manifest(id).await
        }
        async fn stage(&self, id: &VerificationId) -> Result<FailingStaging> {
            Ok(FailingStaging {
                inner: self.folder.stage(id).await?,
                kind: self.kind,
            })
        }
    }

    /// A store's timeout or conflict, after the signature matched, is the store's failure
    /// (not the vendor's slow delivery nor a bad request), and the key that matched is kept
    /// for `verified_total`.
    #[test]
    fn a_commit_that_fails_is_the_stores_failure_and_keeps_the_matched_key() {
        let body: &[u8] = b"--b\r\nContent-Disposition: form-data; name=\"result\"\r\n\r\n{\"id\":\"v1\"}\r\n--b--\r\n";
        let key = WebhookKey::new("client", "secret");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "multipart/form-data; boundary=b".parse().unwrap(),
        );
        headers.insert(CLIENT_ID_HEADER, "client".parse().unwrap());
        headers.insert(SIGNATURE_HEADER, key.sign(body).parse().unwrap());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for (kind, status) in [
            (ErrorKind::Timeout, 504),
            (ErrorKind::Conflict, 409),
            (ErrorKind::Io, 500),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let receiver = Receiver::builder(CommitFails {
                folder: FolderSink::create(dir.path()).unwrap(),
                kind,
            })
            .key(key.clone())
            .build()
            .unwrap();
            let chunks = [Ok::<_, std::io::Error>(Bytes::from_static(body))];
            let mut bytes = 0;
            let refused = runtime
                .block_on(receive(
                    &receiver.inner,
                    &headers,
                    futures::stream::iter(chunks),
                    &mut bytes,
                    None,
                ))
                .err()
                .unwrap_or_else(|| panic!("{kind:?}: stored"));
            assert_eq!(refused.outcome, Outcome::StoreFailed, "{kind:?}");
            assert_eq!(refused.key, Some(0), "{kind:?}");
            assert_eq!(refused.error.http_status(), status, "{kind:?}");
        }
    }

    /// A delivery's own failures count by kind: a bad signature, and the delivery timeout.
    #[test]
    fn a_delivery_that_fails_is_counted_by_its_kind_without_a_key() {
        let body: &[u8] = b"--b\r\nContent-Disposition: form-data; name=\"result\"\r\n\r\n{\"id\":\"v1\"}\r\n--b--\r\n";
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "multipart/form-data; boundary=b".parse().unwrap(),
        );
        headers.insert(CLIENT_ID_HEADER, "client".parse().unwrap());
        headers.insert(SIGNATURE_HEADER, "00".repeat(32).parse().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let receiver = Receiver::builder(FolderSink::create(dir.path()).unwrap())
            .key(WebhookKey::new("client", "secret"))
            .delivery_timeout(Duration::from_millis(50))
            .build()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut bytes = 0;
        let chunks = [Ok::<_, std::io::Error>(Bytes::from_static(body))];
        let refused = runtime
            .block_on(receive(
                &receiver.inner,
                &headers,
                futures::stream::iter(chunks),
                &mut bytes,
                None,
            ))
            .err()
            .unwrap();
        assert_eq!(
            (refused.outcome, refused.key),
            (Outcome::Unauthorized, None)
        );
        // A body that never ends: the delivery timeout, the vendor's slowness.
        let pending = futures::stream::pending::<std::result::Result<Bytes, std::io::Error>>();
        let refused = runtime
            .block_on(receive(
                &receiver.inner,
                &headers,
                pending,
                &mut bytes,
                None,
            ))
            .err()
            .unwrap();
        assert_eq!((refused.outcome, refused.key), (Outcome::TimedOut, None));
        assert_eq!(refused.error.http_status(), 408);
    }
}
