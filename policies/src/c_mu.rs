//! The cμ rule (Cox & Smith 1961; its multi-server form, e.g. van Mieghem 1995): a free
//! annotator a takes the waiting task with the largest index h_i × μ_ia, where h_i is the task's
//! stream `holding_cost` [USD per task-hour] and μ_ia the annotator's declared service rate on its
//! type; ties go to the earliest deadline, then the oldest task. A new task goes to the fastest
//! eligible idle annotator (largest μ, hence largest h × μ for that task). Non-preemptive.

use crate::common::{fastest_idle, rate};
use tessera_engine::dispatch::{eligible, RouteState, Router};
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use rand::RngCore;

pub struct CMu;

impl Router for CMu {
    fn name(&self) -> &str {
        "c-mu"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        let view = st.annotator(a);
        // Fast path: h × μ is a property of (stream, annotator), so the best streams come from
        // the per-stream counts; within a stream the queue is in arrival order and so in deadline
        // order (the dispatcher's invariant), so the first eligible task of each best stream is
        // its candidate, and the earliest deadline among them wins. Reviewers, who may take
        // reviews of types they cannot label, and a best class with nothing eligible, take the
        // full scan below, which is the definition.
        // (The stream set is a 64-bit mask: with more streams, stages that need other skills
        // than their stream's type, or tasks with their own deadline, the full scan decides.)
        if !view.reviewer && st.queue.streams().len() <= 64 && st.queue.stream_facts_decide() {
            let (mut best, mut mask) = (f64::NEG_INFINITY, 0u64);
            for (s, f) in st.queue.streams().iter().enumerate() {
                let Some(skill) = view.skills.get(f.ttype as usize).copied().flatten() else { continue };
                if st.queue.waiting(s as u16) == 0 {
                    continue;
                }
                let index = f.holding_cost as f64 * (3600.0 / skill.mean_secs.max(1e-9));
                if index > best {
                    (best, mask) = (index, 1u64 << s);
                } else if index == best {
                    mask |= 1u64 << s;
                }
            }
            let mut found: Option<(u64, usize)> = None;
            let mut remaining = mask;
            for (pos, &t) in st.queue.iter().enumerate() {
                if remaining == 0 {
                    break;
                }
                let task = st.task(t);
                let bit = 1u64 << task.stream;
                if remaining & bit == 0 || !eligible(task, view) {
                    continue;
                }
                remaining &= !bit;
                let due = task.deadline.map_or(u64::MAX, |d| d.0);
                if found.is_none_or(|(d, _)| due < d) {
                    found = Some((due, pos));
                }
            }
            if let Some((_, pos)) = found {
                return Some(pos);
            }
        }
        let mut best: Option<(usize, f64, u64)> = None;
        for (pos, &t) in st.queue.iter().enumerate() {
            let task = st.task(t);
            if !eligible(task, view) {
                continue;
            }
            let index = task.holding_cost as f64 * rate(task, view);
            let due = task.deadline.map_or(u64::MAX, |d| d.0);
            if best.is_none_or(|(_, b, bd)| index > b || (index == b && due < bd)) {
                best = Some((pos, index, due));
            }
        }
        best.map(|b| b.0)
    }
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        fastest_idle(t, st)
    }
}
