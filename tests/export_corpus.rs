//! The sample exports in `corpus/` through the export layer, under sampled chunkings, with the
//! format told and detected; cut at many points; and routed by their `Content-Type`.

mod support;

use authenteq_export::export::{ExportDecoder, ExportFormat, FileKind};
use authenteq_export::ErrorKind;
use bytes::Bytes;
use support::export::{
    corpus, corpus_files, corpus_multipart_format, decode_all, decode_chunks, default_limits,
    same_by, sampled_chunkings, DecodedFile, Format, Outcome,
};

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
        [DecodedFile::new(
            FileKind::Report,
            Some("application/pdf"),
            Some("result.pdf"),
            &body,
        )]
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
