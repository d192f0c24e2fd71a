//! The HTTP client against small hand-written HTTP servers on loopback: what it sends, how it
//! reads error answers, retries, timeouts, cut bodies, and that the secret stays secret.

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authenteq_export::client::{Client, ClientBuilder, Endpoint};
use authenteq_export::export::{ApiErrorCode, ExportItem};
use authenteq_export::save::{Outcome, OutputDir};
use authenteq_export::ErrorKind;
use base64::Engine;
use support::scripted::{
    head_len, into_body, json_export, multipart_export, only_whole_files, response, Answer, Chunks,
    Server,
};
use tokio::net::TcpListener;

const ID: &str = "client-id-7";
const SECRET: &str = "s3cret-Qw9zX";

/// A client of a scripted server: these credentials, short waits.
trait ClientOf {
    fn client(&self) -> ClientBuilder;
}

impl ClientOf for Server {
    fn client(&self) -> ClientBuilder {
        Client::builder()
            .credentials(ID, SECRET)
            .base_url(&self.url)
            .backoff_base(Duration::from_millis(1))
            .backoff_cap(Duration::from_millis(5))
            .retry_after_cap(Duration::from_millis(20))
    }
}

fn corpus(name: &str) -> PathBuf {
    support::repo_root().join("corpus").join(name)
}

fn read(path: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(path.as_ref()).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn sends_the_path_the_encoded_id_and_basic_credentials() {
    rt().block_on(async {
        let server = Server::start(vec![Answer::Whole(json_export())]).await;
        let client = server.client().build().unwrap();
        // Every character here passes the id rule, and each but the letters needs encoding.
        let mut export = client.json("a b&c=é%+").await.unwrap();
        let mut files = 0;
        while let Some(item) = export.next_item().await.unwrap() {
            if let ExportItem::File(mut file) = item {
                let mut bytes = Vec::new();
                tokio::io::copy(&mut file, &mut bytes).await.unwrap();
                files += 1;
            }
        }
        assert_eq!(files, 11);
        let head = server.head(0);
        let first = head.lines().next().unwrap();
        assert_eq!(
            first,
            "GET /export/verification-result-as-json?verificationId=a+b%26c%3D%C3%A9%25%2B HTTP/1.1"
        );
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{ID}:{SECRET}"));
        assert!(
            head.lines()
                .any(|l| l.eq_ignore_ascii_case(&format!("authorization: Basic {token}"))),
            "{head}"
        );
    });
}

#[test]
fn every_endpoint_has_its_path() {
    rt().block_on(async {
        let pdf = response(
            "200 OK",
            &[("Content-Type", "application/pdf")],
            &read(corpus("verification-result.pdf")),
        );
        for (endpoint, answer) in [
            (Endpoint::Multipart, multipart_export()),
            (Endpoint::Json, json_export()),
            (Endpoint::Pdf, pdf),
        ] {
            let server = Server::start(vec![Answer::Whole(answer)]).await;
            let client = server
                .client()
                .base_url(format!("{}/base/", server.url))
                .build()
                .unwrap();
            let mut export = client.export(endpoint, "v1").await.unwrap();
            while export.next_item().await.unwrap().is_some() {}
            assert!(
                server
                    .head(0)
                    .starts_with(&format!("GET /base{}?verificationId=v1 ", endpoint.path())),
                "{}",
                server.head(0)
            );
        }
    });
}

#[test]
fn api_errors_come_with_their_code_and_status_and_are_not_retried() {
    let statuses = [
        ("MISSING_REQUEST_PARAMETER", 400),
        ("INVALID_REQUEST_PARAMETER", 400),
        ("API_KEYS_MISSING", 401),
        ("API_KEYS_INVALID", 401),
        ("API_KEYS_BAD", 401),
        ("ACCOUNT_DEACTIVATED", 403),
        ("VERIFICATION_NOT_FOUND", 404),
    ];
    rt().block_on(async {
        for (code, status) in statuses {
            let body = read(corpus("errors").join(format!("{code}.json")));
            // The documented status, and a 500: a documented error is never retried.
            for status in [status, 500] {
                let reason = format!("{status} X");
                let server = Server::start(vec![Answer::Whole(response(
                    &reason,
                    &[("Content-Type", "application/json")],
                    &body,
                ))])
                .await;
                let client = server.client().build().unwrap();
                let err = client.multipart("v1").await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Api, "{code}");
                assert_eq!(err.status(), Some(status));
                assert_eq!(err.http_status(), status);
                let api = err.api_error().unwrap();
                assert_eq!(api.code, ApiErrorCode::from(code));
                assert_eq!(api.http_status, Some(status));
                assert!(api.message.is_some(), "{code}: no message read");
                assert!(!err.is_retryable());
                assert_eq!(server.requests(), 1, "{code} {status} was retried");
            }
        }
    });
}

