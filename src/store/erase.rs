//! Erasure and retention: [`erase`] one stored verification, [`stored`] lists them with their
//! manifests' times.

use std::fmt;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::folder::sync_folder;
use super::manifest::MANIFEST_JSON;
use super::Sink;
use crate::error::{Error, ErrorKind, Result};
use crate::export::VerificationId;
use crate::save::io_error;

/// What [`erase`] (or [`Sink::erase`]) did with one verification id.
///
/// `objects` counts what was deleted for good: each file, marker and manifest (in a versioned
/// S3 bucket, each version of them and each delete marker), and each unfinished upload
/// aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Erased {
    /// Everything under the id is gone: the manifest first, then every other object, then
    /// any unfinished upload. A half-stored id (files without a manifest) is erased too.
    Erased {
        /// Objects deleted (and uploads aborted).
        objects: u64,
    },
    /// Nothing at all was stored under the id: no manifest, no file, no marker, no version,
    /// no unfinished upload.
    Absent,
    /// The store refused to delete some versions because of a retention period or a legal
    /// hold (S3 Object Lock): everything else under the id is gone, and the id reads as not
    /// stored (a delete marker hides what is held).
    Held {
        /// Objects deleted (and uploads aborted).
        objects: u64,
        /// Versions the store keeps.
        held: u64,
    },
}

impl Erased {
    /// What [`Erased`] says, as the CLI prints it: `erased`, `absent` or `held`.
    pub fn name(&self) -> &'static str {
        match self {
            Erased::Erased { .. } => "erased",
            Erased::Absent => "absent",
            Erased::Held { .. } => "held",
        }
    }

    /// Objects deleted (and uploads aborted).
    pub fn objects(&self) -> u64 {
        match self {
            Erased::Erased { objects } | Erased::Held { objects, .. } => *objects,
            Erased::Absent => 0,
        }
    }
}

/// One verification id found in a sink by [`stored`], and its manifest's time.
///
/// Its `Debug` shows what its manifest says, not the id.
pub struct StoredId {
    id: VerificationId,
    written: Written,
}

/// What the manifest of a [`StoredId`] says of its age.
#[derive(Debug)]
#[non_exhaustive]
pub enum Written {
    /// Complete, its manifest written at this time (the writer's clock).
    At(DateTime<Utc>),
    /// Complete, its manifest written by a version of this crate that did not record the
    /// time (`writtenAt`).
    Undated,
    /// Objects under the id and no manifest: a writer at work, or one that failed.
    Incomplete,
    /// The manifest could not be read, or does not parse.
    Unreadable(Error),
}

impl fmt::Debug for StoredId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredId")
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl StoredId {
    /// The id.
    pub fn id(&self) -> &VerificationId {
        &self.id
    }

    /// What its manifest says.
    pub fn written(&self) -> &Written {
        &self.written
    }

    /// When its manifest was written, if it is complete and its manifest says.
    pub fn written_at(&self) -> Option<DateTime<Utc>> {
        match self.written {
            Written::At(at) => Some(at),
            _ => None,
        }
    }

    /// Whether its manifest was written before `cutoff`: what retention erases. `false` for an
    /// id without a dated manifest.
    pub fn written_before(&self, cutoff: DateTime<Utc>) -> bool {
        self.written_at().is_some_and(|at| at < cutoff)
    }
}

/// Erases verification `id` from `sink` ([`Sink::erase`]): its manifest first (from then on
/// the id reads as not stored, so a fetch or a webhook delivery stores it again whole), then
/// every other object under it (files, markers; every version and delete marker in a
/// versioned S3 bucket), then any unfinished upload under it.
///
/// Running it again is harmless: [`Erased::Absent`]. See [`FolderSink`](super::FolderSink)
/// and `ObjectSink` for what each backend does.
///
/// # Examples
///
/// ```
/// use authenteq_export::export::VerificationId;
/// use authenteq_export::store::{erase, Erased, FolderSink, Sink, Staging};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let folder = tempfile::tempdir()?;
/// let sink = FolderSink::create(folder.path())?;
/// let id = VerificationId::new("v1")?;
/// let mut staging = sink.stage(&id).await?;
/// staging.start_file("result.json", Some("application/json")).await?;
/// staging.write(bytes::Bytes::from_static(b"{}")).await?;
/// staging.end_file().await?;
/// staging.commit().await?;
///
/// // result.json and manifest.json.
/// assert_eq!(erase(&sink, &id).await?, Erased::Erased { objects: 2 });
/// assert!(sink.manifest(&id).await?.is_none());
/// assert!(!folder.path().join("v1").exists());
/// assert_eq!(erase(&sink, &id).await?, Erased::Absent);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// # Errors
///
/// Those of [`Sink::erase`]: an I/O or store error (what was deleted before it stays
/// deleted; running it again finishes the job).
pub async fn erase<S: Sink>(sink: &S, id: &VerificationId) -> Result<Erased> {
    sink.erase(id).await
}

