//! Greedy clients meet the limits, through the real binary: queries past
//! `[queryd] max_concurrent_queries` wait `query_queue_timeout`, then get 503 with
//! `Retry-After` (HTTP) or SQLSTATE 53000 (psql); connections past `max_pg_connections` get
//! 53300, and one silent past `pg_startup_timeout` is closed; vector adds past
//! `[vectord] memory_limit` get 507 and change nothing. Each refusal names its limit, and
//! the server serves again once the load is gone.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use test_support::{Lakehouse, Launch, error_of, lakehouse_bin, send_json};

/// The PostgreSQL port `launch` binds.
fn pg_port(launch: &Launch) -> String {
    let bind = launch
        .env
        .iter()
        .find(|(k, _)| k == "LAKEHOUSE_QUERYD_PG_BIND")
        .map(|(_, v)| v.clone())
        .expect("a pg bind");
    bind.rsplit(':').next().unwrap().to_string()
}

/// psql on the server's PostgreSQL port: unaligned rows, no headers, no psqlrc.
fn psql_command(port: &str) -> Command {
    let mut command = Command::new("psql");
    command
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-U",
            "analyst",
            "-d",
            "lakehouse",
        ])
        .args(["-X", "-A", "-t"])
        .env("PGCONNECT_TIMEOUT", "10");
    command
}

