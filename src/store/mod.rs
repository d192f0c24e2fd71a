//! Verifications stored whole: in a local folder or an object store (S3 and S3-compatible
//! stores, anything `object_store` reaches), each one complete only once its manifest is there.
//!
//! A [`Sink`] takes one verification at a time as a set of files under `<id>/<file name>`,
//! plus `<id>/manifest.json`, written last and only once: its presence means "this
//! verification is complete", and it lists every file with its size, SHA-256 and content type
//! ([`Manifest`]). Writing goes through a [`Staging`]: each file's bytes are streamed as they
//! come (nothing is buffered whole) but nothing is visible until [`Staging::commit`], which the
//! caller calls once the whole verification was read (and, for a webhook, once its signature
//! checked out); [`Staging::discard`] leaves nothing behind.
//!
//! `Sink` is the one storage seam of this crate: the webhook receiver, `fetch_into`, the batch
//! driver and your own code store through it, and every backend keeps one contract (the
//! crate's tests run one contract suite against each). The backends:
//!
//! - [`FolderSink`]: a local folder, one sub-folder per id, through the `save` module: each
//!   file is written unnamed and linked into place at commit. A killed process leaves nothing
//!   to clean up: its unnamed files vanish with it.
//! - `ObjectSink` (feature `object-store`): any `object_store::ObjectStore`. A file is sent as
//!   a multipart upload in equal parts (5 MiB by default, S3's minimum) as its bytes arrive, and
//!   completed only at commit; a file smaller than one part is held in memory and sent in one
//!   `put` at commit. Uploads a killed process leaves are found and aborted on S3 by
//!   `S3Uploads`.
//!
//! [`store_export`] feeds an [`Export`] into a staging; with the `client` feature,
//! `fetch_into` is the whole job for one id (skip it when complete, download with retries,
//! commit) and `Batch` runs it for many ids at once.
//!
//! [`erase()`] erases one stored verification (the manifest first, then every object under the
//! id, then its unfinished uploads; every version in a versioned S3 bucket), and [`stored()`]
//! lists the stored ids with their manifests' times, for retention run from your own
//! scheduler.
//!
//! # Example: an export into a folder
//!
//! ```
//! use authenteq_export::export::{Export, VerificationId};
//! use authenteq_export::store::{store_export, Committed, FolderSink, Sink, Staging};
//! use bytes::Bytes;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let folder = tempfile::tempdir()?;
//! let sink = FolderSink::create(folder.path())?; // or an ObjectSink into S3
//! let body = Bytes::from_static(br#"{"id":"v1","livenessFaceImage":{"contentType":"image/jpeg","content":"/9j/2Q=="}}"#);
//! let mut export = Export::new(futures::stream::iter([Ok::<_, std::io::Error>(body)]), None)?;
//!
//! let id = VerificationId::new("v1")?;
//! let mut staging = sink.stage(&id).await?;
//! store_export(&mut export, &mut staging).await?;
//! // Nothing is visible yet; a webhook would check the signature here.
//! let Committed::Stored(manifest) = staging.commit().await? else { unreachable!() };
//! let names: Vec<&str> = manifest.files().iter().map(|f| f.name()).collect();
//! // A JSON export gives its files first, its result last.
//! assert_eq!(names, ["livenessFaceImage.jpeg", "result.json"]);
//! assert_eq!((manifest.files()[0].size(), manifest.files()[0].content_type()), (4, Some("image/jpeg")));
//! assert!(sink.manifest(&id).await?.is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

#[cfg(feature = "encrypt")]
mod encrypted;
mod erase;
mod folder;
mod manifest;
#[cfg(feature = "object-store")]
mod object;
#[cfg(feature = "encrypt")]
mod open;
#[cfg(feature = "object-store")]
mod stale;

#[cfg(feature = "client")]
mod batch;
#[cfg(feature = "client")]
mod job;

use std::collections::HashSet;
use std::future::Future;

use bytes::Bytes;
use futures_core::Stream;

use crate::error::{Error, ErrorKind, Result};
use crate::export::{Export, ExportItem, VerificationId};
use crate::save::{file_name, is_safe_file_name, RESULT_JSON};

#[cfg(feature = "client")]
pub use batch::{Batch, Outcome, Status, Summary};
#[cfg(feature = "encrypt")]
pub use encrypted::{Encrypted, EncryptedStaging, Identities, Recipients};
pub use erase::{erase, stored, Erased, StoredId, Written};
pub use folder::{FolderSink, FolderStaging};
#[cfg(feature = "client")]
pub use job::{fetch_into, Stored};
pub use manifest::{Manifest, ManifestFile, MANIFEST_JSON};
#[cfg(feature = "object-store")]
pub use object::{ObjectSink, ObjectStaging, DEFAULT_HOLD_BYTES, DEFAULT_PART_SIZE, MIN_PART_SIZE};
#[cfg(feature = "encrypt")]
pub use open::{open, Opened, ReadBack, StoredBytes};
#[cfg(feature = "object-store")]
pub use stale::{Aborted, OpenUpload, S3Uploads, DEFAULT_STALE_AGE};

