//! The live tasks keyed by durable [`TaskId`]s: what routing reads of each (its [`TaskView`]) and,
//! beside it, the decision core's own record of the task, which routing cannot see. Tests and
//! benchmarks build views by hand. Every view stored, handed out for writing or removed is logged
//! ([`Changes`]) for policies that index the queue.

use super::{Changes, TaskView};
use crate::core::ids::{IdTable, TaskId};
use crate::core::TaskWork;
use std::cell::Cell;

/// The (id, slot) found last: the core looks the same task up many times in a row.
#[derive(Clone, Debug)]
struct Last(Cell<(u64, u32)>);

impl Last {
    const NONE: (u64, u32) = (0, u32::MAX);
}

impl Default for Last {
    fn default() -> Self {
        Last(Cell::new(Last::NONE))
    }
}

#[derive(Clone, Debug)]
struct Entry {
    view: TaskView,
    work: TaskWork,
}

/// The live tasks by id: entries in a compact slab whose slots are reused (a routing scan over
/// the waiting queue touches little memory), found through an id table of slot numbers.
#[derive(Clone, Debug, Default)]
pub struct TaskViews {
    index: IdTable<u32>,
    slab: Vec<Option<Entry>>,
    free: Vec<u32>,
    changes: Changes,
    last: Last,
}

impl TaskViews {
    /// Stores (or replaces) a view under its id (tests and benchmarks; the core stores its own
    /// record beside it).
    pub fn insert(&mut self, view: TaskView) {
        self.insert_task(view, TaskWork::default());
    }
    #[inline]
    pub(crate) fn insert_task(&mut self, view: TaskView, work: TaskWork) {
        let id = view.id.0;
        self.changes.record(view.id, self.index.len());
        if let Some(&slot) = self.index.get(id) {
            self.slab[slot as usize] = Some(Entry { view, work });
            return;
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = Some(Entry { view, work });
                slot
            }
            None => {
                self.slab.push(Some(Entry { view, work }));
                (self.slab.len() - 1) as u32
            }
        };
        self.index.insert(id, slot);
        self.last.0.set((id, slot));
    }
    /// The slab slot of a live task.
    #[inline]
    fn slot(&self, id: TaskId) -> Option<u32> {
        let (last, slot) = self.last.0.get();
        if last == id.0 && slot != u32::MAX {
            return Some(slot);
        }
        let slot = *self.index.get(id.0)?;
        self.last.0.set((id.0, slot));
        Some(slot)
    }
    #[inline]
    fn entry(&self, id: TaskId) -> Option<&Entry> {
        let slot = self.slot(id)?;
        self.slab[slot as usize].as_ref()
    }
    #[inline]
    fn entry_mut(&mut self, id: TaskId) -> Option<&mut Entry> {
        let slot = self.slot(id)?;
        self.slab[slot as usize].as_mut()
    }
    #[inline]
    pub fn get(&self, id: TaskId) -> Option<&TaskView> {
        self.entry(id).map(|e| &e.view)
    }
    /// The view of a task known to be live (a queued task always is).
    #[inline]
    pub fn view(&self, id: TaskId) -> &TaskView {
        match self.entry(id) {
            Some(e) => &e.view,
            None => panic!("routing asked for task {id:?}, which has no view: the queue and the views disagree"),
        }
    }
    /// The view for writing (logged as changed).
    #[inline]
    pub(crate) fn get_mut(&mut self, id: TaskId) -> Option<&mut TaskView> {
        self.changes.record(id, self.index.len());
        self.entry_mut(id).map(|e| &mut e.view)
    }
    #[inline]
    pub(crate) fn work(&self, id: TaskId) -> Option<&TaskWork> {
        self.entry(id).map(|e| &e.work)
    }
    #[inline]
    pub(crate) fn work_mut(&mut self, id: TaskId) -> Option<&mut TaskWork> {
        self.entry_mut(id).map(|e| &mut e.work)
    }
    #[inline]
    pub(crate) fn both(&self, id: TaskId) -> Option<(&TaskView, &TaskWork)> {
        self.entry(id).map(|e| (&e.view, &e.work))
    }
    /// The view (logged as changed) and the core's record, for writing.
    #[inline]
    pub(crate) fn both_mut(&mut self, id: TaskId) -> Option<(&mut TaskView, &mut TaskWork)> {
        self.changes.record(id, self.index.len());
        self.entry_mut(id).map(|e| (&mut e.view, &mut e.work))
    }
    #[inline]
    pub(crate) fn remove(&mut self, id: TaskId) -> Option<(TaskView, TaskWork)> {
        self.changes.record(id, self.index.len());
        if self.last.0.get().0 == id.0 {
            self.last.0.set(Last::NONE);
        }
        let slot = self.index.remove(id.0)?;
        self.free.push(slot);
        self.slab[slot as usize].take().map(|e| (e.view, e.work))
    }
    /// Every live task, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (TaskId, &TaskView, &TaskWork)> {
        self.slab.iter().flatten().map(|e| (e.view.id, &e.view, &e.work))
    }
    /// Live tasks.
    pub fn len(&self) -> usize {
        self.index.len()
    }
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
    /// The ids whose views were stored, written or removed, for policies that index the queue.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }
}
