//! `manifest.json`: the record of one complete verification.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// The name of the manifest of each verification: `<id>/manifest.json`.
pub const MANIFEST_JSON: &str = "manifest.json";

/// What a stored verification holds: its id and every file, in the export's order, with its
/// size, SHA-256 and content type. Written last; its presence means the verification is
/// complete.
///
/// ```json
/// {"id":"8c3f6a2e","files":[{"name":"result.json","size":1234,"sha256":"9f86…","contentType":"application/json"}]}
/// ```
///
/// Members it does not know are kept when read and written back. Its `Debug` shows the files'
/// names and sizes, not the id.
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
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

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
            other: serde_json::Map::new(),
        }
    }

    /// Its name, under the verification's folder or prefix.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The SHA-256 of its bytes, lowercase hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
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
