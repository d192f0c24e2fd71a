//! The emulator over loopback HTTP, with reqwest: every format of the corpus verification equals
//! the in-memory encoders' bytes and decodes to the stored files; every error code comes from its
//! cause; every fault is seen by the client; the PDF summary reads back.
//!
//! Nothing here is timed: a stall is seen through the client's read timeout.

mod support;

use std::path::Path;
use std::time::Duration;

use authenteq_export::export::{
    json_export, write_multipart_export, Export, ExportDecoder, ExportItem, ExportLimits, FileKind,
    OutgoingFile,
};
use authenteq_export::multipart::Boundary;
use authenteq_export::server::{Emulator, Fault};
use authenteq_export::Server;
use futures::StreamExt;
use support::export::corpus;
use support::generate::FILE_PARTS;
use tokio::io::AsyncReadExt;

const ID: &str = "8c3f6a2e-5b1d-4e7a-9f20-6d4b2c1a7e95";
const PDF_ID: &str = "stored-pdf";
const CLIENT: &str = "client-1";
const SECRET: &str = "s3cret-value";

/// The corpus's file names, in the order the API writes them (from the shared list).
fn file_names() -> Vec<String> {
    FILE_PARTS
        .iter()
        .map(|(name, _, ext)| format!("{name}.{ext}"))
        .collect()
}

/// A store in `split`'s layout: the corpus verification, and one stored as a PDF export.
fn store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let v = dir.path().join(ID);
    std::fs::create_dir(&v).unwrap();
    std::fs::write(v.join("result.json"), corpus("result.json")).unwrap();
    for name in file_names() {
        std::fs::write(v.join(&name), corpus(&format!("files/{name}"))).unwrap();
    }
    let p = dir.path().join(PDF_ID);
    std::fs::create_dir(&p).unwrap();
    std::fs::write(p.join("result.pdf"), corpus("verification-result.pdf")).unwrap();
    dir
}

async fn spawn(dir: &Path, faults: &[Fault]) -> Server<Emulator> {
    let mut builder = Emulator::builder(dir).credentials(CLIENT, SECRET);
    for fault in faults {
        builder = builder.fault(*fault);
    }
    builder.build().unwrap().spawn().await.unwrap()
}

fn endpoint(emulator: &Server<Emulator>, format: &str, id: &str) -> String {
    format!(
        "{}/export/verification-result-as-{format}?verificationId={id}",
        emulator.url()
    )
}

async fn get(url: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(url)
        .basic_auth(CLIENT, Some(SECRET))
        .send()
        .await
        .unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
        .to_owned()
}

fn outgoing<'a>(kinds: &'a [FileKind], bytes: &'a [Vec<u8>]) -> Vec<OutgoingFile<'a>> {
    FILE_PARTS
        .iter()
        .zip(kinds.iter().zip(bytes))
        .map(|((_, content_type, _), (kind, bytes))| OutgoingFile {
            kind,
            content_type,
            bytes,
        })
        .collect()
}

fn corpus_files() -> (Vec<FileKind>, Vec<Vec<u8>>) {
    let kinds = FILE_PARTS
        .iter()
        .map(|(name, _, _)| FileKind::from_part_name(name))
        .collect();
    let bytes = file_names()
        .iter()
        .map(|n| corpus(&format!("files/{n}")))
        .collect();
    (kinds, bytes)
}

/// Decodes an answer through `Export`, into `(file name, bytes)` pairs and the result JSON.
async fn decode(response: reqwest::Response) -> (Option<Vec<u8>>, Vec<(String, Vec<u8>)>) {
    let decoder = ExportDecoder::for_response(
        response.status().as_u16(),
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        ExportLimits::default(),
    )
    .unwrap();
    let mut export = Export::with_decoder(response.bytes_stream(), decoder);
    let mut result = None;
    let mut files = Vec::new();
    while let Some(item) = export.next_item().await.unwrap() {
        match item {
            ExportItem::Result { json, .. } => result = Some(json.to_vec()),
            ExportItem::File(mut file) => {
                let name = file.info().canonical_filename();
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).await.unwrap();
                files.push((name, bytes));
            }
        }
    }
    files.sort();
    (result, files)
}

