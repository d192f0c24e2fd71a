#![cfg(feature = "webhook-receiver")]
//! The receiver with several keys (a secret being rotated): a delivery signed with any of
//! them is stored, one signed with none is refused, the log names the key that matched by its
//! label and never holds a secret, and the body is read once whatever the number of keys.

mod support;

use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use authenteq_export::store::{FolderSink, MANIFEST_JSON};
use authenteq_export::webhook::{Receiver, WebhookKey, CLIENT_ID_HEADER, SIGNATURE_HEADER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use bytes::Bytes;
use futures::Stream;
use support::export::{face_part, multipart_body, result_part};

const CLIENT_ID: &str = "rotating-client";
const NEW_SECRET: &str = "new-secret-never-logged-7c1";
const OLD_SECRET: &str = "old-secret-never-logged-4b2";

fn keys() -> [WebhookKey; 2] {
    [
        WebhookKey::new(CLIENT_ID, NEW_SECRET).label("current"),
        WebhookKey::new(CLIENT_ID, OLD_SECRET).label("previous"),
    ]
}

fn body_of(id: &str) -> Vec<u8> {
    let json = format!(r#"{{"id":"{id}","platform":"WEB"}}"#);
    multipart_body(&[result_part(json.as_bytes()), face_part()])
}

fn headers(signature: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("content-type", "multipart/mixed; boundary=b"),
        (CLIENT_ID_HEADER, CLIENT_ID),
        (SIGNATURE_HEADER, signature),
    ] {
        headers.insert(name, HeaderValue::from_str(value).unwrap());
    }
    headers
}

/// `body` in chunks of 100 bytes, counting every byte polled out of it into `read`.
struct Counted {
    chunks: std::vec::IntoIter<Bytes>,
    read: Arc<AtomicU64>,
}

impl Stream for Counted {
    type Item = Result<Bytes, std::io::Error>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.chunks.next();
        if let Some(chunk) = &next {
            self.read.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        Poll::Ready(next.map(Ok))
    }
}

fn counted(body: &[u8], read: &Arc<AtomicU64>) -> Counted {
    let chunks: Vec<Bytes> = body.chunks(100).map(Bytes::copy_from_slice).collect();
    Counted {
        chunks: chunks.into_iter(),
        read: Arc::clone(read),
    }
}

fn stored(root: &Path, id: &str) -> bool {
    root.join(id).join(MANIFEST_JSON).is_file()
}

#[test]
fn a_delivery_signed_with_either_secret_is_stored_and_the_log_names_the_key() {
    let log = support::log::global();
    let folder = tempfile::tempdir().unwrap();
    let receiver = Receiver::builder(FolderSink::create(folder.path()).unwrap())
        .keys(keys())
        .build()
        .unwrap();
    let shown = format!("{receiver:?}");
    support::runtime().block_on(async {
        for (key, id) in keys().iter().zip(["rot-current-1", "rot-previous-1"]) {
            let body = body_of(id);
            let read = Arc::new(AtomicU64::new(0));
            let answer = receiver
                .receive(&headers(&key.sign(&body)), counted(&body, &read))
                .await;
            assert_eq!(answer.status(), StatusCode::OK, "{id}");
            assert!(stored(folder.path(), id), "{id}");
            // One pass over the body, whatever the number of keys.
            assert_eq!(read.load(Ordering::Relaxed), body.len() as u64);
        }
        let body = body_of("rot-neither-1");
        let neither = WebhookKey::new(CLIENT_ID, "a-third-secret").sign(&body);
        let read = Arc::new(AtomicU64::new(0));
        let answer = receiver
            .receive(&headers(&neither), counted(&body, &read))
            .await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(read.load(Ordering::Relaxed), body.len() as u64);
        assert!(!folder.path().join("rot-neither-1").exists());
    });
    let text = log.text();
    let line = |id: &str| {
        text.lines()
            .find(|line| line.contains(id))
            .unwrap_or_else(|| panic!("no line for {id} in {text}"))
            .to_owned()
    };
    assert!(line("rot-current-1").contains(r#"key="current""#), "{text}");
    assert!(
        line("rot-previous-1").contains(r#"key="previous""#),
        "{text}"
    );
    assert!(text.contains("status=401"), "{text}");
    for secret in [NEW_SECRET, OLD_SECRET] {
        assert!(!text.contains(secret), "{text}");
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn keys_without_labels_are_named_by_position_and_key_adds_one() {
    let log = support::log::global();
    let folder = tempfile::tempdir().unwrap();
    let plain = [
        WebhookKey::new(CLIENT_ID, NEW_SECRET),
        WebhookKey::new(CLIENT_ID, OLD_SECRET),
    ];
    // `key` called twice keeps both.
    let receiver = Receiver::builder(FolderSink::create(folder.path()).unwrap())
        .key(plain[0].clone())
        .key(plain[1].clone())
        .build()
        .unwrap();
    support::runtime().block_on(async {
        let body = body_of("rot-position-1");
        let read = Arc::new(AtomicU64::new(0));
        let answer = receiver
            .receive(&headers(&plain[1].sign(&body)), counted(&body, &read))
            .await;
        assert_eq!(answer.status(), StatusCode::OK);
    });
    let text = log.text();
    let line = text
        .lines()
        .find(|line| line.contains("rot-position-1"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains(r#"key="1""#), "{line}");
    // No key at all is a usage error.
    let err = Receiver::builder(FolderSink::create(folder.path()).unwrap())
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), authenteq_export::ErrorKind::Usage);
}
