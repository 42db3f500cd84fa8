//! An index of the waiting queue for the policies whose definition is a minimum (or a count) over
//! every waiting task: label-studio (fewest labels), uncertainty-first (least confidence),
//! cheapest-capable (oldest task whose bar the annotator meets) and batch-lp (its candidates).
//!
//! Tasks are grouped by *class*: what `dispatch::eligible` reads of a task (stream, type, language,
//! review flag, stage) plus the stream's accuracy bar, so one representative view per class answers
//! eligibility for all its tasks but their own labelers and decliners (`TaskView::turns_away`,
//! the split `eligible`'s doc comment guarantees). Each class keeps its tasks ordered by a policy
//! key, then by id; each annotator keeps the ids of the waiting tasks that turn it away. A pick
//! looks at the classes eligible for the annotator and at the front of each, instead of every
//! waiting task. The core keeps the queue in task-id order (`WaitQueue::in_id_order`), so id order
//! is queue order and a position is a binary search; when that does not hold, or a task has no key
//! (a NaN confidence), [`QueueIndex::refresh`] says so and the policy takes its full scan, which is
//! its definition.
//!
//! The index follows the queue through the change logs of the views and the queue
//! (`dispatch::Changes`): before a decision it re-reads only the tasks logged since the last one
//! (queue changes first, which decide membership; then view changes of the tasks that wait), and
//! rebuilds from the queue when the logs were trimmed past its cursor or belong to another state,
//! when the queue left id order meanwhile (it may have held an id twice) or the workforce changed
//! size. No allocation once warmed up: blocks, slots and scratch vectors are reused.

use smallvec::SmallVec;
use std::collections::{HashMap, HashSet};
use tessera_engine::core::ids::{IdHasher, IdTable};
use tessera_engine::dispatch::{RouteState, TaskView};
use tessera_engine::domain::{AnnotatorIdx, TaskId};

/// Elements per block before it splits in two (a removal at the front moves at most this many).
const CAP: usize = 64;

