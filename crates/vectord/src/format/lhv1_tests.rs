//! The snapshot reader: exact round trips (a property test), and a typed error for every
//! way a file can be wrong.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::distance::{Metric, normalise};
use crate::hnsw::Graph;

fn meta(params: IndexParams) -> IndexMeta {
    IndexMeta {
        name: "docs".into(),
        params,
        created_at: "2026-01-02T03:04:05Z".parse().unwrap(),
        incarnation: "0123456789abcdef".into(),
    }
}

fn file(meta: &IndexMeta, log_seq: u64, graph: &Graph) -> Vec<u8> {
    let (mut header, body) = encode(meta, log_seq, graph);
    header.extend_from_slice(&body);
    header
}

/// Every observable part of a graph, for comparing two.
#[derive(Debug, PartialEq)]
struct Node {
    state: u8,
    level: u8,
    id: String,
    metadata: Option<Metadata>,
    vector_bits: Vec<u32>,
    links: Vec<Vec<u32>>,
}

fn nodes(graph: &Graph) -> (Option<(u32, u8)>, Vec<Node>) {
    let nodes = (0..graph.len())
        .map(|n| {
            let info = graph.info(n).unwrap();
            let live = graph.state(n) == LIVE;
            Node {
                state: graph.state(n),
                level: info.level,
                id: if live {
                    info.id.to_string()
                } else {
                    String::new()
                },
                metadata: if live {
                    info.metadata.as_deref().cloned()
                } else {
                    None
                },
                vector_bits: graph.vector(n).iter().map(|x| x.to_bits()).collect(),
                links: (0..=info.level)
                    .map(|l| graph.links(n, l).iter().collect())
                    .collect(),
            }
        })
        .collect();
    (graph.entry(), nodes)
}

/// One operation on the index under test.
#[derive(Clone, Debug)]
enum Op {
    Add(u8, Vec<f32>, Option<Metadata>),
    Delete(u8),
}

fn metadata() -> impl Strategy<Value = Option<Metadata>> {
    let value = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        (-1e6f64..1e6).prop_map(serde_json::Value::from),
        "\\PC{0,12}".prop_map(serde_json::Value::from),
    ];
    proptest::option::of(
        proptest::collection::btree_map("[a-z]{1,6}", value, 0..4)
            .prop_map(|m| m.into_iter().collect()),
    )
}

fn component() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => -100.0f32..100.0,
        1 => Just(-0.0f32),
        1 => Just(f32::MIN_POSITIVE / 4.0),
        1 => Just(1e18f32),
    ]
}

fn ops(dim: usize) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        4 => (0u8..40, proptest::collection::vec(component(), dim), metadata()).prop_map(|(id, v, m)| Op::Add(id, v, m)),
        1 => (0u8..40).prop_map(Op::Delete),
    ];
    proptest::collection::vec(op, 0..120)
}

fn index_case() -> impl Strategy<Value = (IndexParams, Vec<Op>)> {
    (
        1usize..7,
        prop_oneof![Just(Metric::L2), Just(Metric::Cosine), Just(Metric::Dot)],
        2usize..7,
    )
        .prop_flat_map(|(dim, metric, m)| {
            let params = IndexParams::new(dim, metric, m, 20).unwrap();
            (Just(params), ops(dim))
        })
}

