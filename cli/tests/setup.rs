//! What goes wrong before anything is fetched: `fetch --ids` into a folder it cannot write or a
//! store without credentials stops before the first request with one line that names the
//! destination; refused API credentials stop at the first id; `#` comments and repeated ids in
//! `--ids`; each error text that names its subject; and no empty `--out` folder after a failed
//! command. The API is the library's emulator on loopback, counting its requests.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use authenteq_export::server::Emulator;
use authenteq_export::Server;

const CLIENT_ID: &str = "setup-client";
const SECRET: &str = "setup-secret-never-printed";

/// The emulator on loopback, served by a runtime of its own while the test runs the binary.
struct Api {
    server: Server<Emulator>,
    _runtime: tokio::runtime::Runtime,
}

impl Api {
    /// Serves `count` small verifications `v-0`, `v-1`... from a folder under `root`.
    fn start(root: &Path, count: usize) -> Api {
        let data = root.join("api");
        for i in 0..count {
            let folder = data.join(format!("v-{i}"));
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join("result.json"), format!(r#"{{"id":"v-{i}"}}"#)).unwrap();
            std::fs::write(folder.join("faceImage.jpeg"), [0xff, 0xd8, 0xff, 0xd9]).unwrap();
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(async {
            Emulator::builder(&data)
                .credentials(CLIENT_ID, SECRET)
                .build()
                .unwrap()
                .bind("127.0.0.1:0".parse().unwrap())
                .await
                .unwrap()
        });
        Api {
            server,
            _runtime: runtime,
        }
    }

    fn url(&self) -> String {
        self.server.url()
    }

    fn requests(&self) -> u64 {
        self.server.requests()
    }
}

/// A loopback port nothing listens on.
fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_authenteq-export"));
    cmd.stdin(Stdio::null())
        .env("AUTHENTEQ_CLIENT_ID", CLIENT_ID)
        .env("AUTHENTEQ_CLIENT_SECRET", SECRET);
    // No credential of the machine running the tests reaches the binary.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

fn fetch_ids(api_url: &str, ids: &Path, out: &str, extra: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.args(["fetch", "--ids"])
        .arg(ids)
        .args(["--format", "multipart", "--out", out, "--base-url", api_url])
        .args(["--retries", "0", "--connect-timeout", "2"])
        .args(extra);
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    text(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn write_ids(root: &Path, count: usize) -> std::path::PathBuf {
    let path = root.join("ids.txt");
    let ids: String = (0..count).map(|i| format!("v-{i}\n")).collect();
    std::fs::write(&path, ids).unwrap();
    path
}

/// Checks a run that stopped on a setup error: exit 1, exactly one line on standard error
/// that holds every one of `names`, and a summary line whose `stopped` is set.
fn assert_stopped_with_one_line(out: &Output, names: &[&str]) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: stopped"), "{stderr}");
    for name in names {
        assert!(lines[0].contains(name), "{name:?} not in {stderr}");
    }
    assert!(!stderr.contains(SECRET), "{stderr}");
    let printed = json_lines(&out.stdout);
    let summary = &printed.last().expect("a summary line")["summary"];
    assert!(summary["stopped"].is_string(), "{printed:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_folder_it_cannot_write_stops_the_batch_before_any_request() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;

    let root = tempfile::tempdir().unwrap();
    let api = Api::start(root.path(), 5);
    let ids = write_ids(root.path(), 5);
    let out = root.path().join("read-only");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o555)).unwrap();
    let mut cmd = fetch_ids(&api.url(), &ids, out.to_str().unwrap(), &[]);
    // Root writes anywhere: the binary runs as nobody then, who can read the ids but not
    // write in the folder.
    if rustix::process::geteuid().is_root() {
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&ids, std::fs::Permissions::from_mode(0o644)).unwrap();
        cmd.uid(65534).gid(65534);
    }
    let ran = cmd.output().unwrap();
    assert_stopped_with_one_line(&ran, &[out.to_str().unwrap(), "check its permissions"]);
    assert_eq!(api.requests(), 0, "{}", text(&ran.stderr));
}

#[test]
fn a_store_without_credentials_stops_the_batch_before_any_request() {
    let root = tempfile::tempdir().unwrap();
    let api = Api::start(root.path(), 5);
    let ids = write_ids(root.path(), 5);
    // Neither the store nor the instance metadata service is there: nothing leaves loopback.
    let nowhere = format!("http://{}", closed_port());
    let started = std::time::Instant::now();
    let ran = fetch_ids(&api.url(), &ids, "s3://bucket/exports", &[])
        .env("AWS_ENDPOINT", &nowhere)
        .env("AWS_METADATA_ENDPOINT", &nowhere)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap();
    assert_stopped_with_one_line(&ran, &["s3://bucket/exports", "AWS_ACCESS_KEY_ID"]);
    assert!(text(&ran.stderr).contains("no AWS credentials"));
    assert_eq!(api.requests(), 0);
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
}

#[test]
fn refused_api_credentials_stop_the_batch_at_the_first_id() {
    let root = tempfile::tempdir().unwrap();
    let api = Api::start(root.path(), 5);
    let ids = write_ids(root.path(), 5);
    let out = root.path().join("out");
    let ran = fetch_ids(&api.url(), &ids, out.to_str().unwrap(), &[])
        .env("AUTHENTEQ_CLIENT_SECRET", "another-secret")
        .output()
        .unwrap();
    assert_stopped_with_one_line(&ran, &[&api.url(), "AUTHENTEQ_CLIENT_SECRET"]);
    assert_eq!(api.requests(), 1);
    assert!(!text(&ran.stderr).contains("another-secret"));
    // The folder it made is gone again: nothing was stored in it.
    assert!(!out.exists());
}

#[test]
fn comments_are_skipped_and_a_repeated_id_is_fetched_once() {
    let root = tempfile::tempdir().unwrap();
    let api = Api::start(root.path(), 2);
    let ids = root.path().join("ids.txt");
    std::fs::write(
        &ids,
        "# exported on Monday\nv-0   # the first\n\n  # v-1 is not this one\nv-1\nv-0\nv-1#again\n",
    )
    .unwrap();
    let out = root.path().join("out");
    let ran = fetch_ids(&api.url(), &ids, out.to_str().unwrap(), &[])
        .output()
        .unwrap();
    assert!(ran.status.success(), "{}", text(&ran.stderr));
    assert_eq!(api.requests(), 2);
    let printed = json_lines(&ran.stdout);
    let mut seen: Vec<(String, String)> = printed
        .iter()
        .filter(|v| v.get("id").is_some())
        .map(|v| {
            (
                v["id"].as_str().unwrap().into(),
                v["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    seen.sort();
    let want = [
        ("v-0", "duplicate"),
        ("v-0", "stored"),
        ("v-1", "duplicate"),
        ("v-1", "stored"),
    ]
    .map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(seen, want);
    let summary = &printed.last().unwrap()["summary"];
    assert_eq!(
        (&summary["stored"], &summary["duplicates"]),
        (&2.into(), &2.into())
    );
    // No comment reached the API as an id, and nothing but the two was stored.
    let stored: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(stored.len(), 2, "{stored:?}");
    let last = text(&ran.stderr);
    assert!(
        last.lines().last().unwrap().starts_with("done: 4 ids"),
        "{last}"
    );
}

#[test]
fn errors_name_their_subject() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let file = file.to_str().unwrap().to_owned();
    let ids = write_ids(root.path(), 1);
    let sample = support::corpus_path("verification-result.multipart");
    let closed = format!("http://{}", closed_port());
    let rows: Vec<(&str, Vec<String>, Vec<String>)> = vec![
        (
            "fetch ID --out FILE",
            vec![
                "fetch",
                "v-0",
                "--format",
                "json",
                "--out",
                &file,
                "--base-url",
                &closed,
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            vec![format!("--out {file} is a file, not a folder")],
        ),
        (
            "fetch --ids --out FILE",
            vec![
                "fetch",
                "--ids",
                ids.to_str().unwrap(),
                "--format",
                "json",
                "--out",
                &file,
                "--base-url",
                &closed,
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            vec![format!("--out {file} is a file, not a folder")],
        ),
        (
            "split --out FILE",
            vec!["split", sample.to_str().unwrap(), "--out", &file]
                .into_iter()
                .map(String::from)
                .collect(),
            vec![format!("--out {file} is a file, not a folder")],
        ),
        (
            "serve --dir MISSING",
            vec![
                "serve",
                "--dir",
                "/nonexistent/verifications",
                "--client-id",
                "c",
                "--addr",
                "127.0.0.1:0",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            vec![
                "the emulator's folder /nonexistent/verifications cannot be read".to_owned(),
                "give the folder".to_owned(),
            ],
        ),
        (
            "serve --dir FILE",
            vec![
                "serve",
                "--dir",
                &file,
                "--client-id",
                "c",
                "--addr",
                "127.0.0.1:0",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            vec![format!("{file} is a file")],
        ),
        (
            "split --file-mode 999",
            vec![
                "split",
                sample.to_str().unwrap(),
                "--out",
                "x",
                "--file-mode",
                "999",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            vec!["no file mode".to_owned(), "600".to_owned()],
        ),
    ];
    for (row, args, says) in rows {
        let ran = bin().args(&args).output().unwrap();
        let stderr = text(&ran.stderr);
        assert!(!ran.status.success(), "{row}: {stderr}");
        // One line says it all (clap adds a `--help` hint under its own).
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error: "), "{row}: {stderr}");
        for said in says {
            assert!(first.contains(&said), "{row}: {said:?} not in {stderr}");
        }
    }
}

#[test]
fn a_failed_command_leaves_no_empty_folder_it_created() {
    let root = tempfile::tempdir().unwrap();
    let closed = format!("http://{}", closed_port());
    let ids = write_ids(root.path(), 2);
    let garbage = root.path().join("garbage");
    std::fs::write(&garbage, b"this is no export at all").unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let out = |name: &str| root.path().join(name).join("nested").join("out");
    let rows: Vec<(&str, Vec<String>)> = vec![
        (
            "split",
            vec!["split".into(), garbage.to_str().unwrap().into()],
        ),
        (
            "fetch",
            [
                "fetch",
                "v-0",
                "--format",
                "json",
                "--retries",
                "0",
                "--base-url",
                &closed,
            ]
            .map(String::from)
            .to_vec(),
        ),
        (
            "fetch-ids",
            [
                "fetch",
                "--format",
                "json",
                "--retries",
                "0",
                "--base-url",
                &closed,
                "--ids",
            ]
            .map(String::from)
            .into_iter()
            .chain([ids.to_str().unwrap().to_owned()])
            .collect(),
        ),
        (
            "webhook-serve",
            [
                "webhook",
                "serve",
                "--client-id",
                "c",
                "--addr",
                &taken_addr,
            ]
            .map(String::from)
            .to_vec(),
        ),
    ];
    for (row, args) in rows {
        let dir = out(row);
        let ran = bin().args(&args).arg("--out").arg(&dir).output().unwrap();
        assert!(!ran.status.success(), "{row}: {}", text(&ran.stderr));
        assert!(
            !root.path().join(row).exists(),
            "{row}: left {} ({})",
            dir.display(),
            text(&ran.stderr)
        );
    }
    // A folder that was there before stays, empty or not.
    let before = root.path().join("before");
    std::fs::create_dir(&before).unwrap();
    let ran = bin()
        .args(["split", garbage.to_str().unwrap(), "--out"])
        .arg(&before)
        .output()
        .unwrap();
    assert!(!ran.status.success());
    assert!(before.is_dir());
    drop(taken);
}