/// A sorted set in blocks of at most [`CAP`] elements: inserts and removals move at most a block,
/// iteration is sequential, and a range count costs a block length per block. Emptied blocks are
/// kept for reuse.
#[derive(Debug)]
pub(crate) struct Sorted<T> {
    blocks: Vec<Vec<T>>,
    /// The last element of each block.
    lasts: Vec<T>,
    spare: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Sorted<T> {
    fn default() -> Self {
        Sorted { blocks: Vec::new(), lasts: Vec::new(), spare: Vec::new(), len: 0 }
    }
}

/// A place in a [`Sorted`]: (block, index in it); past the end when the block is.
pub(crate) type Cursor = (usize, usize);

impl<T: Ord + Copy> Sorted<T> {
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The first block whose last element is ≥ x (the block count when none is).
    #[inline]
    fn block_of(&self, x: &T) -> usize {
        self.lasts.partition_point(|l| l < x)
    }
    pub fn insert(&mut self, x: T) -> bool {
        if self.blocks.is_empty() {
            let mut b = self.spare.pop().unwrap_or_default();
            b.push(x);
            self.blocks.push(b);
            self.lasts.push(x);
            self.len = 1;
            return true;
        }
        let bi = self.block_of(&x).min(self.blocks.len() - 1);
        let b = &mut self.blocks[bi];
        let Err(i) = b.binary_search(&x) else { return false };
        b.insert(i, x);
        self.len += 1;
        if b.len() > CAP {
            let mut upper = self.spare.pop().unwrap_or_default();
            upper.extend_from_slice(&b[CAP / 2..]);
            b.truncate(CAP / 2);
            let (last, upper_last) = (b[b.len() - 1], upper[upper.len() - 1]);
            self.lasts[bi] = last;
            self.blocks.insert(bi + 1, upper);
            self.lasts.insert(bi + 1, upper_last);
        } else {
            self.lasts[bi] = b[b.len() - 1];
        }
        true
    }
    pub fn remove(&mut self, x: &T) -> bool {
        let bi = self.block_of(x);
        let Some(b) = self.blocks.get_mut(bi) else { return false };
        let Ok(i) = b.binary_search(x) else { return false };
        b.remove(i);
        self.len -= 1;
        if b.is_empty() {
            let mut b = self.blocks.remove(bi);
            b.clear();
            self.spare.push(b);
            self.lasts.remove(bi);
            return true;
        }
        self.lasts[bi] = b[b.len() - 1];
        // Keep blocks dense: a small block takes in a small successor.
        if bi + 1 < self.blocks.len() && self.blocks[bi].len() + self.blocks[bi + 1].len() <= CAP / 2 {
            let mut next = self.blocks.remove(bi + 1);
            self.lasts.remove(bi + 1);
            self.blocks[bi].extend_from_slice(&next);
            self.lasts[bi] = next[next.len() - 1];
            next.clear();
            self.spare.push(next);
        }
        true
    }
    #[inline]
    pub fn contains(&self, x: &T) -> bool {
        self.blocks.get(self.block_of(x)).is_some_and(|b| b.binary_search(x).is_ok())
    }
    pub fn first(&self) -> Option<T> {
        self.blocks.first().map(|b| b[0])
    }
    /// Empties the set, keeping its blocks.
    pub fn clear(&mut self) {
        for mut b in self.blocks.drain(..) {
            b.clear();
            self.spare.push(b);
        }
        self.lasts.clear();
        self.len = 0;
    }
    /// The place of the first element ≥ x.
    #[inline]
    pub fn lower_bound(&self, x: &T) -> Cursor {
        let bi = self.block_of(x);
        match self.blocks.get(bi) {
            Some(b) => (bi, b.partition_point(|y| y < x)),
            None => (bi, 0),
        }
    }
    #[inline]
    pub fn at(&self, c: Cursor) -> Option<T> {
        self.blocks.get(c.0).and_then(|b| b.get(c.1)).copied()
    }
    /// The place after `c` (which must hold an element).
    #[inline]
    pub fn next(&self, c: Cursor) -> Cursor {
        if c.1 + 1 < self.blocks[c.0].len() {
            (c.0, c.1 + 1)
        } else {
            (c.0 + 1, 0)
        }
    }
    /// The place `k` elements after `c` (which must hold an element, or be past the end).
    pub fn advance(&self, c: Cursor, mut k: usize) -> Cursor {
        let (mut b, mut i) = c;
        while let Some(block) = self.blocks.get(b) {
            if i + k < block.len() {
                return (b, i + k);
            }
            k -= block.len() - i;
            (b, i) = (b + 1, 0);
        }
        (b, 0)
    }
    /// The elements ≥ x, in order.
    pub fn iter_from(&self, x: &T) -> impl Iterator<Item = T> + '_ {
        let (bi, i) = self.lower_bound(x);
        self.blocks.get(bi).map(|b| &b[i..]).into_iter().flatten().chain(self.blocks.iter().skip(bi + 1).flatten()).copied()
    }
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.blocks.iter().flatten().copied()
    }
    /// How many elements lie in [lo, hi).
    pub fn count_range(&self, lo: &T, hi: &T) -> usize {
        let (b1, i1) = self.lower_bound(lo);
        let (b2, i2) = self.lower_bound(hi);
        if (b1, i1) >= (b2, i2) {
            return 0;
        }
        if b1 == b2 {
            return i2 - i1;
        }
        self.blocks[b1].len() - i1 + self.blocks[b1 + 1..b2].iter().map(Vec::len).sum::<usize>() + i2
    }
}

/// A group of waiting tasks that the same annotators may take (bar their own labelers and
/// decliners), ordered by (policy key, id).
#[derive(Debug)]
pub(crate) struct Class<K> {
    /// A view with the class's stream, type, language, review flag, stage and accuracy bar, and no
    /// labelers or decliners: `eligible(&rep, a)` is eligibility for every task of the class but
    /// those that turn `a` away.
    pub rep: TaskView,
    pub tasks: Sorted<(K, u64)>,
}

/// (stream, type, language, review, stage, min_accuracy bits)
type ClassKey = (u16, u16, Option<u16>, bool, u16, u32);

