//! `webhook`: receive signed deliveries into a folder, send a stored verification as the vendor
//! would, or tell which signature construction a captured delivery used. The library's
//! `webhook` module does the work.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use authenteq_export::webhook::{
    Attempt, Detector, Forwarder, Receiver, RetrySchedule, Scheme, Secret, Sender, WebhookKey,
};
use clap::Subcommand;

use authenteq_export::store::Sink;
use authenteq_export::ConnectionLimits;

use crate::destination::{Destination, Opened};
use crate::output::{self, Context, Failure};

/// The environment variable that holds the client secret (never a flag: flags show in `ps`).
const CLIENT_SECRET_VAR: &str = "AUTHENTEQ_CLIENT_SECRET";

/// The environment variable that holds the secret before a rotation, accepted beside the
/// current one by `webhook serve`.
const PREVIOUS_SECRET_VAR: &str = "AUTHENTEQ_CLIENT_SECRET_PREVIOUS";

// Parsed once per run and matched at once: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
    /// Receive deliveries: a POST on any path, verified as it streams, stored once its
    /// signature matched the way `fetch --ids` stores downloads: under --out, a folder,
    /// file:///PATH or s3://BUCKET/PREFIX (configured from the AWS_* variables), as
    /// <verification id>/<file> (the `split` layout) plus <verification id>/manifest.json,
    /// written last (each file's size, content type and SHA-256).
    ///
    /// Answers 200 for a stored delivery and for a repeat of a stored id (stored once, whether
    /// by this receiver or by a `fetch` into the same place), 401
    /// for a client id or signature that does not match, 400 for a malformed or cut body, 413
    /// over the cap. Nothing is claimed before the signature matched: two deliveries of one id
    /// at once are each staged out of sight and both answered 200, the first verified one
    /// stored. Nothing is stored for a refused delivery, not even an empty folder.
    ///
    /// The secret comes from AUTHENTEQ_CLIENT_SECRET; while a secret is rotated, put the old
    /// one in AUTHENTEQ_CLIENT_SECRET_PREVIOUS: a delivery signed with either is accepted
    /// (both checked in one pass over the body). Prints `listening on http://ADDR`, then one
    /// log line per delivery on standard error (outcome, bytes, time, the key that matched as
    /// key="current" or key="previous"; never the body or a secret), until stopped (Ctrl-C or SIGTERM finish the deliveries
    /// under way first).
    ///
    /// Files stored in a folder are created with mode 0600 (their owner only, less the
    /// umask); other accounts get access through the owner (chmod, a group-readable copy),
    /// as the receiver takes no --file-mode yet (`split` and `fetch` do).
    Serve {
        /// The address to listen on; port 0 takes a free one.
        #[arg(long, default_value = "127.0.0.1:8081")]
        addr: SocketAddr,
        /// Where deliveries go: a folder (created if missing), file:///PATH or
        /// s3://BUCKET/PREFIX.
        #[arg(long, value_name = "DIR_OR_URL")]
        out: String,
        /// The client id deliveries must carry in X-CLIENT-ID.
        #[arg(long)]
        client_id: String,
        /// How X-SIGNATURE is made: sha256-body-secret, sha256-secret-body or hmac-sha256.
        #[arg(long, default_value = "sha256-body-secret")]
        scheme: Scheme,
        /// The largest body accepted, in bytes (by Content-Length, or as it streams).
        #[arg(long, default_value_t = authenteq_export::webhook::DEFAULT_MAX_BODY_BYTES)]
        max_body_bytes: u64,
        /// At start, clean up what a killed receiver left that is older than this many
        /// seconds: into s3://, the unfinished uploads under the prefix; into a folder, the
        /// empty id folders without a manifest and hidden partial files.
        #[arg(long, value_name = "SECS", default_value_t = 3600.0)]
        abort_older_than: f64,
        /// Close a connection that has not sent a whole request head within this many seconds
        /// of connecting (HTTP/1 or HTTP/2, before the protocol is decided too).
        #[arg(long, value_name = "SECS", default_value_t = 20.0)]
        head_timeout: f64,
        /// Close a connection with no request in progress and nothing moving for this many
        /// seconds (keep-alive, HTTP/1 or HTTP/2).
        #[arg(long, value_name = "SECS", default_value_t = 30.0)]
        idle_timeout: f64,
        /// End a delivery (408, nothing stored) whose body comes slower than this many bytes a
        /// second on average over a window of --min-rate-window; 0 turns it off.
        #[arg(long, value_name = "BYTES", default_value_t = authenteq_export::webhook::DEFAULT_MIN_BODY_RATE)]
        min_body_rate: u64,
        /// The window of --min-body-rate, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 20.0)]
        min_rate_window: f64,
        /// End a delivery (408, nothing stored) that takes longer than this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = 600.0)]
        delivery_timeout: f64,
        /// The most bytes of deliveries not yet verified held at once, all together; when a
        /// delivery needs room, the unverified one that made no progress for longest is ended.
        #[arg(long, value_name = "BYTES", default_value_t = authenteq_export::webhook::DEFAULT_UNVERIFIED_BYTES)]
        unverified_bytes: u64,
        /// The most connections open at once (default: the open-file limit, raised to its hard
        /// limit at start, less a reserve for the files being written).
        #[arg(long, value_name = "N")]
        max_connections: Option<usize>,
        /// On SIGTERM or Ctrl-C, let deliveries under way finish for this many seconds, then
        /// end the rest (what they staged removed) and exit. Kubernetes kills 30 s after
        /// SIGTERM by default. New connections are refused from the signal on, as /readyz
        /// turns 503: a preStop sleep of a few seconds lets the load balancer stop first.
        #[arg(long, value_name = "SECS", default_value_t = 25.0)]
        shutdown_timeout: f64,
        #[command(flatten)]
        forward: crate::forward::ForwardArgs,
        /// Also serve the operations endpoints on this address: GET /livez,
        /// GET /readyz (503 during the shutdown drain, and while the store does not answer a
        /// probe within 2 s; a probe's result stands 5 s) and GET /metrics (Prometheus text
        /// format: deliveries by outcome, bytes, durations, in flight, connections, unverified
        /// bytes, hand-offs). Prints `admin listening on http://ADDR` after `listening on`.
        /// At most 64 connections open on it (the one idle longest is closed for a new one),
        /// apart from --max-connections. Keep it off the public network. Default: none, no
        /// admin port.
        #[arg(long, value_name = "ADDR")]
        admin_addr: Option<SocketAddr>,
        /// The log lines on standard error: text, or json (one JSON object a line: timestamp,
        /// level, message, outcome, bytes, ms, key, and the id once verified).
        #[arg(long, value_name = "FORMAT", default_value = "text")]
        log_format: LogFormat,
        #[command(flatten)]
        encrypt: crate::encrypt::EncryptArgs,
    },
    /// Deliver a stored verification (DIR/ID in the `split` layout) as the vendor would:
    /// signed, streamed from disk, retried on failure.
    ///
    /// The secret comes from AUTHENTEQ_CLIENT_SECRET. Retries follow the vendor's schedule
    /// (hourly for a week) unless --retry-every and --retry-for compress it. Each attempt's
    /// outcome goes to standard error as it happens (the status, the reason the body gives,
    /// when the next try is). An answer that retrying cannot change (a 4xx such as 401 for a
    /// signature that does not match, or 400) ends it at once with the reason, unless
    /// --retry-any-answer; failed connections and 5xx answers are retried. Prints a JSON line
    /// (attempts, bytes, signature) once delivered; exits 1 when it gave up.
    Send {
        /// The receiver's URL.
        #[arg(long)]
        to: String,
        /// The stored verification's folder.
        #[arg(long)]
        dir: PathBuf,
        /// The client id to send in X-CLIENT-ID.
        #[arg(long)]
        client_id: String,
        /// How X-SIGNATURE is made: sha256-body-secret, sha256-secret-body or hmac-sha256.
        #[arg(long, default_value = "sha256-body-secret")]
        scheme: Scheme,
        /// Seconds between attempts (the vendor: 3600).
        #[arg(long, value_name = "SECS", default_value_t = 3600.0)]
        retry_every: f64,
        /// Seconds after the first attempt during which attempts are made (the vendor: a week).
        #[arg(long, value_name = "SECS", default_value_t = 604_800.0)]
        retry_for: f64,
        /// Label the body multipart/form-data instead of multipart/mixed.
        #[arg(long)]
        form_data: bool,
        /// Retry every answer but 200, as the vendor does, even those retrying cannot
        /// change (401, 400...).
        #[arg(long)]
        retry_any_answer: bool,
        /// Print bytes sent, time taken and peak memory to standard error at the end.
        #[arg(long)]
        stats: bool,
    },
    /// Tell which construction makes SIGNATURE from a captured delivery's body and the secret
    /// (AUTHENTEQ_CLIENT_SECRET): prints its name and exits 0, or says none does and exits 1.
    Detect {
        /// The captured body, byte for byte as it came (`-` for standard input).
        #[arg(long)]
        body: PathBuf,
        /// The delivery's X-SIGNATURE value.
        #[arg(long)]
        signature: String,
    },
}