#[test]
fn error_description_is_read_as_the_message() {
    rt().block_on(async {
        let body =
            br#"{"errorCode":"VERIFICATION_NOT_FOUND","errorDescription":"No such verification."}"#;
        let server = Server::start(vec![Answer::Whole(response(
            "404 Not Found",
            &[("Content-Type", "application/json")],
            body,
        ))])
        .await;
        let err = server
            .client()
            .build()
            .unwrap()
            .pdf("v1")
            .await
            .unwrap_err();
        assert_eq!(
            err.api_error().unwrap().message.as_deref(),
            Some("No such verification.")
        );
        assert_eq!(
            err.to_string(),
            "API error VERIFICATION_NOT_FOUND: No such verification (HTTP 404)"
        );
    });
}

#[test]
fn an_html_404_names_status_type_and_first_bytes() {
    rt().block_on(async {
        let server = Server::start(vec![Answer::Whole(response(
            "404 Not Found",
            &[("Content-Type", "text/html")],
            b"<html><body>Not Found</body></html>",
        ))])
        .await;
        let err = server
            .client()
            .build()
            .unwrap()
            .json("v1")
            .await
            .unwrap_err();
        // A path the server does not know is no format problem: the error points at the base URL.
        assert_eq!(err.kind(), ErrorKind::Http);
        assert_eq!(err.status(), Some(404));
        let text = err.to_string();
        assert!(
            text.starts_with(
                "http error: the server answered 404 for /export/verification-result-as-json: \
                 is the base URL right? ("
            ),
            "{text}"
        );
        assert!(text.contains("HTTP 404 text/html"), "{text}");
        assert!(text.contains("<html><body>"), "{text}");
        assert!(!err.is_retryable());
        assert_eq!(server.requests(), 1);
    });
}

#[test]
fn a_success_of_the_wrong_content_type_is_an_error() {
    rt().block_on(async {
        let html = response("200 OK", &[("Content-Type", "text/html")], b"<html>login</html>");
        let server = Server::start(vec![Answer::Whole(html)]).await;
        let err = server.client().build().unwrap().json("v1").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedContentType);
        assert_eq!(err.status(), Some(200));
        assert_eq!(
            err.to_string(),
            "unexpected content-type: HTTP 200 text/html: the json endpoint answers application/json"
        );
        // The JSON export on the PDF endpoint.
        let server = Server::start(vec![Answer::Whole(json_export())]).await;
        let err = server.client().build().unwrap().pdf("v1").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedContentType);
    });
}

#[test]
fn a_503_with_retry_after_is_retried_unseen() {
    rt().block_on(async {
        for retry_after in ["1", "Sun, 06 Nov 2101 08:49:37 GMT"] {
            let busy = response(
                "503 Service Unavailable",
                &[("Content-Type", "text/plain"), ("Retry-After", retry_after)],
                b"busy",
            );
            let server =
                Server::start(vec![Answer::Whole(busy), Answer::Whole(multipart_export())]).await;
            let client = server.client().build().unwrap();
            let mut export = client.multipart("v1").await.unwrap();
            let mut items = 0;
            while export.next_item().await.unwrap().is_some() {
                items += 1;
            }
            assert_eq!(items, 12);
            assert_eq!(server.requests(), 2);
        }
    });
}

#[test]
fn a_5xx_with_an_unknown_body_is_retried_and_a_403_is_not() {
    rt().block_on(async {
        let bad = response(
            "502 Bad Gateway",
            &[("Content-Type", "text/html")],
            b"<html>bad gateway</html>",
        );
        let server = Server::start(vec![Answer::Whole(bad), Answer::Whole(json_export())]).await;
        let mut export = server.client().build().unwrap().json("v1").await.unwrap();
        while export.next_item().await.unwrap().is_some() {}
        assert_eq!(server.requests(), 2);

        let forbidden = response(
            "403 Forbidden",
            &[("Content-Type", "text/html")],
            b"<html>no</html>",
        );
        let server =
            Server::start(vec![Answer::Whole(forbidden), Answer::Whole(json_export())]).await;
        let err = server
            .client()
            .build()
            .unwrap()
            .json("v1")
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(403));
        assert_eq!(server.requests(), 1);
    });
}

