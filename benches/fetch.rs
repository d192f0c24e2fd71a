//! `fetch` against `curl`, in one run: the release `authenteq-export serve` serves a stored
//! verification holding a 1 GiB image on 127.0.0.1, and in alternating rounds
//! `authenteq-export fetch ID --format multipart --out DIR` and `curl -s -o FILE` (then an
//! `fsync` of FILE) download its multipart export, each timed until its output is on disk.
//! Prints the best and median throughput of each, their ratio, and the peak RSS of `fetch` (its
//! `--stats`) and of `serve` (`VmHWM` of `/proc/PID/status`).
//!
//! ```sh
//! cargo build --release -p authenteq-export-cli    # the binary it runs, built first
//! cargo bench --bench fetch                        # 5 rounds
//! FETCH_BENCH_ROUNDS=9 cargo bench --bench fetch
//! ```
//!
//! The binary is `authenteq-export` of the target folder this bench was built in
//! (`target/release/`): the bench is in a package of its own, and cargo gives a bench the path of
//! a binary only in the binary's package. It is run as it was last built.
//!
//! Needs about 3.2 GiB free in the temporary folder (the stored image, and one download of each
//! at a time) and `curl`.

#[path = "../tests/support/generate.rs"]
mod generate;
#[path = "../tests/support/measure.rs"]
mod measure;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use measure::{free_bytes, median, peak_rss_kib};

const ID: &str = "bench-1gib";
const CLIENT: &str = "bench-id";
const SECRET: &str = "bench-secret";
const IMAGE_BYTES: u64 = 1 << 30;

fn main() {
    // `cargo bench` passes `--bench`; a filter that is not ours means another bench was meant.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && a != "fetch")
    {
        return;
    }
    let bin = release_binary();
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("fetch bench: skipped, no curl");
        return;
    }
    let rounds: usize = std::env::var("FETCH_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let work = tempfile::tempdir().unwrap();
    let need = 3 * IMAGE_BYTES + (256 << 20);
    match free_bytes(work.path()) {
        Some(free) if free >= need => {}
        free => {
            eprintln!(
                "fetch bench: skipped, {free:?} bytes free in the temporary folder, {need} needed"
            );
            return;
        }
    }

    // The store: the sample result and one 1 GiB image of seeded noise.
    let store = work.path().join("store");
    let folder = store.join(ID);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("result.json"), generate::result_json()).unwrap();
    {
        let mut image =
            std::io::BufWriter::new(std::fs::File::create(folder.join("faceImage.jpeg")).unwrap());
        let mut noise = generate::Noise::new(42);
        let mut piece = vec![0u8; 1 << 20];
        for _ in 0..(IMAGE_BYTES >> 20) {
            noise.fill(&mut piece);
            image.write_all(&piece).unwrap();
        }
        image.into_inner().unwrap().sync_all().unwrap();
    }

    let mut serve = Command::new(&bin)
        .args(["serve", "--dir"])
        .arg(&store)
        .args(["--addr", "127.0.0.1:0", "--client-id", CLIENT])
        .env("AUTHENTEQ_CLIENT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(serve.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("serve said {line:?}"))
        .to_owned();
    let url = format!("{base}/export/verification-result-as-multipart?verificationId={ID}");

    let mut body_len = 0u64;
    let (mut ours, mut theirs, mut fetch_rss) = (Vec::new(), Vec::new(), Vec::new());
    let run_fetch = |round: usize| -> (f64, u64, u64) {
        let out = work.path().join(format!("fetch-{round}"));
        let started = Instant::now();
        let done = Command::new(&bin)
            .args([
                "fetch",
                ID,
                "--format",
                "multipart",
                "--stats",
                "--base-url",
                &base,
                // The 1 GiB image is over the client's default caps.
                "--max-file-bytes",
                "2147483648",
                "--max-body-bytes",
                "2147483648",
                "--out",
            ])
            .arg(&out)
            .env("AUTHENTEQ_CLIENT_ID", CLIENT)
            .env("AUTHENTEQ_CLIENT_SECRET", SECRET)
            .output()
            .unwrap();
        let secs = started.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert!(done.status.success(), "fetch failed: {stderr}");
        let stats = stderr.lines().find(|l| l.starts_with("stats:")).unwrap();
        let bytes: u64 = stats.split_whitespace().nth(1).unwrap().parse().unwrap();
        let rss: u64 = stats
            .split("peak RSS ")
            .nth(1)
            .and_then(|r| r.strip_suffix(" KiB"))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            std::fs::metadata(out.join("faceImage.jpeg")).unwrap().len(),
            IMAGE_BYTES
        );
        std::fs::remove_dir_all(&out).unwrap();
        (secs, bytes, rss)
    };
    let run_curl = |round: usize| -> (f64, u64) {
        let file = work.path().join(format!("curl-{round}"));
        let started = Instant::now();
        let status = Command::new("curl")
            .args(["-s", "-u", &format!("{CLIENT}:{SECRET}"), "-o"])
            .arg(&file)
            .arg(&url)
            .status()
            .unwrap();
        std::fs::File::open(&file).unwrap().sync_all().unwrap();
        let secs = started.elapsed().as_secs_f64();
        assert!(status.success());
        let len = std::fs::metadata(&file).unwrap().len();
        std::fs::remove_file(&file).unwrap();
        (secs, len)
    };
    // A warm-up of each (the stored image into the page cache), then alternating rounds, the
    // order swapped every round.
    run_fetch(usize::MAX);
    run_curl(usize::MAX);
    for round in 0..rounds {
        for first in [round % 2 == 0, round % 2 != 0] {
            if first {
                let (secs, bytes, rss) = run_fetch(round);
                body_len = bytes;
                ours.push(bytes as f64 / secs / 1e9);
                fetch_rss.push(rss);
            } else {
                let (secs, bytes) = run_curl(round);
                theirs.push(bytes as f64 / secs / 1e9);
            }
        }
    }
    let serve_rss = peak_rss_kib(serve.id());
    serve.kill().unwrap();
    serve.wait().unwrap();

    let best = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    let (ours_best, theirs_best) = (best(&ours), best(&theirs));
    let (ours_median, theirs_median) = (median(&mut ours), median(&mut theirs));
    println!(
        "fetch bench: {} bytes of multipart export (a 1 GiB image), {rounds} rounds, until on disk",
        body_len
    );
    println!("  fetch: best {ours_best:.3} GB/s, median {ours_median:.3} GB/s");
    println!("  curl + fsync: best {theirs_best:.3} GB/s, median {theirs_median:.3} GB/s");
    println!(
        "  fetch / curl: {:.2} (best), {:.2} (median); target >= 0.8",
        ours_best / theirs_best,
        ours_median / theirs_median
    );
    println!(
        "  peak RSS: fetch {:.1} MiB (largest of the rounds), serve {:.1} MiB; target < 16 MiB each",
        *fetch_rss.iter().max().unwrap() as f64 / 1024.0,
        serve_rss as f64 / 1024.0
    );
}

/// `target/release/authenteq-export`, beside this bench's own `target/release/deps/`; exits with
/// the command that builds it when it is not there.
fn release_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench's own path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|release| release.join("authenteq-export"))
        .filter(|bin| bin.is_file());
    match bin {
        Some(bin) => bin,
        None => {
            eprintln!(
                "fetch bench: no authenteq-export binary in the target folder's release/; build it \
                 first with `cargo build --release -p authenteq-export-cli`"
            );
            std::process::exit(1);
        }
    }
}
