//! One verification fetched into an [`OutputDir`], restarted whole on a retryable failure.

use std::sync::Arc;

use super::{Client, Endpoint};
use crate::error::Result;
use crate::export::ExportFormat;
use crate::save::{save_export, OutputDir, SavedExport};

/// What [`Client::save`] did: the [`SavedExport`] of the attempt that completed, its format and
/// size, and how many attempts it took.
#[derive(Debug)]
pub struct Fetched {
    pub(super) saved: SavedExport,
    pub(super) format: Option<ExportFormat>,
    pub(super) bytes_read: u64,
    pub(super) attempts: u32,
}

impl Fetched {
    /// The files saved by the attempt that completed, in the export's order. After a restart,
    /// files that an earlier attempt had saved whole are found again, with the outcome
    /// [`AlreadyThere`](crate::save::Outcome::AlreadyThere).
    pub fn saved(&self) -> &SavedExport {
        &self.saved
    }

    /// The export's format (with its multipart boundary).
    pub fn format(&self) -> Option<&ExportFormat> {
        self.format.as_ref()
    }

    /// Bytes of the body of the attempt that completed.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// How many requests were made: 1 when none was retried.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

impl Client {
    /// Fetches verification `id` from `endpoint` into `dir`, as
    /// [`save_export`] writes it: the result as `result.json` and
    /// every file under a safe name (a PDF export as `result.pdf`), each visible only once
    /// whole, nothing overwritten.
    ///
    /// A retryable failure ([`Error::is_retryable`](crate::Error::is_retryable)) before the
    /// answer or in the middle of its body is retried within the one budget of
    /// [`ClientBuilder::retries`](super::ClientBuilder::retries): the whole export is asked for
    /// again, and the files an earlier attempt saved are found in `dir` and not written twice.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use authenteq_export::client::{Client, Endpoint};
    /// use authenteq_export::save::OutputDir;
    ///
    /// # async fn run() -> authenteq_export::Result<()> {
    /// let client = Client::new("my-client-id", "my-client-secret")?;
    /// let fetched = client.save(Endpoint::Json, "8c3f6a2e", &OutputDir::create("out")?).await?;
    /// for file in fetched.saved().files() {
    ///     println!("{} ({} bytes)", file.saved().name(), file.saved().size());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Client::multipart`] and [`save_export`]; when the retries
    /// are spent, the last attempt's error. Only whole files are left in `dir`.
    pub async fn save(&self, endpoint: Endpoint, id: &str, dir: &OutputDir) -> Result<Fetched> {
        self.save_with_progress(endpoint, id, dir, |_, _| {}).await
    }

    /// As [`save`](Self::save), calling `progress(received, content_length)` as body bytes
    /// arrive (`received` starts again from 0 when an attempt is restarted).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use authenteq_export::client::{Client, Endpoint};
    /// use authenteq_export::save::OutputDir;
    ///
    /// # async fn run() -> authenteq_export::Result<()> {
    /// let client = Client::new("my-client-id", "my-client-secret")?;
    /// let dir = OutputDir::create("out")?;
    /// client
    ///     .save_with_progress(Endpoint::Pdf, "8c3f6a2e", &dir, |got, total| {
    ///         eprintln!("{got} of {total:?} bytes");
    ///     })
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`save`](Self::save).
    pub async fn save_with_progress(
        &self,
        endpoint: Endpoint,
        id: &str,
        dir: &OutputDir,
        progress: impl Fn(u64, Option<u64>) + Send + Sync + 'static,
    ) -> Result<Fetched> {
        let mut attempts = self.attempts(endpoint, id)?;
        attempts.set_progress(Arc::new(progress));
        let mut export = attempts.first().await?;
        loop {
            match save_export(&mut export, dir).await {
                Ok(saved) => {
                    tracing::debug!(
                        target: "authenteq_export::client",
                        endpoint = endpoint.name(),
                        attempts = attempts.count(),
                        files = saved.files().len(),
                        written = saved.written(),
                        "export saved"
                    );
                    return Ok(Fetched {
                        saved,
                        format: export.format().cloned(),
                        bytes_read: export.bytes_read(),
                        attempts: attempts.count(),
                    });
                }
                Err(error) => export = attempts.retry(error).await?,
            }
        }
    }
}
