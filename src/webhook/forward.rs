//! The forwarder: hands a stored verification on to the application as a small JSON event,
//! signed the Standard Webhooks way.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::receiver::StoredVerification;
use crate::error::{Error, ErrorKind, Result};
use crate::export::VerificationId;

/// The type of the event a [`Forwarder`] posts: `verification.stored`.
pub const EVENT_TYPE: &str = "verification.stored";

/// The longest the forwarder waits for a TCP (and TLS) connection to the application unless
/// [`ForwarderBuilder::connect_timeout`] says otherwise: 5 s.
pub const DEFAULT_FORWARD_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest one forward may take, connection to the end of the answer, unless
/// [`ForwarderBuilder::timeout`] says otherwise: 20 s, below the receiver's
/// [`DEFAULT_HANDLER_TIMEOUT`](super::DEFAULT_HANDLER_TIMEOUT) (30 s), so that a slow
/// application is reported as such rather than as a handler that took too long.
pub const DEFAULT_FORWARD_TIMEOUT: Duration = Duration::from_secs(20);

/// About the most bytes of the application's answer the forwarder reads unless
/// [`ForwarderBuilder::max_answer_bytes`] says otherwise: 4 KiB (checked before each read, so
/// at most one read buffer more). Only the status counts; the rest of a longer answer is not
/// read (its connection is closed).
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 4 << 10;

/// The longest the forwarder reads the body of an answer whose status it has, within the
/// [timeout](ForwarderBuilder::timeout): 1 s. The status decides; a body that is slow, held
/// open or broken after a `2xx` still counts as handled, and only closes its connection.
pub const ANSWER_BODY_TIMEOUT: Duration = Duration::from_secs(1);

/// The shortest forward secret accepted, in bytes once decoded: 16 (Standard Webhooks
/// recommends 24 to 64).
const MIN_SECRET_BYTES: usize = 16;

/// The longest forward secret accepted, in bytes once decoded: 1024.
const MAX_SECRET_BYTES: usize = 1024;

/// The secret a [`Forwarder`] signs with, in the Standard Webhooks form `whsec_<base64>`:
/// the HMAC-SHA256 key is the base64-decoded part.
///
/// Its `Debug` never shows the key.
///
/// # Examples
///
/// ```
/// use authenteq_export::webhook::ForwardSecret;
///
/// let secret: ForwardSecret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".parse()?;
/// // The Standard Webhooks signature of `{msg_id}.{timestamp}.{body}`.
/// let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
/// assert_eq!(signature, "v1,O4Gjv1HqPqsMrjmczoggs/sWA8gZD0VyHG+fLh4+ktI=");
/// # Ok::<(), authenteq_export::Error>(())
/// ```
#[derive(Clone)]
pub struct ForwardSecret {
    key: Arc<[u8]>,
}

impl fmt::Debug for ForwardSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ForwardSecret(..)")
    }
}

impl ForwardSecret {
    /// The prefix of a secret's text form.
    pub const PREFIX: &'static str = "whsec_";

    /// Parses `whsec_<base64>` (standard base64, padded or not). The value is never part of
    /// an error.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] without the `whsec_` prefix, with something that is not base64
    /// after it, or a key under 16 or over 1024 bytes.
    pub fn parse(text: &str) -> Result<ForwardSecret> {
        let encoded = text.trim().strip_prefix(Self::PREFIX).ok_or_else(|| {
            Error::new(
                ErrorKind::Usage,
                "the forward secret does not start with whsec_ (the Standard Webhooks form \
                 whsec_<base64 of the key>)",
            )
        })?;
        let key = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(encoded.trim_end_matches('='))
            .map_err(|_| {
                Error::new(
                    ErrorKind::Usage,
                    "the forward secret is not base64 after whsec_",
                )
            })?;
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&key.len()) {
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "the forward secret's key is {} bytes: it takes {MIN_SECRET_BYTES} to \
                     {MAX_SECRET_BYTES} (32 random bytes, base64, after whsec_)",
                    key.len()
                ),
            ));
        }
        Ok(ForwardSecret { key: key.into() })
    }

    /// The Standard Webhooks signature of `body` sent as message `msg_id` at `timestamp`
    /// (seconds since the Unix epoch): `v1,` and the base64 of the HMAC-SHA256 of
    /// `{msg_id}.{timestamp}.{body}` keyed with the secret. Cost: one pass over `body`.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC takes a key of any length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(tag)
        )
    }
}

impl std::str::FromStr for ForwardSecret {
    type Err = Error;

    fn from_str(s: &str) -> Result<ForwardSecret> {
        ForwardSecret::parse(s)
    }
}

