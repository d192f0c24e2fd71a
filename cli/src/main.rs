//! `authenteq-export`: split or inspect an Authenteq verification-result export.
//!
//! ```text
//! authenteq-export split INPUT --out DIR [--content-type VALUE] [--stats]
//! authenteq-export inspect INPUT [--content-type VALUE] [--sha256] [--stats]
//! authenteq-export serve --dir DIR --addr ADDR --client-id ID [--client-secret SECRET] [--deactivated] [FAULTS]
//! authenteq-export fetch ID --format json|multipart|pdf --out DIR [--base-url URL]
//!     [--retries N] [--connect-timeout SECS] [--read-timeout SECS] [--attempt-timeout SECS]
//!     [--max-body-bytes N] [--max-file-bytes N] [--allow-insecure-http]
//! authenteq-export fetch --ids FILE|- --format json|multipart|pdf --out DIR_OR_URL
//!     [--concurrency N] [--rate PER_SEC] [--abort-older-than SECS] [--retries N] ...
//! authenteq-export webhook serve --addr ADDR --out DIR_OR_URL --client-id ID [--scheme S]
//!     [--max-body-bytes N] [--abort-older-than SECS]
//! authenteq-export webhook send --to URL --dir DIR/ID --client-id ID [--scheme S]
//!     [--retry-every SECS --retry-for SECS] [--form-data] [--stats]
//! authenteq-export webhook detect --body FILE --signature HEX
//! authenteq-export open ID --from DIR_OR_URL --identity FILE --out DIR
//! authenteq-export erase --ids FILE|- --from DIR_OR_URL
//! authenteq-export purge --older-than DAYS --from DIR_OR_URL [--keep-ids FILE] [--dry-run]
//! ```
//!
//! `INPUT` is a file or `-` for standard input, holding a body as one of the three export
//! endpoints returns it (multipart, JSON or PDF; the format is detected).
//!
//! Each subcommand is a module; what they share (the input with its progress bar, the summary
//! printed at the end, error reporting) is in `input` and `output`; `--out` of `fetch --ids`
//! and `webhook serve` is read in `destination`. Saving files is the library's `save` module;
//! storing into a folder or an object store, its `store` module.