#[test]
fn a_429_that_does_not_pass_gives_up_with_the_last_error() {
    rt().block_on(async {
        let limited = response(
            "429 Too Many Requests",
            &[("Content-Type", "text/plain"), ("Retry-After", "0")],
            b"slow down",
        );
        let server = Server::start(vec![Answer::Whole(limited)]).await;
        let client = server.client().retries(2).build().unwrap();
        let err = client.json("v1").await.unwrap_err();
        assert_eq!(server.requests(), 3);
        assert_eq!(err.status(), Some(429));
        assert!(err.is_retryable());
        assert!(err.to_string().contains("HTTP 429 text/plain"), "{err}");
    });
}

#[test]
fn a_body_cut_mid_file_is_a_truncation_error() {
    rt().block_on(async {
        let whole = multipart_export();
        let server = Server::start(vec![Answer::Cut(whole.clone(), 20_000)]).await;
        let client = server.client().retries(0).build().unwrap();
        let mut export = client.multipart("v1").await.unwrap();
        let err = loop {
            match export.next_item().await {
                Ok(Some(ExportItem::File(mut file))) => {
                    if let Err(e) = tokio::io::copy(&mut file, &mut tokio::io::sink()).await {
                        break authenteq_export::Error::from(e);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => panic!("a cut body read as complete"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), ErrorKind::UnexpectedEnd, "{err}");
        assert!(err.is_retryable());
        let body_len = whole.len() - head_len(&whole);
        assert!(
            err.to_string()
                .contains(&format!("after 20000 of the {body_len} bytes")),
            "{err}"
        );
    });
}

#[test]
fn save_restarts_a_cut_export_and_keeps_only_whole_files() {
    rt().block_on(async {
        for (answer, format) in [(multipart_export(), "multipart"), (json_export(), "json")] {
            let endpoint: Endpoint = format.parse().unwrap();
            let server = Server::start(vec![
                Answer::Cut(answer.clone(), into_body(&answer, 1, 3)),
                Answer::Cut(answer.clone(), into_body(&answer, 2, 3)),
                Answer::Whole(answer.clone()),
            ])
            .await;
            let folder = tempfile::tempdir().unwrap();
            let dir = OutputDir::create(folder.path()).unwrap();
            let fetched = server
                .client()
                .build()
                .unwrap()
                .save(endpoint, "v1", &dir)
                .await
                .unwrap();
            assert_eq!(fetched.attempts(), 3);
            assert_eq!(server.requests(), 3);
            assert_eq!(only_whole_files(folder.path()), 12, "{format}");
            let again = fetched
                .saved()
                .files()
                .iter()
                .filter(|f| *f.saved().outcome() == Outcome::AlreadyThere)
                .count();
            assert!(again > 0, "{format}: the restart wrote files again");
            assert!(fetched
                .saved()
                .files()
                .iter()
                .all(|f| !matches!(f.saved().outcome(), Outcome::Renamed { .. })));

            // Cut every time: the retries are spent, the last error is given, whole files only.
            let server =
                Server::start(vec![Answer::Cut(answer.clone(), into_body(&answer, 1, 2))]).await;
            let folder = tempfile::tempdir().unwrap();
            let dir = OutputDir::create(folder.path()).unwrap();
            let err = server
                .client()
                .retries(2)
                .build()
                .unwrap()
                .save(endpoint, "v1", &dir)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnexpectedEnd, "{err}");
            assert_eq!(server.requests(), 3);
            let left = only_whole_files(folder.path());
            assert!(left < 12, "{format}: {left} files from a cut body");
        }
    });
}

#[test]
fn a_stalled_answer_times_out() {
    rt().block_on(async {
        let whole = multipart_export();
        // No head at all, then a head and a few body bytes.
        for answer in [
            Answer::Silent,
            Answer::Stall(whole.clone(), into_body(&whole, 1, 2)),
        ] {
            let server = Server::start(vec![answer]).await;
            let client = server
                .client()
                .retries(1)
                .read_timeout(Duration::from_millis(300))
                .build()
                .unwrap();
            let err = match client.multipart("v1").await {
                Err(e) => e,
                Ok(mut export) => loop {
                    match export.next_item().await {
                        Ok(Some(ExportItem::File(mut file))) => {
                            if let Err(e) = tokio::io::copy(&mut file, &mut tokio::io::sink()).await
                            {
                                break authenteq_export::Error::from(e);
                            }
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => panic!("a stalled body read as complete"),
                        Err(e) => break e,
                    }
                },
            };
            assert!(err.is_timeout(), "{err:?}");
            assert!(err.is_retryable());
        }
    });
}

#[test]
fn a_refused_connection_is_a_connect_error() {
    rt().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let client = Client::builder()
            .credentials(ID, SECRET)
            .base_url(url)
            .retries(0)
            .build()
            .unwrap();
        let err = client.json("v1").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Http);
        assert!(err.is_connect(), "{err:?}");
        assert!(err.is_retryable());
    });
}