/// The `webhook-id` of the event of verification `id`: `msg_` and 32 hex digits of the
/// SHA-256 of `verification.stored:<id>`. The same for every attempt and every receiver, so
/// the application can drop a repeat by it (as Standard Webhooks asks of a resent message);
/// always a header-safe token, whatever characters the verification id has.
pub fn event_id(id: &VerificationId) -> String {
    let digest = Sha256::new()
        .chain_update(EVENT_TYPE.as_bytes())
        .chain_update(b":")
        .chain_update(id.as_str().as_bytes())
        .finalize();
    let mut out = String::with_capacity(36);
    out.push_str("msg_");
    for byte in &digest[..16] {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// The body of the event of `stored`: `{"type": "verification.stored", "timestamp": ...,
/// "data": {"id", "result", "files": [{"name", "size", "sha256", "contentType",
/// "location"}]}}`, no file bytes.
///
/// # Errors
///
/// [`ErrorKind::Json`] if the result cannot be written as JSON (it always can).
pub fn event_body(stored: &StoredVerification, timestamp: i64) -> Result<Vec<u8>> {
    let files: Vec<_> = stored
        .files()
        .map(|(file, location)| {
            serde_json::json!({
                "name": file.name(),
                "size": file.size(),
                "sha256": file.sha256(),
                "contentType": file.content_type(),
                "location": location,
            })
        })
        .collect();
    let time = chrono::DateTime::<chrono::Utc>::from_timestamp(timestamp, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let event = serde_json::json!({
        "type": EVENT_TYPE,
        "timestamp": time,
        "data": {
            "id": stored.id().as_str(),
            "result": stored.result(),
            "files": files,
        },
    });
    serde_json::to_vec(&event)
        .map_err(|e| Error::with_source(ErrorKind::Json, "cannot write the event", e))
}

/// Hands each stored verification on to the application: a `POST` of a small JSON event
/// ([`event_body`]: the result and each file's name, size, SHA-256, content type and
/// location; never the files' bytes) to a URL, signed the
/// [Standard Webhooks](https://www.standardwebhooks.com/) way, so that the application
/// verifies it with any Standard Webhooks library:
///
/// | header | value |
/// |---|---|
/// | `webhook-id` | [`event_id`]: one per verification id, the same on every attempt |
/// | `webhook-timestamp` | seconds since the Unix epoch, when this attempt was made |
/// | `webhook-signature` | [`ForwardSecret::sign`]: `v1,<base64 HMAC-SHA256>` |
/// | `content-type` | `application/json` |
///
/// An answer `2xx` means handled, whatever its body does afterwards; any other answer, a redirect (never followed), a timeout or
/// a failed connection is an error, and, as the receiver's
/// [`on_stored`](super::ReceiverBuilder::on_stored) handler ([`handler`](Self::handler)),
/// makes the receiver answer the delivery `500`, so that the vendor delivers it again.
/// Errors and log lines name the answer's status and the URL's host, never its path, query
/// or credentials, nor anything of the event.
///
/// Cheap to clone (the clones share one connection pool).
///
/// # Examples
///
/// ```no_run
/// use authenteq_export::store::FolderSink;
/// use authenteq_export::webhook::{ForwardSecret, Forwarder, Receiver, WebhookKey};
///
/// # async fn run() -> authenteq_export::Result<()> {
/// let secret: ForwardSecret = std::env::var("AUTHENTEQ_FORWARD_SECRET").unwrap_or_default().parse()?;
/// let forwarder = Forwarder::builder("https://app.example.com/hooks/verification", secret).build()?;
/// let receiver = Receiver::builder(FolderSink::create("deliveries")?)
///     .key(WebhookKey::new("my-client-id", "my-client-secret"))
///     .on_stored(forwarder.handler())
///     .build()?;
/// # let _ = receiver;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Forwarder {
    inner: Arc<ForwarderInner>,
}

struct ForwarderInner {
    http: reqwest::Client,
    url: reqwest::Url,
    host: String,
    secret: ForwardSecret,
    max_answer_bytes: usize,
}

impl fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forwarder")
            .field("host", &self.inner.host)
            .field("max_answer_bytes", &self.inner.max_answer_bytes)
            .finish_non_exhaustive()
    }
}

/// Settings of a [`Forwarder`], with documented defaults.
///
/// | setting | default |
/// |---|---|
/// | [`connect_timeout`](Self::connect_timeout) | [`DEFAULT_FORWARD_CONNECT_TIMEOUT`] (5 s) |
/// | [`timeout`](Self::timeout) | [`DEFAULT_FORWARD_TIMEOUT`] (20 s) |
/// | [`max_answer_bytes`](Self::max_answer_bytes) | [`DEFAULT_MAX_ANSWER_BYTES`] (4 KiB) |
/// | [`allow_insecure_http`](Self::allow_insecure_http) | off: `http://` only to loopback |
pub struct ForwarderBuilder {
    url: String,
    secret: ForwardSecret,
    connect_timeout: Duration,
    timeout: Duration,
    max_answer_bytes: usize,
    allow_insecure_http: bool,
}

