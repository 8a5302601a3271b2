//! How a manifest is stored: inline at `_catalog/{name}.json`, or — past
//! [`POINTER_THRESHOLD`] bytes of JSON — as a body object `_catalog/{name}/{version}-{hex}.json`
//! plus a small pointer at `_catalog/{name}.json` naming it (docs/formats.md, "Manifests").
//!
//! The pointer is what the conditional PUT writes, so it stays small whatever the manifest's
//! size: on S3 a conditional PUT is a single part (at most 8 MiB), while the body is a plain
//! PUT at a key no one else writes. The rule is the same on every backend, so local tests
//! exercise it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use storaged::{ObjectKey, Store, StoreError};

use crate::catalog::{CATALOG_PREFIX, manifest_key};
use crate::error::CatalogError;
use crate::manifest::Manifest;
use crate::name::DatasetName;

/// A manifest whose JSON is longer than this is stored as a body plus a pointer.
pub const POINTER_THRESHOLD: usize = 1 << 20;
/// Reads of a pointer whose body was gone (a newer commit replaced and removed it) before the
/// manifest is reported corrupt.
const BODY_READS: u32 = 5;

/// The object at `_catalog/{name}.json` when the manifest lives elsewhere.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Pointer {
    pub name: DatasetName,
    pub version: u64,
    /// The body's key, `_catalog/{name}/{version}-{hex}.json`.
    pub key: String,
    /// The body's length and lowercase hex SHA-256.
    pub bytes: u64,
    pub sha256: String,
}

/// What `_catalog/{name}.json` holds.
pub(crate) enum Stored {
    Inline(Manifest),
    Pointer(Pointer),
}

/// A manifest as read, with the etag of the object at its key (for the next conditional PUT)
/// and, when it lives in a body object, that object's key.
pub(crate) struct Current {
    pub manifest: Manifest,
    pub etag: String,
    pub body: Option<ObjectKey>,
}

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `_catalog/{name}/`: where `name`'s manifest bodies live.
pub(crate) fn body_prefix_text(name: &str) -> String {
    format!("{CATALOG_PREFIX}{name}/")
}

/// A fresh body key for version `version` of `name`: no one else ever writes it.
pub(crate) fn new_body_key(name: &DatasetName, version: u64) -> Result<ObjectKey, CatalogError> {
    let text = format!(
        "{}{version}-{}.json",
        body_prefix_text(name.as_str()),
        unique_hex()
    );
    ObjectKey::parse(&text).map_err(|e| StoreError::invalid_key(&text, e).into())
}

/// The dataset and version a body key names, `_catalog/{name}/{version}-{hex}.json`.
pub(crate) fn parse_body_key(key: &str) -> Option<(DatasetName, u64)> {
    let rest = key.strip_prefix(CATALOG_PREFIX)?;
    let (name, file) = rest.split_once('/')?;
    let (version, tail) = file.strip_suffix(".json")?.split_once('-')?;
    if tail.is_empty() || !tail.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((name.parse().ok()?, version.parse().ok()?))
}

/// 16 hex digits that differ between calls (time, process, counter).
fn unique_hex() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mixed = nanos.rotate_left(17)
        ^ (u64::from(std::process::id()) << 44)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{mixed:016x}")
}

fn corrupt(key: &ObjectKey, reason: String) -> CatalogError {
    CatalogError::Corrupt {
        key: key.to_string(),
        reason,
    }
}

/// Decodes what is stored at `key` (the manifest key of `name`): a pointer, or the manifest
/// itself (which must name `name`).
pub(crate) fn parse(
    key: &ObjectKey,
    name: &DatasetName,
    bytes: &[u8],
) -> Result<Stored, CatalogError> {
    // A manifest fails this at its third field ("mode"), so the attempt costs nothing.
    if let Ok(pointer) = serde_json::from_slice::<Pointer>(bytes) {
        if &pointer.name != name {
            return Err(corrupt(
                key,
                format!("its pointer names dataset {:?}", pointer.name.as_str()),
            ));
        }
        if !pointer.key.starts_with(&body_prefix_text(name.as_str())) {
            return Err(corrupt(
                key,
                format!(
                    "its pointer names {:?}, outside {}",
                    pointer.key,
                    body_prefix_text(name.as_str())
                ),
            ));
        }
        return Ok(Stored::Pointer(pointer));
    }
    crate::catalog::decode(key, name, bytes).map(Stored::Inline)
}

