//! Smoothed Dawid-Skene: Dawid-Skene whose confusion matrices are posterior means under a
//! Dirichlet prior, so that a worker with few answers gets a matrix near the prior instead of an
//! extreme one (two answers, both right, make plain DS's matrix the identity). The crowd-kit-exact
//! [`super::DawidSkene`] is unchanged; this is its own method (`ds-smoothed`), and the estimator
//! of the annotator-bias report (`quality::bias_batch`).
//!
//! Maths (K labels; same E-step, priors, initialisation, golden handling and stopping rule as
//! `dawid_skene.rs`, whose `EmData` / `EmLoop` it runs; only the M-step differs). Each true-label
//! column `e_w[., c]` of worker `w` gets a Dirichlet(α_.c) prior with `s` pseudo-answers
//! (`prior_strength`) of accuracy `a` (`prior_accuracy`):
//!
//! ```text
//! α_cc = s·a          α_lc = s·(1 − a)/(K − 1)   for l ≠ c        (Σ_l α_lc = s)
//! n_w[l,c] = sum_{answers (t, w, l)} q_t(c)                        (golden tasks: q_t one-hot)
//! M-step:  e_w[l,c] = max(n_w[l,c] + α_lc, 1e-10) / ( Σ_{l' used by w} max(n_w[l',c] + α_l'c, 1e-10)
//!                                                     + Σ_{l' not used by w} α_l'c )
//! ```
//!
//! i.e. the posterior mean of the column (the MAP estimate with every α raised by one). Labels a
//! worker never used keep their prior mass in the denominator only: their rows are not stored (the
//! sparse layout of `Confusion` stays), the E-step never reads them, and the stored column sums to
//! `1 − Σ_{unused l} α_lc / denominator` (exactly 1 when the worker used every label). The 1e-10
//! floor only matters at `s = 0`, where this is plain DS's M-step (`max(n, 1e-10)` normalised over
//! the used labels), so `prior_strength = 0` gives crowd-kit's DS. The loss (the stopping rule)
//! is DS's ELBO per answer without the Dirichlet's log density.
//!
//! Defaults: `a = 0.7` (a worker is more often right than not, without assuming experts) and
//! `s = 2` pseudo-answers per true class: a worker with 2 answers on a class moves halfway from
//! the prior, one with 50 is within 4% of plain DS on the diagonal. A negative or NaN strength counts as 0 and the
//! accuracy is clamped to [0, 1].
//!
//! Cost and memory: those of DS (O(#answers * K + R * K) per iteration; O(#answers + #workers +
//! #tasks * K + R * K) memory, R = distinct (worker, label) pairs), plus O(K) for the prior sums.
//!
//! ```
//! use tessera_engine::quality::aggregation::{Aggregator, Answers, SmoothedDawidSkene};
//! // workers 0 and 1 agree, worker 2 always says the opposite
//! let a = Answers::new(3, 3, 2,
//!     vec![0, 0, 0, 1, 1, 1, 2, 2, 2], vec![0, 1, 2, 0, 1, 2, 0, 1, 2],
//!     vec![1, 1, 0, 0, 0, 1, 1, 1, 0]).unwrap();
//! let r = SmoothedDawidSkene::default().fit(&a, None).unwrap();
//! assert_eq!(r.labels, vec![1, 0, 1]);
//! let e = r.confusion.unwrap();
//! assert!(e.get(2, 0, 1) > 0.5 && e.get(2, 0, 1) < 0.9); // pulled toward the prior
//! ```

use super::dawid_skene::{fit_confusion_em, EmData};
use super::*;

/// Smoothed Dawid-Skene parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SmoothedDawidSkene {
    /// Maximum number of EM iterations.
    pub n_iter: usize,
    /// Stop when the ELBO per answer grows by less than this (0 = always run `n_iter`).
    pub tol: f64,
    /// The prior's accuracy `a`: the share of a column's pseudo-answers on its diagonal.
    pub prior_accuracy: f64,
    /// Pseudo-answers `s` per true class (per confusion column); 0 is plain Dawid-Skene.
    pub prior_strength: f64,
}

