//! `LHV1`: one index snapshot, `_vectors/{name}.lhv1` — the Go system's framed format
//! ([`super::frame`], magic `LHV1`) with an [`Envelope`] and the graph bytes below.
//!
//! Graph bytes, version 1 (all integers little-endian; `N` nodes, `dim` from the envelope,
//! `m0 = 2m`):
//!
//! ```text
//! u32 N                     nodes, tombstones included (at most 2^31)
//! u32 entry                 entry-point node, 0xFFFFFFFF when N = 0
//! N × dim × f32             every node's vector, node 0 first (unit length for cosine)
//! N × node record:
//!   u8  state               1 = live, 2 = tombstone (deleted or replaced; routes only)
//!   u8  level               0..=31
//!   u16 id_len, id          UTF-8; 1..=256 bytes when live, 0 for a tombstone
//!   u32 meta_len, meta      compact JSON object, ≤ 64 KiB; 0 = no metadata (always 0 for a tombstone)
//!   (level + 1) × list:     layer 0 first
//!     u16 count             ≤ m0 on layer 0, ≤ m above
//!     count × u32           neighbour nodes: < N, never the node itself, of level ≥ the layer
//! ```
//!
//! The entry point's level is the highest level of any node. Nothing may follow the last
//! record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::FormatError;
use super::bytes::{Put, Reader};
use super::frame::{self, BodyDigest};
use std::sync::Arc;

use crate::hnsw::{DELETED, Graph, IdMap, LIVE, MAX_LEVEL, MAX_NODES, Metadata, Repeated};
use crate::params::{IndexParams, MAX_METADATA_BYTES};
use crate::validate::check_id;

pub const MAGIC: &[u8; 4] = b"LHV1";
pub const FORMAT_VERSION: u32 = 1;
const NO_ENTRY: u32 = u32::MAX;
/// The fewest bytes a node takes in the graph bytes besides its vector: state, level,
/// id length, metadata length, layer-0 count.
const MIN_RECORD: usize = 1 + 1 + 2 + 4 + 2;

/// The JSON envelope of a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub format_version: u32,
    pub name: String,
    pub params: IndexParams,
    pub created_at: DateTime<Utc>,
    /// Changes each time an index of this name is created; log records carry it, so a
    /// new index never replays a deleted one's leftovers.
    pub incarnation: String,
    /// The last write-ahead log sequence number whose record this snapshot includes (0:
    /// none); records up to it are obsolete.
    pub log_seq: u64,
    /// Live items.
    pub count: u64,
    /// Nodes, tombstones included.
    pub nodes: u64,
    pub graph: BodyDigest,
}

/// What identifies an index, apart from its contents.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexMeta {
    pub name: String,
    pub params: IndexParams,
    pub created_at: DateTime<Utc>,
    pub incarnation: String,
}

/// A decoded snapshot.
pub struct Decoded {
    pub envelope: Envelope,
    pub(crate) graph: Graph,
}

impl Decoded {
    /// The searchable index (as loading from the store makes it); `seed` drives the level
    /// draws of later inserts.
    pub fn into_index(self, seed: u64) -> crate::index::Index {
        crate::index::Index::from_graph(self.graph, seed)
    }

    pub fn meta(&self) -> IndexMeta {
        IndexMeta {
            name: self.envelope.name.clone(),
            params: self.envelope.params,
            created_at: self.envelope.created_at,
            incarnation: self.envelope.incarnation.clone(),
        }
    }
}

impl Envelope {
    /// The envelope of a snapshot of `meta`'s index holding `(live items, nodes)`, whose
    /// graph bytes are `body`.
    pub(crate) fn of(
        meta: &IndexMeta,
        log_seq: u64,
        (count, nodes): (u64, u64),
        body: &[u8],
    ) -> Envelope {
        Envelope {
            format_version: FORMAT_VERSION,
            name: meta.name.clone(),
            params: meta.params,
            created_at: meta.created_at,
            incarnation: meta.incarnation.clone(),
            log_seq,
            count,
            nodes,
            graph: BodyDigest::of(body),
        }
    }
}

