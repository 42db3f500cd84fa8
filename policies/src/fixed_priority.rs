//! Fixed priority: a static order of streams. A free annotator takes the waiting task of the
//! highest stream `priority` (larger first), oldest first within a priority; a new task goes to
//! the longest-idle eligible annotator. Non-preemptive.

use crate::common::longest_idle;
use tessera_engine::dispatch::{eligible, RouteState, Router};
use tessera_engine::domain::{AnnotatorIdx, TaskSlot};
use tessera_engine::kernel::ActorRng;

pub struct FixedPriority;

impl Router for FixedPriority {
    fn name(&self) -> &str {
        "fixed-priority"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, _: &mut ActorRng) -> Option<usize> {
        let view = st.annotator(a);
        let mut best: Option<(usize, u32)> = None;
        for (pos, &t) in st.queue.iter().enumerate() {
            let task = st.task(t);
            // The queue is in arrival order: a strictly higher priority is needed to win.
            if best.is_none_or(|(_, p)| task.priority > p) && eligible(task, view) {
                best = Some((pos, task.priority));
            }
        }
        best.map(|b| b.0)
    }
    fn pick_annotator(&mut self, t: TaskSlot, st: &RouteState, _: &mut ActorRng) -> Option<usize> {
        longest_idle(t, st)
    }
}
