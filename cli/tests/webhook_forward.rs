//! `webhook serve --forward-to`: each stored verification handed to the application as a JSON
//! event signed the Standard Webhooks way, checked with an independent implementation (the
//! `standardwebhooks` package of PyPI); a failed hand-off answered 500 and forwarded again on
//! the redelivery, a handled one never again; the startup errors of its settings.

mod forward_app;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use authenteq_export::webhook::{RetrySchedule, Sender, WebhookKey};
use forward_app::App;
use support::standard_webhooks::StandardWebhooks;

const CLIENT_ID: &str = "forward-client";
const CLIENT_SECRET: &str = "forward-client-secret-never-printed";
/// 32 bytes, base64, in the Standard Webhooks form.
const FORWARD_SECRET: &str = "whsec_Zm9yd2FyZC1zZWNyZXQtMzItYnl0ZXMtbG9uZy1vaw==";
const OTHER_SECRET: &str = "whsec_YW5vdGhlci1zZWNyZXQtb2YtMzItYnl0ZXMtbG9uZw==";
const SAMPLE_ID: &str = "8c3f6a2e-5b1d-4e7a-9f20-6d4b2c1a7e95";
/// A path and query the application's URL carries, never to be logged.
const APP_PATH: &str = "/hooks/path-token-7f3a?key=query-token-91c2";

/// The corpus's sample stored in `root/<id>/` as `split` lays it out.
fn stored_sample(root: &Path) -> PathBuf {
    use authenteq_export::export::blocking::Export;
    use authenteq_export::save::{blocking::save_export, OutputDir};
    let dir = root.join(SAMPLE_ID);
    let body = std::fs::File::open(support::corpus_path("verification-result.multipart")).unwrap();
    save_export(
        &mut Export::new(body, None).unwrap(),
        &OutputDir::create(&dir).unwrap(),
    )
    .unwrap();
    dir
}

fn cli() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_authenteq-export"));
    cmd.env("AUTHENTEQ_CLIENT_SECRET", CLIENT_SECRET)
        .env("AUTHENTEQ_FORWARD_SECRET", FORWARD_SECRET)
        .env_remove("AUTHENTEQ_CLIENT_SECRET_PREVIOUS")
        .env_remove("RUST_LOG");
    cmd
}

/// `webhook serve --out out --forward-to url` and `extra`: the child and its URL.
fn serve(out: &Path, url: &str, extra: &[&str]) -> (Child, String) {
    let mut child = cli()
        .args([
            "webhook",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--client-id",
            CLIENT_ID,
        ])
        .arg("--out")
        .arg(out)
        .args(["--forward-to", url])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let listening = support::listening_url(&mut child);
    (child, listening)
}

/// Stops `child` with SIGTERM; its standard error.
fn stop(mut child: Child) -> String {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    log
}