#[test]
fn bad_ids_are_refused_before_any_request() {
    rt().block_on(async {
        let server = Server::start(vec![Answer::Whole(json_export())]).await;
        let client = server.client().build().unwrap();
        let long = "x".repeat(129);
        for id in ["", "a\r\nHost: evil", "nul\0", long.as_str()] {
            let err = client.json(id).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidId, "{id:?}");
            let folder = tempfile::tempdir().unwrap();
            let dir = OutputDir::create(folder.path()).unwrap();
            assert_eq!(
                client
                    .save(Endpoint::Json, id, &dir)
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::InvalidId
            );
        }
        assert_eq!(server.requests(), 0);
        assert!(client.json(&"x".repeat(128)).await.is_ok());
    });
}

/// A `tracing` writer that keeps what it is given.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything the test binary logs from now on, at `DEBUG` and above. A subscriber for the
/// whole process rather than `with_default` on one thread: tracing caches whether a callsite
/// is wanted, and a test on another thread that reaches the callsite first would hide it from
/// a thread's own subscriber. The other tests' events land here too; none may hold a secret.
fn global_log() -> Log {
    static LOG: std::sync::OnceLock<Log> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        log
    })
    .clone()
}

#[test]
fn the_secret_and_the_id_stay_out_of_debug_errors_and_logs() {
    let log = global_log();
    let verification = "verif-5f1e-PRIVATE";
    let mut shown = Vec::new();
    {
        rt().block_on(async {
            let busy = response(
                "503 Service Unavailable",
                &[("Content-Type", "text/plain")],
                b"busy",
            );
            let server =
                Server::start(vec![Answer::Whole(busy), Answer::Cut(json_export(), 5000)]).await;
            let client = server.client().retries(1).build().unwrap();
            shown.push(format!("{client:?}"));
            shown.push(format!("{:?}", server.client()));
            let folder = tempfile::tempdir().unwrap();
            let dir = OutputDir::create(folder.path()).unwrap();
            let err = client
                .save(Endpoint::Json, verification, &dir)
                .await
                .unwrap_err();
            shown.push(format!("{err} {err:?}"));
            let mut cause = std::error::Error::source(&err);
            while let Some(e) = cause {
                shown.push(format!("{e} {e:?}"));
                cause = e.source();
            }
            let refused = Client::builder()
                .credentials(ID, SECRET)
                .base_url("http://127.0.0.1:1")
                .retries(0)
                .build()
                .unwrap();
            let err = refused.json(verification).await.unwrap_err();
            shown.push(format!(
                "{err} {err:?} {:?}",
                std::error::Error::source(&err)
            ));
        });
    }
    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("retrying export request"), "{log}");
    assert!(log.contains("export request failed"), "{log}");
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{ID}:{SECRET}"));
    for text in shown.iter().chain([&log]) {
        for secret in [SECRET, token.as_str(), verification] {
            assert!(!text.contains(secret), "{secret:?} in {text}");
        }
    }
    assert!(shown[0].contains("<redacted>"), "{}", shown[0]);
}

