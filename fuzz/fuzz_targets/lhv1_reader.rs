//! The LHV1 snapshot reader must never panic, hang or over-allocate, whatever the bytes;
//! and a graph it accepts must be an index that works.
//!
//! Each input is tried twice: as a whole `.lhv1` file (framing, envelope, checksum), and —
//! since a fuzzer cannot forge the checksum — as graph bytes alone, its first two bytes
//! choosing the parameters (dim 1..=8, m 2..=7, the metric). A graph the checks accept is
//! loaded as a snapshot is, then searched, written to (an upsert, a delete, a compaction)
//! and saved: none of it may panic, and the saved file must read back.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use vectord::format::lhv1::{self, IndexMeta};
use vectord::{IndexParams, Metric, PreparedItem, Query};

fn exercise(params: IndexParams, index: vectord::Index) {
    let dim = params.dim;
    let mut vector: Vec<f32> = (0..dim).map(|i| 1.0 + i as f32).collect();
    if params.metric == Metric::Cosine {
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    let query = Query {
        vector: vector.clone(),
        k: 3,
        ef: 8,
        filter: None,
    };
    let hits = index.search(&query);
    assert!(hits.len() <= 3, "{} hits for k = 3", hits.len());
    assert!(hits.len() <= index.count());
    let item = PreparedItem {
        id: Arc::from("fuzz-new"),
        vector,
        metadata: None,
    };
    let _ = index.upsert(&[item]);
    let _ = index.search(&query);
    let _ = index.delete(&[Arc::from("fuzz-new")]);
    let _ = index.compact();
    let _ = index.search(&query);
    let meta = IndexMeta {
        name: "fuzz".into(),
        params,
        created_at: chrono::DateTime::from_timestamp(0, 0).expect("in range"),
        incarnation: "00000000000000aa".into(),
    };
    let file = lhv1::encode_file(&meta, 1, &index);
    let back = lhv1::decode(&file).expect("a saved snapshot reads back");
    assert_eq!(back.envelope.count, index.count() as u64);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = lhv1::decode(data) {
        let params = decoded.envelope.params;
        exercise(params, decoded.into_index(1));
    }
    if let [a, b, graph @ ..] = data {
        let metric = [Metric::L2, Metric::Cosine, Metric::Dot][usize::from(*b >> 6) % 3];
        let params = IndexParams::new(1 + usize::from(a % 8), metric, 2 + usize::from(b % 6), 16)
            .expect("parameters in range");
        let checked = lhv1::check_graph(&params, graph);
        match lhv1::graph_index(&params, graph, 1) {
            Ok(index) => {
                assert!(checked.is_ok());
                exercise(params, index);
            }
            Err(e) => assert_eq!(checked.err().map(|c| c.to_string()), Some(e.to_string())),
        }
    }
});
