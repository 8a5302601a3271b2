//! Ingest behaviour over a real local store and catalog: every awkward-CSV case of the
//! issue, versions, retries and refusals. Values are read back from the Parquet written.

use std::io::Write;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use catalogd::{Catalog, CatalogError, CommitMode, Manifest, StoreCatalog};
use futures::StreamExt;
use ingestd::convert::csv::sniff::CsvOptions;
use ingestd::{Format, IngestError, IngestOutcome, IngestRequest, Ingestor};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use storaged::{KeyPrefix, ObjectKey, ObjectStoreBackend, Store};

struct Env {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    catalog: Arc<dyn Catalog>,
    ingestor: Ingestor,
}

fn env_with_limit(limit: u64) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(ObjectStoreBackend::local(dir.path()).unwrap());
    let catalog: Arc<dyn Catalog> = Arc::new(StoreCatalog::new(store.clone(), 3));
    let ingestor = Ingestor::new(store.clone(), catalog.clone(), limit);
    Env {
        _dir: dir,
        store,
        catalog,
        ingestor,
    }
}

/// A request body arriving in 64 KiB chunks.
fn body(
    bytes: Vec<u8>,
) -> futures::stream::Iter<std::vec::IntoIter<std::io::Result<bytes::Bytes>>> {
    let chunks: Vec<std::io::Result<bytes::Bytes>> = bytes
        .chunks(64 << 10)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(chunks)
}

fn env() -> Env {
    env_with_limit(0)
}

fn request(name: &str, mode: CommitMode, options: CsvOptions) -> IngestRequest {
    IngestRequest {
        name: name.parse().unwrap(),
        mode,
        format: Format::Csv(options),
        gzip: false,
        idempotency_key: None,
        evolve: false,
        partition_by: None,
    }
}

impl Env {
    async fn csv(
        &self,
        name: &str,
        mode: CommitMode,
        csv: &[u8],
    ) -> Result<IngestOutcome, IngestError> {
        self.ingestor
            .ingest(
                request(name, mode, CsvOptions::default()),
                body(csv.to_vec()),
            )
            .await
    }

    async fn create(&self, name: &str, body: &str) -> Manifest {
        self.csv(name, CommitMode::Create, body.as_bytes())
            .await
            .unwrap()
            .manifest
    }

    /// The current version's rows, rendered as text ("" for null).
    async fn rows(&self, m: &Manifest) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for batch in self.batches(m).await {
            let formatters: Vec<_> = batch
                .columns()
                .iter()
                .map(|a| ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default()).unwrap())
                .collect();
            for r in 0..batch.num_rows() {
                out.push(formatters.iter().map(|f| f.value(r).to_string()).collect());
            }
        }
        out
    }

    async fn batches(&self, m: &Manifest) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        for file in &m.current.files {
            let bytes = self
                .store
                .get_bytes(&ObjectKey::parse(&file.key).unwrap())
                .await
                .unwrap();
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .unwrap()
                .build()
                .unwrap();
            out.extend(reader.map(Result::unwrap));
        }
        out
    }

    async fn data_files(&self) -> Vec<String> {
        let prefix = KeyPrefix::parse("datasets/").unwrap();
        self.store
            .list(&prefix)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.key)
            .collect()
    }

    /// Asserts a failed ingest left nothing behind: no manifest, no data file.
    async fn assert_nothing_registered(&self, name: &str) {
        let got = self.catalog.get(&name.parse().unwrap()).await;
        assert!(
            matches!(got, Err(CatalogError::NotFound { .. })),
            "{name} was registered"
        );
        assert_eq!(self.data_files().await, Vec::<String>::new());
    }
}

fn types(m: &Manifest) -> Vec<String> {
    m.current
        .schema
        .fields
        .iter()
        .map(|f| format!("{}:{}", f.name, f.data_type))
        .collect()
}

