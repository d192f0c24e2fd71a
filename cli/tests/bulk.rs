//! `fetch --ids` into a real S3 server (`moto_server`, started here on loopback): a thousand
//! verifications at `--concurrency 32` with every object checked against its manifest and the
//! peak RSS measured; a run killed with SIGKILL halfway and run again; one verification with a
//! 1 GiB image in bounded memory. And webhook deliveries stored the same way: the receiver
//! into S3 (refused and cut deliveries leave no upload), `webhook serve --out s3://...`, and a
//! `fetch` backfill into the same place skipping what the webhook stored.
//!
//! The peak RSS is the child's own `VmHWM`, printed by `--stats`; nothing here is timed.

mod cli_support;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use cli_support::{
    one_gib_verification, peak_rss_kib, run_peak_rss_kib, sha256_hex, Api, RawDelivery,
    WebhookServe, BIN,
};
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use support::generate::Noise;
use support::moto::Moto;

const RSS_LIMIT_KIB: u64 = 64 * 1024;
const CLIENT_ID: &str = "bulk-client";
const CLIENT_SECRET: &str = "bulk-secret-never-printed";

/// `count` small verifications `b<prefix>-00000`...: a result and two small images each.
fn populate(dir: &Path, prefix: &str, count: usize) -> Vec<String> {
    let mut noise = Noise::new(count as u64);
    (0..count)
        .map(|i| {
            let id = format!("{prefix}-{i:05}");
            let folder = dir.join(&id);
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(
                folder.join("result.json"),
                format!(r#"{{"id":"{id}","platform":"WEB","status":"COMPLETED"}}"#),
            )
            .unwrap();
            for (name, len) in [
                ("livenessFaceImage.jpeg", 1500 + i % 700),
                ("faceImage.jpeg", 900 + i % 300),
            ] {
                let mut bytes = vec![0u8; len];
                noise.fill(&mut bytes);
                std::fs::write(folder.join(name), bytes).unwrap();
            }
            id
        })
        .collect()
}

fn fetch(api: &Api, moto: &Moto, ids: &Path, out: &str, concurrency: u32) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["fetch", "--ids"])
        .arg(ids)
        .args(["--format", "multipart", "--out", out, "--stats"])
        .args([
            "--concurrency",
            &concurrency.to_string(),
            "--base-url",
            &api.url,
        ])
        .env("AUTHENTEQ_CLIENT_ID", CLIENT_ID)
        .env("AUTHENTEQ_CLIENT_SECRET", CLIENT_SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd
}

/// The id lines and the summary line of a run's standard output.
fn lines(stdout: &str) -> (Vec<serde_json::Value>, Option<serde_json::Value>) {
    let mut ids = Vec::new();
    let mut summary = None;
    for line in stdout.lines() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if value.get("summary").is_some() {
            summary = Some(value["summary"].clone());
        } else {
            ids.push(value);
        }
    }
    (ids, summary)
}

/// The emulator of the API serving the verifications under `dir`.
fn api(dir: &Path) -> Api {
    Api::start(dir, CLIENT_ID, CLIENT_SECRET)
}

/// Checks that the objects under `prefix` are exactly the manifests of `ids` and the files
/// they list, each with the size and SHA-256 its manifest gives; returns how many objects.
fn check_against_manifests(
    runtime: &tokio::runtime::Runtime,
    store: &dyn ObjectStore,
    prefix: &str,
    ids: &[String],
) -> usize {
    cli_support::check_against_manifests(runtime, store, prefix, ids, &[]).objects
}

