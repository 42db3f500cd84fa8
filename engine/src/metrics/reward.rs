//! The composite reward and the per-run figures of the routing leaderboard (`tessera bench`).
//!
//! One number that ranks routing policies on a run (higher is better):
//!
//! ```text
//! reward = accuracy × completed share − deadline-miss rate − 0.1 × cost per final label [USD]
//!          − 0.05 × p90 time in system [h] (every arrival; open tasks at their age at the end)
//! ```
//!
//! Learned routing will be trained on this same reward, so that what a learned policy optimises is
//! what the leaderboard ranks.

use crate::run::Summary;
use crate::spec::Scenario;

/// The figures the leaderboard shows per run, in the order [`figures`] returns them:
/// (markdown column, CSV name, whether higher is better).
pub const FIGURES: [(&str, &str, bool); 6] = [
    // (column, csv name, higher is better)
    ("accuracy", "accuracy", true),
    ("cost / label [USD]", "cost_per_final_label_usd", false),
    ("p90 time in system, open tasks at their age [h]", "p90_time_in_system_censored_h", false),
    ("deadline-miss rate", "deadline_miss_rate", false),
    ("holding cost [USD/h]", "holding_cost_per_hour", false),
    ("reward", "reward", true),
];

/// Index of the composite reward in [`FIGURES`] and in the array [`figures`] returns.
pub const REWARD: usize = 5;

/// Weight of the cost per final label \[USD\] in the reward (subtracted).
pub const COST_WEIGHT: f64 = 0.1;

/// Weight of the 90th percentile of time in system \[h\] in the reward (subtracted). Tasks still
/// open at the end count with their age then, so that a policy cannot look fast by starving some.
pub const P90_WEIGHT: f64 = 0.05;

/// The reward formula, as one line of text (as the leaderboard prints it).
pub const FORMULA: &str = "reward = accuracy × completed share − deadline-miss rate − 0.1 × cost per final label [USD] − 0.05 × p90 time in system [h] (open tasks at their age)";

/// The composite reward: `accuracy × completed_share − miss_rate − COST_WEIGHT × cost_per_label_usd
/// − P90_WEIGHT × p90_time_in_system_h`. A figure that is not finite (e.g. the accuracy of a run
/// that finished no task) counts as 0; `completed_share` is used as given.
pub fn composite_reward(accuracy: f64, completed_share: f64, miss_rate: f64, cost_per_label_usd: f64, p90_time_in_system_h: f64) -> f64 {
    let zero_nan = |x: f64| if x.is_finite() { x } else { 0.0 };
    zero_nan(accuracy) * completed_share - zero_nan(miss_rate) - COST_WEIGHT * zero_nan(cost_per_label_usd) - P90_WEIGHT * zero_nan(p90_time_in_system_h)
}

/// The leaderboard figures of one run of `scenario`, in the order of [`FIGURES`]: accuracy, cost
/// per final label \[USD\], p90 time in system \[h\] (every arrival, open tasks at their age at the
/// end), deadline-miss rate, average holding cost
/// \[USD/h\] (Σ streams.holding_cost × mean tasks in system of the stream) and the
/// [composite reward](composite_reward). The first five are passed through as the summary has
/// them (NaN included).
pub fn figures(s: &Summary, scenario: &Scenario) -> [f64; 6] {
    let accuracy = s.accuracy;
    let cost = s.cost.per_final_label_usd;
    let p90_h = s.time_in_system_censored_s.p90 / 3600.0;
    let miss = s.deadline_miss_rate;
    let holding: f64 = scenario.streams.iter().enumerate().map(|(i, st)| st.holding_cost * s.streams.get(&scenario.stream_name(i)).map_or(0.0, |f| f.tasks_in_system_mean)).sum();
    let done = if s.arrivals > 0 { s.completions as f64 / s.arrivals as f64 } else { 0.0 };
    let reward = composite_reward(accuracy, done, miss, cost, p90_h);
    [accuracy, cost, p90_h, miss, holding, reward]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reward_formula() {
        // 0.9 × 0.8 − 0.05 − 0.1 × 0.5 − 0.05 × 2 = 0.72 − 0.05 − 0.05 − 0.1 = 0.52
        let r = composite_reward(0.9, 0.8, 0.05, 0.5, 2.0);
        assert!((r - 0.52).abs() < 1e-12, "{r}");
        // Non-finite figures count as 0.
        let r = composite_reward(f64::NAN, 0.0, f64::NAN, f64::INFINITY, 1.0);
        assert!((r + 0.05).abs() < 1e-12, "{r}");
        assert_eq!(FIGURES[REWARD].1, "reward");
        assert!(FORMULA.contains(&format!("{COST_WEIGHT} × cost")) && FORMULA.contains(&format!("{P90_WEIGHT} × p90")));
    }
}
