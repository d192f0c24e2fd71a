//! The client for code that is not async: the same names as the async
//! [`client`](super) ([`Client`], [`ClientBuilder`], [`Attempts`], [`ResponseBody`]), each call
//! waiting for its answer, as `reqwest::blocking` does.
//!
//! A [`Client`] holds a tokio runtime of its own (one thread-less, current-thread runtime,
//! shared by its clones) and drives the async client on it: the calls run the runtime while
//! they wait, and the body is pulled from the socket only while the export is read, so a slow
//! reader slows the sender as the async client does. Its exports are
//! [`export::blocking::Export`](crate::export::blocking::Export)s over a [`ResponseBody`] that
//! is a [`std::io::Read`]; [`Client::save`] writes them with
//! [`save::blocking`](crate::save::blocking).
//!
//! Do not call it from inside an async runtime (a `#[tokio::main]` function, a task): waiting
//! there would block the runtime's thread, and tokio refuses to start a runtime inside
//! another; use the async [`Client`](super::Client) there.
//!
//! # Examples
//!
//! ```no_run
//! use std::io::Read;
//! use authenteq_export::client::blocking::Client;
//! use authenteq_export::export::ExportItem;
//!
//! let client = Client::new("my-client-id", "my-client-secret")?;
//! let mut export = client.pdf("8c3f6a2e")?;
//! while let Some(item) = export.next_item()? {
//!     if let ExportItem::File(mut file) = item {
//!         let mut pdf = Vec::new();
//!         file.read_to_end(&mut pdf)?;
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_core::Stream;
use tokio::runtime::Runtime;

use super::{Endpoint, Opened};
use crate::error::{Error, ErrorKind, Result};
use crate::export::blocking::Export;
use crate::export::ExportLimits;

/// Builds a blocking [`Client`]: the settings and defaults of the async
/// [`ClientBuilder`](super::ClientBuilder), whose docs each setter links to.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use authenteq_export::client::blocking::Client;
///
/// let client = Client::builder()
///     .credentials("my-client-id", "my-client-secret")
///     .base_url("http://127.0.0.1:8080")
///     .attempt_timeout(Duration::from_secs(60))
///     .build()?;
/// assert_eq!(client.base_url(), "http://127.0.0.1:8080/");
/// # Ok::<(), authenteq_export::Error>(())
/// ```
#[must_use]
#[derive(Debug, Default)]
pub struct ClientBuilder {
    inner: super::ClientBuilder,
}

/// Setters that hand their value on to the async builder's setter of the same name.
macro_rules! forward {
    ($($name:ident($arg:ident: $ty:ty);)+) => {
        $(
            #[doc = concat!("As the async [`ClientBuilder::", stringify!($name), "`](super::ClientBuilder::", stringify!($name), ").")]
            pub fn $name(self, $arg: $ty) -> Self {
                ClientBuilder { inner: self.inner.$name($arg) }
            }
        )+
    };
}

impl ClientBuilder {
    /// As the async [`ClientBuilder::credentials`](super::ClientBuilder::credentials).
    pub fn credentials(self, client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        ClientBuilder {
            inner: self.inner.credentials(client_id, secret),
        }
    }

    /// As the async [`ClientBuilder::base_url`](super::ClientBuilder::base_url).
    pub fn base_url(self, url: impl Into<String>) -> Self {
        ClientBuilder {
            inner: self.inner.base_url(url),
        }
    }

    forward! {
        connect_timeout(timeout: Duration);
        read_timeout(timeout: Duration);
        attempt_timeout(timeout: Duration);
        timeout(deadline: Duration);
        retries(retries: u32);
        backoff_base(base: Duration);
        backoff_cap(cap: Duration);
        retry_after_cap(cap: Duration);
        max_body_bytes(max: u64);
        max_file_bytes(max: u64);
        limits(limits: ExportLimits);
        allow_insecure_http(allow: bool);
        http2_prior_knowledge(on: bool);
        http_client(http: reqwest::Client);
    }

