//! vectord's side of the vector benchmark (`bench/vectors/run.sh`, issue 5): build time, an
//! `ef` sweep (recall@k and QPS), memory, the LHV1 snapshot's size and its load time, on the
//! raw files `bench/vectors/data.py` makes. hnswlib and faiss run the same steps in
//! `bench/vectors/engines.py`; `bench/vectors/report.py` compares them.
//!
//! `ann_bench DIR METRIC M EF_CONSTRUCTION EF,EF,... INDEX_FILE > result.json`
//! `ann_bench load INDEX_FILE [SAVE_TO]` (times reading and loading a kept snapshot, and
//! saving it again to SAVE_TO: nothing else)
//!
//! DIR holds `meta.json` (`dim`), `base.f32` and `query.f32` (row-major little-endian f32)
//! and `gt.i32` (the 100 exact neighbours of each query, nearest first, as base positions).
//! Items are added through the public path (`validate_items`, then `Index::upsert` in
//! batches, which inserts on the build pool: one thread per core). Queries run one at a
//! time on this thread through `Index::search`; QPS is the best of three passes. Load is
//! the server's path — the snapshot read whole from a local store (`Store::get_bytes`),
//! `lhv1::decode`, `Decoded::into_index` — best of three, next to a plain `std::fs::read`
//! of the file (just written: page cache warm). Then every fifth item is deleted and the
//! sweep repeated (one pass per ef) with the tombstones in place and after compaction,
//! against the exact neighbours left. Progress goes to stderr, the result (JSON) to stdout.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use storaged::{ObjectKey, ObjectStoreBackend, Store};
use vectord::format::lhv1::{self, IndexMeta};
use vectord::validate::{Query, validate_items, validate_query};
use vectord::{Index, IndexParams, Metric, RawItem, RawVector, SearchRequest};

