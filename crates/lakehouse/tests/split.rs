//! The split deployment on S3: storaged, catalogd, ingestd, queryd, vectord and gateway as
//! separate processes reading `lakehouse.toml`, against a real S3-compatible server on
//! loopback.

use test_support::{Deployment, S3Server, Shape, free_port, lakehouse_bin, post_csv};

/// A split deployment and, when its data is on S3, the S3 server it uses.
struct Split {
    _s3: Option<S3Server>,
    deployment: Deployment,
}

impl std::ops::Deref for Split {
    type Target = Deployment;
    fn deref(&self) -> &Deployment {
        &self.deployment
    }
}

impl std::ops::DerefMut for Split {
    fn deref_mut(&mut self) -> &mut Deployment {
        &mut self.deployment
    }
}

async fn start_split() -> Split {
    start_split_on(true).await
}

/// Every role as its own process; data on S3, or (`s3` false) in a local directory that
/// storaged owns and the other roles reach through it.
async fn start_split_on(s3: bool) -> Split {
    start_split_with(s3, None).await
}

/// As [`start_split_on`], with `[gateway] api_key` set to `api_key` when given.
async fn start_split_with(s3: bool, api_key: Option<&str>) -> Split {
    let dir = tempfile::tempdir().unwrap();
    let (s3, storage) = if s3 {
        let server = S3Server::start();
        let bucket = server.bucket("split").await;
        let toml = server.config_toml(&bucket);
        (Some(server), toml)
    } else {
        let data = dir.path().join("data");
        let toml = format!(
            "[storage]\nbackend = \"local\"\ndata_dir = {:?}\n",
            data.display().to_string()
        );
        (None, toml)
    };
    let key = api_key.map(|k| format!("api_key = {k:?}"));
    let mut extra = vec![("catalogd", "keep_versions = 2")];
    extra.extend(key.as_deref().map(|line| ("gateway", line)));
    Split {
        _s3: s3,
        deployment: Deployment::start(lakehouse_bin!(), Shape::Split, dir, &storage, &extra, &[])
            .await,
    }
}