#[test]
fn a_thousand_verifications_into_s3_at_concurrency_32() {
    let Some(moto) = Moto::start("a_thousand_verifications_into_s3_at_concurrency_32") else {
        return;
    };
    moto.bucket("bulk");
    let data = tempfile::tempdir().unwrap();
    let ids = populate(data.path(), "t", 1000);
    let api = api(data.path());
    let list = data.path().join("ids.txt");
    std::fs::write(&list, ids.join("\n") + "\n").unwrap();

    let out = fetch(&api, &moto, &list, "s3://bulk/exports/2026", 32)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fetch failed: {stderr}\n{stdout}");
    assert!(!stdout.contains(CLIENT_SECRET) && !stderr.contains(CLIENT_SECRET));
    let (lines, summary) = lines(&stdout);
    assert_eq!(lines.len(), 1000);
    assert!(
        lines
            .iter()
            .all(|l| l["status"] == "stored" && l["files"] == 3),
        "{stdout}"
    );
    let summary = summary.expect("a summary line");
    assert_eq!(
        (summary["stored"].as_u64(), summary["failed"].as_u64()),
        (Some(1000), Some(0))
    );
    assert_eq!(api.requests(), 1000);
    let peak = peak_rss_kib(&stderr);
    println!("1,000 verifications into moto at --concurrency 32: peak RSS {peak} KiB");
    assert!(peak < RSS_LIMIT_KIB, "peak RSS {peak} KiB");

    let store = moto.store("bulk");
    let objects = check_against_manifests(&api.runtime, &store, "exports/2026", &ids);
    assert_eq!(objects, 4000);

    // Again: every id is skipped, without a request.
    let out = fetch(&api, &moto, &list, "s3://bulk/exports/2026", 32)
        .output()
        .unwrap();
    assert!(out.status.success());
    let (lines, _) = self::lines(&String::from_utf8_lossy(&out.stdout));
    assert!(lines
        .iter()
        .all(|l| l["status"] == "skipped" && l["attempts"] == 0));
    assert_eq!(api.requests(), 1000);
}

#[test]
fn killed_halfway_then_run_again_stores_each_id_once() {
    let Some(moto) = Moto::start("killed_halfway_then_run_again_stores_each_id_once") else {
        return;
    };
    moto.bucket("resume");
    let data = tempfile::tempdir().unwrap();
    let ids = populate(data.path(), "k", 400);
    let api = api(data.path());
    let list = data.path().join("ids.txt");
    std::fs::write(&list, ids.join("\n") + "\n").unwrap();

    let mut child = fetch(&api, &moto, &list, "s3://resume/p", 32)
        .spawn()
        .unwrap();
    let mut reported = Vec::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while reported.len() < 150 {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "fetch ended early"
        );
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["status"], "stored", "{line}");
        reported.push(value["id"].as_str().unwrap().to_owned());
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let first_requests = api.requests();
    assert!(
        first_requests < 400,
        "killed too late: {first_requests} requests"
    );

    // Whatever was reported stored is complete; some more may be. Requests the killed process
    // had already sent may still be finishing inside moto: the listing is taken once two in a
    // row agree.
    let store = moto.store("resume");
    let mut objects = api.runtime.block_on(cli_support::objects(&store, "p"));
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let again = api.runtime.block_on(cli_support::objects(&store, "p"));
        if again == objects {
            break;
        }
        objects = again;
    }
    let complete: BTreeSet<&String> = ids
        .iter()
        .filter(|id| objects.contains_key(&format!("p/{id}/manifest.json")))
        .collect();
    for id in &reported {
        assert!(
            complete.contains(id),
            "{id} was reported stored, has no manifest"
        );
    }
    let missing = ids.len() - complete.len();
    println!(
        "killed after {} lines: {} complete, {missing} missing, {first_requests} requests",
        reported.len(),
        complete.len()
    );

    let out = fetch(&api, &moto, &list, "s3://resume/p", 32)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (lines, summary) = lines(&String::from_utf8_lossy(&out.stdout));
    let stored_again: BTreeSet<&str> = lines
        .iter()
        .filter(|l| l["status"] == "stored")
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(stored_again.len(), missing);
    assert!(stored_again
        .iter()
        .all(|id| !complete.contains(&id.to_string())));
    assert_eq!(
        summary.unwrap()["skipped"].as_u64(),
        Some(complete.len() as u64)
    );
    assert_eq!(
        api.requests() - first_requests,
        missing,
        "the second run downloads only the missing ids"
    );
    check_against_manifests(&api.runtime, &store, "p", &ids);
}

