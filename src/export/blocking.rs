//! The blocking export front-end: an export from any [`std::io::Read`], for code without an
//! async runtime. The names mirror the async ones: [`Export`] and [`ExportFile`].

use std::io::Read;

use super::decoder::ExportDecoder;
use super::files::{FileInfo, FileKind};
use super::format::ExportFormat;
use super::limits::ExportLimits;
use super::stream::{step, ExportItem, Step};
use crate::driver::BlockingDriver;
use crate::error::Result;
use crate::payload::{blocking_payload_reader, Payload};

/// An Authenteq export read from a blocking [`Read`]: the same as the async
/// [`export::Export`](super::Export), without an async runtime.
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use authenteq_export::export::{blocking::Export, ExportItem};
///
/// let saved = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/verification-result.multipart"))?;
/// let mut export = Export::new(saved, None)?; // the format and boundary come from the body
/// let mut files = 0;
/// while let Some(item) = export.next_item()? {
///     match item {
///         ExportItem::Result { result, .. } => assert_eq!(result.documents().count(), 3),
///         ExportItem::File(mut file) => {
///             let mut bytes = Vec::new();
///             file.read_to_end(&mut bytes)?;
///             files += 1;
///         }
///     }
/// }
/// assert_eq!(files, 11);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Export<R> {
    driver: BlockingDriver<R, ExportDecoder>,
}

impl<R> std::fmt::Debug for Export<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Export")
            .field("decoder", &self.driver.core)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Export<R> {
    /// An export read from `source`, with the `Content-Type` when known.
    ///
    /// # Errors
    ///
    /// A multipart `Content-Type` without a valid boundary.
    pub fn new(source: R, content_type: Option<&str>) -> Result<Self> {
        Self::with_limits(source, content_type, ExportLimits::default())
    }

    /// As [`new`](Self::new), with limits.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_limits(
        source: R,
        content_type: Option<&str>,
        limits: ExportLimits,
    ) -> Result<Self> {
        let core = ExportDecoder::for_content_type(content_type, limits)?;
        Ok(Export {
            driver: BlockingDriver::new(source, core),
        })
    }

    /// An export read from `source` by `decoder`: one made for an HTTP answer
    /// ([`ExportDecoder::for_response`](super::ExportDecoder::for_response)), for a known
    /// format, or detecting it.
    pub fn with_decoder(source: R, decoder: ExportDecoder) -> Self {
        Export {
            driver: BlockingDriver::new(source, decoder),
        }
    }

    /// Sets the size of the chunks read from the source (at least 1 byte; default
    /// [`DEFAULT_CHUNK_SIZE`](crate::multipart::DEFAULT_CHUNK_SIZE)).
    pub fn chunk_size(mut self, size: usize) -> Self {
        self.driver.set_chunk_size(size);
        self
    }

    /// Bytes read from the source so far.
    pub fn bytes_read(&self) -> u64 {
        self.driver.core.bytes_fed()
    }

    /// The format, once the first bytes (or the `Content-Type`) told it.
    pub fn format(&self) -> Option<&ExportFormat> {
        self.driver.core.format()
    }

    /// The next item, or `None` once the export is complete.
    ///
    /// # Errors
    ///
    /// As the async [`Export::next_item`](super::Export::next_item).
    pub fn next_item(&mut self) -> Result<Option<ExportItem<ExportFile<'_, R>>>> {
        loop {
            let event = self.driver.next_event()?;
            match step(event, |info| info) {
                Step::Item(ExportItem::Result { result, json }) => {
                    return Ok(Some(ExportItem::Result { result, json }))
                }
                Step::Item(ExportItem::File(info)) => {
                    return Ok(Some(ExportItem::File(ExportFile {
                        driver: &mut self.driver,
                        info,
                        payload: Payload::default(),
                    })))
                }
                Step::End => return Ok(None),
                Step::Skip => {}
            }
        }
    }
}

/// A file of an [`Export`]; implements [`Read`].
pub struct ExportFile<'a, R> {
    driver: &'a mut BlockingDriver<R, ExportDecoder>,
    info: FileInfo,
    payload: Payload,
}

impl<R> std::fmt::Debug for ExportFile<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportFile")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl<R> ExportFile<'_, R> {
    /// The file's kind, names and content type.
    pub fn info(&self) -> &FileInfo {
        &self.info
    }

    /// The file's kind.
    pub fn kind(&self) -> &FileKind {
        self.info.kind()
    }
}

blocking_payload_reader!(
    ExportFile,
    "file",
    "the file is complete",
    "[`Export::next_item`]"
);
