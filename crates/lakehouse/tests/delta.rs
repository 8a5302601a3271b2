//! Our datasets are Delta tables other tools read: PyPI `deltalake` (delta-rs's Python
//! binding, installed by scripts/test) opens what the real binary wrote — on a local
//! directory and on S3 (a real S3-compatible server on loopback) — and finds the versions,
//! the history, the schema and, at every version, exactly the rows our SQL answers.

use std::path::Path;

use serde_json::{Value, json};
use test_support::{
    Lakehouse, Launch, S3_ACCESS_KEY, S3_SECRET_KEY, S3Server, error_of, lakehouse_bin, post_csv,
    send_json,
};

const V1: &str = "id,city,price,paid,day,at\n\
                  1,paris,3.5,true,2024-01-02,2024-01-02T03:04:05Z\n\
                  2,rome,,false,2024-02-03,2024-02-03T00:00:00Z\n\
                  3,,7.25,,,\n";
const V2: &str = "id,city,price,paid,day,at\n\
                  4,oslo,1e3,true,2025-06-30,2025-06-30T23:59:59.5Z\n";
const V3: &str = "id,city,price,paid,day,at\n\
                  10,lima,0.5,false,2023-12-31,2023-12-31T12:00:00Z\n\
                  11,kyiv,-2,true,2024-07-04,2024-07-04T08:30:00Z\n";

/// Our rows of `table`, as the Python side writes them: sorted, text and numbers as JSON.
async fn our_rows(lh: &Lakehouse, table: &str) -> Vec<Value> {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/sql", lh.url))
        .json(&json!({"sql": format!("SELECT id, city, price, paid, day, at FROM \"{table}\"")}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let mut rows: Vec<Value> = body["rows"].as_array().expect("rows").to_vec();
    rows.sort_by_key(|r| canonical(r).to_string());
    rows
}

/// Numbers as f64, so `1000` and `1000.0` compare equal; timestamps without a trailing `Z`
/// or zero fraction (Python's isoformat has neither).
fn canonical(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), canonical(v)))
                .collect(),
        ),
        Value::Number(n) => json!(n.as_f64()),
        Value::String(s) => {
            let s = s.trim_end_matches('Z');
            let s = match s.split_once('.') {
                Some((head, fraction)) if s.contains('T') => {
                    let fraction = fraction.trim_end_matches('0');
                    if fraction.is_empty() {
                        head.to_string()
                    } else {
                        format!("{head}.{fraction}")
                    }
                }
                _ => s.to_string(),
            };
            Value::String(s)
        }
        other => other.clone(),
    }
}

fn deltalake(uri: &str, options: Option<Value>, versions: &[u64]) -> Value {
    let input = json!({"uri": uri, "storage_options": options, "versions": versions});
    python("tests/delta_read.py", &input)
}

/// Runs `steps` on the table at `uri` with `deltalake` (tests/delta_write.py); every
/// version's rows as it then reads them.
fn deltalake_write(uri: &str, options: &Option<Value>, steps: Value) -> Value {
    let input = json!({"uri": uri, "storage_options": options, "steps": steps});
    python("tests/delta_write.py", &input)
}

/// `script` (under this crate) with `input` on stdin; its JSON answer.
fn python(script: &str, input: &Value) -> Value {
    use std::io::Write;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "deltalake failed (scripts/test installs it from PyPI): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Writes three versions (create, append, overwrite) and checks what `deltalake` reads
/// against our answers.
async fn deltalake_reads_what_sql_reads(lh: &Lakehouse, uri: &str, options: Option<Value>) {
    ingest_named(lh, "t", "create", V1).await;
    ingest_named(lh, "t", "append", V2).await;
    ingest_named(lh, "t", "overwrite", V3).await;
    let read = deltalake(uri, options, &[0, 1, 2]);

    // Our version N is Delta's N - 1.
    assert_eq!(read["version"], 2, "{read}");
    let history: Vec<(u64, String)> = read["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["version"].as_u64().unwrap(),
                h["lakehouse"]["mode"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            (2, "overwrite".into()),
            (1, "append".into()),
            (0, "create".into())
        ],
        "{read}"
    );
    let versions: Value = get_json(format!("{}/v1/datasets/t/versions", lh.url)).await;
    let ours: Vec<u64> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(ours, [3, 2, 1]);

    assert_eq!(
        read["schema"],
        json!([
            ["id", "long", true],
            ["city", "string", true],
            ["price", "double", true],
            ["paid", "boolean", true],
            ["day", "date", true],
            ["at", "timestamp_ntz", true]
        ]),
        "{read}"
    );
    for delta_version in 0..3u64 {
        let theirs: Vec<Value> = read["rows"][delta_version.to_string()]
            .as_array()
            .unwrap()
            .iter()
            .map(canonical)
            .collect();
        let mine: Vec<Value> = our_rows(lh, &format!("t@v{}", delta_version + 1))
            .await
            .iter()
            .map(canonical)
            .collect();
        let mut theirs_sorted = theirs.clone();
        theirs_sorted.sort_by_key(|r| r.to_string());
        let mut mine_sorted = mine.clone();
        mine_sorted.sort_by_key(|r| r.to_string());
        assert_eq!(
            theirs_sorted,
            mine_sorted,
            "Delta version {delta_version} (ours {})",
            delta_version + 1
        );
        assert!(!mine.is_empty());
    }
    their_statistics_match_our_answers(lh, &read).await;
}

/// The statistics `deltalake` reads from our log (each file's bounds and null counts) are
/// the current version's: their smallest minimum and largest maximum are SQL's `min` and
/// `max` (the test data's timestamps are whole milliseconds, so exact), their null counts
/// add up to SQL's.
async fn their_statistics_match_our_answers(lh: &Lakehouse, read: &Value) {
    let files = read["files"].as_array().expect("files");
    assert!(!files.is_empty(), "{read}");
    for column in ["id", "city", "price", "day", "at"] {
        let sql = format!(
            "SELECT min({column}) AS lo, max({column}) AS hi, \
             count(*) - count({column}) AS nulls FROM t"
        );
        let ours = &sql_objects(lh, &sql).await[0];
        let of = |stat: &str| -> Vec<Value> {
            files
                .iter()
                .map(|f| canonical(&f[format!("{stat}.{column}")]))
                .filter(|v| !v.is_null())
                .collect()
        };
        let order = |a: &&Value, b: &&Value| match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => a.to_string().cmp(&b.to_string()),
        };
        let mins = of("min");
        let maxes = of("max");
        assert_eq!(
            mins.iter().min_by(order),
            Some(&ours["lo"]),
            "{column}: {read}"
        );
        assert_eq!(
            maxes.iter().max_by(order),
            Some(&ours["hi"]),
            "{column}: {read}"
        );
        let nulls: f64 = of("null_count").iter().filter_map(Value::as_f64).sum();
        assert_eq!(json!(nulls), ours["nulls"], "{column}: {read}");
    }
}