#[test]
#[ignore = "heavy: a 1 GiB image into moto"]
fn one_gib_image_into_s3_in_bounded_memory() {
    let test = "one_gib_image_into_s3_in_bounded_memory";
    let Some(moto) = Moto::start(test) else {
        return;
    };
    let Some((data, image_sha)) = one_gib_verification(test, &moto, "big", "big-1") else {
        return;
    };
    let image_len = 1usize << 30;
    let api = api(data.path());
    let list = data.path().join("ids.txt");
    std::fs::write(&list, "big-1\n").unwrap();

    let out = fetch(&api, &moto, &list, "s3://big/x", 1)
        // Over the client's default caps, and maybe its attempt deadline into moto.
        .args([
            "--max-file-bytes",
            "2147483648",
            "--max-body-bytes",
            "2147483648",
        ])
        .args(["--attempt-timeout", "3600"])
        .output()
        .unwrap();
    let peak = run_peak_rss_kib(&out);
    println!("one verification with a 1 GiB image into moto: peak RSS {peak} KiB");
    assert!(peak < RSS_LIMIT_KIB, "peak RSS {peak} KiB");

    let store = moto.store("big");
    let manifest = api
        .runtime
        .block_on(async {
            store
                .get(&"x/big-1/manifest.json".into())
                .await
                .unwrap()
                .bytes()
                .await
        })
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let image = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "croppedFrontImage.jpeg")
        .unwrap();
    assert_eq!(image["size"].as_u64(), Some(image_len as u64));
    assert_eq!(image["sha256"].as_str(), Some(image_sha.as_str()));
    assert_eq!(image["contentType"], "image/jpeg");
    let meta = api
        .runtime
        .block_on(store.head(&"x/big-1/croppedFrontImage.jpeg".into()))
        .unwrap();
    assert_eq!(meta.size, image_len as u64);
    assert_eq!(moto.unfinished_uploads("big"), 0);
}

#[test]
fn ids_on_stdin_into_a_folder_with_one_missing() {
    let data = tempfile::tempdir().unwrap();
    let mut ids = populate(data.path(), "s", 5);
    let api = api(data.path());
    let out = tempfile::tempdir().unwrap();
    ids.insert(2, "no-such-id".to_owned());
    for target in [
        out.path().display().to_string(),
        format!("file://{}", out.path().display()),
    ] {
        let mut child = Command::new(BIN)
            .args([
                "fetch",
                "--ids",
                "-",
                "--format",
                "json",
                "--out",
                &target,
                "--base-url",
                &api.url,
            ])
            .env("AUTHENTEQ_CLIENT_ID", CLIENT_ID)
            .env("AUTHENTEQ_CLIENT_SECRET", CLIENT_SECRET)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all((ids.join("\n") + "\n\n").as_bytes())
            .unwrap();
        drop(stdin);
        let done = child.wait_with_output().unwrap();
        assert_eq!(done.status.code(), Some(1), "one id failed: exit 1");
        let (lines, summary) = lines(&String::from_utf8_lossy(&done.stdout));
        assert_eq!(lines.len(), 6);
        let missing = lines.iter().find(|l| l["id"] == "no-such-id").unwrap();
        assert_eq!(missing["status"], "failed");
        assert!(
            missing["error"]
                .as_str()
                .unwrap()
                .contains("VERIFICATION_NOT_FOUND"),
            "{missing}"
        );
        let summary = summary.unwrap();
        assert_eq!(summary["failed"], 1);
        let stored = summary["stored"].as_u64().unwrap() + summary["skipped"].as_u64().unwrap();
        assert_eq!(stored, 5);
    }
    // Each id once, complete, with its manifest; the second run skipped them all.
    for id in ids.iter().filter(|id| id.starts_with("s-")) {
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.path().join(id).join("manifest.json")).unwrap(),
        )
        .unwrap();
        for file in manifest["files"].as_array().unwrap() {
            let bytes =
                std::fs::read(out.path().join(id).join(file["name"].as_str().unwrap())).unwrap();
            assert_eq!(file["sha256"].as_str(), Some(sha256_hex(&bytes).as_str()));
        }
        assert_eq!(std::fs::read_dir(out.path().join(id)).unwrap().count(), 4);
    }
    assert_eq!(
        api.requests(),
        6 + 1,
        "the second run asks only for the missing id"
    );
}

