//! [`Filter`]: a search's `"filter"`, conditions on the items' metadata fields.
//!
//! ```text
//! {"lang": "en"}                          equality
//! {"year": {"$gte": 2020, "$lt": 2025}}   every operator of a field holds
//! {"tag": {"$in": ["a", "b"]}}            one of
//! {"lang": "en", "year": {"$ne": 2021}}   every field holds
//! {"$or": [{"lang": "en"}, {"year": 2024}]}, {"$and": [...]}, {"$not": {...}}
//! ```
//!
//! Field operators: `$eq`, `$ne`, `$gt`, `$gte`, `$lt`, `$lte`, `$in`, `$nin`, `$exists`.
//! Equality is JSON equality with one refinement: numbers compare by value, so `1`, `1.0`
//! and `1e0` are equal; arrays and objects compare element by element with the same rule.
//! Ranges compare numbers by value and strings by their bytes (so ISO dates order as
//! dates); a value of another type is outside every range. A field the item lacks matches
//! no condition but `{"$exists": false}` (so `$ne` and `$nin` keep only items that have
//! the field), as a SQL comparison with NULL is not true. An object whose keys all start
//! with `$` is a set of operators; equality with such an object is written
//! `{"$eq": {...}}`.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::hnsw::Metadata;

/// Nesting of `$and`, `$or`, `$not` a filter may have.
pub const MAX_DEPTH: usize = 16;
/// Conditions (objects, field operators, `$in` elements) a filter may hold.
pub const MAX_CONDITIONS: usize = 4096;

/// Conditions on metadata fields; an item matches when they hold.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    root: Condition,
}

#[derive(Clone, Debug, PartialEq)]
enum Condition {
    Field(String, Test),
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
}

#[derive(Clone, Debug, PartialEq)]
enum Test {
    Eq(Value),
    Ne(Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    /// The field's value compared with the bound is one of the orderings.
    Range(Value, [Option<Ordering>; 2]),
    Exists(bool),
}

const OPERATORS: &str = "$eq, $ne, $gt, $gte, $lt, $lte, $in, $nin, $exists";

impl Filter {
    /// Parses a search's filter; `None` for an empty object (every item matches). The error
    /// says what is wrong and where.
    pub fn parse(conditions: Metadata) -> Result<Option<Filter>, String> {
        if conditions.is_empty() {
            return Ok(None);
        }
        let mut count = 0;
        let root = parse_object(conditions, 0, &mut count)?;
        Ok(Some(Filter { root }))
    }

