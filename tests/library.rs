//! The library as users meet it: errors that compose with `?`, io and HTTP frameworks; the HTTP
//! answer's context in export errors; one policy for declared and detected formats; a boundary
//! that is not in the body; transfer encodings; limits' getters; the blocking reader that sniffs
//! its boundary.
//!
//! Every decoding row runs under every chunking: whole, 1-byte chunks, and split at every point.

use std::error::Error as _;
use std::io::Read;

use authenteq_export::export::{
    blocking, ExportDecoder, ExportEvent, ExportFormat, ExportLimits, DETECT_BYTES,
};
use authenteq_export::multipart::{self, Boundary, Limits};
use authenteq_export::{Error, ErrorKind, Limit};
use bytes::Bytes;

/// What decoding a body gave: the formats seen, files, whether it ended, and the error.
#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    format: Option<String>,
    files: usize,
    results: usize,
    complete: bool,
    error: Option<(ErrorKind, String)>,
}

fn decode(body: &[u8], make: &dyn Fn() -> ExportDecoder, chunks: &[usize]) -> Outcome {
    let mut decoder = make();
    let mut outcome = Outcome {
        format: None,
        files: 0,
        results: 0,
        complete: false,
        error: None,
    };
    let mut cuts = chunks.to_vec();
    cuts.push(body.len());
    let mut start = 0;
    let mut fed_all = false;
    loop {
        match decoder.next_event() {
            Ok(Some(ExportEvent::FileStart(_))) => outcome.files += 1,
            Ok(Some(ExportEvent::Result { .. })) => outcome.results += 1,
            Ok(Some(ExportEvent::End)) => {
                outcome.complete = true;
                break;
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                if fed_all {
                    panic!("the decoder asked for input after finish()");
                }
                match cuts.iter().find(|&&c| c > start) {
                    Some(&end) => {
                        decoder.feed(Bytes::copy_from_slice(&body[start..end]));
                        start = end;
                    }
                    None => {
                        decoder.finish();
                        fed_all = true;
                    }
                }
            }
            Err(err) => {
                outcome.error = Some((err.kind(), err.to_string()));
                break;
            }
        }
    }
    outcome.format = decoder.format().map(|f| f.name().to_owned());
    outcome
}

/// Decodes `body` whole, in 1-byte chunks and cut at every point, and checks that every way
/// gives the same outcome, which it returns.
fn every_way(body: &[u8], make: &dyn Fn() -> ExportDecoder) -> Outcome {
    let whole = decode(body, make, &[]);
    let bytewise: Vec<usize> = (1..body.len()).collect();
    assert_eq!(decode(body, make, &bytewise), whole, "1-byte chunks");
    for cut in 1..body.len() {
        assert_eq!(decode(body, make, &[cut]), whole, "cut at {cut}");
    }
    whole
}

const RESULT: &[u8] = br#"{"id":"v1","platform":"WEB"}"#;
const NOT_FOUND: &[u8] =
    br#"{"errorCode":"VERIFICATION_NOT_FOUND","errorMessage":"Verification not found."}"#;

fn multipart_body(boundary: &str) -> Vec<u8> {
    format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"result\"; filename=\"result.json\"\r\n\
         Content-Type: application/json\r\n\r\n{}\r\n--{boundary}\r\n\
         Content-Disposition: form-data; name=\"faceImage\"; filename=\"faceImage.jpeg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n\u{0}\u{1}jpeg\r\n--{boundary}--\r\n",
        std::str::from_utf8(RESULT).unwrap()
    )
    .into_bytes()
}

fn pdf_body() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n".to_vec()
}

#[test]
fn display_says_what_failed_and_source_carries_the_cause() {
    struct Reset;
    impl Read for Reset {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset by peer",
            ))
        }
    }
    let err = multipart::blocking::Multipart::new(Reset, Boundary::new("b").unwrap())
        .next_part()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Read);
    assert_eq!(err.to_string(), "error reading the body at byte 0");
    assert_eq!(
        err.source().map(ToString::to_string).as_deref(),
        Some("connection reset by peer")
    );

    // An API error prints its code once, and has no cause behind it.
    let mut export = blocking::Export::new(NOT_FOUND, None).unwrap();
    let err = export.next_item().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api);
    assert_eq!(
        err.to_string(),
        "API error VERIFICATION_NOT_FOUND: Verification not found"
    );
    assert!(err.source().is_none());
    assert_eq!(err.to_string().matches("VERIFICATION_NOT_FOUND").count(), 1);
}

