//! CSV → Arrow record batches, streaming: [`tokenizer`] splits records, [`sniff`] decides
//! the layout from a leading sample, [`convert`] builds typed batches and reports the first
//! value that breaks its column's type.

pub mod convert;
pub mod sniff;
pub mod tokenizer;
pub mod value;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::body::{BodyFailure, BodyState};
use crate::error::IngestError;
use sniff::{CsvOptions, Layout, SniffError};
use tokenizer::{BatchLimits, CsvError, Rows, Tokenizer};

/// Bytes read before deciding the layout; grown (up to [`MAX_SAMPLE_BYTES`]) until it holds
/// two records, for files with very wide rows.
const SAMPLE_BYTES: usize = 1 << 20;
const MAX_SAMPLE_BYTES: usize = 64 << 20;
const BATCH: BatchLimits = BatchLimits {
    rows: 32_768,
    bytes: 8 << 20,
};

/// Reads the whole CSV from `reader`: `decide` turns the sniffed layout into the columns to
/// write (it may refuse, e.g. an append whose header does not match the dataset), then
/// every batch goes to `emit`. Returns the number of data rows.
pub fn convert_csv(
    reader: &mut impl std::io::Read,
    state: &BodyState,
    options: &CsvOptions,
    decide: impl FnOnce(Layout) -> Result<(Layout, SchemaRef), IngestError>,
    mut emit: impl FnMut(RecordBatch) -> Result<(), IngestError>,
) -> Result<u64, IngestError> {
    let (sample, whole) = read_sample(reader, options).map_err(|e| body_error(state, e))?;
    let layout = match sniff::sniff(&sample, whole, options) {
        Ok(layout) => layout,
        Err(SniffError::Empty) => return Err(IngestError::EmptyBody),
        Err(SniffError::Csv(e)) => return Err(csv_error(state, e)),
        Err(e @ SniffError::SchemaWidth { .. }) => {
            return Err(IngestError::InvalidOption(e.to_string()));
        }
    };
    let (layout, schema) = decide(layout)?;
    let null = options.null.as_deref().map(str::as_bytes);
    let mut tokenizer = Tokenizer::with_prefix(reader, layout.delimiter, &sample);
    drop(sample);
    tokenizer.expect_fields(layout.columns.len());
    let mut rows = Rows::default();
    let mut skip = usize::from(layout.header);
    let mut total = 0u64;
    let mut next_report = PROGRESS_EVERY;
    let limits = BatchLimits {
        rows: crate::schema::batch_rows(&layout.columns, BATCH.rows),
        ..BATCH
    };
    loop {
        rows.clear();
        let n = tokenizer
            .read_rows(&mut rows, limits)
            .map_err(|e| csv_error(state, e))?;
        if n == 0 {
            break;
        }
        let batch = convert::to_batch(&rows, skip, &layout.columns, &schema, null)
            .map_err(IngestError::Type)?;
        skip = 0;
        total += batch.num_rows() as u64;
        emit(batch)?;
        if state.wire_bytes() >= next_report {
            tracing::info!(
                mib = state.wire_bytes() >> 20,
                rows = total,
                "ingest progress"
            );
            next_report += PROGRESS_EVERY;
        }
    }
    Ok(total)
}

const PROGRESS_EVERY: u64 = 256 << 20;

fn read_sample(
    reader: &mut impl std::io::Read,
    options: &CsvOptions,
) -> std::io::Result<(Vec<u8>, bool)> {
    let mut sample = vec![0; SAMPLE_BYTES];
    let mut len = read_up_to(reader, &mut sample)?;
    while len == sample.len() && sample.len() < MAX_SAMPLE_BYTES && !two_records(&sample, options) {
        sample.resize(sample.len() * 2, 0);
        len += read_up_to(reader, &mut sample[len..])?;
    }
    let whole = len < sample.len();
    sample.truncate(len);
    Ok((sample, whole))
}

/// Whether the sample holds two whole records under every delimiter it could have (quoted
/// fields may hold newlines, so counting newlines is not enough).
fn two_records(sample: &[u8], options: &CsvOptions) -> bool {
    let candidates: &[u8] = match &options.delimiter {
        Some(d) => std::slice::from_ref(d),
        None => &sniff::DELIMITERS,
    };
    candidates
        .iter()
        .all(|&d| tokenizer::parse_sample(sample, false, d, 2).map_or(true, |rows| rows.len() >= 2))
}

/// Reads until `buf` is full or the input ends; returns the count.
pub fn read_up_to(reader: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A read error's real cause (limit, gzip, a client that went away), else the message.
pub fn body_error(state: &BodyState, e: std::io::Error) -> IngestError {
    match state.failure() {
        Some(BodyFailure::TooLarge { limit }) => IngestError::TooLarge { limit },
        Some(BodyFailure::GzipRatio { ratio }) => IngestError::GzipRatio { ratio },
        Some(BodyFailure::BadGzip(m)) => IngestError::BadGzip(m),
        Some(BodyFailure::Broken(m)) => IngestError::Body(m),
        None => IngestError::Body(e.to_string()),
    }
}

fn csv_error(state: &BodyState, e: CsvError) -> IngestError {
    match e {
        CsvError::Malformed { line, message } => IngestError::Malformed { line, message },
        CsvError::Ragged {
            line,
            found,
            expected,
        } => IngestError::Ragged {
            line,
            found,
            expected,
        },
        CsvError::Io(m) => body_error(state, std::io::Error::other(m)),
    }
}
