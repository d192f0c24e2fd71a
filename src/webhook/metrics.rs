//! The receiver's metrics, named once: what it emits through the `metrics` facade.
//!
//! Without a recorder installed, each call costs a load of the (empty) global recorder. Install
//! one (with the `prometheus` feature, [`install_prometheus`](super::admin::install_prometheus))
//! and serve it on the admin port ([`admin`](super::admin)):
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | [`DELIVERIES`] | counter | `outcome`: an [`Outcome::label`] | deliveries answered |
//! | [`VERIFIED`] | counter | `key`: the matched key's label, else its position | deliveries whose signature matched |
//! | [`RECEIVED_BYTES`] | counter | | body bytes read, of every delivery |
//! | [`DELIVERY_SECONDS`] | histogram | | head to answer, every outcome |
//! | [`IN_FLIGHT`] | gauge | | deliveries being received or handed off |
//! | [`OPEN_CONNECTIONS`] | gauge | | the receiver's open connections, set at each scrape |
//! | [`UNVERIFIED_BYTES`] | gauge | | bytes held before their signature is checked, set at each scrape |
//! | [`HANDOFF_SECONDS`] | histogram | | one call of the application's handler, marker included |
//! | [`HANDOFF_FAILURES`] | counter | | hand-offs that failed |
//!
//! No label carries a verification id, a secret, or anything of a delivery's content.

use std::time::Duration;

/// The prefix of every metric of the receiver.
pub const PREFIX: &str = "authenteq_webhook_";

/// Counter: deliveries answered, by `outcome` (an [`Outcome::label`]).
pub const DELIVERIES: &str = "authenteq_webhook_deliveries_total";

/// Counter: deliveries whose signature matched, by `key`: the matched key's
/// [label](super::WebhookKey::label), else its position (`0` for the first key). While a secret
/// is rotated, it shows when the previous one stops being used.
pub const VERIFIED: &str = "authenteq_webhook_verified_total";

/// Counter: bytes of delivery bodies read, of every delivery (refused ones too).
pub const RECEIVED_BYTES: &str = "authenteq_webhook_received_bytes_total";

/// Histogram: seconds from a delivery's head to its answer, every outcome.
pub const DELIVERY_SECONDS: &str = "authenteq_webhook_delivery_duration_seconds";

/// Gauge: deliveries being received or handed off right now.
pub const IN_FLIGHT: &str = "authenteq_webhook_deliveries_in_flight";

/// Gauge: the receiver's open connections, set when the admin router is scraped.
pub const OPEN_CONNECTIONS: &str = "authenteq_webhook_open_connections";

/// Gauge: bytes of deliveries not yet verified held right now (see
/// [`ReceiverBuilder::unverified_bytes`](super::ReceiverBuilder::unverified_bytes)), set when
/// the admin router is scraped.
pub const UNVERIFIED_BYTES: &str = "authenteq_webhook_unverified_bytes";

/// Histogram: seconds one call of the application's handler
/// ([`ReceiverBuilder::on_stored`](super::ReceiverBuilder::on_stored)) took, marker included.
pub const HANDOFF_SECONDS: &str = "authenteq_webhook_handoff_duration_seconds";

/// Counter: hand-offs that failed (the handler failed, panicked or timed out, or the marker
/// could not be read or written).
pub const HANDOFF_FAILURES: &str = "authenteq_webhook_handoff_failures_total";

/// The upper bounds, in seconds, of the buckets of the two duration histograms as
/// [`install_prometheus`](super::admin::install_prometheus) sets them: 5 ms to 10 minutes (the
/// default delivery timeout).
pub const DURATION_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// What a delivery came to, as the `outcome` label of [`DELIVERIES`]: a fixed set of values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// `stored`: verified and stored now, handed off if there is a handler (`200`).
    Stored,
    /// `repeat`: verified, stored before (`200`).
    Repeat,
    /// `unauthorized`: no or another client id, or a signature that does not match (`401`).
    Unauthorized,
    /// `bad_request`: a malformed or cut body, or another client error (`400`, `415`...).
    BadRequest,
    /// `too_large`: over the body cap (`413`).
    TooLarge,
    /// `timed_out`: over the delivery timeout or under the minimum rate (`408`).
    TimedOut,
    /// `unavailable`: ended to make room for others, or by the drain's deadline (`503`).
    Unavailable,
    /// `handoff_failed`: stored, but the application's handler did not succeed (`500`).
    HandoffFailed,
    /// `failed`: the store failed, or another server error (`500`).
    Failed,
}

