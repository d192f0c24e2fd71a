//! Saving a whole export into an [`OutputDir`]: the result and every file, whole files only.

use std::borrow::Cow;
use std::io::Write;

use bytes::Bytes;
use futures_core::Stream;

use super::{io_error, NewFile, OutputDir, Saved};
use crate::error::Result;
use crate::export::{Export, ExportItem, FileInfo, VerificationResult};
use crate::names::{file_name, RESULT_JSON};

/// What [`save_export`] (or [`blocking::save_export`](super::blocking::save_export)) saved: the
/// typed result and, in the export's order, every file with the name it got.
#[derive(Debug)]
pub struct SavedExport {
    result: Option<Box<VerificationResult>>,
    files: Vec<SavedFile>,
}

impl SavedExport {
    /// The typed result (every complete export has one).
    pub fn result(&self) -> Option<&VerificationResult> {
        self.result.as_deref()
    }

    /// The files saved, in the export's order: the result JSON where the export had it, and
    /// every file.
    pub fn files(&self) -> &[SavedFile] {
        &self.files
    }

    /// How many files were written (not [already there](super::Outcome::AlreadyThere)).
    pub fn written(&self) -> usize {
        self.files
            .iter()
            .filter(|f| *f.saved.outcome() != super::Outcome::AlreadyThere)
            .count()
    }
}

/// One file of a [`SavedExport`]: what the export said about it, and how it was saved.
#[derive(Debug)]
pub struct SavedFile {
    /// `None` for the result JSON.
    info: Option<FileInfo>,
    saved: Saved,
}

impl SavedFile {
    /// The export's description of the file; `None` for the result JSON.
    pub fn info(&self) -> Option<&FileInfo> {
        self.info.as_ref()
    }

    /// Whether this is the result JSON ([`RESULT_JSON`](super::RESULT_JSON)).
    pub fn is_result(&self) -> bool {
        self.info.is_none()
    }

    /// The part (or JSON field) the file came under: `result` for the result JSON.
    pub fn part_name(&self) -> Cow<'_, str> {
        match &self.info {
            Some(info) => info.name(),
            None => "result".into(),
        }
    }

    /// Its content type: as the export gave it, `application/json` for the result.
    pub fn content_type(&self) -> Option<&str> {
        match &self.info {
            Some(info) => info.content_type(),
            None => Some("application/json"),
        }
    }

    /// Its name in the folder, size, SHA-256 and outcome.
    pub fn saved(&self) -> &Saved {
        &self.saved
    }
}

/// The steps of saving an export, shared by the async and the blocking loop.
pub(super) struct Saver<'a> {
    dir: &'a OutputDir,
    summary: SavedExport,
}

impl<'a> Saver<'a> {
    pub(super) fn new(dir: &'a OutputDir) -> Self {
        Saver {
            dir,
            summary: SavedExport {
                result: None,
                files: Vec::new(),
            },
        }
    }

    /// The 1-based number of the next item.
    fn next_number(&self) -> usize {
        self.summary.files.len() + 1
    }

    pub(super) fn result(&mut self, result: Box<VerificationResult>, json: &Bytes) -> Result<()> {
        let saved = self.dir.write_file(RESULT_JSON, json)?;
        self.summary.result = Some(result);
        self.summary.files.push(SavedFile { info: None, saved });
        Ok(())
    }

    pub(super) fn start(&self, info: &FileInfo) -> Result<NewFile> {
        self.dir.create_file(&file_name(info, self.next_number()))
    }

    pub(super) fn write(file: &mut NewFile, chunk: &[u8]) -> Result<()> {
        file.write_all(chunk)
            .map_err(|e| io_error("writing", file.name(), e))
    }

    /// Commits `file`, whose end the export reported.
    pub(super) fn finish(&mut self, info: FileInfo, file: NewFile) -> Result<()> {
        let saved = file.commit()?;
        self.summary.files.push(SavedFile {
            info: Some(info),
            saved,
        });
        Ok(())
    }

    pub(super) fn done(self) -> SavedExport {
        self.summary
    }
}

/// Saves every item of `export` into `dir`, reading it to its end: the result as
/// [`RESULT_JSON`](super::RESULT_JSON) (the result's JSON bytes as the export gave them) and each
/// file under [`file_name`](super::file_name), each made visible only once the export has
/// reported the file's end.
///
/// Saving is idempotent: a file already in `dir` with the same bytes under the same name is left
/// as it is ([`Outcome::AlreadyThere`](super::Outcome::AlreadyThere)), and a name holding other
/// bytes gives the next free name ([`Outcome::Renamed`](super::Outcome::Renamed)).
///
/// The bytes are written in the calling task as they arrive (see the
/// [module docs](super#how-a-file-becomes-visible)); the only waits are each file's `fsync`.
///
/// # Examples
///
/// ```
/// use authenteq_export::export::Export;
/// use authenteq_export::save::{save_export, OutputDir};
/// use bytes::Bytes;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let body = Bytes::from_static(br#"{"id":"v1","livenessFaceImage":{"contentType":"image/jpeg","content":"/9j/2Q=="}}"#);
/// let stream = futures::stream::iter([Ok::<_, std::io::Error>(body)]);
/// let folder = tempfile::tempdir()?;
/// let dir = OutputDir::create(folder.path())?;
///
/// let saved = save_export(&mut Export::new(stream, None)?, &dir).await?;
/// assert_eq!(saved.result().map(|r| r.id.as_str()), Some("v1"));
/// let names: Vec<&str> = saved.files().iter().map(|f| f.saved().name()).collect();
/// assert_eq!(names, ["livenessFaceImage.jpeg", "result.json"]);
/// assert_eq!(std::fs::read(folder.path().join("livenessFaceImage.jpeg"))?, [0xff, 0xd8, 0xff, 0xd9]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// # Errors
///
/// Any error of the export ([`Export::next_item`] and its files), and any error of
/// [`OutputDir::create_file`] or [`NewFile::commit`]. The file being written when the error
/// happened is removed; the files saved before it stay, whole.
pub async fn save_export<S, E>(export: &mut Export<S>, dir: &OutputDir) -> Result<SavedExport>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    let mut saver = Saver::new(dir);
    while let Some(item) = export.next_item().await? {
        match item {
            ExportItem::Result { result, json } => saver.result(result, &json)?,
            ExportItem::File(mut file) => {
                let mut out = saver.start(file.info())?;
                while let Some(chunk) = file.chunk().await? {
                    Saver::write(&mut out, &chunk)?;
                }
                saver.finish(file.info().clone(), out)?;
            }
        }
    }
    Ok(saver.done())
}