/// How `webhook serve` writes its log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text each, `key=value` fields.
    Text,
    /// One JSON object a line, its fields at the top level.
    Json,
}

fn secret() -> Result<Secret, Failure> {
    match std::env::var(CLIENT_SECRET_VAR) {
        Ok(value) if !value.is_empty() => Ok(Secret::new(value)),
        _ => Err(format!(
            "{CLIENT_SECRET_VAR} is not set: the webhook commands read the client secret from it"
        )
        .into()),
    }
}

fn seconds(flag: &str, secs: f64) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("{flag} takes a number of seconds, 0 or more").into())
}

pub fn run(command: Command) -> ExitCode {
    let ran = match command {
        Command::Serve {
            addr,
            out,
            client_id,
            scheme,
            max_body_bytes,
            abort_older_than,
            head_timeout,
            idle_timeout,
            min_body_rate,
            min_rate_window,
            delivery_timeout,
            unverified_bytes,
            max_connections,
            shutdown_timeout,
            forward,
            admin_addr,
            log_format,
            encrypt,
        } => (|| {
            let connections = ConnectionLimits::default()
                .head_timeout(seconds("--head-timeout", head_timeout)?)
                .idle_timeout(seconds("--idle-timeout", idle_timeout)?)
                .max_connections(max_connections);
            let settings = ServeSettings {
                addr,
                client_id,
                scheme,
                max_body_bytes,
                abort_older_than: seconds("--abort-older-than", abort_older_than)?,
                connections,
                min_body_rate,
                min_rate_window: seconds("--min-rate-window", min_rate_window)?,
                delivery_timeout: seconds("--delivery-timeout", delivery_timeout)?,
                unverified_bytes,
                shutdown_timeout: seconds("--shutdown-timeout", shutdown_timeout)?,
                forward: forward.forwarder()?,
                admin_addr,
                log_format,
                encrypt: encrypt.recipients()?,
            };
            serve(&out, settings)
        })(),
        Command::Send {
            to,
            dir,
            client_id,
            scheme,
            retry_every,
            retry_for,
            form_data,
            retry_any_answer,
            stats,
        } => (|| {
            let retry = RetrySchedule {
                every: seconds("--retry-every", retry_every)?,
                for_: seconds("--retry-for", retry_for)?,
            };
            let settings = SendSettings {
                client_id,
                scheme,
                retry,
                form_data,
                retry_any_answer,
                stats,
            };
            send(&to, dir, settings)
        })(),
        Command::Detect { body, signature } => return detect(body, &signature),
    };
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            output::report(&*failure);
            ExitCode::FAILURE
        }
    }
}

