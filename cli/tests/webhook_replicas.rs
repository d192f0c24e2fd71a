//! Two `webhook serve --forward-to` replicas storing into one S3 prefix (`moto_server`, started
//! here on loopback), with no coordinator but the store: one verification delivered to both at
//! once, 50 spread over both, and a replica killed with SIGKILL in the middle of a delivery's
//! body, whose redelivery to the other one completes the id. Each id ends with one manifest,
//! every file as it says, and at least one event handed to the application.

mod cli_support;
mod forward_app;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use authenteq_export::webhook::{RetrySchedule, Sender, WebhookKey};
use cli_support::{RawDelivery, Served, WebhookServe};
use forward_app::App;
use futures::StreamExt;
use support::generate::Noise;
use support::moto::Moto;

const CLIENT_ID: &str = "replica-client";
const CLIENT_SECRET: &str = "replica-secret-never-printed";
const FORWARD_SECRET: &str = "whsec_Zm9yd2FyZC1zZWNyZXQtMzItYnl0ZXMtbG9uZy1vaw==";
const BUCKET: &str = "replicas";
const PREFIX: &str = "hooks";
const KILLED_ID: &str = "replica-killed";

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
fn replica(moto: &Moto, app: &App) -> Served {
    WebhookServe::new(CLIENT_ID, CLIENT_SECRET)
        .out(format!("s3://{BUCKET}/{PREFIX}"))
        .args(["--forward-to", &app.url("/events")])
        .env("AUTHENTEQ_FORWARD_SECRET", FORWARD_SECRET)
        .env("AWS_METADATA_ENDPOINT", closed_port())
        .envs(moto.env())
        .spawn()
}

fn sender() -> Sender {
    Sender::builder(WebhookKey::new(CLIENT_ID, CLIENT_SECRET))
        .retry(RetrySchedule::NONE)
        .build()
        .unwrap()
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
    let mut first = replica(&moto, &app);
    let mut second = replica(&moto, &app);
    let (first_url, second_url) = (first.url().to_owned(), second.url().to_owned());
    let runtime = support::runtime_with_workers(2);
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
    let RawDelivery {
        bytes: raw,
        image_at,
        ..
    } = RawDelivery::of_dir(&WebhookKey::new(CLIENT_ID, CLIENT_SECRET), &killed);
    let mut socket = std::net::TcpStream::connect(first.addr()).unwrap();
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
    first.child().kill().unwrap();
    first.child().wait().unwrap();
    drop(writer.join().unwrap());
    let left = runtime.block_on(cli_support::keys(&store, &format!("{PREFIX}/{KILLED_ID}")));
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
    let (status, log) = second.stop();
    assert!(status.success());
    assert!(
        !log.contains(CLIENT_SECRET) && !log.contains("Zm9yd2FyZC"),
        "{log}"
    );

    // Each id: one manifest, every file it lists with its size and SHA-256, the hand-off
    // marker, and nothing else.
    let mut ids: Vec<String> = spread.iter().map(|(id, _)| id.clone()).collect();
    ids.extend(["replica-raced".to_owned(), KILLED_ID.to_owned()]);
    let manifests =
        cli_support::check_against_manifests(&runtime, &store, PREFIX, &ids, &["handled.json"])
            .manifests;
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