/// Encodes a snapshot of `graph`, which must not change meanwhile (writers excluded).
/// Returns the header (magic, length, envelope) and the graph bytes: written one after
/// the other, they are the file.
pub(crate) fn encode(meta: &IndexMeta, log_seq: u64, graph: &Graph) -> (Vec<u8>, Vec<u8>) {
    let body = encode_graph(graph);
    let envelope = Envelope::of(
        meta,
        log_seq,
        (graph.live() as u64, u64::from(graph.len())),
        &body,
    );
    // Serialising plain fields cannot fail.
    let json = serde_json::to_vec(&envelope).unwrap_or_default();
    (frame::header(MAGIC, &json), body)
}

/// A whole `.lhv1` file of `index` (writes to the index must be excluded meanwhile).
pub fn encode_file(meta: &IndexMeta, log_seq: u64, index: &crate::index::Index) -> Vec<u8> {
    let (mut file, body) = encode(meta, log_seq, &index.graph());
    file.extend_from_slice(&body);
    file
}

fn encode_graph(graph: &Graph) -> Vec<u8> {
    let n = graph.len();
    let dim = graph.params().dim;
    let mut out = Vec::with_capacity(8 + n as usize * (dim * 4 + MIN_RECORD + 40));
    out.put_u32(n);
    out.put_u32(graph.entry().map_or(NO_ENTRY, |(node, _)| node));
    for node in 0..n {
        out.put_f32s(graph.vector(node));
    }
    for node in 0..n {
        let live = graph.state(node) == LIVE;
        let info = graph.info(node);
        let level = info.map_or(0, |i| i.level);
        out.put_u8(if live { LIVE } else { DELETED });
        out.put_u8(level);
        let id = match (live, info) {
            (true, Some(info)) => info.id.as_bytes(),
            _ => &[],
        };
        out.put_u16(id.len() as u16);
        out.extend_from_slice(id);
        let meta = match (live, info.and_then(|i| i.metadata.as_deref())) {
            (true, Some(m)) => serde_json::to_vec(m).unwrap_or_default(),
            _ => Vec::new(),
        };
        out.put_u32(meta.len() as u32);
        out.extend_from_slice(&meta);
        for level in 0..=level {
            let links = graph.links(node, level);
            out.put_u16(links.len() as u16);
            for id in links.iter() {
                out.put_u32(id);
            }
        }
    }
    out
}

/// Decodes a whole `.lhv1` file.
pub fn decode(bytes: &[u8]) -> Result<Decoded, FormatError> {
    let framed = frame::split("LHV1", MAGIC, bytes)?;
    let envelope: Envelope = frame::envelope(framed.envelope, FORMAT_VERSION)?;
    let p = envelope.params;
    IndexParams::new(p.dim, p.metric, p.m, p.ef_construction)
        .map_err(|e| FormatError::BadEnvelope(format!("params: {e}")))?;
    let graph = checked_graph(&envelope, framed.body)?;
    let (count, nodes) = (graph.live() as u64, u64::from(graph.len()));
    if (count, nodes) != (envelope.count, envelope.nodes) {
        return Err(FormatError::BadEnvelope(format!(
            "it says {} live items in {} nodes, the graph holds {count} in {nodes}",
            envelope.count, envelope.nodes
        )));
    }
    Ok(Decoded { envelope, graph })
}

/// Bodies from this size on are decoded on two threads.
const PARALLEL_BYTES: usize = 4 << 20;

/// The body's checksum verified and its graph decoded. A large body is decoded on two
/// lanes at once: a second thread checks the checksum, then copies the vectors (a
/// contiguous run of the body) into the graph, while this one reads the node records. The
/// checksum's verdict still comes first (a body that fails it is refused whatever the
/// rest said — the decoder never panics and bounds each allocation by the bytes present,
/// so decoding a corrupt body is safe), then the vectors', then the records'.
fn checked_graph(envelope: &Envelope, body: &[u8]) -> Result<Graph, FormatError> {
    decode_body(&envelope.params, body, Some(&envelope.graph))
}

/// The graph bytes alone, checked as thoroughly as in a file (public for the fuzzer,
/// which cannot forge checksums).
pub fn check_graph(params: &IndexParams, body: &[u8]) -> Result<(), FormatError> {
    decode_graph(params, body).map(drop)
}

