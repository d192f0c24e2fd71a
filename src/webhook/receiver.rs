//! The receiver: an axum router that verifies deliveries as they stream and stores the verified
//! ones, once per verification id.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use futures_core::Stream;
use tokio::sync::watch;

use super::store::{Claim, DeliveryStore, DirStore, Staging};
use super::verify::{Delivery, WebhookKey, CLIENT_ID_HEADER, SIGNATURE_HEADER};
use crate::driver::BoxError;
use crate::error::{Error, ErrorKind, Result};
use crate::export::{ExportItem, ExportLimits};
use crate::save::{file_name, is_safe_file_name, RESULT_JSON};
use crate::server::serving;

/// The body cap of a receiver unless [`ReceiverBuilder::max_body_bytes`] says otherwise:
/// 128 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 128 << 20;

/// The longest verification id stored, in bytes.
const MAX_ID_BYTES: usize = 128;

/// A receiver of signed webhook deliveries that stores each verified one under
/// `DIR/<verification id>/`, in the layout `split` writes.
///
/// It answers a `POST` on any path (mount [`router`](Self::router) where you like), with a
/// `multipart/mixed` or `multipart/form-data` body, with a `Content-Length` or chunked:
///
/// | delivery | answer | stored |
/// |---|---|---|
/// | client id and signature match, new id | `200` | `DIR/<id>/`: `result.json` and each file, named only after the check |
/// | the same, an id stored already | `200` | nothing (the first copy stays as it is) |
/// | the same, an id being received by another delivery right now | `409` (retryable) | by the other one |
/// | no or another `X-CLIENT-ID`, no `X-SIGNATURE`, or a signature that does not match | `401` | nothing |
/// | malformed or cut body, a result that is no JSON or has no `id`, an `id` that is not one safe path component, a file before the result | `400` (a body cut on the wire: the connection is gone) | nothing |
/// | over the body cap, by `Content-Length` or as it streams | `413` | nothing |
/// | not a `POST` | `405` | nothing |
///
/// Files are written as the body streams, but with no name ([`save::NewFile`](crate::save::NewFile));
/// they are named once the signature matched, `result.json` last, so a folder holding a
/// `result.json` is complete, and nothing else is ever left under `DIR`. The body is never
/// logged: one `tracing` line per delivery gives the outcome, bytes and time (and the id, once
/// verified).
///
/// # Examples
///
/// ```no_run
/// use authenteq_export::webhook::{Receiver, WebhookKey};
///
/// # async fn run() -> authenteq_export::Result<()> {
/// let receiver = Receiver::builder("deliveries")
///     .key(WebhookKey::new("my-client-id", "my-client-secret"))
///     .build()?;
/// let app: axum::Router = axum::Router::new().nest_service("/authenteq", receiver.router());
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Receiver {
    inner: Arc<dyn Deliveries>,
}

struct Inner<St> {
    store: St,
    settings: Settings,
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.describe(f)
    }
}

/// A body as the receiver reads it, whatever stream it came as.
type BodyStream<'a> = Pin<Box<dyn Stream<Item = std::result::Result<Bytes, BoxError>> + Send + 'a>>;

/// A receiver with its store's type erased: what a [`Receiver`] holds, so one type serves a
/// folder and any sink.
trait Deliveries: Send + Sync {
    fn answer<'a>(
        &'a self,
        headers: &'a HeaderMap,
        body: BodyStream<'a>,
    ) -> Pin<Box<dyn Future<Output = Response> + Send + 'a>>;

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<St: DeliveryStore + fmt::Debug> Deliveries for Inner<St> {
    fn answer<'a>(
        &'a self,
        headers: &'a HeaderMap,
        body: BodyStream<'a>,
    ) -> Pin<Box<dyn Future<Output = Response> + Send + 'a>> {
        Box::pin(answer(self, headers, body))
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("store", &self.store)
            .field("key", &self.settings.key)
            .field("max_body_bytes", &self.settings.max_body_bytes)
            .finish_non_exhaustive()
    }
}

