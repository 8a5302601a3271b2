//! An index's item semantics: upsert, delete, filters, the k-results guarantee.

use serde_json::json;

use super::*;
use crate::distance::Metric;
use crate::testdata::{clustered, nearest, recall, with_queries};
use crate::validate::{RawItem, RawVector, SearchRequest, validate_items, validate_query};

fn params(dim: usize, metric: Metric) -> IndexParams {
    IndexParams::new(dim, metric, 12, 100).unwrap()
}

fn items(data: &[Vec<f32>], meta: impl Fn(usize) -> serde_json::Value) -> Vec<RawItem> {
    data.iter()
        .enumerate()
        .map(|(i, v)| RawItem {
            id: format!("item-{i}"),
            vector: RawVector::new(v.clone()),
            metadata: Some(meta(i)),
        })
        .collect()
}

fn query(index: &Index, v: &[f32], k: usize, filter: Option<serde_json::Value>) -> Vec<Hit> {
    let request = SearchRequest {
        vector: RawVector::new(v.to_vec()),
        k,
        ef: None,
        filter: filter.map(|f| match f {
            serde_json::Value::Object(m) => m,
            _ => unreachable!(),
        }),
    };
    index.search(&validate_query(index.params(), request).unwrap())
}

fn position(hit: &Hit) -> usize {
    hit.id.strip_prefix("item-").unwrap().parse().unwrap()
}

fn loaded(data: &[Vec<f32>], metric: Metric, meta: impl Fn(usize) -> serde_json::Value) -> Index {
    let index = Index::new(params(data[0].len(), metric), 1);
    let prepared = validate_items(index.params(), items(data, meta)).unwrap();
    assert_eq!(index.upsert(&prepared).unwrap(), data.len());
    index
}

#[test]
fn an_existing_id_is_replaced() {
    let data = clustered(200, 4, 4, 1);
    let index = loaded(&data, Metric::L2, |i| json!({"v": 1, "i": i}));
    let moved = vec![100.0, 100.0, 100.0, 100.0];
    let again = validate_items(
        index.params(),
        vec![RawItem {
            id: "item-3".into(),
            vector: RawVector::new(moved.clone()),
            metadata: Some(json!({"v": 2})),
        }],
    )
    .unwrap();
    assert_eq!(index.upsert(&again).unwrap(), 200, "replaced, not added");
    let hits = query(&index, &moved, 1, None);
    assert_eq!((hits[0].id.as_ref(), hits[0].distance), ("item-3", 0.0));
    assert_eq!(
        hits[0].metadata.as_deref(),
        Some(json!({"v": 2}).as_object().unwrap())
    );
    let near_old = query(&index, &data[3], 5, None);
    assert!(
        near_old.iter().all(|h| h.id.as_ref() != "item-3"),
        "{near_old:?}"
    );
}

#[test]
fn deleted_items_are_gone_and_unknown_ids_are_no_ops() {
    let data = clustered(100, 4, 2, 2);
    let index = loaded(&data, Metric::Cosine, |_| json!({}));
    assert_eq!(index.delete(&["item-5".into(), "nope".into()]), 1);
    assert_eq!(index.count(), 99);
    assert!(!index.contains("item-5"));
    let hits = query(&index, &data[5], 10, None);
    assert!(hits.iter().all(|h| h.id.as_ref() != "item-5"));
    assert_eq!(hits.len(), 10);
}

