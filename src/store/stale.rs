//! [`S3Uploads`]: the unfinished multipart uploads a killed run left in an S3 bucket, listed
//! and aborted.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, AwsAuthorizer};
use object_store::client::{ClientConfigKey, HttpRequest, HttpRequestBody};
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use serde::Deserialize;

use super::storage_error;
use crate::error::{Error, ErrorKind, Result};
use crate::export::VerificationId;
use crate::save::is_safe_file_name;

/// How old an unfinished upload must be before [`S3Uploads::abort_stale`] aborts it, by
/// default: one hour.
pub const DEFAULT_STALE_AGE: Duration = Duration::from_secs(60 * 60);

/// The unfinished multipart uploads of one S3 bucket (or S3-compatible store), as S3's
/// `ListMultipartUploads` gives them, and their abort.
///
/// `object_store` aborts the uploads of a staging that is discarded or dropped, but a process
/// killed mid-upload leaves its uploads open: never listed or readable, yet stored (and
/// billed). `object_store` cannot list them; this type sends the one request it lacks
/// (`GET /?uploads&prefix=...`, paginated), signed with `object_store`'s own
/// [`AwsAuthorizer`] and the credentials of the [`AmazonS3`] built from the same
/// [`AmazonS3Builder`], and aborts through [`MultipartStore::abort_multipart`].
///
/// # Which uploads are aborted
///
/// Another worker may be uploading under the same prefix right now, and an upload of a live
/// worker must not be aborted. [`abort_stale`](Self::abort_stale) aborts only an upload that
///
/// - is a file key of an [`ObjectSink`](super::ObjectSink) under the prefix,
///   `PREFIX/<id>/<file name>` (anything else under the prefix is left alone), and
/// - was initiated (by the store's clock) more than `older_than` before the call
///   ([`DEFAULT_STALE_AGE`], one hour, unless the caller says otherwise).
///
/// Set `older_than` longer than the longest upload of any worker (a 1 GiB image over a slow
/// link); an upload of a live worker that is older still gets aborted, and that worker's commit
/// then fails: the id is reported failed, nothing partial becomes visible, and the next run
/// stores it. A bucket lifecycle rule (`AbortIncompleteMultipartUpload`) is still the backstop
/// for prefixes no run comes back to.
///
/// # Object versions, for erasing
///
/// Given to an [`ObjectSink`](super::ObjectSink) with
/// [`ObjectSink::s3`](super::ObjectSink::s3), it also sends the requests that erasing a
/// verification from a versioned bucket needs and `object_store` lacks: `ListObjectVersions`
/// (`GET /?versions&prefix=...`, 1,000 keys a page) and `DELETE /KEY?versionId=...`, signed
/// the same way (see [`erase`](super::erase())). Every request has a 10 s connect timeout and a
/// 60 s overall one, and an answer is read up to 16 MiB.
///
/// Only explicit settings of the builder are read (`from_env`, `with_*`, `with_config`); a URL
/// given with `with_url` is parsed only by `build` and not seen here. S3 Express One Zone
/// buckets are refused.
///
/// # Examples
///
/// ```no_run
/// use authenteq_export::store::{S3Uploads, DEFAULT_STALE_AGE};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name("kyc-archive");
/// let uploads = S3Uploads::new(&builder)?;
/// let aborted = uploads.abort_stale("exports", DEFAULT_STALE_AGE).await?;
/// println!("{} unfinished uploads aborted", aborted.count());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct S3Uploads {
    s3: AmazonS3,
    /// `https://BUCKET.s3.REGION.amazonaws.com`, `ENDPOINT/BUCKET`... as `object_store` forms it.
    bucket_endpoint: String,
    region: String,
    skip_signature: bool,
    request_payer: bool,
    http: reqwest::Client,
}

impl fmt::Debug for S3Uploads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Uploads")
            .field("bucket_endpoint", &self.bucket_endpoint)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// One unfinished multipart upload.
