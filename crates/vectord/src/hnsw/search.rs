//! Searching the graph: greedy descent through the upper layers, the beam search of one
//! layer (`search_layer`, hnswlib's `searchBaseLayerST`), and exact search by scanning.
//!
//! Every search takes an `accept` predicate deciding which nodes may be *results*; all
//! nodes route. While fewer than `ef` results are held, every reached node is explored, so
//! a selective predicate widens the search by itself; `max_visits` bounds that work, and a
//! search that hits it reports itself incomplete so the caller can fall back to
//! [`Graph::exact`].

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::Graph;
use super::scratch::Scratch;

/// One layer's search: its beam width, the layer, and the most distances to compute.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Beam {
    pub(crate) ef: usize,
    pub(crate) level: u8,
    pub(crate) max_visits: usize,
}

/// A node and its internal distance to the query; ordered by distance (total order, so
/// even a NaN cannot break a heap), then by node.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cand {
    pub(crate) dist: f32,
    pub(crate) node: u32,
}

impl PartialEq for Cand {
    fn eq(&self, other: &Cand) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Cand {}

impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Cand) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Cand {
    fn cmp(&self, other: &Cand) -> Ordering {
        self.dist
            .total_cmp(&other.dist)
            .then(self.node.cmp(&other.node))
    }
}

/// The nearest accepted nodes found, nearest first, and whether the search ran to its
/// natural end (false: it stopped at `max_visits`).
pub(crate) struct Found {
    pub(crate) hits: Vec<Cand>,
    pub(crate) complete: bool,
}

#[inline]
fn prefetch(ptr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

impl Graph {
    /// Moves to ever closer neighbours on `level` until none is closer.
    pub(crate) fn greedy(&self, q: &[f32], mut node: u32, mut dist: f32, level: u8) -> (u32, f32) {
        loop {
            let mut moved = false;
            for n in self.links(node, level).iter() {
                let d = self.distance(q, self.vector(n));
                if d < dist {
                    (node, dist) = (n, d);
                    moved = true;
                }
            }
            if !moved {
                return (node, dist);
            }
        }
    }

    /// The beam search of one layer from `entry`, keeping the `beam.ef` nearest accepted
    /// nodes in `s.results`. Returns false when it stopped after `beam.max_visits`
    /// distance computations.
    pub(crate) fn search_layer(
        &self,
        q: &[f32],
        entry: Cand,
        beam: Beam,
        accept: &impl Fn(u32) -> bool,
        s: &mut Scratch,
    ) -> bool {
        let Beam {
            ef,
            level,
            max_visits,
        } = beam;
        let ef = ef.max(1);
        s.visited.clear(self.len() as usize);
        s.candidates.clear();
        s.results.clear();
        s.visited.insert(entry.node);
        s.candidates.push(Reverse(entry));
        if accept(entry.node) {
            s.results.push(entry);
        }
        let mut bound = worst(&s.results, ef);
        let mut visits = 0usize;
        while let Some(Reverse(c)) = s.candidates.pop() {
            if c.dist > bound {
                break;
            }
            s.fresh.clear();
            for n in self.links(c.node, level).iter() {
                if s.visited.insert(n) {
                    // The vector's first line, and the header's (read if n is accepted).
                    let block = self.block_ptr(n);
                    prefetch(block);
                    prefetch(block.wrapping_add(self.params().dim * 4));
                    s.fresh.push(n);
                }
            }
            for i in 0..s.fresh.len() {
                let n = s.fresh[i];
                let d = self.distance(q, self.vector(n));
                if d < bound {
                    let cand = Cand { dist: d, node: n };
                    s.candidates.push(Reverse(cand));
                    if accept(n) {
                        s.results.push(cand);
                        if s.results.len() > ef {
                            s.results.pop();
                        }
                        bound = worst(&s.results, ef);
                    }
                }
            }
            visits += s.fresh.len();
            if visits > max_visits {
                return false;
            }
        }
        true
    }

    /// The `k` nearest accepted nodes by HNSW search with beam width `max(ef, k)`.
    pub(crate) fn knn(
        &self,
        q: &[f32],
        k: usize,
        ef: usize,
        accept: &impl Fn(u32) -> bool,
        max_visits: usize,
        s: &mut Scratch,
    ) -> Found {
        let Some((entry, top)) = self.entry() else {
            return Found {
                hits: Vec::new(),
                complete: true,
            };
        };
        let mut cur = Cand {
            dist: self.distance(q, self.vector(entry)),
            node: entry,
        };
        for level in (1..=top).rev() {
            let (node, dist) = self.greedy(q, cur.node, cur.dist, level);
            cur = Cand { dist, node };
        }
        let beam = Beam {
            ef: ef.max(k),
            level: 0,
            max_visits,
        };
        let complete = self.search_layer(q, cur, beam, accept, s);
        let mut hits: Vec<Cand> = s.results.drain().collect();
        hits.sort_unstable();
        hits.truncate(k);
        Found { hits, complete }
    }

    /// The exact `k` nearest accepted nodes, by scanning every slot. `accept` must only
    /// accept published nodes (a live state implies it).
    pub(crate) fn exact(&self, q: &[f32], k: usize, accept: &impl Fn(u32) -> bool) -> Vec<Cand> {
        let mut heap: BinaryHeap<Cand> = BinaryHeap::with_capacity(k + 1);
        if k == 0 {
            return Vec::new();
        }
        for node in 0..self.len() {
            if !accept(node) {
                continue;
            }
            let cand = Cand {
                dist: self.distance(q, self.vector(node)),
                node,
            };
            if heap.len() < k {
                heap.push(cand);
            } else if heap.peek().is_some_and(|w| cand < *w) {
                heap.pop();
                heap.push(cand);
            }
        }
        heap.into_sorted_vec()
    }
}

/// The distance a new result must beat: the worst kept one once `ef` are held.
#[inline]
fn worst(results: &BinaryHeap<Cand>, ef: usize) -> f32 {
    if results.len() >= ef {
        results.peek().map_or(f32::INFINITY, |c| c.dist)
    } else {
        f32::INFINITY
    }
}