#[tokio::test]
async fn deltalake_reads_our_tables_on_a_local_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lh = Lakehouse::start(lakehouse_bin!(), Launch::standalone(&data)).await;
    let uri = data.join("datasets/t").display().to_string();
    deltalake_reads_what_sql_reads(&lh, &uri, None).await;
}

/// A query opens only the files whose statistics in the log may hold rows it wants, and
/// answers the same rows as a scan of every file.
#[tokio::test]
async fn files_a_filter_rules_out_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lh = Lakehouse::start(lakehouse_bin!(), Launch::standalone(&data)).await;
    ingest_named(&lh, "t", "create", V1).await;
    ingest_named(&lh, "t", "append", V2).await;
    ingest_named(&lh, "t", "append", V3).await;
    let files_read = |plan: Vec<Value>| {
        let text = plan.iter().map(Value::to_string).collect::<String>();
        text.matches(".parquet").count()
    };
    let cases = [
        ("id >= 4 AND id < 10", 1, vec![4.0]),
        ("id >= 4", 2, vec![4.0, 10.0, 11.0]),
        ("id > 100", 0, vec![]),
        ("city = 'oslo'", 1, vec![4.0]),
        ("city IS NULL", 1, vec![3.0]),
        ("price < 0", 1, vec![11.0]),
        ("day >= DATE '2025-01-01'", 1, vec![4.0]),
        // A timestamp bound is a millisecond: its whole millisecond may hold rows.
        ("at > TIMESTAMP '2025-06-30 23:59:59.4995'", 1, vec![4.0]),
        ("at > TIMESTAMP '2025-06-30 23:59:59.5'", 1, vec![]),
        ("at > TIMESTAMP '2025-06-30 23:59:59.501'", 0, vec![]),
        ("id IN (2, 11)", 2, vec![2.0, 11.0]),
        ("paid", 3, vec![1.0, 4.0, 11.0]),
    ];
    for (filter, files, ids) in cases {
        let explain = format!("EXPLAIN SELECT id FROM t WHERE {filter}");
        assert_eq!(
            files_read(sql_objects(&lh, &explain).await),
            files,
            "{filter}"
        );
        let rows = sql_objects(&lh, &format!("SELECT id FROM t WHERE {filter}")).await;
        let got: Vec<f64> = rows.iter().map(|r| r["id"].as_f64().unwrap()).collect();
        let mut got = got;
        got.sort_by(f64::total_cmp);
        assert_eq!(got, ids, "{filter}");
    }
}

/// A standalone server on a new bucket of a real S3-compatible server on loopback, and the
/// storage options `deltalake` reaches the bucket with.
struct OnS3 {
    lh: Lakehouse,
    bucket: String,
    options: Value,
    _s3: S3Server,
    _dir: tempfile::TempDir,
}

async fn on_s3(bucket: &str) -> OnS3 {
    let s3 = S3Server::start();
    let bucket = s3.bucket(bucket).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lakehouse.toml");
    std::fs::write(&config, s3.config_toml(&bucket)).unwrap();
    let lh = Lakehouse::start(lakehouse_bin!(), Launch::standalone_with_config(&config)).await;
    let options = json!({
        "AWS_ENDPOINT_URL": s3.endpoint(),
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
    });
    OnS3 {
        lh,
        bucket,
        options,
        _s3: s3,
        _dir: dir,
    }
}

#[tokio::test]
async fn deltalake_reads_our_tables_on_s3() {
    let s = on_s3("delta").await;
    let uri = format!("s3://{}/datasets/t", s.bucket);
    deltalake_reads_what_sql_reads(&s.lh, &uri, Some(s.options.clone())).await;
}