/// Where verifications are stored: a [`FolderSink`], an `ObjectSink` (feature `object-store`), or
/// a backend of your own.
///
/// A sink is shared by every task of a batch (`&self`); each verification is written through
/// its own [`Staging`].
pub trait Sink: Send + Sync {
    /// One verification being written.
    type Staging: Staging;

    /// The manifest of verification `id` if it is stored complete, `None` if not.
    ///
    /// # Errors
    ///
    /// An error of the store (or folder) when it cannot tell; [`ErrorKind::Json`] for a
    /// manifest that does not parse.
    fn manifest(
        &self,
        id: &VerificationId,
    ) -> impl Future<Output = Result<Option<Manifest>>> + Send;

    /// Starts writing verification `id`. Nothing is visible before [`Staging::commit`], and
    /// nothing is left by [`Staging::discard`]: not a file, not an upload, not a folder. Two
    /// stagings of one id may run at once (in one process or several): each writes on its
    /// own, and the first manifest written is the record.
    ///
    /// # Errors
    ///
    /// An I/O or store error.
    fn stage(&self, id: &VerificationId) -> impl Future<Output = Result<Self::Staging>> + Send;

    /// Checks, before any verification is fetched, that the sink can be used at all: a
    /// folder that can be written in, a store that answers with the credentials it was given.
    /// [`Batch::run`](crate::store::Batch) calls it first and stops at once on an error, so
    /// a destination that cannot work costs no download. The default does nothing.
    ///
    /// [`FolderSink`] creates a file with no name in its folder and drops it; `ObjectSink`
    /// lists its prefix (one request). Neither leaves anything behind.
    ///
    /// # Errors
    ///
    /// An I/O or store error that says what could not be done where: every verification
    /// would meet it.
    fn check(&self) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    /// Where the file stored as `stored_name` (a [`ManifestFile::stored_name`]) of
    /// verification `id` is, for the application to read it: a path for [`FolderSink`], an
    /// object key (`PREFIX/id/name`) for `ObjectSink`. The default is `id/stored_name`.
    fn location(&self, id: &VerificationId, stored_name: &str) -> String {
        format!("{id}/{stored_name}")
    }

    /// Whether verification `id` carries the marker [`mark_handled`](Self::mark_handled)
    /// writes, `<id>/handled.json` ([`HANDLED_JSON`]).
    ///
    /// The crate's backends implement it; the default answers [`ErrorKind::Usage`] (not
    /// supported), as a sink of your own needs its own create-once marker.
    ///
    /// # Errors
    ///
    /// An error of the store (or folder) when it cannot tell; [`ErrorKind::Usage`] from a
    /// sink that keeps no marker.
    fn is_handled(&self, id: &VerificationId) -> impl Future<Output = Result<bool>> + Send {
        let _ = id;
        std::future::ready(Err(no_marker()))
    }

    /// Records, durably and only once, that verification `id` was handed to the application
    /// and handled: writes `<id>/handled.json` ([`HANDLED_JSON`]: the id and the time) if it
    /// is not there. `true` if this call wrote it, `false` if it was there already (two
    /// writers: the first one's stays). A marker never replaces another.
    ///
    /// # Errors
    ///
    /// An I/O or store error; [`ErrorKind::Usage`] from a sink that keeps no marker (the
    /// default).
    fn mark_handled(&self, id: &VerificationId) -> impl Future<Output = Result<bool>> + Send {
        let _ = id;
        std::future::ready(Err(no_marker()))
    }

    /// Erases verification `id` (see [`erase`](erase())): the manifest first, so that from then
    /// on the id reads as not stored, then every other object under the id (files, markers),
    /// then any unfinished upload under it. [`Erased::Absent`] when nothing at all was
    /// stored under the id; running it again is harmless.
    ///
    /// The crate's backends implement it; the default answers [`ErrorKind::Usage`] (not
    /// supported).
    ///
    /// # Errors
    ///
    /// An I/O or store error; what was deleted before it stays deleted.
    fn erase(&self, id: &VerificationId) -> impl Future<Output = Result<Erased>> + Send {
        let _ = id;
        std::future::ready(Err(Error::new(
            ErrorKind::Usage,
            "this sink cannot erase: implement Sink::erase",
        )))
    }