/// Every verification id with anything stored under it in `sink` ([`Sink::ids`]), with its
/// manifest's time: what retention run from your own scheduler needs. One manifest read per
/// id.
///
/// # Examples
///
/// ```
/// use authenteq_export::store::{stored, FolderSink};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let folder = tempfile::tempdir()?;
/// let sink = FolderSink::create(folder.path())?;
/// let cutoff = chrono::Utc::now() - chrono::Duration::days(30);
/// for stored in stored(&sink).await? {
///     if stored.written_before(cutoff) {
///         authenteq_export::store::erase(&sink, stored.id()).await?;
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// # Errors
///
/// Those of [`Sink::ids`]. A manifest that cannot be read is [`Written::Unreadable`], not an
/// error of the listing.
pub async fn stored<S: Sink>(sink: &S) -> Result<Vec<StoredId>> {
    let ids = sink.ids().await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let written = match sink.manifest(&id).await {
            Ok(Some(manifest)) => match manifest.written_at() {
                Some(at) => Written::At(at),
                None => Written::Undated,
            },
            Ok(None) => Written::Incomplete,
            Err(e) => Written::Unreadable(e),
        };
        out.push(StoredId { id, written });
    }
    Ok(out)
}

impl fmt::Display for Erased {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Erased::Erased { objects } => write!(f, "erased ({objects} objects)"),
            Erased::Absent => f.write_str("absent"),
            Erased::Held { objects, held } => {
                write!(f, "held ({held} versions kept, {objects} objects erased)")
            }
        }
    }
}

/// [`Sink::erase`] of a [`FolderSink`](super::FolderSink) in `root`: blocking.
pub(crate) fn erase_folder(root: &Path, id: &VerificationId) -> Result<Erased> {
    let folder = root.join(id.as_str());
    let meta = match std::fs::symlink_metadata(&folder) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Erased::Absent),
        Err(e) => return Err(io_error("looking for the folder", id.as_str(), e)),
    };
    if !meta.is_dir() {
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "{:?} in the store's folder is not a folder (a file or a link): not erased",
                id.as_str()
            ),
        )
        .with_hint("look at what it is and remove it by hand"));
    }
    let mut objects = 0u64;
    // The manifest first, durably: from then on the id reads as not stored.
    match std::fs::remove_file(folder.join(MANIFEST_JSON)) {
        Ok(()) => {
            objects += 1;
            sync_folder(&folder, id.as_str())?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("removing", MANIFEST_JSON, e)),
    }
    let entries =
        std::fs::read_dir(&folder).map_err(|e| io_error("listing the folder", id.as_str(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error("listing the folder", id.as_str(), e))?;
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        // Not a layout of ours, but under the id all the same; links are removed, not
        // followed.
        let removed = if is_dir {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match removed {
            Ok(()) => objects += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(io_error(
                    "removing a file of",
                    id.as_str(),
                    std::io::Error::new(e.kind(), e.to_string()),
                ))
            }
        }
    }
    match std::fs::remove_dir(&folder) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("removing the folder", id.as_str(), e)),
    }
    sync_folder(root, id.as_str())?;
    Ok(Erased::Erased { objects })
}

/// [`Sink::ids`] of a [`FolderSink`](super::FolderSink) in `root`: its sub-folders (not links)
/// whose names are verification ids, sorted.
pub(crate) fn folder_ids(root: &Path) -> Result<Vec<VerificationId>> {
    let entries =
        std::fs::read_dir(root).map_err(|e| io_error("listing", &root.display().to_string(), e))?;
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error("listing", &root.display().to_string(), e))?;
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(|name| VerificationId::new(name).ok())
        {
            ids.push(id);
        }
    }
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    Ok(ids)
}

#[cfg(feature = "object-store")]
pub(crate) use objects::{erase_objects, object_ids};

#[cfg(feature = "object-store")]
mod objects {
    use std::collections::HashSet;

    use futures_util::TryStreamExt;
    use object_store::path::Path as Key;
    use object_store::ObjectStoreExt;

