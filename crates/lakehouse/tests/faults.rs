//! kill -9 under mixed concurrent load, again and again: the standalone server (on a local
//! directory, and on S3) is started, loaded by concurrent clients — object PUTs of 0 B to
//! 9 MiB, new datasets, appends to one shared dataset, vector batches — for a short
//! pseudo-random time, killed with SIGKILL while requests are in flight, and started again
//! on the same data. Then every write acknowledged (2xx received) before the kill must be
//! there and whole, and every write that was in flight must be all or nothing.
//!
//! The schedule (durations, sizes) is drawn from a fixed seed; set `LAKEHOUSE_FAULTS_SEED`
//! to replay another. What the kill interrupts still depends on timing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use test_support::{Lakehouse, Launch, S3Server, lakehouse_bin};

/// Kill/restart cycles per test.
const CYCLES: usize = 20;
/// Load time per cycle before the kill, drawn from this range.
const LOAD_MS: (u64, u64) = (300, 1500);
/// Rows per append to the shared dataset.
const BATCH: u64 = 5;
/// Rows of the shared dataset's first version.
const FIRST_ROWS: u64 = 3;
/// Items per vector batch, and the vectors' dimension.
const VECTOR_BATCH: usize = 16;
const DIM: usize = 8;
const INDEX: &str = "faults";
const SHARED: &str = "shared";
/// Bounds every client's request loop (the kill ends it long before).
const MAX_REQUESTS: u64 = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_keeps_every_acknowledged_write_on_a_local_directory() {
    let dir = tempfile::tempdir().unwrap();
    let launch = Launch::standalone(&dir.path().join("data"));
    kill_9_loop("local", launch).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_keeps_every_acknowledged_write_on_s3() {
    if std::env::var_os("LAKEHOUSE_TEST_S3_ENDPOINT").is_none() && !on_path("moto_server") {
        eprintln!(
            "skipping: LAKEHOUSE_TEST_S3_ENDPOINT is unset and moto_server is not installed \
             (scripts/test installs it and sets the endpoint)"
        );
        return;
    }
    let s3 = S3Server::start();
    let bucket = s3.bucket("faults").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lakehouse.toml");
    std::fs::write(&file, s3.config_toml(&bucket)).unwrap();
    // The standalone server (no --services), on the bucket.
    kill_9_loop("s3", Launch::standalone_with_config(&file)).await;
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
}

/// splitmix64: the schedule's pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }
}

/// FNV-1a then a splitmix step: a well-spread seed from a name.
fn seed_of(name: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    Rng(h).next()
}

/// An object's bytes, derived from its key.
fn object_body(key: &str, size: usize) -> Vec<u8> {
    test_support::pseudo_random(size, seed_of(key))
}

/// An object size from 0 B to 9 MiB: mostly small, some over S3's 8 MiB single-PUT limit.
fn object_size(rng: &mut Rng) -> usize {
    let size = match rng.below(100) {
        0..=9 => 0,
        10..=44 => rng.between(1, 4 << 10),
        45..=79 => rng.between(4 << 10, 256 << 10),
        80..=96 => rng.between(256 << 10, 3 << 20),
        _ => rng.between(8 << 20, 9 << 20),
    };
    size as usize
}

/// A new dataset's rows `(k, v)`, derived from its name: (CSV, rows, sum of v).
fn dataset_csv(name: &str) -> (String, u64, u64) {
    let seed = seed_of(name);
    let rows = 1 + seed % 40;
    let mut csv = String::from("k,v\n");
    let mut sum = 0;
    for k in 0..rows {
        let v = (seed >> 8).wrapping_add(k * 7919) % 1000;
        sum += v;
        csv += &format!("{k},{v}\n");
    }
    (csv, rows, sum)
}

/// Rows of the shared dataset: `rows` rows of batch `batch` (batch 0 is the first version,
/// every append is a batch of `BATCH`).
fn batch_csv(batch: u64, rows: u64) -> String {
    let mut csv = String::from("batch,row,val\n");
    for row in 0..rows {
        csv += &format!("{batch},{row},{}\n", batch * 1000 + row);
    }
    csv
}

/// A vector item's values, derived from its id (distinct ids, distinct vectors).
fn vector_of(id: &str) -> Vec<f32> {
    let mut rng = Rng(seed_of(id));
    (0..DIM)
        .map(|_| (rng.below(2_000_001) as f32 - 1_000_000.0) / 1_000_000.0)
        .collect()
}

