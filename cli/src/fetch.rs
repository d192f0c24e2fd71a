//! `fetch`: one verification with the library's `Client::save` into DIR (the same summary as
//! `split`), or many (`--ids`) with the library's `store::Batch` into a folder or an object
//! store, one JSON line per id. Credentials come from the environment.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use authenteq_export::client::{Client, Endpoint};
use authenteq_export::save::OutputDir;
use authenteq_export::store::{Batch, Outcome, Sink, Status, Summary};

use crate::destination::{Destination, Opened};
use crate::output::{
    result_value, saved_parts, with_causes, Context, Done, Failure, Summary as Printed,
};

/// The environment variables that hold the API keys (never flags: flags show in `ps`).
pub const CLIENT_ID_VAR: &str = "AUTHENTEQ_CLIENT_ID";
pub const CLIENT_SECRET_VAR: &str = "AUTHENTEQ_CLIENT_SECRET";

/// How to reach the API.
#[derive(Clone, Copy)]
pub struct ClientOptions<'a> {
    pub base_url: Option<&'a str>,
    pub retries: Option<u32>,
    pub connect_timeout: Option<f64>,
    pub read_timeout: Option<f64>,
    pub attempt_timeout: Option<f64>,
    pub max_body_bytes: Option<u64>,
    pub max_file_bytes: Option<u64>,
    pub allow_insecure_http: bool,
}

/// What `fetch ID` was asked for.
pub struct Request<'a> {
    pub id: &'a str,
    pub endpoint: Endpoint,
    pub out: &'a Path,
    pub client: ClientOptions<'a>,
}

/// What `fetch --ids` was asked for.
pub struct Bulk<'a> {
    pub ids: &'a Path,
    pub endpoint: Endpoint,
    pub out: &'a str,
    pub concurrency: usize,
    pub rate: Option<f64>,
    /// Unfinished uploads older than this many seconds are aborted at start (S3 only).
    pub abort_older_than: f64,
    pub client: ClientOptions<'a>,
}

fn env(name: &str) -> Result<String, Failure> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => Err(format!("{name} is not set: fetch reads the API keys from {CLIENT_ID_VAR} and {CLIENT_SECRET_VAR}").into()),
    }
}

fn seconds(flag: &str, secs: f64) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{flag} takes a positive number of seconds").into())
}

fn client(options: &ClientOptions<'_>) -> Result<Client, Failure> {
    let mut builder = Client::builder().credentials(env(CLIENT_ID_VAR)?, env(CLIENT_SECRET_VAR)?);
    if let Some(url) = options.base_url {
        builder = builder.base_url(url);
    }
    if let Some(retries) = options.retries {
        builder = builder.retries(retries);
    }
    if let Some(secs) = options.connect_timeout {
        builder = builder.connect_timeout(seconds("--connect-timeout", secs)?);
    }
    if let Some(secs) = options.read_timeout {
        builder = builder.read_timeout(seconds("--read-timeout", secs)?);
    }
    if let Some(secs) = options.attempt_timeout {
        builder = builder.attempt_timeout(seconds("--attempt-timeout", secs)?);
    }
    if let Some(max) = options.max_body_bytes {
        builder = builder.max_body_bytes(max);
    }
    if let Some(max) = options.max_file_bytes {
        builder = builder.max_file_bytes(max);
    }
    builder = builder.allow_insecure_http(options.allow_insecure_http);
    Ok(builder.build()?)
}

pub fn run(request: &Request<'_>) -> Result<Done, Failure> {
    let client = client(&request.client)?;
    authenteq_export::export::VerificationId::new(request.id)?;
    let dir = OutputDir::create(request.out)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Context::new("cannot start the async runtime".to_owned(), e))?;
    let bar = progress_bar();
    let on_bytes = {
        let bar = bar.clone();
        move |got: u64, total: Option<u64>| {
            if let Some(bar) = &bar {
                if let Some(total) = total {
                    bar.set_length(total);
                }
                bar.set_position(got);
            }
        }
    };
    let fetched =
        runtime.block_on(client.save_with_progress(request.endpoint, request.id, &dir, on_bytes));
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let fetched = fetched?;
    let saved = fetched.saved();
    Ok(Done {
        summary: Printed {
            format: fetched.format().map_or("unknown", |f| f.name()),
            result: saved.result().map(result_value).transpose()?,
            parts: saved_parts(saved),
        },
        bytes_read: fetched.bytes_read(),
    })
}

/// A bar of bytes received, on a terminal only.
fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec}")
    {
        bar.set_style(style);
    }
    Some(bar)
}

/// The ids of `--ids`, one a line, blank lines skipped; a line that cannot be read ends the
/// list with an error line on standard error.
fn read_ids(path: &Path) -> Result<Box<dyn Iterator<Item = String> + Send>, Failure> {
    let reader: Box<dyn BufRead + Send> = if path == Path::new("-") {
        Box::new(io::BufReader::new(io::stdin()))
    } else {
        let file = std::fs::File::open(path)
            .map_err(|e| Context::new(format!("cannot open the id list {}", path.display()), e))?;
        Box::new(io::BufReader::new(file))
    };
    Ok(Box::new(
        reader
            .lines()
            .map_while(|line| match line {
                Ok(line) => Some(line),
                Err(e) => {
                    eprintln!("error: reading the id list: {e}");
                    None
                }
            })
            .map(|line| line.trim().to_owned())
            .filter(|line| !line.is_empty()),
    ))
}

