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
//!   along, a time cost that grows with its age: at age a [h] it accrues 0.05 × a per hour, so a
//!   task that stays T hours costs 0.05 × T² / 2. Divided by the tasks of the run, the sum is
//!   accuracy × completed share − deadline-miss rate − 0.1 × per-item cost per task − 0.05 ×
//!   E[T²] / 2: the bench's composite reward with a convex surrogate where the bench has the 90th
//!   percentile of time in system (a percentile is not a sum over decisions; the mean would not
//!   do: with one kind of work every non-idling order has the same mean time in system, and only
//!   a convex cost sees the tail, as first-come-first-served minimises the variance of waiting),
//!   and per-item pay where it has all pay (hourly pay does not depend on routing's picks).
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
    /// The rate a task in the system accrues cost at: its stream's holding cost [USD per
    /// task-hour] (holding), or the slope 0.05 per hour of age of the composite's time cost.
    pub fn weight(self, holding_cost: f64) -> f64 {
        match self {
            Objective::Holding => holding_cost,
            Objective::Composite => 0.05,
        }
    }
    /// The cost over [t1, t2] [µs] of the tasks in the system whose weights sum to `level` and
    /// whose weight × arrival [h] sum to `level_arrival`: ∫ Σ w dt (holding) or ∫ Σ w (t − arrival) dt
    /// (composite), in hours.
    pub fn cost(self, level: f64, level_arrival: f64, t1: u64, t2: u64) -> f64 {
        let (a, b) = (t1 as f64 / HOUR, t2 as f64 / HOUR);
        match self {
            Objective::Holding => level * (b - a),
            Objective::Composite => level * (b * b - a * a) / 2.0 - level_arrival * (b - a),
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

/// [µs] per hour.
pub(crate) const HOUR: f64 = 3.6e9;

impl Outcome {
    /// The composite's term when the label becomes final: +1 if right, −1 if the deadline was
    /// missed, −0.1 × per-item pay [USD].
    pub fn final_term(&self) -> f64 {
        self.correct as u8 as f64 - self.missed as u8 as f64 - 0.1 * self.item_cost
    }
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
/// Time in the system is integrated by one sweep over the tasks' entries and exits, so the cost
/// is O((tasks + decisions) log tasks) however long tasks stay.
pub fn rewards(objective: Objective, at: &[u64], outcomes: &[Outcome], end: u64) -> Vec<f64> {
    let k = at.len();
    let mut r = vec![0.0; k];
    if k == 0 {
        return r;
    }
    // The interval of time t: the last decision at or before t (None before the first).
    let owner = |t: u64| -> Option<usize> { at.partition_point(|&a| a <= t).checked_sub(1) };
    // Entries and exits of the tasks in the system, clamped to [first decision, end]: weight w
    // and w × arrival [h], so that the sweep integrates Σ w (holding) or Σ w (t − arrival)
    // (composite's time cost rate) between events.
    let mut events: Vec<(u64, f64, f64)> = Vec::with_capacity(2 * outcomes.len());
    for o in outcomes {
        let weight = objective.weight(o.holding_cost);
        let (from, to) = (o.arrival.max(at[0]), o.left.unwrap_or(end).min(end));
        if weight != 0.0 && to > from {
            let wa = weight * o.arrival as f64 / HOUR;
            events.push((from, weight, wa));
            events.push((to, -weight, -wa));
        }
        if objective == Objective::Composite {
            if let Some(i) = o.final_at.filter(|&f| f <= end).and_then(owner) {
                r[i] += o.final_term();
            }
        }
    }
    events.sort_by_key(|e| e.0);
    let (mut level, mut level_arrival, mut j) = (0.0f64, 0.0f64, 0usize);
    for i in 0..k {
        let stop = if i + 1 < k { at[i + 1] } else { end.max(at[i]) };
        let mut t = at[i];
        while t < stop {
            while j < events.len() && events[j].0 <= t {
                level += events[j].1;
                level_arrival += events[j].2;
                j += 1;
            }
            let next = events.get(j).map_or(stop, |e| e.0.min(stop));
            r[i] -= objective.cost(level, level_arrival, t, next);
            t = next;
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
        // time cost 0.05 × age per hour: ∫0..2 = 0.1, ∫2..3 = 0.125
        assert!((r[0] + 0.1).abs() < 1e-9, "{r:?}");
        assert!((r[1] - (1.0 - 1.0 - 0.05 - 0.125)).abs() < 1e-9, "{r:?}");
        // a task that stays T hours costs 0.05 T² / 2 in all
        let long = task(H, Some(5 * H), 0.0);
        let r = rewards(Objective::Composite, &[0, 2 * H, 3 * H], &[long], 6 * H);
        assert!((r.iter().sum::<f64>() - (1.0 - 0.05 - 0.05 * 16.0 / 2.0)).abs() < 1e-9, "{r:?}");
    }

    /// The sweep equals the plain definition (each task's time cut at the decisions) on random
    /// runs, ties and tasks open at the end included.
    #[test]
    fn the_sweep_is_the_definition() {
        use rand::{Rng, SeedableRng};
        let mut g = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for _ in 0..200 {
            let end = g.random_range(1..100) * H;
            let mut at: Vec<u64> = (0..g.random_range(1..30)).map(|_| g.random_range(0..end)).collect();
            at.sort();
            let tasks: Vec<Outcome> = (0..g.random_range(0..40))
                .map(|_| {
                    let a = g.random_range(0..end);
                    let left = g.random_bool(0.8).then(|| g.random_range(a..=end));
                    task(a, left, g.random_range(0.0..5.0))
                })
                .collect();
            for objective in [Objective::Holding, Objective::Composite] {
                let got = rewards(objective, &at, &tasks, end);
                let mut want = vec![0.0; at.len()];
                for o in &tasks {
                    let w = if objective == Objective::Holding { o.holding_cost } else { 0.05 };
                    let (from, to) = (o.arrival.max(at[0]), o.left.unwrap_or(end).min(end));
                    for i in 0..at.len() {
                        let (s, e) = (at[i], if i + 1 < at.len() { at[i + 1] } else { end.max(at[i]) });
                        let (x1, x2) = (from.max(s), to.min(e));
                        if x2 > x1 {
                            let (a, x1, x2) = (o.arrival as f64 / H as f64, x1 as f64 / H as f64, x2 as f64 / H as f64);
                            want[i] -= if objective == Objective::Holding { w * (x2 - x1) } else { w * ((x2 - a).powi(2) - (x1 - a).powi(2)) / 2.0 };
                        }
                    }
                    if objective == Objective::Composite {
                        if let Some(f) = o.final_at.filter(|&f| f <= end) {
                            if let Some(i) = at.partition_point(|&a| a <= f).checked_sub(1) {
                                want[i] += 1.0 - 0.05;
                            }
                        }
                    }
                }
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-9 * (1.0 + b.abs()), "{got:?} vs {want:?}");
                }
            }
        }
    }
}
