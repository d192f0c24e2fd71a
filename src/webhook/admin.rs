//! The receiver's operations surface, for a port of its own: liveness, readiness and metrics.
//!
//! [`Server::admin`] (on a running receiver) gives an [`AdminBuilder`]; its [`Admin`] is an
//! axum router ([`Admin::router`]) or a server of its own ([`Admin::bind`]), with the
//! receiver's connection timeouts and a cap of its own, 64 connections
//! ([`DEFAULT_ADMIN_MAX_CONNECTIONS`]):
//!
//! | request | answer |
//! |---|---|
//! | `GET /livez` | `200 ok`: the process answers |
//! | `GET /readyz` | `200 ready`; `503 stopping` once the receiver's shutdown started; `503 store not answering` while the store's probe ([`Sink::check`]) fails or takes longer than [`probe_timeout`](AdminBuilder::probe_timeout) |
//! | `GET /metrics` | `200`, the metrics in the Prometheus text format (see [`metrics`](super::metrics) for what there is), when the builder was given a page to render ([`AdminBuilder::metrics`]); `404` without |
//!
//! `503 stopping` comes at the same instant as the shutdown stops accepting connections
//! ([`Server::shutdown_within`]), not before: a load balancer that has not probed `/readyz`
//! since still sends, and finds the port closed. Give it time before the shutdown starts: in
//! Kubernetes, a `preStop` hook that sleeps a few seconds, so that the pod leaves the
//! Service's endpoints before SIGTERM reaches the process.
//!
//! The store is probed at most once per [`probe_interval`](AdminBuilder::probe_interval), when
//! `/readyz` is asked for, one probe at a time, each answer waiting for it at most its timeout;
//! a probe that hangs is waited for again rather than joined by a second: scrapes cannot pile
//! probes onto the store.
//!
//! # Example: the receiver and its admin port, with Prometheus metrics
//!
//! ```no_run
//! # #[cfg(feature = "prometheus")] {
//! use std::time::Duration;
//! use authenteq_export::store::FolderSink;
//! use authenteq_export::webhook::admin::install_prometheus;
//! use authenteq_export::webhook::{Receiver, WebhookKey};
//!
//! # async fn run() -> authenteq_export::Result<()> {
//! let prometheus = install_prometheus()?;
//! let server = Receiver::builder(FolderSink::create("deliveries")?)
//!     .key(WebhookKey::new("my-client-id", "my-client-secret"))
//!     .build()?
//!     .bind("0.0.0.0:8081".parse().unwrap())
//!     .await?;
//! let admin = server
//!     .admin()
//!     .metrics(move || prometheus.render())
//!     .build()
//!     .bind("127.0.0.1:9090".parse().unwrap())
//!     .await?;
//! // ... on SIGTERM (after a preStop sleep): /readyz answers 503 from the first moment of the
//! // drain, while the deliveries under way finish.
//! server.shutdown_within(Duration::from_secs(25)).await?;
//! admin.shutdown().await?;
//! # Ok(())
//! # }
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::watch;

use super::metrics::{OPEN_CONNECTIONS, UNVERIFIED_BYTES};
use super::pace::Budget;
use super::Receiver;
use crate::error::Result;
use crate::serving::ServerState;
use crate::store::Sink;
use crate::{ConnectionLimits, Server};

/// The longest one probe of the store may take before `/readyz` says it is not answering,
/// unless [`AdminBuilder::probe_timeout`] says otherwise: 2 s.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a probe's result stands before `/readyz` probes again, unless
/// [`AdminBuilder::probe_interval`] says otherwise: 5 s.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// The most connections the admin server ([`Admin::bind`]) holds open at once unless
/// [`AdminBuilder::connections`] says otherwise: 64. Its own cap, apart from the receiver's,
/// so that clients of the admin port cannot take the file descriptors deliveries need.
pub const DEFAULT_ADMIN_MAX_CONNECTIONS: usize = 64;

/// The content type of the Prometheus text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

type ProbeFn = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<()>> + Send>> + Send + Sync>;
type RenderFn = Arc<dyn Fn() -> String + Send + Sync>;

