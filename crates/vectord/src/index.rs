//! [`Index`]: one index's items over its [`Graph`] — upsert, delete by id, compaction, and
//! search with its guarantees.
//!
//! The graph sits behind an `RwLock<Arc<Graph>>` held only to clone the `Arc`: a search
//! works on the graph it started with, lock-free, while writes go on; compaction builds a
//! new graph and swaps it in, and searches still running finish on the old one.
//!
//! Writes (upsert, delete, compact) are serialised by the index's own mutex. An upsert
//! batch is inserted pending (in parallel for large batches) and then committed in one
//! short step under the id map's lock, so a search sees either none or (nearly at once)
//! all of a batch, never a half-linked item.
//!
//! Inserts can leave a few nodes that no search reaches (see [`crate::hnsw`]'s `connect`):
//! after a batch the graph is walked and they are linked — at once when the walk costs
//! little next to the batch (the graph holds at most [`CONNECT_INLINE_PER_ITEM`] nodes per
//! item of it), otherwise by [`Index::connect`], which the maintainer calls once writes
//! pause. A graph read from a file is walked the same way; a compacted one comes linked.
//!
//! A search returns `min(k, matching live items)` results, nearest first. When `ef` is at
//! least the node count it scans exactly. When the graph
//! search comes back short (a very selective filter, or nodes cut off by deletes) it falls
//! back to an exact scan. A filtered search first estimates the filter's selectivity on
//! a sample of nodes: below [`EXACT_BELOW`] expected matches it scans exactly; otherwise it
//! searches the graph with a visit budget proportional to `ef / selectivity`.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use crate::error::VectorError;
use crate::filter::Filter;
use crate::hnsw::scratch::with_scratch;
use crate::hnsw::{Cand, Graph, LIVE, MAX_NODES, Metadata};
use crate::params::IndexParams;
use crate::pool;
use crate::validate::{PreparedItem, Query};

/// Batches at least this large are inserted on the build pool's threads.
const PARALLEL_INSERT: usize = 32;
/// A filtered search expected to match fewer items than this scans exactly.
pub const EXACT_BELOW: usize = 2_000;
/// Nodes sampled to estimate a filter's selectivity.
const SELECTIVITY_SAMPLE: u32 = 1_000;
/// Compaction is due once tombstones reach this fraction of the nodes.
pub const COMPACT_FRACTION: f64 = 0.10;
/// A batch's cut-off nodes are linked at once while the graph holds at most this many
/// nodes per item of the batch: the walk (about 0.2 µs a node) then costs at most ~2 % of
/// inserting the batch (about 100 µs an item at 200k × 128 on two cores).
pub const CONNECT_INLINE_PER_ITEM: usize = 8;

/// One search result.
#[derive(Clone, Debug, Serialize)]
pub struct Hit {
    pub id: Arc<str>,
    /// In the metric's reported form (see [`crate::distance`]).
    pub distance: f32,
    pub metadata: Option<Arc<Metadata>>,
}

pub struct Index {
    params: IndexParams,
    graph: RwLock<Arc<Graph>>,
    write: Mutex<()>,
    seed: AtomicU64,
    /// Writes since the graph was last walked for cut-off nodes.
    unconnected: AtomicBool,
}

impl Index {
    pub fn new(params: IndexParams, seed: u64) -> Index {
        Index::from_graph(Graph::new(params, seed), seed)
    }

    /// `graph` is walked for cut-off nodes by the next [`Index::connect`].
    pub(crate) fn from_graph(graph: Graph, seed: u64) -> Index {
        let graph_len = graph.len();
        Index {
            params: *graph.params(),
            graph: RwLock::new(Arc::new(graph)),
            write: Mutex::new(()),
            seed: AtomicU64::new(seed),
            unconnected: AtomicBool::new(graph_len > 0),
        }
    }

    pub fn params(&self) -> &IndexParams {
        &self.params
    }

