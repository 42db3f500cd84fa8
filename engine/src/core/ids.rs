//! Durable ids: given once, never reused, meaningful outside one process (the live store keeps
//! them as keys). Task and assignment ids are 64-bit, annotators 32-bit, streams and languages 16-bit;
//! sets of streams or languages have no size cap (`crate::dispatch::IndexSet`).

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;

/// A task, from arrival to its last final label (a re-opened task keeps its id). In the
/// simulation: the arrival order over the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(pub u64);

/// One lease of work (a label, a golden answer or a review) handed to one annotator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AssignmentId(pub u64);

/// An annotator: dense (0, 1, 2, ... in the order they joined), never reused.
pub type AnnotatorId = u32;

/// Hasher for integer ids (Fx: one multiply per word). Ids are not attacker-chosen keys of a
/// public table here; the core's maps are internal and never iterated for decisions.
pub type IdHasher = BuildHasherDefault<rustc_hash::FxHasher>;
/// A map keyed by ids.
pub type IdMap<K, V> = HashMap<K, V, IdHasher>;
/// A set of ids.
pub type IdSet<K> = HashSet<K, IdHasher>;

/// The window may hold this many slots per live entry, plus [`MARGIN`], before its front moves
/// to the overflow map: long-lived entries (a task only experts may take) must not push routine
/// lookups into the map, yet memory stays proportional to what is live.
const SLACK: usize = 8;
/// See [`SLACK`].
const MARGIN: usize = 65_536;

/// A double-ended run of slots on a plain `Vec` (indexing is one add, no wrap-around as in a
/// `VecDeque`): the front is a head offset, and the dead prefix is dropped once it is half the
/// vector.
#[derive(Clone, Debug)]
struct Window<T> {
    head: usize,
    slots: Vec<T>,
}

impl<T> Default for Window<T> {
    fn default() -> Self {
        Window { head: 0, slots: Vec::new() }
    }
}

impl<T> Window<T> {
    #[inline]
    fn len(&self) -> usize {
        self.slots.len() - self.head
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    #[inline]
    fn push_back(&mut self, v: T) {
        self.slots.push(v);
    }
    fn front(&self) -> Option<&T> {
        self.slots.get(self.head)
    }
    /// Drops the front slot (its value is left behind until the prefix is compacted).
    fn advance(&mut self) {
        self.head += 1;
        if self.head == self.slots.len() {
            self.slots.clear();
            self.head = 0;
        } else if self.head >= 1024 && self.head * 2 >= self.slots.len() {
            self.slots.drain(..self.head);
            self.head = 0;
        }
    }
    fn iter(&self) -> std::slice::Iter<'_, T> {
        self.slots[self.head..].iter()
    }
}

impl<T> std::ops::Index<usize> for Window<T> {
    type Output = T;
    #[inline]
    fn index(&self, i: usize) -> &T {
        &self.slots[self.head + i]
    }
}

impl<T> std::ops::IndexMut<usize> for Window<T> {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.slots[self.head + i]
    }
}

/// A table keyed by ids that mostly arrive in increasing order (tasks, assignments): a window
/// `[base, base + len)` indexed directly, plus an overflow map for the few ids outside it. Lookups
/// in the window cost an index, not a hash. Memory stays proportional to what is live: when the
/// oldest live entry holds the window open while it grows past [`SLACK`] times the live count (plus a
/// margin), the front entries move to the overflow map and the window slides on. Keep values
/// small (an index into a slab) when the window may be long.
#[derive(Clone, Debug)]
pub struct IdTable<V> {
    base: u64,
    window: Window<Option<V>>,
    /// Entries outside the window.
    overflow: HashMap<u64, V, IdHasher>,
    len: usize,
}

impl<V> Default for IdTable<V> {
    fn default() -> Self {
        IdTable { base: 0, window: Window::default(), overflow: HashMap::default(), len: 0 }
    }
}

