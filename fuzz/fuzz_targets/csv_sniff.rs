//! ingestd's sniffer and typed conversion on arbitrary CSV bytes, then the whole CSV
//! ingest converter (body reader, sample, sniff, tokenizer, conversion, `widen`) as an
//! ingest runs it, compared with each other:
//!
//! - the layout names every column of the first record, uniquely;
//! - a type inferred from the sample never refuses a value of that sample (only text that
//!   is not UTF-8 may fail, in a utf8 column);
//! - the converter answers what the parts answer: the same columns and row count, or the
//!   same error (a type error is widened away with `widen=true`, and the widened types
//!   only ever widen); it sends the encoder one schema per pass, batches of that schema,
//!   and `End` only on success;
//! - nothing panics.
//!
//! Input: four control bytes (options, null text, schema option types, read chunk), then
//! the CSV.

#![no_main]

use catalogd::ColumnType;
use ingestd::body::BodyLimits;
use ingestd::convert::csv::convert::{TypeError, to_batch};
use ingestd::convert::csv::sniff::{CsvOptions, DELIMITERS, SAMPLE_ROWS, SniffError, sniff};
use ingestd::convert::csv::tokenizer::{BatchLimits, CsvError, Rows, Tokenizer};
use ingestd::schema::arrow_schema;
use ingestd::{Format, IngestError};
use lakehouse_fuzz::{Chunked, assert_sent_in_order};
use libfuzzer_sys::fuzz_target;

const BOM: &[u8] = b"\xEF\xBB\xBF";
const NULLS: [Option<&str>; 4] = [None, Some("NA"), Some("null"), Some("\\N")];
/// The types a `schema` option names: every scalar type and a vector.
const SCHEMA_TYPES: [ColumnType; 7] = [
    ColumnType::Int64,
    ColumnType::Float64,
    ColumnType::Boolean,
    ColumnType::Date,
    ColumnType::Timestamp,
    ColumnType::Utf8,
    ColumnType::Vector(2),
];

/// What converting the body should give, worked out from the parts.
#[derive(Debug)]
enum Expected {
    /// Columns and data rows.
    Rows(Vec<(String, ColumnType)>, u64),
    /// An error that is not about types: the converter must give exactly it.
    Error(IngestError),
    /// The first value that breaks its column's type.
    Type(Vec<(String, ColumnType)>, TypeError),
}

/// `wider` is `narrow` or a type `widen=true` may turn it into.
fn widens_to(narrow: ColumnType, wider: ColumnType) -> bool {
    use ColumnType::*;
    narrow == wider
        || wider == Utf8
        || matches!((narrow, wider), (Int64, Float64) | (Date, Timestamp))
}

