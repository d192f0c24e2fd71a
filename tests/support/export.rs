//! The harness of the export-layer tests (`tests/export_*.rs`): a small driver feeds an
//! `ExportDecoder` the chunks of a chunking, only when it asks for input, and records a comparable
//! outcome: the files reported complete, the result events, the file being read when it stopped,
//! and how it ended. Every table row is decoded whole, in 1-byte chunks and split at every point
//! (the corpus bodies at about 200 evenly spaced points), and all chunkings must agree. Also the
//! builders of the bodies the tables are made of.

use std::fmt;

use authenteq_export::export::{
    ApiErrorCode, ExportDecoder, ExportEvent, ExportFormat, ExportLimits, FileKind,
    VerificationResult,
};
use authenteq_export::multipart::Boundary;
use authenteq_export::{ErrorKind, Limit, PartRef};
use bytes::Bytes;

/// A file the decoder reported complete (its `FileEnd` was seen), or the one it was reading when
/// the body ended.
#[derive(Clone, PartialEq, Eq)]
pub struct DecodedFile {
    pub kind: FileKind,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub bytes: Vec<u8>,
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
pub struct DecodedResult {
    pub id: String,
    pub typed: VerificationResult,
    pub json: Vec<u8>,
    pub files_before: usize,
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
pub enum Ending {
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
pub struct Outcome {
    pub files: Vec<DecodedFile>,
    pub results: Vec<DecodedResult>,
    pub unfinished: Option<DecodedFile>,
    pub ending: Ending,
    /// After an error, asking again gave an error of the same kind at the same offset.
    pub fused: bool,
}

impl Outcome {
    pub fn kind(&self) -> Option<ErrorKind> {
        match &self.ending {
            Ending::Complete => None,
            Ending::Failed { kind, .. } => Some(*kind),
        }
    }
    pub fn offset(&self) -> Option<u64> {
        match &self.ending {
            Ending::Complete => None,
            Ending::Failed { offset, .. } => *offset,
        }
    }
    pub fn part(&self) -> Option<&PartRef> {
        match &self.ending {
            Ending::Complete => None,
            Ending::Failed { part, .. } => part.as_ref(),
        }
    }
    pub fn limit(&self) -> Option<Limit> {
        match &self.ending {
            Ending::Complete => None,
            Ending::Failed { limit, .. } => *limit,
        }
    }
    pub fn result(&self) -> &DecodedResult {
        assert_eq!(self.results.len(), 1, "{self:?}");
        &self.results[0]
    }
    pub fn assert_complete(&self) -> &Self {
        assert_eq!(self.ending, Ending::Complete, "{self:?}");
        self
    }
    pub fn assert_failed(&self, kind: ErrorKind) -> &Self {
        assert_eq!(self.kind(), Some(kind), "{self:?}");
        self
    }
    /// The outcome as chunkings must agree on it: everything but `fused`, which
    /// `json_errors_are_fused` (in `export_json.rs`) checks on its own.
    pub fn strict(&self) -> Outcome {
        Outcome {
            fused: true,
            ..self.clone()
        }
    }
    /// Only how it ended: complete, or the kind of error (and limit).
    pub fn ending_kind(&self) -> (Option<ErrorKind>, Option<Limit>) {
        (self.kind(), self.limit())
    }
    /// As [`strict`](Self::strict), without where the error was noticed (offset and part).
    pub fn without_position(&self) -> Outcome {
        let mut o = self.strict();
        if let Ending::Failed { offset, part, .. } = &mut o.ending {
            *offset = None;
            *part = None;
        }
        o
    }
}

/// Decodes `chunks`, feeding the decoder only when it asks for input, then finishing it.
pub fn decode_chunks(chunks: &[Bytes], mut decoder: ExportDecoder) -> Outcome {
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
pub enum Format {
    Known(ExportFormat),
    Detect,
}

pub fn decoder(format: &Format, limits: ExportLimits) -> ExportDecoder {
    match format {
        Format::Known(f) => ExportDecoder::new(f.clone(), limits),
        Format::Detect => ExportDecoder::detecting(limits),
    }
}

pub fn json() -> Format {
    Format::Known(ExportFormat::Json)
}

pub fn pdf() -> Format {
    Format::Known(ExportFormat::Pdf)
}

/// Multipart with boundary `b`.
pub fn mp() -> Format {
    Format::Known(ExportFormat::Multipart(Boundary::new("b").unwrap()))
}

/// Whole, 1-byte chunks and about `splits` evenly spaced 2-way splits: for the corpus bodies,
/// where every split point would be quadratic in their size.
pub fn sampled_chunkings(body: &[u8], splits: usize) -> Vec<(String, Vec<Bytes>)> {
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
pub fn decode_all(
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
pub fn same_by<T: PartialEq + fmt::Debug>(
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
pub fn every_way_by<T: PartialEq + fmt::Debug>(
    body: &[u8],
    format: &Format,
    limits: ExportLimits,
    key: fn(&Outcome) -> T,
) -> Outcome {
    let outcomes = decode_all(super::chunkings(body), format, limits);
    same_by(&outcomes, body, key)
}

/// Decodes `body` under every chunking and asserts identical outcomes; returns the outcome.
pub fn every_way(body: &[u8], format: &Format, limits: ExportLimits) -> Outcome {
    every_way_by(body, format, limits, Outcome::strict)
}

pub fn default_limits() -> ExportLimits {
    ExportLimits::default()
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Where `needle` starts in `haystack` (the first time).
pub fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(needle)))
}

// ---------------------------------------------------------------------------------------------
// The sample exports in corpus/
// ---------------------------------------------------------------------------------------------

pub fn corpus(name: &str) -> Vec<u8> {
    let path = super::repo_root().join("corpus").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The sample's files as the multipart export carries them (`with_filename`) or the JSON
/// export does (no file names).
pub fn corpus_files(with_filename: bool) -> Vec<DecodedFile> {
    // The sample has the same eleven files, in API order, as generated exports.
    super::generate::FILE_PARTS
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

pub fn corpus_multipart_format() -> ExportFormat {
    let content_type =
        String::from_utf8(corpus("verification-result.multipart.content-type")).unwrap();
    ExportFormat::from_content_type(content_type.trim())
        .unwrap()
        .expect("a multipart content type")
}

// ---------------------------------------------------------------------------------------------
// Multipart bodies with boundary `b`
// ---------------------------------------------------------------------------------------------

pub const RESULT_JSON: &[u8] = br#"{"id":"v1","platform":"WEB"}"#;
pub const JPEG: &[u8] = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01 jpeg body \xff\xd9";
pub const PDF: &[u8] = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";

/// One part of a multipart body with boundary `b`.
pub fn part(
    name: &str,
    filename: Option<&str>,
    content_type: Option<&str>,
    payload: &[u8],
) -> Vec<u8> {
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

pub fn result_part(json: &[u8]) -> Vec<u8> {
    part(
        "result",
        Some("result.json"),
        Some("application/json"),
        json,
    )
}

pub fn face_part() -> Vec<u8> {
    part(
        "faceImage",
        Some("faceImage.jpeg"),
        Some("image/jpeg"),
        JPEG,
    )
}

pub fn pdf_part() -> Vec<u8> {
    part(
        "addressProofDocument",
        Some("addressProofDocument.pdf"),
        Some("application/pdf"),
        PDF,
    )
}

pub fn multipart_body(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut body = parts.concat();
    body.extend_from_slice(b"--b--\r\n");
    body
}

// ---------------------------------------------------------------------------------------------
// JSON exports
// ---------------------------------------------------------------------------------------------

/// `{"contentType": ..., "content": ...}` with `content` written as given (already escaped).
pub fn file_object(content_type: &str, content: &str) -> String {
    format!(r#"{{"contentType":"{content_type}","content":"{content}"}}"#)
}

/// A JSON export: `{"id":"j1", <members>}`.
pub fn json_doc(members: &str) -> Vec<u8> {
    format!(r#"{{"id":"j1",{members}}}"#).into_bytes()
}
