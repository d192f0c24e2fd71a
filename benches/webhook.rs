//! Receiving and verifying a 256 MiB webhook delivery on loopback, as a ratio to
//! `openssl dgst -sha256` of the same bytes, in the same run.
//!
//! ```sh
//! cargo bench --bench webhook --features webhook-receiver,server,client
//! ```
//!
//! With the `prometheus` feature too, the receiver runs with its metrics on, as
//! `webhook serve --admin-addr` runs it: the Prometheus recorder installed, the admin router
//! served and scraped after every round; the deliveries' counters are printed at the end.
//!
//! Each round times, one after the other on the same bytes:
//!
//! - `openssl`: `openssl dgst -sha256` of the body in a file (in the page cache), the whole
//!   process: the hashing limit of this machine;
//! - `sha2`: the `sha2` crate over the body in memory (the hash the verifier uses; about the
//!   speed of `openssl` when it uses SHA-NI, a third of it without);
//! - `verify`: the verifier and the export decoder over the body in memory, 64 KiB chunks, no
//!   HTTP;
//! - `receive`: a delivery POSTed over loopback HTTP to a `webhook::Receiver` whose id is stored
//!   already: received, decoded and verified, answered `200`, nothing written;
//! - `receive+store`: the same for a new id: the files also written and `fsync`ed, so the disk
//!   is in the time too.
//!
//! It prints each contender's GB/s (10^9 bytes per second) and its ratio to `openssl` in the
//! round, then the medians over the rounds and each contender's best round. The machine's speed drifts by 10-20 % within
//! seconds, which interleaving keeps out of the ratios.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use authenteq_export::export::{ExportEvent, ExportLimits};
use authenteq_export::store::FolderSink;
use authenteq_export::webhook::{Receiver, SignedDecoder, WebhookKey};
use bytes::Bytes;
use sha2::Digest;

#[path = "../tests/support/generate.rs"]
mod generate;
#[path = "../tests/support/measure.rs"]
mod measure;

use generate::noise;
use measure::median;

const CLIENT_ID: &str = "bench-client";
const SECRET: &str = "bench-secret";
const BOUNDARY: &str = "bench-boundary-Qx81";
const BODY_BYTES: usize = 256 << 20;
const ROUNDS: usize = 7;
const CHUNK: usize = 64 << 10;

/// A 256 MiB delivery of verification `id`: the result, then four image-sized files and one
/// large file making up the rest. Every body has the same length.
fn body(id: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(BODY_BYTES);
    out.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"result\"; filename=\"result.json\"\r\n\
             Content-Type: application/json\r\n\r\n{{\"id\":\"{id}\",\"platform\":\"WEB\"}}\r\n"
        )
        .as_bytes(),
    );
    let names = [
        "livenessFaceImage",
        "croppedFrontImage",
        "croppedBackImage",
        "faceImage",
        "addressProofDocument",
    ];
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let mut at = 0;
    for (i, name) in names.iter().enumerate() {
        let head = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.bin\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        );
        out.extend_from_slice(head.as_bytes());
        let len = if i + 1 < names.len() {
            3 << 20
        } else {
            // The rest, less this file's closing CRLF before the next delimiter and the tail.
            BODY_BYTES - out.len() - tail.len()
        };
        out.extend_from_slice(&payload[at..at + len]);
        at += len;
        if i + 1 < names.len() {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(tail.as_bytes());
    assert_eq!(out.len(), BODY_BYTES);
    out
}

fn gbps(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / took.as_secs_f64() / 1e9
}

fn openssl(file: &Path) -> Duration {
    let started = Instant::now();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256"])
        .arg(file)
        .output()
        .expect("openssl is needed for this benchmark (apt-get install openssl)");
    let took = started.elapsed();
    assert!(out.status.success());
    took
}

fn sha2_alone(body: &[u8]) -> Duration {
    let started = Instant::now();
    let digest = sha2::Sha256::digest(body);
    let took = started.elapsed();
    std::hint::black_box(digest);
    took
}

fn verify(key: &WebhookKey, body: &Bytes, signature: &str) -> Duration {
    let started = Instant::now();
    let verifier = key.verifier(Some(CLIENT_ID), Some(signature)).unwrap();
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let mut decoder = SignedDecoder::new(verifier, Some(&ct), ExportLimits::default()).unwrap();
    let mut ended = false;
    let mut at = 0;
    while !ended {
        if at < body.len() {
            decoder.feed(body.slice(at..(at + CHUNK).min(body.len())));
            at += CHUNK;
        } else {
            decoder.finish();
        }
        while let Some(event) = decoder.next_event().unwrap() {
            if event == ExportEvent::End {
                ended = true;
                break;
            }
        }
    }
    started.elapsed()
}

async fn post(http: &reqwest::Client, url: &str, body: &Bytes, signature: &str) -> Duration {
    let pieces: Vec<Bytes> = (0..body.len())
        .step_by(CHUNK)
        .map(|at| body.slice(at..(at + CHUNK).min(body.len())))
        .collect();
    let stream = futures::stream::iter(pieces.into_iter().map(Ok::<_, std::io::Error>));
    let started = Instant::now();
    let response = http
        .post(url)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("Content-Length", body.len())
        .header("X-CLIENT-ID", CLIENT_ID)
        .header("X-SIGNATURE", signature)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let took = started.elapsed();
    assert_eq!(status, 200, "{text}");
    took
}

