//! The stored verifications: one folder per verification id, in the layout `split` writes.

use std::path::{Path, PathBuf};

use crate::export::FileKind;

use super::reply::Failure;

/// The longest verification id accepted, in bytes.
pub(crate) const MAX_ID_BYTES: usize = 128;

/// The largest `result.json` served; a bigger one is answered as a server error.
const MAX_RESULT_BYTES: u64 = 16 << 20;

/// Checks a `verificationId`: not empty, at most [`MAX_ID_BYTES`] bytes, no control character,
/// and one safe path component (no `/` or `\`, not `.` or `..`, not hidden, no device name).
pub(crate) fn check_id(id: &str) -> Result<(), Failure> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && !id.chars().any(char::is_control)
        && crate::save::is_safe_file_name(id);
    if ok {
        Ok(())
    } else {
        Err(Failure::invalid_parameter())
    }
}

/// One stored file of a verification.
#[derive(Debug)]
pub(crate) struct StoredFile {
    pub(crate) kind: FileKind,
    pub(crate) filename: String,
    pub(crate) content_type: &'static str,
    pub(crate) path: PathBuf,
    pub(crate) len: u64,
}

/// What a verification's folder holds.
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) result: Option<PathBuf>,
    pub(crate) pdf: Option<(PathBuf, u64)>,
    /// In the order the API writes them.
    pub(crate) files: Vec<StoredFile>,
}

/// Where the API puts a file of this kind: the liveness face, each document's front, back and
/// face, the address proof, then anything else.
fn api_rank(kind: &FileKind) -> usize {
    let slot = |s: crate::export::DocumentSlot| match s {
        crate::export::DocumentSlot::First => 0,
        crate::export::DocumentSlot::Second => 1,
        crate::export::DocumentSlot::Third => 2,
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

/// Lists the folder of verification `id` under `root` (`id` already checked).
///
/// No folder is `VERIFICATION_NOT_FOUND`; a folder that cannot be read is a server error. Only
/// regular files are served (no symbolic links), and no hidden ones.
pub(crate) async fn open(root: &Path, id: &str) -> Result<Stored, Failure> {
    let dir = root.join(id);
    match tokio::fs::symlink_metadata(&dir).await {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(Failure::not_found()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Failure::not_found()),
        Err(e) => return Err(internal(e)),
    }
    let mut entries = tokio::fs::read_dir(&dir).await.map_err(internal)?;
    let mut stored = Stored {
        result: None,
        pdf: None,
        files: Vec::new(),
    };
    while let Some(entry) = entries.next_entry().await.map_err(internal)? {
        let meta = entry.metadata().await.map_err(internal)?;
        if !meta.is_file() {
            continue;
        }
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        match name.as_str() {
            "result.json" => stored.result = Some(entry.path()),
            "result.pdf" => stored.pdf = Some((entry.path(), meta.len())),
            _ => {
                let (stem, ext) = name.rsplit_once('.').unwrap_or((&name, ""));
                if stem.is_empty() {
                    continue;
                }
                stored.files.push(StoredFile {
                    kind: FileKind::from_part_name(stem),
                    content_type: crate::export::content_type_for(ext)
                        .unwrap_or("application/octet-stream"),
                    path: entry.path(),
                    len: meta.len(),
                    filename: name,
                });
            }
        }
    }
    stored
        .files
        .sort_by(|a, b| (api_rank(&a.kind), &a.filename).cmp(&(api_rank(&b.kind), &b.filename)));
    Ok(stored)
}

/// Reads `result.json`.
pub(crate) async fn read_result(path: &Path) -> Result<Vec<u8>, Failure> {
    let len = tokio::fs::metadata(path).await.map_err(internal)?.len();
    if len > MAX_RESULT_BYTES {
        tracing::warn!(target: "authenteq_export::server", len, "result.json too large to serve");
        return Err(Failure::internal());
    }
    tokio::fs::read(path).await.map_err(internal)
}

pub(crate) fn internal(e: std::io::Error) -> Failure {
    tracing::warn!(target: "authenteq_export::server", error = %e, "cannot read a stored verification");
    Failure::internal()
}
