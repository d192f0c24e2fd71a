//! Verifying a delivery while it streams: the key, the verifier, the decoder that holds the
//! body's end back until the signature matches, and its async front-end.

use std::fmt;
use std::future::poll_fn;
use std::task::{ready, Poll};

use bytes::Bytes;
use futures_core::Stream;

use super::scheme::{digests_match, ids_match, parse_signature, Digests, Scheme, Secret, Signer};
use crate::driver::{AsyncDriver, BoxError, Core};
use crate::error::{Error, ErrorKind, Limit, Result};
use crate::export::{ExportDecoder, ExportEvent, ExportItem, ExportLimits, FileInfo};
use crate::payload::{async_payload_reader, Payload};

/// The header that carries the client id of a delivery.
pub const CLIENT_ID_HEADER: &str = "X-CLIENT-ID";

/// The header that carries the signature of a delivery.
pub const SIGNATURE_HEADER: &str = "X-SIGNATURE";

/// What deliveries are checked against: the client id, the client secret and the [`Scheme`].
///
/// Its `Debug` shows the client id and the scheme, never the secret.
///
/// # Examples
///
/// ```
/// use authenteq_export::webhook::{Scheme, WebhookKey};
///
/// let key = WebhookKey::new("my-client-id", "my-client-secret").scheme(Scheme::HmacSha256);
/// let signature = key.sign(b"the body");
/// let mut verifier = key.verifier(Some("my-client-id"), Some(&signature.to_uppercase()))?;
/// verifier.update(b"the body");
/// verifier.verify()?;
/// # Ok::<(), authenteq_export::Error>(())
/// ```
#[derive(Clone)]
pub struct WebhookKey {
    client_id: String,
    secret: Secret,
    scheme: Scheme,
    label: Option<String>,
}

