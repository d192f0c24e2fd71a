//! Webhook deliveries over loopback HTTP: our sender against our receiver, and each against a
//! counterpart written here only from the vendor's documentation; refusals that leave nothing
//! stored, repeats, two deliveries of one id at once; the sans-I/O verifier under every
//! chunking; the CLI's `webhook serve`, `send` and `detect`; the README's receiver.

#[path = "examples/webhook_receiver.rs"]
#[allow(dead_code)]
mod example;

mod cli_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use authenteq_export::export::{ExportEvent, ExportLimits};
use authenteq_export::multipart::Boundary;
use authenteq_export::store::FolderSink;
use authenteq_export::webhook::{
    detect, Receiver, RetrySchedule, Scheme, Secret, Sender, SignedDecoder, WebhookKey,
};
use authenteq_export::ErrorKind;
use bytes::Bytes;
use cli_support::WebhookServe;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const CLIENT_ID: &str = "test-client";
const SECRET: &str = "test-secret-do-not-log";
const SAMPLE_ID: &str = "8c3f6a2e-5b1d-4e7a-9f20-6d4b2c1a7e95";

fn corpus(name: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("corpus")
        .join(name)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn key() -> WebhookKey {
    WebhookKey::new(CLIENT_ID, SECRET)
}

/// The sample multipart export: its bytes and `Content-Type`.
fn sample_body() -> (Vec<u8>, String) {
    let body = std::fs::read(corpus("verification-result.multipart")).unwrap();
    let content_type = Boundary::sniff(&body).unwrap().content_type("mixed");
    (body, content_type)
}

/// The sample stored in `root/<id>/` as `split` lays it out.
fn stored_sample(root: &Path) -> PathBuf {
    use authenteq_export::export::blocking::Export;
    use authenteq_export::save::{blocking::save_export, OutputDir};
    let dir = root.join(SAMPLE_ID);
    let body = std::fs::File::open(corpus("verification-result.multipart")).unwrap();
    save_export(
        &mut Export::new(body, None).unwrap(),
        &OutputDir::create(&dir).unwrap(),
    )
    .unwrap();
    dir
}

/// Every file under `dir`, recursively, as `(relative path, bytes)`, sorted.
/// The files of a stored verification in `split`'s layout: `tree` less the `manifest.json` a
/// receiver writes last, which must be there.
fn stored_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = tree(dir);
    let before = files.len();
    files.retain(|(name, _)| name != "manifest.json");
    assert_eq!(
        before - files.len(),
        1,
        "no manifest.json in {}",
        dir.display()
    );
    files
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if entry.file_type().unwrap().is_dir() {
                out.push((format!("{rel}/"), Vec::new()));
                walk(base, &path, out);
            } else {
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A raw HTTP/1.1 POST: `head` lines (besides Host and Connection), then `body`, of which only
/// the first `send` bytes are written when given; answers the status, or `None` when the
/// connection closed without one.
async fn post(
    url_addr: std::net::SocketAddr,
    headers: &[(&str, String)],
    body: &[u8],
    send: Option<usize>,
) -> Option<u16> {
    let mut socket = TcpStream::connect(url_addr).await.unwrap();
    let mut head =
        String::from("POST /hooks/authenteq HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    socket.write_all(head.as_bytes()).await.ok()?;
    let end = send.unwrap_or(body.len());
    for piece in body[..end].chunks(7000) {
        if socket.write_all(piece).await.is_err() {
            break;
        }
    }
    if send.is_some() {
        // Cut: the server reads the end of the stream where the body should go on. (hyper
        // does not serve half-closed connections: a whole request keeps its side open.)
        let _ = socket.shutdown().await;
    }
    status_of(&mut socket).await
}

async fn status_of(socket: &mut TcpStream) -> Option<u16> {
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// The headers of a delivery of `body`.
fn delivery_headers(
    content_type: &str,
    client_id: &str,
    signature: &str,
    length: usize,
) -> Vec<(&'static str, String)> {
    vec![
        ("Content-Type", content_type.to_owned()),
        ("Content-Length", length.to_string()),
        ("X-CLIENT-ID", client_id.to_owned()),
        ("X-SIGNATURE", signature.to_owned()),
    ]
}

#[test]
fn sender_delivers_to_receiver_and_the_copy_is_byte_identical() {
    let source = tempfile::tempdir().unwrap();
    let stored = stored_sample(source.path());
    let out = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        for scheme in Scheme::ALL {
            let dir = out.path().join(scheme.name());
            let receiver = Receiver::builder(FolderSink::create(&dir).unwrap())
                .key(key().scheme(scheme))
                .build()
                .unwrap()
                .spawn()
                .await
                .unwrap();
            let sender = Sender::builder(key().scheme(scheme))
                .retry(RetrySchedule::NONE)
                .build()
                .unwrap();
            let sent = sender.send_dir(&receiver.url(), &stored).await.unwrap();
            assert_eq!(sent.attempts, 1);
            // Sent again: a repeat, answered 200, nothing stored again.
            let before = inodes(&dir.join(SAMPLE_ID));
            sender.send_dir(&receiver.url(), &stored).await.unwrap();
            assert_eq!(
                inodes(&dir.join(SAMPLE_ID)),
                before,
                "{scheme}: a repeat rewrote files"
            );
            receiver.shutdown().await.unwrap();
            assert_eq!(stored_tree(&dir.join(SAMPLE_ID)), tree(&stored), "{scheme}");
            assert_eq!(
                std::fs::read_dir(&dir).unwrap().count(),
                1,
                "{scheme}: more than the id's folder"
            );
        }
    });
}

#[cfg(unix)]
fn inodes(dir: &Path) -> Vec<(String, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().ino(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A receiver written from the documentation's words alone: compare the client id, compute
/// "the hex-encoded SHA256 digest of the request body and your Client Secret" over the body
/// before parsing it, compare it with X-SIGNATURE, answer 200 if they match. It answers `fail`
/// first answers 503, and records the bodies it accepted.
async fn documented_receiver(
    fail_first: u32,
) -> (
    std::net::SocketAddr,
    Arc<AtomicU32>,
    tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let attempts = Arc::new(AtomicU32::new(0));
    let (accepted, bodies) = tokio::sync::mpsc::unbounded_channel();
    let counter = Arc::clone(&attempts);
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let accepted = accepted.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(socket);
                let mut length = 0usize;
                let (mut client_id, mut signature) = (String::new(), String::new());
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).await.unwrap();
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        let value = value.trim().to_owned();
                        match name.to_ascii_lowercase().as_str() {
                            "content-length" => length = value.parse().unwrap(),
                            "x-client-id" => client_id = value,
                            "x-signature" => signature = value,
                            _ => {}
                        }
                    }
                }
                let mut body = vec![0u8; length];
                reader.read_exact(&mut body).await.unwrap();
                let mut hasher = Sha256::new();
                hasher.update(&body);
                hasher.update(SECRET.as_bytes());
                let digest: String = hasher
                    .finalize()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let status = if n < fail_first {
                    "503 Service Unavailable"
                } else if client_id == CLIENT_ID && digest.eq_ignore_ascii_case(&signature) {
                    accepted.send(body).unwrap();
                    "200 OK"
                } else {
                    "401 Unauthorized"
                };
                let mut socket = reader.into_inner();
                let answer =
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                socket.write_all(answer.as_bytes()).await.unwrap();
                let _ = socket.shutdown().await;
            });
        }
    });
    (addr, attempts, bodies)
}

