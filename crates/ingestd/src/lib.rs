//! ingestd: CSV (or Parquet) in, a new version of a Parquet dataset out.
//!
//! [`ingest::Ingestor`] runs one ingest end to end, through modules that follow its
//! pipeline (docs/architecture.md, "Ingest pipeline"):
//!
//! 1. [`body`]: the request body — hashed as sent, counted against the limits, gunzipped;
//! 2. [`convert`]: bytes to typed Arrow batches on a converter thread — [`convert::csv`]
//!    (tokenize, sniff, type; widening on a type error) or [`convert::parquet`], with the
//!    dataset's types ([`schema`]) on an append;
//! 3. [`write`]: batches to Parquet parts — row groups encoded in parallel (zstd), each part
//!    streamed into the store as it is encoded;
//! 4. the commit: one catalog commit of the parts, under the ingest's [`lease`] (which
//!    spares its parts from the sweep until then).
//!
//! [`http::router`] serves `POST /v1/ingest/{name}` (docs/api.md). Memory is bounded
//! whatever the body's size.
//!
//! Invariants: nothing is registered unless the whole body converted; a value that breaks
//! its column's type fails the ingest with its line, column, expected type and value; data
//! files are written before the commit, under keys unique to the ingest.

pub mod body;
pub mod config;
pub mod convert;
pub mod error;
/// The converter without a store, for the fuzz targets (`fuzz/`); not an API.
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod ingest;
pub mod lease;
pub mod schema;
pub mod write;

pub use error::IngestError;
pub use ingest::{Format, IngestOutcome, IngestRequest, Ingestor};
pub use lease::LeaseTiming;
