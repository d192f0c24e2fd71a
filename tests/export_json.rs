//! JSON exports through the export layer, every table row under every chunking: the forms an
//! embedded file takes, the scanner against tricky strings and depths, limits, malformed
//! documents, bad base64, and errors that stay put.

mod support;

use authenteq_export::export::{
    blocking, DocumentSlot, ExportItem, ExportLimits, FileKind, VerificationResult,
};
use authenteq_export::{ErrorKind, Limit};
use support::export::{
    b64, decode_all, default_limits, every_way, every_way_by, file_object, find, json, json_doc,
    same_by, DecodedFile, Ending, Outcome, JPEG, PDF,
};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR png body!";

/// All 256 byte values: their base64 holds `/` and `+`, and sniffs as nothing.
fn all_bytes() -> Vec<u8> {
    (0..=255).collect()
}

fn json_file(kind: FileKind, content_type: Option<&str>, bytes: &[u8]) -> DecodedFile {
    DecodedFile::new(kind, content_type, None, bytes)
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

/// Decodes a JSON export whose `livenessFaceImage` member is `value`, with and without
/// whitespace around it: the file comes out as `file`, and the result JSON holds the other
/// members only.
fn assert_liveness_member(label: &str, value: &str, file: &DecodedFile) {
    for ws in ["", " \r\n\t "] {
        let doc = json_doc(&format!(
            r#""platform":"WEB",{ws}"livenessFaceImage"{ws}:{ws}{value}{ws},"nfcVerified":true"#
        ));
        let outcome = every_way(&doc, &json(), default_limits());
        assert_eq!(outcome.ending, Ending::Complete, "{label}: {outcome:?}");
        assert_eq!(outcome.files, std::slice::from_ref(file), "{label}");
        let result = outcome.result();
        let want = b"{\n  \"id\": \"j1\",\n  \"platform\": \"WEB\",\n  \"nfcVerified\": true\n}\n";
        assert_eq!(
            String::from_utf8_lossy(&result.json),
            String::from_utf8_lossy(want),
            "{label}"
        );
        assert_eq!(result.typed.liveness_face_image, None, "{label}");
        assert_eq!(result.files_before, 1);
    }
}

#[test]
fn json_file_objects_in_every_form() {
    let jpeg = b64(JPEG);
    let png = b64(PNG);
    let bin = b64(&all_bytes());
    assert!(bin.contains('/') && bin.contains('+'));
    assert_eq!(jpeg.matches('=').count(), 2);
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
    for (label, value, file) in rows {
        assert_liveness_member(label, &value, &file);
    }
}

#[test]
fn json_bare_base64_strings_are_sniffed() {
    let jpeg = b64(JPEG);
    let png = b64(PNG);
    let bin = b64(&all_bytes());
    assert_eq!(png.matches('=').count(), 1);
    let rows: Vec<(&str, String, DecodedFile)> = vec![
        (
            "sniffed JPEG",
            format!(r#""{jpeg}""#),
            liveness(Some("image/jpeg"), JPEG),
        ),
        (
            "sniffed PNG",
            format!(r#""{png}""#),
            liveness(Some("image/png"), PNG),
        ),
        (
            "sniffed PDF",
            format!(r#""{}""#, b64(PDF)),
            liveness(Some("application/pdf"), PDF),
        ),
        (
            "unknown bytes",
            format!(r#""{bin}""#),
            liveness(None, &all_bytes()),
        ),
        (
            "unpadded base64 (one = dropped)",
            format!(r#""{}""#, png.trim_end_matches('=')),
            liveness(Some("image/png"), PNG),
        ),
    ];
    for (label, value, file) in rows {
        assert_liveness_member(label, &value, &file);
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
    assert_eq!(
        outcome.kinds(),
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
    // (A space is whitespace, which base64 content may hold: see
    // `base64_whitespace_reads_the_same_by_the_model_and_the_streaming_reader`.)
    row(
        "an ASCII byte outside the alphabet",
        br#"{"id":"x","livenessFaceImage":"QUJD!QUJD"}"#.to_vec(),
        Some("!"),
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

/// One base64 policy for whitespace too: ASCII whitespace inside `content` (line breaks, tabs,
/// spaces, form feeds), written as itself or as a JSON escape, is skipped alike by the typed
/// model and by the streaming reader; a character outside the alphabet is refused by both.
#[test]
fn base64_whitespace_reads_the_same_by_the_model_and_the_streaming_reader() {
    let read_both = |content: &str| {
        let doc = format!(
            r#"{{"id":"w1","livenessFaceImage":{{"contentType":"image/jpeg","content":"{content}"}}}}"#
        );
        let typed = VerificationResult::from_json(doc.as_bytes())
            .map(|r| r.liveness_face_image.expect("a face image").content)
            .map_err(|_| ErrorKind::InvalidBase64);
        let mut by_chunking = Vec::new();
        for chunk_size in [1, 4096] {
            let streamed = (|| {
                let mut export = blocking::Export::new(doc.as_bytes(), Some("application/json"))?
                    .chunk_size(chunk_size);
                let mut bytes = Vec::new();
                while let Some(item) = export.next_item()? {
                    if let ExportItem::File(file) = item {
                        bytes.extend_from_slice(&file.bytes()?);
                    }
                }
                Ok::<_, authenteq_export::Error>(bytes)
            })()
            .map_err(|e| e.kind());
            by_chunking.push(streamed);
        }
        (typed, by_chunking)
    };
    for content in [
        r"/9j/\n2Q==",
        r"/9j/\r\n2Q==",
        r"/9j/\t2Q==",
        r"/9j/\u000a2Q==",
        r"/9j/ 2Q==",
        r"/9j/\f2Q==",
        r"/9j/\u00202Q==",
    ] {
        let (typed, streamed) = read_both(content);
        assert_eq!(typed, Ok(vec![0xff, 0xd8, 0xff, 0xd9]), "{content}");
        assert_eq!(streamed, vec![typed.clone(), typed], "{content}");
    }
    for content in [r"/9j/!2Q==", r"/9j/\u00e92Q=="] {
        let (typed, streamed) = read_both(content);
        assert_eq!(typed, Err(ErrorKind::InvalidBase64), "{content}");
        assert_eq!(
            streamed,
            vec![Err(ErrorKind::InvalidBase64); 2],
            "{content}"
        );
    }
}
