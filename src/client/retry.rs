//! The retry policy, its budget and the one loop that spends it: which failures are asked
//! again, how long to wait before each, and [`Attempts`], through which every call of the
//! client goes ([`Client::export`], [`Client::save`], the blocking client, the store's jobs).

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant, SystemTime};

use super::body::ProgressFn;
use super::{Client, Endpoint, Opened, ResponseBody, Settings};
use crate::error::{Error, Limit, Result};
use crate::export::{Export, VerificationId};

/// What is left of one call's budget: retries, and the total deadline.
pub(super) struct Budget {
    retries_left: u32,
    retries_done: u32,
    pub(super) deadline: Option<Instant>,
}

impl Budget {
    fn new(settings: &Settings) -> Self {
        Budget {
            retries_left: settings.retries,
            retries_done: 0,
            deadline: settings.total_timeout.map(|t| Instant::now() + t),
        }
    }

    pub(super) fn deadline_passed(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// A failed attempt: the error, and the wait its answer asked for (`Retry-After`).
pub(super) struct Failure {
    pub(super) error: Error,
    pub(super) retry_after: Option<Duration>,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            error,
            retry_after: None,
        }
    }
}

/// The attempts at one verification: the first export, then a new one each time the consumer
/// fails in a way that may pass, within the one budget of
/// [`ClientBuilder::retries`](super::ClientBuilder::retries) (and its total deadline).
///
/// Every call of the client goes through it: [`Client::export`] is [`first`](Self::first)
/// alone, and [`Client::save`] calls [`retry`](Self::retry) when a download broke in the middle
/// of its body. Use it to write an export anywhere else the same way.
///
/// # Examples
///
/// ```no_run
/// use authenteq_export::client::{Client, Endpoint};
///
/// # async fn run() -> authenteq_export::Result<()> {
/// let client = Client::new("my-client-id", "my-client-secret")?;
/// let mut attempts = client.attempts(Endpoint::Multipart, "8c3f6a2e")?;
/// let mut export = attempts.first().await?;
/// let files = loop {
///     let mut files = 0;
///     let read: authenteq_export::Result<()> = async {
///         while let Some(item) = export.next_item().await? {
///             files += 1;
///             # drop(item);
///         }
///         Ok(())
///     }
///     .await;
///     match read {
///         Ok(()) => break files,
///         // Gives the error back when it may not be retried or the budget is spent.
///         Err(error) => export = attempts.retry(error).await?,
///     }
/// };
/// println!("{files} items in {} attempts", attempts.count());
/// # Ok(())
/// # }
/// ```
pub struct Attempts<'c> {
    client: &'c Client,
    endpoint: Endpoint,
    id: String,
    budget: Budget,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for Attempts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The id is personal data: not shown.
        f.debug_struct("Attempts")
            .field("endpoint", &self.endpoint)
            .field("retries_done", &self.budget.retries_done)
            .field("retries_left", &self.budget.retries_left)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// The attempts at verification `id` from `endpoint`, none made yet.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidId`](crate::ErrorKind::InvalidId) when the id is not sent
    /// ([`VerificationId`]).
    pub fn attempts(&self, endpoint: Endpoint, id: &str) -> Result<Attempts<'_>> {
        VerificationId::new(id)?;
        Ok(Attempts {
            client: self,
            endpoint,
            id: id.to_owned(),
            budget: Budget::new(&self.inner.settings),
            progress: None,
        })
    }
}

