//! `max_body_bytes` and `max_file_bytes` (the multipart `max_body_bytes` and `max_part_bytes`)
//! hold for the three export formats, under every chunking.
//!
//! Every row is decoded whole, in 1-byte chunks and split at every point, and all chunkings must
//! agree on everything: the files, the result, the bytes of the file being read, the error and
//! its offset. Rows stand at the limit (complete) and one byte over it (the limit error).

mod support;

use std::io::Read;

use authenteq_export::export::{blocking, ExportDecoder, ExportFormat, ExportItem, ExportLimits};
use authenteq_export::multipart::Limits;
use authenteq_export::{ErrorKind, Limit};
use bytes::Bytes;
use support::export::{
    b64, decode_all, decode_chunks, every_way_by, few_chunkings, find, json, mp, part, pdf,
    same_by, Format, Outcome, PDF, RESULT_JSON,
};

/// Decodes `body` under every chunking and asserts that all agree on everything, the error
/// being fused included; returns the outcome.
fn every_way(body: &[u8], format: &Format, limits: ExportLimits) -> Outcome {
    every_way_by(body, format, limits, Outcome::clone)
}

/// As [`every_way`], under [`few_chunkings`]: for sweeps over every limit.
fn few_ways(body: &[u8], format: &Format, limits: ExportLimits) -> Outcome {
    same_by(
        &decode_all(few_chunkings(body), format, limits),
        body,
        Outcome::clone,
    )
}

fn body_limit(n: u64) -> ExportLimits {
    ExportLimits::default().multipart(Limits::default().max_body_bytes(n))
}

fn file_limit(n: u64) -> ExportLimits {
    ExportLimits::default().multipart(Limits::default().max_part_bytes(n))
}

// ---------------------------------------------------------------------------------------------
// The bodies
// ---------------------------------------------------------------------------------------------

/// Bytes of a JPEG-looking file of `n` bytes (every byte value, `/` and `+` in its base64).
fn jpeg(n: usize) -> Vec<u8> {
    let mut out = b"\xff\xd8\xff\xe0".to_vec();
    out.extend(
        (0..)
            .map(|i: u32| (i * 7 % 256) as u8)
            .take(n.saturating_sub(4)),
    );
    out.truncate(n);
    out
}

/// A multipart export: the result part, then a face image and a PDF.
fn multipart_export(face: &[u8]) -> Vec<u8> {
    let typed = |name, content_type, payload| part(name, None, Some(content_type), payload);
    let mut body = typed("result", "application/json", RESULT_JSON);
    body.extend(typed("faceImage", "image/jpeg", face));
    body.extend(typed("addressProofDocument", "application/pdf", PDF));
    body.extend_from_slice(b"--b--\r\n");
    body
}

/// A JSON export with `liveness` as a file object and `address` as a bare base64 string;
/// `content` is the base64 as written in the document.
fn json_export(liveness: &str, address: &str) -> Vec<u8> {
    format!(
        r#"{{"id":"j1","livenessFaceImage":{{"contentType":"image/jpeg","content":"{liveness}"}},"addressProofDocument":"{address}","platform":"WEB"}}"#
    )
    .into_bytes()
}

/// Inserts the JSON escape `\n` after every `every` characters of `s`.
fn wrapped(s: &str, every: usize) -> String {
    s.as_bytes()
        .chunks(every)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\\n")
}

