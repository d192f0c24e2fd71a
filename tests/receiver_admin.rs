#![cfg(feature = "webhook-receiver")]
//! The receiver's admin router (`webhook::admin`): readiness follows the server's shutdown and
//! a bounded, cached probe of the store; `/metrics` without a page to render is `404`.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authenteq_export::export::VerificationId;
use authenteq_export::store::{FolderSink, Manifest, Sink};
use authenteq_export::webhook::admin::{self, Readiness};
use authenteq_export::webhook::{Receiver, WebhookKey};

fn key() -> WebhookKey {
    WebhookKey::new("admin-client", "admin-secret")
}

/// A folder whose probe never answers, and counts its calls.
#[derive(Debug)]
struct Hanging {
    folder: FolderSink,
    probes: Arc<AtomicUsize>,
}

impl Hanging {
    /// The store in `dir`, and its count of probes.
    fn new(dir: &std::path::Path) -> (Hanging, Arc<AtomicUsize>) {
        let probes = Arc::new(AtomicUsize::new(0));
        let folder = FolderSink::create(dir).unwrap();
        let probes_seen = Arc::clone(&probes);
        (Hanging { folder, probes }, probes_seen)
    }
}

impl Sink for Hanging {
    type Staging = <FolderSink as Sink>::Staging;
    async fn manifest(&self, id: &VerificationId) -> authenteq_export::Result<Option<Manifest>> {
        self.folder.manifest(id).await
    }
    async fn stage(&self, id: &VerificationId) -> authenteq_export::Result<Self::Staging> {
        self.folder.stage(id).await
    }
    async fn check(&self) -> authenteq_export::Result<()> {
        self.probes.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
}

/// A receiver of `sink` with the test's key, on a free loopback port.
async fn serve<S>(sink: S) -> authenteq_export::Server<Receiver<S>>
where
    S: Sink + std::fmt::Debug + 'static,
    S::Staging: 'static,
{
    Receiver::builder(sink)
        .key(key())
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap()
}

#[test]
fn a_probe_result_stands_for_the_interval_then_the_store_is_probed_again() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    std::fs::create_dir(&out).unwrap();
    support::runtime().block_on(async {
        let server = serve(FolderSink::create(&out).unwrap()).await;
        let admin = server
            .admin()
            .probe_interval(Duration::from_secs(1))
            .build();
        assert_eq!(admin.readiness().await, Readiness::Ready);
        std::fs::remove_dir_all(&out).unwrap();
        // The result of a moment ago stands...
        assert_eq!(admin.readiness().await, Readiness::Ready);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        // ...until it is older than the interval.
        assert_eq!(admin.readiness().await, Readiness::StoreNotAnswering);
        server.shutdown().await.unwrap();
        assert_eq!(admin.readiness().await, Readiness::Stopping);
    });
}

#[test]
fn a_hanging_store_holds_one_probe_and_each_readyz_ends_at_the_probe_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, probes) = Hanging::new(dir.path());
    support::runtime().block_on(async {
        let server = serve(sink).await;
        let admin = server
            .admin()
            .probe_timeout(Duration::from_millis(100))
            // Every `/readyz` probes: the hanging probe is waited for again, never doubled.
            .probe_interval(Duration::ZERO)
            .build()
            .bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let url = format!("{}/readyz", admin.url());
        let started = Instant::now();
        let scrapes = (0..8).map(|_| async {
            let answer = reqwest::get(&url).await.unwrap();
            (answer.status().as_u16(), answer.text().await.unwrap())
        });
        for answer in futures::future::join_all(scrapes).await {
            assert_eq!(answer, (503, "store not answering\n".to_owned()));
        }
        let took = started.elapsed();
        // One after the other, each waiting at most the timeout.
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert!(took >= Duration::from_millis(800), "{took:?}");
        assert_eq!(probes.load(Ordering::SeqCst), 1);
        let metrics = reqwest::get(format!("{}/metrics", admin.url()))
            .await
            .unwrap();
        assert_eq!(metrics.status().as_u16(), 404);
        let live = reqwest::get(format!("{}/livez", admin.url()))
            .await
            .unwrap();
        assert_eq!(live.status().as_u16(), 200);
        server.shutdown().await.unwrap();
        admin.shutdown().await.unwrap();
    });
}

