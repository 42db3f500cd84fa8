//! Uncertainty-first (active learning, e.g. Settles 2009's least-confidence sampling): a free
//! annotator takes the eligible waiting task whose current label confidence
//! (`TaskView.confidence`, the leading label's share of votes; 0 before any label) is lowest,
//! oldest first among equals; a new task goes to the longest-idle eligible annotator.
//!
//! The definition is [`UncertaintyFirst::pick_task_scan`], a pass over the queue. The pick comes
//! from the [`QueueIndex`] instead, each class ordered by (confidence, id): the first task of each
//! eligible class that does not turn the annotator away, the least of those. The same task, as
//! long as confidences are ≥ 0 and not NaN (the core's are shares in [0, 1]); a task with another
//! confidence sends the policy back to the scan while it waits.

use crate::common::longest_idle;
use crate::index::QueueIndex;
use tessera_engine::dispatch::{eligible, RouteState, Router};
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use rand::RngCore;

pub struct UncertaintyFirst {
    index: QueueIndex<u32>,
}

impl Default for UncertaintyFirst {
    fn default() -> Self {
        // Non-negative floats order as their bits; -0.0 + 0.0 is 0.0, which the scan treats as equal.
        UncertaintyFirst { index: QueueIndex::new(|t| (t.confidence >= 0.0).then(|| (t.confidence + 0.0).to_bits())) }
    }
}

impl UncertaintyFirst {
    /// The definition: one pass over the whole queue.
    pub fn pick_task_scan(a: AnnotatorIdx, st: &RouteState) -> Option<usize> {
        let view = st.annotator(a);
        let mut best: Option<(usize, f32)> = None;
        for (pos, &t) in st.queue.iter().enumerate() {
            let task = st.task(t);
            if best.is_none_or(|(_, c)| task.confidence < c) && eligible(task, view) {
                best = Some((pos, task.confidence));
                if task.confidence <= 0.0 {
                    break; // nothing is less certain than no label at all
                }
            }
        }
        best.map(|b| b.0)
    }

    fn pick_indexed(&self, a: AnnotatorIdx, st: &RouteState) -> Option<usize> {
        let view = st.annotator(a);
        let ix = &self.index;
        let mut best: Option<(u32, u64)> = None;
        for class in ix.classes() {
            if class.tasks.is_empty() || !eligible(&class.rep, view) {
                continue;
            }
            for e in class.tasks.iter() {
                if best.is_some_and(|b| e >= b) {
                    break;
                }
                if !ix.turns_away(a, e.1) {
                    best = Some(e);
                    break;
                }
            }
        }
        best.and_then(|(_, id)| st.queue.position_of(TaskId(id)))
    }
}

impl Router for UncertaintyFirst {
    fn name(&self) -> &str {
        "uncertainty-first"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        if self.index.refresh(st) {
            self.pick_indexed(a, st)
        } else {
            Self::pick_task_scan(a, st)
        }
    }
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        longest_idle(t, st)
    }
}
