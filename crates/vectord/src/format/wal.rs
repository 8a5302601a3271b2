//! `LHVW`: one write-ahead log record, `_vectors/{name}.log/{incarnation}/{seq:020}.lhvw` —
//! the frame of [`super::frame`] with magic `LHVW`, a [`LogEnvelope`], and a body:
//!
//! ```text
//! upsert: items × { u16 id_len, id (UTF-8), u32 meta_len, meta (JSON object; 0 = none), dim × f32 }
//! delete: items × { u16 id_len, id }
//! ```
//!
//! (little-endian). Vectors are stored as applied (unit length for cosine), bit for bit,
//! so replaying a record inserts exactly what was acknowledged.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::FormatError;
use super::bytes::{Put, Reader};
use super::frame::{self, BodyDigest};
use crate::params::{MAX_DIM, MAX_METADATA_BYTES};
use crate::validate::{PreparedItem, check_id};

pub const MAGIC: &[u8; 4] = b"LHVW";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Upsert,
    Delete,
}

/// The JSON envelope of a log record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEnvelope {
    pub format_version: u32,
    pub index: String,
    pub incarnation: String,
    pub seq: u64,
    pub op: Op,
    pub items: u64,
    pub dim: usize,
    pub body: BodyDigest,
}

/// What a record asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Upsert(Vec<PreparedItem>),
    Delete(Vec<Arc<str>>),
}

/// Where a record belongs: its index, incarnation and sequence number.
#[derive(Clone, Debug)]
pub struct RecordKey<'a> {
    pub index: &'a str,
    pub incarnation: &'a str,
    pub seq: u64,
}

/// A whole record file.
pub fn encode(key: &RecordKey<'_>, dim: usize, record: &Record) -> Vec<u8> {
    let mut body = Vec::new();
    let (op, items) = match record {
        Record::Upsert(items) => {
            body.reserve(items.len() * (dim * 4 + 16));
            for item in items {
                put_id(&mut body, &item.id);
                let meta = match &item.metadata {
                    Some(m) => serde_json::to_vec(&**m).unwrap_or_default(),
                    None => Vec::new(),
                };
                body.put_u32(meta.len() as u32);
                body.extend_from_slice(&meta);
                body.put_f32s(&item.vector);
            }
            (Op::Upsert, items.len())
        }
        Record::Delete(ids) => {
            for id in ids {
                put_id(&mut body, id);
            }
            (Op::Delete, ids.len())
        }
    };
    let envelope = LogEnvelope {
        format_version: FORMAT_VERSION,
        index: key.index.to_string(),
        incarnation: key.incarnation.to_string(),
        seq: key.seq,
        op,
        items: items as u64,
        dim,
        body: BodyDigest::of(&body),
    };
    let json = serde_json::to_vec(&envelope).unwrap_or_default();
    let mut out = frame::header(MAGIC, &json);
    out.extend_from_slice(&body);
    out
}

fn put_id(out: &mut Vec<u8>, id: &str) {
    // Ids were checked to be at most 256 bytes.
    out.put_u16(id.len() as u16);
    out.extend_from_slice(id.as_bytes());
}

/// Decodes a record of an index of dimension `dim`.
pub fn decode(bytes: &[u8], dim: usize) -> Result<(LogEnvelope, Record), FormatError> {
    let framed = frame::split("LHVW", MAGIC, bytes)?;
    let envelope: LogEnvelope = frame::envelope(framed.envelope, FORMAT_VERSION)?;
    if envelope.dim != dim {
        return Err(FormatError::BadEnvelope(format!(
            "the record is for dim {}, the index has dim {dim}",
            envelope.dim
        )));
    }
    envelope.body.check(framed.body)?;
    let record = decode_body(&envelope, framed.body)?;
    Ok((envelope, record))
}