const K: usize = 10;
const GT_WIDTH: usize = 100;
/// Items per `upsert` call (each is one parallel batch).
const BATCH: usize = 50_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [load, index_file, save_to @ ..] = &args[..]
        && load == "load"
        && save_to.len() <= 1
    {
        let (read_s, load_s, index) = time_load(index_file);
        eprintln!(
            "read {read_s:.3} s, load {load_s:.3} s, load ÷ read {:.2}",
            load_s / read_s
        );
        if let [save_to] = save_to {
            let started = Instant::now();
            let decoded = lhv1::decode(&read(index_file)).expect("decode the snapshot");
            let file = lhv1::encode_file(&decoded.meta(), decoded.envelope.log_seq, &index);
            std::fs::write(save_to, &file).expect("write the snapshot");
            eprintln!(
                "saved to {save_to} in {:.3} s",
                started.elapsed().as_secs_f64()
            );
        }
        return;
    }
    let [dir, metric, m, efc, efs, index_file] = &args[..] else {
        eprintln!("usage: ann_bench DIR METRIC M EF_CONSTRUCTION EF,EF,... INDEX_FILE");
        std::process::exit(2);
    };
    let meta: serde_json::Value =
        serde_json::from_slice(&read(&format!("{dir}/meta.json"))).expect("meta.json");
    let dim = meta["dim"].as_u64().expect("meta.json: dim") as usize;
    let metric: Metric = serde_json::from_value(json!(metric)).expect("METRIC: l2, cosine or dot");
    let params = IndexParams::new(dim, metric, parse(m, "M"), parse(efc, "EF_CONSTRUCTION"))
        .expect("params");
    let efs: Vec<usize> = efs.split(',').map(|e| parse(e, "EF")).collect();

    let base = read_f32(&format!("{dir}/base.f32"));
    let queries = read_f32(&format!("{dir}/query.f32"));
    let gt: Vec<i32> = read(&format!("{dir}/gt.i32"))
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let (n, nq) = (base.len() / dim, queries.len() / dim);
    assert_eq!(gt.len(), nq * GT_WIDTH, "gt.i32 holds {GT_WIDTH} per query");
    let truth: Vec<&[i32]> = gt.chunks_exact(GT_WIDTH).map(|t| &t[..K]).collect();
    eprintln!(
        "vectord ({} kernels): {n} base, {nq} queries, dim {dim}, {metric}, m {}, ef_construction {}, build threads {}",
        vectord::distance::kernel_name(),
        params.m,
        params.ef_construction,
        build_threads()
    );

    // --- build ----------------------------------------------------------------------------
    let rss_before = proc_status_kib("VmRSS");
    reset_peak_rss();
    let index = Index::new(params, 42);
    let (cpu0, started) = (cpu_seconds(), Instant::now());
    let mut validating = 0.0;
    for (b, chunk) in base.chunks(BATCH * dim).enumerate() {
        let t = Instant::now();
        let raw = chunk
            .chunks_exact(dim)
            .enumerate()
            .map(|(i, v)| RawItem {
                id: (b * BATCH + i).to_string(),
                vector: RawVector::new(v.to_vec()),
                metadata: None,
            })
            .collect();
        let items = validate_items(&params, raw).expect("valid base vectors");
        validating += t.elapsed().as_secs_f64();
        index.upsert(&items).expect("room");
    }
    // What the server's maintainer does once the adds pause.
    let walk = Instant::now();
    let linked = index.connect();
    let walk_s = walk.elapsed().as_secs_f64();
    let build_s = started.elapsed().as_secs_f64();
    let build_cpu_s = cpu_seconds() - cpu0;
    let index_rss = proc_status_kib("VmRSS").saturating_sub(rss_before);
    eprintln!(
        "build {build_s:.2} s ({build_cpu_s:.1} CPU-s), index RSS {} MiB; of it the final walk {walk_s:.2} s, {linked} cut-off nodes linked",
        index_rss >> 10
    );

    // --- ef sweep ---------------------------------------------------------------------------
    let swept = sweep(&index, &params, &queries, &efs, 3, &truth, "");
    let peak_rss = proc_status_kib("VmHWM");

    // --- save, read, load -------------------------------------------------------------------
    let started = Instant::now();
    let meta = IndexMeta {
        name: "bench".into(),
        params,
        created_at: chrono::Utc::now(),
        incarnation: "0000000000000001".into(),
    };
    let file = lhv1::encode_file(&meta, 0, &index);
    std::fs::write(index_file, &file).expect("write the snapshot");
    let save_s = started.elapsed().as_secs_f64();
    let file_bytes = file.len();
    drop(file);
    let check_ef = efs[efs.len() / 2];
    let check_query = prepare(&params, &queries, check_ef);
    let recall_before = recall_of(
        &check_query
            .iter()
            .map(|q| index.search(q))
            .collect::<Vec<_>>(),
        &truth,
    );
    drop(index);

    let (read_s, load_s, loaded) = time_load(index_file);
    assert_eq!(
        std::fs::metadata(index_file).map(|m| m.len() as usize).ok(),
        Some(file_bytes)
    );
    let recall_after = recall_of(
        &check_query
            .iter()
            .map(|q| loaded.search(q))
            .collect::<Vec<_>>(),
        &truth,
    );
    eprintln!(
        "file {} MiB, save {save_s:.2} s, read {read_s:.3} s, load {load_s:.3} s; recall@{K} at ef {check_ef}: {recall_before:.4} before, {recall_after:.4} after",
        file_bytes >> 20
    );

    // --- delete a fifth -----------------------------------------------------------------------
    // Every fifth base vector (positions 2, 7, 12, …) is deleted in one call, and the sweep
    // repeated (one pass per ef) with the tombstones in place, then after compaction. The
    // truth is each query's exact list without the deleted positions (gt.i32 holds 100
    // neighbours: about 80 are left, so the first K are exact).
    let gone = |position: i32| position % 5 == 2;
    let ids: Vec<Arc<str>> = (0..n as i32)
        .filter(|&p| gone(p))
        .map(|p| Arc::from(p.to_string()))
        .collect();
    let truth_left: Vec<Vec<i32>> = gt
        .chunks_exact(GT_WIDTH)
        .map(|row| row.iter().copied().filter(|&p| !gone(p)).take(K).collect())
        .collect();
    assert!(
        truth_left.iter().all(|t| t.len() == K),
        "{K} left of {GT_WIDTH}"
    );
    let truth_left: Vec<&[i32]> = truth_left.iter().map(Vec::as_slice).collect();
    let started = Instant::now();
    assert_eq!(loaded.delete(&ids), ids.len());
    let delete_s = started.elapsed().as_secs_f64();
    assert!(loaded.needs_compaction());
    let sweep_deleted =
        |label: &str| sweep(&loaded, &params, &queries, &efs, 1, &truth_left, label);
    let with_tombstones = sweep_deleted("tombstones: ");
    let started = Instant::now();
    loaded.compact().expect("compaction");
    let compact_s = started.elapsed().as_secs_f64();
    let compacted = sweep_deleted("compacted: ");
    eprintln!(
        "deleted {} items in {delete_s:.2} s; compaction {compact_s:.1} s",
        ids.len()
    );

    let result = json!({
        "engine": "vectord",
        "version": format!("{} ({} kernels)", env!("CARGO_PKG_VERSION"), vectord::distance::kernel_name()),
        "n": n, "nq": nq, "dim": dim, "metric": metric.as_str(), "k": K,
        "m": params.m, "ef_construction": params.ef_construction,
        "build_threads": build_threads(),
        "build_s": build_s, "build_cpu_s": build_cpu_s, "validate_s": validating,
        "walk_s": walk_s, "linked": linked,
        "sweep": swept,
        "index_rss_bytes": index_rss * 1024,
        "own_estimate_bytes": loaded.memory_bytes(),
        "peak_rss_bytes": peak_rss * 1024,
        "save_s": save_s, "file_bytes": file_bytes,
        "read_s": read_s, "load_s": load_s,
        "check_ef": check_ef, "recall_before_save": recall_before, "recall_after_load": recall_after,
        "after_delete": {
            "deleted": ids.len(), "delete_s": delete_s, "sweep": with_tombstones,
            "compact_s": compact_s, "compacted_sweep": compacted,
        },
    });
    println!("{result}");
}

