//! [`Graph`]: a concurrent HNSW graph (Malkov & Yashunin) over one index's vectors.
//!
//! Layout, per node (a *slot*, a `u32` from 0): one block of `u32` words in a [`Slab`]:
//! the vector (`dim` f32s, first, so it starts on a cache line), a header word (neighbour
//! count in the low 16 bits, the node's [state](LIVE) in the next 8) and the layer-0
//! neighbour slots (`2m`). A node of level `L > 0` also has `L` upper lists of `1 + m`
//! words in its [`NodeInfo`], which also holds its external id and metadata.
//!
//! Concurrency — searches never lock, and several inserts may run at once:
//! - A node's vector, level, id and metadata are written once, before any other node links
//!   to it; links are published with release stores and read with acquire loads, so a
//!   reader that finds a slot in a list sees that node complete.
//! - Neighbour lists are arrays of atomics. A writer changes a list only under that node's
//!   own mutex (one node at a time, never nested, so inserts cannot deadlock); a reader may
//!   see a list mid-update (old and new ids mixed), which only changes the route it takes.
//! - An insert chooses its neighbours on every layer first, then publishes bottom-up: its
//!   own list, then the back-links, layer 0 first. A node is reachable on a layer only once
//!   its lists there and below are set, so no insert descends into an unlinked node.
//! - The entry point is one atomic word; an insert that raises the top level holds the
//!   entry mutex for its whole duration (as hnswlib does).
//! - Nodes are never mutated or removed in place: an upsert adds a new node and tombstones
//!   the old one, a delete tombstones. Tombstones keep routing searches (so recall holds)
//!   and are never returned; [`Graph::compacted`] rebuilds without them, repairing the
//!   lists that pointed at them.
//! - The neighbour heuristic can leave a node that no list leads to (0.13 % of the nodes of
//!   a 200k × 128 clustered build, serial or parallel); [`Graph::connect`] walks layer 0
//!   and links them back (module `connect`).
//!
//! Node states: `PENDING` (inserted by a batch not yet committed: linkable, never a result),
//! `LIVE`, `DELETED`. The id map (`ids`) names exactly the live nodes.

mod compact;
mod connect;
mod ids;
mod insert;
pub(crate) mod scratch;
mod search;
pub(crate) mod slab;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};

use crate::distance::Kernel;
use crate::params::IndexParams;
use slab::{BoxSlab, Slab};

pub(crate) use ids::{IdMap, Repeated};
pub(crate) use search::Cand;

/// An item's metadata: a JSON object.
pub type Metadata = serde_json::Map<String, serde_json::Value>;

/// Highest level a node can have.
pub const MAX_LEVEL: u8 = 31;
/// Most nodes (live or tombstoned) one graph holds.
pub const MAX_NODES: u32 = 1 << 31;

/// Node states, stored in bits 16..24 of the layer-0 header word.
pub(crate) const PENDING: u8 = 0;
pub(crate) const LIVE: u8 = 1;
pub(crate) const DELETED: u8 = 2;

const COUNT_MASK: u32 = 0xFFFF;
const STATE_SHIFT: u32 = 16;

/// What is written once per node, before the node is linked.
pub(crate) struct NodeInfo {
    pub(crate) level: u8,
    /// The external id; empty for tombstones read back from a file.
    pub(crate) id: Arc<str>,
    pub(crate) metadata: Option<Arc<Metadata>>,
    /// Levels `1..=level`, `1 + m` words each (count, then slots).
    upper: Box<[AtomicU32]>,
}

#[derive(Default)]
struct NodeMeta {
    lock: Mutex<()>,
    info: OnceLock<NodeInfo>,
}

/// One neighbour list: a header word, then the slots.
#[derive(Clone, Copy)]
pub(crate) struct Links<'a> {
    words: &'a [AtomicU32],
}

impl<'a> Links<'a> {
    pub(crate) fn capacity(&self) -> usize {
        self.words.len().saturating_sub(1)
    }

    pub(crate) fn len(&self) -> usize {
        match self.words.first() {
            Some(h) => ((h.load(Ordering::Acquire) & COUNT_MASK) as usize).min(self.capacity()),
            None => 0,
        }
    }

