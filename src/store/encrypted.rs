//! [`Encrypted`]: any [`Sink`] with every stored file encrypted with age as it streams.

// age 0.13 marks its X25519 keys deprecated in favour of its post-quantum ones. X25519 is what
// the age tools deployed today read and write (Debian's `age` 1.1 has no other), and what
// users' keys are: the interoperability this layer promises.
#![allow(deprecated)]

use std::fmt;
use std::io::Write;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use age::x25519;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::manifest::Manifest;
use super::{ensure_no_file_open, Committed, Names, Plaintext, Sink, Staging};
use crate::error::{Error, ErrorKind, Result};
use crate::export::VerificationId;

/// What an encrypted file's stored name ends with.
pub(crate) const AGE_SUFFIX: &str = ".age";

/// Plaintext bytes encrypted at a time (on the blocking pool) before the ciphertext goes on:
/// bounds what one file holds, whatever the size of the chunks it is given.
const SLICE: usize = 512 << 10;

/// The X25519 recipients every stored file is encrypted to (`age1…` public keys): any one of
/// their identities can read the files back.
///
/// Its `Debug` shows how many there are.
///
/// # Examples
///
/// ```
/// use authenteq_export::store::Recipients;
///
/// let recipients = Recipients::parse(
///     "# the archive key\nage1042gl6v44ujy7730vzzrrgedqlxaugv2lzlathyqnralwqs0392su206mh\n",
/// )?;
/// assert_eq!(recipients.len(), 1);
/// assert!(Recipients::parse("age1nope").is_err());
/// # Ok::<(), authenteq_export::Error>(())
/// ```
#[derive(Clone)]
pub struct Recipients(Vec<x25519::Recipient>);

impl fmt::Debug for Recipients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Recipients").field(&self.0.len()).finish()
    }
}

impl Recipients {
    /// The recipients of a recipients file (age's format): one `age1…` key a line; blank lines
    /// and lines starting with `#` are skipped.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] naming the line that is not an X25519 recipient, or when there is
    /// none.
    pub fn parse(text: &str) -> Result<Recipients> {
        let mut recipients = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let recipient = x25519::Recipient::from_str(line).map_err(|why| {
                Error::new(
                    ErrorKind::Usage,
                    format!(
                        "line {} is not an age X25519 recipient (age1…): {why}",
                        n + 1
                    ),
                )
            })?;
            recipients.push(recipient);
        }
        if recipients.is_empty() {
            return Err(Error::new(ErrorKind::Usage, "no age recipient given"));
        }
        Ok(Recipients(recipients))
    }

    /// How many recipients.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none (never, for recipients that were parsed).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds the recipients of `other`.
    pub fn extend(&mut self, other: Recipients) {
        self.0.extend(other.0);
    }

    fn encryptor(&self) -> Result<age::Encryptor> {
        age::Encryptor::with_recipients(self.0.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| Error::with_source(ErrorKind::Usage, "encrypting to the recipients", e))
    }
}

/// The X25519 identities (`AGE-SECRET-KEY-1…` secret keys) that read encrypted files back.
///
/// Its `Debug` shows how many there are, never a key.
///
/// # Examples
///
/// ```
/// use authenteq_export::store::Identities;
///
/// // A key made for this example only: never put a real one in code.///
/// let identities = Identities::parse(
///     "# created: 2026-01-01\nAGE-SECRET-KEY-14XUYRES7QSLTRETZHQX6NUJNSL9JMRKL3V40PUNPS7YLM9T3VNFSEXKY9K\n",
/// )?;
/// assert_eq!(identities.len(), 1);
/// assert!(Identities::parse("AGE-SECRET-KEY-1NOPE").is_err());
/// # Ok::<(), authenteq_export::Error>(())
/// ```
#[derive(Clone)]
pub struct Identities(Vec<x25519::Identity>);

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Identities").field(&self.0.len()).finish()
    }
}

