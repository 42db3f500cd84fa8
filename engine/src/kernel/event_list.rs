//! The future event list: messages ordered by (time, insertion sequence).
//!
//! Delayed messages live in a binary heap; messages sent "now" go to a FIFO side queue, which keeps
//! the common zero-delay send O(1) while preserving the exact (time, seq) order.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet, VecDeque};

/// One scheduled delivery.
pub struct Entry<M> {
    pub time: u64,
    pub seq: u64,
    pub to: u32,
    pub msg: M,
}

struct HeapEntry<M>(Entry<M>);

impl<M> PartialEq for HeapEntry<M> {
    fn eq(&self, o: &Self) -> bool {
        self.0.time == o.0.time && self.0.seq == o.0.seq
    }
}
impl<M> Eq for HeapEntry<M> {}
impl<M> PartialOrd for HeapEntry<M> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<M> Ord for HeapEntry<M> {
    /// Reversed: the earliest (time, seq) is the heap's maximum.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.0.time, o.0.seq).cmp(&(self.0.time, self.0.seq))
    }
}

/// Pending messages in delivery order.
pub struct EventList<M> {
    heap: BinaryHeap<HeapEntry<M>>,
    now_queue: VecDeque<Entry<M>>,
    cancelled: HashSet<u64>,
    next_seq: u64,
}

impl<M> Default for EventList<M> {
    fn default() -> Self {
        Self { heap: BinaryHeap::new(), now_queue: VecDeque::new(), cancelled: HashSet::new(), next_seq: 0 }
    }
}

impl<M> EventList<M> {
    /// Schedules `msg` for `to` at `time`; `now` is the current instant (messages at `now` take the
    /// fast path). Returns the insertion sequence number, which identifies the entry.
    #[inline]
    pub fn push(&mut self, now: u64, time: u64, to: u32, msg: M) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let e = Entry { time, seq, to, msg };
        if time <= now {
            self.now_queue.push_back(Entry { time: now, ..e });
        } else {
            self.heap.push(HeapEntry(e));
        }
        seq
    }

    /// Marks the entry with sequence `seq` as cancelled; it is dropped when it comes up.
    pub fn cancel(&mut self, seq: u64) {
        if seq < self.next_seq {
            self.cancelled.insert(seq);
        }
    }

    /// Time of the next live entry, if any.
    pub fn peek_time(&mut self) -> Option<u64> {
        loop {
            let (time, seq, from_now) = match (self.now_queue.front(), self.heap.peek()) {
                (Some(a), Some(b)) if (b.0.time, b.0.seq) < (a.time, a.seq) => (b.0.time, b.0.seq, false),
                (Some(a), _) => (a.time, a.seq, true),
                (None, Some(b)) => (b.0.time, b.0.seq, false),
                (None, None) => return None,
            };
            if !self.cancelled.is_empty() && self.cancelled.remove(&seq) {
                if from_now {
                    self.now_queue.pop_front();
                } else {
                    self.heap.pop();
                }
                continue;
            }
            return Some(time);
        }
    }

    /// Removes and returns the next live entry.
    #[inline]
    pub fn pop(&mut self) -> Option<Entry<M>> {
        loop {
            let take_now = match (self.now_queue.front(), self.heap.peek()) {
                (Some(a), Some(b)) => (a.time, a.seq) < (b.0.time, b.0.seq),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return None,
            };
            let e = if take_now { self.now_queue.pop_front().unwrap() } else { self.heap.pop().unwrap().0 };
            if !self.cancelled.is_empty() && self.cancelled.remove(&e.seq) {
                continue;
            }
            return Some(e);
        }
    }

    /// Number of pending entries (cancelled ones included until they come up).
    pub fn len(&self) -> usize {
        self.heap.len() + self.now_queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn orders_by_time_then_sequence() {
        let mut q = EventList::default();
        q.push(0, 5, 0, "b");
        q.push(0, 3, 0, "a");
        q.push(0, 5, 0, "c");
        q.push(0, 0, 0, "now");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|e| e.msg)).collect();
        assert_eq!(order, ["now", "a", "b", "c"]);
    }
    #[test]
    fn immediate_sends_queue_behind_earlier_entries_due_now() {
        let mut q = EventList::default();
        q.push(0, 10, 0, "timer-at-10");
        let e = q.pop().unwrap();
        assert_eq!(e.time, 10);
        q.push(0, 20, 0, "later");
        q.push(10, 10, 0, "sent-now-1");
        q.push(10, 10, 0, "sent-now-2");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|e| e.msg)).collect();
        assert_eq!(order, ["sent-now-1", "sent-now-2", "later"]);
    }
    #[test]
    fn cancelled_entries_are_skipped() {
        let mut q = EventList::default();
        let a = q.push(0, 1, 0, 'a');
        q.push(0, 2, 0, 'b');
        q.cancel(a);
        assert_eq!(q.peek_time(), Some(2));
        assert_eq!(q.pop().unwrap().msg, 'b');
        assert!(q.pop().is_none());
    }
}
