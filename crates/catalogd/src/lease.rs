//! Ingest leases: how a writer tells the sweep that its data files, written but not yet
//! committed, belong to a write still running (docs/formats.md, "The sweep").
//!
//! Before it writes its first data file, a writer PUTs `_leases/ingest/{dataset}/{tag}.json`
//! (`tag`: the unique tag in its data files' names, `part-{i}-{tag}….parquet`) and PUTs it
//! again every [`LEASE_RENEW`] while it runs; after its commit (or failure) it deletes it. The
//! sweep spares every file whose tag starts with the tag of a lease renewed within
//! [`LEASE_TTL`] (by the store's clock: the lease's `last_modified` against the store's
//! own time) and removes expired leases. A writer that could not renew for [`LEASE_TTL`] / 2
//! must not commit.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use storaged::{ObjectKey, StoreError};

use crate::error::CatalogError;
use crate::name::DatasetName;

/// Where ingest leases live.
pub const LEASES_PREFIX: &str = "_leases/ingest/";
/// A lease not renewed for this long (store time) is expired: the sweep may remove its files.
pub const LEASE_TTL: Duration = Duration::from_secs(5 * 60);
/// How often a running writer renews its lease.
pub const LEASE_RENEW: Duration = Duration::from_secs(30);

/// The body of a lease (informational: the sweep uses the object's `last_modified`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub dataset: DatasetName,
    pub tag: String,
    pub started: DateTime<Utc>,
    pub renewed: DateTime<Utc>,
    /// Who holds it: `{host}/{pid}`.
    pub holder: String,
}

/// `_leases/ingest/{dataset}/{tag}.json`.
pub fn lease_key(dataset: &DatasetName, tag: &str) -> Result<ObjectKey, CatalogError> {
    let text = format!("{LEASES_PREFIX}{dataset}/{tag}.json");
    ObjectKey::parse(&text).map_err(|e| StoreError::invalid_key(&text, e).into())
}

/// The dataset and tag a lease key names.
pub(crate) fn parse_lease_key(key: &str) -> Option<(String, String)> {
    let rest = key.strip_prefix(LEASES_PREFIX)?;
    let (dataset, file) = rest.split_once('/')?;
    let tag = file.strip_suffix(".json")?;
    (!tag.is_empty() && !tag.contains('/')).then(|| (dataset.to_string(), tag.to_string()))
}

/// The tag of a data file, `…/part-{i}-{tag}.parquet` (the text after the file name's last
/// `-`, without the extension).
pub(crate) fn file_tag(key: &str) -> Option<&str> {
    let file = key.rsplit('/').next()?;
    let stem = file.split_once('.').map_or(file, |(stem, _)| stem);
    let (_, tag) = stem.rsplit_once('-')?;
    (!tag.is_empty()).then_some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_tags() {
        let key = lease_key(&"sales".parse().unwrap(), "0123456789ab").unwrap();
        assert_eq!(key.as_str(), "_leases/ingest/sales/0123456789ab.json");
        assert_eq!(
            parse_lease_key(key.as_str()),
            Some(("sales".into(), "0123456789ab".into()))
        );
        assert_eq!(
            file_tag("datasets/sales/v3/part-12-0123456789ab.parquet"),
            Some("0123456789ab")
        );
        assert_eq!(
            file_tag("datasets/sales/v3/part-0-0123456789abr1.parquet"),
            Some("0123456789abr1")
        );
        assert_eq!(file_tag("datasets/sales/v3/whatever"), None);
    }
}
