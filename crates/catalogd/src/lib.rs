//! catalogd: dataset manifests.
//!
//! - [`DatasetName`]: a validated dataset name (a SQL table name; rules in [`name`]).
//! - [`Manifest`], [`Version`], [`Commit`]: the manifest format, stored as JSON at
//!   `_catalog/{name}.json` (docs/formats.md; past 1 MiB as a pointer there and a body
//!   object, module `stored`), and what a writer asks the catalog to record.
//! - [`Catalog`]: the seam other services depend on, with [`StoreCatalog`] (in-process, over
//!   a [`storaged::Store`]) and [`CatalogClient`] (HTTP, against a catalogd process).
//! - [`sweep_unreferenced`]: collects data files no manifest references.
//! - [`http::router`]: the `/v1/datasets` HTTP API (docs/api.md), the same in standalone and
//!   split deployments.
//!
//! The commit protocol: data files first, then one conditional PUT of the manifest, which is
//! the commit; files that fall out of the keep window are deleted after it.

pub mod catalog;
pub mod client;
mod commit;
pub mod config;
pub mod delta;
pub mod error;
/// The commit rules without a store, for the fuzz targets (`fuzz/`); not an API.
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod lease;
pub mod manifest;
pub mod name;
mod stored;
mod sweep;
mod table_view;

pub use catalog::{Catalog, NameLocks, POINTER_THRESHOLD, StoreCatalog, data_prefix, manifest_key};
pub use client::CatalogClient;
pub use commit::MAX_IDEMPOTENCY_KEY;
pub use delta::{DeltaCatalog, Migrated};
pub use error::CatalogError;
pub use manifest::{
    ColumnType, Commit, CommitMode, Committed, DataFile, Field, FileStats, Head,
    MAX_VECTOR_DIMENSIONS, Manifest, Schema, Version,
};
pub use name::DatasetName;
pub use sweep::{sweep_unreferenced, sweep_unreferenced_with_ttl};
