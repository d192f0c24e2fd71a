//! Storing an export into a folder with age encryption (`store::Encrypted`) against without, in
//! the same run: the ratio of their throughputs (the target is at least 0.8).
//!
//! ```sh
//! cargo bench --bench encrypt --features encrypt
//! ```
//!
//! Each round stores a generated 64 MiB multipart export (11 files, 64 KiB chunks) as a new
//! verification into a plain `FolderSink`, then into an encrypted one, on a two-worker tokio
//! runtime as the command-line tool runs; files are written and `fsync`ed, so the disk is in
//! both times alike. It prints each round's MiB/s and ratio, then the medians. The encrypting
//! layer runs the cipher on tokio's blocking pool beside the writing task: with fewer cores
//! free than two, the ratio drops (about 0.6 on one).

use std::time::Instant;

use authenteq_export::export::{Export, VerificationId};
use authenteq_export::store::{store_export, Encrypted, FolderSink, Recipients, Sink, Staging};
use bytes::Bytes;

#[path = "../tests/support/generate.rs"]
mod generate;

/// Any X25519 recipient will do: the bench only encrypts.
const RECIPIENT: &str = "age13756lf8kvusc994dhjqz5d22zck8g4gh9zwq0cjzm7w7gsfjyy8q6cts9h";
const SIZE: usize = 64 << 20;
const CHUNK: usize = 64 << 10;
const ROUNDS: usize = 7;

async fn store<S: Sink>(sink: &S, id: &str, body: &Bytes) {
    let chunks: Vec<Bytes> = (0..body.len())
        .step_by(CHUNK)
        .map(|at| body.slice(at..body.len().min(at + CHUNK)))
        .collect();
    let stream = futures::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
    let mut export = Export::new(stream, Some(&generate::content_type())).unwrap();
    let mut staging = sink.stage(&VerificationId::new(id).unwrap()).await.unwrap();
    store_export(&mut export, &mut staging).await.unwrap();
    staging.commit().await.unwrap();
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let body = generate::multipart_export(11, SIZE);
    let dir = tempfile::tempdir().unwrap();
    let plain = FolderSink::create(dir.path().join("plain")).unwrap();
    let sealed = Encrypted::new(
        FolderSink::create(dir.path().join("sealed")).unwrap(),
        Recipients::parse(RECIPIENT).unwrap(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mib = body.len() as f64 / f64::from(1 << 20);
    let (mut plain_rates, mut sealed_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let id = format!("r{round}");
        let started = Instant::now();
        runtime.block_on(store(&plain, &id, &body));
        let plain_rate = mib / started.elapsed().as_secs_f64();
        let started = Instant::now();
        runtime.block_on(store(&sealed, &id, &body));
        let sealed_rate = mib / started.elapsed().as_secs_f64();
        println!(
            "round {round}: plain {plain_rate:.0} MiB/s, encrypted {sealed_rate:.0} MiB/s, ratio {:.2}",
            sealed_rate / plain_rate
        );
        plain_rates.push(plain_rate);
        sealed_rates.push(sealed_rate);
        ratios.push(sealed_rate / plain_rate);
    }
    println!(
        "median of {ROUNDS}: plain {:.0} MiB/s, encrypted {:.0} MiB/s, ratio {:.2} (target 0.8)",
        median(plain_rates),
        median(sealed_rates),
        median(ratios)
    );
}