    /// The current graph (a snapshot: later compactions do not change it).
    pub(crate) fn graph(&self) -> Arc<Graph> {
        self.graph.read().clone()
    }

    /// Live items.
    pub fn count(&self) -> usize {
        self.graph().live()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.graph().lookup(id).is_some()
    }

    /// Nodes in the graph, tombstones included.
    pub fn nodes(&self) -> u32 {
        self.graph().len()
    }

    pub fn tombstones(&self) -> u32 {
        self.graph().tombstones()
    }

    /// Bytes held by the graph's storage.
    pub fn memory_bytes(&self) -> usize {
        self.graph().allocated_bytes()
    }

    /// About how many bytes `items` add: every item takes a new node (a replaced one
    /// leaves a tombstone until compaction), plus its id and metadata.
    pub fn estimate_bytes(&self, items: &[PreparedItem]) -> usize {
        let node = self.graph().node_bytes();
        items
            .iter()
            .map(|item| {
                let metadata = item.metadata.as_deref().map_or(0, metadata_bytes);
                node + item.id.len() + metadata
            })
            .sum()
    }

    /// `Err` when `extra` more nodes would not fit.
    pub fn check_room(&self, extra: usize) -> Result<(), VectorError> {
        let nodes = self.nodes() as usize;
        if nodes + extra > MAX_NODES as usize {
            return Err(VectorError::TooLarge(format!(
                "the index holds {nodes} nodes (tombstones included) and the limit is {MAX_NODES}; \
                 {extra} more do not fit"
            )));
        }
        Ok(())
    }

    /// Inserts or replaces every item; returns the live count after.
    pub fn upsert(&self, items: &[PreparedItem]) -> Result<usize, VectorError> {
        let _write = self.write.lock();
        self.check_room(items.len())?;
        let graph = self.graph();
        let nodes = pool::map(items.len(), PARALLEL_INSERT, |i| {
            let item = &items[i];
            graph.insert(&item.vector, item.id.clone(), item.metadata.clone())
        });
        let nodes: Vec<u32> = nodes.into_iter().flatten().collect();
        graph.commit(&nodes);
        if !nodes.is_empty() {
            if graph.len() as usize <= CONNECT_INLINE_PER_ITEM * nodes.len() {
                graph.connect();
            } else {
                self.unconnected.store(true, Ordering::Release);
            }
        }
        Ok(graph.live())
    }

    /// Whether writes since the last walk may have cut nodes off.
    pub fn needs_connect(&self) -> bool {
        self.unconnected.load(Ordering::Acquire)
    }

    /// Walks the graph and links the nodes no search reaches (see the module doc); returns
    /// how many it linked. Writes wait meanwhile (about 40 ms at 200k nodes), searches do
    /// not.
    pub fn connect(&self) -> usize {
        let _write = self.write.lock();
        if !self.unconnected.swap(false, Ordering::AcqRel) {
            return 0;
        }
        self.graph().connect()
    }

    /// Removes the items of `ids` that exist; returns how many did.
    pub fn delete(&self, ids: &[Arc<str>]) -> usize {
        let _write = self.write.lock();
        let graph = self.graph();
        ids.iter().filter(|id| graph.remove(id)).count()
    }

    /// Whether tombstones have reached [`COMPACT_FRACTION`] of the nodes.
    pub fn needs_compaction(&self) -> bool {
        let graph = self.graph();
        let tombstones = f64::from(graph.tombstones());
        tombstones > 0.0 && tombstones >= COMPACT_FRACTION * f64::from(graph.len())
    }

    /// Rebuilds the graph without tombstones (see [`crate::hnsw`]); searches keep running.
    pub fn compact(&self) -> Result<(), VectorError> {
        let _write = self.write.lock();
        let graph = self.graph();
        let seed = self.seed.fetch_add(1, Ordering::Relaxed);
        let fresh = graph
            .compacted(seed)
            .map_err(|e| VectorError::Internal(format!("compaction failed: {e:?}")))?;
        *self.graph.write() = Arc::new(fresh);
        // The compacted graph comes linked; no write ran meanwhile.
        self.unconnected.store(false, Ordering::Release);
        Ok(())
    }

