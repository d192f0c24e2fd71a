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
    head_len, into_body, json_export, multipart_export, only_whole_files, response, Answer, Server,
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
        let mut export = client.json("a b&c/é?#").await.unwrap();
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
            "GET /export/verification-result-as-json?verificationId=a+b%26c%2F%C3%A9%3F%23 HTTP/1.1"
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
        assert_eq!(err.kind(), ErrorKind::UnknownFormat);
        assert_eq!(err.status(), Some(404));
        let text = err.to_string();
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
                .idle_timeout(Duration::from_millis(300))
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

#[test]
fn the_secret_and_the_id_stay_out_of_debug_errors_and_logs() {
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let verification = "verif-5f1e-PRIVATE";
    let mut shown = Vec::new();
    tracing::subscriber::with_default(subscriber, || {
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
    });
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
