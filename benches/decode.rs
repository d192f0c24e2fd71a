//! Throughput of the multipart decoder against multer and against the physical limit: a bare
//! `memchr::memmem` scan for the delimiter over the same chunks. Each group holds the three, so
//! the ratios are read from one run.
//!
//! ```sh
//! cargo bench --bench decode                 # everything (about 10 minutes)
//! cargo bench --bench decode -- 10MiB/64KiB  # one group
//! ```
//!
//! Source modes: `pending` returns `Poll::Pending` before every chunk (like a socket), `ready`
//! has every chunk available at once (like a file or an in-memory body).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use authenteq_export::export::{
    ExportDecoder, ExportEvent, ExportFormat, ExportLimits, VerificationResult,
};
use authenteq_export::multipart::{Boundary, Multipart};
use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use futures::{Stream, StreamExt};

#[path = "../tests/support/generate.rs"]
mod generate;

/// A stream over prepared chunks; in `pending` mode it answers `Pending` (and wakes itself)
/// before each chunk, as a socket would.
struct Source {
    chunks: std::collections::VecDeque<Bytes>,
    pending: bool,
    parked: bool,
}

impl Source {
    fn new(chunks: &[Bytes], pending: bool) -> Self {
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

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

async fn ours(source: Source, boundary: &Boundary) -> usize {
    let mut body = Multipart::new(source, boundary.clone());
    let mut total = 0;
    while let Some(mut part) = body.next_part().await.unwrap() {
        while let Some(chunk) = part.chunk().await.unwrap() {
            total += chunk.len();
        }
    }
    total
}

async fn multer(source: Source, boundary: &Boundary) -> usize {
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
async fn memmem_scan(mut source: Source, finder: &memchr::memmem::Finder<'_>) -> usize {
    let mut found = 0;
    while let Some(chunk) = source.next().await {
        found += finder.find_iter(&chunk.unwrap()).count();
    }
    found
}

fn throughput(c: &mut Criterion) {
    let rt = runtime();
    let boundary = Boundary::new(generate::BOUNDARY).unwrap();
    let needle = format!("\r\n--{}", generate::BOUNDARY);
    let finder = memchr::memmem::Finder::new(needle.as_bytes());
    for (size_name, size) in [("10MiB", 10usize << 20), ("100MiB", 100 << 20)] {
        let body = generate::multipart_export(1, size);
        for (chunk_name, chunk) in [
            ("4KiB", 4usize << 10),
            ("64KiB", 64 << 10),
            ("1MiB", 1 << 20),
        ] {
            let chunks: Vec<Bytes> = (0..body.len())
                .step_by(chunk)
                .map(|i| body.slice(i..(i + chunk).min(body.len())))
                .collect();
            for mode in ["pending", "ready"] {
                let pending = mode == "pending";
                let mut group = c.benchmark_group(format!("{size_name}/{chunk_name}/{mode}"));
                group.throughput(Throughput::Bytes(body.len() as u64));
                if size >= 100 << 20 {
                    group
                        .sample_size(10)
                        .measurement_time(Duration::from_secs(8));
                } else {
                    group
                        .sample_size(20)
                        .measurement_time(Duration::from_secs(4));
                }
                group.bench_function("memmem-scan", |b| {
                    b.iter_batched(
                        || Source::new(&chunks, pending),
                        |s| black_box(rt.block_on(memmem_scan(s, &finder))),
                        BatchSize::LargeInput,
                    )
                });
                group.bench_function("authenteq-export", |b| {
                    b.iter_batched(
                        || Source::new(&chunks, pending),
                        |s| black_box(rt.block_on(ours(s, &boundary))),
                        BatchSize::LargeInput,
                    )
                });
                group.bench_function("multer", |b| {
                    b.iter_batched(
                        || Source::new(&chunks, pending),
                        |s| black_box(rt.block_on(multer(s, &boundary))),
                        BatchSize::LargeInput,
                    )
                });
                group.finish();
            }
        }
    }
}

/// A 50 KiB export in one chunk: decoded, result typed into `VerificationResult`, every part
/// consumed.
fn small_export(c: &mut Criterion) {
    let rt = runtime();
    let body = generate::multipart_export(2, 50 << 10);
    let boundary = Boundary::new(generate::BOUNDARY).unwrap();
    let mut group = c.benchmark_group("small-export/50KiB");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("authenteq-export", |b| {
        b.iter(|| {
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
            black_box((id_len, bytes))
        })
    });
    group.bench_function("multer", |b| {
        b.iter(|| {
            let source = futures::stream::iter([Ok::<_, std::io::Error>(body.clone())]);
            black_box(rt.block_on(async {
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
            }))
        })
    });
    group.finish();
}

criterion_group!(benches, small_export, throughput);
criterion_main!(benches);