impl Identities {
    /// The identities of an identity file (as `age-keygen` writes it): one
    /// `AGE-SECRET-KEY-1…` a line; blank lines and lines starting with `#` are skipped.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] naming the line that is not an X25519 identity (never quoting
    /// it), or when there is none.
    pub fn parse(text: &str) -> Result<Identities> {
        let mut identities = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let identity = x25519::Identity::from_str(line).map_err(|why| {
                Error::new(
                    ErrorKind::Usage,
                    format!(
                        "line {} is not an age X25519 identity (AGE-SECRET-KEY-1…): {why}",
                        n + 1
                    ),
                )
            })?;
            identities.push(identity);
        }
        if identities.is_empty() {
            return Err(Error::new(ErrorKind::Usage, "no age identity given"));
        }
        Ok(Identities(identities))
    }

    /// How many identities.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none (never, for identities that were parsed).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The recipients these identities read files for.
    pub fn to_recipients(&self) -> Recipients {
        Recipients(self.0.iter().map(x25519::Identity::to_public).collect())
    }

    pub(crate) fn as_dyn(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.0.iter().map(|i| i as &dyn age::Identity)
    }
}

/// Any [`Sink`] with every file it stores (`result.json` included) encrypted with
/// [age](https://age-encryption.org/v1) to X25519 [`Recipients`] as its bytes stream: no
/// plaintext byte reaches the folder or the bucket.
///
/// Each file is one age file, stored as `<name>.age`; its bytes are encrypted 512 KiB at a
/// time as they are written and handed to the wrapped sink's staging, so a file of any size
/// takes a bounded amount of memory here (about three batches: the one filling, the one being
/// encrypted, the ciphertext being written; the wrapped sink's own buffers aside). The cipher
/// runs on tokio's blocking pool (`spawn_blocking`, so a tokio runtime is needed) while the
/// writing task hashes the plaintext and writes the batch before: with a core to spare it
/// costs the writer little more than a plain file. The manifest
/// stays plain: it lists each file under its plain name with the plaintext's size and SHA-256,
/// marked `"encryption":"age"`, with the stored name and size (see [`Manifest`]). Reading back
/// is [`open`](super::open).
///
/// The contract is the wrapped sink's: nothing visible before commit, nothing left by a
/// discard, the first manifest the record. The age tool (`age -d -i KEY FILE.age`) decrypts
/// every stored file.
///
/// # Examples
///
/// ```
/// use authenteq_export::export::VerificationId;
/// use authenteq_export::store::{Encrypted, FolderSink, Identities, Sink, Staging};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let identities = Identities::parse(
///     "AGE-SECRET-KEY-14XUYRES7QSLTRETZHQX6NUJNSL9JMRKL3V40PUNPS7YLM9T3VNFSEXKY9K",
/// )?;
/// let folder = tempfile::tempdir()?;
/// let sink = Encrypted::new(FolderSink::create(folder.path())?, identities.to_recipients());
/// let mut staging = sink.stage(&VerificationId::new("v1")?).await?;
/// staging.start_file("result.json", Some("application/json")).await?;
/// staging.write(bytes::Bytes::from_static(br#"{"id":"v1"}"#)).await?;
/// staging.end_file().await?;
/// let manifest = staging.commit().await?.manifest().clone();
/// let file = manifest.file("result.json").unwrap();
/// assert_eq!((file.size(), file.encryption(), file.stored_name()), (11, Some("age"), "result.json.age"));
/// let stored = std::fs::read(folder.path().join("v1/result.json.age"))?;
/// assert!(stored.starts_with(b"age-encryption.org/v1\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Encrypted<S> {
    inner: S,
    recipients: Arc<Recipients>,
}

impl<S: Sink> Encrypted<S> {
    /// `inner`, with every file encrypted to `recipients`.
    pub fn new(inner: S, recipients: Recipients) -> Encrypted<S> {
        Encrypted {
            inner,
            recipients: Arc::new(recipients),
        }
    }

    /// The wrapped sink.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: Sink> Sink for Encrypted<S> {
    type Staging = EncryptedStaging<S::Staging>;

    async fn manifest(&self, id: &VerificationId) -> Result<Option<Manifest>> {
        self.inner.manifest(id).await
    }

