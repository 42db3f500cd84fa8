//! One-coin Dawid-Skene: Dawid-Skene where each worker's confusion matrix has one parameter, the
//! worker's accuracy `s_w`.
//!
//! Maths: the E-step, priors and loss are those of [`super::dawid_skene`]; the M-step is
//!
//! ```text
//! s_w      = mean_{answers (t, w, l)} q_t(l)
//! e_w[l,c] = clip(s_w if l == c else (1 - s_w) / (K - 1), 1e-10, 1 - 1e-10)   (no renormalisation)
//! ```
//!
//! as in crowd-kit 1.4.2 `OneCoinDawidSkene` (MV initialisation, same ELBO stopping rule).
//! Golden labels, when given, fix the posteriors of their tasks as in Dawid-Skene (crowd-kit's
//! one-coin model takes none; without golden labels both are the same). With a single label
//! (K = 1) crowd-kit divides by zero; we set `e_w = 1`.
//!
//! Memory: that of [`super::dawid_skene`], O(#answers + #workers + #tasks * K + R * K) for the R
//! distinct (worker, label) pairs: `e_w[l, .]` is kept only for the labels `l` the worker used.
//!
//! Paper: Y. Zhang, X. Chen, D. Zhou, M. I. Jordan, "Spectral Methods Meet EM: A Provably Optimal
//! Algorithm for Crowdsourcing", JMLR 17, 2016.
//!
//! ```
//! use tessera_engine::quality::aggregation::{Aggregator, Answers, OneCoinDawidSkene};
//! let a = Answers::new(2, 3, 2, vec![0, 0, 0, 1, 1, 1], vec![0, 1, 2, 0, 1, 2], vec![1, 1, 0, 0, 0, 1]).unwrap();
//! let r = OneCoinDawidSkene::default().fit(&a, None).unwrap();
//! assert_eq!(r.labels, vec![1, 0]);
//! assert!(r.worker_skills.unwrap()[2] < 0.5);
//! ```

use super::dawid_skene::{empty_result, EmData, EmLoop, EmStart};
use super::*;

/// One-coin Dawid-Skene parameters (crowd-kit defaults: 100 iterations, tol 1e-5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OneCoinDawidSkene {
    pub n_iter: usize,
    pub tol: f64,
}

impl Default for OneCoinDawidSkene {
    fn default() -> Self {
        OneCoinDawidSkene { n_iter: 100, tol: 1e-5 }
    }
}

fn skills(d: &EmData, probas: &[f64], skills: &mut [f64], n: &mut [f64]) {
    let k = d.k;
    skills.fill(0.0);
    n.fill(0.0);
    for t in 0..d.n_tasks {
        for &r in &d.rows[d.offsets[t] as usize..d.offsets[t + 1] as usize] {
            let (w, l) = (d.row_worker[r as usize] as usize, d.row_label[r as usize] as usize);
            skills[w] += probas[t * k + l];
            n[w] += 1.0;
        }
    }
    for (s, n) in skills.iter_mut().zip(n.iter()) {
        if *n > 0.0 {
            *s /= *n;
        }
    }
}

/// The confusion row of every (worker, used label) pair from the worker's accuracy.
fn errors_from_skills(d: &EmData, skills: &[f64], errors: &mut [f64]) {
    let k = d.k;
    for (r, row) in errors.chunks_exact_mut(k).enumerate() {
        let (s, l) = (skills[d.row_worker[r] as usize], d.row_label[r] as usize);
        let off = if k > 1 { (1.0 - s) / (k - 1) as f64 } else { 1.0 };
        for (c, e) in row.iter_mut().enumerate() {
            *e = if k == 1 { 1.0 } else { (if c == l { s } else { off }).clamp(EPS, 1.0 - EPS) };
        }
    }
}

impl Aggregator for OneCoinDawidSkene {
    fn name(&self) -> &'static str {
        "one-coin-ds"
    }

    /// Memory: O(#answers + #workers + #tasks * K + R * K), R = distinct (worker, label) pairs.
    fn fit(&self, a: &Answers, golden: Option<&Golden>) -> Result<Aggregation, AggregationError> {
        let Some(EmStart { d, idx, probas, priors }) = EmData::start(a, golden)? else {
            return Ok(empty_result(a));
        };
        let k = d.k;
        let mut sk = vec![0.0; d.n_workers];
        let mut n = vec![0.0; d.n_workers];
        let mut em = EmLoop::new(&d, probas, priors);
        skills(&d, &em.probas, &mut sk, &mut n);
        errors_from_skills(&d, &sk, &mut em.errors);
        em.run(&d, golden, self.n_iter, self.tol, |d, probas, _, errors| {
            skills(d, probas, &mut sk, &mut n);
            errors_from_skills(d, &sk, errors);
        });
        let labels = labels_from_probas(&em.probas, k, &idx);
        Ok(Aggregation {
            n_labels: k,
            labels,
            probas: em.probas,
            worker_skills: Some(sk),
            confusion: Some(d.into_confusion(em.errors)),
            task_difficulty: None,
            iterations: em.history.len(),
            loss_history: em.history,
        })
    }
}
