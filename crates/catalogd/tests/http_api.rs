//! catalogd's HTTP API on the wire: statuses, bodies and error shapes a client of the raw
//! API (curl, another language) sees. The behaviour behind the routes is the conformance
//! suite's; this checks the encoding.

use std::sync::Arc;

use catalogd::StoreCatalog;
use reqwest::StatusCode;
use serde_json::{Value, json};
use storaged::{ObjectStoreBackend, StoreExt};
use test_support::{error_of, send_json};

struct Server {
    base: String,
    _dir: tempfile::TempDir,
    _task: tokio::task::JoinHandle<()>,
}

async fn start() -> Server {
    start_with_key(None).await
}

async fn start_with_key(key: Option<&str>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ObjectStoreBackend::local(dir.path()).unwrap());
    // The data files the commits below name: a commit's files must exist.
    for key in [
        "datasets/trips/v1/part-0.parquet",
        "datasets/trips/v2/part-0.parquet",
        "datasets/t/v1/part-0.parquet",
        "datasets/t/v2/x",
        "datasets/u/x",
    ] {
        let key = storaged::ObjectKey::parse(key).unwrap();
        store
            .put_bytes(&key, "PAR1".into(), storaged::PutMode::Overwrite)
            .await
            .unwrap();
    }
    let catalog = Arc::new(StoreCatalog::new(store, 10));
    let router = common::server::service_router(catalogd::http::router(catalog), key);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    Server {
        base: format!("http://{addr}"),
        _dir: dir,
        _task: task,
    }
}

fn commit_body(name: &str, mode: &str, columns: &[(&str, &str)]) -> Value {
    let fields: Vec<Value> = columns
        .iter()
        .map(|(n, t)| json!({"name": n, "type": t, "nullable": false}))
        .collect();
    json!({
        "name": name,
        "mode": mode,
        "schema": {"fields": fields},
        "files": [{"key": format!("datasets/{name}/v1/part-0.parquet"), "rows": 5, "bytes": 512}],
    })
}