/// The object at `key` and its etag; `None` when missing.
async fn get_with_etag(
    store: &dyn Store,
    key: &ObjectKey,
) -> Result<Option<(bytes::Bytes, String)>, CatalogError> {
    use futures::TryStreamExt;
    let object = match store.get(key).await {
        Ok(object) => object,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let etag = object.meta.etag.clone().ok_or_else(|| {
        StoreError::Internal(format!("{} gave no etag for {key}", store.describe()))
    })?;
    let chunks: Vec<bytes::Bytes> = object.body.try_collect().await?;
    Ok(Some((chunks.concat().into(), etag)))
}

/// What `_catalog/{name}.json` holds, undecoded-tolerant: `None` when missing, `Err` when it
/// cannot be read (store errors) — a corrupt object is `Ok(Some(Err(..)))`.
pub(crate) async fn read_stored(
    store: &dyn Store,
    name: &DatasetName,
) -> Result<Option<(Result<Stored, CatalogError>, String)>, CatalogError> {
    let key = manifest_key(name)?;
    Ok(get_with_etag(store, &key)
        .await?
        .map(|(bytes, etag)| (parse(&key, name, &bytes), etag)))
}

/// Reads `name`'s manifest, following a pointer to its body; `None` when there is none. A
/// body that is gone (a newer commit replaced the pointer and removed it) makes the pointer
/// be read again, up to [`BODY_READS`] times; a body whose length, SHA-256, name or version
/// differ from the pointer's is corrupt.
pub(crate) async fn read_manifest(
    store: &dyn Store,
    name: &DatasetName,
) -> Result<Option<Current>, CatalogError> {
    let key = manifest_key(name)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Some((stored, etag)) = read_stored(store, name).await? else {
            return Ok(None);
        };
        let pointer = match stored? {
            Stored::Inline(manifest) => {
                return Ok(Some(Current {
                    manifest,
                    etag,
                    body: None,
                }));
            }
            Stored::Pointer(pointer) => pointer,
        };
        let body_key = ObjectKey::parse(&pointer.key)
            .map_err(|e| corrupt(&key, format!("its pointer names {:?}: {e}", pointer.key)))?;
        let bytes = match store.get_bytes(&body_key).await {
            Ok(bytes) => bytes,
            Err(StoreError::NotFound { .. }) if attempt < BODY_READS => {
                tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
                continue;
            }
            Err(StoreError::NotFound { .. }) => {
                return Err(corrupt(
                    &key,
                    format!("the manifest body it points to, {body_key}, is missing"),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let manifest = check_body(&key, name, &pointer, &body_key, &bytes)?;
        return Ok(Some(Current {
            manifest,
            etag,
            body: Some(body_key),
        }));
    }
}

fn check_body(
    key: &ObjectKey,
    name: &DatasetName,
    pointer: &Pointer,
    body_key: &ObjectKey,
    bytes: &[u8],
) -> Result<Manifest, CatalogError> {
    if bytes.len() as u64 != pointer.bytes {
        return Err(corrupt(
            key,
            format!(
                "its body {body_key} is {} bytes, the pointer says {}",
                bytes.len(),
                pointer.bytes
            ),
        ));
    }
    let sha = sha256_hex(bytes);
    if !sha.eq_ignore_ascii_case(&pointer.sha256) {
        return Err(corrupt(
            key,
            format!(
                "its body {body_key} has SHA-256 {sha}, the pointer says {}",
                pointer.sha256
            ),
        ));
    }
    let manifest = crate::catalog::decode(body_key, name, bytes)?;
    if manifest.current.version != pointer.version {
        return Err(corrupt(
            key,
            format!(
                "its body {body_key} holds version {}, the pointer says {}",
                manifest.current.version, pointer.version
            ),
        ));
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_keys_parse_back_and_are_unique() {
        let name: DatasetName = "sales".parse().unwrap();
        let a = new_body_key(&name, 12).unwrap();
        let b = new_body_key(&name, 12).unwrap();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("_catalog/sales/12-"), "{a}");
        assert_eq!(parse_body_key(a.as_str()), Some((name, 12)));
        assert_eq!(parse_body_key("_catalog/sales.json"), None);
        assert_eq!(parse_body_key("_catalog/sales/x.json"), None);
    }

    #[test]
    fn a_pointer_is_not_a_manifest_and_back() {
        let pointer = Pointer {
            name: "t".parse().unwrap(),
            version: 3,
            key: "_catalog/t/3-00ff.json".into(),
            bytes: 10,
            sha256: "ab".repeat(32),
        };
        let text = serde_json::to_vec(&pointer).unwrap();
        assert!(serde_json::from_slice::<Manifest>(&text).is_err());
        let key = ObjectKey::parse("_catalog/t.json").unwrap();
        let name: DatasetName = "t".parse().unwrap();
        assert!(matches!(parse(&key, &name, &text), Ok(Stored::Pointer(p)) if p == pointer));
        let other: DatasetName = "u".parse().unwrap();
        assert!(matches!(
            parse(&key, &other, &text),
            Err(CatalogError::Corrupt { .. })
        ));
    }
}
