//! Memory stays flat: the built CLI streams a 1 GiB multipart export (from a file, and piped on
//! standard input) and a JSON export holding a 256 MiB image with a peak RSS under 16 MiB.
//!
//! The peak is the process's own `VmHWM`, printed by `--stats`; nothing here is timed.

mod support;

use std::io::{BufWriter, Write};
use std::process::{Command, Stdio};

use support::generate;

const RSS_LIMIT_KIB: u64 = 16 * 1024;

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_authenteq-export"))
}

/// Peak RSS from the `stats:` line of `--stats`.
fn peak_rss_kib(stderr: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("stats:"))
        .unwrap_or_else(|| panic!("no stats line in {stderr:?}"));
    let kib = line
        .split("peak RSS ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(" KiB"))
        .unwrap_or_else(|| panic!("no peak RSS in {line:?}"));
    kib.parse().unwrap()
}

/// Runs `inspect` on `input` (a path, or `-` with `stdin_from` piped in); returns the summary
/// and the peak RSS.
fn inspect(input: &str, stdin_from: Option<&std::path::Path>) -> (serde_json::Value, u64) {
    let mut cmd = cli();
    cmd.args(["inspect", input, "--stats"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.stdin(if stdin_from.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().unwrap();
    let feeder = stdin_from.map(|path| {
        let mut stdin = child.stdin.take().unwrap();
        let path = path.to_owned();
        // A real pipe, written as fast as the CLI reads it.
        std::thread::spawn(move || {
            let mut file = std::fs::File::open(path).unwrap();
            std::io::copy(&mut file, &mut stdin).unwrap();
        })
    });
    let out = child.wait_with_output().unwrap();
    if let Some(feeder) = feeder {
        feeder.join().unwrap();
    }
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "inspect {input} failed: {stderr}");
    let summary = serde_json::from_slice(&out.stdout).unwrap();
    (summary, peak_rss_kib(&stderr))
}

fn part_sizes(summary: &serde_json::Value) -> Vec<u64> {
    summary["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["size"].as_u64().unwrap())
        .collect()
}

#[test]
fn one_gib_multipart_export_from_a_file_and_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.multipart");
    let sizes = {
        let file = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
        generate::write_multipart_export(file, 7, 1 << 30).unwrap()
    };
    let mut expected = vec![generate::result_json().len() as u64];
    expected.extend(sizes.iter().map(|&s| s as u64));

    for stdin in [false, true] {
        let (summary, peak) = if stdin {
            inspect("-", Some(&path))
        } else {
            inspect(path.to_str().unwrap(), None)
        };
        println!("1 GiB multipart export, stdin={stdin}: peak RSS {peak} KiB");
        assert_eq!(summary["format"], "multipart");
        assert_eq!(part_sizes(&summary), expected);
        assert!(peak < RSS_LIMIT_KIB, "peak RSS {peak} KiB (stdin={stdin})");
    }
}

#[test]
fn json_export_with_a_256_mib_image() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.json");
    let image_len = 256usize << 20;
    {
        let mut file = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
        file.write_all(br#"{"id":"big","platform":"WEB","livenessFaceImage":{"contentType":"image/jpeg","content":""#)
            .unwrap();
        let mut encoder = base64::write::EncoderWriter::new(
            &mut file,
            &base64::engine::general_purpose::STANDARD,
        );
        let mut noise = generate::Noise::new(11);
        let mut piece = vec![0u8; 1 << 20];
        for _ in 0..image_len >> 20 {
            noise.fill(&mut piece);
            encoder.write_all(&piece).unwrap();
        }
        encoder.finish().unwrap();
        drop(encoder);
        file.write_all(br#""}}"#).unwrap();
    }
    let (summary, peak) = inspect(path.to_str().unwrap(), None);
    println!("JSON export with a 256 MiB image: peak RSS {peak} KiB");
    assert_eq!(summary["format"], "json");
    assert_eq!(summary["result"]["id"], "big");
    let parts = summary["parts"].as_array().unwrap();
    let image = parts
        .iter()
        .find(|p| p["name"] == "livenessFaceImage")
        .unwrap();
    assert_eq!(image["size"].as_u64(), Some(image_len as u64));
    assert!(peak < RSS_LIMIT_KIB, "peak RSS {peak} KiB");
}
