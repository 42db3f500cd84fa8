//! Uncertainty-first (active learning, e.g. Settles 2009's least-confidence sampling): a free
//! annotator takes the eligible waiting task whose current label confidence
//! (`TaskView.confidence`, the leading label's share of votes; 0 before any label) is lowest,
//! oldest first among equals; a new task goes to the longest-idle eligible annotator.

use crate::common::longest_idle;
use tessera_engine::dispatch::{eligible, RouteState, Router};
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use rand::RngCore;

pub struct UncertaintyFirst;

impl Router for UncertaintyFirst {
    fn name(&self) -> &str {
        "uncertainty-first"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
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
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        longest_idle(t, st)
    }
}