impl fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookKey")
            .field("client_id", &self.client_id)
            .field("scheme", &self.scheme)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl WebhookKey {
    /// A key for `client_id` and `secret`, with the default scheme
    /// ([`Scheme::Sha256BodySecret`]).
    pub fn new(client_id: impl Into<String>, secret: impl Into<Secret>) -> WebhookKey {
        WebhookKey {
            client_id: client_id.into(),
            secret: secret.into(),
            scheme: Scheme::default(),
            label: None,
        }
    }

    /// Names the key for logs, such as `"current"` or `"previous"` while a secret is rotated
    /// (see [`Verifier::new`]). Never the secret: the label is shown where the key is.
    pub fn label(mut self, label: impl Into<String>) -> WebhookKey {
        self.label = Some(label.into());
        self
    }

    /// The label, if one was given.
    pub fn get_label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// Sets the construction of the signature.
    pub fn scheme(mut self, scheme: Scheme) -> WebhookKey {
        self.scheme = scheme;
        self
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The construction of the signature.
    pub fn get_scheme(&self) -> Scheme {
        self.scheme
    }

    /// A [`Signer`] for a body to send.
    pub fn signer(&self) -> Signer {
        Signer::new(self.scheme, &self.secret)
    }

    /// The signature of `body`, in lowercase hex. One SHA-256 pass over `body`.
    pub fn sign(&self, body: &[u8]) -> String {
        let mut signer = self.signer();
        signer.update(body);
        signer.finish_hex()
    }

    /// A verifier for one delivery, from its `X-CLIENT-ID` and `X-SIGNATURE` header values,
    /// against this key alone: [`Verifier::new`] with a list of one.
    ///
    /// The client id is compared now (in constant time); the signature once the whole body has
    /// passed through the verifier.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Signature`] when a header is missing, the client id is another one, or the
    /// signature is not 64 hex digits. The message names the header, never a value.
    pub fn verifier(&self, client_id: Option<&str>, signature: Option<&str>) -> Result<Verifier> {
        Verifier::new(std::slice::from_ref(self), client_id, signature)
    }
}

/// The signature check of one delivery, with no I/O: every byte of the body goes through
/// [`update`](Self::update), in order, before it is parsed; [`verify`](Self::verify) says whether
/// the signature matches, and with which key.
///
/// It checks against several keys at once (a secret being rotated: the new one and the old
/// one) in one pass over the body: the keys of [`Scheme::Sha256BodySecret`] share one SHA-256
/// state of the body, finished once per secret; a key of another scheme keeps a state of its
/// own. So two secrets of the default scheme cost one SHA-256 pass, plus a block or two each.
///
/// Made by [`Verifier::new`] or [`WebhookKey::verifier`]. [`SignedDecoder`] and [`Delivery`]
/// drive it for you.
///
/// # Examples
///
/// ```
/// use authenteq_export::webhook::{Verifier, WebhookKey};
///
/// let keys = [
///     WebhookKey::new("my-client-id", "the-new-secret").label("current"),
///     WebhookKey::new("my-client-id", "the-old-secret").label("previous"),
/// ];
/// let signature = keys[1].sign(b"the body"); // a retry signed before the rotation
/// let mut verifier = Verifier::new(&keys, Some("my-client-id"), Some(&signature))?;
/// verifier.update(b"the body");
/// assert_eq!(verifier.verify()?, 1); // the position of the key that matched
/// # Ok::<(), authenteq_export::Error>(())
/// ```
#[derive(Debug)]
pub struct Verifier {
    digests: Digests,
    expected: [u8; 32],
    bytes: u64,
}

impl fmt::Debug for Digests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Digests").finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for one delivery, from its `X-CLIENT-ID` and `X-SIGNATURE` header values,
    /// against every key of `keys` whose client id is the header's.
    ///
    /// The client ids are compared now (each in constant time); the signature once the whole
    /// body has passed through the verifier.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Signature`] when a header is missing, no key has the client id, or the
    /// signature is not 64 hex digits. The message names the header, never a value.
    /// [`ErrorKind::Usage`] when `keys` is empty.
    pub fn new(
        keys: &[WebhookKey],
        client_id: Option<&str>,
        signature: Option<&str>,
    ) -> Result<Verifier> {
        if keys.is_empty() {
            return Err(Error::new(ErrorKind::Usage, "a verifier needs a key"));
        }
        let Some(client_id) = client_id else {
            return Err(Error::new(ErrorKind::Signature, "no X-CLIENT-ID header"));
        };
        let client_id = client_id.trim();
        // Every id is compared: the time does not tell which key has it.
        let same: Vec<bool> = keys
            .iter()
            .map(|key| ids_match(client_id, &key.client_id))
            .collect();
        if !same.contains(&true) {
            return Err(Error::new(
                ErrorKind::Signature,
                "the X-CLIENT-ID header is not this client id",
            ));
        }
        let Some(signature) = signature else {
            return Err(Error::new(ErrorKind::Signature, "no X-SIGNATURE header"));
        };
        let candidates = keys
            .iter()
            .enumerate()
            .zip(same)
            .filter(|(_, same)| *same)
            .map(|((position, key), _)| (position, key.scheme, &key.secret));
        Ok(Verifier {
            expected: parse_signature(signature)?,
            digests: Digests::new(candidates),
            bytes: 0,
        })
    }

    /// Adds the next bytes of the body, as they came off the wire.
    #[inline]
    pub fn update(&mut self, bytes: &[u8]) {
        self.digests.update(bytes);
        self.bytes += bytes.len() as u64;
    }

    /// Bytes seen so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Checks the signature against the digest of every byte seen under each key, in constant
    /// time, and gives the position (in the list [`Verifier::new`] was given) of the first key
    /// that matched: `0` for a verifier of one key.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Signature`] when no key's digest matches.
    pub fn verify(self) -> Result<usize> {
        let bytes = self.bytes;
        self.digests.matching(&self.expected).ok_or_else(|| {
            Error::new(
                ErrorKind::Signature,
                "the X-SIGNATURE header does not match the body",
            )
            .at(bytes)
        })
    }

    /// How many hash states each byte of the body goes through.
    #[cfg(test)]
    pub(crate) fn states(&self) -> usize {
        self.digests.states()
    }
}

