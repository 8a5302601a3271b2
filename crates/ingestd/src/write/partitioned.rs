//! Writes a partitioned table's version: rows go to their partition's files, Hive-style
//! (`{location}region=eu/day=2024-01-02/part-….parquet`, as Delta writes them), and the
//! files hold the other columns only — a row's partition values are its file's, kept in
//! the log (`add.partitionValues`).
//!
//! Rows are buffered per partition and a partition's rows are written as one file (through
//! a [`PartWriter`], so with its parallel encoders and statistics) once they reach
//! [`FILE_BYTES`] of Arrow data, or when all buffers together reach [`BUFFER_BYTES`] (then
//! the largest goes), and at the end. Memory stays bounded whatever the input's order; an
//! input sorted or clustered by partition gets files of [`FILE_BYTES`].

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Schema, SchemaRef};
use catalogd::DataFile;
use sha2::{Digest, Sha256};
use storaged::Store;
use tokio::runtime::Handle;

use super::{PartError, PartWriter};

/// A partition's buffered rows are written once they hold this much Arrow data...
pub const FILE_BYTES: usize = 128 << 20;
/// ...or, largest first, once all partitions' buffers together hold this much.
pub const BUFFER_BYTES: usize = 256 << 20;
/// Distinct partitions one ingest may write.
pub const MAX_PARTITIONS: usize = 1024;

/// A partition: each partition column's value as Delta writes it (`None`: null).
type Values = Vec<Option<String>>;

struct Buffer {
    batches: Vec<RecordBatch>,
    bytes: usize,
}

pub struct PartitionedWriter {
    store: Arc<dyn Store>,
    runtime: Handle,
    /// The upload's columns, and which of them are partition columns (in `partition_by`
    /// order) or file columns.
    partition_by: Vec<String>,
    keys: Vec<usize>,
    kept: Vec<usize>,
    file_schema: SchemaRef,
    location: String,
    tag: String,
    part_bytes: usize,
    /// [`FILE_BYTES`] and [`BUFFER_BYTES`], unless a test set others.
    file_bytes: usize,
    buffer_bytes: usize,
    buffers: HashMap<Values, Buffer>,
    buffered: usize,
    /// Partitions written or buffered so far.
    seen: HashSet<Values>,
    flushes: usize,
    done: Vec<DataFile>,
    finished: bool,
}

