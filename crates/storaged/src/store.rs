//! The [`Store`] seam: what every service that keeps bytes (catalogd, ingestd, vectord)
//! depends on. Two impls: [`crate::ObjectStoreBackend`] in-process, over `object_store`
//! (local directory or S3), and [`crate::StoreClient`] over storaged's HTTP API. One
//! conformance suite (`tests/conformance.rs`) runs against every wiring.
//!
//! Bodies are streams both ways, so no impl ever needs a whole object in memory.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::key::{KeyPrefix, ObjectKey};

/// An object body in flight.
pub type ByteStream = BoxStream<'static, Result<Bytes, StoreError>>;

/// What a store knows about one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// Canonical key text (see [`ObjectKey`]).
    pub key: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// An object being read: its metadata, then its bytes.
pub struct GetObject {
    pub meta: ObjectMeta,
    pub body: ByteStream,
}

/// When a PUT may replace what is there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PutMode {
    /// Always write (the default).
    #[default]
    Overwrite,
    /// Only when no object has the key (`If-None-Match: *`).
    Create,
    /// Only when the current object has this etag (`If-Match: ETAG`).
    IfMatch(String),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Writes `body` under `key`. Readers see the previous object or the whole new one,
    /// never a prefix; on any error (including a failed body) nothing changes.
    async fn put(
        &self,
        key: &ObjectKey,
        body: ByteStream,
        mode: PutMode,
    ) -> Result<ObjectMeta, StoreError>;

    /// Reads an object; `NotFound` when there is none.
    async fn get(&self, key: &ObjectKey) -> Result<GetObject, StoreError>;

    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta, StoreError>;

    /// Removes an object; removing a missing object succeeds.
    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError>;

    /// Every object whose canonical key starts with `prefix`, sorted by key.
    async fn list(&self, prefix: &KeyPrefix) -> Result<Vec<ObjectMeta>, StoreError>;

    /// Reads a whole object into memory, in one buffer allocated at the size the store
    /// reports: an object sent as one chunk is returned as it came; a larger one is copied
    /// once into a buffer advised huge pages, with no list of chunks to concatenate (a
    /// 576 MiB index snapshot costs 576 MiB, not twice that). A backend that can do better
    /// (a local file read straight into the buffer) overrides it.
    async fn get_bytes(&self, key: &ObjectKey) -> Result<Bytes, StoreError> {
        collect_whole(self.get(key).await?).await
    }

    /// Where the bytes live, for logs and error messages.
    fn describe(&self) -> String;

    /// A cheap check that the store answers, for `/health`: by default a HEAD of
    /// `_lakehouse/health`, where a missing object is an answer too.
    async fn probe(&self) -> Result<(), StoreError> {
        let key = ObjectKey::parse("_lakehouse/health")
            .map_err(|e| StoreError::Internal(format!("probe key: {e}")))?;
        match self.head(&key).await {
            Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A GET's body in one buffer (see [`Store::get_bytes`]).
pub(crate) async fn collect_whole(object: GetObject) -> Result<Bytes, StoreError> {
    let GetObject { meta, mut body } = object;
    let Some(first) = body.try_next().await? else {
        return Ok(Bytes::new());
    };
    let Some(second) = body.try_next().await? else {
        return Ok(first);
    };
    let mut buf = whole_buffer(
        meta.size.max((first.len() + second.len()) as u64),
        &meta.key,
    )?;
    buf.extend_from_slice(&first);
    buf.extend_from_slice(&second);
    while let Some(chunk) = body.try_next().await? {
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.into())
}

/// An empty buffer with room for `size` bytes, advised huge pages; an error naming the
/// object when the memory cannot be had.
pub(crate) fn whole_buffer(size: u64, key: &str) -> Result<Vec<u8>, StoreError> {
    let mut buf = Vec::new();
    usize::try_from(size)
        .ok()
        .and_then(|size| buf.try_reserve_exact(size).ok())
        .ok_or_else(|| {
            StoreError::Internal(format!("{size} bytes to read {key} cannot be allocated"))
        })?;
    common::mem::advise_huge_pages(buf.as_ptr(), buf.capacity());
    Ok(buf)
}

/// Conveniences over any [`Store`].
#[async_trait]
pub trait StoreExt: Store {
    async fn put_bytes(
        &self,
        key: &ObjectKey,
        bytes: Bytes,
        mode: PutMode,
    ) -> Result<ObjectMeta, StoreError> {
        self.put(
            key,
            futures::stream::once(async move { Ok(bytes) }).boxed(),
            mode,
        )
        .await
    }
}

impl<S: Store + ?Sized> StoreExt for S {}
