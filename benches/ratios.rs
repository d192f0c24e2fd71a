//! The contenders of `benches/decode.rs`, run interleaved: each round gives the bare `memmem`
//! scan, our decoder and multer a turn each over the same chunks (in a rotating order; a turn is
//! a warm-up run, then the fastest of three), and the ratios are taken within each round. On a machine shared with other tenants, whose speed
//! drifts over seconds, this keeps the ratios steady where criterion, which measures one
//! contender after the other, can be off by 10 to 20 %.
//!
//! ```sh
//! cargo bench --bench ratios                  # every group and the small export (about 1 minute)
//! cargo bench --bench ratios -- 10MiB/64KiB   # the groups whose name contains a filter
//! ROUNDS=51 cargo bench --bench ratios        # more rounds (default 31)
//! ```
//!
//! It prints a Markdown table: the median throughput of each contender (GB/s, 10^9 bytes per
//! second), and the median over rounds of our decoder's ratio to the scan and to multer.

use std::time::{Duration, Instant};

use authenteq_export::multipart::Boundary;
use criterion::black_box;

mod common;
use common::measure::median;
use common::{generate, Source};

/// The command line's filters (criterion's harness arguments such as `--bench` are skipped).
fn filters() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect()
}

fn wanted(name: &str, filters: &[String]) -> bool {
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(31);
    let filters = filters();
    let rt = common::runtime();
    let boundary = Boundary::new(generate::BOUNDARY).unwrap();
    let needle = format!("\r\n--{}", generate::BOUNDARY);
    let finder = memchr::memmem::Finder::new(needle.as_bytes());

    println!("{rounds} interleaved rounds per group; medians.\n");
    println!("| group | scan GB/s | ours GB/s | multer GB/s | ours / scan | ours vs multer |");
    println!("|---|---|---|---|---|---|");
    for (size_name, size) in common::SIZES {
        let groups: Vec<_> = common::CHUNKS
            .iter()
            .flat_map(|(c, _)| common::MODES.map(|m| format!("{size_name}/{c}/{m}")))
            .collect();
        if !groups.iter().any(|g| wanted(g, &filters)) {
            continue;
        }
        let body = generate::multipart_export(1, size);
        for (chunk_name, chunk) in common::CHUNKS {
            let chunks = common::chunked(&body, chunk);
            for mode in common::MODES {
                let name = format!("{size_name}/{chunk_name}/{mode}");
                if !wanted(&name, &filters) {
                    continue;
                }
                let pending = mode == "pending";
                let run = |contender: usize| {
                    let source = Source::new(&chunks, pending);
                    let start = Instant::now();
                    match contender {
                        0 => black_box(rt.block_on(common::memmem_scan(source, &finder))),
                        1 => black_box(rt.block_on(common::ours(source, &boundary))),
                        _ => black_box(rt.block_on(common::multer(source, &boundary))),
                    };
                    start.elapsed().as_secs_f64()
                };
                // A contender's turn: one untimed run (the one before, multer especially, may
                // have pushed the body out of the cache), then the fastest of three, as
                // criterion measures each contender with warm caches.
                let time = |contender: usize| {
                    run(contender);
                    (0..3).map(|_| run(contender)).fold(f64::MAX, f64::min)
                };
                let mut secs = [vec![], vec![], vec![]];
                let (mut to_scan, mut to_multer) = (vec![], vec![]);
                for round in 0..rounds {
                    let mut t = [0.0; 3];
                    for k in 0..3 {
                        let contender = (round + k) % 3;
                        t[contender] = time(contender);
                    }
                    to_scan.push(t[0] / t[1]);
                    to_multer.push(t[2] / t[1]);
                    for c in 0..3 {
                        secs[c].push(t[c]);
                    }
                }
                let gbs = |s: &mut Vec<f64>| body.len() as f64 / median(s) / 1e9;
                println!(
                    "| {name} | {:.1} | {:.1} | {:.2} | {:.2} | {:.1}x |",
                    gbs(&mut secs[0]),
                    gbs(&mut secs[1]),
                    gbs(&mut secs[2]),
                    median(&mut to_scan),
                    median(&mut to_multer),
                );
            }
        }
    }

    if wanted("small-export/50KiB", &filters) {
        let body = generate::multipart_export(2, 50 << 10);
        let batch = 200;
        let time = |ours: bool| {
            let start = Instant::now();
            for _ in 0..batch {
                if ours {
                    black_box(common::small_export_ours(&body, &boundary));
                } else {
                    black_box(common::small_export_multer(&rt, &body, &boundary));
                }
            }
            start.elapsed() / batch
        };
        time(true);
        time(false);
        let (mut ours, mut multer) = (vec![], vec![]);
        for round in 0..rounds {
            let first = round % 2 == 0;
            let a = time(first);
            let b = time(!first);
            let (o, m): (Duration, Duration) = if first { (a, b) } else { (b, a) };
            ours.push(o.as_secs_f64() * 1e6);
            multer.push(m.as_secs_f64() * 1e6);
        }
        println!(
            "\nsmall-export/50KiB (result typed, every file consumed; median of {rounds} rounds of \
             {batch}): ours {:.2} us, multer {:.2} us",
            median(&mut ours),
            median(&mut multer),
        );
    }
}
