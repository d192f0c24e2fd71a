//! The receiver and the emulator against peers that drip, stall, hold connections or know an id
//! but not the secret: every phase of a connection has a timeout, unverified bytes share a
//! bound, and nothing unverified can block a verified delivery. Short settings throughout.
#![cfg(all(feature = "webhook-receiver", feature = "server"))]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use authenteq_export::server::Emulator;
use authenteq_export::store::FolderSink;
use authenteq_export::webhook::{Receiver, WebhookKey};
use authenteq_export::{ConnectionLimits, Server};
use support::export::{face_part, multipart_body, part, result_part};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CLIENT_ID: &str = "client-7";
const SECRET: &str = "s3cret-hostile";

fn key() -> WebhookKey {
    WebhookKey::new(CLIENT_ID, SECRET)
}

/// A delivery of verification `id`: its result, a face image and `padding` more bytes of
/// image.
fn body_of(id: &str, padding: usize) -> Vec<u8> {
    let json = format!(r#"{{"id":"{id}","platform":"WEB"}}"#);
    let big = vec![b'x'; padding];
    multipart_body(&[
        result_part(json.as_bytes()),
        face_part(),
        part(
            "croppedFrontImage",
            Some("front.jpeg"),
            Some("image/jpeg"),
            &big,
        ),
    ])
}

/// The head of a POST of `length` bytes, signed with `signature`.
fn head(length: usize, signature: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/mixed; boundary=b\r\n\
         Content-Length: {length}\r\nX-CLIENT-ID: {CLIENT_ID}\r\nX-SIGNATURE: {signature}\r\n\r\n"
    )
}

/// Sends `body` signed, whole, and reads the status of the answer.
async fn deliver(addr: std::net::SocketAddr, body: &[u8]) -> Option<u16> {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(head(body.len(), &key().sign(body)).as_bytes())
        .await
        .unwrap();
    socket.write_all(body).await.unwrap();
    status(&mut socket).await
}

async fn status(socket: &mut TcpStream) -> Option<u16> {
    let mut answer = [0u8; 12];
    socket.read_exact(&mut answer).await.ok()?;
    std::str::from_utf8(&answer[9..12]).ok()?.parse().ok()
}

