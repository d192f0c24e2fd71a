//! `--out` of `fetch --ids` and `webhook serve`: a folder, `file:///PATH` or
//! `s3://BUCKET/PREFIX`, opened as one of the library's sinks, so downloads and deliveries are
//! stored the same way (and one destination can take both).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authenteq_export::store::{FolderSink, ObjectSink, S3Uploads, Sink};
use object_store::aws::AmazonS3Builder;
use object_store::RetryConfig;

use crate::output::{with_causes, Context, Failure};

/// Where `--out` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Folder(PathBuf),
    S3 { bucket: String, prefix: String },
}

/// A destination opened: the sink to store into.
pub enum Opened {
    Folder(FolderSink),
    Objects {
        sink: ObjectSink,
        /// The same store with few retries, for [`Opened::check`]: a store with no
        /// credentials should say so in seconds, not after minutes of retries.
        probe: ObjectSink,
        /// `s3://BUCKET/PREFIX`, to name it in errors.
        url: String,
        /// What made the store, to list the uploads a killed run left.
        builder: Box<AmazonS3Builder>,
        prefix: String,
    },
}

impl Destination {
    /// Reads `--out`.
    pub fn parse(out: &str) -> Result<Destination, Failure> {
        if let Some(path) = out.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err("--out file:// takes an absolute path: file:///PATH".into());
            }
            return Ok(Destination::Folder(PathBuf::from(path)));
        }
        if let Some(rest) = out.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err("--out s3:// needs a bucket: s3://BUCKET/PREFIX".into());
            }
            return Ok(Destination::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        if out.contains("://") {
            return Err("--out is a folder, file:///PATH or s3://BUCKET/PREFIX".into());
        }
        Ok(Destination::Folder(PathBuf::from(out)))
    }

    /// The sink: a folder is created if missing; an S3 store is configured from the `AWS_*`
    /// variables `object_store` reads (`AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`...), server-side encryption included
    /// (`AWS_SERVER_SIDE_ENCRYPTION`, `AWS_SSE_KMS_KEY_ID`, `AWS_SSE_BUCKET_KEY_ENABLED`,
    /// `AWS_SSE_CUSTOMER_KEY_BASE64`): object_store sends them with every put and with the
    /// creation of every multipart upload (and, for SSE-C, with each part and each read).
    pub fn open(self) -> Result<Opened, Failure> {
        self.open_with_mode(None)
    }

    /// [`open`](Self::open), with the permission bits of new files in a folder (default
    /// 0600).
    pub fn open_with_mode(self, file_mode: Option<u32>) -> Result<Opened, Failure> {
        match self {
            Destination::Folder(path) => {
                create_out_folder(&path)?;
                let sink = FolderSink::create(path)?;
                Ok(Opened::Folder(match file_mode {
                    Some(mode) => sink.file_mode(mode),
                    None => sink,
                }))
            }
            Destination::S3 { bucket, prefix } => {
                let url = format!("s3://{bucket}/{prefix}");
                let builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                let setup =
                    |e| Context::new(format!("cannot set up the S3 store {url}{}", sse_hint()), e);
                let s3 = builder.clone().build().map_err(setup)?;
                let probe = builder
                    .clone()
                    .with_retry(RetryConfig {
                        max_retries: 1,
                        retry_timeout: Duration::from_secs(10),
                        ..RetryConfig::default()
                    })
                    .build()
                    .map_err(setup)?;
                Ok(Opened::Objects {
                    sink: ObjectSink::new(Arc::new(s3), &prefix),
                    probe: ObjectSink::new(Arc::new(probe), &prefix),
                    url,
                    builder: Box::new(builder),
                    prefix,
                })
            }
        }
    }
}

/// Runs `$body` with `$sink` bound to the sink of `$opened` (an [`Opened`] or `&Opened`),
/// owned, wrapped in `store::Encrypted` when `$recipients` (an `Option<&Recipients>`) is
/// `Some`: every command that stores into `--out` goes through here, so `--encrypt-to`
/// means the same everywhere.
macro_rules! with_sink {
    ($opened:expr, $recipients:expr, |$sink:ident| $body:expr) => {{
        use authenteq_export::store::Encrypted;
        use $crate::destination::Opened;
        match ($opened, $recipients) {
            (Opened::Folder(folder), None) => {
                let $sink = folder.clone();
                $body
            }
            (Opened::Folder(folder), Some(recipients)) => {
                let $sink = Encrypted::new(folder.clone(), recipients.clone());
                $body
            }
            (Opened::Objects { sink: objects, .. }, None) => {
                let $sink = objects.clone();
                $body
            }
            (Opened::Objects { sink: objects, .. }, Some(recipients)) => {
                let $sink = Encrypted::new(objects.clone(), recipients.clone());
                $body
            }
        }
    }};
}
pub(crate) use with_sink;

