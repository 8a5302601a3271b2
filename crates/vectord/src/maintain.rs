//! The per-index maintainer: compaction when tombstones pile up, and coalesced snapshots.
//!
//! Each index has one maintainer task, woken after every write. It
//! - compacts the graph (see [`crate::index`]) once tombstones reach the threshold;
//! - links the nodes that writes cut off ([`crate::index::Index::connect`]) once the index
//!   has been idle for [`SavePolicy::idle`] (or before a snapshot), so a bulk load walks
//!   the graph once;
//! - writes a snapshot when the log holds records and either the index has been idle for
//!   [`SavePolicy::idle`] or the log reached [`SavePolicy::max_log_entries`] /
//!   [`SavePolicy::max_log_bytes`] — but never sooner after the previous snapshot than
//!   [`SavePolicy::cost_factor`] times that snapshot's duration, so saving a large index
//!   takes a bounded share of the time however fast writes arrive. A burst of adds is one
//!   snapshot.
//!
//! A snapshot: under the saver lock (at most one per index in flight), take the writer lock
//! only while the graph is encoded (writes wait, searches do not), then PUT the file and
//! delete the log records it covers. A failed snapshot is retried with back-off; the log
//! keeps every write durable meanwhile.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use storaged::{PutMode, Store};

use crate::error::VectorError;
use crate::format::lhv1;
use crate::handle::Handle;
use crate::persist;

/// When snapshots are written; see the module doc.
#[derive(Clone, Debug)]
pub struct SavePolicy {
    pub idle: Duration,
    pub max_log_entries: u64,
    pub max_log_bytes: u64,
    pub cost_factor: u32,
}

impl Default for SavePolicy {
    fn default() -> SavePolicy {
        SavePolicy {
            idle: Duration::from_millis(500),
            max_log_entries: 256,
            max_log_bytes: 64 << 20,
            cost_factor: 4,
        }
    }
}

/// What the maintainer should do next.
#[derive(Debug, PartialEq)]
enum Due {
    /// Compaction or linking is due, and a snapshot too when `save`.
    Now {
        save: bool,
    },
    In(Duration),
    Nothing,
}

/// Starts `handle`'s maintainer; it ends when the handle is dropped or deleted.
pub(crate) fn spawn(handle: &Arc<Handle>, store: Option<Arc<dyn Store>>, policy: SavePolicy) {
    let weak = Arc::downgrade(handle);
    tokio::spawn(run(weak, store, policy));
}

async fn run(weak: Weak<Handle>, store: Option<Arc<dyn Store>>, policy: SavePolicy) {
    loop {
        let Some(handle) = weak.upgrade() else { return };
        if handle.is_dropped() {
            return;
        }
        match next(&handle, store.is_some(), &policy).await {
            Due::Now { save } => {
                if let Err(e) = maintain(&handle, store.as_deref(), save).await {
                    tracing::warn!(index = %handle.name, error = %e, "vector index maintenance failed; will retry");
                    drop(handle);
                    tokio::time::sleep(policy.idle).await;
                }
            }
            Due::In(wait) => {
                drop(handle);
                tokio::time::sleep(wait).await;
            }
            // Deleting the index, or dropping the registry, wakes this to end it.
            Due::Nothing => handle.wake.notified().await,
        }
    }
}

async fn next(handle: &Handle, persisted: bool, policy: &SavePolicy) -> Due {
    if handle.index.needs_compaction() {
        return Due::Now { save: false };
    }
    let (entries, bytes, last_write) = {
        let log = handle.log.lock();
        (log.entries, log.bytes, log.last_write)
    };
    let idle_left = (last_write + policy.idle).saturating_duration_since(Instant::now());
    let connect = handle.index.needs_connect().then_some(idle_left);
    let save = if persisted && entries > 0 {
        Some(save_wait(handle, entries, bytes, idle_left, policy).await)
    } else {
        None
    };
    match connect.into_iter().chain(save).min() {
        Some(Duration::ZERO) => Due::Now {
            save: save == Some(Duration::ZERO),
        },
        Some(wait) => Due::In(wait),
        None => Due::Nothing,
    }
}

/// How long until a snapshot of `entries` log records (`bytes` long) is due.
async fn save_wait(
    handle: &Handle,
    entries: u64,
    bytes: u64,
    idle_left: Duration,
    policy: &SavePolicy,
) -> Duration {
    let saver = handle.saver.lock().await;
    let now = Instant::now();
    let backoff = policy.idle * 2u32.saturating_pow(saver.failures.min(6));
    let cooldown = saver.last_end.map_or(Duration::ZERO, |end| {
        let pause = saver.last_took * policy.cost_factor
            + if saver.failures > 0 {
                backoff
            } else {
                Duration::ZERO
            };
        (end + pause).saturating_duration_since(now)
    });
    let full = entries >= policy.max_log_entries || bytes >= policy.max_log_bytes;
    cooldown.max(if full { Duration::ZERO } else { idle_left })
}