/// What `webhook serve` was asked for, but `--out`.
struct ServeSettings {
    addr: SocketAddr,
    client_id: String,
    scheme: Scheme,
    max_body_bytes: u64,
    abort_older_than: Duration,
    connections: ConnectionLimits,
    min_body_rate: u64,
    min_rate_window: Duration,
    delivery_timeout: Duration,
    unverified_bytes: u64,
    shutdown_timeout: Duration,
    /// `--forward-to`: the hand-off, and the receiver's handler timeout for it.
    forward: Option<(Forwarder, Duration)>,
    admin_addr: Option<SocketAddr>,
    log_format: LogFormat,
    encrypt: Option<authenteq_export::store::Recipients>,
}

/// The secret before a rotation, if AUTHENTEQ_CLIENT_SECRET_PREVIOUS holds one.
fn previous_secret() -> Option<Secret> {
    std::env::var(PREVIOUS_SECRET_VAR)
        .ok()
        .filter(|value| !value.is_empty())
        .map(Secret::new)
}

fn serve(out: &str, settings: ServeSettings) -> Result<(), Failure> {
    let key = |secret: Secret, label: &str| {
        WebhookKey::new(settings.client_id.clone(), secret)
            .scheme(settings.scheme)
            .label(label)
    };
    let mut keys = vec![key(secret()?, "current")];
    keys.extend(previous_secret().map(|secret| key(secret, "previous")));
    let out = Destination::parse(out)?.open()?;
    init_log(settings.log_format);
    crate::output::runtime(2)?.block_on(async move {
        // A destination it cannot write to: refuse to start, rather than answer 500s.
        out.check().await?;
        // Many connections are what a server holds: the hard limit is the one that counts.
        let _ = authenteq_export::raise_open_file_limit();
        if let Some(swept @ 1..) = out.abort_stale(settings.abort_older_than).await {
            match out {
                Opened::Objects { .. } => {
                    eprintln!("aborted {swept} unfinished uploads left by an earlier receiver")
                }
                Opened::Folder(_) => eprintln!("removed {swept} leftovers of an earlier receiver"),
            }
        }
        crate::destination::with_sink!(out, settings.encrypt.as_ref(), |sink| {
            receive_into(sink, keys, &settings).await
        })
    })
}

