//! Label aggregation: from many noisy answers per task to one label per task.
//!
//! ```text
//!   Answers (task, worker, label)            Aggregator (parameters only)
//!   dense u32 ids, n_tasks/n_workers/        MajorityVote, Wawa, DawidSkene, ...
//!   n_labels, input order kept                        |
//!            |                                        | fit(&answers, golden)
//!            +--------------------------------------->+
//!                                                     v
//!                                  Aggregation (learned state + output):
//!                                  labels[task], probas[task * n_labels + label],
//!                                  worker skills / confusion matrices, iterations
//! ```
//!
//! Every algorithm lives in its own file and implements [`Aggregator`]. An aggregator value holds
//! only *parameters* (`n_iter`, `tol`, ...); everything it learns comes back in the
//! [`Aggregation`] it returns, so one aggregator can be fitted on many answer sets, from several
//! threads, and is trivially `Send + Sync`.
//!
//! The algorithms follow crowd-kit 1.4.2 (Toloka/crowd-kit) step by step, including its
//! initialisation, floors, stopping rules and tie breaking (ties go to the lowest label id), so
//! that on the same data they give the same labels. Where a crowd-kit step would produce NaN
//! (a task whose every worker has skill 0, a single-label dataset, ...) we pick a documented finite
//! answer instead; each file says which.
//!
//! Architecture invariant: no I/O and no string ids here. Readers (the `scenarios` crate) map
//! names to dense ids; this module only sees integers.
//!
//! ```
//! use tessera_engine::quality::aggregation::{Aggregator, Answers, MajorityVote};
//! // 2 tasks, 3 workers, 2 labels
//! let answers = Answers::new(2, 3, 2, vec![0, 0, 0, 1, 1], vec![0, 1, 2, 0, 1], vec![1, 1, 0, 0, 1])
//!     .unwrap();
//! let result = MajorityVote::default().fit(&answers, None).unwrap();
//! assert_eq!(result.labels, vec![1, 0]); // task 1 is a 1-1 tie: the lowest label wins
//! assert!((result.proba(0)[1] - 2.0 / 3.0).abs() < 1e-12);
//! ```

pub mod dawid_skene;
pub mod glad;
pub mod gold_majority_vote;
pub mod kos;
pub mod mace;
pub mod majority_vote;
pub mod mmsr;
pub mod one_coin_dawid_skene;
pub mod smoothed_dawid_skene;
pub mod wawa;
pub mod zero_based_skill;

pub use dawid_skene::DawidSkene;
pub use glad::Glad;
pub use gold_majority_vote::GoldMajorityVote;
pub use kos::Kos;
pub use mace::Mace;
pub use majority_vote::MajorityVote;
pub use mmsr::Mmsr;
pub use one_coin_dawid_skene::OneCoinDawidSkene;
pub use smoothed_dawid_skene::SmoothedDawidSkene;
pub use wawa::Wawa;
pub use zero_based_skill::ZeroBasedSkill;

use serde::{Deserialize, Serialize};

/// Marks "no label": a task without answers, or a task without a golden label.
pub const NO_LABEL: u32 = u32::MAX;

/// Floor used by crowd-kit for probabilities before taking logs (`_EPS = 1e-10`).
pub(crate) const EPS: f64 = 1e-10;

