//! Writes record batches as a dataset version's Parquet parts, streaming each part into the
//! store while it is encoded.
//!
//! Encoding is the costly step (dictionary, statistics, zstd), so a row group's columns are
//! encoded in parallel: each [`column worker`](ColumnWorker) owns a fixed share of the
//! columns and receives every batch (its arrays are shared, not copied); when a row group
//! is full the workers hand back their encoded column chunks, which are spliced into the
//! file in column order. Row groups close at [`ROW_GROUP_BYTES`] (encoded) or a million
//! rows, parts at [`PART_BYTES`]. Row order is the input's.
//!
//! Each part's upload is a task on the runtime fed through a bounded channel, so a few MiB
//! of encoded bytes are in flight; the worker channels are bounded too, so a slow store or
//! a slow encoder slows the reader instead of buffering. Until [`PartWriter::finish`],
//! nothing is committed: dropping the writer fails the upload in progress (the store then
//! keeps nothing of it) and deletes the parts already uploaded.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc as sync_mpsc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use catalogd::DataFile;
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{WriterProperties, WriterPropertiesPtr};
use parquet::file::writer::SerializedFileWriter;
use storaged::{ObjectKey, ObjectMeta, PutMode, Store, StoreError};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

/// A part is closed once its encoded size passes this.
pub const PART_BYTES: usize = 128 << 20;
/// A row group is closed once its encoded size passes this.
pub const ROW_GROUP_BYTES: usize = 64 << 20;
const ROW_GROUP_ROWS: usize = 1 << 20;
/// Bytes handed to the upload at a time.
const CHUNK: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum PartError {
    #[error("encoding Parquet: {0}")]
    Parquet(#[from] ParquetError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a version's parts go: `{prefix}part-{i}-{tag}.parquet`.
pub struct PartWriter {
    store: Arc<dyn Store>,
    runtime: Handle,
    schema: SchemaRef,
    properties: WriterPropertiesPtr,
    prefix: String,
    tag: String,
    workers: Vec<ColumnWorker>,
    open: Option<OpenPart>,
    done: Vec<DataFile>,
    finished: bool,
}

struct OpenPart {
    key: ObjectKey,
    file: SerializedFileWriter<UploadWriter>,
    factory: ArrowRowGroupWriterFactory,
    upload: tokio::task::JoinHandle<Result<ObjectMeta, StoreError>>,
    rows: u64,
    /// Rows in the row group being encoded (0: none started).
    group_rows: usize,
    groups: usize,
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
        let mut properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_created_by(format!("lakehouse {}", env!("CARGO_PKG_VERSION")))
            .build();
        // Readers get the exact Arrow types back (e.g. a zone-less timestamp).
        parquet::arrow::add_encoded_arrow_schema_to_metadata(&schema, &mut properties);
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let workers = ColumnWorker::spawn_for(&schema, threads.clamp(2, 8));
        PartWriter {
            store,
            runtime,
            schema,
            properties: Arc::new(properties),
            prefix,
            tag,
            workers,
            open: None,
            done: Vec::new(),
            finished: false,
        }
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), PartError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.open.is_none() {
            self.open = Some(self.start_part()?);
        }
        let Some(part) = self.open.as_mut() else {
            return Ok(());
        };
        if part.group_rows == 0 {
            let writers = part.factory.create_column_writers(part.groups)?;
            ColumnWorker::start_group(&self.workers, writers);
        }
        for worker in &self.workers {
            worker.send(Job::Write(batch.clone()))?;
        }
        part.group_rows += batch.num_rows();
        part.rows += batch.num_rows() as u64;
        let encoded: usize = self
            .workers
            .iter()
            .map(|w| w.encoded.load(Ordering::Relaxed))
            .sum();
        if part.group_rows >= ROW_GROUP_ROWS || encoded >= ROW_GROUP_BYTES {
            self.close_group()?;
            let written = self.open.as_ref().map_or(0, |p| p.file.bytes_written());
            if written >= PART_BYTES {
                self.close_part()?;
            }
        }
        Ok(())
    }

    /// Closes the last part and waits for every upload; an input with no rows still gets one
    /// (empty) part, so the version records its schema in a file too.
    pub fn finish(mut self) -> Result<Vec<DataFile>, PartError> {
        if self.open.is_none() && self.done.is_empty() {
            self.open = Some(self.start_part()?);
        }
        self.close_group()?;
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
        let (tx, rx) = mpsc::channel::<Bytes>(4);
        let complete = Arc::new(AtomicBool::new(false));
        let body = upload_stream(rx, complete.clone());
        let store = self.store.clone();
        let upload_key = key.clone();
        let upload = self
            .runtime
            .spawn(async move { store.put(&upload_key, body, PutMode::Create).await });
        let sink = UploadWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
            complete,
        };
        let parquet_schema = ArrowSchemaConverter::new()
            .with_coerce_types(self.properties.coerce_types())
            .convert(&self.schema)?;
        let file = SerializedFileWriter::new(
            sink,
            parquet_schema.root_schema_ptr(),
            self.properties.clone(),
        )?;
        let factory = ArrowRowGroupWriterFactory::new(&file, self.schema.clone());
        Ok(OpenPart {
            key,
            file,
            factory,
            upload,
            rows: 0,
            group_rows: 0,
            groups: 0,
        })
    }

    /// Collects the workers' column chunks and appends them as the next row group.
    fn close_group(&mut self) -> Result<(), PartError> {
        let Some(part) = self.open.as_mut() else {
            return Ok(());
        };
        if part.group_rows == 0 {
            return Ok(());
        }
        let mut chunks = ColumnWorker::finish_group(&self.workers)?;
        chunks.sort_by_key(|(column, _)| *column);
        let mut group = part.file.next_row_group()?;
        for (_, chunk) in chunks {
            chunk.append_to_row_group(&mut group)?;
        }
        group.close()?;
        part.group_rows = 0;
        part.groups += 1;
        Ok(())
    }

    fn close_part(&mut self) -> Result<(), PartError> {
        let Some(part) = self.open.take() else {
            return Ok(());
        };
        let OpenPart {
            key,
            file,
            upload,
            rows,
            ..
        } = part;
        let sink = match file.into_inner() {
            Ok(sink) => sink,
            Err(e) => {
                upload.abort();
                return Err(self.upload_error(upload).unwrap_or(e.into()));
            }
        };
        // If sending the tail fails, the upload has already ended: its result says why.
        let _ = sink.finish();
        let meta = self
            .runtime
            .block_on(upload)
            .map_err(|e| StoreError::Internal(format!("upload task: {e}")))??;
        self.done.push(DataFile {
            key: key.as_str().to_string(),
            rows,
            bytes: meta.size,
        });
        Ok(())
    }

    /// When encoding failed because the upload stopped, the upload's error is the cause.
    fn upload_error(
        &self,
        upload: tokio::task::JoinHandle<Result<ObjectMeta, StoreError>>,
    ) -> Option<PartError> {
        match self.runtime.block_on(upload) {
            Ok(Err(e)) => Some(e.into()),
            _ => None,
        }
    }
}

