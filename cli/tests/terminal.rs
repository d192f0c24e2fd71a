//! What a person sees: `fetch --ids` on a terminal (a pseudo-terminal made by util-linux's
//! `script`) keeps its JSON lines whole beside the live display and ends with a summary line;
//! `webhook send` says each attempt and stops at once on a 401; `split` keeps personal data
//! out of its summary unless asked; the help says what is printed and the files' mode.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use authenteq_export::server::Emulator;
use authenteq_export::store::FolderSink;
use authenteq_export::webhook::{Receiver, WebhookKey};

const CLIENT_ID: &str = "terminal-client";
const SECRET: &str = "terminal-secret-never-printed";
const SAMPLE_ID: &str = "8c3f6a2e-5b1d-4e7a-9f20-6d4b2c1a7e95";

/// The sample's personal values: names, date of birth, document numbers, addresses.
const PERSONAL: [&str; 10] = [
    "DOE",
    "Doe",
    "JANE",
    "Jane",
    "1964-12-30",
    "A1234567",
    "B072RRE2I55",
    "L01X00T71",
    "Musterstra",
    "MUSTERSTRASSE",
];

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_authenteq-export"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Splits the sample into `dir` (personal data and all, as a stored verification).
fn split_sample(dir: &Path) -> std::process::Output {
    bin()
        .arg("split")
        .arg(support::corpus_path("verification-result.multipart"))
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn split_keeps_personal_fields_out_of_its_summary_unless_asked() {
    let root = tempfile::tempdir().unwrap();
    let plain = split_sample(&root.path().join("plain"));
    assert!(plain.status.success(), "{}", text(&plain.stderr));
    let summary = text(&plain.stdout);
    for value in PERSONAL {
        assert!(!summary.contains(value), "{value} in {summary}");
    }
    let printed: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(printed["result"]["id"], SAMPLE_ID);
    assert_eq!(printed["result"]["documentData"]["documentType"], "PP");
    assert!(printed["parts"].as_array().unwrap().len() > 1);
    assert!(printed["parts"][0]["sha256"].is_string());
    // The files hold them: only the summary leaves them out.
    let stored = std::fs::read_to_string(root.path().join("plain/result.json")).unwrap();
    assert!(stored.contains("1964-12-30"));

    let shown = bin()
        .arg("split")
        .arg(support::corpus_path("verification-result.multipart"))
        .arg("--out")
        .arg(root.path().join("shown"))
        .arg("--show-personal-data")
        .output()
        .unwrap();
    let summary = text(&shown.stdout);
    for value in PERSONAL {
        assert!(summary.contains(value), "{value} not in {summary}");
    }
}

#[test]
fn the_help_says_what_is_printed_and_the_files_mode() {
    let help = |args: &[&str]| text(&bin().args(args).arg("--help").output().unwrap().stdout);
    let inspect = help(&["inspect"]);
    assert!(inspect.contains("personal fields included"), "{inspect}");
    for command in [&["split"][..], &["fetch"], &["webhook", "serve"]] {
        let text = help(command);
        assert!(text.contains("0600"), "{command:?}: {text}");
    }
    for command in [&["split"][..], &["fetch"]] {
        let text = help(command);
        assert!(text.contains("--file-mode"), "{command:?}: {text}");
        assert!(text.contains("--show-personal-data"), "{command:?}: {text}");
    }
    let send = help(&["webhook", "send"]);
    assert!(send.contains("--retry-any-answer"), "{send}");
}

#[test]
fn webhook_send_stops_at_once_on_a_401_and_says_why() {
    let root = tempfile::tempdir().unwrap();
    let stored = root.path().join("store").join(SAMPLE_ID);
    assert!(split_sample(&stored).status.success());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let inbox = root.path().join("inbox");
    let receiver = runtime.block_on(async {
        Receiver::builder(FolderSink::create(&inbox).unwrap())
            .key(WebhookKey::new(CLIENT_ID, SECRET))
            .build()
            .unwrap()
            .bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
    });
    let send = |extra: &[&str]| {
        bin()
            .args([
                "webhook",
                "send",
                "--to",
                &receiver.url(),
                "--client-id",
                CLIENT_ID,
            ])
            .arg("--dir")
            .arg(&stored)
            .args(extra)
            .env("AUTHENTEQ_CLIENT_SECRET", "not the receiver's secret")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };

    // The vendor's schedule (hourly for a week), but a 401 cannot change: it ends at once.
    let started = Instant::now();
    let refused = send(&[]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(refused.status.code(), Some(1));
    let stderr = text(&refused.stderr);
    let attempts: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("attempt "))
        .collect();
    assert_eq!(attempts.len(), 1, "{stderr}");
    assert!(
        attempts[0].starts_with("attempt 1: answered 401 (webhook signature"),
        "{stderr}"
    );
    assert!(
        attempts[0].contains("giving up: retrying cannot change"),
        "{stderr}"
    );
    assert!(
        stderr.lines().last().unwrap().starts_with("error: "),
        "{stderr}"
    );
    assert!(
        !stderr.contains(SECRET) && !stderr.contains("not the receiver's"),
        "{stderr}"
    );

    // The vendor's exact behaviour: retried until the (compressed) schedule runs out.
    let retried = send(&[
        "--retry-any-answer",
        "--retry-every",
        "0.05",
        "--retry-for",
        "0.3",
    ]);
    assert_eq!(retried.status.code(), Some(1));
    let stderr = text(&retried.stderr);
    let attempts: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("attempt "))
        .collect();
    assert!(attempts.len() >= 2, "{stderr}");
    assert!(attempts[0].ends_with("next try in 0.1 s"), "{stderr}");
    assert!(attempts.last().unwrap().ends_with("giving up"), "{stderr}");
    assert!(!inbox.join(SAMPLE_ID).exists());
}

