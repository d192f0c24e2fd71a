//! What the tool prints: the JSON summary on standard output, `--stats` and errors (with their
//! whole cause chain, once) on standard error.

use std::error::Error;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Instant;

use authenteq_export::save::{Outcome, SavedExport, RESULT_JSON};
use serde::Serialize;

/// Why a subcommand failed: any error, reported with its causes.
pub type Failure = Box<dyn Error>;

/// A command's async runtime, with its timers and I/O: on the calling thread (`workers` 0), or
/// with that many worker threads.
pub fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, Failure> {
    let mut builder = if workers == 0 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(workers);
        builder
    };
    Ok(builder
        .enable_all()
        .build()
        .map_err(|e| Context::new("cannot start the async runtime".to_owned(), e))?)
}

/// An error with what was being done when it happened (`cannot open FILE`).
#[derive(Debug)]
pub struct Context {
    what: String,
    source: Box<dyn Error>,
}

impl Context {
    pub fn new(what: String, source: impl Into<Box<dyn Error>>) -> Self {
        Context {
            what,
            source: source.into(),
        }
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl Error for Context {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

/// Prints `error: <error>: <its source>: <that one's source>...` as one line.
pub fn report(error: &dyn Error) {
    let mut line = format!("error: {error}");
    let mut cause = error.source();
    while let Some(e) = cause {
        line.push_str(&format!(": {e}"));
        cause = e.source();
    }
    eprintln!("{}", line.replace(['\n', '\r'], " "));
}

/// One part of the summary.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PartSummary {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Where `split` saved the part, relative to its directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// For `split`, unless the file was written under the name asked for: `alreadyThere` or
    /// `renamed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// For a `renamed` file: the name it asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wanted: Option<String>,
}

/// What `split` and `inspect` print.
#[derive(Serialize)]
pub struct Summary {
    pub format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    pub parts: Vec<PartSummary>,
}

/// A subcommand's work, done.
pub struct Done {
    pub summary: Summary,
    pub bytes_read: u64,
}

/// Prints the summary (and the stats when `stats_since` is given).
pub fn finish(done: &Done, stats_since: Option<Instant>) -> ExitCode {
    let mut stdout = io::stdout().lock();
    let printed = serde_json::to_writer_pretty(&mut stdout, &done.summary)
        .map_err(io::Error::from)
        .and_then(|()| writeln!(stdout));
    if let Some(started) = stats_since {
        print_stats(done.bytes_read, started);
    }
    match printed {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            report(&Context::new("writing the summary".to_owned(), e));
            ExitCode::FAILURE
        }
    }
}

pub fn print_stats(bytes_read: u64, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    let peak = peak_rss_kib().map_or_else(|| "unknown".to_owned(), |k| format!("{k} KiB"));
    eprintln!(
        "stats: {bytes_read} bytes read in {secs:.3} s ({:.1} MiB/s), peak RSS {peak}",
        bytes_read as f64 / (1 << 20) as f64 / secs.max(1e-9)
    );
}

/// The process's peak resident set size, from `/proc/self/status` (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The parts of a saved export, as `split` and `fetch` print them.
pub fn saved_parts(saved: &SavedExport) -> Vec<PartSummary> {
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
    parts
}

/// A typed result as `inspect` shows it: whole.
pub fn result_value(
    result: &authenteq_export::export::VerificationResult,
) -> Result<serde_json::Value, Failure> {
    Ok(serde_json::to_value(result)?)
}

/// A typed result as `split` and `fetch` show it: without its personal data (names, dates
/// of birth, document numbers, addresses...) unless `personal` (`--show-personal-data`).
pub fn summary_result(
    result: &authenteq_export::export::VerificationResult,
    personal: bool,
) -> Result<serde_json::Value, Failure> {
    if personal {
        result_value(result)
    } else {
        result_value(&result.without_personal_data())
    }
}

/// Reads `--file-mode`: octal permission bits such as `600` or `0640`.
pub fn file_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|mode| *mode <= 0o777)
        .ok_or_else(|| {
            format!("{text:?} is no file mode: give octal permission bits such as 600 or 0640")
        })
}

/// An error and its causes, `: `-separated, on one line.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let shown = e.to_string();
        if !text.contains(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        cause = e.source();
    }
    text
}