impl Default for SmoothedDawidSkene {
    fn default() -> Self {
        SmoothedDawidSkene { n_iter: 100, tol: 1e-5, prior_accuracy: 0.7, prior_strength: 2.0 }
    }
}

impl SmoothedDawidSkene {
    /// (α_cc, α_lc for l ≠ c) for `k` labels.
    pub fn alphas(&self, k: usize) -> (f64, f64) {
        let s = if self.prior_strength >= 0.0 { self.prior_strength } else { 0.0 };
        let a = if self.prior_accuracy.is_nan() { 0.0 } else { self.prior_accuracy.clamp(0.0, 1.0) };
        let off = if k > 1 { s * (1.0 - a) / (k - 1) as f64 } else { 0.0 };
        (s * a, off)
    }

    /// The M-step (module doc) into `errors`. `colsum` is K scratch values.
    fn m_step(&self, d: &EmData, counts: &[f64], errors: &mut [f64], colsum: &mut [f64]) {
        let k = d.k;
        let (diag, off) = self.alphas(k);
        let alpha = |l: usize, c: usize| if l == c { diag } else { off };
        for w in 0..d.n_workers {
            let rows = d.worker_rows[w] as usize..d.worker_rows[w + 1] as usize;
            // start from the whole prior mass of each column, then swap the used labels' α for
            // their floored (count + α)
            colsum.fill(diag + off * k.saturating_sub(1) as f64);
            for r in rows.clone() {
                let l = d.row_label[r] as usize;
                for c in 0..k {
                    let v = (counts[r * k + c] + alpha(l, c)).max(EPS);
                    errors[r * k + c] = v;
                    colsum[c] += v - alpha(l, c);
                }
            }
            for r in rows {
                for c in 0..k {
                    errors[r * k + c] /= colsum[c];
                }
            }
        }
    }
}

