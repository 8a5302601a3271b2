//! ingestd: CSV (or Parquet) in, a new version of a Parquet dataset out.
//!
//! - [`ingest::Ingestor`]: one ingest end to end — the body streamed through a converter
//!   thread ([`csv`]: tokenize, sniff, type) and an encoder thread ([`parts`]: Parquet +
//!   zstd, each part streamed into the store), then one catalog commit. Memory is bounded
//!   whatever the body's size.
//! - [`http::router`]: `POST /v1/ingest/{name}` (docs/api.md).
//!
//! Invariants: nothing is registered unless the whole body converted; a value that breaks
//! its column's type fails the ingest with its line, column, expected type and value; data
//! files are written before the commit, under keys unique to the ingest.

pub mod body;
pub mod csv;
mod csv_in;
mod encode;
pub mod error;
/// The converter without a store, for the fuzz targets (`fuzz/`); not an API.
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod ingest;
pub mod lease;
pub mod parquet_in;
pub mod parts;
pub mod schema;
mod upload;

pub use error::IngestError;
pub use ingest::{Format, IngestOutcome, IngestRequest, Ingestor};
pub use lease::LeaseTiming;
