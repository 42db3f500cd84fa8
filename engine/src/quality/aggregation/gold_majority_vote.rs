//! Gold majority vote: a majority vote weighted by each worker's accuracy on golden tasks.
//!
//! Maths: `skill(w) = mean over distinct answers (t, w, l) with known truth g(t) of [l == g(t)]`,
//! then the weighted vote of [`super::wawa`]. Needs golden labels.
//!
//! Reference: crowd-kit `GoldMajorityVote`. Differences: crowd-kit raises an error when a worker
//! answered no golden task; here such a worker gets weight 0 (and a task with only such workers
//! falls back to the unweighted vote), and the golden tasks themselves are labelled by the vote
//! like every other task (not forced to their known label), as in crowd-kit.
//!
//! ```
//! use tessera_engine::quality::aggregation::{Aggregator, Answers, GoldMajorityVote};
//! let a = Answers::new(2, 2, 2, vec![0, 0, 1, 1], vec![0, 1, 0, 1], vec![1, 0, 0, 1]).unwrap();
//! let golden = [Some(1), None];
//! let r = GoldMajorityVote::default().fit(&a, Some(&golden)).unwrap();
//! assert_eq!(r.labels, vec![1, 0]); // worker 0 was right on the golden task
//! ```

use super::*;

/// Gold majority vote. No parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct GoldMajorityVote;

impl Aggregator for GoldMajorityVote {
    fn name(&self) -> &'static str {
        "gold-mv"
    }

    fn fit(&self, a: &Answers, golden: Option<&Golden>) -> Result<Aggregation, AggregationError> {
        let golden = golden.ok_or(AggregationError::NeedsGolden { method: "gold-mv" })?;
        a.check_golden(golden)?;
        let idx = a.by_task();
        let skills = skills_against(a, &idx, &golden_reference(golden));
        Ok(weighted_vote(a, &idx, skills, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn needs_golden() {
        let a = answers(&[(0, 0, 1)], 2);
        assert!(matches!(GoldMajorityVote.fit(&a, None), Err(AggregationError::NeedsGolden { .. })));
        assert!(matches!(
            GoldMajorityVote.fit(&a, Some(&[Some(5)])),
            Err(AggregationError::GoldenOutOfRange { .. })
        ));
    }
}