    pub fn matches(&self, metadata: Option<&Metadata>) -> bool {
        self.root.holds(metadata)
    }
}

fn parse_object(
    object: Map<String, Value>,
    depth: usize,
    count: &mut usize,
) -> Result<Condition, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "filter: nests $and, $or and $not more than {MAX_DEPTH} deep"
        ));
    }
    // Each object counts, so empty ones and `$and`/`$or`/`$not` nodes are bounded too.
    charge(count, 1)?;
    let mut all = Vec::with_capacity(object.len());
    for (key, value) in object {
        all.push(match key.as_str() {
            "$and" | "$or" => {
                let Value::Array(items) = value else {
                    return Err(format!("filter: {key} takes an array of filters, not {}", kind(&value)));
                };
                if items.is_empty() {
                    return Err(format!("filter: {key} takes at least one filter"));
                }
                let parts = items
                    .into_iter()
                    .map(|item| match item {
                        Value::Object(object) => parse_object(object, depth + 1, count),
                        other => Err(format!("filter: {key} takes filters (objects), not {}", kind(&other))),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if key == "$and" { Condition::And(parts) } else { Condition::Or(parts) }
            }
            "$not" => match value {
                Value::Object(object) if object.is_empty() => {
                    return Err("filter: $not takes a filter, not an empty object".to_string());
                }
                Value::Object(object) => {
                    Condition::Not(Box::new(parse_object(object, depth + 1, count)?))
                }
                other => return Err(format!("filter: $not takes a filter (an object), not {}", kind(&other))),
            },
            op if op.starts_with('$') => {
                return Err(format!(
                    "filter: unknown operator {op:?} in place of a field (known there: $and, $or, $not; on a field: {OPERATORS})"
                ));
            }
            _ => parse_field(key, value, count)?,
        });
    }
    Ok(match all.len() {
        1 => all.pop().expect("one"),
        _ => Condition::And(all),
    })
}

fn parse_field(field: String, value: Value, count: &mut usize) -> Result<Condition, String> {
    let operators = match value {
        Value::Object(object)
            if !object.is_empty() && object.keys().any(|k| k.starts_with('$')) =>
        {
            if let Some(plain) = object.keys().find(|k| !k.starts_with('$')) {
                return Err(format!(
                    "filter: field {field:?} mixes operators and plain keys ({plain:?}); equality with an object whose keys start with $ is written {{\"$eq\": {{...}}}}"
                ));
            }
            object
        }
        value => {
            charge(count, 1)?;
            return Ok(Condition::Field(field, Test::Eq(value)));
        }
    };
    let mut tests = Vec::with_capacity(operators.len());
    for (op, operand) in operators {
        charge(count, 1)?;
        let range = |orderings: [Option<Ordering>; 2]| match &operand {
            Value::Number(_) | Value::String(_) => Ok(Test::Range(operand.clone(), orderings)),
            other => Err(format!(
                "filter: {op} on field {field:?} takes a number or a string, not {}",
                kind(other)
            )),
        };
        tests.push(match op.as_str() {
            "$eq" => Test::Eq(operand),
            "$ne" => Test::Ne(operand),
            "$gt" => range([Some(Ordering::Greater), None])?,
            "$gte" => range([Some(Ordering::Greater), Some(Ordering::Equal)])?,
            "$lt" => range([Some(Ordering::Less), None])?,
            "$lte" => range([Some(Ordering::Less), Some(Ordering::Equal)])?,
            "$in" | "$nin" => {
                let Value::Array(values) = operand else {
                    return Err(format!(
                        "filter: {op} on field {field:?} takes an array of values, not {}",
                        kind(&operand)
                    ));
                };
                charge(count, values.len())?;
                if op == "$in" {
                    Test::In(values)
                } else {
                    Test::Nin(values)
                }
            }
            "$exists" => match operand {
                Value::Bool(b) => Test::Exists(b),
                other => {
                    return Err(format!(
                        "filter: $exists on field {field:?} takes true or false, not {}",
                        kind(&other)
                    ));
                }
            },
            _ => {
                return Err(format!(
                    "filter: unknown operator {op:?} on field {field:?} (known: {OPERATORS})"
                ));
            }
        });
    }
    let mut conditions: Vec<Condition> = tests
        .into_iter()
        .map(|t| Condition::Field(field.clone(), t))
        .collect();
    Ok(match conditions.len() {
        1 => conditions.pop().expect("one"),
        _ => Condition::And(conditions),
    })
}

fn charge(count: &mut usize, n: usize) -> Result<(), String> {
    *count = count.saturating_add(n);
    match *count > MAX_CONDITIONS {
        true => Err(format!(
            "filter: holds more than {MAX_CONDITIONS} conditions"
        )),
        false => Ok(()),
    }
}

/// How an error names a JSON value's type.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Condition {
    fn holds(&self, metadata: Option<&Metadata>) -> bool {
        match self {
            Condition::And(all) => all.iter().all(|c| c.holds(metadata)),
            Condition::Or(any) => any.iter().any(|c| c.holds(metadata)),
            Condition::Not(c) => !c.holds(metadata),
            Condition::Field(field, test) => {
                let have = metadata.and_then(|m| m.get(field));
                match (test, have) {
                    (Test::Exists(want), have) => have.is_some() == *want,
                    (_, None) => false,
                    (Test::Eq(want), Some(have)) => json_equal(have, want),
                    (Test::Ne(want), Some(have)) => !json_equal(have, want),
                    (Test::In(values), Some(have)) => values.iter().any(|v| json_equal(have, v)),
                    (Test::Nin(values), Some(have)) => !values.iter().any(|v| json_equal(have, v)),
                    (Test::Range(bound, orderings), Some(have)) => {
                        compare(have, bound).is_some_and(|o| orderings.contains(&Some(o)))
                    }
                }
            }
        }
    }
}

/// Orders two numbers by value or two strings by their bytes; `None` for anything else.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                Some(x.cmp(&y))
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                Some(x.cmp(&y))
            } else {
                x.as_f64()?.partial_cmp(&y.as_f64()?)
            }
        }
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

