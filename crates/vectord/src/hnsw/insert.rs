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
        // Choose every layer's neighbours top-down first, then publish bottom-up: another
        // insert can only reach this node on a layer through the back-links published
        // there, and by then the node's lists on that layer and every layer below are set.
        // Publishing top-down (as hnswlib does) lets a concurrent insert descend into the
        // node while its lower lists are still empty and link itself to that node alone;
        // about one node in 3,000 was then missed by a search for its own vector (see
        // `concurrent_inserts_find_every_node_by_its_own_vector`). Serially both orders
        // build the same graph: no layer's search reads another layer's lists.
        let ef = self.params.effective_ef_construction();
        let accept = linkable(self, node);
        let layers = usize::from(level.min(top)) + 1;
        if s.chosen.len() < layers {
            s.chosen.resize_with(layers, Vec::new);
        }
        for l in (0..layers).rev() {
            let beam = Beam {
                ef,
                level: l as u8,
                max_visits: usize::MAX,
            };
            self.search_layer(q, cur, beam, &accept, s);
            s.pool.clear();
            s.pool.extend(s.results.drain());
            s.pool.sort_unstable();
            if let Some(nearest) = s.pool.first() {
                cur = *nearest;
            }
            self.select(&s.pool, self.params.m, &mut s.chosen[l]);
        }
        for l in 0..layers {
            let selected = std::mem::take(&mut s.chosen[l]);
            self.set_own_links(node, l as u8, &selected);
            for c in &selected {
                self.add_link(c.node, l as u8, node, c.dist, s);
            }
            s.chosen[l] = selected;
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

    /// Sets the new node's own list at `level`. No other insert can have linked to it
    /// there yet: it becomes reachable on a layer only through the back-links added after.
    fn set_own_links(&self, node: u32, level: u8, selected: &[Cand]) {
        let _guard = self.lock(node);
        let links = self.links(node, level);
        debug_assert_eq!(
            links.len(),
            0,
            "node {node} was linked to on layer {level} early"
        );
        links.set(selected.iter().map(|c| c.node));
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