/// Whether the server closed `socket`: a read ends (0 bytes or an error) within `within`.
async fn closed_within(socket: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline.into(), socket.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// The names under `dir`, recursively: what a refused delivery must not leave.
fn entries(dir: &Path) -> Vec<String> {
    support::files_under(dir).into_keys().collect()
}

fn short() -> ConnectionLimits {
    ConnectionLimits::default()
        .head_timeout(Duration::from_millis(300))
        .idle_timeout(Duration::from_millis(300))
}

async fn receiver(dir: &Path) -> Server<Receiver<FolderSink>> {
    Receiver::builder(FolderSink::create(dir).unwrap())
        .key(key())
        .connections(short())
        .min_body_rate(64, Duration::from_millis(400))
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap()
}

#[test]
fn a_dripping_unsigned_copy_of_an_id_does_not_delay_the_signed_one() {
    support::runtime().block_on(async {
        let out = tempfile::tempdir().unwrap();
        let server = receiver(out.path()).await;
        let body = body_of("v-squat", 2000);
        // The squatter knows the client id and the verification id, not the secret: it sends
        // the head and the result part, then one byte at a time.
        let mut squatter = TcpStream::connect(server.addr()).await.unwrap();
        squatter
            .write_all(head(body.len(), &"0".repeat(64)).as_bytes())
            .await
            .unwrap();
        squatter.write_all(&body[..120]).await.unwrap();
        let drip = tokio::spawn(async move {
            for byte in body_of("v-squat", 2000)[120..].chunks(1) {
                if squatter.write_all(byte).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            squatter
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        assert_eq!(deliver(server.addr(), &body).await, Some(200));
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "the signed delivery took {took:?}"
        );
        assert!(out.path().join("v-squat/manifest.json").is_file());
        // The squatter is ended by the minimum rate; nothing of it is left.
        let mut squatter = drip.await.unwrap();
        assert!(closed_within(&mut squatter, Duration::from_secs(3)).await);
        let names = entries(out.path());
        assert_eq!(names.len(), 4, "{names:?}");
        server.shutdown().await.unwrap();
    });
}

#[test]
fn silent_and_half_preface_connections_are_closed_at_the_head_timeout() {
    support::runtime().block_on(async {
        let out = tempfile::tempdir().unwrap();
        let server = receiver(out.path()).await;
        let mut silent = Vec::new();
        for _ in 0..50 {
            silent.push(TcpStream::connect(server.addr()).await.unwrap());
        }
        let mut preface = TcpStream::connect(server.addr()).await.unwrap();
        preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
        let mut slow_head = TcpStream::connect(server.addr()).await.unwrap();
        slow_head
            .write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        for socket in silent.iter_mut().chain([&mut preface, &mut slow_head]) {
            assert!(closed_within(socket, Duration::from_secs(3)).await);
        }
        assert_eq!(server.open_connections(), 0);
        server.shutdown().await.unwrap();
    });
}

#[test]
fn idle_keep_alive_connections_are_closed_on_both_protocols() {
    support::runtime().block_on(async {
        let out = tempfile::tempdir().unwrap();
        let server = receiver(out.path()).await;
        let http1 = reqwest::Client::builder().build().unwrap();
        let http2 = reqwest::Client::builder()
            .http2_prior_knowledge()
            .build()
            .unwrap();
        for client in [&http1, &http2] {
            // A GET is answered 405, and the connection is kept for the next request.
            let answer = client.get(server.url()).send().await.unwrap();
            assert_eq!(answer.status().as_u16(), 405);
            let _ = answer.bytes().await;
            assert_eq!(server.open_connections(), 1);
            let deadline = Instant::now() + Duration::from_secs(3);
            while server.open_connections() > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(server.open_connections(), 0, "an idle connection was kept");
        }
        server.shutdown().await.unwrap();
    });
}

#[test]
fn a_body_slower_than_the_minimum_rate_is_answered_408_and_leaves_nothing() {
    support::runtime().block_on(async {
        let out = tempfile::tempdir().unwrap();
        let server = receiver(out.path()).await;
        let body = body_of("v-drip", 4000);
        let mut socket = TcpStream::connect(server.addr()).await.unwrap();
        socket
            .write_all(head(body.len(), &key().sign(&body)).as_bytes())
            .await
            .unwrap();
        socket.write_all(&body[..200]).await.unwrap();
        let started = Instant::now();
        // Ten bytes a second, under the 64 asked for: the window ends it, and the writes fail.
        let mut sent = 200;
        let dripped = async {
            for byte in body[200..].chunks(1) {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if socket.write_all(byte).await.is_err() {
                    break;
                }
                sent += 1;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(3), dripped).await;
        assert!(sent < body.len(), "the whole body was taken");
        assert_eq!(status(&mut socket).await, Some(408));
        assert!(started.elapsed() < Duration::from_secs(4));
        assert!(entries(out.path()).is_empty(), "{:?}", entries(out.path()));
        server.shutdown().await.unwrap();
    });
}

#[test]
fn unverified_bytes_share_one_bound_and_the_stalest_delivery_makes_room() {
    support::runtime().block_on(async {
        let out = tempfile::tempdir().unwrap();
        let receiver = Receiver::builder(FolderSink::create(out.path()).unwrap())
            .key(key())
            .connections(short())
            .min_body_rate(0, Duration::from_secs(1))
            .max_body_bytes(1 << 20)
            .unverified_bytes(1 << 20)
            .build()
            .unwrap();
        let server = receiver.spawn().await.unwrap();
        // Two unsigned deliveries of 600 KiB each send all but their end, and stall.
        let mut held = Vec::new();
        for n in 0..2 {
            let body = body_of(&format!("v-held-{n}"), 600 << 10);
            let mut socket = TcpStream::connect(server.addr()).await.unwrap();
            socket
                .write_all(head(body.len(), &"0".repeat(64)).as_bytes())
                .await
                .unwrap();
            let _ = tokio::time::timeout(
                Duration::from_millis(500),
                socket.write_all(&body[..body.len() - 10]),
            )
            .await;
            held.push(socket);
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(receiver.unverified_bytes() <= 1 << 20);
        }
        // The second needed room: the first, stalled (a second without a byte), was ended.
        assert_eq!(status(&mut held[0]).await, Some(503));
        // A signed delivery still gets through, ending the other stalled one.
        let body = body_of("v-signed", 500 << 10);
        assert_eq!(deliver(server.addr(), &body).await, Some(200));
        assert!(out.path().join("v-signed/manifest.json").is_file());
        assert_eq!(status(&mut held[1]).await, Some(503));
        assert_eq!(receiver.unverified_bytes(), 0);
        let names = entries(out.path());
        assert!(
            names.iter().all(|n| n.starts_with("v-signed/")),
            "{names:?}"
        );
        server.shutdown().await.unwrap();
    });
}

#[test]
fn chunk_framing_counts_towards_the_body_cap() {
    support::runtime().block_on(async {
        let out = tempfile::tempdir().unwrap();
        let server = Receiver::builder(FolderSink::create(out.path()).unwrap())
            .key(key())
            .max_body_bytes(4 << 20)
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let body = body_of("v-chunks", 100);
        let mut socket = TcpStream::connect(server.addr()).await.unwrap();
        let head = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/mixed; boundary=b\r\n\
             Transfer-Encoding: chunked\r\nX-CLIENT-ID: {CLIENT_ID}\r\nX-SIGNATURE: {}\r\n\r\n",
            key().sign(&body)
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        // A chunk-size line of 64 MiB of zeros, then the body as one chunk.
        let zeros = vec![b'0'; 1 << 20];
        let mut refused = false;
        for _ in 0..64 {
            if socket.write_all(&zeros).await.is_err() {
                refused = true;
                break;
            }
        }
        if !refused {
            let chunk = format!("{:x}\r\n", body.len());
            let _ = socket.write_all(chunk.as_bytes()).await;
            let _ = socket.write_all(&body).await;
            let _ = socket.write_all(b"\r\n0\r\n\r\n").await;
        }
        assert_ne!(status(&mut socket).await, Some(200));
        assert!(entries(out.path()).is_empty());
        server.shutdown().await.unwrap();
    });
}

#[test]
fn a_drain_with_a_deadline_cuts_a_dripping_delivery_and_leaves_nothing() {
    support::runtime().block_on(async {
        let out = tempfile::tempdir().unwrap();
        let server = Receiver::builder(FolderSink::create(out.path()).unwrap())
            .key(key())
            .min_body_rate(0, Duration::from_secs(1))
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let body = body_of("v-drain", 4000);
        let mut socket = TcpStream::connect(server.addr()).await.unwrap();
        socket
            .write_all(head(body.len(), &key().sign(&body)).as_bytes())
            .await
            .unwrap();
        socket.write_all(&body[..300]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        server
            .shutdown_within(Duration::from_millis(500))
            .await
            .unwrap();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "the drain took {took:?}");
        assert!(
            took >= Duration::from_millis(450),
            "the drain took {took:?}"
        );
        assert_eq!(status(&mut socket).await, Some(503));
        assert!(entries(out.path()).is_empty());
    });
}

#[test]
fn the_emulator_closes_idle_connections_too() {
    support::runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let server = Emulator::builder(dir.path())
            .connections(short())
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let client = reqwest::Client::new();
        let answer = client
            .get(format!(
                "{}/export/verification-result-as-json?verificationId=absent",
                server.url()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 401);
        let _ = answer.bytes().await;
        let mut silent = TcpStream::connect(server.addr()).await.unwrap();
        assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
        let deadline = Instant::now() + Duration::from_secs(3);
        while server.open_connections() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(server.open_connections(), 0);
        drop(client);
        server.shutdown().await.unwrap();
    });
}
