//! A verification stored in `split`'s layout, read back: what the emulator serves and the
//! webhook sender delivers, listed once, in the API's order.

use std::io;
use std::path::{Path, PathBuf};

use crate::export::{content_type_for, DocumentSlot, FileKind, StreamedFile};
use crate::names::{RESULT_JSON, RESULT_PDF};

/// The file a store writes last beside the files (see `store::Manifest`): never a file of the
/// verification itself.
const MANIFEST_JSON: &str = "manifest.json";

/// The marker a store writes once the verification was handed to the application (see
/// `store::HANDLED_JSON`): not a file of the verification either.
const HANDLED_JSON: &str = "handled.json";

/// One file of a stored verification.
#[derive(Debug, Clone)]
pub(crate) struct StoredFile {
    pub(crate) kind: FileKind,
    pub(crate) filename: String,
    pub(crate) content_type: &'static str,
    pub(crate) path: PathBuf,
    pub(crate) len: u64,
}

/// What a verification's folder holds: `result.json`, a `result.pdf` report, and the files in
/// the order the API sends them.
#[derive(Debug)]
pub(crate) struct StoredVerification {
    pub(crate) result: Option<PathBuf>,
    pub(crate) pdf: Option<(PathBuf, u64)>,
    pub(crate) files: Vec<StoredFile>,
}

/// Where the API puts a file of this kind: the liveness face, each document's front, back and
/// face, the address proof, then anything else (by name).
fn api_rank(kind: &FileKind) -> usize {
    let slot = |s: DocumentSlot| match s {
        DocumentSlot::First => 0,
        DocumentSlot::Second => 1,
        DocumentSlot::Third => 2,
    };
    match kind {
        FileKind::LivenessFaceImage => 0,
        FileKind::CroppedFrontImage(s) => 1 + 3 * slot(*s),
        FileKind::CroppedBackImage(s) => 2 + 3 * slot(*s),
        FileKind::FaceImage(s) => 3 + 3 * slot(*s),
        FileKind::AddressProofDocument => 10,
        _ => 11,
    }
}

impl StoredVerification {
    /// Lists the folder `dir`; `None` when there is no folder there.
    ///
    /// Only regular files count (no symbolic links), and no hidden ones; `manifest.json` and
    /// `handled.json` are a store's records, not files of the verification.
    pub(crate) async fn open(dir: &Path) -> io::Result<Option<StoredVerification>> {
        match tokio::fs::symlink_metadata(dir).await {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
        let mut entries = tokio::fs::read_dir(dir).await?;
        let mut stored = StoredVerification {
            result: None,
            pdf: None,
            files: Vec::new(),
        };
        while let Some(entry) = entries.next_entry().await? {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') || name == MANIFEST_JSON || name == HANDLED_JSON {
                continue;
            }
            // `DirEntry::metadata` does not follow a symbolic link.
            let meta = entry.metadata().await?;
            if !meta.is_file() {
                continue;
            }
            match name.as_str() {
                RESULT_JSON => stored.result = Some(entry.path()),
                RESULT_PDF => stored.pdf = Some((entry.path(), meta.len())),
                _ => {
                    let (stem, ext) = name.rsplit_once('.').unwrap_or((&name, ""));
                    if stem.is_empty() {
                        continue;
                    }
                    stored.files.push(StoredFile {
                        kind: FileKind::from_part_name(stem),
                        content_type: content_type_for(ext).unwrap_or("application/octet-stream"),
                        path: entry.path(),
                        len: meta.len(),
                        filename: name,
                    });
                }
            }
        }
        stored.files.sort_by(|a, b| {
            (api_rank(&a.kind), &a.filename).cmp(&(api_rank(&b.kind), &b.filename))
        });
        Ok(Some(stored))
    }

    /// Reads `result.json`, refusing one over `max_bytes` (`Ok(None)` when there is none).
    pub(crate) async fn read_result(&self, max_bytes: u64) -> io::Result<Option<Vec<u8>>> {
        let Some(path) = &self.result else {
            return Ok(None);
        };
        let len = tokio::fs::metadata(path).await?.len();
        if len > max_bytes {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("result.json is {len} bytes, over {max_bytes}"),
            ));
        }
        tokio::fs::read(path).await.map(Some)
    }

    /// Every file opened for streaming, in order.
    pub(crate) async fn open_files(&self) -> io::Result<Vec<StreamedFile<tokio::fs::File>>> {
        let mut files = Vec::with_capacity(self.files.len());
        for file in &self.files {
            files.push(StreamedFile {
                reader: tokio::fs::File::open(&file.path).await?,
                kind: file.kind.clone(),
                filename: file.filename.clone(),
                content_type: file.content_type.to_owned(),
                len: file.len,
            });
        }
        Ok(files)
    }
}