/// What can go wrong when fitting.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AggregationError {
    #[error("answers table has columns of different lengths: {tasks} tasks, {workers} workers, {labels} labels")]
    LengthMismatch { tasks: usize, workers: usize, labels: usize },
    #[error("answer {index}: {what} id {id} is out of range (there are {n})")]
    IdOutOfRange { index: usize, what: &'static str, id: u32, n: usize },
    #[error("golden labels: expected one entry per task ({expected}), got {got}")]
    GoldenLength { expected: usize, got: usize },
    #[error("golden label {label} of task {task} is out of range (there are {n_labels} labels)")]
    GoldenOutOfRange { task: usize, label: u32, n_labels: usize },
    #[error("worker weights: expected one per worker ({expected}), got {got}")]
    WeightsLength { expected: usize, got: usize },
    #[error("{method} needs golden (known) labels for some tasks")]
    NeedsGolden { method: &'static str },
    #[error("{method} is for binary labels only, the answers use {n} labels")]
    NotBinary { method: &'static str, n: usize },
}

/// Golden (known) labels, one entry per task: `Some(label)` where the true label is known.
pub type Golden = [Option<u32>];

/// The answers table: answer `i` says that worker `worker[i]` gave label `label[i]` to task
/// `task[i]`. Ids are dense (`0..n_tasks`, `0..n_workers`, `0..n_labels`); duplicates are kept
/// (crowd-kit keeps them too); the input order is kept (some algorithms, like crowd-kit's,
/// depend on the order of first appearance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answers {
    pub n_tasks: usize,
    pub n_workers: usize,
    pub n_labels: usize,
    pub task: Vec<u32>,
    pub worker: Vec<u32>,
    pub label: Vec<u32>,
}

impl Answers {
    /// Checks lengths and id ranges.
    pub fn new(
        n_tasks: usize,
        n_workers: usize,
        n_labels: usize,
        task: Vec<u32>,
        worker: Vec<u32>,
        label: Vec<u32>,
    ) -> Result<Self, AggregationError> {
        if task.len() != worker.len() || task.len() != label.len() {
            return Err(AggregationError::LengthMismatch {
                tasks: task.len(),
                workers: worker.len(),
                labels: label.len(),
            });
        }
        for (what, col, n) in
            [("task", &task, n_tasks), ("worker", &worker, n_workers), ("label", &label, n_labels)]
        {
            if let Some((index, &id)) = col.iter().enumerate().find(|(_, &id)| id as usize >= n) {
                return Err(AggregationError::IdOutOfRange { index, what, id, n });
            }
        }
        Ok(Answers { n_tasks, n_workers, n_labels, task, worker, label })
    }

    /// Number of answers.
    pub fn len(&self) -> usize {
        self.task.len()
    }

    pub fn is_empty(&self) -> bool {
        self.task.is_empty()
    }

    /// Answers grouped by task (a counting sort; input order kept inside a task).
    pub fn by_task(&self) -> TaskIndex {
        TaskIndex::group(&self.task, self.n_tasks)
    }

    /// For each answer, whether it is the first occurrence of its (task, worker, label) triple.
    /// crowd-kit's worker accuracy (`get_accuracy`) counts each triple once.
    pub fn first_occurrence(&self, idx: &TaskIndex) -> Vec<bool> {
        let mut first = vec![true; self.len()];
        let mut seen: Vec<(u32, u32)> = Vec::new();
        for t in 0..self.n_tasks {
            seen.clear();
            for &a in idx.answers(t) {
                let key = (self.worker[a as usize], self.label[a as usize]);
                if seen.contains(&key) {
                    first[a as usize] = false;
                } else {
                    seen.push(key);
                }
            }
        }
        first
    }

    /// Labels in order of first appearance (pandas `factorize` / `unique` order).
    pub fn labels_by_first_appearance(&self) -> Vec<u32> {
        let mut seen = vec![false; self.n_labels];
        let mut out = Vec::new();
        for &l in &self.label {
            if !seen[l as usize] {
                seen[l as usize] = true;
                out.push(l);
            }
        }
        out
    }

    /// Checks a golden vector against this table.
    pub fn check_golden(&self, golden: &Golden) -> Result<(), AggregationError> {
        if golden.len() != self.n_tasks {
            return Err(AggregationError::GoldenLength { expected: self.n_tasks, got: golden.len() });
        }
        for (task, g) in golden.iter().enumerate() {
            if let Some(label) = *g {
                if label as usize >= self.n_labels {
                    return Err(AggregationError::GoldenOutOfRange {
                        task,
                        label,
                        n_labels: self.n_labels,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Answer indices grouped by task: the answers of task `t` are
/// `order[offsets[t]..offsets[t + 1]]`.
#[derive(Debug, Clone)]
pub struct TaskIndex {
    pub offsets: Vec<u32>,
    pub order: Vec<u32>,
}

impl TaskIndex {
    /// The indices `0..keys.len()` grouped by key (`keys[i] < n`), by a counting sort: group `k`
    /// is `order[offsets[k]..offsets[k + 1]]`, in ascending index order. O(#keys + n).
    pub fn group(keys: &[u32], n: usize) -> Self {
        let mut offsets = vec![0u32; n + 1];
        for &k in keys {
            offsets[k as usize + 1] += 1;
        }
        for k in 0..n {
            offsets[k + 1] += offsets[k];
        }
        let mut fill = offsets.clone();
        let mut order = vec![0u32; keys.len()];
        for (i, &k) in keys.iter().enumerate() {
            order[fill[k as usize] as usize] = i as u32;
            fill[k as usize] += 1;
        }
        TaskIndex { offsets, order }
    }

    pub fn answers(&self, t: usize) -> &[u32] {
        &self.order[self.offsets[t] as usize..self.offsets[t + 1] as usize]
    }
    pub fn count(&self, t: usize) -> usize {
        (self.offsets[t + 1] - self.offsets[t]) as usize
    }
}

/// The result of a fit: output per task plus the learned state of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregation {
    pub n_labels: usize,
    /// Final label per task ([`NO_LABEL`] for a task without answers).
    pub labels: Vec<u32>,
    /// Posterior (or normalised score) of every label, row-major `[task * n_labels + label]`.
    /// Rows of tasks without answers are all zero.
    pub probas: Vec<f64>,
    /// Per-worker skill, where the model has one (accuracy, weight, reliability ...).
    pub worker_skills: Option<Vec<f64>>,
    /// Per-worker confusion matrices, where the model has them: P(worker answers `observed` |
    /// true label is `true`), kept only for the labels each worker used (see [`Confusion`]).
    pub confusion: Option<Confusion>,
    /// Per-task difficulty (GLAD's `exp(beta)`), where the model has one.
    pub task_difficulty: Option<Vec<f64>>,
    /// EM / update iterations used (0 for one-shot methods).
    pub iterations: usize,
    /// Objective after each iteration, where the model tracks one.
    pub loss_history: Vec<f64>,
}

impl Aggregation {
    /// The posterior row of one task.
    pub fn proba(&self, task: usize) -> &[f64] {
        &self.probas[task * self.n_labels..(task + 1) * self.n_labels]
    }

    /// The posterior (score) of the chosen label; 0 for a task without answers.
    pub fn confidence(&self, task: usize) -> f64 {
        match self.labels[task] {
            NO_LABEL => 0.0,
            l => self.proba(task)[l as usize],
        }
    }

    /// Share of tasks with a known truth whose label matches it (None if no task has one).
    pub fn accuracy(&self, truth: &[Option<u32>]) -> Option<f64> {
        let (mut hit, mut n) = (0usize, 0usize);
        for (t, g) in truth.iter().enumerate().take(self.labels.len()) {
            if let (Some(g), l) = (g, self.labels[t]) {
                if l != NO_LABEL {
                    n += 1;
                    hit += (l == *g) as usize;
                }
            }
        }
        (n > 0).then(|| hit as f64 / n as f64)
    }
}

/// Per-worker confusion matrices, one row per (worker, label the worker used): a worker who used 3
/// of 2,000 labels has 3 rows of 2,000 values, not 2,000 × 2,000. The rows of a label a worker
/// never used are all zero and not stored. Memory: O(R × K) for the R distinct (worker, label)
/// pairs of the answers (R ≤ min(#answers, workers × K)), plus O(workers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    pub n_labels: usize,
    /// The rows of worker `w` are `offsets[w]..offsets[w + 1]`.
    pub offsets: Vec<u32>,
    /// The observed label of each row, ascending within a worker.
    pub observed: Vec<u32>,
    /// `values[row * n_labels + true]` = P(worker answers `observed[row]` | true label is `true`).
    pub values: Vec<f64>,
}

impl Confusion {
    /// P(`worker` answers `observed` | true label is `truth`); 0 for a label the worker never used.
    pub fn get(&self, worker: usize, observed: u32, truth: usize) -> f64 {
        self.row(worker, observed).map_or(0.0, |r| r[truth])
    }

    /// The row of (`worker`, `observed`): one value per true label, or None if the worker never
    /// used `observed`.
    pub fn row(&self, worker: usize, observed: u32) -> Option<&[f64]> {
        let (lo, hi) = (self.offsets[worker] as usize, self.offsets[worker + 1] as usize);
        let r = lo + self.observed[lo..hi].binary_search(&observed).ok()?;
        Some(&self.values[r * self.n_labels..(r + 1) * self.n_labels])
    }
}

/// A label aggregation algorithm. The value holds parameters only; `fit` returns the learned
/// state together with the labels, like crowd-kit's `fit_predict` + fitted attributes.
pub trait Aggregator: Send + Sync {
    /// Short name, as on the command line (`ds`, `mv`, ...).
    fn name(&self) -> &'static str;
    /// Fits the model and labels every task. `golden` (one entry per task) is used by the
    /// algorithms that can use known labels and ignored by the others.
    fn fit(&self, answers: &Answers, golden: Option<&Golden>)
        -> Result<Aggregation, AggregationError>;
}

/// The algorithms by command-line name, with default parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    Mv,
    Wawa,
    Zbs,
    GoldMv,
    Ds,
    OneCoinDs,
    Glad,
    Mace,
    Kos,
    Mmsr,
    DsSmoothed,
}

impl Method {
    /// Command-line names, in the order of [`Method::ALL`].
    pub const NAMES: [&'static str; 11] = ["mv", "wawa", "zbs", "gold-mv", "ds", "one-coin-ds", "glad", "mace", "kos", "mmsr", "ds-smoothed"];

    pub const ALL: [Method; 11] = [
        Method::Mv,
        Method::Wawa,
        Method::Zbs,
        Method::GoldMv,
        Method::Ds,
        Method::OneCoinDs,
        Method::Glad,
        Method::Mace,
        Method::Kos,
        Method::Mmsr,
        Method::DsSmoothed,
    ];

    /// The aggregator with default (crowd-kit) parameters.
    pub fn aggregator(self) -> Box<dyn Aggregator> {
        match self {
            Method::Mv => Box::new(MajorityVote),
            Method::Wawa => Box::new(Wawa),
            Method::Zbs => Box::new(ZeroBasedSkill::default()),
            Method::GoldMv => Box::new(GoldMajorityVote),
            Method::Ds => Box::new(DawidSkene::default()),
            Method::OneCoinDs => Box::new(OneCoinDawidSkene::default()),
            Method::Glad => Box::new(Glad::default()),
            Method::Mace => Box::new(Mace::default()),
            Method::Kos => Box::new(Kos::default()),
            Method::Mmsr => Box::new(Mmsr::default()),
            Method::DsSmoothed => Box::new(SmoothedDawidSkene::default()),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Mv => "mv",
            Method::Wawa => "wawa",
            Method::Zbs => "zbs",
            Method::GoldMv => "gold-mv",
            Method::Ds => "ds",
            Method::OneCoinDs => "one-coin-ds",
            Method::Glad => "glad",
            Method::Mace => "mace",
            Method::Kos => "kos",
            Method::Mmsr => "mmsr",
            Method::DsSmoothed => "ds-smoothed",
        }
    }
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Method::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| {
            let names: Vec<_> = Method::ALL.iter().map(|m| m.name()).collect();
            format!("unknown method {s:?}; expected one of {}", names.join(", "))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Shared building blocks.

/// Index of the largest value, the lowest index on ties (pandas `idxmax`). NaN never wins.
pub(crate) fn argmax_lowest(row: &[f64]) -> u32 {
    let mut best = 0usize;
    let mut best_v = f64::NEG_INFINITY;
    for (i, &v) in row.iter().enumerate() {
        if v > best_v {
            best_v = v;
            best = i;
        }
    }
    best as u32
}

/// Labels of all tasks from a probas table; [`NO_LABEL`] for tasks without answers.
pub(crate) fn labels_from_probas(probas: &[f64], k: usize, idx: &TaskIndex) -> Vec<u32> {
    (0..idx.offsets.len() - 1)
        .map(|t| if idx.count(t) == 0 { NO_LABEL } else { argmax_lowest(&probas[t * k..(t + 1) * k]) })
        .collect()
}

/// (Weighted) vote shares per task, crowd-kit `MajorityVote.fit(data, skills)`: the score of a
/// label is the summed weight of the answers that gave it, normalised per task. A task whose
/// total weight is zero (every worker has skill 0) would be NaN in crowd-kit; here its row falls
/// back to unweighted vote shares and `zero_weight[t]` is set.
/// The weighted vote of every task with per-worker `skills` as weights, as an [`Aggregation`]
/// (the last step of Wawa, ZBS and GoldMV).
pub(crate) fn weighted_vote(a: &Answers, idx: &TaskIndex, skills: Vec<f64>, iterations: usize) -> Aggregation {
    let (probas, _) = vote_shares(a, idx, Some(&skills));
    let labels = labels_from_probas(&probas, a.n_labels, idx);
    Aggregation {
        n_labels: a.n_labels,
        labels,
        probas,
        worker_skills: Some(skills),
        confusion: None,
        task_difficulty: None,
        iterations,
        loss_history: vec![],
    }
}

/// Each worker's accuracy against `reference` labels (0 for a worker with no answer on a
/// referenced task), crowd-kit's `get_accuracy` with the missing filled as 0.
pub(crate) fn skills_against(a: &Answers, idx: &TaskIndex, reference: &[u32]) -> Vec<f64> {
    let first = a.first_occurrence(idx);
    worker_accuracy(a, &first, reference).into_iter().map(|s| s.unwrap_or(0.0)).collect()
}

pub(crate) fn vote_shares(
    a: &Answers,
    idx: &TaskIndex,
    weights: Option<&[f64]>,
) -> (Vec<f64>, Vec<bool>) {
    let k = a.n_labels;
    let mut probas = vec![0.0; a.n_tasks * k];
    let mut zero_weight = vec![false; a.n_tasks];
    for t in 0..a.n_tasks {
        let row = &mut probas[t * k..(t + 1) * k];
        let mut total = 0.0;
        for &i in idx.answers(t) {
            let w = weights.map_or(1.0, |w| w[a.worker[i as usize] as usize]);
            row[a.label[i as usize] as usize] += w;
            total += w;
        }
        if idx.count(t) > 0 && !(total > 0.0 && total.is_finite()) {
            zero_weight[t] = true;
            row.iter_mut().for_each(|x| *x = 0.0);
            for &i in idx.answers(t) {
                row[a.label[i as usize] as usize] += 1.0;
            }
            total = idx.count(t) as f64;
        }
        if total > 0.0 {
            row.iter_mut().for_each(|x| *x /= total);
        }
    }
    (probas, zero_weight)
}

/// Per-worker accuracy against reference labels (crowd-kit `get_accuracy(by="worker")`): each
/// distinct (task, worker, label) counts once; tasks whose reference is [`NO_LABEL`] are
/// skipped. `None` for a worker with no answer on a task with a reference.
pub(crate) fn worker_accuracy(a: &Answers, first: &[bool], reference: &[u32]) -> Vec<Option<f64>> {
    let mut hit = vec![0u32; a.n_workers];
    let mut n = vec![0u32; a.n_workers];
    for i in 0..a.len() {
        let r = reference[a.task[i] as usize];
        if !first[i] || r == NO_LABEL {
            continue;
        }
        let w = a.worker[i] as usize;
        n[w] += 1;
        hit[w] += (a.label[i] == r) as u32;
    }
    (0..a.n_workers).map(|w| (n[w] > 0).then(|| hit[w] as f64 / n[w] as f64)).collect()
}

/// Golden vector as a reference-label vector ([`NO_LABEL`] where unknown).
pub(crate) fn golden_reference(golden: &Golden) -> Vec<u32> {
    golden.iter().map(|g| g.unwrap_or(NO_LABEL)).collect()
}

/// Sets the rows of golden tasks to one-hot (crowd-kit `_correct_probas_with_golden`).
pub(crate) fn correct_with_golden(probas: &mut [f64], k: usize, golden: Option<&Golden>) {
    if let Some(g) = golden {
        for (t, l) in g.iter().enumerate() {
            if let Some(l) = *l {
                let row = &mut probas[t * k..(t + 1) * k];
                row.iter_mut().for_each(|x| *x = 0.0);
                row[l as usize] = 1.0;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// Builds answers from (task, worker, label) triples, sizes inferred.
    pub fn answers(triples: &[(u32, u32, u32)], n_labels: usize) -> Answers {
        let nt = triples.iter().map(|x| x.0 + 1).max().unwrap_or(0) as usize;
        let nw = triples.iter().map(|x| x.1 + 1).max().unwrap_or(0) as usize;
        Answers::new(
            nt,
            nw,
            n_labels,
            triples.iter().map(|x| x.0).collect(),
            triples.iter().map(|x| x.1).collect(),
            triples.iter().map(|x| x.2).collect(),
        )
        .unwrap()
    }

    /// No NaN anywhere in the output, probas rows sum to 1 for answered tasks.
    pub fn assert_finite(r: &Aggregation, a: &Answers) {
        let idx = a.by_task();
        for t in 0..a.n_tasks {
            let row = r.proba(t);
            assert!(row.iter().all(|x| x.is_finite()), "task {t}: {row:?}");
            if idx.count(t) > 0 {
                let s: f64 = row.iter().sum();
                assert!((s - 1.0).abs() < 1e-6, "task {t} sums to {s}: {row:?}");
                assert!((r.labels[t] as usize) < a.n_labels);
            }
        }
        let confusion = r.confusion.as_ref().map(|c| c.values.clone());
        for v in [&r.worker_skills, &confusion, &r.task_difficulty].into_iter().flatten() {
            assert!(v.iter().all(|x| x.is_finite()), "{v:?}");
        }
        assert!(r.loss_history.iter().all(|x| !x.is_nan()), "{:?}", r.loss_history);
    }

    /// The shared edge cases every algorithm must survive without NaN.
    pub fn edge_cases() -> Vec<(&'static str, Answers)> {
        vec![
            ("one answer per worker", answers(&[(0, 0, 0), (0, 1, 1), (1, 2, 1), (1, 3, 1)], 2)),
            ("one answer per task", answers(&[(0, 0, 0), (1, 0, 1), (2, 1, 1), (3, 1, 0)], 2)),
            (
                "label nobody used",
                answers(&[(0, 0, 0), (0, 1, 0), (1, 0, 1), (1, 1, 1), (2, 2, 1)], 3),
            ),
            (
                "perfect agreement",
                answers(
                    &[(0, 0, 1), (0, 1, 1), (0, 2, 1), (1, 0, 0), (1, 1, 0), (1, 2, 0), (2, 0, 1), (2, 1, 1)],
                    2,
                ),
            ),
            ("single answer", answers(&[(0, 0, 1)], 2)),
            (
                "duplicates and a task without answers",
                Answers::new(3, 2, 2, vec![0, 0, 0, 2], vec![0, 0, 1, 1], vec![1, 1, 0, 1]).unwrap(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn answers_validate_ids() {
        assert!(matches!(
            Answers::new(1, 1, 2, vec![0], vec![0], vec![2]),
            Err(AggregationError::IdOutOfRange { what: "label", .. })
        ));
        assert!(matches!(
            Answers::new(1, 1, 2, vec![0], vec![0, 1], vec![0]),
            Err(AggregationError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn every_method_survives_edge_cases() {
        for (name, a) in edge_cases() {
            let golden: Vec<Option<u32>> =
                (0..a.n_tasks).map(|t| if t == 0 { Some(a.label[0]) } else { None }).collect();
            for m in Method::ALL {
                let r = match m.aggregator().fit(&a, Some(&golden)) {
                    Ok(r) => r,
                    Err(AggregationError::NotBinary { .. }) => continue,
                    Err(e) => panic!("{name} / {}: {e}", m.name()),
                };
                assert_finite(&r, &a);
                assert_eq!(r.labels.len(), a.n_tasks, "{name} / {}", m.name());
            }
        }
    }

    /// 120,000 answers from 60,000 workers (two each) on 40,000 tasks, and 1,000 answers from 300
    /// workers with 1,000 distinct labels: shapes whose dense layouts (M-MSR's workers x workers
    /// tables, 3.6e9 entries; DS's workers x K x K confusion tables, 3e8) took gigabytes.
    /// Checks that the internal tables follow the answers and that every method fits them (with
    /// few iterations: a test of memory and layout, well under a second in release).
    #[test]
    fn many_workers_and_many_labels_stay_sparse() {
        let (n_tasks, n_workers) = (40_000u32, 60_000u32);
        let n = 3 * n_tasks;
        // 7919 is prime to 60,000, so every worker answers exactly twice
        let worker: Vec<u32> = (0..n).map(|i| (i as u64 * 7919 % n_workers as u64) as u32).collect();
        let task: Vec<u32> = (0..n).map(|i| i / 3).collect();
        let label: Vec<u32> = task.iter().zip(&worker).map(|(&t, &w)| (t + (w % 5 == 0) as u32) % 2).collect();
        let wide = Answers::new(n_tasks as usize, n_workers as usize, 2, task, worker, label).unwrap();
        // 500 tasks x 2 answers, every answer its own label
        let k = 1_000u32;
        let many = Answers::new(500, 300, k as usize, (0..k).map(|i| i / 2).collect(), (0..k).map(|i| i % 300).collect(), (0..k).collect()).unwrap();

        let idx = wide.by_task();
        let pairs = mmsr::PairCov::new(&wide, &idx, 2.0);
        // each task has 3 workers: at most 6 stored (ordered) pairs per task
        assert!(pairs.col.len() <= 6 * n_tasks as usize, "{} pair entries", pairs.col.len());
        assert_eq!(pairs.start.len(), n_workers as usize + 1);
        for a in [&wide, &many] {
            let (d, _) = dawid_skene::EmData::new(a);
            assert!(d.n_rows() <= a.len(), "{} confusion rows for {} answers", d.n_rows(), a.len());
        }

        let light: [Box<dyn Aggregator>; 11] = [
            Box::new(MajorityVote),
            Box::new(Wawa),
            Box::new(ZeroBasedSkill { n_iter: 5, ..Default::default() }),
            Box::new(GoldMajorityVote),
            Box::new(DawidSkene { n_iter: 3, tol: 0.0 }),
            Box::new(OneCoinDawidSkene { n_iter: 3, tol: 0.0 }),
            Box::new(Glad { n_iter: 2, m_step_max_iter: 2, ..Default::default() }),
            Box::new(Mace { n_iter: 2, ..Default::default() }),
            Box::new(Kos { n_iter: 5, ..Default::default() }),
            Box::new(Mmsr { n_iter: 5, sign_iter: 20, ..Default::default() }),
            Box::new(SmoothedDawidSkene { n_iter: 3, tol: 0.0, ..Default::default() }),
        ];
        for a in [&wide, &many] {
            let idx = a.by_task();
            let golden: Vec<Option<u32>> = (0..a.n_tasks).map(|t| (t % 10 == 0).then(|| a.label[idx.answers(t)[0] as usize])).collect();
            for m in &light {
                let r = match m.fit(a, Some(&golden)) {
                    Ok(r) => r,
                    Err(AggregationError::NotBinary { .. }) => continue,
                    Err(e) => panic!("{}: {e}", m.name()),
                };
                assert_eq!(r.labels.len(), a.n_tasks, "{}", m.name());
                assert_eq!(r.probas.len(), a.n_tasks * a.n_labels, "{}", m.name());
                if let Some(c) = &r.confusion {
                    assert!(c.values.len() <= a.len() * a.n_labels, "{}: {} confusion values", m.name(), c.values.len());
                }
                for v in [&r.worker_skills, &r.task_difficulty].into_iter().flatten() {
                    assert!(v.len() <= a.n_workers.max(a.n_tasks), "{}", m.name());
                }
            }
        }
    }

    #[test]
    fn empty_answers_give_empty_labels() {
        let a = Answers::new(0, 0, 2, vec![], vec![], vec![]).unwrap();
        for m in Method::ALL {
            if let Ok(r) = m.aggregator().fit(&a, Some(&[])) {
                assert!(r.labels.is_empty(), "{}", m.name());
            }
        }
    }

    #[test]
    fn method_names_round_trip() {
        for m in Method::ALL {
            assert_eq!(m.name().parse::<Method>().unwrap(), m);
        }
        assert!("nope".parse::<Method>().unwrap_err().contains("expected one of"));
    }
}