#[test]
fn readyz_calls_cancelled_while_waiting_leave_the_one_probe_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, probes) = Hanging::new(dir.path());
    support::runtime().block_on(async {
        let server = serve(sink).await;
        let admin = server
            .admin()
            .probe_timeout(Duration::from_secs(30))
            .probe_interval(Duration::ZERO)
            .build();
        // Each call is dropped while it waits for the probe (a client that hung up).
        for _ in 0..5 {
            let cancelled = tokio::time::timeout(Duration::from_millis(20), admin.readiness());
            assert!(cancelled.await.is_err());
        }
        assert_eq!(probes.load(Ordering::SeqCst), 1);
        server.shutdown().await.unwrap();
    });
}

#[test]
fn the_admin_server_holds_at_most_64_connections_by_default() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    support::runtime().block_on(async {
        let server = serve(FolderSink::create(dir.path()).unwrap()).await;
        let admin = server.admin().build().spawn().await.unwrap();
        let addr = admin.url().trim_start_matches("http://").to_owned();
        // How many of `sockets` the server closed (end of stream at once).
        async fn closed(sockets: &mut [tokio::net::TcpStream]) -> Vec<usize> {
            let mut closed = Vec::new();
            for (i, socket) in sockets.iter_mut().enumerate() {
                let mut byte = [0u8; 1];
                let read = tokio::time::timeout(Duration::from_millis(5), socket.read(&mut byte));
                if matches!(read.await, Ok(Ok(0) | Err(_))) {
                    closed.push(i);
                }
            }
            closed
        }
        // Silent connections, one at a time, so that each is admitted before the next.
        let mut sockets = Vec::new();
        for _ in 0..admin::DEFAULT_ADMIN_MAX_CONNECTIONS {
            sockets.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            closed(&mut sockets).await,
            Vec::<usize>::new(),
            "closed below the cap"
        );
        // One more: the one idle longest makes room.
        sockets.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(closed(&mut sockets).await, [0]);
        // The admin port still answers.
        let live = reqwest::get(format!("{}/livez", admin.url()))
            .await
            .unwrap();
        assert_eq!(live.status().as_u16(), 200);
        server.shutdown().await.unwrap();
        admin.shutdown().await.unwrap();
    });
}

/// The key before the current one, labelled `previous`.
#[cfg(feature = "prometheus")]
fn previous_key() -> WebhookKey {
    WebhookKey::new("admin-client", "the-old-secret").label("previous")
}

