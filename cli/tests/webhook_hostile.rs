//! `webhook serve` as a process on the open internet: a low open-file limit, SIGTERM while a
//! client drips, and what a killed receiver left swept at start.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use authenteq_export::webhook::WebhookKey;
use support::export::{face_part, multipart_body, result_part};

const CLIENT_ID: &str = "client-hostile";
const SECRET: &str = "s3cret-of-the-cli";

/// `webhook serve` into `out` on a free port, started by `sh` so that `limits` (shell
/// `ulimit` words, or empty) apply to it; its URL.
fn serve(out: &Path, limits: &str, args: &[&str]) -> (Child, String) {
    let script = format!("{limits} exec \"$0\" \"$@\"");
    let mut child = Command::new("sh")
        .args(["-c", &script, env!("CARGO_BIN_EXE_authenteq-export")])
        .args([
            "webhook",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--client-id",
            CLIENT_ID,
        ])
        .arg("--out")
        .arg(out)
        .args(args)
        .env("AUTHENTEQ_CLIENT_SECRET", SECRET)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = support::listening_url(&mut child);
    (child, url)
}

fn addr_of(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

fn body_of(id: &str) -> Vec<u8> {
    let json = format!(r#"{{"id":"{id}"}}"#);
    multipart_body(&[result_part(json.as_bytes()), face_part()])
}

fn head(length: usize, signature: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: multipart/mixed; boundary=b\r\nContent-Length: {length}\r\n\
         X-CLIENT-ID: {CLIENT_ID}\r\nX-SIGNATURE: {signature}\r\n\r\n"
    )
}

/// Delivers `body` signed; the answer's status.
fn deliver(addr: &str, body: &[u8]) -> Option<u16> {
    let signature = WebhookKey::new(CLIENT_ID, SECRET).sign(body);
    let mut socket = TcpStream::connect(addr).ok()?;
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    socket
        .write_all(head(body.len(), &signature).as_bytes())
        .ok()?;
    socket.write_all(body).ok()?;
    let mut answer = String::new();
    let _ = socket.read_to_string(&mut answer);
    answer.get(9..12)?.parse().ok()
}

fn terminate(child: &Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
}

#[test]
fn at_a_low_open_file_limit_idle_connections_make_room_for_a_delivery() {
    let out = tempfile::tempdir().unwrap();
    // 256 files at most: 128 for connections, the rest for the files being written.
    let (mut child, url) = serve(out.path(), "ulimit -n 256 &&", &[]);
    let addr = addr_of(&url);
    let mut silent = Vec::new();
    for _ in 0..300 {
        if let Ok(socket) = TcpStream::connect(&addr) {
            silent.push(socket);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    for n in 0..3 {
        let id = format!("v-crowded-{n}");
        assert_eq!(deliver(&addr, &body_of(&id)), Some(200), "{id}");
        assert!(out.path().join(&id).join("manifest.json").is_file());
    }
    terminate(&child);
    assert!(child.wait().unwrap().success());
}

#[test]
fn sigterm_ends_a_dripping_delivery_at_the_shutdown_timeout_and_leaves_nothing() {
    let out = tempfile::tempdir().unwrap();
    let (mut child, url) = serve(
        out.path(),
        "",
        &["--shutdown-timeout", "1", "--min-body-rate", "0"],
    );
    let addr = addr_of(&url);
    let body = body_of("v-drip");
    let signature = WebhookKey::new(CLIENT_ID, SECRET).sign(&body);
    let mut dripping = TcpStream::connect(&addr).unwrap();
    dripping
        .write_all(head(body.len(), &signature).as_bytes())
        .unwrap();
    dripping.write_all(&body[..150]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    terminate(&child);
    let status = child.wait().unwrap();
    let took = started.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took >= Duration::from_millis(900), "stopped after {took:?}");
    assert!(took < Duration::from_secs(8), "stopped after {took:?}");
    dripping
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut answer = String::new();
    let _ = dripping.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    assert!(support::files_under(out.path()).is_empty());
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn at_start_what_a_killed_receiver_left_is_swept_if_old_enough() {
    let out = tempfile::tempdir().unwrap();
    let old = out.path().join("v-killed");
    let fresh = out.path().join("v-being-written");
    let stored = out.path().join("v-stored");
    for dir in [&old, &fresh, &stored] {
        std::fs::create_dir(dir).unwrap();
    }
    std::fs::write(stored.join("manifest.json"), b"{}").unwrap();
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    for dir in [&old, &stored] {
        std::fs::File::open(dir)
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap();
    }
    let (mut child, _) = serve(out.path(), "", &["--abort-older-than", "600"]);
    terminate(&child);
    let status = child.wait().unwrap();
    assert!(status.success());
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("removed 1 leftovers"), "{log}");
    assert!(!old.exists(), "an old empty id folder was kept");
    assert!(fresh.is_dir(), "a fresh folder was swept");
    assert!(
        stored.join("manifest.json").is_file(),
        "a stored id was touched"
    );
}
