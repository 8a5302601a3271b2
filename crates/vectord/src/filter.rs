//! [`Filter`]: a search's `"filter": {"field": value, ...}` — equality on metadata fields.
//!
//! An item matches when its metadata has every field of the filter with an equal value.
//! Equality is JSON equality with one refinement: numbers compare by value, so `1`, `1.0`
//! and `1e0` are equal. A missing field matches nothing, not even `null`; arrays and
//! objects compare element by element with the same rule.

use serde_json::Value;

use crate::hnsw::Metadata;

/// Equality conditions on metadata fields, all of which must hold.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    fields: Vec<(String, Value)>,
}

impl Filter {
    /// `None` for an empty object (no condition: every item matches).
    pub fn new(conditions: Metadata) -> Option<Filter> {
        (!conditions.is_empty()).then(|| Filter {
            fields: conditions.into_iter().collect(),
        })
    }

    pub fn matches(&self, metadata: Option<&Metadata>) -> bool {
        let Some(metadata) = metadata else {
            return false;
        };
        self.fields.iter().all(|(field, want)| {
            metadata
                .get(field)
                .is_some_and(|have| json_equal(have, want))
        })
    }
}

/// JSON equality with numbers compared by value.
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                matches!((x.as_f64(), y.as_f64()), (Some(x), Some(y)) if x == y)
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn filter(v: Value) -> Filter {
        match v {
            Value::Object(map) => Filter::new(map).unwrap(),
            _ => unreachable!(),
        }
    }

    fn meta(v: Value) -> Metadata {
        match v {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn every_field_must_be_present_and_equal() {
        let f = filter(json!({"lang": "en", "year": 2024}));
        assert!(f.matches(Some(&meta(json!({"lang": "en", "year": 2024, "x": 1})))));
        assert!(f.matches(Some(&meta(json!({"lang": "en", "year": 2024.0})))));
        assert!(!f.matches(Some(&meta(json!({"lang": "en"})))));
        assert!(!f.matches(Some(&meta(json!({"lang": "fr", "year": 2024})))));
        assert!(!f.matches(None));
        assert!(!filter(json!({"x": null})).matches(Some(&meta(json!({})))));
        assert!(filter(json!({"x": null})).matches(Some(&meta(json!({"x": null})))));
        assert!(
            filter(json!({"t": [1, {"a": 2.0}]}))
                .matches(Some(&meta(json!({"t": [1.0, {"a": 2}]}))))
        );
        assert!(!filter(json!({"n": "1"})).matches(Some(&meta(json!({"n": 1})))));
        assert!(Filter::new(Metadata::new()).is_none());
    }
}