impl Drop for PartWriter {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // The open part's stream ends without `complete`, so its PUT fails and stores
        // nothing; parts already stored are removed (the start-up sweep catches any miss).
        self.open = None;
        let store = self.store.clone();
        let keys: Vec<String> = self.done.drain(..).map(|f| f.key).collect();
        if keys.is_empty() {
            return;
        }
        self.runtime.spawn(async move {
            for key in keys {
                if let Ok(key) = ObjectKey::parse(&key)
                    && let Err(e) = store.delete(&key).await
                {
                    tracing::warn!(key = %key, error = %e, "could not remove the part of a failed ingest");
                }
            }
        });
    }
}

enum Job {
    /// Column writers for a new row group: (column index, writer).
    Start(Vec<(usize, ArrowColumnWriter)>),
    Write(RecordBatch),
    /// Close the row group and send back its chunks.
    Finish,
}

type Chunks = Vec<(usize, ArrowColumnChunk)>;

/// A thread encoding a fixed share of the columns.
struct ColumnWorker {
    columns: Vec<usize>,
    jobs: sync_mpsc::SyncSender<Job>,
    results: sync_mpsc::Receiver<Result<Chunks, ParquetError>>,
    /// Estimated encoded bytes of its columns in the current row group.
    encoded: Arc<AtomicUsize>,
}

impl ColumnWorker {
    /// Shares the columns among up to `threads` workers, text columns (the costly ones)
    /// weighing more.
    fn spawn_for(schema: &SchemaRef, threads: usize) -> Vec<ColumnWorker> {
        let n = threads.min(schema.fields().len()).max(1);
        let mut shares: Vec<(usize, Vec<usize>)> = vec![(0, Vec::new()); n];
        for (c, field) in schema.fields().iter().enumerate() {
            let weight = if field.data_type().is_primitive() {
                1
            } else {
                4
            };
            if let Some(share) = shares.iter_mut().min_by_key(|(w, _)| *w) {
                share.0 += weight;
                share.1.push(c);
            }
        }
        shares
            .into_iter()
            .map(|(_, columns)| ColumnWorker::spawn(schema.clone(), columns))
            .collect()
    }