/// Decodes a record's body as its envelope describes it (`decode` checks the digest
/// first; public so the fuzzer can reach the body, whose digest it cannot forge).
pub fn decode_body(envelope: &LogEnvelope, body: &[u8]) -> Result<Record, FormatError> {
    let dim = envelope.dim;
    if dim == 0 || dim > MAX_DIM {
        return Err(FormatError::BadEnvelope(format!(
            "dim {dim} is outside 1..={MAX_DIM}"
        )));
    }
    let mut r = Reader::new(body);
    let min_item = match envelope.op {
        Op::Upsert => 2 + 1 + 4 + dim * 4,
        Op::Delete => 2 + 1,
    };
    let items = envelope.items;
    if items.saturating_mul(min_item as u64) > r.remaining() as u64 {
        return Err(r.error(format!(
            "{items} items need at least {min_item} bytes each but the body has {}",
            r.remaining()
        )));
    }
    let record = match envelope.op {
        Op::Upsert => {
            let mut out = Vec::with_capacity(items as usize);
            for i in 0..items {
                out.push(read_item(&mut r, i, dim)?);
            }
            Record::Upsert(out)
        }
        Op::Delete => {
            let mut out = Vec::with_capacity(items as usize);
            for i in 0..items {
                out.push(read_id(&mut r, i)?);
            }
            Record::Delete(out)
        }
    };
    r.finish("record")?;
    Ok(record)
}

fn read_id(r: &mut Reader<'_>, item: u64) -> Result<Arc<str>, FormatError> {
    let len = usize::from(r.u16("an id length")?);
    let at = r.offset();
    let id = r.str(len, "an id")?;
    check_id(id).map_err(|e| r.error_at(at, format!("item {item}: {e}")))?;
    Ok(Arc::from(id))
}

fn read_item(r: &mut Reader<'_>, item: u64, dim: usize) -> Result<PreparedItem, FormatError> {
    let id = read_id(r, item)?;
    let at = r.offset();
    let len = r.u32("a metadata length")? as usize;
    if len > MAX_METADATA_BYTES {
        return Err(r.error_at(
            at,
            format!("item {item} has {len} bytes of metadata; the most is {MAX_METADATA_BYTES}"),
        ));
    }
    let metadata = if len == 0 {
        None
    } else {
        match serde_json::from_slice::<Value>(r.bytes(len, "metadata")?) {
            Ok(Value::Object(map)) => Some(Arc::new(map)),
            Ok(_) => {
                return Err(r.error_at(
                    at + 4,
                    format!("item {item}'s metadata is not a JSON object"),
                ));
            }
            Err(e) => {
                return Err(r.error_at(at + 4, format!("item {item}'s metadata is not JSON: {e}")));
            }
        }
    };
    let at = r.offset();
    let mut vector = Vec::with_capacity(dim);
    r.f32s(dim, &mut vector, "a vector")?;
    if let Some(i) = vector.iter().position(|x| !x.is_finite()) {
        return Err(r.error_at(
            at + 4 * i,
            format!("item {item}'s vector[{i}] is not finite"),
        ));
    }
    Ok(PreparedItem {
        id,
        vector,
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key() -> RecordKey<'static> {
        RecordKey {
            index: "docs",
            incarnation: "abc",
            seq: 7,
        }
    }

    #[test]
    fn records_round_trip_bit_for_bit() {
        let meta = match json!({"lang": "en", "n": 1.5}) {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let items = vec![
            PreparedItem {
                id: "a".into(),
                vector: vec![0.1, -0.0, f32::MIN_POSITIVE],
                metadata: Some(Arc::new(meta)),
            },
            PreparedItem {
                id: "ü".into(),
                vector: vec![1.0, 2.0, 3.0],
                metadata: None,
            },
        ];
        let bytes = encode(&key(), 3, &Record::Upsert(items.clone()));
        let (env, record) = decode(&bytes, 3).unwrap();
        assert_eq!((env.seq, env.op, env.items), (7, Op::Upsert, 2));
        match record {
            Record::Upsert(got) => {
                assert_eq!(got, items);
                assert_eq!(got[0].vector[1].to_bits(), (-0.0f32).to_bits());
            }
            other => panic!("{other:?}"),
        }
        let bytes = encode(&key(), 3, &Record::Delete(vec!["a".into()]));
        assert_eq!(
            decode(&bytes, 3).unwrap().1,
            Record::Delete(vec!["a".into()])
        );
    }

    #[test]
    fn damaged_records_are_refused() {
        let bytes = encode(&key(), 2, &Record::Delete(vec!["x".into()]));
        assert!(
            matches!(decode(&bytes, 3), Err(FormatError::BadEnvelope(m)) if m.contains("dim 2"))
        );
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(
            decode(&flipped, 2),
            Err(FormatError::ChecksumMismatch { .. })
        ));
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], 2).is_err(), "cut at {cut}");
        }
    }
}
