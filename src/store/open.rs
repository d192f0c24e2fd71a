//! Reading a stored verification back: [`ReadBack`] and [`open`].

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

use super::encrypted::Identities;
use super::manifest::{hex, ManifestFile, AGE};
use super::{FolderSink, Sink};
use crate::error::{Error, ErrorKind, Result};
use crate::export::VerificationId;
use crate::save::{NewFile, OutputDir, Saved};

/// A stored file's bytes, read as they come.
pub type StoredBytes = Box<dyn Read + Send>;

/// A [`Sink`] whose stored files can be read back: [`FolderSink`], and `ObjectSink` (feature
/// `object-store`).
pub trait ReadBack: Sink {
    /// The stored bytes of file `stored_name` of verification `id` (as stored: ciphertext for
    /// an encrypted file). Read them off the async threads (in `spawn_blocking`): an
    /// `ObjectSink`'s reader waits for the store's answers.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Unreadable`] when the file is missing; an I/O or store error.
    fn read_file(
        &self,
        id: &VerificationId,
        stored_name: &str,
    ) -> impl std::future::Future<Output = Result<StoredBytes>> + Send;
}

impl ReadBack for FolderSink {
    async fn read_file(&self, id: &VerificationId, stored_name: &str) -> Result<StoredBytes> {
        let path = self.path().join(id.as_str()).join(stored_name);
        match std::fs::File::open(&path) {
            Ok(file) => Ok(Box::new(file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(missing(stored_name)),
            Err(e) => Err(crate::save::io_error("reading", stored_name, e)),
        }
    }
}

fn missing(name: &str) -> Error {
    Error::new(
        ErrorKind::Unreadable,
        format!("{name:?} is listed in the manifest but not stored"),
    )
}

#[cfg(feature = "object-store")]
impl ReadBack for super::ObjectSink {
    async fn read_file(&self, id: &VerificationId, stored_name: &str) -> Result<StoredBytes> {
        let key = object_store::path::Path::from(self.prefix())
            .join(id.as_str())
            .join(stored_name);
        use object_store::ObjectStoreExt as _;
        let got = match self.store().get(&key).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Err(missing(stored_name)),
            Err(e) => return Err(super::storage_error(&format!("reading {stored_name:?}"), e)),
        };
        Ok(Box::new(ObjectRead {
            runtime: tokio::runtime::Handle::current(),
            stream: got.into_stream(),
            buffer: bytes::Bytes::new(),
        }))
    }
}

/// An object's bytes as a blocking reader, for a thread of the blocking pool.
#[cfg(feature = "object-store")]
struct ObjectRead {
    runtime: tokio::runtime::Handle,
    stream: futures_util::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>,
    buffer: bytes::Bytes,
}

#[cfg(feature = "object-store")]
impl Read for ObjectRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use futures_util::StreamExt;
        while self.buffer.is_empty() {
            match self.runtime.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.buffer = chunk,
                Some(Err(e)) => return Err(io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.buffer.len());
        buf[..n].copy_from_slice(&self.buffer.split_to(n));
        Ok(n)
    }
}

/// What [`open`] wrote: each file of the verification, under the name it got in the folder.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Opened {
    /// The files, in the manifest's order.
    pub files: Vec<Saved>,
}

