//! The batch driver: many ids, up to N at once, at most R new downloads a second.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::job::download_into;
use super::Sink;
use crate::client::{Client, Endpoint};
use crate::error::{Error, ErrorKind};
use crate::export::VerificationId;

/// What happened to one id of a [`Batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// Downloaded and stored, manifest last.
    Stored,
    /// Already stored complete: its manifest was there (no download), or another writer's came
    /// first.
    Skipped,
    /// Not stored: see [`Outcome::error`]. Nothing of it is visible as complete.
    Failed,
    /// The id came again after its first time in the list: not fetched again (its first
    /// time's outcome stands), reported once for each repeat.
    Duplicate,
}

impl Status {
    /// `stored`, `skipped`, `failed` or `duplicate`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Stored => "stored",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::Duplicate => "duplicate",
        }
    }
}

/// The outcome of one id: its status, and for a stored or skipped one its files and bytes.
#[derive(Debug, Clone)]
pub struct Outcome {
    id: String,
    status: Status,
    error: Option<Error>,
    files: usize,
    bytes: u64,
    attempts: u32,
}

impl Outcome {
    /// The verification id, as given.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Stored, skipped or failed.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Why it failed.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Files in its manifest (0 when it failed).
    pub fn files(&self) -> usize {
        self.files
    }

    /// Bytes of its files (0 when it failed).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Requests made for it: 0 when skipped without a download.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

/// What a whole [`Batch::run`] did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Summary {
    /// Ids stored.
    pub stored: u64,
    /// Ids skipped.
    pub skipped: u64,
    /// Ids that failed.
    pub failed: u64,
    /// Ids that came again in the list, not fetched again.
    pub duplicates: u64,
    /// Bytes of the files stored (skipped ones not counted).
    pub bytes: u64,
    /// The error that stopped the batch before every id was tried: the sink's
    /// [`check`](Sink::check) failed (before any id), or credentials were missing or refused
    /// ([`Error::is_credentials`]) by the API or the store, or the store's folder refused a
    /// write (permission denied, read-only, full).
    pub stopped: Option<Error>,
}

/// Many verifications fetched into one [`Sink`] with [`fetch_into`](super::fetch_into)'s job.
///
/// | setting | default |
/// |---|---|
/// | [`concurrency`](Self::concurrency): ids in flight at once | 8 |
/// | [`rate`](Self::rate): new downloads a second | no limit |
///
/// First the sink is [checked](Sink::check): a folder that cannot be written, a store that
/// cannot be reached or refuses the credentials, stops the batch before any id. Then each id's
/// outcome is handed to a callback as it is known. An id whose manifest is there is skipped
/// without a request (and without counting against the rate); an id that came before in the
/// list is reported as a [`Status::Duplicate`] and not fetched again. An error of one id (the
/// API's `VERIFICATION_NOT_FOUND`, a body that stays broken after the retries, a store that
/// refuses one upload) fails that id only; an error every other id would meet too
/// (credentials missing or refused, by the API or by the store; a folder that refuses writes)
/// stops the batch at once: no new id is started, the ones in flight are dropped (their
/// uploads aborted), and [`Summary::stopped`] says why. The first id is fetched alone, the
/// others only once it ended: credentials refused cost one request.
///
/// # Examples
///
/// ```no_run
/// use authenteq_export::client::{Client, Endpoint};
/// use authenteq_export::store::{Batch, FolderSink};
///
/// # async fn run() -> authenteq_export::Result<()> {
/// let client = Client::new("my-client-id", "my-client-secret")?;
/// let sink = FolderSink::create("exports")?;
/// let ids = ["8c3f6a2e", "0d6b1b0e"].map(String::from);
/// let summary = Batch::new()
///     .concurrency(32)
///     .rate(20.0)
///     .run(&client, Endpoint::Multipart, &sink, ids, |outcome| {
///         println!("{} {}", outcome.id(), outcome.status().name());
///     })
///     .await;
/// assert_eq!(summary.failed, 0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Batch {
    concurrency: usize,
    rate: Option<f64>,
}

impl Default for Batch {
    fn default() -> Self {
        Batch::new()
    }
}

impl Batch {
    /// A batch with the default settings.
    pub fn new() -> Batch {
        Batch {
            concurrency: 8,
            rate: None,
        }
    }

    /// Ids in flight at once (default 8; at least 1).
    pub fn concurrency(mut self, n: usize) -> Batch {
        self.concurrency = n.max(1);
        self
    }

    /// At most `per_second` new downloads a second (default: no limit); a value that is not
    /// positive and finite means no limit.
    pub fn rate(mut self, per_second: f64) -> Batch {
        self.rate = (per_second.is_finite() && per_second > 0.0).then_some(per_second);
        self
    }

