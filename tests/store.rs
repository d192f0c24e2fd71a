//! The `store` module against `object_store`'s in-memory store and a local folder, with the
//! API emulator on loopback: staging and commit, discard, skipping complete ids, two writers
//! of one id, a store that fails uploads, and which errors stop a batch.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use authenteq_export::client::{Client, Endpoint};
use authenteq_export::export::VerificationId;
use authenteq_export::server::Emulator;
use authenteq_export::store::{
    fetch_into, Batch, Committed, FolderSink, ObjectSink, Sink, Staging, Status, MANIFEST_JSON,
};
use authenteq_export::ErrorKind;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::memory::InMemory;
use object_store::path::Path as Key;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};
use support::generate::Noise;
use support::object::{Hooked, Hooks};

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Every key of `store` with its bytes.
async fn contents(store: &dyn ObjectStore) -> BTreeMap<String, Bytes> {
    let metas: Vec<ObjectMeta> = store.list(None).try_collect().await.unwrap();
    let mut out = BTreeMap::new();
    for meta in metas {
        let bytes = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        out.insert(meta.location.to_string(), bytes);
    }
    out
}

/// Verifications `id` with a result and an image of `image_len` bytes, under `dir`.
fn verification(dir: &Path, id: &str, image_len: usize) -> Vec<u8> {
    let folder = dir.join(id);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("result.json"), format!(r#"{{"id":"{id}"}}"#)).unwrap();
    let mut image = vec![0u8; image_len];
    Noise::new(image_len as u64).fill(&mut image);
    std::fs::write(folder.join("faceImage.jpeg"), &image).unwrap();
    image
}

fn client(url: &str, secret: &str) -> Client {
    Client::builder()
        .credentials("client-id", secret)
        .base_url(url)
        .retries(3)
        .backoff_base(Duration::from_millis(1))
        .backoff_cap(Duration::from_millis(5))
        .build()
        .unwrap()
}

#[test]
fn nothing_is_listed_before_commit_and_a_discard_leaves_nothing() {
    runtime().block_on(async {
        let memory = Arc::new(InMemory::new());
        // Tiny parts: a 100,000-byte file goes as a multipart upload of 7 parts.
        let sink = ObjectSink::new(memory.clone(), "pre")
            .part_size(16 << 10)
            .hold_bytes(0);
        let mut image = vec![0u8; 100_000];
        Noise::new(1).fill(&mut image);

        let mut staging = sink.stage(&support::vid("v1")).await.unwrap();
        staging
            .start_file("faceImage.jpeg", Some("image/jpeg"))
            .await
            .unwrap();
        for chunk in image.chunks(7_777) {
            staging.write(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        staging.end_file().await.unwrap();
        staging
            .start_file("result.json", Some("application/json"))
            .await
            .unwrap();
        staging
            .write(Bytes::from_static(br#"{"id":"v1"}"#))
            .await
            .unwrap();
        staging.end_file().await.unwrap();
        assert!(contents(&*memory).await.is_empty(), "visible before commit");
        staging.discard().await;
        assert!(contents(&*memory).await.is_empty(), "visible after discard");
        assert_eq!(sink.manifest(&support::vid("v1")).await.unwrap(), None);

        let mut staging = sink.stage(&support::vid("v1")).await.unwrap();
        staging
            .start_file("faceImage.jpeg", Some("image/jpeg"))
            .await
            .unwrap();
        for chunk in image.chunks(7_777) {
            staging.write(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        staging.end_file().await.unwrap();
        // Names are unique in a verification; manifest.json is nobody's.
        staging.start_file(MANIFEST_JSON, None).await.unwrap();
        staging.write(Bytes::from_static(b"x")).await.unwrap();
        staging.end_file().await.unwrap();
        let committed = staging.commit().await.unwrap();
        let Committed::Stored(manifest) = committed else {
            panic!("{committed:?}")
        };
        let stored = contents(&*memory).await;
        let keys: Vec<&str> = stored.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "pre/v1/faceImage.jpeg",
                "pre/v1/manifest-2.json",
                "pre/v1/manifest.json"
            ]
        );
        assert_eq!(stored["pre/v1/faceImage.jpeg"], image);
        let face = manifest.file("faceImage.jpeg").unwrap();
        assert_eq!(face.sha256(), sha256_hex(&image));
        assert_eq!(
            (face.size(), face.content_type()),
            (100_000, Some("image/jpeg"))
        );
        let attrs = memory
            .get(&Key::from("pre/v1/faceImage.jpeg"))
            .await
            .unwrap()
            .attributes;
        assert_eq!(
            attrs
                .get(&object_store::Attribute::ContentType)
                .map(|v| v.as_ref()),
            Some("image/jpeg")
        );
        assert_eq!(
            sink.manifest(&support::vid("v1")).await.unwrap(),
            Some(manifest)
        );

        // Misuse and hostile names are errors, not panics.
        let mut staging = sink.stage(&support::vid("v2")).await.unwrap();
        assert_eq!(
            staging
                .write(Bytes::from_static(b"x"))
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::Usage
        );
        assert_eq!(
            staging.start_file("../x", None).await.unwrap_err().kind(),
            ErrorKind::UnsafeName
        );
        staging.start_file("a.bin", None).await.unwrap();
        assert_eq!(staging.commit().await.unwrap_err().kind(), ErrorKind::Usage);
        assert_eq!(
            VerificationId::new("..").unwrap_err().kind(),
            ErrorKind::InvalidId
        );
        assert!(contents(&*memory)
            .await
            .keys()
            .all(|k| k.starts_with("pre/v1/")));
    });
}

#[test]
fn a_verification_is_fetched_into_memory_then_skipped() {
    let rt = runtime();
    rt.block_on(async {
        let data = tempfile::tempdir().unwrap();
        let image = verification(data.path(), "v-1", 70_000);
        let api = Emulator::builder(data.path())
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let client = client(&api.url(), "client-secret");
        let memory = Arc::new(InMemory::new());
        let sink = ObjectSink::new(memory.clone(), "")
            .part_size(32 << 10)
            .hold_bytes(1 << 10);
        for endpoint in [Endpoint::Multipart, Endpoint::Json] {
            let stored = fetch_into(&client, endpoint, &support::vid("v-1"), &sink)
                .await
                .unwrap();
            let first = endpoint == Endpoint::Multipart;
            assert_eq!(stored.skipped(), !first, "{endpoint}");
            assert_eq!(stored.attempts(), u32::from(first));
        }
        let stored = contents(&*memory).await;
        assert_eq!(stored["v-1/faceImage.jpeg"], image);
        let manifest: serde_json::Value =
            serde_json::from_slice(&stored["v-1/manifest.json"]).unwrap();
        assert_eq!(manifest["id"], "v-1");
        assert_eq!(manifest["files"][0]["name"], "result.json");
        assert_eq!(manifest["files"][0]["contentType"], "application/json");
        assert_eq!(manifest["files"][1]["sha256"], sha256_hex(&image));

        let err = fetch_into(&client, Endpoint::Multipart, &support::vid("absent"), &sink)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Api);
        assert!(!err.is_credentials());
        api.shutdown().await.unwrap();
    });
}

#[test]
fn the_folder_sink_keeps_the_same_contract() {
    runtime().block_on(async {
        let data = tempfile::tempdir().unwrap();
        let image = verification(data.path(), "v-2", 30_000);
        let api = Emulator::builder(data.path())
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let client = client(&api.url(), "client-secret");
        let out = tempfile::tempdir().unwrap();
        let sink = FolderSink::create(out.path()).unwrap();

        let mut staging = sink.stage(&support::vid("v-3")).await.unwrap();
        staging.start_file("a.bin", None).await.unwrap();
        staging.write(Bytes::from_static(b"abc")).await.unwrap();
        staging.end_file().await.unwrap();
        staging.discard().await;
        assert!(!out.path().join("v-3").exists(), "a discard left a folder");

        let stored = fetch_into(&client, Endpoint::Multipart, &support::vid("v-2"), &sink)
            .await
            .unwrap();
        assert!(!stored.skipped());
        assert_eq!(
            std::fs::read(out.path().join("v-2/faceImage.jpeg")).unwrap(),
            image
        );
        let manifest = sink.manifest(&support::vid("v-2")).await.unwrap().unwrap();
        assert_eq!(&manifest, stored.manifest());
        assert_eq!(
            manifest.file("faceImage.jpeg").unwrap().sha256(),
            sha256_hex(&image)
        );
        let again = fetch_into(&client, Endpoint::Multipart, &support::vid("v-2"), &sink)
            .await
            .unwrap();
        assert!(again.skipped());
        api.shutdown().await.unwrap();
    });
}

#[test]
fn two_writers_racing_on_one_id_end_with_one_manifest() {
    runtime().block_on(async {
        let data = tempfile::tempdir().unwrap();
        let image = verification(data.path(), "race", 200_000);
        let api = Emulator::builder(data.path())
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let client = client(&api.url(), "client-secret");
        let memory = Arc::new(InMemory::new());
        let sink = ObjectSink::new(memory.clone(), "r")
            .part_size(32 << 10)
            .hold_bytes(0);
        let folder = tempfile::tempdir().unwrap();
        let folder_sink = FolderSink::create(folder.path()).unwrap();
        for _ in 0..5 {
            let writers: Vec<_> = (0..4)
                .map(|_| {
                    let (client, sink, folder_sink) =
                        (client.clone(), sink.clone(), folder_sink.clone());
                    tokio::spawn(async move {
                        let a =
                            fetch_into(&client, Endpoint::Multipart, &support::vid("race"), &sink)
                                .await;
                        let b = fetch_into(
                            &client,
                            Endpoint::Multipart,
                            &support::vid("race"),
                            &folder_sink,
                        )
                        .await;
                        (a.unwrap(), b.unwrap())
                    })
                })
                .collect();
            let mut stored = (0, 0);
            for writer in writers {
                let (a, b) = writer.await.unwrap();
                stored.0 += usize::from(!a.skipped());
                stored.1 += usize::from(!b.skipped());
            }
            assert!(stored.0 <= 4 && stored.1 <= 4);
            let objects = contents(&*memory).await;
            let keys: Vec<&str> = objects.keys().map(String::as_str).collect();
            assert_eq!(
                keys,
                [
                    "r/race/faceImage.jpeg",
                    "r/race/manifest.json",
                    "r/race/result.json"
                ]
            );
            let manifest: serde_json::Value =
                serde_json::from_slice(&objects["r/race/manifest.json"]).unwrap();
            for file in manifest["files"].as_array().unwrap() {
                let bytes = &objects[&format!("r/race/{}", file["name"].as_str().unwrap())];
                assert_eq!(file["sha256"], sha256_hex(bytes));
            }
            assert_eq!(objects["r/race/faceImage.jpeg"], image);
            let names: Vec<String> = std::fs::read_dir(folder.path().join("race"))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            assert_eq!(names.len(), 3, "{names:?}");
        }
        api.shutdown().await.unwrap();
    });
}

/// Fails some writes of a [`Hooked`] store: the first `fail_puts` puts, and every multipart
/// part while `parts_fail` is set.
#[derive(Debug, Default)]
struct Flaky {
    fail_puts: AtomicUsize,
    parts_fail: bool,
    parts_tried: AtomicUsize,
}

fn refused() -> object_store::Error {
    object_store::Error::Generic {
        store: "Flaky",
        source: "503 Slow Down (injected)".into(),
    }
}

impl Hooks for Flaky {
    fn put(&self) -> object_store::Result<()> {
        let left = self.fail_puts.load(Ordering::SeqCst);
        let failed = left > 0
            && self
                .fail_puts
                .compare_exchange(left, left - 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok();
        if failed {
            Err(refused())
        } else {
            Ok(())
        }
    }

    fn part(&self) -> object_store::Result<()> {
        self.parts_tried.fetch_add(1, Ordering::SeqCst);
        if self.parts_fail {
            Err(refused())
        } else {
            Ok(())
        }
    }
}

#[test]
fn failed_uploads_are_retried_and_what_cannot_be_stored_is_reported_with_nothing_visible() {
    runtime().block_on(async {
        let data = tempfile::tempdir().unwrap();
        let mut ids = Vec::new();
        for i in 0..6 {
            let id = format!("f-{i}");
            verification(data.path(), &id, 50_000 + i);
            ids.push(id);
        }
        let api = Emulator::builder(data.path())
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let client = client(&api.url(), "client-secret");

        // Two refused puts: each costs its verification a restart, within the retries.
        let flaky = Arc::new(Hooked::new(Flaky {
            fail_puts: AtomicUsize::new(2),
            ..Flaky::default()
        }));
        let sink = ObjectSink::new(flaky.clone(), "")
            .part_size(16 << 10)
            .hold_bytes(1 << 20);
        let mut outcomes = Vec::new();
        let summary = Batch::new()
            .concurrency(3)
            .run(&client, Endpoint::Multipart, &sink, ids.clone(), |o| {
                outcomes.push(o.clone())
            })
            .await;
        assert_eq!((summary.stored, summary.failed), (6, 0), "{outcomes:?}");
        assert!(
            outcomes.iter().map(|o| o.attempts()).sum::<u32>() >= 8,
            "{outcomes:?}"
        );
        assert_eq!(contents(&flaky.inner).await.len(), 6 * 3);

        // Every part refused: the retries run out, the ids fail, nothing is visible.
        let broken = Arc::new(Hooked::new(Flaky {
            parts_fail: true,
            ..Flaky::default()
        }));
        let sink = ObjectSink::new(broken.clone(), "")
            .part_size(16 << 10)
            .hold_bytes(0);
        let mut outcomes = Vec::new();
        let summary = Batch::new()
            .concurrency(2)
            .run(
                &client,
                Endpoint::Multipart,
                &sink,
                ids[..2].to_vec(),
                |o| outcomes.push(o.clone()),
            )
            .await;
        assert_eq!((summary.stored, summary.failed), (0, 2));
        for outcome in &outcomes {
            assert_eq!(outcome.status(), Status::Failed);
            assert_eq!(outcome.error().unwrap().kind(), ErrorKind::Storage);
            let cause = std::error::Error::source(outcome.error().unwrap()).map(|c| c.to_string());
            assert!(
                cause.is_some_and(|c| c.contains("injected")),
                "{:?}",
                outcome.error()
            );
        }
        assert!(broken.hooks.parts_tried.load(Ordering::SeqCst) >= 2 * 4);
        assert!(contents(&broken.inner).await.is_empty());
        api.shutdown().await.unwrap();
    });
}

#[test]
fn api_errors_fail_one_id_and_refused_credentials_stop_the_batch() {
    runtime().block_on(async {
        let data = tempfile::tempdir().unwrap();
        for i in 0..4 {
            verification(data.path(), &format!("c-{i}"), 1000);
        }
        let api = Emulator::builder(data.path())
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let memory = Arc::new(InMemory::new());
        let sink = ObjectSink::new(memory.clone(), "");
        let ids: Vec<String> = ["c-0", "missing", "c-1", "../up", "c-2", "c-3"]
            .map(String::from)
            .to_vec();

        let mut outcomes = Vec::new();
        let summary = Batch::new()
            .concurrency(2)
            .rate(1000.0)
            .run(
                &client(&api.url(), "client-secret"),
                Endpoint::Json,
                &sink,
                ids.clone(),
                |o| outcomes.push(o.clone()),
            )
            .await;
        assert_eq!((summary.stored, summary.failed, summary.skipped), (4, 2, 0));
        assert!(summary.stopped.is_none());
        let failed: BTreeMap<&str, ErrorKind> = outcomes
            .iter()
            .filter(|o| o.status() == Status::Failed)
            .map(|o| (o.id(), o.error().unwrap().kind()))
            .collect();
        assert_eq!(
            failed,
            BTreeMap::from([("../up", ErrorKind::InvalidId), ("missing", ErrorKind::Api)])
        );

        let mut outcomes = Vec::new();
        let other = ObjectSink::new(Arc::new(InMemory::new()), "");
        let many: Vec<String> = (0..200).map(|i| format!("c-{}", i % 4)).collect();
        let summary = Batch::new()
            .concurrency(2)
            .run(
                &client(&api.url(), "wrong-secret"),
                Endpoint::Json,
                &other,
                many,
                |o| outcomes.push(o.clone()),
            )
            .await;
        let stopped = summary.stopped.expect("refused credentials stop the batch");
        assert!(stopped.is_credentials());
        assert!(!stopped.to_string().contains("wrong-secret"));
        assert!(
            outcomes.len() < 10,
            "{} ids tried after the credentials were refused",
            outcomes.len()
        );
        api.shutdown().await.unwrap();
    });
}

#[test]
fn debug_output_shows_no_id() {
    runtime().block_on(async {
        let sink = ObjectSink::new(Arc::new(InMemory::new()), "p");
        let mut staging = sink.stage(&support::vid("personal-id-123")).await.unwrap();
        staging.start_file("result.json", None).await.unwrap();
        staging.write(Bytes::from_static(b"{}")).await.unwrap();
        staging.end_file().await.unwrap();
        assert!(!format!("{staging:?}").contains("personal-id-123"));
        let manifest = staging.commit().await.unwrap();
        assert!(!format!("{manifest:?}").contains("personal-id-123"));
        assert_eq!(manifest.manifest().id(), "personal-id-123");
        let _ = futures::stream::iter([0]).boxed();
    });
}

/// The webhook receiver keeps verified deliveries in a sink with this same contract: the
/// sample delivery into memory, then a repeat, a forged signature and a cut body.
#[test]
fn the_webhook_receiver_stores_verified_deliveries_into_a_sink() {
    use authenteq_export::multipart::Boundary;
    use authenteq_export::webhook::{Receiver, WebhookKey, CLIENT_ID_HEADER, SIGNATURE_HEADER};
    use axum::http::{HeaderMap, HeaderValue, StatusCode};

    const SECRET: &str = "receiver-secret-never-shown";
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/corpus/verification-result.multipart"
    ))
    .unwrap();
    let content_type = Boundary::sniff(&body).unwrap().content_type("mixed");
    let key = WebhookKey::new("hook-client", SECRET);
    let headers = |signature: &str| {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("content-type", content_type.as_str()),
            (CLIENT_ID_HEADER, "hook-client"),
            (SIGNATURE_HEADER, signature),
        ] {
            headers.insert(name, HeaderValue::from_str(value).unwrap());
        }
        headers
    };
    let chunks = |body: &[u8]| {
        let pieces: Vec<Result<Bytes, std::io::Error>> = body
            .chunks(1000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures::stream::iter(pieces)
    };
    runtime().block_on(async {
        let memory = Arc::new(InMemory::new());
        let sink = ObjectSink::new(memory.clone(), "hooks");
        let receiver = Receiver::builder(sink.clone())
            .key(key.clone())
            .build()
            .unwrap();
        assert!(!format!("{receiver:?}").contains(SECRET));

        let signed = headers(&key.sign(&body));
        let answer = receiver.receive(&signed, chunks(&body)).await;
        assert_eq!(answer.status(), StatusCode::OK);
        let stored = contents(&*memory).await;
        let manifest = sink
            .manifest(&support::vid("8c3f6a2e-5b1d-4e7a-9f20-6d4b2c1a7e95"))
            .await
            .unwrap()
            .expect("a manifest");
        // Every file the manifest lists, and nothing else, with its hash; the result first.
        assert_eq!(manifest.files()[0].name(), "result.json");
        assert_eq!(stored.len(), manifest.files().len() + 1);
        for file in manifest.files() {
            let bytes = &stored[&format!("hooks/{}/{}", manifest.id(), file.name())];
            assert_eq!(file.sha256(), sha256_hex(bytes), "{}", file.name());
            let declared = if file.name().ends_with(".pdf") {
                "application/pdf"
            } else if file.name().ends_with(".json") {
                "application/json"
            } else {
                "image/jpeg"
            };
            assert_eq!(file.content_type(), Some(declared), "{}", file.name());
        }

        // A repeat is told it is stored; nothing is written again.
        let answer = receiver.receive(&signed, chunks(&body)).await;
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(contents(&*memory).await, stored);

        // Into an empty sink: a forged signature and a cut body leave nothing.
        let empty = Arc::new(InMemory::new());
        let receiver = Receiver::builder(ObjectSink::new(empty.clone(), "hooks"))
            .key(key.clone())
            .build()
            .unwrap();
        let forged = headers(&WebhookKey::new("hook-client", "wrong").sign(&body));
        let answer = receiver.receive(&forged, chunks(&body)).await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        let cut = &body[..body.len() - 10];
        let answer = receiver.receive(&signed, chunks(cut)).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
        assert!(contents(&*empty).await.is_empty());
    });
}