impl PartitionedWriter {
    /// `schema` is the upload's; `location` ends with `/`; `tag` makes keys unique to the
    /// ingest. Refuses partition columns the upload lacks or whose type has no exact text.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn Store>,
        runtime: Handle,
        schema: &SchemaRef,
        partition_by: &[String],
        location: String,
        tag: String,
        part_bytes: usize,
    ) -> Result<PartitionedWriter, PartError> {
        let mut keys = Vec::with_capacity(partition_by.len());
        for column in partition_by {
            let Ok(index) = schema.index_of(column) else {
                return Err(PartError::Partitioning(format!(
                    "the table is partitioned by {column:?}, which the upload has no column \
                     of (columns: {})",
                    names(schema)
                )));
            };
            let ty = schema.field(index).data_type();
            if !matches!(
                ty,
                DataType::Int64 | DataType::Date32 | DataType::Boolean | DataType::Utf8
            ) {
                return Err(PartError::Partitioning(format!(
                    "partition column {column:?} is {ty}; ingest writes partitions of int64, \
                     date, boolean and utf8 columns"
                )));
            }
            keys.push(index);
        }
        let kept: Vec<usize> = (0..schema.fields().len())
            .filter(|i| !keys.contains(i))
            .collect();
        if kept.is_empty() {
            return Err(PartError::Partitioning(
                "every column is a partition column; the files need at least one".into(),
            ));
        }
        let file_schema = Arc::new(schema.project(&kept).map_err(parquet_error)?);
        Ok(PartitionedWriter {
            store,
            runtime,
            partition_by: partition_by.to_vec(),
            keys,
            kept,
            file_schema,
            location,
            tag,
            part_bytes,
            file_bytes: FILE_BYTES,
            buffer_bytes: BUFFER_BYTES,
            buffers: HashMap::new(),
            buffered: 0,
            seen: HashSet::new(),
            flushes: 0,
            done: Vec::new(),
            finished: false,
        })
    }

    /// Replaces [`FILE_BYTES`] and [`BUFFER_BYTES`] (tests: many flushes from a small
    /// input).
    pub fn with_limits(mut self, file_bytes: usize, buffer_bytes: usize) -> PartitionedWriter {
        self.file_bytes = file_bytes;
        self.buffer_bytes = buffer_bytes;
        self
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), PartError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let texts = self
            .keys
            .iter()
            .map(|&i| partition_texts(batch.column(i).as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        // Rows of each partition, in input order; partitions in order of first row.
        let mut rows: HashMap<Values, Vec<u32>> = HashMap::new();
        let mut order: Vec<Values> = Vec::new();
        for row in 0..batch.num_rows() {
            let values: Values = texts.iter().map(|t| t[row].clone()).collect();
            match rows.get_mut(&values) {
                Some(list) => list.push(row as u32),
                None => {
                    order.push(values.clone());
                    rows.insert(values, vec![row as u32]);
                }
            }
        }
        let files = batch.project(&self.kept).map_err(parquet_error)?;
        for values in order {
            let indices = UInt32Array::from(rows.remove(&values).unwrap_or_default());
            let part = if indices.len() == batch.num_rows() {
                files.clone()
            } else {
                arrow_select::take::take_record_batch(&files, &indices).map_err(parquet_error)?
            };
            self.buffer(values, part)?;
        }
        while self.buffered >= self.buffer_bytes {
            let largest = self
                .buffers
                .iter()
                .max_by_key(|(_, b)| b.bytes)
                .map(|(v, _)| v.clone());
            match largest {
                Some(values) => self.flush(&values)?,
                None => break,
            }
        }
        Ok(())
    }

    fn buffer(&mut self, values: Values, batch: RecordBatch) -> Result<(), PartError> {
        let bytes = batch.get_array_memory_size();
        let buffer = match self.buffers.get_mut(&values) {
            Some(buffer) => buffer,
            None => {
                if self.seen.insert(values.clone()) && self.seen.len() > MAX_PARTITIONS {
                    return Err(PartError::Partitioning(format!(
                        "the upload has more than {MAX_PARTITIONS} partitions (distinct values \
                         of {}); partition by columns with fewer values",
                        self.partition_by.join(", ")
                    )));
                }
                self.buffers.entry(values.clone()).or_insert(Buffer {
                    batches: Vec::new(),
                    bytes: 0,
                })
            }
        };
        buffer.batches.push(batch);
        buffer.bytes += bytes;
        self.buffered += bytes;
        if buffer.bytes >= self.file_bytes {
            self.flush(&values)?;
        }
        Ok(())
    }

    /// Writes a partition's buffered rows as its next file(s).
    fn flush(&mut self, values: &Values) -> Result<(), PartError> {
        let Some(buffer) = self.buffers.remove(values) else {
            return Ok(());
        };
        self.buffered -= buffer.bytes;
        let mut prefix = self.location.clone();
        for (column, value) in self.partition_by.iter().zip(values) {
            let _ = write!(
                prefix,
                "{}={}/",
                segment(column),
                directory(value.as_deref())
            );
        }
        let tag = format!("{}f{}", self.tag, self.flushes);
        self.flushes += 1;
        let mut writer = PartWriter::new(
            self.store.clone(),
            self.runtime.clone(),
            self.file_schema.clone(),
            prefix,
            tag,
        )
        .with_part_bytes(self.part_bytes);
        for batch in &buffer.batches {
            writer.write(batch)?;
        }
        for mut file in writer.finish()? {
            file.partition_values = self
                .partition_by
                .iter()
                .cloned()
                .zip(values.iter().cloned())
                .collect();
            self.done.push(file);
        }
        Ok(())
    }

    /// Writes every partition's remaining rows; the files, in no particular order. An
    /// input with no rows writes no file.
    pub fn finish(mut self) -> Result<Vec<DataFile>, PartError> {
        let mut pending: Vec<Values> = self.buffers.keys().cloned().collect();
        pending.sort();
        for values in pending {
            self.flush(&values)?;
        }
        self.finished = true;
        Ok(std::mem::take(&mut self.done))
    }
}