    /// The client, with its runtime.
    ///
    /// # Errors
    ///
    /// As the async [`ClientBuilder::build`](super::ClientBuilder::build); an
    /// [`ErrorKind::Io`] error when the runtime cannot be made.
    pub fn build(self) -> Result<Client> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Error::with_source(ErrorKind::Io, "cannot start the client's runtime", e)
            })?;
        // reqwest's client registers with the runtime it is built in.
        let inner = {
            let _in_runtime = runtime.enter();
            self.inner.build()?
        };
        Ok(Client {
            inner,
            runtime: Arc::new(runtime),
        })
    }
}

/// A blocking client of the Authenteq export API: the async [`Client`](super::Client) with a
/// runtime of its own. Cheap to clone; clones share the connection pool and the runtime.
///
/// # Examples
///
/// ```no_run
/// use authenteq_export::client::{blocking::Client, Endpoint};
/// use authenteq_export::save::OutputDir;
///
/// let client = Client::new("my-client-id", "my-client-secret")?;
/// let fetched = client.save(Endpoint::Multipart, "8c3f6a2e", &OutputDir::create("out")?)?;
/// println!("{} files in {} attempts", fetched.saved().files().len(), fetched.attempts());
/// # Ok::<(), authenteq_export::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: super::Client,
    runtime: Arc<Runtime>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Client {
    /// As the async [`Client::new`](super::Client::new).
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::build`].
    pub fn new(client_id: impl Into<String>, secret: impl Into<String>) -> Result<Client> {
        Client::builder().credentials(client_id, secret).build()
    }

    /// A builder, for other settings than the defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The base URL the endpoint paths are added to.
    pub fn base_url(&self) -> &str {
        self.inner.base_url()
    }

    /// As the async [`Client::multipart`](super::Client::multipart), waiting for the export's
    /// first item.
    ///
    /// # Errors
    ///
    /// As the async [`Client::multipart`](super::Client::multipart).
    pub fn multipart(&self, id: &str) -> Result<Export<ResponseBody>> {
        self.export(Endpoint::Multipart, id)
    }

    /// As the async [`Client::json`](super::Client::json).
    ///
    /// # Errors
    ///
    /// As the async [`Client::multipart`](super::Client::multipart).
    pub fn json(&self, id: &str) -> Result<Export<ResponseBody>> {
        self.export(Endpoint::Json, id)
    }

    /// As the async [`Client::pdf`](super::Client::pdf).
    ///
    /// # Errors
    ///
    /// As the async [`Client::multipart`](super::Client::multipart).
    pub fn pdf(&self, id: &str) -> Result<Export<ResponseBody>> {
        self.export(Endpoint::Pdf, id)
    }

    /// As the async [`Client::export`](super::Client::export).
    ///
    /// # Errors
    ///
    /// As the async [`Client::multipart`](super::Client::multipart).
    pub fn export(&self, endpoint: Endpoint, id: &str) -> Result<Export<ResponseBody>> {
        self.attempts(endpoint, id)?.first()
    }

    /// As the async [`Client::attempts`](super::Client::attempts).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidId`] when the id is not sent.
    pub fn attempts(&self, endpoint: Endpoint, id: &str) -> Result<Attempts<'_>> {
        Ok(Attempts {
            inner: self.inner.attempts(endpoint, id)?,
            runtime: &self.runtime,
        })
    }

    /// As the async [`Client::save`](super::Client::save): the export read through
    /// [`save::blocking::save_export`](crate::save::blocking::save_export), restarted whole on
    /// a retryable failure.
    ///
    /// # Errors
    ///
    /// As the async [`Client::save`](super::Client::save).
    #[cfg(feature = "save")]
    pub fn save(
        &self,
        endpoint: Endpoint,
        id: &str,
        dir: &crate::save::OutputDir,
    ) -> Result<super::Fetched> {
        self.save_with_progress(endpoint, id, dir, |_, _| {})
    }

    /// As the async [`Client::save_with_progress`](super::Client::save_with_progress).
    ///
    /// # Errors
    ///
    /// As [`save`](Self::save).
    #[cfg(feature = "save")]
    pub fn save_with_progress(
        &self,
        endpoint: Endpoint,
        id: &str,
        dir: &crate::save::OutputDir,
        progress: impl Fn(u64, Option<u64>) + Send + Sync + 'static,
    ) -> Result<super::Fetched> {
        let mut attempts = self.attempts(endpoint, id)?;
        attempts.inner.set_progress(Arc::new(progress));
        let mut export = attempts.first()?;
        loop {
            match crate::save::blocking::save_export(&mut export, dir) {
                Ok(saved) => {
                    return Ok(super::Fetched {
                        saved,
                        format: export.format().cloned(),
                        bytes_read: export.bytes_read(),
                        attempts: attempts.count(),
                    })
                }
                Err(error) => export = attempts.retry(error)?,
            }
        }
    }
}

