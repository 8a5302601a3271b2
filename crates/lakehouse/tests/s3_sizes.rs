//! Real sizes on S3, in both deployments (the standalone server on a bucket, and one process
//! per role on a bucket), against a real S3-compatible server on loopback:
//!
//! - an ingest of a 200 MB CSV, streamed (its Parquet parts are past S3's 8 MiB single-PUT
//!   limit, so they go up as multipart uploads), read back whole with SQL;
//! - one vector batch whose write-ahead log record is over 8 MiB (1,400 vectors of
//!   dimension 1,536), searchable at once and after the vector service is killed (-9) and
//!   started again;
//! - 300 appends to one dataset and then one more: its Delta log gets a checkpoint every 100
//!   versions, the keep window (20 versions of up to 301 files) holds, and every row of
//!   every append reads back. (1,000 appends fit the time bound when a commit was one
//!   conditional PUT of a manifest; through delta-rs a commit on S3 makes more round trips,
//!   about 0.5 s each on a loaded moto server.)
//!
//! Each step prints how long it took (`--nocapture` shows it).

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use test_support::{
    Deployment, Lakehouse, Launch, S3Server, Shape, lakehouse_bin, post_csv, send_json,
};

/// Rows of the large CSV: 2,100,000 lines of ~100 bytes, just over 200 MB.
const BIG_ROWS: u64 = 2_100_000;
/// Rows per generated chunk of the streamed CSV body.
const CHUNK_ROWS: u64 = 20_000;
/// S3's limit on a single PUT, as our S3 backend applies it.
const SINGLE_PUT: u64 = 8 << 20;

fn big_row(i: u64, out: &mut String) {
    use std::fmt::Write;
    // id, a group (1,000 distinct), an amount, a day, and 64 hex digits that do not
    // compress (so the Parquet parts are large too).
    let _ = write!(
        out,
        "{i},group-{:04},{},2026-{:02}-{:02},",
        i % 1000,
        i % 9973,
        i % 12 + 1,
        i % 28 + 1,
    );
    let mut x = i;
    for _ in 0..4 {
        x = splitmix(x);
        let _ = write!(out, "{x:016x}");
    }
    out.push('\n');
}

/// splitmix64: a well-mixed function of its input.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The 200 MB CSV as a stream of chunks, generated as it is sent (nothing on disk).
fn big_csv() -> (reqwest::Body, u64) {
    let mut bytes = 0u64;
    let mut line = String::new();
    let header = "id,grp,amount,day,token\n";
    for i in 0..BIG_ROWS {
        line.clear();
        big_row(i, &mut line);
        bytes += line.len() as u64;
    }
    bytes += header.len() as u64;
    let chunks = (0..BIG_ROWS / CHUNK_ROWS).map(move |c| {
        let mut text = String::with_capacity(CHUNK_ROWS as usize * 128);
        if c == 0 {
            text.push_str(header);
        }
        for i in c * CHUNK_ROWS..(c + 1) * CHUNK_ROWS {
            big_row(i, &mut text);
        }
        Ok::<_, std::io::Error>(text.into_bytes())
    });
    (
        reqwest::Body::wrap_stream(futures::stream::iter(chunks)),
        bytes,
    )
}

/// Vector `i` of the large batch: distinct for every `i`, exactly representable in JSON.
fn vector(i: usize) -> Vec<f32> {
    (0..DIM)
        .map(|j| (splitmix((i * DIM + j) as u64) % 1000) as f32 / 1000.0)
        .collect()
}

const DIM: usize = 1536;
const VECTORS: usize = 1400;
const APPENDS: usize = 300;
/// More kept versions than the default 10: each read decodes them all.
const KEEP: &str = "keep_versions = 20";

async fn sql(base: &str, query: &str) -> Value {
    let request = reqwest::Client::new()
        .post(format!("{base}/v1/sql"))
        .json(&json!({ "sql": query }));
    let (status, body) = send_json(request).await;
    assert_eq!(status, 200, "{query}: {body}");
    body["rows"].clone()
}

fn step(what: &str, started: Instant) {
    eprintln!("{what}: {:.1} s", started.elapsed().as_secs_f64());
}

/// The 200 MB ingest through `base` (the gateway), read back with SQL.
async fn ingest_200_mb(base: &str) {
    let started = Instant::now();
    let (body, bytes) = big_csv();
    assert!(bytes > 200_000_000, "the CSV is {bytes} bytes");
    let (status, manifest) = post_csv(&format!("{base}/v1/ingest/big"), body).await;
    assert_eq!(status, 201, "{manifest}");
    step(&format!("ingest of {bytes} bytes of CSV"), started);
    assert_eq!(manifest["rows"], BIG_ROWS, "{manifest}");
    let files = manifest["files"].as_array().expect("files");
    let largest = files.iter().filter_map(|f| f["bytes"].as_u64()).max();
    assert!(
        largest.is_some_and(|b| b > SINGLE_PUT),
        "no part over 8 MiB, the multipart path was not taken: {files:?}"
    );
    let n = BIG_ROWS;
    let amounts: u64 = (0..n).map(|i| i % 9973).sum();
    let rows = sql(
        base,
        "SELECT count(*), sum(id), sum(amount), count(DISTINCT grp), min(day), max(day) FROM big",
    )
    .await;
    assert_eq!(
        rows,
        json!([[
            n,
            n * (n - 1) / 2,
            amounts,
            1000,
            "2026-01-01",
            "2026-12-28"
        ]])
    );
    step("ingest checked", started);
}

