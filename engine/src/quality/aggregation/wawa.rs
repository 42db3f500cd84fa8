//! Wawa (worker agreement with aggregate): a majority vote weighted by each worker's agreement
//! with the plain majority vote.
//!
//! Maths: `skill(w) = mean over distinct answers (t, w, l) of [l == MV(t)]`, then
//! `score(t, l) = sum_{answers (t, w, l)} skill(w) / sum_{answers (t, w, .)} skill(w)` and the label
//! is `argmax_l score(t, l)`, ties to the lowest label.
//!
//! Reference: crowd-kit `Wawa` (Appen's "worker agreement with aggregate").
//! Where every worker of a task has skill 0, crowd-kit's score row is 0/0 = NaN; we fall back to
//! the unweighted vote shares of that task.
//!
//! ```
//! use tessera_engine::quality::aggregation::{Aggregator, Answers, Wawa};
//! let a = Answers::new(2, 3, 2, vec![0, 0, 0, 1, 1], vec![0, 1, 2, 0, 2], vec![1, 1, 0, 1, 0]).unwrap();
//! let r = Wawa::default().fit(&a, None).unwrap();
//! assert_eq!(r.labels[0], 1);
//! // agreement with the majority vote (task 1 is a tie, which goes to label 0)
//! assert_eq!(r.worker_skills.unwrap(), vec![0.5, 1.0, 0.5]);
//! ```

use super::*;

/// Wawa. No parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Wawa;

impl Aggregator for Wawa {
    fn name(&self) -> &'static str {
        "wawa"
    }

    fn fit(&self, a: &Answers, _golden: Option<&Golden>) -> Result<Aggregation, AggregationError> {
        let idx = a.by_task();
        let (mv, _) = vote_shares(a, &idx, None);
        let mv_labels = labels_from_probas(&mv, a.n_labels, &idx);
        let skills = skills_against(a, &idx, &mv_labels);
        Ok(weighted_vote(a, &idx, skills, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn all_zero_skill_task_falls_back_to_votes() {
        // workers 2 and 3 always disagree with MV; task 2 has only them.
        let a = answers(
            &[(0, 0, 0), (0, 1, 0), (0, 2, 1), (1, 0, 1), (1, 1, 1), (1, 3, 0), (2, 2, 1), (2, 3, 1)],
            2,
        );
        let r = Wawa.fit(&a, None).unwrap();
        assert_eq!(r.labels[2], 1);
        assert_finite(&r, &a);
    }
}
