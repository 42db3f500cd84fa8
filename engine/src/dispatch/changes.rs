//! Change logs for indexes that policies keep over the waiting queue. [`TaskViews`] logs the id of
//! every task whose view it stores, hands out for writing or removes; [`WaitQueue`] logs every id
//! it queues or unqueues, with which of the two it was. A policy that indexes the queue (tessera-policies' `QueueIndex`) keeps a
//! cursor into each log and, before a decision, re-reads only the tasks logged since: an index
//! updated from what `RouteState` exposes, with no call from the core. A log is bounded: when it
//! outgrows a few times what is live, its older half is dropped, and a reader whose cursor fell
//! behind (or that is shown another log: each has its own source number) rebuilds from the queue.
//! A log keeps ids only once someone has read it: until then it only counts (a core whose policy
//! keeps no index pays one add per change), and its first reader rebuilds.
//!
//! [`TaskViews`]: super::TaskViews
//! [`WaitQueue`]: super::WaitQueue

use crate::core::ids::TaskId;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static SOURCES: AtomicU64 = AtomicU64::new(1);

/// A log of changes (task ids, or for the queue (id, joined)), numbered from the log's creation
/// (entry `base` is `ids[0]`).
#[derive(Debug)]
pub struct Changes<E = TaskId> {
    source: u64,
    base: u64,
    ids: Vec<E>,
    /// Someone asked for entries ([`Changes::since`]): keep ids from now on.
    read: AtomicBool,
}

impl<E> Default for Changes<E> {
    fn default() -> Self {
        Changes { source: SOURCES.fetch_add(1, Ordering::Relaxed), base: 0, ids: Vec::new(), read: AtomicBool::new(false) }
    }
}

/// A copy is another log: readers of the original rebuild when shown the copy.
impl<E> Clone for Changes<E> {
    fn clone(&self) -> Self {
        Changes::default()
    }
}

impl<E> Changes<E> {
    /// Logs `id`; `live` (what the owner holds now) bounds the log at 4 × live + 4,096 entries.
    #[inline]
    pub(crate) fn record(&mut self, id: E, live: usize) {
        if !*self.read.get_mut() {
            self.base += 1; // unread: counted, not kept
            return;
        }
        self.ids.push(id);
        if self.ids.len() > 4096 + 4 * live {
            let half = self.ids.len() / 2;
            self.ids.drain(..half);
            self.base += half as u64;
        }
    }
    /// Which log this is (unique in the process; a reader keeps it beside its cursor).
    pub fn source(&self) -> u64 {
        self.source
    }
    /// The number of the next entry: a reader that has applied everything keeps this as its cursor.
    pub fn end(&self) -> u64 {
        self.base + self.ids.len() as u64
    }
    /// The ids logged from entry `from` on (in order, repeats included), or None when some of
    /// them were dropped (or never kept: the log's first reader): the reader must rebuild from the
    /// current state.
    pub fn since(&self, from: u64) -> Option<&[E]> {
        if !self.read.load(Ordering::Relaxed) {
            self.read.store(true, Ordering::Relaxed);
        }
        let i = from.checked_sub(self.base)?;
        self.ids.get(i as usize..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn a_log_drops_its_older_half_and_tells_late_readers() {
        let mut c: Changes = Changes::default();
        c.record(TaskId(0), 0);
        assert_eq!(c.end(), 1);
        assert!(c.since(0).is_none(), "an unread log kept nothing: its first reader rebuilds");
        assert_eq!(c.since(1), Some(&[][..]));
        let mut c: Changes = Changes::default();
        assert_eq!(c.since(0), Some(&[][..]));
        for i in 0..5000u64 {
            c.record(TaskId(i), 0);
        }
        let end = c.end();
        assert_eq!(end, 5000);
        assert!(c.since(0).is_none(), "entries 0.. were dropped");
        assert_eq!(c.since(4998), Some(&[TaskId(4998), TaskId(4999)][..]));
        assert_eq!(c.since(end), Some(&[][..]));
        assert!(c.since(end + 1).is_none());
        assert_ne!(c.clone().source(), c.source());
        assert_ne!(Changes::<TaskId>::default().source(), c.source());
    }
}
