//! MaxWeight (Tassiulas & Ephremides 1992; the cμQ form benchmarked by QGym, Chen et al. 2024):
//! a free annotator a serves the task class (stream) i maximising Q_i × h_i × μ_ia, where Q_i is
//! the number of stream-i tasks waiting, h_i the stream's `holding_cost` (1 by default, giving the
//! textbook Q·μ) and μ_ia the annotator's declared service rate on the stream's type; within the
//! class it takes the oldest task it is eligible for. A new task goes to the fastest eligible idle
//! annotator (the pair with the largest μ). Non-preemptive.

use crate::common::{fastest_idle, oldest_in_streams, rate};
use tessera_engine::dispatch::{eligible, RouteState, Router};
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use rand::RngCore;

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
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        // Fast path: the weights come from the per-stream counts; the first eligible task of a
        // best-weight class is the answer. Only when no best-weight class has a task this
        // annotator may take does the full scan below run.
        let view = st.annotator(a);
        let (mut best_w, mut best) = (f64::NEG_INFINITY, 0u64);
        for (s, f) in st.queue.streams().iter().enumerate().take(64) {
            let q = st.queue.waiting(s as u16);
            let Some(skill) = view.skills.get(f.ttype as usize).copied().flatten() else { continue };
            if q == 0 {
                continue;
            }
            let w = q as f64 * (f.holding_cost as f64 * (3600.0 / skill.mean_secs.max(1e-9)));
            if w > best_w {
                (best_w, best) = (w, 1u64 << s);
            } else if w == best_w {
                best |= 1u64 << s;
            }
        }
        // (The stream set is a 64-bit mask: with more streams, the full scan below decides.)
        if st.queue.streams().len() <= 64 {
            if let Some(pos) = oldest_in_streams(a, st, best) {
                return Some(pos);
            }
        }
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
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        fastest_idle(t, st)
    }
}
