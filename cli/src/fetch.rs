//! `fetch`: one verification with the library's `Client::save` into DIR (the same summary as
//! `split`), or many (`--ids`) with the library's `store::Batch` into a folder or an object
//! store, one JSON line per id. Credentials come from the environment.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use authenteq_export::client::{Client, Endpoint};
use authenteq_export::export::VerificationId;
use authenteq_export::save::OutputDir;
use authenteq_export::store::{fetch_into, Batch, Outcome, Recipients, Sink, Status, Summary};

use crate::destination::{with_sink, Destination};
use crate::output::{
    saved_parts, summary_result, with_causes, Context, Done, Failure, Summary as Printed,
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
    /// Show the result's personal fields in the summary.
    pub personal: bool,
    pub file_mode: Option<u32>,
    /// Encrypt every stored file to these recipients (`--encrypt-to`): then it is stored as
    /// `fetch --ids` stores, `OUT/ID/<file>.age` with `OUT/ID/manifest.json`.
    pub encrypt: Option<Recipients>,
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
    /// The permission bits of the files written into a folder (default 0600).
    pub file_mode: Option<u32>,
    /// Encrypt every stored file to these recipients (`--encrypt-to`).
    pub encrypt: Option<Recipients>,
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
    let id = VerificationId::new(request.id)?;
    crate::destination::create_out_folder(request.out)?;
    if let Some(recipients) = &request.encrypt {
        return run_encrypted(request, &client, &id, recipients);
    }
    let mut dir = OutputDir::open(request.out)?;
    if let Some(mode) = request.file_mode {
        dir = dir.file_mode(mode);
    }
    let runtime = crate::output::runtime(0)?;
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
            result: saved
                .result()
                .map(|r| summary_result(r, request.personal))
                .transpose()?,
            parts: saved_parts(saved),
        },
        bytes_read: fetched.bytes_read(),
    })
}

/// `fetch ID --encrypt-to`: the library's `store::fetch_into` into the folder, each file
/// encrypted as it streams (no plaintext written), as `fetch --ids` stores.
fn run_encrypted(
    request: &Request<'_>,
    client: &Client,
    id: &VerificationId,
    recipients: &Recipients,
) -> Result<Done, Failure> {
    let sink = crate::encrypt::encrypted_folder(request.out, request.file_mode, recipients)?;
    let runtime = crate::output::runtime(0)?;
    let stored = runtime.block_on(fetch_into(client, request.endpoint, id, &sink))?;
    Ok(crate::encrypt::summary(
        request.endpoint.name(),
        stored.manifest(),
        stored.bytes_read(),
    ))
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

/// One id of a line of `--ids`: the text before any `#` (a comment), trimmed; `None` for a
/// line with no id.
fn id_of(line: &str) -> Option<&str> {
    let id = line.split('#').next().unwrap_or_default().trim();
    (!id.is_empty()).then_some(id)
}

/// The ids of `--ids`, one a line (blank lines and `#` comments, whole-line or trailing,
/// skipped), and how many there are when the list is a file (counted first, for the
/// display's total); a line that cannot be read ends the list with an error line on standard
/// error.
pub(crate) type Ids = Box<dyn Iterator<Item = String> + Send>;

pub(crate) fn read_ids(path: &Path) -> Result<(Ids, Option<u64>), Failure> {
    let open = || {
        std::fs::File::open(path)
            .map(io::BufReader::new)
            .map_err(|e| Context::new(format!("cannot open the id list {}", path.display()), e))
    };
    let (reader, total): (Box<dyn BufRead + Send>, _) = if path == Path::new("-") {
        (Box::new(io::BufReader::new(io::stdin())), None)
    } else {
        let mut total = 0u64;
        for line in open()?.lines() {
            let line = line.map_err(|e| {
                Context::new(format!("cannot read the id list {}", path.display()), e)
            })?;
            total += u64::from(id_of(&line).is_some());
        }
        (Box::new(open()?), Some(total))
    };
    let ids = reader
        .lines()
        .map_while(|line| match line {
            Ok(line) => Some(line),
            Err(e) => {
                eprintln!("error: reading the id list: {e}");
                None
            }
        })
        .filter_map(|line| id_of(&line).map(str::to_owned));
    Ok((Box::new(ids), total))
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
        Err(failure) if failure.is::<Stopped>() => (ExitCode::FAILURE, 0),
        Err(failure) => {
            crate::output::report(&*failure);
            (ExitCode::FAILURE, 0)
        }
    }
}

/// A batch stopped before its first id, its line already printed.
#[derive(Debug)]
struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped before the first id")
    }
}

impl std::error::Error for Stopped {}

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
    let (ids, total) = read_ids(bulk.ids)?;
    let out = Destination::parse(bulk.out)?.open_with_mode(bulk.file_mode)?;
    let runtime = crate::output::runtime(
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
    )?;
    let mut batch = Batch::new().concurrency(bulk.concurrency);
    if let Some(rate) = bulk.rate {
        batch = batch.rate(rate);
    }
    let started = Instant::now();
    let checked = runtime.block_on(out.check());
    if let Err(e) = checked {
        // Nothing was fetched: the one line says what to fix.
        let why = with_causes(&*e);
        eprintln!("error: stopped before the first id: {why}");
        print_summary_json(&Summary::default(), None, Some(why));
        return Err(Stopped.into());
    }
    let progress = Progress::new(total);
    let (summary, aborted) = runtime.block_on(async {
        let aborted = out.abort_stale(abort_older_than).await;
        let summary = with_sink!(&out, bulk.encrypt.as_ref(), |sink| {
            drive(&batch, &client, bulk.endpoint, &sink, ids, &progress).await
        });
        (summary, aborted)
    });
    progress.finish();
    print_summary_json(&summary, aborted, None);
    eprintln!("{}", human_summary(&summary, bulk, started.elapsed()));
    Ok(summary)
}

