//! `--out` of `fetch --ids` and `webhook serve`: a folder, `file:///PATH` or
//! `s3://BUCKET/PREFIX`, opened as one of the library's sinks, so downloads and deliveries are
//! stored the same way (and one destination can take both).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use authenteq_export::store::{FolderSink, ObjectSink, S3Uploads};
use object_store::aws::AmazonS3Builder;

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
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`...).
    pub fn open(self) -> Result<Opened, Failure> {
        match self {
            Destination::Folder(path) => Ok(Opened::Folder(FolderSink::create(path)?)),
            Destination::S3 { bucket, prefix } => {
                let builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                let s3 = builder
                    .clone()
                    .build()
                    .map_err(|e| Context::new("cannot set up the S3 store".to_owned(), e))?;
                Ok(Opened::Objects {
                    sink: ObjectSink::new(Arc::new(s3), &prefix),
                    builder: Box::new(builder),
                    prefix,
                })
            }
        }
    }
}

impl Opened {
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
