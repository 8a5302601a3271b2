//! Entry points for the fuzz targets (`fuzz/` at the repository root), compiled only with
//! the `fuzzing` feature. Not an API.
//!
//! The PostgreSQL front end's decoders are private to `pg` (declared in `pg/mod.rs`).
//! Rather than widen `pg`'s interface for the fuzzer, the files that parse a client's
//! bytes are compiled a second time here, unchanged: bind parameters (`params.rs`, with
//! the binary `numeric` of `numeric.rs` and the errors of `error.rs`), the per-parameter
//! formats (`types.rs`), the statement splitter of the simple protocol (`statements.rs`) and
//! the statements answered without the engine (`compat.rs`). Fuzz builds only; should one
//! of them come to need another `pg` module, the fuzz build fails until it joins the list.

#[path = "pg/compat.rs"]
pub mod compat;
#[path = "pg/error.rs"]
mod error;
#[path = "pg/numeric.rs"]
pub mod numeric;
#[path = "pg/params.rs"]
pub mod params;
#[path = "pg/statements.rs"]
pub mod statements;
#[path = "pg/types.rs"]
pub mod types;
