//! `split`: the library's `save::blocking::save_export` into DIR, and its summary.

use std::path::Path;

use authenteq_export::export::blocking::Export;
use authenteq_export::save::{blocking::save_export, Outcome, OutputDir, RESULT_JSON};

use crate::input::Input;
use crate::output::{result_value, Done, Failure, PartSummary, Summary};

pub fn run(input: &Path, content_type: Option<&str>, out: &Path) -> Result<Done, Failure> {
    let source = Input::open(input)?;
    let progress = source.progress();
    let dir = OutputDir::create(out)?;
    let mut export = Export::new(source, content_type)?;
    let saved = save_export(&mut export, &dir)?;
    progress.finish();
    let mut parts = Vec::with_capacity(saved.files().len());
    for file in saved.files() {
        let s = file.saved();
        let (outcome, wanted) = match s.outcome() {
            Outcome::AlreadyThere => (Some("alreadyThere"), None),
            Outcome::Renamed { wanted } => (Some("renamed"), Some(wanted.clone())),
            _ => (None, None),
        };
        parts.push(PartSummary {
            name: file.part_name().into_owned(),
            filename: match file.info() {
                Some(info) => info.filename().map(str::to_owned),
                None => Some(RESULT_JSON.to_owned()),
            },
            content_type: file.content_type().map(str::to_owned),
            size: s.size(),
            sha256: Some(s.sha256_hex()),
            file: Some(s.name().to_owned()),
            outcome,
            wanted,
        });
    }
    let summary = Summary {
        format: export.format().map_or("unknown", |f| f.name()),
        result: saved.result().map(result_value).transpose()?,
        parts,
    };
    Ok(Done {
        summary,
        bytes_read: export.bytes_read(),
    })
}
