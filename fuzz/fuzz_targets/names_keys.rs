//! Object keys, LIST prefixes, dataset and index names, and the `Host` check, on
//! arbitrary text:
//!
//! - a key that parses is canonical: parsing its text again, or its `object_store` path,
//!   gives it back; its segments decode to the input's segments and break no rule
//!   (non-empty, not `.` or `..`, no control character, at most 1,024 bytes);
//! - the storaged handlers read the same key from a request URI, and the same prefix from
//!   `?prefix=` as axum extracts it;
//! - a name passes exactly when it matches `[A-Za-z_][A-Za-z0-9_]{0,62}`, in every wrapper
//!   (`DatasetName`, `IndexName`, their JSON form); the keys built from it need no escaping,
//!   and the prefixes of one name never match the keys of another;
//! - a `Host` the browser check lets in is never a domain name (other than `localhost`) to
//!   a browser's URL parser: a DNS-rebinding name cannot pass as an address;
//! - nothing panics.
//!
//! Input: text (invalid UTF-8 is replaced); a NUL byte splits off a second name.

#![no_main]

use std::str::FromStr;

use axum::http::Uri;
use catalogd::DatasetName;
use common::browser::BrowserPolicy;
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;
use storaged::key::MAX_KEY_BYTES;
use storaged::{KeyPrefix, ObjectKey};
use vectord::IndexName;

fn decoded(segment: &str) -> Option<String> {
    percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

fn keys(text: &str) {
    let key = ObjectKey::parse(text);
    if let Ok(key) = &key {
        let canonical = key.as_str();
        assert_eq!(
            ObjectKey::parse(canonical).as_ref(),
            Ok(key),
            "not idempotent"
        );
        assert_eq!(ObjectKey::from_path(&key.to_path()).as_ref(), Ok(key));
        assert!(canonical.len() <= MAX_KEY_BYTES);
        let mine: Vec<String> = canonical.split('/').map(|s| decoded(s).unwrap()).collect();
        let theirs: Vec<String> = text.split('/').map(|s| decoded(s).unwrap()).collect();
        assert_eq!(mine, theirs, "the segments changed");
        for segment in &mine {
            assert!(!segment.is_empty() && segment != "." && segment != "..");
            assert!(!segment.chars().any(char::is_control));
        }
        for segment in canonical.split('/') {
            // Only `%` and `/` are escaped, and always so.
            let rest = segment.replace("%25", "").replace("%2F", "");
            assert!(!rest.contains('%'), "an unexpected escape in {segment:?}");
        }
    }
    if let Ok(prefix) = KeyPrefix::parse(text) {
        assert_eq!(KeyPrefix::parse(prefix.as_str()).as_ref(), Ok(&prefix));
        let _ = prefix.directory();
        if let Ok(key) = &key {
            assert_eq!(prefix.as_str(), key.as_str(), "a key's text as a prefix");
            assert!(prefix.matches(key.as_str()));
        }
    }
}

fn uris(data: &[u8]) {
    let mut path = b"/v1/storage/".to_vec();
    path.extend_from_slice(data);
    if let Ok(uri) = Uri::try_from(path) {
        let raw = uri.path().strip_prefix("/v1/storage/").unwrap_or_default();
        let by_handler = storaged::fuzzing::key_of(&uri).map(|k| k.as_str().to_string());
        let by_parse = ObjectKey::parse(raw).map(|k| k.as_str().to_string());
        assert_eq!(by_handler.ok(), by_parse.ok());
    }
    let mut list = b"/v1/storage?".to_vec();
    list.extend_from_slice(data);
    if let Ok(uri) = Uri::try_from(list)
        && let Ok(prefix) = storaged::fuzzing::list_prefix(&uri)
    {
        let query = uri.query().unwrap_or("");
        let values: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == "prefix")
            .map(|(_, v)| v.into_owned())
            .collect();
        match values.as_slice() {
            [] => assert_eq!(prefix.as_str(), ""),
            [value] => assert_eq!(KeyPrefix::parse(value).as_ref(), Ok(&prefix)),
            more => panic!("{} prefix values gave {prefix:?}", more.len()),
        }
    }
}

fn matches_rule(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && text.len() <= common::name::MAX_NAME_LEN
}

/// Checks `text` as a name; its dataset name when it is one.
fn names(text: &str) -> Option<DatasetName> {
    let valid = matches_rule(text);
    assert_eq!(common::name::rule_broken("a name", text).is_none(), valid);
    let dataset = DatasetName::from_str(text);
    let index = IndexName::from_str(text);
    assert_eq!(dataset.is_ok(), valid);
    assert_eq!(index.is_ok(), valid);
    let json = serde_json::to_string(text).expect("a string serialises");
    assert_eq!(serde_json::from_str::<DatasetName>(&json).is_ok(), valid);
    assert_eq!(serde_json::from_str::<IndexName>(&json).is_ok(), valid);
    let (Ok(dataset), Ok(index)) = (dataset, index) else {
        return None;
    };
    assert_eq!(serde_json::to_string(&dataset).unwrap(), json);
    // Keys built from a name are their text: nothing to escape.
    let manifest = catalogd::manifest_key(&dataset).expect("a name makes a key");
    assert_eq!(manifest.as_str(), format!("_catalog/{text}.json"));
    let part = format!("datasets/{text}/v1/part-00000.parquet");
    assert_eq!(ObjectKey::parse(&part).unwrap().as_str(), part);
    let snapshot = vectord::persist::index_key(&index).expect("a name makes a key");
    assert_eq!(snapshot.as_str(), format!("_vectors/{text}.lhv1"));
    Some(dataset)
}

/// The prefixes of one name never take the keys of another.
fn apart(a: &DatasetName, b: &DatasetName) {
    if a == b {
        return;
    }
    let data = catalogd::data_prefix(a).unwrap();
    assert!(!data.matches(&format!("datasets/{b}/v1/part-00000.parquet")));
    let (ia, ib) = (
        IndexName::from_str(a.as_str()).unwrap(),
        IndexName::from_str(b.as_str()).unwrap(),
    );
    let log = vectord::persist::log_dir(&ia).unwrap();
    let theirs = vectord::persist::log_key(&ib, "00000000000000aa", 1).unwrap();
    assert!(!log.matches(theirs.as_str()), "{log:?} takes {theirs}");
    assert!(!log.matches(vectord::persist::index_key(&ib).unwrap().as_str()));
    let mine = vectord::persist::log_key(&ia, "00000000000000aa", 1).unwrap();
    assert!(log.matches(mine.as_str()));
}

fn hosts(text: &str) {
    if !BrowserPolicy::default().host_allowed(text) {
        return;
    }
    // Only what a browser sends: the host (and port) of a URL, as its URL parser writes
    // them.
    let Ok(url) = url::Url::parse(&format!("http://{text}/")) else {
        return;
    };
    let sent = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => return,
    };
    if !sent.eq_ignore_ascii_case(text) {
        return;
    }
    if let Some(url::Host::Domain(domain)) = url.host() {
        assert_eq!(
            domain, "localhost",
            "Host {text:?} passes as an address, but a browser resolves {domain:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    keys(&text);
    uris(data);
    hosts(&text);
    let mut parts = text.splitn(2, '\0');
    let first = names(parts.next().unwrap_or(""));
    if let Some(second) = parts.next()
        && let (Some(a), Some(b)) = (first, names(second))
    {
        apart(&a, &b);
        apart(&b, &a);
    }
});