/// The graph bytes alone as the searchable index a snapshot loads into, checked as in a
/// file: for the fuzzer, which cannot forge checksums, to try what a loaded index does
/// with whatever the checks let through. Not an API.
#[doc(hidden)]
pub fn graph_index(
    params: &IndexParams,
    body: &[u8],
    seed: u64,
) -> Result<crate::index::Index, FormatError> {
    decode_graph(params, body).map(|graph| crate::index::Index::from_graph(graph, seed))
}

pub(crate) fn decode_graph(params: &IndexParams, body: &[u8]) -> Result<Graph, FormatError> {
    decode_body(params, body, None)
}

fn decode_body(
    params: &IndexParams,
    body: &[u8],
    digest: Option<&BodyDigest>,
) -> Result<Graph, FormatError> {
    let dim = params.dim;
    let mut r = Reader::new(body);
    let n = r.u32("the node count")?;
    if n > MAX_NODES {
        return Err(r.error(format!("{n} nodes is more than the limit of {MAX_NODES}")));
    }
    let entry = r.u32("the entry point")?;
    let per_node = dim * 4 + MIN_RECORD;
    if (n as usize).saturating_mul(per_node) > r.remaining() {
        return Err(r.error(format!(
            "{n} nodes of dim {dim} need at least {per_node} bytes each but only {} remain",
            r.remaining()
        )));
    }
    let vectors = r.bytes(n as usize * dim * 4, "the vectors")?;
    let mut graph = Graph::new(*params, 0);
    // n is bounded by the bytes present (checked above), so this cannot be made huge.
    graph
        .reserve_all(n)
        .map_err(|_| r.error_at(0, "too many nodes"))?;
    let lane = VectorLane {
        graph: &graph,
        digest,
        body,
        vectors,
        dim,
    };
    let (checked, records) = if body.len() >= PARALLEL_BYTES {
        std::thread::scope(|scope| {
            let spawned = std::thread::Builder::new()
                .name("lhv1-vectors".into())
                .spawn_scoped(scope, || lane.run());
            let records = read_records(&graph, &mut r, n);
            let checked = match spawned {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to be had: this one does it.
                Err(_) => lane.run(),
            };
            (checked, records)
        })
    } else {
        (lane.run(), read_records(&graph, &mut r, n))
    };
    checked?;
    let Records {
        ids,
        levels,
        starts,
    } = records?;
    graph.set_ids(ids);
    r.finish("graph")?;
    check_levels(&graph, &levels, &starts, &r)?;
    let top = levels.iter().copied().max();
    match (top, entry) {
        (None, NO_ENTRY) => {}
        (None, _) => return Err(r.error_at(4, format!("an empty graph has entry point {entry}"))),
        (Some(top), e) if e < n && levels[e as usize] == top => graph.set_entry_raw(e, top),
        (Some(top), e) => {
            return Err(r.error_at(
                4,
                format!("entry point {e} is not a node of the top level {top}"),
            ));
        }
    }
    Ok(graph)
}

/// The checksum, then every node's vector (the body's run of `N × dim` f32s from byte 8).
struct VectorLane<'a> {
    graph: &'a Graph,
    digest: Option<&'a BodyDigest>,
    body: &'a [u8],
    vectors: &'a [u8],
    dim: usize,
}

impl VectorLane<'_> {
    fn run(&self) -> Result<(), FormatError> {
        if let Some(digest) = self.digest {
            digest.check(self.body)?;
        }
        let dim = self.dim;
        for (node, raw) in self.vectors.chunks_exact(dim * 4).enumerate() {
            self.graph
                .load_vector(node as u32, raw)
                .map_err(|i| FormatError::Undecodable {
                    offset: 8 + node * dim * 4 + i * 4,
                    reason: format!("node {node}'s vector[{i}] is not finite"),
                })?;
        }
        Ok(())
    }
}

/// What the node records leave to check once all are read.
struct Records {
    ids: IdMap,
    levels: Vec<u8>,
    /// Each record's offset, for errors.
    starts: Vec<usize>,
}