#[derive(Debug)]
struct Rec<K> {
    class: u32,
    /// None: the task has no key (the policy must scan while it waits).
    key: Option<K>,
    /// Annotators it turns away that the index records (ids below the workforce size).
    away: SmallVec<[AnnotatorIdx; 4]>,
    /// The refresh that read it.
    epoch: u64,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct QueueIndex<K> {
    key: fn(&TaskView) -> Option<K>,
    built: bool,
    /// Sources of the views' and the queue's change logs, the cursors in them, and the queue's
    /// disorder count (a change means it may have held an id twice: rebuild).
    sources: (u64, u64),
    cursors: (u64, u64),
    disorders: u64,
    /// Refreshes so far (a task read in this one is not read again for a view change).
    epoch: u64,
    /// Workforce size when built (the per-annotator sets are sized to it).
    annotators: usize,
    recs: IdTable<u32>,
    slots: Vec<Rec<K>>,
    free: Vec<u32>,
    classes: Vec<Class<K>>,
    class_of: HashMap<ClassKey, u32, IdHasher>,
    /// Per annotator: the waiting tasks that turn it away, by id.
    away: Vec<Sorted<u64>>,
    keyless: usize,
    /// Queued ids without a view (none in the core; the scans would panic on them): with the
    /// indexed ones, every waiting id, so a view change needs no queue lookup.
    viewless: HashSet<u64, IdHasher>,
}

impl<K: Ord + Copy> QueueIndex<K> {
    /// An index ordering each class by `key` (None: the task cannot be indexed, and the policy
    /// scans while it waits), then by id.
    pub fn new(key: fn(&TaskView) -> Option<K>) -> Self {
        QueueIndex {
            key,
            built: false,
            sources: (0, 0),
            cursors: (0, 0),
            disorders: 0,
            epoch: 0,
            annotators: 0,
            recs: IdTable::default(),
            slots: Vec::new(),
            free: Vec::new(),
            classes: Vec::new(),
            class_of: HashMap::default(),
            away: Vec::new(),
            keyless: 0,
            viewless: HashSet::default(),
        }
    }

    /// Brings the index up to date with `st`. False when the policy must take its full scan
    /// instead: the queue is not in id order, or a waiting task has no key.
    pub fn refresh(&mut self, st: &RouteState) -> bool {
        if !st.queue.in_id_order() {
            return false;
        }
        let (views, queue) = (st.tasks.changes(), st.queue.changes());
        let same = self.built && self.sources == (views.source(), queue.source()) && self.annotators == st.annotators.len() && self.disorders == st.queue.disorders();
        match views.since(self.cursors.0).zip(queue.since(self.cursors.1)).filter(|_| same) {
            Some((v, q)) => {
                // Queue changes first (membership), then view changes re-read the waiting tasks
                // that this refresh has not already read.
                self.epoch += 1;
                for &(id, joined) in q {
                    self.queue_changed(id, joined, st);
                }
                let mut last = None;
                for &id in v {
                    if last != Some(id) {
                        self.view_changed(id, st);
                        last = Some(id);
                    }
                }
            }
            None => self.rebuild(st),
        }
        self.cursors = (views.end(), queue.end());
        self.keyless == 0
    }

    fn rebuild(&mut self, st: &RouteState) {
        self.recs = IdTable::default();
        self.slots.clear();
        self.free.clear();
        for c in &mut self.classes {
            c.tasks.clear();
        }
        self.away.resize_with(st.annotators.len(), Sorted::default);
        self.away.truncate(st.annotators.len());
        for s in &mut self.away {
            s.clear();
        }
        self.keyless = 0;
        self.viewless.clear();
        for &id in st.queue.iter() {
            match st.tasks.get(id) {
                Some(v) => self.index(v),
                None => {
                    self.viewless.insert(id.0);
                }
            }
        }
        self.built = true;
        self.disorders = st.queue.disorders();
        self.sources = (st.tasks.changes().source(), st.queue.changes().source());
        self.annotators = st.annotators.len();
    }

    /// A task's view was stored, written or removed: re-read it if it waits (it is indexed, or
    /// queued without a view).
    fn view_changed(&mut self, id: TaskId, st: &RouteState) {
        if self.recs.get(id.0).is_some_and(|&s| self.slots[s as usize].epoch == self.epoch) {
            return; // read in this refresh already
        }
        if self.unindex(id.0) || (!self.viewless.is_empty() && self.viewless.remove(&id.0)) {
            match st.tasks.get(id) {
                Some(v) => self.index(v),
                None => {
                    self.viewless.insert(id.0);
                }
            }
        }
    }

    /// A task joined or left the queue (the queue held no id twice meanwhile: its disorder count
    /// did not move, so the last entry for an id is what holds now).
    fn queue_changed(&mut self, id: TaskId, joined: bool, st: &RouteState) {
        if !self.unindex(id.0) && !self.viewless.is_empty() {
            self.viewless.remove(&id.0);
        }
        if joined {
            match st.tasks.get(id) {
                Some(v) => self.index(v),
                None => {
                    self.viewless.insert(id.0);
                }
            }
        }
    }

