//! [`ObjectSink`]: verifications in any `object_store` store.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{
    Attribute, AttributeValue, Attributes, MultipartUpload, ObjectStore, ObjectStoreExt, PutMode,
    PutMultipartOptions, PutOptions, PutPayload,
};
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;

use super::manifest::{Manifest, ManifestFile, MANIFEST_JSON};
use super::{
    ensure_no_file_open, handled_json, storage_error, Committed, Names, Sink, Staging, HANDLED_JSON,
};
use crate::error::{Error, ErrorKind, Result};
use crate::export::VerificationId;

/// The smallest part S3 takes (but for the last one): 5 MiB.
pub const MIN_PART_SIZE: usize = 5 << 20;

/// The default size of every part of a multipart upload but the last: 5 MiB (S3's minimum: the least memory).
pub const DEFAULT_PART_SIZE: usize = 5 << 20;

/// The default number of bytes of small files one verification holds in memory until commit:
/// 2 MiB.
pub const DEFAULT_HOLD_BYTES: usize = 2 << 20;

/// Parts of one file sent at the same time.
const PARTS_IN_FLIGHT: usize = 2;

/// Files of one verification completed at the same time, at commit.
const COMMITS_IN_FLIGHT: usize = 8;

/// Verifications in an [`ObjectStore`]: verification `id` as `PREFIX/id/<file name>` and
/// `PREFIX/id/manifest.json`.
///
/// # How a file is sent
///
/// Its bytes go out as they arrive: once a part's worth ([`part_size`](Self::part_size), 5 MiB
/// by default) is there, a multipart upload is started under the file's final key and the part
/// is sent (two at a time), so a file of any size takes about three parts of memory, and a
/// verification in flight at most that plus its held files. The
/// upload is completed only at [`Staging::commit`]; until then the store lists nothing, and a
/// discarded staging aborts it. A file that ends before filling one part is held in memory
/// and sent with one `put` at commit, up to [`hold_bytes`](Self::hold_bytes) per verification
/// (2 MiB by default); past that, such a file is sent as a one-part upload at once. Each key
/// gets the content type its part declared.
///
/// # Commit, and two writers of one id
///
/// At commit the sink first looks for the manifest: if one is there, nothing is completed
/// (every upload is aborted) and the commit is [`Committed::AlreadyComplete`]. Otherwise every
/// file is completed (held ones `put`), then the manifest is written with
/// [`PutMode::Create`], which fails if one exists. There are never temporary keys, nor copies
/// and renames: the store lists complete files under their final names and manifests, nothing
/// else.
///
/// Two writers racing on one id end with one manifest, the first one written; the second
/// finds it taken, reads it and checks that every file it completed holds the bytes that
/// manifest lists (the SHA-256): then its commit is [`Committed::AlreadyComplete`], else an
/// [`ErrorKind::Conflict`] error naming the file. `object_store` completes multipart uploads
/// only in overwrite mode, so a file the loser completed between the winner's files and its
/// manifest replaced the winner's with the loser's bytes; an export of one id is the same every
/// time (the API's verifications do not change, and the multipart and JSON exports give the
/// same files), so these are the same bytes, and the check says so. The one file that differs
/// between formats is `result.json` (the multipart part verbatim, the JSON export
/// pretty-printed): writers of one id should use one format, and the check reports it if not.
///
/// A file completed before a failure (or a killed process) and its manifest is left under its
/// final key without a manifest, so it does not count: the next run of that id writes every
/// file again, then the manifest.
///
/// # Uploads a killed process leaves
///
/// A process killed while sending leaves its unfinished multipart uploads in the bucket: never
/// listed, never readable, but kept (and billed) until aborted. `object_store` cannot list
/// them; on S3 (and S3-compatible stores), [`S3Uploads::abort_stale`](super::S3Uploads::abort_stale)
/// finds and aborts those under the prefix that are older than an age you choose (`fetch --ids`
/// does it at start). Set a lifecycle rule on the bucket too, for the prefixes no run comes
/// back to and for other stores: S3's `AbortIncompleteMultipartUpload` with
/// `DaysAfterInitiation: 1` (see the README).
///
/// # Server-side encryption
///
/// It is the store's setting, not the sink's: an `AmazonS3` built with
/// `AmazonS3Builder::from_env` reads `AWS_SERVER_SIDE_ENCRYPTION` (`AES256`, `aws:kms`,
/// `aws:kms:dsse` or `sse-c`; default: none sent, the bucket's default applies),
/// `AWS_SSE_KMS_KEY_ID`, `AWS_SSE_BUCKET_KEY_ENABLED` and `AWS_SSE_CUSTOMER_KEY_BASE64` (or
/// take `with_sse_kms_encryption` and its siblings), and sends them with every `put` and with
/// the creation of every multipart upload (SSE-C also with each part, and with each read). So
/// every object this sink writes carries them: the held files, the multipart uploads, the
/// manifest and the handled marker. [`Encrypted`](super::Encrypted) (feature `encrypt`)
/// encrypts before the bytes leave the process; the two combine.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use authenteq_export::store::ObjectSink;
///
/// let store = Arc::new(object_store::memory::InMemory::new());
/// let sink = ObjectSink::new(store, "exports/2026").part_size(16 << 20).hold_bytes(1 << 20);
/// assert_eq!(sink.prefix(), "exports/2026");
/// ```
#[derive(Clone)]
pub struct ObjectSink {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    part_size: usize,
    hold_bytes: usize,
    /// S3's requests that `object_store` lacks, for erasing every version.
    s3: Option<Arc<super::S3Uploads>>,
}