    use super::super::object::ObjectSink;
    use super::super::stale::{key_prefix, KeyVersion, S3Uploads, VersionDeleted};
    use super::super::storage_error;
    use super::{Erased, MANIFEST_JSON};
    use crate::error::Result;
    use crate::export::VerificationId;

    /// [`Sink::erase`](super::Sink::erase) of an `ObjectSink`.
    pub(crate) async fn erase_objects(sink: &ObjectSink, id: &VerificationId) -> Result<Erased> {
        let folder = sink.store_prefix().clone().join(id.as_str());
        if let Some(s3) = sink.s3_requests() {
            let prefix = key_prefix(folder.as_ref());
            if let Some(versions) = s3.versions(&prefix).await? {
                return erase_versions(s3, &folder, &prefix, versions).await;
            }
        }
        erase_current(sink, &folder).await
    }

    /// Through `object_store`: what it lists under `folder/`, the manifest first.
    async fn erase_current(sink: &ObjectSink, folder: &Key) -> Result<Erased> {
        let store = sink.store();
        let listed: Vec<Key> = store
            .list(Some(folder))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(|e| storage_error("listing the objects of a verification", e))?;
        if listed.is_empty() {
            return Ok(Erased::Absent);
        }
        let manifest = folder.clone().join(MANIFEST_JSON);
        let mut objects = 0;
        let (first, rest): (Vec<Key>, Vec<Key>) = listed.into_iter().partition(|k| *k == manifest);
        for key in first.into_iter().chain(rest) {
            match store.delete(&key).await {
                Ok(()) => objects += 1,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(storage_error("deleting an object of a verification", e)),
            }
        }
        Ok(Erased::Erased { objects })
    }

    /// Through S3's versioned requests: every version and delete marker under `prefix`.
    ///
    /// The order: every version of the manifest (a delete marker is put over a held one, so
    /// the id reads as not stored), every other version, the unfinished uploads, then the
    /// delete markers of every key that has no version left (those over a held version stay,
    /// so that nothing of a held id reads as stored).
    async fn erase_versions(
        s3: &S3Uploads,
        folder: &Key,
        prefix: &str,
        versions: Vec<KeyVersion>,
    ) -> Result<Erased> {
        let manifest = folder.clone().join(MANIFEST_JSON);
        let manifest = manifest.as_ref();
        let (markers, versions): (Vec<KeyVersion>, Vec<KeyVersion>) =
            versions.into_iter().partition(|v| v.delete_marker);
        let (manifests, files): (Vec<KeyVersion>, Vec<KeyVersion>) =
            versions.into_iter().partition(|v| v.key == manifest);
        let mut objects = 0u64;
        let mut held_keys = HashSet::new();
        let mut held = 0u64;
        for version in &manifests {
            match s3.delete_version(version).await? {
                VersionDeleted::Deleted => objects += 1,
                VersionDeleted::Held => {
                    held += 1;
                    held_keys.insert(version.key.clone());
                }
            }
        }
        if held_keys.contains(manifest) {
            s3.delete_current(manifest).await?;
        }
        for version in &files {
            match s3.delete_version(version).await? {
                VersionDeleted::Deleted => objects += 1,
                VersionDeleted::Held => {
                    held += 1;
                    if held_keys.insert(version.key.clone()) {
                        // Hidden, so that a held file does not read as stored.
                        s3.delete_current(&version.key).await?;
                    }
                }
            }
        }
        let aborted = s3.abort_under(prefix).await?;
        let anything = !(markers.is_empty() && manifests.is_empty() && files.is_empty());
        if !anything && aborted == 0 {
            return Ok(Erased::Absent);
        }
        objects += aborted;
        for marker in markers.iter().filter(|m| !held_keys.contains(&m.key)) {
            if s3.delete_version(marker).await? == VersionDeleted::Deleted {
                objects += 1;
            }
        }
        Ok(if held > 0 {
            Erased::Held { objects, held }
        } else {
            Erased::Erased { objects }
        })
    }

    /// [`Sink::ids`](super::Sink::ids) of an `ObjectSink`: the "folders" right under its
    /// prefix whose names are verification ids, sorted.
    pub(crate) async fn object_ids(sink: &ObjectSink) -> Result<Vec<VerificationId>> {
        let prefix = sink.store_prefix();
        let listed = sink
            .store()
            .list_with_delimiter(Some(prefix))
            .await
            .map_err(|e| storage_error("listing the stored verifications", e))?;
        let mut ids: Vec<VerificationId> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename())
            .filter_map(|name| VerificationId::new(name).ok())
            .collect();
        ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(ids)
    }
}
