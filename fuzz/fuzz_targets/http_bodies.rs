//! The JSON bodies and query strings of every route, decoded as the handlers decode them,
//! then checked as the handlers check them. The first byte picks the route.
//!
//! - `POST /v1/datasets` (catalogd): a `Commit` as axum's `Json` reads it, planned against
//!   a current manifest (the text before a NUL, a manifest as read back from the store).
//!   Both round-trip through JSON (the manifest's head decodes as the manifest without its
//!   older versions); a planned manifest is the next version with every file's rows and
//!   bytes counted, keeps at most `keep_versions`, and its garbage is exactly the keys the
//!   old manifest held and the new one does not (none for an external table, whose files
//!   are its owner's); an append keeps the current files first.
//! - `POST /v1/vectors` (vectord): a create request validates to parameters in range, and
//!   round-trips through JSON.
//! - `POST /v1/vectors/{name}/add`: items that validate have the index's dimension, finite
//!   values (unit length for cosine), distinct ids without control characters, and
//!   round-trip through the write-ahead log exactly.
//! - `POST /v1/vectors/{name}/search`: a valid query has `1 <= k <= ef`, the index's
//!   dimension, and a filter that matches the metadata it was written as.
//! - `POST /v1/ingest/{name}?...` (ingestd): the query string and headers parse into
//!   options that hold (a delimiter that is one ASCII character but no quote or newline; a
//!   schema option that round-trips through its text form).
//! - `POST /v1/sql` (queryd): the body's `sql` and `format`.
//!
//! Nothing panics.

#![no_main]

use std::collections::HashSet;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use catalogd::{Commit, CommitMode, Manifest};
use ingestd::Format as IngestFormat;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use vectord::format::wal::{self, Record, RecordKey};
use vectord::validate::{
    CreateRequest, SearchRequest, parse_add, parse_json, validate_items, validate_query,
};
use vectord::{Filter, IndexParams, Metric};

fn json_round_trip<T>(value: &T)
where
    T: serde::Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let text = serde_json::to_vec(value).expect("serialises");
    let back: T = serde_json::from_slice(&text).expect("its own JSON decodes");
    assert_eq!(&back, value, "JSON round trip");
}

fn commit(control: u8, body: &[u8]) {
    let (current, commit) = match body.iter().position(|&b| b == 0) {
        Some(nul) => (Some(&body[..nul]), &body[nul + 1..]),
        None => (None, body),
    };
    let current: Option<Manifest> = match current.map(serde_json::from_slice) {
        None => None,
        Some(Ok(m)) => Some(m),
        Some(Err(_)) => return,
    };
    if let Some(m) = &current {
        json_round_trip(m);
        let head = serde_json::to_vec(&m.head()).expect("serialises");
        let back: Manifest = serde_json::from_slice(&head).expect("a head decodes");
        assert_eq!(back.current, m.current);
        assert!(back.versions.is_empty());
    }
    // What the handler's `Json<Commit>` extractor runs once the body is read.
    let Ok(axum::Json(commit)) = axum::Json::<Commit>::from_bytes(commit) else {
        return;
    };
    json_round_trip(&commit);
    let keep = 1 + u32::from(control % 4);
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("in range");
    let planned = catalogd::fuzzing::plan_commit(current.as_ref(), commit.clone(), keep, now);
    let Ok(planned) = planned else {
        return;
    };
    let Some((manifest, garbage)) = planned else {
        assert!(current.is_some(), "a no-op commit without a manifest");
        return;
    };
    json_round_trip(&manifest);
    assert_eq!(manifest.name, commit.name);
    let version = &manifest.current;
    assert_eq!(
        version.version,
        current.as_ref().map_or(1, |m| m.current.version + 1)
    );
    assert_eq!(version.mode, commit.mode);
    let rows: u64 = version.files.iter().map(|f| f.rows).sum();
    let bytes: u64 = version.files.iter().map(|f| f.bytes).sum();
    assert_eq!((version.rows, version.bytes), (rows, bytes), "totals");
    assert!(
        manifest.versions.len() < keep as usize,
        "more versions than kept"
    );
    let external = current.as_ref().and_then(|m| m.location.clone());
    let prefix = external
        .clone()
        .unwrap_or_else(|| format!("datasets/{}/", commit.name));
    assert!(commit.files.iter().all(|f| f.key.starts_with(&prefix)));
    match (&current, commit.mode) {
        (Some(m), CommitMode::Append) => {
            let want: Vec<_> = m.current.files.iter().chain(&commit.files).collect();
            assert_eq!(version.files.iter().collect::<Vec<_>>(), want);
        }
        _ => assert_eq!(version.files, commit.files),
    }
    let kept: HashSet<&str> = manifest.referenced_keys().collect();
    let old: HashSet<&str> = current.iter().flat_map(|m| m.referenced_keys()).collect();
    let gone: HashSet<&str> = old.difference(&kept).copied().collect();
    let collected: HashSet<&str> = garbage.iter().map(String::as_str).collect();
    if external.is_some() {
        assert!(
            garbage.is_empty(),
            "an external table's files are its owner's"
        );
    } else {
        assert_eq!(
            collected, gone,
            "garbage is what the new manifest no longer holds"
        );
    }
    assert!(
        garbage.windows(2).all(|w| w[0] < w[1]),
        "garbage sorted, once each"
    );
}