impl Outcome {
    /// Every outcome, in the order of the table.
    pub const ALL: [Outcome; 9] = [
        Outcome::Stored,
        Outcome::Repeat,
        Outcome::Unauthorized,
        Outcome::BadRequest,
        Outcome::TooLarge,
        Outcome::TimedOut,
        Outcome::Unavailable,
        Outcome::HandoffFailed,
        Outcome::Failed,
    ];

    /// Its value in the `outcome` label.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::Repeat => "repeat",
            Outcome::Unauthorized => "unauthorized",
            Outcome::BadRequest => "bad_request",
            Outcome::TooLarge => "too_large",
            Outcome::TimedOut => "timed_out",
            Outcome::Unavailable => "unavailable",
            Outcome::HandoffFailed => "handoff_failed",
            Outcome::Failed => "failed",
        }
    }

    /// The outcome of a refused delivery answered `status`.
    pub(crate) fn of_refusal(status: u16) -> Outcome {
        match status {
            401 => Outcome::Unauthorized,
            413 => Outcome::TooLarge,
            408 | 504 => Outcome::TimedOut,
            503 => Outcome::Unavailable,
            400..=499 => Outcome::BadRequest,
            _ => Outcome::Failed,
        }
    }
}

/// Describes every metric to the recorder installed (their help text and units).
pub fn describe() {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(DELIVERIES, "Webhook deliveries answered, by outcome");
    describe_counter!(
        VERIFIED,
        "Webhook deliveries whose signature matched, by key label"
    );
    describe_counter!(
        RECEIVED_BYTES,
        Unit::Bytes,
        "Bytes of webhook delivery bodies read"
    );
    describe_histogram!(
        DELIVERY_SECONDS,
        Unit::Seconds,
        "Time from a delivery's head to its answer"
    );
    describe_gauge!(IN_FLIGHT, "Webhook deliveries in progress");
    describe_gauge!(OPEN_CONNECTIONS, "Open connections of the webhook receiver");
    describe_gauge!(
        UNVERIFIED_BYTES,
        Unit::Bytes,
        "Bytes of deliveries held before their signature is checked"
    );
    describe_histogram!(
        HANDOFF_SECONDS,
        Unit::Seconds,
        "Time one call of the application's handler took"
    );
    describe_counter!(HANDOFF_FAILURES, "Hand-offs to the application that failed");
}

/// Records one answered delivery.
pub(crate) fn delivery(outcome: Outcome, bytes: u64, took: Duration) {
    ::metrics::counter!(DELIVERIES, "outcome" => outcome.label()).increment(1);
    ::metrics::counter!(RECEIVED_BYTES).increment(bytes);
    ::metrics::histogram!(DELIVERY_SECONDS).record(took.as_secs_f64());
}

/// Records a delivery verified with the key named `key`.
pub(crate) fn verified(key: &str) {
    ::metrics::counter!(VERIFIED, "key" => key.to_owned()).increment(1);
}

/// Records one call of the handler.
pub(crate) fn handoff(took: Duration, failed: bool) {
    ::metrics::histogram!(HANDOFF_SECONDS).record(took.as_secs_f64());
    if failed {
        ::metrics::counter!(HANDOFF_FAILURES).increment(1);
    }
}

/// A delivery in progress: counted in [`IN_FLIGHT`] while it lives (a delivery whose future
/// is dropped too).
pub(crate) struct InFlight(());

impl InFlight {
    pub(crate) fn start() -> InFlight {
        ::metrics::gauge!(IN_FLIGHT).increment(1.0);
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        ::metrics::gauge!(IN_FLIGHT).decrement(1.0);
    }
}
