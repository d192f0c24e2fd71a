//! Saving files safely: whole files only, under safe names, never over another file.
//!
//! Names in an export are chosen by whoever made it (a multipart `filename` can be
//! `../../.bashrc`), and a download can stop half-way. This module is where both stop mattering:
//!
//! - [`safe_file_name`] turns any raw name into one plain path component, and [`OutputDir`]
//!   accepts nothing else ([`is_safe_file_name`]);
//! - a file written through an [`OutputDir`] appears under its name only once it is
//!   [`commit`](NewFile::commit)ted, whole and synced to disk; dropped before that, it leaves
//!   nothing behind;
//! - an existing file is never replaced: a name that is taken by other bytes gives the next free
//!   name (`faceImage-2.jpeg`), while the same bytes under the same name are left as they are, so
//!   saving the same export twice writes nothing new ([`Outcome`]);
//! - [`save_export`] and [`blocking::save_export`] save a whole export this way: its result as
//!   `result.json` and each file under [`file_name`].
//!
//! # Example: save an export into a folder
//!
//! ```
//! use authenteq_export::export::blocking::Export;
//! use authenteq_export::save::{blocking::save_export, Outcome, OutputDir};
//!
//! let body = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/verification-result.multipart"))?;
//! let folder = tempfile::tempdir()?;
//! let dir = OutputDir::create(folder.path())?;
//!
//! let saved = save_export(&mut Export::new(body, None)?, &dir)?;
//! assert_eq!(saved.files().len(), 12); // result.json and eleven files
//! assert_eq!(saved.files()[0].saved().name(), "result.json");
//! assert!(folder.path().join("faceImage2.jpeg").is_file());
//!
//! // Again: every file is already there, nothing is written.
//! let body = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/verification-result.multipart"))?;
//! let again = save_export(&mut Export::new(body, None)?, &dir)?;
//! assert!(again.files().iter().all(|f| *f.saved().outcome() == Outcome::AlreadyThere));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Example: one file, from any bytes
//!
//! ```
//! use std::io::Write;
//! use authenteq_export::save::{safe_file_name, Outcome, OutputDir};
//!
//! let folder = tempfile::tempdir()?;
//! let dir = OutputDir::create(folder.path())?;
//! let name = safe_file_name("../../photo.jpeg").unwrap(); // `photo.jpeg`
//!
//! let mut file = dir.create_file(&name)?;
//! file.write_all(b"\xff\xd8\xff\xd9")?;
//! // Nothing is visible yet: dropping `file` here would leave the folder as it was.
//! let saved = file.commit()?;
//! assert_eq!((saved.name(), saved.size()), ("photo.jpeg", 4));
//! assert_eq!(*saved.outcome(), Outcome::Created);
//!
//! // Other bytes under the same name get the next free name.
//! let other = dir.write_file("photo.jpeg", b"\x89PNG")?;
//! assert_eq!(other.name(), "photo-2.jpeg");
//! assert_eq!(*other.outcome(), Outcome::Renamed { wanted: "photo.jpeg".into() });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How a file becomes visible
//!
//! On Linux the folder is held open and every call is relative to it. A new file is opened with
//! `O_TMPFILE`: an inode with no name at all. [`NewFile::commit`] `fsync`s it and gives it its
//! name with `linkat`, which fails if the name exists (so there is no check-then-rename race),
//! then `fsync`s the folder. A process killed at any point leaves whole files and nothing else.
//! On a file system without `O_TMPFILE` the file is written under a hidden name (`.partial-…`)
//! and moved with `renameat2(RENAME_NOREPLACE)` (or hard-linked and unlinked): a process killed
//! while writing can leave that hidden file, never a partial file under a real name.
//!
//! Elsewhere the same hidden name is used, then `hard_link` (which never replaces a name) and
//! removal of the hidden name; a file system without hard links gives an error rather than risk
//! an overwrite.
//!
//! Writes go to the file as they come, in the calling thread (also through
//! [`tokio::io::AsyncWrite`]): writing to a local disk goes to the page cache and returns at
//! once, while [`NewFile::commit`] waits for the disk.

pub mod blocking;
mod export;
mod sys;

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};

pub use crate::names::{
    file_name, is_safe_file_name, safe_file_name, MAX_NAME_BYTES, RESULT_JSON, RESULT_PDF,
};
pub use export::{save_export, SavedExport, SavedFile};

/// The file mode of new files unless [`OutputDir::file_mode`] says otherwise: readable and
/// writable by their owner only, since exports hold personal data.
pub const DEFAULT_FILE_MODE: u32 = 0o600;

/// Taken names tried for one file before giving up (`name-2` to `name-10000`).
const MAX_CANDIDATES: u32 = 10_000;

