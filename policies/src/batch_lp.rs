//! Batch LP assignment: every Δt (`routing.batch_interval`, default 60 s) the waiting tasks are
//! assigned to the idle annotators by an exact min-cost assignment ([`crate::assignment`], the
//! Hungarian algorithm), rather than one greedy pick at a time.
//!
//! Objective, over the eligible pairs (task t, annotator a) chosen, each annotator and each task
//! at most once per round:
//!
//! ```text
//!   maximise  Σ  M  +  accuracy_a(type t) − λ · cost_per_item_a(type t)  +  ε · age_rank(t)
//! ```
//!
//! M is larger than the whole spread of the rest, so the round first starts as many tasks as it
//! can (work conservation: no annotator left idle next to a task it could take) and, among those
//! maximal matchings, maximises expected right labels minus λ × dollars (λ = `routing.cost_weight`,
//! [per USD], default 1). ε = 1e-6 per rank favours older tasks only between otherwise equal
//! choices. A task with several open assignments (overlap) gets one per round. Between rounds the
//! policy does nothing (annotators that free up wait for the next round): that idle time is the
//! price of batching, visible in the benchmark.

use crate::assignment::Hungarian;
use crate::common::skill;
use tessera_engine::dispatch::{eligible, RouteState, Router};
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use rand::RngCore;
use tessera_engine::time::{Dur, US_PER_SEC};

/// Default round interval.
pub const DEFAULT_INTERVAL: Dur = Dur(60 * US_PER_SEC);

pub struct BatchLp {
    interval: Dur,
    /// λ [per USD].
    lambda: f64,
    solver: Hungarian,
    cost: Vec<f64>,
    ok: Vec<bool>,
    out: Vec<Option<usize>>,
}

impl BatchLp {
    pub fn new(interval: Dur, lambda: f64) -> Self {
        BatchLp { interval, lambda, solver: Hungarian::default(), cost: Vec::new(), ok: Vec::new(), out: Vec::new() }
    }
}

impl Default for BatchLp {
    fn default() -> Self {
        Self::new(DEFAULT_INTERVAL, 1.0)
    }
}

impl Router for BatchLp {
    fn name(&self) -> &str {
        "batch-lp"
    }
    fn pick_task(&mut self, _: AnnotatorIdx, _: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        None
    }
    fn pick_annotator(&mut self, _: TaskId, _: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        None
    }
    fn batch_interval(&self) -> Option<Dur> {
        Some(self.interval)
    }
    fn assign_batch(&mut self, st: &RouteState, _: &mut dyn RngCore) -> Vec<(TaskId, AnnotatorIdx)> {
        // Rows: idle annotators; columns: waiting tasks.
        let (n, m) = (st.idle.len(), st.queue.len());
        if n == 0 || m == 0 {
            return Vec::new();
        }
        self.cost.clear();
        self.ok.clear();
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &a in st.idle {
            let view = st.annotator(a);
            for (pos, &t) in st.queue.iter().enumerate() {
                let task = st.task(t);
                let ok = eligible(task, view);
                let w = match skill(task, view) {
                    Some(s) if ok => s.accuracy - self.lambda * s.cost_per_item + 1e-6 * (m - pos) as f64 / m as f64,
                    _ => 0.0,
                };
                if ok {
                    lo = lo.min(w);
                    hi = hi.max(w);
                }
                self.ok.push(ok);
                self.cost.push(w);
            }
        }
        if lo > hi {
            return Vec::new(); // no eligible pair
        }
        // Big-M: larger than any difference in the weight sums of two matchings.
        let big = 1.0 + (n.min(m) as f64) * (hi - lo + 1.0) + hi.abs() + lo.abs();
        for (c, &ok) in self.cost.iter_mut().zip(&self.ok) {
            *c = if ok { -(big + *c) } else { 0.0 };
        }
        self.solver.solve_rect(&self.cost, n, m, &mut self.out);
        let mut pairs = Vec::with_capacity(n.min(m));
        for (i, j) in self.out.iter().enumerate() {
            if let Some(j) = *j {
                if self.ok[i * m + j] {
                    pairs.push((st.queue[j], st.idle[i]));
                }
            }
        }
        // Oldest task first (the dispatcher applies pairs in order).
        pairs.sort_by_key(|&(t, _)| st.queue.iter().position(|&q| q == t));
        pairs
    }
}