impl fmt::Debug for ObjectSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectSink")
            .field("store", &format_args!("{}", self.store))
            .field("prefix", &self.prefix.as_ref())
            .field("part_size", &self.part_size)
            .field("hold_bytes", &self.hold_bytes)
            .finish()
    }
}

impl ObjectSink {
    /// Verifications under `prefix` (`""` for the top) of `store`.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: impl AsRef<str>) -> ObjectSink {
        ObjectSink {
            store,
            prefix: Path::from(prefix.as_ref()),
            part_size: DEFAULT_PART_SIZE,
            hold_bytes: DEFAULT_HOLD_BYTES,
            s3: None,
        }
    }

    /// The size of every part of a multipart upload but the last (default
    /// [`DEFAULT_PART_SIZE`]). S3 refuses parts under [`MIN_PART_SIZE`] (but for the last);
    /// smaller sizes are for stores without that rule, such as tests in memory. At least 1.
    /// One file in flight holds up to three parts in memory.
    pub fn part_size(mut self, bytes: usize) -> ObjectSink {
        self.part_size = bytes.max(1);
        self
    }

    /// How many bytes of small files (under one part) one verification holds in memory until
    /// commit, to send each with one `put` (default [`DEFAULT_HOLD_BYTES`]); `0` sends every
    /// file as a multipart upload.
    pub fn hold_bytes(mut self, bytes: usize) -> ObjectSink {
        self.hold_bytes = bytes;
        self
    }

    /// The prefix the verifications are under.
    pub fn prefix(&self) -> &str {
        self.prefix.as_ref()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Makes [`Sink::erase`] use S3's versioned requests (`requests`, made from the builder of
    /// the same bucket): every version and delete marker under the id is deleted, and the
    /// unfinished uploads under it aborted. Without it (the default), erasing deletes what
    /// `object_store` lists, which in a versioned bucket leaves the old versions readable. See
    /// [`erase`](super::erase()).
    pub fn s3(mut self, requests: super::S3Uploads) -> ObjectSink {
        self.s3 = Some(Arc::new(requests));
        self
    }

    pub(crate) fn s3_requests(&self) -> Option<&super::S3Uploads> {
        self.s3.as_deref()
    }

    pub(crate) fn store_prefix(&self) -> &Path {
        &self.prefix
    }

    /// The key of `name` in verification `id`.
    fn key(&self, id: &str, name: &str) -> Path {
        self.prefix.clone().join(id).join(name)
    }

    async fn read_manifest(&self, id: &str) -> Result<Option<Manifest>> {
        let key = self.key(id, MANIFEST_JSON);
        let got = match self.store.get(&key).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(storage_error("reading a manifest", e)),
        };
        let bytes = got
            .bytes()
            .await
            .map_err(|e| storage_error("reading a manifest", e))?;
        Manifest::from_json(&bytes).map(Some)
    }
}

impl Sink for ObjectSink {
    type Staging = ObjectStaging;

    async fn manifest(&self, id: &VerificationId) -> Result<Option<Manifest>> {
        self.read_manifest(id).await
    }

    fn location(&self, id: &VerificationId, stored_name: &str) -> String {
        self.key(id, stored_name).to_string()
    }

    async fn is_handled(&self, id: &VerificationId) -> Result<bool> {
        match self.store.head(&self.key(id, HANDLED_JSON)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(storage_error("looking for the handled marker", e)),
        }
    }

