#![cfg(feature = "webhook-forward")]
//! `webhook::Forwarder` as the receiver's hand-off, against applications that misbehave: an
//! endless `2xx` answer is read only to its bound, one that never answers is a timeout, a
//! closed port a connection error (both answered `500`, the delivery to come again); the
//! event's headers are the Standard Webhooks ones for the stored verification. Each failure is
//! logged with the host and status, never the URL's path or the event.
//! (`cli/tests/webhook_forward.rs` checks the events with the PyPI `standardwebhooks`
//! package.)

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use authenteq_export::store::{FolderSink, Sink, HANDLED_JSON};
use authenteq_export::webhook::{
    event_id, ForwardSecret, Forwarder, Receiver, WebhookKey, CLIENT_ID_HEADER, SIGNATURE_HEADER,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use bytes::Bytes;
use support::export::{face_part, multipart_body, result_part};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const CLIENT_ID: &str = "forward-client";
const SECRET: &str = "forward-client-secret";
const FORWARD_SECRET: &str = "whsec_Zm9yd2FyZC1zZWNyZXQtMzItYnl0ZXMtbG9uZy1vaw==";
const PATH: &str = "/events/path-token-5d1e?k=query-token-0b7a";

fn key() -> WebhookKey {
    WebhookKey::new(CLIENT_ID, SECRET)
}

/// What the application does once it read a request.
#[derive(Clone, Copy)]
enum Behaviour {
    /// `200` with a chunked body that never ends.
    Endless,
    /// Nothing: the connection stays open, silent.
    Silent,
    /// `200`, empty.
    Ok,
    /// `200` with a body of 100 bytes of which 3 come, and then nothing: held open.
    HeldOpen,
}

/// One request the application read: its head and body.
struct Request {
    head: String,
    body: Vec<u8>,
}

/// An application on loopback behaving as told; each request it read comes on the channel.
async fn app(behaviour: Behaviour) -> (SocketAddr, mpsc::UnboundedReceiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let tx = tx.clone();
            tokio::spawn(async move { answer(socket, behaviour, tx).await });
        }
    });
    (addr, rx)
}

async fn answer(mut socket: TcpStream, behaviour: Behaviour, tx: mpsc::UnboundedSender<Request>) {
    let mut read = Vec::new();
    let mut buf = [0u8; 8192];
    let (head, body) = loop {
        let n = socket.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        read.extend_from_slice(&buf[..n]);
        let Some(end) = read.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&read[..end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(str::to_owned)
            })
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if read.len() >= end + 4 + length {
            break (head, read[end + 4..end + 4 + length].to_vec());
        }
    };
    let _ = tx.send(Request { head, body });
    match behaviour {
        Behaviour::Ok => {
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
        Behaviour::Silent => tokio::time::sleep(Duration::from_secs(60)).await,
        Behaviour::HeldOpen => {
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc")
                .await;
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Behaviour::Endless => {
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            let mut chunk = b"10000\r\n".to_vec();
            chunk.extend_from_slice(&[b'x'; 64 << 10]);
            chunk.extend_from_slice(b"\r\n");
            while socket.write_all(&chunk).await.is_ok() {}
        }
    }
}

/// A receiver into `dir` forwarding to `url` with a forward timeout of `timeout`.
fn receiver(dir: &std::path::Path, url: &str, timeout: Duration) -> Receiver<FolderSink> {
    let forwarder = Forwarder::builder(url, FORWARD_SECRET.parse::<ForwardSecret>().unwrap())
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .unwrap();
    Receiver::builder(FolderSink::create(dir).unwrap())
        .key(key())
        .on_stored(forwarder.handler())
        .handler_timeout(timeout * 10)
        .build()
        .unwrap()
}

/// Delivers a verification `id`, signed: the status.
async fn deliver(receiver: &Receiver<FolderSink>, id: &str) -> StatusCode {
    let json = format!(r#"{{"id":"{id}","platform":"WEB"}}"#);
    let body = multipart_body(&[result_part(json.as_bytes()), face_part()]);
    let mut headers = HeaderMap::new();
    let signature = key().sign(&body);
    for (name, value) in [
        ("content-type", "multipart/mixed; boundary=b"),
        (CLIENT_ID_HEADER, CLIENT_ID),
        (SIGNATURE_HEADER, signature.as_str()),
    ] {
        headers.insert(name, HeaderValue::from_str(value).unwrap());
    }
    let chunks = vec![Ok::<_, std::io::Error>(Bytes::from(body))];
    receiver
        .receive(&headers, futures::stream::iter(chunks))
        .await
        .status()
}

fn handled(receiver: &Receiver<FolderSink>, id: &str) -> bool {
    support::runtime()
        .block_on(receiver.sink().is_handled(&support::vid(id)))
        .unwrap()
}

#[tokio::test]
async fn the_event_carries_the_standard_webhooks_headers_of_its_verification() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, mut requests) = app(Behaviour::Ok).await;
    let receiver = receiver(
        dir.path(),
        &format!("http://{addr}{PATH}"),
        Duration::from_secs(5),
    );
    assert_eq!(deliver(&receiver, "fwd-headers").await, StatusCode::OK);
    assert!(dir.path().join("fwd-headers").join(HANDLED_JSON).is_file());
    let request = requests.recv().await.unwrap();
    let header = |name: &str| {
        request
            .head
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(": ")?;
                n.eq_ignore_ascii_case(name).then_some(v)
            })
            .unwrap_or_else(|| panic!("no {name} in {}", request.head))
            .to_owned()
    };
    assert!(
        request.head.starts_with(&format!("POST {PATH} ")),
        "{}",
        request.head
    );
    assert_eq!(header("content-type"), "application/json");
    let msg_id = header("webhook-id");
    assert_eq!(msg_id, event_id(&support::vid("fwd-headers")));
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - timestamp).abs() < 60, "{timestamp} vs {now}");
    let secret: ForwardSecret = FORWARD_SECRET.parse().unwrap();
    assert_eq!(
        header("webhook-signature"),
        secret.sign(&msg_id, timestamp, &request.body)
    );
    let event: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(event["type"], "verification.stored");
    assert_eq!(event["data"]["id"], "fwd-headers");
    assert_eq!(event["data"]["result"]["platform"], "WEB");
    let names: Vec<_> = event["data"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"result.json".to_owned()), "{names:?}");
}