    /// Fetches every id of `ids` from `endpoint` into `sink`, calling `on_outcome` with each
    /// id's outcome as it is known (in the order they end), and returns the totals.
    ///
    /// The ids are taken from `ids` as slots free up, so a long list is never held whole (only
    /// the ids seen, to find repeats). Runs in tasks of the current tokio runtime.
    pub async fn run<K, I>(
        &self,
        client: &Client,
        endpoint: Endpoint,
        sink: &K,
        ids: I,
        mut on_outcome: impl FnMut(&Outcome),
    ) -> Summary
    where
        K: Sink + Clone + 'static,
        I: IntoIterator<Item = String>,
    {
        let limiter = self.rate.map(|rate| {
            let mut interval =
                tokio::time::interval_at(Instant::now(), Duration::from_secs_f64(1.0 / rate));
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            Arc::new(Mutex::new(interval))
        });
        let mut tasks = JoinSet::new();
        let mut ids = ids.into_iter();
        let mut summary = Summary::default();
        if let Err(error) = sink.check().await {
            summary.stopped = Some(error);
            return summary;
        }
        let mut seen = HashSet::new();
        let mut more = true;
        // The first id runs alone: refused credentials then cost one request, not one per
        // slot.
        let mut slots = 1;
        loop {
            while more && tasks.len() < slots {
                let Some(id) = ids.next() else {
                    more = false;
                    break;
                };
                if !seen.insert(id.clone()) {
                    summary.duplicates += 1;
                    on_outcome(&Outcome {
                        id,
                        status: Status::Duplicate,
                        error: None,
                        files: 0,
                        bytes: 0,
                        attempts: 0,
                    });
                    continue;
                }
                tasks.spawn(one(
                    client.clone(),
                    endpoint,
                    sink.clone(),
                    id,
                    limiter.clone(),
                ));
            }
            let Some(joined) = tasks.join_next().await else {
                break;
            };
            let outcome = match joined {
                Ok(outcome) => outcome,
                Err(join) => Outcome {
                    id: String::new(),
                    status: Status::Failed,
                    error: Some(Error::with_source(
                        ErrorKind::Io,
                        "a batch task failed",
                        join,
                    )),
                    files: 0,
                    bytes: 0,
                    attempts: 0,
                },
            };
            match outcome.status {
                Status::Stored => {
                    summary.stored += 1;
                    summary.bytes += outcome.bytes;
                }
                Status::Skipped => summary.skipped += 1,
                Status::Failed => summary.failed += 1,
                Status::Duplicate => summary.duplicates += 1,
            }
            on_outcome(&outcome);
            slots = self.concurrency;
            if let Some(error) = outcome.error.as_ref().filter(|e| stops_the_batch(e)) {
                summary.stopped = Some(error.clone());
                tasks.shutdown().await;
                break;
            }
        }
        summary
    }
}

/// Whether every other id would meet `error` too: credentials missing or refused, or a folder
/// that refuses writes (no permission, read-only, full).
fn stops_the_batch(error: &Error) -> bool {
    use std::io::ErrorKind as Io;
    if error.is_credentials() {
        return true;
    }
    if error.kind() != ErrorKind::Io {
        return false;
    }
    let io = std::error::Error::source(error).and_then(|s| s.downcast_ref::<std::io::Error>());
    io.is_some_and(|io| {
        matches!(
            io.kind(),
            Io::PermissionDenied | Io::ReadOnlyFilesystem | Io::StorageFull | Io::QuotaExceeded
        )
    })
}

async fn one<K: Sink>(
    client: Client,
    endpoint: Endpoint,
    sink: K,
    id: String,
    limiter: Option<Arc<Mutex<Interval>>>,
) -> Outcome {
    let result = async {
        let id = VerificationId::new(&id)?;
        if let Some(manifest) = sink.manifest(&id).await? {
            return Ok((Status::Skipped, manifest.files().len(), manifest.bytes(), 0));
        }
        if let Some(limiter) = limiter {
            limiter.lock().await.tick().await;
        }
        let stored = download_into(&client, endpoint, &id, &sink).await?;
        let manifest = stored.manifest();
        let status = if stored.skipped() {
            Status::Skipped
        } else {
            Status::Stored
        };
        Ok::<_, Error>((
            status,
            manifest.files().len(),
            manifest.bytes(),
            stored.attempts(),
        ))
    }
    .await;
    match result {
        Ok((status, files, bytes, attempts)) => Outcome {
            id,
            status,
            error: None,
            files,
            bytes,
            attempts,
        },
        Err(error) => Outcome {
            id,
            status: Status::Failed,
            error: Some(error),
            files: 0,
            bytes: 0,
            attempts: 0,
        },
    }
}
