//! The typed verification result and the API error bodies, against the sample export in
//! `corpus/` and hand-written edge cases.

mod support;

use authenteq_export::export::{
    ApiError, ApiErrorCode, DocumentData, DocumentSlot, DocumentType, EmbeddedFile,
    EmbeddedFileForm, LicenseClassDetail, Platform, Sex, VerificationResult,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};
use support::export::corpus;

fn corpus_result() -> VerificationResult {
    VerificationResult::from_json(&corpus("result.json")).expect("corpus/result.json parses")
}

fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

/// Parses, writes back and parses again; the value written must equal the input as JSON.
fn round_trip(input: &Value) -> VerificationResult {
    let parsed: VerificationResult = serde_json::from_value(input.clone()).expect("parses");
    let written = serde_json::to_value(&parsed).expect("serializes");
    assert_eq!(&written, input, "nothing lost");
    let again = VerificationResult::from_json(&parsed.to_json()).expect("parses again");
    assert_eq!(again, parsed);
    parsed
}

// -------------------------------------------------------------------------------------------
// The corpus sample
// -------------------------------------------------------------------------------------------

#[test]
fn corpus_parses_with_three_documents() {
    let result = corpus_result();
    assert_eq!(result.id, "8c3f6a2e-5b1d-4e7a-9f20-6d4b2c1a7e95");
    assert_eq!(result.platform, Some(Platform::Web));
    assert_eq!(
        result.start_time,
        Some(Utc.with_ymd_and_hms(2020, 4, 10, 11, 44, 40).unwrap())
    );
    assert_eq!(
        result.end_time,
        Some(Utc.with_ymd_and_hms(2020, 4, 10, 11, 47, 2).unwrap())
    );
    assert_eq!(result.nfc_verified, Some(false));
    assert!(result.liveness_face_image.is_none() && result.address_proof_document.is_none());
    assert!(result.extra.is_empty());

    let documents: Vec<_> = result.documents().collect();
    let slots: Vec<_> = documents.iter().map(|(slot, _)| *slot).collect();
    assert_eq!(slots, DocumentSlot::ALL);
    let types: Vec<_> = documents
        .iter()
        .map(|(_, d)| d.document_type.clone().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            DocumentType::Passport,
            DocumentType::DrivingLicense,
            DocumentType::NationalId
        ]
    );

    let passport = result.document_data.as_ref().unwrap();
    assert_eq!(passport.document_number.as_deref(), Some("A1234567"));
    assert_eq!(passport.issuing_country.as_deref(), Some("ISL"));
    assert_eq!(passport.surname.as_deref(), Some("DOE"));
    assert_eq!(passport.given_names.as_deref(), Some("JANE EXAMPLE"));
    assert_eq!(passport.name_suffixes.as_deref(), Some(""));
    assert_eq!(passport.sex, Some(Sex::Female));
    assert_eq!(passport.date_of_birth, date(1964, 12, 30));
    assert_eq!(passport.date_of_expiry, date(2026, 8, 15));
    assert_eq!(passport.date_of_issue, date(2016, 8, 15));
    assert!(passport.extra.is_empty());

    let licence = result.document(DocumentSlot::Second).unwrap();
    assert_eq!(licence.jurisdiction.as_deref(), Some("Berlin"));
    assert_eq!(
        licence.address.as_deref(),
        Some("Musterstraße 12, 10115 Berlin")
    );
    assert_eq!(licence.license_class.as_deref(), Some("B, BE, AM"));
    let details = licence.license_class_details.as_ref().unwrap();
    let classes: Vec<&str> = details.keys().map(String::as_str).collect();
    assert_eq!(classes, ["B", "AM", "BE"], "the API's key order is kept");
    let mut be = LicenseClassDetail::default();
    be.from = date(2001, 5, 4);
    be.to = date(2031, 5, 4);
    be.notes = Some("79.06".into());
    assert_eq!(details["BE"], be);
    assert_eq!(details["AM"].notes.as_deref(), Some(""));

    let id_card = result.document(DocumentSlot::Third).unwrap();
    assert_eq!(id_card.nationality.as_deref(), Some("DEU"));
    assert_eq!(id_card.date_of_issue, date(2019, 2, 11));
}

#[test]
fn corpus_round_trips_without_loss() {
    let text = corpus("result.json");
    let input: Value = serde_json::from_slice(&text).unwrap();
    let result = round_trip(&input);

    // The known fields are declared in the API's order, so even the text comes back unchanged.
    let pretty = serde_json::to_string_pretty(&result).unwrap();
    assert_eq!(pretty, String::from_utf8(text).unwrap().trim_end());
}

// -------------------------------------------------------------------------------------------
// Unknown members, lenient values
// -------------------------------------------------------------------------------------------

#[test]
fn unknown_fields_round_trip_at_every_level() {
    let face = STANDARD.encode(corpus("files/faceImage.jpeg"));
    let input = json!({
        "id": "v1",
        "verificationStatus": "APPROVED",
        "livenessFaceImage": { "contentType": "image/jpeg", "content": face, "width": 480 },
        "documentData": {
            "documentType": "DL",
            "placeOfBirth": "Reykjavík",
            "mrz": { "line1": "P<ISL", "checks": [true, false, null] },
            "licenseClassDetails": {
                "B": { "from": "1983-03-14", "notes": "01.06", "category": "car", "limit": 3.5 }
            },
            "faceImage": { "contentType": "image/jpeg", "content": face, "quality": null }
        },
        "amlCheck": null,
        "scores": { "face": 0.97, "count": 18446744073709551615u64, "neg": -3 }
    });
    let result = round_trip(&input);

    assert_eq!(result.extra["verificationStatus"], "APPROVED");
    assert_eq!(result.extra["amlCheck"], Value::Null);
    assert_eq!(result.extra["scores"]["count"], json!(u64::MAX));
    let document = result.document_data.as_ref().unwrap();
    assert_eq!(document.extra["placeOfBirth"], "Reykjavík");
    assert_eq!(document.extra["mrz"]["checks"], json!([true, false, null]));
    let b = &document.license_class_details.as_ref().unwrap()["B"];
    assert_eq!(b.extra["category"], "car");
    assert_eq!(b.extra["limit"], json!(3.5));
    let liveness = result.liveness_face_image.as_ref().unwrap();
    assert_eq!(liveness.extra["width"], 480);
    assert_eq!(liveness.content, corpus("files/faceImage.jpeg"));
    assert_eq!(
        document.face_image.as_ref().unwrap().extra["quality"],
        Value::Null
    );
}

