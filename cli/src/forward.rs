//! `webhook serve --forward-to`: the receiver's hand-off to the application, a signed event
//! per stored verification. The library's `webhook::Forwarder` does the work; this reads its
//! flags and its secret.

use std::time::Duration;

use authenteq_export::webhook::{ForwardSecret, Forwarder};
use clap::Args;

use crate::output::Failure;

/// The environment variable that holds the forward secret, `whsec_<base64>` (never a flag:
/// flags show in `ps`).
pub const FORWARD_SECRET_VAR: &str = "AUTHENTEQ_FORWARD_SECRET";

/// What the receiver allows the hand-off beyond the forward's own timeout, so that a slow
/// application is reported as a timeout of the forward.
const HANDLER_MARGIN: Duration = Duration::from_secs(2);

#[derive(Args)]
pub struct ForwardArgs {
    /// Hand each stored verification to the application: POST a JSON event
    /// {"type":"verification.stored","timestamp":..,"data":{"id","result","files":[{"name",
    /// "size","sha256","contentType","location"}]}} (no file bytes) to this URL, signed the
    /// Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature) with the
    /// secret in AUTHENTEQ_FORWARD_SECRET (whsec_<base64>). A 2xx answer means handled
    /// (recorded as <id>/handled.json; a repeat of the id is not forwarded again); any
    /// other answer, a redirect, a timeout or a failed connection answers the delivery 500,
    /// so that the vendor delivers it again. At least once: the webhook-id is the same for
    /// every attempt of one verification id.
    /// The forwarder connects directly: it ignores HTTP_PROXY, HTTPS_PROXY and ALL_PROXY (an
    /// application reached only through a proxy is not supported). Default: none, nothing is
    /// forwarded.
    #[arg(long, value_name = "URL")]
    pub forward_to: Option<String>,
    /// The longest one forward may take, connection to the end of the answer, in seconds
    /// (above 0). Only the answer's status counts: its body is read for at most 1 s, about
    /// 4 KiB of it.
    #[arg(long, value_name = "SECS", default_value_t = authenteq_export::webhook::DEFAULT_FORWARD_TIMEOUT.as_secs_f64())]
    pub forward_timeout: f64,
    /// The longest to wait for a connection to the application, in seconds (above 0).
    #[arg(long, value_name = "SECS", default_value_t = authenteq_export::webhook::DEFAULT_FORWARD_CONNECT_TIMEOUT.as_secs_f64())]
    pub forward_connect_timeout: f64,
    /// Let --forward-to be plain http:// to a host that is not loopback (the events hold
    /// personal data). Off by default: plain http:// only to loopback.
    #[arg(long)]
    pub allow_insecure_http: bool,
}

impl ForwardArgs {
    /// The forwarder and the receiver's handler timeout for it, or `None` without
    /// `--forward-to`.
    pub fn forwarder(&self) -> Result<Option<(Forwarder, Duration)>, Failure> {
        let Some(url) = &self.forward_to else {
            return Ok(None);
        };
        let secret = match std::env::var(FORWARD_SECRET_VAR) {
            Ok(value) if !value.is_empty() => value,
            _ => {
                return Err(format!(
                    "{FORWARD_SECRET_VAR} is not set: --forward-to signs each event with the \
                     secret in it (whsec_<base64 of 32 random bytes>)"
                )
                .into())
            }
        };
        let secret = ForwardSecret::parse(&secret)
            .map_err(|e| format!("{FORWARD_SECRET_VAR}: {}", e.detail()))?;
        let timeout = seconds("--forward-timeout", self.forward_timeout)?;
        let forwarder = Forwarder::builder(url.clone(), secret)
            .timeout(timeout)
            .connect_timeout(seconds(
                "--forward-connect-timeout",
                self.forward_connect_timeout,
            )?)
            .allow_insecure_http(self.allow_insecure_http)
            .build()
            .map_err(|e| format!("--forward-to: {}", e.detail()))?;
        Ok(Some((forwarder, timeout + HANDLER_MARGIN)))
    }
}

/// A timeout flag's value: a number of seconds above 0 (at least a millisecond).
fn seconds(flag: &str, secs: f64) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| *d >= Duration::from_millis(1))
        .ok_or_else(|| {
            format!("{flag} takes a number of seconds above 0 (at least 0.001), not {secs}").into()
        })
}
