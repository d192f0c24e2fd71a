//! `erase` and `purge`: stored verifications erased on request (`--ids`) or by age
//! (`--older-than DAYS`), with the library's `store::erase` and `store::stored`. One JSON line
//! per id, the audit record (id, outcome, object count, time; never personal data), then a
//! summary line.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use authenteq_export::chrono::{self, DateTime, SecondsFormat, Utc};
use authenteq_export::export::VerificationId;
use authenteq_export::store::{erase, stored, Erased, S3Uploads, Sink, Written};

use crate::destination::{Destination, Opened};
use crate::fetch::read_ids;
use crate::output::{with_causes, Context, Failure};

/// What `purge` was asked for.
pub struct Purge<'a> {
    pub older_than_days: u64,
    pub from: &'a str,
    pub keep_ids: Option<&'a Path>,
    pub dry_run: bool,
}

/// The counts of a run, printed as its summary line.
#[derive(Default)]
struct Counts {
    erased: u64,
    absent: u64,
    held: u64,
    failed: u64,
    duplicates: u64,
    kept: u64,
    would_erase: u64,
    young: u64,
    objects: u64,
}

impl Counts {
    /// Exit status 0 only if no id failed or was held.
    fn code(&self) -> ExitCode {
        if self.failed == 0 && self.held == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    fn record(&mut self, outcome: &Result<Erased, authenteq_export::Error>) {
        match outcome {
            Ok(Erased::Absent) => self.absent += 1,
            Ok(Erased::Held { objects, .. }) => {
                self.held += 1;
                self.objects += objects;
            }
            Ok(erased) => {
                self.erased += 1;
                self.objects += erased.objects();
            }
            Err(_) => self.failed += 1,
        }
    }
}

fn now() -> String {
    time(Utc::now())
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Writes one JSON line to standard output; a closed one (`| head`) is not a reason to stop.
fn print(line: &serde_json::Value) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// The line of one id's outcome.
fn outcome_line(
    id: &str,
    outcome: &Result<Erased, authenteq_export::Error>,
    at: String,
) -> serde_json::Value {
    match outcome {
        Ok(erased) => {
            let mut line = serde_json::json!({
                "id": id,
                "status": erased.name(),
                "objects": erased.objects(),
                "at": at,
            });
            if let Erased::Held { held, .. } = erased {
                line["held"] = (*held).into();
            }
            line
        }
        Err(e) => serde_json::json!({
            "id": id,
            "status": "failed",
            "error": with_causes(e),
            "at": at,
        }),
    }
}

/// `--from`: a folder that must exist (nothing is created to erase from), `file:///PATH` or
/// `s3://BUCKET/PREFIX`, whose sink erases every version through S3's own requests.
fn open_from(from: &str) -> Result<Opened, Failure> {
    let destination =
        Destination::parse(from).map_err(|e| e.to_string().replace("--out", "--from"))?;
    if let Destination::Folder(path) = &destination {
        if !path.is_dir() {
            return Err(format!(
                "--from {} is not a folder: give the folder (or file:///PATH, s3://BUCKET/PREFIX) \
                 the verifications are stored in",
                path.display()
            )
            .into());
        }
    }
    Ok(match destination.open()? {
        Opened::Objects {
            sink,
            probe,
            url,
            builder,
            prefix,
        } => {
            let requests = S3Uploads::new(&builder)
                .map_err(|e| Context::new(format!("cannot set up the S3 store {url}"), e))?;
            Opened::Objects {
                sink: sink.s3(requests),
                probe,
                url,
                builder,
                prefix,
            }
        }
        folder => folder,
    })
}

/// The sink of `--from`, checked, and a runtime to drive it.
fn open_checked(from: &str) -> Result<(Opened, tokio::runtime::Runtime), Failure> {
    let opened = open_from(from)?;
    let runtime = crate::output::runtime(0)?;
    runtime.block_on(opened.check())?;
    Ok((opened, runtime))
}

/// Runs `erase --ids FILE|- --from DIR_OR_URL`.
pub fn run_erase(ids: &Path, from: &str) -> ExitCode {
    let ran = (|| {
        let (ids, _) = read_ids(ids)?;
        let (opened, runtime) = open_checked(from)?;
        Ok(runtime.block_on(async {
            match &opened {
                Opened::Folder(sink) => erase_ids(sink, ids).await,
                Opened::Objects { sink, .. } => erase_ids(sink, ids).await,
            }
        }))
    })();
    finish(ran, "erase")
}

async fn erase_ids<S: Sink>(sink: &S, ids: impl Iterator<Item = String>) -> Counts {
    let mut counts = Counts::default();
    let mut seen = HashSet::new();
    for raw in ids {
        if !seen.insert(raw.clone()) {
            counts.duplicates += 1;
            print(&serde_json::json!({"id": raw, "status": "duplicate"}));
            continue;
        }
        // An id that is not one (`../x`) is refused before anything is deleted.
        let outcome = match VerificationId::new(&raw) {
            Ok(id) => erase(sink, &id).await,
            Err(e) => Err(e),
        };
        counts.record(&outcome);
        print(&outcome_line(&raw, &outcome, now()));
    }
    counts
}

/// Runs `purge`.
pub fn run_purge(purge: &Purge<'_>) -> ExitCode {
    let ran = (|| {
        let keep = match purge.keep_ids {
            Some(path) => keep_ids(path)?,
            None => HashSet::new(),
        };
        let cutoff = i64::try_from(purge.older_than_days)
            .ok()
            .and_then(chrono::Duration::try_days)
            .and_then(|days| Utc::now().checked_sub_signed(days))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let (opened, runtime) = open_checked(purge.from)?;
        runtime.block_on(async {
            match &opened {
                Opened::Folder(sink) => purge_sink(sink, purge, &keep, cutoff).await,
                Opened::Objects { sink, .. } => purge_sink(sink, purge, &keep, cutoff).await,
            }
        })
    })();
    finish(ran, "purge")
}

async fn purge_sink<S: Sink>(
    sink: &S,
    purge: &Purge<'_>,
    keep: &HashSet<String>,
    cutoff: DateTime<Utc>,
) -> Result<Counts, Failure> {
    let mut counts = Counts::default();
    for found in stored(sink).await? {
        let id = found.id().as_str();
        let written_at = found.written_at().map(time);
        let kept = |reason: &str| {
            serde_json::json!({
                "id": id, "status": "kept", "reason": reason, "writtenAt": written_at,
            })
        };
        match found.written() {
            Written::Undated => {
                counts.kept += 1;
                print(&kept("no writtenAt in its manifest"));
                continue;
            }
            Written::Incomplete => {
                counts.kept += 1;
                print(&kept("no manifest"));
                continue;
            }
            Written::Unreadable(e) => {
                counts.failed += 1;
                print(&serde_json::json!({
                    "id": id, "status": "failed", "error": with_causes(e), "at": now(),
                }));
                continue;
            }
            _ => {}
        }
        if !found.written_before(cutoff) {
            counts.young += 1;
            continue;
        }
        if keep.contains(id) {
            counts.kept += 1;
            print(&kept("--keep-ids"));
            continue;
        }
        if purge.dry_run {
            counts.would_erase += 1;
            print(&serde_json::json!({
                "id": id, "status": "would erase", "writtenAt": written_at,
            }));
            continue;
        }
        let outcome = erase(sink, found.id()).await;
        counts.record(&outcome);
        let mut line = outcome_line(id, &outcome, now());
        line["writtenAt"] = written_at.into();
        print(&line);
    }
    Ok(counts)
}

/// The ids of `--keep-ids`: every line must be a verification id, so that a typo never lets
/// an id meant to be kept go.
fn keep_ids(path: &Path) -> Result<HashSet<String>, Failure> {
    let (ids, _) = read_ids(path)?;
    let mut keep = HashSet::new();
    for id in ids {
        VerificationId::new(&id).map_err(|e| {
            Context::new(
                format!(
                    "--keep-ids {}: a line is not a verification id",
                    path.display()
                ),
                e,
            )
        })?;
        keep.insert(id);
    }
    Ok(keep)
}

/// Prints the summary line (and one line on standard error), and gives the exit status.
fn finish(ran: Result<Counts, Failure>, command: &str) -> ExitCode {
    let counts = match ran {
        Ok(counts) => counts,
        Err(failure) => {
            crate::output::report(&*failure);
            return ExitCode::FAILURE;
        }
    };
    let summary = if command == "erase" {
        serde_json::json!({
            "erased": counts.erased,
            "absent": counts.absent,
            "held": counts.held,
            "failed": counts.failed,
            "duplicates": counts.duplicates,
            "objects": counts.objects,
        })
    } else {
        serde_json::json!({
            "erased": counts.erased,
            "held": counts.held,
            "failed": counts.failed,
            "kept": counts.kept,
            "wouldErase": counts.would_erase,
            "younger": counts.young,
            "objects": counts.objects,
        })
    };
    print(&serde_json::json!({ "summary": summary }));
    if counts.failed > 0 || counts.held > 0 {
        eprintln!(
            "{command}: exit status 1: failed {}, held by the store {} (their lines on \
             standard output say why); running it again is harmless",
            counts.failed, counts.held
        );
    }
    counts.code()
}
