//! `split`: the library's `save::blocking::save_export` into DIR, and its summary.

use std::path::Path;

use authenteq_export::export::blocking::Export;
use authenteq_export::save::{blocking::save_export, OutputDir};

use crate::input::Input;
use crate::output::{saved_parts, Done, Failure, Summary};

pub fn run(input: &Path, content_type: Option<&str>, out: &Path) -> Result<Done, Failure> {
    let source = Input::open(input)?;
    let progress = source.progress();
    let dir = OutputDir::create(out)?;
    let mut export = Export::new(source, content_type)?;
    let saved = save_export(&mut export, &dir)?;
    progress.finish();
    let summary = Summary {
        format: export.format().map_or("unknown", |f| f.name()),
        result: saved
            .result()
            .map(crate::output::result_value)
            .transpose()?,
        parts: saved_parts(&saved),
    };
    Ok(Done {
        summary,
        bytes_read: export.bytes_read(),
    })
}