#[derive(Clone, PartialEq, Eq)]
pub struct OpenUpload {
    key: Path,
    id: String,
    initiated: DateTime<Utc>,
}

impl fmt::Debug for OpenUpload {
    // The key names a verification id: not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenUpload")
            .field("initiated", &self.initiated)
            .finish_non_exhaustive()
    }
}

impl OpenUpload {
    /// The key the upload would complete into.
    pub fn key(&self) -> &Path {
        &self.key
    }

    /// The store's id of the upload.
    pub fn upload_id(&self) -> &str {
        &self.id
    }

    /// When the store says it was initiated.
    pub fn initiated(&self) -> DateTime<Utc> {
        self.initiated
    }
}

/// What [`S3Uploads::abort_stale`] did.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Aborted {
    keys: Vec<Path>,
    kept: usize,
}

impl fmt::Debug for Aborted {
    // The keys name verification ids: only counted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aborted")
            .field("count", &self.keys.len())
            .field("kept", &self.kept)
            .finish()
    }
}

impl Aborted {
    /// How many uploads were aborted.
    pub fn count(&self) -> usize {
        self.keys.len()
    }

    /// The keys of the aborted uploads (they name verification ids: keep them out of logs).
    pub fn keys(&self) -> &[Path] {
        &self.keys
    }

    /// How many unfinished uploads under the prefix were left open: too young, or not a file
    /// key of ours.
    pub fn kept(&self) -> usize {
        self.kept
    }
}

fn config_flag(builder: &AmazonS3Builder, key: AmazonS3ConfigKey) -> bool {
    builder
        .get_config_value(&key)
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on"))
}