fn vector_ids(batch: &str) -> Vec<String> {
    (0..VECTOR_BATCH).map(|i| format!("{batch}i{i}")).collect()
}

/// What a client saw of one write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    /// A 2xx answer: the write must be there after the kill.
    Acked,
    /// Another status: a failed request changes nothing.
    Refused(u16),
    /// No answer (the kill, or a refused connection after it): all or nothing.
    Unknown,
}

/// Every write of one cycle and what its client saw.
#[derive(Default)]
struct Ledger {
    /// key → (size, seen)
    objects: Vec<(String, usize, Seen)>,
    /// name → seen
    datasets: Vec<(String, Seen)>,
    /// batch number → seen
    appends: Vec<(u64, Seen)>,
    /// batch name (ids are derived from it) → seen
    vectors: Vec<(String, Seen)>,
}

/// Everything acknowledged or found so far, over all cycles, for the final check.
#[derive(Default)]
struct History {
    objects: BTreeMap<String, usize>,
    datasets: BTreeSet<String>,
    /// Batches of the shared dataset that are in it.
    appends: BTreeSet<u64>,
    /// Vector ids that are in the index.
    vectors: BTreeSet<String>,
}

/// Counts for the report.
#[derive(Default, Debug)]
struct Totals {
    acked_objects: usize,
    acked_object_bytes: usize,
    acked_datasets: usize,
    acked_appends: usize,
    acked_vector_batches: usize,
    unknown: usize,
    unknown_found: usize,
    in_flight_at_kill: usize,
    cycles_with_in_flight: usize,
    refused: usize,
}

struct Load {
    url: String,
    http: reqwest::Client,
    cycle: usize,
    stop: AtomicBool,
    in_flight: AtomicUsize,
    ledger: Mutex<Ledger>,
    next_append: std::sync::atomic::AtomicU64,
}

impl Load {
    /// Sends `request`, counting it in flight until its answer's status arrives.
    async fn send(&self, request: reqwest::RequestBuilder) -> Seen {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let seen = match request.timeout(Duration::from_secs(60)).send().await {
            Ok(r) if r.status().is_success() => Seen::Acked,
            Ok(r) => Seen::Refused(r.status().as_u16()),
            Err(_) => Seen::Unknown,
        };
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        seen
    }

    fn go_on(&self, i: u64) -> bool {
        i < MAX_REQUESTS && !self.stop.load(Ordering::SeqCst)
    }

    async fn put_objects(self: Arc<Self>, writer: u64, seed: u64) {
        let mut rng = Rng(seed);
        let mut i = 0;
        while self.go_on(i) {
            let key = format!("obj/c{}/w{writer}/{i}", self.cycle);
            let size = object_size(&mut rng);
            let body = object_body(&key, size);
            let request = self.http.put(format!("{}/v1/storage/{key}", self.url));
            let seen = self.send(request.body(body)).await;
            self.ledger.lock().unwrap().objects.push((key, size, seen));
            i += 1;
        }
    }

    async fn create_datasets(self: Arc<Self>) {
        let mut i = 0;
        while self.go_on(i) {
            let name = format!("ds_c{}_{i}", self.cycle);
            let (csv, ..) = dataset_csv(&name);
            let request = self
                .http
                .post(format!("{}/v1/ingest/{name}", self.url))
                .header("content-type", "text/csv");
            let seen = self.send(request.body(csv)).await;
            self.ledger.lock().unwrap().datasets.push((name, seen));
            i += 1;
        }
    }

    async fn append(self: Arc<Self>) {
        let mut i = 0;
        while self.go_on(i) {
            let batch = self.next_append.fetch_add(1, Ordering::SeqCst);
            let request = self
                .http
                .post(format!("{}/v1/ingest/{SHARED}?mode=append", self.url))
                .header("content-type", "text/csv");
            let seen = self.send(request.body(batch_csv(batch, BATCH))).await;
            self.ledger.lock().unwrap().appends.push((batch, seen));
            i += 1;
        }
    }

