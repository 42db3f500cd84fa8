//! Quality rules: when a metric over an annotator's recent answers falls below a bar, act.

use super::history::History;
use crate::spec::{RuleMetric, RuleSpec};

/// Whether `rule` fires for annotator `a`, given the golden and agreement histories.
pub fn fires(rule: &RuleSpec, a: u32, gold: &History, agreement: &History) -> bool {
    let h = match rule.metric {
        RuleMetric::GoldAccuracy => gold,
        RuleMetric::Agreement => agreement,
    };
    let (rate, n) = h.rate(a, rule.window as usize);
    n >= rule.min_answers.max(1) as usize && rate < rule.below
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::RuleAction;
    #[test]
    fn fires_only_with_enough_answers_below_the_bar() {
        let rule = RuleSpec { metric: RuleMetric::GoldAccuracy, below: 0.7, action: RuleAction::Ban, window: 10, min_answers: 4, duration: None, reopen: false, value: None };
        let mut gold = History::new(1, 20);
        let agree = History::new(1, 20);
        for _ in 0..3 {
            gold.record(0, false);
        }
        assert!(!fires(&rule, 0, &gold, &agree), "3 answers < min_answers");
        gold.record(0, true);
        assert!(fires(&rule, 0, &gold, &agree), "1/4 right < 0.7");
        for _ in 0..10 {
            gold.record(0, true);
        }
        assert!(!fires(&rule, 0, &gold, &agree));
    }
}