/// Reads verification `id` back from `sink` into the folder `out`, in `split`'s layout (each
/// file under its plain name, `result.json` among them): every encrypted file is decrypted with
/// one of `identities`, and every file is checked against its manifest's size and SHA-256.
///
/// Whole files only, and all or nothing: each file is written unnamed and checked, and the
/// files get their names only once every one of them checked out. Names are given as
/// everywhere in the `save` module: never over another file (`stem-2.ext`), a file with the
/// same bytes already there is kept. Plaintext exists only in `out`.
///
/// # Examples
///
/// ```
/// use authenteq_export::save::OutputDir;
/// use authenteq_export::store::{open, Encrypted, FolderSink, Identities, Sink, Staging};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// // A key made for this example only: never put a real one in code.
/// let identities = Identities::parse(
///     "AGE-SECRET-KEY-14XUYRES7QSLTRETZHQX6NUJNSL9JMRKL3V40PUNPS7YLM9T3VNFSEXKY9K",
/// )?;
/// let store = tempfile::tempdir()?;
/// let folder = FolderSink::create(store.path())?;
/// let sink = Encrypted::new(folder.clone(), identities.to_recipients());
/// let id = authenteq_export::export::VerificationId::new("v1")?;
/// let mut staging = sink.stage(&id).await?;
/// staging.start_file("result.json", Some("application/json")).await?;
/// staging.write(bytes::Bytes::from_static(br#"{"id":"v1"}"#)).await?;
/// staging.end_file().await?;
/// staging.commit().await?;
///
/// let out = tempfile::tempdir()?;
/// let opened = open(&folder, &id, &identities, &OutputDir::create(out.path())?).await?;
/// assert_eq!(opened.files[0].name(), "result.json");
/// assert_eq!(std::fs::read(out.path().join("result.json"))?, br#"{"id":"v1"}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// # Errors
///
/// [`ErrorKind::Unreadable`] naming the file when a listed file is missing, no identity
/// decrypts it, its ciphertext is cut short or altered, or its content is not the manifest's
/// (nothing is written then); [`ErrorKind::Usage`] when `id` is not stored complete (no
/// manifest) or a file is encrypted some other way than age; an I/O or store error.
pub async fn open<S: ReadBack>(
    sink: &S,
    id: &VerificationId,
    identities: &Identities,
    out: &OutputDir,
) -> Result<Opened> {
    let manifest = sink.manifest(id).await?.ok_or_else(|| {
        Error::new(
            ErrorKind::Usage,
            "this verification is not stored complete (no manifest)",
        )
    })?;
    let mut written = Vec::with_capacity(manifest.files().len());
    for file in manifest.files() {
        let stored = sink.read_file(id, file.stored_name()).await?;
        let (file, identities, out) = (file.clone(), identities.clone(), out.clone());
        let copied =
            tokio::task::spawn_blocking(move || copy_checked(stored, &file, &identities, &out))
                .await
                .map_err(|join| Error::with_source(ErrorKind::Io, "reading a stored file", join))?;
        // On an error, the files written so far are unnamed and vanish with `written`.
        written.push(copied?);
    }
    let files = tokio::task::spawn_blocking(move || {
        written
            .into_iter()
            .map(NewFile::commit)
            .collect::<Result<Vec<Saved>>>()
    })
    .await
    .map_err(|join| Error::with_source(ErrorKind::Io, "saving the files", join))??;
    Ok(Opened { files })
}

fn unreadable(name: &str, why: &str) -> Error {
    Error::new(ErrorKind::Unreadable, format!("{name:?}: {why}"))
}

/// The content of `stored` (decrypted if `file` is encrypted) into an unnamed file of `out`,
/// checked against `file`'s size and SHA-256.
fn copy_checked(
    stored: StoredBytes,
    file: &ManifestFile,
    identities: &Identities,
    out: &OutputDir,
) -> Result<NewFile> {
    let shown = file.stored_name();
    let mut content: Box<dyn Read> = match file.encryption() {
        None => stored,
        Some(AGE) => {
            let decryptor = age::Decryptor::new(stored).map_err(|e| {
                Error::with_source(
                    ErrorKind::Unreadable,
                    format!("{shown:?}: not an age file, or its header is damaged"),
                    e,
                )
            })?;
            let reader = decryptor.decrypt(identities.as_dyn()).map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => unreadable(
                    shown,
                    "none of the identities given decrypts it (it is encrypted to other recipients)",
                ),
                other => Error::with_source(
                    ErrorKind::Unreadable,
                    format!("{shown:?}: its age header does not check out (altered?)"),
                    other,
                ),
            })?;
            Box::new(reader)
        }
        Some(_) => {
            return Err(Error::new(
                ErrorKind::Usage,
                format!("{shown:?} is encrypted in a way this version does not read"),
            ))
        }
    };
    let mut target = out.create_file(file.name())?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match content.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let why = if file.encryption().is_some() {
                    "its ciphertext is cut short or altered"
                } else {
                    "it cannot be read"
                };
                return Err(Error::with_source(
                    ErrorKind::Unreadable,
                    format!("{shown:?}: {why}"),
                    e,
                ));
            }
        };
        hasher.update(&buf[..n]);
        target
            .write_all(&buf[..n])
            .map_err(|e| crate::save::io_error("writing", file.name(), e))?;
    }
    let sha256: [u8; 32] = hasher.finalize().into();
    if target.size() != file.size() || hex(&sha256) != file.sha256() {
        return Err(unreadable(
            shown,
            "its content is not what the manifest lists (size or SHA-256)",
        ));
    }
    Ok(target)
}