/// Where a [`SignedDecoder`] is.
#[derive(Debug)]
enum Stage {
    /// The export decoder is reading the body.
    Body,
    /// The export is complete; the bytes after it (an epilogue) are hashed until the input
    /// ends.
    Trailing,
    /// The signature matched: the end was reported.
    Verified,
}

/// The sans-I/O decoder of a signed delivery: an [`ExportDecoder`] whose input passes through a
/// [`Verifier`] first, fed and asked as the export decoder is.
///
/// Events come as the body is read, so the result and the files it yields are **provisional**:
/// [`ExportEvent::End`] comes only after the whole input (the bytes after the close delimiter
/// too) has been hashed and the signature matched; otherwise that call fails with
/// [`ErrorKind::Signature`]. Whatever was made of an unverified body must be thrown away: the
/// receiver of this module keeps its files unnamed until then.
///
/// # Examples
///
/// ```
/// use authenteq_export::export::{ExportEvent, ExportLimits};
/// use authenteq_export::webhook::{SignedDecoder, WebhookKey};
/// use bytes::Bytes;
///
/// let body = b"--b\r\nContent-Disposition: form-data; name=\"result\"\r\n\r\n{\"id\":\"v1\"}\r\n--b--\r\n";
/// let key = WebhookKey::new("id", "secret");
/// let verifier = key.verifier(Some("id"), Some(&key.sign(body)))?;
/// let mut decoder = SignedDecoder::new(verifier, Some("multipart/mixed; boundary=b"), ExportLimits::default())?;
/// decoder.feed(Bytes::from_static(body));
/// assert!(matches!(decoder.next_event()?, Some(ExportEvent::Result { .. })));
/// assert_eq!(decoder.next_event()?, None); // the input may go on: the end is held back
/// decoder.finish();
/// assert_eq!(decoder.next_event()?, Some(ExportEvent::End));
/// # Ok::<(), authenteq_export::Error>(())
/// ```
#[derive(Debug)]
pub struct SignedDecoder {
    inner: ExportDecoder,
    /// `None` once used.
    verifier: Option<Verifier>,
    stage: Stage,
    finished: bool,
    max_body_bytes: u64,
    failed: Option<Error>,
    /// The position of the key that matched, once one did.
    matched: Option<usize>,
}

impl SignedDecoder {
    /// A decoder for a delivery whose `Content-Type` is `content_type` (a `multipart/*` type;
    /// without one the format is told from the first bytes), checked by `verifier`.
    ///
    /// # Errors
    ///
    /// As [`ExportDecoder::for_content_type`].
    pub fn new(
        verifier: Verifier,
        content_type: Option<&str>,
        limits: ExportLimits,
    ) -> Result<SignedDecoder> {
        let max_body_bytes = limits.get_max_body_bytes();
        Ok(SignedDecoder {
            inner: ExportDecoder::for_content_type(content_type, limits)?,
            verifier: Some(verifier),
            stage: Stage::Body,
            finished: false,
            max_body_bytes,
            failed: None,
            matched: None,
        })
    }

    /// Feeds the next chunk of the body: hashed, then decoded.
    pub fn feed(&mut self, chunk: Bytes) {
        if self.failed.is_some() || self.finished {
            return;
        }
        let Some(verifier) = self.verifier.as_mut() else {
            return;
        };
        verifier.update(&chunk);
        match self.stage {
            Stage::Body => self.inner.feed(chunk),
            Stage::Trailing => {
                if verifier.bytes() > self.max_body_bytes {
                    self.failed = Some(
                        Error::limit_exceeded(Limit::BodyBytes, self.max_body_bytes)
                            .at(self.max_body_bytes),
                    );
                }
            }
            Stage::Verified => {}
        }
    }

    /// Says that the body has ended.
    pub fn finish(&mut self) {
        self.finished = true;
        if let Stage::Body = self.stage {
            self.inner.finish();
        }
    }

    /// Bytes of the body fed so far.
    pub fn bytes_fed(&self) -> u64 {
        self.verifier
            .as_ref()
            .map_or_else(|| self.inner.bytes_fed(), Verifier::bytes)
    }