/// The best of three reads of the snapshot's bytes, the best of three loads (read +
/// `lhv1::decode` + `Decoded::into_index`), and the last index loaded.
fn time_load(index_file: &str) -> (f64, f64, Index) {
    let mut read_s = f64::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let bytes = read(index_file);
        read_s = read_s.min(started.elapsed().as_secs_f64());
        drop(bytes);
    }
    // The server's path: the snapshot as an object of a local store, read whole.
    let path = std::path::Path::new(index_file);
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let store = ObjectStoreBackend::local(dir.unwrap_or(std::path::Path::new(".")))
        .expect("open the snapshot's directory as a local store");
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("INDEX_FILE names a file");
    let key = ObjectKey::parse(name).expect("the file name as an object key");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    let mut load_s = f64::MAX;
    let mut loaded = None;
    for _ in 0..3 {
        drop(loaded.take());
        let started = Instant::now();
        let bytes = runtime
            .block_on(store.get_bytes(&key))
            .expect("read the snapshot");
        let index = lhv1::decode(&bytes)
            .expect("decode the snapshot")
            .into_index(42);
        load_s = load_s.min(started.elapsed().as_secs_f64());
        loaded = Some(index);
    }
    (read_s, load_s, loaded.expect("three loads"))
}

/// Every query of `queries` (row-major) prepared for a search for `K` at `ef`.
fn prepare(params: &IndexParams, queries: &[f32], ef: usize) -> Vec<Query> {
    queries
        .chunks_exact(params.dim)
        .map(|q| {
            let request = SearchRequest {
                vector: RawVector::new(q.to_vec()),
                k: K,
                ef: Some(ef),
                filter: None,
            };
            validate_query(params, request).expect("valid query")
        })
        .collect()
}

/// Recall@K and QPS (the best of `passes` passes over all queries) at each ef, as JSON;
/// progress to stderr, each line after `label`.
fn sweep(
    index: &Index,
    params: &IndexParams,
    queries: &[f32],
    efs: &[usize],
    passes: usize,
    truth: &[&[i32]],
    label: &str,
) -> Vec<serde_json::Value> {
    let nq = queries.len() / params.dim;
    efs.iter()
        .map(|&ef| {
            let prepared = prepare(params, queries, ef);
            let (qps, recall) = best_of(
                passes,
                nq,
                || prepared.iter().map(|q| index.search(q)).collect(),
                truth,
            );
            eprintln!("{label}ef {ef:>5}  recall@{K} {recall:.4}  QPS {qps:>8.0}");
            json!({"ef": ef, "recall": recall, "qps": qps})
        })
        .collect()
}

/// QPS of the fastest of `passes` passes, and the recall of the last.
fn best_of(
    passes: usize,
    nq: usize,
    run: impl Fn() -> Vec<Vec<vectord::Hit>>,
    truth: &[&[i32]],
) -> (f64, f64) {
    let mut took = f64::MAX;
    let mut recall = 0.0;
    for _ in 0..passes {
        let started = Instant::now();
        let results = run();
        took = took.min(started.elapsed().as_secs_f64());
        recall = recall_of(&results, truth);
    }
    (nq as f64 / took, recall)
}

fn recall_of(results: &[Vec<vectord::Hit>], truth: &[&[i32]]) -> f64 {
    let found: usize = results
        .iter()
        .zip(truth)
        .map(|(hits, truth)| {
            hits.iter()
                .take(K)
                .filter(|h| h.id.parse::<i32>().is_ok_and(|id| truth.contains(&id)))
                .count()
        })
        .sum();
    found as f64 / (K * truth.len()) as f64
}

fn parse(s: &str, what: &str) -> usize {
    s.parse()
        .unwrap_or_else(|_| panic!("{what}: not a number: {s}"))
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn read_f32(path: &str) -> Vec<f32> {
    read(path)
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The build pool's size (vectord's `pool`: one thread per available core).
fn build_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A field of /proc/self/status, in KiB (0 where there is none).
fn proc_status_kib(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0), so the peak covers what follows.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// User + system CPU seconds of this process so far, all threads (clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
