//! Where the receiver keeps verified deliveries: the one seam between receiving and storing.
//!
//! Receiving needs three things of a store, and only these: claim a verification id (or learn
//! that it is stored already, or being stored), stage the delivery's files out of sight while
//! the body streams, and then commit them all or discard them all. [`DeliveryStore`] and
//! [`Staging`] are that seam; [`DirStore`] is the folder behind it (the `split` layout), and,
//! with the `object-store` feature, `SinkStore` puts any [`store::Sink`](crate::store::Sink)
//! (an object store, or a folder with manifests) behind it.

use std::collections::HashSet;
use std::future::Future;
use std::io::Write;

use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{Error, ErrorKind, Result};
use crate::save::{NewFile, OutputDir, RESULT_JSON};

/// What claiming an id gave.
pub(crate) enum Claim<S> {
    /// A complete copy is stored already: nothing is to be written.
    Stored,
    /// Another delivery of this id is being received right now.
    Busy,
    /// Ours to store: stage the files, then commit or discard.
    New(S),
}

/// A store of verified deliveries, one per verification id, written once.
pub(crate) trait DeliveryStore: Send + Sync + 'static {
    /// The files of one delivery, out of sight until committed.
    type Staging: Staging;

    /// Claims `id` (already checked to be one safe path component) for one delivery.
    fn claim(&self, id: &str) -> impl Future<Output = Result<Claim<Self::Staging>>> + Send;
}

/// The files of one delivery being staged. Dropping it without [`commit`](Self::commit)
/// discards them all and releases the claim.
pub(crate) trait Staging: Send {
    /// Starts the next file, to be named `name` (one safe path component), with the content
    /// type its part declared; the file staged before it is complete (its closing delimiter
    /// was read).
    fn stage(
        &mut self,
        name: &str,
        content_type: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Appends to the file being staged.
    fn write(&mut self, chunk: Bytes) -> impl Future<Output = Result<()>> + Send;

    /// Makes every staged file visible, the completeness mark last: once it is, the delivery
    /// counts as stored.
    fn commit(self) -> impl Future<Output = Result<()>> + Send;

    /// Leaves nothing of the delivery behind, and is done with it when it returns (dropping
    /// the staging discards too, but may finish later).
    fn discard(self) -> impl Future<Output = ()> + Send;
}

/// The ids claimed by deliveries in progress, in memory: of two deliveries of one id at once,
/// one stores and the other is told [`Claim::Busy`].
#[derive(Clone, Default)]
pub(crate) struct Claims(Arc<Mutex<HashSet<String>>>);

impl std::fmt::Debug for Claims {
    // How many, not which: ids stay out of `Debug` output, as out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.0.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("Claims").field("held", &held).finish()
    }
}

impl Claims {
    /// Claims `id`, or `None` when another delivery holds it.
    pub(crate) fn claim(&self, id: &str) -> Option<ClaimGuard> {
        let mut claimed = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        claimed.insert(id.to_owned()).then(|| ClaimGuard {
            id: id.to_owned(),
            claimed: self.clone(),
        })
    }
}

/// Deliveries stored in a folder, `ROOT/<id>/`, in the layout `split` writes.
///
/// Files are written unnamed ([`NewFile`]) while the body streams and named only by
/// [`Staging::commit`], `result.json` last, so a folder with a `result.json` holds a complete
/// copy. Ids claimed by deliveries in progress are kept in memory ([`Claims`]).
#[derive(Debug, Clone)]
pub(crate) struct DirStore {
    root: PathBuf,
    claims: Claims,
}

impl DirStore {
    /// The store in the folder `root`, created if missing.
    pub(crate) fn create(root: impl AsRef<Path>) -> Result<DirStore> {
        let root = root.as_ref();
        std::fs::create_dir_all(root)
            .map_err(|e| Error::with_source(ErrorKind::Io, "creating the deliveries folder", e))?;
        remove_empty_folders(root);
        Ok(DirStore {
            root: root.to_owned(),
            claims: Claims::default(),
        })
    }
}

