//! What the export layer makes of a body before it knows its format: API error bodies (whatever
//! was asked for), format detection from the first bytes and from a `Content-Type`, and where
//! errors found while telling the format are placed.

mod support;

use authenteq_export::export::{ApiErrorCode, ExportDecoder, ExportEvent, ExportFormat};
use authenteq_export::ErrorKind;
use bytes::Bytes;
use support::export::{
    b64, corpus, decode_all, decode_chunks, default_limits, every_way, face_part, file_object,
    json, json_doc, multipart_body, pdf, result_part, same_by, sampled_chunkings, Ending, Format,
    Outcome, JPEG, PDF, RESULT_JSON,
};

// ---------------------------------------------------------------------------------------------
// API error bodies
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
// Format detection
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
// Bodies read to their end in 4 KiB chunks
// ---------------------------------------------------------------------------------------------

/// Reads `body` (declared as `declared`) in 4 KiB chunks to its end or its first error.
fn ending(body: &[u8], declared: Option<&str>) -> Result<(), authenteq_export::Error> {
    use authenteq_export::export::ExportLimits;
    let mut d = ExportDecoder::for_content_type(declared, ExportLimits::default()).unwrap();
    let body = bytes::Bytes::copy_from_slice(body);
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

/// Whitespace counts toward the bytes looked at to tell the format: detection gives up after
/// 8 KiB of it instead of keeping (and rescanning) all of it.
#[test]
fn detection_gives_up_after_8_kib_of_whitespace() {
    let spaces = vec![b' '; 64 << 10];
    let err = ending(&spaces, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownFormat);
    assert!(err.offset().unwrap() <= 8192 + 4096, "{err}");
}

/// A JSON syntax error outside the files is placed in the body, not in the skeleton.
#[test]
fn a_json_syntax_error_outside_the_files_is_placed_in_the_body() {
    let body = br#"{"id":"x","livenessFaceImage":{"contentType":"image/jpeg","content":"/9j/2Q=="},"platform":tru}"#;
    let err = ending(body, Some("application/json")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Json);
    assert_eq!(err.offset(), Some(body.len() as u64 - 1), "{err}");
}

/// A second content member in one embedded file is refused, not appended.
#[test]
fn a_second_content_member_in_one_file_is_refused() {
    let body = br#"{"id":"x","livenessFaceImage":{"contentType":"image/jpeg","content":"QUFB","content":"QkJC"}}"#;
    let err = ending(body, Some("application/json")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Json, "{err}");
}
