//! One ingest, end to end: body → batches → Parquet parts in the store → one catalog commit.
//!
//! Two blocking threads run side by side: the converter (gunzip, hash, tokenize, type)
//! and the encoder (Parquet + zstd, streaming each part to the store); a two-batch channel
//! between them bounds memory whatever the body's size. Data files are written before the
//! commit, under keys unique to this ingest, so a crash or an error leaves nothing visible:
//! on failure the parts are deleted, and the sweep removes any a crash left. While it runs,
//! the ingest holds a lease ([`crate::lease`]) naming its tag, so the sweep never takes its
//! parts however long it runs.
//!
//! Ingests into one dataset are serialised within the process (a per-name lock held for
//! the whole ingest); across processes, catalogd's conditional commit keeps every update.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use catalogd::{
    Catalog, CatalogError, ColumnType, Commit, CommitMode, Committed, DatasetName, Manifest,
    NameLocks,
};
use futures::Stream;
use storaged::{ObjectKey, Store, StoreError};
use tokio::runtime::Handle;

use crate::body::{BodyLimits, BodyReader, BodyState, hash_and_forward};
use crate::convert::csv::sniff::{CsvOptions, Layout};
use crate::error::IngestError;
use crate::lease::{IngestLease, LeaseTiming};
use crate::schema::manifest_schema;
use crate::write::{PART_BYTES, PartError, PartWriter, PartitionedWriter};

/// What the body is.
#[derive(Clone, Debug)]
pub enum Format {
    Csv(CsvOptions),
    Parquet,
}

/// An ingest as the HTTP layer parsed it.
pub struct IngestRequest {
    pub name: DatasetName,
    pub mode: CommitMode,
    pub format: Format,
    pub gzip: bool,
    pub idempotency_key: Option<String>,
    /// `evolve=true`: an append may add columns after the dataset's.
    pub evolve: bool,
    /// `partition_by=`: a create's or an overwrite's partition columns, `Some` empty for
    /// none (an append, or an overwrite without it, follows the table's).
    pub partition_by: Option<Vec<String>>,
}

/// The result: the dataset's manifest, and whether this request made its new version
/// (false when an idempotent retry or an identical overwrite answered the existing one).
#[derive(Debug)]
pub struct IngestOutcome {
    pub manifest: Manifest,
    pub created: bool,
}

#[derive(Clone)]
pub struct Ingestor {
    store: Arc<dyn Store>,
    catalog: Arc<dyn Catalog>,
    max_ingest_bytes: u64,
    max_gzip_ratio: u64,
    max_columns: usize,
    body_idle_timeout: Duration,
    locks: Arc<NameLocks>,
    lease_timing: LeaseTiming,
    part_bytes: usize,
}

/// `[ingestd] max_gzip_ratio` when unset: real CSVs gzip 3-20 : 1; a decompression bomb
/// ~1,000 : 1.
pub const DEFAULT_MAX_GZIP_RATIO: u64 = 200;

/// `[ingestd] max_columns` when unset.
pub const DEFAULT_MAX_COLUMNS: usize = 4096;

/// How long a body may send nothing before the ingest fails, unless the embedder sets its
/// own ([`Ingestor::with_body_idle_timeout`]; the server sets `[gateway] body_idle_timeout`,
/// the limit every request body of the process has).
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

impl Ingestor {
    /// `max_ingest_bytes` 0 means no limit.
    pub fn new(store: Arc<dyn Store>, catalog: Arc<dyn Catalog>, max_ingest_bytes: u64) -> Self {
        Ingestor {
            store,
            catalog,
            max_ingest_bytes,
            max_gzip_ratio: DEFAULT_MAX_GZIP_RATIO,
            max_columns: DEFAULT_MAX_COLUMNS,
            body_idle_timeout: BODY_IDLE_TIMEOUT,
            locks: Arc::default(),
            lease_timing: LeaseTiming::default(),
            part_bytes: PART_BYTES,
        }
    }