impl<V> IdTable<V> {
    /// Live entries.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    #[inline]
    fn slot(&self, id: u64) -> Option<usize> {
        id.checked_sub(self.base).map(|i| i as usize).filter(|&i| i < self.window.len())
    }
    // An id in the overflow map may lie inside the window once the window has grown over it, so
    // a miss in the window looks there too (the map is empty in the usual, in-order case).
    //
    // The window's dead prefix (slots before its head) is always empty, so an id is looked up
    // directly at slot `id - base + head` of the vector: one subtraction and one bounds check.
    #[inline]
    pub fn get(&self, id: u64) -> Option<&V> {
        let i = id.wrapping_sub(self.base).wrapping_add(self.window.head as u64);
        if let Some(Some(v)) = self.window.slots.get(i as usize) {
            return Some(v);
        }
        self.get_outside(id)
    }
    #[cold]
    fn get_outside(&self, id: u64) -> Option<&V> {
        if self.overflow.is_empty() { None } else { self.overflow.get(&id) }
    }
    #[inline]
    pub fn get_mut(&mut self, id: u64) -> Option<&mut V> {
        let i = id.wrapping_sub(self.base).wrapping_add(self.window.head as u64) as usize;
        if self.window.slots.get(i).is_some_and(|v| v.is_some()) {
            return self.window.slots[i].as_mut();
        }
        if self.overflow.is_empty() { None } else { self.overflow.get_mut(&id) }
    }
    pub fn contains(&self, id: u64) -> bool {
        self.get(id).is_some()
    }
    /// Stores `v` under `id`; returns the entry it replaced.
    #[inline]
    pub fn insert(&mut self, id: u64, v: V) -> Option<V> {
        // The usual case first: the next id in order, nothing outside the window.
        if id == self.base + self.window.len() as u64 && self.overflow.is_empty() && !self.window.is_empty() {
            self.window.push_back(Some(v));
            self.len += 1;
            if self.window.len() > SLACK * self.len + MARGIN {
                self.trim();
            }
            return None;
        }
        self.insert_slow(id, v)
    }

    fn insert_slow(&mut self, id: u64, v: V) -> Option<V> {
        if self.window.is_empty() && (self.overflow.is_empty() || !self.overflow.contains_key(&id)) {
            self.base = id;
        }
        let end = self.base + self.window.len() as u64;
        let old = if id == end && self.overflow.is_empty() {
            // The usual case: the next id in order.
            self.window.push_back(Some(v));
            None
        } else if !self.overflow.is_empty() && self.overflow.contains_key(&id) {
            self.overflow.insert(id, v)
        } else if let Some(i) = self.slot(id) {
            self.window[i].replace(v)
        } else {
            // Just past the window, and not absurdly far: grow the window; else the overflow map.
            let gap = id.checked_sub(end).map(|g| g as usize);
            match gap {
                Some(g) if g <= 64 + self.len => {
                    for _ in 0..g {
                        self.window.push_back(None);
                    }
                    self.window.push_back(Some(v));
                    None
                }
                _ => self.overflow.insert(id, v),
            }
        };
        if old.is_none() {
            self.len += 1;
        }
        if self.window.len() > SLACK * self.len + MARGIN {
            self.trim();
        }
        old
    }
    #[inline]
    pub fn remove(&mut self, id: u64) -> Option<V> {
        let slot = self.slot(id);
        let old = match slot.and_then(|i| self.window[i].take()) {
            Some(v) => Some(v),
            None if self.overflow.is_empty() => None,
            None => self.overflow.remove(&id),
        };
        if old.is_some() {
            self.len -= 1;
            // Only the front can become empty slots worth dropping.
            if slot == Some(0) {
                self.trim();
            }
        }
        old
    }
    /// Drops empty front slots; moves front entries to the overflow map while the window is far
    /// larger than what is live.
    fn trim(&mut self) {
        loop {
            match self.window.front() {
                Some(None) => {}
                Some(Some(_)) if self.window.len() > SLACK * self.len + MARGIN => {
                    if let Some(v) = self.window[0].take() {
                        self.overflow.insert(self.base, v);
                    }
                }
                _ => break,
            }
            self.window.advance();
            self.base += 1;
        }
    }
    /// Every entry as (id, value), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &V)> {
        let base = self.base;
        self.window.iter().enumerate().filter_map(move |(i, v)| v.as_ref().map(|v| (base + i as u64, v))).chain(self.overflow.iter().map(|(k, v)| (*k, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::{IdTable, MARGIN, SLACK};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// The table behaves as a map whatever the order of ids, and its window stays bounded.
        #[test]
        fn id_table_is_a_map(ops in prop::collection::vec((any::<bool>(), prop_oneof![0..3000u64, any::<u64>()]), 0..3000)) {
            let mut t = IdTable::default();
            let mut m = BTreeMap::new();
            let mut next = 0u64;
            for (insert, far) in ops {
                // Mostly in-order ids, sometimes anywhere.
                let id = if far % 7 == 0 { far } else { next += 1; next.saturating_sub(far % 50) };
                if insert {
                    prop_assert_eq!(t.insert(id, id), m.insert(id, id));
                } else {
                    prop_assert_eq!(t.remove(id), m.remove(&id));
                }
                prop_assert_eq!(t.len(), m.len());
                prop_assert!(t.window.len() <= SLACK * t.len() + MARGIN + 64 + t.len() + 1);
            }
            for (k, v) in &m {
                prop_assert_eq!(t.get(*k), Some(v));
            }
            let mut all: Vec<u64> = t.iter().map(|(k, _)| k).collect();
            all.sort_unstable();
            prop_assert_eq!(all, m.keys().copied().collect::<Vec<_>>());
        }
    }
}
