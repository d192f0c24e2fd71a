//! Table-driven tests of the sans-I/O decoder. Every row runs whole, in 1-byte chunks and split
//! at every point, and all chunkings must agree (see `support::decode_every_way`).

mod support;

use authenteq_export::multipart::{Boundary, Limits};
use authenteq_export::{ErrorKind, Limit};
use support::{decode_every_way, Ending};

/// What a row expects.
enum Expect {
    /// The body is complete, with these parts: (name, payload).
    Parts(&'static [(Option<&'static str>, &'static [u8])]),
    /// The body fails with this kind at this offset, in this part (1-based), after the listed
    /// complete parts.
    Error {
        kind: ErrorKind,
        offset: u64,
        part: Option<usize>,
        complete: usize,
    },
}

use Expect::*;

struct Row {
    name: &'static str,
    body: &'static [u8],
    expect: Expect,
}

const B: &str = "XyZ";

fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "one part",
            body: b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XyZ--\r\n",
            expect: Parts(&[(Some("a"), b"hello")]),
        },
        Row {
            name: "two parts, no trailing newline after close",
            body: b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n22\r\n--XyZ--",
            expect: Parts(&[(Some("a"), b"1"), (Some("b"), b"22")]),
        },
        Row {
            name: "preamble and epilogue are dropped",
            body: b"This is a preamble.\r\n--XyZ\r\n\r\nx\r\n--XyZ--\r\nepilogue --XyZ\r\n\r\nnot a part\r\n--XyZ--",
            expect: Parts(&[(None, b"x")]),
        },
        Row {
            name: "leading blank lines are preamble",
            body: b"\r\n\r\n--XyZ\r\n\r\nx\r\n--XyZ--",
            expect: Parts(&[(None, b"x")]),
        },
        Row {
            name: "bare LF body",
            body: b"--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nline1\nline2\n--XyZ\n\nb\n--XyZ--\n",
            expect: Parts(&[(Some("a"), b"line1\nline2"), (None, b"b")]),
        },
        Row {
            name: "LF body keeps CR bytes of the payload",
            body: b"--XyZ\n\nx\r\n--XyZ--",
            expect: Parts(&[(None, b"x\r")]),
        },
        Row {
            name: "CRLF body: LF delimiter is data",
            body: b"--XyZ\r\n\r\na\n--XyZ\nb\r\n--XyZ--",
            expect: Parts(&[(None, b"a\n--XyZ\nb")]),
        },
        Row {
            name: "transport padding after delimiters",
            body: b"--XyZ \t \r\n\r\nx\r\n--XyZ\t\r\n\r\ny\r\n--XyZ--  \r\n",
            expect: Parts(&[(None, b"x"), (None, b"y")]),
        },
        Row {
            name: "zero-length parts",
            body: b"--XyZ\r\n\r\n\r\n--XyZ\r\nA: b\r\n\r\n\r\n--XyZ--",
            expect: Parts(&[(None, b""), (None, b"")]),
        },
        Row {
            name: "headers-only part: delimiter right after the blank line",
            body: b"--XyZ\r\nA: b\r\n\r\n--XyZ\r\n\r\nz\r\n--XyZ--",
            expect: Parts(&[(None, b""), (None, b"z")]),
        },
        Row {
            name: "empty body: only the close delimiter",
            body: b"--XyZ--\r\n",
            expect: Parts(&[]),
        },
        Row {
            name: "near misses stay data",
            body: b"--XyZ\r\n\r\n\r\n--XyZX\r\n--XyZ-x\r\n--Xy\r\n-XyZ\r\n--XyZ \tQ\r\r\n--XyZ--",
            expect: Parts(&[(None, b"\r\n--XyZX\r\n--XyZ-x\r\n--Xy\r\n-XyZ\r\n--XyZ \tQ\r")]),
        },
        Row {
            name: "payload of CRs and LFs",
            body: b"--XyZ\r\n\r\n\r\r\n\n\r\n\r\r\r\n--XyZ--",
            expect: Parts(&[(None, b"\r\r\n\n\r\n\r\r")]),
        },
        Row {
            name: "header names in any case, extra headers",
            body: b"--XyZ\r\ncOnTeNt-DiSpOsItIoN: form-data; NAME=\"a\"\r\nX-Extra: 1\r\nX-Extra: 2\r\n\r\nv\r\n--XyZ--",
            expect: Parts(&[(Some("a"), b"v")]),
        },
        Row {
            name: "quoted name with escapes and semicolon",
            body: b"--XyZ\r\nContent-Disposition: form-data; name=\"a;\\\"b\\\"\"\r\n\r\nv\r\n--XyZ--",
            expect: Parts(&[(Some("a;\"b\""), b"v")]),
        },
        Row {
            name: "folded header",
            body: b"--XyZ\r\nContent-Disposition: form-data;\r\n name=\"folded\"\r\n\r\nv\r\n--XyZ--",
            expect: Parts(&[(Some("folded"), b"v")]),
        },
        Row {
            name: "a delimiter with a longer boundary is data",
            body: b"--XyZ\r\n\r\n\r\n--XyZW\r\n\r\n--XyZ--",
            expect: Parts(&[(None, b"\r\n--XyZW\r\n")]),
        },
        // ---- truncation: never looks complete ----
        Row {
            name: "empty input",
            body: b"",
            expect: Error { kind: ErrorKind::UnexpectedEnd, offset: 0, part: None, complete: 0 },
        },
        Row {
            name: "ends in the first delimiter line",
            body: b"--XyZ",
            expect: Error { kind: ErrorKind::UnexpectedEnd, offset: 5, part: None, complete: 0 },
        },
        Row {
            name: "ends right after a delimiter line",
            body: b"--XyZ\r\n",
            expect: Error { kind: ErrorKind::UnexpectedEnd, offset: 7, part: Some(1), complete: 0 },
        },
        Row {
            name: "ends inside headers",
            body: b"--XyZ\r\nContent-Type: te",
            expect: Error { kind: ErrorKind::UnexpectedEnd, offset: 23, part: Some(1), complete: 0 },
        },
        Row {
            name: "ends inside a payload",
            body: b"--XyZ\r\n\r\nabc",
            expect: Error { kind: ErrorKind::UnexpectedEnd, offset: 12, part: Some(1), complete: 0 },
        },
        Row {
            name: "ends inside the closing delimiter",
            body: b"--XyZ\r\n\r\nabc\r\n--XyZ-",
            expect: Error { kind: ErrorKind::UnexpectedEnd, offset: 20, part: Some(1), complete: 0 },
        },
        Row {
            name: "ends after a part, before the next headers",
            body: b"--XyZ\r\n\r\nabc\r\n--XyZ\r\n",
            expect: Error { kind: ErrorKind::UnexpectedEnd, offset: 21, part: Some(2), complete: 1 },
        },
        Row {
            name: "ends after delimiter without line ending",
            body: b"--XyZ\r\n\r\nabc\r\n--XyZ",
            expect: Error { kind: ErrorKind::UnexpectedEnd, offset: 19, part: Some(1), complete: 0 },
        },
        Row {
            name: "wrong boundary: all preamble",
            body: b"--Other\r\n\r\nabc\r\n--Other--\r\n",
            expect: Error { kind: ErrorKind::UnexpectedEnd, offset: 27, part: None, complete: 0 },
        },
        // ---- malformed headers ----
        Row {
            name: "header without colon",
            body: b"--XyZ\r\nNoColon\r\n\r\nx\r\n--XyZ--",
            expect: Error { kind: ErrorKind::InvalidHeader, offset: 7, part: Some(1), complete: 0 },
        },
        Row {
            name: "space before the first header (CVE-2022-24434)",
            body: b"--XyZ\r\n Content-Type: a\r\n\r\nx\r\n--XyZ--",
            expect: Error { kind: ErrorKind::InvalidHeader, offset: 7, part: Some(1), complete: 0 },
        },
        Row {
            name: "bad byte in header name",
            body: b"--XyZ\r\n\r\nok\r\n--XyZ\r\nContent-<<<position: x\r\n\r\nx\r\n--XyZ--",
            expect: Error { kind: ErrorKind::InvalidHeader, offset: 28, part: Some(2), complete: 1 },
        },
        Row {
            name: "bare CR in header value",
            body: b"--XyZ\r\nA: b\rc\r\n\r\nx\r\n--XyZ--",
            expect: Error { kind: ErrorKind::InvalidHeader, offset: 11, part: Some(1), complete: 0 },
        },
        Row {
            name: "NUL in header",
            body: b"--XyZ\r\nA: \x00\r\n\r\nx\r\n--XyZ--",
            expect: Error { kind: ErrorKind::InvalidHeader, offset: 10, part: Some(1), complete: 0 },
        },
        Row {
            name: "bare LF in CRLF header block",
            body: b"--XyZ\r\nA: b\nC: d\r\n\r\nx\r\n--XyZ--",
            expect: Error { kind: ErrorKind::InvalidHeader, offset: 11, part: Some(1), complete: 0 },
        },
        Row {
            name: "unterminated quoted disposition",
            body: b"--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--XyZ--",
            expect: Error { kind: ErrorKind::InvalidContentDisposition, offset: 7, part: Some(1), complete: 0 },
        },
    ]
}

