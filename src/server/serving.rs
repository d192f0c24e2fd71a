//! Serving a router on a socket, in a task, until a flag says stop: what the emulator and the
//! webhook receiver share.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{Error, ErrorKind, Result};

/// The task serving a router; its output is the server's own failure, if any.
pub(crate) type ServeTask = JoinHandle<std::io::Result<()>>;

/// Binds `addr`, and gives the listener with the address it got (the port, for port 0).
pub(crate) async fn listen(addr: SocketAddr) -> Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Error::with_source(ErrorKind::Io, format!("cannot listen on {addr}"), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::with_source(ErrorKind::Io, "cannot read the bound address", e))?;
    Ok((listener, addr))
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
pub(crate) fn spawn(
    listener: TcpListener,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) -> ServeTask {
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

/// Waits for the task, if it was not waited for already; `server` names it in the error.
pub(crate) async fn join(task: Option<ServeTask>, server: &str) -> Result<()> {
    let Some(task) = task else { return Ok(()) };
    match task.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::with_source(
            ErrorKind::Io,
            format!("the {server} failed"),
            e,
        )),
        Err(e) => Err(Error::with_source(
            ErrorKind::Io,
            format!("the {server}'s task failed"),
            e,
        )),
    }
}