#[test]
fn a_search_returns_k_whenever_k_items_match() {
    // 3,000 items; "group" splits them 50 ways (2% each); "rare" marks 12 items.
    let data = clustered(3_000, 16, 20, 3);
    let index = loaded(
        &data,
        Metric::L2,
        |i| json!({"group": i % 50, "rare": i % 250 == 7, "tag": format!("t{}", i % 3)}),
    );
    let q = &data[123];
    for (filter, matching) in [
        (
            json!({"group": 7}),
            (0..3_000).filter(|i| i % 50 == 7).collect::<Vec<_>>(),
        ),
        (
            json!({"rare": true}),
            (0..3_000).filter(|i| i % 250 == 7).collect(),
        ),
        (
            json!({"rare": true, "group": 7}),
            (0..3_000).filter(|i| i % 250 == 7).collect(),
        ),
        (
            json!({"tag": "t1"}),
            (0..3_000).filter(|i| i % 3 == 1).collect(),
        ),
        (
            json!({"group": 7.0, "tag": "t2"}),
            (0..3_000).filter(|i| i % 50 == 7 && i % 3 == 2).collect(),
        ),
        (
            json!({"group": {"$gte": 10, "$lt": 12}, "tag": {"$ne": "t0"}}),
            (0..3_000)
                .filter(|i| (10..12).contains(&(i % 50)) && i % 3 != 0)
                .collect(),
        ),
        (
            json!({"group": {"$in": [3, 4.0, "5"]}}),
            (0..3_000).filter(|i| [3, 4].contains(&(i % 50))).collect(),
        ),
        (
            json!({"$or": [{"rare": true}, {"group": {"$gt": 47}}], "$not": {"tag": "t1"}}),
            (0..3_000)
                .filter(|i| (i % 250 == 7 || i % 50 > 47) && i % 3 != 1)
                .collect(),
        ),
        (
            json!({"group": {"$nin": [0, 1]}, "tag": {"$lte": "t1"}}),
            (0..3_000).filter(|i| i % 50 > 1 && i % 3 <= 1).collect(),
        ),
    ] {
        let hits = query(&index, q, 10, Some(filter.clone()));
        assert_eq!(hits.len(), matching.len().min(10), "{filter}");
        assert!(
            hits.iter().all(|h| matching.contains(&position(h))),
            "{filter}"
        );
        assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance));
        let truth = nearest(&data, q, 10, Metric::L2, |i| matching.contains(&i));
        let got: Vec<usize> = hits.iter().map(position).collect();
        assert!(
            recall(&truth, &got) >= 0.9,
            "{filter}: {got:?} vs {truth:?}"
        );
    }
    assert!(
        query(&index, q, 10, Some(json!({"group": "7"}))).is_empty(),
        "types differ"
    );
    assert!(query(&index, q, 10, Some(json!({"missing": 1}))).is_empty());
}

#[test]
fn a_search_returns_every_item_of_a_small_index() {
    let data = clustered(7, 3, 2, 4);
    let index = loaded(&data, Metric::Dot, |_| json!({}));
    let hits = query(&index, &data[0], 10, None);
    assert_eq!(hits.len(), 7);
    index.delete(&["item-0".into(), "item-1".into()]);
    assert_eq!(query(&index, &data[0], 10, None).len(), 5);
}

#[test]
fn recall_holds_across_compaction_and_the_graph_swap() {
    let (data, queries) = with_queries(2_000, 50, 8, 10, 5);
    let index = loaded(&data, Metric::Cosine, |_| json!({}));
    let gone: Vec<Arc<str>> = (0..2_000)
        .filter(|i| i % 5 == 0)
        .map(|i| format!("item-{i}").into())
        .collect();
    assert_eq!(index.delete(&gone), 400);
    assert!(index.needs_compaction());
    let measure = |index: &Index| {
        queries
            .iter()
            .map(|q| {
                let got: Vec<usize> = query(index, q, 10, None).iter().map(position).collect();
                recall(&nearest(&data, q, 10, Metric::Cosine, |i| i % 5 != 0), &got)
            })
            .sum::<f64>()
            / queries.len() as f64
    };
    let before = measure(&index);
    let old_graph = index.graph();
    index.compact().unwrap();
    assert!(!index.needs_compaction());
    assert_eq!(
        (index.count(), index.nodes(), index.tombstones()),
        (1_600, 1_600, 0)
    );
    assert_eq!(
        old_graph.live(),
        1_600,
        "a search holding the old graph still works"
    );
    let after = measure(&index);
    assert!(before >= 0.9 && after >= 0.9, "recall {before} → {after}");
}