#[test]
fn every_row_under_every_chunking() {
    let boundary = Boundary::new(B).unwrap();
    for row in rows() {
        let outcome = decode_every_way(row.body, &boundary, Limits::default());
        match row.expect {
            Parts(parts) => {
                assert_eq!(
                    outcome.ending,
                    Ending::Complete,
                    "{}: {outcome:?}",
                    row.name
                );
                let got: Vec<(Option<&str>, &[u8])> = outcome
                    .parts
                    .iter()
                    .map(|p| (p.name.as_deref(), &p.data[..]))
                    .collect();
                assert_eq!(got, parts, "{}", row.name);
            }
            Error {
                kind,
                offset,
                part,
                complete,
            } => {
                match &outcome.ending {
                    Ending::Failed {
                        kind: k,
                        offset: o,
                        part: p,
                        ..
                    } => {
                        assert_eq!((*k, *o, *p), (kind, Some(offset), part), "{}", row.name)
                    }
                    Ending::Complete => panic!("{}: expected {kind:?}, got complete", row.name),
                }
                assert_eq!(
                    outcome.parts.len(),
                    complete,
                    "{}: complete parts",
                    row.name
                );
            }
        }
    }
}

/// Every proper prefix of every well-formed row that stops before the close delimiter's `--` is
/// an unexpected end, under every chunking; no prefix reports a part that the full body does not.
#[test]
fn every_truncation_is_an_unexpected_end() {
    let boundary = Boundary::new(B).unwrap();
    for row in rows() {
        let Parts(full_parts) = row.expect else {
            continue;
        };
        let close = format!("--{B}--");
        let close_end = row
            .body
            .windows(close.len())
            .rposition(|w| w == close.as_bytes())
            .map(|i| i + close.len());
        let Some(close_end) = close_end else { continue };
        // The epilogue row has a decoy close delimiter in its epilogue: use the first one.
        let close_end = row
            .body
            .windows(close.len())
            .position(|w| w == close.as_bytes())
            .map_or(close_end, |i| i + close.len());
        for cut in 0..close_end {
            let prefix = &row.body[..cut];
            let outcome = decode_every_way(prefix, &boundary, Limits::default());
            assert_eq!(
                outcome.error_kind(),
                Some(ErrorKind::UnexpectedEnd),
                "{} cut at {cut}: {outcome:?}",
                row.name
            );
            assert!(outcome.parts.len() <= full_parts.len());
            for (got, want) in outcome.parts.iter().zip(full_parts) {
                assert_eq!(
                    (got.name.as_deref(), &got.data[..]),
                    *want,
                    "{} cut at {cut}",
                    row.name
                );
            }
        }
    }
}