#[test]
fn sender_against_the_documented_receiver_retries_until_200() {
    let source = tempfile::tempdir().unwrap();
    let stored = stored_sample(source.path());
    runtime().block_on(async {
        let (addr, attempts, mut bodies) = documented_receiver(2).await;
        let sender = Sender::builder(key())
            .retry(RetrySchedule {
                every: Duration::from_millis(50),
                for_: Duration::from_secs(30),
            })
            .build()
            .unwrap();
        let sent = sender
            .send_dir(&format!("http://{addr}/"), &stored)
            .await
            .unwrap();
        assert_eq!((sent.attempts, attempts.load(Ordering::SeqCst)), (3, 3));
        // What it accepted is a whole export of the stored files.
        let body = bodies.recv().await.unwrap();
        assert_eq!(body.len() as u64, sent.bytes);
        let back = tempfile::tempdir().unwrap();
        {
            use authenteq_export::export::blocking::Export;
            use authenteq_export::save::{blocking::save_export, OutputDir};
            save_export(
                &mut Export::new(&body[..], None).unwrap(),
                &OutputDir::create(back.path()).unwrap(),
            )
            .unwrap();
        }
        assert_eq!(tree(back.path()), tree(&stored));

        // Another secret: refused every time, until the schedule runs out.
        let (addr, attempts, _bodies) = documented_receiver(0).await;
        let wrong = Sender::builder(WebhookKey::new(CLIENT_ID, "another secret"))
            .retry(RetrySchedule {
                every: Duration::from_millis(30),
                for_: Duration::from_millis(100),
            })
            .build()
            .unwrap();
        let err = wrong
            .send_dir(&format!("http://{addr}/"), &stored)
            .await
            .unwrap_err();
        assert_eq!((err.kind(), err.status()), (ErrorKind::Http, Some(401)));
        // An attempt every 30 ms (plus the attempt's own time) while under 100 ms.
        let made = attempts.load(Ordering::SeqCst);
        assert!((2..=4).contains(&made), "{made} attempts");
    });
}