/// Compacts and links the index when due, then writes a snapshot when `save` is or after
/// compacting.
async fn maintain(
    handle: &Arc<Handle>,
    store: Option<&dyn Store>,
    save: bool,
) -> Result<(), VectorError> {
    let mut compacted = false;
    if handle.index.needs_compaction() {
        let index = handle.index.clone();
        let started = Instant::now();
        tokio::task::spawn_blocking(move || index.compact()).await??;
        tracing::info!(index = %handle.name, took = ?started.elapsed(), "compacted vector index");
        compacted = true;
    }
    if handle.index.needs_connect() {
        let index = handle.index.clone();
        let started = Instant::now();
        let linked = tokio::task::spawn_blocking(move || index.connect()).await?;
        tracing::debug!(index = %handle.name, linked, took = ?started.elapsed(), "walked vector index for cut-off nodes");
    }
    if let Some(store) = store
        && (save || compacted)
    {
        // After a compaction the stored file still holds the tombstones: rewrite it.
        snapshot(handle, store, compacted).await?;
    }
    Ok(())
}

/// Writes a snapshot if the log holds records (or `force`), then deletes the records it
/// covers.
pub(crate) async fn snapshot(
    handle: &Arc<Handle>,
    store: &dyn Store,
    force: bool,
) -> Result<(), VectorError> {
    let mut saver = handle.saver.lock().await;
    if handle.is_dropped() || (!force && handle.log.lock().entries == 0) {
        return Ok(());
    }
    let started = Instant::now();
    let writer = handle.writer.lock().await;
    let covered = writer.next_seq - 1;
    let (entries, bytes) = {
        let log = handle.log.lock();
        (log.entries, log.bytes)
    };
    let (meta, index) = (handle.meta.clone(), handle.index.clone());
    let (header, body) =
        tokio::task::spawn_blocking(move || lhv1::encode(&meta, covered, &index.graph())).await?;
    drop(writer);
    let stored = persist::put_snapshot(store, &handle.name, header, body, PutMode::Overwrite).await;
    let size = match stored {
        Ok(size) => size,
        Err(e) => {
            saver.failures += 1;
            saver.last_end = Some(Instant::now());
            return Err(e);
        }
    };
    {
        let mut log = handle.log.lock();
        log.entries -= entries.min(log.entries);
        log.bytes -= bytes.min(log.bytes);
    }
    saver.covered = covered;
    saver.snapshot_bytes = size;
    saver.failures = 0;
    saver.last_took = started.elapsed();
    saver.last_end = Some(Instant::now());
    tracing::debug!(index = %handle.name, bytes = size, covered, took = ?saver.last_took, "saved vector index");
    let keys = (saver.gc_from..=covered)
        .map(|seq| persist::log_key(&handle.name, &handle.meta.incarnation, seq))
        .collect::<Result<Vec<_>, _>>()?;
    match persist::delete_keys(store, keys).await {
        Ok(()) => saver.gc_from = covered + 1,
        Err(e) => {
            tracing::warn!(index = %handle.name, error = %e, "cannot delete covered log records yet; will retry")
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes that leave the graph unwalked are walked by the maintainer once they pause,
    /// for an index with no store too.
    #[tokio::test]
    async fn the_maintainer_walks_the_graph_once_writes_pause() {
        use crate::format::lhv1::IndexMeta;
        use crate::format::wal::Record;
        use crate::index::Index;
        use crate::validate::{RawItem, RawVector, validate_items};

        let params = crate::IndexParams::new(4, crate::Metric::L2, 8, 50).unwrap();
        let items = |from: usize, to: usize| {
            let raw = (from..to)
                .map(|i| RawItem {
                    id: format!("v{i}"),
                    vector: RawVector::new(vec![i as f32, (i % 7) as f32, 1.0, 0.0]),
                    metadata: None,
                })
                .collect();
            validate_items(&params, raw).unwrap()
        };
        let index = Arc::new(Index::new(params, 1));
        index.upsert(&items(0, 500)).unwrap();
        let meta = IndexMeta {
            name: "walked".into(),
            params,
            created_at: chrono::Utc::now(),
            incarnation: "test".into(),
        };
        let name: crate::name::IndexName = "walked".parse().unwrap();
        let handle = Arc::new(Handle::new(name, meta, index.clone(), 0, 1, 0));
        let policy = SavePolicy {
            idle: Duration::from_millis(50),
            ..SavePolicy::default()
        };
        spawn(&handle, None, policy);
        let write = handle.clone().write(None, Record::Upsert(items(500, 510)));
        assert_eq!(write.await.unwrap(), 510);
        assert!(
            index.needs_connect(),
            "10 items on 500 nodes wait for the maintainer"
        );
        let started = Instant::now();
        while index.needs_connect() && started.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!index.needs_connect(), "walked within 10 s");
        assert!(
            started.elapsed() >= Duration::from_millis(30),
            "not before the pause"
        );
    }

    #[test]
    fn the_default_policy_coalesces() {
        let p = SavePolicy::default();
        assert!(p.idle >= Duration::from_millis(100));
        assert!(p.max_log_entries > 1 && p.cost_factor >= 1);
    }
}
