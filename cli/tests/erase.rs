//! `erase` and `purge`: verifications stored by `fetch --ids` (from the API's emulator on
//! loopback) erased from a folder and from S3 (`moto_server`), one JSON line per id, and
//! stored again whole by a `fetch` after.

mod cli_support;
mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use cli_support::Api;
use support::moto::Moto;

const CLIENT_ID: &str = "erase-client";
const CLIENT_SECRET: &str = "erase-secret";

/// Verifications `a`, `b`, `c`, `d` under `dir`: a result and an image each.
fn populate(dir: &Path) {
    for id in ["a", "b", "c", "d"] {
        let folder = dir.join(id);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join("result.json"),
            format!(r#"{{"id":"{id}","platform":"WEB","status":"COMPLETED"}}"#),
        )
        .unwrap();
        std::fs::write(folder.join("faceImage.jpeg"), format!("\u{ff}\u{d8}{id}")).unwrap();
    }
}

/// The program with `args`, `stdin` as its standard input and `env` set; its output.
fn run(args: &[&str], stdin: &str, env: &[(&'static str, String)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_authenteq-export"))
        .args(args)
        .env("AUTHENTEQ_CLIENT_ID", CLIENT_ID)
        .env("AUTHENTEQ_CLIENT_SECRET", CLIENT_SECRET)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `fetch --ids -` of `ids` into `out`; every id stored.
fn fetch(api: &Api, ids: &str, out: &str, env: &[(&'static str, String)]) {
    let args = [
        "fetch",
        "--ids",
        "-",
        "--format",
        "multipart",
        "--out",
        out,
        "--base-url",
        &api.url,
    ];
    let output = run(&args, ids, env);
    assert!(output.status.success(), "{output:?}");
    let (lines, _) = lines(&output);
    assert!(lines.iter().all(|l| l["status"] == "stored"), "{lines:?}");
}

/// The id lines (by id, in order) and the summary of a run.
fn lines(output: &Output) -> (Vec<serde_json::Value>, serde_json::Value) {
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let mut all: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let summary = all.pop().expect("a summary line");
    (all, summary["summary"].clone())
}

/// `(id, status)` of each line.
fn statuses(lines: &[serde_json::Value]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|l| {
            (
                l["id"].as_str().unwrap().to_owned(),
                l["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// The ids (folders) in `dir`, sorted.
fn ids_in(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    ids
}

/// Stored, half-stored and absent ids erased with a line each; a second run finds them
/// absent; an id that is not one is refused and nothing outside the store is touched; a
/// fetch after stores the id again, whole.
#[test]
fn erase_stored_half_stored_and_absent_ids_then_again_then_fetch_stores_whole() {
    let api_dir = tempfile::tempdir().unwrap();
    populate(api_dir.path());
    let api = Api::start(api_dir.path(), CLIENT_ID, CLIENT_SECRET);
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let out = store.to_str().unwrap();
    fetch(&api, "a\nb\nc\n", out, &[]);
    let a_before = support::files_under(&store.join("a"));
    // Half-stored: files of a writer that failed before its manifest.
    std::fs::create_dir(store.join("h")).unwrap();
    std::fs::write(store.join("h/result.json"), b"{}").unwrap();

    let args = ["erase", "--ids", "-", "--from", out];
    let output = run(&args, "a\n# a comment\nh\nnobody # never stored\na\n", &[]);
    assert!(output.status.success(), "{output:?}");
    let (got, summary) = lines(&output);
    assert_eq!(
        statuses(&got),
        pairs(&[
            ("a", "erased"),
            ("h", "erased"),
            ("nobody", "absent"),
            ("a", "duplicate")
        ])
    );
    // result.json, the image and the manifest; the half-stored result.
    assert_eq!(
        (got[0]["objects"].as_u64(), got[1]["objects"].as_u64()),
        (Some(3), Some(1))
    );
    for line in &got[..3] {
        let at = line["at"].as_str().unwrap();
        assert!(at.parse::<chrono::DateTime<chrono::Utc>>().is_ok(), "{at}");
    }
    assert_eq!(summary["erased"], 2);
    assert_eq!(summary["absent"], 1);
    assert_eq!(summary["objects"], 4);
    assert_eq!(ids_in(&store), ["b", "c"]);

    // Again: harmless.
    let output = run(&args, "a\nh\n", &[]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        statuses(&lines(&output).0),
        pairs(&[("a", "absent"), ("h", "absent")])
    );

    // An id that is not one: refused, the run goes on, the exit status says so.
    std::fs::create_dir(work.path().join("x")).unwrap();
    std::fs::write(work.path().join("x/keep"), b"not the store's").unwrap();
    let output = run(&args, "../x\nb\n", &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let (got, summary) = lines(&output);
    assert_eq!(
        statuses(&got),
        pairs(&[("../x", "failed"), ("b", "erased")])
    );
    assert!(got[0]["error"]
        .as_str()
        .unwrap()
        .contains("invalid verification id"));
    assert_eq!(summary["failed"], 1);
    assert!(work.path().join("x/keep").is_file());
    assert_eq!(ids_in(&store), ["c"]);

    // A fetch after stores it again, whole.
    fetch(&api, "a\n", out, &[]);
    let a_after = support::files_under(&store.join("a"));
    assert_eq!(a_after.len(), a_before.len());
    for (name, bytes) in &a_before {
        if name != "manifest.json" {
            assert_eq!(&a_after[name], bytes, "{name}");
        }
    }
}

/// Sets the `writtenAt` of `id`'s manifest in `store` (or removes it, for `None`), as an
/// older run would have written it.
fn date_manifest(store: &Path, id: &str, at: Option<&str>) {
    let path = store.join(id).join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    match at {
        Some(at) => manifest["writtenAt"] = at.into(),
        None => {
            manifest.as_object_mut().unwrap().remove("writtenAt");
        }
    }
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
}

/// `purge`: `--dry-run` lists what would go and deletes nothing; `--keep-ids` keeps what it
/// lists; an undated manifest is kept and said so; 0 days takes every dated one.
#[test]
fn purge_by_age_with_keep_ids_and_dry_run() {
    let api_dir = tempfile::tempdir().unwrap();
    populate(api_dir.path());
    let api = Api::start(api_dir.path(), CLIENT_ID, CLIENT_SECRET);
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let out = store.to_str().unwrap();
    fetch(&api, "a\nb\nc\nd\n", out, &[]);
    date_manifest(&store, "a", Some("2020-01-01T00:00:00.000Z"));
    date_manifest(&store, "b", Some("2020-06-01T00:00:00.000Z"));
    date_manifest(&store, "d", None);
    let before = support::files_under(&store);

    let output = run(
        &["purge", "--older-than", "30", "--from", out, "--dry-run"],
        "",
        &[],
    );
    assert!(output.status.success(), "{output:?}");
    let (got, summary) = lines(&output);
    assert_eq!(
        statuses(&got),
        pairs(&[("a", "would erase"), ("b", "would erase"), ("d", "kept")])
    );
    assert_eq!(got[0]["writtenAt"], "2020-01-01T00:00:00.000Z");
    assert_eq!(summary["wouldErase"], 2);
    assert_eq!(summary["younger"], 1);
    assert_eq!(support::files_under(&store), before);

    let keep = work.path().join("keep");
    std::fs::write(&keep, "# under investigation\nb\n").unwrap();
    let output = run(
        &[
            "purge",
            "--older-than",
            "30",
            "--from",
            out,
            "--keep-ids",
            keep.to_str().unwrap(),
        ],
        "",
        &[],
    );
    assert!(output.status.success(), "{output:?}");
    let (got, summary) = lines(&output);
    assert_eq!(
        statuses(&got),
        pairs(&[("a", "erased"), ("b", "kept"), ("d", "kept")])
    );
    assert_eq!(got[0]["objects"], 3);
    assert_eq!(got[1]["reason"], "--keep-ids");
    assert_eq!(summary["erased"], 1);
    assert_eq!(ids_in(&store), ["b", "c", "d"]);

    // 0 days: every dated manifest, the kept one aside.
    let output = run(
        &[
            "purge",
            "--older-than",
            "0",
            "--from",
            out,
            "--keep-ids",
            keep.to_str().unwrap(),
        ],
        "",
        &[],
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        statuses(&lines(&output).0),
        pairs(&[("b", "kept"), ("c", "erased"), ("d", "kept")])
    );
    assert_eq!(ids_in(&store), ["b", "d"]);

    // A --keep-ids line that is not an id stops the run before anything is erased.
    std::fs::write(&keep, "b/\n").unwrap();
    let output = run(
        &[
            "purge",
            "--older-than",
            "0",
            "--from",
            out,
            "--keep-ids",
            keep.to_str().unwrap(),
        ],
        "",
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--keep-ids"));
    assert_eq!(ids_in(&store), ["b", "d"]);
}

/// In an S3 bucket with Object Lock, an id with a version under a COMPLIANCE retention is
/// held and the ids next to it erased, every version gone; the exit status is 1.
#[test]
fn erase_in_s3_holds_a_locked_id_and_erases_the_others() {
    let Some(moto) = Moto::start("erase_in_s3_holds_a_locked_id_and_erases_the_others") else {
        return;
    };
    moto.locked_bucket("kyc");
    let env = moto.env();
    let api_dir = tempfile::tempdir().unwrap();
    populate(api_dir.path());
    let api = Api::start(api_dir.path(), CLIENT_ID, CLIENT_SECRET);
    fetch(&api, "a\nb\nc\n", "s3://kyc/p", &env);
    moto.put_locked("kyc", "p/b/result.json", b"{}");

    let output = run(
        &["erase", "--ids", "-", "--from", "s3://kyc/p"],
        "a\nb\nc\n",
        &env,
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let (got, summary) = lines(&output);
    assert_eq!(
        statuses(&got),
        pairs(&[("a", "erased"), ("b", "held"), ("c", "erased")])
    );
    assert_eq!(got[1]["held"], 1);
    assert_eq!(
        (summary["erased"].as_u64(), summary["held"].as_u64()),
        (Some(2), Some(1))
    );
    let left: BTreeMap<String, bool> = moto.versions("kyc", "p/").into_iter().collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left.contains_key("p/b/result.json"));

    // The held id reads as not stored: purge has nothing to erase. (moto still lists the
    // "folder" of a key under a delete marker, so the held id shows as kept without a
    // manifest there; S3 lists nothing.)
    let output = run(
        &[
            "purge",
            "--older-than",
            "0",
            "--from",
            "s3://kyc/p",
            "--dry-run",
        ],
        "",
        &env,
    );
    assert!(output.status.success(), "{output:?}");
    let (got, summary) = lines(&output);
    assert_eq!(summary["wouldErase"], 0);
    for line in got {
        assert_eq!(
            (&line["id"], &line["reason"]),
            (&"b".into(), &"no manifest".into())
        );
    }
}
