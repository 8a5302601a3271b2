//! Inserting a node: hnswlib's `addPoint` with its neighbour selection heuristic
//! (`getNeighborsByHeuristic2`), made safe for concurrent inserts and searches as the
//! module doc of [`super`] describes.

use std::sync::Arc;

use super::scratch::{Scratch, with_scratch};
use super::search::{Beam, Cand};
use super::{DELETED, Graph, Metadata};

/// Construction routes through tombstones but never links to them, nor a node to itself
/// (other inserts may already lead back to it).
fn linkable(graph: &Graph, node: u32) -> impl Fn(u32) -> bool + '_ {
    move |n| n != node && graph.state(n) != DELETED
}

impl Graph {
    /// Adds a node in the pending state (linked, routable, never a search result until
    /// [`Graph::commit`]). `None` when the graph is full.
    pub(crate) fn insert(
        &self,
        vector: &[f32],
        id: Arc<str>,
        metadata: Option<Arc<Metadata>>,
    ) -> Option<u32> {
        let node = self.reserve()?;
        let level = self.random_level();
        self.fill(node, vector, level, id, metadata);
        with_scratch(|s| self.link(node, level, s));
        Some(node)
    }

    fn link(&self, node: u32, level: u8, s: &mut Scratch) {
        let q = self.vector(node);
        let mut top_guard = None;
        let mut entry = self.entry();
        if entry.is_none_or(|(_, top)| level > top) {
            // Raising the top level (or starting the graph) is serialised; hold the lock
            // until this node is the entry point.
            let guard = self.entry_lock.lock();
            entry = self.entry();
            if entry.is_none_or(|(_, top)| level > top) {
                top_guard = Some(guard);
            }
        }
        let Some((ep, top)) = entry else {
            self.set_entry(node, level);
            return;
        };
        let mut cur = Cand {
            dist: self.distance(q, self.vector(ep)),
            node: ep,
        };
        for l in (level.saturating_add(1)..=top).rev() {
            let (n, d) = self.greedy(q, cur.node, cur.dist, l);
            cur = Cand { dist: d, node: n };
        }
        let ef = self.params.effective_ef_construction();
        let accept = linkable(self, node);
        for l in (0..=level.min(top)).rev() {
            let beam = Beam {
                ef,
                level: l,
                max_visits: usize::MAX,
            };
            self.search_layer(q, cur, beam, &accept, s);
            s.pool.clear();
            s.pool.extend(s.results.drain());
            s.pool.sort_unstable();
            if let Some(nearest) = s.pool.first() {
                cur = *nearest;
            }
            let pool = std::mem::take(&mut s.pool);
            self.select(&pool, self.params.m, &mut s.selected);
            s.pool = pool;
            let selected = std::mem::take(&mut s.selected);
            self.set_own_links(node, l, &selected, s);
            for c in &selected {
                self.add_link(c.node, l, node, c.dist, s);
            }
            s.selected = selected;
        }
        if top_guard.is_some() {
            self.set_entry(node, level);
        }
    }

    /// The heuristic: walk candidates nearest first, keep one only if it is nearer to the
    /// base than to every one kept so far, up to `m`. `sorted` is nearest first.
    pub(super) fn select(&self, sorted: &[Cand], m: usize, out: &mut Vec<Cand>) {
        out.clear();
        if sorted.len() <= m {
            out.extend_from_slice(sorted);
            return;
        }
        for c in sorted {
            if out.len() >= m {
                break;
            }
            let v = self.vector(c.node);
            if out
                .iter()
                .all(|kept| self.distance(v, self.vector(kept.node)) >= c.dist)
            {
                out.push(*c);
            }
        }
    }

    /// Sets the new node's own list at `level`. Other inserts may already have linked to
    /// it (it is reachable from the level above), so merge rather than overwrite.
    fn set_own_links(&self, node: u32, level: u8, selected: &[Cand], s: &mut Scratch) {
        let _guard = self.lock(node);
        let links = self.links(node, level);
        if links.len() == 0 {
            links.set(selected.iter().map(|c| c.node));
            return;
        }
        let base = self.vector(node);
        s.pool.clear();
        s.pool.extend_from_slice(selected);
        for n in links.iter() {
            if !selected.iter().any(|c| c.node == n) {
                s.pool.push(Cand {
                    dist: self.distance(base, self.vector(n)),
                    node: n,
                });
            }
        }
        self.shrink_into(links, s);
    }

    /// Adds `new` (at distance `dist`) to `target`'s list at `level`, re-selecting with
    /// the heuristic when the list is full.
    fn add_link(&self, target: u32, level: u8, new: u32, dist: f32, s: &mut Scratch) {
        let _guard = self.lock(target);
        let links = self.links(target, level);
        if links.contains(new) || links.push(new) {
            return;
        }
        let base = self.vector(target);
        s.pool.clear();
        s.pool.push(Cand { dist, node: new });
        for n in links.iter() {
            s.pool.push(Cand {
                dist: self.distance(base, self.vector(n)),
                node: n,
            });
        }
        self.shrink_into(links, s);
    }

    /// Writes `s.pool` (unsorted) into `links`, through the heuristic when it overflows.
    fn shrink_into(&self, links: super::Links<'_>, s: &mut Scratch) {
        s.pool.sort_unstable();
        let cap = links.capacity();
        if s.pool.len() <= cap {
            links.set(s.pool.iter().map(|c| c.node));
            return;
        }
        let pool = std::mem::take(&mut s.pool);
        self.select(&pool, cap, &mut s.selected);
        links.set(s.selected.iter().map(|c| c.node));
        s.pool = pool;
    }
}
