//! Where indexes live in the store, and loading them back.
//!
//! ```text
//! _vectors/{name}.lhv1                              the snapshot (format::lhv1), one PUT
//! _vectors/{name}.log/{incarnation}/{seq:020}.lhvw  write-ahead log records (format::wal)
//! ```
//!
//! An index name never contains a `.`, so these keys cannot collide across indexes.
//! [`load`] reads a snapshot, then replays the log records of the snapshot's incarnation
//! newer than the sequence number it covers, in order; older records, and those of other
//! incarnations (left by a deleted index of the same name), are obsolete and returned for
//! deletion.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use storaged::{KeyPrefix, ObjectKey, PutMode, Store, StoreError};

use crate::error::VectorError;
use crate::format::lhv1::{self, IndexMeta};
use crate::format::wal::{self, Record};
use crate::index::Index;
use crate::name::IndexName;

pub const PREFIX: &str = "_vectors/";
const INDEX_SUFFIX: &str = ".lhv1";
const LOG_DIR: &str = ".log/";
const LOG_SUFFIX: &str = ".lhvw";
/// Objects read or deleted at once.
const PARALLEL_IO: usize = 16;

fn key(text: String) -> Result<ObjectKey, VectorError> {
    ObjectKey::parse(&text).map_err(|e| StoreError::invalid_key(&text, e).into())
}

fn prefix(text: String) -> Result<KeyPrefix, VectorError> {
    KeyPrefix::parse(&text).map_err(|e| StoreError::invalid_key(&text, e).into())
}

/// `_vectors/{name}.lhv1`.
pub fn index_key(name: &IndexName) -> Result<ObjectKey, VectorError> {
    key(format!("{PREFIX}{name}{INDEX_SUFFIX}"))
}

/// `_vectors/{name}.log/`: every log record of every incarnation of `name`.
pub fn log_dir(name: &IndexName) -> Result<KeyPrefix, VectorError> {
    prefix(format!("{PREFIX}{name}{LOG_DIR}"))
}

pub fn log_key(name: &IndexName, incarnation: &str, seq: u64) -> Result<ObjectKey, VectorError> {
    key(format!(
        "{PREFIX}{name}{LOG_DIR}{incarnation}/{seq:020}{LOG_SUFFIX}"
    ))
}

/// A fresh incarnation: 16 hex digits, unique in practice.
pub(crate) fn new_incarnation(name: &IndexName) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = Sha256::new();
    h.update(name.as_str());
    h.update(
        chrono::Utc::now()
            .timestamp_nanos_opt()
            .unwrap_or(0)
            .to_le_bytes(),
    );
    h.update(std::process::id().to_le_bytes());
    h.update(
        COUNTER
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_le_bytes(),
    );
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One log record object, as listed.
#[derive(Clone, Debug)]
pub(crate) struct LogObject {
    pub(crate) key: ObjectKey,
    pub(crate) incarnation: String,
    pub(crate) seq: u64,
}

/// What `_vectors/` holds, sorted out.
#[derive(Default)]
pub(crate) struct Listing {
    pub(crate) indexes: Vec<IndexName>,
    pub(crate) logs: BTreeMap<IndexName, Vec<LogObject>>,
    /// Keys that are neither (logged, never touched).
    pub(crate) other: Vec<String>,
}

pub(crate) async fn list(store: &dyn Store) -> Result<Listing, VectorError> {
    let objects = store.list(&prefix(PREFIX.to_string())?).await?;
    let mut listing = Listing::default();
    for object in objects {
        match classify(&object.key) {
            Some(Classified::Index(name)) => listing.indexes.push(name),
            Some(Classified::Log(name, log)) => listing.logs.entry(name).or_default().push(log),
            None => listing.other.push(object.key),
        }
    }
    Ok(listing)
}

enum Classified {
    Index(IndexName),
    Log(IndexName, LogObject),
}