fn params(control: u8) -> IndexParams {
    let metric = [Metric::L2, Metric::Cosine, Metric::Dot][usize::from(control >> 6) % 3];
    IndexParams::new(1 + usize::from(control % 4), metric, 16, 200).expect("in range")
}

fn create(body: &[u8]) {
    let Ok(request) = parse_json::<CreateRequest>(body) else {
        return;
    };
    let text = serde_json::to_vec(&request).expect("serialises");
    let back: CreateRequest = serde_json::from_slice(&text).expect("its own JSON decodes");
    assert_eq!(format!("{back:?}"), format!("{request:?}"));
    if let Ok((name, p)) = request.validate() {
        assert_eq!(name.as_str(), request.name);
        assert_eq!(
            IndexParams::new(p.dim, p.metric, p.m, p.ef_construction),
            Ok(p)
        );
    }
}

fn add(control: u8, body: &[u8]) {
    let Ok(request) = parse_add(body) else {
        return;
    };
    let params = params(control);
    let Ok(items) = validate_items(&params, request.items) else {
        return;
    };
    let mut ids = HashSet::new();
    for item in &items {
        assert!(ids.insert(item.id.clone()), "a repeated id passed");
        assert!(!item.id.is_empty() && !item.id.chars().any(char::is_control));
        assert_eq!(item.vector.len(), params.dim);
        assert!(item.vector.iter().all(|x| x.is_finite()));
        if params.metric == Metric::Cosine {
            let norm: f64 = item.vector.iter().map(|&x| f64::from(x).powi(2)).sum();
            assert!(
                (norm.sqrt() - 1.0).abs() < 1e-3,
                "cosine vector of norm {norm}"
            );
        }
    }
    let key = RecordKey {
        index: "fuzz",
        incarnation: "00000000000000aa",
        seq: 1,
    };
    let record = Record::Upsert(items);
    let bytes = wal::encode(&key, params.dim, &record);
    let (_, back) = wal::decode(&bytes, params.dim).expect("a record we wrote decodes");
    assert_eq!(back, record, "the log changed the items");
}

fn search(control: u8, body: &[u8]) {
    let Ok(request) = parse_json::<SearchRequest>(body) else {
        return;
    };
    let filter = request.filter.clone();
    let params = params(control);
    let Ok(query) = validate_query(&params, request) else {
        return;
    };
    assert!(
        1 <= query.k && query.k <= query.ef,
        "k {} ef {}",
        query.k,
        query.ef
    );
    assert_eq!(query.vector.len(), params.dim);
    assert!(query.vector.iter().all(|x| x.is_finite()));
    if let Some(conditions) = filter {
        let plain = !serde_json::to_string(&conditions)
            .expect("JSON")
            .contains('$');
        match &query.filter {
            // Equality only: the filter's own fields meet it.
            Some(f) if plain => assert!(
                f.matches(Some(&conditions)),
                "a filter misses its own fields"
            ),
            Some(_) => {}
            None => assert!(conditions.is_empty()),
        }
        assert_eq!(
            Filter::parse(conditions.clone()).map(|f| f.is_some()),
            Ok(!conditions.is_empty())
        );
        // `$not` is the complement, on any item (the filter itself as one).
        if let Some(f) = &query.filter {
            let mut not = serde_json::Map::new();
            not.insert("$not".into(), serde_json::Value::Object(conditions.clone()));
            if let Ok(Some(not)) = Filter::parse(not) {
                for item in [Some(&conditions), None] {
                    assert_ne!(f.matches(item), not.matches(item));
                }
            }
        }
    }
}