fn run(params: IndexParams, ops: &[Op], seed: u64) -> Graph {
    let graph = Graph::new(params, seed);
    for op in ops {
        match op {
            Op::Add(id, v, m) => {
                let mut v = v.clone();
                if params.metric == Metric::Cosine && normalise(&mut v) == 0.0 {
                    continue;
                }
                if params.metric != Metric::Cosine {
                    // The validator's bound (keeps distances finite).
                    if crate::distance::squared_norm(&v) > f64::from(f32::MAX) / 4.0 {
                        continue;
                    }
                }
                let node = graph
                    .insert(&v, id.to_string().into(), m.clone().map(Arc::new))
                    .unwrap();
                graph.commit(&[node]);
            }
            Op::Delete(id) => {
                graph.remove(&id.to_string());
            }
        }
    }
    graph
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn encode_then_decode_round_trips_any_index_exactly((params, ops) in index_case(), seed in any::<u64>(), log_seq in any::<u64>()) {
        let graph = run(params, &ops, seed);
        let meta = meta(params);
        let bytes = file(&meta, log_seq, &graph);
        let decoded = decode(&bytes).unwrap();
        prop_assert_eq!(decoded.meta(), meta.clone());
        prop_assert_eq!(decoded.envelope.log_seq, log_seq);
        prop_assert_eq!(decoded.envelope.count, graph.live() as u64);
        prop_assert_eq!(nodes(&decoded.graph), nodes(&graph));
        prop_assert_eq!(decoded.graph.live(), graph.live());
        prop_assert_eq!(decoded.graph.tombstones(), graph.tombstones());
        for n in 0..graph.len() {
            if graph.state(n) == LIVE {
                let id = &graph.info(n).unwrap().id;
                prop_assert_eq!(decoded.graph.lookup(id), Some(n));
            }
        }
        prop_assert_eq!(file(&meta, log_seq, &decoded.graph), bytes, "re-encoding is byte-identical");
    }
}

fn sample() -> (IndexMeta, Graph) {
    let params = IndexParams::new(2, Metric::L2, 2, 10).unwrap();
    let graph = Graph::new(params, 5);
    for i in 0..40 {
        let node = graph
            .insert(
                &[i as f32, (i * i % 7) as f32],
                format!("id{i}").into(),
                Some(Arc::new(json!({"i": i}).as_object().unwrap().clone())),
            )
            .unwrap();
        graph.commit(&[node]);
    }
    graph.remove("id3");
    (meta(params), graph)
}

/// A file with `body` as its graph bytes, with a matching digest (so the graph decoder
/// itself is what refuses it).
fn with_body(meta: &IndexMeta, body: Vec<u8>, count: u64, nodes: u64) -> Vec<u8> {
    let envelope = Envelope::of(meta, 0, (count, nodes), &body);
    let mut out = frame::header(MAGIC, &serde_json::to_vec(&envelope).unwrap());
    out.extend_from_slice(&body);
    out
}

fn undecodable(bytes: &[u8]) -> String {
    match decode(bytes) {
        Err(FormatError::Undecodable { reason, .. }) => reason,
        Err(other) => panic!("expected an undecodable graph, got {other}"),
        Ok(_) => panic!("expected an undecodable graph, it decoded"),
    }
}

/// A one-node graph body (dim 2): state, level, id, metadata, layer lists.
fn one_node(state: u8, level: u8, id: &[u8], meta: &[u8], lists: &[&[u32]], entry: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.put_u32(1);
    b.put_u32(entry);
    b.put_f32s(&[1.0, 2.0]);
    b.put_u8(state);
    b.put_u8(level);
    b.put_u16(id.len() as u16);
    b.extend_from_slice(id);
    b.put_u32(meta.len() as u32);
    b.extend_from_slice(meta);
    for list in lists {
        b.put_u16(list.len() as u16);
        for &n in *list {
            b.put_u32(n);
        }
    }
    b
}

#[test]
fn each_framing_and_envelope_error_is_typed() {
    let (meta, graph) = sample();
    let good = file(&meta, 3, &graph);
    assert!(decode(&good).is_ok());

    assert_eq!(
        decode(b"LHV").err(),
        Some(FormatError::Short {
            kind: "LHV1",
            len: 3
        })
    );
    let mut bad = good.clone();
    bad[..4].copy_from_slice(b"LHV2");
    assert!(matches!(decode(&bad), Err(FormatError::BadMagic { .. })));
    let mut bad = good.clone();
    bad[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        decode(&bad),
        Err(FormatError::EnvelopePastEnd { len: u32::MAX, .. })
    ));

    let mut bad = good.clone();
    bad[8] = b'[';
    assert!(matches!(decode(&bad), Err(FormatError::BadEnvelope(_))));
    let text = String::from_utf8_lossy(&good).to_string();
    let future = text.replacen("\"format_version\":1", "\"format_version\":9", 1);
    assert_eq!(
        decode(future.as_bytes()).err(),
        Some(FormatError::UnsupportedVersion {
            found: 9,
            supported: 1
        })
    );
    let zero_dim = text.replacen("\"dim\":2", "\"dim\":0", 1);
    assert!(
        matches!(decode(zero_dim.as_bytes()), Err(FormatError::BadEnvelope(m)) if m.contains("dim must be"))
    );

    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    assert!(matches!(
        decode(&flipped),
        Err(FormatError::ChecksumMismatch { .. })
    ));
    assert!(matches!(
        decode(&good[..good.len() - 1]),
        Err(FormatError::BodyLength { .. })
    ));

    let wrong_count = with_body(&meta, encode(&meta, 0, &graph).1, 40, 40);
    assert!(
        matches!(decode(&wrong_count), Err(FormatError::BadEnvelope(m)) if m.contains("39 in 40"))
    );
}

