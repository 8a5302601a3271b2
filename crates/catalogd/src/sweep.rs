//! [`sweep_unreferenced`]: collects data files no manifest references — what a crash
//! between writing data files and committing (or between committing and deleting files that
//! fell out of the keep window) leaves behind.
//!
//! Safety rules: only objects under `datasets/` are candidates; an object is removed only
//! when no live ingest lease covers its tag (so the files of an ingest still running, however
//! long, survive: see [`crate::lease`]), it is older than the cutoff, no kept version of any
//! readable manifest references it, and its dataset's manifest, if one exists, could be
//! read. Data objects are listed *before* the leases, and the leases before the manifests:
//! a file in the listing was written after its ingest's lease, so that lease is in the
//! lease listing unless its ingest has finished — committed (the manifests read next name
//! the file) or failed (its files are garbage).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use storaged::{ObjectKey, ObjectMeta, Store};

use crate::catalog::{CATALOG_PREFIX, Catalog, DATASETS_PREFIX, PARALLEL_IO, prefix};
use crate::delta::{DELTA_LOG_SEGMENT, TABLES_PREFIX};
use crate::error::CatalogError;
use crate::lease::{self, LEASE_TTL, LEASES_PREFIX};
use crate::name::DatasetName;
use crate::stored::{self, Stored};

/// Removes objects under `datasets/` that no kept version of any manifest references, no
/// live ingest lease covers, and whose `last_modified` is before `older_than`, plus expired
/// leases and manifest bodies no commit can point to; returns how many objects were removed.
/// Never removes anything under a dataset whose manifest exists but could not be read.
pub async fn sweep_unreferenced(
    store: &dyn Store,
    catalog: &dyn Catalog,
    older_than: DateTime<Utc>,
) -> Result<usize, CatalogError> {
    sweep_unreferenced_with_ttl(store, catalog, older_than, LEASE_TTL).await
}

/// [`sweep_unreferenced`] with another lease TTL (tests).
pub async fn sweep_unreferenced_with_ttl(
    store: &dyn Store,
    catalog: &dyn Catalog,
    older_than: DateTime<Utc>,
    lease_ttl: std::time::Duration,
) -> Result<usize, CatalogError> {
    let objects = store.list(&prefix(DATASETS_PREFIX)?).await?;
    let leases = store.list(&prefix(LEASES_PREFIX)?).await?;
    let now = store_now(store).await?;
    let ttl = chrono::Duration::from_std(lease_ttl).unwrap_or(chrono::Duration::MAX);
    let mut leased: HashMap<String, Vec<String>> = HashMap::new();
    let mut expired = Vec::new();
    for lease in leases {
        let Some((dataset, tag)) = lease::parse_lease_key(&lease.key) else {
            continue;
        };
        if now - lease.last_modified <= ttl {
            leased.entry(dataset).or_default().push(tag);
        } else if let Ok(key) = ObjectKey::parse(&lease.key) {
            tracing::info!(%key, "sweep: an ingest lease expired");
            expired.push(key);
        }
    }
    let is_leased = |key: &str| {
        let rest = key.strip_prefix(DATASETS_PREFIX).unwrap_or_default();
        let dataset = rest.split('/').next().unwrap_or_default();
        match (leased.get(dataset), lease::file_tag(key)) {
            (Some(tags), Some(tag)) => tags.iter().any(|t| tag.starts_with(t.as_str())),
            _ => false,
        }
    };
    let (pointers, bodies): (Vec<ObjectMeta>, Vec<ObjectMeta>) = store
        .list(&prefix(CATALOG_PREFIX)?)
        .await?
        .into_iter()
        .partition(|m| !m.key[CATALOG_PREFIX.len().min(m.key.len())..].contains('/'));
    let stored: HashSet<String> = pointers
        .into_iter()
        .filter_map(|m| {
            let stem = m.key.strip_prefix(CATALOG_PREFIX)?.strip_suffix(".json")?;
            Some(stem.to_string())
        })
        .collect();
    // Registered Delta tables (`_tables/{name}.json`) are stored datasets too.
    let stored: HashSet<String> = stored
        .into_iter()
        .chain(
            store
                .list(&prefix(TABLES_PREFIX)?)
                .await?
                .into_iter()
                .filter_map(|m| {
                    let stem = m.key.strip_prefix(TABLES_PREFIX)?.strip_suffix(".json")?;
                    Some(stem.to_string())
                }),
        )
        .collect();
    let manifests = catalog.list().await?;
    let readable: HashSet<&str> = manifests.iter().map(|m| m.name.as_str()).collect();
    let referenced: HashSet<&str> = manifests.iter().flat_map(|m| m.referenced_keys()).collect();
    let unreadable: HashSet<&str> = stored
        .iter()
        .map(String::as_str)
        .filter(|stem| !readable.contains(stem))
        .collect();
    for name in &unreadable {
        tracing::warn!(dataset = %name, "sweep: leaving the files of a dataset whose manifest could not be read");
    }

    let doomed: Vec<ObjectKey> = objects
        .into_iter()
        .filter(|m| m.last_modified < older_than && !referenced.contains(m.key.as_str()))
        // A Delta log is its table's: only deleting the dataset removes it.
        .filter(|m| !m.key.contains(DELTA_LOG_SEGMENT))
        .filter(|m| !is_leased(&m.key))
        .filter(|m| {
            let rest = m.key.strip_prefix(DATASETS_PREFIX).unwrap_or_default();
            let dataset = rest.split('/').next().unwrap_or_default();
            !unreadable.contains(dataset)
        })
        .filter_map(|m| ObjectKey::parse(&m.key).ok())
        .collect();
    let doomed = recheck(catalog, doomed).await;
    let bodies = dead_bodies(store, bodies).await;
    let doomed = doomed.into_iter().chain(bodies).chain(expired);
    let deletes = futures::stream::iter(doomed).map(|key| async move {
        match store.delete(&key).await {
            Ok(()) => {
                tracing::info!(%key, "sweep: removed an unreferenced object");
                1
            }
            Err(error) => {
                tracing::warn!(%key, %error, "sweep: could not remove an unreferenced object");
                0
            }
        }
    });
    Ok(deletes
        .buffer_unordered(PARALLEL_IO)
        .collect::<Vec<usize>>()
        .await
        .into_iter()
        .sum())
}

