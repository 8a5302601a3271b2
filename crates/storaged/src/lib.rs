//! storaged: objects by key.
//!
//! - [`ObjectKey`] / [`KeyPrefix`]: validated keys (rules in [`key`]).
//! - [`Store`]: the seam other services depend on, with [`ObjectStoreBackend`] (in-process,
//!   over `object_store`: a local directory with durable writes, or S3) and [`StoreClient`]
//!   (HTTP, against a storaged process).
//! - [`StoreObjects`]: the other way round, an `object_store::ObjectStore` over any
//!   [`Store`], for libraries that read through `object_store` (DataFusion's scans).
//! - [`http::router`]: the `/v1/storage` HTTP API (docs/api.md), the same in standalone and
//!   split deployments.

mod adapter;
pub mod backend;
pub mod client;
pub mod config;
pub mod dirlock;
pub mod error;
/// The URI parsers of the HTTP API without a server, for the fuzz targets (`fuzz/`); not an
/// API.
#[doc(hidden)]
pub mod fuzzing;
pub mod health;
pub mod http;
pub mod key;
mod local;
mod s3;
pub mod store;

pub use adapter::StoreObjects;
pub use backend::ObjectStoreBackend;
pub use client::StoreClient;
pub use dirlock::DataDirLock;
pub use error::StoreError;
pub use health::StoreHealth;
pub use key::{KeyPrefix, ObjectKey};
pub use store::{ByteStream, GetObject, ObjectMeta, ObjectRange, PutMode, Store, StoreExt};