#[test]
fn each_graph_error_is_typed_and_placed() {
    let (meta, _) = sample();
    let bad = |body: Vec<u8>| undecodable(&with_body(&meta, body, 1, 1));
    assert!(bad(vec![1, 0]).contains("the node count needs 4 bytes"));
    let mut b = Vec::new();
    b.put_u32(1_000_000);
    b.put_u32(0);
    assert!(bad(b).contains("1000000 nodes of dim 2 need at least 18 bytes each"));
    assert!(bad(one_node(7, 0, b"a", b"", &[&[]], 0)).contains("state 7"));
    assert!(bad(one_node(LIVE, 40, b"a", b"", &[&[]], 0)).contains("level 40"));
    assert!(bad(one_node(LIVE, 0, b"", b"", &[&[]], 0)).contains("id is empty"));
    assert!(bad(one_node(LIVE, 0, b"\xff", b"", &[&[]], 0)).contains("not UTF-8"));
    assert!(bad(one_node(DELETED, 0, b"a", b"", &[&[]], 0)).contains("tombstone but has an id"));
    assert!(bad(one_node(LIVE, 0, b"a", b"[1]", &[&[]], 0)).contains("not a JSON object"));
    assert!(bad(one_node(LIVE, 0, b"a", b"{", &[&[]], 0)).contains("not JSON"));
    assert!(
        bad(one_node(LIVE, 0, b"a", b"", &[&[0]], 0)).contains("neighbour 0 is not another node")
    );
    assert!(
        bad(one_node(LIVE, 0, b"a", b"", &[&[5]], 0)).contains("neighbour 5 is not another node")
    );
    assert!(
        bad(one_node(LIVE, 0, b"a", b"", &[&[1, 1, 1, 1, 1]], 0))
            .contains("5 neighbours on layer 0; the most is 4")
    );
    assert!(
        bad(one_node(LIVE, 0, b"a", b"", &[], 0))
            .contains("1 nodes of dim 2 need at least 18 bytes")
    );
    assert!(
        bad(one_node(LIVE, 1, b"a", b"", &[&[]], 0))
            .contains("a neighbour count needs 2 bytes but only 0 remain")
    );
    assert!(bad(one_node(LIVE, 0, b"a", b"", &[&[]], 3)).contains("entry point 3"));
    let mut trailing = one_node(LIVE, 0, b"a", b"", &[&[]], 0);
    trailing.push(0);
    assert!(bad(trailing).contains("1 bytes follow the end of the graph"));
    let mut nan = one_node(LIVE, 0, b"a", b"", &[&[]], 0);
    nan[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    assert!(bad(nan).contains("vector[0] is not finite"));

    // Two nodes: a layer-1 link to a node that has no layer 1, and a repeated id.
    let two = |level_b: u8, id_b: &[u8]| {
        let mut b = Vec::new();
        b.put_u32(2);
        b.put_u32(0);
        b.put_f32s(&[0.0, 0.0, 1.0, 1.0]);
        for (level, id, lists) in [
            (1u8, &b"a"[..], vec![vec![1u32], vec![1]]),
            (level_b, id_b, vec![vec![0]; level_b as usize + 1]),
        ] {
            b.put_u8(LIVE);
            b.put_u8(level);
            b.put_u16(id.len() as u16);
            b.extend_from_slice(id);
            b.put_u32(0);
            for list in lists {
                b.put_u16(list.len() as u16);
                for n in list {
                    b.put_u32(n);
                }
            }
        }
        with_body(&meta, b, 2, 2)
    };
    assert!(undecodable(&two(0, b"b")).contains("layer-1 neighbour 1 only reaches layer 0"));
    assert!(undecodable(&two(1, b"a")).contains("repeats the live id \"a\""));
    assert!(decode(&two(1, b"b")).is_ok());
}

#[test]
fn no_prefix_and_no_single_byte_change_of_a_file_decodes_or_panics() {
    let (meta, graph) = sample();
    let good = file(&meta, 1, &graph);
    for cut in 0..good.len() {
        assert!(decode(&good[..cut]).is_err(), "prefix of {cut} bytes");
    }
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] = bad[i].wrapping_add(1);
        // A change inside the envelope's JSON may keep it valid (e.g. a digit of the
        // creation time); anything else must be refused.
        let _ = decode(&bad);
    }
}

