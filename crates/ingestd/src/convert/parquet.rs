//! A Parquet body (`Content-Type: application/vnd.apache.parquet`): spooled to a temporary
//! file (a Parquet footer is at the end, so it cannot be read as it streams), then read
//! batch by batch, every page decoded — a corrupt file is refused before anything is
//! registered — and rewritten as the dataset's parts with its column types (see
//! [`crate::schema::column_type_of`]). Memory stays bounded by a row group, whatever the
//! file's size. A file the reader panics on is refused like any unreadable one.

use std::io::{Seek, Write};

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use catalogd::ColumnType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::body::{BodyReader, BodyState};
use crate::convert::csv::body_error;
use crate::convert::csv::sniff::Layout;
use crate::error::IngestError;
use crate::ingest::{Message, ToEncoder, conform, send};
use crate::schema::{arrow_schema, column_type_of};

pub(crate) fn convert_parquet(
    reader: &mut BodyReader,
    state: &BodyState,
    append_to: Option<(String, catalogd::Schema)>,
    tx: &ToEncoder,
) -> Result<Vec<(String, ColumnType)>, IngestError> {
    let mut spool = tempfile::tempfile()
        .map_err(|e| IngestError::Internal(format!("creating a temporary file: {e}")))?;
    let copied = std::io::copy(reader, &mut spool).map_err(|e| body_error(state, e))?;
    if copied == 0 {
        return Err(IngestError::EmptyBody);
    }
    spool
        .flush()
        .and_then(|_| spool.rewind())
        .map_err(|e| IngestError::Internal(format!("temporary file: {e}")))?;
    let bad = |e: parquet::errors::ParquetError| IngestError::BadParquet(e.to_string());
    let builder = reading(|| ParquetRecordBatchReaderBuilder::try_new(spool))?
        .map_err(bad)?
        .with_batch_size(32_768);
    let mut columns = Vec::new();
    for field in builder.schema().fields() {
        let ty =
            column_type_of(field.data_type()).ok_or_else(|| IngestError::UnsupportedColumn {
                column: field.name().clone(),
                data_type: field.data_type().to_string(),
            })?;
        columns.push((field.name().clone(), ty));
    }
    let layout = Layout {
        delimiter: b',',
        header: true,
        columns,
    };
    let layout = match &append_to {
        // Types must match too: casting to the dataset's type could truncate (1.5 -> 1).
        Some((name, schema)) => conform(layout, name, schema, true)?,
        None => layout,
    };
    let schema = arrow_schema(&layout.columns);
    send(tx, Message::Schema(schema.clone()))?;
    let mut batches = reading(|| builder.build())?.map_err(bad)?;
    while let Some(batch) = reading(|| batches.next())? {
        let batch = batch.map_err(|e| IngestError::BadParquet(e.to_string()))?;
        send(tx, Message::Batch(cast(&batch, &schema)?))?;
    }
    send(tx, Message::End)?;
    Ok(layout.columns)
}

/// A call into the Parquet reader, which on some corrupt files panics rather than returning
/// an error (arrow-ipc, decoding the file's embedded Arrow schema, on a type code it does
/// not know): such a file is as unreadable as any other, a 400, not a converter thread
/// that died (a 500).
fn reading<T>(call: impl FnOnce() -> T) -> Result<T, IngestError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        IngestError::BadParquet(format!("the Parquet reader failed on it: {message}"))
    })
}

/// Casts every column to the dataset's Arrow type (safe casts: a value that does not fit
/// is an error, not a null).
fn cast(batch: &RecordBatch, schema: &arrow_schema::SchemaRef) -> Result<RecordBatch, IngestError> {
    let options = arrow_cast::CastOptions {
        safe: false,
        ..Default::default()
    };
    let mut arrays = Vec::with_capacity(batch.num_columns());
    for (array, field) in batch.columns().iter().zip(schema.fields()) {
        // A zoned timestamp keeps its instant: arrow's cast to a zone-less type would shift
        // it to the zone's wall-clock time.
        let unzoned;
        let array = match array.data_type() {
            DataType::Timestamp(_, Some(tz)) => {
                let micros = arrow_cast::cast_with_options(
                    array,
                    &DataType::Timestamp(TimeUnit::Microsecond, Some(tz.clone())),
                    &options,
                )
                .map_err(|e| IngestError::BadParquet(format!("column {:?}: {e}", field.name())))?;
                unzoned = Arc::new(
                    micros
                        .as_primitive::<TimestampMicrosecondType>()
                        .clone()
                        .with_timezone_opt(None::<String>),
                ) as ArrayRef;
                &unzoned
            }
            _ => array,
        };
        let cast = arrow_cast::cast_with_options(array, field.data_type(), &options)
            .map_err(|e| IngestError::BadParquet(format!("column {:?}: {e}", field.name())))?;
        arrays.push(cast);
    }
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| IngestError::BadParquet(e.to_string()))
}

#[cfg(test)]
mod tests {
    use crate::body::BodyLimits;
    use crate::error::IngestError;
    use crate::ingest::Format;

    #[test]
    fn an_embedded_arrow_schema_that_does_not_decode_is_a_bad_file() {
        // Found by the parquet_ingest fuzz target (minimised): the footer's ARROW:schema
        // gives a float column a precision that does not exist, and arrow-ipc panics on it
        // while the parquet crate reads the footer. The converter thread died; the upload
        // was answered 500 internal_error rather than 400 bad_parquet.
        let file = include_bytes!("../../testdata/unknown_float_precision.parquet");
        let (result, sent) = crate::fuzzing::convert(
            std::io::Cursor::new(file.to_vec()),
            &Format::Parquet,
            false,
            BodyLimits::default(),
            4096,
            None,
        );
        match result {
            Err(IngestError::BadParquet(reason)) => {
                assert!(reason.contains("FloatingPoint"), "{reason}");
            }
            other => panic!("expected bad_parquet, got {other:?}"),
        }
        assert!(!sent.ended && sent.schemas.is_empty());
    }
}
