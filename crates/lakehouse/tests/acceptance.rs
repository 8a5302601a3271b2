//! The acceptance suite: the Go system's smokes D1–D6, G1 and G1P as tests of the real
//! binary, each run in both deployments —
//!
//! - `standalone`: one process, every service in it, data in a local directory;
//! - `split`: six processes (storaged, catalogd, ingestd, queryd, vectord, gateway), one
//!   `lakehouse.toml`, data on a real S3 server on loopback —
//!
//! always through the gateway, always with an API key (`LAKEHOUSE_API_KEY`), as a user
//! sees it. D1 storage round trip, D2 catalog, D3 ingest, D4 query over HTTP and psql,
//! D5 the gateway end to end (ingest → SQL → vectors, and the key), D6 = G1P vector
//! persistence across kill -9; G1 the vector API in memory.

use serde_json::{Value, json};
use test_support::{S3Server, Shape, lakehouse_bin};

const KEY: &str = "acceptance-k3y";

/// Each scenario as two tests, `scenario::standalone` and `scenario::split`.
macro_rules! in_both_deployments {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test]
            async fn standalone() {
                super::$scenario(super::Shape::Standalone).await;
            }
            #[tokio::test]
            async fn split() {
                super::$scenario(super::Shape::Split).await;
            }
        }
    )*};
}

in_both_deployments!(
    d1_storage_round_trip,
    d2_catalog,
    d3_ingest,
    d4_query_over_http_and_psql,
    d5_gateway_end_to_end_with_the_key,
    g1_vectors_in_memory,
    g1p_vectors_survive_kill_9,
);

/// A running deployment of either shape ([`test_support::Deployment`]) and a client that
/// sends the key.
struct Deployment {
    _s3: Option<S3Server>,
    running: test_support::Deployment,
    gateway: String,
    http: reqwest::Client,
}

impl Deployment {
    async fn start(shape: Shape) -> Deployment {
        Deployment::start_with(shape, &[]).await
    }

    /// `env` goes to every process (e.g. `LAKEHOUSE_VECTORD_PERSIST=false`).
    async fn start_with(shape: Shape, env: &[(&str, &str)]) -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.push(("LAKEHOUSE_API_KEY".into(), KEY.into()));
        let (s3, storage) = match shape {
            Shape::Standalone => {
                let data = dir.path().join("data");
                let storage = format!(
                    "[storage]\nbackend = \"local\"\ndata_dir = {:?}\n",
                    data.display().to_string()
                );
                (None, storage)
            }
            Shape::Split => {
                let s3 = S3Server::start();
                let bucket = s3.bucket("acceptance").await;
                let storage = s3.config_toml(&bucket);
                (Some(s3), storage)
            }
        };
        let running =
            test_support::Deployment::start(lakehouse_bin!(), shape, dir, &storage, &[], &env)
                .await;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {KEY}").parse().unwrap(),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap();
        Deployment {
            _s3: s3,
            gateway: running.gateway().to_string(),
            running,
            http,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(self.http.get(self.url(path))).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(self.http.post(self.url(path)).json(&body)).await
    }

    async fn delete(&self, path: &str) -> u16 {
        self.call(self.http.delete(self.url(path))).await.0
    }

    async fn ingest(&self, name: &str, query: &str, csv: &str) -> (u16, Value) {
        let request = self
            .http
            .post(self.url(&format!("/v1/ingest/{name}{query}")))
            .header("content-type", "text/csv")
            .body(csv.to_string());
        self.call(request).await
    }

    async fn sql(&self, sql: &str) -> (u16, Value) {
        self.post("/v1/sql", json!({ "sql": sql })).await
    }

