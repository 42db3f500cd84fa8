//! The future event list: messages ordered by (time, insertion sequence).
//!
//! Delayed messages wait in a slab; a binary heap orders only their keys (time, sequence, slab
//! slot), so a heap step moves 24 bytes, not a whole message. Messages sent "now" go to a FIFO
//! side queue, which keeps the common zero-delay send O(1) while preserving the exact (time, seq)
//! order.

use std::collections::{HashSet, VecDeque};

/// One scheduled delivery.
pub struct Entry<M> {
    pub time: u64,
    pub seq: u64,
    pub to: u32,
    pub msg: M,
}

/// The heap's view of a delayed entry: its order key and where its message waits.
#[derive(Clone, Copy)]
struct Key {
    time: u64,
    seq: u64,
    slot: u32,
}

impl Key {
    /// (time, seq) as one number: comparing two keys is one wide comparison.
    #[inline(always)]
    fn order(&self) -> u128 {
        (self.time as u128) << 64 | self.seq as u128
    }
}

/// A binary min-heap of keys by (time, seq), moved by holes (each step one 24-byte copy).
#[derive(Default)]
struct KeyHeap {
    keys: Vec<Key>,
}

impl KeyHeap {
    #[inline]
    fn peek(&self) -> Option<&Key> {
        self.keys.first()
    }
    #[inline]
    fn len(&self) -> usize {
        self.keys.len()
    }
    #[inline]
    fn push(&mut self, k: Key) {
        let mut i = self.keys.len();
        self.keys.push(k);
        let o = k.order();
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.keys[parent].order() <= o {
                break;
            }
            self.keys[i] = self.keys[parent];
            i = parent;
        }
        self.keys[i] = k;
    }
    #[inline]
    fn pop(&mut self) -> Option<Key> {
        let last = self.keys.pop()?;
        let n = self.keys.len();
        if n == 0 {
            return Some(last);
        }
        let top = self.keys[0];
        // Sift `last` down from the root.
        let o = last.order();
        let mut i = 0;
        loop {
            let l = 2 * i + 1;
            if l >= n {
                break;
            }
            let r = l + 1;
            let c = if r < n && self.keys[r].order() < self.keys[l].order() { r } else { l };
            if o <= self.keys[c].order() {
                break;
            }
            self.keys[i] = self.keys[c];
            i = c;
        }
        self.keys[i] = last;
        Some(top)
    }
}

/// Pending messages in delivery order.
pub struct EventList<M> {
    heap: KeyHeap,
    /// Messages of the heap's entries, by slot: (recipient, message); free slots are listed in `free`.
    slab: Vec<Option<(u32, M)>>,
    free: Vec<u32>,
    now_queue: VecDeque<Entry<M>>,
    cancelled: HashSet<u64>,
    next_seq: u64,
}

impl<M> Default for EventList<M> {
    fn default() -> Self {
        Self { heap: KeyHeap::default(), slab: Vec::new(), free: Vec::new(), now_queue: VecDeque::new(), cancelled: HashSet::new(), next_seq: 0 }
    }
}

impl<M> EventList<M> {
    /// Schedules `msg` for `to` at `time`; `now` is the current instant (messages at `now` take the
    /// fast path). Returns the insertion sequence number, which identifies the entry.
    #[inline]
    pub fn push(&mut self, now: u64, time: u64, to: u32, msg: M) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if time <= now {
            self.now_queue.push_back(Entry { time: now, seq, to, msg });
        } else {
            self.push_delayed(time, seq, to, msg);
        }
        seq
    }

    #[inline]
    fn push_delayed(&mut self, time: u64, seq: u64, to: u32, msg: M) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = Some((to, msg));
                slot
            }
            None => {
                self.slab.push(Some((to, msg)));
                (self.slab.len() - 1) as u32
            }
        };
        self.heap.push(Key { time, seq, slot });
    }

    /// Takes the message of a key just popped off the heap.
    #[inline]
    fn take(&mut self, k: Key) -> Entry<M> {
        self.free.push(k.slot);
        let (to, msg) = self.slab[k.slot as usize].take().expect("a heap key has its message");
        Entry { time: k.time, seq: k.seq, to, msg }
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
                (Some(a), Some(b)) if (b.time, b.seq) < (a.time, a.seq) => (b.time, b.seq, false),
                (Some(a), _) => (a.time, a.seq, true),
                (None, Some(b)) => (b.time, b.seq, false),
                (None, None) => return None,
            };
            if !self.cancelled.is_empty() && self.cancelled.remove(&seq) {
                if from_now {
                    self.now_queue.pop_front();
                } else if let Some(k) = self.heap.pop() {
                    self.take(k);
                }
                continue;
            }
            return Some(time);
        }
    }

    /// Removes and returns the next live entry.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<Entry<M>> {
        loop {
            let take_now = match (self.now_queue.front(), self.heap.peek()) {
                (Some(a), Some(b)) => (a.time, a.seq) < (b.time, b.seq),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return None,
            };
            let e = if take_now {
                self.now_queue.pop_front()?
            } else {
                let k = self.heap.pop()?;
                self.take(k)
            };
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
    fn many_entries_come_out_in_time_then_sequence_order() {
        let mut q = EventList::default();
        let mut x = 12345u64;
        let mut want = Vec::new();
        let mut got = Vec::new();
        for round in 0..50u64 {
            for _ in 0..40 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let t = round * 10 + (x >> 60);
                let seq = q.push(round * 10, t, 0, ());
                want.push((t.max(round * 10), seq));
            }
            for _ in 0..20 {
                let e = q.pop().unwrap();
                got.push((e.time, e.seq));
            }
        }
        while let Some(e) = q.pop() {
            got.push((e.time, e.seq));
        }
        assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order");
        want.sort();
        got.sort();
        assert_eq!(got, want);
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
