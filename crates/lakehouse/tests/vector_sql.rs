//! Vector columns and pgvector's SQL through the real binary (standalone): a CSV of
//! pgvector text and Parquet lists become `vector(N)` columns; the operators, functions and
//! casts answer over HTTP and over the PostgreSQL protocol (psql), exactly as their
//! definitions say; bad cells and bad vectors are refused with what is wrong; and PyPI
//! `deltalake` reads the column as the list of floats it is.

use std::path::Path;

use serde_json::{Value, json};
use test_support::{Lakehouse, Launch, error_of, free_port, lakehouse_bin, post_csv, send_json};

const ITEMS: &str = "id,name,price,in_stock,emb\n\
                     1,apple,0.5,true,\"[1, 0, 0]\"\n\
                     2,pear,0.75,false,\"[0.9,0.1,0]\"\n\
                     3,plum,2,true,\"[0,1,0]\"\n\
                     4,fig,3,true,\"[0.8,0,0.6]\"\n\
                     5,kiwi,1,true,\n";

async fn sql(lh: &Lakehouse, sql: &str) -> (u16, Value) {
    let (status, body) = send_json(
        reqwest::Client::new()
            .post(format!("{}/v1/sql", lh.url))
            .json(&json!({ "sql": sql })),
    )
    .await;
    (status.as_u16(), body)
}

async fn rows(lh: &Lakehouse, query: &str) -> Value {
    let (status, body) = sql(lh, query).await;
    assert_eq!(status, 200, "{query}: {body}");
    body["rows"].clone()
}

