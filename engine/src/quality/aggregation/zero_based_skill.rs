//! Zero-based skill: a weighted majority vote whose weights are learned by moving each worker's
//! skill toward their accuracy against the current weighted vote.
//!
//! Maths: start with `skill(w) = 1/K + eps` (K = labels used); for iteration `i = 1..=n_iter`:
//! if `i % lr_steps_to_reduce == 0` then `lr *= lr_reduce_factor`; label every task by the vote
//! weighted by `skill`; `skill(w) += lr * (accuracy(w) - skill(w))`, accuracy over distinct
//! (task, worker, label) answers. Final labels: the vote weighted by the last skills.
//!
//! Reference: crowd-kit `ZeroBasedSkill`. Where every worker of a task has skill 0 crowd-kit's
//! vote is NaN and that task is left out of the accuracies; we do the same while fitting and fall
//! back to the unweighted vote for the final label.
//!
//! ```
//! use tessera_engine::quality::aggregation::{Aggregator, Answers, ZeroBasedSkill};
//! let a = Answers::new(2, 3, 2, vec![0, 0, 0, 1, 1, 1], vec![0, 1, 2, 0, 1, 2], vec![1, 1, 0, 0, 0, 1]).unwrap();
//! let r = ZeroBasedSkill::default().fit(&a, None).unwrap();
//! assert_eq!(r.labels, vec![1, 0]);
//! ```

use super::*;

/// Zero-based skill parameters (crowd-kit defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ZeroBasedSkill {
    /// Number of skill updates.
    pub n_iter: usize,
    /// Initial learning rate.
    pub lr_init: f64,
    /// The learning rate is multiplied by `lr_reduce_factor` every `lr_steps_to_reduce` steps.
    pub lr_steps_to_reduce: usize,
    pub lr_reduce_factor: f64,
    /// Added to the initial skill `1/K`.
    pub eps: f64,
}

impl Default for ZeroBasedSkill {
    fn default() -> Self {
        ZeroBasedSkill { n_iter: 100, lr_init: 1.0, lr_steps_to_reduce: 20, lr_reduce_factor: 0.5, eps: 1e-5 }
    }
}

impl Aggregator for ZeroBasedSkill {
    fn name(&self) -> &'static str {
        "zbs"
    }

    fn fit(&self, a: &Answers, _golden: Option<&Golden>) -> Result<Aggregation, AggregationError> {
        let idx = a.by_task();
        let first = a.first_occurrence(&idx);
        let used = a.labels_by_first_appearance().len().max(1);
        let mut skills = vec![1.0 / used as f64 + self.eps; a.n_workers];
        let mut lr = self.lr_init;
        for i in 1..=self.n_iter {
            if self.lr_steps_to_reduce > 0 && i % self.lr_steps_to_reduce == 0 {
                lr *= self.lr_reduce_factor;
            }
            let (probas, zero) = vote_shares(a, &idx, Some(&skills));
            let mut labels = labels_from_probas(&probas, a.n_labels, &idx);
            for (l, z) in labels.iter_mut().zip(&zero) {
                if *z {
                    *l = NO_LABEL;
                }
            }
            for (s, acc) in skills.iter_mut().zip(worker_accuracy(a, &first, &labels)) {
                if let Some(acc) = acc {
                    *s += lr * (acc - *s);
                }
            }
        }
        Ok(weighted_vote(a, &idx, skills, self.n_iter))
    }
}
