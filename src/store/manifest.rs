//! `manifest.json`: the record of one complete verification.

use std::fmt;

use chrono::{DateTime, SubsecRound as _, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// The name of the manifest of each verification: `<id>/manifest.json`.
pub const MANIFEST_JSON: &str = "manifest.json";

/// What a stored verification holds: its id, when it was written, and every file, in the
/// export's order, with its size, SHA-256 and content type. Written last; its presence means the
/// verification is complete.
///
/// ```json
/// {"id":"8c3f6a2e","writtenAt":"2026-05-04T10:00:00.123Z","files":[{"name":"result.json","size":1234,"sha256":"9f86…","contentType":"application/json"}]}
/// ```
///
/// A file stored encrypted (by [`Encrypted`](super::Encrypted), feature `encrypt`) is listed
/// under its plain name with its plaintext's size and SHA-256 (what reading it back checks),
/// and says how and where it is stored: `"encryption":"age"`, `"storedName":"result.json.age"`
/// and `"storedSize"`, the size of the stored object (for information only: another age
/// implementation writes another size for the same file). The manifest itself is never
/// encrypted: it holds names, sizes and hashes, no personal data.
///
/// Manifests written before `writtenAt` and the encryption members existed read as before:
/// no time, plain files. Members it does not know are kept when read and written back. Its
/// `Debug` shows the files' names and sizes, not the id.
///
/// # Examples
///
/// ```
/// use authenteq_export::store::Manifest;
///
/// let manifest = Manifest::from_json(br#"{"id":"v1","files":[{"name":"result.json","size":2,"sha256":"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","contentType":"application/json"}],"note":"kept"}"#)?;
/// assert_eq!(manifest.id(), "v1");
/// assert_eq!(manifest.file("result.json").map(|f| f.size()), Some(2));
/// assert!(String::from_utf8(manifest.to_json())?.contains(r#""note":"kept""#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    id: String,
    #[serde(rename = "writtenAt", default, skip_serializing_if = "Option::is_none")]
    written_at: Option<DateTime<Utc>>,
    files: Vec<ManifestFile>,
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

/// One file of a [`Manifest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestFile {
    name: String,
    size: u64,
    sha256: String,
    content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encryption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stored_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stored_size: Option<u64>,
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

/// The encryption this crate writes: age's format (`age-encryption.org/v1`).
pub(crate) const AGE: &str = "age";

impl fmt::Debug for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manifest")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl Manifest {
    /// After another writer's manifest won the race for this verification: every file this
    /// writer completed must hold the bytes that manifest lists.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) naming the first file that differs
    /// or that the winner does not list.
    pub(crate) fn check_same_files(&self, theirs: &Manifest) -> crate::Result<()> {
        for mine in self.files() {
            if theirs.file(mine.name()).map(|f| f.sha256()) != Some(mine.sha256()) {
                return Err(crate::Error::new(
                    crate::ErrorKind::Conflict,
                    format!(
                        "another writer stored this verification first, and {:?} differs",
                        mine.name()
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn new(id: &str, files: Vec<ManifestFile>) -> Manifest {
        Manifest {
            id: id.to_owned(),
            written_at: Some(Utc::now().trunc_subsecs(3)),
            files,
            other: serde_json::Map::new(),
        }
    }

    /// Reads a manifest.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Json`] when `json` is not a manifest (`id` and `files`).
    pub fn from_json(json: &[u8]) -> Result<Manifest> {
        serde_json::from_slice(json)
            .map_err(|e| Error::with_source(ErrorKind::Json, "reading a manifest", e))
    }

    /// The manifest as JSON, one line.
    pub fn to_json(&self) -> Vec<u8> {
        // A map of strings and numbers always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The verification id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When the manifest was written (its writer's clock), `None` for a manifest written by a
    /// version of this crate that did not record it. What retention ages a stored
    /// verification by, whatever the store's own timestamps say.
    pub fn written_at(&self) -> Option<DateTime<Utc>> {
        self.written_at
    }

    /// Whether any file is stored encrypted (see [`ManifestFile::encryption`]).
    pub fn is_encrypted(&self) -> bool {
        self.files.iter().any(|f| f.encryption.is_some())
    }

    /// Every file, in the export's order; `result.json` among them.
    pub fn files(&self) -> &[ManifestFile] {
        &self.files
    }

    /// The file named `name`.
    pub fn file(&self, name: &str) -> Option<&ManifestFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// The sum of the files' sizes.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

impl ManifestFile {
    pub(crate) fn new(
        name: String,
        size: u64,
        sha256: &[u8; 32],
        content_type: Option<String>,
    ) -> ManifestFile {
        ManifestFile {
            name,
            size,
            sha256: hex(sha256),
            content_type,
            encryption: None,
            stored_name: None,
            stored_size: None,
            other: serde_json::Map::new(),
        }
    }

    /// This file as stored encrypted: what was measured (its name and size) becomes the stored
    /// name and size, and `plaintext` gives the name, size and SHA-256 of its content.
    pub(crate) fn encrypted(self, plaintext: super::Plaintext) -> ManifestFile {
        ManifestFile {
            name: plaintext.name,
            size: plaintext.size,
            sha256: hex(&plaintext.sha256),
            content_type: self.content_type,
            encryption: Some(AGE.to_owned()),
            stored_name: Some(self.name),
            stored_size: Some(self.size),
            other: self.other,
        }
    }

    /// Its name: under the verification's folder or prefix for a plain file, the name of its
    /// content for an encrypted one (stored as [`stored_name`](Self::stored_name)).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The size of its content in bytes (of the plaintext, for an encrypted file).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The SHA-256 of its content (of the plaintext, for an encrypted file), lowercase hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// How it is encrypted: `Some("age")` for a file stored by
    /// [`Encrypted`](super::Encrypted), `None` for a plain one.
    pub fn encryption(&self) -> Option<&str> {
        self.encryption.as_deref()
    }

    /// Its name under the verification's folder or prefix: [`name`](Self::name) for a plain
    /// file, `<name>.age` (or the free name the folder gave it) for an encrypted one.
    pub fn stored_name(&self) -> &str {
        self.stored_name.as_deref().unwrap_or(&self.name)
    }

    /// The size of what is stored: [`size`](Self::size) for a plain file, the ciphertext's
    /// for an encrypted one (for information: another age implementation writes another size
    /// for the same content).
    pub fn stored_size(&self) -> u64 {
        self.stored_size.unwrap_or(self.size)
    }

    /// The content type its part (or JSON member) declared; `application/json` for
    /// `result.json`.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}