    /// The position of the key whose signature matched (see [`Verifier::verify`]), once
    /// [`ExportEvent::End`] was reported; `None` before.
    pub fn matched_key(&self) -> Option<usize> {
        self.matched
    }

    /// The next event, or `Ok(None)` when more input is needed.
    ///
    /// # Errors
    ///
    /// Any error of [`ExportDecoder::next_event`]; [`ErrorKind::Signature`] instead of the end
    /// when the signature does not match the body; [`ErrorKind::LimitExceeded`] when the bytes
    /// after the export take the body over `max_body_bytes`.
    pub fn next_event(&mut self) -> Result<Option<ExportEvent>> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if let Stage::Body = self.stage {
            match self.inner.next_event() {
                Ok(Some(ExportEvent::End)) => {
                    self.stage = Stage::Trailing;
                    // The export decoder cuts a chunk at its body limit and stops caring once
                    // the export is complete: bytes past the limit after the close delimiter
                    // are counted here.
                    if self.bytes_fed() > self.max_body_bytes {
                        let err = Error::limit_exceeded(Limit::BodyBytes, self.max_body_bytes)
                            .at(self.max_body_bytes);
                        self.failed = Some(err.clone());
                        return Err(err);
                    }
                }
                Ok(other) => return Ok(other),
                Err(err) => {
                    self.failed = Some(err.clone());
                    return Err(err);
                }
            }
        }
        if let Stage::Verified = self.stage {
            return Ok(Some(ExportEvent::End));
        }
        if !self.finished {
            return Ok(None);
        }
        let Some(verifier) = self.verifier.take() else {
            return Err(Error::new(ErrorKind::Usage, "signature checked twice"));
        };
        match verifier.verify() {
            Ok(position) => {
                self.matched = Some(position);
                self.stage = Stage::Verified;
                Ok(Some(ExportEvent::End))
            }
            Err(err) => {
                self.failed = Some(err.clone());
                Err(err)
            }
        }
    }

    fn poison(&mut self, err: Error) -> Error {
        let err = self.inner.poison(err);
        self.failed = Some(err.clone());
        err
    }
}

impl Core for SignedDecoder {
    type Event = ExportEvent;
    fn feed(&mut self, chunk: Bytes) {
        SignedDecoder::feed(self, chunk)
    }
    fn finish(&mut self) {
        SignedDecoder::finish(self)
    }
    fn next_event(&mut self) -> Result<Option<ExportEvent>> {
        SignedDecoder::next_event(self)
    }
    fn poison(&mut self, err: Error) -> Error {
        SignedDecoder::poison(self, err)
    }
}

/// A signed delivery read from an async [`Stream`] of `Bytes` (an HTTP request body), verified as
/// it streams: the same items as [`Export`](crate::export::Export), and `None` at the end only
/// once the signature matched.
///
/// The items are **provisional** until then: keep what you make of them out of sight (unnamed
/// files, an uncommitted transaction) until [`next_item`](Self::next_item) returns `None`.
///
/// # Examples
///
/// ```
/// use authenteq_export::export::{ExportItem, ExportLimits};
/// use authenteq_export::webhook::{Delivery, WebhookKey};
/// use authenteq_export::ErrorKind;
/// use bytes::Bytes;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let body = b"--b\r\nContent-Disposition: form-data; name=\"result\"\r\n\r\n{\"id\":\"v1\"}\r\n--b--\r\n";
/// let key = WebhookKey::new("id", "secret");
/// let stream = || futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(body))]);
///
/// let verifier = key.verifier(Some("id"), Some(&key.sign(body)))?;
/// let mut delivery = Delivery::new(stream(), Some("multipart/mixed; boundary=b"), verifier, ExportLimits::default())?;
/// let Some(ExportItem::Result { result, .. }) = delivery.next_item().await? else { panic!() };
/// assert_eq!(result.id, "v1"); // provisional
/// assert!(delivery.next_item().await?.is_none()); // verified
///
/// let forged = key.verifier(Some("id"), Some(&key.sign(b"another body")))?;
/// let mut delivery = Delivery::new(stream(), Some("multipart/mixed; boundary=b"), forged, ExportLimits::default())?;
/// delivery.next_item().await?;
/// assert_eq!(delivery.next_item().await.unwrap_err().kind(), ErrorKind::Signature);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Delivery<S> {
    driver: AsyncDriver<S, SignedDecoder>,
}

