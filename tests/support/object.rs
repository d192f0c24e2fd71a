//! Object-store helpers: what a store lists, and an in-memory store with hooks on its writes,
//! to count unfinished multipart uploads as S3 keeps them (`InMemory` forgets an upload nobody
//! completes) or to fail writes.

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

/// What a [`Hooked`] store does on its writes before passing them on to memory: an `Err`
/// fails the write. Every hook does nothing by default.
pub trait Hooks: Send + Sync + std::fmt::Debug + 'static {
    /// A `put` of a whole object.
    fn put(&self) -> object_store::Result<()> {
        Ok(())
    }
    /// A part of a multipart upload.
    fn part(&self) -> object_store::Result<()> {
        Ok(())
    }
    /// A multipart upload was started.
    fn upload_started(&self) {}
    /// A multipart upload was completed or aborted.
    fn upload_finished(&self) {}
}

/// An [`InMemory`] store whose writes go through [`Hooks`] first.
#[derive(Debug, Default)]
pub struct Hooked<H> {
    pub inner: InMemory,
    pub hooks: Arc<H>,
}

impl<H: Hooks> Hooked<H> {
    pub fn new(hooks: H) -> Self {
        Hooked {
            inner: InMemory::new(),
            hooks: Arc::new(hooks),
        }
    }
}

/// Counts the multipart uploads started and neither completed nor aborted: what S3 keeps (and
/// bills) after a writer forgets one.
#[derive(Debug, Default)]
pub struct OpenUploads(AtomicUsize);

impl OpenUploads {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Hooks for OpenUploads {
    fn upload_started(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn upload_finished(&self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An in-memory store that counts its unfinished uploads.
pub type CountingUploads = Hooked<OpenUploads>;

impl CountingUploads {
    /// Uploads started and not completed or aborted yet.
    pub fn unfinished_uploads(&self) -> usize {
        self.hooks.count()
    }
}

impl<H> std::fmt::Display for Hooked<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hooked")
    }
}

#[derive(Debug)]
struct HookedUpload<H> {
    inner: Box<dyn MultipartUpload>,
    hooks: Arc<H>,
    finished: bool,
}

impl<H: Hooks> HookedUpload<H> {
    fn finished(&mut self, done: bool) {
        if done && !std::mem::replace(&mut self.finished, true) {
            self.hooks.upload_finished();
        }
    }
}

#[async_trait]
impl<H: Hooks> MultipartUpload for HookedUpload<H> {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        match self.hooks.part() {
            Ok(()) => self.inner.put_part(data),
            Err(e) => Box::pin(async { Err(e) }),
        }
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let done = self.inner.complete().await;
        self.finished(done.is_ok());
        done
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        let done = self.inner.abort().await;
        self.finished(done.is_ok());
        done
    }
}

#[async_trait]
impl<H: Hooks> ObjectStore for Hooked<H> {
    async fn put_opts(
        &self,
        location: &Key,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.hooks.put()?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Key,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        self.hooks.upload_started();
        Ok(Box::new(HookedUpload {
            inner,
            hooks: self.hooks.clone(),
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
