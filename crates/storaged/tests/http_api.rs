//! storaged's HTTP contract at the edges: bad keys, size limits, conditions, an unreachable
//! S3. Requests go over real loopback TCP; odd paths are sent raw so no client normalises
//! them first.

use std::sync::Arc;

use storaged::http::StorageApi;
use storaged::{ObjectStoreBackend, Store, StoreError};

struct Server {
    addr: std::net::SocketAddr,
    dir: Option<tempfile::TempDir>,
}

async fn serve(
    store: Arc<dyn Store>,
    max_object_bytes: u64,
    dir: Option<tempfile::TempDir>,
) -> Server {
    serve_with_key(store, max_object_bytes, dir, None).await
}

async fn serve_with_key(
    store: Arc<dyn Store>,
    max_object_bytes: u64,
    dir: Option<tempfile::TempDir>,
    key: Option<&str>,
) -> Server {
    let api = StorageApi {
        store,
        max_object_bytes,
    };
    let router = common::server::service_router(storaged::http::router(api), key);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Server { addr, dir }
}

async fn local_server(max: u64) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ObjectStoreBackend::local(dir.path()).unwrap());
    serve(store, max, Some(dir)).await
}

async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    test_support::raw_http(&addr.to_string(), request).await
}

async fn get_raw(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
}

/// `Range: bytes=...` gets 206 with `Content-Range`; a range past the end 416 with
/// `Content-Range: bytes */SIZE`; one the server does not take (several ranges, another
/// unit, `b < a`) the whole object with 200. Every answer says `Accept-Ranges: bytes`.
#[tokio::test]
async fn range_requests_get_206_416_or_the_whole_object() {
    let server = local_server(1 << 20).await;
    let url = format!("http://{}/v1/storage/r/digits", server.addr);
    let client = reqwest::Client::new();
    let put = client.put(&url).body("0123456789").send().await.unwrap();
    assert!(put.status().is_success());
    let get = |range: &'static str| {
        let request = client.get(&url).header("range", range);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default()
            };
            let (content_range, accept) = (header("content-range"), header("accept-ranges"));
            let body = response.text().await.unwrap();
            (status, content_range, accept, body)
        }
    };
    let partial = |range: &str, body: &str| {
        (
            206,
            format!("bytes {range}/10"),
            "bytes".to_string(),
            body.to_string(),
        )
    };
    assert_eq!(get("bytes=2-4").await, partial("2-4", "234"));
    assert_eq!(get("bytes=7-").await, partial("7-9", "789"));
    assert_eq!(get("bytes=-3").await, partial("7-9", "789"));
    assert_eq!(get("bytes=-30").await, partial("0-9", "0123456789"));
    assert_eq!(get("bytes=8-1000").await, partial("8-9", "89"));
    let (status, content_range, _, body) = get("bytes=10-").await;
    assert_eq!((status, content_range.as_str()), (416, "bytes */10"));
    assert!(body.contains("range_not_satisfiable"), "{body}");
    for ignored in [
        "bytes=0-1,4-5",
        "items=0-1",
        "bytes=5-2",
        "bytes=-0",
        "bytes=x-",
    ] {
        let (status, content_range, accept, body) = get(ignored).await;
        assert_eq!(
            (
                status,
                content_range.as_str(),
                accept.as_str(),
                body.as_str()
            ),
            (200, "", "bytes", "0123456789"),
            "{ignored}"
        );
    }
    let missing = client
        .get(format!("http://{}/v1/storage/r/none", server.addr))
        .header("range", "bytes=0-1")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

