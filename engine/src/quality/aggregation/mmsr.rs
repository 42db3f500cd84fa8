//! M-MSR (Matrix Mean-Subsequence-Reduced): estimates worker skills from the matrix of pairwise
//! agreement between workers, robustly (trimming the most extreme entries), then takes a vote
//! weighted by the log-odds of those skills.
//!
//! Maths (K labels, T tasks; for workers i != j with common tasks):
//!
//! ```text
//! C_ij = K/(K-1) * agree_ij / common_ij - 1/(K-1)      (C = -1/(K-1) where they share no task)
//! |C| ~ u v^T  fitted by alternating trimmed means: v_j = mean of the entries of X[:, j] / u
//!              after dropping the F largest and F smallest, F = floor(min observed per column / 2) - 1
//! s = u / sqrt(|u| / |v|), signed by the 2-colouring of the agreement graph (eigenvector of the
//!     random walk's most negative eigenvalue: positive C pairs on the same side), clipped to
//!     [-1/(K-1) + 1/sqrt(T), 1 - 1/sqrt(T)]
//! p_w = s (K-1)/K + 1/K;   skill_w = ln(p_w (K-1) / (1 - p_w));   label = argmax weighted vote
//! ```
//!
//! Follows crowd-kit 1.4.2 `MMSR` (n_iter 10000, tol 1e-10, the last answer of a worker on a task
//! wins, weighted vote normalised by its (possibly negative) total). Differences: the starting
//! vectors come from ChaCha8 instead of NumPy's Mersenne Twister (crowd-kit's u and v start equal;
//! so do ours), and the sign eigenvector is found by power iteration instead of ARPACK, on a sparse
//! graph (crowd-kit builds a dense matrix with one extra node per positively correlated pair,
//! which does not fit in memory beyond a few hundred workers).
//!
//! Memory: O(#answers + #workers + #tasks * K + P), P = the number of worker pairs that share at
//! least one task; never #workers^2. C is stored only for those pairs ([`PairCov`], a symmetric
//! sparse matrix); every other entry is the constant -1/(K-1), and the trimmed means only read the
//! stored ones. Each iteration costs O(P log P + #workers): the change of `u v^T` is measured
//! without forming it, and the sign graph's dense part (its negative edges: every pair of workers
//! but the few with C >= 0) is applied as "all minus the exceptions" (or edge by edge, in the old
//! order, where that is as cheap). Building C costs sum over tasks of (#workers on the task)^2.
//! Where the order of a sum decides an exact zero or an overflow, the old dense order is kept, so
//! the results are those of the dense version (see `rank_one_change` for the one exception).
//!
//! Paper: Q. Ma, A. Olshevsky, "Adversarial Crowdsourcing Through Robust Rank-One Matrix
//! Completion", NeurIPS 2020.
//!
//! ```
//! use tessera_engine::quality::aggregation::{Aggregator, Answers, Mmsr};
//! let a = Answers::new(2, 3, 2, vec![0, 0, 0, 1, 1, 1], vec![0, 1, 2, 0, 1, 2], vec![1, 1, 0, 0, 0, 1]).unwrap();
//! let r = Mmsr::default().fit(&a, None).unwrap();
//! assert_eq!(r.labels.len(), 2);
//! ```

use super::dawid_skene::empty_result;
use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// M-MSR parameters (crowd-kit defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mmsr {
    pub n_iter: usize,
    pub tol: f64,
    pub random_state: u64,
    /// Power-iteration steps for the sign eigenvector.
    pub sign_iter: usize,
}

impl Default for Mmsr {
    fn default() -> Self {
        Mmsr { n_iter: 10_000, tol: 1e-10, random_state: 0, sign_iter: 2_000 }
    }
}

