//! GLAD (Generative model of Labels, Abilities, and Difficulties): each worker has an ability
//! `alpha_w`, each task a difficulty `1 / exp(beta_t)`; a worker answers correctly with
//! probability `sigma(alpha_w * exp(beta_t))`, and wrongly uniformly over the other K-1 labels.
//!
//! Maths (EM, K = labels used):
//!
//! ```text
//! E-step: ln q_t(c) = ln p_c + sum_{answers (t,w,l)} [l == c] ln sigma(x) + [l != c] (ln(1 - sigma(x)) - ln(K-1)),
//!         x = alpha_w exp(beta_t);  q_t = softmax(ln q_t)
//! M-step: maximise Q(alpha, beta) = sum_answers q_t(l) ln sigma(x) + (1 - q_t(l)) (ln(1-sigma(x)) - ln(K-1))
//!                                 + sum_w ln N(alpha_w - 1) + sum_t ln N(beta_t - 1)
//!         by nonlinear conjugate gradient (Polak-Ribiere, backtracking line search), at most
//!         m_step_max_iter steps;  dQ/dalpha_w = sum (q_t(l) - sigma) exp(beta_t) - (alpha_w - 1),
//!         dQ/dbeta_t = sum (q_t(l) - sigma) alpha_w exp(beta_t) - (beta_t - 1)
//! stop:   when Q / (#answers * K) grows by less than tol
//! ```
//!
//! Follows crowd-kit 1.4.2 `GLAD` (uniform priors, alpha = beta = 1 at start, the first
//! comparison against the unnormalised Q, labels from the last E-step). Difference: crowd-kit's
//! M-step is SciPy's CG (`scipy.optimize.minimize(method="CG", maxiter=25, tol=1e-2)`), ours is a
//! hand-written CG, so the fitted alphas/betas differ slightly and so may a few labels.
//!
//! Paper: J. Whitehill, P. Ruvolo, T. Wu, J. Bergsma, J. Movellan, "Whose Vote Should Count More:
//! Optimal Integration of Labels from Labelers of Unknown Expertise", NeurIPS 2009.
//!
//! ```
//! use tessera_engine::quality::aggregation::{Aggregator, Answers, Glad};
//! let a = Answers::new(2, 3, 2, vec![0, 0, 0, 1, 1, 1], vec![0, 1, 2, 0, 1, 2], vec![1, 1, 0, 0, 0, 1]).unwrap();
//! let r = Glad::default().fit(&a, None).unwrap();
//! assert_eq!(r.labels, vec![1, 0]);
//! ```

use super::dawid_skene::empty_result;
use super::*;

/// GLAD parameters (crowd-kit defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Glad {
    pub n_iter: usize,
    pub tol: f64,
    pub m_step_max_iter: usize,
    /// Stop the M-step when the gradient norm falls below this.
    pub m_step_tol: f64,
}

impl Default for Glad {
    fn default() -> Self {
        Glad { n_iter: 100, tol: 1e-5, m_step_max_iter: 25, m_step_tol: 1e-2 }
    }
}

fn softplus(x: f64) -> f64 {
    if x > 30.0 {
        x
    } else if x < -30.0 {
        0.0
    } else {
        x.exp().ln_1p()
    }
}

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_7;

struct Model<'a> {
    a: &'a Answers,
    used: Vec<bool>,
    ln_prior: f64,
    ln_km1: f64,
}

impl Model<'_> {
    fn e_step(&self, alpha: &[f64], beta: &[f64], idx: &TaskIndex, probas: &mut [f64]) {
        let k = self.a.n_labels;
        for t in 0..self.a.n_tasks {
            let row = &mut probas[t * k..(t + 1) * k];
            if idx.count(t) == 0 {
                row.fill(0.0);
                continue;
            }
            let mut base = self.ln_prior;
            row.fill(0.0);
            for &i in idx.answers(t) {
                let i = i as usize;
                let x = alpha[self.a.worker[i] as usize] * beta[t].exp();
                let ls = -softplus(-x);
                let l1 = -softplus(x) - self.ln_km1;
                base += l1;
                row[self.a.label[i] as usize] += ls - l1;
            }
            let mut m = f64::NEG_INFINITY;
            for c in 0..k {
                if self.used[c] {
                    row[c] += base;
                    m = m.max(row[c]);
                }
            }
            let mut s = 0.0;
            for c in 0..k {
                row[c] = if self.used[c] { (row[c] - m).exp() } else { 0.0 };
                s += row[c];
            }
            row.iter_mut().for_each(|x| *x /= s);
        }
    }

    /// Q and its gradient at (alpha, beta) = x[..W], x[W..]. `eb` is scratch for exp(beta).
    /// Per answer one `exp` and one `ln_1p`: with `sp = softplus(-z)`,
    /// `ln sigma(z) = -sp`, `ln(1 - sigma(z)) = -(z + sp)`, `sigma(z) = 1 / (1 + exp(-z))`.
    fn q_grad(&self, x: &[f64], probas: &[f64], grad: &mut [f64], eb: &mut [f64]) -> f64 {
        let (a, k, nw) = (self.a, self.a.n_labels, self.a.n_workers);
        let (alpha, beta) = x.split_at(nw);
        for (e, b) in eb.iter_mut().zip(beta) {
            *e = b.exp();
        }
        grad.fill(0.0);
        let mut q = 0.0;
        for i in 0..a.len() {
            let (w, t) = (a.worker[i] as usize, a.task[i] as usize);
            let z = alpha[w] * eb[t];
            let (sp, sigma) = if z < -30.0 {
                (-z, 0.0)
            } else if z > 30.0 {
                (0.0, 1.0)
            } else {
                let e = (-z).exp();
                (e.ln_1p(), 1.0 / (1.0 + e))
            };
            let ls = -sp;
            let l1 = -(z + sp) - self.ln_km1;
            let p = probas[t * k + a.label[i] as usize];
            q += p * ls + (1.0 - p) * l1;
            let d = p - sigma;
            grad[w] += d * eb[t];
            grad[nw + t] += d * z;
        }
        for (j, &v) in x.iter().enumerate() {
            q += -0.5 * (v - 1.0) * (v - 1.0) - LN_SQRT_2PI;
            grad[j] -= v - 1.0;
        }
        q
    }
}

