//! The export front-ends: async over a `Stream` of `Bytes`, blocking over a `Read`.

use std::future::poll_fn;
use std::io::{self, Read};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use tokio::io::{AsyncRead, ReadBuf};

use super::decoder::{ExportDecoder, ExportEvent, ExportLimits};
use super::files::{FileInfo, FileKind};
use super::VerificationResult;
use crate::driver::{
    copy_into, copy_into_read_buf, AsyncDriver, BlockingDriver, BoxError, Collector, Core, Payload,
    PayloadEvent, PayloadStep,
};
use crate::error::{Error, Result};

impl Core for ExportDecoder {
    type Event = ExportEvent;
    fn feed(&mut self, chunk: Bytes) {
        ExportDecoder::feed(self, chunk)
    }
    fn finish(&mut self) {
        ExportDecoder::finish(self)
    }
    fn next_event(&mut self) -> Result<Option<ExportEvent>> {
        ExportDecoder::next_event(self)
    }
    fn poison(&mut self, err: Error) -> Error {
        ExportDecoder::poison(self, err)
    }
}

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

/// Skips events to the next item; `None` at the end of the export.
fn item_from<F>(
    event: ExportEvent,
    file: impl FnOnce(FileInfo) -> F,
) -> Option<Option<ExportItem<F>>> {
    match event {
        ExportEvent::Result { result, json } => Some(Some(ExportItem::Result { result, json })),
        ExportEvent::FileStart(info) => Some(Some(ExportItem::File(file(info)))),
        ExportEvent::End => Some(None),
        ExportEvent::FileData(_) | ExportEvent::FileEnd => None,
    }
}

impl PayloadEvent for ExportEvent {
    #[inline]
    fn payload_step(self) -> PayloadStep {
        match self {
            ExportEvent::FileData(data) => PayloadStep::Data(data),
            ExportEvent::FileEnd => PayloadStep::End,
            ExportEvent::Result { .. } | ExportEvent::FileStart(_) | ExportEvent::End => {
                PayloadStep::Other
            }
        }
    }
}

/// An Authenteq export read from an async [`Stream`] of `Bytes` chunks, in any of the three
/// formats.
///
/// Items come in stream order from [`next_item`](Self::next_item): the typed result and the
/// files, each a [`ExportFile`] read lazily (chunk by chunk, or as an [`AsyncRead`]). Memory
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

    /// Bytes pulled from the source so far.
    pub fn bytes_read(&self) -> u64 {
        self.driver.core.bytes_fed()
    }

    /// The format, once known: `multipart`, `json` or `pdf`.
    pub fn format(&self) -> Option<&'static str> {
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
        Ok(item_from(event, |info| ExportFile {
            export: self,
            info,
            payload: Payload::default(),
        })
        .flatten())
    }
}

/// A file of an [`Export`]: its [`FileInfo`] and its bytes, pulled lazily. The bytes end
/// (`None`, or end of file) only once the file is complete.
pub struct ExportFile<'a, S> {
    export: &'a mut Export<S>,
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

impl<S, E> ExportFile<'_, S>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<BoxError>,
{
    /// The file's kind, names and content type.
    pub fn info(&self) -> &FileInfo {
        &self.info
    }

    /// The file's kind.
    pub fn kind(&self) -> &FileKind {
        self.info.kind()
    }

    /// Polls for the next chunk of the file.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>>> {
        let driver = &mut self.export.driver;
        self.payload
            .poll_next(cx, |cx| driver.poll_map(cx, PayloadEvent::payload_step))
    }

    /// The next chunk of the file, or `None` once it is complete.
    ///
    /// # Errors
    ///
    /// As [`Export::next_item`].
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// The whole file in one `Bytes` (no copy when it came in one chunk).
    ///
    /// # Errors
    ///
    /// As [`chunk`](Self::chunk).
    pub async fn bytes(mut self) -> Result<Bytes> {
        let mut all = Collector::new();
        while let Some(chunk) = self.chunk().await? {
            all.push(chunk);
        }
        Ok(all.finish())
    }
}

