//! The per-id job: one verification fetched into a sink, with retries.

use super::{store_export, Committed, Manifest, Sink, Staging};
use crate::client::{Client, Endpoint};
use crate::error::Result;
use crate::export::VerificationId;

/// What [`fetch_into`] did for one verification.
#[derive(Debug, Clone)]
pub struct Stored {
    manifest: Manifest,
    skipped: bool,
    attempts: u32,
    bytes_read: u64,
}

impl Stored {
    /// The manifest that is stored: this job's, or the one already there.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Whether the verification was complete already: its manifest was there before a
    /// download (no request was made, `attempts` is 0), or another writer's manifest came first.
    pub fn skipped(&self) -> bool {
        self.skipped
    }

    /// Requests made: 0 when skipped without a download, 1 when none was retried.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Bytes of the export body read by the attempt that completed (0 without a download).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }
}

/// Stores verification `id` from `endpoint` into `sink`, unless it is stored complete already
/// (its manifest is there: then no request is made).
///
/// The export is streamed into a [`Staging`] as it is read and committed once it was read
/// whole. A retryable failure (a connection broken mid-body, a timeout, a `429`/`5xx`, a store
/// request that failed in a way that may pass) discards the staging (aborting its uploads) and
/// asks for the whole export again, within the client's one budget of
/// [`ClientBuilder::retries`](crate::client::ClientBuilder::retries), as
/// [`Client::save`](crate::client::Client::save) does.
///
/// # Examples
///
/// ```no_run
/// use authenteq_export::client::{Client, Endpoint};
/// use authenteq_export::export::VerificationId;
/// use authenteq_export::store::{fetch_into, FolderSink};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::new("my-client-id", "my-client-secret")?;
/// let sink = FolderSink::create("verifications")?; // or an ObjectSink into S3
/// let id = VerificationId::new("8c3f6a2e")?;
/// let stored = fetch_into(&client, Endpoint::Multipart, &id, &sink).await?;
/// println!("{} files, {} bytes", stored.manifest().files().len(), stored.manifest().bytes());
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// As [`Client::multipart`](crate::client::Client::multipart) (the API's errors, such as
/// `VERIFICATION_NOT_FOUND`, at once), the export's errors, and the sink's; when the retries
/// are spent, the last attempt's error. Nothing but complete verifications becomes visible.
pub async fn fetch_into<K: Sink>(
    client: &Client,
    endpoint: Endpoint,
    id: &VerificationId,
    sink: &K,
) -> Result<Stored> {
    if let Some(manifest) = sink.manifest(id).await? {
        return Ok(Stored {
            manifest,
            skipped: true,
            attempts: 0,
            bytes_read: 0,
        });
    }
    download_into(client, endpoint, id, sink).await
}

/// [`fetch_into`] without the look for a manifest first (the commit still looks).
pub(crate) async fn download_into<K: Sink>(
    client: &Client,
    endpoint: Endpoint,
    id: &VerificationId,
    sink: &K,
) -> Result<Stored> {
    let mut attempts = client.attempts(endpoint, id)?;
    let mut export = attempts.first().await?;
    loop {
        let committed = async {
            let mut staging = sink.stage(id).await?;
            match store_export(&mut export, &mut staging).await {
                Ok(()) => staging.commit().await,
                Err(e) => {
                    staging.discard().await;
                    Err(e)
                }
            }
        }
        .await;
        match committed {
            Ok(committed) => {
                let skipped = matches!(committed, Committed::AlreadyComplete(_));
                let (Committed::Stored(manifest) | Committed::AlreadyComplete(manifest)) =
                    committed;
                return Ok(Stored {
                    manifest,
                    skipped,
                    attempts: attempts.count(),
                    bytes_read: export.bytes_read(),
                });
            }
            Err(error) => export = attempts.retry(error).await?,
        }
    }
}