    /// The `k` nearest live items matching the filter, nearest first.
    pub fn search(&self, query: &Query) -> Vec<Hit> {
        let graph = self.graph();
        let found = match &query.filter {
            None => search_live(&graph, query),
            Some(filter) => search_filtered(&graph, query, filter),
        };
        self.hits(&graph, found)
    }

    /// `found` (nearest first) as hits, each id once: an upsert racing this search can
    /// show an id's old and new node at once, and the nearer is kept.
    fn hits(&self, graph: &Graph, found: Vec<Cand>) -> Vec<Hit> {
        // A few hits are compared directly, with no set to allocate and no
        // id to hash (+3–7 % QPS at ef 10–64, k 10, 200k × 128, four A/B runs); many go
        // through a set.
        let mut hits: Vec<Hit> = Vec::with_capacity(found.len());
        let mut seen = (found.len() > DIRECT_DEDUP_MAX).then(HashSet::new);
        for c in found {
            let Some(info) = graph.info(c.node) else {
                continue;
            };
            let fresh = match &mut seen {
                Some(seen) => seen.insert(info.id.clone()),
                None => !hits.iter().any(|h| h.id == info.id),
            };
            if fresh {
                hits.push(Hit {
                    id: info.id.clone(),
                    distance: self.params.metric.reported(c.dist),
                    metadata: info.metadata.clone(),
                });
            }
        }
        hits
    }
}

/// Up to this many hits, duplicates are found by comparing ids directly.
const DIRECT_DEDUP_MAX: usize = 32;

fn search_live(graph: &Graph, q: &Query) -> Vec<Cand> {
    let accept = |n: u32| graph.state(n) == LIVE;
    if q.ef >= graph.len() as usize {
        // The beam would visit every node it can reach anyway; a scan visits them all, in
        // memory order, so a small index answers exactly (a concurrently built graph can
        // leave a node with no link leading to it).
        return graph.exact(&q.vector, q.k, &accept);
    }
    let found = with_scratch(|s| graph.knn(&q.vector, q.k, q.ef, &accept, usize::MAX, s));
    if found.hits.len() < q.k && found.hits.len() < graph.live() {
        return graph.exact(&q.vector, q.k, &accept);
    }
    found.hits
}

fn search_filtered(graph: &Graph, q: &Query, filter: &Filter) -> Vec<Cand> {
    let accept = |n: u32| {
        graph.state(n) == LIVE && filter.matches(graph.info(n).and_then(|i| i.metadata.as_deref()))
    };
    let nodes = graph.len();
    if nodes == 0 {
        return Vec::new();
    }
    let step = (nodes / SELECTIVITY_SAMPLE).max(1);
    let sampled = nodes.div_ceil(step);
    let matched = (0..nodes)
        .step_by(step as usize)
        .filter(|&n| accept(n))
        .count();
    let selectivity = matched as f64 / f64::from(sampled);
    let expected = selectivity * f64::from(nodes);
    if expected < EXACT_BELOW.max(4 * q.k) as f64 {
        return graph.exact(&q.vector, q.k, &accept);
    }
    let budget = (q.ef as f64 / selectivity * 16.0) as usize + 4096;
    let found = with_scratch(|s| graph.knn(&q.vector, q.k, q.ef, &accept, budget, s));
    // Short, or the budget ran out (the graph routes badly towards this filter's items).
    if found.hits.len() < q.k || !found.complete {
        return graph.exact(&q.vector, q.k, &accept);
    }
    found.hits
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;

/// About what metadata takes in memory: twice its JSON text (maps and strings carry
/// their own headers and spare capacity).
fn metadata_bytes(metadata: &Metadata) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, metadata);
    2 * count.0
}