#[tokio::test]
async fn types_values_and_nulls_round_trip() {
    let e = env();
    let m = e
        .create(
            "t",
            "id,price,ok,day,at,name\n1,2.5,true,2024-02-29,2024-02-29 10:11:12.5,ann\n2,,false,,,\n3,-1e3,TRUE,1999-12-31,1999-12-31T23:59:59Z,\"\"\n",
        )
        .await;
    assert_eq!(
        types(&m),
        [
            "id:int64",
            "price:float64",
            "ok:boolean",
            "day:date",
            "at:timestamp",
            "name:utf8"
        ]
    );
    assert_eq!((m.current.version, m.current.rows), (1, 3));
    let rows = e.rows(&m).await;
    assert_eq!(
        rows[0],
        [
            "1",
            "2.5",
            "true",
            "2024-02-29",
            "2024-02-29T10:11:12.500",
            "ann"
        ]
    );
    assert_eq!(rows[1], ["2", "", "false", "", "", ""]);
    assert_eq!(
        rows[2],
        [
            "3",
            "-1000.0",
            "true",
            "1999-12-31",
            "1999-12-31T23:59:59",
            ""
        ]
    );
    // `""` is an empty string, an unquoted empty field a null.
    let batches = e.batches(&m).await;
    let name = batches[0].column(5);
    assert!(name.is_null(1) && !name.is_null(2));
}

#[tokio::test]
async fn bom_crlf_quotes_newlines_blank_lines_and_unicode() {
    let e = env();
    let csv =
        "\u{feff}name,note\r\n\r\n\"Zoë, \"\"the\"\" 🦀\",\"two\r\nlines\"\r\n\r\nplain,naïve\r\n";
    let m = e.create("awkward", csv).await;
    assert_eq!(types(&m), ["name:utf8", "note:utf8"]);
    assert_eq!(
        e.rows(&m).await,
        [
            vec!["Zoë, \"the\" 🦀".to_string(), "two\r\nlines".to_string()],
            vec!["plain".to_string(), "naïve".to_string()]
        ]
    );
}

#[tokio::test]
async fn delimiters_are_sniffed() {
    let e = env();
    for (i, d) in [";", "\t", "|"].into_iter().enumerate() {
        let csv = format!("a{d}b\n1{d}x\n2{d}y\n");
        let m = e.create(&format!("d{i}"), &csv).await;
        assert_eq!(types(&m), ["a:int64", "b:utf8"], "delimiter {d:?}");
    }
}

#[tokio::test]
async fn a_late_type_violation_names_line_column_type_and_value_and_registers_nothing() {
    let e = env();
    // Past the inference sample: 20,000 ints, then a word on line 20,002.
    let mut csv = String::from("n,s\n");
    for i in 0..20_000 {
        csv.push_str(&format!("{i},x\n"));
    }
    csv.push_str("oops,x\n");
    let err = e
        .csv("late", CommitMode::Create, csv.as_bytes())
        .await
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 422);
    assert_eq!(err.code(), "type_mismatch");
    let message = err.to_string();
    for part in ["line 20002", "\"n\"", "int64", "\"oops\""] {
        assert!(message.contains(part), "{message} lacks {part}");
    }
    e.assert_nothing_registered("late").await;
}

#[tokio::test]
async fn ragged_rows_and_malformed_quotes_are_400_naming_the_line() {
    let e = env();
    let err = e
        .csv("r", CommitMode::Create, b"a,b\n1,2\n3\n")
        .await
        .unwrap_err();
    assert_eq!((err.status().as_u16(), err.code()), (400, "ragged_row"));
    assert!(err.to_string().contains("line 3"), "{err}");
    let err = e
        .csv("r", CommitMode::Create, b"a,b\n1,\"2\n")
        .await
        .unwrap_err();
    assert_eq!((err.status().as_u16(), err.code()), (400, "malformed_csv"));
    assert!(err.to_string().contains("line 2"), "{err}");
    e.assert_nothing_registered("r").await;
}

#[tokio::test]
async fn header_only_is_an_empty_dataset_and_an_empty_body_is_refused() {
    let e = env();
    let m = e.create("empty", "a,b,c\n").await;
    assert_eq!((m.current.rows, m.current.schema.fields.len()), (0, 3));
    assert_eq!(m.current.files.len(), 1, "the schema is in a file too");
    let err = e.csv("none", CommitMode::Create, b"").await.unwrap_err();
    assert_eq!((err.status().as_u16(), err.code()), (400, "empty_body"));
    let err = e
        .csv("none", CommitMode::Create, b"\r\n\n")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "empty_body");
}

#[tokio::test]
async fn long_fields_and_a_thousand_columns() {
    let e = env();
    let long = "é".repeat(2 << 20);
    let m = e
        .create("long", &format!("id,text\n1,\"{long}\"\n2,short\n"))
        .await;
    assert_eq!(e.rows(&m).await[0][1].len(), long.len());

    let header: Vec<String> = (0..1200).map(|i| format!("c{i}")).collect();
    let mut csv = header.join(",") + "\n";
    for r in 0..50 {
        let row: Vec<String> = (0..1200).map(|c| (r * c).to_string()).collect();
        csv += &(row.join(",") + "\n");
    }
    let m = e.create("wide", &csv).await;
    assert_eq!((m.current.schema.fields.len(), m.current.rows), (1200, 50));
    assert_eq!(e.rows(&m).await[49][1199], (49 * 1199).to_string());
}