/// Runs `fetch --ids`; the exit status and the bytes stored.
pub fn run_bulk(bulk: &Bulk<'_>) -> (ExitCode, u64) {
    match bulk_inner(bulk) {
        Ok(summary) => {
            let ok = summary.failed == 0 && summary.stopped.is_none();
            let code = if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
            (code, summary.bytes)
        }
        Err(failure) => {
            crate::output::report(&*failure);
            (ExitCode::FAILURE, 0)
        }
    }
}

fn bulk_inner(bulk: &Bulk<'_>) -> Result<Summary, Failure> {
    if bulk.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return Err("--rate takes a positive number of downloads a second".into());
    }
    if bulk.concurrency == 0 {
        return Err("--concurrency takes a positive number".into());
    }
    let abort_older_than = Duration::try_from_secs_f64(bulk.abort_older_than)
        .map_err(|_| "--abort-older-than takes a number of seconds, 0 or more")?;
    let client = client(&bulk.client)?;
    let out = Destination::parse(bulk.out)?.open()?;
    let ids = read_ids(bulk.ids)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Context::new("cannot start the async runtime".to_owned(), e))?;
    let mut batch = Batch::new().concurrency(bulk.concurrency);
    if let Some(rate) = bulk.rate {
        batch = batch.rate(rate);
    }
    let summary = runtime.block_on(async {
        let aborted = out.abort_stale(abort_older_than).await;
        match &out {
            Opened::Folder(sink) => drive(&batch, &client, bulk.endpoint, sink, ids, aborted).await,
            Opened::Objects { sink, .. } => {
                drive(&batch, &client, bulk.endpoint, sink, ids, aborted).await
            }
        }
    });
    if let Some(stopped) = &summary.stopped {
        eprintln!("error: stopped: {}", with_causes(stopped));
    }
    Ok(summary)
}

async fn drive<K: Sink + Clone + 'static>(
    batch: &Batch,
    client: &Client,
    endpoint: Endpoint,
    sink: &K,
    ids: impl Iterator<Item = String>,
    aborted_uploads: Option<usize>,
) -> Summary {
    let progress = Progress::new();
    let stdout = io::stdout();
    let summary = batch
        .run(client, endpoint, sink, ids, |outcome| {
            progress.record(outcome);
            let mut line = outcome_json(outcome).to_string();
            line.push('\n');
            let mut out = stdout.lock();
            // A closed standard output (`| head`) is not a reason to stop storing.
            let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
        })
        .await;
    progress.finish();
    let line = serde_json::json!({
        "summary": {
            "stored": summary.stored,
            "skipped": summary.skipped,
            "failed": summary.failed,
            "bytes": summary.bytes,
            "stopped": summary.stopped.as_ref().map(|e| with_causes(e)),
            "abortedUploads": aborted_uploads,
        }
    });
    let mut out = stdout.lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    summary
}

fn outcome_json(outcome: &Outcome) -> serde_json::Value {
    let mut line = serde_json::json!({
        "id": outcome.id(),
        "status": outcome.status().name(),
    });
    if let Some(error) = outcome.error() {
        line["error"] = with_causes(error).into();
    } else {
        line["files"] = outcome.files().into();
        line["bytes"] = outcome.bytes().into();
        line["attempts"] = outcome.attempts().into();
    }
    line
}

/// The multi-line display on a terminal: ids done (with their rate), bytes stored (with
/// theirs), errors.
struct Progress {
    bars: Option<(indicatif::MultiProgress, [indicatif::ProgressBar; 3])>,
}

impl Progress {
    fn new() -> Progress {
        if !io::stderr().is_terminal() {
            return Progress { bars: None };
        }
        let multi = indicatif::MultiProgress::new();
        let line = |template: &str| {
            let bar = multi.add(indicatif::ProgressBar::new_spinner());
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        };
        let ids = line("{spinner} ids: {pos} done ({per_sec}) {msg}");
        let bytes = line("  stored: {bytes} ({bytes_per_sec})");
        let errors = line("  failed: {pos} {msg}");
        Progress {
            bars: Some((multi, [ids, bytes, errors])),
        }
    }

    fn record(&self, outcome: &Outcome) {
        let Some((_, [ids, bytes, errors])) = &self.bars else {
            return;
        };
        ids.inc(1);
        match outcome.status() {
            Status::Stored => bytes.inc(outcome.bytes()),
            Status::Failed => {
                errors.inc(1);
                if let Some(e) = outcome.error() {
                    errors.set_message(format!("last: {e}"));
                }
            }
            _ => {}
        }
    }

    fn finish(&self) {
        if let Some((multi, bars)) = &self.bars {
            for bar in bars {
                bar.finish();
            }
            let _ = multi.clear();
        }
    }
}