    /// The keys under `prefix` in the store, through the storage API.
    async fn keys(&self, prefix: &str) -> Vec<String> {
        let (status, listing) = self.get(&format!("/v1/storage?prefix={prefix}")).await;
        assert_eq!(status, 200, "{listing}");
        listing["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["key"].as_str().unwrap().to_string())
            .collect()
    }

    /// kill -9 of the process holding the vector indexes (standalone: the one process;
    /// split: vectord), then the same process started again on the same data.
    async fn kill_9_and_restart_vectors(&mut self) {
        self.running.kill9("vectord");
        self.running.restart("vectord").await;
    }

    fn logs(&self) -> String {
        self.running.logs()
    }
}

/// D1: objects by key — PUT, GET, HEAD, list, DELETE, and the refusals.
async fn d1_storage_round_trip(shape: Shape) {
    let d = Deployment::start(shape).await;
    let body = test_support::pseudo_random(3 << 20, 1);
    let url = d.url("/v1/storage/d1/a%2Fb.bin");
    let r = d.http.put(&url).body(body.clone()).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", d.logs());
    let got = d.http.get(&url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert!(got.bytes().await.unwrap() == body);
    let head = d.http.head(&url).send().await.unwrap();
    assert_eq!(
        head.headers()["content-length"],
        (3 << 20).to_string().as_str()
    );
    assert_eq!(d.keys("d1/").await, ["d1/a%2Fb.bin"]);
    let (status, e) = d.get("/v1/storage/a//b").await;
    assert_eq!((status, &e["error"]["code"]), (400, &json!("invalid_key")));
    let conditional = d.http.put(&url).header("if-none-match", "*").body("x");
    assert_eq!(d.call(conditional).await.0, 412, "the object exists");
    assert_eq!(d.delete("/v1/storage/d1/a%2Fb.bin").await, 204);
    assert_eq!(d.get("/v1/storage/d1/a%2Fb.bin").await.0, 404);
    assert!(d.keys("d1/").await.is_empty());
}

/// D2: the catalog — datasets listed, shown, versioned, deleted.
async fn d2_catalog(shape: Shape) {
    let d = Deployment::start(shape).await;
    assert_eq!(d.get("/v1/datasets").await, (200, json!({"datasets": []})));
    assert_eq!(
        d.ingest("fruit", "", "id,name\n1,apple\n2,pear\n").await.0,
        201
    );
    let (status, m) = d.ingest("fruit", "?mode=append", "id,name\n3,plum\n").await;
    assert_eq!(status, 201, "{m}");
    let (status, m) = d.get("/v1/datasets/fruit").await;
    assert_eq!(status, 200);
    assert_eq!((&m["version"], &m["rows"]), (&json!(2), &json!(3)), "{m}");
    assert_eq!(m["files"].as_array().unwrap().len(), 2, "{m}");
    let (_, versions) = d.get("/v1/datasets/fruit/versions").await;
    let numbers: Vec<&Value> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["version"])
        .collect();
    assert_eq!(numbers, [&json!(2), &json!(1)], "{versions}");
    let (_, listed) = d.get("/v1/datasets").await;
    assert_eq!(listed["datasets"][0]["name"], "fruit");
    let (status, e) = d.get("/v1/datasets/no_such").await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (404, &json!("dataset_not_found"))
    );
    let (status, e) = d.get("/v1/datasets/bad-name!").await;
    assert_eq!((status, &e["error"]["code"]), (400, &json!("invalid_name")));
    assert_eq!(d.delete("/v1/datasets/fruit").await, 204);
    assert_eq!(d.get("/v1/datasets/fruit").await.0, 404);
    assert!(
        d.keys("datasets/fruit/").await.is_empty(),
        "the data files went too"
    );
}

/// D3: CSV in, typed Parquet out; a bad value fails the whole ingest and registers nothing.
async fn d3_ingest(shape: Shape) {
    let d = Deployment::start(shape).await;
    let csv = "id,name,price,day\n1,apple,0.5,2026-11-01\n2,\"pear, ripe\",,2026-11-02\n";
    let (status, m) = d.ingest("sales", "", csv).await;
    assert_eq!(status, 201, "{m}\n{}", d.logs());
    assert_eq!((&m["version"], &m["rows"]), (&json!(1), &json!(2)));
    let types: Vec<&str> = m["schema"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["int64", "utf8", "float64", "date"], "{m}");
    for f in m["files"].as_array().unwrap() {
        let key = f["key"].as_str().unwrap();
        assert!(
            key.starts_with("datasets/sales/v1/") && key.ends_with(".parquet"),
            "{key}"
        );
        let r = d
            .http
            .get(d.url(&format!("/v1/storage/{key}")))
            .send()
            .await
            .unwrap();
        assert_eq!(&r.bytes().await.unwrap()[..4], b"PAR1");
    }
    let (status, e) = d
        .ingest(
            "sales",
            "?mode=append",
            "id,name,price,day\nx,a,1,2026-01-01\n",
        )
        .await;
    assert_eq!(status, 422, "{e}");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("line 2") && message.contains("id"),
        "{message}"
    );
    assert_eq!(
        d.get("/v1/datasets/sales").await.1["version"],
        1,
        "nothing registered"
    );
    let (status, _) = d.ingest("other", "", "").await;
    assert!(
        (400..500).contains(&status),
        "an empty body is a 4xx, got {status}"
    );
    assert_eq!(d.get("/v1/datasets/other").await.0, 404);
}