/// A client with another key than the server's is told the keys differ, not given an
/// internal error.
#[tokio::test]
async fn a_client_with_the_wrong_api_key_is_told_the_keys_differ() {
    use catalogd::{Catalog, CatalogClient, CatalogError};
    let s = start_with_key(Some("right")).await;
    let client = CatalogClient::new(&s.base).with_api_key(Some("wrong"));
    match client.list().await {
        Err(CatalogError::Store(storaged::StoreError::Unavailable(message))) => assert!(
            message.contains(&s.base) && message.contains("refused this process's API key"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    let client = CatalogClient::new(&s.base).with_api_key(Some("right"));
    assert_eq!(client.list().await.unwrap().len(), 0);
}

#[tokio::test]
async fn the_dataset_routes_answer_the_documented_statuses_and_bodies() {
    let s = start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/datasets", s.base);
    let mut body = commit_body("trips", "create", &[("id", "int64")]);
    body["idempotency_key"] = "u1".into();
    let (status, m) = send_json(http.post(&url).json(&body)).await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(
        (m["name"].clone(), m["version"].clone()),
        (json!("trips"), json!(1))
    );
    assert_eq!(
        m.get("versions"),
        None,
        "a commit answers its version alone: {m}"
    );
    let (status, again) = send_json(http.post(&url).json(&body)).await;
    assert_eq!(status, 200, "an idempotent replay is 200 with the manifest");
    assert_eq!(again, m);

    let mut append = commit_body("trips", "append", &[("id", "int64")]);
    append["files"][0]["key"] = "datasets/trips/v2/part-0.parquet".into();
    let (status, head) = send_json(http.post(&url).json(&append)).await;
    assert_eq!(status, 201, "{head}");
    assert_eq!(
        (&head["version"], head.get("versions")),
        (&json!(2), None),
        "the answer is the new version, without the kept ones: {head}"
    );

    let (status, got) = send_json(http.get(format!("{url}/trips"))).await;
    assert_eq!(
        (status, got["version"].clone(), got["rows"].clone()),
        (StatusCode::OK, json!(2), json!(10))
    );
    let (status, versions) = send_json(http.get(format!("{url}/trips/versions"))).await;
    assert_eq!(status, 200);
    assert_eq!(versions["name"], "trips");
    let numbers: Vec<&Value> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["version"])
        .collect();
    assert_eq!(
        numbers,
        [&json!(2), &json!(1)],
        "newest first, current included"
    );
    let (status, list) = send_json(http.get(&url)).await;
    assert_eq!(status, 200);
    assert_eq!(list["datasets"][0]["name"], "trips");

    let (status, _) = send_json(http.delete(format!("{url}/trips"))).await;
    assert_eq!(status, 204);
    let (status, body) = send_json(http.delete(format!("{url}/trips"))).await;
    assert_eq!(status, 404);
    assert_eq!(error_of(&body).0, "dataset_not_found");
    assert!(error_of(&body).1.contains("trips"), "{body}");
}

#[tokio::test]
async fn refusals_are_json_saying_what_and_where() {
    let s = start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/datasets", s.base);

    let (status, body) = send_json(http.get(format!("{url}/no-dashes"))).await;
    assert_eq!(
        (status, error_of(&body).0),
        (StatusCode::BAD_REQUEST, "invalid_name")
    );
    assert!(error_of(&body).1.contains("character 3 is '-'"), "{body}");
    let (status, body) = send_json(http.get(format!("{url}/a%2Fb/versions"))).await;
    assert_eq!(
        (status, error_of(&body).0),
        (StatusCode::BAD_REQUEST, "invalid_name"),
        "{body}"
    );

    let malformed = http
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"name\": \"t\", \"mode\": ");
    let (status, body) = send_json(malformed).await;
    assert_eq!(
        (status, error_of(&body).0),
        (StatusCode::BAD_REQUEST, "bad_commit"),
        "{body}"
    );
    assert!(error_of(&body).1.contains("line 1 column"), "{body}");

    let bad_name = commit_body("1st", "create", &[("id", "int64")]);
    let (status, body) = send_json(http.post(&url).json(&bad_name)).await;
    assert_eq!(
        (status, error_of(&body).0),
        (StatusCode::BAD_REQUEST, "bad_commit"),
        "{body}"
    );
    assert!(
        error_of(&body).1.contains("name") && error_of(&body).1.contains("start with a letter"),
        "{body}"
    );

    let bad_type = commit_body("t", "create", &[("id", "varchar")]);
    let (status, body) = send_json(http.post(&url).json(&bad_type)).await;
    assert_eq!(status, 400);
    assert!(
        error_of(&body).1.contains("schema.fields[0].type"),
        "{body}"
    );

    let no_type = http
        .post(&url)
        .body(commit_body("t", "create", &[("id", "int64")]).to_string());
    let (status, body) = send_json(no_type).await;
    assert_eq!(
        (status, error_of(&body).0),
        (StatusCode::BAD_REQUEST, "bad_commit")
    );
    assert!(
        error_of(&body).1.contains("Content-Type: application/json"),
        "{body}"
    );

    let outside = json!({"name": "t", "mode": "create", "schema": {"fields": [{"name": "a", "type": "utf8", "nullable": true}]},
        "files": [{"key": "datasets/u/x", "rows": 1, "bytes": 1}]});
    let (status, body) = send_json(http.post(&url).json(&outside)).await;
    assert_eq!(
        (status, error_of(&body).0),
        (StatusCode::BAD_REQUEST, "bad_commit")
    );

    let (status, body) = send_json(http.post(&url).json(&commit_body(
        "t",
        "create",
        &[("id", "int64")],
    )))
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send_json(http.post(&url).json(&commit_body(
        "t",
        "create",
        &[("id", "int64")],
    )))
    .await;
    assert_eq!(
        (status, error_of(&body).0),
        (StatusCode::CONFLICT, "dataset_exists")
    );
    let mut mismatch = commit_body("t", "append", &[("id", "utf8"), ("extra", "int64")]);
    mismatch["files"][0]["key"] = "datasets/t/v2/x".into();
    let (status, body) = send_json(http.post(&url).json(&mismatch)).await;
    assert_eq!(
        (status, error_of(&body).0),
        (StatusCode::CONFLICT, "schema_mismatch")
    );
    assert_eq!(
        body["error"]["differences"],
        json!([
            "column 1 \"id\": int64 in the dataset, utf8 in the upload",
            "extra column \"extra\" (evolve=true adds new columns after the dataset's)"
        ])
    );
}
