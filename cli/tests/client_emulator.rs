//! The client against the emulator, over loopback HTTP: every format of several stored
//! verifications saved through `Client::save` (the path `fetch` takes) byte for byte; every
//! documented error code produced from its real cause and mapped by the client; every fault kind
//! retried, given up on, or seen, with only whole files left; `fetch` end to end with a restart;
//! the CLI's `serve` (and, in the heavy step, a 1 GiB image served in bounded memory).
//!
//! Nothing here is timed: waits are read from the client's log events, stalls are seen through
//! the client's read timeout.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authenteq_export::client::{Client, ClientBuilder, Endpoint, Fetched};
use authenteq_export::export::ApiErrorCode;
use authenteq_export::save::{Outcome, OutputDir};
use authenteq_export::server::{Emulator, EmulatorBuilder, Fault};
use authenteq_export::{Error, ErrorKind};
use support::export::corpus;
use support::generate::{Noise, FILE_PARTS};

const CLIENT: &str = "client-7";
const SECRET: &str = "s3cret-Pq8wZ";
const BIN: &str = env!("CARGO_BIN_EXE_authenteq-export");

/// The corpus verification: the sample result and its eleven files.
const CORPUS_ID: &str = "8c3f6a2e-5b1d-4e7a-9f20-6d4b2c1a7e95";
/// A generated verification: a few files of noise, one of them empty, one over 1 MiB.
const NOISE_ID: &str = "noise-0001";
/// A verification with its result only, no file.
const BARE_ID: &str = "bare-0002";
/// A verification stored as a PDF export, with its result.
const PDF_ID: &str = "pdf-0003";
/// A verification whose `result.json` is no JSON object: the PDF endpoint cannot summarise it.
const BROKEN_ID: &str = "broken-0004";

/// Files of a folder by name, with their bytes.
type Files = BTreeMap<String, Vec<u8>>;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    Noise::new(seed).fill(&mut bytes);
    bytes
}

/// The sample result with another id.
fn result_with_id(id: &str) -> Vec<u8> {
    let text = String::from_utf8(corpus("result.json")).unwrap();
    let at = text.find("\"id\"").unwrap();
    let start = at + text[at + 4..].find('"').unwrap() + 5;
    let end = start + text[start..].find('"').unwrap();
    format!("{}{id}{}", &text[..start], &text[end..]).into_bytes()
}

/// What each verification of the store holds, by file name.
fn stored() -> BTreeMap<&'static str, Files> {
    let mut all = BTreeMap::new();
    let mut files = Files::new();
    files.insert("result.json".into(), corpus("result.json"));
    for (name, _, ext) in FILE_PARTS {
        let file = format!("{name}.{ext}");
        files.insert(file.clone(), corpus(&format!("files/{file}")));
    }
    all.insert(CORPUS_ID, files);

    let mut files = Files::new();
    files.insert("result.json".into(), result_with_id(NOISE_ID));
    files.insert("livenessFaceImage.jpeg".into(), noise(1, 1_300_007));
    files.insert("croppedFrontImage.png".into(), noise(2, 70_001));
    files.insert("faceImage.jpeg".into(), Vec::new());
    files.insert("addressProofDocument.pdf".into(), noise(3, 4099));
    all.insert(NOISE_ID, files);

    let mut files = Files::new();
    files.insert("result.json".into(), result_with_id(BARE_ID));
    all.insert(BARE_ID, files);

    let mut files = Files::new();
    files.insert("result.json".into(), result_with_id(PDF_ID));
    files.insert("result.pdf".into(), corpus("verification-result.pdf"));
    all.insert(PDF_ID, files);

    let mut files = Files::new();
    files.insert("result.json".into(), b"[1, 2, 3]\n".to_vec());
    all.insert(BROKEN_ID, files);
    all
}

/// A store in `split`'s layout holding [`stored`].
fn store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (id, files) in stored() {
        let folder = dir.path().join(id);
        std::fs::create_dir(&folder).unwrap();
        for (name, bytes) in files {
            std::fs::write(folder.join(name), bytes).unwrap();
        }
    }
    dir
}

fn emulator_of(dir: &Path) -> EmulatorBuilder {
    Emulator::builder(dir).credentials(CLIENT, SECRET)
}

/// A client of `emulator` with short waits: backoff of at most 5 ms, `Retry-After` obeyed for at
/// most 150 ms, a read timeout of 300 ms.
fn client_of(url: &str) -> ClientBuilder {
    Client::builder()
        .credentials(CLIENT, SECRET)
        .base_url(url)
        .backoff_base(Duration::from_millis(1))
        .backoff_cap(Duration::from_millis(5))
        .retry_after_cap(Duration::from_millis(150))
        .read_timeout(Duration::from_millis(300))
}

