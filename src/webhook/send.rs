//! The sender: a stored verification delivered as the vendor delivers it, signed, streamed from
//! disk and retried on the vendor's schedule.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_core::Stream;

use super::verify::{WebhookKey, CLIENT_ID_HEADER, SIGNATURE_HEADER};
use crate::error::{Error, ErrorKind, Result};
use crate::export::ExportBody;
use crate::multipart::Boundary;
use crate::stored::StoredVerification;

/// When a delivery is tried again after an answer other than `200` (or none): every `every`,
/// until `for_` has passed since the first attempt. The vendor's is [`RetrySchedule::VENDOR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    /// The wait between two attempts.
    pub every: Duration,
    /// How long after the first attempt a new one may still start.
    pub for_: Duration,
}

impl RetrySchedule {
    /// The vendor's schedule: an hour after each failed attempt, for a week.
    pub const VENDOR: RetrySchedule = RetrySchedule {
        every: Duration::from_secs(3600),
        for_: Duration::from_secs(7 * 24 * 3600),
    };

    /// No retry: one attempt.
    pub const NONE: RetrySchedule = RetrySchedule {
        every: Duration::ZERO,
        for_: Duration::ZERO,
    };
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule::VENDOR
    }
}

/// What a successful [`Sender::send_dir`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sent {
    /// Attempts made, the successful one included.
    pub attempts: u32,
    /// The body's length in bytes.
    pub bytes: u64,
    /// The signature sent in `X-SIGNATURE`.
    pub signature: String,
}

/// One attempt of a delivery, as [`Sender::send_dir_with`] reports it once its answer (or
/// failure) is known.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// The status the receiver answered; `None` when the attempt failed before an answer
    /// (no connection, a broken one).
    pub status: Option<u16>,
    /// What the answer's body says went wrong, when it is not `200`: the `errorCode` of a
    /// JSON body, else its first line, at most 200 characters, control characters replaced.
    pub reason: Option<String>,
    /// The error of a failed attempt (`None` once delivered).
    pub error: Option<Error>,
    /// When the next attempt is made, from now: `None` when this one was the last (delivered,
    /// the schedule ran out, or an answer that retrying cannot change).
    pub next_in: Option<Duration>,
    /// The delivery ends here on an answer that retrying cannot change (see
    /// [`SenderBuilder::retry_any_answer`]), before the schedule ran out.
    pub final_answer: bool,
}

/// Delivers stored verifications to a receiver as the vendor would: a `POST` whose body is the
/// multipart export (the `result` part first, then each file with `name` = its stem, its file
/// name and the content type of its extension), with `X-CLIENT-ID` and `X-SIGNATURE`.
///
/// The body is streamed from disk, so memory stays at a few read buffers whatever the files
/// weigh. The signature goes in a header, before the body, so the files are read twice: a first
/// pass computes the digest (one SHA-256 pass, about 1.2 GB/s with SHA-NI), the second sends
/// the same bytes. A file changed between the passes makes a body whose signature does not
/// match, which a receiver refuses.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use authenteq_export::webhook::{RetrySchedule, Sender, WebhookKey};
///
/// # async fn run() -> authenteq_export::Result<()> {
/// let sender = Sender::builder(WebhookKey::new("my-client-id", "my-client-secret"))
///     .retry(RetrySchedule { every: Duration::from_secs(1), for_: Duration::from_secs(10) })
///     .build()?;
/// let sent = sender.send_dir("http://127.0.0.1:8080/webhook", "store/8c3f6a2e".as_ref()).await?;
/// println!("delivered in {} attempt(s)", sent.attempts);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Sender {
    key: WebhookKey,
    retry: RetrySchedule,
    http: reqwest::Client,
    form_data: bool,
    retry_any_answer: bool,
}

impl Sender {
    /// Settings for a sender signing with `key`: the vendor's retry schedule and
    /// `multipart/mixed` unless told otherwise.
    pub fn builder(key: WebhookKey) -> SenderBuilder {
        SenderBuilder {
            key,
            retry: RetrySchedule::VENDOR,
            form_data: false,
            retry_any_answer: true,
        }
    }

    /// Delivers the verification stored in `dir` (`result.json` and its files) to `url`,
    /// retrying on any answer other than `200`, or none, until the schedule runs out.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] or [`ErrorKind::Json`] when `dir` holds no readable `result.json`;
    /// [`ErrorKind::Http`] when the last attempt was answered another status (its
    /// [`status`](Error::status)) or failed, once the schedule ran out.
    pub async fn send_dir(&self, url: &str, dir: &Path) -> Result<Sent> {
        self.send_dir_with(url, dir, |_| {}).await
    }

