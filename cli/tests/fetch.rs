//! `fetch ID` against a scripted loopback server: credentials from the environment, the `split`
//! summary, retries, API errors.

mod support;

use std::path::Path;
use std::process::Command;

use support::export::corpus;
use support::scripted::{
    into_body, json_export, multipart_export, only_whole_files, response, Answer, Server,
};

const ID: &str = "client-id-7";
const SECRET: &str = "s3cret-Qw9zX";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn fetch(url: &str, out: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_authenteq-export"))
        .arg("fetch")
        .args(args)
        .arg("--out")
        .arg(out)
        .arg("--base-url")
        .arg(url)
        .env("AUTHENTEQ_CLIENT_ID", ID)
        .env("AUTHENTEQ_CLIENT_SECRET", SECRET)
        .output()
        .unwrap()
}

/// Runs the server on its own thread, for the blocking process calls; it ends with the
/// test process.
fn serve(script: Vec<Answer>) -> (Server, ()) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        rt().block_on(async {
            let server = Server::start(script).await;
            tx.send(server).unwrap();
            std::future::pending::<()>().await;
        })
    });
    (rx.recv().unwrap(), ())
}

#[test]
fn fetch_writes_files_and_the_split_summary() {
    let answer = json_export();
    let (server, _rt) = serve(vec![
        Answer::Whole(response("503 Busy", &[("Retry-After", "0")], b"")),
        Answer::Cut(answer.clone(), into_body(&answer, 1, 2)),
        Answer::Whole(answer),
    ]);
    let folder = tempfile::tempdir().unwrap();
    let out = fetch(&server.url, folder.path(), &["v1", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server.requests(), 3);
    assert_eq!(only_whole_files(folder.path()), 12);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["format"], "json");
    assert_eq!(summary["parts"].as_array().unwrap().len(), 12);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(SECRET));
}

#[test]
fn fetch_gives_up_after_its_retries_with_the_last_error() {
    let answer = multipart_export();
    let cut = into_body(&answer, 1, 2);
    let (server, _rt) = serve(vec![Answer::Cut(answer, cut)]);
    let folder = tempfile::tempdir().unwrap();
    let out = fetch(
        &server.url,
        folder.path(),
        &["v1", "--format", "multipart", "--retries", "1"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(server.requests(), 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: unexpected end of input"),
        "{stderr}"
    );
    assert!(only_whole_files(folder.path()) < 12);
}

#[test]
fn fetch_prints_an_api_error_and_writes_nothing() {
    let body = corpus("errors/API_KEYS_INVALID.json");
    let (server, _rt) = serve(vec![Answer::Whole(response(
        "401 Unauthorized",
        &[("Content-Type", "application/json")],
        &body,
    ))]);
    let folder = tempfile::tempdir().unwrap();
    let out = fetch(&server.url, folder.path(), &["v1", "--format", "pdf"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(server.requests(), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: API error API_KEYS_INVALID"),
        "{stderr}"
    );
    assert!(stderr.contains("(HTTP 401)"), "{stderr}");
    assert_eq!(std::fs::read_dir(folder.path()).unwrap().count(), 0);
}

#[test]
fn fetch_needs_the_credentials_in_the_environment() {
    let folder = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_authenteq-export"))
        .args([
            "fetch",
            "v1",
            "--format",
            "json",
            "--base-url",
            "http://127.0.0.1:1",
            "--out",
        ])
        .arg(folder.path())
        .env_remove("AUTHENTEQ_CLIENT_ID")
        .env_remove("AUTHENTEQ_CLIENT_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("AUTHENTEQ_CLIENT_ID is not set"),
        "{stderr}"
    );
}

#[test]
fn fetch_has_the_client_settings_as_flags_and_keeps_idle_timeout_hidden() {
    let help = Command::new(env!("CARGO_BIN_EXE_authenteq-export"))
        .args(["fetch", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--read-timeout",
        "--attempt-timeout",
        "--max-body-bytes",
        "--max-file-bytes",
        "--allow-insecure-http",
    ] {
        assert!(help.contains(flag), "{flag} not in {help}");
    }
    assert!(!help.contains("idle-timeout"), "{help}");

    // The old name still works, and a cap names its flag.
    let (server, _rt) = serve(vec![Answer::Whole(multipart_export())]);
    let folder = tempfile::tempdir().unwrap();
    let out = fetch(
        &server.url,
        folder.path(),
        &[
            "v1",
            "--format",
            "multipart",
            "--idle-timeout",
            "5",
            "--max-file-bytes",
            "1000",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: limit max_part_bytes (1000) exceeded"),
        "{stderr}"
    );
    assert!(stderr.contains("--max-file-bytes"), "{stderr}");
    assert_eq!(server.requests(), 1);
}

#[test]
fn fetch_refuses_plain_http_to_a_host_that_is_not_loopback() {
    let folder = tempfile::tempdir().unwrap();
    // Refused before any lookup or connection: the name needs no resolver.
    let out = fetch(
        "http://api.example.test",
        folder.path(),
        &["v1", "--format", "json", "--retries", "0"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unencrypted"), "{stderr}");
    assert!(stderr.contains("--allow-insecure-http"), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
}
