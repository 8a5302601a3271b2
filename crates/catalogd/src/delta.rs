//! [`DeltaCatalog`]: the [`Catalog`] over Delta Lake tables (docs/formats.md, "Delta
//! tables").
//!
//! A dataset `sales` is the Delta table at `datasets/sales/` (its log in
//! `datasets/sales/_delta_log/`), plus a small registration object `_tables/sales.json`
//! naming the table's location and id, so that listing datasets lists registrations, not
//! every data file. The log is read and written through delta-rs over the store
//! ([`storaged::StoreObjects`]), so local directories, S3 and a remote storaged all serve it;
//! a commit is delta-rs's: one create-only PUT of the next `_delta_log/{version}.json`.
//!
//! Our version numbers are Delta's plus one (the first version is 1, as it always was, and
//! Delta's is 0; the registration's `first_version` says otherwise for a dataset numbered
//! before it became a Delta table). What the manifest model holds maps onto the log:
//!
//! - a version's files are the table's `add` actions at that version; an append commits
//!   `add`s, an overwrite `remove`s what the new version no longer lists;
//! - `mode`, `source_sha256` and `idempotency_key` travel in the commit's `commitInfo`,
//!   under `lakehouse`; the idempotency key is also a `txn` action (app id
//!   `lakehouse:{key}`), so a replay is recognised from the log for as long as the table
//!   lives, not only within the kept versions;
//! - the keep window deletes the files no kept version references, as before: the log keeps
//!   older versions' entries, whose files are gone (what Delta's VACUUM does).
//!
//! Versions are immutable, so each is decoded once per process and cached by table id.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake_core::kernel::{Action, Add, Metadata, Protocol, Remove, Transaction};
use deltalake_core::logstore::LogStoreRef;
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::table::state::DeltaTableState;
use deltalake_core::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use storaged::{ObjectKey, PutMode, Store, StoreError, StoreExt, StoreObjects};

use crate::catalog::{Catalog, DATASETS_PREFIX, NameLocks, list_named, prefix};
use crate::commit::{self, Plan};
use crate::error::CatalogError;
use crate::manifest::{
    ColumnType, Commit, CommitMode, Committed, DataFile, FileStats, Manifest, Schema, Version,
};
use crate::name::DatasetName;
use crate::table_view::{self, TableView};

/// Where registrations live: `_tables/{name}.json`.
pub const TABLES_PREFIX: &str = "_tables/";
/// What every key of a table's log holds (`{location}_delta_log/…`).
pub const DELTA_LOG_SEGMENT: &str = "/_delta_log/";
/// Commit attempts before a commit gives up with `ConcurrentUpdate`.
const MAX_TRIES: u32 = 8;
/// The `txn` app id prefix of an idempotency key.
const TXN_PREFIX: &str = "lakehouse:";

/// `_tables/{name}.json`: which table a dataset is. `id` is the table's Delta id (its
/// `metaData.id`): a log at `location` with another id is not this dataset's (a table left
/// by an interrupted delete of an earlier dataset of the same name). `first_version` is our
/// number of Delta's version 0: 1, except for a dataset whose versions were numbered before
/// it became a Delta table (its oldest kept version's number).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Registration {
    name: DatasetName,
    location: String,
    id: String,
    #[serde(default = "one")]
    first_version: u64,
    /// A table another tool wrote, registered at its own location: deleting the dataset
    /// unregisters it and leaves the table; lakehouse deletes none of its files.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    external: bool,
}

fn one() -> u64 {
    1
}

/// What the `lakehouse` field of a commit's `commitInfo` holds. `created_at` is the
/// version's time when it differs from the commit's (a version made before its dataset
/// became a Delta table).
#[derive(Debug, Default, Serialize, Deserialize)]
struct CommitNote {
    mode: Option<CommitMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idempotency_key: Option<String>,
}

/// The in-process [`Catalog`] over Delta tables in a [`Store`].
pub struct DeltaCatalog {
    store: Arc<dyn Store>,
    objects: Arc<StoreObjects>,
    keep_versions: u32,
    locks: NameLocks,
    /// Per dataset: the table as last loaded and its decoded versions.
    cache: Mutex<HashMap<DatasetName, Cached>>,
}

/// What a [`DeltaCatalog`] keeps of a table between reads: the loaded table (a later read
/// only applies the log entries written since, one LIST when there are none) and every
/// decoded version (immutable), for the table id they were read from.
struct Cached {
    id: String,
    table: DeltaTable,
    versions: BTreeMap<u64, Version>,
}

/// A dataset as read: its registration, the loaded table, and the manifest view of it.
struct Current {
    registration: Registration,
    table: DeltaTable,
    manifest: Manifest,
}