/// `evolve=true` on an append adds the upload's new columns (earlier rows read as null, in
/// our SQL and in `deltalake`); without it, or with a changed type or a reordered column,
/// the append is refused naming the column, and nothing is written.
#[tokio::test]
async fn an_append_with_evolve_adds_columns_that_deltalake_reads() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lh = Lakehouse::start(lakehouse_bin!(), Launch::standalone(&data)).await;
    let url = |query: &str| format!("{}/v1/ingest/e?{query}", lh.url);
    assert_eq!(
        post_csv(&url("mode=create"), "id,a\n1,x\n2,y\n").await.0,
        201
    );

    let wider = "id,a,b,c\n3,z,1.5,true\n";
    let (status, body) = post_csv(&url("mode=append"), wider).await;
    let (code, message) = error_of(&body);
    assert_eq!((status, code), (409, "schema_mismatch"), "{body}");
    assert!(
        message.contains("\"b\"") && message.contains("evolve=true"),
        "{message}"
    );
    for (query, csv, column) in [
        // A column of the dataset with another type.
        (
            "schema=id:int64,a:float64,b:int64",
            "id,a,b\n3,4.5,1\n",
            "\"a\"",
        ),
        // The dataset's columns, not first and in order.
        ("", "a,id,b\nz,3,1\n", "\"id\""),
        // A column of the dataset missing.
        ("", "id,b\n3,1\n", "\"a\""),
    ] {
        let (status, body) = post_csv(&url(&format!("mode=append&evolve=true&{query}")), csv).await;
        let (code, message) = error_of(&body);
        assert_eq!((status, code), (409, "schema_mismatch"), "{csv}: {body}");
        assert!(message.contains(column), "{csv}: {message}");
    }
    let versions = |body: &Value| body["version"].as_u64();
    let (status, body) = post_csv(&url("mode=append&evolve=true"), wider).await;
    assert_eq!((status, versions(&body)), (201, Some(2)), "{body}");
    // The new columns come after the dataset's; `evolve` on an append that adds nothing
    // is a plain append.
    let (status, body) = post_csv(&url("mode=append&evolve=true"), "id,a,b,c\n4,w,,false\n").await;
    assert_eq!((status, versions(&body)), (201, Some(3)), "{body}");

    let (_, answer) = send_json(
        reqwest::Client::new()
            .post(format!("{}/v1/sql", lh.url))
            .json(&json!({"sql": "SELECT id, a, b, c FROM e ORDER BY id"})),
    )
    .await;
    let ours = answer["rows"].clone();
    assert_eq!(
        ours,
        json!([
            [1, "x", null, null],
            [2, "y", null, null],
            [3, "z", 1.5, true],
            [4, "w", null, false]
        ]),
        "{answer}"
    );
    // Version 1 keeps its two columns.
    let (_, old) = send_json(
        reqwest::Client::new()
            .post(format!("{}/v1/sql", lh.url))
            .json(&json!({"sql": "SELECT * FROM \"e@v1\""})),
    )
    .await;
    assert_eq!(old["columns"].as_array().map(Vec::len), Some(2), "{old}");

    let uri = data.join("datasets/e").display().to_string();
    let read = deltalake(&uri, None, &[2]);
    assert_eq!(
        read["schema"],
        json!([
            ["id", "long", true],
            ["a", "string", true],
            ["b", "double", true],
            ["c", "boolean", true]
        ]),
        "{read}"
    );
    let theirs: Vec<Value> = read["rows"]["2"]
        .as_array()
        .unwrap()
        .iter()
        .map(canonical)
        .collect();
    let mut mine: Vec<Value> = ours.as_array().unwrap().iter().map(canonical).collect();
    mine.sort_by_key(|r| r.to_string());
    let mut theirs = theirs;
    theirs.sort_by_key(|r| r.to_string());
    assert_eq!(theirs, mine);
}

