//! `authenteq-export`: split or inspect an Authenteq verification-result export.
//!
//! ```text
//! authenteq-export split INPUT --out DIR [--content-type VALUE] [--stats]
//! authenteq-export inspect INPUT [--content-type VALUE] [--sha256] [--stats]
//! authenteq-export fetch ID --format json|multipart|pdf --out DIR [--base-url URL]
//!     [--retries N] [--connect-timeout SECS] [--idle-timeout SECS]
//! ```
//!
//! `INPUT` is a file or `-` for standard input, holding a body as one of the three export
//! endpoints returns it (multipart, JSON or PDF; the format is detected).
//!
//! Each subcommand is a module; what they share (the input with its progress bar, the summary
//! printed at the end, error reporting) is in `input` and `output`. Saving files is the
//! library's `save` module.

mod fetch;
mod input;
mod inspect;
mod output;
mod split;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "authenteq-export",
    version,
    about = "Fetch, split or inspect Authenteq verification-result exports (multipart, JSON or PDF)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the result JSON and every file of an export to a directory.
    ///
    /// A file appears only once it is complete; nothing is written outside DIR and nothing is
    /// overwritten. Running it again is harmless: a file already in DIR with the same name and
    /// bytes is left as it is (its part says `"outcome": "alreadyThere"`), and a name that holds
    /// other bytes gives the next free name, `stem-2.ext` (`"outcome": "renamed"`, with the name
    /// asked for in `wanted`). Prints the same summary as `inspect --sha256`, with the name each
    /// part has in DIR.
    Split {
        /// The export: a file, or `-` for standard input.
        input: PathBuf,
        /// The directory to write to (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// The response's Content-Type (gives the format and the multipart boundary); without it
        /// they are detected from the body.
        #[arg(long)]
        content_type: Option<String>,
        /// Print bytes read, time taken and peak memory to standard error at the end.
        #[arg(long)]
        stats: bool,
    },
    /// Stream through an export without writing files; print its result and parts as JSON.
    Inspect {
        /// The export: a file, or `-` for standard input.
        input: PathBuf,
        /// The response's Content-Type; without it the format is detected from the body.
        #[arg(long)]
        content_type: Option<String>,
        /// Add each part's SHA-256.
        #[arg(long)]
        sha256: bool,
        /// Print bytes read, time taken and peak memory to standard error at the end.
        #[arg(long)]
        stats: bool,
    },
    /// Fetch one verification from the Authenteq API and write it to a directory, as `split`
    /// does.
    ///
    /// The API keys come from the environment: AUTHENTEQ_CLIENT_ID and
    /// AUTHENTEQ_CLIENT_SECRET. Connection failures, timeouts and the answers 429, 500, 502,
    /// 503 and 504 are retried (a body cut short restarts the whole export; files already
    /// written are found again, not written twice); the API's own errors are not. On failure
    /// only whole files are left in DIR.
    Fetch {
        /// The verification id.
        id: String,
        /// Which export endpoint to ask.
        #[arg(long, value_parser = ["json", "multipart", "pdf"])]
        format: String,
        /// The directory to write to (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// The API's base URL.
        #[arg(long, default_value = authenteq_export::client::DEFAULT_BASE_URL)]
        base_url: String,
        /// Retries after the first attempt, one budget for every kind of retry.
        #[arg(long, default_value_t = 3)]
        retries: u32,
        /// Seconds to wait for a connection.
        #[arg(long, default_value_t = 10.0)]
        connect_timeout: f64,
        /// Seconds to wait for the answer, and for each next bytes of its body.
        #[arg(long, default_value_t = 30.0)]
        idle_timeout: f64,
        /// Print bytes read, time taken and peak memory to standard error at the end.
        #[arg(long)]
        stats: bool,
    },
}

fn main() -> ExitCode {
    let started = Instant::now();
    let (ran, stats) = match Cli::parse().command {
        Command::Split {
            input,
            out,
            content_type,
            stats,
        } => (split::run(&input, content_type.as_deref(), &out), stats),
        Command::Inspect {
            input,
            content_type,
            sha256,
            stats,
        } => (inspect::run(&input, content_type.as_deref(), sha256), stats),
        Command::Fetch {
            id,
            format,
            out,
            base_url,
            retries,
            connect_timeout,
            idle_timeout,
            stats,
        } => {
            let ran = format
                .parse()
                .map_err(output::Failure::from)
                .and_then(|endpoint| {
                    fetch::run(&fetch::Request {
                        id: &id,
                        endpoint,
                        out: &out,
                        base_url: Some(&base_url),
                        retries: Some(retries),
                        connect_timeout: Some(connect_timeout),
                        idle_timeout: Some(idle_timeout),
                    })
                });
            (ran, stats)
        }
    };
    match ran {
        Ok(done) => output::finish(&done, stats.then_some(started)),
        Err(failure) => {
            output::report(&*failure);
            ExitCode::FAILURE
        }
    }
}