/// crowd-kit `_remove_largest_and_smallest_F_value`, with Python's slicing for negative F.
fn trimmed(y: &mut Vec<f64>, f: i64, a: f64, n_tasks: usize) {
    y.sort_by(|p, q| p.total_cmp(q));
    let slice_from = |len: usize, start: i64| -> usize {
        if start >= 0 { (start as usize).min(len) } else { len.saturating_sub((-start) as usize) }
    };
    let below = y.iter().filter(|&&v| v < a).count() as i64;
    if below < f {
        y.retain(|&v| v >= a);
    } else {
        let s = slice_from(y.len(), f);
        y.drain(..s);
    }
    let m = y.len() as i64;
    let above = y.iter().filter(|&&v| v > a).count() as i64;
    if above < f {
        y.retain(|&v| v <= a);
    } else {
        let end = m - f;
        let end = if end >= 0 { (end as usize).min(y.len()) } else { y.len().saturating_sub((-end) as usize) };
        y.truncate(end);
    }
    if y.len() == 1 && y[0] == 0.0 {
        y[0] = 1.0 / (n_tasks as f64).sqrt();
    }
}

/// The pairwise covariance C of the workers who share at least one task, a symmetric sparse
/// matrix in compressed rows: the stored entries of worker `i` are `start[i]..start[i + 1]` of
/// `col` (the other worker, ascending) and `cov`. The diagonal and pairs without a common task are
/// not stored (their value is -1/(K-1)). Memory: O(#workers + P) for P stored pairs, each twice.
pub(crate) struct PairCov {
    pub start: Vec<usize>,
    pub col: Vec<u32>,
    pub cov: Vec<f64>,
}

impl PairCov {
    /// `C_ij = K/(K-1) * agree_ij / common_ij - 1/(K-1)` over the tasks both i and j answered,
    /// each worker's last answer on a task counting. Built row by row with a per-row scratch of
    /// the workers seen (O(#workers) memory besides the answers and the result); time
    /// O(sum over tasks of (#workers on the task)^2).
    pub fn new(a: &Answers, idx: &TaskIndex, kf: f64) -> Self {
        let n = a.n_workers;
        // each task's workers, once each, with their last label (entries in task order)
        let mut task_start = Vec::with_capacity(a.n_tasks + 1);
        task_start.push(0usize);
        let mut last: Vec<(u32, u32)> = Vec::with_capacity(a.len());
        let mut entry_task: Vec<u32> = Vec::with_capacity(a.len());
        for t in 0..a.n_tasks {
            let from = last.len();
            for &i in idx.answers(t) {
                let (w, l) = (a.worker[i as usize], a.label[i as usize]);
                match last[from..].iter_mut().find(|x| x.0 == w) {
                    Some(x) => x.1 = l,
                    None => last.push((w, l)),
                }
            }
            entry_task.resize(last.len(), t as u32);
            task_start.push(last.len());
        }
        let entry_worker: Vec<u32> = last.iter().map(|x| x.0).collect();
        let by_worker = TaskIndex::group(&entry_worker, n);
        drop(entry_worker);
        let (mut common, mut agree) = (vec![0u32; n], vec![0u32; n]);
        let mut seen: Vec<u32> = Vec::new();
        let mut out = PairCov { start: Vec::with_capacity(n + 1), col: Vec::new(), cov: Vec::new() };
        out.start.push(0);
        for i in 0..n {
            for &e in by_worker.answers(i) {
                let (t, li) = (entry_task[e as usize] as usize, last[e as usize].1);
                for &(j, lj) in &last[task_start[t]..task_start[t + 1]] {
                    if j as usize == i {
                        continue;
                    }
                    if common[j as usize] == 0 {
                        seen.push(j);
                    }
                    common[j as usize] += 1;
                    agree[j as usize] += (li == lj) as u32;
                }
            }
            seen.sort_unstable();
            for &j in &seen {
                let r = agree[j as usize] as f64 / common[j as usize] as f64;
                out.col.push(j);
                out.cov.push(r * kf / (kf - 1.0) - 1.0 / (kf - 1.0));
                common[j as usize] = 0;
                agree[j as usize] = 0;
            }
            seen.clear();
            out.start.push(out.col.len());
        }
        out
    }

    /// The stored entries of row `i`: (column, C_ij), columns ascending.
    pub fn row(&self, i: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let r = self.start[i]..self.start[i + 1];
        self.col[r.clone()].iter().map(|&j| j as usize).zip(self.cov[r].iter().copied())
    }

    pub fn row_len(&self, i: usize) -> usize {
        self.start[i + 1] - self.start[i]
    }

