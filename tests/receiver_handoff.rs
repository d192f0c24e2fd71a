#![cfg(all(feature = "webhook-receiver", feature = "object-store"))]
//! The receiver hands each stored verification to the application at least once
//! (`ReceiverBuilder::on_stored`): after the commit, before the answer; `200` once the handler
//! succeeded (and the `handled.json` marker is written), `500` on its error, panic or timeout;
//! a repeat calls it again until it succeeds, and never after.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authenteq_export::store::{FolderSink, ObjectSink, Sink, HANDLED_JSON, MANIFEST_JSON};
use authenteq_export::webhook::{
    Receiver, StoredVerification, WebhookKey, CLIENT_ID_HEADER, SIGNATURE_HEADER,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use bytes::Bytes;
use object_store::memory::InMemory;
use object_store::ObjectStoreExt;
use support::export::{face_part, multipart_body, result_part, JPEG};

const CLIENT_ID: &str = "handoff-client";
const SECRET: &str = "handoff-secret-never-logged";

fn key() -> WebhookKey {
    WebhookKey::new(CLIENT_ID, SECRET)
}

fn body_of(id: &str) -> Vec<u8> {
    let json = format!(r#"{{"id":"{id}","platform":"WEB"}}"#);
    multipart_body(&[result_part(json.as_bytes()), face_part()])
}

/// Delivers `body`, signed, to `receiver`: the status.
async fn deliver<S>(receiver: &Receiver<S>, body: &[u8]) -> StatusCode
where
    S: Sink + std::fmt::Debug + 'static,
    S::Staging: 'static,
{
    let mut headers = HeaderMap::new();
    let signature = key().sign(body);
    for (name, value) in [
        ("content-type", "multipart/mixed; boundary=b"),
        (CLIENT_ID_HEADER, CLIENT_ID),
        (SIGNATURE_HEADER, signature.as_str()),
    ] {
        headers.insert(name, HeaderValue::from_str(value).unwrap());
    }
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(64)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    receiver
        .receive(&headers, futures::stream::iter(chunks))
        .await
        .status()
}

/// What a handler does on its `n`th call (from 1).
#[derive(Clone, Copy)]
enum Then {
    Succeed,
    Fail,
    Panic,
    Hang,
}

/// A handler that does `plan[n - 1]` on call `n` (then succeeds), counting its calls and
/// checking that every file it is told of is readable, whole, at its location.
fn handler(
    plan: Vec<Then>,
    calls: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<StoredVerification>>>,
) -> impl Fn(
    StoredVerification,
)
    -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), std::io::Error>> + Send>>
       + Send
       + Sync
       + 'static {
    move |stored: StoredVerification| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        seen.lock().unwrap().push(stored);
        let then = plan.get(n).copied().unwrap_or(Then::Succeed);
        Box::pin(async move {
            match then {
                Then::Succeed => Ok(()),
                Then::Fail => Err(std::io::Error::other("the application is down")),
                Then::Panic => panic!("the handler panics"),
                Then::Hang => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Ok(())
                }
            }
        })
    }
}

struct Setup {
    folder: tempfile::TempDir,
    receiver: Receiver<FolderSink>,
    calls: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<StoredVerification>>>,
}

fn setup(plan: Vec<Then>) -> Setup {
    let folder = tempfile::tempdir().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let receiver = Receiver::builder(FolderSink::create(folder.path()).unwrap())
        .key(key())
        .on_stored(handler(plan, Arc::clone(&calls), Arc::clone(&seen)))
        .handler_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    Setup {
        folder,
        receiver,
        calls,
        seen,
    }
}

fn marker(root: &Path, id: &str) -> bool {
    root.join(id).join(HANDLED_JSON).is_file()
}

fn manifest(root: &Path, id: &str) -> bool {
    root.join(id).join(MANIFEST_JSON).is_file()
}

