//! Fixed priority: a static order of streams. A free annotator takes the waiting task of the
//! highest stream `priority` (larger first), oldest first within a priority; a new task goes to
//! the longest-idle eligible annotator. Non-preemptive.

use crate::common::{longest_idle, oldest_in_streams};
use tessera_engine::dispatch::{eligible, RouteState, Router};
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use rand::RngCore;

pub struct FixedPriority;

impl Router for FixedPriority {
    fn name(&self) -> &str {
        "fixed-priority"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        // Fast path: priority levels from the top, over the streams with waiting tasks that this
        // annotator could take (its skills; reviewers may take any stream's reviews); the oldest
        // eligible task of the first level that has one wins. The full scan below is the
        // definition, and runs only when the fast path finds nothing.
        let view = st.annotator(a);
        let facts = st.queue.streams();
        let mut levels: [(u32, u64); 64] = [(0, 0); 64];
        let mut n = 0;
        // (Stream sets are 64-bit masks: with more streams, stages that need other skills than
        // their stream's type, or tasks with their own priority, the full scan below decides.)
        for (s, f) in facts.iter().enumerate().take(if facts.len() <= 64 && st.queue.stream_facts_decide() { 64 } else { 0 }) {
            let skilled = view.reviewer || matches!(view.skills.get(f.ttype as usize), Some(Some(_)));
            if st.queue.waiting(s as u16) == 0 || !skilled {
                continue;
            }
            match levels[..n].iter_mut().find(|l| l.0 == f.priority) {
                Some(l) => l.1 |= 1u64 << s,
                None => {
                    levels[n] = (f.priority, 1u64 << s);
                    n += 1;
                }
            }
        }
        levels[..n].sort_unstable_by(|x, y| y.0.cmp(&x.0));
        for &(_, streams) in &levels[..n] {
            if let Some(pos) = oldest_in_streams(a, st, streams) {
                return Some(pos);
            }
        }
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
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        longest_idle(t, st)
    }
}
