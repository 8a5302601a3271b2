//! [`Scratch`]: the per-search working memory (visited set, heaps, buffers), pooled so a
//! search allocates nothing once the pool is warm.
//!
//! The visited set is a generation-stamped array (hnswlib's `VisitedList`): clearing it is
//! one increment, and only every 65,535th search rewrites the array. The pool keeps at most
//! [`MAX_POOLED`] scratches; each holds one `u16` per node of the largest graph it served.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use parking_lot::Mutex;

use super::search::Cand;

/// Scratches kept for reuse; more concurrent users allocate and drop their own.
const MAX_POOLED: usize = 32;

static POOL: Mutex<Vec<Scratch>> = Mutex::new(Vec::new());

#[derive(Default)]
pub(crate) struct Scratch {
    pub(crate) visited: Visited,
    /// Nearest first (a min-heap through `Reverse`).
    pub(crate) candidates: BinaryHeap<Reverse<Cand>>,
    /// Farthest first: the worst kept result is on top.
    pub(crate) results: BinaryHeap<Cand>,
    /// Unvisited neighbours of the node being expanded.
    pub(crate) fresh: Vec<u32>,
    /// Neighbour selection's input and output.
    pub(crate) pool: Vec<Cand>,
    pub(crate) selected: Vec<Cand>,
    /// An insert's chosen neighbours, per layer, until they are published.
    pub(crate) chosen: Vec<Vec<Cand>>,
}

/// Runs `f` with a scratch from the pool.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut scratch = POOL.lock().pop().unwrap_or_default();
    let out = f(&mut scratch);
    let mut pool = POOL.lock();
    if pool.len() < MAX_POOLED {
        pool.push(scratch);
    }
    out
}

#[derive(Default)]
pub(crate) struct Visited {
    marks: Vec<u16>,
    generation: u16,
}

impl Visited {
    /// Forgets every mark; sizes the array for `nodes` slots.
    pub(crate) fn clear(&mut self, nodes: usize) {
        if self.marks.len() < nodes {
            self.marks.resize(nodes, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.marks.fill(0);
            self.generation = 1;
        }
    }

    /// Marks `node`; true when it was not marked yet.
    #[inline]
    pub(crate) fn insert(&mut self, node: u32) -> bool {
        let i = node as usize;
        if i >= self.marks.len() {
            // A node published after `clear` (inserts run alongside searches).
            self.marks.resize((i + 1).next_power_of_two(), 0);
        }
        let mark = &mut self.marks[i];
        if *mark == self.generation {
            false
        } else {
            *mark = self.generation;
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visited_clears_by_generation_and_survives_wraparound() {
        let mut v = Visited::default();
        for round in 0..70_000u32 {
            v.clear(10);
            assert!(v.insert(round % 10));
            assert!(!v.insert(round % 10));
        }
        v.clear(4);
        assert!(
            v.insert(1000),
            "a node past the cleared size grows the array"
        );
        assert!(!v.insert(1000));
    }
}
