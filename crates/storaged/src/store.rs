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

/// Part of an object being read: the whole object's metadata, the bytes `range` (`start..end`
/// of the object, `end` at most its size), then those bytes.
pub struct ObjectRange {
    pub meta: ObjectMeta,
    pub range: std::ops::Range<u64>,
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

    /// Reads the bytes `range` of an object: from `range.start`, up to `range.end` or its
    /// end, whichever comes first. `RangeNotSatisfiable` when `range.start` is not before
    /// its end (nothing to read), `BadRequest` for an empty `range`, `NotFound` when there
    /// is no object. This default reads the object from its start and drops what precedes
    /// the range; a backend that can seek overrides it.
    async fn get_range(
        &self,
        key: &ObjectKey,
        range: std::ops::Range<u64>,
    ) -> Result<ObjectRange, StoreError> {
        check_range(&range)?;
        let GetObject { meta, body } = self.get(key).await?;
        let range = clip_range(key, &range, meta.size)?;
        Ok(ObjectRange {
            body: slice_stream(body, range.clone()),
            meta,
            range,
        })
    }

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

/// A range a caller may ask for: not empty.
pub(crate) fn check_range(range: &std::ops::Range<u64>) -> Result<(), StoreError> {
    if range.start >= range.end {
        return Err(StoreError::BadRequest(format!(
            "an empty byte range ({}..{})",
            range.start, range.end
        )));
    }
    Ok(())
}

/// `range` within an object of `size` bytes: its end clipped to the size, or
/// `RangeNotSatisfiable` when it starts at or past the end.
pub(crate) fn clip_range(
    key: &ObjectKey,
    range: &std::ops::Range<u64>,
    size: u64,
) -> Result<std::ops::Range<u64>, StoreError> {
    if range.start >= size {
        return Err(StoreError::RangeNotSatisfiable {
            key: key.as_str().to_string(),
            size,
        });
    }
    Ok(range.start..range.end.min(size))
}

/// The bytes `range` of a stream of a whole object.
pub(crate) fn slice_stream(body: ByteStream, range: std::ops::Range<u64>) -> ByteStream {
    let mut at = 0u64;
    body.try_filter_map(move |chunk| {
        let (from, to) = (at, at + chunk.len() as u64);
        at = to;
        let (start, end) = (range.start.max(from), range.end.min(to));
        let part =
            (start < end).then(|| chunk.slice((start - from) as usize..(end - from) as usize));
        futures::future::ready(Ok(part))
    })
    .take_while({
        // Ends once the range is out (the rest of the object is read no further).
        let len = range.end - range.start;
        let mut out = 0u64;
        move |part| {
            let more = out < len;
            if let Ok(p) = part {
                out += p.len() as u64;
            }
            futures::future::ready(more)
        }
    })
    .boxed()
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use futures::StreamExt;

    use super::slice_stream;

    /// The default ranged read's slicing, over a body in uneven chunks.
    #[tokio::test]
    async fn a_range_of_a_chunked_body_is_its_bytes_and_no_more_is_read() {
        const CHUNKS: [&str; 4] = ["012", "3456", "", "789"];
        for (start, end) in [(0, 10), (0, 1), (2, 5), (3, 7), (4, 9), (9, 10), (5, 6)] {
            // A chunk after the range's that fails: reading it would show.
            let body = futures::stream::iter(
                CHUNKS
                    .iter()
                    .map(|c| Ok(Bytes::from_static(c.as_bytes())))
                    .chain(std::iter::once(Err(super::StoreError::Internal(
                        "read past the range".into(),
                    ))))
                    .take(if end == 10 { 4 } else { 5 }),
            )
            .boxed();
            let got: Vec<Bytes> = slice_stream(body, start..end)
                .map(|c| c.unwrap())
                .collect()
                .await;
            assert_eq!(
                got.concat(),
                &b"0123456789"[start as usize..end as usize],
                "{start}..{end}"
            );
        }
    }
}