    fn spawn(schema: SchemaRef, columns: Vec<usize>) -> ColumnWorker {
        let (jobs, inbox) = sync_mpsc::sync_channel::<Job>(2);
        let (reply, results) = sync_mpsc::channel();
        let encoded = Arc::new(AtomicUsize::new(0));
        let size = encoded.clone();
        std::thread::Builder::new()
            .name("parquet-encode".into())
            .spawn(move || encode_columns(&schema, inbox, &reply, &size))
            .ok();
        ColumnWorker {
            columns,
            jobs,
            results,
            encoded,
        }
    }

    fn send(&self, job: Job) -> Result<(), PartError> {
        self.jobs
            .send(job)
            .map_err(|_| ParquetError::General("a column encoder stopped".into()).into())
    }

    /// Hands each worker the writers of its columns for the next row group.
    fn start_group(workers: &[ColumnWorker], writers: Vec<ArrowColumnWriter>) {
        let mut writers: Vec<Option<ArrowColumnWriter>> = writers.into_iter().map(Some).collect();
        for worker in workers {
            let mine = worker
                .columns
                .iter()
                .filter_map(|&c| writers.get_mut(c).and_then(Option::take).map(|w| (c, w)))
                .collect();
            worker.encoded.store(0, Ordering::Relaxed);
            // A worker that stopped reports its error at `finish_group`.
            let _ = worker.jobs.send(Job::Start(mine));
        }
    }

    fn finish_group(workers: &[ColumnWorker]) -> Result<Chunks, PartError> {
        for worker in workers {
            worker.send(Job::Finish)?;
        }
        let mut chunks = Vec::new();
        for worker in workers {
            let result = worker
                .results
                .recv()
                .map_err(|_| ParquetError::General("a column encoder stopped".into()))?;
            chunks.extend(result?);
        }
        Ok(chunks)
    }
}

/// A column worker's loop: encode its columns of every batch; on `Finish`, close them.
/// After an error it keeps draining jobs and reports the error at the next `Finish`.
fn encode_columns(
    schema: &SchemaRef,
    inbox: sync_mpsc::Receiver<Job>,
    reply: &sync_mpsc::Sender<Result<Chunks, ParquetError>>,
    encoded: &AtomicUsize,
) {
    let mut writers: Vec<(usize, ArrowColumnWriter)> = Vec::new();
    let mut failed: Option<ParquetError> = None;
    for job in inbox {
        match job {
            Job::Start(w) => writers = w,
            Job::Write(batch) => {
                if failed.is_some() {
                    continue;
                }
                for (c, writer) in writers.iter_mut() {
                    let result = compute_leaves(schema.field(*c), batch.column(*c))
                        .and_then(|leaves| leaves.iter().try_for_each(|leaf| writer.write(leaf)));
                    if let Err(e) = result {
                        failed = Some(e);
                        break;
                    }
                }
                let size = writers
                    .iter()
                    .map(|(_, w)| w.get_estimated_total_bytes())
                    .sum();
                encoded.store(size, Ordering::Relaxed);
            }
            Job::Finish => {
                let result = match failed.take() {
                    Some(e) => Err(e),
                    None => std::mem::take(&mut writers)
                        .into_iter()
                        .map(|(c, w)| w.close().map(|chunk| (c, chunk)))
                        .collect(),
                };
                if reply.send(result).is_err() {
                    return;
                }
            }
        }
    }
}

/// The body of one part's PUT: chunks until the writer finishes; if the writer goes away
/// without finishing, an error, so the store discards the partial object.
fn upload_stream(rx: mpsc::Receiver<Bytes>, complete: Arc<AtomicBool>) -> storaged::ByteStream {
    use futures::StreamExt;
    futures::stream::unfold(Some(rx), move |rx| {
        let complete = complete.clone();
        async move {
            let mut rx = rx?;
            match rx.recv().await {
                Some(chunk) => Some((Ok(chunk), Some(rx))),
                None if complete.load(Ordering::Acquire) => None,
                None => Some((
                    Err(StoreError::BadRequest(
                        "the ingest stopped before this part was complete".into(),
                    )),
                    None,
                )),
            }
        }
    })
    .boxed()
}

/// `Write` end of a part's upload, used from the blocking encoder thread.
struct UploadWriter {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
    complete: Arc<AtomicBool>,
}

impl UploadWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload stopped"))
    }

    /// Sends the rest and marks the part whole; dropping the sender then ends the body.
    fn finish(mut self) -> std::io::Result<()> {
        self.send()?;
        self.complete.store(true, Ordering::Release);
        Ok(())
    }
}

impl Write for UploadWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