/// Every file of a folder, by name; fails on anything but regular files (a hidden partial file,
/// a folder).
fn dir_files(dir: &Path) -> Files {
    let mut files = Files::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        assert!(
            entry.file_type().unwrap().is_file() && !name.starts_with('.'),
            "{name} in the output folder"
        );
        files.insert(name, std::fs::read(entry.path()).unwrap());
    }
    files
}

/// What the export of `endpoint` gives of a stored verification: everything but `result.pdf`
/// for multipart and JSON, `result.pdf` alone for PDF.
fn expected(stored: &Files, endpoint: Endpoint) -> Files {
    stored
        .iter()
        .filter(|(name, _)| (endpoint == Endpoint::Pdf) == (*name == "result.pdf"))
        .map(|(n, b)| (n.clone(), b.clone()))
        .collect()
}

/// Asserts that every file of `dir` is one of `want`, byte for byte (only whole files).
fn assert_whole_files(dir: &Path, want: &Files, what: &str) -> Files {
    let have = dir_files(dir);
    for (name, bytes) in &have {
        let Some(wanted) = want.get(name) else {
            panic!("{what}: {name} is not a stored file");
        };
        assert!(
            bytes == wanted,
            "{what}: {name} differs from the stored file"
        );
    }
    have
}

async fn save(client: &Client, endpoint: Endpoint, id: &str, dir: &Path) -> Result<Fetched, Error> {
    client.save(endpoint, id, &OutputDir::create(dir)?).await
}

const ENDPOINTS: [Endpoint; 3] = [Endpoint::Multipart, Endpoint::Json, Endpoint::Pdf];

#[test]
fn every_format_of_every_verification_is_saved_byte_for_byte() {
    rt().block_on(async {
        let dir = store();
        let emulator = emulator_of(dir.path())
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let client = client_of(&emulator.url()).build().unwrap();
        let stored = stored();
        for id in [CORPUS_ID, NOISE_ID, BARE_ID, PDF_ID] {
            for endpoint in ENDPOINTS {
                let what = format!("{id} {endpoint}");
                let out = tempfile::tempdir().unwrap();
                let fetched = save(&client, endpoint, id, out.path()).await.unwrap();
                assert_eq!(fetched.attempts(), 1, "{what}");
                let have = dir_files(out.path());
                if endpoint == Endpoint::Pdf && !stored[id].contains_key("result.pdf") {
                    // The emulator's summary: whatever it served, byte for byte.
                    let served = reqwest::Client::new()
                        .get(format!(
                            "{}{}?verificationId={id}",
                            emulator.url(),
                            endpoint.path()
                        ))
                        .basic_auth(CLIENT, Some(SECRET))
                        .send()
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .unwrap();
                    assert!(served.starts_with(b"%PDF-"), "{what}");
                    assert_eq!(have.keys().collect::<Vec<_>>(), ["result.pdf"], "{what}");
                    assert!(have["result.pdf"] == served, "{what}");
                    continue;
                }
                let want = expected(&stored[id], endpoint);
                assert_eq!(
                    have.keys().collect::<Vec<_>>(),
                    want.keys().collect::<Vec<_>>(),
                    "{what}"
                );
                for (name, bytes) in &want {
                    assert!(&have[name] == bytes, "{what}: {name} differs");
                }
                // Every saved file is reported, with its size and hash, as written.
                let saved = fetched.saved();
                assert_eq!(saved.files().len(), want.len(), "{what}");
                assert_eq!(saved.written(), want.len(), "{what}");
                for file in saved.files() {
                    let s = file.saved();
                    assert_eq!(s.size(), want[s.name()].len() as u64, "{what}");
                    assert_eq!(*s.outcome(), Outcome::Created, "{what}");
                }
                if endpoint != Endpoint::Pdf {
                    assert_eq!(saved.result().unwrap().id, id, "{what}");
                }

                // Again into the same folder: nothing new, every file already there.
                let again = save(&client, endpoint, id, out.path()).await.unwrap();
                assert_eq!(again.saved().written(), 0, "{what}");
                assert_eq!(dir_files(out.path()), have, "{what}");
            }
        }
        emulator.shutdown().await.unwrap();
    });
}