/// What the documentation's sender does: sign the body with the secret after it, send it.
#[test]
fn receiver_against_the_documented_sender() {
    let (body, content_type) = sample_body();
    let mut hasher = Sha256::new();
    hasher.update(&body);
    hasher.update(SECRET.as_bytes());
    let signature: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect(); // upper case
    let out = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let receiver = Receiver::builder(FolderSink::create(out.path()).unwrap())
            .key(key())
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let headers = delivery_headers(
            &content_type.replace("mixed", "form-data"),
            CLIENT_ID,
            &signature,
            body.len(),
        );
        assert_eq!(
            post(receiver.addr(), &headers, &body, None).await,
            Some(200)
        );
        receiver.shutdown().await.unwrap();
    });
    let expected = tempfile::tempdir().unwrap();
    assert_eq!(
        stored_tree(&out.path().join(SAMPLE_ID)),
        tree(&stored_sample(expected.path()))
    );
}

#[test]
fn refused_deliveries_leave_nothing() {
    let (body, content_type) = sample_body();
    let signature = key().sign(&body);
    let out = tempfile::tempdir().unwrap();
    let mut altered = body.clone();
    // A byte inside the first image: the body still parses, the signature no longer matches.
    let at = altered
        .windows(3)
        .position(|w| w == [0xff, 0xd8, 0xff])
        .unwrap()
        + 100;
    altered[at] ^= 1;
    runtime().block_on(async {
        let receiver = Receiver::builder(FolderSink::create(out.path()).unwrap())
            .key(key())
            .max_body_bytes(body.len() as u64 - 1)
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let roomy = Receiver::builder(FolderSink::create(out.path()).unwrap())
            .key(key())
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let h = |ct: &str, id: &str, sig: &str, len: usize| delivery_headers(ct, id, sig, len);
        let cases: Vec<Case<'_>> = vec![
            (
                "wrong signature",
                roomy.addr(),
                h(&content_type, CLIENT_ID, &key().sign(b"other"), body.len()),
                &body,
                None,
                Some(401),
            ),
            (
                "wrong client id",
                roomy.addr(),
                h(&content_type, "someone-else", &signature, body.len()),
                &body,
                None,
                Some(401),
            ),
            (
                "no signature",
                roomy.addr(),
                h(&content_type, CLIENT_ID, &signature, body.len())[..3].to_vec(),
                &body,
                None,
                Some(401),
            ),
            (
                "signature not hex",
                roomy.addr(),
                h(&content_type, CLIENT_ID, &"zz".repeat(32), body.len()),
                &body,
                None,
                Some(401),
            ),
            (
                "altered in one byte",
                roomy.addr(),
                h(&content_type, CLIENT_ID, &signature, body.len()),
                &altered,
                None,
                Some(401),
            ),
            (
                "not multipart",
                roomy.addr(),
                h("application/json", CLIENT_ID, &signature, body.len()),
                &body,
                None,
                Some(400),
            ),
            (
                "over the cap by Content-Length",
                receiver.addr(),
                h(&content_type, CLIENT_ID, &signature, body.len()),
                &body,
                None,
                Some(413),
            ),
        ];
        for (what, addr, headers, bytes, send, status) in cases {
            assert_eq!(post(addr, &headers, bytes, send).await, status, "{what}");
            assert!(
                tree(out.path()).is_empty(),
                "{what}: {:?}",
                tree(out.path()).iter().map(|(p, _)| p).collect::<Vec<_>>()
            );
        }
        // Truncated on the wire: the Content-Length promises more than comes.
        let headers = h(&content_type, CLIENT_ID, &signature, body.len());
        let status = post(roomy.addr(), &headers, &body, Some(body.len() / 2)).await;
        assert!(matches!(status, None | Some(400)), "truncated: {status:?}");
        assert!(tree(out.path()).is_empty(), "truncated");
        // A signed body that ends before its close delimiter.
        let cut = &body[..body.len() - 10];
        let headers = h(&content_type, CLIENT_ID, &key().sign(cut), cut.len());
        assert_eq!(
            post(roomy.addr(), &headers, cut, None).await,
            Some(400),
            "cut, signed"
        );
        // Over the cap while streaming: chunked, no Content-Length.
        let chunked = chunked(&body);
        let mut headers = h(&content_type, CLIENT_ID, &signature, 0);
        headers[1] = ("Transfer-Encoding", "chunked".into());
        assert_eq!(
            post(receiver.addr(), &headers, &chunked, None).await,
            Some(413),
            "chunked over the cap"
        );
        // The same chunked body under the cap is stored.
        assert_eq!(
            post(roomy.addr(), &headers, &chunked, None).await,
            Some(200),
            "chunked"
        );
        receiver.shutdown().await.unwrap();
        roomy.shutdown().await.unwrap();
    });
    assert_eq!(stored_tree(&out.path().join(SAMPLE_ID)).len(), 12);
}

