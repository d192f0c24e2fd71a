//! [`FolderSink`]: verifications in a local folder, through the `save` module.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

use super::manifest::{Manifest, ManifestFile, MANIFEST_JSON};
use super::{
    ensure_no_file_open, handled_json, Committed, Names, Plaintext, Sink, Staging, HANDLED_JSON,
};
use crate::error::{Error, ErrorKind, Result};
use crate::export::VerificationId;
use crate::save::{io_error, NewFile, Outcome, OutputDir};

/// Verifications in a local folder: verification `id` as `DIR/id/<file name>` and
/// `DIR/id/manifest.json`, with the same contract as every [`Sink`].
///
/// Each file is written as it comes into a file of `DIR` with no name yet ([`NewFile`]; on
/// Linux an `O_TMPFILE` inode, elsewhere a hidden `.partial-*` name), so a staging makes no
/// folder and leaves nothing when discarded. [`Staging::commit`] makes `DIR/id/`, names every
/// file there (each synced first), syncs the folder once, and writes the manifest last.
/// Nothing is ever overwritten: a name that holds other bytes (say a `result.json` of the
/// other format, left by a killed run) makes the file `stem-2.ext`, and the manifest lists the
/// name each file got. A staging holds one open file per ended file until it commits.
///
/// Two stagings of one id (two deliveries at once, or a `fetch` and a webhook) each write
/// their own files; at commit the first manifest is the record, and the other writer finds the
/// same bytes under the same names ([`Committed::AlreadyComplete`]).
///
/// # Examples
///
/// ```
/// use authenteq_export::export::VerificationId;
/// use authenteq_export::store::{Committed, FolderSink, Sink, Staging};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let folder = tempfile::tempdir()?;
/// let sink = FolderSink::create(folder.path())?;
/// let mut staging = sink.stage(&VerificationId::new("v1")?).await?;
/// staging.start_file("faceImage.jpeg", Some("image/jpeg")).await?;
/// staging.write(bytes::Bytes::from_static(b"\xff\xd8\xff\xd9")).await?;
/// staging.end_file().await?;
/// assert!(!folder.path().join("v1").exists());
/// let committed = staging.commit().await?;
/// assert!(matches!(committed, Committed::Stored(_)));
/// assert!(folder.path().join("v1/manifest.json").is_file());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct FolderSink {
    root: OutputDir,
    mode: Option<u32>,
}

impl FolderSink {
    /// Verifications under the folder `root`, created (with its parents) if missing.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when it cannot be created, naming the folder.
    pub fn create(root: impl AsRef<Path>) -> Result<FolderSink> {
        let root = root.as_ref();
        let dir = OutputDir::create(root).map_err(|e| {
            Error::with_source(
                ErrorKind::Io,
                format!("cannot use {} as the store's folder", root.display()),
                e,
            )
        })?;
        Ok(FolderSink {
            root: dir,
            mode: None,
        })
    }

    /// The permission bits of new files, as [`OutputDir::file_mode`] (default `0o600`).
    pub fn file_mode(mut self, mode: u32) -> FolderSink {
        self.root = self.root.file_mode(mode);
        self.mode = Some(mode);
        self
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.root.path()
    }

    /// Removes what a killed writer left that is older than `older_than`: empty id folders
    /// without a manifest (a writer killed between making the folder and naming its files),
    /// and the hidden `.partial-*` files of a file system without `O_TMPFILE`. Anything
    /// younger is left alone, so a writer at work in the same folder right now (a `fetch
    /// --ids`, another receiver) is not disturbed; a folder holding any file is never
    /// touched. The number of entries removed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the folder cannot be listed.
    pub fn sweep(&self, older_than: Duration) -> Result<usize> {
        let root = self.path();
        let entries = std::fs::read_dir(root)
            .map_err(|e| io_error("listing", &root.display().to_string(), e))?;
        let mut removed = 0;
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            let old = meta
                .modified()
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= older_than);
            if !old {
                continue;
            }
            let name = entry.file_name();
            let gone = if meta.is_dir() {
                !entry.path().join(MANIFEST_JSON).exists()
                    && std::fs::remove_dir(entry.path()).is_ok()
            } else {
                meta.is_file()
                    && name.to_string_lossy().starts_with(".partial-")
                    && std::fs::remove_file(entry.path()).is_ok()
            };
            removed += usize::from(gone);
        }
        Ok(removed)
    }
}

impl Sink for FolderSink {
    type Staging = FolderStaging;