impl Drop for PartitionedWriter {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // As a failed [`PartWriter`] does: its stored files go.
        super::remove_files(&self.store, &self.runtime, &mut self.done);
    }
}

fn names(schema: &Schema) -> String {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    names.join(", ")
}

fn parquet_error(e: arrow_schema::ArrowError) -> PartError {
    PartError::Parquet(e.into())
}

/// Each row's value of a partition column as Delta's `partitionValues` holds it: integers
/// in decimal, dates `YYYY-MM-DD`, `true`/`false`, text as it is; null as `None` — and so
/// is empty text, which Delta reads back as null.
fn partition_texts(column: &dyn Array) -> Result<Vec<Option<String>>, PartError> {
    let text = |i: usize, value: String| (column.is_valid(i)).then_some(value);
    let out = match column.data_type() {
        DataType::Int64 => {
            let values = column.as_primitive::<arrow_array::types::Int64Type>();
            (0..column.len())
                .map(|i| text(i, values.value(i).to_string()))
                .collect()
        }
        DataType::Date32 => {
            let values = column.as_primitive::<arrow_array::types::Date32Type>();
            (0..column.len())
                .map(|i| match values.value_as_date(i) {
                    Some(day) => Ok(text(i, day.format("%Y-%m-%d").to_string())),
                    None if column.is_null(i) => Ok(None),
                    None => Err(PartError::Partitioning(format!(
                        "date {} days from 1970-01-01 is out of range for a partition value",
                        values.value(i)
                    ))),
                })
                .collect::<Result<_, _>>()?
        }
        DataType::Boolean => {
            let values = column.as_boolean();
            (0..column.len())
                .map(|i| text(i, values.value(i).to_string()))
                .collect()
        }
        DataType::Utf8 => {
            let values = column.as_string::<i32>();
            (0..column.len())
                .map(|i| text(i, values.value(i).to_string()).filter(|t| !t.is_empty()))
                .collect()
        }
        other => {
            return Err(PartError::Partitioning(format!(
                "no partition values of type {other}"
            )));
        }
    };
    Ok(out)
}

/// A partition value's directory name: the value itself when it is short and made of
/// letters, digits, `.`, `_` and `-`; Hive's `__HIVE_DEFAULT_PARTITION__` for null;
/// otherwise `h-` and 16 hex digits of its SHA-256 — readers take values from the log,
/// never from paths, and so no key needs escaping (nor starts with `_`, which Delta's
/// VACUUM takes for hidden).
fn directory(value: Option<&str>) -> String {
    match value {
        None => "__HIVE_DEFAULT_PARTITION__".into(),
        Some(value) => segment(value),
    }
}