/// Log lines to standard error, `RUST_LOG` (default `info`) choosing which.
fn init_log(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let log = tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_env_filter(filter);
    match format {
        LogFormat::Text => log
            .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
            .init(),
        LogFormat::Json => log
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

/// Receives deliveries into `sink` until Ctrl-C or SIGTERM.
async fn receive_into<S>(
    sink: S,
    keys: Vec<WebhookKey>,
    settings: &ServeSettings,
) -> Result<(), Failure>
where
    S: Sink + std::fmt::Debug + 'static,
    S::Staging: 'static,
{
    let stop = stop_signal()?;
    // Before the first delivery, so that every one is counted.
    let prometheus = match settings.admin_addr {
        Some(_) => Some(authenteq_export::webhook::admin::install_prometheus()?),
        None => None,
    };
    let mut builder = Receiver::builder(sink)
        .keys(keys)
        .max_body_bytes(settings.max_body_bytes)
        .connections(settings.connections)
        .min_body_rate(settings.min_body_rate, settings.min_rate_window)
        .delivery_timeout(settings.delivery_timeout)
        .unverified_bytes(settings.unverified_bytes);
    if let Some((forwarder, handler_timeout)) = &settings.forward {
        builder = builder
            .on_stored(forwarder.handler())
            .handler_timeout(*handler_timeout);
    }
    let server = builder.build()?.bind(settings.addr).await?;
    {
        let mut stdout = io::stdout().lock();
        let _ = writeln!(stdout, "listening on {}", server.url());
        let _ = stdout.flush();
    }
    let admin = match (settings.admin_addr, prometheus) {
        (Some(addr), Some(prometheus)) => {
            let admin = server
                .admin()
                .metrics(move || prometheus.render())
                .build()
                .bind(addr)
                .await?;
            let mut stdout = io::stdout().lock();
            let _ = writeln!(stdout, "admin listening on {}", admin.url());
            let _ = stdout.flush();
            Some(admin)
        }
        _ => None,
    };
    stop.await;
    // The admin port stays up through the drain: its /readyz answers 503 from now on.
    server.shutdown_within(settings.shutdown_timeout).await?;
    if let Some(admin) = admin {
        admin.shutdown().await?;
    }
    Ok(())
}

/// Resolves at Ctrl-C or SIGTERM: the handlers are in place when it returns, before the
/// server says it listens, so that a signal sent right after is not the default (fatal) one.
fn stop_signal() -> Result<impl std::future::Future<Output = ()>, Failure> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let install = |kind| {
            signal(kind).map_err(|e| Context::new("cannot handle SIGTERM and SIGINT".to_owned(), e))
        };
        let mut term = install(SignalKind::terminate())?;
        let mut int = install(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// What `webhook send` was asked for, but where and what.
struct SendSettings {
    client_id: String,
    scheme: Scheme,
    retry: RetrySchedule,
    form_data: bool,
    retry_any_answer: bool,
    stats: bool,
}

fn send(to: &str, dir: PathBuf, settings: SendSettings) -> Result<(), Failure> {
    let started = Instant::now();
    let stats = settings.stats;
    let key = WebhookKey::new(settings.client_id, secret()?).scheme(settings.scheme);
    let sender = Sender::builder(key)
        .retry(settings.retry)
        .form_data(settings.form_data)
        .retry_any_answer(settings.retry_any_answer)
        .build()?;
    let sent = crate::output::runtime(2)?.block_on(sender.send_dir_with(to, &dir, |attempt| {
        eprintln!("{}", attempt_line(attempt));
    }))?;
    println!(
        "{}",
        serde_json::json!({
            "attempts": sent.attempts,
            "bytes": sent.bytes,
            "signature": sent.signature,
        })
    );
    if stats {
        output::print_stats(sent.bytes, started);
    }
    Ok(())
}

/// One attempt of `webhook send`, as a line for standard error.
fn attempt_line(attempt: &Attempt) -> String {
    let mut line = format!("attempt {}: ", attempt.number);
    match (attempt.status, &attempt.error) {
        (Some(200), None) => line.push_str("200, delivered"),
        (Some(status), _) => {
            line.push_str(&format!("answered {status}"));
            if let Some(reason) = &attempt.reason {
                line.push_str(&format!(" ({reason})"));
            }
        }
        (None, Some(error)) => line.push_str(&output::with_causes(error)),
        (None, None) => line.push_str("no answer"),
    }
    match attempt.next_in {
        Some(next) => line.push_str(&format!("; next try in {}", human_duration(next))),
        None if attempt.final_answer => line.push_str(
            "; giving up: retrying cannot change this answer (--retry-any-answer retries it)",
        ),
        None if attempt.error.is_some() => line.push_str("; giving up"),
        None => {}
    }
    line
}

fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else if secs < 3600.0 {
        format!("{:.0} min", secs / 60.0)
    } else {
        format!("{:.1} h", secs / 3600.0)
    }
}

fn detect(body: PathBuf, signature: &str) -> ExitCode {
    let found = (|| -> Result<Option<Scheme>, Failure> {
        let secret = secret()?;
        let mut detector = Detector::new(&secret, signature)?;
        let mut input: Box<dyn Read> = if body.as_os_str() == "-" {
            Box::new(io::stdin().lock())
        } else {
            Box::new(
                std::fs::File::open(&body)
                    .map_err(|e| Context::new(format!("cannot open {}", body.display()), e))?,
            )
        };
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => detector.update(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Context::new("cannot read the body".to_owned(), e).into()),
            }
        }
        Ok(detector.finish())
    })();
    match found {
        Ok(Some(scheme)) => {
            println!("{scheme}");
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!(
                "no construction matches: none of sha256-body-secret, sha256-secret-body, \
                 hmac-sha256 gives this signature with this secret and body"
            );
            ExitCode::FAILURE
        }
        Err(failure) => {
            output::report(&*failure);
            ExitCode::FAILURE
        }
    }
}