#[test]
fn unknown_fields_are_written_after_the_known_ones() {
    let input =
        br#"{"extraFirst":1,"id":"v1","documentData":{"zzz":2,"sex":"M"},"platform":"IOS"}"#;
    let result = VerificationResult::from_json(input).unwrap();
    assert_eq!(
        result.to_json(),
        br#"{"id":"v1","platform":"IOS","documentData":{"sex":"M","zzz":2},"extraFirst":1}"#
    );
}

#[test]
fn lenient_enums_keep_unknown_values_verbatim() {
    let input = json!({
        "id": "v1",
        "platform": "KIOSK",
        "documentData": { "documentType": "RP", "sex": "<" },
        "documentData2": { "documentType": "pp", "sex": "" },
        "documentData3": { "documentType": "NID", "sex": "X" }
    });
    let result = round_trip(&input);
    assert_eq!(result.platform, Some(Platform::Other("KIOSK".into())));
    let [first, second, third] = [
        result.document_data.as_ref().unwrap(),
        result.document_data2.as_ref().unwrap(),
        result.document_data3.as_ref().unwrap(),
    ];
    assert_eq!(first.document_type, Some(DocumentType::Other("RP".into())));
    assert_eq!(first.sex, Some(Sex::Other("<".into())));
    // Matching is exact: a lowercase code is not the known one, and is written back as it came.
    assert_eq!(second.document_type, Some(DocumentType::Other("pp".into())));
    assert_eq!(second.sex, Some(Sex::Other(String::new())));
    assert_eq!(third.document_type, Some(DocumentType::NationalId));
    assert_eq!(third.sex, Some(Sex::Unspecified));
}

#[test]
fn lenient_enum_conversions() {
    let table: [(&str, DocumentType); 4] = [
        ("PP", DocumentType::Passport),
        ("DL", DocumentType::DrivingLicense),
        ("NID", DocumentType::NationalId),
        ("VISA", DocumentType::Other("VISA".into())),
    ];
    for (wire, value) in table {
        assert_eq!(DocumentType::from(wire), value);
        assert_eq!(wire.parse::<DocumentType>().unwrap(), value);
        assert_eq!(DocumentType::from(wire.to_owned()), value);
        assert_eq!(value.as_str(), wire);
        assert_eq!(value.to_string(), wire);
        assert_eq!(value.is_known(), wire != "VISA");
        assert_eq!(serde_json::to_value(&value).unwrap(), wire);
    }
    for (wire, value) in [
        ("M", Sex::Male),
        ("F", Sex::Female),
        ("X", Sex::Unspecified),
        ("U", Sex::Other("U".into())),
    ] {
        assert_eq!(Sex::from(wire), value);
        assert_eq!(value.as_str(), wire);
    }
    for (wire, value) in [
        ("WEB", Platform::Web),
        ("IOS", Platform::Ios),
        ("ANDROID", Platform::Android),
        ("Web", Platform::Other("Web".into())),
    ] {
        assert_eq!(Platform::from(wire), value);
        assert_eq!(
            serde_json::from_value::<Platform>(json!(wire)).unwrap(),
            value
        );
    }
    // A catch-all holding a known value is the same value.
    assert_eq!(DocumentType::Other("PP".into()), DocumentType::Passport);

    // Only non-strings are errors.
    let err = serde_json::from_value::<Sex>(json!(1)).unwrap_err();
    assert!(err.to_string().contains("expected a sex string"), "{err}");
}