/// Reads `export` to its end, files included; the error that stopped it.
async fn read_to_error(
    export: authenteq_export::Result<
        authenteq_export::export::Export<authenteq_export::client::ResponseBody>,
    >,
) -> authenteq_export::Error {
    let mut export = match export {
        Ok(export) => export,
        Err(e) => return e,
    };
    loop {
        match export.next_item().await {
            Ok(Some(ExportItem::File(mut file))) => {
                if let Err(e) = tokio::io::copy(&mut file, &mut tokio::io::sink()).await {
                    return authenteq_export::Error::from(e);
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("the export read as complete"),
            Err(e) => return e,
        }
    }
}

const MIB: usize = 1 << 20;

fn endless_head(content_type: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

/// 1 MiB of bytes that are no delimiter, no base64 padding, and a JPEG to no one.
fn filler(byte: u8) -> Vec<u8> {
    vec![byte; MIB]
}

const RESULT: &str = r#"{"id":"v1","platform":"WEB"}"#;

/// A multipart export whose one file never ends.
fn endless_multipart_file() -> Chunks {
    let mut start = endless_head("multipart/mixed; boundary=endless");
    start.extend_from_slice(
        format!(
            "--endless\r\nContent-Disposition: form-data; name=\"result\"\r\n\
             Content-Type: application/json\r\n\r\n{RESULT}\r\n--endless\r\n\
             Content-Disposition: form-data; name=\"faceImage\"; filename=\"faceImage.jpeg\"\r\n\
             Content-Type: image/jpeg\r\n\r\n"
        )
        .as_bytes(),
    );
    Box::new(std::iter::once(start).chain(std::iter::repeat_with(|| filler(b'Z'))))
}

/// A JSON export whose one file's base64 never ends.
fn endless_json_file() -> Chunks {
    let mut start = endless_head("application/json");
    start.extend_from_slice(
        br#"{"id":"v1","platform":"WEB","livenessFaceImage":{"contentType":"image/jpeg","content":""#,
    );
    Box::new(std::iter::once(start).chain(std::iter::repeat_with(|| filler(b'A'))))
}

/// A PDF export that never ends.
fn endless_pdf() -> Chunks {
    let mut start = endless_head("application/pdf");
    start.extend_from_slice(b"%PDF-1.7\n");
    Box::new(std::iter::once(start).chain(std::iter::repeat_with(|| filler(b'%'))))
}

/// A multipart export of files of 48 MiB each, under the file cap, that never ends.
fn endless_multipart_files() -> Chunks {
    let mut start = endless_head("multipart/mixed; boundary=endless");
    start.extend_from_slice(
        format!(
            "--endless\r\nContent-Disposition: form-data; name=\"result\"\r\n\
             Content-Type: application/json\r\n\r\n{RESULT}\r\n"
        )
        .as_bytes(),
    );
    let files = (0..).flat_map(|n| {
        let head = format!(
            "--endless\r\nContent-Disposition: form-data; name=\"extra{n}\"; \
             filename=\"extra{n}.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        );
        std::iter::once(head.into_bytes())
            .chain(std::iter::repeat_with(|| filler(b'Z')).take(48))
            .chain(std::iter::once(b"\r\n".to_vec()))
    });
    Box::new(std::iter::once(start).chain(files))
}

#[test]
fn an_endless_file_stops_at_the_default_file_cap_in_every_format() {
    use authenteq_export::client::DEFAULT_MAX_FILE_BYTES;
    use authenteq_export::Limit;
    rt().block_on(async {
        for (endpoint, answer) in [
            (
                Endpoint::Multipart,
                endless_multipart_file as fn() -> Chunks,
            ),
            (Endpoint::Json, endless_json_file),
            (Endpoint::Pdf, endless_pdf),
        ] {
            let server = Server::start(vec![Answer::Endless(answer)]).await;
            let folder = tempfile::tempdir().unwrap();
            let dir = OutputDir::create(folder.path()).unwrap();
            let started = std::time::Instant::now();
            let err = server
                .client()
                .build()
                .unwrap()
                .save(endpoint, "v1", &dir)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{endpoint}: {err}");
            assert_eq!(
                err.limit(),
                Some((Limit::PartBytes, DEFAULT_MAX_FILE_BYTES)),
                "{endpoint}"
            );
            let text = err.to_string();
            assert!(
                text.ends_with(
                    "; a file over the client's max_file_bytes cap: raise it with \
                     ClientBuilder::max_file_bytes or the --max-file-bytes flag"
                ),
                "{endpoint}: {text}"
            );
            assert!(!err.is_retryable());
            assert_eq!(server.requests(), 1, "{endpoint}");
            // The file cut at the cap is not left behind.
            let left: Vec<_> = std::fs::read_dir(folder.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert!(
                left.iter().all(|n| n == "result.json"),
                "{endpoint}: {left:?}"
            );
            eprintln!(
                "{endpoint}: stopped at the file cap in {:?}",
                started.elapsed()
            );
        }
    });
}

#[test]
fn an_endless_body_of_files_under_the_file_cap_stops_at_the_default_body_cap() {
    use authenteq_export::client::DEFAULT_MAX_BODY_BYTES;
    use authenteq_export::Limit;
    rt().block_on(async {
        let server = Server::start(vec![Answer::Endless(endless_multipart_files)]).await;
        let client = server.client().build().unwrap();
        let started = std::time::Instant::now();
        let err = read_to_error(client.multipart("v1").await).await;
        assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
        assert_eq!(
            err.limit(),
            Some((Limit::BodyBytes, DEFAULT_MAX_BODY_BYTES))
        );
        assert_eq!(err.offset(), Some(DEFAULT_MAX_BODY_BYTES));
        let text = err.to_string();
        assert!(
            text.starts_with("limit max_body_bytes (268435456) exceeded")
                && text.ends_with(
                    "; an answer over the client's max_body_bytes cap: raise it with \
                     ClientBuilder::max_body_bytes or the --max-body-bytes flag"
                ),
            "{text}"
        );
        assert!(!err.is_retryable());
        eprintln!("stopped at the body cap in {:?}", started.elapsed());
    });
}

#[test]
fn raised_caps_let_a_large_export_through() {
    rt().block_on(async {
        let whole = json_export();
        let body = (whole.len() - head_len(&whole)) as u64;
        let server = Server::start(vec![Answer::Whole(whole)]).await;
        // Exactly the body's size is enough; one byte less is not.
        let client = server.client().max_body_bytes(body).build().unwrap();
        let mut export = client.json("v1").await.unwrap();
        while let Some(item) = export.next_item().await.unwrap() {
            if let ExportItem::File(mut file) = item {
                tokio::io::copy(&mut file, &mut tokio::io::sink())
                    .await
                    .unwrap();
            }
        }
        let client = server.client().max_body_bytes(body - 1).build().unwrap();
        let err = read_to_error(client.json("v1").await).await;
        assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
        assert_eq!(err.offset(), Some(body - 1), "{err}");
    });
}

#[test]
fn a_dripped_body_stops_at_the_attempt_deadline() {
    rt().block_on(async {
        // 20 bytes every 20 ms: far inside the read timeout, an hour for the whole export.
        let server = Server::start(vec![Answer::Drip(
            json_export(),
            20,
            Duration::from_millis(20),
        )])
        .await;
        let client = server
            .client()
            .retries(0)
            .attempt_timeout(Duration::from_millis(600))
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        let err = read_to_error(client.json("v1").await).await;
        let took = started.elapsed();
        assert!(err.is_timeout(), "{err:?}");
        assert!(
            err.to_string()
                .contains("the attempt's deadline (0.6 s) passed"),
            "{err}"
        );
        assert!(err.is_retryable());
        assert!(
            took >= Duration::from_millis(600) && took < Duration::from_secs(5),
            "{took:?}"
        );
    });
}

#[test]
fn endless_informational_answers_stop_at_the_attempt_deadline() {
    rt().block_on(async {
        let server = Server::start(vec![Answer::Informational(Duration::from_millis(20))]).await;
        let client = server
            .client()
            .retries(1)
            .attempt_timeout(Duration::from_millis(400))
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        let err = client.pdf("v1").await.unwrap_err();
        let took = started.elapsed();
        assert!(err.is_timeout(), "{err:?}");
        assert!(
            err.to_string()
                .contains("the attempt's deadline (0.4 s) passed"),
            "{err}"
        );
        // Each attempt ended at its deadline.
        assert_eq!(server.requests(), 2);
        assert!(took < Duration::from_secs(5), "{took:?}");
    });
}

/// A loopback listener that counts the connections made to it and answers each with the JSON
/// export, for a name that a client resolves to it.
struct Counting {
    addr: std::net::SocketAddr,
    server: Server,
}

impl Counting {
    async fn start() -> Counting {
        let server = Server::start(vec![Answer::Whole(json_export())]).await;
        let addr = server.url.trim_start_matches("http://").parse().unwrap();
        Counting { addr, server }
    }

    /// A reqwest client that sends `api.example.test` to this listener: no DNS lookup, and
    /// no traffic that leaves loopback.
    fn http(&self) -> authenteq_export::client::reqwest::Client {
        authenteq_export::client::reqwest::Client::builder()
            .resolve("api.example.test", self.addr)
            .build()
            .unwrap()
    }
}

#[test]
fn plain_http_to_a_host_that_is_not_loopback_is_refused_unless_allowed() {
    rt().block_on(async {
        let counting = Counting::start().await;
        let url = format!("http://api.example.test:{}", counting.addr.port());
        let err = Client::builder()
            .credentials(ID, SECRET)
            .base_url(&url)
            .http_client(counting.http())
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage);
        let text = err.to_string();
        assert!(text.contains("unencrypted"), "{text}");
        assert!(text.contains("allow_insecure_http(true)"), "{text}");
        assert!(text.contains("--allow-insecure-http"), "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(counting.server.requests(), 0);

        let client = Client::builder()
            .credentials(ID, SECRET)
            .base_url(&url)
            .http_client(counting.http())
            .allow_insecure_http(true)
            .build()
            .unwrap();
        let mut export = client.json("v1").await.unwrap();
        while export.next_item().await.unwrap().is_some() {}
        assert_eq!(counting.server.requests(), 1);
        let head = counting.server.head(0);
        assert!(
            head.lines().any(|l| l
                .eq_ignore_ascii_case(&format!("host: api.example.test:{}", counting.addr.port()))),
            "{head}"
        );
    });
}

#[test]
fn which_base_urls_need_the_opt_in() {
    for (url, allowed) in [
        ("http://127.0.0.1:8080", true),
        ("http://127.9.9.9", true),
        ("http://[::1]:8080", true),
        ("http://localhost:8080", true),
        ("http://LOCALHOST", true),
        ("https://api.example.test", true),
        ("http://api.example.test", false),
        ("http://10.0.0.1", false),
        ("http://[::2]", false),
        ("http://localhost.example.test", false),
        ("http://user:pw@api.example.test", false),
    ] {
        let built = Client::builder()
            .credentials(ID, SECRET)
            .base_url(url)
            .build();
        assert_eq!(built.is_ok(), allowed, "{url}");
        if let Err(err) = built {
            assert!(!err.to_string().contains("pw@"), "{err}");
        }
        let opted = Client::builder()
            .credentials(ID, SECRET)
            .base_url(url)
            .allow_insecure_http(true)
            .build();
        assert!(opted.is_ok(), "{url}");
    }
}

/// `pattern` with `*` standing for any text.
fn matches(pattern: &str, text: &str) -> bool {
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    for (i, piece) in pieces.iter().enumerate() {
        if i + 1 == pieces.len() {
            return rest.ends_with(piece);
        }
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// What goes wrong in a row of the error table.
#[derive(Debug, Clone, Copy)]
enum Scenario {
    Refused,
    WrongBasePath,
    HttpsToPlainHttp,
    PlainHttpElsewhere,
    BodyCap,
    FileCap,
    AttemptDeadline,
    ReadTimeout,
    TotalDeadline,
    NotFound,
}

/// The error of `scenario`, and the server's `host:port`.
async fn scenario_error(scenario: Scenario) -> (authenteq_export::Error, String) {
    let html_404 = response(
        "404 Not Found",
        &[("Content-Type", "text/html")],
        b"<html><body>Not Found</body></html>",
    );
    let script = match scenario {
        Scenario::WrongBasePath => vec![Answer::Whole(html_404)],
        Scenario::HttpsToPlainHttp => vec![Answer::Unasked(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
        )],
        Scenario::BodyCap => vec![Answer::Whole(json_export())],
        Scenario::FileCap => vec![Answer::Whole(multipart_export())],
        Scenario::AttemptDeadline => {
            vec![Answer::Drip(json_export(), 20, Duration::from_millis(20))]
        }
        Scenario::ReadTimeout | Scenario::TotalDeadline => vec![Answer::Silent],
        Scenario::NotFound => vec![Answer::Whole(response(
            "404 Not Found",
            &[("Content-Type", "application/json")],
            &read(corpus("errors/VERIFICATION_NOT_FOUND.json")),
        ))],
        Scenario::Refused | Scenario::PlainHttpElsewhere => vec![Answer::Silent],
    };
    let server = Server::start(script).await;
    let host = server.url.trim_start_matches("http://").to_owned();
    let client = server.client().retries(0);
    let client = match scenario {
        Scenario::Refused => {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            drop(listener);
            let client = client.base_url(format!("http://{addr}"));
            return (client.build().unwrap().json("v1").await.unwrap_err(), addr);
        }
        Scenario::PlainHttpElsewhere => {
            let client = client.base_url("http://api.example.test/v1?id=x");
            return (client.build().unwrap_err(), host);
        }
        Scenario::WrongBasePath => client.base_url(format!("{}/v1", server.url)),
        Scenario::HttpsToPlainHttp => client.base_url(format!("https://{host}")),
        Scenario::BodyCap => client.max_body_bytes(1000),
        Scenario::FileCap => client.max_file_bytes(1000),
        Scenario::AttemptDeadline => client.attempt_timeout(Duration::from_millis(300)),
        Scenario::ReadTimeout => client.read_timeout(Duration::from_millis(300)),
        Scenario::TotalDeadline => client
            .read_timeout(Duration::from_secs(10))
            .timeout(Duration::from_millis(300)),
        Scenario::NotFound => client,
    };
    let client = client.build().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let dir = OutputDir::create(folder.path()).unwrap();
    let endpoint = match scenario {
        Scenario::FileCap => Endpoint::Multipart,
        _ => Endpoint::Json,
    };
    (client.save(endpoint, "v1", &dir).await.unwrap_err(), host)
}

#[test]
fn errors_name_their_subject() {
    let table = [
        (
            Scenario::Refused,
            "http error: cannot connect to http://{host} (connection refused)",
        ),
        (
            Scenario::WrongBasePath,
            "http error: the server answered 404 for /v1/export/verification-result-as-json: \
             is the base URL right? (HTTP 404 text/html, first bytes \"<html><body>Not Found</body></html>\")",
        ),
        (
            Scenario::HttpsToPlainHttp,
            "http error: cannot connect to https://{host} (the server does not speak TLS: is it \
             a plain HTTP server, http://{host}?)",
        ),
        (
            Scenario::PlainHttpElsewhere,
            "invalid use: the base URL http://api.example.test is plain http to a host that is \
             not loopback: the client secret and the exports would cross the network \
             unencrypted; use https, or allow it with ClientBuilder::allow_insecure_http(true) \
             or the --allow-insecure-http flag",
        ),
        (
            Scenario::BodyCap,
            "limit max_body_bytes (1000) exceeded* at byte 1000; an answer over the client's \
             max_body_bytes cap: raise it with ClientBuilder::max_body_bytes or the \
             --max-body-bytes flag",
        ),
        (
            Scenario::FileCap,
            "limit max_part_bytes (1000) exceeded in part 1 \"result\" at byte *; a file over \
             the client's max_file_bytes cap: raise it with ClientBuilder::max_file_bytes or \
             the --max-file-bytes flag",
        ),
        (
            Scenario::AttemptDeadline,
            "timed out: http://{host}: the attempt's deadline (0.3 s) passed*",
        ),
        (
            Scenario::ReadTimeout,
            "timed out: http://{host}: nothing came within the read timeout (0.3 s)",
        ),
        (
            Scenario::TotalDeadline,
            "timed out: http://{host}: the total deadline (0.3 s) passed",
        ),
        (
            Scenario::NotFound,
            "API error VERIFICATION_NOT_FOUND: * (HTTP 404)",
        ),
    ];
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{ID}:{SECRET}"));
    rt().block_on(async {
        for (scenario, want) in table {
            let (err, host) = scenario_error(scenario).await;
            let text = err.to_string();
            let want = want.replace("{host}", &host);
            assert!(
                matches(&want, &text),
                "{scenario:?}:\n  want {want}\n  got  {text}"
            );
            let mut shown = format!("{err} {err:?}");
            let mut cause = std::error::Error::source(&err);
            while let Some(e) = cause {
                shown.push_str(&format!(" {e} {e:?}"));
                cause = e.source();
            }
            for secret in [SECRET, token.as_str(), "Authorization", "authorization"] {
                assert!(
                    !shown.contains(secret),
                    "{scenario:?}: {secret:?} in {shown}"
                );
            }
        }
    });
}

#[test]
fn status_codes_come_as_reqwest_gives_them() {
    use authenteq_export::client::StatusCode;
    rt().block_on(async {
        let server = Server::start(vec![Answer::Whole(response(
            "404 Not Found",
            &[("Content-Type", "application/json")],
            &read(corpus("errors/VERIFICATION_NOT_FOUND.json")),
        ))])
        .await;
        let err = server
            .client()
            .build()
            .unwrap()
            .json("v1")
            .await
            .unwrap_err();
        assert_eq!(err.status_code(), Some(StatusCode::NOT_FOUND));
        assert_eq!(err.status(), Some(404));
        let refused = Client::builder()
            .credentials(ID, SECRET)
            .base_url("http://127.0.0.1:1")
            .retries(0)
            .build()
            .unwrap()
            .json("v1")
            .await
            .unwrap_err();
        assert_eq!(refused.status_code(), None);
    });
}