    /// [`send_dir`](Self::send_dir), calling `on_attempt` after each attempt with its outcome
    /// and when the next one is made, so a caller can say what happens as it happens.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use authenteq_export::webhook::{Sender, WebhookKey};
    ///
    /// # async fn run() -> authenteq_export::Result<()> {
    /// let sender = Sender::builder(WebhookKey::new("my-client-id", "my-client-secret"))
    ///     .retry_any_answer(false)
    ///     .build()?;
    /// let dir = "store/8c3f6a2e".as_ref();
    /// sender
    ///     .send_dir_with("http://127.0.0.1:8080/webhook", dir, |attempt| {
    ///         eprintln!("attempt {}: {:?} {:?}", attempt.number, attempt.status, attempt.reason);
    ///     })
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`send_dir`](Self::send_dir).
    pub async fn send_dir_with(
        &self,
        url: &str,
        dir: &Path,
        mut on_attempt: impl FnMut(&Attempt),
    ) -> Result<Sent> {
        let stored = list(dir).await?;
        let boundary = Boundary::random();
        let mut signer = self.key.signer();
        let mut body = body(&stored, &boundary).await?;
        let length = body.content_length();
        while let Some(chunk) = next_chunk(&mut body).await {
            signer.update(
                &chunk.map_err(|e| {
                    Error::with_source(ErrorKind::Io, "reading the stored files", e)
                })?,
            );
        }
        let signature = signer.finish_hex();
        let first = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (failure, reason) = match self.attempt(url, &stored, &boundary, &signature).await {
                Ok(()) => {
                    on_attempt(&Attempt {
                        number: attempts,
                        status: Some(200),
                        reason: None,
                        error: None,
                        next_in: None,
                        final_answer: false,
                    });
                    return Ok(Sent {
                        attempts,
                        bytes: length,
                        signature,
                    });
                }
                Err(e) => e,
            };
            let next = first.elapsed() + self.retry.every;
            let final_answer = !self.retry_any_answer && failure.status().is_some_and(is_final);
            let last = self.retry.every.is_zero() || next > self.retry.for_ || final_answer;
            on_attempt(&Attempt {
                number: attempts,
                status: failure.status(),
                reason,
                error: Some(failure.clone()),
                next_in: (!last).then_some(self.retry.every),
                final_answer,
            });
            if last {
                return Err(failure);
            }
            tracing::info!(
                attempts,
                status = failure.status(),
                "webhook delivery not accepted; retrying"
            );
            tokio::time::sleep(self.retry.every).await;
        }
    }

    async fn attempt(
        &self,
        url: &str,
        stored: &Stored,
        boundary: &Boundary,
        signature: &str,
    ) -> std::result::Result<(), (Error, Option<String>)> {
        let body = body(stored, boundary).await.map_err(|e| (e, None))?;
        let length = body.content_length();
        let content_type = if self.form_data {
            boundary.content_type("form-data")
        } else {
            body.content_type().to_owned()
        };
        let response = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(reqwest::header::CONTENT_LENGTH, length)
            .header(CLIENT_ID_HEADER, self.key.client_id())
            .header(SIGNATURE_HEADER, signature)
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .map_err(|e| {
                let error = Error::with_source(ErrorKind::Http, "the delivery failed", e);
                (error, None)
            })?;
        let status = response.status().as_u16();
        // Read the answer whole (up to a bound), so the connection can be used again.
        let answer = read_some(response, MAX_ANSWER_BYTES).await;
        if status == 200 {
            return Ok(());
        }
        let reason = reason(&answer);
        let mut text = format!("the receiver answered {status}");
        if let Some(reason) = &reason {
            text.push_str(&format!(" ({reason})"));
        }
        if !self.retry_any_answer && is_final(status) {
            text.push_str(": retrying cannot change this answer");
        }
        Err((
            Error::new(ErrorKind::Http, text).with_http_status(status),
            reason,
        ))
    }
}

/// Settings of a [`Sender`], with documented defaults.
#[derive(Debug, Clone)]
pub struct SenderBuilder {
    key: WebhookKey,
    retry: RetrySchedule,
    form_data: bool,
    retry_any_answer: bool,
}