fn main() {
    let key = WebhookKey::new(CLIENT_ID, SECRET);
    let payload = noise(BODY_BYTES, 42);
    let folder = tempfile::tempdir().unwrap();
    // The receiver on a thread and runtime of its own, the sender on this one: one core each.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = folder.path().join("deliveries");
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = {
        let (key, store) = (key.clone(), store.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let receiver = Receiver::builder(FolderSink::create(&store).unwrap())
                    .key(key)
                    .max_body_bytes(BODY_BYTES as u64)
                    .unverified_bytes(BODY_BYTES as u64)
                    .build()
                    .unwrap()
                    .spawn()
                    .await
                    .unwrap();
                #[cfg(feature = "prometheus")]
                let admin = {
                    let prometheus =
                        authenteq_export::webhook::admin::install_prometheus().unwrap();
                    receiver
                        .admin()
                        .metrics(move || prometheus.render())
                        .build()
                        .spawn()
                        .await
                        .unwrap()
                };
                #[cfg(feature = "prometheus")]
                let admin_url = Some(admin.url());
                #[cfg(not(feature = "prometheus"))]
                let admin_url: Option<String> = None;
                addr_tx.send((receiver.url(), admin_url)).unwrap();
                let _ = stop_rx.await;
                receiver.shutdown().await.unwrap();
                #[cfg(feature = "prometheus")]
                admin.shutdown().await.unwrap();
            });
        })
    };
    let (url, admin_url) = addr_rx.recv().unwrap();
    let scrape = |http: &reqwest::Client| {
        let admin_url = admin_url.clone();
        let http = http.clone();
        async move {
            match admin_url {
                Some(admin) => {
                    let page = http.get(format!("{admin}/metrics")).send().await.unwrap();
                    page.text().await.unwrap()
                }
                None => String::new(),
            }
        }
    };
    let http = reqwest::Client::new();

    // The repeated delivery, stored once before the rounds.
    let repeat = Bytes::from(body("bench-repeat", &payload));
    let repeat_signature = key.sign(&repeat);
    let file = folder.path().join("body");
    std::fs::write(&file, &repeat).unwrap();
    runtime.block_on(post(&http, &url, &repeat, &repeat_signature));

    let names = ["openssl", "sha2", "verify", "receive", "receive+store"];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut speeds: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    println!("{BODY_BYTES} bytes per contender; GB/s, and the ratio to openssl in the round");
    for round in 0..=ROUNDS {
        let fresh = Bytes::from(body(&format!("bench-{round}"), &payload));
        let fresh_signature = key.sign(&fresh);
        let took = [
            openssl(&file),
            sha2_alone(&repeat),
            verify(&key, &repeat, &repeat_signature),
            runtime.block_on(post(&http, &url, &repeat, &repeat_signature)),
            runtime.block_on(post(&http, &url, &fresh, &fresh_signature)),
        ];
        drop(fresh);
        runtime.block_on(scrape(&http));
        let _ = std::fs::remove_dir_all(store.join(format!("bench-{round}")));
        if round == 0 {
            continue; // warm-up
        }
        let base = took[0].as_secs_f64();
        let line: Vec<String> = names
            .iter()
            .zip(took)
            .enumerate()
            .map(|(i, (name, t))| {
                speeds[i].push(gbps(BODY_BYTES, t));
                ratios[i].push(base / t.as_secs_f64());
                format!(
                    "{name} {:.2} GB/s ({:.2}x)",
                    gbps(BODY_BYTES, t),
                    base / t.as_secs_f64()
                )
            })
            .collect();
        println!("round {round}: {}", line.join(", "));
    }
    // On a loaded machine a round's ratio depends on who was preempted; each contender's
    // best round is the closest to its own speed, so the ratio of bests is printed too.
    let best = |i: usize| speeds[i].iter().copied().fold(0.0, f64::max);
    println!("\nover {ROUNDS} rounds:");
    println!(
        "| contender | median GB/s | median ratio to openssl | best GB/s | best / openssl's best |"
    );
    println!("|---|---|---|---|---|");
    for (i, name) in names.iter().enumerate() {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} |",
            median(&mut speeds[i].clone()),
            median(&mut ratios[i].clone()),
            best(i),
            best(i) / best(0)
        );
    }
    if admin_url.is_some() {
        println!("\nmetrics on; the receiver's counters at the end:");
        for line in runtime.block_on(scrape(&http)).lines() {
            if line.starts_with("authenteq_webhook_deliveries_total")
                || line.starts_with("authenteq_webhook_received_bytes_total")
                || line.starts_with("authenteq_webhook_delivery_duration_seconds_count")
            {
                println!("{line}");
            }
        }
    }
    stop_tx.send(()).unwrap();
    server.join().unwrap();
}