/// A stream whose errors become [`BoxError`]s.
struct BoxedErrors<S>(Pin<Box<S>>);

impl<S, E> Stream for BoxedErrors<S>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<BoxError>,
{
    type Item = std::result::Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0
            .as_mut()
            .poll_next(cx)
            .map(|item| item.map(|chunk| chunk.map_err(Into::into)))
    }
}

/// Where a receiver keeps what it verified.
enum Destination {
    Folder(PathBuf),
    /// Makes the receiver once its settings are known.
    #[cfg(feature = "object-store")]
    Sink(Box<dyn FnOnce(Settings) -> Arc<dyn Deliveries> + Send + Sync>),
}

/// A receiver's settings, whatever its destination.
struct Settings {
    key: WebhookKey,
    max_body_bytes: u64,
    limits: ExportLimits,
}

/// Settings of a [`Receiver`], with documented defaults.
pub struct ReceiverBuilder {
    destination: Destination,
    key: Option<WebhookKey>,
    max_body_bytes: u64,
    limits: ExportLimits,
}

impl fmt::Debug for ReceiverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ReceiverBuilder");
        match &self.destination {
            Destination::Folder(dir) => d.field("dir", dir),
            #[cfg(feature = "object-store")]
            Destination::Sink(_) => d.field("sink", &format_args!("..")),
        };
        d.field("key", &self.key)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Receiver {
    /// Settings for a receiver that stores into `dir` (created if missing), in the `split`
    /// layout, a delivery complete once its `result.json` is there.
    pub fn builder(dir: impl Into<PathBuf>) -> ReceiverBuilder {
        ReceiverBuilder::new(Destination::Folder(dir.into()))
    }

    /// Settings for a receiver that stores into `sink`, the way [`fetch_into`] does: each
    /// verified delivery as `<id>/<file name>` plus `<id>/manifest.json`, written last (its
    /// content types as the parts declared them, and each file's SHA-256). An id whose
    /// manifest is there is answered `200` and not stored again, whoever stored it (another
    /// receiver, or a `fetch` into the same place); a refused delivery leaves nothing, not
    /// even an unfinished upload (they are aborted before the answer).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use authenteq_export::store::ObjectSink;
    /// use authenteq_export::webhook::{Receiver, WebhookKey};
    ///
    /// # fn main() -> authenteq_export::Result<()> {
    /// let bucket = Arc::new(object_store::memory::InMemory::new());
    /// let receiver = Receiver::builder_with_sink(ObjectSink::new(bucket, "deliveries"))
    ///     .key(WebhookKey::new("my-client-id", "my-client-secret"))
    ///     .build()?;
    /// # let _ = receiver;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`fetch_into`]: crate::store::fetch_into
    #[cfg(feature = "object-store")]
    pub fn builder_with_sink<K>(sink: K) -> ReceiverBuilder
    where
        K: crate::store::Sink + fmt::Debug + 'static,
    {
        ReceiverBuilder::new(Destination::Sink(Box::new(move |settings| {
            Arc::new(Inner {
                store: super::sink::SinkStore::new(sink),
                settings,
            })
        })))
    }

    /// The axum router to mount: a `POST` on any path is a delivery.
    pub fn router(&self) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }

    /// Receives one delivery: its headers and body, as an axum handler would.
    pub async fn receive<S, E>(&self, headers: &HeaderMap, body: S) -> Response
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: Into<BoxError>,
    {
        let body: BodyStream<'_> = Box::pin(BoxedErrors(Box::pin(body)));
        self.inner.answer(headers, body).await
    }

    /// Starts the receiver on `127.0.0.1` at a free port, in a task of the current tokio
    /// runtime.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when no socket can be bound.
    pub async fn spawn(self) -> Result<RunningReceiver> {
        self.bind(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts the receiver on `addr`, in a task of the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when `addr` cannot be bound.
    pub async fn bind(self, addr: SocketAddr) -> Result<RunningReceiver> {
        let (listener, addr) = serving::listen(addr).await?;
        let (stop, stopped) = watch::channel(false);
        let task = serving::spawn(listener, self.router(), stopped);
        Ok(RunningReceiver {
            addr,
            stop,
            task: Some(task),
        })
    }
}

impl ReceiverBuilder {
    fn new(destination: Destination) -> Self {
        ReceiverBuilder {
            destination,
            key: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            limits: ExportLimits::default(),
        }
    }

    /// The client id, secret and scheme deliveries are checked against. Required.
    pub fn key(mut self, key: WebhookKey) -> Self {
        self.key = Some(key);
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

    /// The receiver.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] without a [`key`](Self::key); [`ErrorKind::Io`] when the folder
    /// cannot be created.
    pub fn build(self) -> Result<Receiver> {
        let key = self
            .key
            .ok_or_else(|| Error::new(ErrorKind::Usage, "a receiver needs a key"))?;
        let settings = Settings {
            key,
            max_body_bytes: self.max_body_bytes,
            limits: self.limits.max_body_bytes(self.max_body_bytes),
        };
        let inner: Arc<dyn Deliveries> = match self.destination {
            Destination::Folder(dir) => Arc::new(Inner {
                store: DirStore::create(dir)?,
                settings,
            }),
            #[cfg(feature = "object-store")]
            Destination::Sink(make) => make(settings),
        };
        Ok(Receiver { inner })
    }
}

/// A running receiver: its address, and the way to stop it. Dropping it stops it too, without
/// waiting.
#[derive(Debug)]
pub struct RunningReceiver {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<serving::ServeTask>,
}

impl RunningReceiver {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its URL, `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stops it: no new connection is accepted, deliveries being received are finished.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the server had failed.
    pub async fn shutdown(mut self) -> Result<()> {
        self.stop.send_replace(true);
        serving::join(self.task.take(), "receiver").await
    }

    /// Serves until the server fails: for a process that does nothing else.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the server fails.
    pub async fn wait(mut self) -> Result<()> {
        serving::join(self.task.take(), "receiver").await
    }
}

impl Drop for RunningReceiver {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

async fn handle(State(receiver): State<Receiver>, request: Request) -> Response {
    if request.method() != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "deliveries are POSTed\n",
        )
            .into_response();
    }
    let (parts, body) = request.into_parts();
    receiver
        .receive(&parts.headers, Body::into_data_stream(body))
        .await
}

/// What a delivery came to, short of an error.
enum Received {
    Stored(String),
    AlreadyStored(String),
    Busy,
}

async fn answer<St, S, E>(inner: &Inner<St>, headers: &HeaderMap, body: S) -> Response
where
    St: DeliveryStore,
    S: Stream<Item = std::result::Result<Bytes, E>> + Send,
    E: Into<BoxError>,
{
    let started = Instant::now();
    let mut bytes = 0;
    let outcome = receive(inner, headers, body, &mut bytes).await;
    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (status, text) = match &outcome {
        Ok(Received::Stored(id)) => {
            tracing::info!(id = %id, outcome = "stored", bytes, ms, "webhook delivery");
            (StatusCode::OK, "stored\n".to_owned())
        }
        Ok(Received::AlreadyStored(id)) => {
            tracing::info!(id = %id, outcome = "already stored", bytes, ms, "webhook delivery");
            (StatusCode::OK, "already stored\n".to_owned())
        }
        Ok(Received::Busy) => {
            tracing::info!(outcome = "busy", bytes, ms, "webhook delivery");
            (
                StatusCode::CONFLICT,
                "another delivery of this verification is being received: retry\n".to_owned(),
            )
        }
        Err(err) => {
            let status = StatusCode::from_u16(err.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
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
async fn receive<St, S, E>(
    inner: &Inner<St>,
    headers: &HeaderMap,
    body: S,
    bytes: &mut u64,
) -> Result<Received>
where
    St: DeliveryStore,
    S: Stream<Item = std::result::Result<Bytes, E>> + Send,
    E: Into<BoxError>,
{
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(length) = header(header::CONTENT_LENGTH.as_str()) {
        if length
            .trim()
            .parse::<u64>()
            .is_ok_and(|n| n > inner.settings.max_body_bytes)
        {
            return Err(Error::limit_exceeded(
                crate::error::Limit::BodyBytes,
                inner.settings.max_body_bytes,
            ));
        }
    }
    let verifier = inner
        .settings
        .key
        .verifier(header(CLIENT_ID_HEADER), header(SIGNATURE_HEADER))?;
    let content_type = header(header::CONTENT_TYPE.as_str());
    if !content_type.is_some_and(|ct| {
        ct.trim_start()
            .get(..10)
            .is_some_and(|p| p.eq_ignore_ascii_case("multipart/"))
    }) {
        return Err(Error::new(
            ErrorKind::InvalidContentType,
            "a delivery is multipart/mixed or multipart/form-data",
        ));
    }
    let mut delivery = Delivery::new(body, content_type, verifier, inner.settings.limits)?;
    let result = read(inner, &mut delivery).await;
    *bytes = delivery.bytes_read();
    result
}

async fn read<St, S, E>(inner: &Inner<St>, delivery: &mut Delivery<S>) -> Result<Received>
where
    St: DeliveryStore,
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<BoxError>,
{
    let (id, json) = match delivery.next_item().await? {
        Some(ExportItem::Result { result, json }) => (result.id.clone(), json),
        Some(ExportItem::File(_)) => {
            return Err(Error::new(
                ErrorKind::InvalidExport,
                "a file came before the result part",
            ))
        }
        // Not reached: a body without a result is an error of the decoder.
        None => return Err(Error::new(ErrorKind::InvalidExport, "no result part")),
    };
    check_id(&id)?;
    let mut staging = match inner.store.claim(&id).await? {
        Claim::Busy => return Ok(Received::Busy),
        Claim::Stored => {
            // Verified all the same: only a signed repeat is told it is stored.
            while delivery.next_item().await?.is_some() {}
            return Ok(Received::AlreadyStored(id));
        }
        Claim::New(staging) => staging,
    };
    match write_files(&mut staging, json, delivery).await {
        // `Ok`: the export is complete and the signature matched.
        Ok(()) => {
            staging.commit().await?;
            Ok(Received::Stored(id))
        }
        Err(e) => {
            staging.discard().await;
            Err(e)
        }
    }
}

/// Stages the result and then every file of `delivery`, reading it to its verified end.
async fn write_files<T, S, E>(
    staging: &mut T,
    json: Bytes,
    delivery: &mut Delivery<S>,
) -> Result<()>
where
    T: Staging,
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<BoxError>,
{
    staging.stage(RESULT_JSON, Some("application/json")).await?;
    staging.write(json).await?;
    let mut number = 1;
    while let Some(item) = delivery.next_item().await? {
        number += 1;
        match item {
            ExportItem::File(mut file) => {
                staging
                    .stage(&file_name(file.info(), number), file.info().content_type())
                    .await?;
                while let Some(chunk) = file.chunk().await? {
                    staging.write(chunk).await?;
                }
            }
            ExportItem::Result { .. } => {
                return Err(Error::new(ErrorKind::InvalidExport, "two result parts"))
            }
        }
    }
    Ok(())
}

/// A verification id that can name a folder: not empty, at most 128 bytes, no control
/// character, one safe path component.
fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_ID_BYTES || id.chars().any(char::is_control) {
        return Err(Error::new(
            ErrorKind::InvalidId,
            "the result's id is empty, over 128 bytes or holds a control character",
        ));
    }
    if !is_safe_file_name(id) {
        return Err(Error::new(
            ErrorKind::UnsafeName,
            "the result's id is not one safe path component",
        ));
    }
    Ok(())
}