/// The hand-off's metrics and the key label, read from `/metrics` of the library's admin router
/// with the Prometheus recorder installed (once for this binary: the only test here that
/// delivers).
#[cfg(feature = "prometheus")]
#[test]
fn a_failed_hand_off_and_the_previous_key_move_their_metrics() {
    use authenteq_export::store::{Committed, Staging};
    use authenteq_export::webhook::admin::install_prometheus;
    use authenteq_export::webhook::{CLIENT_ID_HEADER, SIGNATURE_HEADER};
    use axum::http::{HeaderMap, HeaderValue, StatusCode};
    use bytes::Bytes;
    use support::export::{face_part, multipart_body, result_part};

    /// A folder whose commits fail: a store that breaks once the delivery is verified.
    #[derive(Debug)]
    struct CommitFails(FolderSink);

    struct FailingStaging(<FolderSink as Sink>::Staging);

    impl Staging for FailingStaging {
        async fn start_file(
            &mut self,
            name: &str,
            content_type: Option<&str>,
        ) -> authenteq_export::Result<()> {
            self.0.start_file(name, content_type).await
        }
        async fn write(&mut self, chunk: bytes::Bytes) -> authenteq_export::Result<()> {
            self.0.write(chunk).await
        }
        async fn end_file(&mut self) -> authenteq_export::Result<()> {
            self.0.end_file().await
        }
        async fn commit(self) -> authenteq_export::Result<Committed> {
            self.0.discard().await;
            Err(std::io::Error::other("the disk went away").into())
        }
        async fn discard(self) {
            self.0.discard().await;
        }
    }

    impl Sink for CommitFails {
        type Staging = FailingStaging;
        async fn manifest(
            &self,
            id: &VerificationId,
        ) -> authenteq_export::Result<Option<Manifest>> {
            self.0.manifest(id).await
        }
        async fn stage(&self, id: &VerificationId) -> authenteq_export::Result<FailingStaging> {
            Ok(FailingStaging(self.0.stage(id).await?))
        }
    }

    let previous = previous_key();
    let body = multipart_body(&[result_part(br#"{"id":"v-handoff"}"#), face_part()]);
    let mut headers = HeaderMap::new();
    let signature = previous.sign(&body);
    for (name, value) in [
        ("content-type", "multipart/mixed; boundary=b"),
        (CLIENT_ID_HEADER, "admin-client"),
        (SIGNATURE_HEADER, signature.as_str()),
    ] {
        headers.insert(name, HeaderValue::from_str(value).unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let prometheus = install_prometheus().unwrap();
    support::runtime().block_on(async {
        let server = Receiver::builder(FolderSink::create(dir.path()).unwrap())
            .keys([key().label("current"), previous])
            .on_stored(|_| async { Err::<(), _>(std::io::Error::other("not today")) })
            .build()
            .unwrap()
            .spawn()
            .await
            .unwrap();
        let admin = server
            .admin()
            .metrics(move || prometheus.render())
            .build()
            .spawn()
            .await
            .unwrap();
        let scrape = || async {
            let page = reqwest::get(format!("{}/metrics", admin.url()))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let value = |name: &str| -> f64 {
                page.lines()
                    .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
                    .map_or(0.0, |v| v.parse().unwrap())
            };
            [
                "authenteq_webhook_deliveries_total{outcome=\"handoff_failed\"}",
                "authenteq_webhook_handoff_failures_total",
                "authenteq_webhook_handoff_duration_seconds_count",
                "authenteq_webhook_verified_total{key=\"previous\"}",
                "authenteq_webhook_verified_total{key=\"current\"}",
                "authenteq_webhook_deliveries_total{outcome=\"stored\"}",
                "authenteq_webhook_deliveries_total{outcome=\"store_failed\"}",
                "authenteq_webhook_deliveries_total{outcome=\"failed\"}",
            ]
            .map(value)
        };
        let before = scrape().await;
        let chunks = [Ok::<_, std::io::Error>(Bytes::from(body.clone()))];
        let answer = server
            .receive(&headers, futures::stream::iter(chunks))
            .await;
        assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let after = scrape().await;
        let moved: Vec<f64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
        assert_eq!(moved, [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);

        // A store that fails to commit, after the signature matched: the store's failure,
        // and a verified delivery all the same.
        let failing = tempfile::tempdir().unwrap();
        let broken = Receiver::builder(CommitFails(FolderSink::create(failing.path()).unwrap()))
            .keys([key().label("current"), previous_key()])
            .build()
            .unwrap();
        let before = scrape().await;
        let chunks = [Ok::<_, std::io::Error>(Bytes::from(body))];
        let answer = broken
            .receive(&headers, futures::stream::iter(chunks))
            .await;
        assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let after = scrape().await;
        let moved: Vec<f64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
        assert_eq!(moved, [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]);
        server.shutdown().await.unwrap();
        admin.shutdown().await.unwrap();
    });
}