    /// Every verification id with anything stored under it, complete or not, sorted (see
    /// [`stored`](stored())). Names that are not verification ids are skipped.
    ///
    /// The crate's backends implement it; the default answers [`ErrorKind::Usage`] (not
    /// supported).
    ///
    /// # Errors
    ///
    /// An I/O or store error when the folder or prefix cannot be listed.
    fn ids(&self) -> impl Future<Output = Result<Vec<VerificationId>>> + Send {
        std::future::ready(Err(Error::new(
            ErrorKind::Usage,
            "this sink cannot list its ids: implement Sink::ids",
        )))
    }
}

/// The name of the marker of a verification handed to the application and handled (see
/// [`Sink::mark_handled`]): `<id>/handled.json`, `{"id": ..., "handledAt": ...}`.
pub const HANDLED_JSON: &str = "handled.json";

/// What a sink without a create-once marker answers.
fn no_marker() -> Error {
    Error::new(
        ErrorKind::Usage,
        "this sink keeps no handled marker: implement Sink::is_handled and Sink::mark_handled",
    )
}

/// The bytes of the marker of `id`.
pub(crate) fn handled_json(id: &VerificationId) -> Vec<u8> {
    let handled_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut json = serde_json::to_vec(&serde_json::json!({
        "id": id.as_str(),
        "handledAt": handled_at,
    }))
    .unwrap_or_default();
    json.push(b'\n');
    json
}

/// One verification being written into a [`Sink`]: files, one at a time, then
/// [`commit`](Self::commit) or [`discard`](Self::discard).
///
/// Dropping a staging without either discards it too, as well as it can without awaiting: an
/// `ObjectSink` then aborts its unfinished uploads in a task of the current tokio runtime.
pub trait Staging: Send {
    /// Starts a file named `name` (one plain path component), with the content type its part
    /// declared. A name already used in this verification, or `manifest.json`, gets the next
    /// free `stem-N.ext`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnsafeName`] for a name that is not one plain path component;
    /// [`ErrorKind::Usage`] when the last file was not ended; a store error.
    fn start_file(
        &mut self,
        name: &str,
        content_type: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Bytes of the current file, in order.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] when no file was started; a store or I/O error.
    fn write(&mut self, chunk: Bytes) -> impl Future<Output = Result<()>> + Send;

    /// The current file is whole (its closing delimiter was read): its bytes are sent, but it is
    /// not visible before [`commit`](Self::commit).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] when no file was started; a store or I/O error.
    fn end_file(&mut self) -> impl Future<Output = Result<()>> + Send;

    /// As [`start_file`](Self::start_file), for a file an encrypting layer (such as
    /// [`Encrypted`], feature `encrypt`) writes and ends with
    /// [`end_encrypted_file`](Self::end_encrypted_file): the manifest lists it under its
    /// plaintext's SHA-256, so the staging need not hash the stored bytes (the crate's backends
    /// do not). The default is [`start_file`](Self::start_file).
    ///
    /// # Errors
    ///
    /// As [`start_file`](Self::start_file).
    fn start_encrypted_file(
        &mut self,
        stored_name: &str,
        content_type: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send {
        self.start_file(stored_name, content_type)
    }

    /// As [`end_file`](Self::end_file), for a file an encrypting layer wrote (such as
    /// [`Encrypted`], feature `encrypt`): the manifest lists it under `plaintext`'s name, size
    /// and SHA-256, as age-encrypted, with the name and size this staging stored it under.
    ///
    /// The crate's backends implement it; the default refuses, so that a backend of your own
    /// never lists an encrypted file as if it were plain.
    ///
    /// # Errors
    ///
    /// As [`end_file`](Self::end_file); [`ErrorKind::Usage`] from a staging that does not
    /// record encrypted files.
    fn end_encrypted_file(
        &mut self,
        plaintext: Plaintext,
    ) -> impl Future<Output = Result<()>> + Send {
        let _ = plaintext;
        std::future::ready(Err(Error::new(
            ErrorKind::Usage,
            "this staging cannot record an encrypted file: implement Staging::end_encrypted_file",
        )))
    }

    /// Makes every ended file visible, then writes the manifest, only if none is there.
    /// [`Committed::AlreadyComplete`] when another writer's manifest came first: see
    /// `ObjectSink` for what that means for the files.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] when a file was started and not ended (it is discarded);
    /// [`ErrorKind::Conflict`] when another writer completed the verification with other
    /// bytes; a store or I/O error. No manifest is written then.
    fn commit(self) -> impl Future<Output = Result<Committed>> + Send;

    /// Leaves nothing behind: every unfinished upload is aborted, no file becomes visible.
    fn discard(self) -> impl Future<Output = ()> + Send;
}

/// The content of a file an encrypting layer stored: its name, size and SHA-256 before
/// encryption. See [`Staging::end_encrypted_file`].
#[derive(Clone, PartialEq, Eq)]
pub struct Plaintext {
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) sha256: [u8; 32],
}

