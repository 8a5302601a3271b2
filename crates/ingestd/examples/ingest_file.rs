//! Ingests one CSV file in-process (no HTTP) into a temporary local store and prints the
//! throughput: for profiling the converter and encoder (`perf record` this).
//!
//! cargo run --release -p ingestd --example ingest_file -- FILE [TIMES]

use std::sync::Arc;
use std::time::Instant;

use catalogd::{CommitMode, StoreCatalog};
use ingestd::convert::csv::sniff::CsvOptions;
use ingestd::{Format, IngestRequest, Ingestor};
use storaged::{ObjectStoreBackend, Store};

#[tokio::main]
async fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: ingest_file FILE [TIMES]");
    let times: usize = std::env::args()
        .nth(2)
        .map_or(1, |t| t.parse().expect("TIMES"));
    let size = std::fs::metadata(&path).expect("input file").len();
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(ObjectStoreBackend::local(dir.path()).expect("store"));
    let catalog = Arc::new(StoreCatalog::new(store.clone(), 10));
    let ingestor = Ingestor::new(store, catalog, 0);
    for round in 0..times {
        let request = IngestRequest {
            name: format!("bench{round}").parse().expect("name"),
            mode: CommitMode::Create,
            format: Format::Csv(CsvOptions::default()),
            gzip: false,
            idempotency_key: None,
            evolve: false,
            partition_by: None,
        };
        let file = tokio::fs::File::open(&path).await.expect("open");
        let file = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
        let started = Instant::now();
        let outcome = ingestor.ingest(request, file).await.expect("ingest");
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{} rows, {} parts, {:.1} MB Parquet in {seconds:.2} s: {:.0} MB/s of CSV",
            outcome.manifest.current.rows,
            outcome.manifest.current.files.len(),
            outcome.manifest.current.bytes as f64 / 1e6,
            size as f64 / 1e6 / seconds
        );
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let hwm = status
            .lines()
            .find(|l| l.starts_with("VmHWM"))
            .unwrap_or("");
        println!("  {hwm}");
    }
}
