//! Slow clients against the real binary ([gateway] header_read_timeout, body_idle_timeout,
//! body_timeout): a connection that never finishes its headers is closed; an upload that
//! goes silent, or trickles past the total, fails naming the limit, applies nothing, and
//! does not hold up the next writer of the same dataset.

use std::time::{Duration, Instant};

use test_support::{Lakehouse, Launch, lakehouse_bin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends the head of a chunked POST to `path`, then `chunks` (each after `gap`), then waits
/// for the answer without ending the body; returns the answer's text and when it came.
async fn trickle(addr: &str, path: &str, chunks: usize, gap: Duration) -> (String, Duration) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/csv\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    s.write_all(b"6\r\nid,v\r\n\r\n").await.unwrap();
    for i in 0..chunks {
        tokio::time::sleep(gap).await;
        let row = format!("{i},{i}\n");
        let chunk = format!("{:x}\r\n{row}\r\n", row.len());
        if s.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut answer));
    let _ = read.await.expect("an answer within 30 s");
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

async fn get_status(url: &str) -> u16 {
    reqwest::get(url).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn slow_clients_are_cut_off_naming_the_limit_and_apply_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let launch = Launch::standalone(dir.path())
        .env("LAKEHOUSE_GATEWAY_HEADER_READ_TIMEOUT", "1s")
        .env("LAKEHOUSE_GATEWAY_BODY_IDLE_TIMEOUT", "1s")
        .env("LAKEHOUSE_GATEWAY_BODY_TIMEOUT", "3s");
    let server = Lakehouse::start(lakehouse_bin!(), launch).await;
    let addr = server.url.trim_start_matches("http://").to_string();

    // One header line, then silence: closed after the header-read timeout.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection was still open after 10 s");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // An ingest that goes silent mid-body.
    let (answer, took) = trickle(&addr, "/v1/ingest/quiet", 2, Duration::from_millis(100)).await;
    assert!(answer.contains("body_idle_timeout"), "{answer}");
    assert!(!answer.starts_with("HTTP/1.1 2"), "{answer}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert_eq!(
        get_status(&format!("{}/v1/datasets/quiet", server.url)).await,
        404
    );

    // One that keeps sending a row every 300 ms: never idle, but past the 3 s total.
    let (answer, took) = trickle(&addr, "/v1/ingest/slow", 100, Duration::from_millis(300)).await;
    assert!(answer.contains("body_timeout"), "{answer}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert_eq!(
        get_status(&format!("{}/v1/datasets/slow", server.url)).await,
        404
    );

    // The next writer of the same dataset goes through at once.
    let (status, m) =
        test_support::post_csv(&format!("{}/v1/ingest/slow", server.url), "id,v\n1,1\n").await;
    assert_eq!(status, 201, "{m}");
}