#[tokio::test]
async fn gzip_bodies_and_options() {
    let e = env();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"1|NA\n2|3\n").unwrap();
    let options = CsvOptions {
        header: Some(false),
        null: Some("NA".into()),
        ..CsvOptions::default()
    };
    let mut r = request("gz", CommitMode::Create, options);
    r.gzip = true;
    let m = e
        .ingestor
        .ingest(r, body(gz.finish().unwrap()))
        .await
        .unwrap()
        .manifest;
    assert_eq!(types(&m), ["column_1:int64", "column_2:int64"]);
    assert_eq!(e.rows(&m).await, [vec!["1", ""], vec!["2", "3"]]);

    let mut r = request("badgz", CommitMode::Create, CsvOptions::default());
    r.gzip = true;
    let err = e
        .ingestor
        .ingest(r, body(b"a,b\n".to_vec()))
        .await
        .unwrap_err();
    assert_eq!((err.status().as_u16(), err.code()), (400, "invalid_gzip"));
}

#[tokio::test]
async fn explicit_schema_is_enforced() {
    let e = env();
    let options = CsvOptions {
        schema: Some(vec![
            ("zip".into(), catalogd::ColumnType::Utf8),
            ("n".into(), catalogd::ColumnType::Float64),
        ]),
        ..CsvOptions::default()
    };
    let r = request("s", CommitMode::Create, options);
    let m = e
        .ingestor
        .ingest(r, body(b"zip,n\n02134,1\n".to_vec()))
        .await
        .unwrap()
        .manifest;
    assert_eq!(types(&m), ["zip:utf8", "n:float64"]);
    assert_eq!(e.rows(&m).await, [vec!["02134", "1.0"]]);
}

#[tokio::test]
async fn versions_overwrite_append_and_conflicts() {
    let e = env();
    e.create("v", "a,b\n1,x\n").await;
    let err = e
        .csv("v", CommitMode::Create, b"a,b\n2,y\n")
        .await
        .unwrap_err();
    assert_eq!((err.status().as_u16(), err.code()), (409, "dataset_exists"));

    let m = e
        .csv("v", CommitMode::Overwrite, b"a,b\n2,y\n3,z\n")
        .await
        .unwrap()
        .manifest;
    assert_eq!((m.current.version, m.current.rows), (2, 2));
    // Same bytes again: a no-op answering the current manifest.
    let again = e
        .csv("v", CommitMode::Overwrite, b"a,b\n2,y\n3,z\n")
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.manifest.current.version, 2);

    // Append reads with the dataset's types: 4.5 would be a float, but `a` is int64...
    let err = e
        .csv("v", CommitMode::Append, b"a,b\n4.5,w\n")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "type_mismatch");
    // ...a differently named column is a 409 listing the difference...
    let err = e
        .csv("v", CommitMode::Append, b"a,c\n4,w\n")
        .await
        .unwrap_err();
    assert_eq!(
        (err.status().as_u16(), err.code()),
        (409, "schema_mismatch")
    );
    assert!(err.to_string().contains('c'), "{err}");
    // ...and a conforming append adds rows as a new version.
    let m = e
        .csv("v", CommitMode::Append, b"a,b\n4,w\n")
        .await
        .unwrap()
        .manifest;
    assert_eq!((m.current.version, m.current.rows), (3, 3));
    assert_eq!(m.current.files.len(), 2);
    let mut rows = e.rows(&m).await;
    rows.sort();
    assert_eq!(rows, [vec!["2", "y"], vec!["3", "z"], vec!["4", "w"]]);
    // Failed attempts left no stray files: only the kept versions' files remain.
    let mut referenced: Vec<String> = m.referenced_keys().map(String::from).collect();
    referenced.sort();
    referenced.dedup();
    assert_eq!(e.data_files().await, referenced);
}

