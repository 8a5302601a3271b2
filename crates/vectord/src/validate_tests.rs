//! Every rule a request can break, and the message that names it.

use serde_json::json;

use super::*;

fn params(metric: Metric) -> IndexParams {
    IndexParams::new(3, metric, 16, 200).unwrap()
}

/// The refusal of a batch given as JSON: (item position, message).
fn refusal(metric: Metric, body: serde_json::Value) -> (usize, String) {
    let request = parse_add(body.to_string().as_bytes()).unwrap();
    match validate_items(&params(metric), request.items) {
        Err(e @ VectorError::InvalidItem { item, .. }) => (item, e.to_string()),
        other => panic!("{body} should be refused, got {other:?}"),
    }
}

fn item(id: &str, vector: serde_json::Value) -> serde_json::Value {
    json!({"id": id, "vector": vector})
}

#[test]
fn a_good_batch_is_prepared_in_order_with_unit_vectors_for_cosine() {
    let body = json!({"items": [
        {"id": "a", "vector": [3, 4, 0], "metadata": {"lang": "en"}},
        {"id": "b", "vector": [0, 0, 2], "metadata": null},
    ]});
    let request = parse_add(body.to_string().as_bytes()).unwrap();
    let items = validate_items(&params(Metric::Cosine), request.items).unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].vector, vec![0.6, 0.8, 0.0]);
    assert_eq!(items[0].metadata.as_ref().unwrap()["lang"], "en");
    assert_eq!(
        (items[1].id.as_ref(), items[1].metadata.is_none()),
        ("b", true)
    );
    let l2 = parse_add(body.to_string().as_bytes()).unwrap();
    let items = validate_items(&params(Metric::L2), l2.items).unwrap();
    assert_eq!(
        items[0].vector,
        vec![3.0, 4.0, 0.0],
        "l2 stores vectors as given"
    );
}

#[test]
fn every_item_rule_names_the_item_and_the_reason() {
    let good = item("ok", json!([1, 2, 3]));
    let cases: Vec<(Metric, serde_json::Value, usize, &str)> = vec![
        (Metric::L2, item("", json!([1, 2, 3])), 1, "id is empty"),
        (
            Metric::L2,
            item(&"x".repeat(257), json!([1, 2, 3])),
            1,
            "257 bytes long; the limit is 256",
        ),
        (
            Metric::L2,
            item("a\nb", json!([1, 2, 3])),
            1,
            "control character (U+000A)",
        ),
        (
            Metric::L2,
            item("ok", json!([4, 5, 6])),
            1,
            "id repeats item 0",
        ),
        (
            Metric::L2,
            item("v", json!([1, 2])),
            1,
            "vector has 2 values; the index's dim is 3",
        ),
        (
            Metric::L2,
            item("v", json!([1, 2, 3, 4])),
            1,
            "vector has 4 values",
        ),
        (
            Metric::L2,
            item("v", json!([1, 1e39, 3])),
            1,
            "vector[1] = 1000000000000000000000000000000000000000 is not a finite 32-bit float",
        ),
        (Metric::Dot, item("v", json!([-1e39, 0, 0])), 1, "vector[0]"),
        (Metric::Cosine, item("v", json!([0, 0, 0])), 1, "zero norm"),
        (
            Metric::L2,
            item("v", json!([1e19, 1e19, 1e19])),
            1,
            "squared norm",
        ),
        (
            Metric::L2,
            json!({"id": "..", "vector": [1, 2, 3]}),
            1,
            "id \"..\" cannot be named in a URL path",
        ),
        (
            Metric::L2,
            json!({"id": "v", "vector": [1, 2, 3], "metadata": [1]}),
            1,
            "metadata must be a JSON object, not a array",
        ),
        (
            Metric::L2,
            json!({"id": "v", "vector": [1, 2, 3], "metadata": "x"}),
            1,
            "not a string",
        ),
        (
            Metric::L2,
            json!({"id": "v", "vector": [1, 2, 3], "metadata": {"big": "y".repeat(70_000)}}),
            1,
            "the limit is 65536",
        ),
    ];
    for (metric, bad, at, reason) in cases {
        let (item, message) = refusal(metric, json!({"items": [good.clone(), bad.clone()]}));
        assert_eq!(item, at, "{message}");
        assert!(message.starts_with(&format!("item {at}")), "{message}");
        assert!(message.contains(reason), "{bad}: {message}");
    }
}

#[test]
fn the_id_is_named_once_it_is_usable() {
    let (_, message) = refusal(Metric::L2, json!({"items": [item("doc-7", json!([1]))]}));
    assert!(
        message.starts_with("item 0 (id \"doc-7\"): vector has 1 values"),
        "{message}"
    );
}

