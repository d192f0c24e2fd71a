//! The blocking client against the emulator (which runs on a runtime of the test's, the client
//! on its own): every format read item by item and saved, and a download cut once that is
//! restarted.

mod support;

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use authenteq_export::client::blocking::{Client, ClientBuilder};
use authenteq_export::client::Endpoint;
use authenteq_export::export::ExportItem;
use authenteq_export::save::OutputDir;
use authenteq_export::server::{Emulator, Fault};
use authenteq_export::ErrorKind;
use support::export::corpus;
use support::generate::FILE_PARTS;

const CLIENT: &str = "client-blocking";
const SECRET: &str = "s3cret-Bl0ck";
const ID: &str = "8c3f6a2e-5b1d-4e7a-9f20-6d4b2c1a7e95";

/// The corpus verification in `split`'s layout.
fn store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join(ID);
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("result.json"), corpus("result.json")).unwrap();
    for (name, _, ext) in FILE_PARTS {
        let file = format!("{name}.{ext}");
        std::fs::write(folder.join(&file), corpus(&format!("files/{file}"))).unwrap();
    }
    dir
}

/// An emulator of `store` with `faults` (on its first answer only when `first_only`), served
/// by a runtime of its own threads; the runtime is returned to keep it serving.
fn emulator(store: &Path, faults: &[Fault], first_only: bool) -> (tokio::runtime::Runtime, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut builder = Emulator::builder(store).credentials(CLIENT, SECRET);
    if first_only {
        builder = builder.faulty_answers(1);
    }
    for fault in faults {
        builder = builder.fault(*fault);
    }
    let running = runtime.block_on(builder.build().unwrap().spawn()).unwrap();
    let url = running.url();
    // Serves until the runtime is dropped with the test.
    std::mem::forget(running);
    (runtime, url)
}

fn client_of(url: &str) -> ClientBuilder {
    Client::builder()
        .credentials(CLIENT, SECRET)
        .base_url(url)
        .backoff_base(Duration::from_millis(1))
        .backoff_cap(Duration::from_millis(5))
        .retry_after_cap(Duration::from_millis(20))
        .read_timeout(Duration::from_secs(5))
}

#[test]
fn every_format_reads_item_by_item() {
    let store = store();
    let (_server, url) = emulator(store.path(), &[], false);
    let client = client_of(&url).build().unwrap();
    for endpoint in [Endpoint::Multipart, Endpoint::Json, Endpoint::Pdf] {
        let mut export = client.export(endpoint, ID).unwrap();
        let mut results = 0;
        let mut files = Vec::new();
        while let Some(item) = export.next_item().unwrap() {
            match item {
                ExportItem::Result { result, .. } => {
                    assert_eq!(result.id, ID);
                    results += 1;
                }
                ExportItem::File(mut file) => {
                    let name = file.info().canonical_filename();
                    let mut bytes = Vec::new();
                    file.read_to_end(&mut bytes).unwrap();
                    files.push((name, bytes));
                }
            }
        }
        match endpoint {
            Endpoint::Pdf => {
                assert_eq!(results, 0);
                assert_eq!(files.len(), 1);
                assert!(files[0].1.starts_with(b"%PDF-"), "{endpoint}");
            }
            _ => {
                assert_eq!(results, 1, "{endpoint}");
                assert_eq!(files.len(), FILE_PARTS.len(), "{endpoint}");
                for (name, bytes) in files {
                    assert_eq!(bytes, corpus(&format!("files/{name}")), "{endpoint} {name}");
                }
            }
        }
    }
}

#[test]
fn every_format_saves_and_a_cut_download_is_restarted() {
    let store = store();
    for endpoint in [Endpoint::Multipart, Endpoint::Json, Endpoint::Pdf] {
        for faults in [
            vec![],
            // In the middle of a file (of the summary, for the PDF).
            vec![Fault::CloseAfter {
                bytes: if endpoint == Endpoint::Pdf {
                    200
                } else {
                    20_000
                },
            }],
            vec![Fault::TooManyRequests {
                first: 1,
                retry_after_secs: 0,
            }],
        ] {
            let (_server, url) = emulator(store.path(), &faults, true);
            let folder = tempfile::tempdir().unwrap();
            let dir = OutputDir::create(folder.path()).unwrap();
            let fetched = client_of(&url)
                .build()
                .unwrap()
                .save(endpoint, ID, &dir)
                .unwrap();
            let want = if faults.is_empty() { 1 } else { 2 };
            assert_eq!(fetched.attempts(), want, "{endpoint} {faults:?}");
            let names: Vec<String> = std::fs::read_dir(folder.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            if endpoint == Endpoint::Pdf {
                assert_eq!(names, ["result.pdf"]);
                continue;
            }
            assert_eq!(names.len(), FILE_PARTS.len() + 1, "{endpoint} {faults:?}");
            for name in names.iter().filter(|n| *n != "result.json") {
                let saved = std::fs::read(folder.path().join(name)).unwrap();
                assert_eq!(saved, corpus(&format!("files/{name}")), "{endpoint} {name}");
            }
        }
    }
}

#[test]
fn a_cut_that_does_not_pass_ends_with_the_transport_error() {
    let store = store();
    let (_server, url) = emulator(store.path(), &[Fault::CloseAfter { bytes: 3000 }], false);
    let folder = tempfile::tempdir().unwrap();
    let dir = OutputDir::create(folder.path()).unwrap();
    let client = client_of(&url).retries(1).build().unwrap();
    let mut attempts = client.attempts(Endpoint::Json, ID).unwrap();
    let mut export = attempts.first().unwrap();
    let err = loop {
        match authenteq_export::save::blocking::save_export(&mut export, &dir) {
            Ok(_) => panic!("a cut body saved whole"),
            Err(error) => match attempts.retry(error) {
                Ok(again) => export = again,
                Err(error) => break error,
            },
        }
    };
    // The body's own error, not a read error wrapping it.
    assert_eq!(err.kind(), ErrorKind::UnexpectedEnd, "{err}");
    assert!(err.is_retryable());
    assert_eq!(attempts.count(), 2);
}

#[test]
fn the_blocking_client_hides_the_secret() {
    let client = Client::new(CLIENT, SECRET).unwrap();
    let shown = format!("{client:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
}