/// Delivers the verification stored in `dir` to `url` once: the status it was answered.
fn deliver(url: &str, dir: &Path) -> u16 {
    let sender = Sender::builder(WebhookKey::new(CLIENT_ID, CLIENT_SECRET))
        .retry(RetrySchedule::NONE)
        .build()
        .unwrap();
    let runtime = support::runtime();
    match runtime.block_on(sender.send_dir(url, dir)) {
        Ok(_) => 200,
        Err(e) => e.status().unwrap_or_else(|| panic!("no answer: {e}")),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn webhook_headers(event: &forward_app::Received) -> Vec<(String, String)> {
    event
        .headers
        .iter()
        .filter(|(n, _)| n.starts_with("webhook-"))
        .cloned()
        .collect()
}

#[test]
fn the_forwarded_event_verifies_with_the_python_standard_webhooks_package() {
    let test = "the_forwarded_event_verifies_with_the_python_standard_webhooks_package";
    let Some(python) = StandardWebhooks::find(test) else {
        return;
    };
    let source = tempfile::tempdir().unwrap();
    let sample = stored_sample(source.path());
    let out = tempfile::tempdir().unwrap();
    let app = App::start();
    let (server, url) = serve(out.path(), &app.url(APP_PATH), &[]);
    assert_eq!(deliver(&url, &sample), 200);
    let log = stop(server);

    let received = app.received();
    assert_eq!(received.len(), 1, "one event");
    let event = &received[0];
    assert_eq!(event.path, APP_PATH);
    assert_eq!(event.header("content-type"), Some("application/json"));
    let headers = webhook_headers(event);
    assert_eq!(headers.len(), 3, "{headers:?}");

    // The independent implementation accepts it, with the secret and only with it.
    let payload = python
        .verify(FORWARD_SECRET, &headers, &event.body)
        .unwrap_or_else(|why| panic!("standardwebhooks refused the event: {why}"));
    let refused = python.verify(OTHER_SECRET, &headers, &event.body);
    assert!(refused.unwrap_err().contains("No matching signature"));
    let mut tampered = event.body.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 1;
    assert!(python.verify(FORWARD_SECRET, &headers, &tampered).is_err());

    // What it says: the type, the id, the result, and each file as the manifest lists it,
    // where it is stored.
    assert_eq!(payload["type"], "verification.stored");
    assert!(payload["timestamp"].as_str().unwrap().ends_with('Z'));
    let data = &payload["data"];
    assert_eq!(data["id"], SAMPLE_ID);
    assert_eq!(data["result"]["id"], SAMPLE_ID);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.path().join(SAMPLE_ID).join("manifest.json")).unwrap(),
    )
    .unwrap();
    let files = data["files"].as_array().unwrap();
    let listed = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), listed.len());
    assert!(files.len() > 5, "the sample's files: {files:?}");
    let mut bytes = 0;
    for (file, listed) in files.iter().zip(listed) {
        for member in ["name", "size", "sha256", "contentType"] {
            assert_eq!(file[member], listed[member], "{member} of {file}");
        }
        let location = Path::new(file["location"].as_str().unwrap());
        let stored = std::fs::read(location).unwrap();
        assert_eq!(sha256_hex(&stored), file["sha256"].as_str().unwrap());
        bytes += stored.len();
    }
    // No file's bytes: the event is smaller than the images alone.
    let images = bytes
        - std::fs::read(out.path().join(SAMPLE_ID).join("result.json"))
            .unwrap()
            .len();
    assert!(
        event.body.len() < images,
        "{} >= {images}",
        event.body.len()
    );

    assert!(
        !log.contains(CLIENT_SECRET) && !log.contains("Zm9yd2FyZC"),
        "{log}"
    );
    assert!(
        !log.contains("path-token") && !log.contains("query-token"),
        "{log}"
    );
}

#[test]
fn a_failed_hand_off_is_answered_500_and_the_redelivery_forwards_again_until_handled() {
    let source = tempfile::tempdir().unwrap();
    let sample = stored_sample(source.path());
    let out = tempfile::tempdir().unwrap();
    let app = App::start();
    let (server, url) = serve(out.path(), &app.url(APP_PATH), &[]);
    let stored = out.path().join(SAMPLE_ID);

    // A redirect is not followed: a failure, as a 500 of the application is.
    app.answer(307);
    assert_eq!(deliver(&url, &sample), 500);
    assert_eq!(app.received().len(), 1, "the redirect was followed");
    app.answer(500);
    assert_eq!(deliver(&url, &sample), 500);
    assert_eq!(app.received().len(), 2);
    // Stored all the same, not yet handled.
    assert!(stored.join("manifest.json").is_file());
    assert!(!stored.join("handled.json").exists());

    app.answer(204);
    assert_eq!(deliver(&url, &sample), 200);
    assert_eq!(app.received().len(), 3);
    assert!(stored.join("handled.json").is_file());
    // Handled: a repeat is answered 200 without another call.
    assert_eq!(deliver(&url, &sample), 200);
    let received = app.received();
    assert_eq!(received.len(), 3, "a handled id was forwarded again");
    let log = stop(server);

    // One webhook-id for every attempt of one verification, so the application can dedupe.
    let ids: Vec<_> = received.iter().map(|r| r.header("webhook-id")).collect();
    assert!(ids[0].is_some_and(|id| id.starts_with("msg_")), "{ids:?}");
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert!(log.contains("forward failed"), "{log}");
    assert!(
        log.contains("status=500") && log.contains("status=307"),
        "{log}"
    );
    assert!(
        !log.contains("path-token") && !log.contains("query-token"),
        "{log}"
    );
}