/// A folder that files are saved into, whole and under safe names, never over another file.
///
/// Cheap to clone (the open folder is shared) and usable from several threads or tasks at once.
///
/// # Examples
///
/// ```
/// use authenteq_export::save::OutputDir;
///
/// let folder = tempfile::tempdir()?;
/// let dir = OutputDir::create(folder.path().join("verification"))?.file_mode(0o640);
/// let saved = dir.write_file("result.json", br#"{"id":"v1"}"#)?;
/// assert_eq!(saved.name(), "result.json");
/// assert_eq!(std::fs::read(folder.path().join("verification/result.json"))?, br#"{"id":"v1"}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct OutputDir {
    inner: Arc<Shared>,
    mode: u32,
}

struct Shared {
    dir: sys::Dir,
    path: PathBuf,
}

impl fmt::Debug for OutputDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputDir")
            .field("path", &self.inner.path)
            .field("mode", &format_args!("{:o}", self.mode))
            .finish()
    }
}

impl OutputDir {
    /// The existing folder at `path`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when `path` is not a folder that can be opened; the I/O error is the
    /// `source()`.
    pub fn open(path: impl AsRef<Path>) -> Result<OutputDir> {
        let path = path.as_ref();
        let dir = sys::Dir::open(path)
            .map_err(|e| Error::with_source(ErrorKind::Io, "opening the output folder", e))?;
        Ok(OutputDir {
            inner: Arc::new(Shared {
                dir,
                path: path.to_owned(),
            }),
            mode: DEFAULT_FILE_MODE,
        })
    }

    /// The folder at `path`, created first (with its parents) if it does not exist.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when it cannot be created or opened (a file stands there, say).
    pub fn create(path: impl AsRef<Path>) -> Result<OutputDir> {
        let path = path.as_ref();
        std::fs::create_dir_all(path)
            .map_err(|e| Error::with_source(ErrorKind::Io, "creating the output folder", e))?;
        OutputDir::open(path)
    }

    /// Sets the permission bits of the files created from now on (Unix; less the process's
    /// umask; ignored elsewhere). The default is [`DEFAULT_FILE_MODE`], `0o600`.
    pub fn file_mode(mut self, mode: u32) -> OutputDir {
        self.mode = mode & 0o7777;
        self
    }

    /// The folder's path, as it was given.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Makes the folder's new names durable (`fsync` of the folder).
    #[cfg(feature = "store")]
    pub(crate) fn sync(&self) -> Result<()> {
        self.inner
            .dir
            .sync()
            .map_err(|e| Error::with_source(ErrorKind::Io, "syncing the output folder", e))
    }

    /// Starts a file that will be saved as `name` (or, if that name holds other bytes by then,
    /// the next free `stem-N.ext`). It has no visible name until [`NewFile::commit`]; dropped
    /// before that, it is removed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnsafeName`] when `name` does not pass [`is_safe_file_name`] (make one with
    /// [`safe_file_name`]); [`ErrorKind::Io`] when the file cannot be created.
    pub fn create_file(&self, name: &str) -> Result<NewFile> {
        self.new_file(name, true)
    }

    /// As [`create_file`](Self::create_file), for bytes whose hash nobody reads (an encrypted
    /// file, listed under its plaintext's hash): not hashed as they are written, and never
    /// taken for a file already there (its [`Saved::sha256`] is all zeros).
    #[cfg(feature = "store")]
    pub(crate) fn create_unhashed_file(&self, name: &str) -> Result<NewFile> {
        self.new_file(name, false)
    }

    fn new_file(&self, name: &str, hashed: bool) -> Result<NewFile> {
        if !is_safe_file_name(name) {
            return Err(Error::new(
                ErrorKind::UnsafeName,
                format!("{:?} is not one plain path component", Shortened(name)),
            ));
        }
        let temp = self
            .inner
            .dir
            .create_temp(self.mode)
            .map_err(|e| io_error("creating", name, e))?;
        Ok(NewFile {
            dir: Arc::clone(&self.inner),
            wanted: name.to_owned(),
            temp: Some(temp),
            hasher: hashed.then(Sha256::new),
            size: 0,
        })
    }

    /// Saves `bytes` as `name`: [`create_file`](Self::create_file), one write and
    /// [`commit`](NewFile::commit).
    ///
    /// # Errors
    ///
    /// As [`create_file`](Self::create_file) and [`commit`](NewFile::commit).
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<Saved> {
        let mut file = self.create_file(name)?;
        file.write_all(bytes)
            .map_err(|e| io_error("writing", name, e))?;
        file.commit()
    }
}

/// At most 64 characters of an unsafe name, for an error message.
struct Shortened<'a>(&'a str);

impl fmt::Debug for Shortened<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(64) {
            Some((end, _)) => write!(f, "{:?}...", &self.0[..end]),
            None => write!(f, "{:?}", self.0),
        }
    }
}

