//! [`Vectors`]: every index of the process, by name — opening them from the store,
//! creating, deleting, and routing adds, deletes and searches to the right [`Handle`].
//!
//! Creating and deleting indexes are serialised by one admin lock (they are rare); the name
//! map is read under a short lock, so lookups never wait on an index's work. An index whose
//! stored bytes do not load is kept in the map as *unreadable*: never served, never
//! overwritten (creating its name answers 409), removed only by deleting the index.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use serde::Serialize;
use storaged::{PutMode, Store, StoreError};
use tokio::sync::Semaphore;

use crate::distance::Metric;
use crate::error::VectorError;
use crate::format::lhv1::{self, IndexMeta};
use crate::format::wal::Record;
use crate::handle::Handle;
use crate::index::{Hit, Index};
use crate::maintain::{self, SavePolicy};
use crate::name::IndexName;
use crate::persist::{self, LoadError};
use crate::validate::{AddRequest, CreateRequest, SearchRequest, validate_items, validate_query};

/// `GET /v1/vectors` entries.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IndexSummary {
    pub name: String,
    pub dim: usize,
    pub metric: Metric,
    pub count: usize,
}

/// `GET /v1/vectors/{name}`, and the answer to a create.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IndexInfo {
    pub name: String,
    pub dim: usize,
    pub metric: Metric,
    pub m: usize,
    pub ef_construction: usize,
    pub count: usize,
    pub created_at: DateTime<Utc>,
    /// Graph nodes, tombstones of deleted or replaced items included (until compaction).
    pub nodes: u32,
    pub memory_bytes: usize,
}

/// The answer to an add.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Added {
    pub added: usize,
    pub count: usize,
}

#[derive(Clone)]
enum Slot {
    Ready(Arc<Handle>),
    Unreadable(Arc<str>),
}

struct Shared {
    store: Option<Arc<dyn Store>>,
    slots: parking_lot::RwLock<BTreeMap<IndexName, Slot>>,
    admin: tokio::sync::Mutex<()>,
    policy: SavePolicy,
    /// Bounds concurrent searches (each holds a blocking thread and a visited set).
    searches: Semaphore,
    /// `[vectord] memory_limit` in bytes, all indexes together; 0 = none.
    memory_limit: AtomicUsize,
    /// What adds admitted but not yet applied will take (see [`Vectors::reserve`]).
    reserved: AtomicUsize,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // End the maintainers: they wait on `wake` while holding their handle.
        for slot in self.slots.get_mut().values() {
            if let Slot::Ready(handle) = slot {
                handle.dropped.store(true, Ordering::Release);
                handle.wake.notify_one();
            }
        }
    }
}

/// Every index of the process; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Vectors {
    inner: Arc<Shared>,
}

fn seed() -> u64 {
    Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64
}

impl Vectors {
    fn with(store: Option<Arc<dyn Store>>, policy: SavePolicy) -> Vectors {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        Vectors {
            inner: Arc::new(Shared {
                store,
                slots: parking_lot::RwLock::new(BTreeMap::new()),
                admin: tokio::sync::Mutex::new(()),
                policy,
                searches: Semaphore::new(2 * threads),
                memory_limit: AtomicUsize::new(0),
                reserved: AtomicUsize::new(0),
            }),
        }
    }

    /// Indexes kept in memory only (`[vectord] persist = false`).
    pub fn in_memory() -> Vectors {
        Vectors::with(None, SavePolicy::default())
    }

    /// Persisted in `store` under `_vectors/`: loads every `*.lhv1` and replays its log.
    /// A file that does not load is logged by name and skipped (kept as unreadable); a
    /// store that cannot be read is the error.
    pub async fn open(store: Arc<dyn Store>) -> Result<Vectors, VectorError> {
        Vectors::open_with(store, SavePolicy::default()).await
    }

    /// [`Vectors::open`] with a snapshot policy other than the default.
    pub async fn open_with(
        store: Arc<dyn Store>,
        policy: SavePolicy,
    ) -> Result<Vectors, VectorError> {
        let vectors = Vectors::with(Some(store.clone()), policy);
        let mut listing = persist::list(store.as_ref()).await?;
        for key in &listing.other {
            tracing::warn!(%key, "ignoring an object under _vectors/ that is neither an index nor a log record");
        }
        let mut stale = Vec::new();
        for name in std::mem::take(&mut listing.indexes) {
            let logs = listing.logs.remove(&name).unwrap_or_default();
            let slot = match persist::load(store.as_ref(), &name, logs, seed()).await {
                Ok(loaded) => {
                    stale.extend(loaded.stale);
                    let handle = Arc::new(Handle::new(
                        name.clone(),
                        loaded.meta,
                        loaded.index,
                        loaded.covered,
                        loaded.next_seq,
                        loaded.snapshot_bytes,
                    ));
                    {
                        let mut log = handle.log.lock();
                        log.entries = loaded.replayed;
                        log.bytes = loaded.replayed_bytes;
                    }
                    tracing::info!(index = %name, count = handle.index.count(), replayed = loaded.replayed, "loaded vector index");
                    maintain::spawn(&handle, Some(store.clone()), vectors.inner.policy.clone());
                    Slot::Ready(handle)
                }
                Err(LoadError::Vanished) => continue,
                Err(LoadError::Store(e)) => return Err(e),
                Err(LoadError::Corrupt { key, reason }) => {
                    tracing::warn!(index = %name, %key, %reason, "cannot load vector index; skipping it and leaving its files untouched");
                    Slot::Unreadable(format!("{key}: {reason}").into())
                }
            };
            vectors.inner.slots.write().insert(name, slot);
        }
        // Log records of names without a snapshot are leftovers of deleted indexes.
        stale.extend(listing.logs.into_values().flatten().map(|l| l.key));
        if !stale.is_empty()
            && let Err(e) = persist::delete_keys(store.as_ref(), stale).await
        {
            tracing::warn!(error = %e, "cannot delete obsolete vector log records; will retry at the next start");
        }
        Ok(vectors)
    }

