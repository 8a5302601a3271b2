//! The split gateway against upstreams that misbehave (fake services on loopback): an
//! upstream that breaks the protocol is a 502, one that stays silent past
//! `[gateway] upstream_timeout` a 504 (or, mid-answer, a cut-off body), and a slow upload is
//! never cut off by that clock.

use std::time::{Duration, Instant};

use futures::StreamExt;
use test_support::{Lakehouse, Launch, free_port, lakehouse_bin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What a fake service does with a request other than `GET /health` (which it answers
/// 200).
#[derive(Clone, Copy)]
enum Fake {
    /// Reads the request and never answers.
    Silent,
    /// Answers bytes that are not HTTP, then closes.
    Garbage,
    /// Sends the head and a first chunk of the body, then nothing.
    StallsMidBody,
    /// Reads the whole (chunked) body, then answers 201 with its size.
    Counts,
}

/// A fake service on a fresh loopback port; its URL.
async fn fake(kind: Fake) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 8192];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                if seen.starts_with(b"GET /health") {
                    let _ = conn
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 15\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"status\":\"ok\"}")
                        .await;
                    return;
                }
                match kind {
                    Fake::Silent => tokio::time::sleep(Duration::from_secs(3600)).await,
                    Fake::Garbage => {
                        let _ = conn.write_all(b"this is not HTTP\r\n\r\n").await;
                    }
                    Fake::StallsMidBody => {
                        let _ = conn
                            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
                            .await;
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    Fake::Counts => {
                        while !seen.ends_with(b"\r\n0\r\n\r\n") {
                            match conn.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => seen.extend_from_slice(&buf[..n]),
                            }
                        }
                        let body = format!("{{\"received\":{}}}", seen.len());
                        let head = format!(
                            "HTTP/1.1 201 Created\r\ncontent-length: {}\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = conn.write_all(head.as_bytes()).await;
                        let _ = conn.write_all(body.as_bytes()).await;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn bad_upstreams_are_502_and_504_and_slow_uploads_are_not_cut() {
    let (storaged, queryd) = (fake(Fake::Garbage).await, fake(Fake::StallsMidBody).await);
    let (vectord, ingestd) = (fake(Fake::Silent).await, fake(Fake::Counts).await);
    let catalogd = fake(Fake::Silent).await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lakehouse.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nbind = \"127.0.0.1:{port}\"\nupstream_timeout = \"1s\"\n\
             storaged_url = \"{storaged}\"\ncatalogd_url = \"{catalogd}\"\n\
             ingestd_url = \"{ingestd}\"\nqueryd_url = \"{queryd}\"\nvectord_url = \"{vectord}\"\n"
        ),
    )
    .unwrap();
    let launch = Launch {
        args: vec![
            "serve".into(),
            "--config".into(),
            config.display().to_string(),
            "--services".into(),
            "gateway".into(),
        ],
        env: vec![],
        health_url: Some(format!("http://127.0.0.1:{port}")),
        ca: None,
    };
    let gw = Lakehouse::start(lakehouse_bin!(), launch).await;
    let http = reqwest::Client::new();

    let started = Instant::now();
    let r = http
        .post(format!("{}/v1/vectors", gw.url))
        .json(&serde_json::json!({"name": "x", "dim": 2}))
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(r.status(), 504);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "gateway_timeout", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("vectord at {vectord} did not answer within")),
        "{message}"
    );
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(30),
        "{waited:?}"
    );

    let r = http
        .get(format!("{}/v1/storage/k", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_gateway", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("storaged at {storaged} failed to answer")),
        "{body}"
    );

    // The head and a first chunk arrive; then the answer is cut off, not left hanging.
    let r = http
        .post(format!("{}/v1/sql", gw.url))
        .json(&serde_json::json!({"sql": "SELECT 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let read = tokio::time::timeout(Duration::from_secs(30), r.bytes()).await;
    assert!(matches!(read, Ok(Err(_))), "{read:?}");

    // An upload slower than the timeout (4 chunks, 0.5 s apart) still goes through whole.
    let chunks = futures::stream::iter(0..4).then(|i| async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'a' + i as u8; 1000]))
    });
    let r = http
        .post(format!("{}/v1/ingest/slow", gw.url))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["received"].as_u64().unwrap() > 4000, "{body}");
}