impl fmt::Debug for ForwarderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwarderBuilder")
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_answer_bytes", &self.max_answer_bytes)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish_non_exhaustive()
    }
}

impl ForwarderBuilder {
    /// The longest to wait for a connection (TCP and TLS) to the application. Default
    /// [`DEFAULT_FORWARD_CONNECT_TIMEOUT`] (5 s); at least 1 ms.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The longest one forward may take, connection to the end of the answer. Default
    /// [`DEFAULT_FORWARD_TIMEOUT`] (20 s); at least 1 ms. Keep it below the receiver's
    /// [`handler_timeout`](super::ReceiverBuilder::handler_timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// About the most bytes of the application's answer read: checked before each read, so
    /// at most one read buffer more; the rest is not read. Default
    /// [`DEFAULT_MAX_ANSWER_BYTES`] (4 KiB).
    pub fn max_answer_bytes(mut self, n: usize) -> Self {
        self.max_answer_bytes = n;
        self
    }

    /// Lets the URL be plain `http://` to a host that is not loopback (default off: the
    /// event holds personal data).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The forwarder.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] for a URL that is not an absolute `http` or `https` URL, or a
    /// plain `http` one to a host that is not loopback without
    /// [`allow_insecure_http`](Self::allow_insecure_http); [`ErrorKind::Http`] if the HTTP
    /// client cannot be set up.
    pub fn build(self) -> Result<Forwarder> {
        let url = crate::http_url::parse(&self.url).ok_or_else(|| {
            Error::new(
                ErrorKind::Usage,
                "the forward URL is not an absolute http or https URL",
            )
        })?;
        let host = url.host_str().unwrap_or_default().to_owned();
        if crate::http_url::is_insecure(&url) && !self.allow_insecure_http {
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "the forward URL is plain http to {host}, which is not loopback: the \
                     verification results would cross the network unencrypted; use https, or \
                     allow it with ForwarderBuilder::allow_insecure_http(true) or the \
                     --allow-insecure-http flag"
                ),
            ));
        }
        // No proxy, whatever HTTP_PROXY, HTTPS_PROXY or ALL_PROXY say: plain http is allowed
        // to loopback only, and a proxy would carry the event off the machine in clear.
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("authenteq-export/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::with_source(ErrorKind::Http, "cannot set up the HTTP client", e))?;
        Ok(Forwarder {
            inner: Arc::new(ForwarderInner {
                http,
                url,
                host,
                secret: self.secret,
                max_answer_bytes: self.max_answer_bytes,
            }),
        })
    }
}

/// What [`Forwarder::handler`] gives the receiver for each stored verification.
pub type ForwardFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

impl Forwarder {
    /// Settings for a forwarder that posts to `url`, signed with `secret`.
    pub fn builder(url: impl Into<String>, secret: ForwardSecret) -> ForwarderBuilder {
        ForwarderBuilder {
            url: url.into(),
            secret,
            connect_timeout: DEFAULT_FORWARD_CONNECT_TIMEOUT,
            timeout: DEFAULT_FORWARD_TIMEOUT,
            max_answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
            allow_insecure_http: false,
        }
    }

    /// Posts the event of `stored` (one attempt), signed with the time of now.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Http`] for an answer that is not `2xx` (its [`status`](Error::status)), a
    /// failed connection ([`Error::is_connect`]) or an exchange that broke;
    /// [`ErrorKind::Timeout`] past the connect timeout or the timeout. The message names the
    /// URL's host and the status, nothing else of the URL or the event.
    pub async fn forward(&self, stored: &StoredVerification) -> Result<()> {
        let inner = &*self.inner;
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let body = event_body(stored, timestamp)?;
        let msg_id = event_id(stored.id());
        let signature = inner.secret.sign(&msg_id, timestamp, &body);
        let host = &inner.host;
        let sent = inner
            .http
            .post(inner.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let outcome = match sent {
            Ok(mut answer) => {
                let status = answer.status();
                // Only the status counts: read a bounded start of the answer for a short while
                // (so a short one leaves the connection reusable), never more; a body that is
                // slow, held open or broken changes nothing (its connection is closed).
                let max = inner.max_answer_bytes;
                let drain = async {
                    let mut read = 0usize;
                    while read < max {
                        match answer.chunk().await {
                            Ok(Some(chunk)) => read += chunk.len(),
                            Ok(None) | Err(_) => break,
                        }
                    }
                };
                let _ = tokio::time::timeout(ANSWER_BODY_TIMEOUT, drain).await;
                if status.is_success() {
                    Ok(status.as_u16())
                } else {
                    Err(Error::new(
                        ErrorKind::Http,
                        format!(
                            "the application at {host} answered {}: forward it again",
                            status.as_u16()
                        ),
                    )
                    .with_http_status(status.as_u16()))
                }
            }
            Err(e) if e.is_timeout() => Err(timeout_error(host, e)),
            Err(e) => {
                let connect = e.is_connect();
                let err = Error::with_source(
                    ErrorKind::Http,
                    format!(
                        "{} the application at {host}: forward it again",
                        if connect {
                            "cannot connect to"
                        } else {
                            "the exchange broke with"
                        }
                    ),
                    e.without_url(),
                );
                Err(if connect { err.connecting() } else { err })
            }
        };
        match outcome {
            Ok(status) => {
                tracing::debug!(host = %host, status, "forwarded");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(host = %host, status = e.status(), error = %e.detail(), "forward failed");
                Err(e)
            }
        }
    }

    /// The receiver's [`on_stored`](super::ReceiverBuilder::on_stored) handler that
    /// [`forward`](Self::forward)s each stored verification.
    pub fn handler(
        &self,
    ) -> impl Fn(StoredVerification) -> ForwardFuture + Clone + Send + Sync + 'static {
        let forwarder = self.clone();
        move |stored: StoredVerification| {
            let forwarder = forwarder.clone();
            Box::pin(async move { forwarder.forward(&stored).await })
        }
    }
}

