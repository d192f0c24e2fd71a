//! What the test binary logs through `tracing`, kept to be searched.

use std::sync::{Arc, Mutex, OnceLock};

/// A `tracing` writer that keeps what it is given.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Everything the test binary logs from now on, at `DEBUG` and above, without colours. A
/// subscriber for the whole process rather than one thread's: tracing caches whether a
/// callsite is wanted, and a test on another thread that reaches it first would hide it from
/// a thread's own subscriber. Every test's events land here: search for what is yours.
pub fn global() -> Log {
    static LOG: OnceLock<Log> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        log
    })
    .clone()
}
