//! vectord's HTTP API on the wire: statuses, bodies and error shapes a client of the raw
//! API (curl, another language) sees.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::points;
use test_support::{error_of, send_json};
use vectord::Vectors;

struct Server {
    base: String,
    _dir: tempfile::TempDir,
    _task: tokio::task::JoinHandle<()>,
}

async fn start_with(vectors: Vectors, max_body: usize, dir: tempfile::TempDir) -> Server {
    let router =
        common::server::service_router(vectord::http::router_with_limit(vectors, max_body), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    Server {
        base: format!("http://{addr}/v1/vectors"),
        _dir: dir,
        _task: task,
    }
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(storaged::ObjectStoreBackend::local(dir.path()).unwrap());
    let vectors = Vectors::open(store).await.unwrap();
    start_with(vectors, vectord::http::DEFAULT_MAX_BODY_BYTES, dir).await
}

fn items(range: std::ops::Range<usize>, data: &[Vec<f32>]) -> Value {
    let items: Vec<Value> = range
        .map(|i| json!({"id": format!("v{i}"), "vector": data[i], "metadata": {"i": i, "lang": if i % 2 == 0 {"en"} else {"fr"}}}))
        .collect();
    json!({ "items": items })
}

#[tokio::test]
async fn the_vector_routes_answer_the_documented_statuses_and_bodies() {
    let s = start().await;
    let http = reqwest::Client::new();
    let url = &s.base;
    let data = points(100, 4, 1);

    let (status, info) = send_json(
        http.post(url)
            .json(&json!({"name": "docs", "dim": 4, "metric": "cosine"})),
    )
    .await;
    assert_eq!(status, 201, "{info}");
    assert_eq!(
        (
            info["m"].clone(),
            info["ef_construction"].clone(),
            info["count"].clone()
        ),
        (json!(16), json!(200), json!(0))
    );
    let (status, body) = send_json(
        http.post(url)
            .json(&json!({"name": "docs", "dim": 4, "metric": "l2"})),
    )
    .await;
    assert_eq!(
        (status, error_of(&body).0),
        (StatusCode::CONFLICT, "index_exists")
    );

    let (status, added) = send_json(
        http.post(format!("{url}/docs/add"))
            .json(&items(0..100, &data)),
    )
    .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added, json!({"added": 100, "count": 100}));
    let (_, added) = send_json(
        http.post(format!("{url}/docs/add"))
            .json(&items(0..10, &data)),
    )
    .await;
    assert_eq!(added, json!({"added": 10, "count": 100}), "upserts");

    let (status, list) = send_json(http.get(url.as_str())).await;
    assert_eq!(status, 200);
    assert_eq!(
        list,
        json!({"indexes": [{"name": "docs", "dim": 4, "metric": "cosine", "count": 100}]})
    );
    let (status, info) = send_json(http.get(format!("{url}/docs"))).await;
    assert_eq!(
        (status, info["count"].clone(), info["metric"].clone()),
        (StatusCode::OK, json!(100), json!("cosine"))
    );

    let (status, found) = send_json(
        http.post(format!("{url}/docs/search"))
            .json(&json!({"vector": data[42], "k": 3})),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    let results = found["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["id"], "v42");
    assert!(results[0]["distance"].as_f64().unwrap() < 1e-5);
    assert_eq!(results[0]["metadata"], json!({"i": 42, "lang": "en"}));
    let d: Vec<f64> = results
        .iter()
        .map(|r| r["distance"].as_f64().unwrap())
        .collect();
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "nearest first: {d:?}");

    let (_, found) = send_json(
        http.post(format!("{url}/docs/search"))
            .json(&json!({"vector": data[42], "k": 10, "ef": 100, "filter": {"lang": "fr"}})),
    )
    .await;
    let results = found["results"].as_array().unwrap();
    assert_eq!(results.len(), 10);
    assert!(results.iter().all(|r| r["metadata"]["lang"] == "fr"));

    // Ranges, sets and disjunctions: exactly the matching items (12 of 100) come back.
    let filter = json!({
        "i": {"$gte": 20, "$lt": 40},
        "$or": [{"lang": {"$ne": "fr"}}, {"i": {"$in": [21, 23, 99]}}],
    });
    let (status, found) = send_json(
        http.post(format!("{url}/docs/search"))
            .json(&json!({"vector": data[42], "k": 50, "filter": filter})),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    let mut ids: Vec<u64> = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metadata"]["i"].as_u64().unwrap())
        .collect();
    ids.sort();
    let mut want: Vec<u64> = (20..40).filter(|i| i % 2 == 0).collect();
    want.extend([21, 23]);
    want.sort();
    assert_eq!(ids, want);

    let (status, body) = send_json(http.delete(format!("{url}/docs/items/v42"))).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, body) = send_json(http.delete(format!("{url}/docs/items/v42"))).await;
    assert_eq!(
        (status, error_of(&body).0),
        (StatusCode::NOT_FOUND, "item_not_found")
    );
    assert!(error_of(&body).1.contains("v42"), "{body}");
    let (_, info) = send_json(http.get(format!("{url}/docs"))).await;
    assert_eq!(info["count"], 99);

    let (status, _) = send_json(http.delete(format!("{url}/docs"))).await;
    assert_eq!(status, 204);
    for request in [
        http.get(format!("{url}/docs")),
        http.delete(format!("{url}/docs")),
        http.post(format!("{url}/docs/search"))
            .json(&json!({"vector": [1, 0, 0, 0]})),
    ] {
        let (status, body) = send_json(request).await;
        assert_eq!(
            (status, error_of(&body).0),
            (StatusCode::NOT_FOUND, "index_not_found"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn refusals_are_json_saying_what_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(Vectors::in_memory(), 4096, dir).await;
    let http = reqwest::Client::new();
    let url = &s.base;
    send_json(
        http.post(url)
            .json(&json!({"name": "docs", "dim": 3, "metric": "l2"})),
    )
    .await;

    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str, &str)> = vec![
        (http.post(url).body("{\"name\": "), StatusCode::BAD_REQUEST, "bad_request", "line 1 column"),
        (http.post(url).json(&json!({"name": "a-b", "dim": 3, "metric": "l2"})), StatusCode::BAD_REQUEST, "invalid_name", "character 2 is '-'"),
        (http.post(url).json(&json!({"name": "x", "dim": 3, "metric": "manhattan"})), StatusCode::BAD_REQUEST, "bad_request", "unknown variant `manhattan`"),
        (http.get(format!("{url}/no.dots")), StatusCode::BAD_REQUEST, "invalid_name", "character 3 is '.'"),
        (http.post(format!("{url}/docs/add")).body("not json"), StatusCode::BAD_REQUEST, "bad_request", "expected ident"),
        (http.post(format!("{url}/docs/add")).json(&json!({"items": [{"id": "a", "vector": [1, 2, 3]}, {"id": "b", "vector": [1, 2]}]})), StatusCode::BAD_REQUEST, "invalid_item", "item 1 (id \"b\"): vector has 2 values; the index's dim is 3"),
        (http.post(format!("{url}/docs/add")).json(&json!({"items": [{"id": "a", "vector": [1, 2, 3]}, {"id": "a", "vector": [1, 2, 3]}]})), StatusCode::BAD_REQUEST, "invalid_item", "item 1 (id \"a\"): id repeats item 0"),
        (http.post(format!("{url}/docs/add")).body(r#"{"items": [{"id": "a", "vector": [1, 2, 3e39]}]}"#), StatusCode::BAD_REQUEST, "invalid_item", "vector[2]"),
        (http.post(format!("{url}/docs/add")).body(format!("{{\"items\": [{{\"id\": \"{}\", \"vector\": [1]}}]}}", "x".repeat(5000))), StatusCode::PAYLOAD_TOO_LARGE, "too_large", "larger than 4096 bytes"),
        (http.post(format!("{url}/docs/search")).json(&json!({"vector": [1, 2, 3], "k": 0})), StatusCode::BAD_REQUEST, "invalid_query", "k must be between 1"),
        (http.post(format!("{url}/docs/search")).json(&json!({"vector": [1, 2, 3], "filter": {"year": {"$gte": [2020]}}})), StatusCode::BAD_REQUEST, "invalid_query", "filter: $gte on field \"year\" takes a number or a string, not an array"),
        (http.post(format!("{url}/docs/search")).json(&json!({"vector": [1, 2, 3], "filter": {"year": {"$like": "x"}}})), StatusCode::BAD_REQUEST, "invalid_query", "unknown operator \"$like\""),
        (http.put(format!("{url}/docs")), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "PUT"),
        (http.post(format!("{url}/nope/add")).json(&json!({"items": []})), StatusCode::NOT_FOUND, "index_not_found", "nope"),
    ];
    for (request, status, code, message) in cases {
        let (got, body) = send_json(request).await;
        assert_eq!((got, error_of(&body).0), (status, code), "{body}");
        assert!(error_of(&body).1.contains(message), "{message}: {body}");
    }
    let (_, info) = send_json(http.get(format!("{url}/docs"))).await;
    assert_eq!(info["count"], 0, "no refused batch applied anything");
}

#[tokio::test]
async fn ids_with_slashes_and_spaces_round_trip_through_the_path() {
    let s = start().await;
    let http = reqwest::Client::new();
    let url = &s.base;
    send_json(
        http.post(url)
            .json(&json!({"name": "docs", "dim": 2, "metric": "l2"})),
    )
    .await;
    let body = json!({"items": [{"id": "a/b c?", "vector": [1, 2]}]});
    assert_eq!(
        send_json(http.post(format!("{url}/docs/add")).json(&body))
            .await
            .0,
        200
    );
    let (status, _) = send_json(http.delete(format!("{url}/docs/items/a%2Fb%20c%3F"))).await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn searches_answer_while_a_large_batch_is_being_added() {
    let s = start().await;
    let http = reqwest::Client::new();
    let url = s.base.clone();
    send_json(
        http.post(&url)
            .json(&json!({"name": "docs", "dim": 16, "metric": "l2"})),
    )
    .await;
    let data = points(6_000, 16, 2);
    send_json(
        http.post(format!("{url}/docs/add"))
            .json(&items(0..1_000, &data)),
    )
    .await;
    let writer = {
        let (http, url, body) = (http.clone(), url.clone(), items(1_000..6_000, &data));
        tokio::spawn(
            async move { send_json(http.post(format!("{url}/docs/add")).json(&body)).await },
        )
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut searches = 0;
    while !writer.is_finished() && Instant::now() < deadline && searches < 10_000 {
        let (status, found) = send_json(
            http.post(format!("{url}/docs/search"))
                .json(&json!({"vector": data[searches % 1_000], "k": 5})),
        )
        .await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["results"].as_array().unwrap().len(), 5);
        searches += 1;
    }
    let (status, added) = writer.await.unwrap();
    assert_eq!(
        (status, added["count"].clone()),
        (StatusCode::OK, json!(6_000))
    );
    assert!(searches > 0, "searches were answered during the add");
}
