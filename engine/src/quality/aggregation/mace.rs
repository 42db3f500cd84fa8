//! MACE (Multi-Annotator Competence Estimation): each worker either *knows* the answer (and gives
//! the true label) or *spams* (draws a label from their own distribution `theta_w`).
//!
//! Maths (K labels, `s_w = (P(spam), P(know))`):
//!
//! ```text
//! P(answer l | truth j) = s_w0 * theta_w[l] + s_w1 * [l == j],   P(truth j) = 1/K
//! E-step: g_t(j) = (1/K) prod_{answers (t,w,l)} P(l | j);  q_t = g_t / sum_j g_t(j)
//!         spam mass per answer  = sum_j q_t(j) s_w0 theta_w[l] / P(l | j)
//!         know mass per answer  = q_t(l) s_w1 / (s_w0 theta_w[l] + s_w1)
//! M-step (variational Bayes, Beta(0.5, 0.5) and Dirichlet(10) priors):
//!         s_w     = exp(digamma(n_w + prior)) / exp(digamma(sum(n_w + prior)))
//!         theta_w = same with the per-label spam masses
//! ```
//!
//! `n_iter` rounds, best of `n_restarts` random starts by marginal likelihood. The products are
//! taken in log space (crowd-kit multiplies raw probabilities; tasks with hundreds of answers
//! underflow there, not here).
//!
//! Differences from crowd-kit 1.4.2 `MACE`: (1) crowd-kit re-seeds every restart with the same
//! `random_state`, so its 10 restarts are 10 copies of one run; we default to `n_restarts = 1` and
//! seed restart r with `random_state + r`. (2) crowd-kit's initial values come from NumPy's
//! Mersenne Twister, ours from ChaCha8. (3) crowd-kit's M-step reads the per-(worker, label) spam
//! counts from a table sorted by worker name and label while the rest of the model indexes workers
//! and labels by first appearance, which scrambles `theta` between workers whenever the two orders
//! differ; we index consistently. So labels can differ; see benches/RESULTS.md for accuracies.
//!
//! Paper: D. Hovy, T. Berg-Kirkpatrick, A. Vaswani, E. Hovy, "Learning Whom to Trust with MACE",
//! NAACL-HLT 2013.
//!
//! ```
//! use tessera_engine::quality::aggregation::{Aggregator, Answers, Mace};
//! let a = Answers::new(2, 3, 2, vec![0, 0, 0, 1, 1, 1], vec![0, 1, 2, 0, 1, 2], vec![1, 1, 0, 0, 0, 1]).unwrap();
//! let r = Mace::default().fit(&a, None).unwrap();
//! assert_eq!(r.labels, vec![1, 0]);
//! ```

use super::dawid_skene::empty_result;
use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// MACE parameters (crowd-kit defaults except `n_restarts`, see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mace {
    pub n_restarts: usize,
    pub n_iter: usize,
    /// Spread of the random start: values drawn from U(1, 2.5) with the default 0.5.
    pub default_noise: f64,
    /// Beta prior of (spam, know).
    pub alpha: f64,
    pub beta: f64,
    /// Dirichlet prior of each worker's spam distribution.
    pub strategy_prior: f64,
    pub random_state: u64,
}

impl Default for Mace {
    fn default() -> Self {
        Mace { n_restarts: 1, n_iter: 50, default_noise: 0.5, alpha: 0.5, beta: 0.5, strategy_prior: 10.0, random_state: 0 }
    }
}

/// Digamma function (recurrence up to x >= 10, then the asymptotic series).
pub(crate) fn digamma(mut x: f64) -> f64 {
    let mut r = 0.0;
    while x < 10.0 {
        r -= 1.0 / x;
        x += 1.0;
    }
    let f = 1.0 / (x * x);
    r + x.ln() - 0.5 / x
        - f * (1.0 / 12.0 - f * (1.0 / 120.0 - f * (1.0 / 252.0 - f * (1.0 / 240.0 - f * (1.0 / 132.0)))))
}

struct State {
    spam: Vec<f64>,  // [w * 2 + {0: spam, 1: know}]
    theta: Vec<f64>, // [w * k + l]
}

struct Counts {
    strategy: Vec<f64>, // [w * k + l]
    knowing: Vec<f64>,  // [w * 2 + s]
    probas: Vec<f64>,
    lml: f64,
}

