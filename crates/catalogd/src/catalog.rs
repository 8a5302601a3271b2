//! The [`Catalog`] seam and [`StoreCatalog`], its in-process impl over a [`Store`].
//!
//! A dataset is one manifest object, `_catalog/{name}.json` (or, for a manifest past
//! [`POINTER_THRESHOLD`], a small pointer there naming a body object, see [`crate::stored`]);
//! writing it (one conditional PUT) is the commit. Data files are written before the commit, and deleted only after a manifest that
//! no longer references them was written, so a crash anywhere leaves at worst unreferenced
//! files (collected by [`sweep_unreferenced`]), never a manifest pointing at nothing.
//!
//! Concurrency: in one process, commits and deletes of one dataset are serialised by a
//! per-name mutex. Across processes, the manifest PUT is conditional (create-only for a new
//! dataset, `If-Match` the etag read otherwise); a writer that loses re-reads the manifest
//! and re-applies its commit, so concurrent appends from many processes all land.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use futures::StreamExt;
use storaged::{KeyPrefix, ObjectKey, PutMode, Store, StoreError, StoreExt};

use crate::commit::{self, Plan};
use crate::error::CatalogError;
use crate::manifest::{Commit, Committed, Manifest};
use crate::name::DatasetName;
pub use crate::stored::POINTER_THRESHOLD;
use crate::stored::{self, Current, Pointer, Stored};

pub use crate::sweep::sweep_unreferenced;

/// Where manifests live.
pub const CATALOG_PREFIX: &str = "_catalog/";
/// Where data files live (`datasets/{name}/...`).
pub const DATASETS_PREFIX: &str = "datasets/";
/// Conditional PUT attempts before a commit gives up with `ConcurrentUpdate`.
const MAX_TRIES: u32 = 8;
/// Manifests read, or data files deleted, at once.
pub(crate) const PARALLEL_IO: usize = 16;

#[async_trait]
pub trait Catalog: Send + Sync + 'static {
    /// Every dataset, sorted by name.
    async fn list(&self) -> Result<Vec<Manifest>, CatalogError>;
    /// One dataset; `NotFound` when there is none.
    async fn get(&self, name: &DatasetName) -> Result<Manifest, CatalogError>;
    /// Makes a new version, or answers `Existing` when the commit is a no-op (see
    /// [`crate::commit`]). Over HTTP the answer's manifest has no older versions (see
    /// [`Manifest::head`]).
    async fn commit(&self, commit: Commit) -> Result<Committed, CatalogError>;
    /// Removes the manifest, then the data files of every version it keeps (other objects
    /// under `datasets/{name}/` are left to the sweep); `NotFound` when there is no manifest.
    /// An external table is only unregistered: its log and files stay.
    async fn delete(&self, name: &DatasetName) -> Result<(), CatalogError>;
    /// Registers the Delta table another tool wrote at `location` (a store prefix) as dataset
    /// `name`, an external table: queries read it, ingests append to it when its protocol
    /// allows, delete unregisters it. `Exists` when the name is taken; `BadCommit` naming
    /// why when there is no table there or lakehouse cannot read it.
    async fn register(&self, name: &DatasetName, location: &str) -> Result<Manifest, CatalogError>;
}

/// The manifest key of `name`. (A dataset name is always a valid key segment, so this
/// fails only on a bug; it is a `Result` to keep panics off request paths.)
pub fn manifest_key(name: &DatasetName) -> Result<ObjectKey, CatalogError> {
    let text = format!("{CATALOG_PREFIX}{name}.json");
    ObjectKey::parse(&text).map_err(|e| StoreError::invalid_key(&text, e).into())
}

/// The prefix of `name`'s data files, `datasets/{name}/`.
pub fn data_prefix(name: &DatasetName) -> Result<KeyPrefix, CatalogError> {
    prefix(&format!("{DATASETS_PREFIX}{name}/"))
}

