//! A Parquet ingest body: ingestd's converter (the body spooled to a temporary file, the
//! footer and every page decoded, each column cast to its dataset type) on arbitrary bytes.
//!
//! - A file that converts gives exactly the columns its Arrow schema maps to and every row
//!   its row groups declare, in batches of the schema it announced, then `End`; a file
//!   that does not is an error, never a panic, and `End` is not sent.
//! - Appending a file to a dataset whose schema is the file's own is never refused for
//!   its schema.
//! - A footer declaring more list or map elements than it has bytes, or giving a field of
//!   the format another type, is refused before the reader reads it (and the target does
//!   not read it either).
//!
//! Input: one control byte (append or not, a column limit, a byte limit), then the file.

#![no_main]

use std::io::Cursor;

use bytes::Bytes;
use catalogd::{CatalogError, ColumnType};
use datafusion::arrow::datatypes::DataType;
use ingestd::body::BodyLimits;
use ingestd::schema::{arrow_schema, column_type_of, is_float, manifest_schema};
use ingestd::{Format, IngestError};
use lakehouse_fuzz::{allowing_caught_panics, assert_sent_in_order, caught};
use libfuzzer_sys::fuzz_target;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// A list of floats: a vector of the length its values have, which its type does not say.
const ANY_VECTOR: ColumnType = ColumnType::Vector(0);

/// The column type a file's column declares, as far as its type says.
fn declared_type(data_type: &DataType) -> Option<ColumnType> {
    match data_type {
        DataType::List(item) | DataType::LargeList(item) if is_float(item.data_type()) => {
            Some(ANY_VECTOR)
        }
        other => column_type_of(other),
    }
}

fuzz_target!(|data: &[u8]| {
    let [control, file @ ..] = data else {
        return;
    };
    if ingestd::fuzzing::parquet_footer_refused(file) {
        // The converter refuses it before the reader reads it; reading it here would cost
        // what the refusal saves.
        let (result, _) = ingestd::fuzzing::convert(
            Cursor::new(file.to_vec()),
            &Format::Parquet,
            false,
            BodyLimits::default(),
            4096,
            None,
        );
        assert!(
            matches!(result, Err(IngestError::BadParquet(_))),
            "{result:?}"
        );
        return;
    }
    let max_columns = if control & 0x0f == 0 {
        4096
    } else {
        usize::from(control & 0x0f)
    };
    let limits = BodyLimits {
        max_bytes: if control & 0x10 != 0 { 1024 } else { 0 },
        max_gzip_ratio: 0,
    };

    // What the footer declares: the columns each maps to and the rows of its row groups.
    // (The parquet crate, and arrow-ipc for the embedded Arrow schema, may panic on a
    // corrupt footer: then the converter must refuse the file.)
    let reference =
        caught(|| ParquetRecordBatchReaderBuilder::try_new(Bytes::copy_from_slice(file)));
    let reader_panicked = reference.is_err();
    let declared = reference.ok().and_then(Result::ok).map(|builder| {
        let columns: Option<Vec<_>> = builder
            .schema()
            .fields()
            .iter()
            .map(|f| declared_type(f.data_type()).map(|ty| (f.name().clone(), ty)))
            .collect();
        let rows: i64 = builder
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .sum();
        (columns, rows)
    });
    let append_to = match (&declared, control & 0x20 != 0) {
        (Some((Some(columns), _)), true) if !columns.iter().any(|(_, t)| *t == ANY_VECTOR) => {
            Some(("t".to_string(), manifest_schema(columns)))
        }
        _ => None,
    };
    let appending = append_to.is_some();

    // (ingestd turns the reader's panics into errors; any other panic is still a crash.)
    let (result, sent) = allowing_caught_panics(|| {
        ingestd::fuzzing::convert(
            Cursor::new(file.to_vec()),
            &Format::Parquet,
            false,
            limits,
            max_columns,
            append_to,
        )
    });
    assert_sent_in_order(&result, &sent);
    match result {
        Ok(columns) => {
            assert!(!file.is_empty());
            assert!(limits.max_bytes == 0 || file.len() as u64 <= limits.max_bytes);
            assert!(columns.len() <= max_columns, "past max_columns");
            let Some((Some(want), rows)) = declared else {
                panic!("converted a file whose footer does not read: {columns:?}");
            };
            assert_eq!(columns.len(), want.len(), "other columns than the file's");
            for ((name, ty), (want_name, want_ty)) in columns.iter().zip(&want) {
                assert_eq!(name, want_name, "other columns than the file's");
                assert!(
                    ty == want_ty || (*want_ty == ANY_VECTOR && ty.dimensions().is_some()),
                    "column {name:?}: {ty} where the file declares {want_ty}"
                );
            }
            assert_eq!(sent.schemas.last(), Some(&arrow_schema(&columns)));
            assert_eq!(sent.schemas.len(), 1);
            assert_eq!(
                i64::try_from(sent.rows).ok(),
                Some(rows),
                "rows read differ from the rows the row groups declare"
            );
        }
        Err(IngestError::Catalog(CatalogError::SchemaMismatch { differences, .. })) => {
            panic!("appending={appending}: refused for its schema: {differences:?}");
        }
        Err(IngestError::EmptyBody) => assert!(file.is_empty()),
        Err(IngestError::TooLarge { limit }) => {
            assert!(limit == limits.max_bytes && file.len() as u64 > limit);
        }
        Err(IngestError::BadParquet(_)) => {
            // (Also a footer or page header that would cost the reader unbounded CPU,
            // which the reader itself might have accepted after long enough.)
            assert!(!file.is_empty());
            assert!(limits.max_bytes == 0 || file.len() as u64 <= limits.max_bytes);
        }
        Err(IngestError::TooManyColumns { .. } | IngestError::UnsupportedColumn { .. }) => {
            assert!(
                !reader_panicked,
                "a file the reader panics on got as far as its columns"
            );
            assert!(!file.is_empty());
            assert!(limits.max_bytes == 0 || file.len() as u64 <= limits.max_bytes);
        }
        Err(e) => panic!("an unexpected error for a Parquet body: {e:?}"),
    }
});