/// A data directory of the layout before Delta tables (a manifest under `_catalog/`, three
/// kept versions of five, real Parquet files) is converted at start-up: every kept version
/// answers the same rows under the same number, `deltalake` reads the table, the manifest
/// is gone, and a new append gets the next number.
#[tokio::test]
async fn a_manifest_dataset_is_converted_at_start_keeping_its_versions() {
    use catalogd::{Catalog, Commit, CommitMode, DataFile, StoreCatalog};
    use storaged::{ObjectKey, ObjectStoreBackend, PutMode, Store, StoreExt};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Parquet files written by the real ingest path: the versions of `src`.
    let lh = Lakehouse::start(lakehouse_bin!(), Launch::standalone(&data)).await;
    let client = reqwest::Client::new();
    let mut expected = Vec::new();
    for (mode, csv) in [("create", V1), ("append", V2), ("overwrite", V3)] {
        ingest_named(&lh, "src", mode, csv).await;
    }
    for v in 1..=3 {
        expected.push(our_rows(&lh, &format!("src@v{v}")).await);
    }
    let src: Value = get_json(format!("{}/v1/datasets/src", lh.url)).await;
    drop(lh);

    // The same files, as dataset `old` of the manifest layout, numbered 3 to 5 (versions
    // 1 and 2 fell out of a keep window of 3).
    let store: std::sync::Arc<dyn Store> =
        std::sync::Arc::new(ObjectStoreBackend::local(&data).unwrap());
    let legacy = StoreCatalog::new(store.clone(), 3);
    let schema: catalogd::Schema = serde_json::from_value(src["schema"].clone()).unwrap();
    let copied = |files: &[Value], into: &str| {
        let store = store.clone();
        let files = files.to_vec();
        let into = into.to_string();
        async move {
            let mut out = Vec::new();
            for f in files {
                let from = f["key"].as_str().unwrap();
                let bytes = store
                    .get_bytes(&ObjectKey::parse(from).unwrap())
                    .await
                    .unwrap();
                let name = from.rsplit('/').next().unwrap();
                let key = format!("datasets/old/{into}/{name}");
                store
                    .put_bytes(&ObjectKey::parse(&key).unwrap(), bytes, PutMode::Overwrite)
                    .await
                    .unwrap();
                out.push(DataFile {
                    key,
                    rows: f["rows"].as_u64().unwrap(),
                    bytes: f["bytes"].as_u64().unwrap(),
                    partition_values: Default::default(),
                    stats: Default::default(),
                });
            }
            out
        }
    };
    let by_version: Vec<Value> = {
        let mut all = vec![src.clone()];
        all.extend(src["versions"].as_array().unwrap().iter().cloned());
        all.sort_by_key(|v| v["version"].as_u64().unwrap());
        all
    };
    // Versions 1 and 2 of `old` are made only to be dropped by the keep window.
    let filler = copied(by_version[0]["files"].as_array().unwrap(), "v0").await;
    for _ in 0..2 {
        legacy
            .commit(Commit {
                name: "old".parse().unwrap(),
                mode: CommitMode::Overwrite,
                schema: schema.clone(),
                files: filler.clone(),
                source_sha256: None,
                idempotency_key: None,
                evolve: false,
                partition_by: vec![],
            })
            .await
            .unwrap();
    }
    let mut first = true;
    for (i, version) in by_version.iter().enumerate() {
        let files = version["files"].as_array().unwrap();
        // An append's files are the previous version's and its own: copy only the new ones.
        let mode = match version["mode"].as_str().unwrap() {
            "append" => CommitMode::Append,
            _ => CommitMode::Overwrite,
        };
        let new: Vec<Value> = if mode == CommitMode::Append {
            let before: Vec<&str> = by_version[i - 1]["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["key"].as_str().unwrap())
                .collect();
            files
                .iter()
                .filter(|f| !before.contains(&f["key"].as_str().unwrap()))
                .cloned()
                .collect()
        } else {
            files.clone()
        };
        let files = copied(&new, &format!("v{}", i + 3)).await;
        legacy
            .commit(Commit {
                name: "old".parse().unwrap(),
                mode: if first { CommitMode::Overwrite } else { mode },
                schema: schema.clone(),
                files,
                source_sha256: None,
                idempotency_key: Some(format!("upload-{}", i + 3)),
                evolve: false,
                partition_by: vec![],
            })
            .await
            .unwrap();
        first = false;
    }
    let before = legacy.get(&"old".parse().unwrap()).await.unwrap();
    assert_eq!(
        before.all_versions().map(|v| v.version).collect::<Vec<_>>(),
        [5, 4, 3]
    );
    assert!(data.join("_catalog/old.json").is_file());

    let lh = Lakehouse::start(lakehouse_bin!(), Launch::standalone(&data)).await;
    assert!(
        !data.join("_catalog/old.json").exists(),
        "the manifest is removed"
    );
    assert!(data.join("_tables/old.json").is_file());
    let versions: Value = get_json(format!("{}/v1/datasets/old/versions", lh.url)).await;
    let listed: Vec<(u64, String, u64, String)> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap(),
                v["mode"].as_str().unwrap().to_string(),
                v["rows"].as_u64().unwrap(),
                v["created_at"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let was: Vec<(u64, String, u64, String)> = before
        .all_versions()
        .map(|v| {
            (
                v.version,
                serde_json::to_value(v.mode)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string(),
                v.rows,
                serde_json::to_value(v.created_at)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(listed, was);
    for (i, rows) in expected.iter().enumerate() {
        assert_eq!(
            &our_rows(&lh, &format!("old@v{}", i + 3)).await,
            rows,
            "old@v{}",
            i + 3
        );
    }
    // A replayed idempotency key of a converted version is still recognised.
    let replay = client
        .post(format!("{}/v1/ingest/old?mode=append", lh.url))
        .header("Idempotency-Key", "upload-5")
        .body(V2)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 200, "{}", replay.text().await.unwrap());
    ingest_named(&lh, "old", "append", V2).await;
    let head: Value = get_json(format!("{}/v1/datasets/old", lh.url)).await;
    assert_eq!(head["version"], 6);

    // Delta's version 0 is our 3.
    let read = deltalake(
        &data.join("datasets/old").display().to_string(),
        None,
        &[0, 2],
    );
    assert_eq!(read["version"], 3);
    let delta_rows = |v: u64| -> Vec<Value> {
        let mut rows: Vec<Value> = read["rows"][v.to_string()]
            .as_array()
            .unwrap()
            .iter()
            .map(canonical)
            .collect();
        rows.sort_by_key(|r| r.to_string());
        rows
    };
    let ours = |rows: &Vec<Value>| -> Vec<Value> {
        let mut rows: Vec<Value> = rows.iter().map(canonical).collect();
        rows.sort_by_key(|r| r.to_string());
        rows
    };
    assert_eq!(delta_rows(0), ours(&expected[0]));
    assert_eq!(delta_rows(2), ours(&expected[2]));
}

/// GET `url`; its JSON answer.
async fn get_json(url: String) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

async fn ingest_named(lh: &Lakehouse, name: &str, mode: &str, csv: &'static str) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/ingest/{name}?mode={mode}", lh.url))
        .body(csv)
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert!(
        status.is_success(),
        "{mode}: {status} {}",
        response.text().await.unwrap()
    );
}

/// The rows of `sql` as objects (column → value), canonical and sorted: how
/// tests/delta_write.py gives `deltalake`'s.
async fn sql_objects(lh: &Lakehouse, sql: &str) -> Vec<Value> {
    let (status, body) = send_json(
        reqwest::Client::new()
            .post(format!("{}/v1/sql", lh.url))
            .json(&json!({ "sql": sql })),
    )
    .await;
    assert_eq!(status, 200, "{sql}: {body}");
    let names: Vec<&str> = body["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let mut rows: Vec<Value> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let object: serde_json::Map<String, Value> = names
                .iter()
                .zip(row.as_array().unwrap())
                .map(|(n, v)| (n.to_string(), canonical(v)))
                .collect();
            Value::Object(object)
        })
        .collect();
    rows.sort_by_key(|r| r.to_string());
    rows
}

/// The column names of a manifest's schema, in order.
fn column_names(manifest: &Value) -> Vec<&str> {
    manifest["schema"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect()
}

/// `deltalake`'s rows of one version, canonical and sorted as [`sql_objects`] has them.
fn their_objects(read: &Value, version: u64) -> Vec<Value> {
    let mut rows: Vec<Value> = read["rows"][version.to_string()]
        .as_array()
        .unwrap_or_else(|| panic!("no version {version} in {read}"))
        .iter()
        .map(canonical)
        .collect();
    rows.sort_by_key(|r| r.to_string());
    rows
}

async fn register(lh: &Lakehouse, body: Value) -> (reqwest::StatusCode, Value) {
    send_json(
        reqwest::Client::new()
            .post(format!("{}/v1/datasets", lh.url))
            .json(&body),
    )
    .await
}

const EXTERNAL_COLUMNS: &str = r#"[["id","int64"],["name","utf8"],["score","float64"],
    ["ok","bool"],["day","date"],["at","timestamp"]]"#;

/// A table `deltalake` wrote (create, append, its own delete and overwrite, another append)
/// is registered, reads as `deltalake` reads it at every version (ours are Delta's numbers),
/// takes our appends (which `deltalake` then reads), and is only unregistered by a delete.
async fn a_table_deltalake_wrote_works_end_to_end(
    lh: &Lakehouse,
    uri: &str,
    options: Option<Value>,
) {
    let columns: Value = serde_json::from_str(EXTERNAL_COLUMNS).unwrap();
    let write = |mode: &str, rows: Value| json!({"write": {"mode": mode, "columns": columns, "rows": rows}});
    let steps = json!([
        write("overwrite", json!([
            [1, "ann", 1.5, true, "2024-01-02", "2024-01-02T03:04:05"],
            [2, "bob", null, false, "2024-02-03", "2024-02-03T00:00:00"],
            [3, null, 7.25, null, null, null]
        ])),
        write("append", json!([[4, "cy", -2.0, true, "2025-06-30", "2025-06-30T23:59:59.5"]])),
        {"delete": "id = 2"},
        write("overwrite", json!([[10, "dee", 0.5, false, "2023-12-31", "2023-12-31T12:00:00"],
                                  [11, "eve", 3.0, true, "2024-07-04", "2024-07-04T08:30:00"]])),
        write("append", json!([[12, "fay", 9.0, null, "2024-08-01", null]])),
    ]);
    let read = deltalake_write(uri, &options, steps);
    assert_eq!(read["version"], 4, "{read}");

    let (status, m) = register(lh, json!({"name": "ext", "location": "external/ext"})).await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["location"], "external/ext/");
    assert_eq!(
        m["version"], 4,
        "our numbers are Delta's for an external table: {m}"
    );
    assert!(m.get("read_only").is_none(), "{m}");
    let versions = get_json(format!("{}/v1/datasets/ext/versions", lh.url)).await;
    let modes: Vec<(u64, &str)> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_u64().unwrap(), v["mode"].as_str().unwrap()))
        .collect();
    assert_eq!(
        modes,
        [
            (4, "append"),
            (3, "overwrite"),
            (2, "overwrite"),
            (1, "append"),
            (0, "create")
        ]
    );
    for version in 0..=4 {
        assert_eq!(
            sql_objects(lh, &format!("SELECT * FROM \"ext@v{version}\"")).await,
            their_objects(&read, version),
            "version {version}"
        );
    }

    // Our append: files under the table's location, a version `deltalake` reads.
    let (status, body) = post_csv(
        &format!("{}/v1/ingest/ext?mode=append", lh.url),
        "id,name,score,ok,day,at\n13,gus,1.25,true,2025-01-01,2025-01-01T00:00:00Z\n",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["version"], 5, "{body}");
    let ours = body["files"].as_array().unwrap();
    assert!(
        ours.iter()
            .all(|f| f["key"].as_str().unwrap().starts_with("external/ext/")),
        "{body}"
    );
    let read = deltalake_write(uri, &options, json!([]));
    assert_eq!(read["version"], 5, "{read}");
    assert_eq!(
        sql_objects(lh, "SELECT * FROM ext").await,
        their_objects(&read, 5)
    );
    assert_eq!(their_objects(&read, 5).len(), 4);

    // Deleting the dataset unregisters it; the table stays whole.
    let (status, _) =
        send_json(reqwest::Client::new().delete(format!("{}/v1/datasets/ext", lh.url))).await;
    assert_eq!(status, 204);
    let (status, _) =
        send_json(reqwest::Client::new().get(format!("{}/v1/datasets/ext", lh.url))).await;
    assert_eq!(status, 404);
    let after = deltalake_write(uri, &options, json!([]));
    assert_eq!(after["rows"], read["rows"]);
    // And it registers again.
    let (status, m) = register(lh, json!({"name": "ext", "location": "external/ext/"})).await;
    assert_eq!((status.as_u16(), &m["version"]), (201, &json!(5)), "{m}");
}

