//! The cμ rule (Cox & Smith 1961; its multi-server form, e.g. van Mieghem 1995): a free
//! annotator a takes the waiting task with the largest index h_i × μ_ia, where h_i is the task's
//! stream `holding_cost` [USD per task-hour] and μ_ia the annotator's declared service rate on its
//! type; ties go to the earliest deadline, then the oldest task. A new task goes to the fastest
//! eligible idle annotator (largest μ, hence largest h × μ for that task). Non-preemptive.

use crate::common::{fastest_idle, rate};
use tessera_engine::dispatch::{eligible, RouteState, Router};
use tessera_engine::domain::{AnnotatorIdx, TaskSlot};
use tessera_engine::kernel::ActorRng;

pub struct CMu;

impl Router for CMu {
    fn name(&self) -> &str {
        "c-mu"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, _: &mut ActorRng) -> Option<usize> {
        let view = st.annotator(a);
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
    fn pick_annotator(&mut self, t: TaskSlot, st: &RouteState, _: &mut ActorRng) -> Option<usize> {
        fastest_idle(t, st)
    }
}
