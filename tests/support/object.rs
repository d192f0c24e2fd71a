//! Object-store helpers: what a store lists, and an in-memory store that counts its unfinished
//! multipart uploads as S3 does (`InMemory` forgets an upload nobody completes).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path as Key;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};

/// Every key of `store` under `prefix` (`""` for all), without the prefix and its `/`, with
/// its bytes.
pub async fn listed(store: &dyn ObjectStore, prefix: &str) -> BTreeMap<String, Bytes> {
    let under = (!prefix.is_empty()).then(|| Key::from(prefix));
    let metas: Vec<ObjectMeta> = store.list(under.as_ref()).try_collect().await.unwrap();
    let mut out = BTreeMap::new();
    for meta in metas {
        let bytes = store.get(&meta.location).await.unwrap().bytes().await;
        let key = meta.location.as_ref();
        let key = key
            .strip_prefix(prefix)
            .map_or(key, |k| k.trim_start_matches('/'));
        out.insert(key.to_owned(), bytes.unwrap());
    }
    out
}

/// An [`InMemory`] store that counts the multipart uploads started and neither completed nor
/// aborted: what S3 keeps (and bills) after a writer forgets one.
#[derive(Debug, Default)]
pub struct CountingUploads {
    inner: InMemory,
    open: Arc<AtomicUsize>,
}

impl CountingUploads {
    /// Uploads started and not completed or aborted yet.
    pub fn unfinished_uploads(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

impl std::fmt::Display for CountingUploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CountingUploads")
    }
}

#[derive(Debug)]
struct CountedUpload {
    inner: Box<dyn MultipartUpload>,
    open: Arc<AtomicUsize>,
    finished: bool,
}

impl CountedUpload {
    fn finish(&mut self) {
        if !std::mem::replace(&mut self.finished, true) {
            self.open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl MultipartUpload for CountedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let done = self.inner.complete().await;
        if done.is_ok() {
            self.finish();
        }
        done
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        let done = self.inner.abort().await;
        if done.is_ok() {
            self.finish();
        }
        done
    }
}

#[async_trait]
impl ObjectStore for CountingUploads {
    async fn put_opts(
        &self,
        location: &Key,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Key,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        self.open.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(CountedUpload {
            inner,
            open: self.open.clone(),
            finished: false,
        }))
    }

    async fn get_opts(
        &self,
        location: &Key,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Key>>,
    ) -> BoxStream<'static, object_store::Result<Key>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Key>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Key>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Key,
        to: &Key,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