#[test]
fn errors_come_back_out_of_io_errors_and_io_errors_come_in() {
    // A file cut short, copied with std::io::copy: the io::Error carries our error.
    let body = b"--b\r\nContent-Disposition: form-data; name=\"faceImage\"\r\n\r\n\xff\xd8";
    let mut reader = multipart::blocking::Multipart::new(&body[..], Boundary::new("b").unwrap());
    let mut part = reader.next_part().unwrap().unwrap();
    let io_err = std::io::copy(&mut part, &mut std::io::sink()).unwrap_err();
    assert_eq!(io_err.kind(), std::io::ErrorKind::UnexpectedEof);
    let ours = Error::from_io(&io_err)
        .expect("our error inside the io::Error")
        .clone();
    assert_eq!(ours.kind(), ErrorKind::UnexpectedEnd);
    let part_name = ours.part().and_then(|p| p.name.clone());
    assert_eq!(part_name.as_deref(), Some("faceImage"));
    // `?` in a function returning our Result gives it back as it was.
    let back: Error = io_err.into();
    assert_eq!(back.kind(), ErrorKind::UnexpectedEnd);
    assert_eq!(back.offset(), ours.offset());

    // Any other io::Error becomes an Io error with the io::Error as its source.
    let disk = std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left on device");
    assert!(Error::from_io(&disk).is_none());
    let err: Error = disk.into();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert_eq!(err.to_string(), "i/o error");
    assert_eq!(
        err.source().map(ToString::to_string).as_deref(),
        Some("no space left on device")
    );
}

#[test]
fn error_kinds_map_to_http_statuses() {
    let rows = [
        (ErrorKind::UnexpectedEnd, 400),
        (ErrorKind::InvalidHeader, 400),
        (ErrorKind::InvalidContentDisposition, 400),
        (ErrorKind::InvalidContentType, 400),
        (ErrorKind::InvalidBoundary, 400),
        (ErrorKind::BoundaryNotFound, 400),
        (ErrorKind::Read, 400),
        (ErrorKind::Json, 400),
        (ErrorKind::InvalidBase64, 400),
        (ErrorKind::InvalidPdf, 400),
        (ErrorKind::UnknownFormat, 400),
        (ErrorKind::InvalidExport, 400),
        (ErrorKind::UnsupportedEncoding, 400),
        (ErrorKind::UnsafeName, 400),
        (ErrorKind::LimitExceeded, 413),
        (ErrorKind::Api, 502),
        (ErrorKind::Io, 500),
        (ErrorKind::DelimiterInPayload, 500),
        (ErrorKind::Usage, 500),
    ];
    for (kind, status) in rows {
        assert_eq!(kind.http_status(), status, "{kind:?}");
    }
    // A limit error as a whole.
    let limits = ExportLimits::default().max_result_bytes(4);
    let body = multipart_body("b");
    let mut export = blocking::Export::with_limits(&body[..], None, limits).unwrap();
    let err = loop {
        match export.next_item() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the result is over the limit"),
            Err(err) => break err,
        }
    };
    assert_eq!(err.limit().map(|(l, _)| l), Some(Limit::ResultBytes));
    assert_eq!(err.http_status(), 413);
}

#[test]
fn the_http_answer_travels_into_export_errors() {
    let for_response = |status: u16, content_type: Option<&'static str>| {
        move || ExportDecoder::for_response(status, content_type, ExportLimits::default()).unwrap()
    };

    // A body that is no export says what came instead.
    let html = b"<html><body>Not Found</body></html>";
    let outcome = every_way(html, &for_response(404, Some("text/html")));
    let (kind, message) = outcome.error.expect("an error");
    assert_eq!(kind, ErrorKind::UnknownFormat);
    assert_eq!(
        message,
        "unknown export format: HTTP 404 text/html: the body is not a multipart, json or pdf export \
         (first bytes: \"<html><body>Not Found</body></ht...\")"
    );

    // An API error body gets the status, whatever format was asked for.
    for content_type in [Some("application/json"), Some("application/pdf"), None] {
        let mut decoder = ExportDecoder::for_response(404, content_type, ExportLimits::default())
            .expect("decoder");
        decoder.feed(Bytes::from_static(NOT_FOUND));
        decoder.finish();
        let err = decoder.next_event().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Api);
        assert_eq!(err.http_status(), 404);
        let api = err.api_error().expect("the typed API error");
        assert_eq!(api.http_status, Some(404));
        assert_eq!(
            err.to_string(),
            "API error VERIFICATION_NOT_FOUND: Verification not found (HTTP 404)"
        );
    }

    // An error status whose body reads as an export is not taken for one.
    let outcome = every_way(&pdf_body(), &for_response(500, Some("application/pdf")));
    let (kind, message) = outcome.error.expect("an error");
    assert_eq!(kind, ErrorKind::UnknownFormat);
    assert!(
        message.contains("HTTP 500 application/pdf: an error status, but the body is a pdf export, not an API error"),
        "{message}"
    );
    assert_eq!(outcome.files, 0);

    // A success answer decodes as usual.
    let outcome = every_way(&pdf_body(), &for_response(200, Some("application/pdf")));
    assert!(outcome.complete, "{outcome:?}");
    assert_eq!(outcome.files, 1);
}