fn classify(text: &str) -> Option<Classified> {
    let rest = text.strip_prefix(PREFIX)?;
    if let Some(name) = rest.strip_suffix(INDEX_SUFFIX) {
        return Some(Classified::Index(name.parse().ok()?));
    }
    let (name, rest) = rest.split_once(LOG_DIR)?;
    let (incarnation, file) = rest.split_once('/')?;
    let seq = file.strip_suffix(LOG_SUFFIX)?;
    if seq.len() != 20 || !seq.bytes().all(|b| b.is_ascii_digit()) || incarnation.is_empty() {
        return None;
    }
    Some(Classified::Log(
        name.parse().ok()?,
        LogObject {
            key: ObjectKey::parse(text).ok()?,
            incarnation: incarnation.to_string(),
            seq: seq.parse().ok()?,
        },
    ))
}

/// An index read back from the store.
pub(crate) struct Loaded {
    pub(crate) meta: IndexMeta,
    pub(crate) index: Arc<Index>,
    /// The snapshot's log sequence number.
    pub(crate) covered: u64,
    /// The next sequence number to write.
    pub(crate) next_seq: u64,
    /// Records replayed (not yet in a snapshot) and their bytes.
    pub(crate) replayed: u64,
    pub(crate) replayed_bytes: u64,
    pub(crate) snapshot_bytes: u64,
    /// Obsolete log objects.
    pub(crate) stale: Vec<ObjectKey>,
}

pub(crate) enum LoadError {
    /// The snapshot was deleted between the listing and the read.
    Vanished,
    /// The store failed: loading cannot be judged.
    Store(VectorError),
    /// The bytes are wrong: `key` names the object.
    Corrupt { key: String, reason: String },
}

impl From<VectorError> for LoadError {
    fn from(e: VectorError) -> LoadError {
        LoadError::Store(e)
    }
}

fn corrupt(key: &ObjectKey, reason: impl std::fmt::Display) -> LoadError {
    LoadError::Corrupt {
        key: key.to_string(),
        reason: reason.to_string(),
    }
}

/// Loads `name`'s snapshot and replays its log.
pub(crate) async fn load(
    store: &dyn Store,
    name: &IndexName,
    logs: Vec<LogObject>,
    seed: u64,
) -> Result<Loaded, LoadError> {
    let key = index_key(name)?;
    let bytes = match store.get_bytes(&key).await {
        Ok(bytes) => bytes,
        Err(StoreError::NotFound { .. }) => return Err(LoadError::Vanished),
        Err(e) => return Err(LoadError::Store(e.into())),
    };
    let snapshot_bytes = bytes.len() as u64;
    let decoded = tokio::task::spawn_blocking(move || lhv1::decode(&bytes))
        .await
        .map_err(VectorError::from)?
        .map_err(|e| corrupt(&key, e))?;
    if decoded.envelope.name != name.as_str() {
        return Err(corrupt(
            &key,
            format!("the file is for index {:?}", decoded.envelope.name),
        ));
    }
    let meta = decoded.meta();
    let covered = decoded.envelope.log_seq;
    let index = Arc::new(Index::from_graph(decoded.graph, seed));
    let (mut replay, stale): (Vec<LogObject>, Vec<LogObject>) = logs
        .into_iter()
        .partition(|l| l.incarnation == meta.incarnation && l.seq > covered);
    replay.sort_by_key(|l| l.seq);
    let mut loaded = Loaded {
        next_seq: covered + 1,
        meta,
        index,
        covered,
        replayed: 0,
        replayed_bytes: 0,
        snapshot_bytes,
        stale: stale.into_iter().map(|l| l.key).collect(),
    };
    let mut records = futures::stream::iter(replay.into_iter().map(|log| async move {
        let bytes = store.get_bytes(&log.key).await.map_err(VectorError::from)?;
        Ok::<_, LoadError>((log, bytes))
    }))
    .buffered(PARALLEL_IO);
    while let Some((log, bytes)) = records.try_next().await? {
        loaded.replayed_bytes += bytes.len() as u64;
        replay_one(&loaded.index, &loaded.meta, &log, bytes).await?;
        loaded.replayed += 1;
        loaded.next_seq = log.seq + 1;
    }
    drop(records);
    Ok(loaded)
}

