//! Keeping every node reachable on layer 0.
//!
//! The neighbour heuristic can drop the last link that leads to a node: when a full list is
//! re-selected, or when compaction re-picks the lists that pointed at tombstones. Such a
//! node is still in the graph but no search reaches it, so not even its own vector finds
//! it. A 200k × 128 clustered build leaves about 0.13 % of its nodes so, serial (269) or
//! parallel (261); concurrent inserts add a way of their own (two near nodes that do not see
//! each other, one pruned from a list in favour of the other): 2 builds of 600 (200 nodes,
//! batches of 50, a loaded two-core machine) each had 4 nodes cut off.
//!
//! [`Graph::connect`] finds the nodes a walk of layer 0 from the entry point does not
//! reach and links each from its nearest reached node, giving up that node's farthest link
//! to a node some other list also leads to. Every cut node gets its own link: reachable
//! through another cut node is not enough, since a search for it comes through its own
//! neighbourhood and may never pass the other's.

use super::scratch::with_scratch;
use super::search::Cand;
use super::{DELETED, Graph};

/// Walks before giving up on a graph that keeps cutting nodes off (each walk links every
/// node it found cut off, so one is the rule).
const MAX_WALKS: usize = 4;

impl Graph {
    /// Nodes that layer 0 does not reach from the entry point, ascending.
    #[cfg(test)]
    pub(crate) fn unreachable(&self) -> Vec<u32> {
        let reached = self.reached();
        (0..self.len()).filter(|&n| !reached[n as usize]).collect()
    }

    fn reached(&self) -> Vec<bool> {
        let mut reached = vec![false; self.len() as usize];
        if let Some((entry, _)) = self.entry() {
            self.reach(entry, &mut reached);
        }
        reached
    }

    /// Marks what layer 0 reaches from `from` (itself included).
    fn reach(&self, from: u32, reached: &mut [bool]) {
        let mut stack = vec![from];
        reached[from as usize] = true;
        while let Some(node) = stack.pop() {
            for next in self.links(node, 0).iter() {
                if let Some(r) = reached.get_mut(next as usize)
                    && !*r
                {
                    *r = true;
                    stack.push(next);
                }
            }
        }
    }

    /// Links every node layer 0 does not reach from the entry point (see the module doc);
    /// returns how many links it added. Writers must be excluded; searches may run.
    pub(crate) fn connect(&self) -> usize {
        let mut linked = 0;
        for _ in 0..MAX_WALKS {
            let mut reached = self.reached();
            // Tombstones only route; one cut off needs no link.
            let cut: Vec<u32> = (0..self.len())
                .filter(|&n| !reached[n as usize] && self.state(n) != DELETED)
                .collect();
            if cut.is_empty() {
                break;
            }
            let mut indegree = vec![0u32; reached.len()];
            for node in 0..self.len() {
                for next in self.links(node, 0).iter() {
                    if let Some(d) = indegree.get_mut(next as usize) {
                        *d += 1;
                    }
                }
            }
            // Each cut node gets its own link, even one another cut node leads to: a search
            // for it comes through its own neighbourhood, not through the first node linked.
            for node in cut {
                if self.link_from_reached(node, &reached, &mut indegree) {
                    linked += 1;
                    reached[node as usize] = true;
                }
            }
        }
        linked
    }

    /// Adds `node` to the layer-0 list of its nearest reachable node that can take it: one
    /// with room, or one whose farthest link goes to a node with another link leading to it.
    fn link_from_reached(&self, node: u32, reached: &[bool], indegree: &mut [u32]) -> bool {
        let q = self.vector(node);
        let ef = self.params.effective_ef_construction();
        let usable = |n: u32| reached[n as usize] && self.state(n) != DELETED;
        let near = with_scratch(|s| self.knn(q, ef, ef, &usable, usize::MAX, s)).hits;
        for host in near {
            let links = self.links(host.node, 0);
            if links.contains(node) {
                return false;
            }
            if links.push(node) {
                indegree[node as usize] += 1;
                return true;
            }
            let base = self.vector(host.node);
            let victim = links
                .iter()
                .filter(|&n| indegree[n as usize] > 1)
                .map(|n| Cand {
                    dist: self.distance(base, self.vector(n)),
                    node: n,
                })
                .max();
            let Some(victim) = victim else {
                continue;
            };
            let kept: Vec<u32> = links
                .iter()
                .map(|n| if n == victim.node { node } else { n })
                .collect();
            links.set(kept.into_iter());
            indegree[victim.node as usize] -= 1;
            indegree[node as usize] += 1;
            return true;
        }
        false
    }
}
