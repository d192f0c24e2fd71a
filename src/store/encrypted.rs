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

/// Plaintext bytes encrypted at a time before the ciphertext goes on: bounds what one write
/// holds, whatever the size of the chunk it was given.
const SLICE: usize = 256 << 10;

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
/// Each file is one age file, stored as `<name>.age`; its bytes are encrypted 256 KiB at a
/// time as they are written and handed to the wrapped sink's staging, so a file of any size
/// takes a bounded amount of memory here (the wrapped sink's own buffers aside). The manifest
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
    current: Option<Sealing>,
}

impl<T: fmt::Debug> fmt::Debug for EncryptedStaging<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedStaging")
            .field("inner", &self.inner)
            .field("writing", &self.current.as_ref().map(|c| &c.name))
            .finish_non_exhaustive()
    }
}

/// The file being encrypted.
struct Sealing {
    name: String,
    writer: age::stream::StreamWriter<Ciphertext>,
    out: Ciphertext,
    hasher: Sha256,
    size: u64,
}

/// Where age writes the ciphertext, taken from after each write.
#[derive(Clone, Default)]
struct Ciphertext(Arc<Mutex<Vec<u8>>>);

impl Ciphertext {
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

impl<T: Staging> EncryptedStaging<T> {
    /// Hands what age wrote so far to the wrapped staging.
    async fn pass_on(&mut self) -> Result<()> {
        let Some(current) = self.current.as_ref() else {
            return Ok(());
        };
        let ciphertext = current.out.take();
        if ciphertext.is_empty() {
            return Ok(());
        }
        self.inner.write(ciphertext).await
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
            .start_file(&format!("{name}{AGE_SUFFIX}"), content_type)
            .await?;
        self.current = Some(Sealing {
            name,
            writer,
            out,
            hasher: Sha256::new(),
            size: 0,
        });
        self.pass_on().await
    }

    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let current = self
                .current
                .as_mut()
                .ok_or_else(|| Error::new(ErrorKind::Usage, "no file was started"))?;
            let (slice, after) = rest.split_at(rest.len().min(SLICE));
            current.hasher.update(slice);
            current.size += slice.len() as u64;
            current
                .writer
                .write_all(slice)
                .map_err(|e| encrypting_error(&current.name, e))?;
            rest = after;
            self.pass_on().await?;
        }
        if self.current.is_none() {
            return Err(Error::new(ErrorKind::Usage, "no file was started"));
        }
        Ok(())
    }

    async fn end_file(&mut self) -> Result<()> {
        let current = self
            .current
            .take()
            .ok_or_else(|| Error::new(ErrorKind::Usage, "no file was started"))?;
        let Sealing {
            name,
            writer,
            out,
            hasher,
            size,
        } = current;
        writer.finish().map_err(|e| encrypting_error(&name, e))?;
        let last = out.take();
        if !last.is_empty() {
            self.inner.write(last).await?;
        }
        let plaintext = Plaintext {
            name,
            size,
            sha256: hasher.finalize().into(),
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