fn psql(pg_port: u16, sql: &str) -> (bool, String, String) {
    let out = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &pg_port.to_string()])
        .args(["-U", "lakehouse", "-d", "lakehouse", "-At", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql is installed (scripts/test installs postgresql-client)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `script` with `input` on stdin; its stdout.
fn python(script: &str, input: &Value) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
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
        "python failed (scripts/test installs pyarrow and deltalake): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// POSTs the Parquet file at `file` as dataset `name`.
async fn upload_parquet(lh: &Lakehouse, name: &str, file: &Path) -> (reqwest::StatusCode, Value) {
    send_json(
        reqwest::Client::new()
            .post(format!("{}/v1/ingest/{name}", lh.url))
            .header("content-type", "application/vnd.apache.parquet")
            .body(std::fs::read(file).unwrap()),
    )
    .await
}

/// The column types of a dataset's manifest, in order.
fn column_types(manifest: &Value) -> Vec<&str> {
    manifest["schema"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect()
}

async fn start(data: &Path) -> (Lakehouse, u16) {
    let pg = free_port();
    let launch =
        Launch::standalone(data).env("LAKEHOUSE_QUERYD_PG_BIND", &format!("127.0.0.1:{pg}"));
    (Lakehouse::start(lakehouse_bin!(), launch).await, pg)
}

#[tokio::test]
async fn vector_columns_answer_pgvector_sql_over_http_and_psql() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (lh, pg) = start(&data).await;

    // Sniffed: every value of `emb` is a vector of 3.
    let (status, manifest) = post_csv(&format!("{}/v1/ingest/items", lh.url), ITEMS).await;
    assert_eq!(status, 201, "{manifest}");
    let types = column_types(&manifest);
    assert_eq!(types, ["int64", "utf8", "float64", "boolean", "vector(3)"]);

    // JSON: a vector is an array of numbers, its column type vector(3).
    let (status, body) = sql(
        &lh,
        "SELECT id, emb FROM items WHERE id IN (1, 5) ORDER BY id",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["columns"][1],
        json!({"name": "emb", "type": "vector(3)"})
    );
    assert_eq!(body["rows"], json!([[1, [1.0, 0.0, 0.0]], [5, null]]));

    // The everyday query: the nearest in stock, exactly (no index covers the column).
    assert_eq!(
        rows(
            &lh,
            "SELECT id FROM items WHERE in_stock ORDER BY emb <-> '[1,0,0]' LIMIT 2"
        )
        .await,
        json!([[1], [4]])
    );
    assert_eq!(
        rows(
            &lh,
            "SELECT id FROM items ORDER BY emb <=> ARRAY[0, 1, 0] LIMIT 1"
        )
        .await,
        json!([[3]])
    );
    assert_eq!(
        rows(
            &lh,
            "SELECT id FROM items WHERE emb IS NOT NULL ORDER BY emb <#> '[0,0,1]' LIMIT 1"
        )
        .await,
        json!([[4]])
    );
    // Each distance as defined (pgvector's values).
    let got = rows(
        &lh,
        "SELECT l2_distance(emb, '[0,0,0]'), cosine_distance(emb, '[1,0,0]'), \
                inner_product(emb, '[2,0,1]'), emb <#> '[2,0,1]', vector_dims(emb), \
                emb <-> '[0.8,0,0.6]' \
         FROM items WHERE id = 4",
    )
    .await;
    let got: Vec<f64> = got[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let want = [1.0, 0.2, 2.2, -2.2, 3.0, 0.0];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{got:?} against {want:?}");
    }
    // DataFusion's name for the inner product answers as pgvector's.
    let got = rows(
        &lh,
        "SELECT dot_product(emb, '[2,0,1]') FROM items WHERE id = 4",
    )
    .await;
    assert!((got[0][0].as_f64().unwrap() - 2.2).abs() < 1e-6, "{got}");
    // A null vector has a null distance.
    assert_eq!(
        rows(&lh, "SELECT emb <-> '[1,0,0]' FROM items WHERE id = 5").await,
        json!([[null]])
    );
    // Casts to vector, with and without a dimension.
    assert_eq!(
        rows(
            &lh,
            "SELECT '[1,2,3]'::vector, CAST('[4, 5]' AS vector(2)), vector_dims('[1,2]'::vector)"
        )
        .await,
        json!([[[1.0, 2.0, 3.0], [4.0, 5.0], 2]])
    );
    // A text column cast without a dimension: each row's own vector.
    assert_eq!(
        rows(
            &lh,
            "SELECT t::vector, vector_dims(t::vector) FROM (VALUES ('[1,2]'), ('[3,4,5]'), (NULL)) v(t)"
        )
        .await,
        json!([[[1.0, 2.0], 2], [[3.0, 4.0, 5.0], 3], [null, null]])
    );

    // Wrong vectors: a 400 that says what is wrong.
    for (query, says) in [
        (
            "SELECT emb <-> '[1,2]' FROM items",
            "different vector dimensions 3 and 2",
        ),
        ("SELECT '[1,2]'::vector(3)", "expected 3 dimensions, not 2"),
        (
            "SELECT emb <-> '[1,x,2]' FROM items",
            "invalid input syntax for type vector",
        ),
        ("SELECT '[NaN]'::vector", "NaN not allowed in vector"),
        ("SELECT emb <-> 42 FROM items", "l2_distance takes vectors"),
        (
            "SELECT l2_distance(emb) FROM items",
            "l2_distance takes two vectors",
        ),
        (
            "SELECT emb <-> ARRAY[1, CAST('NaN' AS DOUBLE), 0] FROM items",
            "NaN not allowed in vector",
        ),
    ] {
        let (status, body) = sql(&lh, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(error_of(&body).1.contains(says), "{query}: {body}");
    }

    // psql: pgvector's text form, the type named vector(3) by \d.
    let (ok, out, err) = psql(
        pg,
        "SELECT id, emb FROM items WHERE id IN (2, 5) ORDER BY id",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "2|[0.9,0.1,0]\n5|\n");
    let (ok, out, err) = psql(
        pg,
        "SELECT id FROM items WHERE in_stock ORDER BY emb <-> '[1,0,0]' LIMIT 2",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "1\n4\n");
    let (ok, out, err) = psql(pg, "\\d items");
    assert!(ok, "{err}");
    assert!(out.contains("emb|vector(3)"), "{out}");
    let (ok, out, err) = psql(
        pg,
        "SELECT typname, typlen FROM pg_type WHERE typname = 'vector'",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "vector|-1\n");
    let (ok, _, err) = psql(pg, "SELECT emb <-> '[1]' FROM items");
    assert!(
        !ok && err.contains("different vector dimensions 3 and 1"),
        "{err}"
    );

    // psycopg with PyPI pgvector's adapter: it finds the type (to_regtype), binds numpy
    // arrays (text and binary) and reads vectors back as numpy arrays; and pandas reads
    // over SQLAlchemy's PostgreSQL dialect, which looks types up the same way on connect.
    let out = python(
        "import json, sys, numpy as np, psycopg, pandas, sqlalchemy\n\
         from pgvector.psycopg import register_vector\n\
         port = json.load(sys.stdin)['port']\n\
         conn = psycopg.connect(host='127.0.0.1', port=port, user='lakehouse', dbname='lakehouse', autocommit=True)\n\
         register_vector(conn)\n\
         q = np.array([1, 0, 0], dtype=np.float32)\n\
         out = {}\n\
         rows = conn.execute('SELECT id, emb FROM items WHERE in_stock ORDER BY emb <-> %s LIMIT 2', (q,)).fetchall()\n\
         out['text'] = [[i, e.to_list()] for i, e in rows]\n\
         with conn.cursor(binary=True) as cur:\n\
         \x20   cur.execute('SELECT id, emb, emb <=> %s AS d FROM items WHERE id = 2', (np.array([0.9, 0.1, 0], dtype=np.float32),))\n\
         \x20   i, e, d = cur.fetchone()\n\
         \x20   out['binary'] = [i, e.to_list(), round(d, 6)]\n\
         out['cast'] = conn.execute('SELECT id FROM items WHERE in_stock ORDER BY emb <-> %s::vector LIMIT 2', ('[0,1,0]',)).fetchall()\n\
         out['cast_binary'] = conn.execute('SELECT id FROM items ORDER BY emb <=> %s::vector LIMIT 1', (np.array([0.9, 0.1, 0], dtype=np.float32),), binary=True).fetchall()\n\
         out['cast_value'] = conn.execute('SELECT %s::vector', ('[1.5,2]',)).fetchone()[0].to_list()\n\
         engine = sqlalchemy.create_engine(f'postgresql+psycopg://lakehouse@127.0.0.1:{port}/lakehouse')\n\
         out['pandas'] = pandas.read_sql('SELECT id, price FROM items WHERE id < 3 ORDER BY id', engine).values.tolist()\n\
         print(json.dumps(out))",
        &json!({ "port": pg }),
    );
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        out["text"],
        json!([
            [1, [1.0, 0.0, 0.0]],
            [4, [0.800000011920929, 0.0, 0.6000000238418579]]
        ])
    );
    assert_eq!(out["binary"][0], 2);
    assert_eq!(out["binary"][2], 0.0);
    assert_eq!(out["pandas"], json!([[1.0, 0.5], [2.0, 0.75]]));
    // `$1::vector` without a dimension: the bound value gives it.
    assert_eq!(out["cast"], json!([[3], [1]]));
    assert_eq!(out["cast_binary"], json!([[2]]));
    assert_eq!(out["cast_value"], json!([1.5, 2.0]));

    // A bad cell with the schema given: the ingest fails naming line, column and value,
    // and the dataset is unchanged.
    let (status, body) = post_csv(
        &format!("{}/v1/ingest/items?mode=append&header=true", lh.url),
        "id,name,price,in_stock,emb\n6,lime,1,true,\"[1,2,3]\"\n7,date,2,true,\"[1,2]\"\n",
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let message = error_of(&body).1;
    assert!(
        message.contains("line 3") && message.contains("\"emb\"") && message.contains("[1,2]"),
        "{body}"
    );
    assert_eq!(rows(&lh, "SELECT count(*) FROM items").await, json!([[5]]));

    // PyPI deltalake reads the column as a list of float32, the same values.
    let read = python(
        "import json, sys, deltalake\n\
         uri = json.load(sys.stdin)['uri']\n\
         t = deltalake.DeltaTable(uri).to_pyarrow_table()\n\
         print(json.dumps([str(t.schema.field('emb').type), sorted(t.to_pydict()['emb'], key=str)]))",
        &json!({"uri": data.join("datasets/items").display().to_string()}),
    );
    let read: Value = serde_json::from_str(&read).unwrap();
    assert!(read[0].as_str().unwrap().contains("float"), "{read}");
    let values = read[1].as_array().unwrap();
    assert_eq!(values.len(), 5);
    assert!(values.contains(&json!([0.0, 1.0, 0.0])), "{read}");
}

#[tokio::test]
async fn parquet_lists_of_floats_become_vector_columns() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (lh, _) = start(&data).await;
    let file = dir.path().join("emb.parquet");
    // pyarrow writes a fixed-size list of float64 and a list of float32.
    python(
        "import json, sys, pyarrow as pa, pyarrow.parquet as pq\n\
         path = json.load(sys.stdin)['path']\n\
         fixed = pa.array([[1.0, 2.0], None, [3.0, 4.0]], type=pa.list_(pa.float64(), 2))\n\
         listed = pa.array([None, [0.5, 0.25, 1.0], [1.0, 1.0, 1.0]], type=pa.list_(pa.float32()))\n\
         pq.write_table(pa.table({'id': [1, 2, 3], 'fixed': fixed, 'listed': listed}), path)",
        &json!({"path": file.display().to_string()}),
    );
    let (status, manifest) = upload_parquet(&lh, "emb", &file).await;
    assert_eq!(status, 201, "{manifest}");
    let types = column_types(&manifest);
    assert_eq!(types, ["int64", "vector(2)", "vector(3)"]);
    assert_eq!(
        rows(
            &lh,
            "SELECT id, fixed, listed <#> '[1,1,1]' FROM emb ORDER BY id"
        )
        .await,
        json!([
            [1, [1.0, 2.0], null],
            [2, null, -1.75],
            [3, [3.0, 4.0], -3.0]
        ])
    );

    // A list of another length in a later row: refused with the row.
    python(
        "import json, sys, pyarrow as pa, pyarrow.parquet as pq\n\
         path = json.load(sys.stdin)['path']\n\
         listed = pa.array([[0.5, 0.25], [1.0]], type=pa.list_(pa.float32()))\n\
         pq.write_table(pa.table({'listed': listed}), path)",
        &json!({"path": file.display().to_string()}),
    );
    let (status, body) = upload_parquet(&lh, "bad", &file).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        error_of(&body),
        (
            "invalid_parquet",
            "the body is not a readable Parquet file: column \"listed\", row 2: expected \
             vector(2), found 1 numbers"
        ),
        "{body}"
    );
}

/// Creates index `docs` (l2, 3 dimensions) holding items 1..=4 of [`ITEMS`]'s vectors, with
/// metadata, through the vector API.
async fn docs_index(lh: &Lakehouse) {
    let http = reqwest::Client::new();
    let (status, body) = send_json(
        http.post(format!("{}/v1/vectors", lh.url))
            .json(&json!({"name": "docs", "dim": 3, "metric": "l2"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let items = json!({"items": [
        {"id": "1", "vector": [1, 0, 0], "metadata": {"year": 2021, "lang": "en"}},
        {"id": "2", "vector": [0.9, 0.1, 0], "metadata": {"year": 2023, "lang": "fr"}},
        {"id": "3", "vector": [0, 1, 0], "metadata": {"year": 2024, "lang": "en"}},
        {"id": "4", "vector": [0.8, 0, 0.6]},
    ]});
    let (status, body) = send_json(
        http.post(format!("{}/v1/vectors/docs/add", lh.url))
            .json(&items),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// `vector_search` over HTTP and both PostgreSQL protocols, joined with a dataset, with its
/// optional `ef` and filter, and its refusals.
async fn vector_search_answers(lh: &Lakehouse, pg: u16) {
    let (status, body) = post_csv(&format!("{}/v1/ingest/items", lh.url), ITEMS).await;
    assert_eq!(status, 201, "{body}");
    docs_index(lh).await;

    let joined = "SELECT i.name, s.distance FROM vector_search('docs', '[1, 0, 0]', 3) s \
                  JOIN items i ON i.id = CAST(s.id AS BIGINT) ORDER BY s.distance";
    let got = rows(lh, joined).await;
    let names: Vec<&str> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    assert_eq!(names, ["apple", "pear", "fig"], "{got}");
    assert_eq!(got[0][1], json!(0.0));
    let d = got[1][1].as_f64().unwrap();
    assert!((d - 0.02f64.sqrt()).abs() < 1e-6, "{got}");

    for (query, want) in [
        (
            "SELECT id, metadata FROM vector_search('docs', ARRAY[0, 1, 0], 1)",
            json!([["3", "{\"lang\":\"en\",\"year\":2024}"]]),
        ),
        (
            "SELECT id FROM vector_search('docs', '[1,0,0]'::vector(3), 10, \
             '{\"year\": {\"$gte\": 2022}, \"lang\": {\"$ne\": \"de\"}}') ORDER BY distance",
            json!([["2"], ["3"]]),
        ),
        (
            "SELECT id, metadata IS NULL FROM vector_search('docs', '[0.8,0,0.6]', 1, 40)",
            json!([["4", true]]),
        ),
        (
            "SELECT count(*) FROM vector_search('docs', '[1,0,0]', 2, 16, '{}')",
            json!([[2]]),
        ),
    ] {
        assert_eq!(rows(lh, query).await, want, "{query}");
    }

    for (query, says) in [
        ("SELECT * FROM vector_search('nope', '[1,0,0]', 3)", "nope"),
        (
            "SELECT * FROM vector_search('docs', '[1,0]', 3)",
            "dim is 3",
        ),
        (
            "SELECT * FROM vector_search('docs', '[1,0,0]', 0)",
            "k must be between 1",
        ),
        (
            "SELECT * FROM vector_search('docs', '[1,0,0]', -1)",
            "k (third argument) is a positive integer",
        ),
        (
            "SELECT * FROM vector_search('docs', '[1,0,0]')",
            "takes 3 to 5 arguments",
        ),
        (
            "SELECT * FROM vector_search('docs', '[1,x]', 3)",
            "invalid input syntax for type vector",
        ),
        (
            "SELECT * FROM vector_search('docs', '[1,0,0]', 3, '{\"year\": {\"$gt\": null}}')",
            "$gt on field \"year\" takes a number or a string",
        ),
        (
            "SELECT * FROM vector_search('docs', '[1,0,0]', 3, '[1]')",
            "the filter is a JSON object",
        ),
        (
            "SELECT * FROM items i, vector_search('docs', i.emb, 3) s",
            "vector_search",
        ),
    ] {
        let (status, body) = sql(lh, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(error_of(&body).1.contains(says), "{query}: {body}");
    }

    // psql (simple protocol), and psycopg binding a numpy array through PyPI pgvector's
    // adapter (extended protocol, binary), and the other arguments as parameters.
    let (ok, out, err) = psql(pg, joined);
    assert!(ok, "{err}");
    assert!(out.starts_with("apple|0\npear|0.1414"), "{out}");
    let script = "import json, sys, numpy as np, psycopg\n\
         from pgvector.psycopg import register_vector\n\
         port = json.load(sys.stdin)['port']\n\
         conn = psycopg.connect(host='127.0.0.1', port=port, user='lakehouse', dbname='lakehouse', autocommit=True)\n\
         register_vector(conn)\n\
         q = np.array([1, 0, 0], dtype=np.float32)\n\
         a = conn.execute('SELECT id FROM vector_search(%s, %s, %s) ORDER BY distance', ('docs', q, 2)).fetchall()\n\
         b = conn.execute('SELECT i.name FROM vector_search(%s, %s, 5, %s) s JOIN items i ON i.id = CAST(s.id AS BIGINT) ORDER BY s.distance', ('docs', q, json.dumps({'lang': 'en'}))).fetchall()\n\
         c = conn.execute('SELECT id FROM vector_search(%s, %s::vector, 1)', ('docs', '[0,1,0]'), binary=True).fetchall()\n\
         d = conn.execute('SELECT name FROM items WHERE CAST(id AS TEXT) IN (SELECT id FROM vector_search(%s, %s, 1)) ORDER BY name', ('docs', q)).fetchall()\n\
         e = conn.execute('SELECT id FROM vector_search(%s, %s, 1, %s, %s)', ('docs', q, '40', '{}')).fetchall()\n\
         print(json.dumps([a, b, c, d, e]))\n";
    let out = python(script, &json!({"port": pg}));
    let got: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        got,
        json!([
            [["1"], ["2"]],
            [["apple"], ["plum"]],
            [["3"]],
            [["apple"]],
            [["1"]]
        ]),
        "{out}"
    );
}

#[tokio::test]
async fn vector_search_joins_an_index_with_datasets() {
    let dir = tempfile::tempdir().unwrap();
    let (lh, pg) = start(&dir.path().join("data")).await;
    vector_search_answers(&lh, pg).await;
}

/// Split on a local directory: queryd reaches the index in vectord's process over HTTP.
#[tokio::test]
async fn vector_search_reaches_vectord_in_a_split_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let storage = format!(
        "[storage]\nbackend = \"local\"\ndata_dir = {:?}\n",
        dir.path().join("data").display().to_string()
    );
    let deployment = test_support::Deployment::start(
        lakehouse_bin!(),
        test_support::Shape::Split,
        dir,
        &storage,
        &[],
        &[],
    )
    .await;
    let pg = deployment.pg_port();
    vector_search_answers(deployment.process("gateway"), pg).await;
}