impl<S, E> Stream for ExportFile<'_, S>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<BoxError>,
{
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_chunk(cx).map(Result::transpose)
    }
}

impl<S, E> AsyncRead for ExportFile<'_, S>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<BoxError>,
{
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        match ready!(self.poll_chunk(cx)) {
            Ok(Some(chunk)) => self.payload.keep(copy_into_read_buf(chunk, buf)),
            Ok(None) => {}
            Err(e) => return Poll::Ready(Err(e.into())),
        }
        Poll::Ready(Ok(()))
    }
}

/// An Authenteq export read from a blocking [`Read`]: the same as [`Export`] without an async
/// runtime.
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use authenteq_export::export::{ExportItem, ExportReader};
///
/// let saved = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/verification-result.multipart"))?;
/// let mut export = ExportReader::new(saved, None)?; // the format and boundary come from the body
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
pub struct ExportReader<R> {
    driver: BlockingDriver<R, ExportDecoder>,
}

impl<R> std::fmt::Debug for ExportReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportReader")
            .field("decoder", &self.driver.core)
            .finish_non_exhaustive()
    }
}

impl<R: Read> ExportReader<R> {
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
        Ok(ExportReader {
            driver: BlockingDriver::new(source, core),
        })
    }

    /// Sets the size of the chunks read from the source (default 64 KiB).
    pub fn chunk_size(mut self, size: usize) -> Self {
        self.driver.chunk_size = size.max(1);
        self
    }

    /// Bytes read from the source so far.
    pub fn bytes_read(&self) -> u64 {
        self.driver.core.bytes_fed()
    }

    /// The format, once known: `multipart`, `json` or `pdf`.
    pub fn format(&self) -> Option<&'static str> {
        self.driver.core.format()
    }

    /// The next item, or `None` once the export is complete.
    ///
    /// # Errors
    ///
    /// As [`Export::next_item`].
    pub fn next_item(&mut self) -> Result<Option<ExportItem<BlockingExportFile<'_, R>>>> {
        loop {
            let event = self.driver.next_event()?;
            if let Some(item) = item_from(event, |info| info) {
                return Ok(item.map(|item| match item {
                    ExportItem::Result { result, json } => ExportItem::Result { result, json },
                    ExportItem::File(info) => ExportItem::File(BlockingExportFile {
                        export: self,
                        info,
                        payload: Payload::default(),
                    }),
                }));
            }
        }
    }
}

/// A file of an [`ExportReader`]; implements [`Read`].
pub struct BlockingExportFile<'a, R> {
    export: &'a mut ExportReader<R>,
    info: FileInfo,
    payload: Payload,
}

impl<R> std::fmt::Debug for BlockingExportFile<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingExportFile")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl<R: Read> BlockingExportFile<'_, R> {
    /// The file's kind, names and content type.
    pub fn info(&self) -> &FileInfo {
        &self.info
    }

    /// The file's kind.
    pub fn kind(&self) -> &FileKind {
        self.info.kind()
    }

    /// The next chunk of the file, or `None` once it is complete.
    ///
    /// # Errors
    ///
    /// As [`Export::next_item`].
    pub fn chunk(&mut self) -> Result<Option<Bytes>> {
        let driver = &mut self.export.driver;
        self.payload.next(|| driver.next_event())
    }

    /// The whole file in one `Bytes` (no copy when it came in one chunk).
    ///
    /// # Errors
    ///
    /// As [`chunk`](Self::chunk).
    pub fn bytes(mut self) -> Result<Bytes> {
        let mut all = Collector::new();
        while let Some(chunk) = self.chunk()? {
            all.push(chunk);
        }
        Ok(all.finish())
    }
}

impl<R: Read> Read for BlockingExportFile<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let Some(chunk) = self.chunk()? else {
            return Ok(0);
        };
        let (n, rest) = copy_into(chunk, buf);
        self.payload.keep(rest);
        Ok(n)
    }
}