impl Attempts<'_> {
    /// The export, retried (as [`Client::export`]) until its first item is ready.
    ///
    /// # Errors
    ///
    /// As [`Client::multipart`].
    pub async fn first(&mut self) -> Result<Export<ResponseBody>> {
        let Opened { body, decoder } = self.open().await?;
        Ok(Export::with_decoder(body, decoder))
    }

    /// After the consumer of the last export failed with `error`: waits out the backoff and
    /// asks for the whole export again, or gives `error` back when it is not
    /// [retryable](crate::Error::is_retryable) or the budget is spent.
    ///
    /// # Errors
    ///
    /// `error` itself, or the error of the new attempts (as [`first`](Self::first)).
    pub async fn retry(&mut self, error: Error) -> Result<Export<ResponseBody>> {
        self.before_retry(Failure::from(error)).await?;
        self.first().await
    }

    /// How many requests were made that gave an export or an error: 1 after
    /// [`first`](Self::first) alone.
    pub fn count(&self) -> u32 {
        self.budget.retries_done + 1
    }

    /// Calls `progress(received, content_length)` as body bytes arrive, in every attempt.
    #[cfg(feature = "save")]
    pub(super) fn set_progress(&mut self, progress: ProgressFn) {
        self.progress = Some(progress);
    }

    /// Attempts until one gives an answer whose export's first item is ready, or the budget
    /// is spent.
    pub(super) async fn open(&mut self) -> Result<Opened> {
        loop {
            let attempt = self.count();
            let failure = match self
                .client
                .attempt(
                    self.endpoint,
                    &self.id,
                    self.budget.deadline,
                    attempt,
                    self.progress.as_ref(),
                )
                .await
            {
                Ok(opened) => return Ok(opened),
                Err(failure) => failure,
            };
            self.before_retry(failure).await?;
        }
    }

    /// As [`retry`](Self::retry), up to the new answer.
    pub(super) async fn reopen(&mut self, error: Error) -> Result<Opened> {
        self.before_retry(Failure::from(error)).await?;
        self.open().await
    }

    /// Spends one retry on `failure` and waits for it, or gives the error back when it may not
    /// be retried.
    async fn before_retry(&mut self, failure: Failure) -> Result<()> {
        let Failure {
            error,
            retry_after: asked,
        } = failure;
        let s = &self.client.inner.settings;
        let budget = &mut self.budget;
        if !error.is_retryable() || budget.retries_left == 0 || budget.deadline_passed() {
            tracing::warn!(
                target: "authenteq_export::client",
                endpoint = self.endpoint.name(),
                attempts = budget.retries_done + 1,
                kind = ?error.kind(),
                status = error.status(),
                retryable = error.is_retryable(),
                "export request failed"
            );
            return Err(explained(error, s));
        }
        budget.retries_left -= 1;
        budget.retries_done += 1;
        let mut wait = backoff(s.backoff_base, s.backoff_cap, budget.retries_done);
        if let Some(asked) = asked {
            wait = wait.max(asked.min(s.retry_after_cap));
        }
        if let Some(deadline) = budget.deadline {
            if Instant::now() + wait >= deadline {
                return Err(error);
            }
        }
        tracing::info!(
            target: "authenteq_export::client",
            endpoint = self.endpoint.name(),
            retry = budget.retries_done,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            kind = ?error.kind(),
            status = error.status(),
            "retrying export request"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

/// `error`, told how to raise the client's file cap when that is the limit it went over. (The
/// body cap's error says so where it is made, in [`ResponseBody`].)
fn explained(error: Error, settings: &Settings) -> Error {
    match error.limit() {
        Some((Limit::PartBytes, max)) if max == settings.max_file_bytes => error.with_hint(
            "a file over the client's max_file_bytes cap: raise it with \
             ClientBuilder::max_file_bytes or the --max-file-bytes flag",
        ),
        _ => error,
    }
}

/// The wait a `Retry-After` value asks for: delay-seconds or an HTTP-date (RFC 9110 10.2.3).
/// `None` when it is neither.
pub(super) fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Exponential backoff with jitter: the wait before retry number `retry` (1-based) is a random
/// time between half and all of `min(cap, base * 2^(retry-1))`.
fn backoff(base: Duration, cap: Duration, retry: u32) -> Duration {
    let exp = base
        .checked_mul(
            1u32.checked_shl(retry.saturating_sub(1))
                .unwrap_or(u32::MAX),
        )
        .unwrap_or(cap)
        .min(cap);
    let half = exp / 2;
    let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    let jitter = if nanos == 0 {
        0
    } else {
        random() % (nanos + 1)
    };
    half + Duration::from_nanos(jitter)
}

/// A random number from the standard library's hasher keys, enough for jitter.
fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos().into()),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        // A date in the past: no wait.
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }

    #[test]
    fn backoff_grows_to_the_cap_with_jitter() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(1);
        for retry in 1..=40 {
            let want = (base * 2u32.saturating_pow(retry - 1)).min(cap);
            let got = backoff(base, cap, retry);
            assert!(
                got >= want / 2 && got <= want,
                "retry {retry}: {got:?} for {want:?}"
            );
        }
        assert_eq!(backoff(Duration::ZERO, cap, 3), Duration::ZERO);
    }
}
