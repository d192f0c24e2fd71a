//! The retry loop of [`Client::save`], open to any consumer of an export: a whole export is
//! asked for again on a retryable failure, within one budget.

use std::fmt;

use super::{Budget, Client, Endpoint, Failure, ResponseBody};
use crate::error::Result;
use crate::export::Export;
use crate::export::VerificationId;

/// The attempts at one verification: the first export, then a new one each time the consumer
/// fails in a way that may pass, within the one budget of
/// [`ClientBuilder::retries`](super::ClientBuilder::retries) (and its total deadline).
///
/// This is how [`Client::save`] restarts a download that broke in the middle of its body;
/// use it to write an export anywhere else the same way.
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
        self.client
            .open(self.endpoint, &self.id, &mut self.budget, None)
            .await
    }

    /// After the consumer of the last export failed with `error`: waits out the backoff and
    /// asks for the whole export again, or gives `error` back when it is not
    /// [retryable](crate::Error::is_retryable) or the budget is spent.
    ///
    /// # Errors
    ///
    /// `error` itself, or the error of the new attempts (as [`first`](Self::first)).
    pub async fn retry(&mut self, error: crate::Error) -> Result<Export<ResponseBody>> {
        self.client
            .before_retry(self.endpoint, &mut self.budget, Failure::from(error))
            .await?;
        self.first().await
    }

    /// How many requests were made that gave an export or an error: 1 after
    /// [`first`](Self::first) alone.
    pub fn count(&self) -> u32 {
        self.budget.retries_done + 1
    }
}
