//! Two `webhook serve --forward-to` replicas storing into one S3 prefix (`moto_server`, started
//! here on loopback), with no coordinator but the store: one verification delivered to both at
//! once, 50 spread over both, and a replica killed with SIGKILL in the middle of a delivery's
//! body, whose redelivery to the other one completes the id. Each id ends with one manifest,
//! every file as it says, and at least one event handed to the application.

mod forward_app;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use authenteq_export::webhook::{RetrySchedule, Sender, WebhookKey};
use forward_app::App;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};
use support::generate::Noise;
use support::moto::Moto;

const CLIENT_ID: &str = "replica-client";
const CLIENT_SECRET: &str = "replica-secret-never-printed";
const FORWARD_SECRET: &str = "whsec_Zm9yd2FyZC1zZWNyZXQtMzItYnl0ZXMtbG9uZy1vaw==";
const BUCKET: &str = "replicas";
const PREFIX: &str = "hooks";
const KILLED_ID: &str = "replica-killed";

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The corpus's sample as `split` lays it out, under `root/sample/`.
fn sample(root: &Path) -> PathBuf {
    use authenteq_export::export::blocking::Export;
    use authenteq_export::save::{blocking::save_export, OutputDir};
    let dir = root.join("sample");
    let body = std::fs::File::open(support::corpus_path("verification-result.multipart")).unwrap();
    save_export(
        &mut Export::new(body, None).unwrap(),
        &OutputDir::create(&dir).unwrap(),
    )
    .unwrap();
    dir
}

/// A copy of the sample as verification `id`: `root/<id>/`, its result's id changed.
fn sample_as(sample: &Path, root: &Path, id: &str) -> PathBuf {
    let dir = root.join(id);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(sample).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "result.json" {
            let mut result: serde_json::Value =
                serde_json::from_slice(&std::fs::read(entry.path()).unwrap()).unwrap();
            result["id"] = id.into();
            std::fs::write(dir.join(name), serde_json::to_vec(&result).unwrap()).unwrap();
        } else {
            std::fs::copy(entry.path(), dir.join(name)).unwrap();
        }
    }
    dir
}

/// A loopback address where nothing listens: the instance-metadata endpoint, so that no
/// credential lookup leaves loopback.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// One `webhook serve` replica into `s3://BUCKET/PREFIX`, forwarding to `app`.
fn replica(moto: &Moto, app: &App) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_authenteq-export"));
    cmd.env("AUTHENTEQ_CLIENT_SECRET", CLIENT_SECRET)
        .env("AUTHENTEQ_FORWARD_SECRET", FORWARD_SECRET)
        .env("AWS_METADATA_ENDPOINT", closed_port())
        .env_remove("AUTHENTEQ_CLIENT_SECRET_PREVIOUS")
        .env_remove("RUST_LOG");
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    let mut child = cmd
        .args([
            "webhook",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--client-id",
            CLIENT_ID,
        ])
        .args(["--out", &format!("s3://{BUCKET}/{PREFIX}")])
        .args(["--forward-to", &app.url("/events")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = support::listening_url(&mut child);
    (child, url)
}

fn sender() -> Sender {
    Sender::builder(WebhookKey::new(CLIENT_ID, CLIENT_SECRET))
        .retry(RetrySchedule::NONE)
        .build()
        .unwrap()
}

/// Every object under `prefix`: its key, with its bytes' SHA-256 and size.
async fn objects(store: &dyn ObjectStore, prefix: &str) -> BTreeMap<String, (String, u64)> {
    let metas: Vec<_> = store
        .list(Some(&object_store::path::Path::from(prefix)))
        .try_collect()
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for meta in metas {
        let bytes = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        out.insert(
            meta.location.to_string(),
            (sha256_hex(&bytes), bytes.len() as u64),
        );
    }
    out
}

/// A signed delivery of `dir` (its `result.json` and `livenessFaceImage.jpeg`) as raw
/// HTTP/1.1: the head and the whole body, and where the image's bytes start.
fn raw_delivery(dir: &Path) -> (Vec<u8>, usize) {
    let boundary = "replica-boundary";
    let result = std::fs::read(dir.join("result.json")).unwrap();
    let image = std::fs::read(dir.join("livenessFaceImage.jpeg")).unwrap();
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"result\"; filename=\"result.json\"\r\n\
         Content-Type: application/json\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&result);
    body.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"livenessFaceImage\"; \
             filename=\"livenessFaceImage.jpeg\"\r\nContent-Type: image/jpeg\r\n\r\n"
        )
        .as_bytes(),
    );
    let image_at = body.len();
    body.extend_from_slice(&image);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let signature = WebhookKey::new(CLIENT_ID, CLIENT_SECRET).sign(&body);
    let mut raw = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: {}\r\nX-CLIENT-ID: {CLIENT_ID}\r\nX-SIGNATURE: {signature}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    let image_at = raw.len() + image_at;
    raw.extend_from_slice(&body);
    (raw, image_at)
}

