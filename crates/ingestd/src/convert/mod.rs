//! Stage 2 of an ingest: the body's bytes to typed Arrow batches, on the converter thread,
//! sent to the encoder in order ([`crate::ingest::Message`]): a schema, batches of it, and
//! an end only when the whole body converted.
//!
//! - [`csv`]: the tokenizer, the sniffer (delimiter, header, names, types) and the typed
//!   conversion of one pass over a CSV body;
//! - [`widen`]: the CSV converter of an ingest, which with `widen=true` widens a column
//!   instead of failing on a value that breaks its inferred type (another pass);
//! - [`parquet`]: a Parquet body, every page decoded and cast to the dataset's types.

pub mod csv;
pub mod parquet;
mod widen;

use catalogd::ColumnType;

use crate::body::{BodyReader, BodyState};
use crate::error::IngestError;
use crate::ingest::{Format, ToEncoder};

/// Converts the body `reader` reads in `format`; on an append, to the dataset's
/// `append_to` schema. The columns of the parts, or why the body did not convert.
pub(crate) fn convert(
    reader: &mut BodyReader,
    state: &BodyState,
    format: &Format,
    append_to: Option<crate::ingest::AppendTo>,
    tx: &ToEncoder,
) -> Result<Vec<(String, ColumnType)>, IngestError> {
    match format {
        Format::Csv(options) => widen::convert_csv(reader, state, options, append_to, tx),
        Format::Parquet => parquet::convert_parquet(reader, state, append_to, tx),
    }
}