/// A refusal case: what, where to, the headers, the body, how much of it to send, the answer.
type Case<'a> = (
    &'static str,
    std::net::SocketAddr,
    Vec<(&'static str, String)>,
    &'a [u8],
    Option<usize>,
    Option<u16>,
);

/// `body` in the chunked transfer coding, in 5000-byte chunks.
fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.chunks(5000) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// A delivery whose result is `result_json`, signed.
fn with_result(result_json: &str) -> (Vec<u8>, String) {
    let mut body = format!(
        "--b\r\nContent-Disposition: form-data; name=\"result\"; filename=\"result.json\"\r\nContent-Type: application/json\r\n\r\n{result_json}\r\n\
         --b\r\nContent-Disposition: form-data; name=\"faceImage\"; filename=\"faceImage.jpeg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(b"\xff\xd8\xff\xd9\r\n--b--\r\n");
    let signature = key().sign(&body);
    (body, signature)
}

#[test]
fn results_without_a_usable_id_are_refused() {
    let out = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let receiver = Receiver::builder(FolderSink::create(out.path()).unwrap())
            .key(key())
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        for (what, json) in [
            ("not json", "{not json"),
            ("no id", r#"{"platform":"WEB"}"#),
            ("id climbs out", r#"{"id":"../escape"}"#),
            ("id is dot-dot", r#"{"id":".."}"#),
            ("id hidden", r#"{"id":".hidden"}"#),
            ("id with a slash", r#"{"id":"a/b"}"#),
            ("id with a control", r#"{"id":"a\u0001b"}"#),
            ("id empty", r#"{"id":""}"#),
        ] {
            let (body, signature) = with_result(json);
            let headers = delivery_headers(
                "multipart/mixed; boundary=b",
                CLIENT_ID,
                &signature,
                body.len(),
            );
            assert_eq!(
                post(receiver.addr(), &headers, &body, None).await,
                Some(400),
                "{what}"
            );
            assert!(tree(out.path()).is_empty(), "{what}");
        }
        let (body, signature) = with_result(r#"{"id":"v-1"}"#);
        let headers = delivery_headers(
            "multipart/mixed; boundary=b",
            CLIENT_ID,
            &signature,
            body.len(),
        );
        assert_eq!(
            post(receiver.addr(), &headers, &body, None).await,
            Some(200)
        );
        receiver.shutdown().await.unwrap();
    });
    let names: Vec<String> = tree(out.path()).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        names,
        [
            "v-1/",
            "v-1/faceImage.jpeg",
            "v-1/manifest.json",
            "v-1/result.json"
        ]
    );
}

#[test]
fn two_deliveries_of_one_id_at_once_store_one_copy() {
    let (body, content_type) = sample_body();
    let signature = key().sign(&body);
    let out = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let receiver = Receiver::builder(FolderSink::create(out.path()).unwrap())
            .key(key())
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let headers = delivery_headers(&content_type, CLIENT_ID, &signature, body.len());
        let mut head = String::from("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        for (name, value) in &headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        // Both send their head and half their body; then both finish.
        let half = body.len() / 2;
        let mut a = TcpStream::connect(receiver.addr()).await.unwrap();
        let mut b = TcpStream::connect(receiver.addr()).await.unwrap();
        for s in [&mut a, &mut b] {
            s.write_all(head.as_bytes()).await.unwrap();
            s.write_all(&body[..half]).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut statuses = Vec::new();
        for mut s in [a, b] {
            let _ = s.write_all(&body[half..]).await;
            statuses.push(status_of(&mut s).await);
        }
        statuses.sort();
        // Nothing is claimed before the signature matched: both are verified, both 200.
        assert_eq!(statuses, [Some(200), Some(200)]);
        receiver.shutdown().await.unwrap();
    });
    let expected = tempfile::tempdir().unwrap();
    assert_eq!(
        stored_tree(&out.path().join(SAMPLE_ID)),
        tree(&stored_sample(expected.path()))
    );
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);
}

/// The sans-I/O decoder at every split point of a small body, and in 1-byte chunks of the
/// sample: the end comes once, after the last byte, only for the right signature.
#[test]
fn signed_decoder_under_every_chunking() {
    let (small, _) = with_result(r#"{"id":"v1"}"#);
    let small = [&small[..], b"epilogue\r\n"].concat();
    let (sample, _) = sample_body();
    let run = |body: &[u8],
               chunks: &mut dyn Iterator<Item = std::ops::Range<usize>>,
               signature: &str| {
        let verifier = key().verifier(Some(CLIENT_ID), Some(signature)).unwrap();
        let ct = Boundary::sniff(body).unwrap().content_type("mixed");
        let mut decoder = SignedDecoder::new(verifier, Some(&ct), ExportLimits::default()).unwrap();
        let mut file_bytes = 0;
        let mut feed = |decoder: &mut SignedDecoder| -> Result<bool, authenteq_export::Error> {
            while let Some(event) = decoder.next_event()? {
                match event {
                    ExportEvent::End => return Ok(true),
                    ExportEvent::FileData(d) => file_bytes += d.len(),
                    _ => {}
                }
            }
            Ok(false)
        };
        for range in chunks {
            decoder.feed(Bytes::copy_from_slice(&body[range]));
            assert!(!feed(&mut decoder)?, "the end before the input's end");
        }
        decoder.finish();
        assert!(feed(&mut decoder)?, "no end after the input's end");
        Ok::<usize, authenteq_export::Error>(file_bytes)
    };
    let good = key().sign(&small);
    let bad = key().sign(&small[..small.len() - 1]);
    for split in 0..=small.len() {
        let ranges = [0..split, split..small.len()];
        assert_eq!(
            run(&small, &mut ranges.clone().into_iter(), &good).unwrap(),
            4,
            "split {split}"
        );
        let err = run(&small, &mut ranges.into_iter(), &bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Signature, "split {split}");
        assert_eq!(err.offset(), Some(small.len() as u64));
    }
    let good = key().sign(&sample);
    let ones = &mut (0..sample.len()).map(|i| i..i + 1);
    assert!(run(&sample, ones, &good).unwrap() > 20_000);
    // The message names what failed, never the secret or a digest.
    let err = run(
        &small,
        &mut std::iter::once(0..small.len()),
        &key().sign(b"x"),
    )
    .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains(SECRET) && !shown.contains(&key().sign(&small)),
        "{shown}"
    );
    assert_eq!(
        err.to_string(),
        format!("webhook signature check failed: the X-SIGNATURE header does not match the body at byte {}", small.len())
    );
}

#[test]
fn detect_names_the_construction() {
    let secret = Secret::new(SECRET);
    let body = b"any body at all";
    for scheme in Scheme::ALL {
        let signature = key().scheme(scheme).sign(body);
        assert_eq!(detect(body, &secret, &signature).unwrap(), Some(scheme));
        assert_eq!(
            detect(body, &secret, &signature.to_uppercase()).unwrap(),
            Some(scheme)
        );
        assert_eq!(detect(b"another body", &secret, &signature).unwrap(), None);
    }
    assert_eq!(
        detect(body, &secret, "abc").unwrap_err().kind(),
        ErrorKind::Signature
    );
    let shown = format!("{:?} {:?}", key(), secret);
    assert!(!shown.contains(SECRET), "{shown}");
}

fn cli() -> Command {
    cli_support::cli(SECRET)
}

#[test]
fn cli_detect() {
    let folder = tempfile::tempdir().unwrap();
    let (body, _) = sample_body();
    let path = folder.path().join("captured.body");
    std::fs::write(&path, &body).unwrap();
    for scheme in Scheme::ALL {
        let out = cli()
            .args(["webhook", "detect", "--body"])
            .arg(&path)
            .args([
                "--signature",
                &key().scheme(scheme).sign(&body).to_uppercase(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{scheme}\n"));
    }
    let out = cli()
        .args(["webhook", "detect", "--body"])
        .arg(&path)
        .args(["--signature", &key().sign(b"something else")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("no construction matches"));
    let out = cli()
        .env_remove("AUTHENTEQ_CLIENT_SECRET")
        .args(["webhook", "detect", "--body"])
        .arg(&path)
        .args(["--signature", &key().sign(&body)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AUTHENTEQ_CLIENT_SECRET is not set"));
}

#[test]
fn cli_send_to_cli_serve() {
    let source = tempfile::tempdir().unwrap();
    let stored = stored_sample(source.path());
    let out = tempfile::tempdir().unwrap();
    let mut served = WebhookServe::new(CLIENT_ID, SECRET)
        .out(out.path())
        .args(["--scheme", Scheme::HmacSha256.name()])
        .spawn();
    let send = |scheme: Scheme, extra: &[&str]| {
        served
            .send(&stored)
            .args(["--scheme", scheme.name()])
            .args(extra)
            .output()
            .unwrap()
    };
    let ok = send(Scheme::HmacSha256, &["--form-data"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(printed["attempts"], 1);
    // The wrong construction: refused, retried on the compressed schedule (as the vendor
    // retries any answer), then given up.
    let refused = send(
        Scheme::Sha256BodySecret,
        &[
            "--retry-any-answer",
            "--retry-every",
            "0.05",
            "--retry-for",
            "0.12",
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("the receiver answered 401"), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
    // A repeat, answered 200.
    assert!(send(Scheme::HmacSha256, &[]).status.success());
    // SIGTERM: the server stops; its log has one line per delivery, and no secret or body.
    let (status, log) = served.stop();
    assert!(status.success(), "{status:?}");
    let lines: Vec<&str> = log.lines().collect();
    let refused = lines
        .iter()
        .filter(|l| l.contains("refused") && l.contains("status=401"))
        .count();
    assert!(refused >= 2, "{log}");
    assert_eq!(lines.len(), 1 + refused + 1, "{log}"); // stored, refused, already stored
    assert!(
        lines[0].contains("outcome=\"stored\"") && lines[0].contains(SAMPLE_ID),
        "{log}"
    );
    assert!(lines[lines.len() - 1].contains("already stored"), "{log}");
    let result = std::fs::read_to_string(stored.join("result.json")).unwrap();
    let surname = serde_json::from_str::<serde_json::Value>(&result).unwrap()["documents"][0]
        ["surname"]
        .as_str()
        .map(str::to_owned);
    for secret in [Some(SECRET.to_owned()), surname].into_iter().flatten() {
        assert!(!log.contains(&secret), "{secret:?} in {log}");
    }
    // Stored as `fetch --ids` stores: the `split` layout, plus the manifest written last.
    let mut copy = tree(&out.path().join(SAMPLE_ID));
    let at = copy
        .iter()
        .position(|(name, _)| name == "manifest.json")
        .expect("a manifest");
    let manifest = authenteq_export::store::Manifest::from_json(&copy.remove(at).1).unwrap();
    assert_eq!(copy, tree(&stored));
    assert_eq!(manifest.id(), SAMPLE_ID);
    assert_eq!(manifest.files().len(), copy.len());
    for (name, bytes) in &copy {
        let listed = manifest
            .file(name)
            .unwrap_or_else(|| panic!("{name} unlisted"));
        assert_eq!(
            listed.sha256(),
            format!("{:x}", Sha256::digest(bytes)),
            "{name}"
        );
    }
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);
}

/// While the secret is rotated: `webhook serve` accepts a delivery signed with the new secret
/// (AUTHENTEQ_CLIENT_SECRET) or the old one (AUTHENTEQ_CLIENT_SECRET_PREVIOUS), refuses one
/// signed with neither, and logs which key matched, never a secret.
#[test]
fn cli_serve_accepts_the_previous_secret() {
    const OLD: &str = "the-old-secret-never-logged";
    let out = tempfile::tempdir().unwrap();
    let mut served = WebhookServe::new(CLIENT_ID, SECRET)
        .out(out.path())
        .env("AUTHENTEQ_CLIENT_SECRET_PREVIOUS", OLD)
        .spawn();
    let addr = served.addr();
    let (body, content_type) = sample_body();
    let old = WebhookKey::new(CLIENT_ID, OLD);
    let neither = WebhookKey::new(CLIENT_ID, "neither-secret");
    runtime().block_on(async {
        for (signer, expected) in [(&neither, 401), (&old, 200), (&key(), 200)] {
            let headers =
                delivery_headers(&content_type, CLIENT_ID, &signer.sign(&body), body.len());
            assert_eq!(post(addr, &headers, &body, None).await, Some(expected));
        }
    });
    let (status, log) = served.stop();
    assert!(status.success(), "{status:?}");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(lines[0].contains("status=401"), "{log}");
    assert!(
        lines[1].contains("outcome=\"stored\"") && lines[1].contains("key=\"previous\""),
        "{log}"
    );
    assert!(
        lines[2].contains("already stored") && lines[2].contains("key=\"current\""),
        "{log}"
    );
    for secret in [SECRET, OLD] {
        assert!(!log.contains(secret), "{log}");
    }
    assert!(out.path().join(SAMPLE_ID).join("manifest.json").is_file());
}

/// The code between the example's `README` markers.
fn example_code() -> String {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/webhook_receiver.rs"
    ))
    .unwrap();
    let begin = source.find("// README: begin\n").expect("begin marker") + 17;
    let end = source.find("// README: end").expect("end marker");
    source[begin..end].to_owned()
}

#[test]
fn the_readme_receiver_is_the_example_and_it_receives() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let code = example_code();
    assert!(
        readme.contains(&format!("```rust,no_run\n{code}```")),
        "the README's receiver differs from examples/webhook_receiver.rs"
    );
    let lines = code.lines().filter(|l| !l.trim().is_empty()).count();
    assert!(lines <= 14, "{lines} lines");

    let source = tempfile::tempdir().unwrap();
    let stored = stored_sample(source.path());
    let out = tempfile::tempdir().unwrap();
    // The example reads its keys from the environment; no other test here reads it.
    std::env::set_var("AUTHENTEQ_CLIENT_ID", CLIENT_ID);
    std::env::set_var("AUTHENTEQ_CLIENT_SECRET", SECRET);
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    runtime().block_on(async {
        let dir = out.path().to_str().unwrap().to_owned();
        let server = tokio::spawn(async move { example::serve(addr, &dir).await });
        let sender = Sender::builder(key())
            .retry(RetrySchedule {
                every: Duration::from_millis(50),
                for_: Duration::from_secs(10),
            })
            .build()
            .unwrap();
        sender
            .send_dir(&format!("http://{addr}/authenteq"), &stored)
            .await
            .unwrap();
        server.abort();
    });
    assert_eq!(stored_tree(&out.path().join(SAMPLE_ID)), tree(&stored));
}
