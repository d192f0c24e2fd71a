//! `webhook serve --admin-addr`: `/metrics` moves by one per delivery and outcome, `/readyz`
//! turns 503 during the drain and while the store is gone, `/livez`; `--log-format json` lines.
//! Each test is one process, so each has its own Prometheus recorder.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use authenteq_export::multipart::Boundary;
use authenteq_export::webhook::WebhookKey;
use support::export::{face_part, multipart_body, result_part};

const CLIENT_ID: &str = "client-admin";
const SECRET: &str = "s3cret-never-in-a-log";
const SAMPLE_ID: &str = "8c3f6a2e-5b1d-4e7a-9f20-6d4b2c1a7e95";
/// The body cap the tests set, small enough that a `Content-Length` over it is cheap.
const CAP: usize = 64 << 10;

/// A running `webhook serve`: the process and the addresses of its two ports.
struct Served {
    child: Child,
    addr: String,
    admin: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `webhook serve --admin-addr 127.0.0.1:0` into `out`, with `args` more.
fn serve(out: &Path, args: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_authenteq-export"))
        .args(["webhook", "serve", "--addr", "127.0.0.1:0"])
        .args(["--admin-addr", "127.0.0.1:0", "--client-id", CLIENT_ID])
        .args(["--max-body-bytes", &CAP.to_string()])
        .arg("--out")
        .arg(out)
        .args(args)
        .env("AUTHENTEQ_CLIENT_SECRET", SECRET)
        .env_remove("AUTHENTEQ_CLIENT_SECRET_PREVIOUS")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = |prefix: &str| {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        line.trim()
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("the server said {line:?}"))
            .trim_start_matches("http://")
            .to_owned()
    };
    let addr = line("listening on ");
    let admin = line("admin listening on ");
    Served { child, addr, admin }
}

/// Sends `request` whole on a new connection; the answer's status and body.
fn exchange(addr: &str, request: &[u8]) -> (u16, String) {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    exchange(addr, request.as_bytes())
}

/// The head of a delivery of `length` bytes, with `headers` more.
fn head(length: usize, content_type: &str, headers: &[(&str, &str)]) -> String {
    let mut head = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: {content_type}\r\nContent-Length: {length}\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// A delivery of `body`, signed if `signed`.
fn request(body: &[u8], content_type: &str, signed: bool) -> Vec<u8> {
    let signature = WebhookKey::new(CLIENT_ID, SECRET).sign(body);
    let mut headers = vec![("X-CLIENT-ID", CLIENT_ID)];
    if signed {
        headers.push(("X-SIGNATURE", &signature));
    }
    let mut request = head(body.len(), content_type, &headers).into_bytes();
    request.extend_from_slice(body);
    request
}

/// Delivers `body`, signed if `signed`; the answer's status.
fn deliver(addr: &str, body: &[u8], content_type: &str, signed: bool) -> u16 {
    exchange(addr, &request(body, content_type, signed)).0
}

fn body_of(id: &str) -> Vec<u8> {
    let json = format!(r#"{{"id":"{id}"}}"#);
    multipart_body(&[result_part(json.as_bytes()), face_part()])
}

/// The samples of `/metrics`: `name{labels}` to value.
fn scrape(admin: &str) -> BTreeMap<String, f64> {
    let (status, page) = get(admin, "/metrics");
    assert_eq!(status, 200, "{page}");
    page.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (name, value) = line.rsplit_once(' ').unwrap();
            (name.to_owned(), value.parse().unwrap())
        })
        .collect()
}

/// What changed between two scrapes: each sample whose value moved, and by how much.
fn moved(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .filter_map(|(name, value)| {
            let delta = value - before.get(name).copied().unwrap_or(0.0);
            (delta != 0.0).then(|| (name.clone(), delta))
        })
        .collect()
}

fn terminate(child: &Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
}

const DELIVERIES: &str = "authenteq_webhook_deliveries_total";
const COUNT: &str = "authenteq_webhook_delivery_duration_seconds_count";
const BYTES: &str = "authenteq_webhook_received_bytes_total";

fn outcome(label: &str) -> String {
    format!("{DELIVERIES}{{outcome=\"{label}\"}}")
}

#[test]
fn each_outcome_moves_its_counter_by_exactly_one() {
    let out = tempfile::tempdir().unwrap();
    let served = serve(out.path(), &[]);
    let (addr, admin) = (served.addr.as_str(), served.admin.as_str());
    let mixed = "multipart/mixed; boundary=b";
    let body = body_of("v-metrics");
    let garbage = b"no multipart here".to_vec();
    let verified = "authenteq_webhook_verified_total{key=\"current\"}".to_owned();
    let rows = [
        ("stored", request(&body, mixed, true), 200, body.len(), true),
        ("repeat", request(&body, mixed, true), 200, body.len(), true),
        ("unauthorized", request(&body, mixed, false), 401, 0, false),
        (
            "bad_request",
            request(&garbage, mixed, true),
            400,
            garbage.len(),
            false,
        ),
        // Refused by its Content-Length: no byte of it is read.
        (
            "too_large",
            head(CAP + 1, mixed, &[("X-CLIENT-ID", CLIENT_ID)]).into_bytes(),
            413,
            0,
            false,
        ),
    ];
    for (label, request, status, bytes, is_verified) in rows {
        let before = scrape(admin);
        assert_eq!(exchange(addr, &request).0, status, "{label}");
        let after = scrape(admin);
        let delta = moved(&before, &after);
        assert_eq!(delta.get(&outcome(label)), Some(&1.0), "{label}: {delta:?}");
        assert_eq!(delta.get(COUNT), Some(&1.0), "{label}: {delta:?}");
        let others = delta
            .keys()
            .filter(|name| name.starts_with(DELIVERIES) && **name != outcome(label))
            .count();
        assert_eq!(others, 0, "{label}: {delta:?}");
        assert_eq!(
            delta.get(BYTES).copied().unwrap_or(0.0),
            bytes as f64,
            "{label}: {delta:?}"
        );
        assert_eq!(
            delta.get(&verified).copied().unwrap_or(0.0),
            if is_verified { 1.0 } else { 0.0 },
            "{label}: {delta:?}"
        );
        assert_eq!(
            after.get("authenteq_webhook_deliveries_in_flight"),
            Some(&0.0)
        );
    }
    assert!(out.path().join("v-metrics/manifest.json").is_file());
    let (status, text) = get(admin, "/livez");
    assert_eq!((status, text.as_str()), (200, "ok\n"));
    assert_eq!(get(admin, "/nothing-here").0, 404);
}

