//! The PDF export of a verification stored without `result.pdf`: a one-page summary of its
//! result, with no images and no personal data beyond what identifies the verification.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};
use serde_json::{Map, Value};

/// Members of the result shown in the summary, with their labels.
const TOP: [(&str, &str); 4] = [
    ("id", "Verification id"),
    ("platform", "Platform"),
    ("startTime", "Started"),
    ("endTime", "Ended"),
];

/// Members of each `documentData*` shown, with their labels.
const DOCUMENT: [(&str, &str); 4] = [
    ("documentType", "type"),
    ("issuingCountry", "issued by"),
    ("dateOfIssue", "issued on"),
    ("dateOfExpiry", "expires on"),
];

/// Whether a top-level member reads as a status or a decision (`status`, `decision`,
/// `nfcVerified`, `amlResult`...).
fn is_status(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["status", "decision", "verified", "result", "outcome"]
        .iter()
        .any(|word| key.contains(word))
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The summary's lines of text.
pub(crate) fn summary_lines(result: &Map<String, Value>) -> Vec<String> {
    let mut lines = vec!["Authenteq verification result".to_owned(), String::new()];
    for (key, label) in TOP {
        if let Some(value) = result.get(key).and_then(scalar) {
            lines.push(format!("{label}: {value}"));
        }
    }
    for (key, value) in result {
        if is_status(key) {
            if let Some(value) = scalar(value) {
                lines.push(format!("{key}: {value}"));
            }
        }
    }
    for (n, key) in ["documentData", "documentData2", "documentData3"]
        .iter()
        .enumerate()
    {
        let Some(Value::Object(document)) = result.get(*key) else {
            continue;
        };
        let details: Vec<String> = DOCUMENT
            .iter()
            .filter_map(|(field, label)| {
                document
                    .get(*field)
                    .and_then(scalar)
                    .map(|v| format!("{label} {v}"))
            })
            .collect();
        lines.push(format!("Document {}: {}", n + 1, details.join(", ")));
    }
    lines
}

/// Text as bytes of the standard fonts' WinAnsi encoding: Latin-1 stays, anything else is `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .take(100)
        .map(|c| match u32::from(c) {
            0x20..=0x7e | 0xa0..=0xff => c as u8,
            _ => b'?',
        })
        .collect()
}

/// A one-page A4 PDF (Helvetica, no images) of the result's summary.
pub(crate) fn summary_pdf(result: &Map<String, Value>) -> Vec<u8> {
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let page_id = Ref::new(3);
    let font = Ref::new(4);
    let contents = Ref::new(5);
    let font_name = Name(b"F1");

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids([page_id]).count(1);
    let mut page = pdf.page(page_id);
    page.media_box(Rect::new(0.0, 0.0, 595.0, 842.0))
        .parent(tree)
        .contents(contents);
    page.resources().fonts().pair(font_name, font);
    page.finish();
    pdf.type1_font(font)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));

    let mut content = Content::new();
    let mut y = 780.0;
    for (i, line) in summary_lines(result).iter().enumerate() {
        content.begin_text();
        content.set_font(font_name, if i == 0 { 16.0 } else { 11.0 });
        content.next_line(56.0, y);
        content.show(Str(&win_ansi(line)));
        content.end_text();
        y -= if i == 0 { 24.0 } else { 16.0 };
    }
    pdf.stream(contents, &content.finish());
    pdf.finish()
}
