//! Quality rules: when a metric over an annotator's recent answers crosses a bar, act.

use super::bias::{position_strength, PairWindow};
use super::history::History;
use crate::spec::{RuleMetric, RuleSpec};

/// The windows rules read, per annotator.
pub struct RuleInputs<'a> {
    /// Right/wrong on golden tasks.
    pub gold: &'a History,
    /// Agreed/disagreed with the final label.
    pub agreement: &'a History,
    /// (reference, answer) pairs: final labels and golden answers.
    pub pairs: &'a PairWindow,
    /// Picked the answer shown on the left, on preference pairs.
    pub left: &'a History,
}

/// The value of `rule`'s metric for annotator `a` and how many answers it is over (NaN with none).
pub fn value(rule: &RuleSpec, a: u32, w: &RuleInputs) -> (f64, usize) {
    let last = rule.window as usize;
    match rule.metric {
        RuleMetric::GoldAccuracy => w.gold.rate(a, last),
        RuleMetric::Agreement => w.agreement.rate(a, last),
        RuleMetric::ClassBias => w.pairs.max_strength(a, last),
        RuleMetric::PositionBias => {
            let (rate, n) = w.left.rate(a, last);
            if n == 0 {
                return (f64::NAN, 0);
            }
            let left = (rate * n as f64).round() as u64;
            (position_strength(left, n as u64).abs(), n)
        }
    }
}

/// Whether `rule` fires for annotator `a`.
pub fn fires(rule: &RuleSpec, a: u32, w: &RuleInputs) -> bool {
    let (v, n) = value(rule, a, w);
    if n < rule.min_answers.max(1) as usize {
        return false;
    }
    match (rule.below, rule.above) {
        (Some(b), _) if !rule.metric.fires_above() => v < b,
        (_, Some(b)) if rule.metric.fires_above() => v > b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::RuleAction;

    fn rule(metric: RuleMetric, below: Option<f64>, above: Option<f64>) -> RuleSpec {
        RuleSpec { metric, below, above, action: RuleAction::Ban, window: 10, min_answers: 4, duration: None, reopen: false, value: None }
    }

    #[test]
    fn fires_only_with_enough_answers_below_the_bar() {
        let rule = rule(RuleMetric::GoldAccuracy, Some(0.7), None);
        let mut gold = History::new(1, 20);
        let (agree, left, pairs) = (History::new(1, 20), History::new(1, 20), PairWindow::new(1, 20));
        for _ in 0..3 {
            gold.record(0, false);
        }
        let w = |gold: &History| fires(&rule, 0, &RuleInputs { gold, agreement: &agree, pairs: &pairs, left: &left });
        assert!(!w(&gold), "3 answers < min_answers");
        gold.record(0, true);
        assert!(w(&gold), "1/4 right < 0.7");
        for _ in 0..10 {
            gold.record(0, true);
        }
        assert!(!w(&gold));
    }

    #[test]
    fn bias_rules_fire_above_the_bar() {
        let (gold, agree) = (History::new(1, 20), History::new(1, 20));
        let (mut left, mut pairs) = (History::new(1, 100), PairWindow::new(1, 100));
        let class = rule(RuleMetric::ClassBias, None, Some(0.3));
        let position = RuleSpec { window: 100, min_answers: 40, ..rule(RuleMetric::PositionBias, None, Some(0.3)) };
        for i in 0..100u16 {
            // Half the references are 0, and every answer is 1: always class 1, always the left one.
            pairs.record(0, i % 2, 1, 2);
            left.record(0, true);
        }
        let w = RuleInputs { gold: &gold, agreement: &agree, pairs: &pairs, left: &left };
        assert!(fires(&class, 0, &w));
        assert!(fires(&position, 0, &w));
        let mut fair = (History::new(1, 100), PairWindow::new(1, 100));
        for i in 0..100u16 {
            fair.1.record(0, i % 2, i % 2, 2);
            fair.0.record(0, i % 2 == 0);
        }
        let w = RuleInputs { gold: &gold, agreement: &agree, pairs: &fair.1, left: &fair.0 };
        assert!(!fires(&class, 0, &w));
        assert!(!fires(&position, 0, &w));
        assert!(!fires(&rule(RuleMetric::ClassBias, Some(0.3), None), 0, &w), "a bias rule without `above` never fires (validation refuses it)");
    }
}
