//! queryd: SQL over the catalog's datasets (docs/api.md).
//!
//! - [`QueryEngine`] (engine.rs): SQL → read-only check → DataFusion plan → a stream of
//!   record batches, under a per-query timeout and memory limit.
//! - tables.rs: every catalog dataset is a table, resolved at planning time from its
//!   manifest (`"name@vN"` for a kept older version).
//! - [`http::router`]: `POST /v1/sql`, results streamed as JSON, NDJSON, CSV or Arrow IPC.
//! - [`pg`]: the PostgreSQL wire protocol on `[queryd] pg_bind`.

mod ast;
pub mod config;
pub mod dialect;
pub mod engine;
pub mod error;
mod float_wins;
pub mod format;
/// The PostgreSQL decoders for the fuzz targets (`fuzz/`); not an API. It compiles some of
/// `pg`'s files a second time (see the module), hence the allowances.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
#[allow(dead_code, clippy::duplicate_mod)]
pub mod fuzzing;
pub mod http;
pub mod pg;
pub mod readonly;
mod scientific;
mod skipping;
pub mod tables;
pub mod vector;
pub mod vector_search;

pub use engine::{Query, QueryEngine, QueryOptions, ResultStream};
pub use error::QueryError;