#[test]
fn limits_are_enforced_and_named() {
    let boundary = Boundary::new(B).unwrap();
    let body: &[u8] =
        b"pre\r\n--XyZ\r\nA: 1\r\nB: 2\r\n\r\n0123456789\r\n--XyZ\r\n\r\nx\r\n--XyZ--";
    // (limits, limit hit, offset, complete parts)
    type Hit = Option<(Limit, u64, usize)>;
    let rows: Vec<(Limits, Hit)> = vec![
        (Limits::default(), None),
        (Limits::default().max_headers(2), None),
        (
            Limits::default().max_headers(1),
            Some((Limit::Headers, 18, 0)),
        ),
        (Limits::default().max_header_bytes(12), None),
        (
            Limits::default().max_header_bytes(11),
            Some((Limit::HeaderBytes, 23, 0)),
        ),
        (Limits::default().max_parts(2), None),
        (Limits::default().max_parts(1), Some((Limit::Parts, 45, 1))),
        (Limits::default().max_part_bytes(10), None),
        (
            Limits::default().max_part_bytes(9),
            Some((Limit::PartBytes, 35, 0)),
        ),
        // The preamble is `pre`: the CR before the first delimiter belongs to the delimiter.
        (Limits::default().max_preamble_bytes(3), None),
        (
            Limits::default().max_preamble_bytes(2),
            Some((Limit::PreambleBytes, 2, 0)),
        ),
        (Limits::default().max_body_bytes(body.len() as u64), None),
        (
            Limits::default().max_body_bytes(40),
            Some((Limit::BodyBytes, 40, 0)),
        ),
        (
            Limits::default().max_body_bytes(50),
            Some((Limit::BodyBytes, 50, 1)),
        ),
    ];
    for (limits, want) in rows {
        let outcome = decode_every_way(body, &boundary, limits);
        match want {
            None => assert!(outcome.is_complete(), "{limits:?}: {outcome:?}"),
            Some((limit, offset, complete)) => {
                match outcome.ending {
                    Ending::Failed {
                        kind,
                        offset: o,
                        limit: l,
                        ..
                    } => {
                        assert_eq!(
                            (kind, l, o),
                            (ErrorKind::LimitExceeded, Some(limit), Some(offset)),
                            "{limits:?}"
                        );
                    }
                    Ending::Complete => panic!("{limits:?}: expected {limit:?}"),
                }
                assert_eq!(outcome.parts.len(), complete, "{limits:?}");
            }
        }
    }
}

