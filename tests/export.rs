//! The export layer (`ExportDecoder` and its front-ends) under every chunking.
//!
//! A small driver feeds an `ExportDecoder` the chunks of a chunking, only when it asks for
//! input, and records a comparable outcome: the files reported complete, the result events,
//! the file being read when it stopped, and how it ended. Every table row is decoded whole, in
//! 1-byte chunks and split at every point (the corpus bodies at about 200 evenly spaced points),
//! and all chunkings must agree.

mod support;

use std::fmt;

use authenteq_export::export::{
    ApiErrorCode, DocumentSlot, ExportDecoder, ExportEvent, ExportFormat, ExportLimits, FileKind,
    VerificationResult,
};
use authenteq_export::multipart::Boundary;
use authenteq_export::{ErrorKind, Limit, PartRef};
use bytes::Bytes;

/// A file the decoder reported complete (its `FileEnd` was seen), or the one it was reading when
/// the body ended.
#[derive(Clone, PartialEq, Eq)]
struct DecodedFile {
    kind: FileKind,
    content_type: Option<String>,
    filename: Option<String>,
    bytes: Vec<u8>,
}

impl fmt::Debug for DecodedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bytes can be kilobytes of JPEG: show their length and first bytes only.
        let head = &self.bytes[..self.bytes.len().min(12)];
        write!(
            f,
            "{} {:?} {:?} {} bytes {:?}",
            self.kind,
            self.content_type,
            self.filename,
            self.bytes.len(),
            String::from_utf8_lossy(head)
        )
    }
}

/// A `Result` event: the typed result, the JSON bytes, and how many files had started before it.
#[derive(Clone, PartialEq, Eq)]
struct DecodedResult {
    id: String,
    typed: VerificationResult,
    json: Vec<u8>,
    files_before: usize,
}

impl fmt::Debug for DecodedResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "result {:?} after {} files, json {:?}",
            self.id,
            self.files_before,
            String::from_utf8_lossy(&self.json)
        )
    }
}

/// How a decode ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ending {
    Complete,
    Failed {
        kind: ErrorKind,
        offset: Option<u64>,
        part: Option<PartRef>,
        limit: Option<Limit>,
        api: Option<(ApiErrorCode, Option<String>)>,
    },
}

/// Everything a decode produced, comparable across chunkings.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    files: Vec<DecodedFile>,
    results: Vec<DecodedResult>,
    unfinished: Option<DecodedFile>,
    ending: Ending,
    /// After an error, asking again gave an error of the same kind at the same offset.
    fused: bool,
}

impl Outcome {
    fn kind(&self) -> Option<ErrorKind> {
        match &self.ending {
            Ending::Complete => None,
            Ending::Failed { kind, .. } => Some(*kind),
        }
    }
    fn offset(&self) -> Option<u64> {
        match &self.ending {
            Ending::Complete => None,
            Ending::Failed { offset, .. } => *offset,
        }
    }
    fn part(&self) -> Option<&PartRef> {
        match &self.ending {
            Ending::Complete => None,
            Ending::Failed { part, .. } => part.as_ref(),
        }
    }
    fn limit(&self) -> Option<Limit> {
        match &self.ending {
            Ending::Complete => None,
            Ending::Failed { limit, .. } => *limit,
        }
    }
    fn result(&self) -> &DecodedResult {
        assert_eq!(self.results.len(), 1, "{self:?}");
        &self.results[0]
    }
    fn assert_complete(&self) -> &Self {
        assert_eq!(self.ending, Ending::Complete, "{self:?}");
        self
    }
    fn assert_failed(&self, kind: ErrorKind) -> &Self {
        assert_eq!(self.kind(), Some(kind), "{self:?}");
        self
    }
    /// The outcome as chunkings must agree on it: everything but `fused`, which
    /// [`json_errors_are_fused`] checks on its own.
    fn strict(&self) -> Outcome {
        Outcome {
            fused: true,
            ..self.clone()
        }
    }
    /// Only how it ended: complete, or the kind of error (and limit).
    fn ending_kind(&self) -> (Option<ErrorKind>, Option<Limit>) {
        (self.kind(), self.limit())
    }
    /// As [`strict`](Self::strict), without where the error was noticed (offset and part).
    fn without_position(&self) -> Outcome {
        let mut o = self.strict();
        if let Ending::Failed { offset, part, .. } = &mut o.ending {
            *offset = None;
            *part = None;
        }
        o
    }
}

/// Decodes `chunks`, feeding the decoder only when it asks for input, then finishing it.
fn decode_chunks(chunks: &[Bytes], mut decoder: ExportDecoder) -> Outcome {
    let mut input = chunks.iter();
    let mut finished = false;
    let mut files = Vec::new();
    let mut results = Vec::new();
    let mut started = 0;
    let mut current: Option<DecodedFile> = None;
    let mut events = 0usize;
    let (ending, fused) = loop {
        events += 1;
        assert!(events < 10_000_000, "the decoder does not make progress");
        match decoder.next_event() {
            Ok(None) => match input.next() {
                Some(chunk) => decoder.feed(chunk.clone()),
                None => {
                    assert!(!finished, "Ok(None) after finish()");
                    finished = true;
                    decoder.finish();
                }
            },
            Ok(Some(ExportEvent::FileStart(info))) => {
                assert!(current.is_none(), "a file started inside a file");
                started += 1;
                current = Some(DecodedFile {
                    kind: info.kind().clone(),
                    content_type: info.content_type().map(str::to_owned),
                    filename: info.filename().map(str::to_owned),
                    bytes: Vec::new(),
                });
            }
            Ok(Some(ExportEvent::FileData(data))) => {
                assert!(!data.is_empty(), "empty FileData");
                current
                    .as_mut()
                    .expect("FileData outside a file")
                    .bytes
                    .extend_from_slice(&data);
            }
            Ok(Some(ExportEvent::FileEnd)) => {
                files.push(current.take().expect("FileEnd outside a file"));
            }
            Ok(Some(ExportEvent::Result { result, json })) => {
                assert!(current.is_none(), "a result inside a file");
                results.push(DecodedResult {
                    id: result.id.clone(),
                    typed: *result,
                    json: json.to_vec(),
                    files_before: started,
                });
            }
            Ok(Some(ExportEvent::End)) => {
                assert!(current.is_none(), "the export ended inside a file");
                assert_eq!(decoder.next_event().unwrap(), Some(ExportEvent::End));
                break (Ending::Complete, true);
            }
            Err(e) => {
                let fused = matches!(
                    decoder.next_event(),
                    Err(again) if (again.kind(), again.offset()) == (e.kind(), e.offset())
                );
                let ending = Ending::Failed {
                    kind: e.kind(),
                    offset: e.offset(),
                    part: e.part().cloned(),
                    limit: e.limit().map(|(l, _)| l),
                    api: e
                        .api_error()
                        .map(|api| (api.code.clone(), api.message.clone())),
                };
                break (ending, fused);
            }
        }
    };
    Outcome {
        files,
        results,
        unfinished: current,
        ending,
        fused,
    }
}

/// How the decoder is told the format.
#[derive(Debug, Clone)]
enum Format {
    Known(ExportFormat),
    Detect,
}

fn decoder(format: &Format, limits: ExportLimits) -> ExportDecoder {
    match format {
        Format::Known(f) => ExportDecoder::new(f.clone(), limits),
        Format::Detect => ExportDecoder::detecting(limits),
    }
}

fn json() -> Format {
    Format::Known(ExportFormat::Json)
}

fn pdf() -> Format {
    Format::Known(ExportFormat::Pdf)
}

/// Multipart with boundary `b`.
fn mp() -> Format {
    Format::Known(ExportFormat::Multipart(Boundary::new("b").unwrap()))
}

/// Whole, 1-byte chunks and about `splits` evenly spaced 2-way splits: for the corpus bodies,
/// where every split point would be quadratic in their size.
fn sampled_chunkings(body: &[u8], splits: usize) -> Vec<(String, Vec<Bytes>)> {
    let whole = Bytes::copy_from_slice(body);
    let mut out = vec![
        ("whole".to_string(), vec![whole.clone()]),
        (
            "1-byte".to_string(),
            (0..body.len()).map(|i| whole.slice(i..i + 1)).collect(),
        ),
    ];
    let step = (body.len() / splits.max(1)).max(1);
    for split in (1..body.len()).step_by(step) {
        out.push((
            format!("split at {split}"),
            vec![whole.slice(..split), whole.slice(split..)],
        ));
    }
    out
}

/// Decodes under each chunking; returns the outcomes with their labels.
fn decode_all(
    chunkings: Vec<(String, Vec<Bytes>)>,
    format: &Format,
    limits: ExportLimits,
) -> Vec<(String, Outcome)> {
    chunkings
        .into_iter()
        .map(|(label, chunks)| {
            let outcome = decode_chunks(&chunks, decoder(format, limits));
            (label, outcome)
        })
        .collect()
}

/// Asserts that `key` of every outcome equals the whole-body one's; returns the whole-body one.
fn same_by<T: PartialEq + fmt::Debug>(
    outcomes: &[(String, Outcome)],
    body: &[u8],
    key: impl Fn(&Outcome) -> T,
) -> Outcome {
    let (_, first) = &outcomes[0];
    let want = key(first);
    for (label, outcome) in &outcomes[1..] {
        let have = key(outcome);
        assert!(
            have == want,
            "chunking {label} differs from whole for body {:?}\n{label}: {have:#?}\nwhole: {want:#?}",
            String::from_utf8_lossy(&body[..body.len().min(600)])
        );
    }
    first.clone()
}

/// Decodes `body` under every chunking (whole, 1-byte, every 2-way split) and asserts that all
/// agree on `key` of the outcome; returns the whole-body outcome.
fn every_way_by<T: PartialEq + fmt::Debug>(
    body: &[u8],
    format: &Format,
    limits: ExportLimits,
    key: fn(&Outcome) -> T,
) -> Outcome {
    let outcomes = decode_all(support::chunkings(body), format, limits);
    same_by(&outcomes, body, key)
}

/// Decodes `body` under every chunking and asserts identical outcomes; returns the outcome.
fn every_way(body: &[u8], format: &Format, limits: ExportLimits) -> Outcome {
    every_way_by(body, format, limits, Outcome::strict)
}