    async fn mark_handled(&self, id: &VerificationId) -> Result<bool> {
        let opts = PutOptions {
            mode: PutMode::Create,
            attributes: attributes(Some("application/json")),
            ..Default::default()
        };
        let key = self.key(id, HANDLED_JSON);
        match self
            .store
            .put_opts(&key, PutPayload::from(handled_json(id)), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(storage_error("writing the handled marker", e)),
        }
    }

    async fn check(&self) -> Result<()> {
        // A listing of the prefix: it needs the credentials and the bucket, and writes nothing.
        self.store
            .list_with_delimiter(Some(&self.prefix))
            .await
            .map(drop)
            .map_err(|e| {
                let refused = matches!(
                    e,
                    object_store::Error::PermissionDenied { .. }
                        | object_store::Error::Unauthenticated { .. }
                );
                let error = storage_error(
                    &format!(
                        "cannot list {:?} in the store {}",
                        self.prefix.as_ref(),
                        self.store
                    ),
                    e,
                );
                if refused {
                    error.with_hint("check the store's credentials")
                } else {
                    error.with_hint("check the store's address, bucket and credentials")
                }
            })
    }

    async fn stage(&self, id: &VerificationId) -> Result<ObjectStaging> {
        Ok(ObjectStaging {
            sink: self.clone(),
            id: id.to_string(),
            names: Names::new(),
            current: None,
            ended: Vec::new(),
            held: 0,
        })
    }

    async fn erase(&self, id: &VerificationId) -> Result<super::Erased> {
        super::erase::erase_objects(self, id).await
    }

    async fn ids(&self) -> Result<Vec<VerificationId>> {
        super::erase::object_ids(self).await
    }
}

/// One verification being written into an [`ObjectSink`]: see [`Staging`].
pub struct ObjectStaging {
    sink: ObjectSink,
    id: String,
    names: Names,
    current: Option<Current>,
    ended: Vec<Ended>,
    /// Bytes of held files.
    held: usize,
}

impl fmt::Debug for ObjectStaging {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStaging")
            .field("files_ended", &self.ended.len())
            .field("writing", &self.current.as_ref().map(|c| &c.name))
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

/// The file being written.
struct Current {
    name: String,
    key: Path,
    content_type: Option<String>,
    /// `None` for an encrypted file, listed under its plaintext's hash.
    hasher: Option<Sha256>,
    size: u64,
    /// Bytes not sent yet, less than one part but while a part is being cut.
    buffer: VecDeque<Bytes>,
    buffered: usize,
    upload: Option<Box<dyn MultipartUpload>>,
    parts: JoinSet<object_store::Result<()>>,
}

/// A file whose bytes are all here or sent.
struct Ended {
    file: ManifestFile,
    key: Path,
    body: Body,
}

/// A file's completion at commit: the upload left to abort if it failed, and the outcome.
type Completion = (Option<Box<dyn MultipartUpload>>, Result<()>);

enum Body {
    /// Sent with one `put` at commit.
    Held(PutPayload),
    /// Every part sent; completed at commit.
    Uploaded(Box<dyn MultipartUpload>),
}

fn attributes(content_type: Option<&str>) -> Attributes {
    let mut attributes = Attributes::new();
    if let Some(ct) = content_type {
        attributes.insert(Attribute::ContentType, AttributeValue::from(ct.to_owned()));
    }
    attributes
}

impl Current {
    /// The next `len` buffered bytes, as one payload (slices of the chunks, no copy).
    fn take(&mut self, len: usize) -> PutPayload {
        let mut parts = Vec::new();
        let mut left = len;
        while left > 0 {
            let Some(mut chunk) = self.buffer.pop_front() else {
                break;
            };
            if chunk.len() > left {
                let rest = chunk.split_off(left);
                self.buffer.push_front(rest);
            }
            left -= chunk.len();
            parts.push(chunk);
        }
        self.buffered -= len - left;
        parts.into_iter().collect()
    }

    async fn ensure_upload(&mut self, store: &Arc<dyn ObjectStore>) -> Result<()> {
        if self.upload.is_none() {
            let opts = PutMultipartOptions {
                attributes: attributes(self.content_type.as_deref()),
                ..Default::default()
            };
            let upload = store
                .put_multipart_opts(&self.key, opts)
                .await
                .map_err(|e| {
                    storage_error(&format!("starting the upload of {:?}", self.name), e)
                })?;
            self.upload = Some(upload);
        }
        Ok(())
    }

