//! `fetch`: the library's `Client::save` into DIR, with credentials from the environment, and
//! the same summary as `split`.

use std::io::{self, IsTerminal};
use std::path::Path;
use std::time::Duration;

use authenteq_export::client::{Client, Endpoint};
use authenteq_export::save::OutputDir;

use crate::output::{result_value, saved_parts, Context, Done, Failure, Summary};

/// The environment variables that hold the API keys (never flags: flags show in `ps`).
pub const CLIENT_ID_VAR: &str = "AUTHENTEQ_CLIENT_ID";
pub const CLIENT_SECRET_VAR: &str = "AUTHENTEQ_CLIENT_SECRET";

/// What `fetch` was asked for.
pub struct Request<'a> {
    pub id: &'a str,
    pub endpoint: Endpoint,
    pub out: &'a Path,
    pub base_url: Option<&'a str>,
    pub retries: Option<u32>,
    pub connect_timeout: Option<f64>,
    pub idle_timeout: Option<f64>,
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

pub fn run(request: &Request<'_>) -> Result<Done, Failure> {
    let mut builder = Client::builder().credentials(env(CLIENT_ID_VAR)?, env(CLIENT_SECRET_VAR)?);
    if let Some(url) = request.base_url {
        builder = builder.base_url(url);
    }
    if let Some(retries) = request.retries {
        builder = builder.retries(retries);
    }
    if let Some(secs) = request.connect_timeout {
        builder = builder.connect_timeout(seconds("--connect-timeout", secs)?);
    }
    if let Some(secs) = request.idle_timeout {
        builder = builder.idle_timeout(seconds("--idle-timeout", secs)?);
    }
    let client = builder.build()?;
    authenteq_export::client::check_id(request.id)?;
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
        summary: Summary {
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