#[test]
fn a_declared_boundary_missing_from_the_body_is_named() {
    let declared = || {
        ExportDecoder::for_content_type(
            Some("multipart/mixed; boundary=zzz"),
            ExportLimits::default(),
        )
        .unwrap()
    };
    // Over the preamble limit: the boundary was not found in the bytes it allows.
    let mut long = Vec::new();
    while long.len() < 20_000 {
        long.extend_from_slice(b"--other\r\nsome line of a body with another boundary\r\n");
    }
    let outcome = decode(&long, &declared, &[]);
    assert_eq!(
        outcome.error,
        Some((
            ErrorKind::BoundaryNotFound,
            "no multipart boundary found: boundary \"zzz\" from the content-type was not found in \
             the first 16384 bytes at byte 0"
                .to_owned()
        ))
    );
    let cuts: Vec<usize> = (4096..long.len()).step_by(4096).collect();
    assert_eq!(decode(&long, &declared, &cuts), outcome);

    // A short body that ends first: still a truncation, naming the boundary.
    let short = multipart_body("other");
    let outcome = every_way(&short, &declared);
    let (kind, message) = outcome.error.expect("an error");
    assert_eq!(kind, ErrorKind::UnexpectedEnd);
    assert!(
        message.contains("no delimiter line with boundary \"zzz\" from the content-type"),
        "{message}"
    );
}

#[test]
fn transfer_encodings_other_than_binary_are_refused_by_name() {
    let with_encoding = |encoding: &str| {
        let body = String::from_utf8(multipart_body("b")).unwrap().replace(
            "Content-Type: image/jpeg\r\n",
            &format!("Content-Type: image/jpeg\r\nContent-Transfer-Encoding: {encoding}\r\n"),
        );
        body.into_bytes()
    };
    let make_multipart = || {
        ExportDecoder::new(
            ExportFormat::Multipart(Boundary::new("b").unwrap()),
            ExportLimits::default(),
        )
    };
    for encoding in ["binary", "8bit", "7bit", "BINARY"] {
        let outcome = every_way(&with_encoding(encoding), &make_multipart);
        assert!(outcome.complete, "{encoding}: {outcome:?}");
    }
    for encoding in ["base64", "quoted-printable", "x-gzip"] {
        let outcome = every_way(&with_encoding(encoding), &make_multipart);
        let (kind, message) = outcome.error.expect("an error");
        assert_eq!(kind, ErrorKind::UnsupportedEncoding, "{encoding}");
        assert!(
            message.contains(&format!("content-transfer-encoding {encoding:?}")),
            "{message}"
        );
        assert!(message.contains("in part 2 \"faceImage\""), "{message}");
        assert_eq!(outcome.files, 0, "the file is not announced");
    }
}