fn default_limits() -> ExportLimits {
    ExportLimits::default()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Where `needle` starts in `haystack` (the first time).
fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(needle)))
}

// ---------------------------------------------------------------------------------------------
// 1. The sample exports in corpus/
// ---------------------------------------------------------------------------------------------

fn corpus(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The sample's files as the multipart export carries them (`with_filename`) or the JSON
/// export does (no file names).
fn corpus_files(with_filename: bool) -> Vec<DecodedFile> {
    // The sample has the same eleven files, in API order, as generated exports.
    support::generate::FILE_PARTS
        .iter()
        .map(|(name, content_type, ext)| {
            let filename = format!("{name}.{ext}");
            DecodedFile {
                kind: FileKind::from_part_name(name),
                content_type: Some(content_type.to_string()),
                bytes: corpus(&format!("files/{filename}")),
                filename: with_filename.then_some(filename),
            }
        })
        .collect()
}

fn corpus_multipart_format() -> ExportFormat {
    let content_type =
        String::from_utf8(corpus("verification-result.multipart.content-type")).unwrap();
    ExportFormat::from_content_type(content_type.trim())
        .unwrap()
        .expect("a multipart content type")
}

/// Decodes a corpus body under sampled chunkings, with the format told and detected; asserts
/// that all agree and returns the outcome.
fn corpus_every_way(body: &[u8], format: ExportFormat) -> Outcome {
    let mut outcomes = decode_all(
        sampled_chunkings(body, 200),
        &Format::Known(format),
        default_limits(),
    );
    outcomes.extend(
        decode_all(
            sampled_chunkings(body, 50),
            &Format::Detect,
            default_limits(),
        )
        .into_iter()
        .map(|(label, o)| (format!("detected, {label}"), o)),
    );
    same_by(&outcomes, body, Outcome::strict)
}

#[test]
fn corpus_multipart_export() {
    let body = corpus("verification-result.multipart");
    let outcome = corpus_every_way(&body, corpus_multipart_format());
    outcome.assert_complete();
    assert_eq!(outcome.files, corpus_files(true));
    let result = outcome.result();
    // The result part verbatim, where it comes: first.
    assert_eq!(result.json, corpus("result.json"));
    assert_eq!(result.id, "8c3f6a2e-5b1d-4e7a-9f20-6d4b2c1a7e95");
    assert_eq!(result.files_before, 0);
    assert_eq!(result.typed.documents().count(), 3);
}

#[test]
fn corpus_json_export() {
    let body = corpus("verification-result.json");
    let outcome = corpus_every_way(&body, ExportFormat::Json);
    outcome.assert_complete();
    // The same files, with the same bytes and content types, as the multipart export.
    assert_eq!(outcome.files, corpus_files(false));
    let result = outcome.result();
    assert_eq!(
        String::from_utf8_lossy(&result.json),
        String::from_utf8_lossy(&corpus("result.json"))
    );
    assert_eq!(result.json, corpus("result.json"));
    assert_eq!(
        result.files_before, 11,
        "the JSON export's result comes last"
    );
    // The typed result of both exports is the same.
    let multipart = decode_chunks(
        &[Bytes::from(corpus("verification-result.multipart"))],
        ExportDecoder::new(corpus_multipart_format(), default_limits()),
    );
    assert_eq!(result.typed, multipart.result().typed);
}

#[test]
fn corpus_pdf_export() {
    let body = corpus("verification-result.pdf");
    let outcome = corpus_every_way(&body, ExportFormat::Pdf);
    outcome.assert_complete();
    assert_eq!(
        outcome.files,
        [DecodedFile {
            kind: FileKind::Report,
            content_type: Some("application/pdf".into()),
            filename: Some("result.pdf".into()),
            bytes: body,
        }]
    );
    assert!(outcome.results.is_empty());
}

#[test]
fn corpus_exports_truncated() {
    let cases = [
        (
            "verification-result.multipart",
            corpus_multipart_format(),
            corpus_files(true),
        ),
        (
            "verification-result.json",
            ExportFormat::Json,
            corpus_files(false),
        ),
    ];
    for (name, format, files) in cases {
        let body = corpus(name);
        let format = Format::Known(format);
        for cut in (0..body.len()).step_by(body.len() / 40) {
            let prefix = &body[..cut];
            let outcomes = decode_all(sampled_chunkings(prefix, 4), &format, default_limits());
            let outcome = same_by(&outcomes, prefix, Outcome::strict);
            outcome.assert_failed(ErrorKind::UnexpectedEnd);
            assert_eq!(outcome.offset(), Some(cut as u64));
            // Only whole files, in order; the one being read is a prefix of its file.
            let complete = outcome.files.len();
            assert_eq!(outcome.files[..], files[..complete], "{name} cut at {cut}");
            if let Some(unfinished) = &outcome.unfinished {
                assert_eq!(unfinished.kind, files[complete].kind);
                assert!(files[complete].bytes.starts_with(&unfinished.bytes));
            }
        }
    }
}

#[test]
fn corpus_exports_through_content_type() {
    // `ExportDecoder::for_content_type` with what a server would send, and without.
    let cases = [
        ("verification-result.multipart", None),
        (
            "verification-result.json",
            Some("application/json; charset=utf-8"),
        ),
        ("verification-result.pdf", Some("application/pdf")),
        ("verification-result.pdf", Some("application/octet-stream")),
    ];
    let ct = String::from_utf8(corpus("verification-result.multipart.content-type")).unwrap();
    for (name, content_type) in cases {
        let body = corpus(name);
        let content_type = content_type.or(name.ends_with("multipart").then_some(ct.trim()));
        let told = decode_chunks(
            &support::fixed_chunks(&Bytes::from(body.clone()), 1000),
            ExportDecoder::for_content_type(content_type, default_limits()).unwrap(),
        );
        let detected = decode_chunks(
            &support::fixed_chunks(&Bytes::from(body), 1000),
            ExportDecoder::for_content_type(None, default_limits()).unwrap(),
        );
        told.assert_complete();
        assert_eq!(told, detected, "{name} {content_type:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Multipart exports
// ---------------------------------------------------------------------------------------------

const RESULT_JSON: &[u8] = br#"{"id":"v1","platform":"WEB"}"#;
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01 jpeg body \xff\xd9";
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";

/// One part of a multipart body with boundary `b`.
fn part(name: &str, filename: Option<&str>, content_type: Option<&str>, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("--b\r\nContent-Disposition: form-data; name=\"{name}\"");
    if let Some(filename) = filename {
        out += &format!("; filename=\"{filename}\"");
    }
    out += "\r\n";
    if let Some(content_type) = content_type {
        out += &format!("Content-Type: {content_type}\r\n");
    }
    out += "\r\n";
    let mut out = out.into_bytes();
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
    out
}

fn result_part(json: &[u8]) -> Vec<u8> {
    part(
        "result",
        Some("result.json"),
        Some("application/json"),
        json,
    )
}

fn face_part() -> Vec<u8> {
    part(
        "faceImage",
        Some("faceImage.jpeg"),
        Some("image/jpeg"),
        JPEG,
    )
}

fn pdf_part() -> Vec<u8> {
    part(
        "addressProofDocument",
        Some("addressProofDocument.pdf"),
        Some("application/pdf"),
        PDF,
    )
}

fn multipart_body(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut body = parts.concat();
    body.extend_from_slice(b"--b--\r\n");
    body
}

fn face_file() -> DecodedFile {
    DecodedFile {
        kind: FileKind::FaceImage(DocumentSlot::First),
        content_type: Some("image/jpeg".into()),
        filename: Some("faceImage.jpeg".into()),
        bytes: JPEG.to_vec(),
    }
}

fn pdf_file() -> DecodedFile {
    DecodedFile {
        kind: FileKind::AddressProofDocument,
        content_type: Some("application/pdf".into()),
        filename: Some("addressProofDocument.pdf".into()),
        bytes: PDF.to_vec(),
    }
}

#[test]
fn multipart_result_part_comes_anywhere() {
    // (parts, files started before the result)
    let rows = [
        (vec![result_part(RESULT_JSON), face_part(), pdf_part()], 0),
        (vec![face_part(), result_part(RESULT_JSON), pdf_part()], 1),
        (vec![face_part(), pdf_part(), result_part(RESULT_JSON)], 2),
    ];
    for (parts, files_before) in rows {
        let body = multipart_body(&parts);
        let outcome = every_way(&body, &mp(), default_limits());
        outcome.assert_complete();
        assert_eq!(outcome.files, [face_file(), pdf_file()]);
        let result = outcome.result();
        assert_eq!(result.json, RESULT_JSON, "the result part verbatim");
        assert_eq!(result.id, "v1");
        assert_eq!(result.files_before, files_before);
        assert_eq!(every_way(&body, &Format::Detect, default_limits()), outcome);
    }
}

#[test]
fn multipart_unknown_parts_are_kept() {
    let video = b"\x00\x00\x00\x18ftypmp42 not really a video";
    let body = multipart_body(&[
        result_part(RESULT_JSON),
        part("selfieVideo", Some("selfie.mp4"), Some("video/mp4"), video),
        part("faceImage4", None, None, b"four"),
        face_part(),
    ]);
    let outcome = every_way(&body, &mp(), default_limits());
    outcome.assert_complete();
    assert_eq!(
        outcome.files,
        [
            DecodedFile {
                kind: FileKind::Other("selfieVideo".into()),
                content_type: Some("video/mp4".into()),
                filename: Some("selfie.mp4".into()),
                bytes: video.to_vec(),
            },
            DecodedFile {
                kind: FileKind::Other("faceImage4".into()),
                content_type: None,
                filename: None,
                bytes: b"four".to_vec(),
            },
            face_file(),
        ]
    );
}

#[test]
fn multipart_document_slots() {
    let body = multipart_body(&[
        result_part(RESULT_JSON),
        part("croppedFrontImage2", None, Some("image/jpeg"), JPEG),
        part("croppedBackImage3", None, Some("image/jpeg"), JPEG),
        part("faceImage3", None, Some("image/png"), b"\x89PNG\r\n\x1a\n"),
        part("livenessFaceImage", None, Some("image/jpeg"), JPEG),
    ]);
    let outcome = every_way(&body, &mp(), default_limits());
    outcome.assert_complete();
    let kinds: Vec<_> = outcome.files.iter().map(|f| f.kind.clone()).collect();
    assert_eq!(
        kinds,
        [
            FileKind::CroppedFrontImage(DocumentSlot::Second),
            FileKind::CroppedBackImage(DocumentSlot::Third),
            FileKind::FaceImage(DocumentSlot::Third),
            FileKind::LivenessFaceImage,
        ]
    );
}

/// How an invalid export ends: the error, and what was reported complete before it.
#[derive(Debug, Clone, Copy)]
struct Failure {
    kind: ErrorKind,
    limit: Option<Limit>,
    files: usize,
    results: usize,
}

fn failure(kind: ErrorKind, limit: Option<Limit>, files: usize, results: usize) -> Failure {
    Failure {
        kind,
        limit,
        files,
        results,
    }
}

/// Multipart bodies that are not valid exports: (label, body, limits, failure).
fn invalid_multipart_rows() -> Vec<(&'static str, Vec<u8>, ExportLimits, Failure)> {
    let limits = default_limits();
    vec![
        (
            "no result part",
            multipart_body(&[face_part(), pdf_part()]),
            limits,
            failure(ErrorKind::InvalidExport, None, 2, 0),
        ),
        (
            "two result parts",
            multipart_body(&[
                result_part(RESULT_JSON),
                face_part(),
                result_part(RESULT_JSON),
            ]),
            limits,
            failure(ErrorKind::InvalidExport, None, 1, 1),
        ),
        (
            "result not json",
            multipart_body(&[result_part(b"id=v1"), face_part()]),
            limits,
            failure(ErrorKind::Json, None, 0, 0),
        ),
        (
            "result without id",
            multipart_body(&[face_part(), result_part(br#"{"platform":"WEB"}"#)]),
            limits,
            failure(ErrorKind::Json, None, 1, 0),
        ),
        (
            "result over max_result_bytes",
            multipart_body(&[face_part(), result_part(RESULT_JSON)]),
            limits.max_result_bytes(RESULT_JSON.len() - 1),
            failure(ErrorKind::LimitExceeded, Some(Limit::ResultBytes), 1, 0),
        ),
        (
            "more files than max_files",
            multipart_body(&[
                result_part(RESULT_JSON),
                face_part(),
                pdf_part(),
                face_part(),
            ]),
            limits.max_files(2),
            failure(ErrorKind::LimitExceeded, Some(Limit::ExportFiles), 2, 1),
        ),
    ]
}

#[test]
fn multipart_invalid_exports() {
    for (label, body, limits, want) in invalid_multipart_rows() {
        let outcome = every_way_by(&body, &mp(), limits, Outcome::without_position);
        outcome.assert_failed(want.kind);
        assert_eq!(outcome.limit(), want.limit, "{label}");
        assert_eq!(outcome.files.len(), want.files, "{label}: {outcome:?}");
        assert_eq!(outcome.results.len(), want.results, "{label}: {outcome:?}");
        assert!(outcome.unfinished.is_none(), "{label}: {outcome:?}");
    }
}

#[test]
fn multipart_invalid_exports_same_offset_under_every_chunking() {
    for (_, body, limits, ..) in invalid_multipart_rows() {
        every_way(&body, &mp(), limits);
    }
}

#[test]
fn multipart_result_limit_names_the_first_byte_over_it() {
    // As the core does for max_part_bytes: the offset of the first byte over the limit.
    let body = multipart_body(&[face_part(), result_part(RESULT_JSON)]);
    let max = RESULT_JSON.len() - 1;
    let outcome = every_way(&body, &mp(), default_limits().max_result_bytes(max));
    let payload = find(&body, RESULT_JSON);
    assert_eq!(outcome.offset(), Some((payload + max) as u64));
    assert_eq!(outcome.part().map(|p| p.number), Some(2));
}

#[test]
fn multipart_limits_are_inclusive() {
    let body = multipart_body(&[result_part(RESULT_JSON), face_part(), pdf_part()]);
    let limits = default_limits()
        .max_result_bytes(RESULT_JSON.len())
        .max_files(2);
    every_way(&body, &mp(), limits).assert_complete();
}

#[test]
fn multipart_truncated_at_every_offset() {
    let body = multipart_body(&[result_part(RESULT_JSON), face_part(), pdf_part()]);
    let full = every_way(&body, &mp(), default_limits());
    full.assert_complete();
    let close = find(&body, b"--b--") + 5;
    // A file is surely complete once the next part's headers are in.
    let next_payloads = [find(&body, b"%PDF-"), close];
    for cut in 0..body.len() {
        let prefix = &body[..cut];
        let outcome = decode_all(sampled_chunkings(prefix, 40), &mp(), default_limits());
        let outcome = same_by(&outcome, prefix, Outcome::strict);
        if cut >= close {
            outcome.assert_complete();
            continue;
        }
        outcome.assert_failed(ErrorKind::UnexpectedEnd);
        assert_eq!(outcome.offset(), Some(cut as u64));
        assert_eq!(
            outcome.files[..],
            full.files[..outcome.files.len()],
            "cut at {cut}"
        );
        for (i, end) in next_payloads.iter().enumerate() {
            if cut >= *end {
                assert!(outcome.files.len() > i, "cut at {cut}: {outcome:?}");
            }
        }
        if let Some(unfinished) = &outcome.unfinished {
            let whole = &full.files[outcome.files.len()];
            assert!(whole.bytes.starts_with(&unfinished.bytes), "cut at {cut}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. JSON exports
// ---------------------------------------------------------------------------------------------

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR png body!";

/// All 256 byte values: their base64 holds `/` and `+`, and sniffs as nothing.
fn all_bytes() -> Vec<u8> {
    (0..=255).collect()
}

/// `{"contentType": ..., "content": ...}` with `content` written as given (already escaped).
fn file_object(content_type: &str, content: &str) -> String {
    format!(r#"{{"contentType":"{content_type}","content":"{content}"}}"#)
}

/// A JSON export: `{"id":"j1", <members>}`.
fn json_doc(members: &str) -> Vec<u8> {
    format!(r#"{{"id":"j1",{members}}}"#).into_bytes()
}

fn json_file(kind: FileKind, content_type: Option<&str>, bytes: &[u8]) -> DecodedFile {
    DecodedFile {
        kind,
        content_type: content_type.map(str::to_owned),
        filename: None,
        bytes: bytes.to_vec(),
    }
}

fn liveness(content_type: Option<&str>, bytes: &[u8]) -> DecodedFile {
    json_file(FileKind::LivenessFaceImage, content_type, bytes)
}

/// Inserts `sep` after every `every` characters of `s`.
fn wrap(s: &str, every: usize, sep: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    chars
        .chunks(every)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(sep)
}

#[test]
fn json_file_forms() {
    let jpeg = b64(JPEG);
    let png = b64(PNG);
    let bin = b64(&all_bytes());
    assert!(bin.contains('/') && bin.contains('+'));
    let rows: Vec<(&str, String, DecodedFile)> = vec![
        (
            "contentType first: the declared type wins over the bytes",
            file_object("image/heic", &jpeg),
            liveness(Some("image/heic"), JPEG),
        ),
        (
            "contentType after content, agreeing with the bytes",
            format!(r#"{{"content":"{jpeg}","contentType":"image/jpeg"}}"#),
            liveness(Some("image/jpeg"), JPEG),
        ),
        (
            "bare base64 string: sniffed JPEG",
            format!(r#""{jpeg}""#),
            liveness(Some("image/jpeg"), JPEG),
        ),
        (
            "bare base64 string: sniffed PNG",
            format!(r#""{png}""#),
            liveness(Some("image/png"), PNG),
        ),
        (
            "bare base64 string: sniffed PDF",
            format!(r#""{}""#, b64(PDF)),
            liveness(Some("application/pdf"), PDF),
        ),
        (
            "bare base64 string: unknown bytes",
            format!(r#""{bin}""#),
            liveness(None, &all_bytes()),
        ),
        (
            "\\/ escapes inside the base64",
            file_object("application/octet-stream", &bin.replace('/', "\\/")),
            liveness(Some("application/octet-stream"), &all_bytes()),
        ),
        (
            "\\r\\n and \\n escapes (MIME line breaks) are skipped",
            file_object("image/png", &(wrap(&bin, 76, "\\r\\n") + "\\n")),
            liveness(Some("image/png"), &all_bytes()),
        ),
        (
            "\\n at the start, \\t inside",
            file_object("image/png", &format!("\\n{}", wrap(&bin, 5, "\\t"))),
            liveness(Some("image/png"), &all_bytes()),
        ),
        (
            "\\u escapes: \\u002F, \\u002b, \\u0041 and an escaped line break \\u000A",
            file_object(
                "image/png",
                &wrap(&bin, 50, "\n")
                    .replace('/', "\\u002F")
                    .replace('+', "\\u002b")
                    .replace('A', "\\u0041")
                    .replace('\n', "\\u000A"),
            ),
            liveness(Some("image/png"), &all_bytes()),
        ),
        (
            "unpadded base64 (two = dropped)",
            file_object("image/jpeg", jpeg.trim_end_matches('=')),
            liveness(Some("image/jpeg"), JPEG),
        ),
        (
            "unpadded base64 (one = dropped)",
            format!(r#""{}""#, png.trim_end_matches('=')),
            liveness(Some("image/png"), PNG),
        ),
        (
            "escaped contentType",
            file_object("image\\/png", &png),
            liveness(Some("image/png"), PNG),
        ),
        (
            "an empty content string is an empty file",
            file_object("image/jpeg", ""),
            liveness(Some("image/jpeg"), b""),
        ),
        (
            "other members of the file object are skipped",
            format!(
                r#"{{"fileName":"face.jpg","contentType":"image/jpeg","meta":{{"w":[96,{{"h":128}}]}},"content":"{jpeg}","note":"}}\"{{"}}"#
            ),
            liveness(Some("image/jpeg"), JPEG),
        ),
    ];
    assert_eq!(jpeg.matches('=').count(), 2);
    assert_eq!(png.matches('=').count(), 1);
    for (label, value, file) in rows {
        for ws in ["", " \r\n\t "] {
            let doc = json_doc(&format!(
                r#""platform":"WEB",{ws}"livenessFaceImage"{ws}:{ws}{value}{ws},"nfcVerified":true"#
            ));
            let outcome = every_way(&doc, &json(), default_limits());
            assert_eq!(outcome.ending, Ending::Complete, "{label}: {outcome:?}");
            assert_eq!(outcome.files, std::slice::from_ref(&file), "{label}");
            let result = outcome.result();
            let want =
                b"{\n  \"id\": \"j1\",\n  \"platform\": \"WEB\",\n  \"nfcVerified\": true\n}\n";
            assert_eq!(
                String::from_utf8_lossy(&result.json),
                String::from_utf8_lossy(want),
                "{label}"
            );
            assert_eq!(result.typed.liveness_face_image, None, "{label}");
            assert_eq!(result.files_before, 1);
        }
    }
}

#[test]
fn json_escaped_key_naming_a_file() {
    // `"livenessFace\u0049mage"` is the key `livenessFaceImage`.
    let doc = json_doc(&format!(
        r#""livenessFace\u0049mage":{}"#,
        file_object("image/jpeg", &b64(JPEG))
    ));
    let outcome = every_way(&doc, &json(), default_limits());
    outcome.assert_complete();
    assert_eq!(outcome.files, [liveness(Some("image/jpeg"), JPEG)]);
    assert_eq!(outcome.result().json, b"{\n  \"id\": \"j1\"\n}\n");
}

#[test]
fn json_content_type_after_content_falls_back_to_sniffing() {
    let rows = [
        (b64(JPEG), "image/png", liveness(Some("image/jpeg"), JPEG)),
        (b64(PNG), "image/jpeg", liveness(Some("image/png"), PNG)),
        (
            b64(PDF),
            "text/plain",
            liveness(Some("application/pdf"), PDF),
        ),
        (
            b64(&all_bytes()),
            "image/webp",
            liveness(None, &all_bytes()),
        ),
    ];
    for (content, content_type, file) in rows {
        let doc = json_doc(&format!(
            r#""livenessFaceImage":{{"content":"{content}","contentType":"{content_type}"}}"#
        ));
        let outcome = every_way(&doc, &json(), default_limits());
        outcome.assert_complete();
        assert_eq!(outcome.files, [file]);
    }
}

#[test]
fn json_document_slots() {
    let obj = |bytes: &[u8]| file_object("image/jpeg", &b64(bytes));
    let doc = json_doc(&format!(
        r#""livenessFaceImage":{},"documentData":{{"documentType":"PP","faceImage":{},"croppedFrontImage":"{}"}},"documentData2":{{"croppedFrontImage":{},"croppedBackImage":{}}},"documentData3":{{"faceImage":{},"croppedBackImage":{}}},"addressProofDocument":"{}""#,
        obj(b"live"),
        obj(b"face1"),
        b64(b"front1"),
        obj(b"front2"),
        obj(b"back2"),
        obj(b"face3"),
        obj(b"back3"),
        b64(PDF),
    ));
    let outcome = every_way(&doc, &json(), default_limits());
    outcome.assert_complete();
    let files: Vec<_> = outcome
        .files
        .iter()
        .map(|f| (f.kind.clone(), f.bytes.as_slice()))
        .collect();
    use DocumentSlot::*;
    assert_eq!(
        files,
        [
            (FileKind::LivenessFaceImage, &b"live"[..]),
            (FileKind::FaceImage(First), b"face1"),
            (FileKind::CroppedFrontImage(First), b"front1"),
            (FileKind::CroppedFrontImage(Second), b"front2"),
            (FileKind::CroppedBackImage(Second), b"back2"),
            (FileKind::FaceImage(Third), b"face3"),
            (FileKind::CroppedBackImage(Third), b"back3"),
            (FileKind::AddressProofDocument, PDF),
        ]
    );
    let json: serde_json::Value = serde_json::from_slice(&outcome.result().json).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "id": "j1",
            "documentData": {"documentType": "PP"},
            "documentData2": {},
            "documentData3": {},
        })
    );
}

#[test]
fn json_null_file_fields_are_no_files() {
    let doc = json_doc(&format!(
        r#""livenessFaceImage":null,"documentData":{{"faceImage":null,"croppedFrontImage":{},"croppedBackImage":null}},"addressProofDocument":null"#,
        file_object("image/jpeg", &b64(JPEG))
    ));
    let outcome = every_way(&doc, &json(), default_limits());
    outcome.assert_complete();
    assert_eq!(
        outcome.files,
        [json_file(
            FileKind::CroppedFrontImage(DocumentSlot::First),
            Some("image/jpeg"),
            JPEG
        )]
    );
    let result = outcome.result();
    // A null is no file: it stays in the result as written; the file member does not.
    let json: serde_json::Value = serde_json::from_slice(&result.json).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "id": "j1",
            "livenessFaceImage": null,
            "documentData": {"faceImage": null, "croppedBackImage": null},
            "addressProofDocument": null,
        })
    );
    assert_eq!(result.typed.liveness_face_image, None);
    assert_eq!(result.typed.address_proof_document, None);
}

#[test]
fn json_unknown_fields_are_kept() {
    let doc = json_doc(&format!(
        r#""riskScore":0.25,"tags":["a",{{"b":[]}}],"documentData":{{"documentType":"XX","mrz":"P<ISLDOE<<JANE","faceImage":{},"checks":{{"mrz":true,"n":-1.5e3}}}},"nfcVerified":false,"newThing":{{"faceImage":"not a file"}}"#,
        file_object("image/jpeg", &b64(JPEG))
    ));
    let outcome = every_way(&doc, &json(), default_limits());
    outcome.assert_complete();
    assert_eq!(outcome.files.len(), 1);
    let result = outcome.result();
    let want = serde_json::json!({
        "id": "j1",
        "riskScore": 0.25,
        "tags": ["a", {"b": []}],
        "documentData": {
            "documentType": "XX",
            "mrz": "P<ISLDOE<<JANE",
            "checks": {"mrz": true, "n": -1.5e3},
        },
        "nfcVerified": false,
        "newThing": {"faceImage": "not a file"},
    });
    let mut want_bytes = serde_json::to_vec_pretty(&want).unwrap();
    want_bytes.push(b'\n');
    assert_eq!(
        String::from_utf8_lossy(&result.json),
        String::from_utf8_lossy(&want_bytes)
    );
    let typed = &result.typed;
    assert_eq!(typed.extra["riskScore"], serde_json::json!(0.25));
    assert_eq!(typed.extra["newThing"], want["newThing"]);
    let document = typed.document_data.as_ref().unwrap();
    assert_eq!(document.extra["mrz"], serde_json::json!("P<ISLDOE<<JANE"));
    assert_eq!(document.extra["checks"], want["documentData"]["checks"]);
    assert_eq!(document.face_image, None);
}

#[test]
fn json_strings_do_not_confuse_the_scanner() {
    // Braces, brackets, quotes and backslashes in keys and values that are not files, and keys
    // named like file members in places where they are not.
    let face = file_object("image/jpeg", &b64(JPEG));
    let doc = json_doc(&format!(
        r#""note":"{{\"content\":\"QUJD\"}} ] }} \\","we\"ird}}key":"\\\"","documentData":{{"x\\":"{{[","faceImage":{face},"y":"\\\\\"}}"}},"s":"\u007b\u0022content\u0022","livenessFaceImage":{face}"#
    ));
    let outcome = every_way(&doc, &json(), default_limits());
    outcome.assert_complete();
    let kinds: Vec<_> = outcome.files.iter().map(|f| f.kind.clone()).collect();
    assert_eq!(
        kinds,
        [
            FileKind::FaceImage(DocumentSlot::First),
            FileKind::LivenessFaceImage
        ]
    );
    assert!(outcome.files.iter().all(|f| f.bytes == JPEG));
    let json: serde_json::Value = serde_json::from_slice(&outcome.result().json).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "id": "j1",
            "note": "{\"content\":\"QUJD\"} ] } \\",
            "we\"ird}key": "\\\"",
            "documentData": {"x\\": "{[", "y": "\\\\\"}"},
            "s": "{\"content\"",
        })
    );
}

#[test]
fn json_file_names_at_the_wrong_depth_are_no_files() {
    let obj = file_object("image/jpeg", &b64(JPEG));
    let doc = json_doc(&format!(
        r#""faceImage":{obj},"croppedFrontImage":"{jpeg}","documentData":{{"livenessFaceImage":{obj},"addressProofDocument":"{jpeg}","nested":{{"faceImage":{obj}}}}},"documentData4":{{"faceImage":{obj}}},"list":[{{"livenessFaceImage":{obj}}},[{{"faceImage":{obj}}}]],"meta":{{"livenessFaceImage":{obj}}}"#,
        jpeg = b64(JPEG)
    ));
    let outcome = every_way(&doc, &json(), default_limits());
    outcome.assert_complete();
    assert_eq!(outcome.files, []);
    // Everything stays in the result, as written.
    let json: serde_json::Value = serde_json::from_slice(&outcome.result().json).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
    assert_eq!(json, doc);
}

#[test]
fn json_truncated_at_every_offset() {
    // A file object (contentType first), a bare string in a document, and a file object with
    // contentType last and `\/` escapes; each file's end is where its value ends.
    let mut doc = br#"{"id":"t1","livenessFaceImage":"#.to_vec();
    doc.extend_from_slice(file_object("image/jpeg", &b64(JPEG)).as_bytes());
    let mut ends = vec![doc.len()];
    doc.extend_from_slice(br#","documentData":{"documentType":"PP","faceImage":""#);
    doc.extend_from_slice(b64(PNG).as_bytes());
    doc.push(b'"');
    ends.push(doc.len());
    doc.extend_from_slice(br#"},"addressProofDocument":{"content":""#);
    doc.extend_from_slice(b64(PDF).replace('/', "\\/").as_bytes());
    doc.extend_from_slice(br#"","contentType":"application/pdf"}"#);
    ends.push(doc.len());
    doc.extend_from_slice(br#","nfcVerified":true}"#);
    let full = every_way(&doc, &json(), default_limits());
    full.assert_complete();
    assert_eq!(
        full.files,
        [
            liveness(Some("image/jpeg"), JPEG),
            json_file(
                FileKind::FaceImage(DocumentSlot::First),
                Some("image/png"),
                PNG
            ),
            json_file(FileKind::AddressProofDocument, Some("application/pdf"), PDF),
        ]
    );
    for cut in 0..doc.len() {
        let prefix = &doc[..cut];
        let outcome = decode_all(support::chunkings(prefix), &json(), default_limits());
        let outcome = same_by(&outcome, prefix, Outcome::strict);
        outcome.assert_failed(ErrorKind::UnexpectedEnd);
        assert_eq!(outcome.offset(), Some(cut as u64), "cut at {cut}");
        assert!(outcome.results.is_empty());
        let complete = ends.iter().filter(|&&end| end <= cut).count();
        assert_eq!(outcome.files, full.files[..complete], "cut at {cut}");
        if let Some(unfinished) = &outcome.unfinished {
            let whole = &full.files[complete];
            assert_eq!(unfinished.kind, whole.kind, "cut at {cut}");
            assert!(whole.bytes.starts_with(&unfinished.bytes), "cut at {cut}");
        }
    }
}

#[test]
fn json_depth_limit() {
    let limits = default_limits().max_json_depth(3);
    let within = [
        br#"{"id":"x","a":{"b":[1]}}"#.to_vec(),
        br#"{"id":"x","documentData":{"faceImage":{"content":"QUJD"}}}"#.to_vec(),
        br#"{"id":"x","a":[[],{}]}"#.to_vec(),
    ];
    for doc in within {
        every_way(&doc, &json(), limits).assert_complete();
    }
    let over = [
        (br#"{"id":"x","a":{"b":[[1]]}}"#.to_vec(), "[[1]"),
        (br#"{"id":"x","a":[[{}]]}"#.to_vec(), "{}"),
    ];
    for (doc, at) in over {
        let outcome = every_way(&doc, &json(), limits);
        outcome.assert_failed(ErrorKind::LimitExceeded);
        assert_eq!(outcome.limit(), Some(Limit::JsonDepth));
        let want = find(&doc, at.as_bytes()) + usize::from(at.starts_with("[["));
        assert_eq!(outcome.offset(), Some(want as u64));
    }
    // A file object counts as a level too.
    let doc = br#"{"id":"x","documentData":{"faceImage":{"content":"QUJD"}}}"#;
    let outcome = every_way(doc, &json(), default_limits().max_json_depth(2));
    assert_eq!(outcome.limit(), Some(Limit::JsonDepth));
    assert_eq!(outcome.offset(), Some(find(doc, b"{\"content") as u64));
}

#[test]
fn json_result_limit_counts_the_skeleton_not_the_files() {
    let limits = default_limits().max_result_bytes(100);
    // A 3 KiB file, a small result: fine.
    let big = vec![0x5a; 3000];
    let doc = json_doc(&format!(
        r#""livenessFaceImage":{}"#,
        file_object("image/jpeg", &b64(&big))
    ));
    let outcome = every_way(&doc, &json(), limits);
    outcome.assert_complete();
    assert_eq!(outcome.files[0].bytes, big);
    // A result over the limit: the error names the first byte over it.
    let doc = json_doc(&format!(r#""note":"{}""#, "n".repeat(150)));
    let outcome = every_way(&doc, &json(), limits);
    outcome.assert_failed(ErrorKind::LimitExceeded);
    assert_eq!(outcome.limit(), Some(Limit::ResultBytes));
    assert_eq!(outcome.offset(), Some(100));
}

fn two_files_doc() -> Vec<u8> {
    let obj = file_object("image/jpeg", &b64(JPEG));
    json_doc(&format!(
        r#""livenessFaceImage":{obj},"documentData":{{"faceImage":{obj}}}"#
    ))
}

#[test]
fn json_more_files_than_max_files() {
    let doc = two_files_doc();
    every_way(&doc, &json(), default_limits().max_files(2)).assert_complete();
    let outcome = every_way_by(
        &doc,
        &json(),
        default_limits().max_files(1),
        Outcome::ending_kind,
    );
    outcome.assert_failed(ErrorKind::LimitExceeded);
    assert_eq!(outcome.limit(), Some(Limit::ExportFiles));
}

#[test]
fn json_malformed() {
    let rows: &[&[u8]] = &[
        br#"{"id":"x","a":[1}"#,
        br#"{"id":"x","a":{"b":1]}"#,
        br#"{"id":"x"]"#,
        br#"{"id":"x"} x"#,
        br#"{"id":"x"}{"id":"y"}"#,
        br#"{"id":"x"}}"#,
        br#"{"id":"x",}"#,
        br#"{"id":"x","a":[1,]}"#,
        br#"{"id" "x"}"#,
        br#"{"id":"x","a":tru}"#,
        br#"{"id":"x","a":01}"#,
        br#"{"id":"x","a":"b	c"}"#,
        br#"{"id":"x","a":"\q"}"#,
        br#"{"id":"x",:1}"#,
        br#"{id:"x"}"#,
        br#"{"id":"x","a":}"#,
        br#"{"id":1}"#,
        br#"{"platform":"WEB"}"#,
        br#"{"id":"x","startTime":"yesterday"}"#,
        br#"[{"id":"x"}]"#,
    ];
    for doc in rows {
        let outcome = every_way(doc, &json(), default_limits());
        assert_eq!(
            outcome.kind(),
            Some(ErrorKind::Json),
            "{}: {outcome:?}",
            String::from_utf8_lossy(doc)
        );
        assert!(outcome.results.is_empty());
    }
}

/// Malformed JSON in and around file values: (doc, files complete before the error).
fn malformed_around_files() -> Vec<(Vec<u8>, usize)> {
    vec![
        (
            br#"{"id":"x","livenessFaceImage":{"content":"QUJD"]}"#.to_vec(),
            0,
        ),
        (
            br#"{"id":"x","livenessFaceImage":{"content":"QUJD","contentType":"a"}]"#.to_vec(),
            1,
        ),
        (
            br#"{"id":"x","documentData":{"faceImage":"QUJD"]}"#.to_vec(),
            1,
        ),
        (
            br#"{"id":"x","livenessFaceImage":"QUJD","documentData":{"faceImage":"QUJD"}} x"#
                .to_vec(),
            2,
        ),
    ]
}

#[test]
fn json_malformed_around_files() {
    for (doc, _) in malformed_around_files() {
        let outcome = every_way_by(&doc, &json(), default_limits(), Outcome::ending_kind);
        outcome.assert_failed(ErrorKind::Json);
    }
}

#[test]
fn json_events_before_an_error_are_delivered() {
    // The files that ended before the error are reported complete under every chunking, as the
    // multipart decoder reports a part's end before a limit error.
    let mut rows = malformed_around_files()
        .into_iter()
        .map(|(doc, files)| (doc, default_limits(), files))
        .collect::<Vec<_>>();
    rows.push((two_files_doc(), default_limits().max_files(1), 1));
    rows.push((
        br#"{"id":"x","documentData":{"faceImage":"QUJD"},"addressProofDocument":"JVBE-i0x"}"#
            .to_vec(),
        default_limits(),
        1,
    ));
    for (doc, limits, files) in rows {
        let outcome = every_way(&doc, &json(), limits);
        assert_eq!(
            outcome.files.len(),
            files,
            "{}: {outcome:?}",
            String::from_utf8_lossy(&doc)
        );
    }
}

/// JSON exports with bad base64: (label, doc, offset of the bad byte if it is well defined,
/// the file's part name).
fn bad_base64_rows() -> Vec<(&'static str, Vec<u8>, Option<usize>, &'static str)> {
    let mut rows = Vec::new();
    let mut row = |label, doc: Vec<u8>, bad: Option<&str>, name| {
        let at = bad.map(|bad| find(&doc, bad.as_bytes()));
        rows.push((label, doc, at, name));
    };
    row(
        "a byte outside the alphabet",
        br#"{"id":"x","documentData2":{"faceImage":{"contentType":"image/jpeg","content":"QUJD*EVG"}}}"#.to_vec(),
        Some("*"),
        "faceImage2",
    );
    row(
        "a byte outside the alphabet in a bare string, after a good file",
        br#"{"id":"x","documentData":{"faceImage":"QUJD"},"addressProofDocument":"JVBE-i0x"}"#
            .to_vec(),
        Some("-"),
        "addressProofDocument",
    );
    row(
        "a space",
        br#"{"id":"x","livenessFaceImage":"QUJD QUJD"}"#.to_vec(),
        Some(" "),
        "livenessFaceImage",
    );
    row(
        "data after the padding",
        br#"{"id":"x","livenessFaceImage":{"contentType":"image/jpeg","content":"QQ==QUJD"}}"#
            .to_vec(),
        Some("QUJD"),
        "livenessFaceImage",
    );
    row(
        "padding inside a quad",
        br#"{"id":"x","livenessFaceImage":{"contentType":"image/jpeg","content":"QUJDQ=JD"}}"#
            .to_vec(),
        None,
        "livenessFaceImage",
    );
    row(
        "a lone trailing character",
        br#"{"id":"x","livenessFaceImage":{"contentType":"image/jpeg","content":"QUJDR"}}"#
            .to_vec(),
        None,
        "livenessFaceImage",
    );
    row(
        "an escaped quote",
        br#"{"id":"x","documentData3":{"croppedBackImage":"QU\"JD"}}"#.to_vec(),
        Some("\"JD"),
        "croppedBackImage3",
    );
    row(
        "a non-ASCII \\u escape",
        br#"{"id":"x","livenessFaceImage":"QUJD\u00e9"}"#.to_vec(),
        None,
        "livenessFaceImage",
    );
    rows
}

#[test]
fn json_bad_base64() {
    for (label, doc, _, _) in bad_base64_rows() {
        let outcome = every_way_by(&doc, &json(), default_limits(), Outcome::ending_kind);
        assert_eq!(
            outcome.kind(),
            Some(ErrorKind::InvalidBase64),
            "{label}: {outcome:?}"
        );
        assert!(outcome.results.is_empty());
    }
}

#[test]
fn json_bad_base64_names_the_byte_and_the_file() {
    for (label, doc, at, name) in bad_base64_rows() {
        let outcome = every_way(&doc, &json(), default_limits());
        assert_eq!(outcome.kind(), Some(ErrorKind::InvalidBase64), "{label}");
        if let Some(at) = at {
            assert_eq!(outcome.offset(), Some(at as u64), "{label}");
        }
        assert_eq!(
            outcome.part().and_then(|p| p.name.as_deref()),
            Some(name),
            "{label}"
        );
    }
}

#[test]
fn json_errors_are_fused() {
    let mut rows: Vec<(Vec<u8>, ExportLimits)> = bad_base64_rows()
        .into_iter()
        .map(|(_, doc, ..)| (doc, default_limits()))
        .collect();
    rows.extend(
        malformed_around_files()
            .into_iter()
            .map(|(doc, _)| (doc, default_limits())),
    );
    rows.push((br#"{"id":"x","a":[1}"#.to_vec(), default_limits()));
    rows.push((two_files_doc(), default_limits().max_files(1)));
    rows.push((two_files_doc(), default_limits().max_json_depth(2)));
    for (doc, limits) in rows {
        for (label, outcome) in decode_all(support::chunkings(&doc), &json(), limits) {
            assert!(
                outcome.fused,
                "{label}, {}: {outcome:?}",
                String::from_utf8_lossy(&doc)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. API error bodies
// ---------------------------------------------------------------------------------------------

const API_ERRORS: &[(&str, ApiErrorCode, &str)] = &[
    (
        "ACCOUNT_DEACTIVATED",
        ApiErrorCode::AccountDeactivated,
        "The account is deactivated",
    ),
    (
        "API_KEYS_BAD",
        ApiErrorCode::ApiKeysBad,
        "The Authorization header is malformed",
    ),
    (
        "API_KEYS_INVALID",
        ApiErrorCode::ApiKeysInvalid,
        "The API keys are invalid",
    ),
    (
        "API_KEYS_MISSING",
        ApiErrorCode::ApiKeysMissing,
        "No API keys were provided",
    ),
    (
        "INVALID_REQUEST_PARAMETER",
        ApiErrorCode::InvalidRequestParameter,
        "Parameter 'verificationId' is not a valid verification id",
    ),
    (
        "MISSING_REQUEST_PARAMETER",
        ApiErrorCode::MissingRequestParameter,
        "Required request parameter 'verificationId' is not present",
    ),
    (
        "VERIFICATION_NOT_FOUND",
        ApiErrorCode::VerificationNotFound,
        "Verification not found",
    ),
];

fn assert_api_error(outcome: &Outcome, code: &ApiErrorCode, message: &str) {
    match &outcome.ending {
        Ending::Failed {
            kind: ErrorKind::Api,
            api: Some((have_code, have_message)),
            ..
        } => {
            assert_eq!(have_code, code);
            assert_eq!(have_message.as_deref(), Some(message));
        }
        other => panic!("not an API error: {other:?}"),
    }
    assert!(outcome.files.is_empty() && outcome.results.is_empty());
}

#[test]
fn api_error_bodies() {
    let mut names: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/errors"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
    names.sort();
    let want: Vec<String> = API_ERRORS
        .iter()
        .map(|(n, ..)| format!("{n}.json"))
        .collect();
    assert_eq!(
        names, want,
        "corpus/errors/ holds the seven documented codes"
    );
    for (name, code, message) in API_ERRORS {
        let body = corpus(&format!("errors/{name}.json"));
        for format in [json(), Format::Detect] {
            let outcome = every_way(&body, &format, default_limits());
            assert_api_error(&outcome, code, message);
        }
    }
}

#[test]
fn api_error_with_an_unknown_code_and_extra_members() {
    let body = br#"{"errorCode":"RATE_LIMITED","errorMessage":"Slow down","retryAfter":30}"#;
    let outcome = every_way(body, &json(), default_limits());
    assert_api_error(
        &outcome,
        &ApiErrorCode::Unknown("RATE_LIMITED".into()),
        "Slow down",
    );
    // A result that happens to carry an errorCode member is a result.
    let body = br#"{"id":"x","errorCode":"NONE"}"#;
    let outcome = every_way(body, &json(), default_limits());
    outcome.assert_complete();
    assert_eq!(outcome.result().typed.extra["errorCode"], "NONE");
}

#[test]
fn api_error_asked_as_pdf_whole_body() {
    // The API answers errors as JSON whatever was asked for.
    for (name, code, message) in API_ERRORS {
        let body = corpus(&format!("errors/{name}.json"));
        let decoder =
            ExportDecoder::for_content_type(Some("application/pdf"), default_limits()).unwrap();
        let outcome = decode_chunks(&[Bytes::from(body)], decoder);
        assert_api_error(&outcome, code, message);
    }
}

#[test]
fn api_error_asked_as_pdf() {
    for (name, code, message) in API_ERRORS {
        let body = corpus(&format!("errors/{name}.json"));
        let outcome = every_way(&body, &pdf(), default_limits());
        assert_api_error(&outcome, code, message);
    }
}

// ---------------------------------------------------------------------------------------------
// 5. PDF exports
// ---------------------------------------------------------------------------------------------

fn report(bytes: &[u8]) -> DecodedFile {
    DecodedFile {
        kind: FileKind::Report,
        content_type: Some("application/pdf".into()),
        filename: Some("result.pdf".into()),
        bytes: bytes.to_vec(),
    }
}

#[test]
fn pdf_complete() {
    let rows: &[&[u8]] = &[
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\ntrailer <<>>\n%%EOF",
        b"%PDF-1.4\ntrailer <<>>\n%%EOF\n",
        b"%PDF-1.7\r\ntrailer <<>>\r\n%%EOF\r\n",
        b"%PDF-2.0 %%EOF",
    ];
    for body in rows {
        for format in [pdf(), Format::Detect] {
            let outcome = every_way(body, &format, default_limits());
            outcome.assert_complete();
            assert_eq!(outcome.files, [report(body)]);
            assert!(outcome.results.is_empty());
        }
    }
}

#[test]
fn pdf_truncated_at_every_offset() {
    let body = PDF;
    let eof = find(body, b"%%EOF") + 5;
    for cut in 0..body.len() {
        let prefix = &body[..cut];
        let outcome = every_way(prefix, &pdf(), default_limits());
        if cut >= eof {
            outcome.assert_complete();
            continue;
        }
        outcome.assert_failed(ErrorKind::UnexpectedEnd);
        assert_eq!(outcome.offset(), Some(cut as u64), "cut at {cut}");
        assert!(outcome.files.is_empty(), "no FileEnd: {outcome:?}");
        if cut >= 5 {
            assert_eq!(outcome.unfinished, Some(report(prefix)));
        }
    }
    // The corpus PDF cut before its trailer.
    let body = corpus("verification-result.pdf");
    for cut in [5, 1000, body.len() / 2, body.len() - 7, body.len() - 2] {
        let prefix = &body[..cut];
        let outcomes = decode_all(sampled_chunkings(prefix, 20), &pdf(), default_limits());
        let outcome = same_by(&outcomes, prefix, Outcome::strict);
        outcome.assert_failed(ErrorKind::UnexpectedEnd);
        assert!(outcome.files.is_empty());
        assert_eq!(outcome.unfinished, Some(report(prefix)));
    }
}

#[test]
fn pdf_not_starting_with_the_header() {
    let rows: &[&[u8]] = &[
        b"<html><body>Bad gateway</body></html>",
        b"%PDX-1.4\n%%EOF\n",
        b"PDF-1.4\n%%EOF",
        b"%!PS-Adobe-3.0\n%%EOF\n",
        b"%PD!",
    ];
    for body in rows {
        let outcome = every_way(body, &pdf(), default_limits());
        outcome.assert_failed(ErrorKind::InvalidPdf);
        assert_eq!(outcome.offset(), Some(0));
        assert!(outcome.files.is_empty() && outcome.unfinished.is_none());
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Format detection
// ---------------------------------------------------------------------------------------------

/// What a detection should give, comparable.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Detected {
    Json,
    Pdf,
    Multipart(String),
    /// `Ok(None)`: too short to tell.
    NotYet,
    Error(ErrorKind),
}

fn detected(r: authenteq_export::Result<Option<ExportFormat>>) -> Detected {
    match r {
        Ok(Some(ExportFormat::Json)) => Detected::Json,
        Ok(Some(ExportFormat::Pdf)) => Detected::Pdf,
        Ok(Some(ExportFormat::Multipart(b))) => Detected::Multipart(b.as_str().to_owned()),
        Ok(None) => Detected::NotYet,
        Err(e) => Detected::Error(e.kind()),
    }
}

fn multipart(boundary: &str) -> Detected {
    Detected::Multipart(boundary.to_owned())
}

#[test]
fn detect_table() {
    let junk_line = b"not an export at all, just text\r\n".repeat(300);
    let rows: Vec<(&str, Vec<u8>, Detected)> = vec![
        ("json", b"{\"id\":\"x\"}".to_vec(), Detected::Json),
        ("json, one byte", b"{".to_vec(), Detected::Json),
        ("json after whitespace", b" \t\r\n {".to_vec(), Detected::Json),
        ("json after a BOM", b"\xef\xbb\xbf{\"id\"".to_vec(), Detected::Json),
        ("json after a BOM and whitespace", b"\xef\xbb\xbf\r\n  {".to_vec(), Detected::Json),
        ("pdf", b"%PDF-1.4\n".to_vec(), Detected::Pdf),
        ("pdf, header only", b"%PDF-".to_vec(), Detected::Pdf),
        ("pdf, header cut", b"%PDF".to_vec(), Detected::NotYet),
        ("pdf, header cut short", b"%".to_vec(), Detected::NotYet),
        (
            "multipart",
            b"--authenteq-export-sample-7Qm2Xc9LrT4vWb8N\r\nContent-Disposition: form-data; name=\"result\"\r\n".to_vec(),
            multipart("authenteq-export-sample-7Qm2Xc9LrT4vWb8N"),
        ),
        ("multipart, LF", b"--b\nContent-Type: text/plain\n".to_vec(), multipart("b")),
        ("multipart, line only", b"--abc'()+_,-./:=?\r\n".to_vec(), multipart("abc'()+_,-./:=?")),
        (
            "multipart after preamble lines",
            b"This is a multi-part message in MIME format.\r\n\r\nmore preamble\r\n--b\r\n\r\n".to_vec(),
            multipart("b"),
        ),
        ("multipart, delimiter line not ended", b"--abc".to_vec(), Detected::NotYet),
        (
            "multipart after preamble, delimiter line not ended",
            b"preamble\r\n--abc".to_vec(),
            Detected::NotYet,
        ),
        ("empty", b"".to_vec(), Detected::NotYet),
        ("whitespace only", b" \r\n\t".to_vec(), Detected::NotYet),
        ("a BOM only", b"\xef\xbb\xbf".to_vec(), Detected::NotYet),
        ("short junk", b"<html>".to_vec(), Detected::NotYet),
        (
            "8 KiB of junk",
            vec![b'x'; authenteq_export::export::DETECT_BYTES],
            Detected::Error(ErrorKind::UnknownFormat),
        ),
        (
            "8 KiB of junk lines",
            junk_line[..authenteq_export::export::DETECT_BYTES].to_vec(),
            Detected::Error(ErrorKind::UnknownFormat),
        ),
        (
            "8 KiB of junk lines and more",
            junk_line.clone(),
            Detected::Error(ErrorKind::UnknownFormat),
        ),
        (
            "a delimiter line with a bad boundary",
            b"--a\x01b\r\n".to_vec(),
            Detected::Error(ErrorKind::InvalidBoundary),
        ),
    ];
    for (label, head, want) in rows {
        assert_eq!(detected(ExportFormat::detect(&head)), want, "{label}");
    }
}

/// Whole bodies through the detecting decoder, under every chunking.
#[test]
fn detecting_decoder_table() {
    let face = file_object("image/jpeg", &b64(JPEG));
    let json_body = format!(
        "\r\n  {}",
        String::from_utf8(json_doc(&format!(r#""livenessFaceImage":{face}"#))).unwrap()
    );
    let mut preamble = b"preamble line\r\n".to_vec();
    preamble.extend(multipart_body(&[result_part(RESULT_JSON), face_part()]));
    let rows: Vec<(&str, Vec<u8>, Option<ErrorKind>, usize)> = vec![
        ("json after whitespace", json_body.into_bytes(), None, 1),
        ("multipart after a preamble", preamble, None, 1),
        ("pdf", PDF.to_vec(), None, 1),
        ("empty", b"".to_vec(), Some(ErrorKind::UnknownFormat), 0),
        (
            "whitespace",
            b"  \r\n".to_vec(),
            Some(ErrorKind::UnknownFormat),
            0,
        ),
        (
            "short junk",
            b"Bad gateway".to_vec(),
            Some(ErrorKind::UnknownFormat),
            0,
        ),
        // Cut inside a format's first line: truncated, not unknown.
        (
            "a cut pdf header",
            b"%PD".to_vec(),
            Some(ErrorKind::UnexpectedEnd),
            0,
        ),
        (
            "a cut delimiter line",
            b"--abc".to_vec(),
            Some(ErrorKind::UnexpectedEnd),
            0,
        ),
    ];
    for (label, body, kind, files) in rows {
        let outcome = every_way(&body, &Format::Detect, default_limits());
        assert_eq!(outcome.kind(), kind, "{label}: {outcome:?}");
        assert_eq!(outcome.files.len(), files, "{label}");
        if matches!(
            kind,
            Some(ErrorKind::UnknownFormat | ErrorKind::UnexpectedEnd)
        ) {
            assert_eq!(outcome.offset(), Some(body.len() as u64), "{label}");
        }
    }
    // 8 KiB of junk: an error as soon as 8 KiB are in, without waiting for the end.
    let junk = vec![b'x'; authenteq_export::export::DETECT_BYTES + 100];
    let outcomes = decode_all(
        sampled_chunkings(&junk, 30),
        &Format::Detect,
        default_limits(),
    );
    let outcome = same_by(&outcomes, &junk, Outcome::ending_kind);
    outcome.assert_failed(ErrorKind::UnknownFormat);
    let mut decoder = ExportDecoder::detecting(default_limits());
    decoder.feed(Bytes::from(junk));
    assert_eq!(
        decoder.next_event().unwrap_err().kind(),
        ErrorKind::UnknownFormat
    );
}

#[test]
fn detected_prefixes_are_accepted_by_the_decoders() {
    let mut with_bom = b"\xef\xbb\xbf".to_vec();
    with_bom.extend(json_doc(r#""platform":"WEB""#));
    let outcome = every_way(&with_bom, &Format::Detect, default_limits());
    outcome.assert_complete();
    let mut pdf_after_ws = b"\r\n".to_vec();
    pdf_after_ws.extend_from_slice(PDF);
    let outcome = every_way(&pdf_after_ws, &Format::Detect, default_limits());
    outcome.assert_complete();
}

#[test]
fn from_content_type_table() {
    let rows: Vec<(&str, Detected)> = vec![
        ("multipart/mixed; boundary=abc", multipart("abc")),
        (
            "multipart/mixed; boundary=\"authenteq-export-sample-7Qm2Xc9LrT4vWb8N\"",
            multipart("authenteq-export-sample-7Qm2Xc9LrT4vWb8N"),
        ),
        ("multipart/form-data; boundary=x1", multipart("x1")),
        ("Multipart/Mixed; Boundary=abc", multipart("abc")),
        ("  multipart/mixed; charset=utf-8; boundary=abc  ", multipart("abc")),
        ("application/json", Detected::Json),
        ("application/json; charset=utf-8", Detected::Json),
        ("application/json;charset=UTF-8", Detected::Json),
        ("APPLICATION/JSON", Detected::Json),
        ("application/problem+json", Detected::Json),
        ("application/vnd.authenteq.v1+json; charset=utf-8", Detected::Json),
        ("application/pdf", Detected::Pdf),
        ("application/pdf; name=\"result.pdf\"", Detected::Pdf),
        ("application/octet-stream", Detected::NotYet),
        ("text/plain; charset=utf-8", Detected::NotYet),
        ("text/html", Detected::NotYet),
        ("multipart/mixed", Detected::Error(ErrorKind::InvalidContentType)),
        (
            "multipart/mixed; boundary=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            Detected::Error(ErrorKind::InvalidBoundary),
        ),
        ("not a media type", Detected::Error(ErrorKind::InvalidContentType)),
        ("", Detected::Error(ErrorKind::InvalidContentType)),
    ];
    for (content_type, want) in rows {
        assert_eq!(
            detected(ExportFormat::from_content_type(content_type)),
            want,
            "{content_type:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 7. The async and blocking front-ends
// ---------------------------------------------------------------------------------------------

use authenteq_export::export::{blocking, Export, ExportItem};

/// The three corpus exports with their `Content-Type`.
fn corpus_bodies() -> Vec<(&'static str, Vec<u8>, String)> {
    let multipart_type =
        String::from_utf8(corpus("verification-result.multipart.content-type")).unwrap();
    vec![
        (
            "multipart",
            corpus("verification-result.multipart"),
            multipart_type.trim().to_owned(),
        ),
        (
            "json",
            corpus("verification-result.json"),
            "application/json".to_owned(),
        ),
        (
            "pdf",
            corpus("verification-result.pdf"),
            "application/pdf".to_owned(),
        ),
    ]
}

/// What a front-end yielded: the files read to their end, the results (id and JSON) and the
/// error that ended it, if any.
#[derive(Debug, PartialEq, Eq)]
struct Items {
    files: Vec<DecodedFile>,
    results: Vec<(String, Vec<u8>)>,
    error: Option<ErrorKind>,
}

fn decoded_file(info: &authenteq_export::export::FileInfo, bytes: Vec<u8>) -> DecodedFile {
    DecodedFile {
        kind: info.kind().clone(),
        content_type: info.content_type().map(str::to_owned),
        filename: info.filename().map(str::to_owned),
        bytes,
    }
}

/// The `authenteq_export::Error` inside an `io::Error` from a file's `Read`/`AsyncRead`.
fn inner_kind(e: &std::io::Error) -> ErrorKind {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<authenteq_export::Error>())
        .unwrap_or_else(|| panic!("no decoder error inside {e:?}"))
        .kind()
}

/// Reads an export with the async front-end from `chunks`; files are read alternately through
/// `AsyncRead` (7-byte reads) and `chunk()`.
fn read_async(chunks: Vec<Bytes>, content_type: Option<&str>) -> Items {
    use tokio::io::AsyncReadExt as _;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let stream = futures::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
        let mut export = Export::new(stream, content_type).unwrap();
        let mut items = Items {
            files: Vec::new(),
            results: Vec::new(),
            error: None,
        };
        let mut n = 0;
        loop {
            let item = match export.next_item().await {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(e) => {
                    items.error = Some(e.kind());
                    break;
                }
            };
            match item {
                ExportItem::Result { result, json } => {
                    items.results.push((result.id, json.to_vec()))
                }
                ExportItem::File(mut file) => {
                    n += 1;
                    let info = file.info().clone();
                    let mut bytes = Vec::new();
                    let read = if n % 2 == 0 {
                        let mut buf = [0u8; 7];
                        loop {
                            match file.read(&mut buf).await {
                                Ok(0) => break Ok(()),
                                Ok(k) => bytes.extend_from_slice(&buf[..k]),
                                Err(e) => break Err(inner_kind(&e)),
                            }
                        }
                    } else {
                        loop {
                            match file.chunk().await {
                                Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                                Ok(None) => break Ok(()),
                                Err(e) => break Err(e.kind()),
                            }
                        }
                    };
                    match read {
                        Ok(()) => items.files.push(decoded_file(&info, bytes)),
                        Err(kind) => {
                            // The error again from the next item: a cut body never looks complete.
                            let again = export.next_item().await.err().map(|e| e.kind());
                            assert_eq!(again, Some(kind), "the next item after a failed file read");
                            items.error = Some(kind);
                            break;
                        }
                    }
                }
            }
        }
        items
    })
}

/// A `Read` that hands out at most a few bytes per call, cycling through `sizes`.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    sizes: &'static [usize],
    calls: usize,
}

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self.sizes[self.calls % self.sizes.len()];
        self.calls += 1;
        let n = size.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads an export with the blocking front-end from a trickling reader; files are read
/// alternately through `Read` (5-byte reads) and `bytes()`.
fn read_blocking(body: Vec<u8>, content_type: Option<&str>) -> Items {
    use std::io::Read as _;
    let source = Trickle {
        data: body,
        pos: 0,
        sizes: &[1, 7, 300, 2, 64, 4096],
        calls: 0,
    };
    let mut export = blocking::Export::new(source, content_type)
        .unwrap()
        .chunk_size(1000);
    let mut items = Items {
        files: Vec::new(),
        results: Vec::new(),
        error: None,
    };
    let mut n = 0;
    loop {
        let item = match export.next_item() {
            Ok(Some(item)) => item,
            Ok(None) => break,
            Err(e) => {
                items.error = Some(e.kind());
                break;
            }
        };
        match item {
            ExportItem::Result { result, json } => items.results.push((result.id, json.to_vec())),
            ExportItem::File(mut file) => {
                n += 1;
                let info = file.info().clone();
                let read = if n % 2 == 0 {
                    let mut bytes = Vec::new();
                    let mut buf = [0u8; 5];
                    loop {
                        match file.read(&mut buf) {
                            Ok(0) => break Ok(bytes),
                            Ok(k) => bytes.extend_from_slice(&buf[..k]),
                            Err(e) => break Err(inner_kind(&e)),
                        }
                    }
                } else {
                    file.bytes().map(|b| b.to_vec()).map_err(|e| e.kind())
                };
                match read {
                    Ok(bytes) => items.files.push(decoded_file(&info, bytes)),
                    Err(kind) => {
                        let again = export.next_item().err().map(|e| e.kind());
                        assert_eq!(again, Some(kind), "the next item after a failed file read");
                        items.error = Some(kind);
                        break;
                    }
                }
            }
        }
    }
    items
}

/// The sans-I/O driver's outcome as front-end items.
fn items_of(outcome: &Outcome) -> Items {
    Items {
        files: outcome.files.clone(),
        results: outcome
            .results
            .iter()
            .map(|r| (r.id.clone(), r.json.clone()))
            .collect(),
        error: outcome.kind(),
    }
}

#[test]
fn front_ends_match_the_sans_io_driver() {
    for (label, body, content_type) in corpus_bodies() {
        let whole = Bytes::from(body.clone());
        let reference = items_of(&decode_chunks(
            std::slice::from_ref(&whole),
            ExportDecoder::for_content_type(Some(&content_type), default_limits()).unwrap(),
        ));
        assert_eq!(reference.error, None, "{label}");
        assert!(!reference.files.is_empty(), "{label}");
        for content_type in [Some(content_type.as_str()), None] {
            for size in [1, 13, 4096, body.len()] {
                let items = read_async(support::fixed_chunks(&whole, size), content_type);
                assert_eq!(items, reference, "async {label} {content_type:?} {size}");
            }
            let items = read_blocking(body.clone(), content_type);
            assert_eq!(items, reference, "blocking {label} {content_type:?}");
        }
    }
}

#[test]
fn front_ends_skip_unread_files() {
    for (label, body, content_type) in corpus_bodies() {
        let reference = items_of(&decode_chunks(
            &[Bytes::from(body.clone())],
            ExportDecoder::for_content_type(Some(&content_type), default_limits()).unwrap(),
        ));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (kinds, results) = runtime.block_on(async {
            let chunks = support::fixed_chunks(&Bytes::from(body.clone()), 100);
            let stream = futures::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
            let mut export = Export::new(stream, Some(&content_type)).unwrap();
            let (mut kinds, mut results) = (Vec::new(), Vec::new());
            while let Some(item) = export.next_item().await.unwrap() {
                match item {
                    ExportItem::Result { result, json } => results.push((result.id, json.to_vec())),
                    ExportItem::File(file) => kinds.push(file.kind().clone()),
                }
            }
            (kinds, results)
        });
        let want: Vec<_> = reference.files.iter().map(|f| f.kind.clone()).collect();
        assert_eq!(kinds, want, "{label}");
        assert_eq!(results, reference.results, "{label}");
    }
}

#[test]
fn front_ends_report_a_cut_body() {
    for (label, body, content_type) in corpus_bodies() {
        // Cut in the middle of a file.
        let cut = body[..body.len() / 2].to_vec();
        let reference = decode_chunks(
            &[Bytes::from(cut.clone())],
            ExportDecoder::for_content_type(Some(&content_type), default_limits()).unwrap(),
        );
        reference.assert_failed(ErrorKind::UnexpectedEnd);
        assert!(reference.unfinished.is_some(), "{label}: cut inside a file");
        let want = items_of(&reference);
        for content_type in [Some(content_type.as_str()), None] {
            for size in [1, 100, cut.len()] {
                let items = read_async(
                    support::fixed_chunks(&Bytes::from(cut.clone()), size),
                    content_type,
                );
                assert_eq!(items, want, "async {label} {content_type:?} {size}");
            }
            let items = read_blocking(cut.clone(), content_type);
            assert_eq!(items, want, "blocking {label} {content_type:?}");
        }
    }
}

#[test]
fn json_reader_stops_at_an_error() {
    let doc = format!(
        r#"{{"id":"x","livenessFaceImage":{{"contentType":"image/jpeg","content":"QUJD*{}"}},"addressProofDocument":{{"contentType":"application/pdf","content":"{}"}}}}"#,
        "QUJD".repeat(20),
        b64(PDF)
    );
    let mut export = blocking::Export::new(doc.as_bytes(), Some("application/json"))
        .unwrap()
        .chunk_size(16);
    let mut kinds = Vec::new();
    for _ in 0..4 {
        match export.next_item() {
            Ok(Some(ExportItem::File(file))) => kinds.push(Ok(file.kind().clone())),
            Ok(Some(ExportItem::Result { .. })) => kinds.push(Ok(FileKind::Other("result".into()))),
            Ok(None) => kinds.push(Ok(FileKind::Other("end".into()))),
            Err(e) => kinds.push(Err(e.kind())),
        }
    }
    assert_eq!(kinds, vec![Err(ErrorKind::InvalidBase64); 4]);
}

/// One base64 policy: bits set past the last byte (`2R==`, where a canonical writer puts `2Q==`)
/// are ignored alike by the typed model and by the streaming reader, whole or a byte at a time.
#[test]
fn base64_trailing_bits_read_the_same_by_the_model_and_the_streaming_reader() {
    for file in [
        r#"{"contentType":"image/jpeg","content":"/9j/2R=="}"#,
        r#""/9j/2R==""#,
    ] {
        let doc = format!(r#"{{"id":"b1","livenessFaceImage":{file}}}"#);
        let typed = VerificationResult::from_json(doc.as_bytes())
            .unwrap_or_else(|e| panic!("{doc}: {e}"))
            .liveness_face_image
            .expect("a face image")
            .content;
        assert_eq!(typed, [0xff, 0xd8, 0xff, 0xd9], "{doc}");
        for chunk_size in [1, 4096] {
            let mut export = blocking::Export::new(doc.as_bytes(), Some("application/json"))
                .unwrap()
                .chunk_size(chunk_size);
            let mut streamed = Vec::new();
            while let Some(item) = export.next_item().unwrap_or_else(|e| panic!("{doc}: {e}")) {
                if let ExportItem::File(file) = item {
                    assert_eq!(file.kind(), &FileKind::LivenessFaceImage);
                    streamed.push(file.bytes().unwrap().to_vec());
                }
            }
            assert_eq!(
                streamed,
                std::slice::from_ref(&typed),
                "{doc} in chunks of {chunk_size}"
            );
        }
    }
}

/// Reads an export whose stream fails after its first half, then would go on; returns what each
/// of four `next_item` calls after the failure gave.
fn after_a_source_error(body: &[u8], content_type: &str) -> Vec<Result<&'static str, ErrorKind>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let half = body.len() / 2;
        let chunks = vec![
            Ok(Bytes::copy_from_slice(&body[..half])),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset",
            )),
            Ok(Bytes::copy_from_slice(&body[half..])),
        ];
        let mut export = Export::new(futures::stream::iter(chunks), Some(content_type)).unwrap();
        // Skip to the source error.
        loop {
            match export.next_item().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the export ended before the source error"),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Read);
                    break;
                }
            }
        }
        let mut after = Vec::new();
        for _ in 0..4 {
            after.push(match export.next_item().await {
                Ok(Some(ExportItem::File(_))) => Ok("file"),
                Ok(Some(ExportItem::Result { .. })) => Ok("result"),
                Ok(None) => Ok("end"),
                Err(e) => Err(e.kind()),
            });
        }
        after
    })
}

#[test]
fn multipart_front_end_stops_at_a_source_error() {
    let (_, body, content_type) = corpus_bodies().remove(0);
    assert_eq!(
        after_a_source_error(&body, &content_type),
        vec![Err(ErrorKind::Read); 4]
    );
}

#[test]
fn json_and_pdf_front_ends_stop_at_a_source_error() {
    for (label, body, content_type) in corpus_bodies().into_iter().skip(1) {
        assert_eq!(
            after_a_source_error(&body, &content_type),
            vec![Err(ErrorKind::Read); 4],
            "{label}"
        );
    }
}

/// Findings of a review, pinned.
#[test]
fn review_findings() {
    use authenteq_export::export::{ExportDecoder, ExportLimits};
    use bytes::Bytes;

    fn ending(body: &[u8], declared: Option<&str>) -> Result<(), authenteq_export::Error> {
        let mut d = ExportDecoder::for_content_type(declared, ExportLimits::default()).unwrap();
        let body = Bytes::copy_from_slice(body);
        for chunk in support::fixed_chunks(&body, 4096) {
            d.feed(chunk);
            while let Some(event) = d.next_event()? {
                if event == ExportEvent::End {
                    return Ok(());
                }
            }
        }
        d.finish();
        while let Some(event) = d.next_event()? {
            if event == ExportEvent::End {
                return Ok(());
            }
        }
        unreachable!("finish() was called")
    }

    // Whitespace counts toward the bytes looked at to tell the format: detection gives up after
    // 8 KiB of it instead of keeping (and rescanning) all of it.
    let spaces = vec![b' '; 64 << 10];
    let err = ending(&spaces, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownFormat);
    assert!(err.offset().unwrap() <= 8192 + 4096, "{err}");

    // A JSON syntax error outside the files is placed in the body, not in the skeleton.
    let body = br#"{"id":"x","livenessFaceImage":{"contentType":"image/jpeg","content":"/9j/2Q=="},"platform":tru}"#;
    let err = ending(body, Some("application/json")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Json);
    assert_eq!(err.offset(), Some(body.len() as u64 - 1), "{err}");

    // A second content member in one embedded file is refused, not appended.
    let body = br#"{"id":"x","livenessFaceImage":{"contentType":"image/jpeg","content":"QUFB","content":"QkJC"}}"#;
    let err = ending(body, Some("application/json")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Json, "{err}");
}