#[test]
fn two_replicas_on_one_bucket_store_each_id_once_and_hand_it_off_at_least_once() {
    let Some(moto) =
        Moto::start("two_replicas_on_one_bucket_store_each_id_once_and_hand_it_off_at_least_once")
    else {
        return;
    };
    moto.bucket(BUCKET);
    let source = tempfile::tempdir().unwrap();
    let sample = sample(source.path());
    let raced = sample_as(&sample, source.path(), "replica-raced");
    let spread: Vec<(String, PathBuf)> = (0..50)
        .map(|i| {
            let id = format!("replica-{i:02}");
            let dir = sample_as(&sample, source.path(), &id);
            (id, dir)
        })
        .collect();
    // The killed delivery: the sample's result and a 12 MiB image, so that the replica has a
    // multipart upload under way when it is killed (parts are 5 MiB).
    let killed = source.path().join(KILLED_ID);
    std::fs::create_dir_all(&killed).unwrap();
    let mut result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sample.join("result.json")).unwrap()).unwrap();
    result["id"] = KILLED_ID.into();
    std::fs::write(
        killed.join("result.json"),
        serde_json::to_vec(&result).unwrap(),
    )
    .unwrap();
    let mut image = vec![0u8; 12 << 20];
    Noise::new(7).fill(&mut image);
    std::fs::write(killed.join("livenessFaceImage.jpeg"), &image).unwrap();

    let app = App::start();
    let (mut first, first_url) = replica(&moto, &app);
    let (second, second_url) = replica(&moto, &app);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = moto.store(BUCKET);
    let started = Instant::now();
    runtime.block_on(async {
        let sender = sender();
        // The same verification to both at once: both answered 200.
        let (a, b) = tokio::join!(
            sender.send_dir(&first_url, &raced),
            sender.send_dir(&second_url, &raced)
        );
        a.unwrap();
        b.unwrap();

        // 50 verifications spread over both, 8 at a time.
        let sent: Vec<_> = futures::stream::iter(spread.iter().enumerate())
            .map(|(i, (id, dir))| {
                let url = if i % 2 == 0 { &first_url } else { &second_url };
                let sender = &sender;
                async move { (id, sender.send_dir(url, dir).await) }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        for (id, outcome) in sent {
            outcome.unwrap_or_else(|e| panic!("{id}: {e}"));
        }
        assert_eq!(moto.unfinished_uploads(BUCKET), 0);
    });
    let spread_took = started.elapsed();

    // SIGKILL to the first replica in the middle of a body: once its upload of the image is
    // under way, before the body's end.
    let (raw, image_at) = raw_delivery(&killed);
    let mut socket = std::net::TcpStream::connect(first_url.trim_start_matches("http://")).unwrap();
    let cut = image_at + (11 << 20);
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = socket.write_all(&raw[..cut]);
        socket
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while moto.unfinished_uploads(BUCKET) == 0 {
        assert!(Instant::now() < deadline, "no upload began in 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    drop(writer.join().unwrap());
    let left = runtime.block_on(objects(&store, &format!("{PREFIX}/{KILLED_ID}")));
    assert!(left.is_empty(), "the killed delivery left {left:?}");
    assert!(app
        .received()
        .iter()
        .all(|event| event.json()["data"]["id"] != KILLED_ID));

    // The vendor delivers it again, to the other replica: complete.
    runtime
        .block_on(sender().send_dir(&second_url, &killed))
        .unwrap();

    // SIGTERM to the other one: it ends cleanly, and its log holds no secret.
    Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    let out = second.wait_with_output().unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !log.contains(CLIENT_SECRET) && !log.contains("Zm9yd2FyZC"),
        "{log}"
    );

    // Each id: one manifest, every file it lists with its size and SHA-256, the hand-off
    // marker, and nothing else.
    let mut ids: Vec<String> = spread.iter().map(|(id, _)| id.clone()).collect();
    ids.extend(["replica-raced".to_owned(), KILLED_ID.to_owned()]);
    let objects = runtime.block_on(objects(&store, PREFIX));
    let mut expected = BTreeSet::new();
    let mut manifests = BTreeMap::new();
    for id in &ids {
        let key = format!("{PREFIX}/{id}/manifest.json");
        assert!(objects.contains_key(&key), "no manifest for {id}");
        let json = runtime
            .block_on(async { store.get(&key.as_str().into()).await.unwrap().bytes().await })
            .unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(manifest["id"], id.as_str());
        expected.insert(key);
        expected.insert(format!("{PREFIX}/{id}/handled.json"));
        for file in manifest["files"].as_array().unwrap() {
            let key = format!("{PREFIX}/{id}/{}", file["name"].as_str().unwrap());
            let (sha, size) = objects.get(&key).unwrap_or_else(|| panic!("{key} missing"));
            assert_eq!(file["sha256"].as_str(), Some(sha.as_str()), "{key}");
            assert_eq!(file["size"].as_u64(), Some(*size), "{key}");
            expected.insert(key);
        }
        manifests.insert(id.clone(), manifest);
    }
    let listed: BTreeSet<String> = objects.keys().cloned().collect();
    assert_eq!(
        listed.symmetric_difference(&expected).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "objects besides the manifests, their files and the markers (or some missing)"
    );
    // What the killed replica leaves: its upload of the image, never completed, invisible;
    // the next start of a receiver with --abort-older-than aborts it.
    assert_eq!(moto.unfinished_uploads(BUCKET), 1);

    // The application saw every id at least once, each event with the stored manifest's files.
    let mut seen = BTreeMap::<String, usize>::new();
    for event in app.received() {
        let event = event.json();
        let id = event["data"]["id"].as_str().unwrap().to_owned();
        let files: Vec<_> = event["data"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["name"].clone(), f["sha256"].clone(), f["size"].clone()))
            .collect();
        let stored: Vec<_> = manifests[&id]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["name"].clone(), f["sha256"].clone(), f["size"].clone()))
            .collect();
        assert_eq!(files, stored, "{id}");
        *seen.entry(id).or_default() += 1;
    }
    for id in &ids {
        assert!(
            seen.get(id).is_some_and(|n| *n >= 1),
            "{id} never handed off"
        );
    }
    println!(
        "replicas: 51 verifications over two replicas in {spread_took:?}; events {} for {} ids",
        seen.values().sum::<usize>(),
        ids.len()
    );
}