    /// Replaces the lease's renewal interval and TTL (tests).
    pub fn with_lease_timing(mut self, timing: LeaseTiming) -> Self {
        self.lease_timing = timing;
        self
    }

    /// Replaces [`PART_BYTES`] (tests: many parts from a small body).
    pub fn with_part_bytes(mut self, bytes: usize) -> Self {
        self.part_bytes = bytes;
        self
    }

    /// Replaces [`DEFAULT_MAX_GZIP_RATIO`] (0 = none).
    pub fn with_max_gzip_ratio(mut self, ratio: u64) -> Self {
        self.max_gzip_ratio = ratio;
        self
    }

    /// Replaces [`DEFAULT_MAX_COLUMNS`].
    pub fn with_max_columns(mut self, columns: usize) -> Self {
        self.max_columns = columns;
        self
    }

    /// Replaces [`BODY_IDLE_TIMEOUT`].
    pub fn with_body_idle_timeout(mut self, idle: Duration) -> Self {
        self.body_idle_timeout = idle;
        self
    }

    pub fn max_ingest_bytes(&self) -> u64 {
        self.max_ingest_bytes
    }

    /// Ingests `body`, the bytes as they arrive.
    pub async fn ingest(
        &self,
        request: IngestRequest,
        body: impl Stream<Item = std::io::Result<Bytes>> + Send + Unpin + 'static,
    ) -> Result<IngestOutcome, IngestError> {
        let lock = self.locks.get(&request.name);
        let _guard = lock.lock().await;
        let current = match self.catalog.get(&request.name).await {
            Ok(m) => Some(m),
            Err(CatalogError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        if let (Some(key), Some(m)) = (&request.idempotency_key, &current)
            && m.all_versions()
                .any(|v| v.idempotency_key.as_ref() == Some(key))
        {
            return Ok(IngestOutcome {
                manifest: m.clone(),
                created: false,
            });
        }
        if request.mode == CommitMode::Create && current.is_some() {
            return Err(CatalogError::Exists {
                name: request.name.to_string(),
            }
            .into());
        }
        if let Some(reason) = current.as_ref().and_then(|m| m.read_only.clone()) {
            return Err(CatalogError::ReadOnly {
                name: request.name.to_string(),
                reason,
            }
            .into());
        }
        if let Some(m) = &current
            && request.mode == CommitMode::Overwrite
            && let Some(reason) = &m.appends_only
        {
            return Err(CatalogError::ReadOnly {
                name: request.name.to_string(),
                reason: format!("{reason}: it takes appends only"),
            }
            .into());
        }
        let partition_by = partitioning(&request, current.as_ref())?;
        let next = current.as_ref().map_or(1, |m| m.current.version + 1);
        // Under the table's location: `datasets/{name}/` unless it is an external table.
        let location = current
            .as_ref()
            .map_or_else(|| format!("datasets/{}/", request.name), Manifest::location);
        let prefix = format!("{location}v{next}/");
        let tag = unique_tag();
        let lease =
            IngestLease::take(self.store.clone(), &request.name, &tag, self.lease_timing).await?;
        let target = Target {
            prefix,
            location,
            tag,
            partition_by: partition_by.clone(),
        };
        let converted = match self.convert(&request, current.as_ref(), body, target).await {
            Ok(converted) => converted,
            Err(e) => {
                // The part writer removes its parts (the sweep takes any it misses).
                lease.release().await;
                return Err(e);
            }
        };
        if let Err(e) = lease.check() {
            self.remove(&request.name, &converted.files).await;
            lease.release().await;
            return Err(e);
        }
        let commit = Commit {
            name: request.name.clone(),
            mode: request.mode,
            schema: partitions_last(&manifest_schema(&converted.columns), &partition_by),
            files: converted.files.clone(),
            source_sha256: Some(converted.sha256),
            idempotency_key: request.idempotency_key.clone(),
            evolve: request.evolve,
            // An append names the table's too, so that one which finds the table
            // deleted creates it partitioned as its files are.
            partition_by,
        };
        match self.catalog.commit(commit).await {
            Ok(Committed::Created(manifest)) => {
                lease.release().await;
                Ok(IngestOutcome {
                    manifest,
                    created: true,
                })
            }
            Ok(Committed::Existing(manifest)) => {
                self.remove(&request.name, &converted.files).await;
                lease.release().await;
                Ok(IngestOutcome {
                    manifest,
                    created: false,
                })
            }
            Err(e) => {
                self.after_failed_commit(&request.name, &converted.files, e, lease)
                    .await
            }
        }
    }

    /// A refused commit's files are removed. Any other failure (a lost answer, a store that
    /// timed out) may hide a commit that landed: if the manifest lists our files it did, and
    /// the ingest succeeded; otherwise the files are left for the sweep, since a commit
    /// still in flight could yet reference them.
    async fn after_failed_commit(
        &self,
        name: &DatasetName,
        files: &[catalogd::DataFile],
        error: CatalogError,
        lease: IngestLease,
    ) -> Result<IngestOutcome, IngestError> {
        let refused = matches!(
            error,
            CatalogError::InvalidName { .. }
                | CatalogError::NotFound { .. }
                | CatalogError::Exists { .. }
                | CatalogError::SchemaMismatch { .. }
                | CatalogError::ReadOnly { .. }
                | CatalogError::ConcurrentUpdate(_)
                | CatalogError::BadCommit(_)
                | CatalogError::Corrupt { .. }
                | CatalogError::Store(
                    StoreError::TooLarge(_)
                        | StoreError::InvalidKey { .. }
                        | StoreError::BadRequest(_)
                        | StoreError::Conflict(_)
                )
        );
        if refused {
            self.remove(name, files).await;
            lease.release().await;
            return Err(error.into());
        }
        if let (Ok(manifest), Some(ours)) = (self.catalog.get(name).await, files.first())
            && manifest.referenced_keys().any(|key| key == ours.key)
        {
            tracing::warn!(dataset = %name, error = %error, "the commit landed although its answer failed");
            lease.release().await;
            return Ok(IngestOutcome {
                manifest,
                created: true,
            });
        }
        // A commit still in flight may yet name the files: the lease is left to expire, so
        // the sweep waits a TTL before judging them.
        lease.abandon();
        tracing::warn!(dataset = %name, error = %error, "commit outcome unknown: files left for the sweep");
        Err(error.into())
    }

    /// Runs the converter and encoder threads; returns the parts written.
    async fn convert(
        &self,
        request: &IngestRequest,
        current: Option<&Manifest>,
        body: impl Stream<Item = std::io::Result<Bytes>> + Send + Unpin + 'static,
        target: Target,
    ) -> Result<Converted, IngestError> {
        let (body, hashed) = hash_and_forward(body, self.body_idle_timeout);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Message>(2);
        let tx = ToEncoder {
            tx,
            max_columns: self.max_columns,
        };
        let encoder = {
            let store = self.store.clone();
            let runtime = Handle::current();
            let part_bytes = self.part_bytes;
            tokio::task::spawn_blocking(move || encode(rx, store, runtime, target, part_bytes))
        };
        let converter = {
            let format = request.format.clone();
            let gzip = request.gzip;
            let limits = BodyLimits {
                max_bytes: self.max_ingest_bytes,
                max_gzip_ratio: self.max_gzip_ratio,
            };
            let append_to = (request.mode == CommitMode::Append)
                .then(|| {
                    current.map(|m| AppendTo {
                        name: m.name.to_string(),
                        schema: m.current.schema.clone(),
                        evolve: request.evolve,
                        partition_by: m.current.partition_by.clone(),
                    })
                })
                .flatten();
            tokio::task::spawn_blocking(move || {
                convert_body(body, &format, gzip, limits, append_to, &tx)
            })
        };
        let converted = converter
            .await
            .map_err(|e| IngestError::Internal(format!("converter thread: {e}")))?;
        // The converter read the body to its end, so the hash is ready; on failure it is
        // not waited for (the task stops at its next chunk).
        let converted = match converted {
            Ok(columns) => match hashed.await {
                Ok(Some(sha256)) => Ok((columns, sha256)),
                _ => Err(IngestError::Body("the body ended early".into())),
            },
            Err(e) => Err(e),
        };
        let encoded = encoder
            .await
            .map_err(|e| IngestError::Internal(format!("encoder thread: {e}")))?;
        match (converted, encoded) {
            (Ok((columns, sha256)), Ok(files)) => Ok(Converted {
                columns,
                files,
                sha256,
            }),
            // The encoder stopping makes the converter fail too; the encoder's error is the cause.
            (Err(IngestError::Internal(_)), Err(e)) => Err(e.into()),
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(e.into()),
        }
    }

    /// Deletes this ingest's uncommitted files — but never one the manifest lists (a
    /// commit reported as failed or as a no-op may still have landed), and none when the
    /// manifest cannot be read (the sweep collects them later).
    async fn remove(&self, name: &DatasetName, files: &[catalogd::DataFile]) {
        let listed: Vec<String> = match self.catalog.get(name).await {
            Ok(manifest) => manifest.referenced_keys().map(String::from).collect(),
            Err(CatalogError::NotFound { .. }) => Vec::new(),
            Err(e) => {
                tracing::warn!(dataset = %name, error = %e, "uncommitted parts left for the sweep");
                return;
            }
        };
        for file in files.iter().filter(|f| !listed.contains(&f.key)) {
            if let Ok(key) = ObjectKey::parse(&file.key)
                && let Err(e) = self.store.delete(&key).await
            {
                tracing::warn!(key = %file.key, error = %e, "could not remove an uncommitted part");
            }
        }
    }
}

/// The converter thread's work: the body reader (limits, gunzip, BOM), then CSV or Parquet
/// conversion into batches for the encoder. Returns the columns written.
pub(crate) fn convert_body(
    wire: impl std::io::Read + Send + 'static,
    format: &Format,
    gzip: bool,
    limits: BodyLimits,
    append_to: Option<AppendTo>,
    tx: &ToEncoder,
) -> Result<Vec<(String, ColumnType)>, IngestError> {
    let state = BodyState::default();
    let mut reader = match format {
        Format::Parquet => BodyReader::binary(wire, limits, state.clone()),
        Format::Csv(_) => BodyReader::new(wire, gzip, limits, state.clone()),
    };
    crate::convert::convert(&mut reader, &state, format, append_to, tx)
}

struct Converted {
    columns: Vec<(String, ColumnType)>,
    files: Vec<catalogd::DataFile>,
    sha256: String,
}

/// From the converter to the encoder.
pub(crate) enum Message {
    Schema(SchemaRef),
    Batch(RecordBatch),
    /// Everything was sent: the encoder may finish (without it, it discards its parts).
    End,
}

/// The converter's end of the channel to the encoder, with what the encoder may be given.
pub(crate) struct ToEncoder {
    pub tx: std::sync::mpsc::SyncSender<Message>,
    /// `[ingestd] max_columns`: a schema with more is refused before any row is converted.
    pub max_columns: usize,
}

/// Sends to the encoder; a closed channel means the encoder failed (its error wins).
pub(crate) fn send(to: &ToEncoder, m: Message) -> Result<(), IngestError> {
    if let Message::Schema(schema) = &m
        && schema.fields().len() > to.max_columns
    {
        return Err(IngestError::TooManyColumns {
            columns: schema.fields().len(),
            limit: to.max_columns,
        });
    }
    to.tx
        .send(m)
        .map_err(|_| IngestError::Internal("the Parquet encoder stopped".into()))
}

/// What an append converts to: the dataset's name and schema, and whether it may add
/// columns (`evolve=true`).
pub(crate) struct AppendTo {
    pub name: String,
    pub schema: catalogd::Schema,
    pub evolve: bool,
    /// The table's partition columns (last in `schema`).
    pub partition_by: Vec<String>,
}

/// `schema` with the columns named in `partition_by` moved last, in that order: how a
/// partitioned table lists its columns (the files hold the others).
pub(crate) fn partitions_last(
    schema: &catalogd::Schema,
    partition_by: &[String],
) -> catalogd::Schema {
    let mut fields: Vec<catalogd::Field> = schema
        .fields
        .iter()
        .filter(|f| !partition_by.contains(&f.name))
        .cloned()
        .collect();
    fields.extend(
        partition_by
            .iter()
            .filter_map(|name| schema.fields.iter().find(|f| &f.name == name).cloned()),
    );
    catalogd::Schema { fields }
}

/// An append reads the CSV with the dataset's types (a sample's narrower guess must not
/// refuse values the dataset holds); the header must name the dataset's columns in order,
/// then, with `evolve`, any new ones (typed as the upload has them).
pub(crate) fn conform(
    layout: Layout,
    append_to: &AppendTo,
    explicit: bool,
) -> Result<Layout, IngestError> {
    let dataset = &append_to.schema;
    let upload = manifest_schema(&layout.columns);
    let mismatch = |differences| CatalogError::SchemaMismatch {
        name: append_to.name.clone(),
        differences,
    };
    if !append_to.partition_by.is_empty() {
        // Partition columns may stand anywhere in the upload: compared with them moved
        // last, as the table lists them; the upload keeps its order, typed by name.
        let mut checked = partitions_last(&upload, &append_to.partition_by);
        if !explicit {
            for theirs in &mut checked.fields {
                if let Some(mine) = dataset.fields.iter().find(|f| f.name == theirs.name) {
                    theirs.data_type = mine.data_type;
                }
            }
        }
        dataset.appended(&checked, false).map_err(mismatch)?;
        let columns = layout
            .columns
            .iter()
            .map(|(name, ty)| {
                let field = checked.fields.iter().find(|f| &f.name == name);
                (name.clone(), field.map_or(*ty, |f| f.data_type))
            })
            .collect();
        return Ok(Layout { columns, ..layout });
    }
    // Names (and, with `schema=` or Parquet, types) first, in order; new ones only with
    // `evolve`.
    let mut checked = upload.clone();
    if !explicit {
        for (theirs, mine) in checked.fields.iter_mut().zip(&dataset.fields) {
            if theirs.name == mine.name {
                theirs.data_type = mine.data_type;
            }
        }
    }
    dataset
        .appended(&checked, append_to.evolve)
        .map_err(mismatch)?;
    Ok(Layout {
        columns: dataset
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.data_type))
            .chain(layout.columns[dataset.fields.len()..].iter().cloned())
            .collect(),
        ..layout
    })
}