#[test]
fn metadata_comes_back_with_results() {
    let data = clustered(50, 4, 2, 6);
    let index = loaded(
        &data,
        Metric::L2,
        |i| json!({"title": format!("doc {i}"), "nested": {"a": [1, 2]}}),
    );
    let hits = query(&index, &data[9], 1, None);
    let meta = hits[0].metadata.as_deref().unwrap();
    assert_eq!(meta["title"], "doc 9");
    assert_eq!(meta["nested"]["a"], json!([1, 2]));
}

#[test]
fn each_id_is_returned_once_and_at_its_nearest() {
    // What a search racing an upsert can see: one id at two nodes (here: one node twice).
    let data = clustered(40, 4, 2, 7);
    let index = Index::new(params(4, Metric::L2), 1);
    index
        .upsert(&validate_items(index.params(), items(&data, |_| json!({}))).unwrap())
        .unwrap();
    let graph = index.graph();
    for hits in [3usize, DIRECT_DEDUP_MAX + 5] {
        let mut found = Vec::new();
        for node in 0..hits as u32 {
            found.push(Cand {
                dist: node as f32,
                node,
            });
            found.push(Cand {
                dist: node as f32 + 0.5,
                node,
            });
        }
        let out = index.hits(&graph, found);
        assert_eq!(out.len(), hits, "{hits} distinct ids");
        for (i, hit) in out.iter().enumerate() {
            assert_eq!(
                hit.distance,
                index.params().metric.reported(i as f32),
                "the nearer kept"
            );
        }
    }
}

/// A node no link leads to (a concurrent build can leave one) is missed by the graph
/// search, but a search whose `ef` covers every node scans and finds it.
#[test]
fn a_search_with_ef_over_the_node_count_is_exact() {
    let data = clustered(300, 8, 4, 5);
    let index = loaded(&data, Metric::L2, |_| json!({}));
    let graph = index.graph();
    let entry = graph.entry().unwrap().0;
    let i = (0..data.len())
        .find(|i| graph.lookup(&format!("item-{i}")) != Some(entry))
        .unwrap();
    let cut = graph.lookup(&format!("item-{i}")).unwrap();
    for node in (0..graph.len()).filter(|&n| n != cut) {
        for level in 0..=graph.level(node) {
            let links = graph.links(node, level);
            let kept: Vec<u32> = links.iter().filter(|&n| n != cut).collect();
            links.set(kept.into_iter());
        }
    }
    let search = |ef: usize| {
        let request = SearchRequest {
            vector: RawVector::new(data[i].clone()),
            k: 1,
            ef: Some(ef),
            filter: None,
        };
        index.search(&validate_query(index.params(), request).unwrap())[0]
            .id
            .to_string()
    };
    let wanted = format!("item-{i}");
    assert_ne!(search(299), wanted, "unreachable through the graph");
    assert_eq!(search(300), wanted);
    assert_eq!(search(10_000), wanted);
}

/// A batch large next to the graph is walked for cut-off nodes at once; a small batch on a
/// large graph leaves the walk to `connect` (the maintainer's), which runs it once.
#[test]
fn batches_are_walked_at_once_or_by_connect() {
    let data = clustered(1_100, 8, 4, 3);
    let index = loaded(&data[..1_000], Metric::L2, |_| json!({}));
    assert!(!index.needs_connect(), "a first load is walked at once");
    let more = items(&data[1_000..], |_| json!({}))
        .into_iter()
        .enumerate()
        .map(|(i, mut item)| {
            item.id = format!("more-{i}");
            item
        })
        .collect();
    let more = validate_items(index.params(), more).unwrap();
    assert_eq!(index.upsert(&more).unwrap(), 1_100);
    assert!(
        index.needs_connect(),
        "100 items on 1,000 nodes wait for connect"
    );
    index.connect();
    assert!(!index.needs_connect());
    assert_eq!(index.graph().unreachable(), Vec::<u32>::new());
    assert_eq!(index.connect(), 0, "nothing written since");
}