impl DeltaCatalog {
    /// `keep_versions`: versions kept per dataset, the current one included (at least 1).
    pub fn new(store: Arc<dyn Store>, keep_versions: u32) -> DeltaCatalog {
        DeltaCatalog {
            objects: Arc::new(StoreObjects::new(store.clone())),
            store,
            keep_versions: keep_versions.max(1),
            locks: NameLocks::default(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The delta-rs handle of the table at `location` (a store prefix ending in `/`), not
    /// loaded.
    fn table(&self, location: &str) -> Result<DeltaTable, CatalogError> {
        let url = url::Url::parse(&format!("memory:///{location}"))
            .map_err(|e| StoreError::Internal(format!("table location {location:?}: {e}")))?;
        let objects: Arc<dyn object_store::ObjectStore> = self.objects.clone();
        DeltaTableBuilder::from_url(url.clone())
            .and_then(|b| b.with_storage_backend(objects, url).build())
            .map_err(|e| {
                StoreError::Internal(format!("opening the table at {location}: {e}")).into()
            })
    }

    async fn registration(&self, name: &DatasetName) -> Result<Option<Registration>, CatalogError> {
        let key = registration_key(name)?;
        let bytes = match self.store.get_bytes(&key).await {
            Ok(b) => b,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let corrupt = |reason: String| CatalogError::Corrupt {
            key: key.to_string(),
            reason,
        };
        let r: Registration = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if &r.name != name {
            return Err(corrupt(format!("it names dataset {:?}", r.name.as_str())));
        }
        if !r.location.ends_with('/') || r.location.starts_with('/') {
            return Err(corrupt(format!(
                "location {:?} is not a store prefix",
                r.location
            )));
        }
        Ok(Some(r))
    }

    /// The dataset as it is now; `None` when there is none (no registration, or a
    /// registration whose table has no version yet or is another table's).
    async fn read(&self, name: &DatasetName) -> Result<Option<Current>, CatalogError> {
        let Some(registration) = self.registration(name).await? else {
            return Ok(None);
        };
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache
                .get(name)
                .filter(|c| c.id == registration.id)
                .map(|c| c.table.clone())
        };
        let mut table = match cached {
            Some(mut table) => match table.update_incremental(None).await {
                Ok(()) => table,
                // Whatever it was (the log cleaned up past the cached version, say), a
                // fresh load decides.
                Err(e) => {
                    tracing::debug!(dataset = %name, error = %e, "reloading a cached table");
                    self.table(&registration.location)?
                }
            },
            None => self.table(&registration.location)?,
        };
        // An external table that is gone or was replaced (another id) is not ours to
        // create anew: its owner's location stays untouched until it is registered again.
        let replaced = |why: &str| {
            Err(self.corrupt(
                &registration,
                format!(
                    "the external table at {} {why}; delete the dataset and register the \
                     table again",
                    registration.location
                ),
            ))
        };
        if table.version().is_none() {
            match table.load().await {
                Ok(()) => {}
                Err(DeltaTableError::NotATable(_)) if registration.external => {
                    return replaced("is gone");
                }
                Err(DeltaTableError::NotATable(_)) => return Ok(None),
                Err(e) => return Err(self.load_error(&registration, e)),
            }
        }
        let snapshot = table
            .snapshot()
            .map_err(|e| self.corrupt(&registration, e))?;
        if snapshot.metadata().id() != registration.id {
            if registration.external {
                return replaced("was replaced by another table (its id changed)");
            }
            return Ok(None);
        }
        let manifest = self.manifest(&registration, &table).await?;
        Ok(Some(Current {
            registration,
            table,
            manifest,
        }))
    }

    /// A table that did not load: the store's fault (503, retry) or the log's (corrupt).
    fn load_error(&self, registration: &Registration, e: DeltaTableError) -> CatalogError {
        match e {
            DeltaTableError::ObjectStore { source } => StoreError::Unavailable(format!(
                "reading the log of the table at {}: {source}",
                registration.location
            ))
            .into(),
            e => self.corrupt(registration, e),
        }
    }

    fn corrupt(&self, registration: &Registration, e: impl std::fmt::Display) -> CatalogError {
        CatalogError::Corrupt {
            key: format!("{}_delta_log/", registration.location),
            reason: e.to_string(),
        }
    }

    /// The manifest view of a loaded table: its current version and the older ones the keep
    /// window holds (those whose log entries are still readable).
    async fn manifest(
        &self,
        registration: &Registration,
        table: &DeltaTable,
    ) -> Result<Manifest, CatalogError> {
        let snapshot = table
            .snapshot()
            .map_err(|e| self.corrupt(registration, e))?;
        let latest = snapshot.version();
        let name = &registration.name;
        let oldest = latest.saturating_sub(self.keep_versions as u64 - 1);
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            match cache.get(name) {
                Some(c) if c.id == registration.id => c.versions.clone(),
                _ => BTreeMap::new(),
            }
        };
        let mut versions = BTreeMap::new();
        for delta_version in (oldest..=latest).rev() {
            let ours = delta_version + registration.first_version;
            if let Some(v) = cached.get(&ours) {
                versions.insert(ours, v.clone());
                continue;
            }
            let state = if delta_version == latest {
                None
            } else {
                match DeltaTableState::try_new(table.log_store().as_ref(), Some(delta_version as _))
                    .await
                {
                    Ok(state) => Some(state),
                    // Older log entries are gone (the log of a converted dataset starts
                    // at its oldest kept version; other writers may clean theirs up): the
                    // window ends here. Any other failure fails the read, so that no one
                    // (the sweep) takes that version's files for unreferenced.
                    Err(e) if missing_version(&e) => {
                        tracing::debug!(dataset = %name, delta_version, error = %e, "an older version is not in the log");
                        break;
                    }
                    Err(e) => return Err(self.load_error(registration, e)),
                }
            };
            let state = state.as_ref().unwrap_or(snapshot);
            let version = match self
                .version(registration, &table.log_store(), state, delta_version)
                .await
            {
                Ok(v) => v,
                // An older version of another tool's table that lakehouse does not read
                // (a deletion vector, a type since changed): the window ends before it. Its
                // files are the owner's, so no sweep depends on seeing them.
                Err(e) if registration.external && delta_version != latest => {
                    tracing::debug!(dataset = %name, delta_version, error = %e, "an older version is not readable");
                    break;
                }
                Err(e) => return Err(e),
            };
            versions.insert(ours, version);
        }
        {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.insert(
                name.clone(),
                Cached {
                    id: registration.id.clone(),
                    table: table.clone(),
                    versions: versions.clone(),
                },
            );
        }
        let mut newest_first = versions.into_values().rev();
        let current = newest_first
            .next()
            .ok_or_else(|| self.corrupt(registration, "the table has no readable version"))?;
        let view = view_of(snapshot).map_err(|e| self.corrupt(registration, e))?;
        let mut read_only = view.read_only;
        if registration.external
            && read_only.is_none()
            && let Some(f) = view.schema.fields.iter().find(|f| !f.nullable)
        {
            // Ingest does not check that a column has no nulls; our own tables' columns
            // are as nullable as their uploads were.
            read_only = Some(format!(
                "column {:?} is NOT NULL, which lakehouse does not check on append",
                f.name
            ));
        }
        Ok(Manifest {
            name: name.clone(),
            current,
            versions: newest_first.collect(),
            location: registration.external.then(|| registration.location.clone()),
            read_only,
            appends_only: view.no_removes,
        })
    }

    /// One version of the table, from its snapshot at that version and its commit entry.
    async fn version(
        &self,
        registration: &Registration,
        log_store: &LogStoreRef,
        state: &DeltaTableState,
        delta_version: u64,
    ) -> Result<Version, CatalogError> {
        let view = view_of(state).map_err(|e| self.corrupt(registration, e))?;
        let files = files_of(registration, state).map_err(|e| self.corrupt(registration, e))?;
        let (rows, bytes) = files.iter().fold((0u64, 0u64), |(r, b), f| {
            (r.saturating_add(f.rows), b.saturating_add(f.bytes))
        });
        let entry = log_store
            .read_commit_entry(delta_version as _)
            .await
            .map_err(|e| self.corrupt(registration, e))?;
        let (info, timestamp) = commit_info(entry.as_deref().unwrap_or_default());
        let mode = info.mode.unwrap_or(if delta_version == 0 {
            CommitMode::Create
        } else if timestamp.as_ref().is_some_and(|t| t.appended) {
            CommitMode::Append
        } else {
            CommitMode::Overwrite
        });
        let created_at = info.created_at.unwrap_or_else(|| {
            timestamp
                .and_then(|t| t.ms)
                .or_else(|| state.version_timestamp(delta_version as _))
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        });
        Ok(Version {
            version: delta_version + registration.first_version,
            mode,
            rows,
            bytes,
            schema: view.schema,
            partition_by: view.partition_by,
            files,
            created_at,
            source_sha256: info.source_sha256,
            idempotency_key: info.idempotency_key,
        })
    }

    /// Commits the planned `manifest` on top of `current` (none: creates the table).
    /// `Ok(false)`: another writer committed first; nothing was written.
    async fn write(
        &self,
        commit: &Commit,
        current: Option<&Current>,
        planned: &Manifest,
        created_at: Option<DateTime<Utc>>,
    ) -> Result<bool, CatalogError> {
        let name = &commit.name;
        let new = &planned.current;
        let (registration, table) = match current {
            Some(c) => (c.registration.clone(), None),
            None => {
                let r = self.register(name).await?;
                let t = self.table(&r.location)?;
                (r, Some(t))
            }
        };
        let location = registration.location.as_str();
        let now = Utc::now().timestamp_millis();
        // Delta paths are URIs: a character a reader would decode (`%`) or that needs
        // escaping there is refused rather than written in a form readers take otherwise.
        let relative = |key: &str| -> Result<String, CatalogError> {
            let path = key.strip_prefix(location).ok_or_else(|| {
                CatalogError::BadCommit(format!("file key {key:?} is not under {location}"))
            })?;
            if let Some(c) = path
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || "/._-=".contains(*c)))
            {
                return Err(CatalogError::BadCommit(format!(
                    "file key {key:?}: {c:?} is not allowed in a Delta table's file path \
                     (letters, digits and / . _ - = are)"
                )));
            }
            Ok(path.to_string())
        };
        let before: HashSet<&str> = current
            .map(|c| {
                c.manifest
                    .current
                    .files
                    .iter()
                    .map(|f| f.key.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let after: HashSet<&str> = new.files.iter().map(|f| f.key.as_str()).collect();
        let mut actions: Vec<Action> = Vec::new();
        let c = match (current, table) {
            (Some(c), _) => c,
            // A new table: version 0 holds the protocol, the metadata and the files.
            (None, Some(table)) => {
                let metadata = metadata(None, &registration.id, new, now)?;
                let protocol = protocol(&new.schema)?;
                actions.push(Action::Protocol(protocol.clone()));
                actions.push(Action::Metadata(metadata.clone()));
                for file in &new.files {
                    actions.push(Action::Add(add(&relative(&file.key)?, file, now)));
                }
                let location = url::Url::parse(&format!("memory:///{location}"))
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                let operation = DeltaOperation::Create {
                    mode: SaveMode::ErrorIfExists,
                    location,
                    protocol,
                    metadata,
                };
                return self
                    .commit_actions(
                        commit,
                        &registration,
                        table,
                        None,
                        actions,
                        operation,
                        0,
                        created_at,
                    )
                    .await;
            }
            (None, None) => {
                return Err(StoreError::Internal("a new table without a handle".into()).into());
            }
        };
        let snapshot = c
            .table
            .snapshot()
            .map_err(|e| self.corrupt(&registration, e))?;
        let old = &c.manifest.current;
        if old.schema != new.schema || old.partition_by != new.partition_by {
            // Another schema (an overwrite, an evolving append) or partitioning: a new
            // metaData (same id, settings kept), and a protocol upgrade when the new schema
            // needs more than the table has.
            if needs_timestamp_ntz(&new.schema)
                && let Some(upgrade) = with_timestamp_ntz(snapshot.protocol())?
            {
                actions.push(Action::Protocol(upgrade));
            }
            actions.push(Action::Metadata(metadata(
                Some(snapshot.metadata()),
                &registration.id,
                new,
                now,
            )?));
        }
        for file in &c.manifest.current.files {
            if !after.contains(file.key.as_str()) {
                actions.push(Action::Remove(remove(&relative(&file.key)?, file, now)));
            }
        }
        if actions.iter().any(|a| matches!(a, Action::Remove(_)))
            && let Some(reason) = view_of(snapshot)
                .map_err(|e| self.corrupt(&registration, e))?
                .no_removes
        {
            return Err(CatalogError::ReadOnly {
                name: name.to_string(),
                reason: format!("{reason}: it takes appends only"),
            });
        }
        for file in &new.files {
            if !before.contains(file.key.as_str()) {
                actions.push(Action::Add(add(&relative(&file.key)?, file, now)));
            }
        }
        let mode = match commit.mode {
            CommitMode::Append => SaveMode::Append,
            _ => SaveMode::Overwrite,
        };
        // The Delta version this commit makes (the txn action records it).
        let next = (c.manifest.current.version + 1).saturating_sub(registration.first_version);
        self.commit_actions(
            commit,
            &registration,
            c.table.clone(),
            Some(c),
            actions,
            DeltaOperation::Write {
                mode,
                partition_by: None,
                predicate: None,
            },
            next,
            created_at,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn commit_actions(
        &self,
        commit: &Commit,
        registration: &Registration,
        table: DeltaTable,
        current: Option<&Current>,
        mut actions: Vec<Action>,
        operation: DeltaOperation,
        delta_version: u64,
        created_at: Option<DateTime<Utc>>,
    ) -> Result<bool, CatalogError> {
        if let Some(key) = &commit.idempotency_key {
            actions.push(Action::Txn(Transaction::new_with_last_update(
                format!("{TXN_PREFIX}{key}"),
                delta_version as i64,
                Some(Utc::now().timestamp_millis()),
            )));
        }
        let note = CommitNote {
            mode: Some(commit.mode),
            created_at,
            source_sha256: commit.source_sha256.clone(),
            idempotency_key: commit.idempotency_key.clone(),
        };
        let note = serde_json::to_value(&note)
            .map_err(|e| StoreError::Internal(format!("encoding a commit note: {e}")))?;
        let snapshot = match current {
            Some(c) => Some(
                c.table
                    .snapshot()
                    .map_err(|e| self.corrupt(registration, e))?,
            ),
            None => None,
        };
        // Our own loop retries (re-planning against the table as it then is). delta-rs's
        // post-commit hook writes a checkpoint every `delta.checkpointInterval` (100)
        // versions, so opening a table reads at most that many log entries; it does not
        // clean up old log entries (their versions may still be in our keep window).
        let properties = CommitProperties::default()
            .with_max_retries(0)
            .with_create_checkpoint(true)
            .with_cleanup_expired_logs(Some(false));
        let failed = |e: DeltaTableError| -> CatalogError {
            StoreError::Internal(format!(
                "committing to the table at {}: {e}",
                registration.location
            ))
            .into()
        };
        let prepared = CommitBuilder::from(properties)
            .with_actions(actions)
            .with_app_metadata(HashMap::from([("lakehouse".to_string(), note)]))
            .build(
                snapshot.map(|s| s as &dyn deltalake_core::kernel::transaction::TableReference),
                table.log_store(),
                operation,
            )
            .into_prepared_commit_future()
            .await
            .map_err(failed)?;
        // The log entry's PUT: its outcome is the commit's.
        let post = match prepared.await {
            Ok(post) => post,
            Err(DeltaTableError::Transaction {
                source:
                    TransactionError::VersionAlreadyExists(_) | TransactionError::MaxCommitAttempts(_),
            }) => return Ok(false),
            Err(e) => return Err(failed(e)),
        };
        // After it (a checkpoint, the new snapshot), a failure is only logged: the version
        // is committed.
        if let Err(e) = post.await {
            tracing::warn!(location = %registration.location, error = %e, "after a commit: the checkpoint or the new snapshot failed");
        }
        Ok(true)
    }

    /// The registration of a dataset about to be created: the one stored if there is one
    /// (another writer's, or one whose table was never written), else a new one (a create-only
    /// PUT). A log already at the location under another id is what an interrupted delete
    /// left: it is removed first.
    async fn register(&self, name: &DatasetName) -> Result<Registration, CatalogError> {
        let registration = self
            .registration_or_new(
                name,
                1,
                "was created and deleted under this commit; nothing was written, retry",
            )
            .await?;
        if registration.external {
            // Registered meanwhile (a read found no table): never a new table, nor a stale
            // log removed, at the owner's location.
            return Err(CatalogError::ConcurrentUpdate(format!(
                "dataset {:?} was registered as the external table at {} under this \
                 commit; nothing was written",
                name.as_str(),
                registration.location
            )));
        }
        self.remove_stale_log(&registration).await?;
        Ok(registration)
    }

    /// The dataset's registration, or a new one (its table at `datasets/{name}/`, numbered
    /// from `first_version`) written create-only. Losing that race to a registration that is
    /// then gone again is [`CatalogError::ConcurrentUpdate`], saying it `vanished`.
    async fn registration_or_new(
        &self,
        name: &DatasetName,
        first_version: u64,
        vanished: &str,
    ) -> Result<Registration, CatalogError> {
        if let Some(r) = self.registration(name).await? {
            return Ok(r);
        }
        let r = Registration {
            name: name.clone(),
            location: format!("{DATASETS_PREFIX}{name}/"),
            id: uuid_v4(),
            first_version,
            external: false,
        };
        let body = serde_json::to_vec(&r)
            .map_err(|e| StoreError::Internal(format!("encoding a registration: {e}")))?;
        let key = registration_key(name)?;
        match self
            .store
            .put_bytes(&key, body.into(), PutMode::Create)
            .await
        {
            Ok(_) => Ok(r),
            Err(StoreError::PreconditionFailed(_)) => {
                self.registration(name).await?.ok_or_else(|| {
                    CatalogError::ConcurrentUpdate(format!(
                        "dataset {:?} {vanished}",
                        name.as_str()
                    ))
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a log at the registration's location that belongs to another table id.
    async fn remove_stale_log(&self, registration: &Registration) -> Result<(), CatalogError> {
        let Some(id) = self.log_id(registration).await? else {
            return Ok(());
        };
        if id == registration.id {
            return Ok(());
        }
        tracing::info!(location = %registration.location, "removing the log an interrupted delete left");
        self.remove_log(registration, &id).await
    }

    /// The table id of the log at the registration's location; `None` when there is none.
    /// A log that does not load is an error, never a reason to remove it.
    async fn log_id(&self, registration: &Registration) -> Result<Option<String>, CatalogError> {
        let mut table = self.table(&registration.location)?;
        match table.load().await {
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Ok(()) => {
                let snapshot = table
                    .snapshot()
                    .map_err(|e| self.corrupt(registration, e))?;
                Ok(Some(snapshot.metadata().id().to_string()))
            }
            Err(e) => Err(self.load_error(registration, e)),
        }
    }

    /// Deletes every object under the location's `_delta_log/`, newest version first —
    /// when it is the log of table `doomed` (checked just before: another process may have
    /// removed it and written a new table's there meanwhile).
    async fn remove_log(
        &self,
        registration: &Registration,
        doomed: &str,
    ) -> Result<(), CatalogError> {
        if self.log_id(registration).await?.as_deref() != Some(doomed) {
            return Ok(());
        }
        let location = registration.location.as_str();
        let mut keys: Vec<String> = self
            .store
            .list(&prefix(&format!("{location}_delta_log/"))?)
            .await?
            .into_iter()
            .map(|m| m.key)
            .collect();
        keys.sort();
        for text in keys.into_iter().rev() {
            let key = ObjectKey::parse(&text).map_err(|e| StoreError::invalid_key(&text, e))?;
            match self.store.delete(&key).await {
                Ok(()) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn collect(&self, keys: Vec<String>, why: &str) {
        crate::catalog::collect(&*self.store, keys, why).await
    }
}

impl DeltaCatalog {
    /// Registers the Delta table at `location` as dataset `name` (an external table, see
    /// [`Catalog::register`]).
    async fn register_external(
        &self,
        name: &DatasetName,
        location: &str,
    ) -> Result<Manifest, CatalogError> {
        let location = external_location(location)?;
        let lock = self.locks.get(name);
        let _held = lock.lock().await;
        if self.registration(name).await?.is_some() {
            return Err(CatalogError::Exists {
                name: name.to_string(),
            });
        }
        let registrations = self.store.list(&prefix(TABLES_PREFIX)?).await?;
        for meta in registrations {
            let Some(other) = meta
                .key
                .strip_prefix(TABLES_PREFIX)
                .and_then(|k| k.strip_suffix(".json"))
                .and_then(|stem| stem.parse::<DatasetName>().ok())
            else {
                continue;
            };
            let r = match self.registration(&other).await {
                Ok(r) => r,
                // Another dataset's registration that does not decode is that dataset's
                // problem (its reads say so), not a reason to refuse this one.
                Err(CatalogError::Corrupt { key, reason }) => {
                    tracing::warn!(%key, %reason, "skipping an unreadable registration");
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(r) = r
                && (r.location.starts_with(&location) || location.starts_with(&r.location))
            {
                return Err(CatalogError::BadCommit(format!(
                    "{location} overlaps the table of dataset {:?} at {}",
                    other.as_str(),
                    r.location
                )));
            }
        }
        let mut table = self.table(&location)?;
        let not_read = |reason: String| {
            CatalogError::BadCommit(format!("the Delta table at {location}: {reason}"))
        };
        match table.load().await {
            Ok(()) => {}
            Err(DeltaTableError::NotATable(_)) => {
                return Err(CatalogError::BadCommit(format!(
                    "there is no Delta table at {location} (no {location}_delta_log/ with a \
                     version in it)"
                )));
            }
            Err(DeltaTableError::ObjectStore { source }) => {
                return Err(StoreError::Unavailable(format!(
                    "reading the log of the table at {location}: {source}"
                ))
                .into());
            }
            Err(e) => return Err(not_read(e.to_string())),
        }
        let snapshot = table.snapshot().map_err(|e| not_read(e.to_string()))?;
        let registration = Registration {
            name: name.clone(),
            location: location.clone(),
            id: snapshot.metadata().id().to_string(),
            first_version: 0,
            external: true,
        };
        // What every read will do, once, before the registration exists: a table lakehouse
        // cannot read is refused here with the reason.
        view_of(snapshot).map_err(not_read)?;
        files_of(&registration, snapshot).map_err(not_read)?;
        let body = serde_json::to_vec(&registration)
            .map_err(|e| StoreError::Internal(format!("encoding a registration: {e}")))?;
        match self
            .store
            .put_bytes(&registration_key(name)?, body.into(), PutMode::Create)
            .await
        {
            Ok(_) => {}
            Err(StoreError::PreconditionFailed(_)) => {
                return Err(CatalogError::Exists {
                    name: name.to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(dataset = %name, %location, "registered an external table");
        match self.read(name).await? {
            Some(current) => Ok(current.manifest),
            None => Err(CatalogError::ConcurrentUpdate(format!(
                "dataset {:?} was deleted while it was registered",
                name.as_str()
            ))),
        }
    }
}

/// An external table's location as a store prefix ending in `/`; refused when it is not
/// one, or lies where lakehouse keeps its own objects (`datasets/`, whose unreferenced
/// files the sweep removes, and the `_`-prefixed ones).
fn external_location(text: &str) -> Result<String, CatalogError> {
    let bad = |why: &str| Err(CatalogError::BadCommit(format!("location {text:?} {why}")));
    let trimmed = text.trim_end_matches('/');
    if trimmed.is_empty() {
        return bad("is empty; it is the table's path in the store, such as \"external/sales\"");
    }
    let location = match storaged::KeyPrefix::parse(&format!("{trimmed}/")) {
        Ok(prefix) => prefix.as_str().to_string(),
        Err(e) => return bad(&format!("is not a path in the store: {e}")),
    };
    if location.starts_with(DATASETS_PREFIX) {
        return bad(
            "is under datasets/, where lakehouse keeps its own tables (and removes the files \
             none of them references); put external tables elsewhere, such as external/",
        );
    }
    if location.starts_with('_') || location.split('/').any(|s| s == "_delta_log") {
        return bad("is where lakehouse or Delta keeps its own objects");
    }
    Ok(location)
}

/// What [`DeltaCatalog::migrate`] did to one dataset.
#[derive(Debug)]
pub struct Migrated {
    pub name: DatasetName,
    /// The versions written to its Delta log now (0 when an earlier run had written them
    /// all and only the manifest was left to remove).
    pub versions: usize,
}

impl DeltaCatalog {
    /// Converts every dataset of the layout before Delta tables (a manifest
    /// `_catalog/{name}.json`) into a Delta table, keeping each kept version's number,
    /// files, schema, mode, time, source SHA-256 and idempotency key; then removes the
    /// manifest (and its body). Data files are not copied: the table's `add` actions name
    /// them where they are. A run that stops halfway resumes where it stopped. A manifest
    /// that does not decode stops the run with an error naming it (its files are kept).
    pub async fn migrate(&self) -> Result<Vec<Migrated>, CatalogError> {
        let legacy = crate::StoreCatalog::new(self.store.clone(), u32::MAX);
        let mut names: Vec<DatasetName> = self
            .store
            .list(&prefix(crate::catalog::CATALOG_PREFIX)?)
            .await?
            .into_iter()
            .filter_map(|m| {
                let stem = m
                    .key
                    .strip_prefix(crate::catalog::CATALOG_PREFIX)?
                    .strip_suffix(".json")?;
                stem.parse().ok()
            })
            .collect();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            let manifest = match legacy.get(&name).await {
                Ok(m) => m,
                Err(CatalogError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            tracing::info!(dataset = %name, versions = manifest.versions.len() + 1, "converting a dataset to a Delta table");
            let versions = self.migrate_one(&manifest).await?;
            // The manifest, then its bodies (the table is complete: nothing reads them).
            let key = crate::manifest_key(&name)?;
            match self.store.delete(&key).await {
                Ok(()) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let bodies = self
                .store
                .list(&prefix(&format!(
                    "{}{name}/",
                    crate::catalog::CATALOG_PREFIX
                ))?)
                .await?;
            self.collect(
                bodies.into_iter().map(|m| m.key).collect(),
                "(a converted manifest's body)",
            )
            .await;
            out.push(Migrated { name, versions });
        }
        Ok(out)
    }

    /// Writes the versions of `manifest` its table does not have yet, oldest first.
    async fn migrate_one(&self, manifest: &Manifest) -> Result<usize, CatalogError> {
        let name = &manifest.name;
        let lock = self.locks.get(name);
        let _held = lock.lock().await;
        let mut versions: Vec<&Version> = manifest.all_versions().collect();
        versions.sort_by_key(|v| v.version);
        let oldest = versions[0].version;
        let registration = self
            .registration_or_new(
                name,
                oldest,
                "had its registration come and go during the conversion",
            )
            .await?;
        if registration.first_version != oldest {
            return Err(CatalogError::Corrupt {
                key: registration_key(name)?.to_string(),
                reason: format!(
                    "dataset {:?} has a manifest (oldest kept version {oldest}) and a table \
                     numbered from {}; remove one",
                    name.as_str(),
                    registration.first_version
                ),
            });
        }
        self.remove_stale_log(&registration).await?;
        let (mut written, mut lost) = (0, 0);
        loop {
            let current = self.read(name).await?;
            let done = current
                .as_ref()
                .map_or(oldest.saturating_sub(1), |c| c.manifest.current.version);
            let Some(next) = versions.iter().find(|v| v.version > done) else {
                return Ok(written);
            };
            let commit = Commit {
                name: name.clone(),
                mode: next.mode,
                schema: next.schema.clone(),
                files: next.files.clone(),
                source_sha256: next.source_sha256.clone(),
                idempotency_key: next.idempotency_key.clone(),
                evolve: false,
                partition_by: vec![],
            };
            let planned = Manifest::new(name.clone(), (*next).clone());
            if self
                .write(&commit, current.as_ref(), &planned, Some(next.created_at))
                .await?
            {
                (written, lost) = (written + 1, 0);
            } else {
                // Another process converts this dataset too; it wrote the same version.
                lost += 1;
                if lost >= MAX_TRIES {
                    return Err(CatalogError::ConcurrentUpdate(format!(
                        "dataset {:?}: its conversion kept racing another process's; start again",
                        name.as_str()
                    )));
                }
            }
        }
    }
}

#[async_trait]
impl Catalog for DeltaCatalog {
    async fn list(&self) -> Result<Vec<Manifest>, CatalogError> {
        list_named(&*self.store, TABLES_PREFIX, "table", |name| async move {
            Ok(self.read(&name).await?.map(|current| current.manifest))
        })
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
        for attempt in 1..=MAX_TRIES {
            let current = self.read(&commit.name).await?;
            if let (Some(c), Some(key)) = (&current, &commit.idempotency_key) {
                let snapshot = c
                    .table
                    .snapshot()
                    .map_err(|e| self.corrupt(&c.registration, e))?;
                let seen = snapshot
                    .transaction_version(c.table.log_store().as_ref(), format!("{TXN_PREFIX}{key}"))
                    .await
                    .map_err(|e| self.corrupt(&c.registration, e))?;
                if seen.is_some() {
                    return Ok(Committed::Existing(c.manifest.clone()));
                }
            }
            let plan = commit::plan(
                current.as_ref().map(|c| &c.manifest),
                &commit,
                self.keep_versions,
                Utc::now(),
            )?;
            let (manifest, garbage) = match (plan, current.as_ref()) {
                (Plan::Existing, Some(c)) => return Ok(Committed::Existing(c.manifest.clone())),
                (Plan::Existing, None) => {
                    return Err(StoreError::Internal("no-op commit without a table".into()).into());
                }
                (Plan::Write { manifest, garbage }, _) => (manifest, garbage),
            };
            crate::catalog::check_files_exist(&self.store, &commit).await?;
            if self
                .write(&commit, current.as_ref(), &manifest, None)
                .await?
            {
                self.collect(garbage, "that fell out of the keep window")
                    .await;
                // The manifest as the log now has it (the commit time is the log's).
                return match self.read(&commit.name).await {
                    Ok(Some(now)) => Ok(Committed::Created(now.manifest)),
                    // Deleted (or deleted and created anew) by another process meanwhile:
                    // the version landed in a log no dataset has any more.
                    Ok(None) => Err(CatalogError::ConcurrentUpdate(format!(
                        "dataset {:?} was deleted while this commit was written; its version is not part of any dataset, retry",
                        commit.name.as_str()
                    ))),
                    Err(e) => {
                        tracing::warn!(dataset = %commit.name, error = %e, "re-reading after a commit");
                        Ok(Committed::Created(*manifest))
                    }
                };
            }
            tracing::debug!(dataset = %commit.name, attempt, "the table changed under the commit; retrying");
            if attempt < MAX_TRIES {
                tokio::time::sleep(crate::catalog::backoff(attempt)).await;
            }
        }
        Err(CatalogError::ConcurrentUpdate(format!(
            "dataset {:?} kept changing under this commit ({MAX_TRIES} tries); nothing was written, retry",
            commit.name.as_str()
        )))
    }

    async fn register(&self, name: &DatasetName, location: &str) -> Result<Manifest, CatalogError> {
        self.register_external(name, location).await
    }

    async fn delete(&self, name: &DatasetName) -> Result<(), CatalogError> {
        let lock = self.locks.get(name);
        let _held = lock.lock().await;
        let Some(registration) = self.registration(name).await? else {
            return Err(CatalogError::NotFound {
                name: name.to_string(),
            });
        };
        if registration.external {
            // The table is its owner's: unregistering is all.
            self.store.delete(&registration_key(name)?).await?;
            self.cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(name);
            return Ok(());
        }
        // The files of the versions read here; anything else under the location is left to
        // the sweep (another process may be writing this name's next table right now).
        let files: Vec<String> = match self.read(name).await {
            Ok(Some(c)) => {
                let mut f: Vec<String> = c.manifest.referenced_keys().map(String::from).collect();
                f.sort();
                f.dedup();
                f
            }
            Ok(None) | Err(CatalogError::Corrupt { .. }) => vec![],
            Err(e) => return Err(e),
        };
        // The registration is the dataset: once it is gone, so is the dataset, whatever
        // happens to the rest.
        self.store.delete(&registration_key(name)?).await?;
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        if let Err(e) = self.remove_log(&registration, &registration.id).await {
            tracing::warn!(dataset = %name, error = %e, "could not remove a deleted dataset's log; the next create of the name removes it");
        }
        self.collect(files, "of a deleted dataset").await;
        Ok(())
    }
}

fn registration_key(name: &DatasetName) -> Result<ObjectKey, CatalogError> {
    let text = format!("{TABLES_PREFIX}{name}.json");
    ObjectKey::parse(&text).map_err(|e| StoreError::invalid_key(&text, e).into())
}

fn uuid_v4() -> String {
    let mut bytes = [0u8; 16];
    getrandom_fill(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Random bytes from the time and a process-wide counter, hashed: table ids need to be
/// unique, not secret.
fn getrandom_fill(out: &mut [u8; 16]) {
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = Sha256::new();
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    h.update(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            .to_le_bytes(),
    );
    out.copy_from_slice(&h.finalize()[..16]);
}

/// Whether loading a version failed because its log entries are not there.
fn missing_version(e: &DeltaTableError) -> bool {
    match e {
        DeltaTableError::InvalidVersion(_) | DeltaTableError::NotATable(_) => true,
        DeltaTableError::KernelError(k) => {
            let text = k.to_string();
            text.contains("not found")
                || text.contains("No files in log segment")
                || text.contains("missing")
                || text.contains("not exist")
        }
        _ => false,
    }
}

/// Delta's type of a column type: a name, or for a vector an array of floats (Delta has no
/// fixed-size array; the dimension is the column's [`VECTOR_DIMENSIONS`] metadata).
pub(crate) fn delta_type(t: ColumnType) -> Value {
    match t {
        ColumnType::Int64 => "long".into(),
        ColumnType::Float64 => "double".into(),
        ColumnType::Boolean => "boolean".into(),
        ColumnType::Date => "date".into(),
        // Our timestamps carry no zone (values are UTC); Delta's `timestamp` is zoned.
        ColumnType::Timestamp => "timestamp_ntz".into(),
        ColumnType::Utf8 => "string".into(),
        ColumnType::Vector(_) => {
            json!({"type": "array", "elementType": "float", "containsNull": false})
        }
    }
}

/// The column metadata key holding a vector column's dimension, in a table's schema.
pub(crate) const VECTOR_DIMENSIONS: &str = "lakehouse.vector.dimensions";

fn needs_timestamp_ntz(schema: &Schema) -> bool {
    schema
        .fields
        .iter()
        .any(|f| f.data_type == ColumnType::Timestamp)
}

/// What lakehouse makes of the table at a version ([`crate::table_view`]).
fn view_of(state: &DeltaTableState) -> Result<TableView, String> {
    let protocol = serde_json::to_value(state.protocol()).map_err(|e| e.to_string())?;
    let metadata = serde_json::to_value(state.metadata()).map_err(|e| e.to_string())?;
    let mut view = table_view::view(&protocol, &metadata)?;
    // And what delta-rs's commit path itself refuses to write.
    if view.read_only.is_none()
        && let Err(e) = deltalake_core::kernel::transaction::PROTOCOL.can_write_to(state)
    {
        view.read_only = Some(format!("its commits would be refused: {e}"));
    }
    Ok(view)
}

/// The data files of a version, sorted by key, with their partition values. A file with a
/// deletion vector is an error: its rows are not all live, and lakehouse reads whole files.
fn files_of(registration: &Registration, state: &DeltaTableState) -> Result<Vec<DataFile>, String> {
    let mut files = Vec::new();
    for file in state.log_data().iter() {
        let path = file.path();
        if file.deletion_vector_descriptor().is_some() {
            return Err(format!(
                "file {path} has rows deleted through a deletion vector, which lakehouse does \
                 not read"
            ));
        }
        let rows = file
            .num_records()
            .ok_or_else(|| format!("file {path} has no row count in its statistics"))?;
        files.push(DataFile {
            key: format!("{}{}", registration.location, path),
            rows: rows as u64,
            bytes: u64::try_from(file.size()).unwrap_or(0),
            // Delta writes a null partition value as null or as "".
            partition_values: file
                .partition_values_map()
                .into_iter()
                .map(|(k, v)| (k, v.filter(|v| !v.is_empty())))
                .collect(),
            stats: file
                .stats()
                .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                .map(|stats| FileStats::from_delta(&stats))
                .unwrap_or_default(),
        });
    }
    files.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(files)
}

/// The `schemaString` of `schema`; a column `existing` (a table's current schema string)
/// has keeps its metadata (comments, other tools' settings).
fn schema_string(schema: &Schema, existing: Option<&str>) -> String {
    let existing: Value = existing
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null);
    let fields: Vec<Value> = schema
        .fields
        .iter()
        .map(|f| {
            let kept = existing["fields"]
                .as_array()
                .and_then(|fields| fields.iter().find(|e| e["name"] == f.name.as_str()))
                .map_or_else(|| json!({}), |e| e["metadata"].clone());
            let mut metadata = match kept {
                Value::Object(map) => map,
                _ => serde_json::Map::new(),
            };
            match f.data_type {
                ColumnType::Vector(n) => {
                    metadata.insert(VECTOR_DIMENSIONS.into(), n.into());
                }
                _ => {
                    metadata.remove(VECTOR_DIMENSIONS);
                }
            }
            json!({"name": f.name, "type": delta_type(f.data_type), "nullable": f.nullable,
                   "metadata": metadata})
        })
        .collect();
    json!({"type": "struct", "fields": fields}).to_string()
}

/// The table's metadata for `version`: `existing`'s (its id, format and settings) with the
/// version's schema and partition columns, or a new table's.
fn metadata(
    existing: Option<&Metadata>,
    id: &str,
    version: &Version,
    now_ms: i64,
) -> Result<Metadata, CatalogError> {
    let failed = |e: serde_json::Error| StoreError::Internal(format!("a table's metadata: {e}"));
    let mut value = match existing {
        Some(m) => serde_json::to_value(m).map_err(failed)?,
        None => json!({
            "id": id,
            "format": {"provider": "parquet", "options": {}},
            "configuration": {},
            "createdTime": now_ms,
        }),
    };
    let existing_schema = value["schemaString"].as_str().map(String::from);
    value["schemaString"] = schema_string(&version.schema, existing_schema.as_deref()).into();
    value["partitionColumns"] = json!(version.partition_by);
    Ok(serde_json::from_value(value).map_err(failed)?)
}

/// `existing` with table feature `timestampNtz`, which a timestamp column needs; `None`
/// when it has it. Tables at protocol (1, 2) move to (3, 7); (3, 7) ones gain the feature.
fn with_timestamp_ntz(existing: &Protocol) -> Result<Option<Protocol>, CatalogError> {
    let failed = |e: serde_json::Error| StoreError::Internal(format!("a table's protocol: {e}"));
    let mut value = serde_json::to_value(existing).map_err(failed)?;
    let versions = (
        value["minReaderVersion"].as_i64().unwrap_or(1),
        value["minWriterVersion"].as_i64().unwrap_or(1),
    );
    let new = match versions {
        (3, 7) => {
            let has = |key: &str| {
                value[key]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|f| f == "timestampNtz"))
            };
            if has("readerFeatures") && has("writerFeatures") {
                return Ok(None);
            }
            for key in ["readerFeatures", "writerFeatures"] {
                let mut features = value[key].as_array().cloned().unwrap_or_default();
                if !features.iter().any(|f| f == "timestampNtz") {
                    features.push("timestampNtz".into());
                }
                value[key] = features.into();
            }
            value
        }
        // Legacy writer 2 means appendOnly and invariants; delta-rs writes no invariants,
        // and a table lakehouse writes has none in use (they make it read-only).
        (1, 1) | (1, 2) => {
            let writer = if versions.1 == 2 {
                json!(["appendOnly", "timestampNtz"])
            } else {
                json!(["timestampNtz"])
            };
            json!({"minReaderVersion": 3, "minWriterVersion": 7,
                   "readerFeatures": ["timestampNtz"], "writerFeatures": writer})
        }
        (reader, writer) => {
            return Err(CatalogError::BadCommit(format!(
                "a timestamp column needs table feature timestampNtz, which lakehouse adds to \
                 tables at protocol (1, 2) or (3, 7); this one is at ({reader}, {writer})"
            )));
        }
    };
    Ok(Some(serde_json::from_value(new).map_err(failed)?))
}

/// Reader 1 / writer 2 unless a column needs `timestampNtz` (reader 3 / writer 7).
fn protocol(schema: &Schema) -> Result<Protocol, CatalogError> {
    let value = if needs_timestamp_ntz(schema) {
        json!({"minReaderVersion": 3, "minWriterVersion": 7,
               "readerFeatures": ["timestampNtz"], "writerFeatures": ["timestampNtz"]})
    } else {
        json!({"minReaderVersion": 1, "minWriterVersion": 2})
    };
    serde_json::from_value(value)
        .map_err(|e| StoreError::Internal(format!("a table's protocol: {e}")).into())
}

fn add(path: &str, file: &DataFile, now_ms: i64) -> Add {
    Add {
        path: path.to_string(),
        partition_values: file.partition_values.clone().into_iter().collect(),
        size: i64::try_from(file.bytes).unwrap_or(i64::MAX),
        modification_time: now_ms,
        data_change: true,
        stats: Some(stats(file)),
        ..Default::default()
    }
}

/// `add.stats`: the row count and the file's column statistics.
fn stats(file: &DataFile) -> String {
    let mut stats = serde_json::to_value(&file.stats).unwrap_or_else(|_| json!({}));
    stats["numRecords"] = json!(file.rows);
    stats.to_string()
}

fn remove(path: &str, file: &DataFile, now_ms: i64) -> Remove {
    Remove {
        path: path.to_string(),
        data_change: true,
        deletion_timestamp: Some(now_ms),
        extended_file_metadata: Some(true),
        partition_values: Some(file.partition_values.clone().into_iter().collect()),
        size: Some(i64::try_from(file.bytes).unwrap_or(i64::MAX)),
        ..Default::default()
    }
}

/// What a commit entry's `commitInfo` says besides our note: its time, and whether it
/// was an append (another writer's commits carry no note).
struct Info {
    ms: Option<i64>,
    appended: bool,
}

/// Our note and the rest of a commit entry's `commitInfo`.
fn commit_info(entry: &[u8]) -> (CommitNote, Option<Info>) {
    for line in entry.split(|b| *b == b'\n') {
        let Ok(value) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        if let Some(info) = value.get("commitInfo") {
            let note = info
                .get("lakehouse")
                .and_then(|n| serde_json::from_value(n.clone()).ok())
                .unwrap_or_default();
            let mode = info["operationParameters"]["mode"]
                .as_str()
                .unwrap_or_default();
            return (
                note,
                Some(Info {
                    ms: info.get("timestamp").and_then(Value::as_i64),
                    appended: mode.eq_ignore_ascii_case("append"),
                }),
            );
        }
    }
    (CommitNote::default(), None)
}
