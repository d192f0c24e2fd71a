//! `inspect`: stream through the export, writing nothing; summarise its parts.

use std::path::Path;

use authenteq_export::export::{blocking::Export, ExportItem};
use sha2::{Digest, Sha256};

use crate::input::Input;
use crate::output::{result_value, Done, Failure, PartSummary, Summary};

pub fn run(input: &Path, content_type: Option<&str>, hash: bool) -> Result<Done, Failure> {
    let source = Input::open(input)?;
    let progress = source.progress();
    let mut export = Export::new(source, content_type)?;
    let mut parts = Vec::new();
    let mut result = None;
    while let Some(item) = export.next_item()? {
        let part = match item {
            ExportItem::Result {
                result: typed,
                json,
            } => {
                result = Some(result_value(&typed)?);
                PartSummary {
                    name: "result".to_owned(),
                    filename: Some("result.json".to_owned()),
                    content_type: Some("application/json".to_owned()),
                    size: json.len() as u64,
                    sha256: hash.then(|| hex(&Sha256::digest(&json))),
                    ..PartSummary::default()
                }
            }
            ExportItem::File(mut file) => {
                let info = file.info().clone();
                let mut hasher = hash.then(Sha256::new);
                let mut size = 0u64;
                while let Some(chunk) = file.chunk()? {
                    size += chunk.len() as u64;
                    if let Some(h) = hasher.as_mut() {
                        h.update(&chunk);
                    }
                }
                PartSummary {
                    name: info.name().into_owned(),
                    filename: info.filename().map(str::to_owned),
                    content_type: info.content_type().map(str::to_owned),
                    size,
                    sha256: hasher.map(|h| hex(&h.finalize())),
                    ..PartSummary::default()
                }
            }
        };
        parts.push(part);
    }
    progress.finish();
    Ok(Done {
        summary: Summary {
            format: export.format().map_or("unknown", |f| f.name()),
            result,
            parts,
        },
        bytes_read: export.bytes_read(),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