fn segment(text: &str) -> String {
    let plain = !text.is_empty()
        && text.len() <= 64
        && !text.starts_with(['.', '_'])
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plain {
        return text.to_string();
    }
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::from("h-");
    for byte in &digest[..8] {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{BooleanArray, Date32Array, Int64Array, StringArray};
    use arrow_schema::Field;
    use storaged::{ObjectKey, ObjectStoreBackend};

    /// `batches` batches of 30 rows: id, then region cycling eu, us, null.
    fn input(batches: usize) -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("region", DataType::Utf8, true),
        ]));
        let out = (0..batches as i64)
            .map(|b| {
                let ids: Vec<i64> = (b * 30..b * 30 + 30).collect();
                let regions: Vec<Option<&str>> = ids
                    .iter()
                    .map(|i| [Some("eu"), Some("us"), None][*i as usize % 3])
                    .collect();
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(Int64Array::from(ids)),
                        Arc::new(StringArray::from(regions)),
                    ],
                )
                .unwrap()
            })
            .collect();
        (schema, out)
    }

    /// Every file holds one partition's rows, without the partition column, under its
    /// directory; all rows are written once, whichever limit makes the flushes.
    #[test]
    fn rows_land_in_their_partitions_files_under_every_limit() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(ObjectStoreBackend::local(dir.path()).unwrap());
        // A file per batch and partition; the largest flushed when the buffers are full;
        // everything at the end.
        for (file_bytes, buffer_bytes, min_files) in [
            (1, usize::MAX, 30),
            (usize::MAX, 4096, 4),
            (usize::MAX, usize::MAX, 3),
        ] {
            let (schema, batches) = input(10);
            let mut writer = PartitionedWriter::new(
                store.clone(),
                runtime.handle().clone(),
                &schema,
                &["region".to_string()],
                "datasets/t/".into(),
                format!("0123456789ab{file_bytes}"),
                super::super::PART_BYTES,
            )
            .unwrap()
            .with_limits(file_bytes, buffer_bytes);
            for batch in &batches {
                writer.write(batch).unwrap();
            }
            let files = writer.finish().unwrap();
            assert!(
                files.len() >= min_files,
                "{file_bytes} {buffer_bytes}: {}",
                files.len()
            );
            let mut ids = Vec::new();
            for file in &files {
                let region = file.partition_values["region"].clone();
                let directory = directory(region.as_deref());
                assert!(
                    file.key
                        .starts_with(&format!("datasets/t/region={directory}/part-"))
                );
                let key = ObjectKey::parse(&file.key).unwrap();
                let bytes = runtime.block_on(store.get_bytes(&key)).unwrap();
                let reader =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes, 1024)
                        .unwrap();
                for batch in reader {
                    let batch = batch.unwrap();
                    assert_eq!(batch.num_columns(), 1, "only the file column");
                    let column = batch
                        .column(0)
                        .as_primitive::<arrow_array::types::Int64Type>();
                    for id in column.values().iter() {
                        let expected = [Some("eu"), Some("us"), None][*id as usize % 3];
                        assert_eq!(region.as_deref(), expected, "id {id} in {}", file.key);
                        ids.push(*id);
                    }
                }
                assert_eq!(file.stats.nulls["id"], 0);
            }
            ids.sort_unstable();
            assert_eq!(ids, (0..300).collect::<Vec<i64>>());
        }
    }

    #[test]
    fn too_many_partitions_are_refused() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(ObjectStoreBackend::local(dir.path()).unwrap());
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("n", DataType::Int64, false),
        ]));
        let n = MAX_PARTITIONS as i64 + 1;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from((0..n).collect::<Vec<_>>())),
                Arc::new(Int64Array::from((0..n).collect::<Vec<_>>())),
            ],
        )
        .unwrap();
        let mut writer = PartitionedWriter::new(
            store,
            runtime.handle().clone(),
            &schema,
            &["n".to_string()],
            "datasets/t/".into(),
            "0123456789ab".into(),
            super::super::PART_BYTES,
        )
        .unwrap();
        let e = writer.write(&batch).unwrap_err().to_string();
        assert!(e.contains("more than 1024 partitions"), "{e}");
    }

    #[test]
    fn values_and_directories() {
        let ints = Int64Array::from(vec![Some(-7), None]);
        assert_eq!(partition_texts(&ints).unwrap(), [Some("-7".into()), None]);
        let days = Date32Array::from(vec![Some(19_000), None]);
        assert_eq!(
            partition_texts(&days).unwrap(),
            [Some("2022-01-08".into()), None]
        );
        let flags = BooleanArray::from(vec![Some(true), None]);
        assert_eq!(
            partition_texts(&flags).unwrap(),
            [Some("true".into()), None]
        );
        let texts = StringArray::from(vec![Some("eu"), Some(""), None]);
        assert_eq!(
            partition_texts(&texts).unwrap(),
            [Some("eu".into()), None, None]
        );
        assert_eq!(directory(Some("2024-01-02")), "2024-01-02");
        assert_eq!(directory(None), "__HIVE_DEFAULT_PARTITION__");
        let odd = directory(Some("a/b=c"));
        assert!(odd.starts_with("h-") && odd.len() == 18, "{odd}");
        assert_ne!(odd, directory(Some("a/b=d")));
        assert!(directory(Some("..")).starts_with("h-"));
        assert!(directory(Some(&"x".repeat(65))).starts_with("h-"));
        assert!(directory(Some("_x")).starts_with("h-"));
    }
}
