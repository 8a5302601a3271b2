//! Browser safety against the real binary (docs/api.md, Browsers): what a web page on
//! another origin can make a browser send — "simple" no-cors POSTs with its `Origin`,
//! `Sec-Fetch-Site: cross-site` requests without one, requests through a rebinding name —
//! is refused with 403 on every kind of route and changes nothing, while tools that send
//! none of those headers, the server's own origin and configured origins (with CORS) work.

use serde_json::{Value, json};
use test_support::{Lakehouse, Launch, lakehouse_bin, raw_http};

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
        lakehouse_bin!(),
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

/// A page the test serves on its own port: every request gets `page`.
async fn serve_page(page: String) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let page = page.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

/// The sum of `http_requests_total` with status 403 in the server's metrics.
async fn refused_so_far(url: &str) -> u64 {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("http_requests_total") && l.contains("status=\"403\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Headless Chromium through chromedriver (Debian's `chromium` and `chromium-driver`,
/// which scripts/test installs), spoken to over WebDriver.
struct Browser {
    http: reqwest::Client,
    session: String,
    _driver: std::process::Child,
}

impl Browser {
    /// `hosts`: names the browser resolves to 127.0.0.1.
    async fn start(hosts: &[&str]) -> Browser {
        let port = test_support::free_port();
        let driver = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver must be installed (apt-get install chromium chromium-driver; scripts/test does this)");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let rules: Vec<String> = hosts.iter().map(|h| format!("MAP {h} 127.0.0.1")).collect();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-proxy-server", format!("--host-resolver-rules={}", rules.join(", ")),
            ]},
        }}});
        let mut session = None;
        for _ in 0..100 {
            if let Ok(r) = http
                .post(format!("{base}/session"))
                .json(&capabilities)
                .send()
                .await
            {
                let body: Value = r.json().await.unwrap_or_default();
                session = body["value"]["sessionId"].as_str().map(str::to_string);
                assert!(session.is_some(), "no WebDriver session: {body}");
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Browser {
            http,
            session: format!(
                "{base}/session/{}",
                session.expect("chromedriver did not start")
            ),
            _driver: driver,
        }
    }

    async fn open(&self, url: &str) {
        let r = self
            .http
            .post(format!("{}/url", self.session))
            .json(&json!({"url": url}));
        assert!(
            r.send().await.unwrap().status().is_success(),
            "navigate to {url}"
        );
    }

    /// Runs `script` (its last argument is the callback) in the page; its result.
    async fn run(&self, script: &str) -> Value {
        let r = self
            .http
            .post(format!("{}/execute/async", self.session))
            .json(&json!({"script": script, "args": []}))
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        body["value"].clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self._driver.kill();
        let _ = self._driver.wait();
    }
}

/// The attacks of the test above, made by a real browser: a page of another site sends
/// no-cors POSTs to ingest, SQL and vectors ten times each and tries to read a listing; a
/// page under a rebinding name (resolving to 127.0.0.1, the server's port) reads and deletes
/// with same-origin requests. The server answers each with 403 and the data is untouched.
#[tokio::test]
async fn a_real_browser_on_another_site_or_a_rebinding_name_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Lakehouse::start(lakehouse_bin!(), Launch::standalone(dir.path())).await;
    let target = server.url.clone();
    let addr = target.trim_start_matches("http://").to_string();
    let port = addr.rsplit(':').next().unwrap().to_string();
    let csv = ["Content-Type: text/csv".to_string()];
    let (status, _) = send(&addr, "POST", "/v1/ingest/sales", &csv, "id\n1\n2\n").await;
    assert_eq!(status, 201);
    let page = format!(
        r#"<html><body><script>
        const target = "{target}";
        const simple = (body) => ({{method: "POST", mode: "no-cors",
                                    headers: {{"content-type": "text/plain"}}, body}});
        window.attack = (async () => {{
          for (let i = 0; i < 10; i++) {{
            for (const [path, body] of [
                ["/v1/ingest/sales?mode=overwrite", "x\n" + i + "\n"],
                ["/v1/sql", '{{"sql": "SELECT 1"}}'],
                ["/v1/vectors", '{{"name": "planted", "dim": 2, "metric": "l2"}}']]) {{
              await fetch(target + path, simple(body)).catch(() => null);
            }}
          }}
          try {{ const r = await fetch(target + "/v1/datasets"); return "read " + r.status; }}
          catch (e) {{ return "read blocked"; }}
        }})();
        </script></body></html>"#
    );
    let page_port = serve_page(page).await;
    let browser = Browser::start(&["attacker.test", "rebind.test"]).await;
    let before = refused_so_far(&target).await;

    browser
        .open(&format!("http://attacker.test:{page_port}/"))
        .await;
    let outcome = browser
        .run("const done = arguments[arguments.length - 1]; window.attack.then(done, e => done('error ' + e));")
        .await;
    assert_eq!(outcome, json!("read blocked"), "the page read the answer");
    let after_page = refused_so_far(&target).await;
    eprintln!(
        "the server refused {} requests of the page",
        after_page - before
    );
    assert!(
        after_page - before >= 31,
        "the server refused {} of the page's 31 requests",
        after_page - before
    );

    // DNS rebinding: the browser thinks it talks to rebind.test, its own origin.
    browser
        .open(&format!("http://rebind.test:{port}/v1/datasets"))
        .await;
    let outcome = browser
        .run(
            "const done = arguments[arguments.length - 1];
             fetch('/v1/datasets/sales', {method: 'DELETE'})
               .then(r => r.text().then(t => done(r.status + ' ' + t)), e => done('error ' + e));",
        )
        .await;
    let text = outcome.as_str().unwrap_or_default();
    assert!(
        text.starts_with("403 ") && text.contains("forbidden_host"),
        "{outcome}"
    );

    // Untouched: version 1, two rows, no index.
    let (_, m) = send(&addr, "GET", "/v1/datasets/sales", &[], "").await;
    assert_eq!((&m["version"], &m["rows"]), (&json!(1), &json!(2)), "{m}");
    let (_, listed) = send(&addr, "GET", "/v1/vectors", &[], "").await;
    assert_eq!(listed, json!({"indexes": []}));
}
