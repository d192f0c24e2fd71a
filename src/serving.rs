//! [`Server`]: a router served on a socket in a task, until told to stop, with a timeout on
//! every phase of every connection. The emulator and the webhook receiver both run this way.
//!
//! Not `axum::serve`: it offers no HTTP/2 settings and no connection limits, and the emulator
//! and the receiver serve HTTP/1.1 and HTTP/2 (prior knowledge) on one port with HTTP/2 windows
//! and stream limits of their own. hyper's own header timeout starts only once the protocol is
//! decided and HTTP/2 has no idle timeout, so every connection is watched here instead: how
//! long it has been open without a request, how long it has been idle, and how many are open.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::error::{Error, ErrorKind, Result};

/// How long a connection may take to send its first request head (HTTP/1 or HTTP/2,
/// counted from the accept, so before the protocol is decided too), unless
/// [`ConnectionLimits::head_timeout`] says otherwise: 20 s.
pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a connection may stay open with no request in progress and no byte moving,
/// unless [`ConnectionLimits::idle_timeout`] says otherwise: 30 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// File descriptors kept free of connections for the files the server writes and reads
/// (see [`ConnectionLimits::max_connections`]): 128.
pub const RESERVED_FILES: u64 = 128;

/// The limits of a server's connections, the same for the emulator and the webhook
/// receiver. Every connection is closed when it breaks one:
///
/// | setting | default | what it bounds |
/// |---|---|---|
/// | [`head_timeout`](Self::head_timeout) | [`DEFAULT_HEAD_TIMEOUT`] (20 s) | from the accept to the first complete request head (a silent connection, a partial HTTP/2 preface, a slowloris head) |
/// | [`idle_timeout`](Self::idle_timeout) | [`DEFAULT_IDLE_TIMEOUT`] (30 s) | no request in progress and no byte read or written (an idle keep-alive connection, HTTP/1 or HTTP/2) |
/// | [`max_connections`](Self::max_connections) | the process's open-file limit less [`RESERVED_FILES`], read when the server starts | open connections: at the cap, the connection that has been idle longest (no request yet, then idle keep-alive) is closed to make room; a request in progress is never closed for it, and a new connection is closed at once when every open one is busy |
///
/// A request's own pace (a body that drips) is the receiver's to bound: see its builder.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use authenteq_export::ConnectionLimits;
///
/// let limits = ConnectionLimits::default()
///     .head_timeout(Duration::from_secs(5))
///     .max_connections(Some(1000));
/// assert_eq!(limits.get_head_timeout(), Duration::from_secs(5));
/// assert_eq!(limits.get_idle_timeout(), Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    head_timeout: Duration,
    idle_timeout: Duration,
    max_connections: Option<usize>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            head_timeout: DEFAULT_HEAD_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: None,
        }
    }
}

impl ConnectionLimits {
    /// The longest a connection may take to send its first request head (at least 1 ms).
    pub fn head_timeout(mut self, timeout: Duration) -> Self {
        self.head_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The longest a connection may stay idle (at least 1 ms).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The most connections open at once (at least 1); `None` (the default) is the process's
    /// soft open-file limit less [`RESERVED_FILES`], read when the server starts (see
    /// [`raise_open_file_limit`] to raise that limit first).
    pub fn max_connections(mut self, n: Option<usize>) -> Self {
        self.max_connections = n.map(|n| n.max(1));
        self
    }

    /// See [`head_timeout`](Self::head_timeout).
    pub fn get_head_timeout(&self) -> Duration {
        self.head_timeout
    }

    /// See [`idle_timeout`](Self::idle_timeout).
    pub fn get_idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// See [`max_connections`](Self::max_connections).
    pub fn get_max_connections(&self) -> Option<usize> {
        self.max_connections
    }

    /// The cap in force: the setting, or the open-file limit less the reserve.
    fn cap(&self) -> usize {
        self.max_connections.unwrap_or_else(|| {
            let files = open_file_limit().unwrap_or(1024);
            usize::try_from(files.saturating_sub(RESERVED_FILES).max(1)).unwrap_or(usize::MAX)
        })
    }
}

/// The process's soft limit on open files, where it can be read.
fn open_file_limit() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Raises the process's soft limit on open files to its hard limit, as a server that holds
/// many connections should at start; the limit in force after it.
///
/// # Errors
///
/// [`ErrorKind::Io`] when the limit cannot be read or set (or on a platform other than
/// Linux, where it is left as it is).
pub fn raise_open_file_limit() -> Result<u64> {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getrlimit, setrlimit, Resource};
        let limit = getrlimit(Resource::Nofile);
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        setrlimit(Resource::Nofile, raised).map_err(|e| {
            Error::with_source(ErrorKind::Io, "cannot raise the open-file limit", e)
        })?;
        Ok(getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX))
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(Error::new(
            ErrorKind::Io,
            "the open-file limit is raised on Linux only",
        ))
    }
}