/// Serves the emulator's router behind a layer that changes each request first, as a broken
/// proxy would: the cause of the error is then really in the request the emulator gets.
async fn behind(
    router: axum::Router,
    change: fn(&mut axum::http::Request<axum::body::Body>),
) -> String {
    let app = router.layer(axum::middleware::map_request(
        move |mut request: axum::http::Request<axum::body::Body>| async move {
            change(&mut request);
            request
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn no_authorization(request: &mut axum::http::Request<axum::body::Body>) {
    request.headers_mut().remove("authorization");
}

fn bad_authorization(request: &mut axum::http::Request<axum::body::Body>) {
    request.headers_mut().insert(
        "authorization",
        axum::http::HeaderValue::from_static("Basic not*base64"),
    );
}

fn with_id(request: &mut axum::http::Request<axum::body::Body>, id: &str) {
    let path = request.uri().path().to_owned();
    *request.uri_mut() = format!("{path}?verificationId={id}").parse().unwrap();
}

fn no_query(request: &mut axum::http::Request<axum::body::Body>) {
    let path = request.uri().path().to_owned();
    *request.uri_mut() = path.parse().unwrap();
}

/// Asserts that `err` is the API error `code` with `status` and `message`, and says so in its
/// text.
fn assert_api_error(err: &Error, code: &str, status: u16, message: &str, what: &str) {
    assert_eq!(err.kind(), ErrorKind::Api, "{what}: {err}");
    let api = err.api_error().unwrap_or_else(|| panic!("{what}: {err}"));
    assert_eq!(api.code.as_str(), code, "{what}");
    assert_eq!(api.message.as_deref(), Some(message), "{what}");
    assert_eq!(err.status(), Some(status), "{what}");
    assert!(
        err.to_string().contains(code) && err.to_string().contains(message),
        "{what}: {err}"
    );
    assert!(!format!("{err} {err:?}").contains(SECRET), "{what}");
}

#[test]
fn every_error_code_comes_from_its_cause_and_is_mapped_without_a_retry() {
    rt().block_on(async {
        let dir = store();
        let active = emulator_of(dir.path())
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let deactivated = emulator_of(dir.path())
            .deactivated(true)
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        // The client sends no id that breaks the rule ...
        for bad in ["..", ".hidden"] {
            let client = client_of(&active.url()).build().unwrap();
            let err = client.export(Endpoint::Json, bad).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidId, "{bad}");
        }
        assert_eq!(active.requests(), 0, "a refused id was sent");
        // ... so a proxy that mangles the id is what makes the emulator see one.
        let dotdot_id = behind(emulator_of(dir.path()).build().unwrap().router(), |r| {
            with_id(r, "..")
        })
        .await;
        let hidden_id = behind(emulator_of(dir.path()).build().unwrap().router(), |r| {
            with_id(r, ".hidden")
        })
        .await;
        let keys_missing = behind(
            emulator_of(dir.path()).build().unwrap().router(),
            no_authorization,
        )
        .await;
        let keys_bad = behind(
            emulator_of(dir.path()).build().unwrap().router(),
            bad_authorization,
        )
        .await;
        let no_id = behind(emulator_of(dir.path()).build().unwrap().router(), no_query).await;

        let wrong_secret = Client::builder()
            .credentials(CLIENT, "another-secret")
            .base_url(active.url());
        let wrong_id = Client::builder()
            .credentials("client-8", SECRET)
            .base_url(active.url());
        // (what, client, id, code, status, message)
        let cases: Vec<(&str, ClientBuilder, &str, &str, u16, &str)> = vec![
            (
                "no Authorization header",
                client_of(&keys_missing),
                CORPUS_ID,
                "API_KEYS_MISSING",
                401,
                "No API keys were provided",
            ),
            (
                "a malformed Authorization header",
                client_of(&keys_bad),
                CORPUS_ID,
                "API_KEYS_BAD",
                401,
                "The Authorization header is malformed",
            ),
            (
                "a wrong secret",
                wrong_secret,
                CORPUS_ID,
                "API_KEYS_INVALID",
                401,
                "The API keys are invalid",
            ),
            (
                "a wrong client id",
                wrong_id,
                CORPUS_ID,
                "API_KEYS_INVALID",
                401,
                "The API keys are invalid",
            ),
            (
                "a deactivated account",
                client_of(&deactivated.url()),
                CORPUS_ID,
                "ACCOUNT_DEACTIVATED",
                403,
                "The account is deactivated",
            ),
            (
                "no verificationId",
                client_of(&no_id),
                CORPUS_ID,
                "MISSING_REQUEST_PARAMETER",
                400,
                "Required request parameter 'verificationId' is not present",
            ),
            (
                "an id that is no path component",
                client_of(&dotdot_id),
                "v1",
                "INVALID_REQUEST_PARAMETER",
                400,
                "Parameter 'verificationId' is not a valid verification id",
            ),
            (
                "a hidden id",
                client_of(&hidden_id),
                "v1",
                "INVALID_REQUEST_PARAMETER",
                400,
                "Parameter 'verificationId' is not a valid verification id",
            ),
            (
                "an unknown id",
                client_of(&active.url()),
                "no-such-verification",
                "VERIFICATION_NOT_FOUND",
                404,
                "Verification not found",
            ),
        ];
        for (what, builder, id, code, status, message) in cases {
            let client = builder.retries(3).build().unwrap();
            for endpoint in ENDPOINTS {
                let what = format!("{what}, {endpoint}");
                let before = active.requests() + deactivated.requests();
                let out = tempfile::tempdir().unwrap();
                let err = save(&client, endpoint, id, out.path()).await.unwrap_err();
                assert_api_error(&err, code, status, message, &what);
                assert!(!err.is_retryable(), "{what}");
                assert!(dir_files(out.path()).is_empty(), "{what}: files written");
                // One request, not retried (the proxied emulators are not counted).
                let after = active.requests() + deactivated.requests();
                assert!(after - before <= 1, "{what}: {} requests", after - before);
                // The streaming call maps it the same way.
                let err = client.export(endpoint, id).await.unwrap_err();
                assert_api_error(&err, code, status, message, &what);
            }
        }

        // A verification stored without result.json is not found by the exports made from it.
        let retrying = client_of(&active.url()).retries(3).build().unwrap();
        let dir2 = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir2.path().join("pdf-only")).unwrap();
        std::fs::write(
            dir2.path().join("pdf-only/result.pdf"),
            b"%PDF-1.4\n%%EOF\n",
        )
        .unwrap();
        let only_pdf = emulator_of(dir2.path())
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let client2 = client_of(&only_pdf.url()).build().unwrap();
        for endpoint in [Endpoint::Multipart, Endpoint::Json] {
            let err = client2.export(endpoint, "pdf-only").await.unwrap_err();
            assert_api_error(
                &err,
                "VERIFICATION_NOT_FOUND",
                404,
                "Verification not found",
                "pdf-only",
            );
        }
        assert_eq!(only_pdf.requests(), 2);

        // The emulator's own INTERNAL_ERROR (500) is no documented API error: retried, and once
        // the budget is spent, the last answer's error is given.
        let before = active.requests();
        let out = tempfile::tempdir().unwrap();
        let err = save(&retrying, Endpoint::Pdf, BROKEN_ID, out.path())
            .await
            .unwrap_err();
        assert_eq!(active.requests() - before, 4, "{err}");
        assert_eq!(err.kind(), ErrorKind::Api, "{err}");
        assert_eq!(
            err.api_error().unwrap().code,
            ApiErrorCode::Unknown("INTERNAL_ERROR".into())
        );
        assert_eq!(err.status(), Some(500));
        assert!(err.is_retryable());
        assert!(dir_files(out.path()).is_empty());
        active.shutdown().await.unwrap();
        deactivated.shutdown().await.unwrap();
        only_pdf.shutdown().await.unwrap();
    });
}

/// The client's log lines while `f` runs on this thread (the runtime is current-thread, so the
/// emulator's and the client's tasks log here).
fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let value = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    (value, text)
}

/// The waits of the client's retries, in milliseconds, from its log lines.
fn waits(log: &str) -> Vec<u64> {
    log.lines()
        .filter(|l| l.contains("retrying export request"))
        .map(|l| {
            let at = l.find("wait_ms=").unwrap() + 8;
            l[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

#[test]
fn busy_answers_are_retried_after_their_retry_after() {
    let dir = store();
    let stored = stored();
    let busy = [
        (
            Fault::TooManyRequests {
                first: 2,
                retry_after_secs: 1,
            },
            429,
            "TOO_MANY_REQUESTS",
        ),
        (
            Fault::Unavailable {
                first: 2,
                retry_after_secs: 1,
            },
            503,
            "SERVICE_UNAVAILABLE",
        ),
    ];
    for (fault, status, code) in busy {
        let ((), log) = logged(|| {
            rt().block_on(async {
                let emulator = emulator_of(dir.path())
                    .fault(fault)
                    .build()
                    .unwrap()
                    .spawn()
                    .await
                    .unwrap();
                let client = client_of(&emulator.url()).build().unwrap();
                let out = tempfile::tempdir().unwrap();
                let fetched = save(&client, Endpoint::Multipart, CORPUS_ID, out.path())
                    .await
                    .unwrap();
                assert_eq!(fetched.attempts(), 3, "{fault}");
                assert_eq!(emulator.requests(), 3, "{fault}");
                assert_eq!(
                    dir_files(out.path()),
                    expected(&stored[CORPUS_ID], Endpoint::Multipart)
                );

                // More busy answers than retries: the last one's error, nothing written.
                let emulator = emulator_with(dir.path(), fault, 10)
                    .build()
                    .unwrap()
                    .spawn()
                    .await
                    .unwrap();
                let client = client_of(&emulator.url()).retries(2).build().unwrap();
                let out = tempfile::tempdir().unwrap();
                let err = save(&client, Endpoint::Json, CORPUS_ID, out.path())
                    .await
                    .unwrap_err();
                assert_eq!(emulator.requests(), 3, "{fault}");
                assert_eq!(err.kind(), ErrorKind::Api, "{err}");
                assert_eq!(err.status(), Some(status), "{err}");
                assert_eq!(err.api_error().unwrap().code.as_str(), code);
                assert!(err.is_retryable(), "{err}");
                assert!(dir_files(out.path()).is_empty());
            })
        });
        // `Retry-After: 1` capped at the client's 150 ms; the backoff alone is at most 5 ms.
        assert_eq!(waits(&log), [150, 150, 150, 150], "{fault}:\n{log}");
        assert!(!log.contains(SECRET) && !log.contains(CORPUS_ID), "{log}");
    }
}

/// `fault` with `first` busy answers instead of its own.
fn emulator_with(dir: &Path, fault: Fault, first: u64) -> EmulatorBuilder {
    let fault = match fault {
        Fault::TooManyRequests {
            retry_after_secs, ..
        } => Fault::TooManyRequests {
            first,
            retry_after_secs,
        },
        Fault::Unavailable {
            retry_after_secs, ..
        } => Fault::Unavailable {
            first,
            retry_after_secs,
        },
        other => other,
    };
    emulator_of(dir).fault(fault)
}

/// Where each endpoint's body is cut or stalled: past a few files, before the end.
fn cut_case(endpoint: Endpoint) -> (&'static str, u64) {
    match endpoint {
        Endpoint::Multipart => (CORPUS_ID, 15_000),
        Endpoint::Json => (CORPUS_ID, 19_000),
        _ => (PDF_ID, 10_000),
    }
}

#[test]
fn cut_and_stalled_bodies_are_retried_whole_and_leave_only_whole_files() {
    rt().block_on(async {
        let dir = store();
        let stored = stored();
        for endpoint in ENDPOINTS {
            let (id, at) = cut_case(endpoint);
            let want = expected(&stored[id], endpoint);
            for fault in [
                Fault::CloseAfter { bytes: at },
                Fault::StallAfter { bytes: at },
            ] {
                let what = format!("{endpoint}, {fault}");
                // Every answer faulty: the retries are spent, the last failure is named.
                let emulator = emulator_of(dir.path())
                    .fault(fault)
                    .build()
                    .unwrap()
                    .spawn()
                    .await
                    .unwrap();
                let client = client_of(&emulator.url()).retries(2).build().unwrap();
                let out = tempfile::tempdir().unwrap();
                let err = save(&client, endpoint, id, out.path()).await.unwrap_err();
                assert_eq!(emulator.requests(), 3, "{what}");
                assert!(err.is_retryable(), "{what}: {err}");
                match fault {
                    Fault::CloseAfter { .. } => {
                        assert_eq!(err.kind(), ErrorKind::UnexpectedEnd, "{what}: {err}");
                        assert!(
                            err.to_string().contains(&format!("after {at} of the ")),
                            "{what}: {err}"
                        );
                    }
                    _ => {
                        assert_eq!(err.kind(), ErrorKind::Timeout, "{what}: {err}");
                        assert!(
                            err.to_string().contains("read timeout (0.3 s)"),
                            "{what}: {err}"
                        );
                        assert!(
                            err.to_string().contains(&format!("after {at} bytes")),
                            "{what}: {err}"
                        );
                    }
                }
                let first_attempt = assert_whole_files(out.path(), &want, &what);
                assert!(first_attempt.len() < want.len(), "{what}");
                if endpoint != Endpoint::Pdf {
                    assert!(
                        !first_attempt.is_empty(),
                        "{what}: the cut is past a few files"
                    );
                }
                emulator.shutdown().await.unwrap();

                // Only the first answer faulty: the restart completes, and what the first
                // attempt saved is found again, not written twice.
                let emulator = emulator_of(dir.path())
                    .fault(fault)
                    .faulty_answers(1)
                    .build()
                    .unwrap()
                    .spawn()
                    .await
                    .unwrap();
                let client = client_of(&emulator.url()).retries(2).build().unwrap();
                let out = tempfile::tempdir().unwrap();
                let fetched = save(&client, endpoint, id, out.path()).await.unwrap();
                assert_eq!((fetched.attempts(), emulator.requests()), (2, 2), "{what}");
                assert_eq!(dir_files(out.path()), want, "{what}");
                for file in fetched.saved().files() {
                    let s = file.saved();
                    let outcome = if first_attempt.contains_key(s.name()) {
                        Outcome::AlreadyThere
                    } else {
                        Outcome::Created
                    };
                    assert_eq!(*s.outcome(), outcome, "{what}: {}", s.name());
                }
                emulator.shutdown().await.unwrap();
            }
        }
    });
}

#[test]
fn a_dripped_body_completes_with_gaps_under_the_idle_timeout() {
    rt().block_on(async {
        let dir = store();
        let stored = stored();
        // 100 kB/s in pieces of 5 kB every 50 ms: 0.3 to 0.4 s a body, longer than the idle
        // timeout (0.3 s), each gap far shorter.
        let emulator = emulator_of(dir.path())
            .fault(Fault::Drip {
                bytes_per_second: 100_000,
            })
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let client = client_of(&emulator.url()).retries(0).build().unwrap();
        for endpoint in ENDPOINTS {
            let id = cut_case(endpoint).0;
            let out = tempfile::tempdir().unwrap();
            let fetched = save(&client, endpoint, id, out.path()).await.unwrap();
            assert_eq!(fetched.attempts(), 1);
            assert_eq!(
                dir_files(out.path()),
                expected(&stored[id], endpoint),
                "{endpoint}"
            );
        }
        assert_eq!(emulator.requests(), 3);
        emulator.shutdown().await.unwrap();
    });
}

/// Runs `authenteq-export fetch` against `url`: its exit code, standard output and error.
fn fetch_cli(url: &str, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(BIN)
        .arg("fetch")
        .args(args)
        .args(["--base-url", url])
        .env("AUTHENTEQ_CLIENT_ID", CLIENT)
        .env("AUTHENTEQ_CLIENT_SECRET", SECRET)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
    (
        out.status.code().expect("killed by a signal"),
        stdout,
        stderr,
    )
}

#[test]
fn fetch_restarts_a_cut_export_and_reports_earlier_files_as_already_there() {
    // A runtime of its own threads: the emulators serve while this thread waits for `fetch`.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = store();
    let stored = stored();
    for endpoint in [Endpoint::Multipart, Endpoint::Json] {
        let (id, at) = cut_case(endpoint);
        let want = expected(&stored[id], endpoint);
        let fault = Fault::CloseAfter { bytes: at };
        let always = rt
            .block_on(
                emulator_of(dir.path())
                    .fault(fault)
                    .build()
                    .unwrap()
                    .spawn(),
            )
            .unwrap();
        let once = rt
            .block_on(
                emulator_of(dir.path())
                    .fault(fault)
                    .faulty_answers(1)
                    .build()
                    .unwrap()
                    .spawn(),
            )
            .unwrap();

        // Cut every time: exit 1, one error line naming the cut, whole files only.
        let out = tempfile::tempdir().unwrap();
        let args = [id, "--format", endpoint.name(), "--retries", "1", "--out"];
        let mut run = args.to_vec();
        let folder = out.path().join("spent");
        run.push(folder.to_str().unwrap());
        let (code, stdout, stderr) = fetch_cli(&always.url(), &run);
        assert_eq!(code, 1, "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(&format!("after {at} of the ")),
            "{stderr}"
        );
        assert_eq!(always.requests(), 2);
        let first_attempt = assert_whole_files(&folder, &want, endpoint.name());
        assert!(!first_attempt.is_empty() && first_attempt.len() < want.len());

        // Cut once: the restart completes; the files of the first attempt are `alreadyThere`.
        let mut run = args.to_vec();
        let folder = out.path().join("restarted");
        run.push(folder.to_str().unwrap());
        let (code, stdout, stderr) = fetch_cli(&once.url(), &run);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(once.requests(), 2);
        assert_eq!(dir_files(&folder), want);
        let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let parts = summary["parts"].as_array().unwrap();
        assert_eq!(parts.len(), want.len(), "{stdout}");
        for part in parts {
            let file = part["file"].as_str().unwrap();
            let outcome = first_attempt.contains_key(file).then_some("alreadyThere");
            assert_eq!(part["outcome"].as_str(), outcome, "{endpoint}: {part}");
            assert_eq!(part["size"], want[file].len(), "{part}");
        }

        // Fetched again into the same folder: every file already there.
        let (code, stdout, stderr) = fetch_cli(&once.url(), &run);
        assert_eq!(code, 0, "{stderr}");
        let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        for part in summary["parts"].as_array().unwrap() {
            assert_eq!(part["outcome"], "alreadyThere", "{part}");
        }
        assert_eq!(dir_files(&folder), want);

        // An API error: exit 1 with its code, nothing written, one request.
        let before = once.requests();
        let folder = out.path().join("unknown");
        let (code, _, stderr) = fetch_cli(
            &once.url(),
            &[
                "no-such-id",
                "--format",
                endpoint.name(),
                "--out",
                folder.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 1);
        assert!(stderr.contains("VERIFICATION_NOT_FOUND"), "{stderr}");
        assert_eq!(once.requests(), before + 1);
        assert!(!folder.exists() || dir_files(&folder).is_empty());
        rt.block_on(async {
            always.shutdown().await.unwrap();
            once.shutdown().await.unwrap();
        });
    }
}

/// What one garbled download gave.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Garbled {
    /// An error: nothing reported complete past the garbled byte.
    Error,
    /// A complete export that differs from the stored one in what it reports (a file's bytes,
    /// part name, file name or content type, or the result's bytes): a caller comparing hashes
    /// or names sees it.
    Differs,
    /// A complete export that reports exactly what is stored.
    Same,
}

/// One file as an export reports it: `(part name, filename, content type, bytes)`.
type Reported = (String, Option<String>, Option<String>, Vec<u8>);

/// Reads the whole export of `endpoint` through the client's streaming reader: the result's
/// JSON bytes and every file as reported.
async fn read_export(
    client: &Client,
    endpoint: Endpoint,
    id: &str,
) -> Result<(Option<Vec<u8>>, Vec<Reported>), Error> {
    use authenteq_export::export::ExportItem;
    use tokio::io::AsyncReadExt;
    let mut export = client.export(endpoint, id).await?;
    let mut result = None;
    let mut files = Vec::new();
    while let Some(item) = export.next_item().await? {
        match item {
            ExportItem::Result { json, .. } => result = Some(json.to_vec()),
            ExportItem::File(mut file) => {
                let info = file.info().clone();
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).await?;
                files.push((
                    info.name().into_owned(),
                    info.filename().map(str::to_owned),
                    info.content_type().map(str::to_owned),
                    bytes,
                ));
            }
        }
    }
    Ok((result, files))
}

/// The byte range of `needle`'s first occurrence in `hay` at or after `from`.
fn range_of(hay: &[u8], needle: &[u8], from: usize) -> std::ops::Range<u64> {
    let at = from
        + hay[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap();
    at as u64..(at + needle.len()) as u64
}

/// Every byte of every format's body garbled in turn (one emulator per offset). The guarantee:
/// a garbled byte gives an error, or an export that reports something other than what is stored
/// (so comparing a file's SHA-256, or its name, shows it). The only bytes whose change goes
/// unseen carry nothing the export reports: the multipart result part's `filename` and
/// `Content-Type` values (the part is known by its name) and the line break after the closing
/// delimiter (the epilogue). JSON and PDF bodies have none: in a JSON document every garbled
/// byte is an error (a flipped byte is never valid UTF-8 there), and a PDF's is an error (its
/// signature or trailer) or bytes that differ.
#[test]
fn a_garbled_byte_is_an_error_or_a_visible_difference() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let id = "garble";
        let folder = dir.path().join(id);
        std::fs::create_dir(&folder).unwrap();
        let result = br#"{"id":"garble","platform":"IOS"}"#.to_vec();
        let face = noise(7, 24);
        let proof = noise(8, 16);
        let mut pdf = b"%PDF-1.4\n".to_vec();
        pdf.extend(noise(9, 24));
        pdf.extend(b"\n%%EOF\n");
        std::fs::write(folder.join("result.json"), &result).unwrap();
        std::fs::write(folder.join("livenessFaceImage.jpeg"), &face).unwrap();
        std::fs::write(folder.join("addressProofDocument.pdf"), &proof).unwrap();
        std::fs::write(folder.join("result.pdf"), &pdf).unwrap();
        let file = |name: &str, filename: &str, content_type: &str, bytes: &[u8]| -> Reported {
            (name.into(), Some(filename.into()), Some(content_type.into()), bytes.to_vec())
        };
        let files = vec![
            file("livenessFaceImage", "livenessFaceImage.jpeg", "image/jpeg", &face),
            file("addressProofDocument", "addressProofDocument.pdf", "application/pdf", &proof),
        ];
        let whole = emulator_of(dir.path()).build().unwrap().spawn().await.unwrap();
        let client = client_of(&whole.url()).retries(0).build().unwrap();
        for endpoint in ENDPOINTS {
            let mut stored = match endpoint {
                Endpoint::Pdf => (None, vec![file("result", "result.pdf", "application/pdf", &pdf)]),
                _ => (Some(result.clone()), files.clone()),
            };
            let body = reqwest::Client::new()
                .get(format!("{}{}?verificationId={id}", whole.url(), endpoint.path()))
                .basic_auth(CLIENT, Some(SECRET))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            // The bytes allowed to change unseen.
            let unseen: Vec<std::ops::Range<u64>> = if endpoint == Endpoint::Multipart {
                // `filename="result.json"` from its opening to its closing quote, and
                // `Content-Type: application/json` from the space after the colon.
                let filename = range_of(&body, b"\"result.json\"", 0);
                let content_type = range_of(&body, b" application/json", filename.end as usize);
                let len = body.len() as u64;
                assert!(body.ends_with(b"--\r\n"));
                vec![filename, content_type, len - 2..len]
            } else {
                Vec::new()
            };
            // The JSON export reports the files the way its members are written.
            let (got_result, got_files) = read_export(&client, endpoint, id).await.unwrap();
            if endpoint == Endpoint::Json {
                stored = (got_result.clone(), got_files.clone());
            }
            assert_eq!((&got_result, &got_files), (&stored.0, &stored.1), "{endpoint}: unfaulted");
            for (_, _, _, bytes) in &got_files {
                assert!(!bytes.is_empty());
            }

            let mut counts = [0usize; 3];
            let addr = {
                let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                probe.local_addr().unwrap()
            };
            let garbled = client_of(&format!("http://{addr}")).retries(0).build().unwrap();
            for offset in 0..body.len() as u64 {
                // The same address every time: one client (and its TLS set-up) for all.
                let emulator = emulator_of(dir.path())
                    .fault(Fault::Garble { offset })
                    .build().unwrap().bind(addr)
                    .await
                    .unwrap();
                let outcome = match read_export(&garbled, endpoint, id).await {
                    Err(_) => Garbled::Error,
                    Ok(got) if got == stored => Garbled::Same,
                    Ok(_) => Garbled::Differs,
                };
                emulator.shutdown().await.unwrap();
                let allowed = unseen.iter().any(|r| r.contains(&offset));
                match outcome {
                    Garbled::Same => assert!(
                        allowed,
                        "{endpoint}: the byte at {offset} ({:?}) garbled, and nothing shows it",
                        char::from(body[offset as usize])
                    ),
                    Garbled::Error | Garbled::Differs => {}
                }
                if endpoint == Endpoint::Json {
                    assert_eq!(outcome, Garbled::Error, "{endpoint} at {offset}");
                }
                counts[outcome as usize] += 1;
            }
            println!(
                "{endpoint}: {} bytes garbled one at a time: {} errors, {} visible differences, {} unseen (allowed)",
                body.len(),
                counts[0],
                counts[1],
                counts[2]
            );
            // The sweep did meet each kind of place: errors, and payload bytes that differ.
            assert!(counts[0] > 0);
            if endpoint == Endpoint::Multipart {
                assert!(counts[1] > 0);
            }
        }
        whole.shutdown().await.unwrap();
    });
}

/// The built CLI's `serve`, as a child process: it announces its address and serves the store;
/// a 1 GiB stored image is served in bounded memory.
mod serve {
    use super::*;
    use futures::StreamExt;
    use std::process::{Child, Command, Stdio};

    async fn get(url: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(url)
            .basic_auth(CLIENT, Some(SECRET))
            .send()
            .await
            .unwrap()
    }

    struct Served {
        child: Child,
        url: String,
    }

    impl Drop for Served {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn serve(dir: &Path) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_authenteq-export"))
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--client-id",
                CLIENT,
                "--dir",
            ])
            .arg(dir)
            .env("AUTHENTEQ_CLIENT_SECRET", SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = support::listening_url(&mut child);
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        Served { child, url }
    }

    fn peak_rss_kib(pid: u32) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[tokio::test]
    async fn serve_prints_its_address_and_serves_the_corpus() {
        let dir = store();
        let served = serve(dir.path());
        let url = format!(
            "{}/export/verification-result-as-json?verificationId={CORPUS_ID}",
            served.url
        );
        let body = get(&url).await.bytes().await.unwrap();
        assert_eq!(body, corpus("verification-result.json"));
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), 401);
    }

    #[tokio::test]
    #[ignore = "heavy: a 1 GiB image served"]
    async fn a_1_gib_image_is_served_in_bounded_memory() {
        const GIB: u64 = 1 << 30;
        let dir = store();
        match support::free_bytes(dir.path()) {
            Some(free) if free > GIB + (64 << 20) => {}
            free => {
                eprintln!("note: 1 GiB memory test skipped: {free:?} bytes free, 1 GiB needed");
                return;
            }
        }
        // A sparse file with seeded bytes at its start and end (no multipart delimiter in
        // them), and zeros between.
        let big = dir.path().join(CORPUS_ID).join("livenessFaceImage.jpeg");
        {
            use std::io::{Seek, SeekFrom, Write};
            let mut file = std::fs::File::create(&big).unwrap();
            let seeded: Vec<u8> = (0..1u32 << 20)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 | 0x80)
                .collect();
            file.write_all(&seeded).unwrap();
            file.seek(SeekFrom::Start(GIB - seeded.len() as u64))
                .unwrap();
            file.write_all(&seeded).unwrap();
            assert_eq!(file.metadata().unwrap().len(), GIB);
        }
        let served = serve(dir.path());
        let pid = served.child.id();
        let url = format!(
            "{}/export/verification-result-as-multipart?verificationId={CORPUS_ID}",
            served.url
        );
        // A first small request warms the server up; its peak is the baseline.
        let _ = get(&format!(
            "{}/export/verification-result-as-pdf?verificationId={CORPUS_ID}",
            served.url
        ))
        .await
        .bytes()
        .await
        .unwrap();
        let baseline = peak_rss_kib(pid);
        let response = get(&url).await;
        let length: u64 = response.content_length().expect("a content length");
        assert!(length > GIB);
        let mut stream = response.bytes_stream();
        let mut got = 0u64;
        while let Some(chunk) = stream.next().await {
            got += chunk.unwrap().len() as u64;
        }
        assert_eq!(got, length);
        let peak = peak_rss_kib(pid);
        eprintln!("serve: peak RSS {baseline} KiB before, {peak} KiB after 1 GiB");
        assert!(
            peak - baseline < 16 * 1024,
            "peak RSS grew by {} KiB serving 1 GiB",
            peak - baseline
        );
    }
}
