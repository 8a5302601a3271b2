//! Writes record batches as a dataset version's Parquet parts, streaming each part into the
//! store while it is encoded.
//!
//! Encoding is the costly step (dictionary, statistics, zstd), so row groups are encoded in
//! parallel: row group k goes to worker k mod N ([`encode`]), whose queue holds a
//! whole row group, so the reader fills one worker's queue and moves on to the next while
//! the first is still encoding. Finished row groups are spliced into the file in order, so
//! row order is the input's. Row groups close at [`GROUP_ROWS`] rows or [`GROUP_BYTES`] of
//! Arrow data; parts close once past [`PART_BYTES`].
//!
//! Each part's upload is a task on the runtime fed through a bounded channel, so a few MiB
//! of encoded bytes are in flight; every queue is bounded, so a slow store or a slow
//! encoder slows the reader instead of buffering. Until [`PartWriter::finish`], nothing is
//! committed: dropping the writer fails the upload in progress (the store then keeps
//! nothing of it) and deletes the parts already uploaded.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, SchemaRef};
use catalogd::DataFile;
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::arrow_writer::ArrowRowGroupWriterFactory;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{WriterProperties, WriterPropertiesPtr};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use storaged::{ObjectKey, ObjectMeta, PutMode, Store, StoreError};
use tokio::runtime::Handle;

mod encode;
mod partitioned;
mod stats;
mod upload;

pub use partitioned::PartitionedWriter;

use encode::GroupWorker;
use upload::UploadWriter;