async fn drive<K: Sink + Clone + 'static>(
    batch: &Batch,
    client: &Client,
    endpoint: Endpoint,
    sink: &K,
    ids: impl Iterator<Item = String>,
    progress: &Progress,
) -> Summary {
    batch
        .run(client, endpoint, sink, ids, |outcome| {
            progress.record(outcome);
            progress.print(&outcome_json(outcome).to_string());
        })
        .await
}

fn print_summary_json(summary: &Summary, aborted_uploads: Option<usize>, stopped: Option<String>) {
    let line = serde_json::json!({
        "summary": {
            "stored": summary.stored,
            "skipped": summary.skipped,
            "failed": summary.failed,
            "duplicates": summary.duplicates,
            "bytes": summary.bytes,
            "stopped": stopped.or_else(|| summary.stopped.as_ref().map(|e| with_causes(e))),
            "abortedUploads": aborted_uploads,
        }
    });
    let mut out = io::stdout().lock();
    // A closed standard output (`| head`) is not a reason to fail.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// The one line on standard error that ends `fetch --ids`: the counts, and why the exit
/// status is not 0 when it is not; a stop names what stopped it and what to do.
fn human_summary(summary: &Summary, bulk: &Bulk<'_>, took: Duration) -> String {
    let done = summary.stored + summary.skipped + summary.failed;
    let mut counts = format!(
        "{} stored ({}), {} skipped, {} failed",
        summary.stored,
        human_bytes(summary.bytes),
        summary.skipped,
        summary.failed
    );
    if summary.duplicates > 0 {
        counts.push_str(&format!(", {} duplicate", summary.duplicates));
    }
    if let Some(stopped) = &summary.stopped {
        let why = with_causes(stopped);
        let what = if stopped.kind() == authenteq_export::ErrorKind::Api {
            format!(
                "the API at {} refused the credentials: {why}; check {CLIENT_ID_VAR} and \
                 {CLIENT_SECRET_VAR}",
                bulk.client
                    .base_url
                    .unwrap_or(authenteq_export::client::DEFAULT_BASE_URL)
            )
        } else if stopped.kind() == authenteq_export::ErrorKind::Storage {
            format!(
                "the store {} failed: {why}; check the AWS_* variables (AWS_ACCESS_KEY_ID, \
                 AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT...)",
                bulk.out
            )
        } else {
            why
        };
        return if done == 0 {
            format!("error: stopped before the first id: {what}")
        } else {
            format!("error: stopped after {done} ids ({counts}): {what}")
        };
    }
    let line = format!(
        "done: {} ids in {:.1} s: {counts}",
        done + summary.duplicates,
        took.as_secs_f64()
    );
    if summary.failed > 0 {
        let ids = if summary.failed == 1 { "id" } else { "ids" };
        format!(
            "{line}; exit status 1: {} {ids} failed (their \"error\" is in their line on \
             standard output)",
            summary.failed
        )
    } else {
        line
    }
}

fn human_bytes(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}

fn outcome_json(outcome: &Outcome) -> serde_json::Value {
    let mut line = serde_json::json!({
        "id": outcome.id(),
        "status": outcome.status().name(),
    });
    if let Some(error) = outcome.error() {
        line["error"] = with_causes(error).into();
    } else if outcome.status() != Status::Duplicate {
        line["files"] = outcome.files().into();
        line["bytes"] = outcome.bytes().into();
        line["attempts"] = outcome.attempts().into();
    }
    line
}

/// The live display on a terminal (standard error): ids done of the total (when the list is
/// a file) with their rate and the time left, bytes stored with their rate, and failures.
/// The JSON lines go to standard output through [`Progress::print`], which takes the
/// display away while a line is written, so the two never tear into each other.
struct Progress {
    bars: Option<(indicatif::MultiProgress, [indicatif::ProgressBar; 2])>,
}

impl Progress {
    fn new(total: Option<u64>) -> Progress {
        if !io::stderr().is_terminal() {
            return Progress { bars: None };
        }
        let multi = indicatif::MultiProgress::new();
        let line = |template: &str, len: Option<u64>| {
            let bar = multi.add(match len {
                Some(len) => indicatif::ProgressBar::new(len),
                None => indicatif::ProgressBar::new_spinner(),
            });
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        };
        let ids = match total {
            Some(total) => line(
                "{spinner} ids: {pos}/{len} done ({per_sec}, {eta} left) {wide_msg}",
                Some(total),
            ),
            None => line("{spinner} ids: {pos} done ({per_sec}) {wide_msg}", None),
        };
        let bytes = line("  stored: {bytes} ({bytes_per_sec})", None);
        Progress {
            bars: Some((multi, [ids, bytes])),
        }
    }

    fn record(&self, outcome: &Outcome) {
        let Some((_, [ids, bytes])) = &self.bars else {
            return;
        };
        ids.inc(1);
        match outcome.status() {
            Status::Stored => bytes.inc(outcome.bytes()),
            Status::Failed => ids.set_message(format!("last failed: {}", outcome.id())),
            _ => {}
        }
    }

    /// Writes `line` and a newline to standard output, the display hidden meanwhile.
    fn print(&self, line: &str) {
        let write = || {
            let mut out = io::stdout().lock();
            // A closed standard output (`| head`) is not a reason to stop storing.
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        };
        match &self.bars {
            Some((multi, _)) => multi.suspend(write),
            None => write(),
        }
    }

    /// Takes the display away: the summary line takes its place.
    fn finish(&self) {
        if let Some((multi, bars)) = &self.bars {
            for bar in bars {
                bar.finish_and_clear();
            }
            let _ = multi.clear();
        }
    }
}