#[test]
fn license_class_note_alias_is_read_and_written_as_notes() {
    let input = br#"{"id":"v1","documentData":{"licenseClassDetails":{"C1":{"from":"2001-05-04","note":"79.06"}}}}"#;
    let result = VerificationResult::from_json(input).unwrap();
    let detail = &result
        .document_data
        .as_ref()
        .unwrap()
        .license_class_details
        .as_ref()
        .unwrap()["C1"];
    assert_eq!(detail.notes.as_deref(), Some("79.06"));
    assert!(detail.extra.is_empty(), "`note` is not an unknown member");
    let written: Value = serde_json::from_slice(&result.to_json()).unwrap();
    assert_eq!(
        written["documentData"]["licenseClassDetails"]["C1"],
        json!({ "from": "2001-05-04", "notes": "79.06" })
    );

    let both = serde_json::from_str::<LicenseClassDetail>(r#"{"note":"a","notes":"b"}"#);
    assert!(both.unwrap_err().to_string().contains("duplicate field"));
}

// -------------------------------------------------------------------------------------------
// Dates and required fields
// -------------------------------------------------------------------------------------------

#[test]
fn dates_are_typed() {
    let input = json!({
        "id": "v1",
        "startTime": "2020-04-10T13:44:40+02:00",
        "endTime": "2020-04-10T11:47:02.250Z",
        "documentData": { "dateOfBirth": "1964-12-30", "dateOfExpiry": "2031-05-04", "dateOfIssue": "2016-05-04" }
    });
    let result: VerificationResult = serde_json::from_value(input).unwrap();
    assert_eq!(
        result.start_time,
        Some(Utc.with_ymd_and_hms(2020, 4, 10, 11, 44, 40).unwrap()),
        "converted to UTC"
    );
    let written = serde_json::to_value(&result).unwrap();
    assert_eq!(written["startTime"], "2020-04-10T11:44:40Z");
    assert_eq!(written["endTime"], "2020-04-10T11:47:02.250Z");
    let document = result.document_data.unwrap();
    assert_eq!(document.date_of_birth, date(1964, 12, 30));
    assert_eq!(document.date_of_expiry, date(2031, 5, 4));
    assert_eq!(document.date_of_issue, date(2016, 5, 4));
}

#[test]
fn invalid_dates_are_clear_errors() {
    // (input, what the message must say, what it must not say)
    let table: &[(&str, &str, &str)] = &[
        (
            r#"{"id":"v1","documentData":{"dateOfExpiry":"2031-02-30"}}"#,
            r#"invalid date "2031-02-30" in dateOfExpiry: input is out of range (expected YYYY-MM-DD) at line 1 column "#,
            "",
        ),
        (
            r#"{"id":"v1","documentData":{"dateOfIssue":"04.05.2016"}}"#,
            r#"invalid date "04.05.2016" in dateOfIssue"#,
            "",
        ),
        (
            r#"{"id":"v1","documentData":{"licenseClassDetails":{"B":{"to":"2031-5-4x"}}}}"#,
            r#"invalid date "2031-5-4x" in to"#,
            "",
        ),
        (
            // The date of birth is personal data: the value stays out of the message.
            r#"{"id":"v1","documentData":{"dateOfBirth":"1964-13-30"}}"#,
            "invalid date in dateOfBirth: input is out of range",
            "1964",
        ),
        (
            r#"{"id":"v1","startTime":"2020-04-10 11:44"}"#,
            r#"invalid timestamp "2020-04-10 11:44" in startTime"#,
            "",
        ),
        (
            r#"{"id":"v1","documentData":{"dateOfExpiry":20310504}}"#,
            "invalid type: integer `20310504`, expected a string",
            "",
        ),
    ];
    for (input, expected, hidden) in table {
        let message = cause_text(VerificationResult::from_json(input.as_bytes())).unwrap_err();
        assert!(message.starts_with(expected), "{input}: {message}");
        assert!(hidden.is_empty() || !message.contains(hidden), "{message}");
    }
}

#[test]
fn only_id_is_required() {
    let result = VerificationResult::from_json(br#"{"id":"v1"}"#).unwrap();
    let mut want = VerificationResult::default();
    want.id = "v1".into();
    assert_eq!(result, want);
    assert_eq!(result.documents().count(), 0);
    assert_eq!(result.to_json(), br#"{"id":"v1"}"#);

    let empty: DocumentData = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, DocumentData::default());
    assert_eq!(serde_json::to_string(&empty).unwrap(), "{}");

    // `null` reads as absent.
    let nulls =
        VerificationResult::from_json(br#"{"id":"v1","platform":null,"documentData":null}"#)
            .unwrap();
    assert_eq!(nulls, result);
}

#[test]
fn missing_or_mistyped_id_fails() {
    for (input, expected) in [
        (&br#"{"platform":"WEB"}"#[..], "missing field `id`"),
        (br#"{}"#, "missing field `id`"),
        (
            br#"{"id":42}"#,
            "invalid type: integer `42`, expected a string",
        ),
        (br#"[]"#, "invalid type: sequence"),
        (br#"{"id":"v1""#, "EOF while parsing an object"),
    ] {
        let err = cause_text(VerificationResult::from_json(input)).unwrap_err();
        assert!(err.starts_with(expected), "{err}");
    }
}

// -------------------------------------------------------------------------------------------
// Embedded files
// -------------------------------------------------------------------------------------------

#[test]
fn embedded_file_as_object_and_as_bare_string() {
    let jpeg = corpus("files/croppedFrontImage.jpeg");
    let pdf = corpus("files/addressProofDocument.pdf");
    let input = json!({
        "id": "v1",
        "addressProofDocument": { "contentType": "application/pdf", "content": STANDARD.encode(&pdf) },
        "documentData": {
            "croppedFrontImage": STANDARD.encode(&jpeg),
            "croppedBackImage": { "content": STANDARD.encode(&jpeg) }
        }
    });
    let result = round_trip(&input);

    let proof = result.address_proof_document.as_ref().unwrap();
    assert_eq!(proof, &EmbeddedFile::new("application/pdf", pdf.clone()));
    assert!(proof.content.starts_with(b"%PDF"));
    let document = result.document_data.as_ref().unwrap();
    let front = document.cropped_front_image.as_ref().unwrap();
    assert_eq!(front, &EmbeddedFile::bare(jpeg.clone()));
    assert_eq!(front.form, EmbeddedFileForm::Bare);
    assert_eq!(front.content_type, None);
    let back = document.cropped_back_image.as_ref().unwrap();
    assert_eq!(back.form, EmbeddedFileForm::Object);
    assert_eq!((back.content_type.as_deref(), &back.content), (None, &jpeg));
}

#[test]
fn bare_file_given_metadata_is_written_as_an_object() {
    let mut file = EmbeddedFile::bare(vec![1, 2, 3]);
    assert_eq!(serde_json::to_value(&file).unwrap(), json!("AQID"));
    file.content_type = Some("application/octet-stream".into());
    assert_eq!(
        serde_json::to_value(&file).unwrap(),
        json!({ "contentType": "application/octet-stream", "content": "AQID" })
    );
    // Known names in `extra` do not produce duplicate members.
    let mut object = EmbeddedFile::new("image/png", vec![1, 2, 3]);
    object.extra.insert("content".into(), json!("ignored"));
    object.extra.insert("page".into(), json!(1));
    assert_eq!(
        serde_json::to_string(&object).unwrap(),
        r#"{"contentType":"image/png","content":"AQID","page":1}"#
    );
}

#[test]
fn embedded_file_base64_with_escaped_slashes() {
    let jpeg = corpus("files/faceImage.jpeg");
    let plain = STANDARD.encode(&jpeg);
    assert!(plain.contains('/'), "the sample must exercise the escape");
    // Some JSON writers (PHP, Java) escape `/` as `\/`.
    let escaped = plain.replace('/', "\\/");
    for text in [
        format!(
            r#"{{"id":"v1","livenessFaceImage":{{"contentType":"image/jpeg","content":"{escaped}"}}}}"#
        ),
        format!(r#"{{"id":"v1","livenessFaceImage":"{escaped}"}}"#),
    ] {
        let result = VerificationResult::from_json(text.as_bytes()).unwrap();
        assert_eq!(result.liveness_face_image.as_ref().unwrap().content, jpeg);
        // Written back unescaped.
        let written = String::from_utf8(result.to_json()).unwrap();
        assert!(written.contains(&plain) && !written.contains("\\/"));
    }
}

#[test]
fn embedded_file_base64_unpadded_and_wrapped() {
    let png_like: Vec<u8> = (0..=255u8).collect();
    let padded = STANDARD.encode(&png_like); // 256 bytes: ends in "=="
    assert!(padded.ends_with("=="));
    let unpadded = padded.trim_end_matches('=').to_owned();
    let mime: String = padded
        .as_bytes()
        .chunks(76)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n");
    let spaced = format!(" \t{}\n", padded.replace("AAA", "AA A"));
    for text in [&padded, &unpadded, &mime, &spaced] {
        let file: EmbeddedFile = serde_json::from_value(json!(text)).unwrap();
        assert_eq!(file.content, png_like);
        // Always written back padded, on one line.
        assert_eq!(serde_json::to_value(&file).unwrap(), json!(padded));
    }
}

#[test]
fn invalid_base64_is_an_error_that_says_why() {
    let table: &[(&str, &str)] = &[
        ("/9j-2Q==", "invalid character '-' at offset 3 of the text"),
        ("/9j_2Q==", "invalid character '_' at offset 3 of the text"),
        (
            "/9j/\r\n2Q-=",
            "invalid character '-' at offset 8 of the text",
        ),
        (
            "/9j/2Q=x",
            "padding '=' before the end, at offset 6 of the text",
        ),
        (
            "/9j/2",
            "5 base64 characters cannot encode whole bytes (truncated input?)",
        ),
        ("/9jé", "invalid character 'é' at offset 3 of the text"),
        ("/9é-", "invalid character 'é' at offset 2 of the text"),
        ("/9-é", "invalid character '-' at offset 2 of the text"),
        (
            "/9j/2Q==\u{0}",
            "invalid character '\\0' at offset 8 of the text",
        ),
    ];
    for (text, expected) in table {
        for value in [
            json!(text),
            json!({ "contentType": "image/jpeg", "content": text }),
        ] {
            let err = serde_json::from_value::<EmbeddedFile>(value).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid base64 in embedded file: {expected}"),
                "{text:?}",
            );
        }
    }
    // Inside a result, serde_json adds the position.
    let err = cause_text(VerificationResult::from_json(
        br#"{"id":"v1","livenessFaceImage":"ab-d"}"#,
    ))
    .unwrap_err();
    assert!(err.starts_with("invalid base64 in embedded file:"));
    assert!(err.to_string().contains("at line 1 column"), "{err}");

    for (value, expected) in [
        (
            json!({ "contentType": "image/jpeg" }),
            "missing field `content`",
        ),
        (
            json!({ "content": 7 }),
            "invalid type: integer `7`, expected a base64 string",
        ),
        (
            json!(7),
            "invalid type: integer `7`, expected an embedded file",
        ),
    ] {
        let err = serde_json::from_value::<EmbeddedFile>(value).unwrap_err();
        assert!(err.to_string().starts_with(expected), "{err}");
    }
    let duplicate = r#"{"content":"AQID","content":"AQID"}"#;
    let err = serde_json::from_str::<EmbeddedFile>(duplicate).unwrap_err();
    assert!(err.to_string().starts_with("duplicate field `content`"));
}

// -------------------------------------------------------------------------------------------
// Debug redaction
// -------------------------------------------------------------------------------------------

/// The sample result with embedded files (the face image and the PDF) and unknown members
/// that hold personal data; with the face and PDF bytes.
fn sample_with_files() -> (VerificationResult, Vec<u8>, Vec<u8>) {
    let mut result = corpus_result();
    let face = corpus("files/faceImage.jpeg");
    let pdf = corpus("files/addressProofDocument.pdf");
    result.liveness_face_image = Some(EmbeddedFile::new("image/jpeg", face.clone()));
    result.address_proof_document = Some(EmbeddedFile::new("application/pdf", pdf.clone()));
    let document = result.document_data.as_mut().unwrap();
    document.face_image = Some(EmbeddedFile::bare(face.clone()));
    document
        .extra
        .insert("placeOfBirth".into(), json!("Reykjavík"));
    result
        .extra
        .insert("selfieUrl".into(), json!("https://example.test/jane-doe"));
    (result, face, pdf)
}

#[test]
fn debug_shows_no_personal_data() {
    let (result, face, _) = sample_with_files();
    let forbidden = [
        // names
        "DOE",
        "Doe",
        "JANE",
        "Jane",
        "EXAMPLE",
        "Example",
        // document numbers
        "A1234567",
        "B072RRE2I55",
        "L01X00T71",
        // date of birth
        "1964",
        // addresses
        "Musterstr",
        "MUSTERSTRASSE",
        "10115",
        // licence restriction notes (health data)
        "01.06",
        "79.06",
        // unknown values
        "Reykjavík",
        "example.test",
    ];
    let base64_face = STANDARD.encode(&face);
    let bytes_face = format!("{:?}", &face[..8]); // "[255, 216, ..."
    for output in [format!("{result:?}"), format!("{result:#?}")] {
        for word in forbidden {
            assert!(!output.contains(word), "Debug shows {word:?}:\n{output}");
        }
        assert!(!output.contains(&base64_face[..16]), "Debug shows base64");
        assert!(
            !output.contains(&bytes_face[1..bytes_face.len() - 1]),
            "Debug shows bytes"
        );
        assert!(!output.contains("%PDF"), "Debug shows the PDF");
    }
}

#[test]
fn debug_shows_what_is_not_personal_and_the_sizes_of_files() {
    let (result, face, pdf) = sample_with_files();
    for output in [format!("{result:?}"), format!("{result:#?}")] {
        for shown in [
            "8c3f6a2e-5b1d-4e7a-9f20-6d4b2c1a7e95",
            "Web",
            "Passport",
            "DrivingLicense",
            "\"ISL\"",
            "\"DEU\"",
            "2026-08-15",
            "2016-05-04",
            "\"B, BE, AM\"",
            "\"AM\"",
            "1983-03-14",
            "nfc_verified: false",
            "<redacted>",
            &format!("<{} bytes image/jpeg>", face.len()),
            &format!("<{} bytes application/pdf>", pdf.len()),
            &format!("<{} bytes>", face.len()),
            "\"placeOfBirth\"",
            "\"selfieUrl\"",
        ] {
            assert!(output.contains(shown), "Debug hides {shown:?}:\n{output}");
        }
    }
}

#[test]
fn debug_of_a_file_shows_its_size_type_and_extra_keys() {
    let mut file = EmbeddedFile::new("image/png", vec![0]);
    file.extra.insert("width".into(), json!(1));
    assert_eq!(
        format!("{file:?}"),
        r#"<1 byte image/png extra_keys=["width"]>"#
    );
}

// -------------------------------------------------------------------------------------------
// Document slots
// -------------------------------------------------------------------------------------------

#[test]
fn document_slots() {
    let table = [
        (DocumentSlot::First, 1, "", "documentData"),
        (DocumentSlot::Second, 2, "2", "documentData2"),
        (DocumentSlot::Third, 3, "3", "documentData3"),
    ];
    for (slot, number, suffix, field) in table {
        assert_eq!(slot.number(), number);
        assert_eq!(DocumentSlot::from_number(number), Some(slot));
        assert_eq!(slot.suffix(), suffix);
        assert_eq!(slot.field_name(), field);
        assert_eq!(format!("documentData{}", slot.suffix()), field);
    }
    assert_eq!(DocumentSlot::from_number(0), None);
    assert_eq!(DocumentSlot::from_number(4), None);

    let mut result =
        VerificationResult::from_json(br#"{"id":"v1","documentData2":{"documentNumber":"2"}}"#)
            .unwrap();
    let found: Vec<_> = result
        .documents()
        .map(|(slot, d)| (slot, d.document_number.clone().unwrap()))
        .collect();
    assert_eq!(found, [(DocumentSlot::Second, "2".to_owned())]);

    *result.document_mut(DocumentSlot::Third) = Some(DocumentData::default());
    result.document_mut(DocumentSlot::Second).take();
    let slots: Vec<_> = result.documents().map(|(slot, _)| slot).collect();
    assert_eq!(slots, [DocumentSlot::Third]);
    assert_eq!(result.to_json(), br#"{"id":"v1","documentData3":{}}"#);
}

// -------------------------------------------------------------------------------------------
// API error bodies
// -------------------------------------------------------------------------------------------

const CODES: [(&str, ApiErrorCode); 7] = [
    (
        "MISSING_REQUEST_PARAMETER",
        ApiErrorCode::MissingRequestParameter,
    ),
    (
        "INVALID_REQUEST_PARAMETER",
        ApiErrorCode::InvalidRequestParameter,
    ),
    ("API_KEYS_MISSING", ApiErrorCode::ApiKeysMissing),
    ("API_KEYS_INVALID", ApiErrorCode::ApiKeysInvalid),
    ("API_KEYS_BAD", ApiErrorCode::ApiKeysBad),
    ("ACCOUNT_DEACTIVATED", ApiErrorCode::AccountDeactivated),
    ("VERIFICATION_NOT_FOUND", ApiErrorCode::VerificationNotFound),
];

#[test]
fn api_error_every_code_from_message_and_description() {
    for (wire, code) in CODES {
        assert_eq!(code.as_str(), wire);
        assert_eq!(ApiErrorCode::from(wire), code);
        assert!(code.is_known());
        assert_eq!(serde_json::to_value(&code).unwrap(), wire);
        assert_eq!(
            serde_json::from_value::<ApiErrorCode>(json!(wire)).unwrap(),
            code
        );

        for key in ["errorMessage", "errorDescription"] {
            let body = json!({ "errorCode": wire, key: "Something went wrong" }).to_string();
            let err = ApiError::from_json(body.as_bytes()).unwrap_or_else(|| panic!("{body}"));
            assert_eq!(err.code, code);
            assert_eq!(err.message.as_deref(), Some("Something went wrong"));
            assert_eq!(err.http_status, None);
            assert!(err.extra.is_empty(), "{key} is not an unknown member");
            assert!(
                !err.with_status(400).is_retryable(),
                "{wire} is a client error"
            );
        }
    }
}

#[test]
fn api_error_unknown_code_is_kept() {
    let body = br#"{"errorCode":"RATE_LIMITED","errorMessage":"Slow down","retryAfter":30}"#;
    let err = ApiError::from_json(body).unwrap();
    assert_eq!(err.code, ApiErrorCode::Unknown("RATE_LIMITED".into()));
    assert!(!err.code.is_known());
    assert_eq!(err.extra["retryAfter"], 30);
    assert_eq!(err.to_json(), body);
    assert!(!err.is_retryable(), "no status, no guess");
    assert!(err.clone().with_status(429).is_retryable());
    assert!(err.clone().with_status(503).is_retryable());
    assert!(!err.with_status(400).is_retryable());
}

#[test]
fn api_error_from_non_error_json_is_none() {
    let bodies: &[&[u8]] = &[
        br#"{"id":"8c3f6a2e","platform":"WEB"}"#,
        br#"{"errorCode":404,"errorMessage":"Not found"}"#,
        br#"{"errorCode":null}"#,
        br#"{"errorMessage":"no code"}"#,
        br#"["errorCode","VERIFICATION_NOT_FOUND"]"#,
        br#""VERIFICATION_NOT_FOUND""#,
        b"<html><body>502 Bad Gateway</body></html>",
        b"",
        br#"{"errorCode":"VERIFICATION_NOT_FOUND""#,
    ];
    for body in bodies {
        assert_eq!(
            ApiError::from_json(body),
            None,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    assert_eq!(ApiError::from_json(&corpus("result.json")), None);
}

#[test]
fn api_error_message_sources() {
    // errorMessage wins; errorDescription is then kept as an unknown member.
    let both = br#"{"errorCode":"API_KEYS_BAD","errorMessage":"m","errorDescription":"d"}"#;
    let err = ApiError::from_json(both).unwrap();
    assert_eq!(err.message.as_deref(), Some("m"));
    assert_eq!(err.extra["errorDescription"], "d");
    assert_eq!(err.to_json(), both);

    // A non-string errorMessage gives way to errorDescription.
    let null = br#"{"errorCode":"API_KEYS_BAD","errorMessage":null,"errorDescription":"d"}"#;
    let err = ApiError::from_json(null).unwrap();
    assert_eq!(err.message.as_deref(), Some("d"));
    assert!(err.extra.is_empty());
    assert_eq!(
        err.to_json(),
        br#"{"errorCode":"API_KEYS_BAD","errorMessage":"d"}"#
    );

    // No message at all.
    let bare = br#"{"errorCode":"API_KEYS_MISSING"}"#;
    let err = ApiError::from_json(bare).unwrap();
    assert_eq!(err, ApiError::new(ApiErrorCode::ApiKeysMissing));
    assert_eq!(err.to_json(), bare);

    // serde both ways.
    let err: ApiError =
        serde_json::from_str(r#"{"errorCode":"ACCOUNT_DEACTIVATED","errorDescription":"x"}"#)
            .unwrap();
    assert_eq!(
        err,
        ApiError::new(ApiErrorCode::AccountDeactivated).with_message("x")
    );
    assert_eq!(
        serde_json::to_string(&err).unwrap(),
        r#"{"errorCode":"ACCOUNT_DEACTIVATED","errorMessage":"x"}"#
    );
    let not_error = serde_json::from_str::<ApiError>(r#"{"id":"x"}"#).unwrap_err();
    assert!(not_error.to_string().starts_with("not an API error body"));
}

#[test]
fn api_error_display() {
    let not_found = ApiError::new(ApiErrorCode::VerificationNotFound);
    let table = [
        (
            not_found.clone().with_message("Verification not found"),
            "API error VERIFICATION_NOT_FOUND: Verification not found",
        ),
        (
            not_found
                .clone()
                .with_message("Verification not found.")
                .with_status(404),
            "API error VERIFICATION_NOT_FOUND: Verification not found (HTTP 404)",
        ),
        (
            not_found.clone().with_message("Please wait..."),
            "API error VERIFICATION_NOT_FOUND: Please wait...",
        ),
        (
            not_found.clone().with_status(404),
            "API error VERIFICATION_NOT_FOUND (HTTP 404)",
        ),
        (
            not_found.with_message("  "),
            "API error VERIFICATION_NOT_FOUND",
        ),
        (
            ApiError::new(ApiErrorCode::Unknown("TEAPOT".into())).with_status(418),
            "API error TEAPOT (HTTP 418)",
        ),
    ];
    for (err, expected) in table {
        assert_eq!(err.to_string(), expected);
    }

    // A std error, usable with `?` into Box<dyn Error>.
    let boxed: Box<dyn std::error::Error + Send + Sync> =
        Box::new(ApiError::new(ApiErrorCode::ApiKeysInvalid));
    assert_eq!(boxed.to_string(), "API error API_KEYS_INVALID");
    assert!(boxed.source().is_none());
}

// -------------------------------------------------------------------------------------------
// Hand-written readers: duplicates, unknown members, dates, and the fast path
// -------------------------------------------------------------------------------------------

/// `from_json` (fast path, falling back to serde_json), `serde_json::from_slice` and
/// `serde_json::from_value` must agree, result for result and error for error.
fn all_paths(input: &str) -> Result<VerificationResult, String> {
    let fast = cause_text(VerificationResult::from_json(input.as_bytes()));
    let slice =
        serde_json::from_slice::<VerificationResult>(input.as_bytes()).map_err(|e| e.to_string());
    assert_eq!(fast, slice, "from_json vs from_slice on {input}");
    if let Ok(value) = serde_json::from_str::<Value>(input) {
        let from_value = serde_json::from_value::<VerificationResult>(value);
        // Value keeps only the last of duplicate members, so it may accept what the text
        // rejects; when both succeed they agree.
        if let (Ok(a), Ok(b)) = (&fast, &from_value) {
            assert_eq!(a, b, "from_json vs from_value on {input}");
        }
    }
    fast
}

#[test]
fn duplicate_known_members_are_rejected_at_every_level() {
    let table = [
        (r#"{"id":"a","id":"b"}"#, "duplicate field `id`"),
        (
            r#"{"id":"a","platform":null,"platform":"WEB"}"#,
            "duplicate field `platform`",
        ),
        (
            r#"{"id":"a","startTime":"2020-04-10T11:44:40Z","startTime":"2020-04-10T11:44:40Z"}"#,
            "duplicate field `startTime`",
        ),
        (
            r#"{"id":"a","documentData":{},"documentData":{}}"#,
            "duplicate field `documentData`",
        ),
        (
            r#"{"id":"a","documentData":{"sex":"M","sex":"F"}}"#,
            "duplicate field `sex`",
        ),
        (
            r#"{"id":"a","documentData":{"dateOfBirth":"1964-12-30","dateOfBirth":null}}"#,
            "duplicate field `dateOfBirth`",
        ),
        (
            r#"{"id":"a","documentData":{"licenseClassDetails":{"B":{"from":"2001-05-04","from":"2001-05-04"}}}}"#,
            "duplicate field `from`",
        ),
        (
            r#"{"id":"a","documentData":{"licenseClassDetails":{"B":{"notes":"a","note":"b"}}}}"#,
            "duplicate field `notes`",
        ),
        (
            r#"{"id":"a","livenessFaceImage":{"contentType":null,"contentType":"image/png","content":""}}"#,
            "duplicate field `contentType`",
        ),
    ];
    for (input, expected) in table {
        let err = all_paths(input).unwrap_err();
        assert!(err.starts_with(expected), "{input}: {err}");
        assert!(err.contains(" at line 1 column "), "{err}");
    }
}

#[test]
fn unknown_members_keep_their_order_at_every_level() {
    let input = r#"{
        "z": 1, "id": "v1", "a": {"y": 2, "b": 3}, "m": [3, 2, 1],
        "documentData": {
            "q": "first", "sex": "F", "c": null, "b": true,
            "licenseClassDetails": { "B": { "zz": 0, "from": "2001-05-04", "aa": -1.5 } },
            "faceImage": { "w": 1, "content": "AQID", "h": 2, "contentType": "image/png", "d": 3 }
        },
        "livenessFaceImage": { "y": [], "content": "", "x": {} },
        "k": "last"
    }"#;
    let result = all_paths(input).unwrap();
    let keys = |map: &serde_json::Map<String, Value>| map.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&result.extra), ["z", "a", "m", "k"]);
    assert_eq!(keys(result.extra["a"].as_object().unwrap()), ["y", "b"]);
    let document = result.document_data.as_ref().unwrap();
    assert_eq!(keys(&document.extra), ["q", "c", "b"]);
    let b = &document.license_class_details.as_ref().unwrap()["B"];
    assert_eq!(keys(&b.extra), ["zz", "aa"]);
    assert_eq!(b.extra["aa"], json!(-1.5));
    let face = document.face_image.as_ref().unwrap();
    assert_eq!(keys(&face.extra), ["w", "h", "d"]);
    assert_eq!(face.content, [1, 2, 3]);
    assert_eq!(face.content_type.as_deref(), Some("image/png"));
    let liveness = result.liveness_face_image.as_ref().unwrap();
    assert_eq!(keys(&liveness.extra), ["y", "x"]);
    // Written back known members first, then the unknown ones in their order.
    let written = String::from_utf8(result.to_json()).unwrap();
    assert_eq!(
        written,
        concat!(
            r#"{"id":"v1","livenessFaceImage":{"content":"","y":[],"x":{}},"#,
            r#""documentData":{"sex":"F","#,
            r#""licenseClassDetails":{"B":{"from":"2001-05-04","zz":0,"aa":-1.5}},"#,
            r#""faceImage":{"contentType":"image/png","content":"AQID","w":1,"h":2,"d":3},"#,
            r#""q":"first","c":null,"b":true},"#,
            r#""z":1,"a":{"y":2,"b":3},"m":[3,2,1],"k":"last"}"#
        )
    );
}

#[test]
fn repeated_unknown_members_keep_the_first_place_and_the_last_value() {
    let result = all_paths(r#"{"x":1,"id":"v1","y":2,"x":3}"#).unwrap();
    assert_eq!(
        result.extra,
        json!({"x": 3, "y": 2}).as_object().unwrap().clone()
    );
    let keys: Vec<_> = result.extra.keys().collect();
    assert_eq!(keys, ["x", "y"]);
}

#[test]
fn date_forms_read_by_the_fast_path_and_by_chrono_agree() {
    use chrono::DateTime;

    let timestamps = [
        "2020-04-10T11:44:40Z",
        "2020-04-10t11:44:40z",
        "2020-04-10 11:44:40Z",
        "2020-04-10T13:44:40+02:00",
        "2020-04-10T11:44:40-00:00",
        "2020-04-10T11:44:40.250Z",
        "2020-04-10T11:44:40.123456789123Z",
        "2016-12-31T23:59:60Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2020-02-29T00:00:00Z",
    ];
    for text in timestamps {
        let expected = DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc);
        for field in ["startTime", "endTime"] {
            let input = format!(r#"{{"id":"v1","{field}":"{text}"}}"#);
            let result = all_paths(&input).unwrap();
            let got = if field == "startTime" {
                result.start_time
            } else {
                result.end_time
            };
            assert_eq!(got, Some(expected), "{input}");
        }
    }
    let dates = [
        "2020-04-10",
        "0000-01-01",
        "9999-12-31",
        "2020-02-29",
        "2020-4-10",
        "2020-04-1",
    ];
    for text in dates {
        let expected = NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
        let input = format!(
            r#"{{"id":"v1","documentData":{{"dateOfBirth":"{text}","dateOfExpiry":"{text}","dateOfIssue":"{text}","licenseClassDetails":{{"B":{{"from":"{text}","to":"{text}"}}}}}}}}"#
        );
        let result = all_paths(&input).unwrap();
        let document = result.document_data.unwrap();
        let b = &document.license_class_details.as_ref().unwrap()["B"];
        for got in [
            document.date_of_birth,
            document.date_of_expiry,
            document.date_of_issue,
            b.from,
            b.to,
        ] {
            assert_eq!(got, Some(expected), "{input}");
        }
    }
}

#[test]
fn invalid_dates_and_timestamps_name_the_field_on_every_path() {
    let table = [
        (
            r#"{"id":"v1","startTime":"2020-02-30T00:00:00Z"}"#,
            r#"invalid timestamp "2020-02-30T00:00:00Z" in startTime: input is out of range"#,
        ),
        (
            r#"{"id":"v1","endTime":"2020-04-10T24:00:00Z"}"#,
            r#"invalid timestamp "2020-04-10T24:00:00Z" in endTime: input is out of range"#,
        ),
        (
            r#"{"id":"v1","endTime":"2020-04-10T11:44:40"}"#,
            r#"invalid timestamp "2020-04-10T11:44:40" in endTime"#,
        ),
        (
            r#"{"id":"v1","documentData":{"licenseClassDetails":{"B":{"from":"2021-02-29"}}}}"#,
            r#"invalid date "2021-02-29" in from: input is out of range (expected YYYY-MM-DD) at line 1 column "#,
        ),
        (
            r#"{"id":"v1","documentData":{"dateOfIssue":"2020-04-10 "}}"#,
            r#"invalid date "2020-04-10 " in dateOfIssue: trailing input"#,
        ),
        (
            r#"{"id":"v1","documentData":{"dateOfBirth":"2021-02-29"}}"#,
            "invalid date in dateOfBirth: input is out of range",
        ),
        (
            r#"{"id":"v1","startTime":true}"#,
            "invalid type: boolean `true`, expected a string",
        ),
    ];
    for (input, expected) in table {
        let err = all_paths(input).unwrap_err();
        assert!(err.starts_with(expected), "{input}: {err}");
        assert!(!err.contains("2021-02-29") || !input.contains("dateOfBirth"));
    }
}

#[test]
fn inputs_the_fast_path_leaves_to_serde_json_read_the_same() {
    // Escapes, control characters, numbers, deep nesting, odd whitespace and invalid input:
    // every path agrees, result for result and error for error.
    let deep = |n: usize| format!(r#"{{"id":"v1","x":{}1{}}}"#, "[".repeat(n), "]".repeat(n));
    let inputs = [
        r#"{"id":"v\u0031","documentData":{"surname":"D\u00d6E","address":"a\/b\nc"}}"#.to_owned(),
        r#"{"id":"v1","livenessFaceImage":"\/9j\/2Q=="}"#.to_owned(),
        "{\"id\":\"v1\",\"documentData\":{\"surname\":\"tab\there\"}}".to_owned(),
        r#"{"id":"v1","n":[0,-0,1.5e3,18446744073709551616,-9223372036854775809]}"#.to_owned(),
        r#"{"id":"v1","n":1e400}"#.to_owned(),
        r#"{"id":"v1","n":01}"#.to_owned(),
        deep(125),
        deep(126),
        deep(127),
        " \r\n\t{ \"id\" : \"v1\" } \n".to_owned(),
        "{\"id\":\"v1\"}\u{a0}".to_owned(),
        r#"{"id":"v1",}"#.to_owned(),
        r#"{"id":"v1"}{}"#.to_owned(),
        r#"{"id":"v1","documentData":[]}"#.to_owned(),
        r#"{"id":"v1","nfcVerified":"true"}"#.to_owned(),
        r#"{"id":"v1","documentData":{"licenseClassDetails":{"B":{},"B":{"to":"2001-05-04"}}}}"#
            .to_owned(),
        r#"{"id":"v1","addressProofDocument":{"contentType":"application/pdf"}}"#.to_owned(),
        r#"{"id":"v1","addressProofDocument":"%PDF"}"#.to_owned(),
    ];
    let read: Vec<bool> = inputs
        .iter()
        .map(|input| all_paths(input).is_ok())
        .collect();
    let expected = [
        true, true, false, true, false, false, true, true, false, true, false, false, false, false,
        false, true, false, false,
    ];
    assert_eq!(read, expected);

    let result = all_paths(&inputs[0]).unwrap();
    assert_eq!(result.id, "v1");
    let document = result.document_data.unwrap();
    assert_eq!(document.surname.as_deref(), Some("DÖE"));
    assert_eq!(document.address.as_deref(), Some("a/b\nc"));

    // Not UTF-8: serde_json's error, with its position.
    let err = cause_text(VerificationResult::from_json(b"{\"id\":\"v\xff1\"}")).unwrap_err();
    let slice_err =
        serde_json::from_slice::<VerificationResult>(b"{\"id\":\"v\xff1\"}").unwrap_err();
    assert_eq!(err, slice_err.to_string());
}

/// `from_json`'s result with its error as the text of serde_json's error inside it (the crate's
/// error says "invalid json", its source says where and why).
fn cause_text(
    parsed: authenteq_export::Result<VerificationResult>,
) -> Result<VerificationResult, String> {
    parsed.map_err(|e| {
        assert_eq!(e.kind(), authenteq_export::ErrorKind::Json);
        std::error::Error::source(&e)
            .expect("serde_json's error")
            .to_string()
    })
}