fn e_step(a: &Answers, idx: &TaskIndex, s: &State, c: &mut Counts, lg: &mut [f64]) {
    let k = a.n_labels;
    c.strategy.fill(0.0);
    c.knowing.fill(0.0);
    c.lml = 0.0;
    let ln_k = (k as f64).ln();
    for t in 0..a.n_tasks {
        let q = &mut c.probas[t * k..(t + 1) * k];
        if idx.count(t) == 0 {
            q.fill(0.0);
            continue;
        }
        let mut base = -ln_k;
        lg.fill(0.0);
        for &i in idx.answers(t) {
            let (w, l) = (a.worker[i as usize] as usize, a.label[i as usize] as usize);
            let f0 = s.spam[w * 2] * s.theta[w * k + l];
            base += f0.ln();
            lg[l] += (f0 + s.spam[w * 2 + 1]).ln() - f0.ln();
        }
        let m = lg.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for j in 0..k {
            q[j] = (lg[j] - m).exp();
            sum += q[j];
        }
        let log_inst = base + m + sum.ln();
        // ln(inst + 1e-8), as crowd-kit
        let e8 = 1e-8f64.ln();
        c.lml += log_inst.max(e8) + (-(log_inst - e8).abs()).exp().ln_1p();
        q.iter_mut().for_each(|x| *x /= sum);
        for &i in idx.answers(t) {
            let (w, l) = (a.worker[i as usize] as usize, a.label[i as usize] as usize);
            let f0 = s.spam[w * 2] * s.theta[w * k + l];
            let f1 = s.spam[w * 2 + 1];
            let ql = q[l];
            let spam_mass = 1.0 - ql + ql * f0 / (f0 + f1);
            let know_mass = ql * f1 / (f0 + f1);
            c.strategy[w * k + l] += spam_mass;
            c.knowing[w * 2] += spam_mass;
            c.knowing[w * 2 + 1] += know_mass;
        }
    }
}

fn vb_normalize(x: &[f64], prior: &[f64], out: &mut [f64], width: usize) {
    for (r, row) in out.chunks_mut(width).enumerate() {
        let xs = &x[r * width..(r + 1) * width];
        let total: f64 = xs.iter().zip(&prior[..width]).map(|(a, b)| a + b).sum();
        let norm = digamma(total).exp();
        for j in 0..width {
            row[j] = if norm.abs() > 1e-300 { digamma(xs[j] + prior[j]).exp() / norm } else { 0.0 };
        }
    }
}

impl Aggregator for Mace {
    fn name(&self) -> &'static str {
        "mace"
    }

    fn fit(&self, a: &Answers, _golden: Option<&Golden>) -> Result<Aggregation, AggregationError> {
        if a.is_empty() {
            return Ok(empty_result(a));
        }
        let (k, nw) = (a.n_labels, a.n_workers);
        let idx = a.by_task();
        let mut lg = vec![0.0; k];
        let spam_prior = [self.alpha, self.beta];
        let strat_prior = vec![self.strategy_prior; k];
        let mut c = Counts {
            strategy: vec![0.0; nw * k],
            knowing: vec![0.0; nw * 2],
            probas: vec![0.0; a.n_tasks * k],
            lml: 0.0,
        };
        let mut best: Option<(f64, State)> = None;
        for restart in 0..self.n_restarts.max(1) {
            let mut rng = ChaCha8Rng::seed_from_u64(self.random_state.wrapping_add(restart as u64));
            let mut draw = |n: usize, width: usize| -> Vec<f64> {
                let mut v: Vec<f64> =
                    (0..n * width).map(|_| 1.0 + (1.0 + self.default_noise) * rng.random::<f64>()).collect();
                for row in v.chunks_mut(width) {
                    let s: f64 = row.iter().sum();
                    row.iter_mut().for_each(|x| *x /= s);
                }
                v
            };
            let mut s = State { spam: draw(nw, 2), theta: draw(nw, k) };
            e_step(a, &idx, &s, &mut c, &mut lg);
            for _ in 0..self.n_iter {
                vb_normalize(&c.knowing, &spam_prior, &mut s.spam, 2);
                vb_normalize(&c.strategy, &strat_prior, &mut s.theta, k);
                e_step(a, &idx, &s, &mut c, &mut lg);
            }
            if !matches!(&best, Some((l, _)) if c.lml <= *l) {
                best = Some((c.lml, s));
            }
        }
        let (_, s) = best.expect("at least one restart");
        e_step(a, &idx, &s, &mut c, &mut lg);
        let labels = labels_from_probas(&c.probas, k, &idx);
        Ok(Aggregation {
            n_labels: k,
            labels,
            probas: c.probas,
            worker_skills: Some((0..nw).map(|w| s.spam[w * 2 + 1]).collect()),
            confusion: None,
            task_difficulty: None,
            iterations: self.n_iter,
            loss_history: vec![c.lml],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digamma_values() {
        assert!((digamma(1.0) + 0.577_215_664_901_532_9).abs() < 1e-12);
        assert!((digamma(0.5) + 1.963_510_026_021_423_5).abs() < 1e-12);
        assert!((digamma(10.0) - 2.251_752_589_066_721).abs() < 1e-12);
    }
}