/// A client with another key than the server's gets an error that says so and how to
/// mend it, not an internal error; with the right key it works.
#[tokio::test]
async fn a_client_with_the_wrong_api_key_is_told_the_keys_differ() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ObjectStoreBackend::local(dir.path()).unwrap());
    let server = serve_with_key(store, 1 << 20, Some(dir), Some("right")).await;
    let base = format!("http://{}", server.addr);
    let key = storaged::ObjectKey::parse("a/b").unwrap();
    for given in [Some("wrong"), None] {
        let client = storaged::StoreClient::new(&base).with_api_key(given);
        let Err(StoreError::Unavailable(message)) = client.head(&key).await else {
            panic!("{given:?}: not Unavailable");
        };
        assert!(
            message.contains(&base)
                && message.contains("refused this process's API key")
                && message.contains("LAKEHOUSE_API_KEY"),
            "{message}"
        );
    }
    let client = storaged::StoreClient::new(&base).with_api_key(Some("right"));
    assert!(matches!(
        client.head(&key).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn bad_keys_get_400_naming_the_rule() {
    let server = local_server(1 << 20).await;
    let long = format!("/v1/storage/{}", "k".repeat(1025));
    let cases: &[(&str, &str)] = &[
        ("/v1/storage/a/../b", "'..' segment"),
        ("/v1/storage/a/./b", "'.' segment"),
        ("/v1/storage/a/%2e%2E/b", "'..' segment"),
        ("/v1/storage/a//b", "empty segment"),
        ("/v1/storage/a/", "empty segment"),
        ("/v1/storage//a", "must not start with '/'"),
        ("/v1/storage/a%00b", "control character"),
        ("/v1/storage/a%0Db", "control character"),
        ("/v1/storage/%FF", "UTF-8"),
        ("/v1/storage/", "empty"),
        (long.as_str(), "limit is 1024"),
    ];
    for (path, needle) in cases {
        for method in ["GET", "PUT", "DELETE"] {
            let req = format!(
                "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"
            );
            let (status, body) = raw(server.addr, req.as_bytes()).await;
            assert_eq!(status, 400, "{method} {path}: {body}");
            assert!(
                body.contains("invalid_key") && body.contains(needle),
                "{method} {path}: {body}"
            );
        }
    }
    let dir = server.dir.as_ref().unwrap().path();
    assert_eq!(
        std::fs::read_dir(dir).unwrap().count(),
        0,
        "nothing stored by a bad request"
    );
}

#[tokio::test]
async fn missing_object_is_json_404_and_unknown_route_too() {
    let server = local_server(1 << 20).await;
    let (status, body) = get_raw(server.addr, "/v1/storage/nope/x").await;
    assert_eq!(status, 404);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "not_found");
    assert!(v["error"]["message"].as_str().unwrap().contains("nope/x"));
    let (status, body) = get_raw(server.addr, "/v2/elsewhere").await;
    assert_eq!(status, 404);
    assert!(body.contains("route_not_found"), "{body}");
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_and_store_nothing() {
    let server = local_server(1000).await;
    let url = format!("http://{}/v1/storage/big", server.addr);
    let client = reqwest::Client::new();
    // Declared too large: refused before reading.
    let r = client.put(&url).body(vec![0u8; 1001]).send().await.unwrap();
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("max_object_bytes"));
    // Streamed without Content-Length: refused once it passes the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..10).map(|_| Ok(vec![1u8; 300])).collect();
    let r = client
        .put(&url)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(test_support::status_of(client.get(&url)).await, 404);
    let dir = server.dir.as_ref().unwrap().path();
    assert_eq!(
        std::fs::read_dir(dir).unwrap().count(),
        0,
        "no staged file left"
    );
    // Exactly at the limit is fine.
    let r = client.put(&url).body(vec![0u8; 1000]).send().await.unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn put_answers_key_size_etag_and_head_has_headers() {
    let server = local_server(1 << 20).await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/v1/storage/dir/a%2Fb.txt", server.addr);
    let r = client.put(&url).body("twelve bytes").send().await.unwrap();
    assert_eq!(r.status(), 201);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["key"], "dir/a%2Fb.txt");
    assert_eq!(v["size"], 12);
    let etag = v["etag"].as_str().unwrap().to_string();
    let head = client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "12");
    assert_eq!(head.headers()["etag"], etag.as_str());
    assert!(head.headers().contains_key("last-modified"));
    let list: serde_json::Value = client
        .get(format!("http://{}/v1/storage?prefix=dir/", server.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["keys"][0]["key"], "dir/a%2Fb.txt");
    assert_eq!(list["keys"][0]["size"], 12);
}

#[tokio::test]
async fn conditional_headers() {
    let server = local_server(1 << 20).await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/v1/storage/m.json", server.addr);
    let r = client
        .put(&url)
        .header("If-None-Match", "*")
        .body("1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let etag = r.json::<serde_json::Value>().await.unwrap()["etag"]
        .as_str()
        .unwrap()
        .to_string();
    let r = client
        .put(&url)
        .header("If-None-Match", "*")
        .body("2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let r = client
        .put(&url)
        .header("If-Match", "\"stale\"")
        .body("2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let r = client
        .put(&url)
        .header("If-Match", format!("\"{etag}\""))
        .body("2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "quoted etag matches");
    let r = client
        .put(&url)
        .header("If-None-Match", "abc")
        .body("3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        client.get(&url).send().await.unwrap().text().await.unwrap(),
        "2"
    );
}

#[tokio::test]
async fn unreachable_s3_is_503_naming_the_endpoint_and_the_server_keeps_serving() {
    common::tls::install_provider();
    let port = test_support::free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let config = storaged::config::S3Config {
        endpoint: Some(endpoint.clone()),
        region: "us-east-1".into(),
        bucket: "gone".into(),
        access_key_id: Some("k".into()),
        secret_access_key: Some("s".into()),
        use_path_style: true,
        timeouts: Default::default(),
    };
    let store = Arc::new(ObjectStoreBackend::s3(&config).unwrap());
    let server = serve(store, 1 << 20, None).await;
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let r = client
            .get(format!("http://{}/v1/storage/x", server.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "store_unavailable");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(&endpoint),
            "{v}"
        );
        let r = client
            .put(format!("http://{}/v1/storage/x", server.addr))
            .body("b")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
    }
    let r = client
        .get(format!("http://{}/health", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn missing_bucket_is_a_startup_error_naming_bucket_and_endpoint() {
    common::tls::install_provider();
    let s3 = test_support::S3Server::start();
    let config = s3.s3_config("no-such-bucket-here");
    let err = ObjectStoreBackend::s3(&config)
        .unwrap()
        .check()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no-such-bucket-here") && err.contains(s3.endpoint()),
        "{err}"
    );
}

/// Local-backend layout rules: what S3 allows but a directory tree cannot hold.
#[tokio::test]
async fn local_layout_clashes_are_404_409_and_reserved_names_400() {
    let server = local_server(1 << 20).await;
    let client = reqwest::Client::new();
    let url = |k: &str| format!("http://{}/v1/storage/{k}", server.addr);
    assert_eq!(
        test_support::status_of(client.put(url("reports")).body("r")).await,
        201
    );
    // Below an object: nothing there.
    assert_eq!(
        test_support::status_of(client.get(url("reports/2024.csv"))).await,
        404
    );
    assert_eq!(
        test_support::status_of(client.head(url("reports/2024.csv"))).await,
        404
    );
    assert_eq!(
        test_support::status_of(client.delete(url("reports/2024.csv"))).await,
        204
    );
    let listed: serde_json::Value = client
        .get(format!("http://{}/v1/storage?prefix=reports/", server.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["keys"].as_array().unwrap().len(), 0);
    // Writing below an object, or over a directory: 409, nothing changes.
    let r = client
        .put(url("reports/2024.csv"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("conflict"));
    assert_eq!(
        test_support::status_of(client.put(url("dir/a")).body("a")).await,
        201
    );
    assert_eq!(
        test_support::status_of(client.put(url("dir")).body("d")).await,
        409
    );
    assert_eq!(test_support::status_of(client.get(url("dir"))).await, 404);
    assert_eq!(
        client
            .get(url("reports"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "r"
    );
    // `#digits` names a write in progress.
    for method in [
        reqwest::Method::PUT,
        reqwest::Method::GET,
        reqwest::Method::DELETE,
    ] {
        let r = client
            .request(method.clone(), url("x%23123"))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{method}");
        assert!(r.text().await.unwrap().contains("write in progress"));
    }
    let dir = server.dir.as_ref().unwrap().path();
    let leftovers: Vec<_> = walk(dir).into_iter().filter(|n| n.contains('#')).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn a_failed_put_leaves_no_staged_file_on_disk() {
    let server = local_server(4 << 20).await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/v1/storage/deep/er/obj", server.addr);
    assert_eq!(
        test_support::status_of(client.put(&url).body("old")).await,
        201
    );
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..8).map(|_| Ok(vec![1u8; 1 << 20])).collect();
    let r = client
        .put(&url)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        client.get(&url).send().await.unwrap().text().await.unwrap(),
        "old"
    );
    let names = walk(server.dir.as_ref().unwrap().path());
    assert_eq!(names, ["deep/er/obj"], "only the object itself on disk");
}

fn walk(root: &std::path::Path) -> Vec<String> {
    test_support::files_under(root)
}