impl SenderBuilder {
    /// The retry schedule (default [`RetrySchedule::VENDOR`]: hourly for a week).
    pub fn retry(mut self, retry: RetrySchedule) -> Self {
        self.retry = retry;
        self
    }

    /// Labels the body `multipart/form-data` instead of `multipart/mixed` (the bytes are the
    /// same; default `false`).
    pub fn form_data(mut self, form_data: bool) -> Self {
        self.form_data = form_data;
        self
    }

    /// Whether every answer but `200` is retried, as the vendor does (default `true`). With
    /// `false`, an answer that repeating the same request cannot change ends the delivery at
    /// once: a `4xx` other than `408 Request Timeout`, `425 Too Early` and `429 Too Many
    /// Requests` (a `401` for a signature that does not match, a `400` for a body the receiver
    /// cannot read). `5xx` answers and failed connections are retried either way.
    pub fn retry_any_answer(mut self, retry: bool) -> Self {
        self.retry_any_answer = retry;
        self
    }

    /// The sender.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Http`] when the HTTP client cannot be made (no TLS backend).
    pub fn build(self) -> Result<Sender> {
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| Error::with_source(ErrorKind::Http, "cannot make the HTTP client", e))?;
        Ok(Sender {
            key: self.key,
            retry: self.retry,
            http,
            form_data: self.form_data,
            retry_any_answer: self.retry_any_answer,
        })
    }
}

/// Whether an answer with `status` is one that repeating the same request cannot change.
fn is_final(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 408 | 425 | 429)
}

/// The most bytes of an answer's body read to find its reason.
const MAX_ANSWER_BYTES: usize = 4096;

/// The first `max` bytes of the answer's body; the rest is read and dropped, up to 64 KiB,
/// so the connection can be used again.
async fn read_some(mut response: reqwest::Response, max: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut read = 0usize;
    while let Ok(Some(chunk)) = response.chunk().await {
        read += chunk.len();
        let room = max.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..room.min(chunk.len())]);
        if read > 64 << 10 {
            break;
        }
    }
    kept
}

/// What an answer's body says went wrong: a JSON `errorCode` (or `error`), else the first
/// line of its text; at most 200 characters, control characters replaced.
fn reason(body: &[u8]) -> Option<String> {
    let json = serde_json::from_slice::<serde_json::Value>(body).ok();
    let code = json.as_ref().and_then(|v| {
        ["errorCode", "error", "code"]
            .iter()
            .find_map(|k| v.get(*k).and_then(|c| c.as_str()).map(str::to_owned))
    });
    let text = match code {
        Some(code) => code,
        None => String::from_utf8_lossy(body)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())?
            .to_owned(),
    };
    let shown: String = text
        .chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    (!shown.is_empty()).then_some(shown)
}

async fn next_chunk<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await
}

/// The body of a delivery of `stored`, its files opened afresh.
async fn body(stored: &Stored, boundary: &Boundary) -> Result<ExportBody<tokio::fs::File>> {
    let files = stored
        .folder
        .open_files()
        .await
        .map_err(|e| Error::with_source(ErrorKind::Io, "opening the stored files", e))?;
    ExportBody::multipart(boundary.clone(), stored.result_json.clone(), files)
}

/// The largest `result.json` sent.
const MAX_RESULT_BYTES: u64 = 16 << 20;

/// A stored verification to deliver: its folder and its `result.json`, checked to be JSON.
struct Stored {
    folder: StoredVerification,
    result_json: Bytes,
}

/// Reads the stored verification in `dir`.
async fn list(dir: &Path) -> Result<Stored> {
    let io = |e: std::io::Error| {
        Error::with_source(
            ErrorKind::Io,
            format!("reading the stored verification in {}", dir.display()),
            e,
        )
    };
    let folder = StoredVerification::open(dir)
        .await
        .map_err(io)?
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Io,
                format!("{} is not a folder of a stored verification", dir.display()),
            )
        })?;
    let result_json = folder
        .read_result(MAX_RESULT_BYTES)
        .await
        .map_err(io)?
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Io,
                format!("{} holds no result.json", dir.display()),
            )
        })?;
    serde_json::from_slice::<serde_json::Value>(&result_json)
        .map_err(|e| Error::with_source(ErrorKind::Json, "result.json is not JSON", e))?;
    Ok(Stored {
        folder,
        result_json: Bytes::from(result_json),
    })
}
