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
//!
//! Candidates. A round does not put every waiting task in the matrix: within a class of the
//! [`QueueIndex`] (tasks the same annotators may take, bar their own labelers and decliners) a
//! pair's weight depends only on the annotator, but for the age term, so for each idle annotator
//! eligible for a class only its k oldest tasks there can be in an optimal matching, k = the
//! number of idle annotators eligible for the class. (If an annotator held a younger one, one of
//! its k oldest is free, since the others hold at most k − 1 tasks of the class: swapping in that
//! older task keeps the count and raises the age term.) The round keeps those columns, at most
//! k + (tasks that turn annotators away) per class, in queue order and with their queue
//! positions, so weights and the optimum are those of the full matrix, and the cost of a round
//! no longer grows with the queue: O(n² · columns) for n idle annotators instead of O(n² · queue).
//! When every task is a candidate (short queues) the matrix is exactly the full one; otherwise the
//! solver may settle a tie between equally good matchings differently (annotators with the same
//! declared skill and cost swapped), which moves leaderboard figures within their noise (see
//! benches/RESULTS.md, "Routing"). Without id order in the queue (hand-built states) every task is
//! a column.

use crate::assignment::Hungarian;
use crate::common::skill;
use crate::index::QueueIndex;
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
    index: QueueIndex<()>,
    /// Scratch, reused: the columns (queue position, task) in queue order and their ids; the idle
    /// rows eligible for a class and how many candidates each has there; the pairs found.
    cols: Vec<(usize, TaskId)>,
    ids: Vec<u64>,
    rows: Vec<usize>,
    taken: Vec<usize>,
    picked: Vec<(usize, TaskId, AnnotatorIdx)>,
    /// Every waiting task a column (the reference the candidate rule is tested against).
    all_columns: bool,
}

impl BatchLp {
    pub fn new(interval: Dur, lambda: f64) -> Self {
        BatchLp {
            interval,
            lambda,
            solver: Hungarian::default(),
            cost: Vec::new(),
            ok: Vec::new(),
            out: Vec::new(),
            index: QueueIndex::new(|_| Some(())),
            cols: Vec::new(),
            ids: Vec::new(),
            rows: Vec::new(),
            taken: Vec::new(),
            picked: Vec::new(),
            all_columns: false,
        }
    }
    /// Every waiting task a column in every round: the definition without the candidate rule.
    pub fn with_all_columns(mut self) -> Self {
        self.all_columns = true;
        self
    }

    /// The columns of a round from the index: per class, the oldest tasks until every idle
    /// annotator eligible for the class has as many it may take as there are such annotators.
    fn candidates(&mut self, st: &RouteState) {
        let ix = &self.index;
        self.ids.clear();
        self.taken.clear();
        self.taken.resize(st.idle.len(), 0);
        for class in ix.classes() {
            if class.tasks.is_empty() {
                continue;
            }
            self.rows.clear();
            for (i, &a) in st.idle.iter().enumerate() {
                if eligible(&class.rep, st.annotator(a)) {
                    self.rows.push(i);
                    self.taken[i] = 0;
                }
            }
            let quota = self.rows.len();
            let mut short = quota;
            for ((), id) in class.tasks.iter() {
                if short == 0 {
                    break;
                }
                let mut keep = false;
                for &i in &self.rows {
                    if self.taken[i] < quota && !ix.turns_away(st.idle[i], id) {
                        self.taken[i] += 1;
                        short -= (self.taken[i] == quota) as usize;
                        keep = true;
                    }
                }
                if keep {
                    self.ids.push(id);
                }
            }
        }
        self.ids.sort_unstable();
        self.cols.clear();
        for &id in &self.ids {
            if let Some(pos) = st.queue.position_of(TaskId(id)) {
                self.cols.push((pos, TaskId(id)));
            }
        }
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
        // Rows: idle annotators; columns: candidate tasks, in queue order.
        let (n, m) = (st.idle.len(), st.queue.len());
        if n == 0 || m == 0 {
            return Vec::new();
        }
        if !self.all_columns && self.index.refresh(st) {
            self.candidates(st);
        } else {
            self.cols.clear();
            self.cols.extend(st.queue.iter().copied().enumerate());
        }
        let k = self.cols.len();
        self.cost.clear();
        self.ok.clear();
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &a in st.idle {
            let view = st.annotator(a);
            for &(pos, t) in &self.cols {
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
        self.solver.solve_rect(&self.cost, n, k, &mut self.out);
        // (queue position, column's task, row's annotator), oldest task first: the dispatcher
        // applies pairs in order.
        self.picked.clear();
        for (i, j) in self.out.iter().enumerate() {
            if let Some(j) = *j {
                if self.ok[i * k + j] {
                    self.picked.push((self.cols[j].0, self.cols[j].1, st.idle[i]));
                }
            }
        }
        self.picked.sort_unstable_by_key(|p| p.0);
        self.picked.iter().map(|&(_, t, a)| (t, a)).collect()
    }
}