/// D4: SQL over HTTP (JSON and CSV) and over the PostgreSQL protocol with psql, the API key
/// as its password.
async fn d4_query_over_http_and_psql(shape: Shape) {
    let d = Deployment::start(shape).await;
    let csv = "id,kind,price\n1,fruit,0.5\n2,fruit,0.75\n3,thing,2\n";
    assert_eq!(d.ingest("items", "", csv).await.0, 201);
    let (status, r) = d
        .sql("SELECT kind, count(*) AS n, sum(price) AS total FROM items GROUP BY kind ORDER BY kind")
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        r["rows"],
        json!([["fruit", 2, 1.25], ["thing", 1, 2.0]]),
        "{r}"
    );
    let csv_answer = d
        .http
        .post(d.url("/v1/sql"))
        .json(&json!({"sql": "SELECT id FROM items ORDER BY id", "format": "csv"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        csv_answer, "id\r\n1\r\n2\r\n3\r\n",
        "CSV lines end in CRLF (RFC 4180)"
    );
    let (status, e) = d.sql("SELECT * FROM itemz").await;
    assert_eq!(status, 404, "{e}");
    let (status, e) = d.sql("DROP TABLE items").await;
    assert_eq!(status, 403, "{e}");

    let psql = |password: &str, sql: &str| {
        std::process::Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &d.running.pg_port().to_string()])
            .args(["-U", "lakehouse", "-d", "lakehouse", "-At", "-c", sql])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("psql is installed (scripts/test installs postgresql-client)")
    };
    let out = psql(
        KEY,
        "SELECT kind, count(*) FROM items GROUP BY kind ORDER BY kind",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "fruit|2\nthing|1\n");
    let out = psql("wrong", "SELECT 1");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Password authentication failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// D5: the gateway end to end — without the key every route but /health is 401; with it