    async fn add_vectors(self: Arc<Self>) {
        let mut i = 0;
        while self.go_on(i) {
            let batch = format!("c{}b{i}", self.cycle);
            let items: Vec<Value> = vector_ids(&batch)
                .into_iter()
                .map(|id| json!({"id": id, "vector": vector_of(&id)}))
                .collect();
            let request = self
                .http
                .post(format!("{}/v1/vectors/{INDEX}/add", self.url))
                .json(&json!({ "items": items }));
            let seen = self.send(request).await;
            self.ledger.lock().unwrap().vectors.push((batch, seen));
            i += 1;
        }
    }
}

/// Talks to a running server to check what it holds; problems are collected, not panicked
/// on, so that one report lists them all.
struct Checker {
    url: String,
    http: reqwest::Client,
    problems: Vec<String>,
}

impl Checker {
    fn new(url: &str) -> Checker {
        Checker {
            url: url.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            problems: Vec::new(),
        }
    }

    async fn json(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let r = request.send().await.expect("the restarted server answers");
        let status = r.status().as_u16();
        let text = r.text().await.expect("a whole answer");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn sql(&self, sql: &str) -> (u16, Value) {
        let request = self
            .http
            .post(format!("{}/v1/sql", self.url))
            .json(&json!({ "sql": sql }));
        self.json(request).await
    }

    /// Whether the object is there: exactly its bytes (true), absent (false); anything else
    /// (other bytes, an error) is a problem, reported as absent.
    async fn object(&self, key: &str, size: usize) -> Result<bool, String> {
        let r = self
            .http
            .get(format!("{}/v1/storage/{key}", self.url))
            .send()
            .await
            .map_err(|e| format!("GET {key}: {e}"))?;
        match r.status().as_u16() {
            404 => Ok(false),
            200 => {
                let got = r.bytes().await.map_err(|e| format!("GET {key}: {e}"))?;
                if got.len() == size && got.as_ref() == object_body(key, size).as_slice() {
                    Ok(true)
                } else {
                    let same = got
                        .iter()
                        .zip(object_body(key, size))
                        .take_while(|(a, b)| **a == *b)
                        .count();
                    Err(format!(
                        "object {key}: torn: {} bytes (the first {same} right), expected {size}",
                        got.len()
                    ))
                }
            }
            status => Err(format!("GET {key}: status {status}")),
        }
    }

    /// Whether the dataset is there with exactly its rows.
    async fn dataset(&self, name: &str) -> Result<bool, String> {
        let (_, rows, sum) = dataset_csv(name);
        let (status, body) = self
            .sql(&format!("SELECT count(*), sum(v) FROM {name}"))
            .await;
        match status {
            404 if body["error"]["code"] == "unknown_table" => Ok(false),
            200 if body["rows"] == json!([[rows, sum]]) => Ok(true),
            _ => Err(format!(
                "dataset {name}: expected {rows} rows summing to {sum}, got {status} {body}"
            )),
        }
    }

    /// The shared dataset's batches and their row counts.
    async fn batches(&self) -> Result<BTreeMap<u64, u64>, String> {
        let (status, body) = self
            .sql(&format!(
                "SELECT batch, count(*) FROM {SHARED} GROUP BY batch ORDER BY batch"
            ))
            .await;
        if status != 200 {
            return Err(format!("{SHARED}: {status} {body}"));
        }
        Ok(body["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|row| (row[0].as_u64().unwrap(), row[1].as_u64().unwrap()))
            .collect())
    }

    /// The index's (count, nodes).
    async fn index(&self) -> Result<(u64, u64), String> {
        let (status, body) = self
            .json(self.http.get(format!("{}/v1/vectors/{INDEX}", self.url)))
            .await;
        match (status, body["count"].as_u64(), body["nodes"].as_u64()) {
            (200, Some(count), Some(nodes)) => Ok((count, nodes)),
            _ => Err(format!("index {INDEX}: {status} {body}")),
        }
    }

    /// Which of `ids` the index holds, by exact searches (ef over the node count).
    async fn vectors_found(&self, ids: &[String], nodes: u64) -> Result<Vec<bool>, String> {
        let ef = nodes.clamp(64, 100_000);
        let answers: Vec<Result<bool, String>> = futures::stream::iter(ids)
            .map(|id| async move {
                let request = self
                    .http
                    .post(format!("{}/v1/vectors/{INDEX}/search", self.url))
                    .json(&json!({"vector": vector_of(id), "k": 1, "ef": ef}));
                let (status, body) = self.json(request).await;
                let first = &body["results"][0];
                match status {
                    200 if first["id"] == json!(id) && first["distance"] == json!(0.0) => Ok(true),
                    200 => Ok(false),
                    _ => Err(format!("search for {id}: {status} {body}")),
                }
            })
            .buffered(8)
            .collect()
            .await;
        answers.into_iter().collect()
    }
}

async fn kill_9_loop(target: &str, launch: Launch) {
    common::tls::install_provider();
    let seed = std::env::var("LAKEHOUSE_FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x1a4e_u64);
    eprintln!("{target}: seed {seed} (LAKEHOUSE_FAULTS_SEED)");
    let mut rng = Rng(seed);
    let started = Instant::now();

    let mut lh = Lakehouse::start(lakehouse_bin!(), launch.clone()).await;
    let setup = Checker::new(&lh.url);
    let (status, body) = setup
        .json(
            setup
                .http
                .post(format!("{}/v1/ingest/{SHARED}", lh.url))
                .header("content-type", "text/csv")
                .body(batch_csv(0, FIRST_ROWS)),
        )
        .await;
    assert_eq!(status, 201, "create {SHARED}: {body}");
    let (status, body) = setup
        .json(
            setup
                .http
                .post(format!("{}/v1/vectors", lh.url))
                .json(&json!({"name": INDEX, "dim": DIM, "metric": "l2"})),
        )
        .await;
    assert_eq!(status, 201, "create index {INDEX}: {body}");

    let mut history = History::default();
    history.appends.insert(0);
    let mut totals = Totals::default();
    let mut restart_times = Vec::new();
    let next_append = Arc::new(std::sync::atomic::AtomicU64::new(1));

    for cycle in 0..CYCLES {
        let load_for = Duration::from_millis(rng.between(LOAD_MS.0, LOAD_MS.1));
        let load = Arc::new(Load {
            url: lh.url.clone(),
            http: reqwest::Client::new(),
            cycle,
            stop: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            ledger: Mutex::new(Ledger::default()),
            next_append: std::sync::atomic::AtomicU64::new(next_append.load(Ordering::SeqCst)),
        });
        let clients = vec![
            tokio::spawn(load.clone().put_objects(0, rng.next())),
            tokio::spawn(load.clone().put_objects(1, rng.next())),
            tokio::spawn(load.clone().create_datasets()),
            tokio::spawn(load.clone().append()),
            tokio::spawn(load.clone().append()),
            tokio::spawn(load.clone().add_vectors()),
        ];
        tokio::time::sleep(load_for).await;
        load.stop.store(true, Ordering::SeqCst);
        let in_flight = load.in_flight.load(Ordering::SeqCst);
        lh.kill9();
        for client in clients {
            tokio::time::timeout(Duration::from_secs(60), client)
                .await
                .expect("clients end soon after the kill")
                .expect("client task");
        }
        totals.in_flight_at_kill += in_flight;
        totals.cycles_with_in_flight += usize::from(in_flight > 0);
        next_append.store(load.next_append.load(Ordering::SeqCst), Ordering::SeqCst);
        let ledger = std::mem::take(&mut *load.ledger.lock().unwrap());
        let seen: Vec<Seen> = (ledger.objects.iter().map(|o| o.2))
            .chain(ledger.datasets.iter().map(|d| d.1))
            .chain(ledger.appends.iter().map(|a| a.1))
            .chain(ledger.vectors.iter().map(|v| v.1))
            .collect();
        let unknown_writes = seen.iter().filter(|s| **s == Seen::Unknown).count();
        totals.refused += seen
            .iter()
            .filter(|s| matches!(s, Seen::Refused(_)))
            .count();

        let restart = Instant::now();
        lh = Lakehouse::start(lakehouse_bin!(), launch.clone()).await;
        restart_times.push(restart.elapsed());
        let mut checker = Checker::new(&lh.url);
        let mut found_unknown = 0;

        // Objects: acked → exactly its bytes; unknown → absent or exactly its bytes;
        // refused → absent.
        let results: Vec<(String, usize, Seen, Result<bool, String>)> =
            futures::stream::iter(ledger.objects)
                .map(|(key, size, seen)| {
                    let checker = &checker;
                    async move {
                        let there = checker.object(&key, size).await;
                        (key, size, seen, there)
                    }
                })
                .buffered(4)
                .collect()
                .await;
        for (key, size, seen, there) in results {
            match (seen, there) {
                (_, Err(problem)) => checker.problems.push(format!("{seen:?} {problem}")),
                (Seen::Acked, Ok(false)) => checker
                    .problems
                    .push(format!("acked object {key} ({size} B) is missing")),
                (Seen::Refused(status), Ok(true)) => checker
                    .problems
                    .push(format!("object {key} was refused ({status}) but is there")),
                (Seen::Acked, Ok(true)) => {
                    totals.acked_objects += 1;
                    totals.acked_object_bytes += size;
                    history.objects.insert(key, size);
                }
                (Seen::Unknown, Ok(true)) => {
                    found_unknown += 1;
                    history.objects.insert(key, size);
                }
                (Seen::Unknown | Seen::Refused(_), Ok(false)) => {}
            }
        }

        // Datasets: the same rule, by their rows.
        for (name, seen) in ledger.datasets {
            match (seen, checker.dataset(&name).await) {
                (_, Err(problem)) => checker.problems.push(format!("{seen:?} {problem}")),
                (Seen::Acked, Ok(false)) => checker
                    .problems
                    .push(format!("acked dataset {name} is missing")),
                (Seen::Refused(status), Ok(true)) => checker.problems.push(format!(
                    "dataset {name} was refused ({status}) but is there"
                )),
                (Seen::Acked, Ok(true)) => {
                    totals.acked_datasets += 1;
                    history.datasets.insert(name);
                }
                (Seen::Unknown, Ok(true)) => {
                    found_unknown += 1;
                    history.datasets.insert(name);
                }
                (Seen::Unknown | Seen::Refused(_), Ok(false)) => {}
            }
        }

        // The shared dataset: every batch whole; every acked batch there; no refused one.
        let base_rows = FIRST_ROWS + BATCH * (history.appends.len() as u64 - 1);
        let acked: BTreeSet<u64> = ledger
            .appends
            .iter()
            .filter(|(_, seen)| *seen == Seen::Acked)
            .map(|(batch, _)| *batch)
            .collect();
        let unknown: BTreeSet<u64> = ledger
            .appends
            .iter()
            .filter(|(_, seen)| *seen == Seen::Unknown)
            .map(|(batch, _)| *batch)
            .collect();
        totals.acked_appends += acked.len();
        match checker.batches().await {
            Err(problem) => checker.problems.push(problem),
            Ok(batches) => {
                let rows: u64 = batches.values().sum();
                let low = base_rows + BATCH * acked.len() as u64;
                let high = low + BATCH * unknown.len() as u64;
                if rows < low || rows > high || !(rows - FIRST_ROWS).is_multiple_of(BATCH) {
                    checker.problems.push(format!(
                        "{SHARED}: {rows} rows; expected {low}..={high} ({base_rows} before, \
                         {} acked and {} unknown appends of {BATCH})",
                        acked.len(),
                        unknown.len()
                    ));
                }
                for (batch, count) in &batches {
                    let whole = if *batch == 0 { FIRST_ROWS } else { BATCH };
                    if *count != whole {
                        checker.problems.push(format!(
                            "{SHARED}: batch {batch} has {count} rows, not {whole}"
                        ));
                    }
                    let known = history.appends.contains(batch)
                        || acked.contains(batch)
                        || unknown.contains(batch);
                    if !known {
                        checker.problems.push(format!(
                            "{SHARED}: batch {batch} is there but was refused or never sent"
                        ));
                    }
                }
                for batch in acked.iter().chain(&history.appends) {
                    if !batches.contains_key(batch) {
                        checker
                            .problems
                            .push(format!("{SHARED}: acked batch {batch} is missing"));
                    }
                }
                for batch in batches.keys() {
                    if unknown.contains(batch) {
                        found_unknown += 1;
                    }
                    history.appends.insert(*batch);
                }
            }
        }

        // Vectors: every id of an acked batch found; an unknown batch all or nothing; the
        // count is exactly what is there.
        match checker.index().await {
            Err(problem) => checker.problems.push(problem),
            Ok((_, nodes)) => {
                for (batch, seen) in &ledger.vectors {
                    let ids = vector_ids(batch);
                    let found = match checker.vectors_found(&ids, nodes).await {
                        Ok(found) => found,
                        Err(problem) => {
                            checker.problems.push(problem);
                            continue;
                        }
                    };
                    let n = found.iter().filter(|f| **f).count();
                    match (seen, n) {
                        (Seen::Acked, n) if n == ids.len() => totals.acked_vector_batches += 1,
                        (Seen::Unknown, n) if n == ids.len() => found_unknown += 1,
                        (Seen::Unknown | Seen::Refused(_), 0) => continue,
                        (seen, n) => checker.problems.push(format!(
                            "vector batch {batch} ({seen:?}): {n} of {} ids found",
                            ids.len()
                        )),
                    }
                    history.vectors.extend(ids);
                }
            }
        }
        match checker.index().await {
            Ok((count, _)) if count == history.vectors.len() as u64 => {}
            other => checker.problems.push(format!(
                "index {INDEX}: {other:?}; expected count {}",
                history.vectors.len()
            )),
        }

        totals.unknown += unknown_writes;
        totals.unknown_found += found_unknown;
        eprintln!(
            "{target} cycle {cycle}: load {load_for:?}, {in_flight} requests in flight at the \
             kill, {unknown_writes} unanswered of which {found_unknown} found whole, restart \
             {:?}, at {:?}",
            restart_times.last().unwrap(),
            started.elapsed()
        );
        assert!(
            checker.problems.is_empty(),
            "{target} cycle {cycle} (seed {seed}): {} problems after kill -9 and restart:\n{}\n\
             server log: {}",
            checker.problems.len(),
            checker.problems.join("\n"),
            lh.log.display()
        );
    }

    // Once more, everything found so far: no later kill may have lost an earlier write.
    let final_check = Instant::now();
    let mut checker = Checker::new(&lh.url);
    let objects: Vec<Result<bool, String>> = futures::stream::iter(&history.objects)
        .map(|(key, size)| checker.object(key, *size))
        .buffered(4)
        .collect()
        .await;
    for ((key, _), there) in history.objects.iter().zip(objects) {
        match there {
            Ok(true) => {}
            Ok(false) => checker.problems.push(format!("object {key} is gone")),
            Err(problem) => checker.problems.push(problem),
        }
    }
    for name in &history.datasets {
        match checker.dataset(name).await {
            Ok(true) => {}
            Ok(false) => checker.problems.push(format!("dataset {name} is gone")),
            Err(problem) => checker.problems.push(problem),
        }
    }
    match checker.batches().await {
        Ok(batches) if batches.keys().copied().eq(history.appends.iter().copied()) => {}
        other => checker.problems.push(format!(
            "{SHARED}: batches {other:?}, expected {:?}",
            history.appends
        )),
    }
    let ids: Vec<String> = history.vectors.iter().cloned().collect();
    match checker.index().await {
        Ok((count, nodes)) => {
            if count != ids.len() as u64 {
                checker.problems.push(format!(
                    "index {INDEX}: count {count}, expected {}",
                    ids.len()
                ));
            }
            match checker.vectors_found(&ids, nodes).await {
                Ok(found) => checker.problems.extend(
                    ids.iter()
                        .zip(found)
                        .filter(|(_, found)| !found)
                        .map(|(id, _)| format!("vector {id} is gone")),
                ),
                Err(problem) => checker.problems.push(problem),
            }
        }
        Err(problem) => checker.problems.push(problem),
    }
    let (fastest, slowest) = (
        restart_times.iter().min().unwrap(),
        restart_times.iter().max().unwrap(),
    );
    eprintln!(
        "{target}: {CYCLES} cycles in {:?} (final check {:?}); restarts {fastest:?}..{slowest:?}; \
         {totals:?}; in the end {} objects, {} datasets, {} appends, {} vectors",
        started.elapsed(),
        final_check.elapsed(),
        history.objects.len(),
        history.datasets.len(),
        history.appends.len() - 1,
        history.vectors.len(),
    );
    assert!(
        checker.problems.is_empty(),
        "{target} (seed {seed}): {} problems in the final check:\n{}\nserver log: {}",
        checker.problems.len(),
        checker.problems.join("\n"),
        lh.log.display()
    );
    // The kills hit requests in flight, and every kind of write got through.
    assert!(
        totals.cycles_with_in_flight >= CYCLES / 2,
        "{target}: requests in flight at only {} of {CYCLES} kills",
        totals.cycles_with_in_flight
    );
    assert!(
        totals.acked_objects > 0
            && totals.acked_datasets > 0
            && totals.acked_appends > 0
            && totals.acked_vector_batches > 0,
        "{target}: every kind of write acknowledged at least once: {totals:?}"
    );
}