    pub(crate) fn iter(self) -> impl Iterator<Item = u32> + 'a {
        let words = self.words;
        (0..self.len()).map(move |i| words[1 + i].load(Ordering::Acquire))
    }

    pub(crate) fn contains(&self, id: u32) -> bool {
        self.iter().any(|x| x == id)
    }

    /// Replaces the list (caller holds the node's lock, or owns the graph exclusively).
    /// Slots are written before the count, so a reader never sees a count past what was
    /// written.
    pub(crate) fn set(&self, ids: impl ExactSizeIterator<Item = u32>) {
        let n = ids.len().min(self.capacity());
        for (i, id) in ids.take(n).enumerate() {
            self.words[1 + i].store(id, Ordering::Release);
        }
        self.set_len(n);
    }

    /// Appends one id; false when full.
    pub(crate) fn push(&self, id: u32) -> bool {
        let n = self.len();
        if n >= self.capacity() {
            return false;
        }
        self.words[1 + n].store(id, Ordering::Release);
        self.set_len(n + 1);
        true
    }

    fn set_len(&self, n: usize) {
        if let Some(h) = self.words.first() {
            // The header also holds the state, which deletes change without the node lock.
            let _ = h.fetch_update(Ordering::Release, Ordering::Relaxed, |w| {
                Some((w & !COUNT_MASK) | n as u32)
            });
        }
    }
}

impl NodeInfo {
    fn new(level: u8, id: Arc<str>, metadata: Option<Arc<Metadata>>, m: usize) -> NodeInfo {
        let words = usize::from(level) * (1 + m);
        NodeInfo {
            level,
            id,
            metadata,
            upper: (0..words).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    fn upper_links(&self, level: u8, m: usize) -> Links<'_> {
        let start = (usize::from(level) - 1) * (1 + m);
        Links {
            words: self.upper.get(start..start + 1 + m).unwrap_or(&[]),
        }
    }
}

/// A concurrent HNSW graph; see the module doc.
pub(crate) struct Graph {
    params: IndexParams,
    kernel: Kernel,
    blocks: Slab<AtomicU32>,
    nodes: BoxSlab<NodeMeta>,
    /// Slots handed out.
    len: AtomicU32,
    /// 0 when empty, else `(level + 1) << 32 | node`.
    entry: AtomicU64,
    entry_lock: Mutex<()>,
    rng: AtomicU64,
    ids: RwLock<IdMap>,
    deleted: AtomicU32,
}

impl Graph {
    /// An empty graph; `seed` makes level draws reproducible.
    pub(crate) fn new(params: IndexParams, seed: u64) -> Graph {
        // Vector, header, layer-0 slots, rounded up to whole cache lines.
        let width = (params.dim + 1 + params.m0()).div_ceil(16) * 16;
        Graph {
            params,
            kernel: params.metric.kernel(),
            blocks: Slab::new(width),
            nodes: BoxSlab::new(),
            len: AtomicU32::new(0),
            entry: AtomicU64::new(0),
            entry_lock: Mutex::new(()),
            rng: AtomicU64::new(seed),
            ids: RwLock::new(IdMap::default()),
            deleted: AtomicU32::new(0),
        }
    }

    pub(crate) fn params(&self) -> &IndexParams {
        &self.params
    }

    /// Slots handed out (live, pending and tombstoned nodes).
    pub(crate) fn len(&self) -> u32 {
        self.len.load(Ordering::Acquire)
    }

    /// Live items.
    pub(crate) fn live(&self) -> usize {
        self.ids.read().len()
    }

    pub(crate) fn tombstones(&self) -> u32 {
        self.deleted.load(Ordering::Relaxed)
    }

    /// The live node holding `id`.
    pub(crate) fn lookup(&self, id: &str) -> Option<u32> {
        self.ids.read().get(id)
    }

    /// Bytes one more node takes in the graph's storage: its block and its entry.
    pub(crate) fn node_bytes(&self) -> usize {
        self.blocks.slot_bytes() + size_of::<NodeMeta>()
    }

    /// Bytes of memory held by the graph's storage (the id map excluded).
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.blocks.allocated_bytes() + self.nodes.allocated_bytes()
    }

