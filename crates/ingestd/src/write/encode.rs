//! Row-group encoder threads: each [`GroupWorker`] encodes whole row groups (every column),
//! so N workers encode N row groups at once whatever the columns' relative costs (one long
//! text column would cap a column-parallel encoder at that column's speed).
//!
//! A worker's queue holds a whole row group's batches, so the reader can fill it and move on
//! to the next worker while this one is still encoding; the queues are bounded, so memory is
//! at most N row groups of Arrow data plus their encoded pages.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, compute_leaves};
use parquet::errors::ParquetError;

use super::PartError;

/// Batches a worker's queue holds: a row group of 32 Ki-row batches, and the control jobs.
const QUEUE: usize = 6;

enum Job {
    /// Column writers of a new row group, one per column in order.
    Start(Vec<ArrowColumnWriter>),
    Write(RecordBatch),
    /// Close the row group and send back its column chunks.
    Finish,
}

type Chunks = Vec<ArrowColumnChunk>;

pub(crate) struct GroupWorker {
    jobs: mpsc::SyncSender<Job>,
    results: mpsc::Receiver<Result<Chunks, ParquetError>>,
    /// Estimated encoded bytes of the row group it holds.
    encoded: Arc<AtomicUsize>,
}

impl GroupWorker {
    pub(crate) fn spawn(schema: SchemaRef) -> GroupWorker {
        let (jobs, inbox) = mpsc::sync_channel::<Job>(QUEUE);
        let (reply, results) = mpsc::channel();
        let encoded = Arc::new(AtomicUsize::new(0));
        let size = encoded.clone();
        // If the thread cannot start, the first send fails and names the problem.
        let _ = std::thread::Builder::new()
            .name("parquet-encode".into())
            .spawn(move || encode(&schema, inbox, &reply, &size));
        GroupWorker {
            jobs,
            results,
            encoded,
        }
    }

    pub(crate) fn encoded(&self) -> usize {
        self.encoded.load(Ordering::Relaxed)
    }

    pub(crate) fn start(&self, writers: Vec<ArrowColumnWriter>) -> Result<(), PartError> {
        self.encoded.store(0, Ordering::Relaxed);
        self.send(Job::Start(writers))
    }

    pub(crate) fn write(&self, batch: RecordBatch) -> Result<(), PartError> {
        self.send(Job::Write(batch))
    }

    pub(crate) fn finish(&self) -> Result<(), PartError> {
        self.send(Job::Finish)
    }

    /// The row group's column chunks, once encoded (blocks until then).
    pub(crate) fn chunks(&self) -> Result<Chunks, PartError> {
        let result = self.results.recv().map_err(|_| stopped())?;
        Ok(result?)
    }

    fn send(&self, job: Job) -> Result<(), PartError> {
        self.jobs.send(job).map_err(|_| stopped().into())
    }
}

fn stopped() -> ParquetError {
    ParquetError::General("a Parquet encoder thread stopped".into())
}

/// A worker's loop. After an error it drains jobs and reports the error at `Finish`.
fn encode(
    schema: &SchemaRef,
    inbox: mpsc::Receiver<Job>,
    reply: &mpsc::Sender<Result<Chunks, ParquetError>>,
    encoded: &AtomicUsize,
) {
    let mut writers: Vec<ArrowColumnWriter> = Vec::new();
    let mut failed: Option<ParquetError> = None;
    for job in inbox {
        match job {
            Job::Start(w) => {
                writers = w;
                failed = None;
            }
            Job::Write(batch) => {
                if failed.is_some() {
                    continue;
                }
                let written = writers.iter_mut().enumerate().try_for_each(|(c, writer)| {
                    compute_leaves(schema.field(c), batch.column(c))?
                        .iter()
                        .try_for_each(|leaf| writer.write(leaf))
                });
                if let Err(e) = written {
                    failed = Some(e);
                }
                let size = writers.iter().map(|w| w.get_estimated_total_bytes()).sum();
                encoded.store(size, Ordering::Relaxed);
            }
            Job::Finish => {
                let result = match failed.take() {
                    Some(e) => Err(e),
                    None => std::mem::take(&mut writers)
                        .into_iter()
                        .map(ArrowColumnWriter::close)
                        .collect(),
                };
                if reply.send(result).is_err() {
                    return;
                }
            }
        }
    }
}