    async fn stage(&self, id: &VerificationId) -> Result<Self::Staging> {
        Ok(EncryptedStaging {
            inner: self.inner.stage(id).await?,
            recipients: Arc::clone(&self.recipients),
            names: Names::new(),
            current: None,
        })
    }

    async fn check(&self) -> Result<()> {
        self.inner.check().await
    }

    fn location(&self, id: &VerificationId, stored_name: &str) -> String {
        self.inner.location(id, stored_name)
    }

    async fn is_handled(&self, id: &VerificationId) -> Result<bool> {
        self.inner.is_handled(id).await
    }

    // The marker holds the id and a time, no personal data: stored plain.
    async fn mark_handled(&self, id: &VerificationId) -> Result<bool> {
        self.inner.mark_handled(id).await
    }

    async fn erase(&self, id: &VerificationId) -> Result<super::Erased> {
        self.inner.erase(id).await
    }

    async fn ids(&self) -> Result<Vec<VerificationId>> {
        self.inner.ids().await
    }
}

/// One verification being written through [`Encrypted`]: see [`Staging`].
pub struct EncryptedStaging<T> {
    inner: T,
    recipients: Arc<Recipients>,
    names: Names,
    /// The file being written: its encryptor, here or at work on the blocking pool.
    current: Option<Current>,
}

impl<T: fmt::Debug> fmt::Debug for EncryptedStaging<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedStaging")
            .field("inner", &self.inner)
            .field("writing", &self.current.as_ref().map(|c| &c.name))
            .finish_non_exhaustive()
    }
}

/// The file being written.
struct Current {
    name: String,
    /// Its encryptor, `None` while a batch is encrypted on the blocking pool (`sealing`).
    sealer: Option<Sealer>,
    sealing: Option<tokio::task::JoinHandle<Sealed>>,
    /// Plaintext not yet handed to the encryptor: less than [`SLICE`] bytes, as slices of the
    /// chunks written.
    pending: Vec<Bytes>,
    pending_len: usize,
    /// The plaintext's hash and size, taken in the caller's task as the chunks come.
    hasher: Sha256,
    size: u64,
}

/// What encrypting a batch gives back: the encryptor, and the ciphertext or the error.
type Sealed = (Sealer, std::io::Result<Bytes>);

/// The age encryptor of one file.
struct Sealer {
    writer: age::stream::StreamWriter<Ciphertext>,
    out: Ciphertext,
}

impl Sealer {
    /// Encrypts `plaintext`; gives the ciphertext age wrote (all of it but what waits for the
    /// rest of a 64 KiB age chunk).
    fn seal(&mut self, plaintext: &[Bytes]) -> std::io::Result<Bytes> {
        self.out.reserve(plaintext.iter().map(Bytes::len).sum());
        for chunk in plaintext {
            self.writer.write_all(chunk)?;
        }
        Ok(self.out.take())
    }
}

/// Where age writes the ciphertext, taken from after each batch.
#[derive(Clone, Default)]
struct Ciphertext(Arc<Mutex<Vec<u8>>>);

impl Ciphertext {
    /// Room for the ciphertext of `plaintext` more bytes: as many bytes, and the 16-byte tag
    /// of each age chunk (age holds back the last chunk of each write, so what comes out is
    /// about what went in). Reserved once, so that what is passed on holds little spare
    /// capacity (a held small file holds its bytes, not a batch's room).
    fn reserve(&self, plaintext: usize) {
        const CHUNK: usize = 64 << 10;
        let mut out = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        out.reserve_exact(plaintext + (plaintext / CHUNK + 1) * 16);
    }

    fn take(&self) -> Bytes {
        let mut out = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Bytes::from(std::mem::take(&mut *out))
    }
}

