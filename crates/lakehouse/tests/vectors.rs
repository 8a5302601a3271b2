//! vectord through the real binary, standalone: the seed's acceptance smokes G1 (the
//! in-memory API) and G1P (persistence across kill -9 and restart, DELETE removing the
//! file), a corrupt index file at start, and `lakehouse vectors`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use test_support::{Lakehouse, Launch, files_under, lakehouse_bin};

async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Item `i`'s vector: pseudo-random, deterministic, its values multiples of 1/16 (exact in
/// f32 and in decimal).
fn vector(i: usize, dim: usize) -> Vec<f32> {
    (0..dim)
        .map(|d| {
            let mut x = (i * dim + d) as u64 ^ 0x9E37_79B9_7F4A_7C15;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((x ^ (x >> 31)) % 2000) as f32 / 16.0 - 62.5
        })
        .collect()
}

fn items(range: std::ops::Range<usize>, dim: usize) -> Value {
    let items: Vec<Value> = range
        .map(|i| json!({"id": format!("v{i}"), "vector": vector(i, dim), "metadata": {"i": i, "even": i % 2 == 0}}))
        .collect();
    json!({ "items": items })
}

/// The files of the index under the data directory (its snapshot and log records).
fn index_files(data: &Path, name: &str) -> Vec<String> {
    files_under(data)
        .into_iter()
        .filter(|f| {
            f.starts_with(&format!("_vectors/{name}.lhv1"))
                || f.starts_with(&format!("_vectors/{name}.log/"))
        })
        .collect()
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(lh: &Lakehouse) -> Api {
        Api {
            base: format!("{}/v1/vectors", lh.url),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    async fn create(&self, name: &str, dim: usize, metric: &str) -> (u16, Value) {
        let body = json!({"name": name, "dim": dim, "metric": metric});
        call(self.http.post(&self.base).json(&body)).await
    }

    async fn add(&self, name: &str, body: &Value) -> (u16, Value) {
        call(
            self.http
                .post(format!("{}/{name}/add", self.base))
                .json(body),
        )
        .await
    }

    async fn search(&self, name: &str, body: Value) -> (u16, Value) {
        call(
            self.http
                .post(format!("{}/{name}/search", self.base))
                .json(&body),
        )
        .await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        call(self.http.get(format!("{}{path}", self.base))).await
    }

    async fn delete(&self, path: &str) -> u16 {
        call(self.http.delete(format!("{}{path}", self.base)))
            .await
            .0
    }

    /// Every item `0..n` is its own nearest neighbour, at `distance` at most `tolerance`.
    async fn assert_each_finds_itself(&self, name: &str, n: usize, dim: usize, tolerance: f64) {
        for i in 0..n {
            let (status, r) = self
                .search(name, json!({"vector": vector(i, dim), "k": 1, "ef": 256}))
                .await;
            assert_eq!(status, 200, "{r}");
            let hit = &r["results"][0];
            assert_eq!(hit["id"], format!("v{i}"), "{name}: {r}");
            let distance = hit["distance"].as_f64().unwrap();
            assert!(distance <= tolerance, "{name} v{i} at {distance}");
            assert_eq!(hit["metadata"]["i"], i);
        }
    }
}

async fn health(lh: &Lakehouse) -> Value {
    reqwest::get(format!("{}/health", lh.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// G1: the vector API in memory (`[vectord] persist = false`): create, add, search, get,
/// delete an item, delete the index, and the refusals; nothing is written to the store.
#[tokio::test]
async fn g1_the_in_memory_api_creates_adds_searches_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let launch = Launch::standalone(&data).env("LAKEHOUSE_VECTORD_PERSIST", "false");
    let mut lh = Lakehouse::start(lakehouse_bin!(), launch.clone()).await;
    let api = Api::new(&lh);
    let h = health(&lh).await;
    assert_eq!(h["services"]["vectord"]["status"], "ok", "{h}");
    assert_eq!(h["services"]["vectord"]["detail"], "0 indexes, in memory");

    let (status, info) = api.create("g1", 8, "l2").await;
    assert_eq!(status, 201, "{info}");
    assert_eq!(
        (&info["name"], &info["dim"], &info["metric"], &info["count"]),
        (&json!("g1"), &json!(8), &json!("l2"), &json!(0))
    );
    assert_eq!(
        (info["m"].clone(), info["ef_construction"].clone()),
        (json!(16), json!(200))
    );
    let (status, e) = api.create("g1", 8, "l2").await;
    assert_eq!((status, &e["error"]["code"]), (409, &json!("index_exists")));
    let (status, added) = api.add("g1", &items(0..100, 8)).await;
    assert_eq!((status, added), (200, json!({"added": 100, "count": 100})));
    let (status, listed) = api.get("").await;
    assert_eq!(status, 200);
    assert_eq!(
        listed,
        json!({"indexes": [{"name": "g1", "dim": 8, "metric": "l2", "count": 100}]})
    );
    api.assert_each_finds_itself("g1", 100, 8, 0.0).await;

    // Nearest first, k of them; a filter keeps only matching metadata.
    let (status, r) = api
        .search(
            "g1",
            json!({"vector": vector(3, 8), "k": 5, "filter": {"even": true}}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert!(results.iter().all(|h| h["metadata"]["even"] == true), "{r}");
    let distances: Vec<f64> = results
        .iter()
        .map(|h| h["distance"].as_f64().unwrap())
        .collect();
    assert!(distances.windows(2).all(|w| w[0] <= w[1]), "{distances:?}");

    // An upsert replaces by id; a batch with one bad item applies nothing.
    let replace = json!({"items": [{"id": "v1", "vector": vector(500, 8)}]});
    assert_eq!(
        api.add("g1", &replace).await,
        (200, json!({"added": 1, "count": 100}))
    );
    let bad =
        json!({"items": [{"id": "new", "vector": vector(1, 8)}, {"id": "short", "vector": [1.0]}]});
    let (status, e) = api.add("g1", &bad).await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (400, &json!("invalid_item")),
        "{e}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("item 1"),
        "{e}"
    );
    let (_, info) = api.get("/g1").await;
    assert_eq!(info["count"], 100);

    assert_eq!(api.delete("/g1/items/v2").await, 204);
    assert_eq!(api.delete("/g1/items/v2").await, 404);
    let (_, r) = api
        .search("g1", json!({"vector": vector(2, 8), "k": 1}))
        .await;
    assert_ne!(r["results"][0]["id"], "v2", "{r}");
    let (status, e) = api.search("g1", json!({"vector": [1, 2], "k": 1})).await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (400, &json!("invalid_query"))
    );
    let (status, e) = api.get("/nope").await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (404, &json!("index_not_found"))
    );
    let (status, e) = api.get("/not-a-name").await;
    assert_eq!((status, &e["error"]["code"]), (400, &json!("invalid_name")));

    assert_eq!(api.delete("/g1").await, 204);
    assert_eq!(api.get("/g1").await.0, 404);
    assert_eq!(api.delete("/g1").await, 404);

    // In memory: nothing in the store, and a restart starts empty.
    let (status, _) = api.create("kept_nowhere", 2, "cosine").await;
    assert_eq!(status, 201);
    assert!(files_under(&data.join("_vectors")).is_empty());
    assert!(
        lh.terminate(Duration::from_secs(30))
            .is_some_and(|s| s.success())
    );
    let lh = Lakehouse::start(lakehouse_bin!(), launch).await;
    assert_eq!(Api::new(&lh).get("").await.1, json!({"indexes": []}));
}

/// G1P: create + add, kill -9, restart on the same data → the count is kept and every
/// added vector is found at distance 0; DELETE removes `_vectors/{name}.lhv1`; a restart
/// after the delete shows the index gone.
#[tokio::test]
async fn g1p_kill_9_and_restart_keep_the_indexes_and_delete_removes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let launch = Launch::standalone(&data);
    let mut lh = Lakehouse::start(lakehouse_bin!(), launch.clone()).await;
    let api = Api::new(&lh);
    assert_eq!(api.create("g1p", 8, "l2").await.0, 201);
    assert_eq!(api.create("g1p_cos", 16, "cosine").await.0, 201);
    for start in (0..200).step_by(50) {
        let (status, r) = api.add("g1p", &items(start..start + 50, 8)).await;
        assert_eq!(status, 200, "{r}");
    }
    assert_eq!(api.add("g1p_cos", &items(0..120, 16)).await.0, 200);
    // Acknowledged, then killed at once: the write-ahead log has it even if no snapshot does.
    assert_eq!(api.delete("/g1p/items/v7").await, 204);
    let last = json!({"items": [{"id": "last", "vector": vector(999, 8)}]});
    assert_eq!(api.add("g1p", &last).await.1["count"], 200);
    lh.kill9();

    let mut lh = Lakehouse::start(lakehouse_bin!(), launch.clone()).await;
    let api = Api::new(&lh);
    let (_, listed) = api.get("").await;
    assert_eq!(
        listed,
        json!({"indexes": [
            {"name": "g1p", "dim": 8, "metric": "l2", "count": 200},
            {"name": "g1p_cos", "dim": 16, "metric": "cosine", "count": 120}]})
    );
    let h = health(&lh).await;
    let detail = h["services"]["vectord"]["detail"].as_str().unwrap();
    assert!(detail.starts_with("2 indexes, persisted in"), "{h}");
    let (_, r) = api
        .search("g1p", json!({"vector": vector(999, 8), "k": 1}))
        .await;
    assert_eq!(
        (&r["results"][0]["id"], &r["results"][0]["distance"]),
        (&json!("last"), &json!(0.0))
    );
    let (_, r) = api
        .search("g1p", json!({"vector": vector(7, 8), "k": 1}))
        .await;
    assert_ne!(r["results"][0]["id"], "v7", "the delete survived: {r}");
    for i in (0..200).filter(|i| *i != 7) {
        let (_, r) = api
            .search("g1p", json!({"vector": vector(i, 8), "k": 1, "ef": 256}))
            .await;
        assert_eq!(
            (&r["results"][0]["id"], &r["results"][0]["distance"]),
            (&json!(format!("v{i}")), &json!(0.0))
        );
    }
    // Cosine distances are 1 - cos of unit vectors: 0 up to rounding.
    api.assert_each_finds_itself("g1p_cos", 120, 16, 1e-6).await;

    // A graceful stop snapshots what the log holds: the next start replays nothing.
    assert_eq!(api.add("g1p", &items(1000..1010, 8)).await.1["count"], 210);
    assert!(
        lh.terminate(Duration::from_secs(60))
            .is_some_and(|s| s.success())
    );
    assert_eq!(
        index_files(&data, "g1p"),
        vec!["_vectors/g1p.lhv1".to_string()]
    );

    let mut lh = Lakehouse::start(lakehouse_bin!(), launch.clone()).await;
    let api = Api::new(&lh);
    assert_eq!(api.get("/g1p").await.1["count"], 210);
    assert_eq!(api.delete("/g1p").await, 204);
    assert!(
        index_files(&data, "g1p").is_empty(),
        "{:?}",
        files_under(&data)
    );
    assert_eq!(
        index_files(&data, "g1p_cos").len(),
        1,
        "the other index is untouched"
    );
    lh.kill9();

    let lh = Lakehouse::start(lakehouse_bin!(), launch).await;
    let api = Api::new(&lh);
    assert_eq!(api.get("/g1p").await.0, 404);
    let (_, listed) = api.get("").await;
    assert_eq!(
        listed,
        json!({"indexes": [{"name": "g1p_cos", "dim": 16, "metric": "cosine", "count": 120}]})
    );
}

#[tokio::test]
async fn a_corrupt_index_file_is_skipped_at_start_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let launch = Launch::standalone(&data);
    let mut lh = Lakehouse::start(lakehouse_bin!(), launch.clone()).await;
    let api = Api::new(&lh);
    for name in ["good", "bad"] {
        assert_eq!(api.create(name, 4, "l2").await.0, 201);
        assert_eq!(api.add(name, &items(0..40, 4)).await.0, 200);
    }
    assert!(
        lh.terminate(Duration::from_secs(60))
            .is_some_and(|s| s.success())
    );
    let bad = data.join("_vectors/bad.lhv1");
    let bytes = std::fs::read(&bad).unwrap();
    let corrupt = bytes[..bytes.len() / 2].to_vec();
    std::fs::write(&bad, &corrupt).unwrap();

    let lh = Lakehouse::start(lakehouse_bin!(), launch).await;
    let api = Api::new(&lh);
    let h = health(&lh).await;
    assert_eq!(h["status"], "ok", "{h}");
    let detail = h["services"]["vectord"]["detail"].as_str().unwrap();
    assert!(detail.starts_with("1 index (1 unreadable)"), "{detail}");
    assert!(
        lh.log_text().contains("cannot load vector index"),
        "{}",
        lh.log_text()
    );
    assert_eq!(
        api.get("").await.1,
        json!({"indexes": [{"name": "good", "dim": 4, "metric": "l2", "count": 40}]})
    );
    api.assert_each_finds_itself("good", 40, 4, 0.0).await;
    let (status, e) = api.get("/bad").await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (500, &json!("index_unreadable")),
        "{e}"
    );
    let (status, e) = api.create("bad", 4, "l2").await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (409, &json!("index_exists")),
        "{e}"
    );
    assert_eq!(api.add("bad", &items(0..1, 4)).await.0, 500);
    assert_eq!(std::fs::read(&bad).unwrap(), corrupt, "never overwritten");
    // Deleting it is the way out.
    assert_eq!(api.delete("/bad").await, 204);
    assert!(!bad.exists());
    assert_eq!(api.create("bad", 4, "l2").await.0, 201);
}