/// Settings of an [`Admin`], from [`Server::admin`], with documented defaults.
///
/// | setting | default |
/// |---|---|
/// | [`probe_timeout`](Self::probe_timeout) | [`DEFAULT_PROBE_TIMEOUT`] (2 s) |
/// | [`probe_interval`](Self::probe_interval) | [`DEFAULT_PROBE_INTERVAL`] (5 s) |
/// | [`metrics`](Self::metrics) | none: `/metrics` answers `404` |
/// | [`connections`](Self::connections) | the receiver's head and idle timeouts, at most [`DEFAULT_ADMIN_MAX_CONNECTIONS`] (64) connections |
pub struct AdminBuilder {
    probe: ProbeFn,
    state: ServerState,
    budget: Arc<Budget>,
    connections: ConnectionLimits,
    probe_timeout: Duration,
    probe_interval: Duration,
    render: Option<RenderFn>,
}

impl fmt::Debug for AdminBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminBuilder")
            .field("probe_timeout", &self.probe_timeout)
            .field("probe_interval", &self.probe_interval)
            .field("metrics", &self.render.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> Server<Receiver<S>>
where
    S: Sink + fmt::Debug + 'static,
    S::Staging: 'static,
{
    /// Settings for the admin router of this receiver (see [`admin`](super::admin)): its
    /// readiness follows this server's shutdown and probes its store.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::store::FolderSink;
    /// use authenteq_export::webhook::{Receiver, WebhookKey};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> authenteq_export::Result<()> {
    /// # let folder = tempfile::tempdir().unwrap();
    /// let server = Receiver::builder(FolderSink::create(folder.path())?)
    ///     .key(WebhookKey::new("my-client-id", "my-client-secret"))
    ///     .build()?
    ///     .spawn()
    ///     .await?;
    /// let admin = server.admin().build();
    /// assert!(admin.readiness().await.is_ready());
    /// # Ok(())
    /// # }
    /// ```
    pub fn admin(&self) -> AdminBuilder {
        let receiver: Receiver<S> = (**self).clone();
        let probe: ProbeFn = Arc::new(move || {
            let receiver = receiver.clone();
            Box::pin(async move { receiver.sink().check().await })
        });
        AdminBuilder {
            probe,
            state: self.state(),
            budget: self.budget(),
            connections: self
                .connection_limits()
                .max_connections(Some(DEFAULT_ADMIN_MAX_CONNECTIONS)),
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
            probe_interval: DEFAULT_PROBE_INTERVAL,
            render: None,
        }
    }
}

impl AdminBuilder {
    /// The longest one probe of the store ([`Sink::check`]) may take: past it, the store counts
    /// as not answering. Default [`DEFAULT_PROBE_TIMEOUT`] (2 s); at least 1 ms.
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long a probe's result stands: `/readyz` probes the store again only once it is
    /// older. Default [`DEFAULT_PROBE_INTERVAL`] (5 s); `0` probes at every `/readyz` (one probe
    /// at a time all the same).
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    /// What `/metrics` answers: `render` gives the page in the Prometheus text format, for
    /// example `move || handle.render()` with the handle [`install_prometheus`] gives. Before
    /// each call, the gauges of the receiver's state ([`OPEN_CONNECTIONS`],
    /// [`UNVERIFIED_BYTES`]) are set through the `metrics` facade.
    pub fn metrics(mut self, render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.render = Some(Arc::new(render));
        self
    }

    /// The limits of its connections when it runs as a server ([`Admin::bind`]); default
    /// the receiver's head and idle timeouts
    /// ([`ReceiverBuilder::connections`](super::ReceiverBuilder::connections)) with a cap of
    /// its own, [`DEFAULT_ADMIN_MAX_CONNECTIONS`] (64) open at once: at the cap, the
    /// connection idle longest is closed to make room, as on the receiver's port. An HTTP/2
    /// connection may carry as many requests at once as the receiver's (1024 streams: the
    /// serving code shares that setting).
    pub fn connections(mut self, limits: ConnectionLimits) -> Self {
        self.connections = limits;
        self
    }

    /// The admin router's state.
    pub fn build(self) -> Admin {
        Admin {
            inner: Arc::new(AdminInner {
                probe: self.probe,
                state: self.state,
                budget: self.budget,
                connections: self.connections,
                probe_timeout: self.probe_timeout,
                probe_interval: self.probe_interval,
                render: self.render,
                probing: tokio::sync::Mutex::new(Probing::default()),
            }),
        }
    }
}

/// The admin surface of a running receiver: `/livez`, `/readyz` and `/metrics` (see
/// [`admin`](super::admin)). Cheap to clone.
#[derive(Clone)]
pub struct Admin {
    inner: Arc<AdminInner>,
}

struct AdminInner {
    probe: ProbeFn,
    state: ServerState,
    budget: Arc<Budget>,
    connections: ConnectionLimits,
    probe_timeout: Duration,
    probe_interval: Duration,
    render: Option<RenderFn>,
    /// The store's probes: one at a time.
    probing: tokio::sync::Mutex<Probing>,
}

/// The last probe's result, and a probe that outlived its timeout.
#[derive(Default)]
struct Probing {
    /// When the store was last probed, and whether it answered.
    last: Option<(Instant, bool)>,
    /// The probe running in its task: filled with whether the store answered once it ends
    /// (closed if it panicked). It stays here until its answer is taken, so a `/readyz` that
    /// times out or is cancelled while waiting leaves it for the next one to wait on again:
    /// a store that hangs holds one probe, not one per interval or per cancelled request.
    running: Option<watch::Receiver<Option<bool>>>,
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin")
            .field("probe_timeout", &self.inner.probe_timeout)
            .field("probe_interval", &self.inner.probe_interval)
            .field("metrics", &self.inner.render.is_some())
            .finish_non_exhaustive()
    }
}