    /// Sends the next part of `len` bytes, waiting first while too many are in flight.
    async fn send(&mut self, len: usize) -> Result<()> {
        while self.parts.len() >= PARTS_IN_FLIGHT {
            self.join_one().await?;
        }
        let payload = self.take(len);
        if let Some(upload) = self.upload.as_mut() {
            self.parts.spawn(upload.put_part(payload));
        }
        Ok(())
    }

    async fn join_one(&mut self) -> Result<()> {
        match self.parts.join_next().await {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(storage_error(&format!("sending {:?}", self.name), e)),
            Some(Err(join)) => Err(Error::with_source(
                ErrorKind::Storage,
                format!("sending {:?}", self.name),
                join,
            )),
        }
    }
}

impl ObjectStaging {
    fn current(&mut self) -> Result<&mut Current> {
        self.current
            .as_mut()
            .ok_or_else(|| Error::new(ErrorKind::Usage, "no file was started"))
    }

    /// Every upload this staging started, taken out of it.
    fn take_uploads(&mut self) -> Vec<Box<dyn MultipartUpload>> {
        let mut uploads: Vec<_> = self
            .current
            .take()
            .and_then(|c| c.upload)
            .into_iter()
            .collect();
        for ended in self.ended.drain(..) {
            if let Body::Uploaded(upload) = ended.body {
                uploads.push(upload);
            }
        }
        uploads
    }

    async fn finish(&mut self) -> Result<Committed> {
        if self.current.is_some() {
            return Err(Error::new(
                ErrorKind::Usage,
                "commit with a file started and not ended",
            ));
        }
        if let Some(theirs) = self.sink.read_manifest(&self.id).await? {
            abort_all(self.take_uploads()).await;
            return Ok(Committed::AlreadyComplete(theirs));
        }
        let ended = std::mem::take(&mut self.ended);
        let files: Vec<ManifestFile> = ended.iter().map(|e| e.file.clone()).collect();
        let store = &self.sink.store;
        let outcomes: Vec<Completion> = futures_util::stream::iter(ended)
            .map(|Ended { file, key, body }| async move {
                let doing = format!("storing {:?}", file.name());
                match body {
                    Body::Held(payload) => {
                        let opts = PutOptions {
                            mode: PutMode::Overwrite,
                            attributes: attributes(file.content_type()),
                            ..Default::default()
                        };
                        let put = store.put_opts(&key, payload, opts).await;
                        (None, put.map(drop).map_err(|e| storage_error(&doing, e)))
                    }
                    Body::Uploaded(mut upload) => match upload.complete().await {
                        Ok(_) => (None, Ok(())),
                        Err(e) => (Some(upload), Err(storage_error(&doing, e))),
                    },
                }
            })
            .buffer_unordered(COMMITS_IN_FLIGHT)
            .collect()
            .await;
        let mut failed = None;
        let mut left = Vec::new();
        for (upload, outcome) in outcomes {
            left.extend(upload);
            if let Err(e) = outcome {
                failed.get_or_insert(e);
            }
        }
        if let Some(e) = failed {
            abort_all(left).await;
            return Err(e);
        }
        let manifest = Manifest::new(&self.id, files);
        let key = self.sink.key(&self.id, MANIFEST_JSON);
        let opts = PutOptions {
            mode: PutMode::Create,
            attributes: attributes(Some("application/json")),
            ..Default::default()
        };
        match store
            .put_opts(&key, PutPayload::from(manifest.to_json()), opts)
            .await
        {
            Ok(_) => Ok(Committed::Stored(manifest)),
            Err(object_store::Error::AlreadyExists { .. }) => {
                let Some(theirs) = self.sink.read_manifest(&self.id).await? else {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        "the manifest was taken, then gone",
                    ));
                };
                manifest.check_same_files(&theirs)?;
                Ok(Committed::AlreadyComplete(theirs))
            }
            Err(e) => Err(storage_error("writing the manifest", e)),
        }
    }
}

async fn abort_all(uploads: Vec<Box<dyn MultipartUpload>>) {
    futures_util::stream::iter(uploads)
        .for_each_concurrent(COMMITS_IN_FLIGHT, |mut upload| async move {
            if let Err(e) = upload.abort().await {
                tracing::warn!(target: "authenteq_export::store", error = %e, "cannot abort an upload");
            }
        })
        .await;
}

