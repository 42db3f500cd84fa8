//! Active learning's orderings, on the model's confidence (not people's votes, which
//! `uncertainty-first` reads):
//!
//! - `model-least-confident`: a free annotator takes the eligible waiting task whose pre-label the
//!   model is least sure of (`TaskView::model_confidence`; least-confidence sampling, Settles
//!   2009), oldest first among equals; tasks with no pre-label come last.
//! - `model-least-confident-balanced`: the same within one predicted class at a time, the classes
//!   taken in turn (the class after the one of the task it handed out last, cyclically, skipping
//!   classes with nothing eligible), so that a batch of uncertain items is not all one predicted
//!   class: a diversity-aware variant (class-balanced uncertainty sampling, e.g. Aggarwal et al.
//!   2021's survey of imbalance-aware active learning).
//!
//! A new task goes to the longest-idle eligible annotator. The scores change when a retrained
//! model scores the waiting tasks again (`models.learning.rescore_waiting`), once per retrain; the
//! [`QueueIndex`] follows those view changes, so no decision scans the queue. The definitions are
//! the `pick_task_scan`s, which the policy also takes while the queue is out of id order.

use crate::common::longest_idle;
use crate::index::QueueIndex;
use rand::RngCore;
use tessera_engine::dispatch::{eligible, RouteState, Router, TaskView};
use tessera_engine::domain::{AnnotatorIdx, TaskId};

/// A task's score: its model confidence's bits (non-negative floats order as their bits); no
/// pre-label (or a confidence that is not a number ≥ 0, which the core never stores) sorts after
/// every confidence.
fn score(t: &TaskView) -> u32 {
    match t.model_confidence {
        Some(c) if c >= 0.0 => (c + 0.0).to_bits(),
        _ => u32::MAX,
    }
}

/// A task's predicted class (no pre-label: after every class).
fn class(t: &TaskView) -> u16 {
    t.prelabel.unwrap_or(u16::MAX)
}

/// `model-least-confident` (`balanced` = false) and `model-least-confident-balanced`.
pub struct ModelLeastConfident {
    balanced: bool,
    /// The predicted class of the task handed out last (balanced only).
    last: Option<u16>,
    index: QueueIndex<(u16, u32)>,
}

impl ModelLeastConfident {
    pub fn new(balanced: bool) -> Self {
        // Balanced: ordered by class, then score; plain: by score alone (class 0 for every task).
        let index = if balanced { QueueIndex::new(|t| Some((class(t), score(t)))) } else { QueueIndex::new(|t| Some((0, score(t)))) };
        ModelLeastConfident { balanced, last: None, index }
    }

    /// The class the next pick starts its turn at (balanced): the one after the last.
    pub fn target(&self) -> u16 {
        self.last.map_or(0, |l| l.wrapping_add(1))
    }

    /// The definition: one pass over the whole queue. The least (cyclic distance of its class
    /// from `target`, score, id) among eligible tasks; plain ordering: `target` is ignored.
    pub fn pick_task_scan(balanced: bool, target: u16, a: AnnotatorIdx, st: &RouteState) -> Option<usize> {
        let view = st.annotator(a);
        let mut best: Option<((u16, u32, u64), usize)> = None;
        for (pos, &t) in st.queue.iter().enumerate() {
            let task = st.task(t);
            let s = score(task);
            let d = if balanced { class(task).wrapping_sub(target) } else { 0 };
            let key = (d, s, t.0);
            if best.is_none_or(|(b, _)| key < b) && eligible(task, view) {
                best = Some((key, pos));
            }
        }
        best.map(|b| b.1)
    }

    fn pick_indexed(&self, a: AnnotatorIdx, st: &RouteState) -> Option<usize> {
        let view = st.annotator(a);
        let ix = &self.index;
        let target = if self.balanced { self.target() } else { 0 };
        let mut best: Option<(u16, u32, u64)> = None;
        for c in ix.classes() {
            if c.tasks.is_empty() || !eligible(&c.rep, view) {
                continue;
            }
            // Within an index class, tasks run by (predicted class, score, id): the first one at or
            // after the target class that does not turn the annotator away is the nearest in the
            // cycle; failing that, the first from the start (the wrap-around).
            let valid = |e: &((u16, u32), u64)| !ix.turns_away(a, e.1);
            let found = c.tasks.iter_from(&((target, 0), 0)).find(valid).or_else(|| c.tasks.iter().find(valid));
            if let Some(((cl, s), id)) = found {
                let key = (cl.wrapping_sub(target), s, id);
                if best.is_none_or(|b| key < b) {
                    best = Some(key);
                }
            }
        }
        best.and_then(|(_, _, id)| st.queue.position_of(TaskId(id)))
    }
}

impl Router for ModelLeastConfident {
    fn name(&self) -> &str {
        if self.balanced {
            "model-least-confident-balanced"
        } else {
            "model-least-confident"
        }
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        let pos = if self.index.refresh(st) { self.pick_indexed(a, st) } else { Self::pick_task_scan(self.balanced, self.target(), a, st) };
        if self.balanced {
            if let Some(p) = pos {
                self.last = Some(class(st.task(st.queue[p])));
            }
        }
        pos
    }
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        longest_idle(t, st)
    }
}