#[test]
fn an_endless_answer_is_read_only_to_its_bound_and_its_2xx_counts() {
    let log = support::log::global();
    let dir = tempfile::tempdir().unwrap();
    let runtime = support::runtime_with_workers(2);
    let started = Instant::now();
    let receiver = runtime.block_on(async {
        let (addr, _requests) = app(Behaviour::Endless).await;
        // Read to its end, the answer would take longer than the forward may: a 500.
        let receiver = receiver(
            dir.path(),
            &format!("http://{addr}{PATH}"),
            Duration::from_secs(5),
        );
        assert_eq!(deliver(&receiver, "fwd-endless").await, StatusCode::OK);
        receiver
    });
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(handled(&receiver, "fwd-endless"));
    assert!(!log.text().contains("path-token"), "{}", log.text());
}

#[test]
fn a_2xx_whose_body_is_held_open_counts_as_handled() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = support::runtime_with_workers(2);
    let started = Instant::now();
    let receiver = runtime.block_on(async {
        let (addr, _requests) = app(Behaviour::HeldOpen).await;
        // Waiting for the body's end, the forward would time out: a 500.
        let receiver = receiver(
            dir.path(),
            &format!("http://{addr}{PATH}"),
            Duration::from_secs(3),
        );
        assert_eq!(deliver(&receiver, "fwd-held-open").await, StatusCode::OK);
        receiver
    });
    let took = started.elapsed();
    // The status, then at most the body's short deadline.
    assert!(took < Duration::from_millis(2500), "{took:?}");
    assert!(handled(&receiver, "fwd-held-open"));
}

#[test]
fn an_application_that_never_answers_or_is_not_there_gets_the_delivery_answered_500() {
    let log = support::log::global();
    let dir = tempfile::tempdir().unwrap();
    let runtime = support::runtime_with_workers(2);
    let (silent, closed) = runtime.block_on(async {
        let (addr, mut requests) = app(Behaviour::Silent).await;
        let silent = receiver(
            &dir.path().join("silent"),
            &format!("http://{addr}{PATH}"),
            Duration::from_millis(300),
        );
        let started = Instant::now();
        assert_eq!(
            deliver(&silent, "fwd-silent").await,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(requests.recv().await.is_some());

        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let closed = receiver(
            &dir.path().join("closed"),
            &format!("http://{port}{PATH}"),
            Duration::from_millis(300),
        );
        assert_eq!(
            deliver(&closed, "fwd-closed").await,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        (silent, closed)
    });
    // Stored, not handled: the redelivery will forward it again.
    assert!(!handled(&silent, "fwd-silent"));
    assert!(!handled(&closed, "fwd-closed"));
    assert!(dir.path().join("silent/fwd-silent/manifest.json").is_file());
    let text = log.text();
    assert!(
        text.contains("the application at 127.0.0.1 did not answer in time"),
        "{text}"
    );
    assert!(
        text.contains("cannot connect to the application at 127.0.0.1"),
        "{text}"
    );
    assert!(
        !text.contains("path-token") && !text.contains("query-token"),
        "{text}"
    );
    assert!(!text.contains("WEB"), "the event reached the log: {text}");
}
