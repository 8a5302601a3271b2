//! vectord: k-nearest-neighbour search over HNSW vector indexes.
//!
//! - [`Vectors`]: every index of the process — [`Vectors::open`] (persisted in a
//!   [`storaged::Store`] under `_vectors/`) or [`Vectors::in_memory`]; create, list,
//!   delete, add (upsert by id), delete items, search, [`Vectors::flush`].
//! - [`http::router`]: the `/v1/vectors` HTTP API (docs/api.md).
//! - [`Index`]: one index's items over its graph ([`hnsw`] is the graph itself: our own
//!   HNSW over SIMD distance kernels, [`distance`]); searches never take a lock that a
//!   write holds for longer than an `Arc` clone.
//! - [`format`]: the bytes in the store — `LHV1` snapshots and `LHVW` write-ahead log
//!   records — with readers that never panic (fuzzed: `fuzz/`).
//!
//! Durability: an add or delete is acknowledged only once its log record is in the store;
//! snapshots are coalesced per index in the background and never block searches (see
//! [`maintain`] and docs/formats.md).

pub mod config;
pub mod distance;
pub mod error;
pub mod filter;
pub mod format;
mod handle;
pub mod hnsw;
pub mod http;
pub mod index;
pub mod maintain;
pub mod name;
pub mod params;
pub mod persist;
mod pool;
mod registry;
#[cfg(test)]
mod testdata;
pub mod validate;

pub use distance::Metric;
pub use error::VectorError;
pub use filter::Filter;
pub use index::{Hit, Index};
pub use maintain::SavePolicy;
pub use name::IndexName;
pub use params::IndexParams;
pub use registry::{Added, IndexInfo, IndexSummary, Vectors};
pub use validate::{
    AddRequest, CreateRequest, PreparedItem, Query, RawItem, RawVector, SearchRequest,
};