/// A batch of 1,400 vectors of dimension 1,536 (its log record is ~8.6 MB) through `base`.
async fn add_a_large_vector_batch(base: &str) {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let create = json!({"name": "emb", "dim": DIM, "metric": "l2"});
    let (status, body) = send_json(http.post(format!("{base}/v1/vectors")).json(&create)).await;
    assert_eq!(status, 201, "{body}");
    let items: Vec<Value> = (0..VECTORS)
        .map(|i| json!({"id": format!("v{i}"), "vector": vector(i)}))
        .collect();
    assert!(VECTORS * DIM * 4 > SINGLE_PUT as usize);
    let add = json!({ "items": items });
    let request = http
        .post(format!("{base}/v1/vectors/emb/add"))
        .json(&add)
        .timeout(Duration::from_secs(180));
    let (status, body) = send_json(request).await;
    assert_eq!(
        (status.as_u16(), body),
        (200, json!({"added": VECTORS, "count": VECTORS}))
    );
    step("vector batch of 1,400 × 1,536", started);
    vectors_answer(base).await;
}

/// Every vector of the large batch is there and found by its own value.
async fn vectors_answer(base: &str) {
    let http = reqwest::Client::new();
    let (status, info) = send_json(http.get(format!("{base}/v1/vectors/emb"))).await;
    assert_eq!((status.as_u16(), &info["count"]), (200, &json!(VECTORS)));
    for i in [0, 699, VECTORS - 1] {
        let search = json!({"vector": vector(i), "k": 1});
        let request = http
            .post(format!("{base}/v1/vectors/emb/search"))
            .json(&search);
        let (status, r) = send_json(request).await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(
            (&r["results"][0]["id"], &r["results"][0]["distance"]),
            (&json!(format!("v{i}")), &json!(0.0)),
            "{r}"
        );
    }
}

/// 300 appends (8 at a time) to one dataset, then one more on its own: every append lands,
/// the log has checkpoints, and every row reads back.
async fn append_after_many_versions(base: &str) {
    let started = Instant::now();
    let url = format!("{base}/v1/ingest/log?mode=append");
    let csv = |i: usize| format!("n,who\n{i},w{}\n", i % 7);
    let (status, m) = post_csv(&format!("{base}/v1/ingest/log"), csv(0)).await;
    assert_eq!(status, 201, "{m}");
    let mut appends = futures::stream::iter(1..APPENDS)
        .map(|i| {
            let url = url.clone();
            async move { (i, post_csv(&url, csv(i)).await) }
        })
        .buffer_unordered(8);
    while let Some((i, (status, m))) = appends.next().await {
        assert_eq!(status, 201, "append {i}: {m}");
    }
    step("300 versions", started);
    let one = Instant::now();
    let (status, m) = post_csv(&url, csv(APPENDS)).await;
    assert_eq!(status, 201, "{m}");
    let took = one.elapsed();
    step("the append after them", one);
    assert_eq!(
        (m["version"].as_u64(), m["rows"].as_u64()),
        (Some(APPENDS as u64 + 1), Some(APPENDS as u64 + 1)),
        "{}",
        &m.to_string()[..300]
    );
    assert!(took < Duration::from_secs(30), "the append took {took:?}");
    // The table's log has checkpoints (one per 100 versions), so opening it reads the
    // last one and the entries after it, not 300 entries.
    let http = reqwest::Client::new();
    let listing = http.get(format!("{base}/v1/storage?prefix=datasets/log/_delta_log/"));
    let (status, listed) = send_json(listing).await;
    assert_eq!(status, 200, "{listed}");
    let keys: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["key"].as_str().or(k.as_str()))
        .collect();
    assert!(
        keys.iter().any(|k| k.ends_with("/_last_checkpoint")),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.ends_with("00000000000000000299.checkpoint.parquet")),
        "{keys:?}"
    );
    let n = APPENDS as u64 + 1;
    let rows = sql(base, "SELECT count(*), count(DISTINCT n), sum(n) FROM log").await;
    assert_eq!(rows, json!([[n, n, n * (n - 1) / 2]]));
    step("appends checked", started);
}

#[tokio::test]
async fn the_standalone_server_on_s3_takes_real_sizes() {
    let s3 = S3Server::start();
    let bucket = s3.bucket("sizes").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lakehouse.toml");
    let toml = format!("{}\n[catalogd]\n{KEEP}\n", s3.config_toml(&bucket));
    std::fs::write(&file, toml).unwrap();
    let mut server =
        Lakehouse::start(lakehouse_bin!(), Launch::standalone_with_config(&file)).await;
    let base = server.url.clone();
    ingest_200_mb(&base).await;
    add_a_large_vector_batch(&base).await;
    append_after_many_versions(&base).await;
    // Everything is in the bucket: a new process (after kill -9) reads it all back.
    server.kill9();
    let launch = Launch::standalone_with_config(&file);
    let server = Lakehouse::start(lakehouse_bin!(), launch).await;
    vectors_answer(&server.url).await;
    let rows = sql(&server.url, "SELECT count(*) FROM big").await;
    assert_eq!(rows, json!([[BIG_ROWS]]));
}

#[tokio::test]
async fn the_split_deployment_on_s3_takes_real_sizes() {
    let s3 = S3Server::start();
    let bucket = s3.bucket("sizes-split").await;
    let dir = tempfile::tempdir().unwrap();
    let mut split = Deployment::start(
        lakehouse_bin!(),
        Shape::Split,
        dir,
        &s3.config_toml(&bucket),
        &[("catalogd", KEEP)],
        &[],
    )
    .await;
    let base = split.gateway().to_string();
    ingest_200_mb(&base).await;
    add_a_large_vector_batch(&base).await;
    // vectord alone, killed and started again, loads the batch back from the bucket.
    split.kill9("vectord");
    split.restart("vectord").await;
    vectors_answer(&base).await;
    append_after_many_versions(&base).await;
}
