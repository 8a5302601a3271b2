//! Request bodies, parsed and checked before anything is applied (seed finding O-I3).
//!
//! - [`CreateRequest`] → an [`IndexName`] and [`IndexParams`].
//! - [`AddRequest`] → [`PreparedItem`]s, by [`validate_items`]: the *whole* batch is
//!   checked (ids, vectors, metadata) before the first item is applied, and the first
//!   broken rule is answered as `item {i} (id ..): {reason}`. A prepared item's vector is
//!   the one stored: unit length for `cosine`.
//! - [`SearchRequest`] → a [`Query`], by [`validate_query`].
//!
//! Numbers are read as f64 and must be finite once cast to f32: JSON has no NaN or
//! infinity, but `1e39` parses and overflows an f32 (it is refused, naming the component).

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::distance::{self, Metric};
use crate::error::VectorError;
use crate::filter::Filter;
use crate::hnsw::Metadata;
use crate::name::IndexName;
use crate::params::*;

/// `POST /v1/vectors`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    pub name: String,
    pub dim: usize,
    pub metric: Metric,
    #[serde(default)]
    pub m: Option<usize>,
    #[serde(default)]
    pub ef_construction: Option<usize>,
}

impl CreateRequest {
    pub fn validate(&self) -> Result<(IndexName, IndexParams), VectorError> {
        let name: IndexName = self.name.parse()?;
        let params = IndexParams::new(
            self.dim,
            self.metric,
            self.m.unwrap_or(DEFAULT_M),
            self.ef_construction.unwrap_or(DEFAULT_EF_CONSTRUCTION),
        )
        .map_err(VectorError::BadRequest)?;
        Ok((name, params))
    }
}

/// A vector as sent: its values cast to f32, and the first value that did not fit.
#[derive(Clone, Debug, Default)]
pub struct RawVector {
    values: Vec<f32>,
    first_overflow: Option<(usize, f64)>,
}

impl RawVector {
    pub fn new(values: Vec<f32>) -> RawVector {
        let first_overflow = values
            .iter()
            .position(|x| !x.is_finite())
            .map(|i| (i, f64::from(values[i])));
        RawVector {
            values,
            first_overflow,
        }
    }
}

impl<'de> Deserialize<'de> for RawVector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawVector, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawVector;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of numbers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawVector, A::Error> {
                let mut out = RawVector {
                    values: Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_DIM)),
                    first_overflow: None,
                };
                while let Some(x) = seq.next_element::<f64>()? {
                    let cast = x as f32;
                    if !cast.is_finite() && out.first_overflow.is_none() {
                        out.first_overflow = Some((out.values.len(), x));
                    }
                    out.values.push(cast);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V)
    }
}

/// One item of an add batch, as sent.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawItem {
    pub id: String,
    pub vector: RawVector,
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// `POST /v1/vectors/{name}/add`.
#[derive(Clone, Debug, Default)]
pub struct AddRequest {
    pub items: Vec<RawItem>,
}

/// An item that passed every check: what is logged and inserted.
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedItem {
    pub id: Arc<str>,
    pub vector: Vec<f32>,
    pub metadata: Option<Arc<Metadata>>,
}

/// `POST /v1/vectors/{name}/search`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub vector: RawVector,
    #[serde(default = "default_k")]
    pub k: usize,
    #[serde(default)]
    pub ef: Option<usize>,
    #[serde(default)]
    pub filter: Option<Metadata>,
}

fn default_k() -> usize {
    10
}

/// A checked search.
#[derive(Clone, Debug)]
pub struct Query {
    /// Unit length for `cosine`.
    pub vector: Vec<f32>,
    pub k: usize,
    /// Beam width, at least `k`.
    pub ef: usize,
    pub filter: Option<Filter>,
}

/// Parses an add body; an error inside `items` names the item's position.
pub fn parse_add(body: &[u8]) -> Result<AddRequest, VectorError> {
    let position = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = AddSeed {
        position: &position,
    }
    .deserialize(&mut de)
    .and_then(|items| de.end().map(|()| items));
    parsed.map_err(|e| match position.get() {
        Some(i) => VectorError::item(i, None, e.to_string()),
        None => VectorError::BadRequest(format!("request body: {e}")),
    })
}

/// Parses a body whose errors need no position beyond serde_json's line and column.
pub fn parse_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, VectorError> {
    serde_json::from_slice(body).map_err(|e| VectorError::BadRequest(format!("request body: {e}")))
}

/// `{"items": [...]}`, recording which item is being read.
struct AddSeed<'a> {
    position: &'a Cell<Option<usize>>,
}

impl<'de> DeserializeSeed<'de> for AddSeed<'_> {
    type Value = AddRequest;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<AddRequest, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AddSeed<'_> {
    type Value = AddRequest;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object {\"items\": [...]}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AddRequest, A::Error> {
        let mut items = None;
        while let Some(key) = map.next_key::<String>()? {
            if key != "items" {
                return Err(de::Error::unknown_field(&key, &["items"]));
            }
            if items.is_some() {
                return Err(de::Error::duplicate_field("items"));
            }
            items = Some(map.next_value_seed(ItemsSeed {
                position: self.position,
            })?);
        }
        let items = items.ok_or_else(|| de::Error::missing_field("items"))?;
        Ok(AddRequest { items })
    }
}

