//! Signed webhook deliveries: verified while they stream, received, and sent for tests.
//!
//! The vendor delivers each finished verification by webhook: a `POST` whose body is the same
//! multipart message as the multipart export, with the header `X-CLIENT-ID` (the client id) and
//! `X-SIGNATURE`, "the hex-encoded SHA256 digest of the request body and your Client Secret".
//! A receiver is to check both on the body **as it came**, before parsing it, handle it only if
//! they match, and answer `200`; any other answer, or none, is retried an hour later, for a week,
//! so deliveries repeat.
//!
//! - [`WebhookKey`] holds the client id, the secret and the [`Scheme`] (the documentation leaves
//!   open whether the secret comes after or before the body, or keys an HMAC; [`detect`] settles
//!   it from one captured delivery).
//! - [`Verifier`] hashes the body's bytes as they pass; [`SignedDecoder`] (no I/O) and
//!   [`Delivery`] (an async `Stream` of `Bytes`) put it in front of the export decoder, so the
//!   bytes are hashed on their way into the decoder: no second pass, no copy of the body. They
//!   report the body's end only if the signature matches, and fail with
//!   [`ErrorKind::Signature`](crate::ErrorKind::Signature) otherwise. Everything read before
//!   the end is **provisional**.
//! - With the `webhook-receiver` feature, `Receiver` is an axum router (and a server) that
//!   stores verified deliveries through any `store::Sink` (a folder, S3 and the other object
//!   stores, or your own), files visible only after the check, once per id, the way `fetch`
//!   stores downloads. Its [`admin`] router serves `/livez`, `/readyz` and `/metrics` on a
//!   port of its own; [`metrics`] names what it measures.
//! - With the `webhook-forward` feature, `Forwarder` is a handler for the receiver's
//!   `on_stored` that hands each stored verification on to the application: a small JSON
//!   event (the result and where each file is), signed the Standard Webhooks way, so the
//!   application verifies it with any Standard Webhooks library.
//! - With the `client` feature, `Sender` delivers a stored verification as the vendor would,
//!   streamed from disk, signed, retried on the vendor's schedule: to test a receiver
//!   in-process (the emulator's `server` module offers it too).
//!
//! # Example: verify a delivery
//!
//! ```
//! use authenteq_export::export::{ExportItem, ExportLimits};
//! use authenteq_export::webhook::{Delivery, Scheme, WebhookKey};
//! use bytes::Bytes;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let key = WebhookKey::new("my-client-id", "my-client-secret").scheme(Scheme::Sha256BodySecret);
//! // From the request: the headers, and the body as a stream of `Bytes`.
//! let body = b"--b\r\nContent-Disposition: form-data; name=\"result\"\r\n\r\n{\"id\":\"v1\"}\r\n--b--\r\n";
//! let signature = key.sign(body); // what the vendor put in X-SIGNATURE
//! let stream = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(body))]);
//!
//! let verifier = key.verifier(Some("my-client-id"), Some(&signature))?;
//! let limits = ExportLimits::default().max_body_bytes(128 << 20);
//! let mut delivery = Delivery::new(stream, Some("multipart/form-data; boundary=b"), verifier, limits)?;
//! let mut id = None;
//! while let Some(item) = delivery.next_item().await? {
//!     if let ExportItem::Result { result, .. } = item {
//!         id = Some(result.id); // provisional until the loop ends
//!     }
//! }
//! assert_eq!(id.as_deref(), Some("v1")); // verified
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

#[cfg(feature = "webhook-receiver")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhook-receiver")))]
pub mod admin;
#[cfg(feature = "webhook-forward")]
mod forward;
#[cfg(feature = "webhook-receiver")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhook-receiver")))]
pub mod metrics;
#[cfg(feature = "webhook-receiver")]
mod pace;
#[cfg(feature = "webhook-receiver")]
mod receiver;
mod scheme;
#[cfg(feature = "client")]
mod send;
mod verify;

#[cfg(feature = "webhook-forward")]
pub use forward::{
    event_body, event_id, ForwardFuture, ForwardSecret, Forwarder, ForwarderBuilder,
    ANSWER_BODY_TIMEOUT, DEFAULT_FORWARD_CONNECT_TIMEOUT, DEFAULT_FORWARD_TIMEOUT,
    DEFAULT_MAX_ANSWER_BYTES, EVENT_TYPE,
};
#[cfg(feature = "webhook-receiver")]
pub use receiver::{
    Receiver, ReceiverBuilder, StoredVerification, DEFAULT_DELIVERY_TIMEOUT,
    DEFAULT_HANDLER_TIMEOUT, DEFAULT_MAX_BODY_BYTES, DEFAULT_MIN_BODY_RATE,
    DEFAULT_MIN_RATE_WINDOW, DEFAULT_UNVERIFIED_BYTES,
};
pub use scheme::{Scheme, Secret, Signer};
#[cfg(feature = "client")]
pub use send::{Attempt, RetrySchedule, Sender, SenderBuilder, Sent};
pub use verify::{
    detect, Delivery, DeliveryFile, Detector, SignedDecoder, Verifier, WebhookKey,
    CLIENT_ID_HEADER, SIGNATURE_HEADER,
};