/// ingest → SQL → vectors works, /health names every service, the OpenAPI document is
/// served.
async fn d5_gateway_end_to_end_with_the_key(shape: Shape) {
    let d = Deployment::start(shape).await;
    let bare = reqwest::Client::new();
    for (method, path) in [
        ("GET", "/v1/storage?prefix="),
        ("GET", "/v1/datasets"),
        ("POST", "/v1/ingest/t"),
        ("POST", "/v1/sql"),
        ("GET", "/v1/vectors"),
        ("GET", "/v1/openapi.json"),
        ("GET", "/metrics"),
    ] {
        let r = bare
            .request(method.parse().unwrap(), d.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{method} {path}");
    }
    let (status, health) = d.call(bare.get(d.url("/health"))).await;
    assert_eq!(status, 200, "{health}");
    for service in ["storaged", "catalogd", "ingestd", "queryd", "vectord"] {
        assert_eq!(
            health["services"][service]["status"], "ok",
            "{service}: {health}"
        );
    }

    let csv = "id,title,lang\n1,hello world,en\n2,bonjour le monde,fr\n3,hallo welt,de\n";
    assert_eq!(d.ingest("docs", "", csv).await.0, 201);
    let (status, r) = d
        .sql("SELECT id, title FROM docs WHERE lang <> 'en' ORDER BY id")
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        r["rows"],
        json!([[2, "bonjour le monde"], [3, "hallo welt"]])
    );
    let (status, info) = d
        .post(
            "/v1/vectors",
            json!({"name": "docs", "dim": 3, "metric": "cosine"}),
        )
        .await;
    assert_eq!(status, 201, "{info}");
    let items = json!({"items": [
        {"id": "1", "vector": [0.9, 0.1, 0.0], "metadata": {"lang": "en"}},
        {"id": "2", "vector": [0.1, 0.9, 0.0], "metadata": {"lang": "fr"}},
        {"id": "3", "vector": [0.0, 0.2, 0.9], "metadata": {"lang": "de"}}]});
    assert_eq!(
        d.post("/v1/vectors/docs/add", items).await,
        (200, json!({"added": 3, "count": 3}))
    );
    let (status, r) = d
        .post(
            "/v1/vectors/docs/search",
            json!({"vector": [0.2, 0.8, 0.1], "k": 2}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["results"][0]["id"], "2", "{r}");
    assert_eq!(r["results"][0]["metadata"], json!({"lang": "fr"}));
    let (_, r) = d
        .post(
            "/v1/vectors/docs/search",
            json!({"vector": [0.2, 0.8, 0.1], "k": 1, "filter": {"lang": "de"}}),
        )
        .await;
    assert_eq!(r["results"][0]["id"], "3", "{r}");
    let (status, doc) = d.get("/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["paths"]["/v1/sql"].is_object(), "{doc}");
}

/// G1: the vector API in memory (`[vectord] persist = false`): create, add, search, upsert,
/// a bad batch applying nothing, delete an item and the index; nothing in the store.
async fn g1_vectors_in_memory(shape: Shape) {
    let d = Deployment::start_with(shape, &[("LAKEHOUSE_VECTORD_PERSIST", "false")]).await;
    let (status, info) = d
        .post(
            "/v1/vectors",
            json!({"name": "g1", "dim": 4, "metric": "l2"}),
        )
        .await;
    assert_eq!(status, 201, "{info}");
    let v = |i: usize| json!([i as f32, (i % 7) as f32, 1.0, -(i as f32) / 4.0]);
    let items: Vec<Value> = (0..50)
        .map(|i| json!({"id": format!("v{i}"), "vector": v(i), "metadata": {"i": i}}))
        .collect();
    let (status, added) = d
        .post("/v1/vectors/g1/add", json!({ "items": items }))
        .await;
    assert_eq!((status, added), (200, json!({"added": 50, "count": 50})));
    for i in [0, 17, 49] {
        let (_, r) = d
            .post("/v1/vectors/g1/search", json!({"vector": v(i), "k": 1}))
            .await;
        assert_eq!(
            (
                &r["results"][0]["id"],
                &r["results"][0]["distance"],
                &r["results"][0]["metadata"]
            ),
            (&json!(format!("v{i}")), &json!(0.0), &json!({"i": i})),
            "{r}"
        );
    }
    let bad =
        json!({"items": [{"id": "new", "vector": v(1)}, {"id": "nan", "vector": [1.0, 2.0]}]});
    let (status, e) = d.post("/v1/vectors/g1/add", bad).await;
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
    assert_eq!(
        d.get("/v1/vectors/g1").await.1["count"],
        50,
        "nothing applied"
    );
    let replace = json!({"items": [{"id": "v3", "vector": v(1000)}]});
    assert_eq!(
        d.post("/v1/vectors/g1/add", replace).await.1,
        json!({"added": 1, "count": 50})
    );
    assert_eq!(d.delete("/v1/vectors/g1/items/v4").await, 204);
    assert_eq!(d.get("/v1/vectors/g1").await.1["count"], 49);
    assert!(
        d.keys("_vectors/").await.is_empty(),
        "in memory: nothing in the store"
    );
    assert_eq!(d.delete("/v1/vectors/g1").await, 204);
    assert_eq!(d.get("/v1/vectors/g1").await.0, 404);
}

/// G1P (D6): create + add, kill -9, restart → the count is kept and every vector is found at
/// distance 0 with its metadata; DELETE removes `_vectors/{name}.lhv1`; a restart after the
/// delete shows the index gone.
async fn g1p_vectors_survive_kill_9(shape: Shape) {
    let mut d = Deployment::start(shape).await;
    let dim = 8;
    let v = |i: usize| -> Vec<f32> {
        (0..dim)
            .map(|j| ((i * (j + 1)) as f32 * 0.37).sin())
            .collect()
    };
    assert_eq!(
        d.post(
            "/v1/vectors",
            json!({"name": "g1p", "dim": dim, "metric": "l2"})
        )
        .await
        .0,
        201
    );
    for start in (0..200).step_by(50) {
        let items: Vec<Value> = (start..start + 50)
            .map(|i| json!({"id": format!("v{i}"), "vector": v(i), "metadata": {"i": i}}))
            .collect();
        let (status, r) = d
            .post("/v1/vectors/g1p/add", json!({ "items": items }))
            .await;
        assert_eq!(status, 200, "{r}");
    }
    assert_eq!(d.delete("/v1/vectors/g1p/items/v7").await, 204);
    d.kill_9_and_restart_vectors().await;

    let (_, listed) = d.get("/v1/vectors").await;
    assert_eq!(
        listed,
        json!({"indexes": [{"name": "g1p", "dim": dim, "metric": "l2", "count": 199}]}),
        "{}",
        d.logs()
    );
    for i in (0..200).filter(|&i| i != 7) {
        let (_, r) = d
            .post(
                "/v1/vectors/g1p/search",
                json!({"vector": v(i), "k": 1, "ef": 256}),
            )
            .await;
        assert_eq!(
            (
                &r["results"][0]["id"],
                &r["results"][0]["distance"],
                &r["results"][0]["metadata"]
            ),
            (&json!(format!("v{i}")), &json!(0.0), &json!({"i": i})),
            "{r}"
        );
    }
    let files = |keys: Vec<String>| {
        keys.into_iter()
            .filter(|k| k.starts_with("_vectors/g1p."))
            .count()
    };
    assert!(
        files(d.keys("_vectors/").await) >= 1,
        "the index is in the store"
    );
    assert_eq!(d.delete("/v1/vectors/g1p").await, 204);
    assert_eq!(
        files(d.keys("_vectors/").await),
        0,
        "DELETE removes the file"
    );
    d.kill_9_and_restart_vectors().await;
    assert_eq!(d.get("/v1/vectors/g1p").await.0, 404);
    assert_eq!(d.get("/v1/vectors").await.1, json!({"indexes": []}));
}