#[tokio::test]
async fn an_overwrite_after_an_append_of_the_same_body_replaces_the_rows() {
    let e = env();
    let csv = b"a,b\n1,x\n2,y\n";
    e.csv("ow", CommitMode::Create, csv).await.unwrap();
    let appended = e.csv("ow", CommitMode::Append, csv).await.unwrap();
    assert!(appended.created);
    assert_eq!(appended.manifest.current.rows, 4);
    // The append's SHA-256 is this body's, but the version holds 4 rows: not a no-op.
    let over = e.csv("ow", CommitMode::Overwrite, csv).await.unwrap();
    assert!(over.created, "the overwrite must write a version");
    let m = over.manifest;
    assert_eq!((m.current.version, m.current.rows), (3, 2));
    let now = e.catalog.get(&"ow".parse().unwrap()).await.unwrap();
    assert_eq!(now.current.rows, 2);
    let mut rows = e.rows(&now).await;
    rows.sort();
    assert_eq!(rows, [vec!["1", "x"], vec!["2", "y"]]);
    // Now the version is that body alone: the same overwrite again writes nothing.
    let again = e.csv("ow", CommitMode::Overwrite, csv).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.manifest.current.version, 3);
}

#[tokio::test]
async fn idempotency_key_answers_the_earlier_result() {
    let e = env();
    let mut r = request("idem", CommitMode::Append, CsvOptions::default());
    r.idempotency_key = Some("req-1".into());
    let first = e
        .ingestor
        .ingest(r, body(b"a\n1\n".to_vec()))
        .await
        .unwrap();
    assert!(first.created);
    let mut r = request("idem", CommitMode::Append, CsvOptions::default());
    r.idempotency_key = Some("req-1".into());
    let retry = e
        .ingestor
        .ingest(r, body(b"a\n1\n".to_vec()))
        .await
        .unwrap();
    assert!(!retry.created);
    assert_eq!(retry.manifest.current.version, 1);
    assert_eq!(
        retry.manifest.current.rows, 1,
        "the retry did not append again"
    );
}

#[tokio::test]
async fn max_ingest_bytes_is_413_and_registers_nothing() {
    let e = env_with_limit(1000);
    let csv = "a\n".to_string() + &"1\n".repeat(2000);
    let err = e
        .csv("big", CommitMode::Create, csv.as_bytes())
        .await
        .unwrap_err();
    assert_eq!((err.status().as_u16(), err.code()), (413, "too_large"));
    e.assert_nothing_registered("big").await;
}

/// A 2 MiB-ish gzip of a CSV that decodes to 256 MiB (one value repeated): a decompression
/// bomb, small on the wire.
fn gzip_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(b"n\n").unwrap();
    let rows = "7\n".repeat(512 << 10);
    for _ in 0..256 {
        gz.write_all(rows.as_bytes()).unwrap();
    }
    gz.finish().unwrap()
}

#[tokio::test]
async fn a_gzip_bomb_is_413_by_decoded_size_or_ratio_and_registers_nothing() {
    let bomb = gzip_bomb();
    assert!(bomb.len() < 4 << 20, "{} bytes", bomb.len());
    let gzipped = |name: &str| {
        let mut r = request(name, CommitMode::Create, CsvOptions::default());
        r.gzip = true;
        r
    };
    // max_ingest_bytes counts decoded bytes, although the wire bytes are under it (the
    // ratio cap off, or it would stop the bomb first).
    let Env {
        _dir,
        store,
        catalog,
        ingestor,
    } = env_with_limit(16 << 20);
    let e = Env {
        _dir,
        store,
        catalog,
        ingestor: ingestor.with_max_gzip_ratio(0),
    };
    let err = e
        .ingestor
        .ingest(gzipped("bomb"), body(bomb.clone()))
        .await
        .unwrap_err();
    assert_eq!((err.status().as_u16(), err.code()), (413, "too_large"));
    assert!(err.to_string().contains("max_ingest_bytes"), "{err}");
    e.assert_nothing_registered("bomb").await;
    // With no byte limit (the default), the ratio cap stops it.
    let e = env();
    let err = e
        .ingestor
        .ingest(gzipped("bomb"), body(bomb.clone()))
        .await
        .unwrap_err();
    assert_eq!((err.status().as_u16(), err.code()), (413, "too_large"));
    assert!(err.to_string().contains("max_gzip_ratio"), "{err}");
    e.assert_nothing_registered("bomb").await;
}