impl<S> fmt::Debug for Delivery<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("decoder", &self.driver.core)
            .finish_non_exhaustive()
    }
}

impl<S, E> Delivery<S>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: Into<BoxError>,
{
    /// A delivery read from `body`, whose `Content-Type` is `content_type`, checked by
    /// `verifier`, within `limits` (set `max_body_bytes`: the body comes from anyone).
    ///
    /// # Errors
    ///
    /// As [`SignedDecoder::new`].
    pub fn new(
        body: S,
        content_type: Option<&str>,
        verifier: Verifier,
        limits: ExportLimits,
    ) -> Result<Self> {
        Ok(Delivery {
            driver: AsyncDriver::new(body, SignedDecoder::new(verifier, content_type, limits)?),
        })
    }

    /// Bytes of the body read so far.
    pub fn bytes_read(&self) -> u64 {
        self.driver.core.bytes_fed()
    }

    /// The position of the key whose signature matched (see [`Verifier::verify`]), once
    /// [`next_item`](Self::next_item) returned `None`; `None` before.
    pub fn matched_key(&self) -> Option<usize> {
        self.driver.core.matched_key()
    }

    /// The next item, or `None` once the export is complete **and** the signature matched;
    /// skips what is left of the current file.
    ///
    /// # Errors
    ///
    /// Any decoding error (as [`Export::next_item`](crate::export::Export::next_item));
    /// [`ErrorKind::Signature`] where `None` would come for a body whose signature does not
    /// match.
    pub async fn next_item(&mut self) -> Result<Option<ExportItem<DeliveryFile<'_, S>>>> {
        let event = poll_fn(|cx| loop {
            let event = ready!(self.driver.poll_event(cx))?;
            if !matches!(event, ExportEvent::FileData(_) | ExportEvent::FileEnd) {
                return Poll::Ready(Ok::<_, Error>(event));
            }
        })
        .await?;
        Ok(match event {
            ExportEvent::Result { result, json } => Some(ExportItem::Result { result, json }),
            ExportEvent::FileStart(info) => Some(ExportItem::File(DeliveryFile {
                driver: &mut self.driver,
                info,
                payload: Payload::default(),
            })),
            ExportEvent::End | ExportEvent::FileData(_) | ExportEvent::FileEnd => None,
        })
    }
}

/// A file of a [`Delivery`], read lazily; provisional until the delivery's end. Its bytes end
/// only once the file is complete.
pub struct DeliveryFile<'a, S> {
    driver: &'a mut AsyncDriver<S, SignedDecoder>,
    info: FileInfo,
    payload: Payload,
}

impl<S> fmt::Debug for DeliveryFile<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryFile")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl<S> DeliveryFile<'_, S> {
    /// The file's kind, names and content type.
    pub fn info(&self) -> &FileInfo {
        &self.info
    }
}

async_payload_reader!(
    DeliveryFile,
    "file",
    "the file is complete",
    "[`Delivery::next_item`]"
);

/// The construction that makes `signature` from `body` and `secret`, if one does: the answer
/// to "which one does the vendor use?" from one captured delivery.
///
/// Cost: one pass over `body` per construction tried.
///
/// # Examples
///
/// ```
/// use authenteq_export::webhook::{detect, Scheme, Secret, WebhookKey};
///
/// let body = b"--b\r\n...";
/// let signature = WebhookKey::new("id", "s").scheme(Scheme::Sha256SecretBody).sign(body);
/// assert_eq!(detect(body, &Secret::new("s"), &signature)?, Some(Scheme::Sha256SecretBody));
/// assert_eq!(detect(body, &Secret::new("other"), &signature)?, None);
/// # Ok::<(), authenteq_export::Error>(())
/// ```
///
/// # Errors
///
/// [`ErrorKind::Signature`] when `signature` is not 64 hex digits.
pub fn detect(body: &[u8], secret: &Secret, signature: &str) -> Result<Option<Scheme>> {
    let mut signers = Detector::new(secret, signature)?;
    signers.update(body);
    Ok(signers.finish())
}

