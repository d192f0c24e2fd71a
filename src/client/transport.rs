//! What reqwest's errors mean to us: an error of the crate's that names the server, the
//! timeout that passed, and the cause in a few words.

use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};

/// The timeouts in force for one attempt, and where it is sent: enough to say which timeout
/// passed and whom it was about.
#[derive(Debug, Clone)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) read: Duration,
    pub(crate) attempt: Duration,
    pub(crate) total: Option<Duration>,
    /// When the attempt started.
    pub(crate) started: Instant,
    /// When the whole call must end, if it must.
    pub(crate) deadline: Option<Instant>,
    /// `scheme://host:port` of the server: never a path or query (the verification id).
    pub(crate) origin: String,
}

impl Timeouts {
    /// The timeout that passed, in words: `the total deadline (5 s) passed`.
    fn passed(&self, connecting: bool) -> (String, bool) {
        let now = Instant::now();
        if self.deadline.is_some_and(|d| now >= d) {
            let total = secs(self.total.unwrap_or_default());
            return (format!("the total deadline ({total}) passed"), false);
        }
        if now.duration_since(self.started) >= self.attempt {
            let attempt = secs(self.attempt);
            return (format!("the attempt's deadline ({attempt}) passed"), true);
        }
        if connecting {
            let connect = secs(self.connect);
            return (
                format!("no connection within the connect timeout ({connect})"),
                true,
            );
        }
        let read = secs(self.read);
        (
            format!("nothing came within the read timeout ({read})"),
            true,
        )
    }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

/// The error for a request that got no answer head.
pub(crate) fn request_error(e: reqwest::Error, timeouts: &Timeouts) -> Error {
    let e = e.without_url();
    let origin = &timeouts.origin;
    if e.is_timeout() {
        let (what, transient) = timeouts.passed(e.is_connect());
        let err = Error::new(ErrorKind::Timeout, format!("{origin}: {what}"));
        return if transient { err.transient() } else { err };
    }
    if e.is_connect() {
        let detail = format!("cannot connect to {origin} ({})", cause(&e, origin));
        return Error::new(ErrorKind::Http, detail).connecting();
    }
    let detail = format!("the request to {origin} failed ({})", cause(&e, origin));
    Error::new(ErrorKind::Http, detail).transient()
}

/// The error for a body that stopped: `received` bytes came before it.
pub(crate) fn body_error(e: reqwest::Error, timeouts: &Timeouts, received: u64) -> Error {
    let e = e.without_url();
    let origin = &timeouts.origin;
    if e.is_timeout() {
        let (what, transient) = timeouts.passed(false);
        let err = Error::new(
            ErrorKind::Timeout,
            format!("{origin}: {what}, after {received} bytes of the body"),
        );
        return if transient { err.transient() } else { err };
    }
    let detail = format!(
        "the answer from {origin} broke off after {received} bytes ({})",
        cause(&e, origin)
    );
    Error::new(ErrorKind::Http, detail).transient()
}

/// The innermost cause of `e` in a few lowercase words: `connection refused`, or what the
/// innermost error says.
fn cause(e: &reqwest::Error, origin: &str) -> String {
    let mut innermost: &(dyn std::error::Error + 'static) = e;
    let mut io_kind = None;
    let mut next = Some(innermost);
    while let Some(err) = next {
        innermost = err;
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return tls_cause(tls, origin);
        }
        next = match err.downcast_ref::<std::io::Error>() {
            // An io::Error's `source()` skips the error it wraps: step into that one.
            Some(io) => {
                io_kind = Some(io.kind());
                io.get_ref()
                    .map(|inner| inner as &(dyn std::error::Error + 'static))
            }
            None => err.source(),
        };
    }
    use std::io::ErrorKind as Io;
    let known = match io_kind {
        Some(Io::ConnectionRefused) => "connection refused",
        Some(Io::ConnectionReset) => "connection reset",
        Some(Io::ConnectionAborted) => "connection aborted",
        Some(Io::HostUnreachable) => "host unreachable",
        Some(Io::NetworkUnreachable) => "network unreachable",
        Some(Io::AddrNotAvailable) => "address not available",
        Some(Io::UnexpectedEof) => "the connection closed",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    let text = innermost.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "no cause given".to_owned(),
    }
}

fn tls_cause(tls: &rustls::Error, origin: &str) -> String {
    match tls {
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
            let plain = origin.replacen("https://", "http://", 1);
            format!("the server does not speak TLS: is it a plain HTTP server, {plain}?")
        }
        other => format!("TLS: {other}"),
    }
}