mod destination;
mod encrypt;
mod erase;
mod fetch;
mod forward;
mod input;
mod inspect;
mod open;
mod output;
mod serve;
mod split;
mod webhook;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use authenteq_export::server::Fault;
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
    /// asked for in `wanted`).
    ///
    /// Prints a JSON summary: the format, each part's name, size, SHA-256 and the name it has
    /// in DIR, and the result's fields that are not personal (id, platform, times, document
    /// types, countries, dates of issue and expiry). Names, dates of birth, document numbers
    /// and addresses are left out unless --show-personal-data; they are in DIR/result.json.
    ///
    /// The files are created with mode 0600 (readable and writable by their owner only, less
    /// the umask); --file-mode sets other bits, such as 640. A failure leaves whole files
    /// only, and no empty folder that this run created.
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
        /// Show the result's personal fields (names, dates of birth, document numbers,
        /// addresses) in the summary: keep them out of CI logs and shared terminals.
        #[arg(long)]
        show_personal_data: bool,
        /// The permission bits of the files written, in octal (default 600: the owner only).
        #[arg(long, value_name = "OCTAL", value_parser = output::file_mode)]
        file_mode: Option<u32>,
        /// With --encrypt-to or --recipients-file: the verification's id. The export is then
        /// stored as `fetch --ids` stores it, DIR/ID/<file>.age plus DIR/ID/manifest.json,
        /// which `open ID --from DIR` reads back. A result with another id is refused, and
        /// nothing is stored.
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        encrypt: encrypt::EncryptArgs,
        /// Print bytes read, time taken and peak memory to standard error at the end.
        #[arg(long)]
        stats: bool,
    },
    /// Read one stored verification back into DIR, in `split`'s layout: every file decrypted
    /// with the age identity file and checked against the manifest's SHA-256.
    ///
    /// All or nothing: a file that no identity decrypts, that is cut short or altered, or whose
    /// content is not the manifest's is an error naming it, and nothing is written. Prints one
    /// JSON line with the id and each file's name and size.
    Open {
        /// The verification id.
        id: String,
        /// Where it is stored: a folder, file:///PATH or s3://BUCKET/PREFIX (the `AWS_*`
        /// variables configure S3, as for `fetch --ids`).
        #[arg(long)]
        from: String,
        /// An age identity file (`AGE-SECRET-KEY-1...` lines, as age-keygen writes).
        #[arg(long)]
        identity: PathBuf,
        /// The directory to write to (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Stream through an export without writing files; print its result and parts as JSON.
    ///
    /// Prints the whole result, personal fields included (names, dates of birth, document
    /// numbers, addresses), and each part's name, file name, content type and size (and
    /// SHA-256 with --sha256); never the files' bytes. It is the command for looking at a
    /// result: mind where its output goes.
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
    /// Serve the API's three export endpoints for the verifications stored under DIR.
    ///
    /// DIR holds one folder per verification id, in the layout `split` writes (`result.json`
    /// and the files, or `result.pdf`). Prints `listening on http://ADDR` once bound, then one
    /// log line per request on standard error (path, status, bytes; never the secret), until
    /// killed.
    Serve {
        /// The folder of verifications, one sub-folder per verification id.
        #[arg(long)]
        dir: PathBuf,
        /// The address to listen on; port 0 takes a free one.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// The client id requests must carry.
        #[arg(long)]
        client_id: String,
        /// The client secret requests must carry (better in AUTHENTEQ_CLIENT_SECRET: flags
        /// show in `ps`).
        #[arg(long, env = "AUTHENTEQ_CLIENT_SECRET", hide_env_values = true)]
        client_secret: String,
        /// Answer every authenticated request ACCOUNT_DEACTIVATED (403).
        #[arg(long)]
        deactivated: bool,
        /// Fault: close the connection after N body bytes.
        #[arg(long, value_name = "N")]
        close_after: Option<u64>,
        /// Fault: stop sending after N body bytes, keeping the connection open.
        #[arg(long, value_name = "N")]
        stall_after: Option<u64>,
        /// Fault: send bodies at about N bytes per second.
        #[arg(long, value_name = "N")]
        drip: Option<u64>,
        /// Fault: flip the bits of the body byte at offset N.
        #[arg(long, value_name = "N")]
        garble_at: Option<u64>,
        /// Fault: answer the first K requests 429 Too Many Requests.
        #[arg(long, value_name = "K")]
        too_many_requests: Option<u64>,
        /// Fault: answer the first K requests 503 Service Unavailable (after any 429s).
        #[arg(long, value_name = "K")]
        unavailable: Option<u64>,
        /// The Retry-After of those 429 and 503 answers, in seconds.
        #[arg(long, value_name = "S", default_value_t = 1)]
        retry_after: u64,
    },
    /// Fetch verifications from the Authenteq API: one into a directory, as `split` writes
    /// it, or many (`--ids`) into a folder or an object store.
    ///
    /// The API keys come from the environment: AUTHENTEQ_CLIENT_ID and
    /// AUTHENTEQ_CLIENT_SECRET. Connection failures, timeouts and the answers 429, 500, 502,
    /// 503 and 504 are retried (a body cut short restarts the whole export; files already
    /// written are found again, not written twice); the API's own errors are not. On failure
    /// only whole files are left in DIR, and no empty folder that this run created. The
    /// summary of `fetch ID` is the one `split` prints: the result's personal fields only with
    /// --show-personal-data. The files are created with mode 0600 (the owner only, less the
    /// umask); --file-mode sets other bits, such as 640 (in a folder; an object store has its
    /// own access rules).
    ///
    /// With --ids, each id is stored as OUT/ID/<file> plus OUT/ID/manifest.json, written last
    /// (its presence means complete; an id whose manifest is there is skipped without a
    /// download). OUT is a folder, file:///PATH, or s3://BUCKET/PREFIX configured from the
    /// AWS_* variables (AWS_ENDPOINT, AWS_ALLOW_HTTP, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_DEFAULT_REGION). The list skips blank lines and `#` comments (whole-line or after
    /// an id); an id that comes again is fetched once and reported once more as "duplicate".
    /// One JSON line per id on standard output ({"id", "status":
    /// stored|skipped|failed|duplicate, "error", "files", "bytes"}), then a summary line; on a
    /// terminal, a live display on standard error (ids done of the total, bytes, rates, time
    /// left); at the end one line on standard error with the counts and why the exit status is
    /// not 0. The exit status is 0 only if no id failed. What every id would meet stops the
    /// batch with one line naming it: an --out folder that cannot be written or a store that
    /// cannot be reached (checked before the first id), credentials refused by the API or the
    /// store.
    Fetch {
        /// The verification id (or --ids).
        #[arg(required_unless_present = "ids", conflicts_with = "ids")]
        id: Option<String>,
        /// A file with one verification id a line, `-` for standard input.
        #[arg(long, value_name = "FILE")]
        ids: Option<PathBuf>,
        /// Which export endpoint to ask.
        #[arg(long, value_parser = ["json", "multipart", "pdf"])]
        format: String,
        /// Where to write: a directory (created if missing); with --ids also file:///PATH or
        /// s3://BUCKET/PREFIX.
        #[arg(long, value_name = "DIR_OR_URL")]
        out: String,
        /// With --ids: verifications in flight at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// With --ids: at most this many new downloads a second.
        #[arg(long, value_name = "PER_SEC")]
        rate: Option<f64>,
        /// With --ids into s3://: at start, abort the unfinished uploads under the prefix
        /// that were initiated more than this many seconds ago (left by a killed run).
        #[arg(long, value_name = "SECS", default_value_t = 3600.0)]
        abort_older_than: f64,
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
        #[arg(long, default_value_t = 30.0, alias = "idle-timeout")]
        read_timeout: f64,
        /// Seconds one attempt may last, from connecting to the body's last byte.
        #[arg(long, default_value_t = authenteq_export::client::DEFAULT_ATTEMPT_TIMEOUT.as_secs_f64())]
        attempt_timeout: f64,
        /// The most bytes of one answer's body that are read (256 MiB).
        #[arg(long, value_name = "N", default_value_t = authenteq_export::client::DEFAULT_MAX_BODY_BYTES)]
        max_body_bytes: u64,
        /// The most bytes of one file of the export (64 MiB).
        #[arg(long, value_name = "N", default_value_t = authenteq_export::client::DEFAULT_MAX_FILE_BYTES)]
        max_file_bytes: u64,
        /// Allow a plain http:// --base-url to a host that is not loopback: the client secret
        /// and the exports would cross the network unencrypted.
        #[arg(long)]
        allow_insecure_http: bool,
        /// Show the result's personal fields in the summary of `fetch ID` (names, dates of
        /// birth, document numbers, addresses).
        #[arg(long, conflicts_with = "ids")]
        show_personal_data: bool,
        /// The permission bits of the files written into a folder, in octal (default 600).
        #[arg(long, value_name = "OCTAL", value_parser = output::file_mode)]
        file_mode: Option<u32>,
        #[command(flatten)]
        encrypt: encrypt::EncryptArgs,
        /// Print bytes read, time taken and peak memory to standard error at the end.
        #[arg(long)]
        stats: bool,
    },
    /// Erase stored verifications on request: for each id, the manifest first (from then on
    /// the id reads as not stored: a fetch or a webhook delivery would store it again whole),
    /// then every object under it (files, markers), then any unfinished upload under it.
    ///
    /// In an s3:// bucket with versioning, every version and delete marker under the id is
    /// deleted (S3's ListObjectVersions and versioned DELETEs), not hidden under a new delete
    /// marker. A version the store keeps under an Object Lock retention or legal hold makes
    /// the id "held": the rest is erased, a delete marker hides what is held, and the run goes
    /// on with the other ids. An id that is not one (`../x`) is refused before anything is
    /// deleted.
    ///
    /// One JSON line per id, the audit record ({"id", "status":
    /// erased|absent|held|failed|duplicate, "objects", "held", "error", "at"}; never personal
    /// data); "absent" means nothing at all was stored under the id. Then a summary line. The
    /// exit status is 0 only if no id failed or was held. Running it again is harmless.
    Erase {
        /// A file with one verification id a line, `-` for standard input (blank lines and `#`
        /// comments skipped, as for `fetch --ids`).
        #[arg(long, value_name = "FILE")]
        ids: PathBuf,
        /// Where the verifications are stored: a folder, file:///PATH or s3://BUCKET/PREFIX
        /// (the `AWS_*` variables configure S3, as for `fetch --ids`).
        #[arg(long, value_name = "DIR_OR_URL")]
        from: String,
    },
    /// Erase, as `erase` does, every stored verification whose manifest was written more
    /// than DAYS days ago, except the ids of --keep-ids.
    ///
    /// The age is the manifest's `writtenAt` (when the verification was stored), not the
    /// store's timestamps. A manifest without `writtenAt` (written by an older version of this tool)
    /// and an id without a manifest are kept and listed ("kept", with the reason): erase them
    /// by id. One JSON line per id erased, held, failed, kept or (with --dry-run) that would
    /// be erased; younger ids are only counted. The exit status is 0 only if no id failed or
    /// was held.
    Purge {
        /// The age in whole days (0: every stored verification).
        #[arg(long, value_name = "DAYS")]
        older_than: u64,
        /// Where the verifications are stored: a folder, file:///PATH or s3://BUCKET/PREFIX.
        #[arg(long, value_name = "DIR_OR_URL")]
        from: String,
        /// A file of ids never erased (relationships still open, or under investigation),
        /// one a line, as --ids of `erase`; every line must be a verification id.
        #[arg(long, value_name = "FILE")]
        keep_ids: Option<PathBuf>,
        /// List what would be erased ("would erase"), delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Signed webhook deliveries: receive them (`serve`), send one (`send`), or tell which
    /// signature construction a captured one used (`detect`). The client secret comes from
    /// AUTHENTEQ_CLIENT_SECRET.
    Webhook {
        #[command(subcommand)]
        command: webhook::Command,
    },
}

fn main() -> ExitCode {
    let started = Instant::now();
    let code = run(started);
    if code != ExitCode::SUCCESS {
        // A failed command leaves no empty folder that it created for --out.
        destination::remove_created_if_empty();
    }
    code
}

fn run(started: Instant) -> ExitCode {
    let (ran, stats) = match Cli::parse().command {
        Command::Webhook { command } => return webhook::run(command),
        Command::Erase { ids, from } => return erase::run_erase(&ids, &from),
        Command::Purge {
            older_than,
            from,
            keep_ids,
            dry_run,
        } => {
            return erase::run_purge(&erase::Purge {
                older_than_days: older_than,
                from: &from,
                keep_ids: keep_ids.as_deref(),
                dry_run,
            })
        }
        Command::Serve {
            dir,
            addr,
            client_id,
            client_secret,
            deactivated,
            close_after,
            stall_after,
            drip,
            garble_at,
            too_many_requests,
            unavailable,
            retry_after,
        } => {
            let mut faults = Vec::new();
            faults.extend(close_after.map(|bytes| Fault::CloseAfter { bytes }));
            faults.extend(stall_after.map(|bytes| Fault::StallAfter { bytes }));
            faults.extend(drip.map(|bytes_per_second| Fault::Drip { bytes_per_second }));
            faults.extend(garble_at.map(|offset| Fault::Garble { offset }));
            faults.extend(too_many_requests.map(|first| Fault::TooManyRequests {
                first,
                retry_after_secs: retry_after,
            }));
            faults.extend(unavailable.map(|first| Fault::Unavailable {
                first,
                retry_after_secs: retry_after,
            }));
            let options = serve::Options {
                dir,
                addr,
                client_id,
                client_secret,
                deactivated,
                faults,
            };
            return match serve::run(options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(failure) => {
                    output::report(&*failure);
                    ExitCode::FAILURE
                }
            };
        }
        Command::Open {
            id,
            from,
            identity,
            out,
        } => {
            return match open::run(&id, &from, &identity, &out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(failure) => {
                    output::report(&*failure);
                    ExitCode::FAILURE
                }
            };
        }
        Command::Split {
            input,
            out,
            content_type,
            show_personal_data,
            file_mode,
            id,
            encrypt,
            stats,
        } => {
            let ran = encrypt.recipients().and_then(|encrypt| {
                let options = split::Options {
                    content_type: content_type.as_deref(),
                    out: &out,
                    personal: show_personal_data,
                    file_mode,
                    id: id.as_deref(),
                    encrypt,
                };
                split::run(&input, &options)
            });
            (ran, stats)
        }
        Command::Inspect {
            input,
            content_type,
            sha256,
            stats,
        } => (inspect::run(&input, content_type.as_deref(), sha256), stats),
        Command::Fetch {
            id,
            ids,
            format,
            out,
            concurrency,
            rate,
            abort_older_than,
            base_url,
            retries,
            connect_timeout,
            read_timeout,
            attempt_timeout,
            max_body_bytes,
            max_file_bytes,
            allow_insecure_http,
            show_personal_data,
            file_mode,
            encrypt,
            stats,
        } => {
            let encrypt = match encrypt.recipients() {
                Ok(encrypt) => encrypt,
                Err(e) => {
                    output::report(&*e);
                    return ExitCode::FAILURE;
                }
            };
            let endpoint = match format.parse() {
                Ok(endpoint) => endpoint,
                Err(e) => {
                    output::report(&e);
                    return ExitCode::FAILURE;
                }
            };
            let client = fetch::ClientOptions {
                base_url: Some(&base_url),
                retries: Some(retries),
                connect_timeout: Some(connect_timeout),
                read_timeout: Some(read_timeout),
                attempt_timeout: Some(attempt_timeout),
                max_body_bytes: Some(max_body_bytes),
                max_file_bytes: Some(max_file_bytes),
                allow_insecure_http,
            };
            if let Some(ids) = ids {
                let bulk = fetch::Bulk {
                    ids: &ids,
                    endpoint,
                    out: &out,
                    concurrency,
                    rate,
                    abort_older_than,
                    file_mode,
                    encrypt,
                    client,
                };
                let (code, bytes) = fetch::run_bulk(&bulk);
                if stats {
                    output::print_stats(bytes, started);
                }
                return code;
            }
            let ran = fetch::run(&fetch::Request {
                id: id.as_deref().unwrap_or_default(),
                endpoint,
                out: std::path::Path::new(&out),
                personal: show_personal_data,
                file_mode,
                encrypt,
                client,
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