/// Body offset of the `k`-th base64 character of the content string that starts at `start`
/// (the character after its opening quote), skipping `\n` escapes; a character written as the
/// escape `\/` is at its last byte.
fn base64_char_offset(body: &[u8], start: usize, k: usize) -> u64 {
    let mut seen = 0;
    let mut i = start;
    loop {
        if body[i] == b'\\' {
            i += 1;
            if body[i] != b'/' {
                i += 1;
                continue;
            }
        }
        if seen == k {
            return i as u64;
        }
        seen += 1;
        i += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// max_body_bytes
// ---------------------------------------------------------------------------------------------

/// The bytes of `body` an export reads: a multipart body ends with its close delimiter (the
/// line break after it is epilogue, not read); the others with their last byte (only the end of
/// input tells that no more follows).
fn needed(body: &[u8], format: &Format) -> u64 {
    let multipart = body.ends_with(b"--b--\r\n");
    match format {
        Format::Known(ExportFormat::Multipart(_)) | Format::Detect if multipart => {
            body.len() as u64 - 2
        }
        _ => body.len() as u64,
    }
}

/// (label, body, format) rows: every format, told and detected, with leading bytes that count.
fn body_rows() -> Vec<(&'static str, Vec<u8>, Format)> {
    let mp_body = multipart_export(&jpeg(40));
    let json_body = json_export(&b64(&jpeg(40)), &b64(PDF));
    let mut bom_json = b"\xef\xbb\xbf \r\n".to_vec();
    bom_json.extend_from_slice(&json_body);
    let mut spaced_pdf = b"\n\n ".to_vec();
    spaced_pdf.extend_from_slice(PDF);
    let mut preamble_mp = b"preamble\r\n".to_vec();
    preamble_mp.extend_from_slice(&mp_body);
    vec![
        ("multipart", mp_body.clone(), mp()),
        ("multipart detected", mp_body, Format::Detect),
        ("multipart with a preamble", preamble_mp, mp()),
        ("json", json_body.clone(), json()),
        ("json detected", json_body, Format::Detect),
        ("json after a bom and whitespace", bom_json.clone(), json()),
        ("json after a bom, detected", bom_json, Format::Detect),
        ("pdf", PDF.to_vec(), pdf()),
        ("pdf detected", PDF.to_vec(), Format::Detect),
        ("pdf after whitespace", spaced_pdf.clone(), pdf()),
        ("pdf after whitespace, detected", spaced_pdf, Format::Detect),
    ]
}

#[test]
fn body_limit_at_the_limit_passes() {
    for (label, body, format) in body_rows() {
        let unlimited = every_way(&body, &format, ExportLimits::default());
        unlimited.assert_complete();
        for max in [needed(&body, &format), body.len() as u64] {
            let outcome = every_way(&body, &format, body_limit(max));
            assert_eq!(outcome, unlimited, "{label} under {max}");
        }
    }
}

#[test]
fn body_limit_one_byte_over_fails_at_the_limit() {
    for (label, body, format) in body_rows() {
        let max = needed(&body, &format) - 1;
        let outcome = every_way(&body, &format, body_limit(max));
        outcome.assert_over(Limit::BodyBytes, max, max);
        let complete = every_way(&body, &format, ExportLimits::default());
        // What came before the limit came as without it; the export is not complete.
        assert_eq!(
            outcome.files[..],
            complete.files[..outcome.files.len()],
            "{label}"
        );
        if label.starts_with("json") {
            // The JSON export's result comes at the end of the document, never reached.
            assert_eq!(outcome.results.len(), 0, "{label}");
        }
    }
}

/// Every limit from 0 to the body's length: the error is at the limit, the files complete
/// before it are those whose end lies within it, and the file being read is a prefix.
#[test]
fn body_limit_at_every_offset() {
    for (label, body, format) in body_rows() {
        let complete = every_way(&body, &format, ExportLimits::default());
        for max in 0..needed(&body, &format) {
            let outcome = few_ways(&body, &format, body_limit(max));
            outcome.assert_over(Limit::BodyBytes, max, max);
            assert_eq!(
                outcome.files[..],
                complete.files[..outcome.files.len()],
                "{label} under {max}"
            );
            if let Some(unfinished) = &outcome.unfinished {
                let whole = &complete.files[outcome.files.len()];
                assert!(
                    whole.bytes.starts_with(&unfinished.bytes),
                    "{label} under {max}"
                );
            }
        }
    }
}

#[test]
fn body_limit_never_looks_past_the_limit() {
    // What comes after the limit would be another error (a second document, bytes after the
    // close delimiter's line, a PDF without its trailer): the limit error comes instead, since
    // those bytes are never read.
    let json_body = json_export(&b64(&jpeg(20)), &b64(PDF));
    let rows: Vec<(Vec<u8>, usize, Format)> = vec![
        ([&json_body[..], b" {}"].concat(), json_body.len(), json()),
        (
            [&json_body[..json_body.len() - 1], b"]"].concat(),
            json_body.len() - 1,
            json(),
        ),
        (b"%PDF-1.4\nno trailer".to_vec(), 9, pdf()),
        (b"   \n\n  <html>".to_vec(), 7, Format::Detect),
        (b"   \n\n  <html>".to_vec(), 7, json()),
    ];
    for (body, max, format) in rows {
        let max = max as u64;
        every_way(&body, &format, body_limit(max)).assert_over(Limit::BodyBytes, max, max);
    }
}

#[test]
fn multipart_epilogue_is_not_read() {
    // The export ends at the close delimiter, wherever the limit stands after it.
    let mut body = multipart_export(&jpeg(10));
    let end = body.len() as u64 - 2;
    body.extend_from_slice(b"an epilogue of any length");
    for max in end..=body.len() as u64 + 1 {
        every_way(&body, &mp(), body_limit(max)).assert_complete();
    }
}

#[test]
fn body_limit_names_the_part_or_file_being_read() {
    let body = multipart_export(&jpeg(40));
    let max = find(&body, b"\xff\xd8") as u64 + 10;
    let outcome = every_way(&body, &mp(), body_limit(max));
    assert_eq!(outcome.part_number(), Some(2), "{outcome:?}");
    assert_eq!(outcome.unfinished.as_ref().map(|f| f.bytes.len()), Some(10));

    let body = json_export(&b64(&jpeg(60)), &b64(PDF));
    let start = find(&body, b"/9j/");
    let max = start as u64 + 40;
    let outcome = every_way(&body, &json(), body_limit(max));
    assert_eq!(outcome.part_number(), Some(1), "{outcome:?}");
    // 40 characters are 10 quads: 30 bytes, handed out.
    assert_eq!(outcome.unfinished.as_ref().map(|f| f.bytes.len()), Some(30));
}

// ---------------------------------------------------------------------------------------------
// max_part_bytes: bytes of one file
// ---------------------------------------------------------------------------------------------

#[test]
fn multipart_file_limit() {
    let face = jpeg(120);
    let body = multipart_export(&face);
    let at_face = find(&body, &face[..8]);
    // The result part (28 bytes) and the PDF (48 bytes) are smaller than the face.
    let outcome = every_way(&body, &mp(), file_limit(face.len() as u64));
    outcome.assert_complete();
    assert_eq!(outcome.files[0].bytes, face);

    let max = face.len() as u64 - 1;
    let outcome = every_way(&body, &mp(), file_limit(max));
    outcome.assert_over(Limit::PartBytes, max, at_face as u64 + max);
    assert!(outcome.files.is_empty(), "no FileEnd: {outcome:?}");
    assert_eq!(
        outcome.unfinished.as_ref().unwrap().bytes,
        face[..max as usize]
    );
    assert_eq!(outcome.part_number(), Some(2));
}

#[test]
fn multipart_file_limit_bounds_the_result_part_too() {
    let body = multipart_export(&jpeg(10));
    let max = RESULT_JSON.len() as u64 - 1;
    let outcome = every_way(&body, &mp(), file_limit(max));
    let at = find(&body, RESULT_JSON) as u64 + max;
    outcome.assert_over(Limit::PartBytes, max, at);
    assert_eq!(outcome.part_number(), Some(1));
    assert_eq!(outcome.results.len(), 0);
}

/// JSON file rows: (label, file bytes, base64 as written).
fn json_file_rows() -> Vec<(&'static str, Vec<u8>, String)> {
    let mut rows = Vec::new();
    for (label, n) in [("3n bytes", 48), ("3n+1 bytes", 49), ("3n+2 bytes", 50)] {
        let bytes = jpeg(n);
        rows.push((label, bytes.clone(), b64(&bytes)));
    }
    for (label, n) in [("3n+1 bytes, unpadded", 49), ("3n+2 bytes, unpadded", 50)] {
        let bytes = jpeg(n);
        rows.push((
            label,
            bytes.clone(),
            b64(&bytes).trim_end_matches('=').into(),
        ));
    }
    let bytes = jpeg(70);
    rows.push((
        "wrapped every 10 characters",
        bytes.clone(),
        wrapped(&b64(&bytes), 10),
    ));
    rows.push((
        "wrapped every 3 characters",
        bytes.clone(),
        wrapped(&b64(&bytes), 3),
    ));
    rows.push((
        "slashes escaped",
        bytes.clone(),
        b64(&bytes).replace('/', "\\/"),
    ));
    rows
}

#[test]
fn json_file_limit_at_the_limit_passes() {
    for (label, bytes, content) in json_file_rows() {
        let body = json_export(&content, &b64(PDF));
        let outcome = every_way(&body, &json(), file_limit(bytes.len() as u64));
        outcome.assert_complete();
        assert_eq!(outcome.files[0].bytes, bytes, "{label}");
        assert_eq!(outcome.results.len(), 1, "{label}");
    }
}

#[test]
fn json_file_limit_one_byte_over() {
    for (label, bytes, content) in json_file_rows() {
        let body = json_export(&content, &b64(PDF));
        let max = bytes.len() as u64 - 1;
        let outcome = every_way(&body, &json(), file_limit(max));
        // The first character of the quad that decodes to byte `max`.
        let start = find(&body, b"\"content\":\"") + 11;
        let at = base64_char_offset(&body, start, (max as usize) / 3 * 4);
        outcome.assert_over(Limit::PartBytes, max, at);
        assert!(outcome.files.is_empty(), "{label}: no FileEnd: {outcome:?}");
        let unfinished = outcome.unfinished.as_ref().expect("the file was announced");
        assert_eq!(unfinished.bytes, bytes[..max as usize], "{label}");
        assert_eq!(outcome.part_number(), Some(1), "{label}");
        assert_eq!(outcome.results.len(), 0, "{label}");
    }
}

/// Every limit below a file's size fails at the same offset under every chunking, with the bytes
/// up to the limit handed out once the file is announced (after 16 bytes).
#[test]
fn json_file_limit_at_every_size() {
    for (label, bytes, content) in json_file_rows() {
        let body = json_export(&content, "");
        let start = find(&body, b"\"content\":\"") + 11;
        for max in 0..bytes.len() as u64 {
            let outcome = few_ways(&body, &json(), file_limit(max));
            let at = base64_char_offset(&body, start, (max as usize) / 3 * 4);
            outcome.assert_over(Limit::PartBytes, max, at);
            match &outcome.unfinished {
                Some(file) => assert_eq!(file.bytes, bytes[..max as usize], "{label} {max}"),
                None => assert!(max < 16, "{label} {max}: {outcome:?}"),
            }
        }
    }
}

#[test]
fn json_file_limit_holds_for_each_file() {
    // The first file is at the limit, the second one byte over it.
    let liveness = jpeg(30);
    let address = jpeg(31);
    let body = json_export(&b64(&liveness), &b64(&address));
    let outcome = every_way(&body, &json(), file_limit(30));
    let start = find(&body, b"\"addressProofDocument\":\"") + 24;
    outcome.assert_over(Limit::PartBytes, 30, base64_char_offset(&body, start, 40));
    assert_eq!(outcome.files.len(), 1);
    assert_eq!(outcome.files[0].bytes, liveness);
    assert_eq!(outcome.unfinished.as_ref().unwrap().bytes, address[..30]);
    assert_eq!(outcome.part_number(), Some(2));

    every_way(&body, &json(), file_limit(31)).assert_complete();
}

#[test]
fn json_file_limit_counts_decoded_bytes_not_characters() {
    // 48 bytes are 64 base64 characters: a limit of 48 lets them through.
    let bytes = jpeg(48);
    let body = json_export(&b64(&bytes), "");
    every_way(&body, &json(), file_limit(48)).assert_complete();
    every_way(&body, &json(), file_limit(47)).assert_over(
        Limit::PartBytes,
        47,
        find(&body, b"\"content\":\"") as u64 + 11 + 60,
    );
}

#[test]
fn pdf_file_limit() {
    let mut spaced = b" \r\n".to_vec();
    spaced.extend_from_slice(PDF);
    for (body, skipped) in [(PDF.to_vec(), 0), (spaced, 3)] {
        for format in [pdf(), Format::Detect] {
            let outcome = every_way(&body, &format, file_limit(PDF.len() as u64));
            outcome.assert_complete();
            assert_eq!(outcome.files[0].bytes, PDF);

            for max in [PDF.len() as u64 - 1, 20, 5, 1, 0] {
                let outcome = every_way(&body, &format, file_limit(max));
                // The leading whitespace is not part of the document.
                outcome.assert_over(Limit::PartBytes, max, skipped + max);
                assert!(outcome.files.is_empty(), "no FileEnd: {outcome:?}");
                let unfinished = outcome.unfinished.as_ref().unwrap();
                assert_eq!(unfinished.bytes, PDF[..max as usize]);
            }
        }
    }
}

#[test]
fn pdf_file_limit_comes_before_a_missing_trailer() {
    let body = b"%PDF-1.4\nno trailer at all";
    every_way(body, &pdf(), file_limit(10)).assert_over(Limit::PartBytes, 10, 10);
}

// ---------------------------------------------------------------------------------------------
// Both limits, and the settings
// ---------------------------------------------------------------------------------------------

#[test]
fn the_first_limit_in_the_body_wins() {
    let doc = PDF.len() as u64;
    // The file limit is reached first.
    every_way(PDF, &pdf(), file_limit(20).max_body_bytes(30)).assert_over(Limit::PartBytes, 20, 20);
    // The body limit is reached first.
    every_way(PDF, &pdf(), file_limit(30).max_body_bytes(20)).assert_over(Limit::BodyBytes, 20, 20);
    // Both at the document's length: complete.
    every_way(PDF, &pdf(), file_limit(doc).max_body_bytes(doc)).assert_complete();
}

#[test]
fn export_names_set_the_multipart_limits() {
    let by_export_names = ExportLimits::default()
        .max_body_bytes(100)
        .max_file_bytes(50);
    let by_multipart =
        ExportLimits::default().multipart(Limits::default().max_body_bytes(100).max_part_bytes(50));
    assert_eq!(by_export_names, by_multipart);
    assert_eq!(by_export_names.get_max_body_bytes(), 100);
    assert_eq!(by_export_names.get_max_file_bytes(), 50);
    assert_eq!(by_export_names.get_multipart().get_max_part_bytes(), 50);
    let defaults = ExportLimits::default();
    assert_eq!(defaults.get_max_body_bytes(), u64::MAX);
    assert_eq!(defaults.get_max_file_bytes(), u64::MAX);
}

#[test]
fn limit_errors_read_as_the_multipart_ones() {
    let err = |body: &[u8], format: ExportFormat, limits: ExportLimits| {
        let mut decoder = ExportDecoder::new(format, limits);
        decoder.feed(Bytes::copy_from_slice(body));
        decoder.finish();
        loop {
            match decoder.next_event() {
                Ok(_) => {}
                Err(e) => break e.to_string(),
            }
        }
    };
    assert_eq!(
        err(PDF, ExportFormat::Pdf, body_limit(10)),
        "limit max_body_bytes (10) exceeded at byte 10"
    );
    assert_eq!(
        err(PDF, ExportFormat::Pdf, file_limit(10)),
        "limit max_part_bytes (10) exceeded at byte 10"
    );
    let body = json_export(&b64(&jpeg(30)), "");
    let at = find(&body, b"\"content\":\"") + 11 + 12;
    assert_eq!(
        err(&body, ExportFormat::Json, file_limit(10)),
        format!("limit max_part_bytes (10) exceeded in part 1 \"livenessFaceImage\" at byte {at}")
    );
}

// ---------------------------------------------------------------------------------------------
// Exports megabytes long stop at a 1 MiB body limit, read as users read them
// ---------------------------------------------------------------------------------------------

/// Reads `body` with the blocking front-end in 64 KiB reads, as a user does; returns the error.
fn read_export(body: Vec<u8>, content_type: &str, limits: ExportLimits) -> authenteq_export::Error {
    let mut export =
        blocking::Export::with_limits(std::io::Cursor::new(body), Some(content_type), limits)
            .unwrap();
    loop {
        match export.next_item() {
            Ok(Some(ExportItem::File(mut file))) => {
                let mut sink = Vec::new();
                if let Err(e) = file.read_to_end(&mut sink) {
                    return authenteq_export::Error::from_io(&e)
                        .cloned()
                        .unwrap_or_else(|| panic!("not the crate's error: {e}"));
                }
            }
            Ok(Some(ExportItem::Result { .. })) => {}
            Ok(None) => panic!("the export passed"),
            Err(e) => return e,
        }
    }
}

#[test]
fn large_json_and_pdf_exports_fail_under_a_1_mib_body_limit() {
    let max = 1 << 20;
    let limits = ExportLimits::default().multipart(Limits::default().max_body_bytes(max));

    // About 3 MiB of base64 in a JSON export.
    let json_body = json_export(&b64(&jpeg(9 << 18)), &b64(PDF));
    assert!(json_body.len() as u64 > 3 * max);
    let err = read_export(json_body.clone(), "application/json", limits);
    assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
    assert_eq!(err.limit(), Some((Limit::BodyBytes, max)));
    assert_eq!(err.offset(), Some(max));

    // A 5 MB PDF.
    let mut pdf_body = b"%PDF-1.7\n".to_vec();
    pdf_body.resize(5_000_000, b'x');
    pdf_body.extend_from_slice(b"\ntrailer <<>>\n%%EOF\n");
    let err = read_export(pdf_body.clone(), "application/pdf", limits);
    assert_eq!(err.limit(), Some((Limit::BodyBytes, max)), "{err}");
    assert_eq!(err.offset(), Some(max));

    // Both pass when the limit is their size, and the sans-I/O decoder agrees.
    for (body, format) in [
        (json_body, ExportFormat::Json),
        (pdf_body, ExportFormat::Pdf),
    ] {
        let whole = Bytes::from(body);
        let in_chunks = support::fixed_chunks(&whole, 65_536);
        let fits = ExportLimits::default().max_body_bytes(whole.len() as u64);
        decode_chunks(&in_chunks, ExportDecoder::new(format.clone(), fits)).assert_complete();
        let over = ExportLimits::default().max_body_bytes(whole.len() as u64 - 1);
        let at = whole.len() as u64 - 1;
        decode_chunks(&in_chunks, ExportDecoder::new(format, over)).assert_over(
            Limit::BodyBytes,
            at,
            at,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Error statuses
// ---------------------------------------------------------------------------------------------

#[test]
fn an_error_status_shows_the_first_bytes_once() {
    // The bytes held while the format was told were counted again when handed on.
    let body = b"Internal Server Error";
    let mut decoder =
        ExportDecoder::for_response(500, Some("text/plain"), ExportLimits::default()).unwrap();
    decoder.feed(Bytes::from_static(body));
    decoder.finish();
    let err = loop {
        if let Err(e) = decoder.next_event() {
            break e;
        }
    };
    let shown = format!("{:?}", format!("{}...", String::from_utf8_lossy(body)));
    assert!(
        err.to_string()
            .ends_with(&format!("(first bytes: {shown})")),
        "{err}"
    );
}