impl Aggregator for SmoothedDawidSkene {
    fn name(&self) -> &'static str {
        "ds-smoothed"
    }

    /// Memory: O(#answers + #workers + #tasks * K + R * K), R = distinct (worker, label) pairs.
    fn fit(&self, a: &Answers, golden: Option<&Golden>) -> Result<Aggregation, AggregationError> {
        let mut colsum = vec![0.0; a.n_labels];
        fit_confusion_em(a, golden, self.n_iter, self.tol, |d, counts, errors| self.m_step(d, counts, errors, &mut colsum))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    /// The last M-step ran on the counts of the final posteriors: recompute them and check each
    /// stored value is (n + α) / den, with den the column's used (n + α) plus the unused labels'
    /// α, so that the stored column plus the unused prior mass sums to 1.
    #[test]
    fn columns_sum_to_one_with_the_unused_labels_prior_mass() {
        let m = SmoothedDawidSkene::default();
        let mut cases = edge_cases();
        cases.push(("every label used", answers(&[(0, 0, 0), (1, 0, 1), (2, 0, 2), (0, 1, 0), (1, 1, 1), (2, 1, 1)], 3)));
        for (name, a) in cases {
            let r = m.fit(&a, None).unwrap();
            assert_finite(&r, &a);
            let k = a.n_labels;
            let (diag, off) = m.alphas(k);
            let alpha = |l: usize, c: usize| if l == c { diag } else { off };
            let e = r.confusion.clone().unwrap();
            for w in 0..a.n_workers {
                let used = &e.observed[e.offsets[w] as usize..e.offsets[w + 1] as usize];
                for c in 0..k {
                    let mut n = vec![0.0; k];
                    for i in (0..a.len()).filter(|&i| a.worker[i] as usize == w) {
                        n[a.label[i] as usize] += r.proba(a.task[i] as usize)[c];
                    }
                    let den: f64 = (0..k).map(|l| if used.contains(&(l as u32)) { n[l] + alpha(l, c) } else { alpha(l, c) }).sum();
                    let unused: f64 = (0..k).filter(|&l| !used.contains(&(l as u32))).map(|l| alpha(l, c)).sum();
                    let mut stored = 0.0;
                    for &l in used {
                        let want = (n[l as usize] + alpha(l as usize, c)) / den;
                        assert!((e.get(w, l, c) - want).abs() < 1e-12, "{name}: worker {w} ({l}, {c})");
                        stored += e.get(w, l, c);
                    }
                    if !used.is_empty() {
                        assert!((stored + unused / den - 1.0).abs() < 1e-12, "{name}: worker {w} column {c}");
                        if unused == 0.0 {
                            assert!((stored - 1.0).abs() < 1e-12, "{name}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn zero_strength_is_plain_dawid_skene() {
        let a = answers(
            &[(0, 0, 0), (0, 1, 0), (0, 2, 1), (1, 0, 1), (1, 1, 1), (1, 2, 1), (2, 0, 0), (2, 1, 1), (2, 2, 0), (3, 0, 2), (3, 1, 2), (3, 2, 0), (4, 1, 2), (4, 2, 2)],
            3,
        );
        let ds = DawidSkene::default().fit(&a, None).unwrap();
        for s in [0.0, 1e-9] {
            let r = SmoothedDawidSkene { prior_strength: s, ..Default::default() }.fit(&a, None).unwrap();
            assert_eq!(r.labels, ds.labels, "strength {s}");
            assert_eq!(r.iterations, ds.iterations, "strength {s}");
            for (x, y) in r.probas.iter().zip(&ds.probas) {
                assert!((x - y).abs() < 1e-6, "strength {s}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn a_worker_with_two_answers_gets_a_mild_matrix() {
        // 20 tasks answered alike by workers 0..3; worker 4 answers two of them, both right.
        let mut t = Vec::new();
        for task in 0..20u32 {
            for w in 0..4 {
                t.push((task, w, task % 2));
            }
        }
        t.push((0, 4, 0));
        t.push((1, 4, 1));
        let a = answers(&t, 2);
        let ds = DawidSkene::default().fit(&a, None).unwrap().confusion.unwrap();
        let sm = SmoothedDawidSkene::default().fit(&a, None).unwrap().confusion.unwrap();
        // plain DS: the identity up to the 1e-10 floor; smoothed: (1 + 1.4) / (1 + 2) = 0.8
        assert!(ds.get(4, 0, 0) > 1.0 - 1e-6, "{}", ds.get(4, 0, 0));
        assert!((sm.get(4, 0, 0) - 0.8).abs() < 1e-3, "{}", sm.get(4, 0, 0));
        assert!((sm.get(4, 1, 0) - 0.2).abs() < 1e-3, "{}", sm.get(4, 1, 0));
        // a worker with 10 answers per class moves less: (10 + 1.4) / (10 + 2) = 0.95
        assert!((sm.get(0, 0, 0) - 0.95).abs() < 1e-3, "{}", sm.get(0, 0, 0));
    }

    #[test]
    fn golden_rows_pin() {
        let a = answers(&[(0, 0, 0), (0, 1, 1), (1, 0, 0), (1, 1, 1), (2, 0, 0), (2, 1, 1)], 2);
        let g = [Some(1), None, None];
        let r = SmoothedDawidSkene::default().fit(&a, Some(&g)).unwrap();
        assert_eq!(r.proba(0), &[0.0, 1.0]);
        assert_eq!(r.labels, vec![1, 1, 1]);
        assert_finite(&r, &a);
    }

    #[test]
    fn hostile_parameters_stay_finite() {
        for (s, acc) in [(-1.0, 0.7), (f64::NAN, 0.7), (2.0, f64::NAN), (2.0, 1.5), (1e6, 0.0)] {
            for (name, a) in edge_cases() {
                let r = SmoothedDawidSkene { prior_strength: s, prior_accuracy: acc, ..Default::default() }.fit(&a, None).unwrap();
                assert_finite(&r, &a);
                assert_eq!(r.labels.len(), a.n_tasks, "{name}");
            }
        }
    }
}