#[test]
fn on_s3_a_discard_aborts_its_uploads_and_racing_commits_leave_one_manifest() {
    use authenteq_export::store::{Committed, ObjectSink, Sink, Staging};
    let Some(moto) =
        Moto::start("on_s3_a_discard_aborts_its_uploads_and_racing_commits_leave_one_manifest")
    else {
        return;
    };
    moto.bucket("staging");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(moto.store("staging"));
    let sink = ObjectSink::new(store.clone(), "s");
    let mut image = vec![0u8; 11 << 20];
    Noise::new(5).fill(&mut image);
    let image = bytes::Bytes::from(image);

    async fn stage(
        sink: &ObjectSink,
        image: &bytes::Bytes,
    ) -> authenteq_export::store::ObjectStaging {
        let mut staging = sink.stage(&support::vid("v")).await.unwrap();
        staging
            .start_file("faceImage.jpeg", Some("image/jpeg"))
            .await
            .unwrap();
        for chunk in image.chunks(1 << 20) {
            staging.write(image.slice_ref(chunk)).await.unwrap();
        }
        staging.end_file().await.unwrap();
        staging
            .start_file("result.json", Some("application/json"))
            .await
            .unwrap();
        staging
            .write(bytes::Bytes::from_static(br#"{"id":"v"}"#))
            .await
            .unwrap();
        staging.end_file().await.unwrap();
        staging
    }

    runtime.block_on(async {
        // Three 5 MiB parts were sent: nothing is listed, and the discard aborts the upload.
        let staging = stage(&sink, &image).await;
        assert_eq!(moto.unfinished_uploads("staging"), 1);
        assert!(cli_support::objects(&*store, "s").await.is_empty());
        staging.discard().await;
        assert_eq!(moto.unfinished_uploads("staging"), 0);
        assert!(cli_support::objects(&*store, "s").await.is_empty());

        // Two writers commit at once: one manifest (create-only), the same bytes.
        let (a, b) = tokio::join!(stage(&sink, &image), stage(&sink, &image));
        let (a, b) = tokio::join!(a.commit(), b.commit());
        let (a, b) = (a.unwrap(), b.unwrap());
        let stored_count = [&a, &b]
            .iter()
            .filter(|c| matches!(c, Committed::Stored(_)))
            .count();
        assert_eq!(stored_count, 1, "{a:?} {b:?}");
        let objects = cli_support::objects(&*store, "s").await;
        let keys: Vec<&str> = objects.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["s/v/faceImage.jpeg", "s/v/manifest.json", "s/v/result.json"]
        );
        let manifest = sink.manifest(&support::vid("v")).await.unwrap().unwrap();
        for file in manifest.files() {
            let (sha, size) = &objects[&format!("s/v/{}", file.name())];
            assert_eq!((file.sha256(), file.size()), (sha.as_str(), *size));
        }
        // A third, after both: skipped at commit, its upload aborted.
        let late = stage(&sink, &image).await.commit().await.unwrap();
        assert!(matches!(late, Committed::AlreadyComplete(_)));
        assert_eq!(moto.unfinished_uploads("staging"), 0);
    });
}

/// An `object_store` builder of `bucket` on `moto`, configured from the same `AWS_*` variables
/// the CLI reads (`AmazonS3Builder::from_env` parses them the same way).
fn moto_builder(moto: &Moto, bucket: &str) -> object_store::aws::AmazonS3Builder {
    let mut builder = object_store::aws::AmazonS3Builder::new().with_bucket_name(bucket);
    for (k, v) in moto.env() {
        builder = builder.with_config(k.to_ascii_lowercase().parse().unwrap(), v);
    }
    builder
}

#[test]
fn a_run_aborts_the_uploads_a_killed_run_left_and_only_stale_ones() {
    use authenteq_export::store::S3Uploads;
    use object_store::multipart::MultipartStore;
    let Some(moto) = Moto::start("a_run_aborts_the_uploads_a_killed_run_left_and_only_stale_ones")
    else {
        return;
    };
    moto.bucket("sweep");
    let data = tempfile::tempdir().unwrap();
    let ids = populate(data.path(), "a", 6);
    let api = api(data.path());
    let list = data.path().join("ids.txt");
    std::fs::write(&list, ids.join("\n") + "\n").unwrap();
    let s3 = moto.store("sweep");
    let uploads = S3Uploads::new(&moto_builder(&moto, "sweep")).unwrap();

    // What a killed run leaves: uploads started and never completed nor aborted (a process
    // killed mid-file), one of them with a part sent. Beside them, an upload under the prefix
    // that is no file key of ours, and one under another prefix.
    api.runtime.block_on(async {
        for (key, part) in [
            (format!("p/{}/faceImage.jpeg", ids[0]), true),
            (format!("p/{}/result.json", ids[3]), false),
            ("p/loose.bin".to_owned(), false),
            (format!("q/{}/faceImage.jpeg", ids[1]), false),
        ] {
            let path = object_store::path::Path::from(key);
            let id = s3.create_multipart(&path).await.unwrap();
            if part {
                s3.put_part(&path, &id, 0, vec![7u8; 5 << 20].into())
                    .await
                    .unwrap();
            }
        }
    });
    let open = api.runtime.block_on(uploads.list("p")).unwrap();
    let mut keys: Vec<String> = open.iter().map(|u| u.key().to_string()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            format!("p/{}/faceImage.jpeg", ids[0]),
            format!("p/{}/result.json", ids[3]),
            "p/loose.bin".to_owned()
        ]
    );
    assert_eq!(moto.unfinished_uploads("sweep"), 4);

    // Uploads younger than the age asked for are kept: another worker may be sending them.
    // (moto reports every upload as initiated on one fixed date in 2010, so "younger" is an
    // age past that date, taken from the listing itself.)
    let oldest = open.iter().map(|u| u.initiated()).min().unwrap();
    let younger =
        (chrono::Utc::now() - oldest).to_std().unwrap() + std::time::Duration::from_secs(3600);
    let kept = api
        .runtime
        .block_on(uploads.abort_stale("p", younger))
        .unwrap();
    assert_eq!((kept.count(), kept.kept()), (0, 3));
    assert_eq!(moto.unfinished_uploads("sweep"), 4);

    // A run aborts the stale ones under its prefix, says how many, and stores every id.
    let out = fetch(&api, &moto, &list, "s3://sweep/p", 4)
        .args(["--abort-older-than", "0"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (lines, summary) = lines(&stdout);
    assert!(lines.iter().all(|l| l["status"] == "stored"), "{stdout}");
    let summary = summary.expect("a summary line");
    assert_eq!(summary["abortedUploads"], 2, "{summary}");
    assert_eq!(summary["stored"], 6);
    let left: Vec<String> = api
        .runtime
        .block_on(uploads.list("p"))
        .unwrap()
        .iter()
        .map(|u| u.key().to_string())
        .collect();
    assert_eq!(
        left,
        ["p/loose.bin"],
        "only what is no file key of ours is left"
    );
    assert_eq!(api.runtime.block_on(uploads.list("q")).unwrap().len(), 1);
    check_against_manifests(&api.runtime, &s3, "p", &ids);

    // Plain http without AWS_ALLOW_HTTP is refused, as object_store refuses it.
    let refused = S3Uploads::new(&moto_builder(&moto, "sweep").with_allow_http(false));
    assert!(refused.is_err());
}

/// A webhook delivery's source, stored as `split` lays it out: `dir/<id>/` with a result and
/// a `livenessFaceImage.jpeg` of `image_len` bytes of noise.
fn delivery_source(dir: &Path, id: &str, image_len: usize) -> std::path::PathBuf {
    let folder = dir.join(id);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("result.json"),
        format!(r#"{{"id":"{id}","platform":"WEB"}}"#),
    )
    .unwrap();
    let mut image = vec![0u8; image_len];
    Noise::new(image_len as u64 + 3).fill(&mut image);
    std::fs::write(folder.join("livenessFaceImage.jpeg"), image).unwrap();
    folder
}

/// When each key under `prefix` was last written.
async fn written(store: &dyn ObjectStore, prefix: &str) -> BTreeMap<String, String> {
    let metas: Vec<_> = store
        .list(Some(&object_store::path::Path::from(prefix)))
        .try_collect()
        .await
        .unwrap();
    metas
        .into_iter()
        .map(|m| {
            (
                m.location.to_string(),
                format!("{:?} {:?}", m.last_modified, m.e_tag),
            )
        })
        .collect()
}

#[test]
fn verified_deliveries_go_into_s3_like_downloads_and_refused_ones_leave_no_upload() {
    use authenteq_export::store::{ObjectSink, Sink};
    use authenteq_export::webhook::{Receiver, RetrySchedule, Sender, WebhookKey};
    let Some(moto) = Moto::start(
        "verified_deliveries_go_into_s3_like_downloads_and_refused_ones_leave_no_upload",
    ) else {
        return;
    };
    moto.bucket("hooks");
    let source = tempfile::tempdir().unwrap();
    // 12 MiB: sent as a multipart upload of three 5 MiB parts, completed only at commit.
    let big = delivery_source(source.path(), "hook-big", 12 << 20);
    let small = delivery_source(source.path(), "hook-small", 3000);
    let forged = delivery_source(source.path(), "hook-forged", 12 << 20);
    let cut = delivery_source(source.path(), "hook-cut", 12 << 20);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(moto.store("hooks"));
    let sink = ObjectSink::new(store.clone(), "live");
    let key = WebhookKey::new(CLIENT_ID, CLIENT_SECRET);
    let ids = ["hook-big".to_owned(), "hook-small".to_owned()];
    runtime.block_on(async {
        let receiver = Receiver::builder(sink.clone())
            .key(key.clone())
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let sender = Sender::builder(key.clone())
            .retry(RetrySchedule::NONE)
            .build()
            .unwrap();
        for dir in [&big, &small] {
            let sent = sender.send_dir(&receiver.url(), dir).await.unwrap();
            assert_eq!(sent.attempts, 1);
        }
        let before = written(&*store, "live").await;

        // A repeat: 200, nothing written again.
        sender.send_dir(&receiver.url(), &big).await.unwrap();
        // Signed with another secret: 401, and the parts it sent are aborted before the answer.
        let forger = Sender::builder(WebhookKey::new(CLIENT_ID, "not-the-secret"))
            .retry(RetrySchedule::NONE)
            .build()
            .unwrap();
        let refused = forger.send_dir(&receiver.url(), &forged).await.unwrap_err();
        assert!(refused.to_string().contains("401"), "{refused}");
        assert_eq!(moto.unfinished_uploads("hooks"), 0);

        // Cut on the wire after 11 MiB (two parts sent): no answer, and nothing left once the
        // receiver saw the end.
        let delivery = RawDelivery::of_dir(&key, &cut);
        let head = &delivery.bytes[..delivery.image_at];
        let mut socket = tokio::net::TcpStream::connect(receiver.addr())
            .await
            .unwrap();
        use tokio::io::AsyncWriteExt;
        socket.write_all(head).await.unwrap();
        let image = std::fs::read(cut.join("livenessFaceImage.jpeg")).unwrap();
        socket.write_all(&image[..11 << 20]).await.unwrap();
        assert!(delivery.body_len > head.len() + (11 << 20));
        drop(socket);
        receiver.shutdown().await.unwrap();
        assert_eq!(moto.unfinished_uploads("hooks"), 0);

        assert_eq!(
            written(&*store, "live").await,
            before,
            "a refusal or repeat wrote"
        );
        // Each id's manifest lists its files, with the content types the parts declared.
        for (id, dir) in [("hook-big", &big), ("hook-small", &small)] {
            let manifest = sink
                .manifest(&support::vid(id))
                .await
                .unwrap()
                .expect("a manifest");
            let image = manifest.file("livenessFaceImage.jpeg").unwrap();
            assert_eq!(image.content_type(), Some("image/jpeg"));
            let len = std::fs::metadata(dir.join("livenessFaceImage.jpeg"))
                .unwrap()
                .len();
            assert_eq!(image.size(), len);
            assert!(manifest.file("result.json").is_some());
        }
    });
    // Only complete files and manifests, and each object's bytes as its manifest says.
    assert_eq!(check_against_manifests(&runtime, &*store, "live", &ids), 6);
}

#[test]
fn webhook_serve_into_s3_then_fetch_skips_what_it_stored() {
    use object_store::multipart::MultipartStore;
    let Some(moto) = Moto::start("webhook_serve_into_s3_then_fetch_skips_what_it_stored") else {
        return;
    };
    moto.bucket("hooks-cli");
    let data = tempfile::tempdir().unwrap();
    let ids = populate(data.path(), "w", 2);
    let s3 = moto.store("hooks-cli");
    let api = api(data.path());
    // What a killed receiver leaves: an upload never completed.
    api.runtime.block_on(async {
        let path = object_store::path::Path::from(format!("hooks/{}/faceImage.jpeg", ids[1]));
        s3.create_multipart(&path).await.unwrap();
    });
    assert_eq!(moto.unfinished_uploads("hooks-cli"), 1);

    let mut served = WebhookServe::new(CLIENT_ID, CLIENT_SECRET)
        .out("s3://hooks-cli/hooks/")
        .args(["--abort-older-than", "0"])
        .envs(moto.env())
        .spawn();
    // The stale upload was aborted before the receiver listened.
    assert_eq!(moto.unfinished_uploads("hooks-cli"), 0);
    let sent = served.send(&data.path().join(&ids[0])).output().unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let (status, log) = served.stop();
    assert!(status.success());
    assert!(log.contains("aborted 1 unfinished uploads"), "{log}");
    assert!(!log.contains(CLIENT_SECRET), "{log}");
    check_against_manifests(&api.runtime, &s3, "hooks", &ids[..1]);

    // A backfill into the same place: the delivered id is skipped without a download.
    let list = data.path().join("ids.txt");
    std::fs::write(&list, ids.join("\n") + "\n").unwrap();
    let out = fetch(&api, &moto, &list, "s3://hooks-cli/hooks", 2)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let (lines, _) = lines(&stdout);
    let status = |id: &str| {
        lines
            .iter()
            .find(|l| l["id"] == id)
            .map(|l| l["status"].clone())
    };
    assert_eq!(status(&ids[0]), Some("skipped".into()), "{stdout}");
    assert_eq!(status(&ids[1]), Some("stored".into()), "{stdout}");
    assert_eq!(api.requests(), 1, "only the missing id is downloaded");
    check_against_manifests(&api.runtime, &s3, "hooks", &ids);
}