/// Removes the terminal's control sequences (CSI `ESC [ ... final`, and other `ESC x`).
fn strip_escapes(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.next_if_eq(&'[').is_some() {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}

#[test]
fn fetch_ids_on_a_terminal_keeps_json_lines_whole_and_ends_with_a_summary() {
    if Command::new("script").arg("--version").output().is_err() {
        // util-linux is on every CI image; a laptop without it skips, saying so.
        assert!(
            std::env::var("CI").is_err(),
            "`script` (util-linux) is needed"
        );
        println!("skipped: no `script` to make a pseudo-terminal");
        return;
    }
    const COUNT: usize = 30;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("api");
    for i in 0..COUNT {
        let folder = data.join(format!("t-{i:02}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join("result.json"),
            format!(r#"{{"id":"t-{i:02}"}}"#),
        )
        .unwrap();
        std::fs::write(folder.join("faceImage.jpeg"), vec![0xa5; 3000 + i]).unwrap();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let api = runtime.block_on(async {
        Emulator::builder(&data)
            .credentials(CLIENT_ID, SECRET)
            .build()
            .unwrap()
            .bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
    });
    let ids = root.path().join("ids.txt");
    let list: String = (0..COUNT).map(|i| format!("t-{i:02}\n")).collect();
    std::fs::write(&ids, list).unwrap();
    let out = root.path().join("out");
    // At 15 a second the run lasts about 2 s: the display is redrawn many times meanwhile.
    let command = format!(
        "{} fetch --ids {} --format multipart --out {} --base-url {} --rate 15 --concurrency 4",
        env!("CARGO_BIN_EXE_authenteq-export"),
        ids.display(),
        out.display(),
        api.url()
    );
    let ran = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env("COLUMNS", "120")
        .env("AUTHENTEQ_CLIENT_ID", CLIENT_ID)
        .env("AUTHENTEQ_CLIENT_SECRET", SECRET)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let transcript = text(&ran.stdout);
    assert!(ran.status.success(), "{transcript}{}", text(&ran.stderr));

    let mut json_lines = 0;
    let mut frames = 0;
    let mut last_text = String::new();
    for line in transcript.split('\n') {
        let line = strip_escapes(line);
        for segment in line.split('\r').filter(|s| !s.trim().is_empty()) {
            if segment.contains("ids:") {
                frames += 1;
            }
            if segment.contains('{') {
                // A JSON line is alone on its line, whole: no frame before or after it.
                let parsed = serde_json::from_str::<serde_json::Value>(segment.trim());
                assert!(parsed.is_ok(), "a torn line: {segment:?}\n{transcript}");
                json_lines += 1;
            }
            last_text = segment.trim().to_owned();
        }
    }
    assert_eq!(json_lines, COUNT + 1, "{transcript}");
    assert!(frames > 0, "no live display was drawn:\n{transcript}");
    assert!(
        transcript.contains(&format!("/{COUNT}")),
        "the display shows no total:\n{transcript}"
    );
    assert!(
        last_text.starts_with(&format!("done: {COUNT} ids")),
        "the last line: {last_text:?}\n{transcript}"
    );
    assert_eq!(api.requests(), COUNT as u64);
}