#[test]
fn an_empty_index_round_trips() {
    let params = IndexParams::new(3, Metric::Cosine, 16, 200).unwrap();
    let graph = Graph::new(params, 0);
    let bytes = file(&meta(params), 0, &graph);
    let decoded = decode(&bytes).unwrap();
    assert_eq!((decoded.graph.len(), decoded.graph.entry()), (0, None));
    let (_, body) = encode(&meta(params), 0, &graph);
    assert_eq!(body, [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
}

#[test]
fn a_large_body_decodes_on_two_lanes_and_the_checksum_then_the_vectors_decide() {
    // 1,100 nodes × 1,024 floats ≈ 4.5 MB: past PARALLEL_BYTES.
    let params = IndexParams::new(1024, Metric::L2, 4, 8).unwrap();
    let graph = Graph::new(params, 3);
    for i in 0..1_100u32 {
        let v: Vec<f32> = (0..1024u32)
            .map(|j| ((i * 31 + j * 7) % 101) as f32)
            .collect();
        let node = graph.insert(&v, format!("v{i}").into(), None).unwrap();
        graph.commit(&[node]);
    }
    let meta = meta(params);
    let bytes = file(&meta, 9, &graph);
    assert!(bytes.len() > PARALLEL_BYTES, "{}", bytes.len());
    let decoded = decode(&bytes).unwrap();
    assert_eq!(nodes(&decoded.graph), nodes(&graph));
    assert_eq!(decoded.graph.live(), 1_100);
    assert_eq!(decoded.graph.lookup("v1099"), graph.lookup("v1099"));

    // A flipped bit in a vector still decodes as a graph; only the checksum catches it.
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x01;
    assert!(
        matches!(decode(&flipped), Err(FormatError::ChecksumMismatch { .. })),
        "{:?}",
        decode(&flipped).map(|_| ())
    );
    // A body that neither checks nor decodes reports the checksum.
    let mut torn = bytes.clone();
    let middle = torn.len() / 2;
    torn[middle..].fill(0xff);
    assert!(matches!(
        decode(&torn),
        Err(FormatError::ChecksumMismatch { .. })
    ));

    // With a matching checksum: a NaN in node 1,000's vector and a repeated id in node
    // 1,099's record fail on different lanes; the vector (the earlier bytes) is reported.
    let (_, body) = encode(&meta, 9, &graph);
    let nan_at = 8 + (1_000 * 1024 + 5) * 4;
    let mut bad = body.clone();
    bad[nan_at..nan_at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let last_id = bad.len() - bad.windows(5).rev().position(|w| w == b"v1099").unwrap() - 5;
    bad[last_id..last_id + 5].copy_from_slice(b"v1098");
    let both = with_body(&meta, bad.clone(), 1_100, 1_100);
    match decode(&both) {
        Err(FormatError::Undecodable { offset, reason }) => {
            assert_eq!(offset, nan_at);
            assert_eq!(reason, "node 1000's vector[5] is not finite");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    bad[nan_at..nan_at + 4].copy_from_slice(&1.0f32.to_le_bytes());
    let reason = undecodable(&with_body(&meta, bad, 1_100, 1_100));
    assert!(
        reason.contains("node 1099 repeats the live id \"v1098\""),
        "{reason}"
    );
}