fn expected(body: &[u8], options: &CsvOptions, max_columns: usize) -> Expected {
    let layout = match sniff(body, true, options) {
        Ok(layout) => layout,
        Err(SniffError::Empty) => return Expected::Error(IngestError::EmptyBody),
        Err(SniffError::Csv(CsvError::Malformed { line, message })) => {
            return Expected::Error(IngestError::Malformed { line, message });
        }
        Err(SniffError::Csv(e)) => panic!("the sniffer's reader gave {e:?}"),
        Err(e @ SniffError::SchemaWidth { .. }) => {
            return Expected::Error(IngestError::InvalidOption(e.to_string()));
        }
    };
    let columns = layout.columns.clone();
    assert!(!columns.is_empty(), "a layout without columns");
    if options.schema.is_none() {
        let mut names: Vec<&str> = columns.iter().map(|c| c.0.as_str()).collect();
        assert!(
            names.iter().all(|n| !n.is_empty()),
            "an empty column name: {names:?}"
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            columns.len(),
            "column names repeat: {columns:?}"
        );
    }
    if columns.len() > max_columns {
        return Expected::Error(IngestError::TooManyColumns {
            columns: columns.len(),
            limit: max_columns,
        });
    }
    // Every record at once, as one batch (the body is far below a batch's limits).
    let mut tokenizer = Tokenizer::with_capacity(body, layout.delimiter, body.len() + 1);
    tokenizer.expect_fields(columns.len());
    let mut rows = Rows::default();
    let all = BatchLimits {
        rows: usize::MAX,
        bytes: usize::MAX,
    };
    match tokenizer.read_rows(&mut rows, all) {
        Ok(_) => {}
        Err(CsvError::Malformed { line, message }) => {
            return Expected::Error(IngestError::Malformed { line, message });
        }
        Err(CsvError::Ragged {
            line,
            found,
            expected,
        }) => {
            return Expected::Error(IngestError::Ragged {
                line,
                found,
                expected,
            });
        }
        Err(e @ CsvError::Io(_)) => panic!("reading a slice failed: {e}"),
    }
    let records = rows.len();
    let skip = usize::from(layout.header);
    let null = options.null.as_deref().map(str::as_bytes);
    match to_batch(&rows, skip, &columns, &arrow_schema(&columns), null) {
        Ok(batch) => {
            assert_eq!(batch.num_rows(), records.saturating_sub(skip));
            Expected::Rows(columns, batch.num_rows() as u64)
        }
        Err(e) => {
            // Inferred types hold for every value of the sample they were inferred from.
            if options.schema.is_none() && records <= SAMPLE_ROWS + 1 {
                assert_eq!(
                    e.expected, "UTF-8 text",
                    "an inferred type refuses a value of its own sample: {e}"
                );
            }
            Expected::Type(columns, e)
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, null, types, chunk, csv @ ..] = data else {
        return;
    };
    let width = 1 + usize::from(types % 4);
    let options = CsvOptions {
        delimiter: (flags & 0x04 != 0).then_some(DELIMITERS[usize::from(flags & 0x03)]),
        header: match (flags >> 3) & 0x03 {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        },
        null: NULLS[usize::from(null % 4)].map(str::to_string),
        schema: (flags & 0x20 != 0).then(|| {
            (0..width)
                .map(|i| {
                    let ty = SCHEMA_TYPES[usize::from(types >> (2 + i)) % SCHEMA_TYPES.len()];
                    (format!("c{i}"), ty)
                })
                .collect()
        }),
        widen: flags & 0x40 != 0,
    };
    let max_columns = if flags & 0x80 != 0 {
        1 + usize::from(null >> 4)
    } else {
        ingestd::ingest::DEFAULT_MAX_COLUMNS
    };
    // The body reader drops one leading BOM before the converter sees the text.
    let body = csv.strip_prefix(BOM).unwrap_or(csv);
    let expected = expected(body, &options, max_columns);

    let (result, sent) = ingestd::fuzzing::convert(
        Chunked::new(csv, 1 + usize::from(*chunk)),
        &Format::Csv(options.clone()),
        false,
        BodyLimits::default(),
        max_columns,
        None,
    );
    assert_sent_in_order(&result, &sent);
    if let Ok(columns) = &result {
        assert_eq!(sent.schemas.last(), Some(&arrow_schema(columns)));
    }
    match (expected, result) {
        (Expected::Rows(columns, rows), Ok(got)) => {
            assert_eq!(got, columns, "other columns than the sniffer's");
            assert_eq!(sent.rows, rows, "another row count");
            assert_eq!(sent.schemas.len(), 1, "a restart without a type error");
        }
        (Expected::Error(want), Err(got)) => {
            assert_eq!(got.to_string(), want.to_string(), "another error");
        }
        (Expected::Type(_, want), Err(IngestError::Type(got))) if !options.widen => {
            assert_eq!(got, want, "another type error");
        }
        (Expected::Type(columns, _), Ok(got)) if options.widen => {
            assert_eq!(got.len(), columns.len());
            for ((name, narrow), (got_name, wider)) in columns.iter().zip(&got) {
                assert_eq!(name, got_name);
                assert!(
                    widens_to(*narrow, *wider),
                    "{name}: {narrow} became {wider}"
                );
            }
            assert!(sent.schemas.len() > 1, "widened without a restart");
        }
        (Expected::Type(..), Err(IngestError::Type(got))) if options.widen => {
            // Only text that is not UTF-8 survives widening to utf8.
            assert_eq!(got.expected, "UTF-8 text", "widening stopped at {got}");
        }
        (want, got) => panic!("expected {want:?}, the converter gave {got:?}"),
    }
});