/// A part is closed once its encoded size passes this.
pub const PART_BYTES: usize = 128 << 20;
/// A row group closes at this many rows (DuckDB's default is 122,880)...
pub const GROUP_ROWS: usize = 128 << 10;
/// ...or once this much Arrow data went into it (wide or long rows).
pub const GROUP_BYTES: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum PartError {
    #[error("encoding Parquet: {0}")]
    Parquet(#[from] ParquetError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The upload cannot be split into the table's partitions (the reason).
    #[error("{0}")]
    Partitioning(String),
}

/// Where a version's parts go: `{prefix}part-{i}-{tag}.parquet`.
pub struct PartWriter {
    store: Arc<dyn Store>,
    runtime: Handle,
    schema: SchemaRef,
    /// Decided from the first batch (see [`writer_properties`]).
    properties: Option<WriterPropertiesPtr>,
    prefix: String,
    tag: String,
    workers: Vec<GroupWorker>,
    open: Option<OpenPart>,
    done: Vec<DataFile>,
    finished: bool,
    part_bytes: usize,
}

struct OpenPart {
    key: ObjectKey,
    file: SerializedFileWriter<UploadWriter>,
    factory: ArrowRowGroupWriterFactory,
    upload: tokio::task::JoinHandle<Result<ObjectMeta, StoreError>>,
    rows: u64,
    /// Row groups started in this part.
    groups: usize,
    /// The worker receiving the open row group, with its rows and Arrow bytes so far.
    current: Option<(usize, usize, usize)>,
    /// Workers whose finished row groups await splicing, oldest first.
    pending: VecDeque<usize>,
}

impl PartWriter {
    /// `prefix` ends with `/`; `tag` makes the keys unique to this ingest.
    pub fn new(
        store: Arc<dyn Store>,
        runtime: Handle,
        schema: SchemaRef,
        prefix: String,
        tag: String,
    ) -> PartWriter {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let workers = (0..threads.clamp(2, 8))
            .map(|_| GroupWorker::spawn(schema.clone()))
            .collect();
        PartWriter {
            store,
            runtime,
            schema,
            properties: None,
            prefix,
            tag,
            workers,
            open: None,
            done: Vec::new(),
            finished: false,
            part_bytes: PART_BYTES,
        }
    }

    /// Replaces [`PART_BYTES`] (tests: many parts from a small input).
    pub fn with_part_bytes(mut self, bytes: usize) -> PartWriter {
        self.part_bytes = bytes;
        self
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), PartError> {
        self.write_batch(batch).map_err(|e| match self.open.take() {
            Some(part) => self.cause(part, e),
            None => e,
        })
    }

    fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), PartError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.properties.is_none() {
            self.properties = Some(Arc::new(writer_properties(&self.schema, Some(batch))));
        }
        if self.open.is_none() {
            self.open = Some(self.start_part()?);
        }
        let Some(part) = self.open.as_mut() else {
            return Ok(());
        };
        let (worker, mut rows, mut bytes) = match part.current {
            Some(current) => current,
            None => (begin_group(part, &self.workers)?, 0, 0),
        };
        self.workers[worker].write(batch.clone())?;
        part.rows += batch.num_rows() as u64;
        rows += batch.num_rows();
        bytes += batch.get_array_memory_size();
        part.current = Some((worker, rows, bytes));
        if rows >= GROUP_ROWS || bytes >= GROUP_BYTES {
            end_group(part, &self.workers)?;
            let encoded: usize = part
                .pending
                .iter()
                .map(|&w| self.workers[w].encoded())
                .sum();
            if part.file.bytes_written() + encoded >= self.part_bytes {
                self.close_part()?;
            }
        }
        Ok(())
    }

    /// Closes the last part and waits for every upload; an input with no rows still gets one
    /// (empty) part, so the version records its schema in a file too.
    pub fn finish(mut self) -> Result<Vec<DataFile>, PartError> {
        if self.open.is_none() && self.done.is_empty() {
            if self.properties.is_none() {
                self.properties = Some(Arc::new(writer_properties(&self.schema, None)));
            }
            self.open = Some(self.start_part()?);
        }
        self.close_part()?;
        self.finished = true;
        Ok(std::mem::take(&mut self.done))
    }

    fn start_part(&self) -> Result<OpenPart, PartError> {
        let name = format!(
            "{}part-{}-{}.parquet",
            self.prefix,
            self.done.len(),
            self.tag
        );
        let key = ObjectKey::parse(&name).map_err(|e| StoreError::invalid_key(&name, e))?;
        let (sink, body) = upload::channel();
        let store = self.store.clone();
        let upload_key = key.clone();
        // The key is unique to this ingest (its tag), so a plain PUT is enough: no
        // create-only condition, which S3 can only give a multi-part body through a copy.
        let upload = self
            .runtime
            .spawn(async move { store.put(&upload_key, body, PutMode::Overwrite).await });
        let properties = self
            .properties
            .clone()
            .unwrap_or_else(|| Arc::new(writer_properties(&self.schema, None)));
        let parquet_schema = ArrowSchemaConverter::new()
            .with_coerce_types(properties.coerce_types())
            .convert(&self.schema)?;
        let file = SerializedFileWriter::new(sink, parquet_schema.root_schema_ptr(), properties)?;
        let factory = ArrowRowGroupWriterFactory::new(&file, self.schema.clone());
        Ok(OpenPart {
            key,
            file,
            factory,
            upload,
            rows: 0,
            groups: 0,
            current: None,
            pending: VecDeque::new(),
        })
    }

    fn close_part(&mut self) -> Result<(), PartError> {
        let Some(mut part) = self.open.take() else {
            return Ok(());
        };
        let spliced = end_group(&mut part, &self.workers).and_then(|_| {
            while !part.pending.is_empty() {
                splice_oldest(&mut part, &self.workers)?;
            }
            Ok(())
        });
        if let Err(e) = spliced {
            return Err(self.cause(part, e));
        }
        let OpenPart {
            key,
            file,
            upload,
            rows,
            ..
        } = part;
        let stats = stats::file_stats(&self.schema, file.flushed_row_groups());
        let sink = match file.into_inner() {
            Ok(sink) => sink,
            Err(e) => return Err(self.upload_cause(upload).unwrap_or(e.into())),
        };
        // If sending the tail fails, the upload has already ended: its result says why.
        let _ = sink.finish();
        let meta = self
            .runtime
            .block_on(upload)
            .map_err(|e| StoreError::Internal(format!("upload task: {e}")))??;
        let mut done = DataFile::new(key.as_str(), rows, meta.size);
        done.stats = stats;
        self.done.push(done);
        Ok(())
    }

    /// The error to report when writing `part` failed with `e`: when the upload had
    /// already ended (the store failed, so the encoder's writes broke), the store's error —
    /// a store that is down is a 503, not an internal error.
    fn cause(&self, part: OpenPart, e: PartError) -> PartError {
        let OpenPart { file, upload, .. } = part;
        drop(file);
        self.upload_cause(upload).unwrap_or(e)
    }

    /// The upload's own error, if it failed by itself. Called once the part's writer is
    /// gone, so the upload ends either way: with the store's error, or with the "stopped
    /// before complete" error our body stream gives it (which is not a cause).
    fn upload_cause(
        &self,
        upload: tokio::task::JoinHandle<Result<ObjectMeta, StoreError>>,
    ) -> Option<PartError> {
        let ended = self.runtime.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(10), upload).await
        });
        match ended {
            Ok(Ok(Err(StoreError::BadRequest(_)))) => None,
            Ok(Ok(Err(e))) => Some(e.into()),
            _ => None,
        }
    }
}

/// zstd, statistics, the Arrow schema embedded (readers get the exact types back, e.g. a
/// zone-less timestamp), and dictionary encoding only for columns where it can pay: a
/// column whose first batch is mostly distinct values (ids, amounts, free text) would fill
/// a dictionary in every row group only to fall back to plain encoding — measured at ~10 %
/// of the encoders' time on the benchmark's data.
fn writer_properties(schema: &SchemaRef, first: Option<&RecordBatch>) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_created_by(format!("lakehouse {}", env!("CARGO_PKG_VERSION")));
    // A vector's components (its one leaf column, `{name}.list.item`) are floats that
    // rarely repeat: never a dictionary.
    for field in schema.fields() {
        if let DataType::FixedSizeList(item, _) = field.data_type() {
            let path = ColumnPath::new(vec![
                field.name().clone(),
                "list".to_string(),
                item.name().clone(),
            ]);
            builder = builder.set_column_dictionary_enabled(path, false);
        }
    }
    if let Some(batch) = first {
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            if distinct_ratio(column.as_ref()) > 0.5 {
                let path = ColumnPath::new(vec![field.name().clone()]);
                builder = builder.set_column_dictionary_enabled(path, false);
            }
        }
    }
    let mut properties = builder.build();
    parquet::arrow::add_encoded_arrow_schema_to_metadata(schema, &mut properties);
    properties
}

