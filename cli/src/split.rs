//! `split`: the library's `save::blocking::save_export` into DIR, and its summary; with
//! `--encrypt-to`, the library's `store::store_export` into DIR as a store (`DIR/ID/`), each
//! file encrypted as it streams.

use std::io::{self, Read};
use std::path::Path;

use authenteq_export::export::blocking::Export;
use authenteq_export::export::VerificationId;
use authenteq_export::save::{blocking::save_export, OutputDir, RESULT_JSON};
use authenteq_export::store::{store_export, Committed, Recipients, Sink, Staging};
use bytes::Bytes;

use crate::input::Input;
use crate::output::{saved_parts, Done, Failure, Summary};

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
    let sink = crate::encrypt::encrypted_folder(options.out, options.file_mode, recipients)?;
    let runtime = crate::output::runtime(0)?;
    let committed = runtime.block_on(async {
        let mut staging = Peek::new(sink.stage(&id).await?);
        let stored = store_export(&mut export, &mut staging).await;
        match stored
            .map_err(Failure::from)
            .and_then(|()| staging.check_id(&id))
        {
            Ok(()) => Ok::<_, Failure>(staging.inner.commit().await?),
            Err(e) => {
                staging.inner.discard().await;
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

/// The most bytes of `result.json` kept to read its id: far over any result (the export's
/// limits cap it before this).
const MAX_RESULT_BYTES: usize = 16 << 20;

/// A staging that keeps a copy of `result.json` as it goes by, so that the result's id is
/// checked against `--id` before anything is committed.
struct Peek<T> {
    inner: T,
    in_result: bool,
    result: Vec<u8>,
}

impl<T: Staging> Peek<T> {
    fn new(inner: T) -> Self {
        Peek {
            inner,
            in_result: false,
            result: Vec::new(),
        }
    }

    /// The export's result names verification `id` (a PDF export has no result to check).
    fn check_id(&self, id: &VerificationId) -> Result<(), Failure> {
        if self.result.is_empty() {
            return Ok(());
        }
        let result: serde_json::Value = serde_json::from_slice(&self.result)?;
        match result["id"].as_str() {
            Some(theirs) if theirs != id.as_str() => Err(format!(
                "the export is verification {theirs:?}, not --id {:?}: nothing was stored",
                id.as_str()
            )
            .into()),
            _ => Ok(()),
        }
    }
}

impl<T: Staging> Staging for Peek<T> {
    async fn start_file(
        &mut self,
        name: &str,
        content_type: Option<&str>,
    ) -> authenteq_export::Result<()> {
        self.in_result = name == RESULT_JSON;
        self.inner.start_file(name, content_type).await
    }

    async fn write(&mut self, chunk: Bytes) -> authenteq_export::Result<()> {
        if self.in_result && self.result.len() + chunk.len() <= MAX_RESULT_BYTES {
            self.result.extend_from_slice(&chunk);
        }
        self.inner.write(chunk).await
    }

    async fn end_file(&mut self) -> authenteq_export::Result<()> {
        self.in_result = false;
        self.inner.end_file().await
    }

    async fn commit(self) -> authenteq_export::Result<Committed> {
        self.inner.commit().await
    }

    async fn discard(self) {
        self.inner.discard().await;
    }
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