/// Whether the receiver takes deliveries, as `/readyz` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Readiness {
    /// It does: `200`.
    Ready,
    /// Its shutdown started: `503`.
    Stopping,
    /// Its store's probe failed or timed out: `503`.
    StoreNotAnswering,
}

impl Readiness {
    /// Whether it is [`Ready`](Self::Ready).
    pub fn is_ready(self) -> bool {
        self == Readiness::Ready
    }

    fn status(self) -> StatusCode {
        match self {
            Readiness::Ready => StatusCode::OK,
            Readiness::Stopping | Readiness::StoreNotAnswering => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Readiness::Ready => "ready\n",
            Readiness::Stopping => "stopping\n",
            Readiness::StoreNotAnswering => "store not answering\n",
        }
    }
}

impl Admin {
    /// The router: `GET /livez`, `/readyz` and `/metrics`; anything else is `404`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/livez", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics_page))
            .with_state(self.clone())
    }

    /// Whether the receiver takes deliveries: not once its shutdown started; else whether
    /// its store answered its last probe, probing it again when that result is older than
    /// the probe interval, waiting at most the probe timeout. The probe runs in a task of its
    /// own: one that outlives its timeout is waited for again by the next probe instead of a
    /// second one being started, so there is never more than one probe of the store.
    pub async fn readiness(&self) -> Readiness {
        let inner = &self.inner;
        if inner.state.stopping() {
            return Readiness::Stopping;
        }
        let answered = {
            let mut probing = inner.probing.lock().await;
            match probing.last {
                Some((at, answered)) if at.elapsed() < inner.probe_interval => answered,
                _ => {
                    let mut running = match &probing.running {
                        Some(running) => running.clone(),
                        None => {
                            let running = spawn_probe((inner.probe)());
                            probing.running = Some(running.clone());
                            running
                        }
                    };
                    // Waiting on a clone: if this future is dropped here, the probe stays in
                    // `probing.running` for the next `/readyz`.
                    let probed = tokio::time::timeout(
                        inner.probe_timeout,
                        running.wait_for(Option::is_some),
                    )
                    .await
                    .map(|answer| answer.map(|answer| *answer == Some(true)));
                    let answered = match probed {
                        Ok(Ok(answered)) => {
                            probing.running = None;
                            answered
                        }
                        Ok(Err(_)) => {
                            probing.running = None;
                            tracing::warn!("store probe panicked: not ready");
                            false
                        }
                        Err(_) => {
                            tracing::warn!(
                                timeout_ms = u64::try_from(inner.probe_timeout.as_millis())
                                    .unwrap_or(u64::MAX),
                                "store probe timed out: not ready"
                            );
                            false
                        }
                    };
                    probing.last = Some((Instant::now(), answered));
                    answered
                }
            }
        };
        if inner.state.stopping() {
            Readiness::Stopping
        } else if answered {
            Readiness::Ready
        } else {
            Readiness::StoreNotAnswering
        }
    }

    /// Serves [`router`](Self::router) on `127.0.0.1` at a free port, as [`bind`](Self::bind).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when no socket can be bound.
    pub async fn spawn(&self) -> Result<Server<Admin>> {
        self.bind(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Serves [`router`](Self::router) on `addr` in a task of the current tokio runtime, with
    /// the [connection limits](AdminBuilder::connections) set (by default at most 64
    /// connections). Stop it after the receiver
    /// (its `/readyz` answers `503` during the receiver's drain).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when `addr` cannot be bound.
    pub async fn bind(&self, addr: SocketAddr) -> Result<Server<Admin>> {
        let limits = self.inner.connections;
        Server::bind(addr, "admin server", limits, self.clone(), |admin, _| {
            admin.router()
        })
        .await
    }
}

/// Runs `probe` in a task of its own: the receiver is filled with whether the store answered,
/// and closed without a value if the probe panicked.
fn spawn_probe(
    probe: Pin<Box<dyn Future<Output = Result<()>> + Send>>,
) -> watch::Receiver<Option<bool>> {
    let (answer, running) = watch::channel(None);
    tokio::spawn(async move {
        let answered = match probe.await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "store probe failed: not ready");
                false
            }
        };
        answer.send_replace(Some(answered));
    });
    running
}

