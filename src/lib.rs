//! # authenteq-export
//!
//! Decodes the verification-result exports of the Authenteq identity-verification API as
//! streams, without holding a whole export in memory.
//!
//! The heart is [`multipart`], a zero-copy streaming decoder for `multipart/*` bodies: a core
//! with no I/O ([`multipart::Decoder`]) and thin front-ends for async streams
//! ([`multipart::Multipart`]) and blocking readers ([`multipart::blocking::Multipart`]).
//!
//! # Example: async, from any stream of `Bytes`
//!
//! ```
//! use authenteq_export::multipart::{Boundary, Multipart};
//! use bytes::Bytes;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // reqwest: `response.bytes_stream()`; a file: `tokio_util::io::ReaderStream::new(file)`.
//! let body = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(
//!     b"--b\r\nContent-Disposition: form-data; name=\"faceImage\"; filename=\"faceImage.jpeg\"\r\n\r\n\xff\xd8\xff\xd9\r\n--b--\r\n",
//! ))]);
//! let mut export = Multipart::new(body, Boundary::from_content_type("multipart/mixed; boundary=b")?);
//! while let Some(mut part) = export.next_part().await? {
//!     let mut sink = tokio::io::sink(); // a tokio::fs::File in real code
//!     let n = tokio::io::copy(&mut part, &mut sink).await?;
//!     assert_eq!(n, 4);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Example: blocking, from any `Read`
//!
//! ```
//! use authenteq_export::multipart::{blocking, Boundary};
//!
//! let saved: &[u8] = b"--b\r\nContent-Disposition: form-data; name=\"result\"\r\n\r\n{\"id\":\"1\"}\r\n--b--\r\n";
//! let boundary = Boundary::sniff(saved)?; // or Boundary::from_content_type(...)
//! let mut export = blocking::Multipart::new(saved, boundary);
//! while let Some(part) = export.next_part()? {
//!     let name = part.headers().name().map(str::to_owned);
//!     let payload = part.bytes()?;
//!     assert_eq!((name.as_deref(), &payload[..]), (Some("result"), &b"{\"id\":\"1\"}"[..]));
//! }
//! # Ok::<(), authenteq_export::Error>(())
//! ```
//!
//! # Example: the sans-I/O core
//!
//! ```
//! use authenteq_export::multipart::{Boundary, Decoder, Event};
//! use bytes::Bytes;
//!
//! let mut decoder = Decoder::new(Boundary::new("b")?);
//! let mut parts = 0;
//! for chunk in [&b"--b\r\n\r\nhel"[..], b"lo\r\n--", b"b--"] {
//!     decoder.feed(Bytes::copy_from_slice(chunk));
//!     while let Some(event) = decoder.next_event()? {
//!         match event {
//!             Event::PartStart(_) => parts += 1,
//!             Event::Data(_) | Event::PartEnd => {}
//!             Event::End => break,
//!         }
//!     }
//! }
//! decoder.finish();
//! assert_eq!(decoder.next_event()?, Some(Event::End));
//! assert_eq!(parts, 1);
//! # Ok::<(), authenteq_export::Error>(())
//! ```
//!
//! # Example: save an export into a folder
//!
//! ```
//! # #[cfg(feature = "save")] {
//! use authenteq_export::export::blocking::Export;
//! use authenteq_export::save::{blocking::save_export, OutputDir};
//!
//! let body = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/verification-result.json"))?;
//! let folder = tempfile::tempdir()?;
//! // Whole files only, under safe names, never over another file.
//! let saved = save_export(&mut Export::new(body, None)?, &OutputDir::create(folder.path())?)?;
//! assert!(saved.files().iter().any(|f| f.saved().name() == "addressProofDocument.pdf"));
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate features
//!
//! * **tokio-io** (default) - tokio's `AsyncRead` for the async part and file types, and
//!   `AsyncWrite` for `save::NewFile` when `save` is on too.
//! * **save** - the `save` module: a safe-name sanitiser and an output folder where files appear
//!   only when complete and nothing is overwritten. Adds `sha2` (and `rustix` on Linux).
//! * **client** - the `client` module: an HTTP client for the three export endpoints
//!   (reqwest with rustls, retries with backoff, timeouts); with `save` also
//!   `Client::save`, one verification fetched into a folder. Adds `reqwest`, `tracing`,
//!   `httpdate` and tokio's timer.
//! * **server** - the `server` module: a local emulator of the API's export endpoints on axum,
//!   with fault injection. Turns on `save` and `tokio-io`; adds axum, `subtle`, `tracing` and
//!   `pdf-writer`.
//! * **store** - the `store` module: verifications stored whole through one seam, `Sink`, a
//!   `manifest.json` last; `FolderSink` keeps them in a local folder. With `client` also the
//!   per-id job and the batch driver. Turns on `save`; adds tokio's blocking pool (no
//!   `object_store`).
//! * **object-store** - `store::ObjectSink`: the same into any `object_store` store (S3 and
//!   S3-compatible, local files, memory), and the clean-up of uploads a killed run left on S3.
//!   Turns on `store`; adds `object_store` (with its S3 client) and `futures-util`.
//! * **webhook** - the `webhook` module: signed webhook deliveries verified while they stream
//!   through the decoder, and signed (adds `sha2`, `hmac`, `subtle`; no HTTP crate). With
//!   `client` too, the sender (a stored verification delivered as the vendor would, retried on
//!   its schedule).
//! * **webhook-receiver** - `webhook::Receiver`: an axum router and server that store verified
//!   deliveries through any `store::Sink`. Turns on `webhook` and `store`; adds axum and
//!   hyper-util, but neither the emulator (`pdf-writer`) nor `object_store`.
//! * **webhook-forward** - `webhook::Forwarder`: the receiver's hand-off to the application,
//!   a small JSON event posted to a URL and signed the Standard Webhooks way. Turns on
//!   `webhook-receiver`; adds reqwest (with rustls).
//!
//! No feature is needed for [`multipart`] and [`export`] with blocking readers; a library user
//! gets no HTTP, server or command-line crate unless a feature asks for it. On docs.rs every
//! item says which feature it needs. The command-line tool is its own package,
//! `authenteq-export-cli` (`cargo install authenteq-export-cli`, or `cargo install --path cli`
//! from the repository).
//!
//! # Errors
//!
//! Every fallible call returns [`Error`], with a [`kind`](Error::kind), the byte offset and the
//! part where known.
//!
//! # Conventions
//!
//! - **One builder shape.** What runs or holds resources (the client, the emulator, the
//!   webhook receiver and sender) is made by `X::builder(...)`, whose setters take and return
//!   the builder, and `build()`, which checks the settings; a server is then started with
//!   `spawn()` or `bind(addr)` and runs as a `Server` handle (with the
//!   `server` or `webhook-receiver` feature). Plain settings values (`ExportLimits`,
//!   `multipart::Limits`, `WebhookKey`, `ObjectSink`) are complete when made, with setters of
//!   the same shape.
//! - **Getters.** A setting that can be set is read back with `get_<name>` (`get_max_files`,
//!   `get_scheme`), as `std::process::Command::get_program`; anything else is read with its
//!   plain name (`path()`, `addr()`).
//! - **Re-exports.** The crates whose types appear in this API are re-exported
//!   ([`bytes`], [`chrono`], [`indexmap`], [`serde_json`], [`futures_core`], and with their
//!   features `axum` and `object_store`), so a user needs no matching version of their own.
//! - **One word per concept.** A verification id is an [`export::VerificationId`]; an
//!   endpoint is an [`export::Endpoint`].

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]
#![forbid(unsafe_code)]

