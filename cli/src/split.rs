//! `split`: the library's `save::blocking::save_export` into DIR, and its summary; with
//! `--encrypt-to`, the library's `store::store_export` into DIR as a store (`DIR/ID/`), each
//! file encrypted as it streams.

use std::io::{self, Read};
use std::path::Path;

use authenteq_export::export::blocking::Export;
use authenteq_export::export::VerificationId;
use authenteq_export::save::{blocking::save_export, OutputDir};
use authenteq_export::store::{store_export, Encrypted, FolderSink, Recipients, Sink, Staging};
use bytes::Bytes;

use crate::input::Input;
use crate::output::{saved_parts, Context, Done, Failure, Summary};

/// What `split` was asked for, but the input.
pub struct Options<'a> {
    pub content_type: Option<&'a str>,
    pub out: &'a Path,
    /// Show the result's personal fields in the summary.
    pub personal: bool,
    pub file_mode: Option<u32>,
    /// The verification's id, where an encrypted split stores it (`--id`).
    pub id: Option<&'a str>,
    /// Encrypt every file to these recipients (`--encrypt-to`).
    pub encrypt: Option<Recipients>,
}

pub fn run(input: &Path, options: &Options<'_>) -> Result<Done, Failure> {
    if let Some(recipients) = &options.encrypt {
        return run_encrypted(input, options, recipients);
    }
    if options.id.is_some() {
        return Err(
            "--id is for an encrypted split (with --encrypt-to or --recipients-file)".into(),
        );
    }
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

/// The bytes read at a time from the input of an encrypted split.
const CHUNK: usize = 256 << 10;

/// `split --encrypt-to`: stored into DIR as a [`FolderSink`] stores, `DIR/ID/<file>.age` and
/// `DIR/ID/manifest.json`, through [`Encrypted`]: no plaintext byte is written, and nothing is
/// visible before the export was read whole.
fn run_encrypted(
    input: &Path,
    options: &Options<'_>,
    recipients: &Recipients,
) -> Result<Done, Failure> {
    let id = options.id.ok_or(
        "an encrypted split stores the export as DIR/ID/<file>.age with DIR/ID/manifest.json: \
         give the verification's id with --id",
    )?;
    let id = VerificationId::new(id)?;
    let source = Input::open(input)?;
    let progress = source.progress();
    let chunks = futures_util::stream::iter(Chunks(source));
    let mut export = authenteq_export::export::Export::new(chunks, options.content_type)?;
    crate::destination::create_out_folder(options.out)?;
    let mut folder = FolderSink::create(options.out)?;
    if let Some(mode) = options.file_mode {
        folder = folder.file_mode(mode);
    }
    let sink = Encrypted::new(folder, recipients.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Context::new("cannot start the async runtime".to_owned(), e))?;
    let committed = runtime.block_on(async {
        let mut staging = sink.stage(&id).await?;
        match store_export(&mut export, &mut staging).await {
            Ok(()) => staging.commit().await,
            Err(e) => {
                staging.discard().await;
                Err(e)
            }
        }
    })?;
    progress.finish();
    Ok(crate::encrypt::summary(
        export.format().map_or("unknown", |f| f.name()),
        committed.manifest(),
        export.bytes_read(),
    ))
}

/// A reader as a stream of chunks for the async export (read on this thread: the CLI's
/// runtime has nothing else to run).
struct Chunks<R>(R);

impl<R: Read> Iterator for Chunks<R> {
    type Item = io::Result<Bytes>;

    fn next(&mut self) -> Option<io::Result<Bytes>> {
        let mut buf = vec![0u8; CHUNK];
        loop {
            return match self.0.read(&mut buf) {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some(Ok(Bytes::from(buf)))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Some(Err(e)),
            };
        }
    }
}
