//! An S3 outage, as the standalone server on S3 sees it through a TCP proxy the test
//! controls (test_support::FaultProxy): the store resets every connection, then accepts
//! connections and never answers. Every kind of request — object PUT/GET/LIST/DELETE, an
//! ingest, SQL, a vector add, an index create — answers 503 `store_unavailable` in bounded
//! time, applies nothing; `/health` says the store is down while vector search keeps
//! answering; and everything works again once the proxy forwards again.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::{FaultMode, FaultProxy, Lakehouse, Launch, S3Server, lakehouse_bin};

/// Bounds the test's server uses, so that a stalled store shows within seconds.
const TIMEOUTS: &str = "connect_timeout = \"1s\"\nread_timeout = \"2s\"\nrequest_timeout = \"4s\"\nmax_retries = 1\nretry_timeout = \"2s\"\n";
/// What the test accepts for one request against a sick store (a request may make a few
/// calls in turn before the first fails; each is bounded by request_timeout).
const ANSWER_WITHIN: Duration = Duration::from_secs(15);

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    async fn call(&self, what: &str, request: reqwest::RequestBuilder) -> (u16, Value, Duration) {
        let started = Instant::now();
        let response = request
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body, started.elapsed())
    }

    /// Every kind of request that touches the store; each must be refused with 503.
    async fn all_refused(&self, mode: &str) {
        let u = |p: &str| format!("{}{p}", self.url);
        let requests: Vec<(&str, reqwest::RequestBuilder)> = vec![
            ("PUT", self.http.put(u("/v1/storage/o/new")).body("x")),
            ("GET", self.http.get(u("/v1/storage/o/kept"))),
            ("LIST", self.http.get(u("/v1/storage?prefix=o/"))),
            ("DELETE", self.http.delete(u("/v1/storage/o/kept"))),
            (
                "ingest",
                self.http
                    .post(u("/v1/ingest/fresh"))
                    .header("content-type", "text/csv")
                    .body("a,b\n1,2\n"),
            ),
            (
                "append",
                self.http
                    .post(u("/v1/ingest/kept?mode=append"))
                    .header("content-type", "text/csv")
                    .body("a,b\n9,9\n"),
            ),
            (
                "SQL",
                self.http
                    .post(u("/v1/sql"))
                    .json(&json!({"sql": "SELECT count(*) AS n FROM kept"})),
            ),
            (
                "vector add",
                self.http
                    .post(u("/v1/vectors/docs/add"))
                    .json(&json!({"items": [{"id": "new", "vector": [0.5, 0.5, 0.0]}]})),
            ),
            (
                "index create",
                self.http
                    .post(u("/v1/vectors"))
                    .json(&json!({"name": "fresh", "dim": 3, "metric": "l2"})),
            ),
        ];
        for (what, request) in requests {
            let (status, body, took) = self.call(what, request).await;
            assert_eq!(status, 503, "{mode}: {what} answered {status} {body}");
            assert!(took < ANSWER_WITHIN, "{mode}: {what} took {took:?}");
            let code = body["error"]["code"].as_str().unwrap_or_default();
            assert_eq!(code, "store_unavailable", "{mode}: {what}: {body}");
        }
        // `/health` reuses a probe's answer for 3 s: ask once that has passed.
        tokio::time::sleep(Duration::from_millis(3200)).await;
        let (status, body, _) = self.call("health", self.http.get(u("/health"))).await;
        assert_eq!(status, 503, "{mode}: health {body}");
        assert_eq!(body["services"]["storaged"]["status"], "down", "{body}");
        // In-memory reads keep answering.
        let search = self
            .http
            .post(u("/v1/vectors/docs/search"))
            .json(&json!({"vector": [1.0, 0.0, 0.0], "k": 1}));
        let (status, body, _) = self.call("search", search).await;
        assert_eq!(status, 200, "{mode}: search during the outage: {body}");
        assert_eq!(body["results"][0]["id"], "a", "{body}");
    }

    /// What was there before the outage is there, whole, and nothing of it was applied.
    async fn unchanged(&self) {
        let u = |p: &str| format!("{}{p}", self.url);
        let kept = self.http.get(u("/v1/storage/o/kept")).send().await.unwrap();
        assert_eq!(kept.status(), 200);
        assert_eq!(kept.text().await.unwrap(), "kept");
        for gone in ["/v1/storage/o/new"] {
            let r = self.http.get(u(gone)).send().await.unwrap();
            assert_eq!(r.status(), 404, "{gone} was applied");
        }
        let (_, body, _) = self
            .call(
                "count",
                self.http
                    .post(u("/v1/sql"))
                    .json(&json!({"sql": "SELECT count(*) AS n FROM kept"})),
            )
            .await;
        assert_eq!(body["rows"][0][0], 1, "{body}");
        let r = self.http.get(u("/v1/datasets/fresh")).send().await.unwrap();
        assert_eq!(r.status(), 404, "an ingest was applied");
        let (_, body, _) = self
            .call("index", self.http.get(u("/v1/vectors/docs")))
            .await;
        assert_eq!(body["count"], 1, "a vector add was applied: {body}");
        let r = self.http.get(u("/v1/vectors/fresh")).send().await.unwrap();
        assert_eq!(r.status(), 404, "an index create was applied");
    }
}

