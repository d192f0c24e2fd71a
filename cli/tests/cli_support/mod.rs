//! Helpers of the CLI package's tests only: they run the built `authenteq-export` (whose path
//! only this package's tests know) or need its dependencies, so they are not in the shared
//! `tests/support`. A `webhook serve` process started by a builder and killed when dropped, a
//! signed raw delivery of a stored verification, the API's emulator on loopback, and listings
//! of what an S3 prefix holds.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use authenteq_export::server::Emulator;
use authenteq_export::webhook::WebhookKey;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};

/// The built command-line tool.
pub const BIN: &str = env!("CARGO_BIN_EXE_authenteq-export");

/// The tool with `secret` as `AUTHENTEQ_CLIENT_SECRET`, no `RUST_LOG` and no standard input.
pub fn cli(secret: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("AUTHENTEQ_CLIENT_SECRET", secret)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

// ---------------------------------------------------------------------------------------------
// `webhook serve`
// ---------------------------------------------------------------------------------------------

/// A `webhook serve --addr 127.0.0.1:0` to start: the client id and secret it checks, where it
/// stores, and what else a test gives it. Its standard input is closed, its standard output
/// piped (the URL is read from it), its standard error piped unless inherited; `RUST_LOG` and
/// `AUTHENTEQ_CLIENT_SECRET_PREVIOUS` are removed from its environment unless set again.
#[derive(Debug)]
pub struct WebhookServe {
    client_id: String,
    secret: String,
    out: Option<OsString>,
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
    inherit_stderr: bool,
    shell_prefix: Option<String>,
}

impl WebhookServe {
    /// Checks deliveries of `client_id` signed with `secret`.
    pub fn new(client_id: &str, secret: &str) -> WebhookServe {
        WebhookServe {
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
            out: None,
            args: Vec::new(),
            envs: vec![
                ("RUST_LOG".into(), None),
                ("AUTHENTEQ_CLIENT_SECRET_PREVIOUS".into(), None),
            ],
            inherit_stderr: false,
            shell_prefix: None,
        }
    }

    /// `--out`: a folder, or an `s3://` URL.
    pub fn out(mut self, out: impl AsRef<OsStr>) -> WebhookServe {
        self.out = Some(out.as_ref().to_owned());
        self
    }

    /// One more argument, after the others.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> WebhookServe {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// More arguments, after the others.
    pub fn args<I, S>(mut self, args: I) -> WebhookServe
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Variable `key` of its environment.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> WebhookServe {
        self.envs
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// More variables of its environment (what `Moto::env` gives, say).
    pub fn envs<I, K, V>(self, vars: I) -> WebhookServe
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        vars.into_iter().fold(self, |cmd, (k, v)| cmd.env(k, v))
    }

    /// Its standard error goes to the test's, not into a pipe nobody reads.
    pub fn inherit_stderr(mut self) -> WebhookServe {
        self.inherit_stderr = true;
        self
    }

    /// Started by `sh`, which runs `words` (shell `ulimit` words ending in `&&`) before it
    /// `exec`s the tool, so that they apply to it.
    pub fn under_shell(mut self, words: &str) -> WebhookServe {
        self.shell_prefix = Some(words.to_owned());
        self
    }

    /// Starts it and waits until it says where it listens.
    pub fn spawn(self) -> Served {
        let mut cmd = match &self.shell_prefix {
            None => cli(&self.secret),
            Some(words) => {
                let mut sh = Command::new("sh");
                sh.args(["-c", &format!("{words} exec \"$0\" \"$@\""), BIN])
                    .env("AUTHENTEQ_CLIENT_SECRET", &self.secret);
                sh
            }
        };
        cmd.args(["webhook", "serve", "--addr", "127.0.0.1:0", "--client-id"])
            .arg(&self.client_id);
        if let Some(out) = &self.out {
            cmd.arg("--out").arg(out);
        }
        cmd.args(&self.args);
        for (key, value) in &self.envs {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        let stderr = if self.inherit_stderr {
            Stdio::inherit()
        } else {
            Stdio::piped()
        };
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let url = match crate::support::try_listening_url(&mut child) {
            Ok(url) => url,
            Err(line) => {
                // Say why: what it printed on its standard error as it exited.
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                let stderr = String::from_utf8_lossy(&out.stderr);
                panic!("webhook serve said {line:?}, then {}: {stderr}", out.status)
            }
        };
        Served {
            child,
            url,
            client_id: self.client_id,
            secret: self.secret,
        }
    }
}

/// A running `webhook serve`, killed when dropped.
#[derive(Debug)]
pub struct Served {
    child: Child,
    url: String,
    client_id: String,
    secret: String,
}

impl Served {
    /// `http://127.0.0.1:PORT/`, as it announced.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("{:?}: {e}", self.url))
    }

    /// `webhook send --dir DIR` to it, as the client it checks ([`cli`]); more arguments may
    /// follow.
    pub fn send(&self, dir: &Path) -> Command {
        let mut cmd = cli(&self.secret);
        cmd.args(["webhook", "send", "--to", &self.url, "--client-id"])
            .arg(&self.client_id)
            .arg("--dir")
            .arg(dir);
        cmd
    }

    /// The process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Sends it SIGTERM, without waiting.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM: {status}");
    }

    /// Sends it SIGTERM and waits for its end: how it exited, and its standard error (empty
    /// when inherited).
    pub fn stop(&mut self) -> (ExitStatus, String) {
        self.sigterm();
        let mut log = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
        }
        (self.child.wait().unwrap(), log)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Deliveries
// ---------------------------------------------------------------------------------------------

/// A signed delivery, as raw HTTP/1.1, of a verification stored as `split` lays it out: its
/// `result.json` and `livenessFaceImage.jpeg`, in a `multipart/form-data` body signed by `key`.
#[derive(Debug)]
pub struct RawDelivery {
    /// The request: head and whole body.
    pub bytes: Vec<u8>,
    /// Where the image's bytes start in [`bytes`](Self::bytes).
    pub image_at: usize,
    /// The body's length (its `Content-Length`).
    pub body_len: usize,
}

impl RawDelivery {
    /// The delivery of `dir`, signed by `key`.
    pub fn of_dir(key: &WebhookKey, dir: &Path) -> RawDelivery {
        let boundary = "raw-delivery-boundary";
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
        let mut bytes = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
             Content-Length: {}\r\nX-CLIENT-ID: {}\r\nX-SIGNATURE: {}\r\n\r\n",
            body.len(),
            key.client_id(),
            key.sign(&body)
        )
        .into_bytes();
        let image_at = bytes.len() + image_at;
        bytes.extend_from_slice(&body);
        RawDelivery {
            bytes,
            image_at,
            body_len: body.len(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The API's emulator, `--stats`
// ---------------------------------------------------------------------------------------------

/// The emulator of the API on loopback, serving the verifications under a folder on its own
/// runtime (until dropped), and counting the requests it answers.
pub struct Api {
    pub url: String,
    requests: Arc<AtomicUsize>,
    pub runtime: tokio::runtime::Runtime,
}

impl Api {
    /// Serves the verifications under `dir` to `client_id` with `secret`.
    pub fn start(dir: &Path, client_id: &str, secret: &str) -> Api {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let router = Emulator::builder(dir)
            .credentials(client_id, secret)
            .build()
            .unwrap()
            .router()
            .layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    next.run(request)
                },
            ));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move { axum::serve(listener, router).await });
        Api {
            url,
            requests,
            runtime,
        }
    }

    /// How many requests it answered.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// The peak RSS a run printed with `--stats` (its `stats:` line), in KiB.
pub fn peak_rss_kib(stderr: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("stats:"))
        .unwrap_or_else(|| panic!("no stats line in {stderr:?}"));
    line.split("peak RSS ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(" KiB"))
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {line:?}"))
}

/// The peak RSS of a run with `--stats` that succeeded, in KiB.
pub fn run_peak_rss_kib(out: &Output) -> u64 {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    peak_rss_kib(&stderr)
}

/// The SHA-256 of `bytes` in lowercase hex, as manifests give it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The setting of a test of one verification with a 1 GiB image into bucket `bucket` (made
/// here) of `moto`: a temp folder holding it as `<id>/` (see [`big_verification`]), and the
/// image's SHA-256. `None`, after printing that `test` is skipped, when the temp folder has no
/// room for the image and moto's copy.
pub fn one_gib_verification(
    test: &str,
    moto: &crate::support::moto::Moto,
    bucket: &str,
    id: &str,
) -> Option<(tempfile::TempDir, String)> {
    let data = tempfile::tempdir().unwrap();
    let needed = 3u64 << 30;
    match crate::support::free_bytes(data.path()) {
        Some(free) if free >= needed => {}
        free => {
            println!("{test}: skipped: needs {needed} bytes free in the temp folder (the image, and moto's copy), found {free:?} bytes");
            return None;
        }
    }
    moto.bucket(bucket);
    let image_sha = big_verification(data.path(), id, 1 << 30);
    Some((data, image_sha))
}

/// A verification with one large image, as `split` lays it out: `root/<id>/` with a small
/// `result.json` and a `croppedFrontImage.jpeg` of `image_len` bytes of noise (a multiple of
/// 1 MiB). The image's SHA-256 in hex.
pub fn big_verification(root: &Path, id: &str, image_len: usize) -> String {
    let folder = root.join(id);
    std::fs::create_dir_all(&folder).unwrap();
    let result = format!(r#"{{"id":"{id}","platform":"WEB"}}"#);
    std::fs::write(folder.join("result.json"), result).unwrap();
    write_noise_file(&folder.join("croppedFrontImage.jpeg"), image_len, 42)
}

/// Writes `len` bytes of seeded noise (a multiple of 1 MiB) to `path`, one MiB at a time;
/// their SHA-256 in hex.
pub fn write_noise_file(path: &Path, len: usize, seed: u64) -> String {
    use std::io::Write;
    assert_eq!(len % (1 << 20), 0, "{len}");
    let mut hasher = Sha256::new();
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut noise = crate::support::generate::Noise::new(seed);
    let mut piece = vec![0u8; 1 << 20];
    for _ in 0..len >> 20 {
        noise.fill(&mut piece);
        hasher.update(&piece);
        file.write_all(&piece).unwrap();
    }
    file.flush().unwrap();
    hex(&hasher.finalize())
}

// ---------------------------------------------------------------------------------------------
// What an S3 prefix holds
// ---------------------------------------------------------------------------------------------

/// Every key under `prefix`.
pub async fn keys(store: &dyn ObjectStore, prefix: &str) -> Vec<String> {
    let prefix = object_store::path::Path::from(prefix);
    let metas: Vec<_> = store.list(Some(&prefix)).try_collect().await.unwrap();
    metas.into_iter().map(|m| m.location.to_string()).collect()
}

/// Every key under `prefix`, with its bytes.
pub async fn contents(store: &dyn ObjectStore, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for key in keys(store, prefix).await {
        let bytes = store.get(&key.as_str().into()).await.unwrap().bytes().await;
        out.insert(key, bytes.unwrap().to_vec());
    }
    out
}

/// Every key under `prefix`, with its bytes' SHA-256 and size, read back as a stream.
pub async fn objects(store: &dyn ObjectStore, prefix: &str) -> BTreeMap<String, (String, u64)> {
    let mut out = BTreeMap::new();
    for key in keys(store, prefix).await {
        let got = store.get(&key.as_str().into()).await.unwrap();
        let mut stream = got.into_stream();
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = stream.try_next().await.unwrap() {
            hasher.update(&chunk);
            size += chunk.len() as u64;
        }
        out.insert(key, (hex(&hasher.finalize()), size));
    }
    out
}

/// What [`check_against_manifests`] found.
#[derive(Debug)]
pub struct Checked {
    /// How many objects the prefix holds.
    pub objects: usize,
    /// Each id's manifest.
    pub manifests: BTreeMap<String, serde_json::Value>,
}

/// Checks that the objects under `prefix` are exactly the manifests of `ids`, the files they
/// list (a `result.json` among them), each with the size, SHA-256 and a content type as its
/// manifest gives, and, in each id's folder, the objects named in `beside` (markers).
pub fn check_against_manifests(
    runtime: &tokio::runtime::Runtime,
    store: &dyn ObjectStore,
    prefix: &str,
    ids: &[String],
    beside: &[&str],
) -> Checked {
    let objects = runtime.block_on(objects(store, prefix));
    let mut expected = BTreeSet::new();
    let mut manifests = BTreeMap::new();
    for id in ids {
        let key = format!("{prefix}/{id}/manifest.json");
        assert!(objects.contains_key(&key), "no manifest for {id}");
        let json = runtime
            .block_on(async { store.get(&key.as_str().into()).await.unwrap().bytes().await })
            .unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(manifest["id"], id.as_str());
        expected.insert(key);
        for name in beside {
            expected.insert(format!("{prefix}/{id}/{name}"));
        }
        let files = manifest["files"].as_array().unwrap();
        assert!(
            files.iter().any(|f| f["name"] == "result.json"),
            "{manifest}"
        );
        for file in files {
            let key = format!("{prefix}/{id}/{}", file["name"].as_str().unwrap());
            let (sha, size) = objects.get(&key).unwrap_or_else(|| panic!("{key} missing"));
            assert_eq!(file["sha256"].as_str(), Some(sha.as_str()), "{key}");
            assert_eq!(file["size"].as_u64(), Some(*size), "{key}");
            assert!(file["contentType"].is_string(), "{key}");
            expected.insert(key);
        }
        manifests.insert(id.clone(), manifest);
    }
    let listed: BTreeSet<String> = objects.keys().cloned().collect();
    assert_eq!(
        listed.symmetric_difference(&expected).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "objects besides the manifests, the files they list and the markers (or some missing)"
    );
    Checked {
        objects: listed.len(),
        manifests,
    }
}