#[tokio::test]
async fn a_table_deltalake_wrote_works_end_to_end_on_a_local_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lh = Lakehouse::start(lakehouse_bin!(), Launch::standalone(&data)).await;
    let uri = data.join("external/ext").display().to_string();
    a_table_deltalake_wrote_works_end_to_end(&lh, &uri, None).await;
}

#[tokio::test]
async fn a_table_deltalake_wrote_works_end_to_end_on_s3() {
    let s = on_s3("external").await;
    let uri = format!("s3://{}/external/ext", s.bucket);
    a_table_deltalake_wrote_works_end_to_end(&s.lh, &uri, Some(s.options.clone())).await;
}

/// A partitioned table `deltalake` wrote: partition columns read from the log (last, as
/// every Delta reader puts them), null partitions included; a filter on them opens only
/// the matching partitions' files; our ingest does not route rows to partitions, and says so.
#[tokio::test]
async fn a_partitioned_table_deltalake_wrote_reads_and_prunes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lh = Lakehouse::start(lakehouse_bin!(), Launch::standalone(&data)).await;
    let uri = data.join("external/sales").display().to_string();
    let columns = json!([
        ["region", "utf8"],
        ["id", "int64"],
        ["amount", "float64"],
        ["day", "date"]
    ]);
    let read = deltalake_write(
        &uri,
        &None,
        json!([
            {"write": {"mode": "overwrite", "columns": columns, "partition_by": ["region", "day"],
                       "rows": [["eu", 1, 1.5, "2024-01-01"], ["us", 2, 2.5, "2024-01-01"],
                                ["eu", 3, 3.5, "2024-01-02"], [null, 4, 4.5, "2024-01-02"]]}},
            {"write": {"mode": "append", "columns": columns, "partition_by": ["region", "day"],
                       "rows": [["ap", 5, 5.5, "2024-01-03"], ["eu", 6, 6.5, "2024-01-01"]]}},
            {"delete": "id = 2"},
        ]),
    );
    assert_eq!(read["version"], 2, "{read}");
    let (status, m) = register(&lh, json!({"name": "sales", "location": "external/sales"})).await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["partition_by"], json!(["region", "day"]), "{m}");
    assert_eq!(column_names(&m), ["id", "amount", "region", "day"]);
    for version in 0..=2 {
        assert_eq!(
            sql_objects(&lh, &format!("SELECT * FROM \"sales@v{version}\"")).await,
            their_objects(&read, version),
            "version {version}"
        );
    }
    let ids = |rows: Vec<Value>| -> Vec<f64> {
        let mut ids: Vec<f64> = rows.iter().map(|r| r["id"].as_f64().unwrap()).collect();
        ids.sort_by(f64::total_cmp);
        ids
    };
    assert_eq!(
        ids(sql_objects(&lh, "SELECT id FROM sales WHERE region = 'eu'").await),
        [1.0, 3.0, 6.0]
    );
    assert_eq!(
        ids(sql_objects(&lh, "SELECT id FROM sales WHERE region IS NULL").await),
        [4.0]
    );
    assert_eq!(
        ids(sql_objects(
            &lh,
            "SELECT id FROM sales WHERE day > DATE '2024-01-01' AND amount > 4"
        )
        .await),
        [4.0, 5.0]
    );
    // A null partition passes no comparison.
    assert_eq!(
        ids(sql_objects(&lh, "SELECT id FROM sales WHERE region <> 'eu'").await),
        [5.0]
    );
    assert_eq!(
        ids(sql_objects(&lh, "SELECT id FROM sales WHERE NOT (region = 'eu')").await),
        [5.0]
    );
    assert_eq!(
        ids(sql_objects(
            &lh,
            "SELECT id FROM sales WHERE region < 'z' AND day < DATE '2024-01-02'"
        )
        .await),
        [1.0, 6.0]
    );
    // The plan lists only the eu partitions' files.
    let plan = sql_objects(&lh, "EXPLAIN SELECT id FROM sales WHERE region = 'eu'").await;
    let text = plan.iter().map(Value::to_string).collect::<String>();
    assert!(text.contains("region=eu"), "{text}");
    assert!(
        !text.contains("region=ap") && !text.contains("region=__HIVE"),
        "{text}"
    );

    // An append's rows go to their partitions (a new one, a null one), and `deltalake`
    // reads them there.
    let (status, body) = post_csv(
        &format!("{}/v1/ingest/sales?mode=append", lh.url),
        "id,amount,region,day\n7,7.5,eu,2024-01-05\n8,8.5,,2024-01-05\n9,9.5,eu,2024-01-01\n",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["version"], 3, "{body}");
    let keys: Vec<&str> = body["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    let directories: Vec<&str> = keys.iter().map(|k| &k[..k.rfind('/').unwrap()]).collect();
    assert!(
        directories.contains(&"external/sales/region=eu/day=2024-01-05")
            && directories
                .contains(&"external/sales/region=__HIVE_DEFAULT_PARTITION__/day=2024-01-05")
            && directories.contains(&"external/sales/region=eu/day=2024-01-01"),
        "{keys:?}"
    );
    let read = deltalake_write(&uri, &None, json!([]));
    assert_eq!(read["version"], 3, "{read}");
    assert_eq!(
        sql_objects(&lh, "SELECT * FROM sales").await,
        their_objects(&read, 3)
    );
    assert_eq!(
        ids(sql_objects(&lh, "SELECT id FROM sales WHERE region = 'eu'").await),
        [1.0, 3.0, 6.0, 7.0, 9.0]
    );
    // An append cannot change the partitioning, nor evolve a partitioned table.
    for (query, says) in [
        (
            "mode=append&partition_by=day",
            "an append keeps a table's partitioning",
        ),
        (
            "mode=append&evolve=true",
            "a partitioned table's columns are not evolved",
        ),
    ] {
        let (status, body) = post_csv(
            &format!("{}/v1/ingest/sales?{query}", lh.url),
            "id,amount,region,day\n10,1,eu,2024-01-05\n",
        )
        .await;
        let (code, message) = error_of(&body);
        assert_eq!((status, code), (400, "invalid_option"), "{body}");
        assert!(message.contains(says), "{message}");
    }
    let (status, body) = post_csv(
        &format!("{}/v1/ingest/sales?mode=append", lh.url),
        "id,amount,day\n10,1,2024-01-05\n",
    )
    .await;
    let (code, message) = error_of(&body);
    assert_eq!((status, code), (409, "schema_mismatch"), "{body}");
    assert!(message.contains("missing column \"region\""), "{message}");
    let again = get_json(format!("{}/v1/datasets/sales", lh.url)).await;
    assert_eq!(again["version"], 3, "nothing was written: {again}");
}