impl S3Uploads {
    /// The uploads of the bucket `builder` is set up for, reached as `object_store` reaches
    /// it: the same endpoint (`AWS_ENDPOINT`, path or virtual-hosted style), region,
    /// `AWS_ALLOW_HTTP` and credentials.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Storage`] when the builder does not build (no bucket...), for an S3
    /// Express bucket, and for a plain `http://` endpoint without `AWS_ALLOW_HTTP`.
    pub fn new(builder: &AmazonS3Builder) -> Result<S3Uploads> {
        let s3 = builder
            .clone()
            .build()
            .map_err(|e| storage_error("setting up the S3 store", e))?;
        if config_flag(builder, AmazonS3ConfigKey::S3Express) {
            return Err(Error::new(
                ErrorKind::Storage,
                "listing the uploads of an S3 Express bucket is not supported",
            ));
        }
        let bucket = builder
            .get_config_value(&AmazonS3ConfigKey::Bucket)
            .unwrap_or_default();
        let region = builder
            .get_config_value(&AmazonS3ConfigKey::Region)
            .unwrap_or_else(|| "us-east-1".to_owned());
        let endpoint = builder
            .get_config_value(&AmazonS3ConfigKey::S3Endpoint)
            .or_else(|| builder.get_config_value(&AmazonS3ConfigKey::Endpoint));
        let virtual_hosted = config_flag(builder, AmazonS3ConfigKey::VirtualHostedStyleRequest);
        // The same rule as `AmazonS3Builder::build`.
        let bucket_endpoint = match (endpoint, virtual_hosted) {
            (Some(endpoint), true) => endpoint.trim_end_matches('/').to_owned(),
            (Some(endpoint), false) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
            (None, true) => format!("https://{bucket}.s3.{region}.amazonaws.com"),
            (None, false) => format!("https://s3.{region}.amazonaws.com/{bucket}"),
        };
        let allow_http = config_flag(
            builder,
            AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp),
        );
        if bucket_endpoint.starts_with("http://") && !allow_http {
            return Err(Error::new(
                ErrorKind::Storage,
                "the S3 endpoint is plain http and AWS_ALLOW_HTTP is not set",
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| {
                Error::with_source(ErrorKind::Http, "building the S3 listing client", e)
            })?;
        Ok(S3Uploads {
            s3,
            bucket_endpoint,
            region,
            skip_signature: config_flag(builder, AmazonS3ConfigKey::SkipSignature),
            request_payer: config_flag(builder, AmazonS3ConfigKey::RequestPayer),
            http,
        })
    }

    /// Every unfinished multipart upload whose key starts with `prefix/` (every one of the
    /// bucket for `""`), in the store's order.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Storage`] for an answer that is not a success (credentials refused are
    /// [`Error::is_credentials`]) or does not parse; [`ErrorKind::Http`] when the request
    /// fails. Neither names a key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<OpenUpload>> {
        let prefix = key_prefix(prefix);
        let mut uploads = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let page = self.page(&prefix, markers.as_ref()).await?;
            for upload in page.uploads {
                uploads.push(OpenUpload {
                    key: Path::from(upload.key),
                    id: upload.upload_id,
                    initiated: upload.initiated,
                });
            }
            if !page.is_truncated {
                return Ok(uploads);
            }
            markers = Some(next_markers(
                "listing unfinished uploads",
                page.next_key_marker,
                page.next_upload_id_marker,
                markers.as_ref(),
            )?);
        }
    }

    /// Aborts the unfinished uploads under `prefix` that an earlier, killed run left: file
    /// keys of an [`ObjectSink`](super::ObjectSink) (`PREFIX/<id>/<file name>`) initiated more
    /// than `older_than` before this call. See [which uploads are
    /// aborted](Self#which-uploads-are-aborted).
    ///
    /// # Errors
    ///
    /// Those of [`list`](Self::list), and a store error when an abort fails (the uploads
    /// before it are aborted). An upload already gone (finished or aborted by its worker
    /// meanwhile) is not an error.
    pub async fn abort_stale(&self, prefix: &str, older_than: Duration) -> Result<Aborted> {
        let cutoff = chrono::Duration::from_std(older_than)
            .ok()
            .and_then(|age| Utc::now().checked_sub_signed(age))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let prefix_key = key_prefix(prefix);
        let mut aborted = Aborted::default();
        for upload in self.list(prefix).await? {
            if !is_stale(&upload, &prefix_key, cutoff) {
                aborted.kept += 1;
                continue;
            }
            match self.s3.abort_multipart(&upload.key, &upload.id).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => aborted.keys.push(upload.key),
                Err(e) => return Err(storage_error("aborting an unfinished upload", e)),
            }
        }
        Ok(aborted)
    }

    async fn page(
        &self,
        prefix: &str,
        markers: Option<&(String, String)>,
    ) -> Result<ListMultipartUploadsResult> {
        let mut url = format!("{}/?uploads", self.bucket_endpoint);
        if !prefix.is_empty() {
            url.push_str("&prefix=");
            url.push_str(&query_encode(prefix));
        }
        if let Some((key, upload)) = markers {
            url.push_str("&key-marker=");
            url.push_str(&query_encode(key));
            url.push_str("&upload-id-marker=");
            url.push_str(&query_encode(upload));
        }
        let answer = self
            .signed(reqwest::Method::GET, url, "listing unfinished uploads")
            .await?;
        if !answer.is_success() {
            return Err(answer.error("listing unfinished uploads"));
        }
        parse_page(&answer.body)
    }

    /// One request to the bucket, signed as `object_store` signs its own (the same
    /// credentials, region and requester-pays setting), with an empty body; the answer's body
    /// is read up to [`MAX_ANSWER_BYTES`].
    pub(crate) async fn signed(
        &self,
        method: reqwest::Method,
        url: String,
        doing: &str,
    ) -> Result<Answer> {
        let mut request = HttpRequest::new(HttpRequestBody::empty());
        *request.method_mut() = method.clone();
        *request.uri_mut() = url.parse().map_err(|e| {
            Error::with_source(ErrorKind::Storage, "the S3 endpoint is not a URL", e)
        })?;
        if !self.skip_signature {
            let credential = self
                .s3
                .credentials()
                .get_credential()
                .await
                .map_err(|e| storage_error("getting the S3 credentials", e))?;
            AwsAuthorizer::new(&credential, "s3", &self.region)
                .with_request_payer(self.request_payer)
                .try_authorize(&mut request, None)
                .map_err(|e| storage_error(&format!("signing a request ({doing})"), e))?;
        }
        let mut answer = self
            .http
            .request(method, url)
            .headers(request.headers().clone())
            .send()
            .await
            .map_err(|e| Error::with_source(ErrorKind::Http, doing.to_owned(), e).transient())?;
        let status = answer.status().as_u16();
        let headers = answer.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = answer
            .chunk()
            .await
            .map_err(|e| Error::with_source(ErrorKind::Http, doing.to_owned(), e).transient())?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(Error::new(
                    ErrorKind::Storage,
                    format!("{doing}: the store's answer is over {MAX_ANSWER_BYTES} bytes"),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// The URL of `key` (each segment percent-encoded) in the bucket.
    pub(crate) fn object_url(&self, key: &str) -> String {
        let mut url = self.bucket_endpoint.clone();
        for segment in key.split('/') {
            url.push('/');
            url.push_str(&query_encode(segment));
        }
        url
    }
}

/// The most bytes of one answer of the store that [`S3Uploads`] reads (a page of a listing of
/// 1,000 keys is far less): 16 MiB.
pub(crate) const MAX_ANSWER_BYTES: usize = 16 << 20;

/// What the store answered a signed request.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The S3 error code of the answer, if it has one.
    pub(crate) fn code(&self) -> Option<String> {
        s3_error_code(&self.body)
    }

    /// An answer that is not a success, as an error: credentials refused are
    /// [`Error::is_credentials`], a server error may pass. Never names a key.
    pub(crate) fn error(&self, doing: &str) -> Error {
        let error = Error::new(
            ErrorKind::Storage,
            format!(
                "{doing}: the store answered {}{}",
                self.status,
                self.code().map(|c| format!(" {c}")).unwrap_or_default()
            ),
        )
        .with_http_status(self.status);
        match self.status {
            401 | 403 => error.refused_credentials(),
            500.. => error.transient(),
            _ => error,
        }
    }
}

/// `prefix` as a key prefix: `"a/b"` and `"/a/b/"` give `"a/b/"`, `""` gives `""`.
/// The markers a truncated listing page gives for the next one (a key, and an upload or
/// version id): an error when it gives no key, or the markers of the page before, since such a
/// listing would never end.
fn next_markers(
    doing: &str,
    key: Option<String>,
    id: Option<String>,
    previous: Option<&(String, String)>,
) -> Result<(String, String)> {
    let next = (key.unwrap_or_default(), id.unwrap_or_default());
    if next.0.is_empty() || previous == Some(&next) {
        return Err(Error::new(
            ErrorKind::Storage,
            format!("{doing}: a truncated page without a next marker"),
        ));
    }
    Ok(next)
}

pub(crate) fn key_prefix(prefix: &str) -> String {
    let trimmed = Path::from(prefix).to_string();
    if trimmed.is_empty() {
        trimmed
    } else {
        trimmed + "/"
    }
}

/// Whether `upload` is a file key of ours under `prefix` (`PREFIX<id>/<name>`) initiated
/// before `cutoff`.
fn is_stale(upload: &OpenUpload, prefix: &str, cutoff: DateTime<Utc>) -> bool {
    if upload.initiated >= cutoff {
        return false;
    }
    let Some(rest) = upload.key.as_ref().strip_prefix(prefix) else {
        return false;
    };
    match rest.split_once('/') {
        Some((id, name)) => VerificationId::new(id).is_ok() && is_safe_file_name(name),
        None => false,
    }
}

/// RFC 3986 unreserved characters stay, everything else is `%XX` (as SigV4 canonicalises).
pub(crate) fn query_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One page of S3's answer (only the fields used; the rest is ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListMultipartUploadsResult {
    /// Always in S3's answer: required, so that another document (a proxy's page) is an error,
    /// not an empty listing.
    #[allow(dead_code)]
    bucket: String,
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_key_marker: Option<String>,
    #[serde(default)]
    next_upload_id_marker: Option<String>,
    #[serde(default, rename = "Upload")]
    uploads: Vec<UploadEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadEntry {
    key: String,
    upload_id: String,
    initiated: DateTime<Utc>,
}

fn parse_page(body: &[u8]) -> Result<ListMultipartUploadsResult> {
    let text = std::str::from_utf8(body).map_err(|e| {
        Error::with_source(ErrorKind::Storage, "the upload listing is not UTF-8", e)
    })?;
    quick_xml::de::from_str(text).map_err(|e| {
        Error::with_source(
            ErrorKind::Storage,
            "the upload listing does not parse as ListMultipartUploadsResult",
            e,
        )
    })
}

/// The `<Code>` of an S3 error answer.
fn s3_error_code(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct S3Error {
        #[serde(rename = "Code")]
        code: String,
    }
    let text = std::str::from_utf8(body).ok()?;
    let code = quick_xml::de::from_str::<S3Error>(text).ok()?.code;
    code.bytes()
        .all(|b| b.is_ascii_alphanumeric())
        .then_some(code)
}

/// One version of a key, or one delete marker, as S3's `ListObjectVersions` gives it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct KeyVersion {
    pub(crate) key: String,
    pub(crate) version_id: String,
    pub(crate) delete_marker: bool,
}

