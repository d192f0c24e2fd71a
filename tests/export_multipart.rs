//! Multipart exports through the export layer, every table row under every chunking: where the
//! result part may come, unknown parts, document slots, invalid exports, limits and truncation.

mod support;

use authenteq_export::export::{DocumentSlot, ExportLimits, FileKind};
use authenteq_export::{ErrorKind, Limit};
use support::export::{
    decode_all, default_limits, every_way, every_way_by, face_part, find, mp, multipart_body, part,
    pdf_part, result_part, same_by, sampled_chunkings, DecodedFile, Format, Outcome, JPEG, PDF,
    RESULT_JSON,
};

fn face_file() -> DecodedFile {
    DecodedFile::new(
        FileKind::FaceImage(DocumentSlot::First),
        Some("image/jpeg"),
        Some("faceImage.jpeg"),
        JPEG,
    )
}

fn pdf_file() -> DecodedFile {
    DecodedFile::new(
        FileKind::AddressProofDocument,
        Some("application/pdf"),
        Some("addressProofDocument.pdf"),
        PDF,
    )
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
            DecodedFile::new(
                FileKind::Other("selfieVideo".into()),
                Some("video/mp4"),
                Some("selfie.mp4"),
                video,
            ),
            DecodedFile::new(FileKind::Other("faceImage4".into()), None, None, b"four"),
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
    assert_eq!(
        outcome.kinds(),
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