#[test]
fn one_policy_for_declared_and_detected_formats() {
    let multipart = multipart_body("b");
    let json = [
        &b"{\"id\":\"v1\",\"faceImage\":{\"contentType\":\"image/jpeg\",\"content\":\"/9j/2Q==\"}"
            [..],
        b"}",
    ]
    .concat();
    let pdf = pdf_body();
    // (declared content type, body, the format read, complete)
    let rows: Vec<(Option<&str>, &[u8], &str, bool)> = vec![
        // A JSON object is JSON whatever was declared.
        (Some("multipart/mixed; boundary=b"), &json, "json", true),
        (Some("application/pdf"), &json, "json", true),
        (Some("application/json"), &json, "json", true),
        (Some("text/html"), &json, "json", true),
        // A declared multipart type is trusted.
        (
            Some("multipart/mixed; boundary=b"),
            &multipart,
            "multipart",
            true,
        ),
        (
            Some("multipart/mixed; boundary=b"),
            &pdf,
            "multipart",
            false,
        ),
        // Declared JSON or PDF: what the bytes show wins when they show a format.
        (Some("application/json"), &multipart, "multipart", true),
        (Some("application/json"), &pdf, "pdf", true),
        (Some("application/pdf"), &multipart, "multipart", true),
        (Some("application/pdf"), &pdf, "pdf", true),
        (Some("application/pdf"), b"garbage, no format", "pdf", false),
        // Nothing declared (or a type that says nothing): the bytes decide.
        (None, &multipart, "multipart", true),
        (Some("application/octet-stream"), &pdf, "pdf", true),
    ];
    for (declared, body, want, complete) in rows {
        let make = || ExportDecoder::for_content_type(declared, ExportLimits::default()).unwrap();
        let outcome = every_way(body, &make);
        assert_eq!(
            outcome.format.as_deref(),
            Some(want),
            "{declared:?}: {outcome:?}"
        );
        assert_eq!(
            outcome.complete, complete,
            "{declared:?} as {want}: {outcome:?}"
        );
    }
    // Whitespace only, declared: after DETECT_BYTES the declared format decides.
    let blank = vec![b' '; DETECT_BYTES + 1];
    let make = || {
        ExportDecoder::for_content_type(Some("application/pdf"), ExportLimits::default()).unwrap()
    };
    let outcome = decode(&blank, &make, &[]);
    assert_eq!(outcome.format.as_deref(), Some("pdf"));
}

#[test]
fn limits_have_getters_and_export_limits_keep_their_part_limit() {
    let limits = Limits::default()
        .max_parts(7)
        .max_part_bytes(10)
        .max_body_bytes(20)
        .max_header_bytes(30)
        .max_headers(3)
        .max_preamble_bytes(40);
    assert_eq!(limits.get_max_parts(), 7);
    assert_eq!(limits.get_max_part_bytes(), 10);
    assert_eq!(limits.get_max_body_bytes(), 20);
    assert_eq!(limits.get_max_header_bytes(), 30);
    assert_eq!(limits.get_max_headers(), 3);
    assert_eq!(limits.get_max_preamble_bytes(), 40);

    let export = ExportLimits::default()
        .max_files(2)
        .max_result_bytes(100)
        .max_json_depth(5)
        .multipart(Limits::default());
    assert_eq!(export.get_max_files(), 2);
    assert_eq!(export.get_max_result_bytes(), 100);
    assert_eq!(export.get_max_json_depth(), 5);
    assert_eq!(export.get_multipart(), &Limits::default());

    // Setting the multipart limits does not lift the export's part limit: a body with more
    // files than max_files fails on max_files, not after a thousand parts.
    let mut body = String::from_utf8(multipart_body("b")).unwrap();
    let file = "--b\r\nContent-Disposition: form-data; name=\"faceImage2\"\r\n\r\nx\r\n";
    for _ in 0..3 {
        body = body.replacen("--b--", &format!("{file}--b--"), 1);
    }
    let make = || ExportDecoder::new(ExportFormat::Multipart(Boundary::new("b").unwrap()), export);
    let outcome = decode(body.as_bytes(), &make, &[]);
    let (kind, message) = outcome.error.expect("an error");
    assert_eq!(kind, ErrorKind::LimitExceeded);
    assert!(message.contains("max_files (2)"), "{message}");
}

#[test]
fn the_blocking_reader_sniffs_its_boundary() {
    let body = multipart_body("sniffed-boundary");
    for chunk_size in [1, 7, 64, 1 << 16] {
        let mut reader = multipart::blocking::Multipart::sniffing(&body[..], Limits::default())
            .unwrap()
            .chunk_size(chunk_size);
        let mut names = Vec::new();
        while let Some(part) = reader.next_part().unwrap() {
            names.push(part.headers().name().unwrap_or_default().to_owned());
            part.bytes().unwrap();
        }
        assert_eq!(names, ["result", "faceImage"], "chunk size {chunk_size}");
    }
    // A preamble first, and a reader that gives a byte at a time.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let with_preamble = [&b"This is the preamble.\r\n"[..], &body].concat();
    let mut reader =
        multipart::blocking::Multipart::sniffing(Trickle(&with_preamble), Limits::default())
            .unwrap();
    assert_eq!(
        reader.next_part().unwrap().unwrap().headers().name(),
        Some("result")
    );
    // No delimiter line within the preamble limit.
    let none = [b'x'; 100];
    let err = multipart::blocking::Multipart::sniffing(
        &none[..],
        Limits::default().max_preamble_bytes(10),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BoundaryNotFound);
}