impl fmt::Debug for KeyVersion {
    // The key names a verification id: not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyVersion")
            .field("delete_marker", &self.delete_marker)
            .finish_non_exhaustive()
    }
}

/// What a versioned delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VersionDeleted {
    /// The version is gone (or was already).
    Deleted,
    /// The store keeps it: a retention period (S3 Object Lock, either mode) or a legal hold.
    Held,
}

/// The keys of a page of `ListObjectVersions` asked for at most.
const VERSIONS_PER_PAGE: usize = 1000;

impl S3Uploads {
    /// Every version and delete marker of every key that starts with `prefix` (a key prefix
    /// such as `exports/v1/`), from S3's `ListObjectVersions` (`GET /?versions`, 1,000 keys a
    /// page), or `None` when the store does not implement it (answers 501, or 400/405
    /// `NotImplemented`): then it keeps no versions that `object_store` does not see.
    ///
    /// An unversioned bucket answers with one version a key, `null`.
    pub(crate) async fn versions(&self, prefix: &str) -> Result<Option<Vec<KeyVersion>>> {
        const DOING: &str = "listing object versions";
        let mut versions = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut url = format!(
                "{}/?versions&max-keys={VERSIONS_PER_PAGE}",
                self.bucket_endpoint
            );
            if !prefix.is_empty() {
                url.push_str("&prefix=");
                url.push_str(&query_encode(prefix));
            }
            if let Some((key, version)) = &markers {
                url.push_str("&key-marker=");
                url.push_str(&query_encode(key));
                if !version.is_empty() {
                    url.push_str("&version-id-marker=");
                    url.push_str(&query_encode(version));
                }
            }
            let answer = self.signed(reqwest::Method::GET, url, DOING).await?;
            if !answer.is_success() {
                let not_implemented = answer.status == 501
                    || (matches!(answer.status, 400 | 405)
                        && answer.code().as_deref() == Some("NotImplemented"));
                if not_implemented && markers.is_none() {
                    return Ok(None);
                }
                return Err(answer.error(DOING));
            }
            let page = parse_versions(&answer.body)?;
            versions.extend(
                page.versions
                    .into_iter()
                    .map(|v| (v, false))
                    .chain(page.delete_markers.into_iter().map(|m| (m, true)))
                    .map(|(v, delete_marker)| KeyVersion {
                        key: v.key,
                        version_id: v.version_id,
                        delete_marker,
                    }),
            );
            if !page.is_truncated {
                return Ok(Some(versions));
            }
            markers = Some(next_markers(
                DOING,
                page.next_key_marker,
                page.next_version_id_marker,
                markers.as_ref(),
            )?);
        }
    }

    /// Deletes one version (or delete marker) for good: `DELETE /KEY?versionId=...`, never
    /// bypassing a governance retention. A version already gone is deleted. A refusal (403)
    /// of a version that carries an Object Lock retention or a legal hold (read with a `HEAD`
    /// of that version) is [`VersionDeleted::Held`]; any other refusal is an error.
    pub(crate) async fn delete_version(&self, version: &KeyVersion) -> Result<VersionDeleted> {
        const DOING: &str = "deleting an object version";
        let url = format!(
            "{}?versionId={}",
            self.object_url(&version.key),
            query_encode(&version.version_id)
        );
        let answer = self
            .signed(reqwest::Method::DELETE, url.clone(), DOING)
            .await?;
        if answer.is_success() || answer.status == 404 {
            return Ok(VersionDeleted::Deleted);
        }
        if answer.status == 403 && !version.delete_marker {
            let head = self
                .signed(
                    reqwest::Method::HEAD,
                    url,
                    "reading an object version's lock",
                )
                .await?;
            if head.is_success() && is_locked(&head.headers, Utc::now()) {
                return Ok(VersionDeleted::Held);
            }
        }
        Err(answer.error(DOING))
    }

    /// Deletes `key` as a plain `DELETE` does: in a versioned bucket, a delete marker is put
    /// over it (the key reads as absent; its versions stay).
    pub(crate) async fn delete_current(&self, key: &str) -> Result<()> {
        const DOING: &str = "hiding an object under a delete marker";
        let answer = self
            .signed(reqwest::Method::DELETE, self.object_url(key), DOING)
            .await?;
        if answer.is_success() || answer.status == 404 {
            Ok(())
        } else {
            Err(answer.error(DOING))
        }
    }

    /// Aborts every unfinished upload whose key starts with `prefix` (a key prefix, with its
    /// `/`), whatever its age; how many.
    pub(crate) async fn abort_under(&self, prefix: &str) -> Result<u64> {
        let mut aborted = 0;
        for upload in self.list(prefix).await? {
            if !upload.key.as_ref().starts_with(prefix) {
                continue;
            }
            match self.s3.abort_multipart(&upload.key, &upload.id).await {
                Ok(()) => aborted += 1,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(storage_error("aborting an unfinished upload", e)),
            }
        }
        Ok(aborted)
    }
}

