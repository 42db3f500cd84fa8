//! MaxWeight (Tassiulas & Ephremides 1992; the cμQ form benchmarked by QGym, Chen et al. 2024):
//! a free annotator a serves the task class (stream) i maximising Q_i × h_i × μ_ia, where Q_i is
//! the number of stream-i tasks waiting, h_i the stream's `holding_cost` (1 by default, giving the
//! textbook Q·μ) and μ_ia the annotator's declared service rate on the stream's type; within the
//! class it takes the oldest task it is eligible for. A new task goes to the fastest eligible idle
//! annotator (the pair with the largest μ). Non-preemptive.

use crate::common::{fastest_idle, rate};
use tessera_engine::dispatch::{eligible, RouteState, Router};
use tessera_engine::domain::{AnnotatorIdx, TaskSlot};
use tessera_engine::kernel::ActorRng;

#[derive(Default)]
pub struct MaxWeight {
    /// Per stream: waiting count, first eligible position, h × μ for this annotator (reused).
    count: Vec<u32>,
    first: Vec<usize>,
    weight: Vec<f64>,
}

impl Router for MaxWeight {
    fn name(&self) -> &str {
        "max-weight"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, _: &mut ActorRng) -> Option<usize> {
        let view = st.annotator(a);
        self.count.iter_mut().for_each(|c| *c = 0);
        self.first.iter_mut().for_each(|f| *f = usize::MAX);
        for (pos, &t) in st.queue.iter().enumerate() {
            let task = st.task(t);
            let s = task.stream as usize;
            if s >= self.count.len() {
                self.count.resize(s + 1, 0);
                self.first.resize(s + 1, usize::MAX);
                self.weight.resize(s + 1, 0.0);
            }
            self.count[s] += 1;
            if self.first[s] == usize::MAX && eligible(task, view) {
                self.first[s] = pos;
                self.weight[s] = task.holding_cost as f64 * rate(task, view);
            }
        }
        let mut best: Option<(usize, f64)> = None;
        for s in 0..self.count.len() {
            if self.first[s] == usize::MAX {
                continue;
            }
            let w = self.count[s] as f64 * self.weight[s];
            // Ties go to the class whose oldest task is older.
            if best.is_none_or(|(p, b)| w > b || (w == b && self.first[s] < p)) {
                best = Some((self.first[s], w));
            }
        }
        best.map(|b| b.0)
    }
    fn pick_annotator(&mut self, t: TaskSlot, st: &RouteState, _: &mut ActorRng) -> Option<usize> {
        fastest_idle(t, st)
    }
}