    /// Whether row `i` of the full matrix (stored entries, `c0` elsewhere) sums to a non-zero
    /// value when summed left to right as a dense row (the sign graph's rule). A row whose exact
    /// sum is 0 (six entries of -1/3 and two of 1) comes out as 0 or +-1e-16 depending on the
    /// order, so the order is kept: the sum is taken from the stored entries and a count in
    /// O(stored), and only when that lies within the rounding error of both sums (n * 2^-52 * the
    /// sum of magnitudes) of zero is the row re-added in dense order, in O(n) time, no memory.
    pub fn dense_row_sum_nonzero(&self, i: usize, c0: f64) -> bool {
        let n = self.start.len() - 1;
        let absent = (n - self.row_len(i)) as f64;
        let (mut sum, mut magnitude) = (absent * c0, absent * c0.abs());
        for (_, c) in self.row(i) {
            sum += c;
            magnitude += c.abs();
        }
        if sum.abs() > 4.0 * (n + 1) as f64 * f64::EPSILON * magnitude {
            return true;
        }
        let mut stored = self.row(i).peekable();
        let mut dense = 0.0;
        for j in 0..n {
            dense += match stored.peek() {
                Some(&(col, c)) if col == j => {
                    stored.next();
                    c
                }
                _ => c0,
            };
        }
        dense != 0.0
    }
}

impl Aggregator for Mmsr {
    fn name(&self) -> &'static str {
        "mmsr"
    }

    /// Memory: O(#answers + #workers + #tasks * K + P), P = worker pairs sharing a task.
    fn fit(&self, a: &Answers, _golden: Option<&Golden>) -> Result<Aggregation, AggregationError> {
        if a.is_empty() {
            return Ok(empty_result(a));
        }
        let kk = a.labels_by_first_appearance().len();
        if kk < 2 {
            return MajorityVote.fit(a, None);
        }
        let n = a.n_workers;
        let idx = a.by_task();
        let n_tasks = (0..a.n_tasks).filter(|&t| idx.count(t) > 0).count();
        let kf = kk as f64;
        let cov = PairCov::new(a, &idx, kf);
        // C is symmetric: column j's stored entries are row j's
        let sparsity = (0..n).map(|j| cov.row_len(j)).min().unwrap_or(0);
        let f = (sparsity / 2) as i64 - 1;
        let mut rng = ChaCha8Rng::seed_from_u64(self.random_state);
        let mut u: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
        let mut v = u.clone();
        let (mut u_prev, mut v_prev) = (u.clone(), v.clone());
        let mut y = Vec::with_capacity(n);
        let mut history = Vec::new();
        for _ in 0..self.n_iter {
            u_prev.copy_from_slice(&u);
            v_prev.copy_from_slice(&v);
            for (j, vj) in v.iter_mut().enumerate() {
                y.clear();
                y.extend(cov.row(j).map(|(i, c)| c.abs() / u[i]));
                trimmed(&mut y, f, *vj, n_tasks);
                if !y.is_empty() {
                    *vj = y.iter().sum::<f64>() / y.len() as f64;
                }
            }
            for (i, ui) in u.iter_mut().enumerate() {
                y.clear();
                y.extend(cov.row(i).map(|(j, c)| c.abs() / v[j]));
                trimmed(&mut y, f, *ui, n_tasks);
                if !y.is_empty() {
                    *ui = y.iter().sum::<f64>() / y.len() as f64;
                }
            }
            let loss = rank_one_change(&u, &v, &u_prev, &v_prev);
            history.push(loss);
            if loss.is_nan() || loss < self.tol {
                break;
            }
        }
        let nu = u.iter().map(|x| x * x).sum::<f64>().sqrt();
        let nv = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let kscale = (nu / nv).sqrt();
        let s_abs: Vec<f64> = u.iter().map(|x| x / kscale).collect();
        let signs = self.signs(&cov, -1.0 / (kf - 1.0));
        let sq = (n_tasks as f64).sqrt();
        let skills: Vec<f64> = (0..n)
            .map(|w| {
                let x = (signs[w] * s_abs[w]).min(1.0 - 1.0 / sq).max(-1.0 / (kf - 1.0) + 1.0 / sq);
                let p = x * (kf - 1.0) / kf + 1.0 / kf;
                let s = (p * (kf - 1.0) / (1.0 - p)).ln();
                if s.is_finite() { s } else { 0.0 }
            })
            .collect();
        // weighted vote normalised by its total (which may be negative), as crowd-kit
        let k = a.n_labels;
        let mut probas = vec![0.0; a.n_tasks * k];
        for t in 0..a.n_tasks {
            let row = &mut probas[t * k..(t + 1) * k];
            let mut total = 0.0;
            for &i in idx.answers(t) {
                let w = skills[a.worker[i as usize] as usize];
                row[a.label[i as usize] as usize] += w;
                total += w;
            }
            if idx.count(t) == 0 {
                continue;
            }
            if total != 0.0 && total.is_finite() {
                row.iter_mut().for_each(|x| *x /= total);
            } else {
                row.fill(0.0);
                for &i in idx.answers(t) {
                    row[a.label[i as usize] as usize] += 1.0 / idx.count(t) as f64;
                }
            }
        }
        let labels = labels_from_probas(&probas, k, &idx);
        Ok(Aggregation {
            n_labels: k,
            labels,
            probas,
            worker_skills: Some(skills),
            confusion: None,
            task_difficulty: None,
            iterations: history.len(),
            loss_history: history,
        })
    }
}