    async fn manifest(&self, id: &VerificationId) -> Result<Option<Manifest>> {
        let path = self.path().join(id.as_str()).join(MANIFEST_JSON);
        match tokio::fs::read(&path).await {
            Ok(json) => Manifest::from_json(&json).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("reading", MANIFEST_JSON, e)),
        }
    }

    async fn check(&self) -> Result<()> {
        // A file with no name, dropped at once: what every staging does first. Off the async
        // threads: a folder on a slow or hung disk must not stall the runtime.
        let root = self.root.clone();
        let created = tokio::task::spawn_blocking(move || root.create_file("probe").map(drop))
            .await
            .map_err(|e| {
                Error::with_source(ErrorKind::Io, "the probe of the store's folder failed", e)
            })?;
        match created {
            Ok(()) => Ok(()),
            Err(e) => {
                let what = format!(
                    "cannot write in the store's folder {}",
                    self.path().display()
                );
                let hint = "check its permissions and free space";
                let io = std::error::Error::source(&e)
                    .and_then(|s| s.downcast_ref::<std::io::Error>())
                    .map(|io| std::io::Error::new(io.kind(), io.to_string()));
                Err(match io {
                    Some(io) => Error::with_source(ErrorKind::Io, what, io),
                    None => Error::with_source(ErrorKind::Io, what, e),
                }
                .with_hint(hint))
            }
        }
    }

    fn location(&self, id: &VerificationId, stored_name: &str) -> String {
        self.path()
            .join(id.as_str())
            .join(stored_name)
            .display()
            .to_string()
    }

    async fn is_handled(&self, id: &VerificationId) -> Result<bool> {
        let path = self.path().join(id.as_str()).join(HANDLED_JSON);
        tokio::fs::try_exists(&path)
            .await
            .map_err(|e| io_error("looking for", HANDLED_JSON, e))
    }

    async fn mark_handled(&self, id: &VerificationId) -> Result<bool> {
        let folder = self.path().join(id.as_str());
        let json = handled_json(id);
        let mode = self.mode.unwrap_or(0o600);
        let written = tokio::task::spawn_blocking(move || write_once(&folder, &json, mode)).await;
        match written {
            Ok(written) => written,
            Err(join) => Err(Error::with_source(
                ErrorKind::Io,
                "writing the handled marker",
                join,
            )),
        }
    }

    async fn stage(&self, id: &VerificationId) -> Result<FolderStaging> {
        Ok(FolderStaging {
            root: self.root.clone(),
            mode: self.mode,
            id: id.clone(),
            names: Names::new(),
            current: None,
            ended: Vec::new(),
        })
    }

    async fn erase(&self, id: &VerificationId) -> Result<super::Erased> {
        let (root, id) = (self.path().to_owned(), id.clone());
        match tokio::task::spawn_blocking(move || super::erase::erase_folder(&root, &id)).await {
            Ok(erased) => erased,
            Err(join) => Err(Error::with_source(ErrorKind::Io, "erasing", join)),
        }
    }

    async fn ids(&self) -> Result<Vec<VerificationId>> {
        let root = self.path().to_owned();
        match tokio::task::spawn_blocking(move || super::erase::folder_ids(&root)).await {
            Ok(ids) => ids,
            Err(join) => Err(Error::with_source(ErrorKind::Io, "listing", join)),
        }
    }
}

/// One verification being written into a [`FolderSink`]: see [`Staging`].
#[derive(Debug)]
pub struct FolderStaging {
    /// Where the files are written, unnamed, until commit.
    root: OutputDir,
    mode: Option<u32>,
    id: VerificationId,
    names: Names,
    current: Option<(NewFile, Option<String>)>,
    /// Each ended file, its content type, and for an encrypted file its plaintext.
    ended: Vec<(NewFile, Option<String>, Option<Plaintext>)>,
}

impl FolderStaging {
    fn commit_blocking(self) -> Result<Committed> {
        if self.current.is_some() {
            return Err(Error::new(
                ErrorKind::Usage,
                "commit with a file started and not ended",
            ));
        }
        let folder = self.root.path().join(self.id.as_str());
        let manifest_path = folder.join(MANIFEST_JSON);
        if let Some(theirs) = read_manifest(&manifest_path)? {
            return Ok(Committed::AlreadyComplete(theirs));
        }
        let created = match std::fs::create_dir(&folder) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(io_error("creating the folder", self.id.as_str(), e)),
        };
        let named = self.name_files(&folder);
        if named.is_err() && created {
            // Nothing was named in it, or what was is gone with the error: only an empty
            // folder is removed.
            let _ = std::fs::remove_dir(&folder);
        }
        let (dir, manifest, added) = named?;
        let saved = dir.write_file(MANIFEST_JSON, &manifest.to_json())?;
        match saved.outcome() {
            Outcome::Created => Ok(Committed::Stored(manifest)),
            Outcome::AlreadyThere => Ok(Committed::AlreadyComplete(manifest)),
            _ => {
                // Another writer's manifest came between the look and ours: it is the record.
                let _ = std::fs::remove_file(dir.path().join(saved.name()));
                let theirs = read_manifest(&manifest_path)?.ok_or_else(|| {
                    Error::new(ErrorKind::Conflict, "the manifest was taken, then gone")
                })?;
                manifest.check_same_files(&theirs)?;
                // Files this writer added that the record does not list (an encrypted file's
                // bytes differ every time, so they got names of their own) are nobody's.
                for name in added {
                    if !theirs.files().iter().any(|f| f.stored_name() == name) {
                        let _ = std::fs::remove_file(dir.path().join(&name));
                    }
                }
                Ok(Committed::AlreadyComplete(theirs))
            }
        }
    }

    /// Names every ended file in `folder`, then syncs it once: the manifest that follows
    /// counts only files that are durable.
    ///
    /// Also gives the names of the files this writer added (not found already there).
    fn name_files(self, folder: &Path) -> Result<(OutputDir, Manifest, Vec<String>)> {
        let mut dir = OutputDir::open(folder)?;
        if let Some(mode) = self.mode {
            dir = dir.file_mode(mode);
        }
        let mut files = Vec::with_capacity(self.ended.len());
        let mut added = Vec::new();
        for (file, content_type, plaintext) in self.ended {
            let saved = file.commit_in_unsynced(&dir)?;
            if *saved.outcome() != Outcome::AlreadyThere {
                added.push(saved.name().to_owned());
            }
            let listed = ManifestFile::new(
                saved.name().to_owned(),
                saved.size(),
                saved.sha256(),
                content_type,
            );
            files.push(match plaintext {
                Some(plaintext) => listed.encrypted(plaintext),
                None => listed,
            });
        }
        dir.sync()?;
        Ok((dir, Manifest::new(self.id.as_str(), files), added))
    }
}

