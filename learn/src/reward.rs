//! The per-decision reward, put on the decisions after an episode from the tasks' outcomes (the
//! simulation's own tasks.csv records), so that its sum over a run is a per-task form of the
//! bench's figure of merit. Decision k owns the interval [t_k, t_{k+1}) (the last one, up to the
//! end of the run); a task's terms go to the intervals they accrue in:
//!
//! - `holding`: −Σ_i h_i × (hours task i spends in the system inside the interval), h_i its
//!   stream's `holding_cost` [USD per task-hour]. Summed over a run: −∫ Σ h N(t) dt, the figure
//!   QGym and the leaderboard's "holding cost" column measure (time-average × length).
//! - `composite`, the bench's reward made additive per task: when task i's label becomes final,
//!   + [its label is right] − [it missed its deadline] − 0.1 × its per-item pay [USD]; and all
//!   along, −0.05 × the hours it spends in the system. Divided by the tasks of the run, the sum is
//!   accuracy × completed share − deadline-miss rate − 0.1 × per-item cost per task − 0.05 × mean
//!   time in system [h]: the bench's composite reward with the mean time in system where the
//!   bench has its 90th percentile (a percentile is not a sum over decisions) and per-item pay
//!   where it has all pay (hourly pay does not depend on routing's picks).
//!
//! Time before the first decision is no decision's doing and is left out.

use tessera_engine::run::record::TaskRecord;

/// Which reward to maximise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    Holding,
    Composite,
}

impl Objective {
    pub fn name(self) -> &'static str {
        match self {
            Objective::Holding => "holding",
            Objective::Composite => "composite",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "holding" => Some(Objective::Holding),
            "composite" => Some(Objective::Composite),
            _ => None,
        }
    }
}

/// What a task did, as far as the reward reads it.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// [µs]
    pub arrival: u64,
    /// [µs] when it left the system (final label, or left unserved); None: still open at the end.
    pub left: Option<u64>,
    /// [µs] when its label became final.
    pub final_at: Option<u64>,
    pub holding_cost: f64,
    pub correct: bool,
    pub missed: bool,
    pub item_cost: f64,
}

impl Outcome {
    pub fn of(r: &TaskRecord, holding_cost: f64) -> Self {
        Outcome {
            arrival: r.arrival.0,
            left: r.final_at.or(r.left_at).map(|t| t.0),
            final_at: r.final_at.map(|t| t.0),
            holding_cost,
            correct: r.correct == Some(true),
            missed: r.deadline_missed,
            item_cost: r.item_cost_usd,
        }
    }
}

/// The reward of each decision (times `at`, non-decreasing) of a run that ended at `end` [µs].
pub fn rewards(objective: Objective, at: &[u64], outcomes: &[Outcome], end: u64) -> Vec<f64> {
    let k = at.len();
    let mut r = vec![0.0; k];
    if k == 0 {
        return r;
    }
    // The interval of time t: the last decision at or before t (None before the first).
    let owner = |t: u64| -> Option<usize> { at.partition_point(|&a| a <= t).checked_sub(1) };
    let hour = 3.6e9;
    for o in outcomes {
        let weight = match objective {
            Objective::Holding => o.holding_cost,
            Objective::Composite => 0.05,
        };
        let (from, to) = (o.arrival.max(at[0]), o.left.unwrap_or(end).min(end));
        if weight != 0.0 && to > from {
            // Spread −weight × hours over the intervals [from, to) meets.
            let mut i = owner(from).expect("from ≥ the first decision");
            let mut t = from;
            while t < to {
                let next = if i + 1 < k { at[i + 1].min(to) } else { to };
                r[i] -= weight * (next - t) as f64 / hour;
                t = next;
                i += 1;
            }
        }
        if objective == Objective::Composite {
            if let Some(f) = o.final_at.filter(|&f| f <= end) {
                if let Some(i) = owner(f) {
                    r[i] += o.correct as u8 as f64 - o.missed as u8 as f64 - 0.1 * o.item_cost;
                }
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    const H: u64 = 3_600_000_000;

    fn task(arrival: u64, left: Option<u64>, h: f64) -> Outcome {
        Outcome { arrival, left, final_at: left, holding_cost: h, correct: true, missed: false, item_cost: 0.5 }
    }

    /// The holding reward sums to −∫ Σ h N dt over [first decision, end], whatever the decisions.
    #[test]
    fn holding_sums_to_the_integral_after_the_first_decision() {
        let tasks = [task(0, Some(3 * H), 2.0), task(H, None, 1.0), task(5 * H, Some(6 * H), 3.0)];
        let at = [H / 2, H / 2, 2 * H, 4 * H];
        let r = rewards(Objective::Holding, &at, &tasks, 8 * H);
        // task 0: 2.5 h × 2; task 1: 7 h × 1; task 2: 1 h × 3
        assert!((r.iter().sum::<f64>() + 5.0 + 7.0 + 3.0).abs() < 1e-9, "{r:?}");
        // decision 1 (the second at H/2) owns [H/2, 2H): task 0 1.5 h × 2 + task 1 1 h × 1
        assert_eq!(r[0], 0.0);
        assert!((r[1] + 4.0).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn composite_puts_final_labels_on_their_interval() {
        let mut t = task(0, Some(3 * H), 2.0);
        t.missed = true;
        let r = rewards(Objective::Composite, &[0, 2 * H], &[t], 4 * H);
        assert!((r[0] + 0.05 * 2.0).abs() < 1e-9);
        assert!((r[1] - (1.0 - 1.0 - 0.05 - 0.05)).abs() < 1e-9, "{r:?}");
    }
}