impl Opened {
    /// Checks that the destination can be used before anything is fetched or received: the
    /// folder can be written in, the store answers a listing with the credentials found.
    /// The error names the folder or `s3://` URL and what to check.
    pub async fn check(&self) -> Result<(), Failure> {
        match self {
            Opened::Folder(sink) => Ok(sink.check().await?),
            Opened::Objects { probe, url, .. } => probe.check().await.map_err(|e| {
                let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
                let credentials = [
                    "AWS_ACCESS_KEY_ID",
                    "AWS_WEB_IDENTITY_TOKEN_FILE",
                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                ];
                let missing = if credentials.iter().any(|name| set(name)) {
                    ""
                } else {
                    "no AWS credentials in the environment (AWS_ACCESS_KEY_ID is not set) and \
                     the instance metadata service gave none: "
                };
                format!(
                    "cannot use {url}: {missing}{}; the store is configured from \
                     AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT, AWS_DEFAULT_REGION...",
                    with_causes(&e)
                )
                .into()
            }),
        }
    }

    /// Aborts the unfinished uploads a killed run left under the prefix, those older than
    /// `older_than`; the count, or `None` (after a warning: the bucket's lifecycle rule is
    /// the backstop) when the store would not list or abort. In a folder, unfinished files
    /// have no name and vanish with the process; what is swept there is the empty id folders
    /// and hidden partial files older than `older_than` (`FolderSink::sweep`).
    pub async fn abort_stale(&self, older_than: Duration) -> Option<usize> {
        let (builder, prefix) = match self {
            Opened::Objects {
                builder, prefix, ..
            } => (builder, prefix),
            Opened::Folder(sink) => {
                return match sink.sweep(older_than) {
                    Ok(removed) => Some(removed),
                    Err(e) => {
                        eprintln!(
                            "warning: what earlier runs left in the folder was not swept: {}",
                            with_causes(&e)
                        );
                        None
                    }
                }
            }
        };
        let swept = match S3Uploads::new(builder) {
            Ok(uploads) => uploads.abort_stale(prefix, older_than).await,
            Err(e) => Err(e),
        };
        match swept {
            Ok(aborted) => Some(aborted.count()),
            Err(e) => {
                eprintln!(
                    "warning: unfinished uploads left by earlier runs were not aborted: {}",
                    with_causes(&e)
                );
                None
            }
        }
    }
}

/// What the server-side encryption settings take, when one is set: object_store's own message
/// names its values wrongly (`sse:kms`).
fn sse_hint() -> &'static str {
    if std::env::var_os("AWS_SERVER_SIDE_ENCRYPTION").is_some() {
        " (AWS_SERVER_SIDE_ENCRYPTION takes AES256, aws:kms, aws:kms:dsse or sse-c; aws:kms \
         takes its key in AWS_SSE_KMS_KEY_ID, sse-c in AWS_SSE_CUSTOMER_KEY_BASE64)"
    } else {
        ""
    }
}

/// The folders the `--out` of this run created, deepest first: a failed run removes the ones
/// still empty ([`remove_created_if_empty`]).
static CREATED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Creates the folder `--out` names (with its parents) unless it exists, and remembers which
/// this run made. A file there is an error that says so.
pub fn create_out_folder(path: &Path) -> Result<(), Failure> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(format!(
                "--out {} is a file, not a folder: give a folder (created if missing)",
                path.display()
            )
            .into())
        }
        Err(_) => {}
    }
    let mut missing = Vec::new();
    let mut at = Some(path);
    while let Some(dir) = at.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        missing.push(dir.to_owned());
        at = dir.parent();
    }
    let made = std::fs::create_dir_all(path)
        .map_err(|e| Context::new(format!("cannot create the folder {}", path.display()), e));
    if let Ok(mut created) = CREATED.lock() {
        created.extend(missing.into_iter().filter(|d| d.is_dir()));
    }
    made.map_err(Into::into)
}

/// Removes the folders this run created for `--out` that are still empty, deepest first:
/// a failed command leaves no empty folder behind.
pub fn remove_created_if_empty() {
    let Ok(mut created) = CREATED.lock() else {
        return;
    };
    for dir in created.drain(..) {
        // Fails, as it should, on a folder that holds anything.
        if std::fs::remove_dir(&dir).is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_forms() {
        let folder = |p: &str| Destination::Folder(PathBuf::from(p));
        let s3 = |b: &str, p: &str| Destination::S3 {
            bucket: b.to_owned(),
            prefix: p.to_owned(),
        };
        for (out, want) in [
            ("exports", folder("exports")),
            ("file:///data/exports", folder("/data/exports")),
            ("s3://bucket", s3("bucket", "")),
            ("s3://bucket/", s3("bucket", "")),
            ("s3://bucket/a/b/", s3("bucket", "a/b")),
        ] {
            assert_eq!(Destination::parse(out).unwrap(), want, "{out}");
        }
        for (out, says) in [
            ("file://relative", "absolute path"),
            ("s3:///prefix", "needs a bucket"),
            ("gs://bucket", "is a folder, file:///PATH or s3://"),
        ] {
            let err = Destination::parse(out).unwrap_err().to_string();
            assert!(err.contains(says), "{out}: {err}");
        }
    }
}