/// A table we create with `partition_by` is a partitioned Delta table: files in Hive-style
/// directories holding the other columns, partition columns last, values in the log;
/// `deltalake` reads what SQL reads at every version; appends route rows, an overwrite
/// keeps the partitioning; a filter on a partition column opens only its files.
async fn a_partitioned_table_we_write_is_one_deltalake_reads(
    lh: &Lakehouse,
    uri: &str,
    options: Option<Value>,
) {
    let url = |query: &str| format!("{}/v1/ingest/p?{query}", lh.url);
    let (status, body) = post_csv(
        &url("mode=create&partition_by=region,day"),
        "id,region,amount,day\n1,eu,1.5,2024-01-01\n2,us,2.5,2024-01-01\n\
         3,eu,3.5,2024-01-02\n4,,4.5,2024-01-02\n5,north/east,5.5,2024-01-02\n",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["partition_by"], json!(["region", "day"]), "{body}");
    assert_eq!(column_names(&body), ["id", "amount", "region", "day"]);
    let files = body["files"].as_array().unwrap();
    assert_eq!(files.len(), 5, "one file per partition: {body}");
    assert!(
        files.iter().any(|f| f["key"]
            .as_str()
            .unwrap()
            .starts_with("datasets/p/region=eu/day=2024-01-02/part-")),
        "{body}"
    );
    // An append with the partition columns elsewhere goes to old and new partitions
    // alike.
    let (status, body) = post_csv(
        &url("mode=append"),
        "day,id,region,amount\n2024-01-01,6,eu,6.5\n2024-01-03,7,ap,7.5\n",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // An overwrite without partition_by keeps the table's partitioning.
    let (status, body) = post_csv(
        &url("mode=overwrite"),
        "id,region,amount,day\n8,eu,8.5,2024-02-01\n9,us,9.5,2024-02-01\n",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["partition_by"], json!(["region", "day"]), "{body}");

    let read = deltalake_write(uri, &options, json!([]));
    assert_eq!(read["version"], 2, "{read}");
    for ours in 1..=3u64 {
        assert_eq!(
            sql_objects(lh, &format!("SELECT * FROM \"p@v{ours}\"")).await,
            their_objects(&read, ours - 1),
            "our version {ours}"
        );
    }
    let v2 = sql_objects(lh, "SELECT id, region FROM \"p@v2\" WHERE region IS NULL").await;
    assert_eq!(v2, [json!({"id": 4.0, "region": null})]);
    let plan = sql_objects(lh, "EXPLAIN SELECT id FROM \"p@v2\" WHERE region = 'eu'").await;
    let text = plan.iter().map(Value::to_string).collect::<String>();
    assert_eq!(text.matches(".parquet").count(), 3, "{text}");
    assert!(!text.contains("region=us"), "{text}");

    // What cannot be partitioned is refused and writes nothing.
    let csv = "id,region,amount,day\n1,eu,1.5,2024-01-01\n";
    for (query, body, says) in [
        ("partition_by=amount", csv, "\"amount\" is Float64"),
        ("partition_by=nope", csv, "no column of"),
        (
            "partition_by=id,region",
            "id,region\n1,eu\n",
            "every column",
        ),
    ] {
        let (status, body) =
            post_csv(&format!("{}/v1/ingest/q?mode=create&{query}", lh.url), body).await;
        let (code, message) = error_of(&body);
        assert_eq!(
            (status, code),
            (422, "invalid_partitioning"),
            "{query}: {body}"
        );
        assert!(message.contains(says), "{query}: {message}");
        let (status, _) =
            send_json(reqwest::Client::new().get(format!("{}/v1/datasets/q", lh.url))).await;
        assert_eq!(status, 404, "{query}");
    }

    // `partition_by=` with no columns makes an overwrite unpartitioned, and the same source
    // partitioned again is a new version, not a no-op.
    let csv = "id,region,amount,day\n10,eu,1.5,2024-03-01\n";
    let (status, body) = post_csv(&url("mode=overwrite&partition_by="), csv).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["partition_by"], json!(null), "{body}");
    assert!(
        body["files"][0]["key"]
            .as_str()
            .unwrap()
            .starts_with("datasets/p/v4/")
    );
    let (status, body) = post_csv(&url("mode=overwrite&partition_by=region"), csv).await;
    assert_eq!((status, &body["version"]), (201, &json!(5)), "{body}");
    assert_eq!(body["partition_by"], json!(["region"]), "{body}");
    let read = deltalake_write(uri, &options, json!([]));
    assert_eq!(
        sql_objects(lh, "SELECT * FROM p").await,
        their_objects(&read, 4)
    );
}