#[test]
fn a_slow_application_is_a_timeout_of_the_forward_and_the_delivery_is_answered_500() {
    let source = tempfile::tempdir().unwrap();
    let sample = stored_sample(source.path());
    let out = tempfile::tempdir().unwrap();
    let app = App::start();
    app.delay(Duration::from_secs(10));
    let (server, url) = serve(
        out.path(),
        &app.url(APP_PATH),
        &["--forward-timeout", "0.5", "--shutdown-timeout", "1"],
    );
    let started = Instant::now();
    assert_eq!(deliver(&url, &sample), 500);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(app.received().len(), 1);
    assert!(!out.path().join(SAMPLE_ID).join("handled.json").exists());
    let log = stop(server);
    assert!(log.contains("did not answer in time"), "{log}");
}

#[test]
fn the_forwarder_ignores_proxy_variables_and_connects_directly() {
    // A "proxy" on loopback that counts the connections it is offered.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let offered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let offered = std::sync::Arc::clone(&offered);
        std::thread::spawn(move || {
            for connection in proxy.incoming() {
                offered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(connection);
            }
        });
    }
    let source = tempfile::tempdir().unwrap();
    let sample = stored_sample(source.path());
    let out = tempfile::tempdir().unwrap();
    let app = App::start();
    let mut cmd = cli();
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env(var, &proxy_url);
    }
    cmd.env_remove("NO_PROXY").env_remove("no_proxy");
    let mut child = cmd
        .args([
            "webhook",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--client-id",
            CLIENT_ID,
        ])
        .arg("--out")
        .arg(out.path())
        .args(["--forward-to", &app.url(APP_PATH)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = support::listening_url(&mut child);
    assert_eq!(deliver(&url, &sample), 200);
    let log = stop(child);
    assert_eq!(app.received().len(), 1, "{log}");
    assert_eq!(
        offered.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the event went to the proxy"
    );
}

#[test]
fn forward_settings_that_cannot_work_stop_the_start_with_the_reason() {
    let out = tempfile::tempdir().unwrap();
    let start = |secret: Option<&str>, url: &str| {
        let mut cmd = cli();
        match secret {
            Some(secret) => cmd.env("AUTHENTEQ_FORWARD_SECRET", secret),
            None => cmd.env_remove("AUTHENTEQ_FORWARD_SECRET"),
        };
        let ran = cmd
            .args([
                "webhook",
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--client-id",
                CLIENT_ID,
            ])
            .arg("--out")
            .arg(out.path())
            .args(["--forward-to", url])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!ran.status.success(), "{url}: started");
        assert!(ran.stdout.is_empty(), "{url}: listened");
        String::from_utf8_lossy(&ran.stderr).into_owned()
    };
    let loopback = "http://127.0.0.1:9/hook";
    let missing = start(None, loopback);
    assert!(
        missing.contains("AUTHENTEQ_FORWARD_SECRET is not set"),
        "{missing}"
    );
    for bad in [
        "Zm9yd2FyZC1zZWNyZXQtMzItYnl0ZXMtbG9uZy1vaw==",
        "whsec_Zm9y*d2FyZC1zZWNyZXQ",
        "whsec_c2hvcnQ=",
    ] {
        let said = start(Some(bad), loopback);
        assert!(said.contains("AUTHENTEQ_FORWARD_SECRET"), "{said}");
        assert!(!said.contains(bad.trim_start_matches("whsec_")), "{said}");
    }
    let insecure = start(Some(FORWARD_SECRET), "http://app.example/path-token");
    assert!(insecure.contains("--allow-insecure-http"), "{insecure}");
    assert!(!insecure.contains("path-token"), "{insecure}");
    let not_a_url = start(Some(FORWARD_SECRET), "app.example/hook");
    assert!(not_a_url.contains("--forward-to"), "{not_a_url}");
    for flag in ["--forward-timeout", "--forward-connect-timeout"] {
        let ran = cli()
            .args([
                "webhook",
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--client-id",
                CLIENT_ID,
            ])
            .arg("--out")
            .arg(out.path())
            .args(["--forward-to", loopback, flag, "0"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!ran.status.success(), "{flag} 0: started");
        let said = String::from_utf8_lossy(&ran.stderr);
        assert!(
            said.contains(&format!("{flag} takes a number of seconds above 0")),
            "{said}"
        );
    }
    // Nothing written.
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}
