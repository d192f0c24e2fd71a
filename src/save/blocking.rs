//! Saving an export read from a blocking [`std::io::Read`]: the same as the async
//! [`save_export`](super::save_export), without an async runtime.

use std::io::Read;

use super::export::Saver;
use super::{OutputDir, SavedExport};
use crate::error::Result;
use crate::export::blocking::Export;
use crate::export::ExportItem;

/// Saves every item of `export` into `dir`, reading it to its end: as the async
/// [`save_export`](super::save_export), which says what is saved where.
///
/// # Examples
///
/// ```
/// use authenteq_export::export::blocking::Export;
/// use authenteq_export::save::{blocking::save_export, OutputDir};
///
/// let body = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/verification-result.pdf"))?;
/// let folder = tempfile::tempdir()?;
/// let saved = save_export(&mut Export::new(body, None)?, &OutputDir::create(folder.path())?)?;
/// assert_eq!(saved.files()[0].saved().name(), "result.pdf");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As the async [`save_export`](super::save_export): the file being written when an error
/// happens is removed, the files saved before it stay, whole.
pub fn save_export<R: Read>(export: &mut Export<R>, dir: &OutputDir) -> Result<SavedExport> {
    let mut saver = Saver::new(dir);
    while let Some(item) = export.next_item()? {
        match item {
            ExportItem::Result { result, json } => saver.result(result, &json)?,
            ExportItem::File(mut file) => {
                let mut out = saver.start(file.info())?;
                while let Some(chunk) = file.chunk()? {
                    Saver::write(&mut out, &chunk)?;
                }
                saver.finish(file.info().clone(), out)?;
            }
        }
    }
    Ok(saver.done())
}