/// Creates `folder/handled.json` holding `json` unless it exists (`false` then); syncs it and
/// the folder, so that a marker, once answered, stays.
fn write_once(folder: &Path, json: &[u8], mode: u32) -> Result<bool> {
    let path = folder.join(HANDLED_JSON);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = match options.open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(io_error("creating", HANDLED_JSON, e)),
    };
    file.write_all(json)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("writing", HANDLED_JSON, e))?;
    sync_folder(folder, HANDLED_JSON)?;
    Ok(true)
}

/// Syncs `folder`, so that what was created or removed in it (`name`, for the error) is
/// durable.
pub(super) fn sync_folder(folder: &Path, name: &str) -> Result<()> {
    #[cfg(unix)]
    std::fs::File::open(folder)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| io_error("syncing the folder of", name, e))?;
    #[cfg(not(unix))]
    let _ = (folder, name);
    Ok(())
}

fn read_manifest(path: &Path) -> Result<Option<Manifest>> {
    match std::fs::read(path) {
        Ok(json) => Manifest::from_json(&json).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("reading", MANIFEST_JSON, e)),
    }
}

impl FolderStaging {
    async fn start(&mut self, name: &str, content_type: Option<&str>, hashed: bool) -> Result<()> {
        ensure_no_file_open(self.current.is_some())?;
        let name = self.names.claim(name)?;
        let file = if hashed {
            self.root.create_file(&name)?
        } else {
            self.root.create_unhashed_file(&name)?
        };
        self.current = Some((file, content_type.map(str::to_owned)));
        Ok(())
    }

    /// Ends the current file; `plaintext` for an encrypted one, which only it may end.
    fn end(&mut self, plaintext: Option<Plaintext>) -> Result<()> {
        let hashed = match &self.current {
            Some((file, _)) => file.is_hashed(),
            None => return Err(Error::new(ErrorKind::Usage, "no file was started")),
        };
        if !hashed && plaintext.is_none() {
            return Err(Error::new(
                ErrorKind::Usage,
                "a file started with start_encrypted_file ends with end_encrypted_file",
            ));
        }
        if let Some((file, content_type)) = self.current.take() {
            self.ended.push((file, content_type, plaintext));
        }
        Ok(())
    }
}

impl Staging for FolderStaging {
    async fn start_file(&mut self, name: &str, content_type: Option<&str>) -> Result<()> {
        self.start(name, content_type, true).await
    }

    async fn start_encrypted_file(
        &mut self,
        stored_name: &str,
        content_type: Option<&str>,
    ) -> Result<()> {
        self.start(stored_name, content_type, false).await
    }

    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        let (file, _) = self
            .current
            .as_mut()
            .ok_or_else(|| Error::new(ErrorKind::Usage, "no file was started"))?;
        // To the page cache, in this task: as `save_export` does.
        file.write_all(&chunk)
            .map_err(|e| io_error("writing", file.name(), e))
    }

    async fn end_file(&mut self) -> Result<()> {
        self.end(None)
    }

    async fn end_encrypted_file(&mut self, plaintext: Plaintext) -> Result<()> {
        self.end(Some(plaintext))
    }

    async fn commit(self) -> Result<Committed> {
        // Each file is synced before it is named: off the async threads.
        match tokio::task::spawn_blocking(move || self.commit_blocking()).await {
            Ok(committed) => committed,
            Err(join) => Err(Error::with_source(
                ErrorKind::Io,
                "saving the verification",
                join,
            )),
        }
    }

    async fn discard(self) {
        // Unnamed files are removed when dropped.
        drop(self);
    }
}