#[tokio::test]
async fn the_storage_contract_holds_directly_and_through_the_gateway() {
    let split = start_split().await;
    let client = reqwest::Client::new();
    for base in [&split.process("storaged").url, &split.gateway().to_string()] {
        let url = format!("{base}/v1/storage/dir/a%2Fb.bin");
        let body = vec![9u8; 3 << 20];
        let r = client.put(&url).body(body.clone()).send().await.unwrap();
        assert_eq!(r.status(), 201, "{base}");
        let got = client.get(&url).send().await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.bytes().await.unwrap().to_vec(), body);
        let head = client.head(&url).send().await.unwrap();
        assert_eq!(
            head.headers()["content-length"],
            (3 << 20).to_string().as_str()
        );
        let list: serde_json::Value = client
            .get(format!("{base}/v1/storage?prefix=dir/"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["keys"][0]["key"], "dir/a%2Fb.bin");
        let r = client
            .get(format!("{base}/v1/storage/a//b"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(test_support::status_of(client.delete(&url)).await, 204);
        assert_eq!(test_support::status_of(client.get(&url)).await, 404);
        assert_eq!(test_support::status_of(client.delete(&url)).await, 204);
    }
    let health: serde_json::Value = client
        .get(format!("{}/health", split.gateway()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["services"]["storaged"]["status"], "ok", "{health}");
    assert_eq!(health["services"]["catalogd"]["status"], "ok", "{health}");
}

#[tokio::test]
async fn datasets_commit_through_the_gateway_and_read_back_from_every_process() {
    let split = start_split().await;
    let client = reqwest::Client::new();
    let gateway = &split.gateway().to_string();
    let files: Vec<String> = (1..=3)
        .map(|v| format!("datasets/sales/v{v}/part-0.parquet"))
        .collect();
    for (v, key) in files.iter().enumerate() {
        let url = format!("{gateway}/v1/storage/{key}");
        assert_eq!(
            test_support::status_of(client.put(&url).body("PAR1")).await,
            201
        );
        let mode = if v == 0 { "create" } else { "overwrite" };
        let commit = serde_json::json!({
            "name": "sales", "mode": mode,
            "schema": {"fields": [{"name": "amount", "type": "float64", "nullable": true}]},
            "files": [{"key": key, "rows": 10, "bytes": 4}],
            "idempotency_key": format!("upload-{v}"),
        });
        let r = client
            .post(format!("{gateway}/v1/datasets"))
            .json(&commit)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        // A retry through the gateway is answered from the manifest, not committed twice.
        let r = client
            .post(format!("{gateway}/v1/datasets"))
            .json(&commit)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    for base in [gateway, &split.process("catalogd").url] {
        let m: serde_json::Value = client
            .get(format!("{base}/v1/datasets/sales"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (m["version"].clone(), m["rows"].clone()),
            (3.into(), 10.into()),
            "{m}"
        );
        assert_eq!(m["files"][0]["key"], files[2].as_str());
        assert_eq!(
            m["versions"].as_array().map(Vec::len),
            Some(1),
            "keep_versions = 2: {m}"
        );
    }
    let versions: serde_json::Value = client
        .get(format!("{gateway}/v1/datasets/sales/versions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(versions["versions"][1]["version"], 2, "{versions}");
    // Version 1 fell out of the window: its file went with it.
    let first = format!("{gateway}/v1/storage/{}", files[0]);
    assert_eq!(test_support::status_of(client.get(&first)).await, 404);
    let r = client
        .get(format!("{gateway}/v1/datasets/no-such"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        test_support::status_of(client.delete(format!("{gateway}/v1/datasets/sales"))).await,
        204
    );
    assert_eq!(
        test_support::status_of(client.get(format!("{gateway}/v1/datasets/sales"))).await,
        404
    );
    let listed: serde_json::Value = client
        .get(format!("{gateway}/v1/storage?prefix=datasets/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["keys"],
        serde_json::json!([]),
        "every data file went with the dataset"
    );
}

#[tokio::test]
async fn the_gateway_answers_503_when_storaged_is_down() {
    let mut split = start_split().await;
    split.kill9("storaged");
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{}/v1/storage/x", split.gateway()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("storaged"),
        "{v}"
    );
    let r = client
        .get(format!("{}/health", split.gateway()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
}

#[tokio::test]
async fn a_missing_bucket_stops_start_up_with_a_message_naming_it() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lakehouse.toml");
    std::fs::write(&file, s3.config_toml("absent-bucket")).unwrap();
    let port = free_port();
    let (code, _, err) = test_support::run(
        lakehouse_bin!(),
        &[
            "serve",
            "--config",
            file.to_str().unwrap(),
            "--services",
            "storaged",
        ],
        &[("LAKEHOUSE_STORAGED_BIND", &format!("127.0.0.1:{port}"))],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("absent-bucket") && err.contains(s3.endpoint()),
        "{err}"
    );
}

#[tokio::test]
async fn the_gateway_refuses_dot_segments_instead_of_resolving_them() {
    let split = start_split().await;
    let addr = split.gateway().trim_start_matches("http://").to_string();
    for path in [
        "/v1/storage/tmp/%2e%2e/_catalog/t.json",
        "/v1/storage/tmp/../x",
        "/v1/storage/%2e%2e/%2e%2e/metrics",
    ] {
        let req = format!(
            "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"
        );
        let (status, body) = test_support::raw_http(&addr, req.as_bytes()).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("invalid_path"), "{path}: {body}");
    }
    let list: serde_json::Value =
        reqwest::get(format!("{}/v1/storage", split.process("storaged").url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    // The sweep's store-clock probe (`_leases/clock.json`) is the server's own object.
    let stored = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| {
            !k["key"]
                .as_str()
                .unwrap_or_default()
                .starts_with("_leases/")
        })
        .count();
    assert_eq!(stored, 0, "nothing stored: {list}");
}

const CSV: &str = "id,price,day\n1,2.5,2024-02-29\n2,,\n3,-1e3,1999-12-31\n";

#[tokio::test]
async fn ingest_through_the_gateway_and_directly_writes_parquet_to_s3() {
    let split = start_split().await;
    let gw = &split.gateway().to_string();
    let (status, m) = post_csv(&format!("{gw}/v1/ingest/sales"), CSV).await;
    assert_eq!(status, 201, "{m}");
    // Straight to the ingestd process too (it reaches catalogd over HTTP, S3 directly).
    let direct = format!(
        "{}/v1/ingest/sales?mode=append",
        split.process("ingestd").url
    );
    let (status, m) = post_csv(&direct, CSV).await;
    assert_eq!(
        (status, m["version"].as_u64(), m["rows"].as_u64()),
        (201, Some(2), Some(6))
    );
    let got: serde_json::Value = reqwest::get(format!("{gw}/v1/datasets/sales"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["rows"], 6);
    for f in got["files"].as_array().unwrap() {
        let key = f["key"].as_str().unwrap();
        let r = reqwest::get(format!(
            "{}/v1/storage/{key}",
            split.process("storaged").url
        ))
        .await
        .unwrap();
        assert_eq!(r.status(), 200, "{key}");
        let bytes = r.bytes().await.unwrap();
        assert_eq!(
            (&bytes[..4], bytes.len() as u64),
            (&b"PAR1"[..], f["bytes"].as_u64().unwrap())
        );
    }
    // queryd (its own process, reading S3 directly) sees the append at once, through the
    // gateway and directly.
    for base in [gw, &split.process("queryd").url] {
        let (status, r) = query(base, "SELECT count(*), sum(price) FROM sales").await;
        assert_eq!(
            (status, &r["rows"]),
            (200, &serde_json::json!([[6, -1995.0]])),
            "{base}"
        );
    }
    let (status, r) = query(gw, "SELECT count(*) FROM \"sales@v1\"").await;
    assert_eq!((status, &r["rows"]), (200, &serde_json::json!([[3]])));
    let (status, e) = post_csv(&format!("{gw}/v1/ingest/sales?mode=append"), "id\n1\n").await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (409, Some("schema_mismatch")),
        "{e}"
    );
    let (status, e) = post_csv(&format!("{gw}/v1/ingest/other?schema=n:int64"), "n\n1\nx\n").await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (422, Some("type_mismatch")),
        "{e}"
    );
}

#[tokio::test]
async fn split_on_a_local_directory_goes_through_storaged() {
    let mut split = start_split_on(false).await;
    let gw = &split.gateway().to_string();
    let (status, m) = post_csv(&format!("{gw}/v1/ingest/local"), CSV).await;
    assert_eq!(status, 201, "{m}");
    let (status, m) = post_csv(&format!("{gw}/v1/ingest/local?mode=append"), CSV).await;
    assert_eq!(
        (status, m["version"].as_u64(), m["rows"].as_u64()),
        (201, Some(2), Some(6))
    );
    // The files are in storaged's directory, read back through its API.
    for f in m["files"].as_array().unwrap() {
        let key = f["key"].as_str().unwrap();
        let r = reqwest::get(format!(
            "{}/v1/storage/{key}",
            split.process("storaged").url
        ))
        .await
        .unwrap();
        assert_eq!(r.status(), 200, "{key}");
    }
    let listed: serde_json::Value = reqwest::get(format!("{gw}/v1/datasets"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["datasets"][0]["name"], "local");
    // On storaged's machine, pointed at its directory, queryd finds that it is the one
    // storaged serves and reads the files in place.
    let (status, r) = query(gw, "SELECT count(*) FROM local").await;
    assert_eq!((status, &r["rows"]), (200, &serde_json::json!([[6]])));
    let log = split.process("queryd").log_text();
    assert!(
        log.contains("queryd reads the data files in place"),
        "{log}"
    );
    // Elsewhere it reads them from storaged (ranged GETs): pointed at an empty directory
    // of its own, it answers the same.
    let elsewhere = tempfile::tempdir().unwrap();
    split.kill9("queryd");
    split
        .restart_with(
            "queryd",
            &[(
                "LAKEHOUSE_STORAGE_DATA_DIR",
                elsewhere.path().to_str().unwrap(),
            )],
        )
        .await;
    let log = split.process("queryd").log_text();
    assert!(
        log.contains("queryd reads the data files through storaged"),
        "{log}"
    );
    let (status, r) = query(
        gw,
        "SELECT day, count(*) FROM local GROUP BY day ORDER BY day",
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        r["rows"],
        serde_json::json!([["1999-12-31", 2], ["2024-02-29", 2], [null, 2]])
    );
    let (status, r) = query(
        gw,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .await;
    assert_eq!((status, &r["rows"]), (200, &serde_json::json!([["local"]])));
}

/// vectord as its own process behind the gateway: its indexes persisted in the store (S3
/// directly, or storaged's directory through storaged) and kept across a kill -9.
async fn vectors_in_split(s3: bool) {
    let mut split = start_split_on(s3).await;
    let gw = split.gateway().to_string();
    let http = reqwest::Client::new();
    let send = |request: reqwest::RequestBuilder| async move {
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        (
            status,
            r.json::<serde_json::Value>().await.unwrap_or_default(),
        )
    };
    let v = |i: usize| vec![i as f32, (i * i % 7) as f32, 1.0, -(i as f32) / 4.0];
    let create = serde_json::json!({"name": "emb", "dim": 4, "metric": "l2"});
    let (status, info) = send(http.post(format!("{gw}/v1/vectors")).json(&create)).await;
    assert_eq!(status, 201, "{info}");
    let items: Vec<_> = (0..30)
        .map(|i| serde_json::json!({"id": format!("i{i}"), "vector": v(i), "metadata": {"i": i}}))
        .collect();
    let add = serde_json::json!({ "items": items });
    let (status, added) = send(http.post(format!("{gw}/v1/vectors/emb/add")).json(&add)).await;
    assert_eq!(
        (status, added),
        (200, serde_json::json!({"added": 30, "count": 30}))
    );
    let search = serde_json::json!({"vector": v(5), "k": 2});
    for base in [&gw, &split.process("vectord").url] {
        let (status, r) = send(
            http.post(format!("{base}/v1/vectors/emb/search"))
                .json(&search),
        )
        .await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(
            (&r["results"][0]["id"], &r["results"][0]["distance"]),
            (&serde_json::json!("i5"), &serde_json::json!(0.0)),
            "{base}: {r}"
        );
    }
    let (_, health) = send(http.get(format!("{gw}/health"))).await;
    assert_eq!(health["services"]["vectord"]["status"], "ok", "{health}");
    let listing = |http: reqwest::Client, storaged: String| async move {
        let r = http
            .get(format!("{storaged}/v1/storage?prefix=_vectors/emb.lhv1"))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = r.json().await.unwrap();
        body["keys"].as_array().unwrap().len()
    };
    assert_eq!(
        listing(http.clone(), split.process("storaged").url.clone()).await,
        1
    );

    split.kill9("vectord");
    let (status, e) = send(
        http.post(format!("{gw}/v1/vectors/emb/search"))
            .json(&search),
    )
    .await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (503, &serde_json::json!("service_unavailable")),
        "{e}"
    );
    split.restart("vectord").await;
    let (_, listed) = send(http.get(format!("{gw}/v1/vectors"))).await;
    assert_eq!(
        listed,
        serde_json::json!({"indexes": [{"name": "emb", "dim": 4, "metric": "l2", "count": 30}]})
    );
    let (_, r) = send(
        http.post(format!("{gw}/v1/vectors/emb/search"))
            .json(&search),
    )
    .await;
    assert_eq!(
        (&r["results"][0]["id"], &r["results"][0]["distance"]),
        (&serde_json::json!("i5"), &serde_json::json!(0.0)),
        "{r}"
    );
    let (status, _) = send(http.delete(format!("{gw}/v1/vectors/emb"))).await;
    assert_eq!(status, 204);
    assert_eq!(
        listing(http.clone(), split.process("storaged").url.clone()).await,
        0
    );
}

#[tokio::test]
async fn vectord_behind_the_gateway_persists_in_s3_across_a_kill_9() {
    vectors_in_split(true).await;
}

#[tokio::test]
async fn vectord_on_a_local_directory_persists_through_storaged() {
    vectors_in_split(false).await;
}

async fn query(base: &str, sql: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/sql"))
        .json(&serde_json::json!({"sql": sql}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// With an API key, a split deployment refuses every request without it — at the gateway
/// and at each service, so going around the gateway gets 401 too — and with it the whole
/// path works: the services pass the key to each other (ingestd → storaged and catalogd,
/// queryd → catalogd, vectord → storaged on a local directory).
#[tokio::test]
async fn the_api_key_guards_the_gateway_and_every_service() {
    let split = start_split_with(false, Some("s3cr3t-key")).await;
    let http = reqwest::Client::new();
    let gw = split.gateway().to_string();
    let services = [
        (&split.process("storaged").url, "GET", "/v1/storage?prefix="),
        (&split.process("catalogd").url, "GET", "/v1/datasets"),
        (&split.process("ingestd").url, "POST", "/v1/ingest/t"),
        (&split.process("queryd").url, "POST", "/v1/sql"),
        (&split.process("vectord").url, "GET", "/v1/vectors"),
        (&gw, "GET", "/v1/datasets"),
        (&gw, "POST", "/v1/sql"),
    ];
    for (base, method, path) in services {
        let method: reqwest::Method = method.parse().unwrap();
        for auth in [None, Some("Bearer wrong"), Some("Basic czNjcjN0LWtleQ==")] {
            let mut request = http.request(method.clone(), format!("{base}{path}"));
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 401, "{method} {base}{path} with {auth:?}");
            assert_eq!(r.headers()["www-authenticate"], "Bearer");
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        }
        let metrics = http.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(metrics.status(), 401, "{base}/metrics");
        let health = http.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(health.status(), 200, "{base}/health stays open");
        // Every service refuses another site's page and a rebinding name, key or not.
        let addr = base.trim_start_matches("http://");
        for (header, code) in [
            ("Host: rebind.evil.example", "forbidden_host"),
            (
                "Host: 127.0.0.1\r\nOrigin: http://evil.example",
                "forbidden_origin",
            ),
        ] {
            let request = format!(
                "{method} {path} HTTP/1.1\r\n{header}\r\nAuthorization: Bearer s3cr3t-key\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let (status, body) = test_support::raw_http(addr, request.as_bytes()).await;
            assert_eq!(status, 403, "{method} {base}{path} with {header:?}: {body}");
            assert!(body.contains(code), "{body}");
        }
    }

    let keyed = |r: reqwest::RequestBuilder| r.bearer_auth("s3cr3t-key");
    // /health tells strangers the statuses only; the key shows URLs and descriptions.
    let stranger: serde_json::Value = http
        .get(format!("{gw}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statuses_only = serde_json::json!({"status": "ok", "services": {
        "storaged": {"status": "ok"}, "catalogd": {"status": "ok"}, "ingestd": {"status": "ok"},
        "queryd": {"status": "ok"}, "vectord": {"status": "ok"}}});
    assert_eq!(stranger, statuses_only);
    let holder: serde_json::Value = keyed(http.get(format!("{gw}/health")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        holder["services"]["catalogd"]["url"],
        split.process("catalogd").url,
        "{holder}"
    );
    let r = keyed(http.post(format!("{gw}/v1/ingest/t")))
        .header("content-type", "text/csv")
        .body(CSV)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = keyed(http.post(format!("{gw}/v1/sql")))
        .json(&serde_json::json!({"sql": "SELECT count(*) AS n FROM t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["rows"], serde_json::json!([[3]]), "{body}");
    let r = keyed(http.post(format!("{gw}/v1/vectors")))
        .json(&serde_json::json!({"name": "keyed", "dim": 2, "metric": "l2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = keyed(http.post(format!("{gw}/v1/vectors/keyed/add")))
        .json(&serde_json::json!({"items": [{"id": "a", "vector": [1.0, 2.0]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "vectord persisted through storaged with the key"
    );
    // The scheme is case-insensitive; a service answers a keyed request directly too.
    let r = http
        .get(format!("{}/v1/vectors", split.process("vectord").url))
        .header("authorization", "bearer s3cr3t-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let health: serde_json::Value = http
        .get(format!("{gw}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok", "{health}");
}