impl std::fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plaintext")
            .field("name", &self.name)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Plaintext {
    /// The file's name in the verification (without `.age`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Its SHA-256.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }
}

/// What [`Staging::commit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Committed {
    /// The files and then this manifest were written.
    Stored(Manifest),
    /// Another writer's manifest was there first (this one is the record); the files this
    /// writer sent hold the same bytes as that manifest lists.
    AlreadyComplete(Manifest),
}

impl Committed {
    /// The manifest that is stored.
    pub fn manifest(&self) -> &Manifest {
        match self {
            Committed::Stored(m) | Committed::AlreadyComplete(m) => m,
        }
    }
}

/// The names used in one verification: each file gets its own, `manifest.json` and
/// `handled.json` are nobody's.
#[derive(Debug)]
pub(crate) struct Names(HashSet<String>);

/// A [`Staging`] starts a file only once the last one ended.
pub(crate) fn ensure_no_file_open(file_open: bool) -> Result<()> {
    if file_open {
        return Err(Error::new(
            ErrorKind::Usage,
            "a file was started before the last one ended",
        ));
    }
    Ok(())
}

impl Names {
    pub(crate) fn new() -> Self {
        Names(HashSet::from([
            MANIFEST_JSON.to_owned(),
            HANDLED_JSON.to_owned(),
        ]))
    }

    /// `name`, or the next free `stem-N.ext`.
    pub(crate) fn claim(&mut self, name: &str) -> Result<String> {
        if !is_safe_file_name(name) {
            return Err(Error::new(
                ErrorKind::UnsafeName,
                "a stored file name must be one plain path component",
            ));
        }
        let (stem, ext) = match name.rfind('.') {
            Some(i) if i > 0 => name.split_at(i),
            _ => (name, ""),
        };
        let mut n = 1u32;
        loop {
            let candidate = if n == 1 {
                name.to_owned()
            } else {
                format!("{stem}-{n}{ext}")
            };
            if self.0.insert(candidate.clone()) {
                return Ok(candidate);
            }
            n += 1;
        }
    }
}

/// Writes every item of `export` into `staging`, reading the export to its end: the result as
/// `result.json` (`application/json`, its JSON bytes as the export gave them) and each file
/// under [`file_name`], each ended only once the export reported its end. Does not commit.
///
/// # Examples
///
/// See the [module docs](self#example-an-export-into-memory).
///
/// # Errors
///
/// Any error of the export or of the staging. The staging is left as it is: discard it (or
/// drop it).
pub async fn store_export<S, E, T>(export: &mut Export<S>, staging: &mut T) -> Result<()>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    T: Staging,
{
    let mut number = 0usize;
    while let Some(item) = export.next_item().await? {
        number += 1;
        match item {
            ExportItem::Result { json, .. } => {
                staging
                    .start_file(RESULT_JSON, Some("application/json"))
                    .await?;
                staging.write(json).await?;
                staging.end_file().await?;
            }
            ExportItem::File(mut file) => {
                let name = file_name(file.info(), number);
                staging
                    .start_file(&name, file.info().content_type())
                    .await?;
                while let Some(chunk) = file.chunk().await? {
                    staging.write(chunk).await?;
                }
                staging.end_file().await?;
            }
        }
    }
    Ok(())
}

#[cfg(feature = "object-store")]
/// The `object_store` error `e` while `doing` something, as this crate's error: credentials
/// refused or missing are [`Error::is_credentials`], and failures that may pass are retryable.
pub(crate) fn storage_error(doing: &str, e: object_store::Error) -> Error {
    use object_store::Error as E;
    let credentials = matches!(e, E::PermissionDenied { .. } | E::Unauthenticated { .. });
    let lasting = credentials
        || matches!(
            e,
            E::AlreadyExists { .. }
                | E::Precondition { .. }
                | E::NotImplemented { .. }
                | E::NotSupported { .. }
                | E::InvalidPath { .. }
                | E::UnknownConfigurationKey { .. }
        );
    let error = Error::with_source(ErrorKind::Storage, doing.to_owned(), e);
    match (credentials, lasting) {
        (true, _) => error.refused_credentials(),
        (false, true) => error,
        (false, false) => error.transient(),
    }
}