impl Aggregator for Glad {
    fn name(&self) -> &'static str {
        "glad"
    }

    fn fit(&self, a: &Answers, _golden: Option<&Golden>) -> Result<Aggregation, AggregationError> {
        if a.is_empty() {
            return Ok(empty_result(a));
        }
        let k = a.n_labels;
        let used_list = a.labels_by_first_appearance();
        let mut used = vec![false; k];
        used_list.iter().for_each(|&l| used[l as usize] = true);
        let kk = used_list.len();
        let m = Model { a, used, ln_prior: -(kk as f64).ln(), ln_km1: ((kk.max(2) - 1) as f64).ln() };
        let idx = a.by_task();
        let nw = a.n_workers;
        let dim = nw + a.n_tasks;
        let mut x = vec![1.0; dim];
        let mut probas = vec![0.0; a.n_tasks * k];
        let (mut g, mut g_new, mut dir, mut x_try) = (vec![0.0; dim], vec![0.0; dim], vec![0.0; dim], vec![0.0; dim]);
        let mut eb = vec![0.0; a.n_tasks];
        // first trial step of the line search: the last accepted one, doubled
        let mut step0 = 1.0f64;
        m.e_step(&x[..nw], &x[nw..], &idx, &mut probas);
        let mut q = m.q_grad(&x, &probas, &mut g, &mut eb);
        let norm = (a.len() * kk) as f64;
        let mut history = Vec::new();
        for _ in 0..self.n_iter {
            let last_q = q;
            m.e_step(&x[..nw], &x[nw..], &idx, &mut probas);
            // M-step: maximise Q by Polak-Ribiere CG with Armijo backtracking.
            let mut fq = m.q_grad(&x, &probas, &mut g, &mut eb);
            dir.copy_from_slice(&g);
            for _ in 0..self.m_step_max_iter {
                let gnorm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
                if gnorm < self.m_step_tol {
                    break;
                }
                let mut slope: f64 = g.iter().zip(&dir).map(|(a, b)| a * b).sum();
                if slope <= 0.0 {
                    dir.copy_from_slice(&g);
                    slope = gnorm * gnorm;
                }
                let mut step = (2.0 * step0).min(1.0);
                let mut accepted = false;
                for _ in 0..30 {
                    for j in 0..dim {
                        x_try[j] = x[j] + step * dir[j];
                    }
                    let f_try = m.q_grad(&x_try, &probas, &mut g_new, &mut eb);
                    if f_try.is_finite() && f_try >= fq + 1e-4 * step * slope {
                        fq = f_try;
                        accepted = true;
                        step0 = step;
                        break;
                    }
                    step *= 0.5;
                }
                if !accepted {
                    break;
                }
                x.copy_from_slice(&x_try);
                let num: f64 = g_new.iter().zip(&g).map(|(n, o)| n * (n - o)).sum();
                let den: f64 = g.iter().map(|v| v * v).sum();
                let beta_pr = if den > 0.0 { (num / den).max(0.0) } else { 0.0 };
                for j in 0..dim {
                    dir[j] = g_new[j] + beta_pr * dir[j];
                }
                std::mem::swap(&mut g, &mut g_new);
            }
            q = fq / norm;
            history.push(q);
            if q - last_q < self.tol {
                break;
            }
        }
        let labels = labels_from_probas(&probas, k, &idx);
        let (alpha, beta) = x.split_at(nw);
        Ok(Aggregation {
            n_labels: k,
            labels,
            probas,
            worker_skills: Some(alpha.to_vec()),
            confusion: None,
            task_difficulty: Some(beta.iter().map(|b| b.exp()).collect()),
            iterations: history.len(),
            loss_history: history,
        })
    }
}
