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

    /// Where the bytes live, for logs and error messages.
    fn describe(&self) -> String;
}

/// Conveniences over any [`Store`] for small objects (manifests, index files).
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

    /// Reads a whole object into memory: only for objects known to be small.
    async fn get_bytes(&self, key: &ObjectKey) -> Result<Bytes, StoreError> {
        let object = self.get(key).await?;
        let chunks: Vec<Bytes> = object.body.try_collect().await?;
        Ok(chunks.concat().into())
    }
}

impl<S: Store + ?Sized> StoreExt for S {}
