//! [`IdMap`]: live ids to their nodes.
//!
//! A SwissTable (`hashbrown::HashTable`) of `(id, node)` hashed with foldhash: a
//! million-item load inserts a million ids, and every upsert and delete looks ids up
//! (foldhash seeds itself per process, so ids cannot be chosen to collide). The table
//! rather than a `HashMap` so that loading can insert with hashes it computed itself, in
//! the table's own order ([`IdMap::extend_new`]).

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

#[derive(Default)]
pub(crate) struct IdMap {
    table: HashTable<(Arc<str>, u32)>,
    hasher: foldhash::fast::RandomState,
}

/// A repeated id in [`IdMap::extend_new`]: its first node and the later one.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Repeated {
    pub(crate) first: u32,
    pub(crate) again: u32,
}

impl IdMap {
    pub(crate) fn with_capacity(n: usize) -> IdMap {
        IdMap {
            table: HashTable::with_capacity(n),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// The hash [`IdMap::extend_new`] wants with each id.
    pub(crate) fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn get(&self, id: &str) -> Option<u32> {
        self.table
            .find(self.hash(id), |(k, _)| &**k == id)
            .map(|&(_, node)| node)
    }

    /// Maps `id` to `node`; returns the node it mapped to before.
    pub(crate) fn insert(&mut self, id: Arc<str>, node: u32) -> Option<u32> {
        let hasher = &self.hasher;
        let entry = self.table.entry(
            hasher.hash_one(&*id),
            |(k, _)| *k == id,
            |(k, _)| hasher.hash_one(&**k),
        );
        match entry {
            Entry::Occupied(mut e) => Some(std::mem::replace(&mut e.get_mut().1, node)),
            Entry::Vacant(e) => {
                e.insert((id, node));
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<u32> {
        let found = self.table.find_entry(self.hash(id), |(k, _)| &**k == id);
        found.ok().map(|e| e.remove().0.1)
    }

    /// Adds ids none of which is mapped yet — decoding a snapshot — each with its
    /// [`IdMap::hash`]; `Err` names an id given twice (the lowest node that repeats an
    /// id, whatever the seed). They go in in the order of their
    /// home slots, so the table is written front to back: inserted at random, each id
    /// costs two cache misses (its slot's control group and the slot), which made a
    /// million ids take 300 of a snapshot load's 555 ms on the decoding thread.
    pub(crate) fn extend_new(
        &mut self,
        mut entries: Vec<(u64, Arc<str>, u32)>,
    ) -> Result<(), Repeated> {
        let hasher = &self.hasher;
        self.table
            .reserve(entries.len(), |(k, _)| hasher.hash_one(&**k));
        // The table's slot count, from its capacity (7/8 of it, a power of two); were it
        // computed wrong, the order would only help less.
        let slots = (self.table.capacity().div_ceil(7) * 8).next_power_of_two() as u64;
        entries.sort_unstable_by_key(|&(hash, _, node)| (hash & (slots - 1), node));
        // The repeat named is the first by node, not by slot: the slot order follows the
        // hash seed, and the same bytes must give the same error on every load.
        let mut repeated: Option<Repeated> = None;
        for (hash, id, node) in entries {
            if let Some(&(_, first)) = self.table.find(hash, |(k, _)| *k == id) {
                let this = Repeated {
                    first: first.min(node),
                    again: first.max(node),
                };
                if repeated.as_ref().is_none_or(|r| this.again < r.again) {
                    repeated = Some(this);
                }
                continue;
            }
            self.table
                .insert_unique(hash, (id, node), |(k, _)| hasher.hash_one(&**k));
        }
        repeated.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Arc<str> {
        s.into()
    }

    #[test]
    fn insert_get_remove_like_a_map() {
        let mut ids = IdMap::default();
        assert_eq!(ids.insert(id("a"), 1), None);
        assert_eq!(ids.insert(id("b"), 2), None);
        assert_eq!(ids.insert(id("a"), 3), Some(1));
        assert_eq!(
            (ids.get("a"), ids.get("b"), ids.get("c")),
            (Some(3), Some(2), None)
        );
        assert_eq!(ids.remove("a"), Some(3));
        assert_eq!((ids.remove("a"), ids.get("a"), ids.len()), (None, None, 1));
    }

    #[test]
    fn extend_new_maps_every_id_and_names_a_repeat_by_its_nodes() {
        let mut ids = IdMap::with_capacity(10_000);
        let entries = |ids: &IdMap, n: u32| -> Vec<(u64, Arc<str>, u32)> {
            (0..n)
                .map(|i| {
                    let s = format!("item-{i}");
                    (ids.hash(&s), s.into(), i)
                })
                .collect()
        };
        let all = entries(&ids, 10_000);
        ids.extend_new(all).unwrap();
        assert_eq!(ids.len(), 10_000);
        assert!((0..10_000).all(|i| ids.get(&format!("item-{i}")) == Some(i)));
        assert_eq!(
            ids.insert(id("item-7"), 20_000),
            Some(7),
            "still a map after"
        );

        let mut ids = IdMap::with_capacity(100);
        let mut some = entries(&ids, 100);
        let again = (some[42].0, some[42].1.clone(), 100);
        some.insert(3, again);
        assert_eq!(
            ids.extend_new(some),
            Err(Repeated {
                first: 42,
                again: 100
            })
        );
    }

    #[test]
    fn the_first_repeat_by_node_is_named_whatever_the_seed() {
        // Found by the lhv1_reader fuzz target: with two ids repeated, the one named was the
        // first met in the table's slot order, which follows the hash seed, so the same
        // snapshot bytes gave one error or another from one load to the next.
        for _ in 0..64 {
            let mut ids = IdMap::with_capacity(100);
            let mut all: Vec<(u64, Arc<str>, u32)> = Vec::new();
            for (node, of) in (0..100)
                .map(|i| (i, i))
                .chain([(100, 42), (101, 7), (102, 42)])
            {
                let s = format!("item-{of}");
                all.push((ids.hash(&s), s.into(), node));
            }
            assert_eq!(
                ids.extend_new(all),
                Err(Repeated {
                    first: 42,
                    again: 100
                })
            );
        }
    }
}