    fn index(&mut self, v: &TaskView) {
        let ck: ClassKey = (v.stream, v.ttype, v.language, v.review, v.stage, v.min_accuracy.to_bits());
        let class = match self.class_of.get(&ck) {
            Some(&c) => c,
            None => {
                let mut rep = v.clone();
                rep.labelers.clear();
                rep.declined = Vec::new();
                rep.reserved_for = None;
                self.classes.push(Class { rep, tasks: Sorted::default() });
                let c = (self.classes.len() - 1) as u32;
                self.class_of.insert(ck, c);
                c
            }
        };
        // A task reserved for some annotators turns away all the others: too many to record,
        // so it has no key and the policy scans while it waits (the scan is the definition).
        let key = if v.reserved_for.is_some() { None } else { (self.key)(v) };
        match key {
            Some(k) => {
                self.classes[class as usize].tasks.insert((k, v.id.0));
            }
            None => self.keyless += 1,
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Rec { class: 0, key: None, away: SmallVec::new(), epoch: 0 });
                (self.slots.len() - 1) as u32
            }
        };
        let rec = &mut self.slots[slot as usize];
        rec.class = class;
        rec.key = key;
        rec.epoch = self.epoch;
        for &a in v.labelers.iter().chain(&v.declined) {
            if let Some(s) = self.away.get_mut(a as usize) {
                if s.insert(v.id.0) {
                    rec.away.push(a);
                }
            }
        }
        self.recs.insert(v.id.0, slot);
    }

    /// Takes a task out of the index; false if it was not in.
    fn unindex(&mut self, id: u64) -> bool {
        let Some(slot) = self.recs.remove(id) else { return false };
        let rec = &mut self.slots[slot as usize];
        match rec.key {
            Some(k) => {
                self.classes[rec.class as usize].tasks.remove(&(k, id));
            }
            None => self.keyless -= 1,
        }
        for &a in &rec.away {
            self.away[a as usize].remove(&id);
        }
        rec.away.clear();
        self.free.push(slot);
        true
    }

    /// Every class seen so far (some may be empty now).
    #[inline]
    pub fn classes(&self) -> &[Class<K>] {
        &self.classes
    }
    /// The waiting tasks that turn `a` away, by id.
    #[inline]
    pub fn away(&self, a: AnnotatorIdx) -> Option<&Sorted<u64>> {
        self.away.get(a as usize).filter(|s| !s.is_empty())
    }
    /// Whether waiting task `id` turns `a` away (it labelled, holds or declined it).
    #[inline]
    pub fn turns_away(&self, a: AnnotatorIdx, id: u64) -> bool {
        self.away(a).is_some_and(|s| s.contains(&id))
    }
    /// The class and key of a waiting task.
    #[inline]
    pub fn entry(&self, id: u64) -> Option<(u32, Option<K>)> {
        self.recs.get(id).map(|&s| {
            let r = &self.slots[s as usize];
            (r.class, r.key)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeSet;

    #[test]
    fn sorted_blocks_behave_as_a_set() {
        let mut g = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut s = Sorted::default();
        let mut r = BTreeSet::new();
        for step in 0..60_000 {
            let x: u32 = g.random_range(0..3000);
            if g.random_bool(if step < 30_000 { 0.7 } else { 0.3 }) {
                assert_eq!(s.insert(x), r.insert(x));
            } else {
                assert_eq!(s.remove(&x), r.remove(&x));
            }
            assert_eq!(s.len(), r.len());
            if step % 997 == 0 {
                assert!(s.iter().eq(r.iter().copied()));
                assert!(s.lasts.iter().zip(&s.blocks).all(|(l, b)| !b.is_empty() && b.len() <= CAP && b.last() == Some(l)));
            }
            let (lo, hi) = (g.random_range(0..3100), g.random_range(0..3100));
            assert_eq!(s.count_range(&lo, &hi), r.range(lo..hi.max(lo)).count());
            assert_eq!(s.contains(&lo), r.contains(&lo));
            assert!(s.iter_from(&lo).take(5).eq(r.range(lo..).take(5).copied()));
            let skip = g.random_range(0..300);
            assert_eq!(s.at(s.advance(s.lower_bound(&lo), skip)), r.range(lo..).nth(skip).copied());
            let mut c = s.lower_bound(&lo);
            for want in r.range(lo..).take(3) {
                assert_eq!(s.at(c), Some(*want));
                c = s.next(c);
            }
            assert_eq!(s.first(), r.first().copied());
        }
        s.clear();
        assert!(s.is_empty() && s.iter().next().is_none() && s.first().is_none());
    }
}