#[test]
fn a_handled_verification_is_answered_200_marked_and_never_handed_again() {
    let s = setup(vec![Then::Succeed]);
    let body = body_of("handoff-ok-1");
    support::runtime().block_on(async {
        assert_eq!(deliver(&s.receiver, &body).await, StatusCode::OK);
        assert_eq!(s.calls.load(Ordering::SeqCst), 1);
        assert!(marker(s.folder.path(), "handoff-ok-1"));
        // The handler was given the typed result, the manifest and where each file is.
        let seen = s.seen.lock().unwrap().clone();
        let stored = &seen[0];
        assert_eq!(stored.id().as_str(), "handoff-ok-1");
        assert_eq!(stored.result().id, "handoff-ok-1");
        assert!(stored.newly_stored());
        let names: Vec<&str> = stored.files().map(|(file, _)| file.name()).collect();
        assert_eq!(names, ["result.json", "faceImage.jpeg"]);
        for (file, location) in stored.files() {
            let bytes = std::fs::read(location).unwrap();
            assert_eq!(support::sha256_hex(&bytes), file.sha256(), "{location}");
            assert!(location.starts_with(&*s.folder.path().to_string_lossy()));
        }
        assert_eq!(
            std::fs::read(stored.files().nth(1).unwrap().1).unwrap(),
            JPEG
        );
        let marker_json: serde_json::Value = serde_json::from_slice(
            &std::fs::read(s.folder.path().join("handoff-ok-1").join(HANDLED_JSON)).unwrap(),
        )
        .unwrap();
        assert_eq!(marker_json["id"], "handoff-ok-1");
        assert!(marker_json["handledAt"].is_string());
        // The debug output holds no id and no result.
        assert!(!format!("{stored:?}").contains("handoff-ok-1"));

        // A repeat after success: 200, no call.
        assert_eq!(deliver(&s.receiver, &body).await, StatusCode::OK);
        assert_eq!(s.calls.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn a_failed_hand_off_is_500_and_the_repeat_calls_again_until_it_succeeds() {
    let s = setup(vec![Then::Fail, Then::Fail]);
    let body = body_of("handoff-fail-1");
    support::runtime().block_on(async {
        assert_eq!(
            deliver(&s.receiver, &body).await,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        // Stored all the same, not marked.
        assert!(manifest(s.folder.path(), "handoff-fail-1"));
        assert!(!marker(s.folder.path(), "handoff-fail-1"));
        // A repeat is not stored again, but handed over again.
        assert_eq!(
            deliver(&s.receiver, &body).await,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(s.calls.load(Ordering::SeqCst), 2);
        assert_eq!(deliver(&s.receiver, &body).await, StatusCode::OK);
        assert_eq!(s.calls.load(Ordering::SeqCst), 3);
        assert!(marker(s.folder.path(), "handoff-fail-1"));
        let seen = s.seen.lock().unwrap().clone();
        assert!(seen[0].newly_stored());
        assert!(!seen[1].newly_stored() && !seen[2].newly_stored());
        assert_eq!(seen[0].manifest(), seen[2].manifest());
        // And never after.
        assert_eq!(deliver(&s.receiver, &body).await, StatusCode::OK);
        assert_eq!(s.calls.load(Ordering::SeqCst), 3);
    });
}

#[test]
fn a_panicking_handler_is_500_and_the_receiver_goes_on() {
    let s = setup(vec![Then::Panic]);
    let body = body_of("handoff-panic-1");
    support::runtime().block_on(async {
        assert_eq!(
            deliver(&s.receiver, &body).await,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert!(!marker(s.folder.path(), "handoff-panic-1"));
        assert_eq!(deliver(&s.receiver, &body).await, StatusCode::OK);
        assert_eq!(s.calls.load(Ordering::SeqCst), 2);
        assert!(marker(s.folder.path(), "handoff-panic-1"));
    });
}

#[test]
fn a_handler_over_its_timeout_is_500() {
    let s = setup(vec![Then::Hang]);
    let body = body_of("handoff-slow-1");
    support::runtime().block_on(async {
        let started = Instant::now();
        assert_eq!(
            deliver(&s.receiver, &body).await,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert!(!marker(s.folder.path(), "handoff-slow-1"));
        assert_eq!(deliver(&s.receiver, &body).await, StatusCode::OK);
        assert!(marker(s.folder.path(), "handoff-slow-1"));
    });
}

#[test]
fn the_log_says_how_the_hand_off_went_never_what_the_handler_said() {
    let log = support::log::global();
    let s = setup(vec![Then::Fail]);
    let body = body_of("handoff-log-1");
    support::runtime().block_on(async {
        deliver(&s.receiver, &body).await;
        deliver(&s.receiver, &body).await;
    });
    let text = log.text();
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("handoff-log-1"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains(r#"outcome="hand-off failed""#) && lines[0].contains("status=500"),
        "{text}"
    );
    assert!(lines[1].contains(r#"handoff="done""#), "{text}");
    assert!(!text.contains("the application is down"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

#[test]
fn into_an_object_store_the_locations_are_keys_and_the_marker_an_object() {
    let memory = Arc::new(InMemory::new());
    let sink = ObjectSink::new(memory.clone(), "hooks");
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let receiver = Receiver::builder(sink.clone())
        .key(key())
        .on_stored(handler(vec![], Arc::clone(&calls), Arc::clone(&seen)))
        .build()
        .unwrap();
    let body = body_of("handoff-s3-1");
    support::runtime().block_on(async {
        assert_eq!(deliver(&receiver, &body).await, StatusCode::OK);
        let id = support::vid("handoff-s3-1");
        assert!(sink.is_handled(&id).await.unwrap());
        let seen = seen.lock().unwrap().clone();
        let locations: Vec<&str> = seen[0].files().map(|(_, location)| location).collect();
        assert_eq!(
            locations,
            [
                "hooks/handoff-s3-1/result.json",
                "hooks/handoff-s3-1/faceImage.jpeg"
            ]
        );
        for (file, location) in seen[0].files() {
            let bytes = memory
                .get(&object_store::path::Path::from(location))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert_eq!(support::sha256_hex(&bytes), file.sha256());
        }
        // The marker is written once: a second write finds it.
        assert!(!sink.mark_handled(&id).await.unwrap());
        assert_eq!(deliver(&receiver, &body).await, StatusCode::OK);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    });
}