async fn replay_one(
    index: &Arc<Index>,
    meta: &IndexMeta,
    log: &LogObject,
    bytes: Bytes,
) -> Result<(), LoadError> {
    let dim = meta.params.dim;
    let (envelope, record) = wal::decode(&bytes, dim).map_err(|e| corrupt(&log.key, e))?;
    if (
        envelope.index.as_str(),
        envelope.incarnation.as_str(),
        envelope.seq,
    ) != (meta.name.as_str(), meta.incarnation.as_str(), log.seq)
    {
        return Err(corrupt(
            &log.key,
            format!(
                "the record says index {:?} incarnation {:?} seq {}",
                envelope.index, envelope.incarnation, envelope.seq
            ),
        ));
    }
    let index = index.clone();
    tokio::task::spawn_blocking(move || apply(&index, &record))
        .await
        .map_err(VectorError::from)??;
    Ok(())
}

/// Applies a record to an index (live writes and replay alike).
pub(crate) fn apply(index: &Index, record: &Record) -> Result<usize, VectorError> {
    match record {
        Record::Upsert(items) => index.upsert(items),
        Record::Delete(ids) => {
            index.delete(ids);
            Ok(index.count())
        }
    }
}

/// Writes a snapshot (header then graph bytes) with one PUT; returns its size.
pub(crate) async fn put_snapshot(
    store: &dyn Store,
    name: &IndexName,
    header: Vec<u8>,
    body: Vec<u8>,
    mode: PutMode,
) -> Result<u64, VectorError> {
    let size = (header.len() + body.len()) as u64;
    let chunks = [Bytes::from(header), Bytes::from(body)];
    let stream = futures::stream::iter(chunks.into_iter().map(Ok::<_, StoreError>)).boxed();
    store.put(&index_key(name)?, stream, mode).await?;
    Ok(size)
}

/// Deletes `keys`, several at once; the first failure is the error (the others still run).
pub(crate) async fn delete_keys(
    store: &dyn Store,
    keys: Vec<ObjectKey>,
) -> Result<(), VectorError> {
    let results: Vec<Result<(), StoreError>> = futures::stream::iter(keys)
        .map(|k| async move { store.delete(&k).await })
        .buffer_unordered(PARALLEL_IO)
        .collect()
        .await;
    results.into_iter().collect::<Result<(), _>>()?;
    Ok(())
}

/// Deletes every log record of every incarnation of `name`.
pub(crate) async fn delete_logs(store: &dyn Store, name: &IndexName) -> Result<(), VectorError> {
    let logs = store.list(&log_dir(name)?).await?;
    let keys = logs
        .into_iter()
        .filter_map(|o| ObjectKey::parse(&o.key).ok())
        .collect();
    delete_keys(store, keys).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_classify_back_to_what_made_them() {
        let name: IndexName = "docs".parse().unwrap();
        let k = index_key(&name).unwrap();
        assert_eq!(k.as_str(), "_vectors/docs.lhv1");
        assert!(matches!(classify(k.as_str()), Some(Classified::Index(n)) if n == name));
        let k = log_key(&name, "00ff", 42).unwrap();
        assert_eq!(
            k.as_str(),
            "_vectors/docs.log/00ff/00000000000000000042.lhvw"
        );
        match classify(k.as_str()) {
            Some(Classified::Log(n, log)) => {
                assert_eq!(
                    (n, log.incarnation.as_str(), log.seq),
                    (name.clone(), "00ff", 42)
                );
            }
            _ => panic!("not a log key"),
        }
        for other in [
            "_vectors/a-b.lhv1",
            "_vectors/x.log/inc/12.lhvw",
            "_vectors/x.log/00000000000000000001.lhvw",
            "_vectors/readme.txt",
        ] {
            assert!(classify(other).is_none(), "{other}");
        }
        let a = new_incarnation(&name);
        assert_eq!(a.len(), 16);
        assert_ne!(a, new_incarnation(&name));
    }
}