/// JSON equality with numbers compared by value.
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => compare(a, b) == Some(Ordering::Equal),
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

    fn parse(v: Value) -> Result<Option<Filter>, String> {
        match v {
            Value::Object(map) => Filter::parse(map),
            _ => unreachable!(),
        }
    }

    fn filter(v: Value) -> Filter {
        parse(v).unwrap().unwrap()
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
        assert!(filter(json!({"o": {}})).matches(Some(&meta(json!({"o": {}})))));
        assert!(parse(json!({})).unwrap().is_none());
    }

    #[test]
    fn ranges_compare_numbers_by_value_and_strings_by_bytes() {
        let years = filter(json!({"year": {"$gte": 2020, "$lt": 2024.5}}));
        for (year, holds) in [
            (json!(2019), false),
            (json!(2020), true),
            (json!(2020.0), true),
            (json!(2024), true),
            (json!(2024.5), false),
            (json!(u64::MAX), false),
            (json!("2021"), false),
            (json!(null), false),
        ] {
            assert_eq!(
                years.matches(Some(&meta(json!({"year": year})))),
                holds,
                "{year}"
            );
        }
        assert!(!years.matches(Some(&meta(json!({})))));
        let dates = filter(json!({"day": {"$gt": "2024-01-31", "$lte": "2024-02-29"}}));
        assert!(dates.matches(Some(&meta(json!({"day": "2024-02-01"})))));
        assert!(dates.matches(Some(&meta(json!({"day": "2024-02-29"})))));
        assert!(!dates.matches(Some(&meta(json!({"day": "2024-01-31"})))));
        assert!(!dates.matches(Some(&meta(json!({"day": 20240201})))));
        let big = filter(json!({"n": {"$gt": i64::MAX}}));
        assert!(big.matches(Some(&meta(json!({"n": u64::MAX})))));
        assert!(!big.matches(Some(&meta(json!({"n": -1})))));
    }

    #[test]
    fn sets_negations_and_presence() {
        let tag = filter(json!({"tag": {"$in": ["a", 2]}}));
        assert!(tag.matches(Some(&meta(json!({"tag": "a"})))));
        assert!(tag.matches(Some(&meta(json!({"tag": 2.0})))));
        assert!(!tag.matches(Some(&meta(json!({"tag": "b"})))));
        assert!(!filter(json!({"tag": {"$in": []}})).matches(Some(&meta(json!({"tag": "a"})))));
        let not_in = filter(json!({"tag": {"$nin": ["a"]}}));
        assert!(not_in.matches(Some(&meta(json!({"tag": "b"})))));
        assert!(!not_in.matches(Some(&meta(json!({"tag": "a"})))));
        assert!(
            !not_in.matches(Some(&meta(json!({})))),
            "a missing field matches nothing"
        );
        let ne = filter(json!({"lang": {"$ne": "en"}}));
        assert!(ne.matches(Some(&meta(json!({"lang": "fr"})))));
        assert!(!ne.matches(Some(&meta(json!({"lang": "en"})))));
        assert!(!ne.matches(None));
        assert!(filter(json!({"x": {"$exists": false}})).matches(None));
        assert!(filter(json!({"x": {"$exists": true}})).matches(Some(&meta(json!({"x": null})))));
        let eq_object = filter(json!({"o": {"$eq": {"$gt": 1}}}));
        assert!(eq_object.matches(Some(&meta(json!({"o": {"$gt": 1}})))));
    }

    #[test]
    fn conjunctions_disjunctions_and_negation() {
        let f = filter(json!({
            "$or": [{"lang": "en"}, {"year": {"$gte": 2024}}],
            "$not": {"tag": "spam"},
            "$and": [{"score": {"$gt": 0.5}}, {"score": {"$lte": 1}}],
        }));
        let item = |lang: &str, year: i64, tag: &str, score: f64| {
            meta(json!({"lang": lang, "year": year, "tag": tag, "score": score}))
        };
        assert!(f.matches(Some(&item("en", 2000, "ok", 0.7))));
        assert!(f.matches(Some(&item("fr", 2024, "ok", 1.0))));
        assert!(!f.matches(Some(&item("fr", 2023, "ok", 0.7))));
        assert!(!f.matches(Some(&item("en", 2000, "spam", 0.7))));
        assert!(!f.matches(Some(&item("en", 2000, "ok", 0.5))));
        assert!(filter(json!({"$not": {"tag": "spam"}})).matches(None));
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        for (bad, says) in [
            (
                json!({"year": {"$gte": null}}),
                "$gte on field \"year\" takes a number or a string, not null",
            ),
            (
                json!({"year": {"$between": [1, 2]}}),
                "unknown operator \"$between\" on field \"year\"",
            ),
            (
                json!({"year": {"$gt": 1, "b": 2}}),
                "mixes operators and plain keys (\"b\")",
            ),
            (
                json!({"tag": {"$in": "a"}}),
                "$in on field \"tag\" takes an array of values, not a string",
            ),
            (
                json!({"x": {"$exists": 1}}),
                "$exists on field \"x\" takes true or false",
            ),
            (
                json!({"$or": {"a": 1}}),
                "$or takes an array of filters, not an object",
            ),
            (json!({"$and": []}), "$and takes at least one filter"),
            (
                json!({"$or": [1]}),
                "$or takes filters (objects), not a number",
            ),
            (
                json!({"$not": {}}),
                "$not takes a filter, not an empty object",
            ),
            (
                json!({"$nor": []}),
                "unknown operator \"$nor\" in place of a field",
            ),
        ] {
            let error = parse(bad.clone()).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
        let mut deep = json!({"a": 1});
        for _ in 0..=MAX_DEPTH {
            deep = json!({"$not": deep});
        }
        assert!(parse(deep).unwrap_err().contains("more than 16 deep"));
        let nodes: Vec<Value> = (0..MAX_CONDITIONS)
            .map(|_| json!({"$not": {"$and": [{}]}}))
            .collect();
        assert!(
            parse(json!({"$or": nodes}))
                .unwrap_err()
                .contains("more than 4096 conditions")
        );
        let many: Vec<u32> = (0..MAX_CONDITIONS as u32).collect();
        assert!(
            parse(json!({"a": {"$in": many}}))
                .unwrap_err()
                .contains("more than 4096 conditions")
        );
    }
}