pub(crate) fn prefix(text: &str) -> Result<KeyPrefix, CatalogError> {
    KeyPrefix::parse(text).map_err(|e| StoreError::invalid_key(text, e).into())
}

/// The in-process [`Catalog`]: manifests as JSON objects in a [`Store`].
pub struct StoreCatalog {
    store: Arc<dyn Store>,
    keep_versions: u32,
    pointer_threshold: usize,
    locks: NameLocks,
}

/// What one commit attempt wrote and what to clean up once it stands: the manifest, the data
/// files that fell out of the keep window, and the manifest body the commit replaced.
type Attempt = (Manifest, Vec<String>, Option<ObjectKey>);

impl StoreCatalog {
    /// `keep_versions`: versions kept per dataset, the current one included (at least 1).
    pub fn new(store: Arc<dyn Store>, keep_versions: u32) -> StoreCatalog {
        StoreCatalog {
            store,
            keep_versions: keep_versions.max(1),
            pointer_threshold: POINTER_THRESHOLD,
            locks: NameLocks::default(),
        }
    }

    /// Replaces [`POINTER_THRESHOLD`] (tests use a small one to store every manifest as a
    /// body plus a pointer).
    pub fn with_pointer_threshold(mut self, bytes: usize) -> StoreCatalog {
        self.pointer_threshold = bytes;
        self
    }

    /// The manifest and the etag to make the next PUT conditional on; `None` when missing.
    async fn read(&self, name: &DatasetName) -> Result<Option<Current>, CatalogError> {
        stored::read_manifest(&*self.store, name).await
    }

    /// What the next manifest PUT writes at the manifest key: the manifest itself, or —
    /// past the threshold — a pointer to a body stored first at a fresh key (returned too).
    async fn stage(
        &self,
        manifest: &Manifest,
    ) -> Result<(Bytes, Option<(ObjectKey, Bytes)>), CatalogError> {
        let body = serde_json::to_vec(manifest)
            .map_err(|e| StoreError::Internal(format!("encoding a manifest: {e}")))?;
        if body.len() <= self.pointer_threshold {
            return Ok((body.into(), None));
        }
        let body_key = stored::new_body_key(&manifest.name, manifest.current.version)?;
        let pointer = Pointer {
            name: manifest.name.clone(),
            version: manifest.current.version,
            key: body_key.to_string(),
            bytes: body.len() as u64,
            sha256: stored::sha256_hex(&body),
        };
        let pointer = serde_json::to_vec(&pointer)
            .map_err(|e| StoreError::Internal(format!("encoding a manifest pointer: {e}")))?;
        // The key is new (random), so a plain PUT: no one else writes it.
        let body = Bytes::from(body);
        self.store
            .put_bytes(&body_key, body.clone(), PutMode::Overwrite)
            .await?;
        Ok((pointer.into(), Some((body_key, body))))
    }