    /// Caps the memory of all indexes together (`None`: no cap). Indexes loaded at start
    /// are never refused; an add that would pass the cap is ([`VectorError::MemoryBudget`]).
    pub fn with_memory_limit(self, limit: Option<u64>) -> Vectors {
        let limit = limit.map_or(0, |l| usize::try_from(l).unwrap_or(usize::MAX));
        self.inner.memory_limit.store(limit, Ordering::Relaxed);
        self
    }

    /// Bytes the servable indexes hold now.
    pub fn memory_bytes(&self) -> usize {
        self.inner
            .slots
            .read()
            .values()
            .map(|slot| match slot {
                Slot::Ready(h) => h.index.memory_bytes(),
                Slot::Unreadable(_) => 0,
            })
            .sum()
    }

    /// Admits `needed` more bytes under the memory cap, held until the returned guard
    /// drops (the add is applied by then, and counted in [`Vectors::memory_bytes`]).
    fn reserve(&self, items: usize, needed: usize) -> Result<Reservation, VectorError> {
        let limit = self.inner.memory_limit.load(Ordering::Relaxed);
        let reserved = &self.inner.reserved;
        let before = reserved.fetch_add(needed, Ordering::AcqRel);
        let reservation = Reservation {
            shared: self.inner.clone(),
            bytes: needed,
        };
        if limit > 0 {
            let used = self.memory_bytes().saturating_add(before);
            if used.saturating_add(needed) > limit {
                return Err(VectorError::MemoryBudget {
                    items,
                    needed,
                    used,
                    limit,
                });
            }
        }
        Ok(reservation)
    }

    /// For `/health`: how many indexes, and where they are kept.
    pub fn describe(&self) -> String {
        let slots = self.inner.slots.read();
        let ready = slots
            .values()
            .filter(|s| matches!(s, Slot::Ready(_)))
            .count();
        let unreadable = slots.len() - ready;
        let plural = if ready == 1 { "" } else { "es" };
        let bad = match unreadable {
            0 => String::new(),
            n => format!(" ({n} unreadable)"),
        };
        match &self.inner.store {
            Some(store) => format!(
                "{ready} index{plural}{bad}, persisted in {}",
                store.describe()
            ),
            None => format!("{ready} index{plural}, in memory"),
        }
    }

    fn handle(&self, name: &str) -> Result<Arc<Handle>, VectorError> {
        let name: IndexName = name.parse()?;
        match self.inner.slots.read().get(&name) {
            Some(Slot::Ready(handle)) => Ok(handle.clone()),
            Some(Slot::Unreadable(reason)) => Err(VectorError::Unreadable {
                name: name.to_string(),
                reason: reason.to_string(),
            }),
            None => Err(VectorError::IndexNotFound {
                name: name.to_string(),
            }),
        }
    }

    /// Every servable index, by name.
    pub fn list(&self) -> Vec<IndexSummary> {
        let slots = self.inner.slots.read();
        slots
            .values()
            .filter_map(|slot| match slot {
                Slot::Ready(h) => Some(IndexSummary {
                    name: h.name.to_string(),
                    dim: h.meta.params.dim,
                    metric: h.meta.params.metric,
                    count: h.index.count(),
                }),
                Slot::Unreadable(_) => None,
            })
            .collect()
    }

    pub fn info(&self, name: &str) -> Result<IndexInfo, VectorError> {
        let handle = self.handle(name)?;
        Ok(info_of(&handle))
    }