#[test]
fn error_messages_name_kind_part_and_offset() {
    use authenteq_export::multipart::{Decoder, Event};
    let rows: &[(&[u8], &str)] = &[
        (
            b"--XyZ\r\nContent-Disposition: form-data; name=\"faceImage\"\r\n\r\nabc",
            "unexpected end of input in part 1 \"faceImage\" at byte 62",
        ),
        (
            b"--XyZ\r\nContent-Type: te",
            "unexpected end of input: while reading headers in part 1 at byte 23",
        ),
        (
            b"junk",
            "unexpected end of input: no delimiter line found at byte 4",
        ),
        (
            b"--XyZ\r\nNoColon\r\n\r\n",
            "invalid part header: header line without a colon in part 1 at byte 7",
        ),
    ];
    for (body, want) in rows {
        let mut d = Decoder::new(Boundary::new(B).unwrap());
        d.feed(bytes::Bytes::copy_from_slice(body));
        d.finish();
        let err = loop {
            match d.next_event() {
                Ok(Some(Event::End)) => panic!("complete"),
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        assert_eq!(err.to_string(), *want);
    }
}

/// A CRLF before the first delimiter is the delimiter's, not preamble.
#[test]
fn a_crlf_before_the_first_delimiter_is_not_preamble() {
    let boundary = Boundary::new(B).unwrap();
    let body = b"\r\n--XyZ\r\n\r\nx\r\n--XyZ--";
    let outcome = decode_every_way(body, &boundary, Limits::default().max_preamble_bytes(0));
    assert!(outcome.is_complete(), "{outcome:?}");
}

/// "No limit" spelled as `usize::MAX` neither panics nor refuses every part.
#[test]
fn a_limit_of_usize_max_is_no_limit() {
    let boundary = Boundary::new(B).unwrap();
    let body = b"--XyZ\r\nA: b\r\n\r\nx\r\n--XyZ--";
    let limits = Limits::default().max_header_bytes(usize::MAX);
    let outcome = decode_every_way(body, &boundary, limits);
    assert!(outcome.is_complete(), "{outcome:?}");
    assert_eq!(outcome.parts[0].data, b"x");
}
