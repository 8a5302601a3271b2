//! Compaction: a copy of the graph without its tombstones.
//!
//! Every live node keeps its vector, level, id and metadata. A neighbour list that points
//! at no tombstone is copied as it is. One that does is *repaired* (the approach of
//! hnswlib's `repairConnectionsForUpdate`): the candidates are its live neighbours plus the
//! live nodes reachable through its tombstoned ones (two hops through tombstones at most),
//! and the heuristic picks the list from them, so the routes the tombstones provided are
//! kept by live nodes. The entry point stays unless it is a tombstone; then the live node
//! of the highest level takes over. Finally the copy is walked and the nodes the repairs
//! cut off are linked ([`Graph::connect`]).

use std::sync::Arc;

use super::scratch::with_scratch;
use super::search::Cand;
use super::{Graph, LIVE, RawError};
use crate::pool;

const DROPPED: u32 = u32::MAX;
/// Hops through tombstones when gathering a repaired list's candidates.
const REPAIR_HOPS: usize = 2;

impl Graph {
    /// The compacted copy. Writers must be excluded for the duration (no insert, commit
    /// or remove); searches may run.
    pub(crate) fn compacted(&self, seed: u64) -> Result<Graph, RawError> {
        let fresh = Graph::new(self.params, seed);
        let n = self.len();
        let mut map = vec![DROPPED; n as usize];
        for old in 0..n {
            if self.state(old) != LIVE {
                continue;
            }
            let Some(info) = self.info(old) else {
                continue;
            };
            map[old as usize] = fresh.push_raw(
                LIVE,
                info.level,
                info.id.clone(),
                info.metadata.clone(),
                self.vector(old),
            )?;
        }
        let map = Arc::new(map);
        pool::for_each(n as usize, 1024, |old| {
            let old = old as u32;
            let new = map[old as usize];
            if new == DROPPED {
                return;
            }
            for level in 0..=self.level(old) {
                let list = self.repaired(old, level, &map);
                fresh
                    .links(new, level)
                    .set(list.iter().map(|&o| map[o as usize]));
            }
        });
        if let Some((node, level)) = self.new_entry(&map) {
            fresh.set_entry_raw(map[node as usize], level);
        }
        // Repaired lists may leave a node no list leads to.
        fresh.connect();
        Ok(fresh)
    }

    /// `node`'s list at `level` without tombstones, in old slots.
    fn repaired(&self, node: u32, level: u8, map: &[u32]) -> Vec<u32> {
        let live = |n: u32| map.get(n as usize).is_some_and(|&m| m != DROPPED);
        let links = self.links(node, level);
        if links.iter().all(live) {
            return links.iter().collect();
        }
        let mut candidates: Vec<u32> = Vec::new();
        let mut seen: Vec<u32> = vec![node];
        let mut frontier: Vec<u32> = Vec::new();
        for n in links.iter() {
            seen.push(n);
            if live(n) {
                candidates.push(n);
            } else {
                frontier.push(n);
            }
        }
        for _ in 0..REPAIR_HOPS {
            let mut next = Vec::new();
            for dead in frontier {
                for n in self.links(dead, level).iter() {
                    if seen.contains(&n) {
                        continue;
                    }
                    seen.push(n);
                    if live(n) {
                        candidates.push(n);
                    } else {
                        next.push(n);
                    }
                }
            }
            frontier = next;
        }
        let base = self.vector(node);
        let mut pool: Vec<Cand> = candidates
            .into_iter()
            .map(|n| Cand {
                dist: self.distance(base, self.vector(n)),
                node: n,
            })
            .collect();
        pool.sort_unstable();
        let cap = links.capacity();
        with_scratch(|s| {
            self.select(&pool, cap, &mut s.selected);
            s.selected.iter().map(|c| c.node).collect()
        })
    }

    /// The old entry point if it survives, else the live node of the highest level.
    fn new_entry(&self, map: &[u32]) -> Option<(u32, u8)> {
        let live = |n: u32| map.get(n as usize).is_some_and(|&m| m != DROPPED);
        if let Some((entry, top)) = self.entry()
            && live(entry)
        {
            return Some((entry, top));
        }
        (0..self.len())
            .filter(|&n| live(n))
            .map(|n| (n, self.level(n)))
            .max_by_key(|&(n, level)| (level, std::cmp::Reverse(n)))
    }
}