/// What a router is told about its server's stop, by [`Server::bind`]'s `make`.
#[derive(Debug, Clone)]
pub(crate) struct Signals {
    /// Turns `true` when the server stops accepting (the emulator ends its stalls then).
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) stopping: watch::Receiver<bool>,
    /// Turns `true` when the drain's deadline passed: requests still in progress are to end
    /// now, cleaning up after themselves.
    #[cfg_attr(not(feature = "webhook-receiver"), allow(dead_code))]
    pub(crate) cut: watch::Receiver<bool>,
}

/// A running server of `A` (the emulator, or the webhook receiver): its address, the ways to
/// stop it, and what it serves (a `Server<A>` dereferences to `A`, so
/// `server.requests()` reads the emulator's count). Dropping it stops it too, without waiting.
///
/// Made by `Emulator::spawn` and `Receiver::spawn` (or their `bind`).
pub struct Server<A> {
    addr: SocketAddr,
    name: &'static str,
    stop: watch::Sender<bool>,
    cut: watch::Sender<bool>,
    connections: Arc<Connections>,
    task: Option<JoinHandle<io::Result<()>>>,
    app: A,
}

impl<A: fmt::Debug> fmt::Debug for Server<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("open_connections", &self.open_connections())
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

impl<A> std::ops::Deref for Server<A> {
    type Target = A;

    fn deref(&self) -> &A {
        &self.app
    }
}

impl<A> Server<A> {
    /// Binds `addr` and serves `app` through the router `make` gives (told when the server
    /// stops) in a task of the current runtime; `name` names the server in errors.
    pub(crate) async fn bind(
        addr: SocketAddr,
        name: &'static str,
        limits: ConnectionLimits,
        app: A,
        make: impl FnOnce(&A, Signals) -> Router,
    ) -> Result<Server<A>> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            Error::with_source(ErrorKind::Io, format!("cannot listen on {addr}"), e)
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::with_source(ErrorKind::Io, "cannot read the bound address", e))?;
        let (stop, stopping) = watch::channel(false);
        let (cut, cutting) = watch::channel(false);
        let router = make(
            &app,
            Signals {
                stopping: stopping.clone(),
                cut: cutting,
            },
        );
        let connections = Arc::new(Connections::new(limits));
        let task = spawn(listener, router, stopping, Arc::clone(&connections));
        Ok(Server {
            addr,
            name,
            stop,
            cut,
            connections,
            task: Some(task),
            app,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many connections are open right now.
    pub fn open_connections(&self) -> usize {
        self.connections.len()
    }

    /// A handle on its state for another task (an admin router): its open connections, and
    /// whether it was told to stop. It outlives the server.
    #[cfg(feature = "webhook-receiver")]
    pub(crate) fn state(&self) -> ServerState {
        ServerState {
            connections: Arc::clone(&self.connections),
            stopping: self.stop.subscribe(),
        }
    }

    /// Stops it: no new connection is accepted, idle connections are closed at once,
    /// requests being answered are finished (the emulator's stalled and dripping bodies are
    /// cut), and it returns once every connection is closed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the server had failed.
    pub async fn shutdown(mut self) -> Result<()> {
        self.stop.send_replace(true);
        self.join().await
    }

    /// As [`shutdown`](Self::shutdown), but requests still in progress after `deadline` are
    /// told to end (the receiver discards what they staged and answers `503`), and the
    /// connections still open a moment later are closed. For a process manager's grace
    /// period: Kubernetes sends SIGKILL 30 s after SIGTERM, so the CLI's default is 25 s.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the server had failed.
    pub async fn shutdown_within(mut self, deadline: Duration) -> Result<()> {
        self.stop.send_replace(true);
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        let joined = tokio::select! {
            joined = &mut task => joined,
            () = tokio::time::sleep(deadline) => {
                self.cut.send_replace(true);
                // The cut requests answer and clean up; then whatever is left is closed.
                match tokio::time::timeout(CUT_GRACE, &mut task).await {
                    Ok(joined) => joined,
                    Err(_) => {
                        self.connections.close_all();
                        task.await
                    }
                }
            }
        };
        self.task = Some(tokio::spawn(async move { joined.unwrap_or(Ok(())) }));
        self.join().await
    }

    /// Serves until the server fails: for a process that does nothing else.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the server fails.
    pub async fn wait(mut self) -> Result<()> {
        self.join().await
    }

    async fn join(&mut self) -> Result<()> {
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::with_source(
                ErrorKind::Io,
                format!("the {} failed", self.name),
                e,
            )),
            Err(e) => Err(Error::with_source(
                ErrorKind::Io,
                format!("the {}'s task failed", self.name),
                e,
            )),
        }
    }
}