#[test]
fn malformed_json_is_a_bad_request_or_names_the_item() {
    let cases: &[(&str, Option<usize>, &str)] = &[
        ("", None, "EOF"),
        ("{\"items\": [", Some(0), "EOF"),
        ("[1]", None, "invalid type"),
        ("{\"itemz\": []}", None, "unknown field `itemz`"),
        ("{}", None, "missing field `items`"),
        ("{\"items\": [], \"items\": []}", None, "duplicate field"),
        ("{\"items\": []} x", None, "trailing characters"),
        (
            r#"{"items": [{"id": "a", "vector": [1,2,3]}, {"id": 5, "vector": [1,2,3]}]}"#,
            Some(1),
            "invalid type: integer `5`, expected a string",
        ),
        (
            r#"{"items": [{"id": "a", "vector": [1,2,3], "colour": 1}]}"#,
            Some(0),
            "unknown field `colour`",
        ),
        (
            r#"{"items": [{"id": "a", "vector": [1, "2", 3]}]}"#,
            Some(0),
            "invalid type: string",
        ),
        (
            r#"{"items": [{"id": "a", "vector": [1, 1e400, 3]}]}"#,
            Some(0),
            "number out of range",
        ),
        (
            r#"{"items": [{"id": "a", "vector": [1, NaN, 3]}]}"#,
            Some(0),
            "expected value",
        ),
        (
            r#"{"items": [{"id": "a"}]}"#,
            Some(0),
            "missing field `vector`",
        ),
    ];
    for (body, at, reason) in cases {
        let err = parse_add(body.as_bytes()).unwrap_err();
        let message = err.to_string();
        match (at, &err) {
            (Some(at), VectorError::InvalidItem { item, .. }) => {
                assert_eq!(item, at, "{body}: {message}")
            }
            (None, VectorError::BadRequest(_)) => {}
            _ => panic!("{body}: unexpected {err:?}"),
        }
        assert!(message.contains(reason), "{body}: {message}");
        assert_eq!(err.status(), 400);
    }
}

#[test]
fn an_empty_batch_parses_and_prepares_nothing() {
    let request = parse_add(br#"{"items": []}"#).unwrap();
    assert!(
        validate_items(&params(Metric::L2), request.items)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn queries_are_checked_like_items() {
    let p = params(Metric::Cosine);
    let search = |body: serde_json::Value| -> Result<Query, VectorError> {
        validate_query(
            &p,
            parse_json::<SearchRequest>(body.to_string().as_bytes())?,
        )
    };
    let q = search(json!({"vector": [0, 3, 4]})).unwrap();
    assert_eq!((q.k, q.ef, q.vector), (10, DEFAULT_EF, vec![0.0, 0.6, 0.8]));
    let q = search(json!({"vector": [1, 0, 0], "k": 100, "ef": 20, "filter": {}})).unwrap();
    assert_eq!(
        (q.k, q.ef, q.filter.is_none()),
        (100, 100, true),
        "ef is at least k"
    );
    let q = search(json!({"vector": [1, 0, 0], "filter": {"a": 1}})).unwrap();
    assert!(q.filter.is_some());
    for (body, reason) in [
        (json!({"vector": [1, 0]}), "vector has 2 values"),
        (json!({"vector": [0, 0, 0]}), "zero norm"),
        (json!({"vector": [1, 0, 1e39]}), "vector[2]"),
        (
            json!({"vector": [1, 0, 0], "k": 0}),
            "k must be between 1 and 10000",
        ),
        (json!({"vector": [1, 0, 0], "k": 10_001}), "k must be"),
        (
            json!({"vector": [1, 0, 0], "ef": 0}),
            "ef must be between 1",
        ),
        (json!({"vector": [1, 0, 0], "ef": 100_001}), "ef must be"),
        (
            json!({"vector": [1, 0, 0], "k": -1}),
            "invalid value: integer `-1`",
        ),
        (
            json!({"vector": [1, 0, 0], "filter": [1]}),
            "invalid type: sequence, expected a map",
        ),
        (
            json!({"vector": [1, 0, 0], "topk": 3}),
            "unknown field `topk`",
        ),
        (json!({"k": 3}), "missing field `vector`"),
    ] {
        let err = search(body.clone()).unwrap_err();
        assert!(err.to_string().contains(reason), "{body}: {err}");
        assert_eq!(err.status(), 400);
    }
}

#[test]
fn create_requests_name_the_bad_parameter() {
    let create = |body: serde_json::Value| {
        parse_json::<CreateRequest>(body.to_string().as_bytes()).and_then(|r| r.validate())
    };
    let (name, p) = create(json!({"name": "docs", "dim": 8, "metric": "cosine"})).unwrap();
    assert_eq!(
        (name.as_str(), p.m, p.ef_construction),
        ("docs", DEFAULT_M, DEFAULT_EF_CONSTRUCTION)
    );
    let (_, p) =
        create(json!({"name": "d", "dim": 2, "metric": "l2", "m": 8, "ef_construction": 50}))
            .unwrap();
    assert_eq!((p.metric, p.m, p.ef_construction), (Metric::L2, 8, 50));
    for (body, reason) in [
        (
            json!({"name": "a-b", "dim": 8, "metric": "l2"}),
            "character 2 is '-'",
        ),
        (
            json!({"name": "a", "dim": 0, "metric": "l2"}),
            "dim must be between 1",
        ),
        (
            json!({"name": "a", "dim": 8, "metric": "hamming"}),
            "unknown variant `hamming`",
        ),
        (
            json!({"name": "a", "dim": 8, "metric": "l2", "m": 1}),
            "m must be between 2 and 128",
        ),
        (
            json!({"name": "a", "dim": 8, "metric": "l2", "ef_construction": 0}),
            "ef_construction must be",
        ),
        (
            json!({"name": "a", "dim": 8, "metric": "l2", "M": 8}),
            "unknown field `M`",
        ),
        (json!({"name": "a", "metric": "l2"}), "missing field `dim`"),
    ] {
        let err = create(body.clone()).unwrap_err();
        assert!(err.to_string().contains(reason), "{body}: {err}");
        assert_eq!(err.status(), 400);
    }
}
