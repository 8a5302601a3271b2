//! The real binary in the standalone deployment: large objects, crashes, disconnects,
//! graceful shutdown, auth and metrics, and datasets committed through catalogd.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use test_support::{Lakehouse, Launch, lakehouse_bin, wait_until};
use tokio::io::AsyncWriteExt;

/// Deterministic pseudo-random chunks, `total` bytes in all, generated as they are sent.
fn generated(total: usize, seed: u64) -> impl futures::Stream<Item = Vec<u8>> {
    const CHUNK: usize = 1 << 20;
    futures::stream::iter(
        (0..total.div_ceil(CHUNK)).map(move |i| {
            test_support::pseudo_random(CHUNK.min(total - i * CHUNK), seed ^ i as u64)
        }),
    )
}

async fn sha_of_stream(s: impl futures::Stream<Item = Vec<u8>>) -> Vec<u8> {
    let mut h = Sha256::new();
    futures::pin_mut!(s);
    while let Some(c) = s.next().await {
        h.update(&c);
    }
    h.finalize().to_vec()
}

/// Files whose name marks an interrupted write (text after the first `#` all digits).
fn staged_files(dir: &Path) -> Vec<String> {
    test_support::files_under(dir)
        .into_iter()
        .filter(|path| {
            let name = path.rsplit('/').next().unwrap_or_default();
            name.split_once('#').is_some_and(|(_, tail)| {
                !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit())
            })
        })
        .collect()
}

#[tokio::test]
async fn put_and_get_256_mib_keeps_every_byte() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::start(lakehouse_bin!(), Launch::standalone(dir.path())).await;
    let size = 256 << 20;
    let url = format!("{}/v1/storage/big/object.bin", lh.url);
    let client = reqwest::Client::new();
    let body = reqwest::Body::wrap_stream(
        generated(size, 42).map(|c| Ok::<_, std::io::Error>(Bytes::from(c))),
    );
    let r = client.put(&url).body(body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["size"], size as u64);

    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(size as u64));
    let got = sha_of_stream(response.bytes_stream().map(|c| c.unwrap().to_vec())).await;
    assert_eq!(got, sha_of_stream(generated(size, 42)).await);
}