impl Write for Ciphertext {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut out = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn encrypting_error(name: &str, e: std::io::Error) -> Error {
    Error::with_source(ErrorKind::Io, format!("encrypting {name:?}"), e)
}

fn no_file() -> Error {
    Error::new(ErrorKind::Usage, "no file was started")
}

impl Current {
    /// Brings the encryptor back from the blocking pool if it is there: the ciphertext of the
    /// batch it encrypted.
    async fn take_back(&mut self) -> Result<Option<Bytes>> {
        let mut sealed = None;
        if let Some(task) = self.sealing.take() {
            let (sealer, ciphertext) = task
                .await
                .map_err(|join| Error::with_source(ErrorKind::Io, "encrypting a file", join))?;
            self.sealer = Some(sealer);
            sealed = Some(ciphertext.map_err(|e| encrypting_error(&self.name, e))?);
        }
        Ok(sealed)
    }

    /// Sends the pending batch to be hashed and encrypted on the blocking pool, once the last
    /// one is back: the ciphertext of the last one, to be written meanwhile.
    async fn dispatch(&mut self) -> Result<Option<Bytes>> {
        let sealed = self.take_back().await?;
        let mut sealer = self.sealer.take().ok_or_else(no_file)?;
        let batch = std::mem::take(&mut self.pending);
        self.pending_len = 0;
        self.sealing = Some(tokio::task::spawn_blocking(move || {
            let ciphertext = sealer.seal(&batch);
            (sealer, ciphertext)
        }));
        Ok(sealed)
    }
}

impl<T: Staging> Staging for EncryptedStaging<T> {
    async fn start_file(&mut self, name: &str, content_type: Option<&str>) -> Result<()> {
        ensure_no_file_open(self.current.is_some())?;
        let name = self.names.claim(name)?;
        let out = Ciphertext::default();
        let writer = self
            .recipients
            .encryptor()?
            .wrap_output(out.clone())
            .map_err(|e| encrypting_error(&name, e))?;
        self.inner
            .start_encrypted_file(&format!("{name}{AGE_SUFFIX}"), content_type)
            .await?;
        let header = out.take();
        self.current = Some(Current {
            name,
            sealer: Some(Sealer { writer, out }),
            sealing: None,
            pending: Vec::new(),
            pending_len: 0,
            hasher: Sha256::new(),
            size: 0,
        });
        self.inner.write(header).await
    }

    // A batch of `SLICE` plaintext bytes is encrypted on the blocking pool while the
    // ciphertext of the one before is written and the next one is read and hashed here: the
    // caller's task then does what it does for a plain file (hash, write), and the cipher runs
    // beside it. What one call holds is bounded whatever the chunk's size: chunks are cut into
    // slices of at most `SLICE`.
    async fn write(&mut self, mut chunk: Bytes) -> Result<()> {
        let current = self.current.as_mut().ok_or_else(no_file)?;
        current.hasher.update(&chunk);
        current.size += chunk.len() as u64;
        while !chunk.is_empty() {
            let piece = chunk.split_to(chunk.len().min(SLICE - current.pending_len));
            current.pending_len += piece.len();
            current.pending.push(piece);
            if current.pending_len == SLICE {
                if let Some(ciphertext) = current.dispatch().await? {
                    self.inner.write(ciphertext).await?;
                }
            }
        }
        Ok(())
    }

    async fn end_file(&mut self) -> Result<()> {
        let mut current = self.current.take().ok_or_else(no_file)?;
        let sealed = current.take_back().await?;
        let Some(mut sealer) = current.sealer.take() else {
            return Err(no_file());
        };
        // The rest is less than a slice: encrypted here, no hand-off.
        let rest = sealer
            .seal(&current.pending)
            .map_err(|e| encrypting_error(&current.name, e))?;
        let Sealer { writer, out } = sealer;
        writer
            .finish()
            .map_err(|e| encrypting_error(&current.name, e))?;
        for ciphertext in [sealed.unwrap_or_default(), rest, out.take()] {
            if !ciphertext.is_empty() {
                self.inner.write(ciphertext).await?;
            }
        }
        let plaintext = Plaintext {
            name: current.name,
            size: current.size,
            sha256: current.hasher.finalize().into(),
        };
        self.inner.end_encrypted_file(plaintext).await
    }

    async fn commit(self) -> Result<Committed> {
        self.inner.commit().await
    }

    async fn discard(self) {
        self.inner.discard().await;
    }
}
