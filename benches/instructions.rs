//! Instruction counts for decoding the small export, the corpus sample
//! `corpus/verification-result.multipart` (30 KiB, twelve parts), through the two async
//! front-ends: `multipart::Multipart` (every part's bytes consumed) and `export::Export` (the
//! result typed, every file's bytes consumed). The body comes as a `futures::stream::iter` of
//! 64 KiB chunks (so here one chunk) and is driven on a current-thread tokio runtime.
//!
//! Wall-clock time on a shared machine is noisy; instructions are not. Each front-end decodes the
//! sample `N` times (default 100) inside a function of its own, and callgrind counts only
//! inside those functions:
//!
//! ```sh
//! cargo bench --bench instructions --no-run        # prints the binary's path
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     --toggle-collect='instructions::multipart_n' --toggle-collect='instructions::export_n' \
//!     target/release/deps/instructions-<hash> 100
//! ```
//!
//! That counts both front-ends (`Collected : ...` on stderr); add `multipart` or `export` after
//! the count to run one alone. Divided by `N`, it is the cost of one decode: the runtime's
//! start-up and the reading of the sample are outside the counted functions. Run as
//! `cargo bench --bench instructions`, it decodes once through each and checks what came out, so
//! that the counted code is known to do the whole job.

use std::hint::black_box;
use std::io;

use authenteq_export::export::{Export, ExportItem};
use authenteq_export::multipart::{Boundary, Multipart};
use bytes::Bytes;

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../corpus/verification-result.multipart"
);
const CONTENT_TYPE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../corpus/verification-result.multipart.content-type"
);
const CHUNK: usize = 64 << 10;

fn chunks(body: &Bytes) -> impl futures::Stream<Item = io::Result<Bytes>> {
    let chunks: Vec<_> = (0..body.len())
        .step_by(CHUNK)
        .map(|i| Ok(body.slice(i..(i + CHUNK).min(body.len()))))
        .collect();
    futures::stream::iter(chunks)
}

/// Parts and payload bytes, through the multipart front-end.
async fn multipart(body: &Bytes, boundary: &Boundary) -> (usize, usize) {
    let mut parts = Multipart::new(chunks(body), boundary.clone());
    let (mut count, mut bytes) = (0, 0);
    while let Some(mut part) = parts.next_part().await.unwrap() {
        count += 1;
        while let Some(chunk) = part.chunk().await.unwrap() {
            bytes += chunk.len();
        }
    }
    (count, bytes)
}

/// The result's id length and the files' bytes, through the export front-end.
async fn export(body: &Bytes, content_type: &str) -> (usize, usize) {
    let mut export = Export::new(chunks(body), Some(content_type)).unwrap();
    let (mut id_len, mut bytes) = (0, 0);
    while let Some(item) = export.next_item().await.unwrap() {
        match item {
            ExportItem::Result { result, .. } => id_len = result.id.len(),
            ExportItem::File(mut file) => {
                while let Some(chunk) = file.chunk().await.unwrap() {
                    bytes += chunk.len();
                }
            }
        }
    }
    (id_len, bytes)
}

#[inline(never)]
fn multipart_n(rt: &tokio::runtime::Runtime, body: &Bytes, boundary: &Boundary, n: usize) {
    for _ in 0..n {
        black_box(rt.block_on(multipart(black_box(body), boundary)));
    }
}

#[inline(never)]
fn export_n(rt: &tokio::runtime::Runtime, body: &Bytes, content_type: &str, n: usize) {
    for _ in 0..n {
        black_box(rt.block_on(export(black_box(body), content_type)));
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a count given on the command line means "measure".
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let n: Option<usize> = args.first().and_then(|a| a.parse().ok());
    let which = args.get(1).map(String::as_str);

    let body = Bytes::from(std::fs::read(SAMPLE).unwrap());
    let content_type = std::fs::read_to_string(CONTENT_TYPE).unwrap();
    let content_type = content_type.trim();
    let boundary = Boundary::from_content_type(content_type).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    let Some(n) = n else {
        let (parts, part_bytes) = rt.block_on(multipart(&body, &boundary));
        let (id_len, file_bytes) = rt.block_on(export(&body, content_type));
        assert_eq!(parts, 12);
        assert!(id_len > 0);
        assert!(part_bytes > file_bytes && file_bytes > 20_000);
        println!(
            "sample: {} bytes, {parts} parts, {part_bytes} payload bytes, {file_bytes} file bytes",
            body.len()
        );
        println!("for instruction counts, see the doc comment of benches/instructions.rs");
        return;
    };
    if which != Some("export") {
        multipart_n(&rt, &body, &boundary, n);
    }
    if which != Some("multipart") {
        export_n(&rt, &body, content_type, n);
    }
}