/// Runs the binary (stdin from `input`), bounded at two minutes.
fn cli(args: &[&str], input: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(lakehouse_bin!())
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run lakehouse");
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        let text = text.to_string();
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(text.as_bytes());
        });
    }
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(Ok(out)) => (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ),
        _ => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("lakehouse {args:?} did not finish within 2 minutes");
        }
    }
}

fn jsonl(range: std::ops::Range<usize>, dim: usize) -> String {
    range
        .map(|i| {
            format!(
                "{}\n",
                json!({"id": format!("v{i}"), "vector": vector(i, dim), "metadata": {"i": i, "even": i % 2 == 0}})
            )
        })
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn the_cli_creates_adds_jsonl_and_csv_searches_lists_and_removes() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::start(
        lakehouse_bin!(),
        Launch::standalone(&dir.path().join("data")),
    )
    .await;
    let server = lh.url.as_str();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", server]);
        cli(&all, None)
    };

    let (code, out, err) = run(&["vectors", "create", "docs", "--dim", "3", "--metric", "l2"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out,
        "created index docs: dim 3, metric l2, m 16, ef_construction 200\n"
    );
    // 2,500 lines in batches of 1,000: three requests.
    let file = write(dir.path(), "docs.jsonl", &jsonl(0..2500, 3));
    let (code, out, err) = run(&["vectors", "add", "docs", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("docs: added 2500 items from"), "{out}");
    assert!(out.trim_end().ends_with("the index holds 2500"), "{out}");

    let (code, out, _) = run(&["vectors", "ls"]);
    assert_eq!(code, 0);
    assert_eq!(out, "NAME  DIM  METRIC  COUNT\ndocs    3  l2       2500\n");
    let query = serde_json::to_string(&vector(7, 3)).unwrap();
    let (code, out, err) = run(&["vectors", "search", "docs", "--vector", &query, "-k", "3"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("DISTANCE"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("v7 ") && lines[1].contains(r#"{"even":false,"i":7}"#),
        "{out}"
    );
    assert_eq!(err.trim(), "(3 results)");
    let csv_query: Vec<String> = vector(8, 3).iter().map(|x| x.to_string()).collect();
    let (code, out, err) = run(&[
        "vectors",
        "search",
        "docs",
        "--vector",
        &csv_query.join(","),
        "-k",
        "4",
        "--ef",
        "100",
        "--filter",
        r#"{"even": false}"#,
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let answer: Value = serde_json::from_str(&out).unwrap();
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert!(
        results.iter().all(|h| h["metadata"]["even"] == false),
        "{answer}"
    );

    // CSV with a header, a quoted id, and the JSON-vector shape.
    let (code, _, err) = run(&[
        "vectors", "create", "tabular", "--dim", "2", "--metric", "cosine", "--m", "8",
    ]);
    assert_eq!(code, 0, "{err}");
    let csv = "id,x,y\na,1,0\n\"b, quoted\",0,1\n\nc,-1,0.5\n";
    let file = write(dir.path(), "plain.csv", csv);
    let (code, out, err) = run(&["vectors", "add", "tabular", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("added 3 items") && out.contains("(5 lines)"),
        "{out}"
    );
    let file = write(
        dir.path(),
        "json-shape.csv",
        "d,\"[0.5, 0.5]\",\"{\"\"tag\"\": \"\"x\"\"}\"\n",
    );
    let (code, out, err) = run(&["vectors", "add", "tabular", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = run(&["vectors", "search", "tabular", "--vector", "0,1", "-k", "1"]);
    assert!(
        out.lines().nth(1).unwrap().starts_with("b, quoted  "),
        "{out}"
    );
    let (_, out, _) = run(&[
        "vectors", "search", "tabular", "--vector", "[1,1]", "-k", "1", "--json",
    ]);
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["results"][0]["metadata"], json!({"tag": "x"}));

    // Standard input, JSON Lines sniffed from the first line.
    let mut all = vec![
        "vectors", "add", "tabular", "-", "--json", "--server", server,
    ];
    let (code, out, err) = cli(&all, Some("{\"id\": \"e\", \"vector\": [2, 3]}\n"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"added": 1, "count": 5, "lines": 1})
    );

    // A bad line: the batches before it were added, nothing from its batch on; exit 2.
    let (code, _, err) = run(&[
        "vectors", "create", "partial", "--dim", "3", "--metric", "l2",
    ]);
    assert_eq!(code, 0, "{err}");
    let mut text = jsonl(0..1500, 3);
    text.push_str("{\"id\": \"wrong\", \"vector\": [1, 2]}\n");
    text.push_str(&jsonl(1500..1600, 3));
    let file = write(dir.path(), "partial.jsonl", &text);
    let (code, _, err) = run(&["vectors", "add", "partial", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("partial.jsonl line 1501: vector has 2 values; the index's dim is 3"),
        "{err}"
    );
    assert!(
        err.contains("1000 items up to line 1000 were added"),
        "{err}"
    );
    let (_, out, _) = run(&["vectors", "info", "partial", "--json"]);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["count"], 1000);
    let file = write(dir.path(), "broken.csv", "a,1,2,3\nb,1,x,3\n");
    let (code, _, err) = run(&[
        "vectors",
        "add",
        "partial",
        file.to_str().unwrap(),
        "--dry-run",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("broken.csv line 2: field 3 (\"x\") is not a number; nothing was added"),
        "{err}"
    );
    let file = write(dir.path(), "fine.csv", "a,1,2,3\nb,1,2,3\n");
    let (code, out, _) = run(&[
        "vectors",
        "add",
        "partial",
        file.to_str().unwrap(),
        "--dry-run",
    ]);
    assert_eq!(
        (code, out.contains("2 items on 2 lines fit index partial")),
        (0, true),
        "{out}"
    );

    // Refusals: exit 1 with the server's message, exit 2 for bad usage.
    let (code, _, err) = run(&["vectors", "add", "missing", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("index \"missing\" not found"), "{err}");
    let (code, _, err) = run(&["vectors", "create", "docs", "--dim", "3"]);
    assert_eq!((code, err.contains("already exists")), (1, true), "{err}");
    let (code, _, err) = run(&["vectors", "create", "1bad", "--dim", "3"]);
    assert_eq!(
        (code, err.contains("must start with a letter")),
        (2, true),
        "{err}"
    );
    let (code, _, err) = run(&["vectors", "search", "docs", "--vector", "[1, 2]"]);
    assert_eq!((code, err.contains("dim is 3")), (1, true), "{err}");
    let (code, _, _) = run(&["vectors", "search", "docs", "--vector", "x"]);
    assert_eq!(code, 2);
    let (code, _, _) = run(&["vectors", "add", "docs", "/no/such/file.jsonl"]);
    assert_eq!(code, 2);
    all = vec!["vectors", "ls", "--server", "http://127.0.0.1:9"];
    let (code, _, err) = cli(&all, None);
    assert_eq!((code, err.contains("cannot connect")), (1, true), "{err}");

    let (code, out, _) = run(&["vectors", "rm", "docs", "--item", "v7"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "deleted item \"v7\" of index docs\n")
    );
    let (code, _, err) = run(&["vectors", "rm", "docs", "--item", "v7"]);
    assert_eq!((code, err.contains("no item")), (1, true), "{err}");
    let (code, out, _) = run(&["vectors", "info", "docs"]);
    assert_eq!(code, 0);
    assert!(out.contains("count            2499"), "{out}");
    for name in ["docs", "tabular", "partial"] {
        let (code, out, _) = run(&["vectors", "rm", name]);
        assert_eq!((code, out), (0, format!("deleted index {name}\n")));
    }
    let (code, out, err) = run(&["vectors", "ls"]);
    assert_eq!((code, out.as_str()), (0, "NAME  DIM  METRIC  COUNT\n"));
    assert!(err.contains("no vector indexes yet"), "{err}");
}

#[test]
fn lakehouse_config_shows_the_vectord_keys() {
    let (code, out, err) = test_support::run(
        lakehouse_bin!(),
        &["config"],
        &[
            ("LAKEHOUSE_VECTORD_PERSIST", "false"),
            ("LAKEHOUSE_VECTORD_BIND", "127.0.0.1:4215"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("[vectord]\nbind = \"127.0.0.1:4215\"\nstoraged_url = \"http://127.0.0.1:3211\"\npersist = false\n"),
        "{out}"
    );
    assert!(
        out.contains("vectord_url = \"http://127.0.0.1:3215\""),
        "{out}"
    );
}
