//! The receiver's metrics, named once: what it emits through the `metrics` facade.
//!
//! Without a recorder installed, each call costs a load of the (empty) global recorder. Install
//! one (with the `prometheus` feature, [`install_prometheus`](super::admin::install_prometheus))
//! and serve it on the admin port ([`admin`](super::admin)):
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | [`DELIVERIES`] | counter | `outcome`: an [`Outcome::label`] | deliveries answered |
//! | [`VERIFIED`] | counter | `key`: the matched key's label, else its position | deliveries whose signature matched, whatever came after (stored, repeat, or a store or hand-off that failed) |
//! | [`RECEIVED_BYTES`] | counter | | body bytes read, of every delivery |
//! | [`DELIVERY_SECONDS`] | histogram | | head to answer, every outcome |
//! | [`IN_FLIGHT`] | gauge | | deliveries being received or handed off |
//! | [`OPEN_CONNECTIONS`] | gauge | | the receiver's open connections, set at each scrape (one receiver per process: see below) |
//! | [`UNVERIFIED_BYTES`] | gauge | | bytes held before their signature is checked, set at each scrape (one receiver per process: see below) |
//! | [`HANDOFF_SECONDS`] | histogram | | one call of the application's handler, marker included |
//! | [`HANDOFF_FAILURES`] | counter | | hand-offs that failed |
//!
//! No label carries a verification id, a secret, or anything of a delivery's content.
//!
//! The names are the process's: two receivers in one process add to the same counters and
//! histograms, and each admin router's scrape sets the two gauges [`OPEN_CONNECTIONS`] and
//! [`UNVERIFIED_BYTES`] to its own receiver's values, overwriting the other's. Run one
//! receiver per process for these gauges to mean something.

use std::time::Duration;

use crate::error::ErrorKind;

/// The prefix of every metric of the receiver.
pub const PREFIX: &str = "authenteq_webhook_";

/// Counter: deliveries answered, by `outcome` (an [`Outcome::label`]).
pub const DELIVERIES: &str = "authenteq_webhook_deliveries_total";

/// Counter: deliveries whose signature matched, by `key`: the matched key's
/// [label](super::WebhookKey::label), else its position (`0` for the first key), whatever came
/// after (stored, a repeat, or a store or hand-off that failed). While a secret is rotated, it
/// shows when the previous one stops being used.
pub const VERIFIED: &str = "authenteq_webhook_verified_total";

/// Counter: bytes of delivery bodies read, of every delivery (refused ones too).
pub const RECEIVED_BYTES: &str = "authenteq_webhook_received_bytes_total";

/// Histogram: seconds from a delivery's head to its answer, every outcome.
pub const DELIVERY_SECONDS: &str = "authenteq_webhook_delivery_duration_seconds";

/// Gauge: deliveries being received or handed off right now.
pub const IN_FLIGHT: &str = "authenteq_webhook_deliveries_in_flight";

/// Gauge: the receiver's open connections, set when the admin router is scraped. No label:
/// with two receivers in one process, the last scraped one's value.
pub const OPEN_CONNECTIONS: &str = "authenteq_webhook_open_connections";

/// Gauge: bytes of deliveries not yet verified held right now (see
/// [`ReceiverBuilder::unverified_bytes`](super::ReceiverBuilder::unverified_bytes)), set when
/// the admin router is scraped. No label: with two receivers in one process, the last scraped
/// one's value.
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

/// What a delivery came to, as the `outcome` label of [`DELIVERIES`]: a fixed set of values,
/// told apart by what failed (the delivery, the store, the hand-off), not by the status
/// answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// `stored`: verified and stored now, handed off if there is a handler (`200`).
    Stored,
    /// `repeat`: verified, stored before (`200`).
    Repeat,
    /// `unauthorized`: no or another client id, or a signature that does not match (`401`).
    Unauthorized,
    /// `bad_request`: a malformed or cut body, a body that broke off, a content type that is
    /// not multipart, a result without a usable id (`400`).
    BadRequest,
    /// `too_large`: over the body cap, or alone over the unverified bytes' budget (`413`).
    TooLarge,
    /// `timed_out`: the vendor's delivery was too slow: over the delivery timeout or under
    /// the minimum rate (`408`).
    TimedOut,
    /// `unavailable`: ended to make room for others, or by the drain's deadline (`503`).
    Unavailable,
    /// `store_failed`: the store failed to look up, stage or commit the delivery (`500`, or
    /// `504` for its timeout, `409` for another writer's different bytes).
    StoreFailed,
    /// `handoff_failed`: stored, but the application's handler did not succeed (`500`).
    HandoffFailed,
    /// `failed`: another failure of our own (`500`).
    Failed,
}

impl Outcome {
    /// Every outcome, in the order of the table.
    pub const ALL: [Outcome; 10] = [
        Outcome::Stored,
        Outcome::Repeat,
        Outcome::Unauthorized,
        Outcome::BadRequest,
        Outcome::TooLarge,
        Outcome::TimedOut,
        Outcome::Unavailable,
        Outcome::StoreFailed,
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
            Outcome::StoreFailed => "store_failed",
            Outcome::HandoffFailed => "handoff_failed",
            Outcome::Failed => "failed",
        }
    }

    /// The outcome of a delivery refused for an error of `kind` in the delivery itself (its
    /// headers, body, pace or signature): the store's failures are
    /// [`StoreFailed`](Self::StoreFailed) whatever their kind, and the receiver's own reasons
    /// (eviction, drain) are counted where they are decided.
    pub(crate) fn of_delivery(kind: ErrorKind) -> Outcome {
        match kind {
            ErrorKind::Signature => Outcome::Unauthorized,
            ErrorKind::LimitExceeded => Outcome::TooLarge,
            ErrorKind::Timeout => Outcome::TimedOut,
            // The body's own faults: the kinds answered 400 (malformed, unsafe or not an
            // export), and an error document or another content type where the export was.
            ErrorKind::Api | ErrorKind::UnexpectedContentType => Outcome::BadRequest,
            kind if kind.http_status() == 400 => Outcome::BadRequest,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A table: what the delivery's error kind counts as, whatever status it is answered.
    #[test]
    fn a_delivery_error_counts_by_its_kind() {
        for (kind, outcome) in [
            (ErrorKind::Signature, Outcome::Unauthorized),
            (ErrorKind::LimitExceeded, Outcome::TooLarge),
            // The vendor's slow delivery (408), not a 504.
            (ErrorKind::Timeout, Outcome::TimedOut),
            (ErrorKind::UnexpectedEnd, Outcome::BadRequest),
            (ErrorKind::InvalidContentType, Outcome::BadRequest),
            (ErrorKind::Read, Outcome::BadRequest),
            (ErrorKind::Json, Outcome::BadRequest),
            (ErrorKind::InvalidId, Outcome::BadRequest),
            (ErrorKind::Usage, Outcome::Failed),
            (ErrorKind::Io, Outcome::Failed),
        ] {
            assert_eq!(Outcome::of_delivery(kind), outcome, "{kind:?}");
        }
    }

    #[test]
    fn every_outcome_has_its_own_label() {
        let labels: std::collections::HashSet<_> = Outcome::ALL.iter().map(|o| o.label()).collect();
        assert_eq!(labels.len(), Outcome::ALL.len());
        assert!(labels.contains("store_failed"));
    }
}
