//! What both benches share: the chunked source, the three contenders and the small-export
//! decoders, so that `decode` (criterion) and `ratios` (interleaved runs) measure the same code.
#![allow(dead_code)]

use std::pin::Pin;
use std::task::{Context, Poll};

use authenteq_export::export::{
    ExportDecoder, ExportEvent, ExportFormat, ExportLimits, VerificationResult,
};
use authenteq_export::multipart::{Boundary, Multipart};
use bytes::Bytes;
use futures::{Stream, StreamExt};

#[path = "../../tests/support/generate.rs"]
pub mod generate;
#[path = "../../tests/support/measure.rs"]
pub mod measure;

/// The body sizes, chunk sizes and source modes of the throughput groups.
pub const SIZES: [(&str, usize); 2] = [("10MiB", 10 << 20), ("100MiB", 100 << 20)];
pub const CHUNKS: [(&str, usize); 3] = [("4KiB", 4 << 10), ("64KiB", 64 << 10), ("1MiB", 1 << 20)];
pub const MODES: [&str; 2] = ["pending", "ready"];

/// `body` cut into chunks of `chunk` bytes (slices: no copy).
pub fn chunked(body: &Bytes, chunk: usize) -> Vec<Bytes> {
    (0..body.len())
        .step_by(chunk)
        .map(|i| body.slice(i..(i + chunk).min(body.len())))
        .collect()
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// A stream over prepared chunks; in `pending` mode it answers `Pending` (and wakes itself)
/// before each chunk, as a socket would.
pub struct Source {
    chunks: std::collections::VecDeque<Bytes>,
    pending: bool,
    parked: bool,
}

impl Source {
    pub fn new(chunks: &[Bytes], pending: bool) -> Self {
        Source {
            chunks: chunks.iter().cloned().collect(),
            pending,
            parked: false,
        }
    }
}

impl Stream for Source {
    type Item = Result<Bytes, std::io::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.pending && !self.parked {
            self.parked = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.parked = false;
        Poll::Ready(self.chunks.pop_front().map(Ok))
    }
}

pub async fn ours(source: Source, boundary: &Boundary) -> usize {
    let mut body = Multipart::new(source, boundary.clone());
    let mut total = 0;
    while let Some(mut part) = body.next_part().await.unwrap() {
        while let Some(chunk) = part.chunk().await.unwrap() {
            total += chunk.len();
        }
    }
    total
}

pub async fn multer(source: Source, boundary: &Boundary) -> usize {
    let mut body = multer::Multipart::new(source, boundary.as_str());
    let mut total = 0;
    while let Some(mut field) = body.next_field().await.unwrap() {
        while let Some(chunk) = field.chunk().await.unwrap() {
            total += chunk.len();
        }
    }
    total
}

/// The limit for any decoder that looks at every byte: find every delimiter in every chunk.
pub async fn memmem_scan(mut source: Source, finder: &memchr::memmem::Finder<'_>) -> usize {
    let mut found = 0;
    while let Some(chunk) = source.next().await {
        found += finder.find_iter(&chunk.unwrap()).count();
    }
    found
}

/// A 50 KiB export in one chunk with our export decoder: decoded, result typed into
/// `VerificationResult`, every file's bytes consumed.
pub fn small_export_ours(body: &Bytes, boundary: &Boundary) -> (usize, usize) {
    let mut decoder = ExportDecoder::new(
        ExportFormat::Multipart(boundary.clone()),
        ExportLimits::default(),
    );
    decoder.feed(body.clone());
    decoder.finish();
    let (mut id_len, mut bytes) = (0, 0);
    loop {
        match decoder.next_event().unwrap() {
            Some(ExportEvent::Result { result, .. }) => id_len = result.id.len(),
            Some(ExportEvent::FileData(d)) => bytes += d.len(),
            Some(ExportEvent::End) => break,
            _ => {}
        }
    }
    (id_len, bytes)
}

/// The same with multer, and the same typing of the result part.
pub fn small_export_multer(
    rt: &tokio::runtime::Runtime,
    body: &Bytes,
    boundary: &Boundary,
) -> (usize, usize) {
    let source = futures::stream::iter([Ok::<_, std::io::Error>(body.clone())]);
    rt.block_on(async {
        let mut m = multer::Multipart::new(source, boundary.as_str());
        let (mut id_len, mut bytes) = (0, 0);
        while let Some(field) = m.next_field().await.unwrap() {
            if field.name() == Some("result") {
                let json = field.bytes().await.unwrap();
                let result = VerificationResult::from_json(&json).unwrap();
                id_len = result.id.len();
            } else {
                bytes += field.bytes().await.unwrap().len();
            }
        }
        (id_len, bytes)
    })
}