impl ObjectStaging {
    fn start(&mut self, name: &str, content_type: Option<&str>, hashed: bool) -> Result<()> {
        ensure_no_file_open(self.current.is_some())?;
        let name = self.names.claim(name)?;
        self.current = Some(Current {
            key: self.sink.key(&self.id, &name),
            name,
            content_type: content_type.map(str::to_owned),
            hasher: hashed.then(Sha256::new),
            size: 0,
            buffer: VecDeque::new(),
            buffered: 0,
            upload: None,
            parts: JoinSet::new(),
        });
        Ok(())
    }
}

impl Staging for ObjectStaging {
    async fn start_file(&mut self, name: &str, content_type: Option<&str>) -> Result<()> {
        self.start(name, content_type, true)
    }

    async fn start_encrypted_file(
        &mut self,
        stored_name: &str,
        content_type: Option<&str>,
    ) -> Result<()> {
        self.start(stored_name, content_type, false)
    }

    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        let part_size = self.sink.part_size;
        let store = Arc::clone(&self.sink.store);
        let current = self.current()?;
        if chunk.is_empty() {
            return Ok(());
        }
        if let Some(hasher) = &mut current.hasher {
            hasher.update(&chunk);
        }
        current.size += chunk.len() as u64;
        current.buffered += chunk.len();
        current.buffer.push_back(chunk);
        // A part is sent once more than a part is here: the last part is never empty.
        while current.buffered > part_size {
            current.ensure_upload(&store).await?;
            current.send(part_size).await?;
        }
        Ok(())
    }

    async fn end_file(&mut self) -> Result<()> {
        self.end(None).await
    }

    async fn end_encrypted_file(&mut self, plaintext: super::Plaintext) -> Result<()> {
        self.end(Some(plaintext)).await
    }

    async fn commit(mut self) -> Result<Committed> {
        let committed = self.finish().await;
        if committed.is_err() {
            abort_all(self.take_uploads()).await;
        }
        committed
    }

    async fn discard(mut self) {
        abort_all(self.take_uploads()).await;
    }
}

impl ObjectStaging {
    /// Ends the current file; `plaintext` for an encrypted one, which only it may end.
    async fn end(&mut self, plaintext: Option<super::Plaintext>) -> Result<()> {
        let store = Arc::clone(&self.sink.store);
        let hold_left = self.sink.hold_bytes.saturating_sub(self.held);
        let hashed = match &self.current {
            Some(current) => current.hasher.is_some(),
            None => return Err(Error::new(ErrorKind::Usage, "no file was started")),
        };
        if !hashed && plaintext.is_none() {
            return Err(Error::new(
                ErrorKind::Usage,
                "a file started with start_encrypted_file ends with end_encrypted_file",
            ));
        }
        let mut current = self
            .current
            .take()
            .ok_or_else(|| Error::new(ErrorKind::Usage, "no file was started"))?;
        let body = if current.upload.is_none() && current.buffered <= hold_left {
            self.held += current.buffered;
            let len = current.buffered;
            Body::Held(current.take(len))
        } else {
            let sent = async {
                current.ensure_upload(&store).await?;
                let len = current.buffered;
                if len > 0 {
                    current.send(len).await?;
                }
                while !current.parts.is_empty() {
                    current.join_one().await?;
                }
                Ok::<_, Error>(())
            }
            .await;
            if let Err(e) = sent {
                // Put back so that discarding (or dropping) aborts it.
                self.current = Some(current);
                return Err(e);
            }
            match current.upload.take() {
                Some(upload) => Body::Uploaded(upload),
                None => return Err(Error::new(ErrorKind::Usage, "upload missing")),
            }
        };
        // An encrypted file is listed under its plaintext's hash.
        let sha256: [u8; 32] = current
            .hasher
            .take()
            .map(|h| h.finalize().into())
            .unwrap_or_default();
        let file = ManifestFile::new(current.name, current.size, &sha256, current.content_type);
        self.ended.push(Ended {
            file: match plaintext {
                Some(plaintext) => file.encrypted(plaintext),
                None => file,
            },
            key: current.key,
            body,
        });
        Ok(())
    }
}

impl Drop for ObjectStaging {
    fn drop(&mut self) {
        let uploads = self.take_uploads();
        if uploads.is_empty() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(abort_all(uploads));
            }
            Err(_) => tracing::warn!(
                target: "authenteq_export::store",
                uploads = uploads.len(),
                "an unfinished staging was dropped outside a tokio runtime: its uploads are left to the bucket's lifecycle rule"
            ),
        }
    }
}
