//! The waiting queue: tasks with open assignments in the order they joined, plus what routing
//! needs without scanning it: how many tasks of each stream wait, each stream's static routing
//! facts (type, priority, holding cost), whether the order is task-id order (the core's invariant,
//! which lets a policy find a task's position by binary search), and a log of the ids queued and
//! unqueued ([`Changes`]) for policies that index the queue.

use super::Changes;
use crate::core::ids::TaskId;
use std::collections::VecDeque;
use std::ops::Deref;

/// What routing may know of a stream without looking at its tasks.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StreamFacts {
    pub ttype: u16,
    /// Some stage of the stream's workflow needs another task type's skill: its waiting tasks do
    /// not all have type `ttype`, so per-stream shortcuts do not apply.
    pub mixed_types: bool,
    pub priority: u32,
    /// [USD per task-hour]
    pub holding_cost: f32,
}

/// Waiting tasks in queue order (dereferences to the order), with counts per stream.
#[derive(Clone, Debug, Default)]
pub struct WaitQueue {
    order: VecDeque<TaskId>,
    waiting: Vec<u32>,
    facts: Vec<StreamFacts>,
    /// Neighbours out of increasing id order (0: the order is strictly increasing task ids).
    descents: usize,
    /// How many times the order stopped being strictly increasing.
    disorders: u64,
    changes: Changes<(TaskId, bool)>,
    /// Some task carried its own priority or deadline (a live task), so a stream's facts no
    /// longer speak for its tasks.
    per_task: bool,
}

impl WaitQueue {
    pub fn new(facts: Vec<StreamFacts>) -> Self {
        WaitQueue { order: VecDeque::new(), waiting: vec![0; facts.len()], facts, descents: 0, disorders: 0, changes: Changes::default(), per_task: false }
    }
    /// A task with its own priority or deadline joined the operation (for good: the fast paths
    /// that trust stream facts stay off).
    pub fn mark_per_task(&mut self) {
        self.per_task = true;
    }
    #[inline]
    fn set_descents(&mut self, descents: usize) {
        self.disorders += (self.descents == 0 && descents > 0) as u64;
        self.descents = descents;
    }
    /// Whether neighbours `a` then `b` break increasing id order.
    #[inline]
    fn descent(a: Option<&TaskId>, b: Option<&TaskId>) -> usize {
        matches!((a, b), (Some(a), Some(b)) if a >= b) as usize
    }
    pub fn push_back(&mut self, id: TaskId, stream: u16) {
        self.set_descents(self.descents + Self::descent(self.order.back(), Some(&id)));
        self.order.push_back(id);
        self.waiting[stream as usize] += 1;
        self.changes.record((id, true), self.order.len());
    }
    pub fn insert(&mut self, pos: usize, id: TaskId, stream: u16) {
        let (before, after) = (pos.checked_sub(1).and_then(|p| self.order.get(p)), self.order.get(pos));
        self.set_descents(self.descents + Self::descent(before, Some(&id)) + Self::descent(Some(&id), after) - Self::descent(before, after));
        self.order.insert(pos, id);
        self.waiting[stream as usize] += 1;
        self.changes.record((id, true), self.order.len());
    }
    pub fn remove(&mut self, pos: usize, stream: u16) -> Option<TaskId> {
        let id = *self.order.get(pos)?;
        let (before, after) = (pos.checked_sub(1).and_then(|p| self.order.get(p)), self.order.get(pos + 1));
        self.set_descents(self.descents + Self::descent(before, after) - Self::descent(before, Some(&id)) - Self::descent(Some(&id), after));
        self.order.remove(pos);
        self.waiting[stream as usize] -= 1;
        self.changes.record((id, false), self.order.len());
        Some(id)
    }
    /// Whether the order is strictly increasing task ids, as the core keeps it (tasks join in id
    /// order, and a task that joins again goes back to its id's place). Policies that rely on it
    /// check it, and take their full scan when it does not hold (hand-built states).
    #[inline]
    pub fn in_id_order(&self) -> bool {
        self.descents == 0
    }
    /// How many times the order stopped being strictly increasing (0 in the core). While it does
    /// not change, the queue never held an id twice, so the last entry of the change log for an
    /// id says whether it waits.
    #[inline]
    pub fn disorders(&self) -> u64 {
        self.disorders
    }
    /// Position of `id` in the queue: a binary search in id order, else a scan.
    #[inline]
    pub fn position_of(&self, id: TaskId) -> Option<usize> {
        if self.in_id_order() {
            self.order.binary_search(&id).ok()
        } else {
            self.order.iter().position(|&q| q == id)
        }
    }
    /// The ids queued (true) and unqueued (false), in order, for policies that index the queue.
    pub fn changes(&self) -> &Changes<(TaskId, bool)> {
        &self.changes
    }
    /// Tasks of `stream` waiting.
    pub fn waiting(&self, stream: u16) -> u32 {
        self.waiting[stream as usize]
    }
    /// Static facts of every stream, by stream index.
    pub fn streams(&self) -> &[StreamFacts] {
        &self.facts
    }
    /// Every stream's waiting tasks have the stream's task type (no stage needs another skill).
    pub fn one_type_per_stream(&self) -> bool {
        !self.facts.iter().any(|f| f.mixed_types)
    }
    /// A stream's facts speak for each of its waiting tasks: one task type per stream, the
    /// stream's priority, and arrival order within a stream is deadline order (no task brought
    /// its own priority or deadline). Policies that decide on stream facts first rely on it.
    pub fn stream_facts_decide(&self) -> bool {
        !self.per_task && self.one_type_per_stream()
    }
}

impl Deref for WaitQueue {
    type Target = VecDeque<TaskId>;
    fn deref(&self) -> &VecDeque<TaskId> {
        &self.order
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn counts_follow_the_order() {
        let mut q = WaitQueue::new(vec![StreamFacts::default(); 2]);
        q.push_back(TaskId(7), 0);
        q.push_back(TaskId(8), 1);
        q.insert(0, TaskId(9), 1);
        assert_eq!(q.iter().copied().collect::<Vec<_>>(), [TaskId(9), TaskId(7), TaskId(8)]);
        assert_eq!((q.waiting(0), q.waiting(1)), (1, 2));
        assert_eq!(q.remove(2, 1), Some(TaskId(8)));
        assert_eq!((q.waiting(0), q.waiting(1)), (1, 1));
    }
    #[test]
    fn id_order_is_tracked_through_every_change() {
        use rand::{Rng, SeedableRng};
        let mut g = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut q = WaitQueue::new(vec![StreamFacts::default()]);
        let start = q.changes().end();
        let (mut logged, mut disorders, mut was_sorted) = (0, 0, true);
        for _ in 0..3000 {
            if q.is_empty() || g.random_bool(0.55) {
                let id = TaskId(g.random_range(0..40));
                let pos = if g.random_bool(0.5) { q.partition_point(|&x| x < id) } else { g.random_range(0..=q.len()) };
                q.insert(pos, id, 0);
            } else {
                let pos = g.random_range(0..q.len());
                q.remove(pos, 0);
            }
            logged += 1;
            let sorted = q.iter().zip(q.iter().skip(1)).all(|(a, b)| a < b);
            assert_eq!(q.in_id_order(), sorted);
            disorders += (was_sorted && !sorted) as u64;
            was_sorted = sorted;
            assert_eq!(q.disorders(), disorders);
            for (p, &id) in q.iter().enumerate() {
                if sorted || q.iter().position(|&x| x == id) == Some(p) {
                    assert_eq!(q.position_of(id), Some(p));
                }
            }
        }
        assert_eq!(q.changes().end() - start, logged);
    }
}