/// psql running `sql` with errors in verbose form (SQLSTATE shown); (exit code, stdout,
/// stderr).
fn psql(port: &str, sql: &str) -> (i32, String, String) {
    let out = psql_command(port)
        .args(["-v", "VERBOSITY=verbose", "-c", sql])
        .output()
        .expect("psql runs (apt-get install postgresql-client)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn queries_past_the_cap_wait_then_get_503_or_53000() {
    let dir = tempfile::tempdir().unwrap();
    let launch = Launch::standalone(&dir.path().join("data"))
        .env("LAKEHOUSE_QUERYD_MAX_CONCURRENT_QUERIES", "1")
        .env("LAKEHOUSE_QUERYD_QUERY_QUEUE_TIMEOUT", "300ms");
    let port = pg_port(&launch);
    let lh = Lakehouse::start(lakehouse_bin!(), launch).await;
    let http = reqwest::Client::new();
    let sql = |text: &str| {
        http.post(format!("{}/v1/sql", lh.url))
            .json(&json!({"sql": text}))
    };

    // A greedy client: a billion-row result it does not read holds the one slot.
    let greedy = http
        .post(format!("{}/v1/sql", lh.url))
        .json(&json!({"sql": "SELECT value FROM generate_series(1, 1000000000)", "format": "csv"}))
        .send()
        .await
        .unwrap();
    assert_eq!(greedy.status(), 200);

    let started = Instant::now();
    let response = sql("SELECT 1").send().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(response.status(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body: serde_json::Value = response.json().await.unwrap();
    let (code, message) = error_of(&body);
    assert_eq!(code, "too_many_queries", "{body}");
    assert!(
        message.contains("[queryd] max_concurrent_queries"),
        "{message}"
    );
    assert!(
        message.contains("[queryd] query_queue_timeout"),
        "{message}"
    );
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "queued {waited:?}"
    );

    // The same over the PostgreSQL protocol.
    let (status, _, stderr) = psql(&port, "SELECT 1");
    assert_ne!(status, 0);
    assert!(stderr.contains("53000"), "{stderr}");
    assert!(stderr.contains("max_concurrent_queries"), "{stderr}");

    // The greedy client goes: its slot is free again.
    drop(greedy);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = send_json(sql("SELECT 41 + 1")).await;
        if status == 200 {
            assert_eq!(body["rows"], json!([[42]]));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slot was never freed: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, stdout, stderr) = psql(&port, "SELECT 6 * 7");
    assert_eq!((status, stdout.trim()), (0, "42"), "{stderr}");
}

/// A psql session left open (it waits on its stdin), holding one connection.
struct Session(Child);

impl Session {
    /// Opens a session and returns once it has answered a query (so it is connected).
    fn open(port: &str) -> Session {
        use std::io::{BufRead, Write};
        let mut child = psql_command(port)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("psql runs");
        let stdin = child.stdin.as_mut().unwrap();
        stdin.write_all(b"SELECT 40 + 2;\n").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "42", "the session did not connect");
        Session(child)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn connections_past_the_cap_get_53300() {
    let dir = tempfile::tempdir().unwrap();
    let launch = Launch::standalone(&dir.path().join("data"))
        .env("LAKEHOUSE_QUERYD_MAX_PG_CONNECTIONS", "2");
    let port = pg_port(&launch);
    let _lh = Lakehouse::start(lakehouse_bin!(), launch).await;

    let first = Session::open(&port);
    let second = Session::open(&port);
    let (status, _, stderr) = psql(&port, "SELECT 1");
    assert_ne!(status, 0, "a third connection was let in");
    assert!(stderr.contains("too many clients"), "{stderr}");
    assert!(stderr.contains("max_pg_connections"), "{stderr}");

    // One session ends: a new client gets in.
    drop(first);
    let_in_within(&port, Duration::from_secs(20)).await;
    drop(second);
}

/// Waits until psql gets in and runs a query, failing after `within`.
async fn let_in_within(port: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let (status, stdout, stderr) = psql(port, "SELECT 6 * 7");
        if status == 0 {
            assert_eq!(stdout.trim(), "42");
            return;
        }
        assert!(Instant::now() < deadline, "never let in again: {stderr}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_connection_silent_past_pg_startup_timeout_is_closed_and_frees_its_place() {
    use tokio::io::AsyncReadExt;

    let dir = tempfile::tempdir().unwrap();
    let launch = Launch::standalone(&dir.path().join("data"))
        .env("LAKEHOUSE_QUERYD_MAX_PG_CONNECTIONS", "1")
        .env("LAKEHOUSE_QUERYD_PG_STARTUP_TIMEOUT", "2s");
    let port = pg_port(&launch);
    let _lh = Lakehouse::start(lakehouse_bin!(), launch).await;

    // A client that connects and says nothing takes the one place (connections are
    // accepted in order, so psql's comes after it)...
    let mut silent = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    let connected = Instant::now();
    let (status, _, stderr) = psql(&port, "SELECT 1");
    assert_ne!(status, 0, "let in past the cap");
    assert!(stderr.contains("too many clients"), "{stderr}");

    // ...until pg_startup_timeout closes it (not pgwire's own 60 s)...
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(15), silent.read(&mut buf))
        .await
        .expect("the silent connection was not closed within 15 s");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let held = connected.elapsed();
    assert!(held >= Duration::from_millis(1500), "closed after {held:?}");

    // ...and a client gets in.
    let_in_within(&port, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn vector_adds_past_the_memory_budget_get_507_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let launch = Launch::standalone(&dir.path().join("data"))
        .env("LAKEHOUSE_VECTORD_MEMORY_LIMIT", "4000000");
    let lh = Lakehouse::start(lakehouse_bin!(), launch).await;
    let http = reqwest::Client::new();
    let (status, body) = send_json(
        http.post(format!("{}/v1/vectors", lh.url))
            .json(&json!({"name": "emb", "dim": 128, "metric": "l2"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let batch = |start: usize| {
        let items: Vec<serde_json::Value> = (start..start + 500)
            .map(|i| {
                let vector: Vec<f32> = (0..128).map(|d| ((i * 31 + d) % 97) as f32).collect();
                json!({"id": format!("v{i}"), "vector": vector, "metadata": {"n": i}})
            })
            .collect();
        json!({"items": items})
    };
    let mut accepted = 0;
    let refusal = loop {
        assert!(accepted < 20_000, "4 MB never filled up");
        let (status, body) = send_json(
            http.post(format!("{}/v1/vectors/emb/add", lh.url))
                .json(&batch(accepted)),
        )
        .await;
        match status.as_u16() {
            200 => accepted += 500,
            507 => break body,
            other => panic!("{other}: {body}"),
        }
    };
    assert!(accepted >= 500, "not even one batch fit");
    let (code, message) = error_of(&refusal);
    assert_eq!(code, "vector_memory_exceeded", "{refusal}");
    assert!(message.contains("[vectord] memory_limit"), "{message}");

    // Nothing of the refused batch is in; everything accepted is, and searches work.
    let (_, info) = send_json(http.get(format!("{}/v1/vectors/emb", lh.url))).await;
    assert_eq!(info["count"], accepted, "{info}");
    let (status, hits) = send_json(
        http.post(format!("{}/v1/vectors/emb/search", lh.url))
            .json(&json!({"vector": vec![1.0f32; 128], "k": 3})),
    )
    .await;
    assert_eq!(status, 200, "{hits}");
    // (A delete of a missing item is a 404 and changes nothing.)
    let (status, _) =
        send_json(http.delete(format!("{}/v1/vectors/emb/items/v{accepted}", lh.url))).await;
    assert_eq!(status, 404, "an item of the refused batch was applied");
}