/// As the async [`Attempts`](super::Attempts): the attempts at one verification, within one
/// budget.
///
/// # Examples
///
/// ```no_run
/// use authenteq_export::client::{blocking::Client, Endpoint};
///
/// let client = Client::new("my-client-id", "my-client-secret")?;
/// let mut attempts = client.attempts(Endpoint::Json, "8c3f6a2e")?;
/// let mut export = attempts.first()?;
/// let items = loop {
///     let mut items = 0;
///     let read = (|| {
///         while export.next_item()?.is_some() {
///             items += 1;
///         }
///         Ok::<(), authenteq_export::Error>(())
///     })();
///     match read {
///         Ok(()) => break items,
///         Err(error) => export = attempts.retry(error)?,
///     }
/// };
/// # drop(items);
/// # Ok::<(), authenteq_export::Error>(())
/// ```
#[derive(Debug)]
pub struct Attempts<'c> {
    inner: super::Attempts<'c>,
    runtime: &'c Arc<Runtime>,
}

impl Attempts<'_> {
    /// As the async [`Attempts::first`](super::Attempts::first).
    ///
    /// # Errors
    ///
    /// As the async [`Client::multipart`](super::Client::multipart).
    pub fn first(&mut self) -> Result<Export<ResponseBody>> {
        let opened = self.runtime.block_on(self.inner.open())?;
        Ok(self.export(opened))
    }

    /// As the async [`Attempts::retry`](super::Attempts::retry).
    ///
    /// # Errors
    ///
    /// `error` itself, or the error of the new attempts.
    pub fn retry(&mut self, error: Error) -> Result<Export<ResponseBody>> {
        let opened = self.runtime.block_on(self.inner.reopen(error))?;
        Ok(self.export(opened))
    }

    /// How many requests were made: 1 after [`first`](Self::first) alone.
    pub fn count(&self) -> u32 {
        self.inner.count()
    }

    fn export(&self, opened: Opened) -> Export<ResponseBody> {
        let Opened { body, decoder } = opened;
        let body = ResponseBody {
            body,
            runtime: self.runtime.clone(),
            chunk: Bytes::new(),
        };
        Export::with_decoder(body, decoder)
    }
}

/// The body of an export answer as a [`Read`]: the async
/// [`ResponseBody`](super::ResponseBody), pulled on the client's runtime as it is read.
///
/// Its errors are the async body's, inside an `io::Error`
/// ([`Error::from_io`] finds them); the export reading it gives them back as they are.
pub struct ResponseBody {
    body: super::ResponseBody,
    runtime: Arc<Runtime>,
    /// What is left of the last chunk.
    chunk: Bytes,
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("received", &self.body.received())
            .field("content_length", &self.body.content_length())
            .finish_non_exhaustive()
    }
}

impl ResponseBody {
    /// Bytes received from the socket so far.
    pub fn received(&self) -> u64 {
        self.body.received()
    }

    /// The answer's `Content-Length`, when it gave one.
    pub fn content_length(&self) -> Option<u64> {
        self.body.content_length()
    }
}

impl Read for ResponseBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            let body = &mut self.body;
            let next = self
                .runtime
                .block_on(poll_fn(|cx| Pin::new(&mut *body).poll_next(cx)));
            match next {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}
