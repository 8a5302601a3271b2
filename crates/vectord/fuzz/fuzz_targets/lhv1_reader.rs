//! The LHV1 snapshot reader must never panic, hang or over-allocate, whatever the bytes.
//!
//! Each input is tried twice: as a whole `.lhv1` file (framing, envelope, checksum), and —
//! since a fuzzer cannot forge a SHA-256 — as graph bytes alone, its first two bytes
//! choosing the parameters (dim 1..=8, m 2..=7, the metric).

#![no_main]

use libfuzzer_sys::fuzz_target;
use vectord::format::lhv1;
use vectord::{IndexParams, Metric};

fuzz_target!(|data: &[u8]| {
    let _ = lhv1::decode(data);
    if let [a, b, graph @ ..] = data {
        let metric = [Metric::L2, Metric::Cosine, Metric::Dot][usize::from(*b >> 6) % 3];
        let params = IndexParams::new(1 + usize::from(a % 8), metric, 2 + usize::from(b % 6), 16)
            .expect("parameters in range");
        let _ = lhv1::check_graph(&params, graph);
    }
});
