//! `serve`: the library's emulator of the API's export endpoints, on one address, until killed.

use std::net::SocketAddr;
use std::path::PathBuf;

use authenteq_export::server::{Emulator, Fault};

use crate::output::Failure;

/// What `serve` was asked for.
pub struct Options {
    pub dir: PathBuf,
    pub addr: SocketAddr,
    pub client_id: String,
    pub client_secret: String,
    pub deactivated: bool,
    pub faults: Vec<Fault>,
}

/// Serves until the process is killed; prints `listening on http://ADDR` on standard output
/// once the socket is bound, and one log line per request on standard error.
pub fn run(options: Options) -> Result<(), Failure> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = crate::output::runtime(0)?;
    runtime.block_on(async move {
        let mut builder = Emulator::builder(&options.dir)
            .credentials(options.client_id, options.client_secret)
            .deactivated(options.deactivated);
        for fault in options.faults {
            builder = builder.fault(fault);
        }
        let emulator = builder.build()?.bind(options.addr).await?;
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "listening on {}", emulator.url());
            let _ = out.flush();
        }
        emulator.wait().await?;
        Ok(())
    })
}
