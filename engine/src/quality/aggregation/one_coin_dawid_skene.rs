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

use super::dawid_skene::{empty_result, EmData, EmStart};
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
            let (w, l) = (r as usize / k, r as usize % k);
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

fn errors_from_skills(d: &EmData, skills: &[f64], errors: &mut [f64]) {
    let k = d.k;
    for w in 0..d.n_workers {
        let s = skills[w];
        let off = if k > 1 { (1.0 - s) / (k - 1) as f64 } else { 1.0 };
        for l in 0..k {
            let r = w * k + l;
            for c in 0..k {
                errors[r * k + c] = if !d.observed[r] {
                    0.0
                } else if k == 1 {
                    1.0
                } else {
                    (if c == l { s } else { off }).clamp(EPS, 1.0 - EPS)
                };
            }
        }
    }
}

impl Aggregator for OneCoinDawidSkene {
    fn name(&self) -> &'static str {
        "one-coin-ds"
    }

    fn fit(&self, a: &Answers, golden: Option<&Golden>) -> Result<Aggregation, AggregationError> {
        let Some(EmStart { d, idx, mut probas, mut priors }) = EmData::start(a, golden)? else {
            return Ok(empty_result(a));
        };
        let k = d.k;
        let mut sk = vec![0.0; d.n_workers];
        let mut n = vec![0.0; d.n_workers];
        let mut counts = vec![0.0; d.n_workers * k * k];
        let mut errors = vec![0.0; d.n_workers * k * k];
        let mut log2err = vec![0.0; d.n_workers * k * k];
        let mut scratch = vec![0.0; 2 * k];
        let mut prior_sum = vec![0.0; k];
        skills(&d, &probas, &mut sk, &mut n);
        errors_from_skills(&d, &sk, &mut errors);

        let mut loss = f64::NEG_INFINITY;
        let mut history = Vec::with_capacity(self.n_iter);
        for _ in 0..self.n_iter {
            d.log2_errors(&errors, &mut log2err);
            let entropy = if golden.is_some() {
                let e = d.e_step(&priors, &log2err, &mut probas, &mut scratch, None);
                correct_with_golden(&mut probas, k, golden);
                d.priors(&probas, &mut priors);
                d.counts(&probas, &mut counts);
                e
            } else {
                let e = d.e_step(&priors, &log2err, &mut probas, &mut scratch, Some((&mut prior_sum, &mut counts)));
                d.priors_from_sum(&prior_sum, &mut priors);
                e
            };
            skills(&d, &probas, &mut sk, &mut n);
            errors_from_skills(&d, &sk, &mut errors);
            let new_loss = d.elbo(&probas, &priors, &counts, &errors, golden.is_none().then_some(entropy));
            history.push(new_loss);
            if new_loss - loss < self.tol {
                break;
            }
            loss = new_loss;
        }
        let labels = labels_from_probas(&probas, k, &idx);
        Ok(Aggregation {
            n_labels: k,
            labels,
            probas,
            worker_skills: Some(sk),
            confusion: Some(errors),
            task_difficulty: None,
            iterations: history.len(),
            loss_history: history,
        })
    }
}
