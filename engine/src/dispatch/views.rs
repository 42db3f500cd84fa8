//! The live tasks keyed by durable [`TaskId`]s: what routing reads of each (its [`TaskView`]) and,
//! beside it, the decision core's own record of the task, which routing cannot see. Tests and
//! benchmarks build views by hand.

use super::TaskView;
use crate::core::ids::{IdTable, TaskId};
use crate::core::TaskWork;

#[derive(Clone, Debug)]
struct Entry {
    view: TaskView,
    work: TaskWork,
}

/// The live tasks by id.
#[derive(Clone, Debug, Default)]
pub struct TaskViews {
    map: IdTable<Entry>,
}

impl TaskViews {
    /// Stores (or replaces) a view under its id (tests and benchmarks; the core stores its own
    /// record beside it).
    pub fn insert(&mut self, view: TaskView) {
        self.insert_task(view, TaskWork::default());
    }
    pub(crate) fn insert_task(&mut self, view: TaskView, work: TaskWork) {
        self.map.insert(view.id.0, Entry { view, work });
    }
    #[inline]
    pub fn get(&self, id: TaskId) -> Option<&TaskView> {
        self.map.get(id.0).map(|e| &e.view)
    }
    /// The view of a task known to be live (a queued task always is).
    #[inline]
    pub fn view(&self, id: TaskId) -> &TaskView {
        match self.map.get(id.0) {
            Some(e) => &e.view,
            None => panic!("routing asked for task {id:?}, which has no view: the queue and the views disagree"),
        }
    }
    #[inline]
    pub(crate) fn get_mut(&mut self, id: TaskId) -> Option<&mut TaskView> {
        self.map.get_mut(id.0).map(|e| &mut e.view)
    }
    #[inline]
    pub(crate) fn work(&self, id: TaskId) -> Option<&TaskWork> {
        self.map.get(id.0).map(|e| &e.work)
    }
    #[inline]
    pub(crate) fn work_mut(&mut self, id: TaskId) -> Option<&mut TaskWork> {
        self.map.get_mut(id.0).map(|e| &mut e.work)
    }
    #[inline]
    pub(crate) fn both(&self, id: TaskId) -> Option<(&TaskView, &TaskWork)> {
        self.map.get(id.0).map(|e| (&e.view, &e.work))
    }
    #[inline]
    pub(crate) fn both_mut(&mut self, id: TaskId) -> Option<(&mut TaskView, &mut TaskWork)> {
        self.map.get_mut(id.0).map(|e| (&mut e.view, &mut e.work))
    }
    pub(crate) fn remove(&mut self, id: TaskId) -> Option<(TaskView, TaskWork)> {
        self.map.remove(id.0).map(|e| (e.view, e.work))
    }
    /// Every live task, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (TaskId, &TaskView, &TaskWork)> {
        self.map.iter().map(|(id, e)| (TaskId(id), &e.view, &e.work))
    }
    /// Live tasks.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
