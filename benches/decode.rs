//! Throughput of the multipart decoder against multer and against the physical limit: a bare
//! `memchr::memmem` scan for the delimiter over the same chunks. Each group holds the three, so
//! the ratios are read from one run.
//!
//! ```sh
//! cargo bench --bench decode                 # everything (about 11 minutes)
//! cargo bench --bench decode -- 10MiB/64KiB  # one group
//! ```
//!
//! Source modes: `pending` returns `Poll::Pending` before every chunk (like a socket), `ready`
//! has every chunk available at once (like a file or an in-memory body).
//!
//! On a machine shared with other tenants, `cargo bench --bench ratios` runs the same contenders
//! interleaved, which keeps their ratios steady when the machine's speed drifts.

use std::time::Duration;

use authenteq_export::multipart::Boundary;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};

mod common;
use common::{generate, Source};

fn throughput(c: &mut Criterion) {
    let rt = common::runtime();
    let boundary = Boundary::new(generate::BOUNDARY).unwrap();
    let needle = format!("\r\n--{}", generate::BOUNDARY);
    let finder = memchr::memmem::Finder::new(needle.as_bytes());
    for (size_name, size) in common::SIZES {
        let body = generate::multipart_export(1, size);
        for (chunk_name, chunk) in common::CHUNKS {
            let chunks = common::chunked(&body, chunk);
            for mode in common::MODES {
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
                        |s| black_box(rt.block_on(common::memmem_scan(s, &finder))),
                        BatchSize::LargeInput,
                    )
                });
                group.bench_function("authenteq-export", |b| {
                    b.iter_batched(
                        || Source::new(&chunks, pending),
                        |s| black_box(rt.block_on(common::ours(s, &boundary))),
                        BatchSize::LargeInput,
                    )
                });
                group.bench_function("multer", |b| {
                    b.iter_batched(
                        || Source::new(&chunks, pending),
                        |s| black_box(rt.block_on(common::multer(s, &boundary))),
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
    let rt = common::runtime();
    let body = generate::multipart_export(2, 50 << 10);
    let boundary = Boundary::new(generate::BOUNDARY).unwrap();
    let mut group = c.benchmark_group("small-export/50KiB");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("authenteq-export", |b| {
        b.iter(|| black_box(common::small_export_ours(&body, &boundary)))
    });
    group.bench_function("multer", |b| {
        b.iter(|| black_box(common::small_export_multer(&rt, &body, &boundary)))
    });
    group.finish();
}

criterion_group!(benches, small_export, throughput);
criterion_main!(benches);