/// `|u v^T - u' v'^T|_F` (the Frobenius norm of the change of the rank-one fit) in O(n), without
/// the n x n matrix: with `a = u - u'` and `b = v - v'`, `u v^T - u' v'^T = a v^T + u' b^T`, whose
/// squared norm is `|a|^2 |v|^2 + 2 (a.u') (v.b) + |u'|^2 |b|^2`. Written in the differences, it
/// keeps its precision when the change is tiny (the tolerance is 1e-10). Where overflow decides
/// the result, the n x n entries are summed one by one as before (O(n^2) time, O(1) memory): when
/// a vector holds an infinity or a NaN (a worker with u = 0 divides by zero), and, with at most
/// 1,024 workers, when a product may overflow (a diverging run, which the n x n sum stops with
/// NaN once two products overflow: inf - inf). With more workers such a run stops a few
/// iterations later, when a value itself overflows; the skills are clipped either way.
fn rank_one_change(u: &[f64], v: &[f64], u_prev: &[f64], v_prev: &[f64]) -> f64 {
    let max_abs = |x: &[f64]| x.iter().fold(0.0f64, |m, e| m.max(e.abs()));
    let may_overflow = || max_abs(u) * max_abs(v) > 1e150 || max_abs(u_prev) * max_abs(v_prev) > 1e150;
    let finite = [u, v, u_prev, v_prev].iter().all(|x| x.iter().all(|e| e.is_finite()));
    if !finite || (u.len() <= 1024 && may_overflow()) {
        let mut loss = 0.0;
        for (&x, &p) in u.iter().zip(u_prev) {
            for (&y, &q) in v.iter().zip(v_prev) {
                let d = x * y - p * q;
                loss += d * d;
            }
        }
        return loss.sqrt();
    }
    // (|x - p|^2, (x - p).p, |p|^2)
    let moments = |x: &[f64], p: &[f64]| {
        x.iter().zip(p).fold((0.0, 0.0, 0.0), |(dd, dp, pp), (&x, &p)| (dd + (x - p) * (x - p), dp + (x - p) * p, pp + p * p))
    };
    let (aa, ap, pp) = moments(u, u_prev);
    let (bb, bq, qq) = moments(v, v_prev);
    // |v|^2 = |v'|^2 + 2 b.v' + |b|^2 and v.b = b.v' + |b|^2; the sum is >= 0 in exact arithmetic
    // (|2 (a.u') (v.b)| <= |a|^2 |v|^2 + |u'|^2 |b|^2), rounding may dip below
    (aa * (qq + 2.0 * bq + bb) + 2.0 * ap * (bq + bb) + pp * bb).max(0.0).sqrt()
}