#[tokio::test]
async fn a_partitioned_table_we_write_is_one_deltalake_reads_on_a_local_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lh = Lakehouse::start(lakehouse_bin!(), Launch::standalone(&data)).await;
    let uri = data.join("datasets/p").display().to_string();
    a_partitioned_table_we_write_is_one_deltalake_reads(&lh, &uri, None).await;
}

#[tokio::test]
async fn a_partitioned_table_we_write_is_one_deltalake_reads_on_s3() {
    let s = on_s3("partitioned").await;
    let uri = format!("s3://{}/datasets/p", s.bucket);
    a_partitioned_table_we_write_is_one_deltalake_reads(&s.lh, &uri, Some(s.options.clone())).await;
}

/// What cannot be registered is refused with the reason, and changes nothing; a table with
/// types lakehouse reads but does not write is read-only: queries work, ingests are 409.
#[tokio::test]
async fn registrations_are_refused_with_the_reason_and_narrow_tables_are_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lh = Lakehouse::start(lakehouse_bin!(), Launch::standalone(&data)).await;
    let refused = |body: Value, status: u16, code: &'static str, says: &'static str| {
        let lh = &lh;
        async move {
            let (s, answer) = register(lh, body.clone()).await;
            let (c, message) = error_of(&answer);
            assert_eq!((s.as_u16(), c), (status, code), "{body}: {answer}");
            assert!(message.contains(says), "{body}: {message}");
        }
    };
    refused(
        json!({"name": "x", "location": "external/none"}),
        400,
        "bad_commit",
        "no Delta table at external/none/",
    )
    .await;
    refused(
        json!({"name": "x", "location": "datasets/x"}),
        400,
        "bad_commit",
        "under datasets/",
    )
    .await;
    refused(
        json!({"name": "x", "location": "_tables"}),
        400,
        "bad_commit",
        "keeps its own objects",
    )
    .await;
    refused(
        json!({"name": "x", "location": "/"}),
        400,
        "bad_commit",
        "is empty",
    )
    .await;
    refused(
        json!({"name": "x", "location": "external/t", "mode": "append"}),
        400,
        "bad_commit",
        "unknown field `mode`",
    )
    .await;
    refused(
        json!({"name": "1x", "location": "external/t"}),
        400,
        "bad_commit",
        "name",
    )
    .await;

    deltalake_write(
        &data.join("external/dec").display().to_string(),
        &None,
        json!([{"write": {"mode": "overwrite", "columns": [["id", "int64"], ["price", "decimal"]],
                          "rows": [[1, "1.25"]]}}]),
    );
    refused(
        json!({"name": "dec", "location": "external/dec"}),
        400,
        "bad_commit",
        "column \"price\" has Delta type decimal(10,2)",
    )
    .await;

    let read = deltalake_write(
        &data.join("external/narrow").display().to_string(),
        &None,
        json!([{"write": {"mode": "overwrite", "columns": [["n", "int32"], ["at", "timestamp_utc"]],
                          "rows": [[7, "2024-05-06T07:08:09"], [null, null]]}}]),
    );
    let (status, m) = register(
        &lh,
        json!({"name": "narrow", "location": "external/narrow"}),
    )
    .await;
    assert_eq!(status, 201, "{m}");
    let why = m["read_only"].as_str().unwrap_or_default();
    assert!(
        why.contains("column \"n\" is Delta type integer, and lakehouse writes long"),
        "{m}"
    );
    assert_eq!(
        sql_objects(&lh, "SELECT * FROM narrow").await,
        their_objects(&read, 0)
    );
    let (status, body) = post_csv(
        &format!("{}/v1/ingest/narrow?mode=append", lh.url),
        "n,at\n8,\n",
    )
    .await;
    assert_eq!(
        (status, error_of(&body).0),
        (409, "read_only_table"),
        "{body}"
    );
    let listed: Vec<String> = std::fs::read_dir(data.join("external/narrow"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !listed.iter().any(|n| n.starts_with('v')),
        "nothing written: {listed:?}"
    );

    refused(
        json!({"name": "narrow", "location": "external/narrow"}),
        409,
        "dataset_exists",
        "already exists",
    )
    .await;

    refused(
        json!({"name": "other", "location": "external/narrow/"}),
        400,
        "bad_commit",
        "overlaps the table of dataset \"narrow\"",
    )
    .await;
    ingest_named(&lh, "own", "create", V1).await;
    refused(
        json!({"name": "own", "location": "external/dec"}),
        409,
        "dataset_exists",
        "already exists",
    )
    .await;
    // An append-only table takes our appends, and refuses our overwrites up front.
    deltalake_write(
        &data.join("external/log").display().to_string(),
        &None,
        json!([{"write": {"mode": "overwrite", "columns": [["id", "int64"]], "rows": [[1]],
                          "configuration": {"delta.appendOnly": "true"}}}]),
    );
    let (status, m) = register(&lh, json!({"name": "log", "location": "external/log"})).await;
    assert_eq!(status, 201, "{m}");
    assert!(
        m["appends_only"]
            .as_str()
            .unwrap_or_default()
            .contains("delta.appendOnly"),
        "{m}"
    );
    let (status, body) = post_csv(
        &format!("{}/v1/ingest/log?mode=overwrite", lh.url),
        "id\n2\n",
    )
    .await;
    assert_eq!(
        (status, error_of(&body).0),
        (409, "read_only_table"),
        "{body}"
    );
    let (status, body) =
        post_csv(&format!("{}/v1/ingest/log?mode=append", lh.url), "id\n2\n").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        sql_objects(&lh, "SELECT count(*) AS n FROM log").await,
        [json!({"n": 2.0})]
    );

    let listing = get_json(format!("{}/v1/datasets", lh.url)).await;
    let names: Vec<&str> = listing["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["log", "narrow", "own"]);
}

