//! Round-robin: new tasks go to the annotators in turn (a cursor walks the annotator indices
//! cyclically; the next eligible idle annotator at or after the cursor gets the task and the
//! cursor moves past it). A free annotator takes the oldest eligible task.

use crate::common::oldest_task;
use tessera_engine::dispatch::{eligible, RouteState, Router};
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use rand::RngCore;

#[derive(Default)]
pub struct RoundRobin {
    /// The annotator index whose turn it is.
    next: u32,
}

impl Router for RoundRobin {
    fn name(&self) -> &str {
        "round-robin"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        oldest_task(a, st)
    }
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        let n = st.annotators.len().max(1) as u64;
        let task = st.task(t);
        let mut best: Option<(usize, u64)> = None;
        for (pos, &a) in st.idle.iter().enumerate() {
            if !eligible(task, st.annotator(a)) {
                continue;
            }
            // Distance from the cursor, cyclically.
            let d = (a as u64 + n - self.next as u64 % n) % n;
            if best.is_none_or(|(_, b)| d < b) {
                best = Some((pos, d));
            }
        }
        let (pos, _) = best?;
        self.next = (st.idle[pos] + 1) % n as u32;
        Some(pos)
    }
}
