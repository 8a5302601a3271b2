//! Entry points for the fuzz targets (`fuzz/` at the repository root). Not an API: hidden
//! from the docs and kept to what the targets need.
//!
//! [`convert`] runs an ingest's converter thread exactly as [`crate::Ingestor`] does (the
//! body reader with its limits, gunzip and BOM handling, then CSV or Parquet conversion),
//! with a consumer that checks the messages in place of the Parquet encoder, so no store,
//! catalog or runtime is needed.

use std::io::Read;

use arrow_schema::SchemaRef;
use catalogd::ColumnType;

use crate::body::BodyLimits;
use crate::error::IngestError;
use crate::ingest::{Format, Message, ToEncoder, convert_body};

/// What the encoder was sent.
#[derive(Debug, Default)]
pub struct Sent {
    /// Every schema, in order (a widened column restarts the conversion with a new one).
    pub schemas: Vec<SchemaRef>,
    /// Batches and rows sent after the last schema.
    pub batches: usize,
    pub rows: u64,
    /// The first batch after the last schema.
    pub first: Option<arrow_array::RecordBatch>,
    /// Whether `End` came.
    pub ended: bool,
    /// The first message out of order: a batch before any schema or not of the last
    /// schema, anything after `End`.
    pub disorder: Option<String>,
}

/// Whether a Parquet ingest refuses `file` for its footer alone, which the parquet crate
/// would spend unbounded CPU reading: a target must not read such a footer itself.
pub fn parquet_footer_refused(file: &[u8]) -> bool {
    crate::convert::parquet::check_footer(file.len() as u64, |offset, len| {
        Ok(file[offset as usize..(offset + len) as usize].to_vec())
    })
    .is_err()
}

/// Converts `wire` (the body as sent) as an ingest's converter thread would, into a
/// checking consumer. `append_to` is the dataset's name and schema for an append.
pub fn convert(
    wire: impl Read + Send + 'static,
    format: &Format,
    gzip: bool,
    limits: BodyLimits,
    max_columns: usize,
    append_to: Option<(String, catalogd::Schema)>,
) -> (Result<Vec<(String, ColumnType)>, IngestError>, Sent) {
    // The same two-message bound as an ingest: the converter blocks while the consumer
    // lags, as it does with the encoder.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Message>(2);
    let consumer = std::thread::spawn(move || {
        fn disorder(sent: &mut Sent, what: String) {
            sent.disorder.get_or_insert(what);
        }
        let mut sent = Sent::default();
        for message in rx {
            if sent.ended {
                disorder(&mut sent, "a message after End".into());
            }
            match message {
                Message::Schema(schema) => {
                    sent.schemas.push(schema);
                    sent.batches = 0;
                    sent.rows = 0;
                    sent.first = None;
                }
                Message::Batch(batch) => {
                    let wrong = match sent.schemas.last() {
                        None => Some("a batch before any schema".to_string()),
                        Some(schema) if batch.schema() != *schema => Some(format!(
                            "a batch of schema {:?} after schema {schema:?}",
                            batch.schema()
                        )),
                        Some(_) => None,
                    };
                    if let Some(what) = wrong {
                        disorder(&mut sent, what);
                    }
                    sent.batches += 1;
                    sent.rows += batch.num_rows() as u64;
                    if sent.first.is_none() {
                        sent.first = Some(batch);
                    }
                }
                Message::End => sent.ended = true,
            }
        }
        sent
    });
    let tx = ToEncoder { tx, max_columns };
    let append_to = append_to.map(|(name, schema)| crate::ingest::AppendTo {
        name,
        schema,
        evolve: false,
        partition_by: vec![],
    });
    let result = convert_body(wire, format, gzip, limits, append_to, &tx);
    drop(tx);
    let sent = consumer.join().expect("the consumer thread does not panic");
    (result, sent)
}