    /// Creates an empty index; 409 when the name is taken (also by an unreadable file).
    pub async fn create(&self, request: &CreateRequest) -> Result<IndexInfo, VectorError> {
        let (name, params) = request.validate()?;
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let _admin = inner.admin.lock().await;
            if inner.slots.read().contains_key(&name) {
                return Err(VectorError::IndexExists {
                    name: name.to_string(),
                });
            }
            let meta = IndexMeta {
                name: name.to_string(),
                params,
                created_at: Utc::now(),
                incarnation: persist::new_incarnation(&name),
            };
            let index = Arc::new(Index::new(params, seed()));
            let mut snapshot_bytes = 0;
            if let Some(store) = &inner.store {
                let (header, body) = lhv1::encode(&meta, 0, &index.graph());
                snapshot_bytes =
                    persist::put_snapshot(store.as_ref(), &name, header, body, PutMode::Create)
                        .await
                        .map_err(|e| match e {
                            VectorError::Store(StoreError::PreconditionFailed(_)) => {
                                VectorError::IndexExists {
                                    name: name.to_string(),
                                }
                            }
                            other => other,
                        })?;
            }
            let handle = Arc::new(Handle::new(name.clone(), meta, index, 0, 1, snapshot_bytes));
            maintain::spawn(&handle, inner.store.clone(), inner.policy.clone());
            inner
                .slots
                .write()
                .insert(name, Slot::Ready(handle.clone()));
            Ok(info_of(&handle))
        })
        .await?
    }

    /// Deletes an index and its files (the snapshot first, then its log records).
    pub async fn drop_index(&self, name: &str) -> Result<(), VectorError> {
        let name: IndexName = name.parse()?;
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let _admin = inner.admin.lock().await;
            let slot = inner.slots.read().get(&name).cloned();
            let handle = match slot {
                None => {
                    return Err(VectorError::IndexNotFound {
                        name: name.to_string(),
                    });
                }
                Some(Slot::Unreadable(_)) => None,
                Some(Slot::Ready(handle)) => Some(handle),
            };
            // Lock order: saver, then writer (as a snapshot takes them).
            let saver = match &handle {
                Some(h) => Some(h.saver.lock().await),
                None => None,
            };
            let writer = match &handle {
                Some(h) => Some(h.writer.lock().await),
                None => None,
            };
            if let Some(store) = &inner.store {
                store.delete(&persist::index_key(&name)?).await?;
            }
            if let Some(h) = &handle {
                h.dropped.store(true, Ordering::Release);
                h.wake.notify_one();
            }
            inner.slots.write().remove(&name);
            drop((writer, saver));
            if let Some(store) = &inner.store
                && let Err(e) = persist::delete_logs(store.as_ref(), &name).await
            {
                tracing::warn!(index = %name, error = %e, "cannot delete the log records of a deleted index; they are removed at the next start");
            }
            Ok(())
        })
        .await?
    }

    /// Validates the whole batch, logs it, then applies it (upserting by id).
    pub async fn add(&self, name: &str, request: AddRequest) -> Result<Added, VectorError> {
        let handle = self.handle(name)?;
        let params = handle.meta.params;
        let items =
            tokio::task::spawn_blocking(move || validate_items(&params, request.items)).await??;
        if items.is_empty() {
            return Ok(Added {
                added: 0,
                count: handle.index.count(),
            });
        }
        let added = items.len();
        let _reservation = self.reserve(added, handle.index.estimate_bytes(&items))?;
        let store = self.inner.store.clone();
        let count = tokio::spawn(handle.write(store, Record::Upsert(items))).await??;
        Ok(Added { added, count })
    }

    /// Deletes one item; 404 when the index has no such id.
    pub async fn delete_item(&self, name: &str, id: &str) -> Result<(), VectorError> {
        let handle = self.handle(name)?;
        let store = self.inner.store.clone();
        tokio::spawn(handle.write(store, Record::Delete(vec![Arc::from(id)]))).await??;
        Ok(())
    }

    /// The nearest items, nearest first (see [`Index::search`]).
    pub async fn search(
        &self,
        name: &str,
        request: SearchRequest,
    ) -> Result<Vec<Hit>, VectorError> {
        let handle = self.handle(name)?;
        let query = validate_query(&handle.meta.params, request)?;
        let _permit = self
            .inner
            .searches
            .acquire()
            .await
            .map_err(|e| VectorError::Internal(format!("search queue: {e}")))?;
        let index = handle.index.clone();
        Ok(tokio::task::spawn_blocking(move || index.search(&query)).await?)
    }

    /// Writes a snapshot of every index with logged writes not yet in one (call at
    /// shutdown: the next start then replays nothing). Failures are logged; the log keeps
    /// those writes durable regardless.
    pub async fn flush(&self) {
        let Some(store) = &self.inner.store else {
            return;
        };
        let handles: Vec<Arc<Handle>> = self
            .inner
            .slots
            .read()
            .values()
            .filter_map(|s| match s {
                Slot::Ready(h) => Some(h.clone()),
                Slot::Unreadable(_) => None,
            })
            .collect();
        for handle in handles {
            if let Err(e) = maintain::snapshot(&handle, store.as_ref(), false).await {
                tracing::warn!(index = %handle.name, error = %e, "cannot save vector index at flush; its log keeps it durable");
            }
        }
    }
}

/// Bytes admitted by [`Vectors::reserve`], released on drop.
struct Reservation {
    shared: Arc<Shared>,
    bytes: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.shared.reserved.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

fn info_of(handle: &Handle) -> IndexInfo {
    let p = handle.meta.params;
    IndexInfo {
        name: handle.name.to_string(),
        dim: p.dim,
        metric: p.metric,
        m: p.m,
        ef_construction: p.ef_construction,
        count: handle.index.count(),
        created_at: handle.meta.created_at,
        nodes: handle.index.nodes(),
        memory_bytes: handle.index.memory_bytes(),
    }
}