/// A registered table its owner replaced (a new table id at the location) is an error to
/// read and to write — never a table we create there — until it is registered again.
#[tokio::test]
async fn a_replaced_external_table_is_an_error_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut lh = Lakehouse::start(lakehouse_bin!(), Launch::standalone(&data)).await;
    let gone = data.join("external/gone");
    let write_gone = |id: i64| {
        deltalake_write(
            &gone.display().to_string(),
            &None,
            json!([{"write": {"mode": "overwrite", "columns": [["id", "int64"]], "rows": [[id]]}}]),
        )
    };
    write_gone(1);
    let (status, m) = register(&lh, json!({"name": "gone", "location": "external/gone"})).await;
    assert_eq!(status, 201, "{m}");
    // Replaced while no process has it open (a running one keeps the snapshot it read:
    // docs/formats.md).
    lh.kill9();
    std::fs::remove_dir_all(&gone).unwrap();
    write_gone(2);
    let lh = Lakehouse::start(lakehouse_bin!(), Launch::standalone(&data)).await;
    let (status, body) =
        send_json(reqwest::Client::new().get(format!("{}/v1/datasets/gone", lh.url))).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        error_of(&body).1.contains("was replaced by another table"),
        "{body}"
    );
    let (status, body) =
        post_csv(&format!("{}/v1/ingest/gone?mode=append", lh.url), "id\n3\n").await;
    assert!(status >= 400, "{body}");
    let (status, body) = post_csv(
        &format!("{}/v1/ingest/gone?mode=overwrite", lh.url),
        "id\n3\n",
    )
    .await;
    assert!(status >= 400, "{body}");
    let log = std::fs::read_dir(gone.join("_delta_log")).unwrap().count();
    assert_eq!(log, 1, "the owner's log is as the owner left it");
    assert!(!data.join("datasets/gone").exists());
    let (status, _) =
        send_json(reqwest::Client::new().delete(format!("{}/v1/datasets/gone", lh.url))).await;
    assert_eq!(status, 204);
    let (status, m) = register(&lh, json!({"name": "gone", "location": "external/gone"})).await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(
        sql_objects(&lh, "SELECT * FROM gone").await,
        [json!({"id": 2.0})]
    );
}