    #[inline]
    pub(crate) fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        self.kernel.distance(a, b)
    }

    /// A published node's vector.
    #[inline]
    pub(crate) fn vector(&self, node: u32) -> &[f32] {
        let block = self.blocks.get(node);
        let dim = self.params.dim.min(block.len());
        // SAFETY: the first `dim` words of a block are the vector, written once (atomic
        // stores) before the node is published and never again; callers only pass
        // published nodes (from lists, the entry point, or slots below `len` under the
        // writer lock), so no write races this read. AtomicU32 and f32 share size and
        // alignment, and any bit pattern is a valid f32.
        unsafe { std::slice::from_raw_parts(block.as_ptr() as *const f32, dim) }
    }

    #[inline]
    pub(crate) fn block_ptr(&self, node: u32) -> *const u8 {
        self.blocks.get(node).as_ptr() as *const u8
    }

    #[inline]
    pub(crate) fn state(&self, node: u32) -> u8 {
        match self.blocks.get(node).get(self.params.dim) {
            Some(h) => (h.load(Ordering::Acquire) >> STATE_SHIFT) as u8,
            None => DELETED,
        }
    }

    fn set_state(&self, node: u32, state: u8) {
        if let Some(h) = self.blocks.get(node).get(self.params.dim) {
            let _ = h.fetch_update(Ordering::Release, Ordering::Relaxed, |w| {
                Some((w & COUNT_MASK) | (u32::from(state) << STATE_SHIFT))
            });
        }
    }

    /// The node's once-written info; `None` for a slot not yet filled.
    pub(crate) fn info(&self, node: u32) -> Option<&NodeInfo> {
        self.nodes.get(node).and_then(|m| m.info.get())
    }

    pub(crate) fn level(&self, node: u32) -> u8 {
        self.info(node).map_or(0, |i| i.level)
    }

    /// The node's neighbour list at `level` (empty past the node's level).
    #[inline]
    pub(crate) fn links(&self, node: u32, level: u8) -> Links<'_> {
        if level == 0 {
            let block = self.blocks.get(node);
            let start = self.params.dim;
            let end = start + 1 + self.params.m0();
            Links {
                words: block.get(start..end).unwrap_or(&[]),
            }
        } else {
            match self.info(node) {
                Some(info) if level <= info.level => info.upper_links(level, self.params.m),
                _ => Links { words: &[] },
            }
        }
    }

    /// The entry point and the top level, `None` when the graph is empty.
    pub(crate) fn entry(&self) -> Option<(u32, u8)> {
        let e = self.entry.load(Ordering::Acquire);
        (e != 0).then(|| (e as u32, ((e >> 32) - 1) as u8))
    }

    fn set_entry(&self, node: u32, level: u8) {
        let packed = ((u64::from(level) + 1) << 32) | u64::from(node);
        self.entry.store(packed, Ordering::Release);
    }

    /// Hands out a fresh slot with its storage allocated; `None` when the graph is full.
    fn reserve(&self) -> Option<u32> {
        let slot = self
            .len
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_NODES).then_some(n + 1)
            })
            .ok()?;
        self.blocks.ensure(slot);
        self.nodes.ensure(slot);
        Some(slot)
    }

    /// Fills a reserved slot's vector and info; the node is not linked yet.
    fn fill(
        &self,
        node: u32,
        vector: &[f32],
        level: u8,
        id: Arc<str>,
        metadata: Option<Arc<Metadata>>,
    ) {
        let block = self.blocks.get(node);
        for (word, x) in block.iter().zip(vector.iter().take(self.params.dim)) {
            word.store(x.to_bits(), Ordering::Relaxed);
        }
        if let Some(meta) = self.nodes.get(node) {
            let _ = meta
                .info
                .set(NodeInfo::new(level, id, metadata, self.params.m));
        }
    }

    fn lock(&self, node: u32) -> Option<parking_lot::MutexGuard<'_, ()>> {
        self.nodes.get(node).map(|m| m.lock.lock())
    }

    fn random_level(&self) -> u8 {
        let x = self.rng.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        let u = (splitmix(x) >> 11) as f64 + 1.0;
        let u = u / (1u64 << 53) as f64;
        let level_mult = 1.0 / (self.params.m as f64).ln();
        (-u.ln() * level_mult).floor().min(f64::from(MAX_LEVEL)) as u8
    }

    /// Makes pending nodes live; a node whose id was live replaces (tombstones) that node.
    pub(crate) fn commit(&self, nodes: &[u32]) {
        let mut ids = self.ids.write();
        for &node in nodes {
            let Some(info) = self.info(node) else {
                continue;
            };
            debug_assert_eq!(
                self.state(node),
                PENDING,
                "only pending nodes are committed"
            );
            if let Some(old) = ids.insert(info.id.clone(), node) {
                self.set_state(old, DELETED);
                self.deleted.fetch_add(1, Ordering::Relaxed);
            }
            self.set_state(node, LIVE);
        }
    }

    /// Tombstones the live node of `id`; false when there is none.
    pub(crate) fn remove(&self, id: &str) -> bool {
        let mut ids = self.ids.write();
        match ids.remove(id) {
            Some(node) => {
                self.set_state(node, DELETED);
                self.deleted.fetch_add(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Appends a node exactly as given (decoding a file, compacting): no search, no
    /// linking. A live node's id enters the id map; `Err` names a duplicate live id.
    pub(crate) fn push_raw(
        &self,
        state: u8,
        level: u8,
        id: Arc<str>,
        metadata: Option<Arc<Metadata>>,
        vector: &[f32],
    ) -> Result<u32, RawError> {
        let node = self.reserve().ok_or(RawError::Full)?;
        self.fill(node, vector, level.min(MAX_LEVEL), id.clone(), metadata);
        if state == LIVE {
            let mut ids = self.ids.write();
            if ids.insert(id, node).is_some() {
                return Err(RawError::DuplicateId);
            }
        } else {
            self.deleted.fetch_add(1, Ordering::Relaxed);
        }
        self.set_state(node, state);
        Ok(node)
    }

    /// Decoding: hands out slots `0..n` at once, their storage allocated, for
    /// [`Graph::load_vector`] and [`Graph::load_node`] to fill (from several threads, each
    /// slot's vector and record once). The graph must be empty and not yet shared.
    pub(crate) fn reserve_all(&self, n: u32) -> Result<(), RawError> {
        if n > MAX_NODES || self.len() != 0 {
            return Err(RawError::Full);
        }
        if let Some(last) = n.checked_sub(1) {
            // Every segment up to the last slot's: they are allocated in order.
            let mut slot = 0u32;
            loop {
                self.blocks.ensure(slot);
                self.nodes.ensure(slot);
                if slot >= last {
                    break;
                }
                slot = slot.saturating_mul(2).saturating_add(64).min(last);
            }
        }
        self.len.store(n, Ordering::Release);
        Ok(())
    }

    /// Decoding: writes a reserved node's vector from `dim` little-endian f32s; `Err`
    /// gives the position of the first value that is not finite (nothing is stored past
    /// it).
    pub(crate) fn load_vector(&self, node: u32, le: &[u8]) -> Result<(), usize> {
        const EXPONENT: u32 = 0x7F80_0000;
        let block = self.blocks.get(node);
        let mut finite = true;
        for (word, c) in block.iter().zip(le.chunks_exact(4)) {
            let bits = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            finite &= bits & EXPONENT != EXPONENT;
            word.store(bits, Ordering::Relaxed);
        }
        if finite {
            return Ok(());
        }
        let bad = le
            .chunks_exact(4)
            .position(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) & EXPONENT == EXPONENT);
        Err(bad.unwrap_or(0))
    }

    /// Decoding: fills a reserved node's level, id, metadata and state (its links are
    /// set through [`Graph::links`]). The id map is the caller's, installed with
    /// [`Graph::set_ids`] once every node is loaded.
    pub(crate) fn load_node(
        &self,
        node: u32,
        state: u8,
        level: u8,
        id: Arc<str>,
        metadata: Option<Arc<Metadata>>,
    ) {
        if let Some(meta) = self.nodes.get(node) {
            let _ = meta.info.set(NodeInfo::new(
                level.min(MAX_LEVEL),
                id,
                metadata,
                self.params.m,
            ));
        }
        if state != LIVE {
            self.deleted.fetch_add(1, Ordering::Relaxed);
        }
        self.set_state(node, state);
    }

    /// Decoding: the live ids, once every node is loaded.
    pub(crate) fn set_ids(&mut self, ids: IdMap) {
        *self.ids.get_mut() = ids;
    }

    /// Sets an entry point as given (decoding, compacting).
    pub(crate) fn set_entry_raw(&self, node: u32, level: u8) {
        self.set_entry(node, level);
    }
}

/// Why [`Graph::push_raw`] refused a node.
#[derive(Debug)]
pub(crate) enum RawError {
    Full,
    DuplicateId,
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
pub(crate) mod tests;
