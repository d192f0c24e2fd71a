//! [`Server`]: a router served on a socket in a task, until told to stop. The emulator and the
//! webhook receiver both run this way.
//!
//! Not `axum::serve`: it offers no HTTP/2 settings, and the emulator and the receiver serve
//! HTTP/1.1 and HTTP/2 (prior knowledge) on one port with HTTP/2 windows and stream limits of
//! their own.

use std::fmt;
use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{Error, ErrorKind, Result};

/// A running server of `A` (the emulator, or the webhook receiver): its address, the ways to
/// stop it, and what it serves (a `Server<A>` dereferences to `A`, so
/// `server.requests()` reads the emulator's count). Dropping it stops it too, without waiting.
///
/// Made by `Emulator::spawn` and `Receiver::spawn` (or their `bind`).
pub struct Server<A> {
    addr: SocketAddr,
    name: &'static str,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    app: A,
}

impl<A: fmt::Debug> fmt::Debug for Server<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
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
        app: A,
        make: impl FnOnce(&A, watch::Receiver<bool>) -> Router,
    ) -> Result<Server<A>> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            Error::with_source(ErrorKind::Io, format!("cannot listen on {addr}"), e)
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::with_source(ErrorKind::Io, "cannot read the bound address", e))?;
        let (stop, stopped) = watch::channel(false);
        let router = make(&app, stopped.clone());
        let task = spawn(listener, router, stopped);
        Ok(Server {
            addr,
            name,
            stop,
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

    /// Stops it: no new connection is accepted, requests being answered are finished (the
    /// emulator's stalled and dripping bodies are cut), and it returns once every connection
    /// is closed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the server had failed.
    pub async fn shutdown(mut self) -> Result<()> {
        self.stop.send_replace(true);
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

/// The most requests one HTTP/2 connection may have open at once: above the usual 200, so a
/// test can open hundreds of downloads over one connection.
const MAX_CONCURRENT_STREAMS: u32 = 1024;

/// The most response bytes queued per HTTP/2 stream beyond what the client's window takes.
const MAX_SEND_BUFFER: usize = 64 << 10;

/// Serves `router` on `listener` in a task of the current runtime until `stopped` turns
/// true; then no new connection is accepted and the task ends once the open ones are closed.
///
/// Each connection speaks HTTP/1.1 or, when its first bytes are the HTTP/2 preface (a client
/// with prior knowledge), HTTP/2.
fn spawn(
    listener: TcpListener,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<std::io::Result<()>> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    tokio::spawn(async move {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new());
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
            .max_send_buf_size(MAX_SEND_BUFFER);
        let open = GracefulShutdown::new();
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stopped.wait_for(|stop| *stop) => break,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                // A connection that went before it was accepted: the next one.
                Err(e) if is_connection_error(&e) => continue,
                // Out of file descriptors, say: wait a little rather than spin.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let connection = builder
                .serve_connection_with_upgrades(
                    TokioIo::new(stream),
                    TowerToHyperService::new(router.clone()),
                )
                .into_owned();
            let connection = open.watch(connection);
            // A connection's own failure (a client that went away) is that client's.
            tokio::spawn(async move {
                let _ = connection.await;
            });
        }
        drop(listener);
        open.shutdown().await;
        Ok(())
    })
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionRefused | K::ConnectionAborted | K::ConnectionReset
    )
}