/// Whether the headers of a `HEAD` of a version say it is under a legal hold, or retained
/// (either mode) until after `now`.
fn is_locked(headers: &reqwest::header::HeaderMap, now: DateTime<Utc>) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let hold = header("x-amz-object-lock-legal-hold").is_some_and(|v| v.eq_ignore_ascii_case("ON"));
    let retained = header("x-amz-object-lock-retain-until-date")
        .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        .is_some_and(|until| until > now);
    hold || retained
}

/// One page of S3's `ListVersionsResult` (only the fields used).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListVersionsResult {
    /// Always in S3's answer: required, so that another document is an error, not an empty
    /// listing.
    #[allow(dead_code)]
    name: String,
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_key_marker: Option<String>,
    #[serde(default)]
    next_version_id_marker: Option<String>,
    #[serde(default, rename = "Version")]
    versions: Vec<VersionEntry>,
    #[serde(default, rename = "DeleteMarker")]
    delete_markers: Vec<VersionEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VersionEntry {
    key: String,
    version_id: String,
}

fn parse_versions(body: &[u8]) -> Result<ListVersionsResult> {
    let text = std::str::from_utf8(body).map_err(|e| {
        Error::with_source(ErrorKind::Storage, "the version listing is not UTF-8", e)
    })?;
    quick_xml::de::from_str(text).map_err(|e| {
        Error::with_source(
            ErrorKind::Storage,
            "the version listing does not parse as ListVersionsResult",
            e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>kyc-archive</Bucket>
  <KeyMarker></KeyMarker>
  <UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>exports/v2/faceImage.jpeg</NextKeyMarker>
  <NextUploadIdMarker>up-2</NextUploadIdMarker>
  <Prefix>exports/</Prefix>
  <MaxUploads>2</MaxUploads>
  <IsTruncated>true</IsTruncated>
  <Upload>
    <Key>exports/v1/faceImage.jpeg</Key>
    <UploadId>up-1</UploadId>
    <Initiator><ID>arn:aws:iam::1:user/a</ID><DisplayName>a</DisplayName></Initiator>
    <Owner><ID>o</ID><DisplayName>o</DisplayName></Owner>
    <StorageClass>STANDARD</StorageClass>
    <Initiated>2026-11-10T20:48:33.000Z</Initiated>
  </Upload>
  <Upload>
    <Key>exports/v2/faceImage.jpeg</Key>
    <UploadId>up-2</UploadId>
    <StorageClass>STANDARD</StorageClass>
    <Initiated>2026-11-10T21:00:00.000Z</Initiated>
  </Upload>
</ListMultipartUploadsResult>"#;

    #[test]
    fn a_page_parses_with_its_markers() {
        let page = parse_page(PAGE.as_bytes()).unwrap();
        assert!(page.is_truncated);
        assert_eq!(
            page.next_key_marker.as_deref(),
            Some("exports/v2/faceImage.jpeg")
        );
        assert_eq!(page.next_upload_id_marker.as_deref(), Some("up-2"));
        let keys: Vec<(&str, &str)> = page
            .uploads
            .iter()
            .map(|u| (u.key.as_str(), u.upload_id.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("exports/v1/faceImage.jpeg", "up-1"),
                ("exports/v2/faceImage.jpeg", "up-2")
            ]
        );
        assert_eq!(
            page.uploads[0].initiated.to_rfc3339(),
            "2026-11-10T20:48:33+00:00"
        );
    }

    #[test]
    fn an_empty_page_and_a_bad_one() {
        let page = parse_page(
            br#"<ListMultipartUploadsResult><Bucket>b</Bucket><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>"#,
        )
        .unwrap();
        assert!(!page.is_truncated && page.uploads.is_empty());
        let e = parse_page(b"<Html>proxy says no</Html><x>").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Storage);
        let e = parse_page(
            b"<ListMultipartUploadsResult><Upload><Key>k</Key></Upload></ListMultipartUploadsResult>",
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Storage);
    }

    #[test]
    fn the_error_code_of_an_answer() {
        let body = b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>";
        assert_eq!(s3_error_code(body).as_deref(), Some("AccessDenied"));
        assert_eq!(s3_error_code(b"not xml"), None);
    }

    fn upload(key: &str, initiated: &str) -> OpenUpload {
        OpenUpload {
            key: Path::from(key),
            id: "u".to_owned(),
            initiated: initiated.parse().unwrap(),
        }
    }

    #[test]
    fn only_old_file_keys_of_ours_are_stale() {
        let cutoff: DateTime<Utc> = "2026-12-01T12:00:00Z".parse().unwrap();
        let old = "2026-12-01T10:59:59Z";
        let rows = [
            ("exports/v1/faceImage.jpeg", old, true),
            ("exports/v1/faceImage.jpeg", "2026-12-01T12:00:00Z", false),
            ("exports/v1/faceImage.jpeg", "2026-12-01T11:59:00Z", true),
            ("exports/v1/faceImage.jpeg", "2026-12-01T12:30:00Z", false),
            // Not a file key of ours: elsewhere, too shallow, too deep.
            ("other/v1/faceImage.jpeg", old, false),
            ("exportsX/v1/faceImage.jpeg", old, false),
            ("exports/faceImage.jpeg", old, false),
            ("exports/v1/sub/faceImage.jpeg", old, false),
        ];
        for (key, initiated, stale) in rows {
            assert_eq!(
                is_stale(&upload(key, initiated), "exports/", cutoff),
                stale,
                "{key} {initiated}"
            );
        }
        assert!(is_stale(&upload("v1/result.json", old), "", cutoff));
    }

    #[test]
    fn prefixes_and_query_values() {
        assert_eq!(key_prefix(""), "");
        assert_eq!(key_prefix("/exports/2026/"), "exports/2026/");
        assert_eq!(query_encode("a b/c~d"), "a%20b%2Fc~d");
    }

    #[test]
    fn debug_names_no_key() {
        let u = upload("exports/secret-id/faceImage.jpeg", "2026-12-01T10:00:00Z");
        assert!(!format!("{u:?}").contains("secret-id"));
        let a = Aborted {
            keys: vec![u.key.clone()],
            kept: 0,
        };
        assert!(!format!("{a:?}").contains("secret-id"));
    }

    #[test]
    fn a_version_page_with_markers_in_between_parses() {
        // S3 gives versions and delete markers in key order, mixed.
        let page = parse_versions(
            br#"<?xml version="1.0" encoding="UTF-8"?>
<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>kyc</Name><Prefix>p/v1/</Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker>
  <NextKeyMarker>p/v1/c</NextKeyMarker><NextVersionIdMarker>3</NextVersionIdMarker>
  <MaxKeys>3</MaxKeys><IsTruncated>true</IsTruncated>
  <Version><Key>p/v1/a</Key><VersionId>1</VersionId><IsLatest>true</IsLatest></Version>
  <DeleteMarker><Key>p/v1/b</Key><VersionId>2</VersionId><IsLatest>true</IsLatest></DeleteMarker>
  <Version><Key>p/v1/b</Key><VersionId>null</VersionId><IsLatest>false</IsLatest></Version>
</ListVersionsResult>"#,
        )
        .unwrap();
        assert!(page.is_truncated);
        assert_eq!(page.next_key_marker.as_deref(), Some("p/v1/c"));
        assert_eq!(page.next_version_id_marker.as_deref(), Some("3"));
        let versions: Vec<&str> = page
            .versions
            .iter()
            .map(|v| v.version_id.as_str())
            .collect();
        assert_eq!(versions, ["1", "null"]);
        assert_eq!(page.delete_markers[0].key, "p/v1/b");
        assert!(parse_versions(b"<ListVersionsResult></ListVersionsResult>").is_err());
    }

    #[test]
    fn a_lock_is_a_hold_or_a_retention_not_yet_over() {
        let now: DateTime<Utc> = "2026-12-01T12:00:00Z".parse().unwrap();
        let rows: [(&[(&str, &str)], bool); 5] = [
            (&[], false),
            (&[("x-amz-object-lock-legal-hold", "ON")], true),
            (&[("x-amz-object-lock-legal-hold", "OFF")], false),
            (
                &[
                    ("x-amz-object-lock-mode", "COMPLIANCE"),
                    (
                        "x-amz-object-lock-retain-until-date",
                        "2026-12-02T00:00:00Z",
                    ),
                ],
                true,
            ),
            (
                &[
                    ("x-amz-object-lock-mode", "GOVERNANCE"),
                    (
                        "x-amz-object-lock-retain-until-date",
                        "2026-11-30T00:00:00.000Z",
                    ),
                ],
                false,
            ),
        ];
        for (headers, locked) in rows {
            let mut map = reqwest::header::HeaderMap::new();
            for (k, v) in headers {
                map.insert(*k, v.parse().unwrap());
            }
            assert_eq!(is_locked(&map, now), locked, "{headers:?}");
        }
    }
}
