//! Load, bounded and on loopback only: 500 concurrent multipart downloads of one verification
//! holding 20 MiB of images, from one in-process emulator, every byte of every download compared
//! with the stored files, and the peak RSS of this process (the 500 clients and the emulator
//! together) measured and printed.
//!
//! The downloads go over HTTP/2 (`ClientBuilder::http2_prior_knowledge`; the emulator serves
//! both): one connection, each download with at most a 128 KiB stream window unread. Asserted:
//! under the 256 MiB (measured about 205 MiB).
//!
//! `LOAD_HTTP1=1` runs the same over HTTP/1.1, 500 connections, for comparison: measured 450 to
//! 570 MiB, about 1 MiB a download. With heaptrack at the heap's peak (376 MiB, release): about
//! 242 MiB is hyper's HTTP/1 client read buffers, one per connection of about 480 KiB on
//! average (reads that fill the buffer grow it towards hyper's 400 KiB maximum, and `Vec`
//! doubling rounds that up; reqwest has no setting for either, nor for the socket's receive
//! buffer); about 52 MiB is the emulator's 48 KiB body chunks waiting in hyper's write queue,
//! about 25 MiB tokio's `File` buffers, and 20 MiB the copy of the images this test compares
//! with. That run asserts only a guard against holding bodies, 768 MiB.
//!
//! Its own test binary, so the peak is its own (`VmHWM` of `/proc/self/status`). Nothing here is
//! timed.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use authenteq_export::client::Client;
use authenteq_export::export::ExportItem;
use authenteq_export::server::Emulator;
use support::generate::{Noise, FILE_PARTS};

const DOWNLOADS: usize = 500;
const IMAGE_BYTES: usize = 2 << 20;
/// The target, printed against the measurement.
const RSS_TARGET_KIB: u64 = 256 * 1024;
/// The guard asserted over HTTP/1.1: well under what holding the bodies would take.
const RSS_LIMIT_KIB: u64 = 768 * 1024;
const ID: &str = "load-20mib";

/// Field `field` (in KiB) of `/proc/self/status`.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Raises the soft limit on open files to what 500 downloads need (two sockets and up to twelve
/// open files each), within the hard limit.
fn enough_open_files() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let need = (DOWNLOADS * 16 + 256) as u64;
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current.is_some_and(|soft| soft < need) {
        limit.current = Some(limit.maximum.map_or(need, |hard| hard.min(need)));
        setrlimit(Resource::Nofile, limit).unwrap();
    }
    let now = getrlimit(Resource::Nofile).current;
    assert!(
        now.is_none_or(|soft| soft >= need),
        "the open-file limit ({now:?}) is under the {need} this test needs"
    );
}

#[test]
#[ignore = "heavy: 500 downloads of 20 MiB at once"]
fn five_hundred_concurrent_downloads_of_20_mib_in_bounded_memory() {
    enough_open_files();
    // The stored verification: the sample result and ten 2 MiB images of seeded noise, read back
    // from disk to compare with.
    let store = tempfile::tempdir().unwrap();
    let folder = store.path().join(ID);
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("result.json"), support::generate::result_json()).unwrap();
    let mut piece = vec![0u8; IMAGE_BYTES];
    for (i, (name, content_type, ext)) in FILE_PARTS.iter().enumerate() {
        if *content_type != "image/jpeg" {
            continue;
        }
        Noise::new(i as u64 + 1).fill(&mut piece);
        std::fs::write(folder.join(format!("{name}.{ext}")), &piece).unwrap();
    }
    drop(piece);
    let mut stored: Vec<(String, Vec<u8>)> = FILE_PARTS
        .iter()
        .filter(|(_, content_type, _)| *content_type == "image/jpeg")
        .map(|(name, _, ext)| {
            let bytes = std::fs::read(folder.join(format!("{name}.{ext}"))).unwrap();
            (name.to_string(), bytes)
        })
        .collect();
    stored.sort();
    let total: usize = stored.iter().map(|(_, b)| b.len()).sum();
    assert_eq!(total, 20 << 20);
    let stored = Arc::new(stored);
    let result_json: Arc<[u8]> = std::fs::read(folder.join("result.json")).unwrap().into();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let http1 = std::env::var_os("LOAD_HTTP1").is_some_and(|v| v == "1");
    let checked = Arc::new(AtomicU64::new(0));
    let before_kib = status_kib("VmHWM:");
    runtime.block_on(async {
        let emulator = Emulator::builder(store.path())
            .credentials("load-id", "load-secret")
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let client = Client::builder()
            .credentials("load-id", "load-secret")
            .base_url(emulator.url())
            .retries(0)
            .http2_prior_knowledge(!http1)
            .read_timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        // Every download has its answer and first item before any reads on: 500 at once.
        let all_open = Arc::new(tokio::sync::Barrier::new(DOWNLOADS));
        let mut tasks = Vec::with_capacity(DOWNLOADS);
        for n in 0..DOWNLOADS {
            let client = client.clone();
            let stored = stored.clone();
            let result_json = result_json.clone();
            let all_open = all_open.clone();
            let checked = checked.clone();
            tasks.push(tokio::spawn(async move {
                let mut export = client.multipart(ID).await.unwrap();
                all_open.wait().await;
                let mut seen = vec![false; stored.len()];
                let mut result = false;
                while let Some(item) = export.next_item().await.unwrap() {
                    match item {
                        ExportItem::Result { json, .. } => {
                            assert!(json[..] == result_json[..], "download {n}: the result");
                            result = true;
                        }
                        ExportItem::File(mut file) => {
                            let name = file.info().name().into_owned();
                            let i = stored
                                .binary_search_by(|(n, _)| n.as_str().cmp(&name))
                                .unwrap_or_else(|_| panic!("download {n}: unknown file {name}"));
                            assert!(!seen[i], "download {n}: {name} twice");
                            let want = &stored[i].1;
                            let mut at = 0;
                            while let Some(chunk) = file.chunk().await.unwrap() {
                                let end = at + chunk.len();
                                assert!(
                                    end <= want.len() && chunk[..] == want[at..end],
                                    "download {n}: {name} differs in bytes {at}..{end}"
                                );
                                at = end;
                            }
                            assert_eq!(at, want.len(), "download {n}: {name} is short");
                            checked.fetch_add(at as u64, Ordering::Relaxed);
                            seen[i] = true;
                        }
                    }
                }
                assert!(result, "download {n}: no result");
                assert!(seen.iter().all(|s| *s), "download {n}: files missing");
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(emulator.requests(), DOWNLOADS as u64);
        emulator.shutdown().await.unwrap();
    });
    let peak_kib = status_kib("VmHWM:");
    let checked = checked.load(Ordering::Relaxed);
    println!(
        "load: {DOWNLOADS} concurrent downloads of {} MiB over {}, {} MiB checked byte for byte; peak RSS {:.1} MiB (before the downloads {:.1} MiB; target {} MiB: {})",
        total >> 20,
        if http1 { "HTTP/1.1" } else { "HTTP/2" },
        checked >> 20,
        peak_kib as f64 / 1024.0,
        before_kib as f64 / 1024.0,
        RSS_TARGET_KIB / 1024,
        if peak_kib < RSS_TARGET_KIB { "met" } else { "missed" }
    );
    assert_eq!(checked, (DOWNLOADS * total) as u64);
    let limit = if http1 { RSS_LIMIT_KIB } else { RSS_TARGET_KIB };
    assert!(
        peak_kib < limit,
        "peak RSS {peak_kib} KiB, over {limit} KiB"
    );
}
