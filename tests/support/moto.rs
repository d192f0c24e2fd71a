//! A real S3-compatible server for the tests: `moto_server` (PyPI `moto[server]`) on a free
//! loopback port, started by the test and killed when dropped.
//!
//! Missing `moto_server`: outside CI the test prints a line and skips; under `CI=true` it
//! fails (`.ci/run` installs it).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An `Authorization` header of the right form that moto takes without checking it.
const UNCHECKED_SIGNATURE: &str = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";

/// A running `moto_server`.
pub struct Moto {
    child: Child,
    addr: SocketAddr,
}

impl Moto {
    /// Starts one, or `None` (after printing why) when `moto_server` is not installed outside
    /// CI. Panics under `CI=true` when it is missing, and when it does not come up.
    pub fn start(test: &str) -> Option<Moto> {
        let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_owned());
        // A free port: bound, read, released; moto binds it right after.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) => {
                let why = format!(
                    "cannot run {program} ({e}); install it with `pip install 'moto[server]'`"
                );
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("{test}: {why} (CI=true: the S3 tests must run)");
                }
                println!("{test}: skipped: {why}");
                return None;
            }
        };
        let mut moto = Moto {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("{program} exited at start: {status}");
            }
            if moto
                .request("GET", "/moto-api/", None)
                .is_some_and(|s| s == 200)
            {
                return Some(moto);
            }
            assert!(
                Instant::now() < deadline,
                "{program} did not come up in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates bucket `name`.
    pub fn bucket(&self, name: &str) {
        let status = self.request("PUT", &format!("/{name}"), None);
        assert_eq!(status, Some(200), "creating bucket {name}");
    }

    /// The environment `object_store` reads to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
            ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "false".to_owned()),
        ]
    }

    /// An `object_store` S3 client of `bucket` on this server.
    pub fn store(&self, bucket: &str) -> object_store::aws::AmazonS3 {
        self.builder(bucket).build().expect("an S3 client of moto")
    }

    /// The builder of [`store`](Self::store): static credentials and a region, so
    /// `object_store` asks no metadata service.
    pub fn builder(&self, bucket: &str) -> object_store::aws::AmazonS3Builder {
        object_store::aws::AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .with_region("us-east-1")
            .with_bucket_name(bucket)
    }

    /// The number of unfinished multipart uploads in `bucket` (S3's `ListMultipartUploads`,
    /// which `object_store` does not offer).
    pub fn unfinished_uploads(&self, bucket: &str) -> usize {
        let body = self
            .get_body(&format!("/{bucket}?uploads"))
            .expect("ListMultipartUploads");
        body.matches("<Upload>").count()
    }

    /// Creates bucket `name` with versioning on.
    pub fn versioned_bucket(&self, name: &str) {
        self.bucket(name);
        let body = br#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>"#;
        let (status, _) = self
            .send("PUT", &format!("/{name}?versioning"), &[], body)
            .expect("moto answers");
        assert_eq!(status, 200, "turning versioning on in {name}");
    }

    /// Creates bucket `name` with S3 Object Lock enabled (and so versioning).
    pub fn locked_bucket(&self, name: &str) {
        let (status, body) = self
            .send(
                "PUT",
                &format!("/{name}"),
                &[("x-amz-bucket-object-lock-enabled", "true")],
                b"",
            )
            .expect("moto answers");
        assert_eq!(status, 200, "creating locked bucket {name}: {body}");
    }

    /// Puts `body` as `key` in `bucket` under a COMPLIANCE retention of one day: no one can
    /// delete that version before then.
    pub fn put_locked(&self, bucket: &str, key: &str, body: &[u8]) {
        let until = (chrono::Utc::now() + chrono::Duration::days(1))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (status, answer) = self
            .send(
                "PUT",
                &format!("/{bucket}/{key}"),
                &[
                    // moto refuses an object-lock request with no signature at all (it checks
                    // none), and a retention without a checksum named.
                    ("authorization", UNCHECKED_SIGNATURE),
                    ("content-type", "application/octet-stream"),
                    ("x-amz-sdk-checksum-algorithm", "SHA256"),
                    ("x-amz-object-lock-mode", "COMPLIANCE"),
                    ("x-amz-object-lock-retain-until-date", &until),
                ],
                body,
            )
            .expect("moto answers");
        assert_eq!(status, 200, "putting locked {key}: {answer}");
    }

    /// The versions and delete markers of `bucket` whose keys start with `prefix`, as
    /// `(key, is a delete marker)`.
    pub fn versions(&self, bucket: &str, prefix: &str) -> Vec<(String, bool)> {
        let (status, body) = self
            .send(
                "GET",
                &format!("/{bucket}?versions&prefix={prefix}"),
                &[],
                b"",
            )
            .expect("moto answers");
        assert_eq!(status, 200, "ListObjectVersions: {body}");
        let mut out = Vec::new();
        for (tag, marker) in [("<Version>", false), ("<DeleteMarker>", true)] {
            for entry in body.split(tag).skip(1) {
                let key = entry
                    .split_once("<Key>")
                    .and_then(|(_, rest)| rest.split_once("</Key>"))
                    .map(|(key, _)| key.to_owned())
                    .unwrap_or_default();
                out.push((key, marker));
            }
        }
        out.sort();
        out
    }

    /// One plain HTTP/1.1 request (moto checks no signature) with `headers` and `body`; its
    /// status and body.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.addr,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).ok()?;
        stream.write_all(body).ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).ok()?;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer.split(' ').nth(1)?.parse().ok()?;
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Some((status, body))
    }

    /// One plain HTTP/1.1 request with an empty body; its status.
    fn request(&self, method: &str, path: &str, _body: Option<&[u8]>) -> Option<u16> {
        let (status, _) = self.exchange(method, path)?;
        Some(status)
    }

    fn get_body(&self, path: &str) -> Option<String> {
        let (status, body) = self.exchange("GET", path)?;
        (status == 200).then_some(body)
    }

    fn exchange(&self, method: &str, path: &str) -> Option<(u16, String)> {
        self.send(method, path, &[], b"")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
