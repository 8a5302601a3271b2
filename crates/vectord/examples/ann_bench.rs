//! Build time, and recall@k against QPS per `ef`, on raw f32 files — the same files
//! `crates/vectord/bench/hnsw_compare.py` runs hnswlib on
//! (which also makes the files: `pip install hnswlib numpy`).
//!
//! `cargo run --release -p vectord --example ann_bench -- DIR DIM METRIC M EF_CONSTRUCTION EF,EF,...`
//!
//! DIR holds `base.f32` and `query.f32` (row-major little-endian f32) and `gt.i32` (100
//! exact neighbour positions per query). Queries run one at a time on one thread; QPS is the best of three passes.

use std::time::Instant;

use vectord::validate::validate_query;
use vectord::{Index, IndexParams, Metric, RawVector, SearchRequest};

fn read_f32(path: &str, dim: usize) -> Vec<Vec<f32>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let floats: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    floats.chunks_exact(dim).map(<[f32]>::to_vec).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, dim, metric, m, efc, efs] = &args[..] else {
        eprintln!("usage: ann_bench DIR DIM METRIC M EF_CONSTRUCTION EF,EF,...");
        std::process::exit(2);
    };
    let dim: usize = dim.parse().expect("DIM");
    let metric: Metric =
        serde_json::from_value(serde_json::Value::from(metric.as_str())).expect("METRIC");
    let params = IndexParams::new(
        dim,
        metric,
        m.parse().expect("M"),
        efc.parse().expect("EF_CONSTRUCTION"),
    )
    .expect("params");
    let base = read_f32(&format!("{dir}/base.f32"), dim);
    let queries = read_f32(&format!("{dir}/query.f32"), dim);
    let gt_bytes = std::fs::read(format!("{dir}/gt.i32")).expect("gt.i32");
    let gt: Vec<Vec<usize>> = gt_bytes
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect::<Vec<_>>()
        .chunks_exact(100)
        .map(<[usize]>::to_vec)
        .collect();
    let k = 10;
    println!(
        "vectord {} kernels; {} base, {} queries, dim {dim}, {metric}, m {}, ef_construction {}",
        vectord::distance::kernel_name(),
        base.len(),
        queries.len(),
        params.m,
        params.ef_construction
    );

    let items = vectord::validate::validate_items(
        &params,
        base.iter()
            .enumerate()
            .map(|(i, v)| vectord::RawItem {
                id: i.to_string(),
                vector: RawVector::new(v.clone()),
                metadata: None,
            })
            .collect(),
    )
    .expect("valid base vectors");
    let index = Index::new(params, 42);
    let started = Instant::now();
    for chunk in items.chunks(10_000) {
        index.upsert(chunk).expect("room");
    }
    let build = started.elapsed();
    println!(
        "build {:.2} s ({:.0} inserts/s), {} MiB",
        build.as_secs_f64(),
        base.len() as f64 / build.as_secs_f64(),
        index.memory_bytes() >> 20
    );

    for ef in efs.split(',').map(|e| e.parse::<usize>().expect("EF")) {
        let prepared: Vec<_> = queries
            .iter()
            .map(|q| {
                let request = SearchRequest {
                    vector: RawVector::new(q.clone()),
                    k,
                    ef: Some(ef),
                    filter: None,
                };
                validate_query(&params, request).expect("valid query")
            })
            .collect();
        // Best of three passes (the machine may be shared).
        let mut took = f64::MAX;
        let mut found = 0usize;
        for _ in 0..3 {
            let started = Instant::now();
            let results: Vec<_> = prepared.iter().map(|q| index.search(q)).collect();
            took = took.min(started.elapsed().as_secs_f64());
            found = results
                .iter()
                .zip(&gt)
                .map(|(hits, truth)| {
                    let truth = &truth[..k];
                    hits.iter()
                        .filter(|h| truth.contains(&h.id.parse::<usize>().unwrap_or(usize::MAX)))
                        .count()
                })
                .sum();
        }
        println!(
            "ef {ef:>4}  recall@{k} {:.4}  QPS {:>8.0}",
            found as f64 / (k * queries.len()) as f64,
            queries.len() as f64 / took
        );
    }
}
