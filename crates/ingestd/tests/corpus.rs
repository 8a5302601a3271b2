//! The awkward-CSV corpus (`tests/corpus/`): every file is ingested for real and its outcome
//! checked against `tests/corpus/expect.txt` — the inferred schema and row count, or the
//! status, code and message of the refusal (which must register nothing).

use std::path::Path;
use std::sync::Arc;

use catalogd::{Catalog, CatalogError, CommitMode, StoreCatalog};
use ingestd::convert::csv::sniff::CsvOptions;
use ingestd::{Format, IngestRequest, Ingestor};
use storaged::{ObjectStoreBackend, Store};

enum Expect {
    Ok {
        types: String,
        rows: u64,
    },
    Error {
        status: u16,
        code: String,
        text: String,
    },
}

fn expectations() -> Vec<(String, Expect)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let text = std::fs::read_to_string(dir.join("expect.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (file, outcome) = line.split_once(" | ").expect("FILE | OUTCOME");
            let words: Vec<&str> = outcome.split_whitespace().collect();
            let expect = match words[0] {
                "ok" => Expect::Ok {
                    types: words[1].to_string(),
                    rows: words[2].parse().unwrap(),
                },
                "error" => Expect::Error {
                    status: words[1].parse().unwrap(),
                    code: words[2].to_string(),
                    text: words[3..].join(" "),
                },
                other => panic!("expect.txt: unknown outcome {other:?}"),
            };
            (file.to_string(), expect)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_file_behaves_as_expected() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(ObjectStoreBackend::local(dir.path()).unwrap());
    let catalog: Arc<dyn Catalog> = Arc::new(StoreCatalog::new(store.clone(), 10));
    let ingestor = Ingestor::new(store, catalog.clone(), 0);
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let expectations = expectations();
    assert!(expectations.len() >= 15, "the corpus lost files");
    for (i, (file, expect)) in expectations.into_iter().enumerate() {
        let bytes = std::fs::read(corpus.join(&file)).unwrap();
        let name = format!("corpus_{i}");
        let request = IngestRequest {
            name: name.parse().unwrap(),
            mode: CommitMode::Create,
            format: Format::Csv(CsvOptions::default()),
            gzip: false,
            idempotency_key: None,
            evolve: false,
            partition_by: None,
        };
        let body = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(bytes))]);
        let result = ingestor.ingest(request, body).await;
        match (expect, result) {
            (Expect::Ok { types, rows }, Ok(outcome)) => {
                let got: Vec<String> = outcome
                    .manifest
                    .current
                    .schema
                    .fields
                    .iter()
                    .map(|f| format!("{}:{}", f.name, f.data_type))
                    .collect();
                assert_eq!(got.join(","), types, "{file}: types");
                assert_eq!(outcome.manifest.current.rows, rows, "{file}: rows");
            }
            (Expect::Error { status, code, text }, Err(e)) => {
                assert_eq!(
                    (e.status().as_u16(), e.code()),
                    (status, code.as_str()),
                    "{file}: {e}"
                );
                assert!(
                    e.to_string().contains(&text),
                    "{file}: {e:?} lacks {text:?}"
                );
                let registered = catalog.get(&name.parse().unwrap()).await;
                assert!(
                    matches!(registered, Err(CatalogError::NotFound { .. })),
                    "{file}: a refused ingest registered something"
                );
            }
            (Expect::Ok { .. }, Err(e)) => panic!("{file}: expected success, got {e}"),
            (Expect::Error { code, .. }, Ok(_)) => panic!("{file}: expected {code}, got success"),
        }
    }
}