struct ItemsSeed<'a> {
    position: &'a Cell<Option<usize>>,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = Vec<RawItem>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<RawItem>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = Vec<RawItem>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of items")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<RawItem>, A::Error> {
        let mut items = Vec::new();
        loop {
            self.position.set(Some(items.len()));
            match seq.next_element::<RawItem>()? {
                Some(item) => items.push(item),
                None => break,
            }
        }
        self.position.set(None);
        Ok(items)
    }
}

/// Checks a vector against the index and prepares it for storage; `Err` is the reason.
fn prepare_vector(params: &IndexParams, raw: RawVector) -> Result<Vec<f32>, String> {
    let RawVector {
        mut values,
        first_overflow,
    } = raw;
    if values.len() != params.dim {
        return Err(format!(
            "vector has {} values; the index's dim is {}",
            values.len(),
            params.dim
        ));
    }
    if let Some((i, x)) = first_overflow {
        return Err(format!(
            "vector[{i}] = {x} is not a finite 32-bit float (NaN, infinite, or beyond ±3.4e38)"
        ));
    }
    match params.metric {
        Metric::Cosine => {
            if distance::normalise(&mut values) == 0.0 {
                return Err("vector has zero norm; cosine needs a direction".into());
            }
        }
        Metric::L2 | Metric::Dot => {
            // Keeps every distance finite: |a·b| <= |a||b| and |a-b|² <= 4·max(|a|²,|b|²).
            let sq = distance::squared_norm(&values);
            if sq > f64::from(f32::MAX) / 4.0 {
                return Err(format!(
                    "vector's squared norm {sq:e} is too large for 32-bit distances (limit {:e})",
                    f64::from(f32::MAX) / 4.0
                ));
            }
        }
    }
    Ok(values)
}

pub(crate) fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("id is empty".into());
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "id is {} bytes long; the limit is {MAX_ID_BYTES}",
            id.len()
        ));
    }
    if let Some(c) = id.chars().find(|c| c.is_control()) {
        return Err(format!(
            "id contains a control character (U+{:04X})",
            c as u32
        ));
    }
    Ok(())
}

/// Counts serialised bytes without keeping them.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) fn check_metadata(value: Option<Value>) -> Result<Option<Arc<Metadata>>, String> {
    let map = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(map)) => map,
        Some(other) => {
            let kind = match other {
                Value::Bool(_) => "boolean",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                _ => "array",
            };
            return Err(format!("metadata must be a JSON object, not a {kind}"));
        }
    };
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, &map).map_err(|e| format!("metadata: {e}"))?;
    if counter.0 > MAX_METADATA_BYTES {
        return Err(format!(
            "metadata is {} bytes of JSON; the limit is {MAX_METADATA_BYTES}",
            counter.0
        ));
    }
    Ok(Some(Arc::new(map)))
}

/// Checks the whole batch; the first broken rule is the error and nothing is prepared.
pub fn validate_items(
    params: &IndexParams,
    items: Vec<RawItem>,
) -> Result<Vec<PreparedItem>, VectorError> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        check_id(&item.id).map_err(|r| VectorError::item(i, None, r))?;
        if item.id == "." || item.id == ".." {
            // Such an item could never be deleted: URL paths resolve dot segments.
            return Err(VectorError::item(
                i,
                None,
                format!("id {:?} cannot be named in a URL path", item.id),
            ));
        }
        if let Some(first) = seen.insert(&item.id, i) {
            return Err(VectorError::item(
                i,
                Some(&item.id),
                format!("id repeats item {first} of this batch"),
            ));
        }
    }
    drop(seen);
    let mut prepared = Vec::with_capacity(items.len());
    for (
        i,
        RawItem {
            id,
            vector,
            metadata,
        },
    ) in items.into_iter().enumerate()
    {
        let fail = |reason: String| VectorError::item(i, Some(&id), reason);
        let vector = prepare_vector(params, vector).map_err(fail)?;
        let metadata = check_metadata(metadata).map_err(fail)?;
        prepared.push(PreparedItem {
            id: Arc::from(id),
            vector,
            metadata,
        });
    }
    Ok(prepared)
}

/// Checks a search against the index.
pub fn validate_query(params: &IndexParams, request: SearchRequest) -> Result<Query, VectorError> {
    let SearchRequest {
        vector,
        k,
        ef,
        filter,
    } = request;
    let vector = prepare_vector(params, vector).map_err(VectorError::InvalidQuery)?;
    if k == 0 || k > MAX_K {
        return Err(VectorError::InvalidQuery(format!(
            "k must be between 1 and {MAX_K}, not {k}"
        )));
    }
    let ef = match ef {
        Some(ef) if ef == 0 || ef > MAX_EF => {
            return Err(VectorError::InvalidQuery(format!(
                "ef must be between 1 and {MAX_EF}, not {ef}"
            )));
        }
        Some(ef) => ef.max(k),
        None => DEFAULT_EF.max(k),
    };
    let filter = match filter {
        Some(conditions) => Filter::parse(conditions).map_err(VectorError::InvalidQuery)?,
        None => None,
    };
    Ok(Query {
        vector,
        k,
        ef,
        filter,
    })
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