/// An I/O error while `doing` something to the file `name`: says what failed, the I/O error is
/// the source.
pub(crate) fn io_error(doing: &str, name: &str, e: io::Error) -> Error {
    Error::with_source(
        ErrorKind::Io,
        format!("{doing} {name:?} in the output folder"),
        e,
    )
}

/// A file being written into an [`OutputDir`], with no visible name until
/// [`commit`](Self::commit).
///
/// Write to it with [`std::io::Write`] or, with the `tokio-io` feature,
/// [`tokio::io::AsyncWrite`]; its SHA-256 is computed as it is written. Dropping it without a
/// commit removes it.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use authenteq_export::save::OutputDir;
///
/// let folder = tempfile::tempdir()?;
/// let dir = OutputDir::create(folder.path())?;
/// let mut file = dir.create_file("faceImage.jpeg")?;
/// file.write_all(b"\xff\xd8")?;
/// drop(file); // not committed: gone
/// assert_eq!(std::fs::read_dir(folder.path())?.count(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct NewFile {
    dir: Arc<Shared>,
    wanted: String,
    /// `None` once committed or discarded.
    temp: Option<sys::Temp>,
    /// `None` for a file made by [`OutputDir::create_unhashed_file`].
    hasher: Option<Sha256>,
    size: u64,
}

impl fmt::Debug for NewFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewFile")
            .field("name", &self.wanted)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl NewFile {
    /// The name it was created for.
    pub fn name(&self) -> &str {
        &self.wanted
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether its bytes are hashed (not a file of [`OutputDir::create_unhashed_file`]).
    #[cfg(feature = "store")]
    pub(crate) fn is_hashed(&self) -> bool {
        self.hasher.is_some()
    }

    /// Makes the file visible: syncs it to disk, gives it its name unless that name is taken,
    /// and syncs the folder.
    ///
    /// A taken name is compared with the file: the same bytes (same size, then same SHA-256)
    /// mean the file is already there ([`Outcome::AlreadyThere`]), and this one is dropped;
    /// other bytes move on to `stem-2.ext`, `stem-3.ext`... until a free name or the same bytes
    /// are found ([`Outcome::Renamed`]). Nothing is ever replaced, even by another process saving
    /// the same name at the same moment. Comparing reads each same-sized file under a taken
    /// name once.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when syncing, naming or comparing fails (the file is then removed),
    /// or when no free name is left among 10,000.
    pub fn commit(self) -> Result<Saved> {
        let dir = Arc::clone(&self.dir);
        self.publish_in(&dir, true)
    }

    /// As [`commit`](Self::commit), but the file gets its name in `dir`, another folder of the
    /// same file system (a file written out of sight in one folder, named in a folder made only
    /// once the whole set of files is there).
    ///
    /// # Errors
    ///
    /// As [`commit`](Self::commit); a folder on another file system cannot take the file
    /// ([`ErrorKind::Io`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use authenteq_export::save::OutputDir;
    ///
    /// let folder = tempfile::tempdir()?;
    /// let staging = OutputDir::create(folder.path())?;
    /// let mut file = staging.create_file("faceImage.jpeg")?;
    /// file.write_all(b"\xff\xd8")?;
    /// let target = OutputDir::create(folder.path().join("v1"))?;
    /// file.commit_in(&target)?;
    /// assert_eq!(std::fs::read(folder.path().join("v1/faceImage.jpeg"))?, b"\xff\xd8");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit_in(self, dir: &OutputDir) -> Result<Saved> {
        self.publish_in(&dir.inner, true)
    }

    /// As [`commit_in`](Self::commit_in), without syncing `dir` afterwards: for a caller that
    /// names several files and then syncs the folder once ([`OutputDir::sync`]) before any of
    /// them counts.
    #[cfg(feature = "store")]
    pub(crate) fn commit_in_unsynced(self, dir: &OutputDir) -> Result<Saved> {
        self.publish_in(&dir.inner, false)
    }

    fn publish_in(mut self, target: &Shared, sync_folder: bool) -> Result<Saved> {
        let Some(mut temp) = self.temp.take() else {
            return Err(Error::new(ErrorKind::Usage, "file committed twice"));
        };
        let result = self.publish(target, &mut temp, sync_folder);
        self.dir.dir.discard(temp);
        result
    }

    fn publish(
        &mut self,
        target: &Shared,
        temp: &mut sys::Temp,
        sync_folder: bool,
    ) -> Result<Saved> {
        let wanted = self.wanted.as_str();
        let sha256: Option<[u8; 32]> = self.hasher.take().map(|h| h.finalize().into());
        let mut synced = false;
        let (stem, ext) = match wanted.rfind('.') {
            Some(i) if i > 0 => wanted.split_at(i),
            _ => (wanted, ""),
        };
        for n in 1..=MAX_CANDIDATES {
            let candidate = if n == 1 {
                wanted.to_owned()
            } else {
                format!("{stem}-{n}{ext}")
            };
            // Looking first saves the `fsync` of a file that is already there; the name can
            // still be taken between this look and `publish`, which never replaces it.
            match self.existing(target, &candidate, sha256.as_ref())? {
                Existing::Same => return Ok(self.saved(candidate, sha256, Outcome::AlreadyThere)),
                Existing::Other => continue,
                Existing::Missing => {}
            }
            if !synced {
                temp.file
                    .sync_all()
                    .map_err(|e| io_error("writing", wanted, e))?;
                synced = true;
            }
            let outcome = match target.dir.publish(&self.dir.dir, temp, &candidate) {
                Ok(sys::Published::Done) => {
                    if sync_folder {
                        target.dir.sync().map_err(|e| {
                            io_error("syncing the folder after saving", &candidate, e)
                        })?;
                    }
                    if n == 1 {
                        Outcome::Created
                    } else {
                        Outcome::Renamed {
                            wanted: wanted.to_owned(),
                        }
                    }
                }
                // Taken since the look: by a whole file, which may be this one.
                Ok(sys::Published::Taken) => {
                    match self.existing(target, &candidate, sha256.as_ref())? {
                        Existing::Same => Outcome::AlreadyThere,
                        Existing::Other | Existing::Missing => continue,
                    }
                }
                Err(e) => return Err(io_error("saving", wanted, e)),
            };
            return Ok(self.saved(candidate, sha256, outcome));
        }
        Err(Error::new(
            ErrorKind::Io,
            format!("saving {wanted:?} in the output folder: no free name left"),
        ))
    }

    fn saved(&self, name: String, sha256: Option<[u8; 32]>, outcome: Outcome) -> Saved {
        Saved {
            name,
            size: self.size,
            sha256: sha256.unwrap_or_default(),
            outcome,
        }
    }

    /// What the folder holds under `name`, compared with this file (`self.size` bytes with
    /// this SHA-256; an unhashed file is never the same).
    fn existing(&self, target: &Shared, name: &str, sha256: Option<&[u8; 32]>) -> Result<Existing> {
        let compare = || -> io::Result<Existing> {
            let (mut file, size) = match target.dir.open_existing(name)? {
                sys::Found::Missing => return Ok(Existing::Missing),
                sys::Found::Other => return Ok(Existing::Other),
                sys::Found::File(file, size) => (file, size),
            };
            let Some(sha256) = sha256.filter(|_| size == self.size) else {
                return Ok(Existing::Other);
            };
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => hasher.update(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(if hasher.finalize()[..] == sha256[..] {
                Existing::Same
            } else {
                Existing::Other
            })
        };
        compare().map_err(|e| io_error("comparing with the existing", name, e))
    }
}

/// What a folder holds under a name, compared with a new file.
enum Existing {
    /// Nothing.
    Missing,
    /// A regular file with the same bytes.
    Same,
    /// Anything else: other bytes, a link, a folder, something that cannot be read.
    Other,
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            self.dir.dir.discard(temp);
        }
    }
}