async fn readyz(State(admin): State<Admin>) -> Response {
    let readiness = admin.readiness().await;
    (
        readiness.status(),
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        readiness.text(),
    )
        .into_response()
}

async fn metrics_page(State(admin): State<Admin>) -> Response {
    let inner = &admin.inner;
    let Some(render) = &inner.render else {
        return (
            StatusCode::NOT_FOUND,
            "no metrics: the application gave the admin router no page to render\n",
        )
            .into_response();
    };
    // Precision is no concern below 2^53.
    #[allow(clippy::cast_precision_loss)]
    {
        ::metrics::gauge!(OPEN_CONNECTIONS).set(inner.state.open_connections() as f64);
        ::metrics::gauge!(UNVERIFIED_BYTES).set(inner.budget.used() as f64);
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        render(),
    )
        .into_response()
}

/// Installs a Prometheus recorder as the process's `metrics` recorder, with the receiver's
/// metrics described, its duration histograms bucketed
/// ([`DURATION_BUCKETS`](super::metrics::DURATION_BUCKETS)) and every outcome's counter at 0;
/// the handle renders the page (give `move || handle.render()` to
/// [`AdminBuilder::metrics`]). A thread named `metrics-upkeep` drains the histograms every 5 s,
/// so that memory stays bounded when nobody scrapes.
///
/// Once per process: the recorder is global.
///
/// # Errors
///
/// [`ErrorKind::Usage`](crate::ErrorKind::Usage) when a recorder is installed already.
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub fn install_prometheus() -> Result<metrics_exporter_prometheus::PrometheusHandle> {
    use super::metrics::{
        describe, Outcome, DELIVERIES, DELIVERY_SECONDS, DURATION_BUCKETS, HANDOFF_FAILURES,
        HANDOFF_SECONDS, IN_FLIGHT, RECEIVED_BYTES,
    };
    use crate::error::{Error, ErrorKind};
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

    let usage = |e: metrics_exporter_prometheus::BuildError| {
        Error::with_source(
            ErrorKind::Usage,
            "cannot install the Prometheus recorder",
            e,
        )
    };
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(DELIVERY_SECONDS.into()), &DURATION_BUCKETS)
        .map_err(usage)?
        .set_buckets_for_metric(Matcher::Full(HANDOFF_SECONDS.into()), &DURATION_BUCKETS)
        .map_err(usage)?
        .install_recorder()
        .map_err(usage)?;
    describe();
    for outcome in Outcome::ALL {
        ::metrics::counter!(DELIVERIES, "outcome" => outcome.label()).increment(0);
    }
    ::metrics::counter!(RECEIVED_BYTES).increment(0);
    ::metrics::counter!(HANDOFF_FAILURES).increment(0);
    ::metrics::gauge!(IN_FLIGHT).set(0.0);
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(5));
            upkeep.run_upkeep();
        })
        .map_err(|e| Error::with_source(ErrorKind::Io, "cannot start the metrics upkeep", e))?;
    Ok(handle)
}