    /// The sweep removes a version-1 body with no pointer once it is older than the lease TTL
    /// (the pointer of a new dataset is written right after its body, so such a body is the
    /// remains of a crash); a create stalled longer than that between its two PUTs puts the
    /// body back — the same bytes at the same key — before answering.
    async fn restore_if_swept(
        &self,
        body_key: &ObjectKey,
        body: Bytes,
    ) -> Result<(), CatalogError> {
        match self.store.head(body_key).await {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound { .. }) => {
                tracing::warn!(key = %body_key, "a manifest body was swept before its pointer landed; writing it again");
                self.store
                    .put_bytes(body_key, body, PutMode::Overwrite)
                    .await?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// After a conditional PUT that failed its precondition: removes the body we staged —
    /// unless the pointer names it after all (a retried PUT met its own write, so the
    /// commit landed; the next attempt sees it).
    async fn unstage(&self, name: &DatasetName, body: Option<ObjectKey>) {
        let Some(body) = body else { return };
        if let Ok(Some((Ok(Stored::Pointer(p)), _))) = stored::read_stored(&*self.store, name).await
            && p.key == body.as_str()
        {
            return;
        }
        if let Err(error) = self.store.delete(&body).await {
            tracing::warn!(key = %body, %error, "could not delete the manifest body of a lost commit");
        }
    }

    /// One attempt: read, plan, conditional PUT. `Ok(None)` when another writer got there
    /// first.
    async fn try_commit(
        &self,
        commit: &Commit,
        attempted: &mut Option<Attempt>,
    ) -> Result<Option<(Committed, Vec<String>, Option<ObjectKey>)>, CatalogError> {
        let current = self.read(&commit.name).await?;
        // Our previous attempt's PUT may have landed although it reported a failure (the
        // store retried a 5xx and the retry met its own write: 412). Then the manifest is
        // exactly the one we wrote, and this commit succeeded — re-planning would call it
        // a duplicate and the writer would delete files the manifest now lists.
        if let (Some((mine, garbage, old_body)), Some(stored)) =
            (attempted.as_ref(), current.as_ref())
            && mine == &stored.manifest
        {
            return Ok(Some((
                Committed::Created(stored.manifest.clone()),
                garbage.clone(),
                old_body.clone(),
            )));
        }
        let plan = commit::plan(
            current.as_ref().map(|c| &c.manifest),
            commit,
            self.keep_versions,
            Utc::now(),
        )?;
        let (manifest, garbage, old_body) = match (plan, current) {
            (Plan::Existing, Some(c)) => {
                return Ok(Some((Committed::Existing(c.manifest), vec![], None)));
            }
            (Plan::Existing, None) => {
                return Err(StoreError::Internal("no-op commit without a manifest".into()).into());
            }
            (Plan::Write { manifest, garbage }, current) => {
                self.check_files_exist(commit).await?;
                let (mode, old_body) = match current {
                    Some(c) => (PutMode::IfMatch(c.etag), c.body),
                    None => (PutMode::Create, None),
                };
                let key = manifest_key(&commit.name)?;
                let created = mode == PutMode::Create;
                let (bytes, body) = self.stage(&manifest).await?;
                *attempted = Some(((*manifest).clone(), garbage.clone(), old_body.clone()));
                match self.store.put_bytes(&key, bytes, mode).await {
                    Ok(_) => {
                        if created && let Some((body_key, body)) = body {
                            self.restore_if_swept(&body_key, body).await?;
                        }
                        (*manifest, garbage, old_body)
                    }
                    Err(StoreError::PreconditionFailed(_)) => {
                        self.unstage(&commit.name, body.map(|(k, _)| k)).await;
                        return Ok(None);
                    }
                    // The PUT may have landed: the body stays (the sweep removes it if not).
                    Err(e) => return Err(e.into()),
                }
            }
        };
        Ok(Some((Committed::Created(manifest), garbage, old_body)))
    }

    async fn check_files_exist(&self, commit: &Commit) -> Result<(), CatalogError> {
        check_files_exist(&self.store, commit).await
    }

    async fn collect(&self, keys: Vec<String>, why: &str) {
        collect(&*self.store, keys, why).await
    }
}

/// Every file the commit adds must be in the store: a file removed (by hand, or swept
/// after its ingest's lease expired) would otherwise leave a manifest pointing at nothing.
/// Under the per-name lock, which deletes also take, nothing removes them before the commit
/// in this process.
/// Every dataset with a `{dir}{name}.json` object, read by `read` ([`PARALLEL_IO`] at a
/// time), sorted by name. One deleted since the listing is left out; a corrupt one is
/// skipped with a warning naming `what` it is (any other error fails the listing).
/// (`{dir}{name}/…` objects are not datasets: a name never holds a '/'.)
pub(crate) async fn list_named<F, Fut>(
    store: &dyn Store,
    dir: &str,
    what: &str,
    read: F,
) -> Result<Vec<Manifest>, CatalogError>
where
    F: Fn(DatasetName) -> Fut,
    Fut: std::future::Future<Output = Result<Option<Manifest>, CatalogError>>,
{
    let names: Vec<DatasetName> = store
        .list(&prefix(dir)?)
        .await?
        .into_iter()
        .filter_map(|meta| {
            let stem = meta.key.strip_prefix(dir)?.strip_suffix(".json")?;
            if stem.contains('/') {
                return None;
            }
            stem.parse().ok()
        })
        .collect();
    let reads = futures::stream::iter(names)
        .map(|name| {
            let read = read(name.clone());
            async move { (read.await, name) }
        })
        .buffered(PARALLEL_IO);
    let results: Vec<_> = reads.collect().await;
    let mut out = Vec::new();
    for (result, name) in results {
        match result {
            Ok(Some(manifest)) => out.push(manifest),
            Ok(None) => {}
            Err(e @ CatalogError::Corrupt { .. }) => {
                tracing::warn!(dataset = %name, error = %e, "skipping a corrupt {what}");
            }
            Err(e) => return Err(e),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub(crate) async fn check_files_exist(
    store: &Arc<dyn Store>,
    commit: &Commit,
) -> Result<(), CatalogError> {
    let keys: Vec<String> = commit.files.iter().map(|f| f.key.clone()).collect();
    let heads = futures::stream::iter(keys).map(|text| {
        let store = store.clone();
        let dataset = commit.name.to_string();
        async move {
            let key = ObjectKey::parse(&text)
                .map_err(|e| CatalogError::BadCommit(format!("file key {text:?}: {e}")))?;
            match store.head(&key).await {
                Ok(_) => Ok(()),
                Err(StoreError::NotFound { .. }) => Err(CatalogError::ConcurrentUpdate(format!(
                    "data file {text} of this commit (to dataset {dataset}) is not in the \
                     store"
                ))),
                Err(e) => Err(e.into()),
            }
        }
    });
    heads
        .buffer_unordered(PARALLEL_IO)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Deletes data files no manifest references any more; failures only warn (the commit
/// or delete stands, and the sweep collects what is left).
pub(crate) async fn collect(store: &dyn Store, keys: Vec<String>, why: &str) {
    let deletes = futures::stream::iter(keys).map(|text| async move {
        let result = match ObjectKey::parse(&text) {
            Ok(key) => store.delete(&key).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = result {
            tracing::warn!(key = %text, %error, "could not delete an object {why}");
        }
    });
    deletes.buffer_unordered(PARALLEL_IO).collect::<()>().await;
}

/// Decodes a stored manifest; it must name the dataset its key names.
pub(crate) fn decode(
    key: &ObjectKey,
    name: &DatasetName,
    bytes: &[u8],
) -> Result<Manifest, CatalogError> {
    let corrupt = |reason: String| CatalogError::Corrupt {
        key: key.to_string(),
        reason,
    };
    let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if &manifest.name != name {
        return Err(corrupt(format!(
            "it names dataset {:?}",
            manifest.name.as_str()
        )));
    }
    Ok(manifest)
}

/// A short pause before retry `attempt` (1-based): doubling from 20 ms, with jitter so that
/// writers that collided once do not collide again in step.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base = 20u64 << attempt.min(6);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    Duration::from_millis(base / 2 + nanos % base)
}

#[async_trait]
impl Catalog for StoreCatalog {
    async fn list(&self) -> Result<Vec<Manifest>, CatalogError> {
        list_named(
            &*self.store,
            CATALOG_PREFIX,
            "manifest",
            |name| async move { Ok(self.read(&name).await?.map(|current| current.manifest)) },
        )
        .await
    }

    async fn get(&self, name: &DatasetName) -> Result<Manifest, CatalogError> {
        match self.read(name).await? {
            Some(current) => Ok(current.manifest),
            None => Err(CatalogError::NotFound {
                name: name.to_string(),
            }),
        }
    }

    async fn commit(&self, commit: Commit) -> Result<Committed, CatalogError> {
        let commit = commit::checked(commit)?;
        let lock = self.locks.get(&commit.name);
        let _held = lock.lock().await;
        let mut attempted = None;
        for attempt in 1..=MAX_TRIES {
            if let Some((committed, garbage, old_body)) =
                self.try_commit(&commit, &mut attempted).await?
            {
                // The body the new pointer (or inline manifest) replaced; readers still
                // holding the old pointer find it gone and read the pointer again.
                if let Some(old) = old_body {
                    self.collect(vec![old.to_string()], "(a replaced manifest body)")
                        .await;
                }
                self.collect(garbage, "that fell out of the keep window")
                    .await;
                return Ok(committed);
            }
            tracing::debug!(dataset = %commit.name, attempt, "manifest changed under the commit; retrying");
            if attempt < MAX_TRIES {
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
        Err(CatalogError::ConcurrentUpdate(format!(
            "dataset {:?} kept changing under this commit ({MAX_TRIES} tries); nothing was written, retry",
            commit.name.as_str()
        )))
    }

    async fn register(&self, name: &DatasetName, location: &str) -> Result<Manifest, CatalogError> {
        Err(CatalogError::BadCommit(format!(
            "cannot register {location} as dataset {:?}: external tables are Delta tables, and \
             this catalog keeps the layout before them (manifests under {CATALOG_PREFIX})",
            name.as_str()
        )))
    }

    async fn delete(&self, name: &DatasetName) -> Result<(), CatalogError> {
        let lock = self.locks.get(name);
        let _held = lock.lock().await;
        let key = manifest_key(name)?;
        // The files to remove are those of the manifest read here, every kept version's —
        // not whatever lies under `datasets/{name}/`: another process may be committing to
        // this name right now (its files, and a manifest naming them, can appear at any
        // moment after the one below is deleted). Anything else is left to the sweep, which
        // honours ingest leases.
        let (files, body) = match stored::read_manifest(&*self.store, name).await {
            Ok(None) => {
                return Err(CatalogError::NotFound {
                    name: name.to_string(),
                });
            }
            Ok(Some(current)) => {
                let mut files: Vec<String> = current
                    .manifest
                    .referenced_keys()
                    .map(String::from)
                    .collect();
                files.sort();
                files.dedup();
                (files, current.body)
            }
            // A corrupt manifest can still be deleted: its files are left to the sweep, and
            // its body removed when the pointer names one of its own.
            Err(CatalogError::Corrupt { .. }) => {
                match stored::read_stored(&*self.store, name).await? {
                    None => {
                        return Err(CatalogError::NotFound {
                            name: name.to_string(),
                        });
                    }
                    Some((Ok(Stored::Pointer(p)), _)) => (vec![], ObjectKey::parse(&p.key).ok()),
                    Some(_) => (vec![], None),
                }
            }
            Err(e) => return Err(e),
        };
        self.store.delete(&key).await?;
        // The pointer first, then its body: a reader never follows a pointer to nothing for
        // long (it reads the pointer again and finds it gone).
        if let Some(body) = body {
            self.collect(
                vec![body.to_string()],
                "(the manifest body of a deleted dataset)",
            )
            .await;
        }
        // The dataset is gone with its manifest; files that cannot be removed now are left
        // to the sweep rather than turning a done delete into an error.
        self.collect(files, "of a deleted dataset").await;
        Ok(())
    }
}

/// One async mutex per dataset with work in progress (catalogd: a commit or delete;
/// ingestd: a whole ingest); entries are dropped when no one holds them.
#[derive(Default)]
pub struct NameLocks(Mutex<HashMap<DatasetName, Arc<tokio::sync::Mutex<()>>>>);

impl NameLocks {
    /// The lock of `name` (lock it to serialise with everyone else using this map).
    pub fn get(&self, name: &DatasetName) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, lock| Arc::strong_count(lock) > 1);
        map.entry(name.clone()).or_default().clone()
    }
}