#[cfg(feature = "client")]
pub mod client;
mod driver;
mod error;
pub mod export;
#[cfg(any(feature = "client", feature = "webhook-forward"))]
mod http_url;
pub mod multipart;
// Safe file names: the rule of a verification id, and what `save` names files.
#[cfg_attr(not(feature = "save"), allow(dead_code))]
mod names;
mod payload;
#[cfg(feature = "save")]
pub mod save;
#[cfg(feature = "server")]
pub mod server;
#[cfg(any(feature = "server", feature = "webhook-receiver"))]
mod serving;
#[cfg(feature = "store")]
pub mod store;
#[cfg(any(feature = "server", all(feature = "webhook", feature = "client")))]
mod stored;
#[cfg(feature = "webhook")]
pub mod webhook;

pub use error::{Error, ErrorKind, Limit, PartRef, Result};

// The crates whose types this crate's API takes or gives, so that users need not pin matching
// versions (as reqwest re-exports `http`).
#[cfg(any(feature = "server", feature = "webhook-receiver"))]
pub use axum;
pub use bytes;
pub use chrono;
pub use futures_core;
pub use indexmap;
#[cfg(feature = "object-store")]
pub use object_store;
pub use serde_json;
#[cfg(any(feature = "server", feature = "webhook-receiver"))]
pub use serving::{
    raise_open_file_limit, ConnectionLimits, Server, DEFAULT_HEAD_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    RESERVED_FILES,
};

// The README's Rust code blocks, compiled as doc tests.
#[cfg(all(
    doctest,
    feature = "save",
    feature = "client",
    feature = "server",
    feature = "object-store",
    feature = "webhook-receiver"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

// The same for the pages under `docs/` that hold Rust code (each such page gets one here).
#[cfg(all(
    doctest,
    feature = "save",
    feature = "client",
    feature = "server",
    feature = "object-store",
    feature = "webhook-receiver"
))]
#[doc = include_str!("../docs/storage.md")]
struct StorageDocDoctests;
