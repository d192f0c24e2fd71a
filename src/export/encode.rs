//! Writing exports: the multipart and JSON formats, from a result JSON and its files. Used for
//! the sample corpus, the tests and the local emulator of the API.

use std::io::{self, Write};

use base64::Engine as _;
use serde_json::{Map, Value};

use super::files::FileKind;
use crate::error::{Error, ErrorKind, Result};
use crate::multipart::{form_data_disposition, Boundary, MultipartWriter};

/// A file to put into an export.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingFile<'a> {
    /// What the file is; gives its part or field name.
    pub kind: &'a FileKind,
    /// Its content type, such as `image/jpeg`.
    pub content_type: &'a str,
    /// Its bytes.
    pub bytes: &'a [u8],
}

impl OutgoingFile<'_> {
    fn filename(&self) -> String {
        let name = self.kind.part_name();
        match super::files::extension_for(self.content_type) {
            Some(ext) => format!("{name}.{ext}"),
            None => name.into_owned(),
        }
    }
}

/// Writes a multipart export as the API does: the `result` part (`result.json`,
/// `application/json`), then one part per file, named by its kind, with a file name and its
/// content type. Returns the writer; the body's `Content-Type` is
/// `boundary.content_type("mixed")`.
///
/// # Errors
///
/// I/O errors from `out`, and `InvalidData` when a file contains the delimiter.
pub fn write_multipart_export<W: Write>(
    out: W,
    boundary: Boundary,
    result_json: &[u8],
    files: &[OutgoingFile<'_>],
) -> io::Result<W> {
    let mut w = MultipartWriter::new(out, boundary);
    w.write_part(
        &[
            (
                "Content-Disposition",
                &form_data_disposition("result", Some("result.json")),
            ),
            ("Content-Type", "application/json"),
        ],
        result_json,
    )?;
    for file in files {
        let name = file.kind.part_name();
        w.write_part(
            &[
                (
                    "Content-Disposition",
                    &form_data_disposition(&name, Some(&file.filename())),
                ),
                ("Content-Type", file.content_type),
            ],
            file.bytes,
        )?;
    }
    w.finish()
}

/// Builds a JSON export: the result with each file embedded where the API puts it
/// (`livenessFaceImage` after `endTime`, document images inside their `documentData*`,
/// `addressProofDocument` and unknown kinds at the end), as
/// `{"contentType": ..., "content": <base64>}`, pretty-printed with a final newline.
///
/// It holds the whole export in memory: meant for tests and the emulator, not for large files.
///
/// # Errors
///
/// [`ErrorKind::Json`] when `result_json` is not a JSON object.
pub fn json_export(result_json: &[u8], files: &[OutgoingFile<'_>]) -> Result<Vec<u8>> {
    let mut root: Map<String, Value> = serde_json::from_slice(result_json)
        .map_err(|e| Error::with_source(ErrorKind::Json, "the result is not a json object", e))?;
    for file in files {
        let mut embedded = Map::new();
        embedded.insert("contentType".into(), file.content_type.into());
        embedded.insert(
            "content".into(),
            base64::engine::general_purpose::STANDARD
                .encode(file.bytes)
                .into(),
        );
        embed_file(&mut root, file.kind, Value::Object(embedded));
    }
    let mut out = serde_json::to_vec_pretty(&Value::Object(root))
        .map_err(|e| Error::with_source(ErrorKind::Json, "", e))?;
    out.push(b'\n');
    Ok(out)
}

/// Puts a file object where the JSON export carries a file of `kind`: inside its `documentData*`
/// (under the field name without the slot suffix), `livenessFaceImage` right after `endTime`,
/// anything else at the end.
pub(super) fn embed_file(root: &mut Map<String, Value>, kind: &FileKind, embedded: Value) {
    let name = kind.part_name().into_owned();
    match kind.document() {
        Some(slot) => {
            let document = root
                .entry(slot.field_name())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(document) = document {
                // Inside the document the field has no slot suffix.
                let field = name.trim_end_matches(slot.suffix()).to_owned();
                document.insert(field, embedded);
            }
        }
        None if *kind == FileKind::LivenessFaceImage => {
            let at = root
                .keys()
                .position(|k| k == "endTime")
                .map_or(root.len(), |i| i + 1);
            root.shift_insert(at, name, embedded);
        }
        None => {
            root.insert(name, embedded);
        }
    }
}