/// A forward that took longer than a timeout.
fn timeout_error(host: &str, e: reqwest::Error) -> Error {
    Error::with_source(
        ErrorKind::Timeout,
        format!("the application at {host} did not answer in time: forward it again"),
        e.without_url(),
    )
}

/// Whether `host` (a URL's host) is loopback: `127.0.0.0/8`, `::1` or the name `localhost`.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_that_are_not_whsec_base64_are_refused_without_their_value() {
        for (bad, says) in [
            ("c2VjcmV0LXNlY3JldC1zZWNyZXQ=", "does not start with whsec_"),
            ("whsec_not*base64!", "not base64"),
            ("whsec_", "0 bytes"),
            ("whsec_c2hvcnQ=", "5 bytes"),
        ] {
            let err = ForwardSecret::parse(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Usage, "{bad}");
            let text = err.to_string();
            assert!(text.contains(says), "{bad}: {text}");
            let value = bad.trim_start_matches("whsec_");
            assert!(value.is_empty() || !text.contains(value), "{text}");
        }
        // Padded or not, the same key.
        let padded = ForwardSecret::parse("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
        let bare = ForwardSecret::parse("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
        assert_eq!(padded.unwrap().key, bare.unwrap().key);
    }

    /// Computed with the `standardwebhooks` package of PyPI (`Webhook(secret).sign(...)`).
    #[test]
    fn signatures_match_a_vector_of_the_python_implementation() {
        let secret =
            ForwardSecret::parse("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,O4Gjv1HqPqsMrjmczoggs/sWA8gZD0VyHG+fLh4+ktI="
        );
        assert_eq!(format!("{secret:?}"), "ForwardSecret(..)");
    }

    #[test]
    fn event_ids_are_stable_header_safe_and_differ_by_verification() {
        let a = event_id(&VerificationId::new("8c3f6a2e-5b1d-4e7a-9f20-6d4b2c1a7e95").unwrap());
        let b = event_id(&VerificationId::new("an id with spaces and é").unwrap());
        assert_eq!(
            a,
            event_id(&VerificationId::new("8c3f6a2e-5b1d-4e7a-9f20-6d4b2c1a7e95").unwrap())
        );
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert_eq!(id.len(), 36);
            assert!(id.starts_with("msg_"));
            assert!(id[4..].bytes().all(|c| c.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn plain_http_only_to_loopback_unless_allowed() {
        let secret =
            ForwardSecret::parse("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        let build = |url: &str, allow: bool| {
            Forwarder::builder(url, secret.clone())
                .allow_insecure_http(allow)
                .build()
        };
        for ok in [
            "http://127.0.0.1:9/x",
            "http://[::1]:9/",
            "http://localhost/",
            "https://app.example/",
        ] {
            assert!(build(ok, false).is_ok(), "{ok}");
        }
        let err = build("http://user:pw@app.example/path?token=t", false).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage);
        let text = err.to_string();
        assert!(
            text.contains("app.example") && text.contains("--allow-insecure-http"),
            "{text}"
        );
        assert!(!text.contains("token") && !text.contains("pw"), "{text}");
        assert!(build("http://app.example/", true).is_ok());
        for bad in ["ftp://app.example/", "app.example/hook", ""] {
            assert_eq!(
                build(bad, true).unwrap_err().kind(),
                ErrorKind::Usage,
                "{bad}"
            );
        }
    }
}
