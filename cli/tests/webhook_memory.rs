//! Memory of the webhook commands, measured as the processes' own peak RSS (`VmHWM`); nothing
//! here is timed.
//!
//! - `webhook serve` receives 50 deliveries of 20 MiB at once and stores them all: its peak RSS
//!   stays under 128 MiB (each delivery holds a few socket buffers and one chunk, never its
//!   body).
//! - `webhook send` delivers a 64 MiB verification streamed from disk in under 40 MiB.

mod cli_support;
mod support;

use std::path::Path;

use authenteq_export::webhook::WebhookKey;
use bytes::Bytes;
use cli_support::{Served, WebhookServe};

const CLIENT_ID: &str = "memory-client";
const SECRET: &str = "memory-secret";
const MIB: usize = 1 << 20;

const RECEIVER_RSS_LIMIT_KIB: u64 = 128 * 1024;
const SENDER_RSS_LIMIT_KIB: u64 = 40 * 1024;

/// `n` bytes from a seeded generator: incompressible, and never the delimiter.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(n);
    out
}

fn serve(out: &Path) -> Served {
    WebhookServe::new(CLIENT_ID, SECRET)
        .out(out)
        // Every delivery of the test at once: what is measured is the memory they take.
        .args(["--unverified-bytes", "4294967296"])
        .env("RUST_LOG", "warn")
        .inherit_stderr()
        .spawn()
}

const BOUNDARY: &str = "memory-test-boundary-4fJq";

/// The delivery of verification `id` with one file, `image`: its head and tail around the
/// image bytes.
fn delivery(id: &str) -> (Bytes, Bytes) {
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"result\"; filename=\"result.json\"\r\n\
         Content-Type: application/json\r\n\r\n{{\"id\":\"{id}\",\"platform\":\"WEB\"}}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"livenessFaceImage\"; filename=\"livenessFaceImage.jpeg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    (Bytes::from(head), Bytes::from(tail))
}

#[test]
#[ignore = "heavy: 50 deliveries of 20 MiB at once"]
fn receiver_holds_fifty_20_mib_deliveries_in_bounded_memory() {
    let out = tempfile::tempdir().unwrap();
    let served = serve(out.path());
    let image = Bytes::from(noise(20 * MIB, 7));
    let key = WebhookKey::new(CLIENT_ID, SECRET);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let statuses = runtime.block_on(async {
        let http = reqwest::Client::new();
        let mut tasks = Vec::new();
        for n in 0..50 {
            let id = format!("verification-{n:02}");
            let (head, tail) = delivery(&id);
            let mut signer = key.signer();
            for piece in [&head, &image, &tail] {
                signer.update(piece);
            }
            let signature = signer.finish_hex();
            let length = head.len() + image.len() + tail.len();
            let mut pieces = vec![head];
            pieces.extend(
                (0..image.len())
                    .step_by(64 << 10)
                    .map(|at| image.slice(at..(at + (64 << 10)).min(image.len()))),
            );
            pieces.push(tail);
            let body = futures::stream::iter(pieces.into_iter().map(Ok::<_, std::io::Error>));
            let request = http
                .post(served.url())
                .header(
                    "Content-Type",
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                )
                .header("Content-Length", length)
                .header("X-CLIENT-ID", CLIENT_ID)
                .header("X-SIGNATURE", signature)
                .body(reqwest::Body::wrap_stream(body));
            tasks.push(tokio::spawn(async move {
                request
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .map_err(|e| e.to_string())
            }));
        }
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
        statuses
    });
    let peak = support::measure::peak_rss_kib(served.pid());
    assert!(statuses.iter().all(|s| *s == Ok(200)), "{statuses:?}");
    for n in 0..50 {
        let stored = out
            .path()
            .join(format!("verification-{n:02}/livenessFaceImage.jpeg"));
        assert_eq!(
            std::fs::metadata(&stored).unwrap().len(),
            image.len() as u64
        );
    }
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 50);
    println!("webhook serve: 50 concurrent deliveries of 20 MiB, peak RSS {peak} KiB");
    assert!(
        peak < RECEIVER_RSS_LIMIT_KIB,
        "peak RSS {peak} KiB over {RECEIVER_RSS_LIMIT_KIB} KiB"
    );
}

#[test]
fn sender_streams_a_64_mib_verification_from_disk() {
    let store = tempfile::tempdir().unwrap();
    let dir = store.path().join("v-64");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("result.json"),
        br#"{"id":"v-64","platform":"WEB"}"#,
    )
    .unwrap();
    for (i, name) in [
        "livenessFaceImage.jpeg",
        "croppedFrontImage.jpeg",
        "faceImage.jpeg",
        "addressProofDocument.pdf",
    ]
    .iter()
    .enumerate()
    {
        std::fs::write(dir.join(name), noise(16 * MIB, 11 + i as u64)).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let served = serve(out.path());
    let sent = served
        .send(&dir)
        .arg("--stats")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let peak = cli_support::run_peak_rss_kib(&sent);
    for name in [
        "result.json",
        "livenessFaceImage.jpeg",
        "addressProofDocument.pdf",
    ] {
        assert_eq!(
            std::fs::read(out.path().join("v-64").join(name)).unwrap(),
            std::fs::read(dir.join(name)).unwrap(),
            "{name}"
        );
    }
    println!("webhook send: 64 MiB verification, peak RSS {peak} KiB");
    assert!(
        peak < SENDER_RSS_LIMIT_KIB,
        "peak RSS {peak} KiB over {SENDER_RSS_LIMIT_KIB} KiB"
    );
}
