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

impl Aggregator for Mmsr {
    fn name(&self) -> &'static str {
        "mmsr"
    }

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
        // last answer of each worker on each task
        let mut common = vec![0u32; n * n];
        let mut agree = vec![0u32; n * n];
        let mut last: Vec<(u32, u32)> = Vec::new();
        for t in 0..a.n_tasks {
            last.clear();
            for &i in idx.answers(t) {
                let (w, l) = (a.worker[i as usize], a.label[i as usize]);
                match last.iter_mut().find(|x| x.0 == w) {
                    Some(x) => x.1 = l,
                    None => last.push((w, l)),
                }
            }
            for (p, &(wi, li)) in last.iter().enumerate() {
                for &(wj, lj) in &last[p + 1..] {
                    let (i, j) = (wi as usize, wj as usize);
                    common[i * n + j] += 1;
                    common[j * n + i] += 1;
                    if li == lj {
                        agree[i * n + j] += 1;
                        agree[j * n + i] += 1;
                    }
                }
            }
        }
        let kf = kk as f64;
        let mut cov = vec![0.0; n * n];
        for e in 0..n * n {
            let r = if common[e] > 0 { agree[e] as f64 / common[e] as f64 } else { 0.0 };
            cov[e] = r * kf / (kf - 1.0) - 1.0 / (kf - 1.0);
        }
        let sparsity = (0..n).map(|j| (0..n).filter(|&i| common[i * n + j] > 0).count()).min().unwrap_or(0);
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
            for j in 0..n {
                y.clear();
                y.extend((0..n).filter(|&i| common[i * n + j] > 0).map(|i| cov[i * n + j].abs() / u[i]));
                trimmed(&mut y, f, v[j], n_tasks);
                if !y.is_empty() {
                    v[j] = y.iter().sum::<f64>() / y.len() as f64;
                }
            }
            for i in 0..n {
                y.clear();
                y.extend((0..n).filter(|&j| common[i * n + j] > 0).map(|j| cov[i * n + j].abs() / v[j]));
                trimmed(&mut y, f, u[i], n_tasks);
                if !y.is_empty() {
                    u[i] = y.iter().sum::<f64>() / y.len() as f64;
                }
            }
            let mut loss = 0.0;
            for i in 0..n {
                for j in 0..n {
                    let d = u[i] * v[j] - u_prev[i] * v_prev[j];
                    loss += d * d;
                }
            }
            let loss = loss.sqrt();
            history.push(loss);
            if loss.is_nan() || loss < self.tol {
                break;
            }
        }
        let nu = u.iter().map(|x| x * x).sum::<f64>().sqrt();
        let nv = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let kscale = (nu / nv).sqrt();
        let s_abs: Vec<f64> = u.iter().map(|x| x / kscale).collect();
        let signs = self.signs(&cov, n);
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

impl Mmsr {
    /// Sign of each worker (crowd-kit `_sign_determination_valid`): a graph over the workers
    /// whose covariance row is not all zero, with an edge for every negative entry (including the
    /// diagonal and pairs without common tasks, which are -1/(K-1)) and, for every positive pair
    /// i < j, an extra node joined to both. The eigenvector of the random walk for its most
    /// negative eigenvalue 2-colours that graph; it is found by power iteration on `I - P`.
    fn signs(&self, cov: &[f64], n: usize) -> Vec<f64> {
        let valid: Vec<usize> = (0..n).filter(|&i| cov[i * n..(i + 1) * n].iter().sum::<f64>() != 0.0).collect();
        let kv = valid.len();
        let mut out = vec![0.0; n];
        if kv == 0 {
            return out;
        }
        let mut neg: Vec<Vec<u32>> = vec![Vec::new(); kv];
        let mut pos: Vec<(u32, u32)> = Vec::new();
        for (a, &i) in valid.iter().enumerate() {
            for (b, &j) in valid.iter().enumerate() {
                let c = cov[i * n + j];
                if c < 0.0 {
                    neg[a].push(b as u32);
                } else if c > 0.0 && b >= a {
                    pos.push((a as u32, b as u32));
                }
            }
        }
        let total = kv + pos.len();
        let mut deg = vec![0.0f64; total];
        for a in 0..kv {
            deg[a] += neg[a].len() as f64;
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
            for a in 0..kv {
                let mut s = 0.0;
                for &b in &neg[a] {
                    s += x[b as usize];
                }
                px[a] += s;
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