#[tokio::test]
async fn kill_9_during_puts_keeps_every_acknowledged_object() {
    let dir = tempfile::tempdir().unwrap();
    let launch = Launch::standalone(dir.path());
    let mut lh = Lakehouse::start(lakehouse_bin!(), launch.clone()).await;
    let client = reqwest::Client::new();
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel();
    let acked_count = Arc::new(AtomicUsize::new(0));
    // Four writers overwrite and create 256 KiB objects until the process dies.
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let (client, url, acked) = (client.clone(), lh.url.clone(), acked_tx.clone());
            let count = acked_count.clone();
            tokio::spawn(async move {
                for i in 0..2_000u64 {
                    let seed = w * 100_000 + i;
                    let body: Vec<u8> = sha_seeded(seed, 256 << 10);
                    let key = format!("crash/w{w}/k{}", i % 16);
                    match client
                        .put(format!("{url}/v1/storage/{key}"))
                        .body(body)
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 201 => {
                            let _ = acked.send((key, seed));
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    // Killed in the middle of the load: after 100 acknowledged writes, every slot written
    // several times over, with the four writers still going.
    wait_until("100 acknowledged writes", Duration::from_secs(60), || {
        acked_count.load(Ordering::Relaxed) >= 100
    })
    .await;
    lh.kill9();
    for w in writers {
        tokio::time::timeout(Duration::from_secs(30), w)
            .await
            .unwrap()
            .unwrap();
    }
    drop(acked_tx);
    // The last acknowledged write of each key is what must be there.
    let mut last = std::collections::BTreeMap::new();
    while let Some((key, seed)) = acked_rx.recv().await {
        last.insert(key, seed);
    }
    assert!(
        last.len() >= 4,
        "writers made progress before the kill: {}",
        last.len()
    );

    let lh = Lakehouse::start(lakehouse_bin!(), launch).await;
    assert!(
        staged_files(dir.path()).is_empty(),
        "start-up removed interrupted writes"
    );
    for (key, seed) in &last {
        let body = client
            .get(format!("{}/v1/storage/{key}", lh.url))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        // The acknowledged version, or a later one whose 201 was lost in the kill — but
        // always a whole object, never a torn one.
        assert_eq!(body.len(), 256 << 10, "{key}: a whole object");
        // Later writes of the same key by the same writer have seeds seed+16, seed+32, ...
        let found = (0..2_000u64 / 16)
            .map(|n| seed + 16 * n)
            .any(|s| sha_seeded(s, 256 << 10) == body);
        assert!(
            found,
            "{key}: neither the acknowledged object nor a later whole one"
        );
    }
}

fn sha_seeded(seed: u64, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut block = Sha256::digest(seed.to_le_bytes()).to_vec();
    while out.len() < n {
        out.extend_from_slice(&block);
        block = Sha256::digest(&block).to_vec();
    }
    out.truncate(n);
    out
}

#[tokio::test]
async fn client_disconnect_mid_put_leaves_the_previous_object_and_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::start(lakehouse_bin!(), Launch::standalone(dir.path())).await;
    let url = format!("{}/v1/storage/d/obj", lh.url);
    let client = reqwest::Client::new();
    assert_eq!(
        test_support::status_of(client.put(&url).body("previous")).await,
        201
    );

    let addr = lh.url.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        b"PUT /v1/storage/d/obj HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10485760\r\n\r\n",
    )
    .await
    .unwrap();
    s.write_all(&vec![7u8; 1 << 20]).await.unwrap();
    wait_until("the PUT's staged file", Duration::from_secs(10), || {
        !staged_files(dir.path()).is_empty()
    })
    .await;
    drop(s);

    // The server notices and cleans up.
    wait_until(
        "the staged file's removal after the disconnect",
        Duration::from_secs(10),
        || staged_files(dir.path()).is_empty(),
    )
    .await;
    assert_eq!(
        client.get(&url).send().await.unwrap().text().await.unwrap(),
        "previous"
    );
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_put_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut lh = Lakehouse::start(lakehouse_bin!(), Launch::standalone(dir.path())).await;
    let url = format!("{}/v1/storage/slow/obj", lh.url);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let put = tokio::spawn({
        let url = url.clone();
        async move {
            let stream = tokio_stream_from(rx);
            reqwest::Client::new()
                .put(url)
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await
        }
    });
    tx.send(Ok(vec![1u8; 1000])).await.unwrap();
    // SIGTERM only once the server is writing the object (its staged file exists): a fixed
    // sleep raced the request's arrival when the whole suite loads the machine.
    let staged = dir.path().join("slow");
    wait_until("the PUT's staged file", Duration::from_secs(10), || {
        std::fs::read_dir(&staged).is_ok_and(|mut d| d.next().is_some())
    })
    .await;
    let pid = lh.pid();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    // The rest of the body only once the server is shutting down.
    wait_until("the shutdown to begin", Duration::from_secs(10), || {
        lh.log_text().contains("shutdown signal received")
    })
    .await;
    tx.send(Ok(vec![2u8; 1000])).await.unwrap();
    drop(tx);
    let response = tokio::time::timeout(Duration::from_secs(10), put)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        response.status(),
        201,
        "in-flight request finished after SIGTERM"
    );
    // It exits by itself once the request is done: a second SIGTERM would mean "exit now".
    let status = lh
        .wait_exit(Duration::from_secs(10))
        .expect("exited after draining");
    assert!(status.success(), "clean exit: {status}");
    let stored = std::fs::read(dir.path().join("slow/obj")).unwrap();
    assert_eq!(stored.len(), 2000);
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn api_key_guards_every_route_but_health() {
    let dir = tempfile::tempdir().unwrap();
    let launch = Launch::standalone(dir.path()).env("LAKEHOUSE_GATEWAY_API_KEY", "s3cret");
    let lh = Lakehouse::start(lakehouse_bin!(), launch).await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/storage/k", lh.url);
    let r = client.put(&url).body("x").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("Authorization: Bearer"));
    assert_eq!(
        test_support::status_of(client.put(&url).bearer_auth("wrong").body("x")).await,
        401
    );
    assert_eq!(
        test_support::status_of(client.put(&url).bearer_auth("s3cret").body("x")).await,
        201
    );
    assert_eq!(
        test_support::status_of(client.get(format!("{}/metrics", lh.url))).await,
        401
    );
    assert_eq!(
        test_support::status_of(client.get(format!("{}/health", lh.url))).await,
        200
    );
}

/// A bind beyond loopback with no API key is warned about loudly at start; with
/// `LAKEHOUSE_API_KEY` set there is no warning, and the key is required.
#[tokio::test]
async fn an_open_bind_without_a_key_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let open_pg = format!("0.0.0.0:{}", test_support::free_port());
    let launch = Launch::standalone(dir.path()).env("LAKEHOUSE_QUERYD_PG_BIND", &open_pg);
    let mut lh = Lakehouse::start(lakehouse_bin!(), launch).await;
    lh.terminate(std::time::Duration::from_secs(30));
    let log = lh.log_text();
    assert!(log.contains("NO API KEY"), "{log}");
    assert!(
        log.contains(&format!("queryd (PostgreSQL) listens on {open_pg}")),
        "{log}"
    );
    assert!(
        !log.contains("gateway listens on"),
        "the gateway is on loopback: {log}"
    );

    let launch = Launch::standalone(dir.path())
        .env(
            "LAKEHOUSE_QUERYD_PG_BIND",
            &format!("0.0.0.0:{}", test_support::free_port()),
        )
        .env("LAKEHOUSE_API_KEY", "from-the-env");
    let mut lh = Lakehouse::start(lakehouse_bin!(), launch).await;
    let client = reqwest::Client::new();
    let datasets = format!("{}/v1/datasets", lh.url);
    assert_eq!(test_support::status_of(client.get(&datasets)).await, 401);
    assert_eq!(
        test_support::status_of(client.get(&datasets).bearer_auth("from-the-env")).await,
        200
    );
    lh.terminate(std::time::Duration::from_secs(30));
    let log = lh.log_text();
    assert!(!log.contains("NO API KEY"), "{log}");
}