fn stored_files() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = file_names()
        .into_iter()
        .map(|n| {
            let bytes = corpus(&format!("files/{n}"));
            (n, bytes)
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn multipart_equals_the_encoder_and_decodes_to_the_stored_files() {
    let dir = store();
    let emulator = spawn(dir.path(), &[]).await;
    let response = get(&endpoint(&emulator, "multipart", ID)).await;
    assert_eq!(response.status(), 200);
    let content_type = header(&response, "content-type");
    assert!(
        content_type.starts_with("multipart/mixed; boundary="),
        "{content_type}"
    );
    let length: usize = header(&response, "content-length").parse().unwrap();
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), length);
    let (kinds, bytes) = corpus_files();
    let expected = write_multipart_export(
        Vec::new(),
        Boundary::from_content_type(&content_type).unwrap(),
        &corpus("result.json"),
        &outgoing(&kinds, &bytes),
    )
    .unwrap();
    assert_eq!(body, expected);

    let (result, files) = decode(get(&endpoint(&emulator, "multipart", ID)).await).await;
    assert_eq!(result.unwrap(), corpus("result.json"));
    assert_eq!(files, stored_files());
    emulator.shutdown().await.unwrap();
}

#[tokio::test]
async fn json_equals_the_encoder_and_decodes_to_the_stored_files() {
    let dir = store();
    let emulator = spawn(dir.path(), &[]).await;
    let response = get(&endpoint(&emulator, "json", ID)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "application/json");
    let length: usize = header(&response, "content-length").parse().unwrap();
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), length);
    let (kinds, bytes) = corpus_files();
    let expected = json_export(&corpus("result.json"), &outgoing(&kinds, &bytes)).unwrap();
    assert_eq!(body, expected);
    assert_eq!(body, corpus("verification-result.json"));

    let (_, files) = decode(get(&endpoint(&emulator, "json", ID)).await).await;
    assert_eq!(files, stored_files());
    emulator.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_stored_pdf_is_served_as_it_is() {
    let dir = store();
    let emulator = spawn(dir.path(), &[]).await;
    let response = get(&endpoint(&emulator, "pdf", PDF_ID)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "application/pdf");
    let pdf = corpus("verification-result.pdf");
    assert_eq!(header(&response, "content-length"), pdf.len().to_string());
    assert_eq!(response.bytes().await.unwrap(), pdf);
    let (_, files) = decode(get(&endpoint(&emulator, "pdf", PDF_ID)).await).await;
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].1, pdf);
    emulator.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_pdf_summary_reads_back_with_pdftotext() {
    let dir = store();
    let emulator = spawn(dir.path(), &[]).await;
    let response = get(&endpoint(&emulator, "pdf", ID)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "application/pdf");
    let length: usize = header(&response, "content-length").parse().unwrap();
    let pdf = response.bytes().await.unwrap();
    assert_eq!(pdf.len(), length);
    assert!(pdf.starts_with(b"%PDF-"));
    emulator.shutdown().await.unwrap();

    if std::process::Command::new("pdftotext")
        .arg("-v")
        .output()
        .is_err()
    {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "pdftotext is missing under CI=true (.ci/run installs poppler-utils)"
        );
        eprintln!("note: PDF summary text check skipped: no pdftotext (Debian poppler-utils)");
        return;
    }
    let file = dir.path().join("summary.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "Authenteq verification result",
        &format!("Verification id: {ID}"),
        "Platform: WEB",
        "Started: 2020-04-10T11:44:40Z",
        "Ended: 2020-04-10T11:47:02Z",
        "nfcVerified: false",
        "Document 1: type PP, issued by ISL, issued on 2016-08-15, expires on 2026-08-15",
        "Document 2: type DL",
        "Document 3: type NID",
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text:?}");
    }
    // No personal data.
    assert!(!text.contains("DOE"), "{text}");
    assert!(!text.contains("1964"), "{text}");
}

