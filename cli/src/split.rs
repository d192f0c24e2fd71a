//! `split`: the library's `save::blocking::save_export` into DIR, and its summary.

use std::path::Path;

use authenteq_export::export::blocking::Export;
use authenteq_export::save::{blocking::save_export, OutputDir};

use crate::input::Input;
use crate::output::{saved_parts, Done, Failure, Summary};

/// What `split` was asked for, but the input.
pub struct Options<'a> {
    pub content_type: Option<&'a str>,
    pub out: &'a Path,
    /// Show the result's personal fields in the summary.
    pub personal: bool,
    pub file_mode: Option<u32>,
}

pub fn run(input: &Path, options: &Options<'_>) -> Result<Done, Failure> {
    let source = Input::open(input)?;
    let progress = source.progress();
    // The format first: a body that is no export leaves no folder behind.
    let mut export = Export::new(source, options.content_type)?;
    crate::destination::create_out_folder(options.out)?;
    let mut dir = OutputDir::open(options.out)?;
    if let Some(mode) = options.file_mode {
        dir = dir.file_mode(mode);
    }
    let saved = save_export(&mut export, &dir)?;
    progress.finish();
    let summary = Summary {
        format: export.format().map_or("unknown", |f| f.name()),
        result: saved
            .result()
            .map(|r| crate::output::summary_result(r, options.personal))
            .transpose()?,
        parts: saved_parts(&saved),
    };
    Ok(Done {
        summary,
        bytes_read: export.bytes_read(),
    })
}
