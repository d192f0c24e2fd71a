//! The receiver: an axum router that verifies deliveries as they stream and stores the verified
//! ones, once per verification id.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use futures_core::Stream;

use super::verify::{Delivery, WebhookKey, CLIENT_ID_HEADER, SIGNATURE_HEADER};
use crate::driver::BoxError;
use crate::error::{Error, ErrorKind, Result};
use crate::export::{ExportItem, ExportLimits, VerificationId};
use crate::save::{file_name, RESULT_JSON};
use crate::store::{Committed, FolderSink, Sink, Staging};
use crate::Server;

/// The body cap of a receiver unless [`ReceiverBuilder::max_body_bytes`] says otherwise:
/// 128 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 128 << 20;

/// A receiver of signed webhook deliveries that stores each verified one through a
/// [`Sink`]: a [`FolderSink`] (`DIR/<id>/`, `split`'s layout plus `manifest.json`), an
/// `ObjectSink` (S3 and the other object stores), or one of your own.
///
/// It answers a `POST` on any path (mount [`router`](Self::router) where you like), with a
/// `multipart/mixed` or `multipart/form-data` body, with a `Content-Length` or chunked:
///
/// | delivery | answer | stored |
/// |---|---|---|
/// | client id and signature match, new id | `200` | `<id>/`: `result.json` and each file, then `manifest.json`, all only after the check |
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
/// (and the id, once verified).
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
    key: WebhookKey,
    max_body_bytes: u64,
    limits: ExportLimits,
}

impl<S: fmt::Debug> fmt::Debug for Receiver<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("sink", &self.inner.sink)
            .field("key", &self.inner.key)
            .field("max_body_bytes", &self.inner.max_body_bytes)
            .finish_non_exhaustive()
    }
}

/// Settings of a [`Receiver`], with documented defaults.
#[derive(Debug)]
pub struct ReceiverBuilder<S> {
    sink: S,
    key: Option<WebhookKey>,
    max_body_bytes: u64,
    limits: ExportLimits,
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
            key: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            limits: ExportLimits::default(),
        }
    }

    /// The sink it stores into.
    pub fn sink(&self) -> &S {
        &self.inner.sink
    }

    /// The axum router to mount: a `POST` on any path is a delivery.
    pub fn router(&self) -> Router {
        Router::new().fallback(handle::<S>).with_state(self.clone())
    }

    /// Receives one delivery: its headers and body, as an axum handler would.
    pub async fn receive<B, E>(&self, headers: &HeaderMap, body: B) -> Response
    where
        B: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: Into<BoxError>,
    {
        answer(&self.inner, headers, body).await
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
        Server::bind(addr, "receiver", self.clone(), |receiver, _| {
            receiver.router()
        })
        .await
    }
}

impl<S> ReceiverBuilder<S> {
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
    /// [`ErrorKind::Usage`] without a [`key`](Self::key).
    pub fn build(self) -> Result<Receiver<S>> {
        let key = self
            .key
            .ok_or_else(|| Error::new(ErrorKind::Usage, "a receiver needs a key"))?;
        Ok(Receiver {
            inner: Arc::new(Inner {
                sink: self.sink,
                key,
                max_body_bytes: self.max_body_bytes,
                limits: self.limits.max_body_bytes(self.max_body_bytes),
            }),
        })
    }
}

async fn handle<S>(State(receiver): State<Receiver<S>>, request: Request) -> Response
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
    let (parts, body) = request.into_parts();
    receiver
        .receive(&parts.headers, Body::into_data_stream(body))
        .await
}

/// What a delivery came to, short of an error.
enum Received {
    Stored(VerificationId),
    AlreadyStored(VerificationId),
}

async fn answer<K, B, E>(inner: &Inner<K>, headers: &HeaderMap, body: B) -> Response
where
    K: Sink,
    B: Stream<Item = std::result::Result<Bytes, E>> + Send,
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
async fn receive<K, B, E>(
    inner: &Inner<K>,
    headers: &HeaderMap,
    body: B,
    bytes: &mut u64,
) -> Result<Received>
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
            ));
        }
    }
    let verifier = inner
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
    let mut delivery = Delivery::new(body, content_type, verifier, inner.limits)?;
    let result = read(inner, &mut delivery).await;
    *bytes = delivery.bytes_read();
    result
}

async fn read<K, B, E>(inner: &Inner<K>, delivery: &mut Delivery<B>) -> Result<Received>
where
    K: Sink,
    B: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<BoxError>,
{
    let (id, json) = match delivery.next_item().await? {
        Some(ExportItem::Result { result, json }) => (VerificationId::new(&result.id)?, json),
        Some(ExportItem::File(_)) => {
            return Err(Error::new(
                ErrorKind::InvalidExport,
                "a file came before the result part",
            ))
        }
        // Not reached: a body without a result is an error of the decoder.
        None => return Err(Error::new(ErrorKind::InvalidExport, "no result part")),
    };
    if inner.sink.manifest(&id).await?.is_some() {
        // Verified all the same: only a signed repeat is told it is stored.
        while delivery.next_item().await?.is_some() {}
        return Ok(Received::AlreadyStored(id));
    }
    let mut staging = inner.sink.stage(&id).await?;
    match write_files(&mut staging, json, delivery).await {
        // `Ok`: the export is complete and the signature matched.
        Ok(()) => match staging.commit().await? {
            Committed::Stored(_) => Ok(Received::Stored(id)),
            // Another delivery (or a `fetch` into the same place) stored the same bytes first.
            Committed::AlreadyComplete(_) => Ok(Received::AlreadyStored(id)),
        },
        Err(e) => {
            staging.discard().await;
            Err(e)
        }
    }
}

/// Stages the result and then every file of `delivery`, reading it to its verified end.
async fn write_files<T, B, E>(
    staging: &mut T,
    json: Bytes,
    delivery: &mut Delivery<B>,
) -> Result<()>
where
    T: Staging,
    B: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<BoxError>,
{
    staging
        .start_file(RESULT_JSON, Some("application/json"))
        .await?;
    staging.write(json).await?;
    staging.end_file().await?;
    let mut number = 1;
    while let Some(item) = delivery.next_item().await? {
        number += 1;
        match item {
            ExportItem::File(mut file) => {
                staging
                    .start_file(&file_name(file.info(), number), file.info().content_type())
                    .await?;
                while let Some(chunk) = file.chunk().await? {
                    staging.write(chunk).await?;
                }
                staging.end_file().await?;
            }
            ExportItem::Result { .. } => {
                return Err(Error::new(ErrorKind::InvalidExport, "two result parts"))
            }
        }
    }
    Ok(())
}