/// Distinct non-null values ÷ non-null values (0 for booleans and empty columns).
fn distinct_ratio(array: &dyn arrow_array::Array) -> f64 {
    use arrow_array::cast::AsArray;
    let present = array.len() - array.null_count();
    if present == 0 {
        return 0.0;
    }
    let distinct = match array.data_type() {
        DataType::Utf8 => {
            let strings = array.as_string::<i32>();
            strings.iter().flatten().collect::<HashSet<&str>>().len()
        }
        DataType::Boolean => return 0.0,
        _ => {
            let data = array.to_data();
            let width = data.data_type().primitive_width().unwrap_or(0);
            if width == 0 {
                return 0.0;
            }
            let values = &data.buffers()[0].as_slice()[data.offset() * width..];
            let mut seen = HashSet::new();
            for (i, value) in values.chunks_exact(width).take(array.len()).enumerate() {
                if array.is_valid(i) {
                    seen.insert(value);
                }
            }
            seen.len()
        }
    };
    distinct as f64 / present as f64
}

/// Starts the part's next row group on the next worker in turn, first splicing that
/// worker's previous row group (the oldest pending) if it has one.
fn begin_group(part: &mut OpenPart, workers: &[GroupWorker]) -> Result<usize, PartError> {
    let worker = part.groups % workers.len();
    while part.pending.contains(&worker) {
        splice_oldest(part, workers)?;
    }
    let writers = part.factory.create_column_writers(part.groups)?;
    workers[worker].start(writers)?;
    part.groups += 1;
    Ok(worker)
}

fn end_group(part: &mut OpenPart, workers: &[GroupWorker]) -> Result<(), PartError> {
    if let Some((worker, _, _)) = part.current.take() {
        workers[worker].finish()?;
        part.pending.push_back(worker);
    }
    Ok(())
}

/// Appends the oldest finished row group to the file.
fn splice_oldest(part: &mut OpenPart, workers: &[GroupWorker]) -> Result<(), PartError> {
    let Some(worker) = part.pending.pop_front() else {
        return Ok(());
    };
    let chunks = workers[worker].chunks()?;
    let mut group = part.file.next_row_group()?;
    for chunk in chunks {
        chunk.append_to_row_group(&mut group)?;
    }
    group.close()?;
    Ok(())
}

impl Drop for PartWriter {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // The open part's stream ends without `complete`, so its PUT fails and stores
        // nothing; parts already stored are removed (the start-up sweep catches any miss).
        self.open = None;
        remove_files(&self.store, &self.runtime, &mut self.done);
    }
}

/// Deletes the stored files of a failed ingest, in the background (a writer being dropped
/// cannot wait); the start-up sweep catches any miss.
fn remove_files(store: &Arc<dyn Store>, runtime: &Handle, files: &mut Vec<DataFile>) {
    let keys: Vec<String> = files.drain(..).map(|f| f.key).collect();
    if keys.is_empty() {
        return;
    }
    let store = store.clone();
    runtime.spawn(async move {
        for key in keys {
            if let Ok(key) = ObjectKey::parse(&key)
                && let Err(e) = store.delete(&key).await
            {
                tracing::warn!(key = %key, error = %e, "could not remove the part of a failed ingest");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{FixedSizeListArray, Float32Array, RecordBatch};
    use arrow_schema::{Field, Schema};
    use catalogd::ColumnType;
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Encoding;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    #[test]
    fn a_vector_column_is_written_without_a_dictionary() {
        let vectors = FixedSizeListArray::new(
            Arc::new(crate::schema::vector_item()),
            2,
            Arc::new(Float32Array::from(vec![0.5; 2_000])),
            None,
        );
        let schema = Arc::new(Schema::new(vec![Field::new(
            "emb",
            crate::schema::arrow_type(ColumnType::Vector(2)),
            true,
        )]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(vectors)]).unwrap();
        let properties = super::writer_properties(&schema, Some(&batch));
        let mut file = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut file, schema, Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let reader = SerializedFileReader::new(bytes::Bytes::from(file)).unwrap();
        let column = reader.metadata().row_group(0).column(0);
        assert_eq!(column.column_path().string(), "emb.list.item");
        // (Every value the same: a dictionary would have been used, were it allowed.)
        assert!(
            !column.encodings().any(|e| e == Encoding::RLE_DICTIONARY),
            "{:?}",
            column.encodings().collect::<Vec<_>>()
        );
    }
}
