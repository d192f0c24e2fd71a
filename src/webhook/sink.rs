//! Verified deliveries kept in any [`Sink`]: an object store or a folder with manifests, the
//! way `fetch` keeps what it downloads.
//!
//! The receiver's seam ([`DeliveryStore`]) maps onto a sink one to one: an id is stored when
//! its manifest is there; a delivery is one [`store::Staging`](StoreStaging), each part one
//! file, ended when the next part starts (the decoder hands the next part over only once the
//! last one's closing delimiter was read) and committed, manifest last, only once the whole
//! body was read and its signature matched. Any refusal discards the staging: an object store's
//! unfinished uploads are aborted before the answer goes out.

use bytes::Bytes;

use super::store::{Claim, ClaimGuard, Claims, DeliveryStore, Staging};
use crate::error::Result;
use crate::store::{Committed, Sink, Staging as StoreStaging};

/// A [`Sink`] behind the receiver's seam, with the in-memory [`Claims`] of deliveries in
/// progress.
#[derive(Debug)]
pub(crate) struct SinkStore<K> {
    sink: K,
    claims: Claims,
}

impl<K> SinkStore<K> {
    pub(crate) fn new(sink: K) -> Self {
        SinkStore {
            sink,
            claims: Claims::default(),
        }
    }
}

impl<K: Sink + 'static> DeliveryStore for SinkStore<K> {
    type Staging = SinkStaging<K::Staging>;

    async fn claim(&self, id: &str) -> Result<Claim<Self::Staging>> {
        let Some(guard) = self.claims.claim(id) else {
            return Ok(Claim::Busy);
        };
        if self.sink.manifest(id).await?.is_some() {
            return Ok(Claim::Stored);
        }
        let staging = self.sink.stage(id).await?;
        Ok(Claim::New(SinkStaging {
            staging,
            file_open: false,
            _guard: guard,
        }))
    }
}

/// One delivery being written into a sink.
pub(crate) struct SinkStaging<T> {
    staging: T,
    /// A file was started and not yet ended.
    file_open: bool,
    // Dropped last: the claim outlives the staging (whose drop aborts what it sent).
    _guard: ClaimGuard,
}

impl<T: StoreStaging> SinkStaging<T> {
    async fn end_file(&mut self) -> Result<()> {
        if std::mem::take(&mut self.file_open) {
            self.staging.end_file().await?;
        }
        Ok(())
    }
}

impl<T: StoreStaging> Staging for SinkStaging<T> {
    async fn stage(&mut self, name: &str, content_type: Option<&str>) -> Result<()> {
        self.end_file().await?;
        self.staging.start_file(name, content_type).await?;
        self.file_open = true;
        Ok(())
    }

    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        self.staging.write(chunk).await
    }

    async fn commit(mut self) -> Result<()> {
        self.end_file().await?;
        match self.staging.commit().await? {
            // Another receiver (or a `fetch` into the same place) stored the same bytes
            // first: the delivery is stored either way.
            Committed::Stored(_) | Committed::AlreadyComplete(_) => Ok(()),
        }
    }

    async fn discard(self) {
        self.staging.discard().await;
    }
}
