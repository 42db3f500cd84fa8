//! Cheapest-capable: a new task goes to the idle eligible annotator with the lowest declared cost
//! per item among those whose declared accuracy on its type meets the stream's `min_accuracy`
//! (ties to the one idle longest); a free annotator takes the oldest eligible task whose bar it
//! meets. When nobody in the workforce meets a bar, the bar drops to the best declared accuracy
//! on that type, so no task waits forever.
//!
//! The free annotator's pick is the first task in queue order that passes both tests
//! ([`CheapestCapable::pick_task_scan`]); both hold for a whole class of the [`QueueIndex`] (the
//! bar is the stream's, in the class) but for the tasks that turn the annotator away, so the pick
//! is the oldest of the classes' first such tasks, however many tasks it is not good enough for.

use crate::common::skill;
use crate::index::QueueIndex;
use tessera_engine::dispatch::{eligible, AnnotatorView, RouteState, Router};
use tessera_engine::dispatch::TaskView;
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use rand::RngCore;

pub struct CheapestCapable {
    /// Best declared accuracy per task type over the whole workforce (declared skills are static;
    /// filled on the first decision).
    best_by_type: Vec<f64>,
    index: QueueIndex<()>,
}

impl Default for CheapestCapable {
    fn default() -> Self {
        CheapestCapable { best_by_type: Vec::new(), index: QueueIndex::new(|_| Some(())) }
    }
}

impl CheapestCapable {
    fn learn(&mut self, st: &RouteState) {
        if !self.best_by_type.is_empty() {
            return;
        }
        for a in st.annotators {
            if a.skills.len() > self.best_by_type.len() {
                self.best_by_type.resize(a.skills.len(), 0.0);
            }
            for (k, s) in a.skills.iter().enumerate() {
                if let Some(s) = s {
                    self.best_by_type[k] = self.best_by_type[k].max(s.accuracy);
                }
            }
        }
    }
    #[inline]
    fn capable(&self, t: &TaskView, a: &AnnotatorView) -> bool {
        let best = self.best_by_type.get(t.ttype as usize).copied().unwrap_or(0.0);
        let bar = (t.min_accuracy as f64).min(best) - 1e-9;
        skill(t, a).is_some_and(|s| s.accuracy >= bar)
    }
    /// The definition: the first waiting task that is eligible and whose bar `a` meets.
    pub fn pick_task_scan(&mut self, a: AnnotatorIdx, st: &RouteState) -> Option<usize> {
        self.learn(st);
        let view = st.annotator(a);
        st.queue.iter().position(|&t| {
            let task = st.task(t);
            eligible(task, view) && self.capable(task, view)
        })
    }
    fn pick_indexed(&self, a: AnnotatorIdx, st: &RouteState) -> Option<usize> {
        let view = st.annotator(a);
        let ix = &self.index;
        let mut best: Option<u64> = None;
        for class in ix.classes() {
            if class.tasks.is_empty() || !eligible(&class.rep, view) || !self.capable(&class.rep, view) {
                continue;
            }
            for ((), id) in class.tasks.iter() {
                if best.is_some_and(|b| id >= b) {
                    break;
                }
                if !ix.turns_away(a, id) {
                    best = Some(id);
                    break;
                }
            }
        }
        best.and_then(|id| st.queue.position_of(TaskId(id)))
    }
}

impl Router for CheapestCapable {
    fn name(&self) -> &str {
        "cheapest-capable"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        self.learn(st);
        if self.index.refresh(st) {
            self.pick_indexed(a, st)
        } else {
            self.pick_task_scan(a, st)
        }
    }
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        self.learn(st);
        let task = st.task(t);
        let mut best: Option<(usize, f64)> = None;
        for (pos, &a) in st.idle.iter().enumerate() {
            let view = st.annotator(a);
            if !(eligible(task, view) && self.capable(task, view)) {
                continue;
            }
            let cost = skill(task, view).map_or(f64::INFINITY, |s| s.cost_per_item);
            if best.is_none_or(|(_, c)| cost < c) {
                best = Some((pos, cost));
            }
        }
        best.map(|b| b.0)
    }
}
