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

/// Serves `router` on `listener` in a task of the current runtime until `stopped` turns
/// true; then no new connection is accepted and the task ends once the open ones are closed.
pub(crate) fn spawn(
    listener: TcpListener,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) -> ServeTask {
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await
    })
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
