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
}
