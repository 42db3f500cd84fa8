//! Majority vote: each task gets the label most of its answers gave.
//!
//! Maths: `score(t, l) = #{answers of t with label l} / #{answers of t}`; the label is
//! `argmax_l score(t, l)`, ties to the lowest label id (crowd-kit: pandas `idxmax` over sorted
//! label columns). Duplicate answers count twice. The learned state is each worker's accuracy
//! against the majority labels (crowd-kit's `MajorityVote.skills_`: each distinct
//! (task, worker, label) counted once).
//!
//! Reference: the baseline of every crowdsourcing paper; crowd-kit `MajorityVote`.
//!
//! ```
//! use tessera_engine::quality::aggregation::{Aggregator, Answers, MajorityVote};
//! let a = Answers::new(1, 3, 2, vec![0, 0, 0], vec![0, 1, 2], vec![1, 0, 1]).unwrap();
//! let r = MajorityVote::default().fit(&a, None).unwrap();
//! assert_eq!(r.labels, vec![1]);
//! assert_eq!(r.worker_skills.unwrap(), vec![1.0, 0.0, 1.0]);
//! ```

use super::*;

/// Majority vote. No parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MajorityVote;

impl Aggregator for MajorityVote {
    fn name(&self) -> &'static str {
        "mv"
    }

    fn fit(&self, a: &Answers, _golden: Option<&Golden>) -> Result<Aggregation, AggregationError> {
        let idx = a.by_task();
        let (probas, _) = vote_shares(a, &idx, None);
        let labels = labels_from_probas(&probas, a.n_labels, &idx);
        let skills = skills_against(a, &idx, &labels);
        Ok(Aggregation {
            n_labels: a.n_labels,
            labels,
            probas,
            worker_skills: Some(skills),
            confusion: None,
            task_difficulty: None,
            iterations: 0,
            loss_history: vec![],
        })
    }
}

impl MajorityVote {
    /// Weighted majority vote, crowd-kit's `MajorityVote.fit(data, skills)` (and the `predict` of
    /// Wawa, ZBS and GoldMV): the score of a label is the summed weight of the workers who gave
    /// it, normalised per task; `worker_skills` is each worker's accuracy against the result, as
    /// crowd-kit's `skills_`. A task whose weights sum to zero falls back to plain vote shares
    /// (crowd-kit would give NaN).
    pub fn fit_weighted(&self, a: &Answers, weights: &[f64]) -> Result<Aggregation, AggregationError> {
        if weights.len() != a.n_workers {
            return Err(AggregationError::WeightsLength { expected: a.n_workers, got: weights.len() });
        }
        let idx = a.by_task();
        let mut r = weighted_vote(a, &idx, weights.to_vec(), 0);
        r.worker_skills = Some(skills_against(a, &idx, &r.labels));
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn ties_go_to_lowest_label_and_duplicates_count() {
        // task 0: 2 vs 2 tie between labels 2 and 1 -> 1; task 1: worker 0 answered 1 twice.
        let a = answers(&[(0, 0, 2), (0, 1, 2), (0, 2, 1), (0, 3, 1), (1, 0, 1), (1, 0, 1), (1, 1, 0)], 3);
        let r = MajorityVote.fit(&a, None).unwrap();
        assert_eq!(r.labels, vec![1, 1]);
        assert_finite(&r, &a);
    }

    #[test]
    fn weights_decide_and_skills_are_accuracy() {
        // task 0: worker 2 (weight 3) outweighs workers 0 and 1 (weight 1 each)
        let a = answers(&[(0, 0, 0), (0, 1, 0), (0, 2, 1), (1, 0, 1), (1, 2, 1)], 2);
        let r = MajorityVote.fit_weighted(&a, &[1.0, 1.0, 3.0]).unwrap();
        assert_eq!(r.labels, vec![1, 1]);
        assert!((r.proba(0)[1] - 0.6).abs() < 1e-12);
        assert_eq!(r.worker_skills.unwrap(), vec![0.5, 0.0, 1.0]);
        assert!(matches!(MajorityVote.fit_weighted(&a, &[1.0]), Err(AggregationError::WeightsLength { expected: 3, got: 1 })));
    }
}