#[test]
fn readyz_answers_503_from_the_start_of_the_drain() {
    let out = tempfile::tempdir().unwrap();
    let served = serve(
        out.path(),
        &["--shutdown-timeout", "2", "--min-body-rate", "0"],
    );
    let (addr, admin) = (served.addr.clone(), served.admin.clone());
    assert_eq!(get(&admin, "/readyz"), (200, "ready\n".to_owned()));
    // One delivery held open: its head and part of its body.
    let body = body_of("v-held");
    let signature = WebhookKey::new(CLIENT_ID, SECRET).sign(&body);
    let mut held = TcpStream::connect(&addr).unwrap();
    let headers = [("X-CLIENT-ID", CLIENT_ID), ("X-SIGNATURE", &signature)];
    held.write_all(head(body.len(), "multipart/mixed; boundary=b", &headers).as_bytes())
        .unwrap();
    held.write_all(&body[..150]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let busy = loop {
        let samples = scrape(&admin);
        // In flight from its head; its first body bytes held soon after.
        let unverified = samples.get("authenteq_webhook_unverified_bytes");
        if samples.get("authenteq_webhook_deliveries_in_flight") == Some(&1.0)
            && unverified.is_some_and(|bytes| *bytes > 0.0)
        {
            break samples;
        }
        assert!(Instant::now() < deadline, "never in flight: {samples:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(busy.get("authenteq_webhook_open_connections"), Some(&1.0));
    let mut served = served;
    terminate(&served.child);
    // Not ready within moments of SIGTERM, while the held delivery still drains.
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let (status, text) = get(&admin, "/readyz");
        if status == 503 {
            assert_eq!(text, "stopping\n");
            break;
        }
        assert_eq!(status, 200);
        assert!(Instant::now() < deadline, "still ready after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(get(&admin, "/livez").0, 200);
    assert_eq!(
        scrape(&admin).get("authenteq_webhook_deliveries_in_flight"),
        Some(&1.0),
        "the held delivery is draining"
    );
    let status = served.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut answer = String::new();
    held.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let _ = held.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
}

#[test]
fn readyz_answers_503_while_the_store_folder_is_gone() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let served = serve(&out, &[]);
    std::fs::remove_dir_all(&out).unwrap();
    assert_eq!(
        get(&served.admin, "/readyz"),
        (503, "store not answering\n".to_owned())
    );
    assert_eq!(get(&served.admin, "/livez").0, 200);
}

#[test]
fn json_log_lines_carry_the_fields_and_no_secret_or_personal_data() {
    let out = tempfile::tempdir().unwrap();
    let mut served = serve(out.path(), &["--log-format", "json"]);
    let sample = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("corpus")
            .join("verification-result.multipart"),
    )
    .unwrap();
    let content_type = Boundary::sniff(&sample).unwrap().content_type("mixed");
    assert_eq!(deliver(&served.addr, &sample, &content_type, true), 200);
    assert_eq!(deliver(&served.addr, &sample, &content_type, false), 401);
    terminate(&served.child);
    assert!(served.child.wait().unwrap().success());
    let mut log = String::new();
    served
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect();
    assert_eq!(lines.len(), 2, "{log}");
    for line in &lines {
        for field in ["timestamp", "level", "message", "outcome", "bytes", "ms"] {
            assert!(line.get(field).is_some(), "no {field} in {line}");
        }
    }
    let (stored, refused) = (&lines[0], &lines[1]);
    assert_eq!(stored["outcome"], "stored");
    assert_eq!(stored["level"], "INFO");
    assert_eq!(stored["id"], SAMPLE_ID);
    assert_eq!(stored["key"], "current");
    assert_eq!(stored["bytes"], sample.len() as u64);
    assert_eq!(refused["outcome"], "refused");
    assert_eq!(refused["status"], 401);
    assert!(refused.get("id").is_none(), "{refused}");
    let result = std::fs::read_to_string(out.path().join(SAMPLE_ID).join("result.json")).unwrap();
    let result: serde_json::Value = serde_json::from_str(&result).unwrap();
    let mut private = vec![SECRET.to_owned()];
    personal(&result, &mut private);
    assert!(
        private.len() > 3,
        "the sample has names and a date of birth"
    );
    for private in &private {
        assert!(!log.contains(private.as_str()), "{private:?} in {log}");
    }
}

/// Every name and date of birth in `value`, at any depth.
fn personal(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(members) => {
            for (name, member) in members {
                match (name.as_str(), member.as_str()) {
                    ("surname" | "givenNames" | "dateOfBirth", Some(text)) if !text.is_empty() => {
                        found.push(text.to_owned());
                    }
                    _ => personal(member, found),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| personal(item, found)),
        _ => {}
    }
}
