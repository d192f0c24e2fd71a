//! `webhook serve` as a process on the open internet: a low open-file limit, SIGTERM while a
//! client drips, and what a killed receiver left swept at start.

mod cli_support;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use authenteq_export::webhook::WebhookKey;
use cli_support::{Served, WebhookServe};
use support::export::{face_part, multipart_body, result_part};

const CLIENT_ID: &str = "client-hostile";
const SECRET: &str = "s3cret-of-the-cli";

/// `webhook serve` into `out`, started by `sh` so that `limits` (shell `ulimit` words, or
/// empty) apply to it.
fn serve(out: &Path, limits: &str, args: &[&str]) -> Served {
    WebhookServe::new(CLIENT_ID, SECRET)
        .out(out)
        .args(args)
        .under_shell(limits)
        .spawn()
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

#[test]
fn at_a_low_open_file_limit_idle_connections_make_room_for_a_delivery() {
    let out = tempfile::tempdir().unwrap();
    // 256 files at most: 128 for connections, the rest for the files being written.
    let mut served = serve(out.path(), "ulimit -n 256 &&", &[]);
    let addr = served.addr().to_string();
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
    let (status, _) = served.stop();
    assert!(status.success());
}

#[test]
fn sigterm_ends_a_dripping_delivery_at_the_shutdown_timeout_and_leaves_nothing() {
    let out = tempfile::tempdir().unwrap();
    let mut served = serve(
        out.path(),
        "",
        &["--shutdown-timeout", "1", "--min-body-rate", "0"],
    );
    let addr = served.addr().to_string();
    let body = body_of("v-drip");
    let signature = WebhookKey::new(CLIENT_ID, SECRET).sign(&body);
    let mut dripping = TcpStream::connect(&addr).unwrap();
    dripping
        .write_all(head(body.len(), &signature).as_bytes())
        .unwrap();
    dripping.write_all(&body[..150]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    served.sigterm();
    let status = served.child().wait().unwrap();
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
    let (status, log) = serve(out.path(), "", &["--abort-older-than", "600"]).stop();
    assert!(status.success());
    assert!(log.contains("removed 1 leftovers"), "{log}");
    assert!(!old.exists(), "an old empty id folder was kept");
    assert!(fresh.is_dir(), "a fresh folder was swept");
    assert!(
        stored.join("manifest.json").is_file(),
        "a stored id was touched"
    );
}

/// The receiver's memory under many held connections and unsigned bodies: measured, and bounded.
#[test]
#[ignore = "heavy: 2,600 connections and 8 x 96 MiB of unsigned bodies"]
fn memory_while_connections_and_unsigned_bodies_are_held() {
    let out = tempfile::tempdir().unwrap();
    let mut served = serve(
        out.path(),
        "",
        &["--max-body-bytes", &(128u64 << 20).to_string()],
    );
    let addr = served.addr().to_string();
    let pid = served.pid();

    // 2,000 connections that send nothing and 600 that send a head a few bytes at a time.
    let mut held = Vec::new();
    for _ in 0..2000 {
        held.push(TcpStream::connect(&addr).unwrap());
    }
    let mut slow = Vec::new();
    for _ in 0..600 {
        let mut socket = TcpStream::connect(&addr).unwrap();
        socket.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n").unwrap();
        slow.push(socket);
    }
    for _ in 0..10 {
        for socket in &mut slow {
            let _ = socket.write_all(b"X-A: b\r\n");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // A delivery is still served meanwhile.
    let started = Instant::now();
    assert_eq!(deliver(&addr, &body_of("v-busy")), Some(200));
    let served_in = started.elapsed();
    let connections_kib = support::measure::peak_rss_kib(pid);
    println!(
        "2,000 idle + 600 slowloris connections: receiver peak RSS {:.1} MiB; a delivery served in {served_in:?}",
        connections_kib as f64 / 1024.0
    );
    drop(held);
    drop(slow);

    // Eight unsigned deliveries of 96 MiB, each held open before its last bytes.
    let big = {
        let json = br#"{"id":"v-unsigned"}"#;
        let image = vec![b'x'; 96 << 20];
        multipart_body(&[
            result_part(json),
            support::export::part("faceImage", Some("face.jpeg"), Some("image/jpeg"), &image),
        ])
    };
    let mut unsigned = Vec::new();
    for _ in 0..8 {
        let mut socket = TcpStream::connect(&addr).unwrap();
        socket
            .set_write_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        socket
            .write_all(head(big.len(), &"0".repeat(64)).as_bytes())
            .unwrap();
        let _ = socket.write_all(&big[..big.len() - 100]);
        unsigned.push(socket);
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut ended = 0;
    for socket in &mut unsigned {
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut answer = [0u8; 12];
        if socket.read_exact(&mut answer).is_ok() {
            assert_eq!(&answer[9..12], b"503");
            ended += 1;
        }
    }
    let bodies_kib = support::measure::peak_rss_kib(pid);
    println!(
        "8 unsigned 96 MiB deliveries held: {ended} ended to keep 160 MiB of unverified bytes; receiver peak RSS {:.1} MiB",
        bodies_kib as f64 / 1024.0
    );
    // 160 MiB holds one 96 MiB body: six at least were ended to make room.
    assert!(ended >= 6, "{ended} ended");
    assert!(connections_kib < 64 * 1024, "{connections_kib} KiB");
    let (status, _) = served.stop();
    assert!(status.success());
}