impl Mmsr {
    /// Sign of each worker (crowd-kit `_sign_determination_valid`): a graph over the workers
    /// whose covariance row does not sum to zero, with an edge for every negative entry (including
    /// the diagonal and pairs without common tasks, which are `c0` = -1/(K-1)) and, for every
    /// positive pair i < j, an extra node joined to both. The eigenvector of the random walk for
    /// its most negative eigenvalue 2-colours that graph; it is found by power iteration on
    /// `I - P`. The negative edges of a node are all the valid workers but its stored entries with
    /// C >= 0, so a step sums them as "all minus those" where they are many (a sparse row), else
    /// one by one as the dense graph did: memory and time per step O(#workers + P).
    fn signs(&self, cov: &PairCov, c0: f64) -> Vec<f64> {
        let n = cov.start.len() - 1;
        const NONE: u32 = u32::MAX;
        let mut valid_id = vec![NONE; n];
        let mut valid: Vec<usize> = Vec::new();
        for (i, id) in valid_id.iter_mut().enumerate() {
            if cov.dense_row_sum_nonzero(i, c0) {
                *id = valid.len() as u32;
                valid.push(i);
            }
        }
        let kv = valid.len();
        let mut out = vec![0.0; n];
        if kv == 0 {
            return out;
        }
        // not_neg[not_neg_start[a]..not_neg_start[a + 1]]: the valid workers b with C_ab >= 0
        let mut not_neg_start = Vec::with_capacity(kv + 1);
        not_neg_start.push(0usize);
        let mut not_neg: Vec<u32> = Vec::new();
        let mut pos: Vec<(u32, u32)> = Vec::new();
        for (a, &i) in valid.iter().enumerate() {
            for (j, c) in cov.row(i) {
                let b = valid_id[j];
                if b == NONE || c < 0.0 {
                    continue;
                }
                not_neg.push(b);
                if c > 0.0 && b as usize >= a {
                    pos.push((a as u32, b));
                }
            }
            not_neg_start.push(not_neg.len());
        }
        let total = kv + pos.len();
        let mut deg = vec![0.0f64; total];
        for a in 0..kv {
            deg[a] += (kv - (not_neg_start[a + 1] - not_neg_start[a])) as f64;
        }
        for (p, &(a, b)) in pos.iter().enumerate() {
            deg[a as usize] += 1.0;
            deg[b as usize] += 1.0;
            deg[kv + p] += 2.0;
        }
        let mut x: Vec<f64> = (0..total).map(|i| 1.0 + ((i * 7919) % 13) as f64 / 13.0).collect();
        let mut px = vec![0.0; total];
        for _ in 0..self.sign_iter {
            // px = P x = D^-1 A x
            px.fill(0.0);
            let all: f64 = x[..kv].iter().sum();
            for a in 0..kv {
                let except = &not_neg[not_neg_start[a]..not_neg_start[a + 1]];
                px[a] += if kv <= 4 * except.len() + 64 {
                    // few negative edges, or a small graph: add them one by one in order (the sum
                    // of the dense graph, to the last bit), at most O(except + 64)
                    let (mut s, mut skip) = (0.0, except.iter().peekable());
                    for (b, &xb) in x[..kv].iter().enumerate() {
                        if skip.next_if(|&&e| e as usize == b).is_none() {
                            s += xb;
                        }
                    }
                    s
                } else {
                    all - except.iter().map(|&b| x[b as usize]).sum::<f64>()
                };
            }
            for (p, &(a, b)) in pos.iter().enumerate() {
                px[a as usize] += x[kv + p];
                px[b as usize] += x[kv + p];
                px[kv + p] += x[a as usize] + x[b as usize];
            }
            let mut norm = 0.0;
            for i in 0..total {
                let pi = if deg[i] > 0.0 { px[i] / deg[i] } else { 0.0 };
                x[i] -= pi; // (I - P) x
                norm += x[i] * x[i];
            }
            let norm = norm.sqrt();
            if norm.is_nan() || norm <= 0.0 {
                break;
            }
            x.iter_mut().for_each(|v| *v /= norm);
        }
        let sgn = |v: f64| if v > 0.0 { 1.0 } else if v < 0.0 { -1.0 } else { 0.0 };
        let overall = sgn(x[..kv].iter().map(|&v| sgn(v)).sum::<f64>());
        for (a, &i) in valid.iter().enumerate() {
            out[i] = overall * sgn(x[a]);
        }
        out
    }
}