impl<A> Drop for Server<A> {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// What another task may read of a [`Server`]: see [`Server::state`].
#[cfg(feature = "webhook-receiver")]
#[derive(Debug, Clone)]
pub(crate) struct ServerState {
    connections: Arc<Connections>,
    stopping: watch::Receiver<bool>,
}

#[cfg(feature = "webhook-receiver")]
impl ServerState {
    /// How many connections the server has open.
    pub(crate) fn open_connections(&self) -> usize {
        self.connections.len()
    }

    /// Whether it was told to stop (its drain started, or it is gone).
    pub(crate) fn stopping(&self) -> bool {
        *self.stopping.borrow()
    }
}

/// How long requests told to end at a drain's deadline get to clean up before their
/// connections are closed under them.
const CUT_GRACE: Duration = Duration::from_secs(5);

/// The most requests one HTTP/2 connection may have open at once: above the usual 200, so a
/// test can open hundreds of downloads over one connection.
const MAX_CONCURRENT_STREAMS: u32 = 1024;

/// The most response bytes queued per HTTP/2 stream beyond what the client's window takes.
const MAX_SEND_BUFFER: usize = 64 << 10;

/// One open connection, as the watchdog and the request handlers see it.
#[derive(Debug)]
pub(crate) struct Connection {
    accepted: Instant,
    /// Milliseconds after `accepted` of the last byte read or written.
    last_activity: AtomicU64,
    /// Requests started on it so far.
    requests: AtomicU64,
    /// Requests in progress.
    active: AtomicUsize,
    /// Bytes read from the socket so far.
    bytes_read: AtomicU64,
    /// Reading past this count of bytes fails the connection (`u64::MAX`: no limit).
    read_limit: AtomicU64,
    /// Told to close.
    close: Notify,
}

impl Connection {
    fn new() -> Connection {
        Connection {
            accepted: Instant::now(),
            last_activity: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            bytes_read: AtomicU64::new(0),
            read_limit: AtomicU64::new(u64::MAX),
            close: Notify::new(),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_activity.store(now, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        self.accepted
            .elapsed()
            .saturating_sub(Duration::from_millis(
                self.last_activity.load(Ordering::Relaxed),
            ))
    }

    /// Fails the connection once `bytes` more than read so far were read: for an HTTP/1
    /// request, whose chunk framing would otherwise count towards no limit.
    #[cfg_attr(not(feature = "webhook-receiver"), allow(dead_code))]
    pub(crate) fn limit_reading(&self, bytes: u64) {
        let limit = self
            .bytes_read
            .load(Ordering::Relaxed)
            .saturating_add(bytes);
        self.read_limit.store(limit, Ordering::Relaxed);
    }

    /// Lifts [`limit_reading`](Self::limit_reading).
    #[cfg_attr(not(feature = "webhook-receiver"), allow(dead_code))]
    pub(crate) fn unlimit_reading(&self) {
        self.read_limit.store(u64::MAX, Ordering::Relaxed);
    }
}

/// The open connections of one server.
#[derive(Debug)]
struct Connections {
    limits: ConnectionLimits,
    cap: usize,
    open: Mutex<HashMap<u64, Arc<Connection>>>,
    next: AtomicU64,
}

impl Connections {
    fn new(limits: ConnectionLimits) -> Connections {
        Connections {
            cap: limits.cap(),
            limits,
            open: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
        }
    }

    fn len(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Registers a new connection, closing the longest idle one when at the cap; `None` when
    /// every open connection is busy and this one is to be closed.
    fn admit(&self) -> Option<(u64, Arc<Connection>)> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.len() >= self.cap {
            let victim = open
                .iter()
                .filter(|(_, c)| c.active.load(Ordering::Relaxed) == 0)
                .max_by_key(|(_, c)| {
                    let waiting = c.requests.load(Ordering::Relaxed) == 0;
                    (waiting, c.idle_for())
                })
                .map(|(id, _)| *id)?;
            if let Some(victim) = open.remove(&victim) {
                victim.close.notify_one();
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection::new());
        open.insert(id, Arc::clone(&connection));
        Some((id, connection))
    }

    fn remove(&self, id: u64) {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    /// Closes the connections past their timeouts.
    fn sweep(&self) {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        for connection in open.values() {
            let expired = if connection.requests.load(Ordering::Relaxed) == 0 {
                connection.accepted.elapsed() >= self.limits.head_timeout
            } else {
                connection.active.load(Ordering::Relaxed) == 0
                    && connection.idle_for() >= self.limits.idle_timeout
            };
            if expired {
                connection.close.notify_one();
            }
        }
    }

    fn close_all(&self) {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        for connection in open.values() {
            connection.close.notify_one();
        }
    }

    /// How often [`sweep`](Self::sweep) runs: a quarter of the shortest timeout, at most
    /// a second.
    fn sweep_every(&self) -> Duration {
        (self.limits.head_timeout.min(self.limits.idle_timeout) / 4)
            .clamp(Duration::from_millis(1), Duration::from_secs(1))
    }
}

/// A socket that tells its [`Connection`] of every byte it moves.
struct Watched {
    stream: TcpStream,
    connection: Arc<Connection>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        if n > 0 {
            let c = &self.connection;
            c.touch();
            let read = c.bytes_read.fetch_add(n, Ordering::Relaxed) + n;
            if read > c.read_limit.load(Ordering::Relaxed) {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the request's body, framing included, is over its cap",
                )));
            }
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.connection.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.connection.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// A request in progress on a connection: counted while it lives.
struct InProgress(Arc<Connection>);

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// The router, with each request counted on its connection and the connection in the
/// request's extensions.
#[derive(Clone)]
struct Counted {
    router: Router,
    connection: Arc<Connection>,
}

type Answering = Pin<Box<dyn Future<Output = std::result::Result<Response, Infallible>> + Send>>;

impl<B> tower::Service<axum::http::Request<B>> for Counted
where
    B: axum::body::HttpBody<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answering;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::result::Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Answering {
        let router = self.router.clone();
        let connection = Arc::clone(&self.connection);
        Box::pin(async move {
            connection.requests.fetch_add(1, Ordering::Relaxed);
            connection.active.fetch_add(1, Ordering::Relaxed);
            let in_progress = InProgress(Arc::clone(&connection));
            let mut request: Request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(connection);
            let response = tower::ServiceExt::oneshot(router, request).await;
            drop(in_progress);
            response
        })
    }
}

/// Serves `router` on `listener` in a task of the current runtime until `stopping` turns
/// true; then no new connection is accepted and the task ends once the open ones are closed.
///
/// Each connection speaks HTTP/1.1 or, when its first bytes are the HTTP/2 preface (a client
/// with prior knowledge), HTTP/2.
fn spawn(
    listener: TcpListener,
    router: Router,
    mut stopping: watch::Receiver<bool>,
    connections: Arc<Connections>,
) -> JoinHandle<io::Result<()>> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    tokio::spawn(async move {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(connections.limits.head_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
            .max_send_buf_size(MAX_SEND_BUFFER);
        let open = GracefulShutdown::new();
        let mut sweep = tokio::time::interval(connections.sweep_every());
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = sweep.tick() => {
                    connections.sweep();
                    continue;
                }
                _ = stopping.wait_for(|stop| *stop) => break,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                // A connection that went before it was accepted: the next one.
                Err(e) if is_connection_error(&e) => continue,
                // Out of file descriptors, say: wait a little rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Some((id, connection)) = connections.admit() else {
                // Every open connection is busy with a request: this one waits for nothing.
                drop(stream);
                continue;
            };
            let io = TokioIo::new(Watched {
                stream,
                connection: Arc::clone(&connection),
            });
            let service = TowerToHyperService::new(Counted {
                router: router.clone(),
                connection: Arc::clone(&connection),
            });
            let served = builder
                .serve_connection_with_upgrades(io, service)
                .into_owned();
            let served = open.watch(served);
            let connections = Arc::clone(&connections);
            // A connection's own failure (a client that went away) is that client's.
            tokio::spawn(async move {
                tokio::select! {
                    _ = served => {}
                    () = connection.close.notified() => {}
                }
                connections.remove(id);
            });
        }
        drop(listener);
        // Idle connections close at once; the others once their requests are answered.
        tokio::select! {
            () = open.shutdown() => {}
            () = sweep_until_empty(&connections) => {}
        }
        Ok(())
    })
}

/// Keeps sweeping (closing connections past their timeouts) while any is open.
async fn sweep_until_empty(connections: &Connections) {
    let mut sweep = tokio::time::interval(connections.sweep_every());
    loop {
        sweep.tick().await;
        connections.sweep();
        if connections.len() == 0 {
            return;
        }
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    use io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionRefused | K::ConnectionAborted | K::ConnectionReset
    )
}