#[tokio::test]
async fn every_error_code_from_its_cause() {
    let dir = store();
    std::fs::create_dir(dir.path().join("pdf-only")).unwrap();
    std::fs::write(
        dir.path().join("pdf-only/result.pdf"),
        corpus("verification-result.pdf"),
    )
    .unwrap();
    let emulator = spawn(dir.path(), &[]).await;
    let deactivated = Emulator::builder(dir.path())
        .credentials(CLIENT, SECRET)
        .deactivated(true)
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap();
    let base = format!("{}/export/verification-result-as-json", emulator.url());
    let good = format!("Basic {}", b64(&format!("{CLIENT}:{SECRET}")));
    let long = "a".repeat(129);
    let ok_long = "a".repeat(128);
    // (url, Authorization, errorCode, status, file of its shape in corpus/errors)
    let cases: Vec<(String, Option<String>, &str, u16)> = vec![
        (
            format!("{base}?verificationId={ID}"),
            None,
            "API_KEYS_MISSING",
            401,
        ),
        (
            format!("{base}?verificationId={ID}"),
            Some(format!("Bearer {}", b64(&format!("{CLIENT}:{SECRET}")))),
            "API_KEYS_BAD",
            401,
        ),
        (
            format!("{base}?verificationId={ID}"),
            Some("Basic not*base64".into()),
            "API_KEYS_BAD",
            401,
        ),
        (
            format!("{base}?verificationId={ID}"),
            Some(format!("Basic {}", b64("no-colon-here"))),
            "API_KEYS_BAD",
            401,
        ),
        (
            format!("{base}?verificationId={ID}"),
            Some(format!("Basic {}", b64(&format!("{CLIENT}:wrong")))),
            "API_KEYS_INVALID",
            401,
        ),
        (
            format!("{base}?verificationId={ID}"),
            Some(format!("Basic {}", b64(&format!("other:{SECRET}")))),
            "API_KEYS_INVALID",
            401,
        ),
        (
            base.clone(),
            Some(good.clone()),
            "MISSING_REQUEST_PARAMETER",
            400,
        ),
        (
            format!("{base}?other=1"),
            Some(good.clone()),
            "MISSING_REQUEST_PARAMETER",
            400,
        ),
        (
            format!("{base}?verificationId="),
            Some(good.clone()),
            "INVALID_REQUEST_PARAMETER",
            400,
        ),
        (
            format!("{base}?verificationId={long}"),
            Some(good.clone()),
            "INVALID_REQUEST_PARAMETER",
            400,
        ),
        (
            format!("{base}?verificationId=a%01b"),
            Some(good.clone()),
            "INVALID_REQUEST_PARAMETER",
            400,
        ),
        (
            format!("{base}?verificationId=..%2F{ID}"),
            Some(good.clone()),
            "INVALID_REQUEST_PARAMETER",
            400,
        ),
        (
            format!("{base}?verificationId=.."),
            Some(good.clone()),
            "INVALID_REQUEST_PARAMETER",
            400,
        ),
        (
            format!("{base}?verificationId={ID}&verificationId={ID}"),
            Some(good.clone()),
            "INVALID_REQUEST_PARAMETER",
            400,
        ),
        (
            format!("{base}?verificationId={ok_long}"),
            Some(good.clone()),
            "VERIFICATION_NOT_FOUND",
            404,
        ),
        (
            format!("{base}?verificationId=pdf-only"),
            Some(good.clone()),
            "VERIFICATION_NOT_FOUND",
            404,
        ),
        (
            format!(
                "{}/export/verification-result-as-pdf?verificationId={ID}",
                deactivated.url()
            ),
            Some(good.clone()),
            "ACCOUNT_DEACTIVATED",
            403,
        ),
    ];
    let client = reqwest::Client::new();
    let mut seen = std::collections::BTreeSet::new();
    for (url, auth, code, status) in cases {
        let mut request = client.get(&url);
        if let Some(auth) = &auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{url} {auth:?}");
        assert_eq!(header(&response, "content-type"), "application/json");
        let body = response.bytes().await.unwrap();
        // The body is the API's, byte for byte: code, and errorMessage or errorDescription as
        // corpus/errors has it.
        assert_eq!(
            body,
            corpus(&format!("errors/{code}.json")),
            "{url} {auth:?}: {}",
            String::from_utf8_lossy(&body)
        );
        seen.insert(code);
    }
    assert_eq!(seen.len(), 7, "every documented code: {seen:?}");
    emulator.shutdown().await.unwrap();
    deactivated.shutdown().await.unwrap();
}

fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn close_after_gives_fewer_bytes_than_the_content_length() {
    let dir = store();
    let emulator = spawn(dir.path(), &[Fault::CloseAfter { bytes: 5000 }]).await;
    let response = get(&endpoint(&emulator, "multipart", ID)).await;
    assert_eq!(response.status(), 200);
    let length: u64 = header(&response, "content-length").parse().unwrap();
    let mut stream = response.bytes_stream();
    let mut got = 0u64;
    let mut failed = false;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => got += chunk.len() as u64,
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "a cut body is an error for the client");
    assert_eq!(got, 5000);
    assert!(got < length);
    emulator.shutdown().await.unwrap();
}

#[tokio::test]
async fn stall_after_sends_nothing_more_and_keeps_the_connection() {
    let dir = store();
    let emulator = spawn(dir.path(), &[Fault::StallAfter { bytes: 3000 }]).await;
    let client = reqwest::Client::builder()
        .read_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let response = client
        .get(endpoint(&emulator, "json", ID))
        .basic_auth(CLIENT, Some(SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut got = 0u64;
    let error = loop {
        match stream.next().await {
            Some(Ok(chunk)) => got += chunk.len() as u64,
            Some(Err(e)) => break e,
            None => panic!("a stalled body ended after {got} bytes"),
        }
    };
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(got, 3000);
    emulator.shutdown().await.unwrap();
}

#[tokio::test]
async fn drip_is_slow_but_complete() {
    let dir = store();
    let emulator = spawn(
        dir.path(),
        &[Fault::Drip {
            bytes_per_second: 200_000,
        }],
    )
    .await;
    let response = get(&endpoint(&emulator, "multipart", ID)).await;
    let length: usize = header(&response, "content-length").parse().unwrap();
    let mut stream = response.bytes_stream();
    let (mut got, mut chunks) = (Vec::new(), 0);
    while let Some(chunk) = stream.next().await {
        got.extend_from_slice(&chunk.unwrap());
        chunks += 1;
    }
    assert_eq!(got.len(), length);
    assert!(chunks > 10, "sent in pieces: {chunks}");
    let (result, files) = decode(get(&endpoint(&emulator, "multipart", ID)).await).await;
    assert_eq!(result.unwrap(), corpus("result.json"));
    assert_eq!(files, stored_files());
    emulator.shutdown().await.unwrap();
}

#[tokio::test]
async fn busy_answers_the_first_requests_with_retry_after() {
    let dir = store();
    let emulator = spawn(
        dir.path(),
        &[
            Fault::TooManyRequests {
                first: 2,
                retry_after_secs: 7,
            },
            Fault::Unavailable {
                first: 1,
                retry_after_secs: 3,
            },
        ],
    )
    .await;
    let url = endpoint(&emulator, "json", ID);
    for (status, retry_after) in [
        (429, Some("7")),
        (429, Some("7")),
        (503, Some("3")),
        (200, None),
    ] {
        let response = get(&url).await;
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap()),
            retry_after
        );
        let body = response.bytes().await.unwrap();
        if status == 200 {
            assert_eq!(body, corpus("verification-result.json"));
        } else {
            let error = authenteq_export::export::ApiError::from_json(&body)
                .unwrap()
                .with_status(status);
            assert!(error.is_retryable(), "{error}");
        }
    }
    emulator.shutdown().await.unwrap();
}

#[tokio::test]
async fn garble_changes_exactly_one_byte() {
    let dir = store();
    let offset = 20_000;
    let emulator = spawn(dir.path(), &[Fault::Garble { offset }]).await;
    let response = get(&endpoint(&emulator, "json", ID)).await;
    let length: usize = header(&response, "content-length").parse().unwrap();
    let body = response.bytes().await.unwrap();
    let expected = corpus("verification-result.json");
    assert_eq!(body.len(), length);
    assert_eq!(body.len(), expected.len());
    let differ: Vec<usize> = (0..body.len())
        .filter(|&i| body[i] != expected[i])
        .collect();
    assert_eq!(differ, vec![offset as usize]);
    emulator.shutdown().await.unwrap();
}