/// Every node record: state, level, id, metadata and neighbour lists, into the reserved
/// slots of `graph`.
fn read_records(graph: &Graph, r: &mut Reader<'_>, n: u32) -> Result<Records, FormatError> {
    let params = *graph.params();
    let mut ids = IdMap::with_capacity(n as usize);
    // Live ids with their hashes, mapped once all are read (see `IdMap::extend_new`).
    let mut live: Vec<(u64, Arc<str>, u32)> = Vec::with_capacity(n as usize);
    let mut levels: Vec<u8> = Vec::with_capacity(n as usize);
    let mut starts: Vec<usize> = Vec::with_capacity(n as usize);
    let mut list = Vec::with_capacity(params.m0());
    for node in 0..n {
        let start = r.offset();
        starts.push(start);
        let state = r.u8("a node's state")?;
        if state != LIVE && state != DELETED {
            return Err(r.error_at(
                start,
                format!("node {node} has state {state} (1 = live, 2 = tombstone)"),
            ));
        }
        let level = r.u8("a node's level")?;
        if level > MAX_LEVEL {
            return Err(r.error_at(
                start + 1,
                format!("node {node} has level {level}; the most is {MAX_LEVEL}"),
            ));
        }
        let id_len = usize::from(r.u16("an id length")?);
        let id_at = r.offset();
        let id = r.str(id_len, "an id")?;
        match state {
            LIVE => check_id(id).map_err(|e| r.error_at(id_at, format!("node {node}: {e}")))?,
            _ if !id.is_empty() => {
                return Err(r.error_at(id_at, format!("node {node} is a tombstone but has an id")));
            }
            _ => {}
        }
        let metadata = read_metadata(r, node, state)?;
        let hash = ids.hash(id);
        let id: Arc<str> = id.into();
        if state == LIVE {
            live.push((hash, id.clone(), node));
        }
        graph.load_node(node, state, level, id, metadata.map(Into::into));
        for layer in 0..=level {
            let cap = if layer == 0 { params.m0() } else { params.m };
            let count = usize::from(r.u16("a neighbour count")?);
            if count > cap {
                return Err(r.error(format!(
                    "node {node} has {count} neighbours on layer {layer}; the most is {cap}"
                )));
            }
            list.clear();
            for _ in 0..count {
                let at = r.offset();
                let nb = r.u32("a neighbour")?;
                if nb >= n || nb == node {
                    return Err(r.error_at(at, format!("node {node}'s layer-{layer} neighbour {nb} is not another node (N = {n})")));
                }
                list.push(nb);
            }
            graph.links(node, layer).set(list.iter().copied());
        }
        levels.push(level);
    }
    ids.extend_new(live).map_err(|Repeated { first, again }| {
        let id = graph.info(again).map(|i| i.id.clone()).unwrap_or_default();
        // The id follows the record's state, level and id length.
        r.error_at(
            starts[again as usize] + 4,
            format!("node {again} repeats the live id {id:?} of node {first}"),
        )
    })?;
    Ok(Records {
        ids,
        levels,
        starts,
    })
}

fn read_metadata(
    r: &mut Reader<'_>,
    node: u32,
    state: u8,
) -> Result<Option<Metadata>, FormatError> {
    let at = r.offset();
    let len = r.u32("a metadata length")? as usize;
    if len == 0 {
        return Ok(None);
    }
    if state != LIVE {
        return Err(r.error_at(at, format!("node {node} is a tombstone but has metadata")));
    }
    if len > MAX_METADATA_BYTES {
        return Err(r.error_at(
            at,
            format!("node {node} has {len} bytes of metadata; the most is {MAX_METADATA_BYTES}"),
        ));
    }
    let bytes = r.bytes(len, "metadata")?;
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(r.error_at(
            at + 4,
            format!("node {node}'s metadata is not a JSON object"),
        )),
        Err(e) => Err(r.error_at(at + 4, format!("node {node}'s metadata is not JSON: {e}"))),
    }
}

/// Every neighbour on layer `l` must itself reach layer `l`.
fn check_levels(
    graph: &Graph,
    levels: &[u8],
    starts: &[usize],
    r: &Reader<'_>,
) -> Result<(), FormatError> {
    for (node, &level) in levels.iter().enumerate() {
        for layer in 1..=level {
            for nb in graph.links(node as u32, layer).iter() {
                let nb_level = levels.get(nb as usize).copied().unwrap_or(0);
                if nb_level < layer {
                    return Err(r.error_at(
                        starts[node],
                        format!("node {node}'s layer-{layer} neighbour {nb} only reaches layer {nb_level}"),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "lhv1_tests.rs"]
mod tests;