#[tokio::test]
async fn more_columns_than_max_columns_is_422_and_registers_nothing() {
    let Env {
        _dir,
        store,
        catalog,
        ingestor,
    } = env();
    let e = Env {
        _dir,
        store,
        catalog,
        ingestor: ingestor.with_max_columns(4),
    };
    let err = e
        .csv("wide", CommitMode::Create, b"a,b,c,d,e\n1,2,3,4,5\n")
        .await
        .unwrap_err();
    assert_eq!(
        (err.status().as_u16(), err.code()),
        (422, "too_many_columns")
    );
    assert!(err.to_string().contains("5 columns") && err.to_string().contains("max_columns"));
    e.assert_nothing_registered("wide").await;
    // At the limit, fine.
    e.csv("wide", CommitMode::Create, b"a,b,c,d\n1,2,3,4\n")
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrent_appends_in_one_process_all_land() {
    let e = Arc::new(env());
    let mut tasks = Vec::new();
    for i in 0..6 {
        let e = e.clone();
        tasks.push(tokio::spawn(async move {
            e.csv("c", CommitMode::Append, format!("n\n{i}\n").as_bytes())
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let m = e.catalog.get(&"c".parse().unwrap()).await.unwrap();
    assert_eq!((m.current.version, m.current.rows), (6, 6));
}

#[tokio::test]
async fn parquet_bodies_are_validated_and_stored() {
    let e = env();
    let m = e
        .create(
            "src",
            "a,b,t\n1,x,2024-01-01 00:00:00\n2,,2024-01-02 00:00:00\n",
        )
        .await;
    let key = ObjectKey::parse(&m.current.files[0].key).unwrap();
    let parquet = e.store.get_bytes(&key).await.unwrap().to_vec();
    let r = IngestRequest {
        name: "copy".parse().unwrap(),
        mode: CommitMode::Create,
        format: Format::Parquet,
        gzip: false,
        idempotency_key: None,
        evolve: false,
        partition_by: None,
    };
    let copy = e
        .ingestor
        .ingest(r, body(parquet.clone()))
        .await
        .unwrap()
        .manifest;
    assert_eq!(types(&copy), types(&m));
    assert_eq!(e.rows(&copy).await, e.rows(&m).await);

    let truncated = parquet[..parquet.len() / 2].to_vec();
    let r = IngestRequest {
        name: "broken".parse().unwrap(),
        mode: CommitMode::Create,
        format: Format::Parquet,
        gzip: false,
        idempotency_key: None,
        evolve: false,
        partition_by: None,
    };
    let err = e.ingestor.ingest(r, body(truncated)).await.unwrap_err();
    assert_eq!(
        (err.status().as_u16(), err.code()),
        (400, "invalid_parquet")
    );
    assert!(matches!(
        e.catalog.get(&"broken".parse().unwrap()).await,
        Err(CatalogError::NotFound { .. })
    ));
}

#[tokio::test]
async fn widening_restarts_with_the_wider_type_instead_of_failing() {
    let e = env();
    // Past the sample: an int column meets a float, then a word; a date column a timestamp.
    let mut csv = String::from("n,d,s\n");
    for i in 0..12_000 {
        csv.push_str(&format!("{i},2024-01-01,x\n"));
    }
    csv.push_str("1.5,2024-01-02 03:04:05,y\nword,2024-01-03,z\n");
    let options = CsvOptions {
        widen: true,
        ..CsvOptions::default()
    };
    let r = request("wide", CommitMode::Create, options);
    let m = e
        .ingestor
        .ingest(r, body(csv.clone().into_bytes()))
        .await
        .unwrap()
        .manifest;
    assert_eq!(types(&m), ["n:utf8", "d:timestamp", "s:utf8"]);
    assert_eq!(m.current.rows, 12_002);
    let rows = e.rows(&m).await;
    assert_eq!(rows[12_000], ["1.5", "2024-01-02T03:04:05", "y"]);
    assert_eq!(rows[12_001], ["word", "2024-01-03T00:00:00", "z"]);
    assert_eq!(
        rows[7],
        ["7", "2024-01-01T00:00:00", "x"],
        "earlier rows keep their text"
    );
    // Only the successful pass's parts remain.
    let mut referenced: Vec<String> = m.referenced_keys().map(String::from).collect();
    referenced.sort();
    assert_eq!(e.data_files().await, referenced);

    // Without the option the same body is a 422.
    let err = e
        .csv("strict", CommitMode::Create, csv.as_bytes())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "type_mismatch");
}

#[tokio::test]
async fn many_row_groups_keep_the_input_order() {
    let e = env();
    // 300,000 rows: three row groups, encoded by different workers at once.
    let mut csv = String::from("id,half,label\n");
    for i in 0..300_000 {
        csv.push_str(&format!("{i},{},row {i}\n", i / 2));
    }
    let m = e.create("ordered", &csv).await;
    assert_eq!(m.current.rows, 300_000);
    let bytes = e
        .store
        .get_bytes(&ObjectKey::parse(&m.current.files[0].key).unwrap())
        .await
        .unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    assert_eq!(builder.metadata().num_row_groups(), 3);
    let mut next = 0i64;
    for batch in builder.build().unwrap() {
        let batch = batch.unwrap();
        let ids = batch
            .column(0)
            .as_primitive::<arrow_array::types::Int64Type>();
        for id in ids.values() {
            assert_eq!(*id, next);
            next += 1;
        }
    }
    assert_eq!(next, 300_000);
}

/// A catalog whose commits land but whose answers are lost (a reset connection).
struct LostAnswers(Arc<dyn Catalog>);

#[async_trait::async_trait]
impl Catalog for LostAnswers {
    async fn list(&self) -> Result<Vec<Manifest>, CatalogError> {
        self.0.list().await
    }
    async fn get(&self, name: &catalogd::DatasetName) -> Result<Manifest, CatalogError> {
        self.0.get(name).await
    }
    async fn commit(&self, commit: catalogd::Commit) -> Result<catalogd::Committed, CatalogError> {
        self.0.commit(commit).await?;
        Err(CatalogError::Store(storaged::StoreError::Unavailable(
            "connection reset".into(),
        )))
    }
    async fn delete(&self, name: &catalogd::DatasetName) -> Result<(), CatalogError> {
        self.0.delete(name).await
    }

    async fn register(
        &self,
        name: &catalogd::DatasetName,
        location: &str,
    ) -> Result<catalogd::Manifest, CatalogError> {
        self.0.register(name, location).await
    }
}

#[tokio::test]
async fn a_commit_whose_answer_is_lost_keeps_its_files_and_succeeds() {
    let e = env();
    let lossy = Ingestor::new(e.store.clone(), Arc::new(LostAnswers(e.catalog.clone())), 0);
    let r = request("lost", CommitMode::Create, CsvOptions::default());
    let outcome = lossy.ingest(r, body(b"a\n1\n2\n".to_vec())).await.unwrap();
    assert_eq!(outcome.manifest.current.rows, 2);
    // Every file the manifest lists is there.
    for f in &outcome.manifest.current.files {
        let key = ObjectKey::parse(&f.key).unwrap();
        assert!(e.store.head(&key).await.is_ok(), "{} was deleted", f.key);
    }
}

#[tokio::test]
async fn a_stalled_client_fails_the_ingest_and_frees_the_dataset() {
    let e = env();
    let ingestor = e
        .ingestor
        .clone()
        .with_body_idle_timeout(std::time::Duration::from_millis(300));
    // One chunk, then nothing, forever.
    let first: std::io::Result<bytes::Bytes> = Ok(bytes::Bytes::from_static(b"a\n1\n"));
    let stalled = futures::stream::iter([first]).chain(futures::stream::pending());
    let r = request("stall", CommitMode::Append, CsvOptions::default());
    let err = ingestor.ingest(r, Box::pin(stalled)).await.unwrap_err();
    assert_eq!(
        (err.status().as_u16(), err.code()),
        (400, "body_read_failed")
    );
    assert!(err.to_string().contains("sent nothing"), "{err}");
    let r = request("stall", CommitMode::Append, CsvOptions::default());
    let ok = ingestor.ingest(r, body(b"a\n1\n".to_vec())).await.unwrap();
    assert_eq!(ok.manifest.current.rows, 1, "the dataset is not locked");
}

#[tokio::test]
async fn a_parquet_append_must_match_the_dataset_types() {
    let e = env();
    let ints = e.create("ints", "n\n1\n2\n").await;
    let floats = e.create("floats", "n\n1.5\n-2.9\n").await;
    let key = ObjectKey::parse(&floats.current.files[0].key).unwrap();
    let parquet = e.store.get_bytes(&key).await.unwrap().to_vec();
    let r = IngestRequest {
        name: "ints".parse().unwrap(),
        mode: CommitMode::Append,
        format: Format::Parquet,
        gzip: false,
        idempotency_key: None,
        evolve: false,
        partition_by: None,
    };
    let err = e.ingestor.ingest(r, body(parquet)).await.unwrap_err();
    assert_eq!(
        (err.status().as_u16(), err.code()),
        (409, "schema_mismatch")
    );
    let now = e.catalog.get(&"ints".parse().unwrap()).await.unwrap();
    assert_eq!(
        now.current.version, ints.current.version,
        "nothing appended"
    );
}

/// A Parquet append with `evolve` adds the file's new columns; the dataset's must still
/// come first with their types.
#[tokio::test]
async fn a_parquet_append_with_evolve_adds_its_new_columns() {
    let e = env();
    let narrow = e.create("narrow", "n,s\n1,a\n").await;
    let wide = e.create("wide", "n,s,f,d\n2,b,0.5,2024-01-02\n").await;
    let moved = e.create("moved", "s,n,f\nc,3,1.5\n").await;
    let parquet = |m: &catalogd::Manifest| {
        let key = ObjectKey::parse(&m.current.files[0].key).unwrap();
        let store = e.store.clone();
        async move { store.get_bytes(&key).await.unwrap().to_vec() }
    };
    let append = |evolve| IngestRequest {
        name: "narrow".parse().unwrap(),
        mode: CommitMode::Append,
        format: Format::Parquet,
        gzip: false,
        idempotency_key: None,
        evolve,
        partition_by: None,
    };
    let err = e
        .ingestor
        .ingest(append(false), body(parquet(&wide).await))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "schema_mismatch", "{err}");
    let err = e
        .ingestor
        .ingest(append(true), body(parquet(&moved).await))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("column \"n\" is column 1"),
        "{err}"
    );
    let m = e
        .ingestor
        .ingest(append(true), body(parquet(&wide).await))
        .await
        .unwrap()
        .manifest;
    assert_eq!(types(&m), ["n:int64", "s:utf8", "f:float64", "d:date"]);
    assert_eq!(
        (m.current.version, m.current.rows),
        (narrow.current.version + 1, 2)
    );
}

#[tokio::test]
async fn a_first_record_longer_than_the_sample_is_still_sniffed() {
    let e = env();
    // A 1.5 MB quoted first value full of newlines, then typed records.
    let long = "x\n".repeat(750_000);
    let csv = format!("text,n\n\"{long}\",1\nshort,2\n");
    let m = e.create("longfirst", &csv).await;
    assert_eq!(types(&m), ["text:utf8", "n:int64"]);
    assert_eq!(m.current.rows, 2);
}

/// A store whose data-file uploads fail after their first chunk (S3 going away mid-ingest).
struct FailingUploads(Arc<dyn Store>);

#[async_trait::async_trait]
impl Store for FailingUploads {
    async fn put(
        &self,
        key: &ObjectKey,
        mut body: storaged::ByteStream,
        mode: storaged::PutMode,
    ) -> Result<storaged::ObjectMeta, storaged::StoreError> {
        if key.as_str().starts_with("datasets/") {
            let _ = body.next().await;
            return Err(storaged::StoreError::Unavailable(
                "s3 at 127.0.0.1:9 is unreachable".into(),
            ));
        }
        self.0.put(key, body, mode).await
    }
    async fn get(&self, key: &ObjectKey) -> Result<storaged::GetObject, storaged::StoreError> {
        self.0.get(key).await
    }
    async fn head(&self, key: &ObjectKey) -> Result<storaged::ObjectMeta, storaged::StoreError> {
        self.0.head(key).await
    }
    async fn delete(&self, key: &ObjectKey) -> Result<(), storaged::StoreError> {
        self.0.delete(key).await
    }
    async fn list(
        &self,
        prefix: &KeyPrefix,
    ) -> Result<Vec<storaged::ObjectMeta>, storaged::StoreError> {
        self.0.list(prefix).await
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

#[tokio::test]
async fn a_store_failing_mid_ingest_is_a_503_and_registers_nothing() {
    let e = env();
    let failing: Arc<dyn Store> = Arc::new(FailingUploads(e.store.clone()));
    let ingestor = Ingestor::new(failing, e.catalog.clone(), 0);
    let mut csv = String::from("id,label\n");
    for i in 0..400_000 {
        csv.push_str(&format!("{i},row number {i}\n"));
    }
    let r = request("down", CommitMode::Create, CsvOptions::default());
    let err = ingestor
        .ingest(r, body(csv.into_bytes()))
        .await
        .unwrap_err();
    assert_eq!(
        (err.status().as_u16(), err.code()),
        (503, "store_unavailable"),
        "{err}"
    );
    e.assert_nothing_registered("down").await;
}

/// `rows` CSV records `i,row number i` (no header).
fn numbered_rows(from: usize, to: usize) -> Vec<u8> {
    let mut csv = String::new();
    for i in from..to {
        csv.push_str(&format!("{i},row number {i}\n"));
    }
    csv.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sweep_during_a_long_ingest_spares_its_parts() {
    let e = env();
    // Every row group (131,072 rows) closes a part, so parts reach the store mid-body.
    let ingestor = e.ingestor.clone().with_part_bytes(1);
    let (resume_tx, resume_rx) = tokio::sync::oneshot::channel::<()>();
    let mut first = b"id,label\n".to_vec();
    first.extend(numbered_rows(0, 400_000));
    let head = body(first);
    let tail = futures::stream::once(async move {
        let _ = resume_rx.await;
        Ok(bytes::Bytes::from(numbered_rows(400_000, 450_000)))
    });
    let r = request("slow", CommitMode::Create, CsvOptions::default());
    let ingest = tokio::spawn(async move { ingestor.ingest(r, Box::pin(head.chain(tail))).await });
    // Wait for two parts to be in the store while the body is paused.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while e.data_files().await.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no parts written");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let written = e.data_files().await;
    // A sweep whose cutoff spares nothing by age: only the lease protects the parts.
    let removed = catalogd::sweep_unreferenced(
        &*e.store,
        &*e.catalog,
        chrono::Utc::now() + chrono::Duration::hours(1),
    )
    .await
    .unwrap();
    assert_eq!(removed, 0, "the sweep took parts of a running ingest");
    resume_tx.send(()).unwrap();
    let m = ingest.await.unwrap().unwrap().manifest;
    assert_eq!(m.current.rows, 450_000);
    assert!(m.current.files.len() >= 3, "{:?}", m.current.files);
    for key in &written {
        assert!(m.referenced_keys().any(|k| k == key), "{key} not committed");
    }
    for f in &m.current.files {
        let key = ObjectKey::parse(&f.key).unwrap();
        assert!(e.store.head(&key).await.is_ok(), "{} is missing", f.key);
    }
    // The lease is gone with the ingest.
    let leases = e
        .store
        .list(&KeyPrefix::parse("_leases/ingest/").unwrap())
        .await
        .unwrap();
    assert!(leases.is_empty(), "{leases:?}");
}

/// A store whose lease writes fail after the first (the lease cannot be renewed).
struct StuckLeases(Arc<dyn Store>, std::sync::atomic::AtomicBool);

#[async_trait::async_trait]
impl Store for StuckLeases {
    async fn put(
        &self,
        key: &ObjectKey,
        body: storaged::ByteStream,
        mode: storaged::PutMode,
    ) -> Result<storaged::ObjectMeta, storaged::StoreError> {
        if key.as_str().starts_with("_leases/")
            && self.1.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(storaged::StoreError::Unavailable(
                "s3 is unreachable".into(),
            ));
        }
        self.0.put(key, body, mode).await
    }
    async fn get(&self, key: &ObjectKey) -> Result<storaged::GetObject, storaged::StoreError> {
        self.0.get(key).await
    }
    async fn head(&self, key: &ObjectKey) -> Result<storaged::ObjectMeta, storaged::StoreError> {
        self.0.head(key).await
    }
    async fn delete(&self, key: &ObjectKey) -> Result<(), storaged::StoreError> {
        self.0.delete(key).await
    }
    async fn list(
        &self,
        prefix: &KeyPrefix,
    ) -> Result<Vec<storaged::ObjectMeta>, storaged::StoreError> {
        self.0.list(prefix).await
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

#[tokio::test]
async fn an_ingest_that_cannot_renew_its_lease_does_not_commit() {
    let e = env();
    let stuck: Arc<dyn Store> = Arc::new(StuckLeases(e.store.clone(), Default::default()));
    let ingestor =
        Ingestor::new(stuck, e.catalog.clone(), 0).with_lease_timing(ingestd::LeaseTiming {
            renew: std::time::Duration::from_millis(20),
            ttl: std::time::Duration::from_millis(200),
        });
    let first: std::io::Result<bytes::Bytes> = Ok(bytes::Bytes::from_static(b"a\n1\n"));
    let later = futures::stream::once(async {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        Ok(bytes::Bytes::from_static(b"2\n"))
    });
    let r = request("stuck", CommitMode::Create, CsvOptions::default());
    let err = ingestor
        .ingest(r, Box::pin(futures::stream::iter([first]).chain(later)))
        .await
        .unwrap_err();
    assert_eq!(
        (err.status().as_u16(), err.code()),
        (503, "store_unavailable"),
        "{err}"
    );
    assert!(err.to_string().contains("lease"), "{err}");
    assert!(err.to_string().contains("nothing was committed"), "{err}");
    e.assert_nothing_registered("stuck").await;
}