#[tokio::test]
async fn an_s3_outage_answers_503_in_bounded_time_applies_nothing_and_heals() {
    common::tls::install_provider();
    let s3 = S3Server::start();
    let bucket = s3.bucket("outage").await;
    let upstream = s3.endpoint().trim_start_matches("http://").parse().unwrap();
    let proxy = FaultProxy::start(upstream);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lakehouse.toml");
    let toml = s3
        .config_toml(&bucket)
        .replace(s3.endpoint(), &proxy.endpoint());
    std::fs::write(&file, format!("{toml}{TIMEOUTS}")).unwrap();
    let server = Lakehouse::start(lakehouse_bin!(), Launch::standalone_with_config(&file)).await;
    let client = Client {
        http: reqwest::Client::new(),
        url: server.url.clone(),
    };
    let u = |p: &str| format!("{}{p}", server.url);

    // Before: one object, one dataset, one index with one item.
    let r = client.http.put(u("/v1/storage/o/kept")).body("kept").send();
    assert_eq!(r.await.unwrap().status(), 201);
    let r = client
        .http
        .post(u("/v1/ingest/kept"))
        .header("content-type", "text/csv")
        .body("a,b\n1,2\n")
        .send();
    assert_eq!(r.await.unwrap().status(), 201);
    let create = json!({"name": "docs", "dim": 3, "metric": "l2"});
    let r = client.http.post(u("/v1/vectors")).json(&create).send();
    assert!(r.await.unwrap().status().is_success());
    let add = json!({"items": [{"id": "a", "vector": [1.0, 0.0, 0.0]}]});
    let r = client
        .http
        .post(u("/v1/vectors/docs/add"))
        .json(&add)
        .send();
    assert_eq!(r.await.unwrap().status(), 200);

    for (mode, fault) in [("reset", FaultMode::Reset), ("stall", FaultMode::Stall)] {
        proxy.set_mode(fault);
        client.all_refused(mode).await;
        // Requests the stall swallowed were never delivered: drop their connections (a
        // stalled proxy would otherwise deliver them late, after their 503 — the unknown
        // outcome of a timed-out write, which is not what this test is about).
        proxy.set_mode(FaultMode::Reset);
        tokio::time::sleep(Duration::from_millis(200)).await;
        proxy.set_mode(FaultMode::Forward);
        // The health probe's cache, and the server's own recovery: nothing to restart.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let (status, body, _) = client.call("health", client.http.get(u("/health"))).await;
        assert_eq!(status, 200, "{mode}: after the outage: {body}");
        client.unchanged().await;
    }

    // Everything works again.
    let r = client.http.put(u("/v1/storage/o/after")).body("ok").send();
    assert_eq!(r.await.unwrap().status(), 201);
    let r = client
        .http
        .post(u("/v1/ingest/kept?mode=append"))
        .header("content-type", "text/csv")
        .body("a,b\n3,4\n")
        .send();
    assert_eq!(r.await.unwrap().status(), 201);
    let add = json!({"items": [{"id": "b", "vector": [0.0, 1.0, 0.0]}]});
    let r = client
        .http
        .post(u("/v1/vectors/docs/add"))
        .json(&add)
        .send();
    assert_eq!(r.await.unwrap().status(), 200);
    let (_, body, _) = client
        .call(
            "count",
            client
                .http
                .post(u("/v1/sql"))
                .json(&json!({"sql": "SELECT count(*) AS n FROM kept"})),
        )
        .await;
    assert_eq!(body["rows"][0][0], 2, "{body}");
}