impl Write for NewFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(temp) = self.temp.as_mut() else {
            return Err(io::Error::other("file already saved"));
        };
        let n = temp.file.write(buf)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes straight to the file in the calling task, as [`Write`] does: see the
/// [module docs](self#how-a-file-becomes-visible). Shutting down does not commit.
#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncWrite for NewFile {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::task::Poll::Ready(self.get_mut().write(buf))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// A file saved by [`NewFile::commit`]: the name it has in the folder, its size, its SHA-256 and
/// whether it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    name: String,
    size: u64,
    sha256: [u8; 32],
    outcome: Outcome,
}

impl Saved {
    /// Its name in the folder: the one asked for, or for [`Outcome::Renamed`] the free one it
    /// got, or for [`Outcome::AlreadyThere`] the file that already held these bytes.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The SHA-256 of its bytes.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }

    /// The SHA-256 of its bytes, in lowercase hex.
    pub fn sha256_hex(&self) -> String {
        let mut hex = String::with_capacity(64);
        for b in self.sha256 {
            hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            hex.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        hex
    }

    /// Whether it was written, found already there, or written under another name.
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }
}

/// What saving a file did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Written under the name asked for.
    Created,
    /// A file with the same name and the same bytes was there already: nothing was written.
    AlreadyThere,
    /// The name asked for holds other bytes: written under the next free name.
    Renamed {
        /// The name asked for.
        wanted: String,
    },
}

#[cfg(test)]
mod tests;