/// Re-reads the manifest of every dataset with doomed files just before deleting, and spares
/// what a commit landed since the first read now references (or everything of a dataset
/// whose manifest cannot be read now). A commit landing between this re-read and the delete
/// can still lose a file; the commit itself checks its files exist before writing the
/// manifest, which closes most of that window (docs/formats.md, "The sweep").
async fn recheck(catalog: &dyn Catalog, doomed: Vec<ObjectKey>) -> Vec<ObjectKey> {
    let mut by_dataset: std::collections::BTreeMap<String, Vec<ObjectKey>> = Default::default();
    for key in doomed {
        let rest = key
            .as_str()
            .strip_prefix(DATASETS_PREFIX)
            .unwrap_or_default();
        let dataset = rest.split('/').next().unwrap_or_default().to_string();
        by_dataset.entry(dataset).or_default().push(key);
    }
    let mut kept = Vec::new();
    for (dataset, keys) in by_dataset {
        let Ok(name) = dataset.parse::<crate::DatasetName>() else {
            kept.extend(keys);
            continue;
        };
        match catalog.get(&name).await {
            Ok(manifest) => {
                let referenced: HashSet<&str> = manifest.referenced_keys().collect();
                kept.extend(
                    keys.into_iter()
                        .filter(|k| !referenced.contains(k.as_str())),
                );
            }
            Err(CatalogError::NotFound { .. }) => kept.extend(keys),
            Err(e) => {
                tracing::warn!(dataset = %name, error = %e, "sweep: leaving the files of a dataset whose manifest could not be re-read");
            }
        }
    }
    kept
}

/// How old a version-1 manifest body with no pointer must be before the sweep removes it:
/// the pointer of a new dataset is written right after its body, so such a body is the
/// remains of a crash (a create stalled longer than this puts its body back, see
/// `StoreCatalog::restore_if_swept`).
pub(crate) const ORPHAN_BODY_AGE: chrono::Duration = chrono::Duration::minutes(5);

/// Manifest bodies (`_catalog/{name}/{version}-{hex}.json`) no commit can ever point to:
/// - the pointer names another body and a version at least the body's: the commit that
///   wrote it lost its conditional PUT, or a newer commit replaced it (versions only grow
///   while the pointer exists, and a commit aiming at version v is conditional on the
///   pointer of version v − 1);
/// - there is no pointer and the body's version is above 1: only a create (version 1) can
///   write a missing pointer;
/// - there is no pointer, the version is 1 and the body is older than [`ORPHAN_BODY_AGE`].
///
/// A dataset whose pointer cannot be read or decoded keeps every body.
async fn dead_bodies(store: &dyn Store, bodies: Vec<ObjectMeta>) -> Vec<ObjectKey> {
    let mut by_dataset: std::collections::BTreeMap<DatasetName, Vec<(ObjectMeta, u64)>> =
        Default::default();
    for meta in bodies {
        if let Some((name, version)) = stored::parse_body_key(&meta.key) {
            by_dataset.entry(name).or_default().push((meta, version));
        }
    }
    let old = Utc::now() - ORPHAN_BODY_AGE;
    let mut dead = Vec::new();
    for (name, bodies) in by_dataset {
        let (current, pointed) = match stored::read_stored(store, &name).await {
            Ok(None) => (None, None),
            Ok(Some((Ok(Stored::Inline(m)), _))) => (Some(m.current.version), None),
            Ok(Some((Ok(Stored::Pointer(p)), _))) => (Some(p.version), Some(p.key)),
            Ok(Some((Err(_), _))) | Err(_) => {
                tracing::warn!(dataset = %name, "sweep: leaving the manifest bodies of a dataset whose manifest could not be read");
                continue;
            }
        };
        for (meta, version) in bodies {
            let gone = match current {
                Some(current) => version <= current && pointed.as_deref() != Some(&meta.key),
                None => version > 1 || meta.last_modified < old,
            };
            if gone && let Ok(key) = ObjectKey::parse(&meta.key) {
                dead.push(key);
            }
        }
    }
    dead
}

/// The store's time: the `last_modified` of an object written now. Lease ages are measured
/// against it, so the sweeping host's clock does not matter.
async fn store_now(store: &dyn Store) -> Result<DateTime<Utc>, CatalogError> {
    use storaged::{PutMode, StoreExt};
    let key = ObjectKey::parse("_leases/clock.json")
        .map_err(|e| storaged::StoreError::invalid_key("_leases/clock.json", e))?;
    store
        .put_bytes(&key, bytes::Bytes::from_static(b"{}"), PutMode::Overwrite)
        .await?;
    Ok(store.head(&key).await?.last_modified)
}