const CONTENT_TYPES: [&str; 6] = [
    "text/csv",
    "application/vnd.apache.parquet",
    "application/x-parquet; charset=binary",
    "application/json",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
];
const ENCODINGS: [&str; 4] = ["gzip", "identity", "br", "X-GZIP"];

fn ingest(control: u8, body: &[u8]) {
    // The query string, then after a NUL the Idempotency-Key header's bytes.
    let (query, key) = match body.iter().position(|&b| b == 0) {
        Some(nul) => (&body[..nul], Some(&body[nul + 1..])),
        None => (body, None),
    };
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let mut headers = HeaderMap::new();
    if control & 0x08 != 0 {
        let t = CONTENT_TYPES[usize::from(control & 0x07) % CONTENT_TYPES.len()];
        headers.insert(
            HeaderName::from_static("content-type"),
            HeaderValue::from_static(t),
        );
    }
    if control & 0x10 != 0 {
        let e = ENCODINGS[usize::from(control >> 6)];
        headers.insert(
            HeaderName::from_static("content-encoding"),
            HeaderValue::from_static(e),
        );
    }
    if let Some(value) = key.and_then(|k| HeaderValue::from_bytes(k).ok()) {
        headers.insert(HeaderName::from_static("idempotency-key"), value);
    }
    let name = "t".parse().expect("a valid name");
    let Ok(request) = ingestd::http::parse_request(name, query, &headers) else {
        return;
    };
    if let Some(key) = &request.idempotency_key {
        assert!(!key.is_empty() && key.len() <= 255);
    }
    if let IngestFormat::Csv(options) = &request.format {
        if let Some(d) = options.delimiter {
            assert!(d.is_ascii() && d != 0 && !matches!(d, b'"' | b'\r' | b'\n'));
        }
        if let Some(schema) = &options.schema {
            let text: Vec<String> = schema.iter().map(|(n, t)| format!("{n}:{t}")).collect();
            let again = ingestd::schema::parse_schema_option(&text.join(","));
            assert_eq!(again.as_ref(), Ok(schema), "the schema option's text form");
        }
    } else {
        assert!(!request.gzip, "a gzip Parquet body");
    }
    // The option parser on the query string's decoded schema value alone.
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k == "schema"
            && let Ok(schema) = ingestd::schema::parse_schema_option(&v)
        {
            assert!(!schema.is_empty());
            let names: HashSet<&str> = schema.iter().map(|c| c.0.as_str()).collect();
            assert_eq!(names.len(), schema.len(), "a column named twice");
            assert!(names.iter().all(|n| !n.is_empty() && n.trim() == *n));
        }
    }
}

/// `POST /v1/sql`'s body: the handler's private `SqlRequest`, field for field.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SqlRequest {
    sql: String,
    #[serde(default)]
    format: Option<String>,
}

fn sql(body: &[u8]) {
    if let Ok(request) = serde_json::from_slice::<SqlRequest>(body)
        && let Some(format) = request.format
    {
        let _ = format.parse::<queryd::format::Format>();
    }
}

fuzz_target!(|data: &[u8]| {
    let [route, control, body @ ..] = data else {
        return;
    };
    match route % 6 {
        0 => commit(*control, body),
        1 => create(body),
        2 => add(*control, body),
        3 => search(*control, body),
        4 => ingest(*control, body),
        _ => sql(body),
    }
});
