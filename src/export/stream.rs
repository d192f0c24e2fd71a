//! The async export front-end: an export from any `Stream` of `Bytes`.

use std::future::poll_fn;
use std::task::{ready, Poll};

use bytes::Bytes;
use futures_core::Stream;

use super::decoder::{ExportDecoder, ExportEvent};
use super::files::{FileInfo, FileKind};
use super::format::ExportFormat;
use super::limits::ExportLimits;
use super::VerificationResult;
use crate::driver::{AsyncDriver, BoxError};
use crate::error::{Error, Result};
use crate::payload::{async_payload_reader, Payload};

/// What an export yields, in stream order: the typed result, and files.
#[derive(Debug)]
pub enum ExportItem<F> {
    /// The typed result and its JSON bytes (see [`ExportEvent::Result`]).
    Result {
        /// The typed result.
        result: Box<VerificationResult>,
        /// The result's JSON: the multipart `result` part verbatim, or the JSON export without
        /// its files, pretty-printed.
        json: Bytes,
    },
    /// A file, whose bytes are read from it lazily.
    File(F),
}

/// The item an event starts, if it starts one: `Some(None)`-free, the end of the export is an item
/// here too.
pub(crate) enum Step<F> {
    /// An item for the caller.
    Item(ExportItem<F>),
    /// The export is complete.
    End,
    /// Inside a file: skipped.
    Skip,
}

/// What `event` means to a reader of items; `file` makes the file item from its info.
pub(crate) fn step<F>(event: ExportEvent, file: impl FnOnce(FileInfo) -> F) -> Step<F> {
    match event {
        ExportEvent::Result { result, json } => Step::Item(ExportItem::Result { result, json }),
        ExportEvent::FileStart(info) => Step::Item(ExportItem::File(file(info))),
        ExportEvent::End => Step::End,
        ExportEvent::FileData(_) | ExportEvent::FileEnd => Step::Skip,
    }
}

/// An Authenteq export read from an async [`Stream`] of `Bytes` chunks, in any of the three
/// formats.
///
/// Items come in stream order from [`next_item`](Self::next_item): the typed result and the
/// files, each an [`ExportFile`] read lazily (chunk by chunk, as a `Stream`, or as a tokio
/// `AsyncRead`). Memory
/// stays bounded by one chunk plus the limits, whatever the size of the files.
///
/// # Examples
///
/// ```
/// use authenteq_export::export::{Export, ExportItem};
/// use bytes::Bytes;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let body = Bytes::from_static(br#"{"id":"v1","livenessFaceImage":{"contentType":"image/jpeg","content":"/9j/2Q=="}}"#);
/// let stream = futures::stream::iter([Ok::<_, std::io::Error>(body)]);
/// let mut export = Export::new(stream, Some("application/json"))?;
/// while let Some(item) = export.next_item().await? {
///     match item {
///         ExportItem::Result { result, .. } => assert_eq!(result.id, "v1"),
///         ExportItem::File(mut file) => {
///             assert_eq!(file.info().canonical_filename(), "livenessFaceImage.jpeg");
///             let mut jpeg = Vec::new();
///             tokio::io::copy(&mut file, &mut jpeg).await?;
///             assert_eq!(jpeg, [0xff, 0xd8, 0xff, 0xd9]);
///         }
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Export<S> {
    driver: AsyncDriver<S, ExportDecoder>,
}

impl<S> std::fmt::Debug for Export<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Export")
            .field("decoder", &self.driver.core)
            .finish_non_exhaustive()
    }
}

impl<S, E> Export<S>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<BoxError>,
{
    /// An export read from `source`. The `Content-Type` of the response, when known, tells the
    /// format (and the multipart boundary); without it the first bytes do.
    ///
    /// # Errors
    ///
    /// A multipart `Content-Type` without a valid boundary.
    pub fn new(source: S, content_type: Option<&str>) -> Result<Self> {
        Self::with_limits(source, content_type, ExportLimits::default())
    }

    /// As [`new`](Self::new), with limits.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_limits(
        source: S,
        content_type: Option<&str>,
        limits: ExportLimits,
    ) -> Result<Self> {
        let core = ExportDecoder::for_content_type(content_type, limits)?;
        Ok(Export {
            driver: AsyncDriver::new(source, core),
        })
    }

    /// An export read from `source` by `decoder`: one made for an HTTP answer
    /// ([`ExportDecoder::for_response`](super::ExportDecoder::for_response)), for a known
    /// format, or detecting it.
    pub fn with_decoder(source: S, decoder: ExportDecoder) -> Self {
        Export {
            driver: AsyncDriver::new(source, decoder),
        }
    }

    /// Bytes pulled from the source so far.
    pub fn bytes_read(&self) -> u64 {
        self.driver.core.bytes_fed()
    }

    /// The format, once the first bytes (or the `Content-Type`) told it.
    pub fn format(&self) -> Option<&ExportFormat> {
        self.driver.core.format()
    }

    /// The next item, or `None` once the export is complete; skips what is left of the
    /// current file.
    ///
    /// # Errors
    ///
    /// Any decoding error ([`ExportDecoder::next_event`]); a body cut short is
    /// [`ErrorKind::UnexpectedEnd`](crate::ErrorKind::UnexpectedEnd) here too, never `None`.
    pub async fn next_item(&mut self) -> Result<Option<ExportItem<ExportFile<'_, S>>>> {
        let event = poll_fn(|cx| loop {
            let event = ready!(self.driver.poll_event(cx))?;
            if !matches!(event, ExportEvent::FileData(_) | ExportEvent::FileEnd) {
                return Poll::Ready(Ok::<_, Error>(event));
            }
        })
        .await?;
        Ok(match step(event, |info| info) {
            Step::Item(ExportItem::Result { result, json }) => {
                Some(ExportItem::Result { result, json })
            }
            Step::Item(ExportItem::File(info)) => Some(ExportItem::File(ExportFile {
                driver: &mut self.driver,
                info,
                payload: Payload::default(),
            })),
            Step::End | Step::Skip => None,
        })
    }
}

/// A file of an [`Export`]: its [`FileInfo`] and its bytes, pulled lazily. The bytes end
/// (`None`, or end of file) only once the file is complete.
pub struct ExportFile<'a, S> {
    driver: &'a mut AsyncDriver<S, ExportDecoder>,
    info: FileInfo,
    payload: Payload,
}

impl<S> std::fmt::Debug for ExportFile<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportFile")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl<S> ExportFile<'_, S> {
    /// The file's kind, names and content type.
    pub fn info(&self) -> &FileInfo {
        &self.info
    }

    /// The file's kind.
    pub fn kind(&self) -> &FileKind {
        self.info.kind()
    }
}

async_payload_reader!(
    ExportFile,
    "file",
    "the file is complete",
    "[`Export::next_item`]"
);