/// Where an ingest's files go.
struct Target {
    /// An unpartitioned version's parts: `{location}v{next}/`.
    prefix: String,
    /// The table's location; a partitioned version's files go under its partitions'
    /// directories there.
    location: String,
    tag: String,
    partition_by: Vec<String>,
}

/// The partition columns of the version an ingest writes: `partition_by=` at create, or at
/// an overwrite, which may change them (`partition_by=` empty: none); the table's
/// otherwise. Refused before the body is read: an append naming other columns, an evolving
/// append to a partitioned table, and a table partitioned by a column ingest cannot write
/// partitions of.
fn partitioning(
    request: &IngestRequest,
    current: Option<&Manifest>,
) -> Result<Vec<String>, IngestError> {
    let name = request.name.as_str();
    let table = current.map(|m| &m.current.partition_by);
    let partition_by = match (table, request.mode, &request.partition_by) {
        (Some(table), CommitMode::Append, Some(asked)) if asked != table => {
            return Err(IngestError::InvalidOption(format!(
                "partition_by={}: dataset {name:?} is partitioned by [{}], and an append \
                 keeps a table's partitioning (an overwrite may change it)",
                asked.join(","),
                table.join(", ")
            )));
        }
        (Some(table), CommitMode::Append, _) | (Some(table), CommitMode::Overwrite, None) => {
            table.clone()
        }
        (_, _, asked) => asked.clone().unwrap_or_default(),
    };
    if request.evolve && !partition_by.is_empty() {
        return Err(IngestError::InvalidOption(format!(
            "evolve=true: dataset {name:?} is partitioned (by {}), and a partitioned table's \
             columns are not evolved by an append",
            partition_by.join(", ")
        )));
    }
    if let Some(m) = current
        && partition_by == m.current.partition_by
    {
        for column in &partition_by {
            let field = m.current.schema.fields.iter().find(|f| &f.name == column);
            if let Some(field) = field.filter(|f| !f.data_type.partitions()) {
                let hint = match request.mode {
                    CommitMode::Overwrite => {
                        " (an overwrite with partition_by= and no columns makes it unpartitioned)"
                    }
                    _ => "",
                };
                return Err(IngestError::Partitioning(format!(
                    "dataset {name:?} is partitioned by {column:?}, a {} column, and ingest \
                     writes partitions of int64, date, boolean and utf8 columns only{hint}",
                    field.data_type
                )));
            }
        }
    }
    Ok(partition_by)
}