/// Removes the empty folders directly under `root`: what a receiver killed while receiving a
/// new id leaves (its files had no name, so they are gone). `remove_dir` removes only empty
/// folders, so nothing stored is touched.
fn remove_empty_folders(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

/// An id claimed in memory, released when dropped.
#[derive(Debug)]
pub(crate) struct ClaimGuard {
    id: String,
    claimed: Claims,
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        self.claimed
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

impl DeliveryStore for DirStore {
    type Staging = DirStaging;

    async fn claim(&self, id: &str) -> Result<Claim<DirStaging>> {
        let Some(guard) = self.claims.claim(id) else {
            return Ok(Claim::Busy);
        };
        let folder = self.root.join(id);
        let io = |doing: &'static str| {
            move |e: std::io::Error| Error::with_source(ErrorKind::Io, doing, e)
        };
        // Local file-system calls, as `save` makes them: short, in the calling task.
        match std::fs::symlink_metadata(folder.join(RESULT_JSON)) {
            Ok(_) => return Ok(Claim::Stored),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("looking for a stored delivery")(e)),
        }
        // A folder without `result.json` is what a process stopped while committing left: the
        // files already named there are found again (same bytes), the rest are added.
        let created = match std::fs::create_dir(&folder) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(io("creating the delivery's folder")(e)),
        };
        let dir = match OutputDir::open(&folder) {
            Ok(dir) => dir,
            Err(e) => {
                if created {
                    let _ = std::fs::remove_dir(&folder);
                }
                return Err(e);
            }
        };
        Ok(Claim::New(DirStaging {
            dir,
            folder,
            created,
            files: Vec::new(),
            result: None,
            current: None,
            committed: false,
            _guard: guard,
        }))
    }
}

/// The files of one delivery in a [`DirStore`], unnamed until committed.
#[derive(Debug)]
pub(crate) struct DirStaging {
    dir: OutputDir,
    folder: PathBuf,
    /// The folder was made for this delivery: it goes if the delivery does.
    created: bool,
    files: Vec<NewFile>,
    result: Option<NewFile>,
    current: Option<NewFile>,
    committed: bool,
    // Dropped last: the claim outlives the files.
    _guard: ClaimGuard,
}

impl DirStaging {
    fn end_current(&mut self) {
        if let Some(file) = self.current.take() {
            if file.name() == RESULT_JSON && self.result.is_none() {
                self.result = Some(file);
            } else {
                self.files.push(file);
            }
        }
    }
}

impl Staging for DirStaging {
    async fn stage(&mut self, name: &str, _content_type: Option<&str>) -> Result<()> {
        self.end_current();
        self.current = Some(self.dir.create_file(name)?);
        Ok(())
    }

    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        let Some(file) = self.current.as_mut() else {
            return Err(Error::new(ErrorKind::Usage, "bytes written before a file"));
        };
        file.write_all(&chunk).map_err(|e| {
            Error::with_source(
                ErrorKind::Io,
                format!("writing {:?} in the delivery's folder", file.name()),
                e,
            )
        })
    }

    async fn commit(mut self) -> Result<()> {
        self.end_current();
        let files = std::mem::take(&mut self.files);
        let result = self.result.take();
        // Each commit syncs to disk: off the async workers.
        let committed = tokio::task::spawn_blocking(move || -> Result<()> {
            for file in files {
                file.commit()?;
            }
            if let Some(result) = result {
                result.commit()?;
            }
            Ok(())
        })
        .await
        .map_err(|e| Error::with_source(ErrorKind::Io, "committing the delivery", e))?;
        committed?;
        self.committed = true;
        Ok(())
    }

    async fn discard(self) {
        // Dropping does it all, at once: unnamed files vanish with their handles.
        drop(self);
    }
}

impl Drop for DirStaging {
    fn drop(&mut self) {
        // Unnamed files vanish with their handles; the folder made for them goes too.
        self.current = None;
        self.files.clear();
        self.result = None;
        if self.created && !self.committed {
            let _ = std::fs::remove_dir(&self.folder);
        }
    }
}
