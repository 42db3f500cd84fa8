//! The waiting queue: tasks with open assignments in the order they joined, plus what routing
//! needs without scanning it: how many tasks of each stream wait, and each stream's static
//! routing facts (type, priority, holding cost).

use crate::core::ids::TaskId;
use std::collections::VecDeque;
use std::ops::Deref;

/// What routing may know of a stream without looking at its tasks.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StreamFacts {
    pub ttype: u16,
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
}

impl WaitQueue {
    pub fn new(facts: Vec<StreamFacts>) -> Self {
        WaitQueue { order: VecDeque::new(), waiting: vec![0; facts.len()], facts }
    }
    pub fn push_back(&mut self, id: TaskId, stream: u16) {
        self.order.push_back(id);
        self.waiting[stream as usize] += 1;
    }
    pub fn insert(&mut self, pos: usize, id: TaskId, stream: u16) {
        self.order.insert(pos, id);
        self.waiting[stream as usize] += 1;
    }
    pub fn remove(&mut self, pos: usize, stream: u16) -> Option<TaskId> {
        let id = self.order.remove(pos)?;
        self.waiting[stream as usize] -= 1;
        Some(id)
    }
    /// Tasks of `stream` waiting.
    pub fn waiting(&self, stream: u16) -> u32 {
        self.waiting[stream as usize]
    }
    /// Static facts of every stream, by stream index.
    pub fn streams(&self) -> &[StreamFacts] {
        &self.facts
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
}