/// A version's writer: parts in order, or files per partition.
enum Writer {
    Plain(Box<PartWriter>),
    Partitioned(Box<PartitionedWriter>),
}

/// The encoder thread: writes what the converter sends; finishes only on `End`.
fn encode(
    rx: std::sync::mpsc::Receiver<Message>,
    store: Arc<dyn Store>,
    runtime: Handle,
    target: Target,
    part_bytes: usize,
) -> Result<Vec<catalogd::DataFile>, PartError> {
    let mut writer: Option<Writer> = None;
    let mut restarts = 0;
    while let Ok(message) = rx.recv() {
        match message {
            Message::Schema(schema) => {
                // A second schema restarts the version (a widened column): the first
                // attempt's writer is dropped, discarding its parts, and the new one writes
                // under a new tag so no key is reused — `{tag}r{n}`, which the ingest's lease
                // (named by `tag`) still covers.
                let tag = if writer.is_some() {
                    restarts += 1;
                    format!("{}r{restarts}", target.tag)
                } else {
                    target.tag.clone()
                };
                // The first attempt's writer goes (its threads and parts) before the next
                // starts.
                drop(writer.take());
                writer = Some(if target.partition_by.is_empty() {
                    Writer::Plain(Box::new(
                        PartWriter::new(
                            store.clone(),
                            runtime.clone(),
                            schema,
                            target.prefix.clone(),
                            tag,
                        )
                        .with_part_bytes(part_bytes),
                    ))
                } else {
                    Writer::Partitioned(Box::new(PartitionedWriter::new(
                        store.clone(),
                        runtime.clone(),
                        &schema,
                        &target.partition_by,
                        target.location.clone(),
                        tag,
                        part_bytes,
                    )?))
                });
            }
            Message::Batch(batch) => match writer.as_mut() {
                Some(Writer::Plain(w)) => w.write(&batch)?,
                Some(Writer::Partitioned(w)) => w.write(&batch)?,
                None => {}
            },
            Message::End => {
                return match writer {
                    Some(Writer::Plain(w)) => (*w).finish(),
                    Some(Writer::Partitioned(w)) => (*w).finish(),
                    None => Ok(Vec::new()),
                };
            }
        }
    }
    // The converter failed: dropping the writer discards the parts.
    Ok(Vec::new())
}

/// 12 hex digits that differ between ingests (time, process, counter): part keys of two
/// writers racing for the same version never collide.
fn unique_tag() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mixed = nanos
        ^ (u64::from(std::process::id()) << 40)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{:012x}", mixed & 0xFFFF_FFFF_FFFF)
}