#[tokio::test]
async fn metrics_count_requests_per_route_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::start(lakehouse_bin!(), Launch::standalone(dir.path())).await;
    let client = reqwest::Client::new();
    client
        .put(format!("{}/v1/storage/m/x", lh.url))
        .body("x")
        .send()
        .await
        .unwrap();
    client
        .get(format!("{}/v1/storage/m/missing", lh.url))
        .send()
        .await
        .unwrap();
    let text = client
        .get(format!("{}/metrics", lh.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"http_requests_total{method="PUT",route="/v1/storage/{*key}",status="201"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/v1/storage/{*key}",status="404""#),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn datasets_commit_read_back_and_orphans_are_swept_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let launch = Launch::standalone(dir.path());
    let mut lh = Lakehouse::start(lakehouse_bin!(), launch.clone()).await;
    let client = reqwest::Client::new();
    let put = |url: String| client.put(url).body("PAR1");
    let referenced = "datasets/trips/v1/part-0.parquet";
    let orphan = "datasets/trips/v2/part-0.parquet";
    for key in [referenced, orphan] {
        let status = test_support::status_of(put(format!("{}/v1/storage/{key}", lh.url))).await;
        assert_eq!(status, 201);
    }
    let commit = serde_json::json!({
        "name": "trips", "mode": "create",
        "schema": {"fields": [{"name": "id", "type": "int64", "nullable": false}]},
        "files": [{"key": referenced, "rows": 7, "bytes": 4}],
    });
    let url = format!("{}/v1/datasets", lh.url);
    let r = client.post(&url).json(&commit).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = client.post(&url).json(&commit).send().await.unwrap();
    assert_eq!(r.status(), 409, "create of an existing dataset");
    let listed: serde_json::Value = client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["datasets"][0]["name"], "trips");
    assert_eq!(listed["datasets"][0]["rows"], 7);
    let health: serde_json::Value = reqwest::get(format!("{}/health", lh.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["services"]["catalogd"]["status"], "ok", "{health}");
    assert!(dir.path().join("_tables/trips.json").is_file());
    assert!(
        dir.path()
            .join("datasets/trips/_delta_log/00000000000000000000.json")
            .is_file()
    );

    // The next start sweeps what no manifest references (the orphan of a crashed ingest).
    lh.terminate(Duration::from_secs(10)).expect("clean exit");
    let lh = Lakehouse::start(lakehouse_bin!(), launch).await;
    wait_until("the start-up sweep", Duration::from_secs(10), || {
        lh.log_text().contains("swept unreferenced data files")
    })
    .await;
    assert!(lh.log_text().contains("removed=1"), "{}", lh.log_text());
    assert!(!dir.path().join(orphan).exists(), "the orphan was swept");
    assert!(
        dir.path().join(referenced).exists(),
        "the referenced file stays"
    );
    let m: serde_json::Value = client
        .get(format!("{url}/trips"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["version"], 1, "{m}");
}
