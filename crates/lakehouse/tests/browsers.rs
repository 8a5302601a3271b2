//! Browser safety against the real binary (docs/api.md, Browsers): what a web page on
//! another origin can make a browser send — "simple" no-cors POSTs with its `Origin`,
//! `Sec-Fetch-Site: cross-site` requests without one, requests through a rebinding name —
//! is refused with 403 on every kind of route and changes nothing, while tools that send
//! none of those headers, the server's own origin and configured origins (with CORS) work.

use std::path::Path;

use serde_json::{Value, json};
use test_support::{Lakehouse, Launch, raw_http};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_lakehouse"))
}

/// One raw request to `addr`; `headers` are extra lines (a `Host` line replaces the
/// default). Returns the status and the JSON body (`Null` when it is not JSON).
async fn send(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[String],
    body: &str,
) -> (u16, Value) {
    let mut request = format!("{method} {path} HTTP/1.1\r\n");
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("host:"))
    {
        request += &format!("Host: {addr}\r\n");
    }
    for h in headers {
        request += &format!("{h}\r\n");
    }
    request += &format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, body) = raw_http(addr, request.as_bytes()).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn pages_of_other_sites_and_rebinding_names_get_403_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let launch = Launch::standalone(dir.path()).env(
        "LAKEHOUSE_GATEWAY_ALLOWED_ORIGINS",
        "https://dash.example, http://127.0.0.1:1",
    );
    let server = Lakehouse::start(
        bin(),
        launch.env("LAKEHOUSE_GATEWAY_ALLOWED_HOSTS", "lake.example"),
    )
    .await;
    let addr = server.url.trim_start_matches("http://").to_string();
    let csv = ["Content-Type: text/csv".to_string()];
    let (status, m) = send(&addr, "POST", "/v1/ingest/sales", &csv, "id\n1\n2\n").await;
    assert_eq!(status, 201, "{m}");

    let evil = "Origin: http://evil.example".to_string();
    let cross = "Sec-Fetch-Site: cross-site".to_string();
    let rebound = format!(
        "Host: rebind.evil.example:{}",
        addr.rsplit(':').next().unwrap()
    );
    let plain = "Content-Type: text/plain".to_string();
    let attacks: Vec<(&str, &str, Vec<String>, &str, &str)> = vec![
        // fetch(url, {method: "POST", mode: "no-cors", body}) from another site.
        (
            "POST",
            "/v1/ingest/sales?mode=overwrite",
            vec![evil.clone(), cross.clone(), plain.clone()],
            "x\n1\n",
            "forbidden_origin",
        ),
        (
            "POST",
            "/v1/sql",
            vec![evil.clone(), plain.clone()],
            r#"{"sql": "SELECT 1"}"#,
            "forbidden_origin",
        ),
        (
            "POST",
            "/v1/vectors",
            vec![evil.clone(), plain.clone()],
            r#"{"name": "v", "dim": 2}"#,
            "forbidden_origin",
        ),
        (
            "PUT",
            "/v1/storage/planted",
            vec!["Origin: null".into()],
            "x",
            "forbidden_origin",
        ),
        // A request a page triggers without Origin (an image, a link).
        ("GET", "/v1/datasets", vec![cross.clone()], "", "cross_site"),
        (
            "GET",
            "/v1/storage?prefix=",
            vec!["Sec-Fetch-Site: same-site".into()],
            "",
            "cross_site",
        ),
        // DNS rebinding: the page's own origin, under a name that resolves to 127.0.0.1.
        (
            "DELETE",
            "/v1/datasets/sales",
            vec![rebound.clone()],
            "",
            "forbidden_host",
        ),
        (
            "GET",
            "/v1/datasets/sales",
            vec![
                rebound.clone(),
                format!(
                    "Origin: http://rebind.evil.example:{}",
                    addr.rsplit(':').next().unwrap()
                ),
            ],
            "",
            "forbidden_host",
        ),
        (
            "GET",
            "/health",
            vec![rebound.clone()],
            "",
            "forbidden_host",
        ),
    ];
    for (method, path, headers, body, code) in &attacks {
        let (status, answer) = send(&addr, method, path, headers, body).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (403, Some(*code)),
            "{method} {path} {headers:?}: {answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        let named = ["Host", "Origin", "Sec-Fetch-Site"]
            .iter()
            .any(|h| message.contains(h));
        assert!(named, "the refusal names the header: {message}");
    }
    // Nothing changed.
    let (_, m) = send(&addr, "GET", "/v1/datasets/sales", &[], "").await;
    assert_eq!((&m["version"], &m["rows"]), (&json!(1), &json!(2)), "{m}");
    let (_, listed) = send(&addr, "GET", "/v1/vectors", &[], "").await;
    assert_eq!(listed, json!({"indexes": []}));
    let (status, _) = send(&addr, "GET", "/v1/storage/planted", &[], "").await;
    assert_eq!(status, 404);

    // The server's own origin, a configured name, and tools pass; no CORS headers for them.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/v1/sql", server.url))
        .header("origin", format!("http://{addr}"))
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"sql": "SELECT count(*) FROM sales"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r: Value = r.json().await.unwrap();
    assert_eq!(r["rows"], json!([[2]]), "{r}");
    let named = format!("Host: lake.example:{}", addr.rsplit(':').next().unwrap());
    let (status, _) = send(&addr, "GET", "/v1/datasets", &[named], "").await;
    assert_eq!(status, 200);

    // A configured origin: CORS on its answers, its preflight answered here.
    let r = http
        .get(format!("{}/v1/datasets", server.url))
        .header("origin", "https://dash.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://dash.example"
    );
    let r = http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/sql", server.url))
        .header("origin", "https://dash.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, authorization",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "https://dash.example");
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert_eq!(
        h["access-control-allow-headers"],
        "content-type, authorization"
    );
    // Plain tools get no CORS headers.
    let r = http
        .get(format!("{}/v1/datasets", server.url))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}
