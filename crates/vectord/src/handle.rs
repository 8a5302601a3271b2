//! [`Handle`]: one served index — its [`Index`], its place in the store, and the durable
//! write path.
//!
//! A write (an upsert batch or a delete) is acknowledged only once durable:
//! 1. the batch has been validated whole (by the caller);
//! 2. under the index's writer lock, the next log sequence number is taken — never reused,
//!    even when its PUT fails — and the record is PUT at its key with `If-None-Match: *`,
//!    so two processes writing one index cannot both take a number;
//! 3. only then is it applied in memory, and answered.
//!
//! A failed PUT answers the store's error (503 when it is down) with nothing applied. A PUT
//! that timed out may still have landed; the record is then replayed at the next start if
//! no snapshot covered its number by then — an unknown outcome, as with any store, and an
//! upsert or delete retried by the client is idempotent either way.
//!
//! The write runs in its own task, so a client that disconnects mid-request cannot leave a
//! record logged but not applied.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use storaged::{PutMode, Store, StoreError, StoreExt};
use tokio::sync::Notify;

use crate::error::VectorError;
use crate::format::lhv1::IndexMeta;
use crate::format::wal::{self, Record, RecordKey};
use crate::index::Index;
use crate::name::IndexName;
use crate::persist;

pub(crate) struct Handle {
    pub(crate) name: IndexName,
    pub(crate) meta: IndexMeta,
    pub(crate) index: Arc<Index>,
    /// Held across log PUT + apply; also by a snapshot while it encodes.
    pub(crate) writer: tokio::sync::Mutex<WriterState>,
    /// Held across a whole snapshot (encode, PUT, log clean-up) and by index deletion.
    pub(crate) saver: tokio::sync::Mutex<SaverState>,
    pub(crate) log: parking_lot::Mutex<LogState>,
    /// Set (under both locks) when the index is deleted; writers holding an old handle
    /// then answer 404 instead of writing.
    pub(crate) dropped: AtomicBool,
    /// Wakes the index's maintainer (see [`crate::maintain`]).
    pub(crate) wake: Notify,
}

pub(crate) struct WriterState {
    pub(crate) next_seq: u64,
}

pub(crate) struct SaverState {
    /// The log sequence number the stored snapshot covers.
    pub(crate) covered: u64,
    /// Log records from this number up to `covered` may still exist and must be deleted.
    pub(crate) gc_from: u64,
    pub(crate) snapshot_bytes: u64,
    /// How long the last snapshot took, and when it ended (the cool-down's basis).
    pub(crate) last_took: Duration,
    pub(crate) last_end: Option<Instant>,
    /// Snapshots failed in a row (backs off retries).
    pub(crate) failures: u32,
}

/// Log records written since the stored snapshot, and when the last write (logged or
/// not) was applied.
pub(crate) struct LogState {
    pub(crate) entries: u64,
    pub(crate) bytes: u64,
    pub(crate) last_write: Instant,
}

impl Handle {
    pub(crate) fn new(
        name: IndexName,
        meta: IndexMeta,
        index: Arc<Index>,
        covered: u64,
        next_seq: u64,
        snapshot_bytes: u64,
    ) -> Handle {
        Handle {
            name,
            meta,
            index,
            writer: tokio::sync::Mutex::new(WriterState { next_seq }),
            saver: tokio::sync::Mutex::new(SaverState {
                covered,
                gc_from: covered + 1,
                snapshot_bytes,
                last_took: Duration::ZERO,
                last_end: None,
                failures: 0,
            }),
            log: parking_lot::Mutex::new(LogState {
                entries: 0,
                bytes: 0,
                last_write: Instant::now(),
            }),
            dropped: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    pub(crate) fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::Acquire)
    }

    fn not_found(&self) -> VectorError {
        VectorError::IndexNotFound {
            name: self.name.to_string(),
        }
    }

    /// Logs `record` (when `store` is set) and applies it; returns the live count after.
    /// Run it in its own task (see the module doc).
    pub(crate) async fn write(
        self: Arc<Self>,
        store: Option<Arc<dyn Store>>,
        record: Record,
    ) -> Result<usize, VectorError> {
        let mut writer = self.writer.lock().await;
        if self.is_dropped() {
            return Err(self.not_found());
        }
        match &record {
            Record::Upsert(items) => self.index.check_room(items.len())?,
            Record::Delete(ids) => {
                if let Some(missing) = ids.iter().find(|id| !self.index.contains(id)) {
                    return Err(VectorError::ItemNotFound {
                        name: self.name.to_string(),
                        id: missing.to_string(),
                    });
                }
            }
        }
        let record = Arc::new(record);
        let mut logged_bytes = 0;
        if let Some(store) = &store {
            let seq = writer.next_seq;
            writer.next_seq += 1;
            logged_bytes = self.log_record(store.as_ref(), seq, record.clone()).await?;
        }
        let this = self.clone();
        let count =
            tokio::task::spawn_blocking(move || persist::apply(&this.index, &record)).await??;
        {
            // Counted before the writer lock is released, so a snapshot that covers this
            // record also accounts for it.
            let mut log = self.log.lock();
            if store.is_some() {
                log.entries += 1;
                log.bytes += logged_bytes;
            }
            log.last_write = Instant::now();
        }
        drop(writer);
        self.wake.notify_one();
        Ok(count)
    }

    async fn log_record(
        &self,
        store: &dyn Store,
        seq: u64,
        record: Arc<Record>,
    ) -> Result<u64, VectorError> {
        let key = persist::log_key(&self.name, &self.meta.incarnation, seq)?;
        let (name, incarnation, dim) = (
            self.name.to_string(),
            self.meta.incarnation.clone(),
            self.meta.params.dim,
        );
        let bytes = tokio::task::spawn_blocking(move || {
            let key = RecordKey {
                index: &name,
                incarnation: &incarnation,
                seq,
            };
            wal::encode(&key, dim, &record)
        })
        .await?;
        let len = bytes.len() as u64;
        match store.put_bytes(&key, bytes.into(), PutMode::Create).await {
            Ok(_) => Ok(len),
            Err(StoreError::PreconditionFailed(_)) => Err(VectorError::ConcurrentWriter(format!(
                "log record {key} already exists: another process is writing index {:?}; \
                 nothing was applied",
                self.name.as_str()
            ))),
            Err(e) => {
                // Best effort: a PUT that failed late may have landed.
                let _ = store.delete(&key).await;
                Err(e.into())
            }
        }
    }
}