/// Every construction at once over a body read in chunks (for [`detect`] on a file).
#[derive(Debug)]
pub struct Detector {
    signers: Vec<(Scheme, Signer)>,
    expected: [u8; 32],
}

impl Detector {
    /// A detector for `signature`, keyed by `secret`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Signature`] when `signature` is not 64 hex digits.
    pub fn new(secret: &Secret, signature: &str) -> Result<Detector> {
        Ok(Detector {
            signers: Scheme::ALL
                .into_iter()
                .map(|scheme| (scheme, Signer::new(scheme, secret)))
                .collect(),
            expected: parse_signature(signature)?,
        })
    }

    /// Adds the next bytes of the body.
    pub fn update(&mut self, bytes: &[u8]) {
        for (_, signer) in &mut self.signers {
            signer.update(bytes);
        }
    }

    /// The construction whose digest is the signature, if any.
    pub fn finish(self) -> Option<Scheme> {
        let expected = self.expected;
        self.signers
            .into_iter()
            .find(|(_, signer)| digests_match(&signer.clone().finish(), &expected))
            .map(|(scheme, _)| scheme)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotated() -> [WebhookKey; 2] {
        [
            WebhookKey::new("client", "new-secret").label("current"),
            WebhookKey::new("client", "old-secret").label("previous"),
        ]
    }

    /// Two secrets of the default scheme: one hash state for both, each signature told apart,
    /// a signature of neither refused.
    #[test]
    fn a_verifier_of_two_keys_checks_both_in_one_pass() {
        let keys = rotated();
        let body = b"--b\r\nthe body\r\n--b--\r\n";
        for (position, key) in keys.iter().enumerate() {
            let mut verifier = Verifier::new(&keys, Some("client"), Some(&key.sign(body))).unwrap();
            assert_eq!(verifier.states(), 1);
            for chunk in body.chunks(3) {
                verifier.update(chunk);
            }
            assert_eq!(verifier.bytes(), body.len() as u64);
            assert_eq!(verifier.verify().unwrap(), position);
        }
        let other = WebhookKey::new("client", "neither").sign(body);
        let mut verifier = Verifier::new(&keys, Some("client"), Some(&other)).unwrap();
        verifier.update(body);
        assert_eq!(verifier.verify().unwrap_err().kind(), ErrorKind::Signature);
        // A key of another scheme keeps a state of its own.
        let mixed = [keys[0].clone(), keys[1].clone().scheme(Scheme::HmacSha256)];
        let signature = mixed[1].sign(body);
        let mut verifier = Verifier::new(&mixed, Some("client"), Some(&signature)).unwrap();
        assert_eq!(verifier.states(), 2);
        verifier.update(body);
        assert_eq!(verifier.verify().unwrap(), 1);
    }

    /// Only the keys of the header's client id are candidates.
    #[test]
    fn only_keys_of_the_client_id_are_tried() {
        let keys = [WebhookKey::new("one", "s1"), WebhookKey::new("two", "s2")];
        let body = b"body";
        let mut verifier = Verifier::new(&keys, Some("two"), Some(&keys[1].sign(body))).unwrap();
        assert_eq!(verifier.states(), 1);
        verifier.update(body);
        assert_eq!(verifier.verify().unwrap(), 1);
        // Key 0's signature with key 1's client id.
        let mut verifier = Verifier::new(&keys, Some("two"), Some(&keys[0].sign(body))).unwrap();
        verifier.update(body);
        assert!(verifier.verify().is_err());
        let err = Verifier::new(&keys, Some("three"), Some(&keys[0].sign(body))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Signature);
        assert_eq!(
            Verifier::new(&[], Some("one"), Some(&keys[0].sign(body)))
                .unwrap_err()
                .kind(),
            ErrorKind::Usage
        );
        let shown = format!("{keys:?} {:?}", rotated());
        for secret in ["s1", "s2", "new-secret", "old-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
