//! `tessera plan`: targets in, the cheapest staffing and overlap that meets them out, checked by
//! simulation. See the crate documentation for the parts.

pub mod accuracy;
pub mod closed_loop;
pub mod estimate;
pub mod graph;
pub mod milp;
pub mod model;
pub mod tours;

pub use closed_loop::{plan, Outcome, Round, Verdict};
pub use milp::{Ask, Solved};
pub use model::Model;

use tessera_engine::spec::Scenario;
use tessera_engine::time::Dur;

/// What a planner asks for.
#[derive(Clone, Debug)]
pub struct Targets {
    /// Share of final labels right, per stream, at the lower bound of the 95% CI.
    pub accuracy: f64,
    /// Turnaround target: tasks finished within it ...
    pub within: Dur,
    /// ... at least this share of them (lower CI bound), per stream.
    pub completion_share: f64,
    /// [USD/week] at most (upper CI bound).
    pub budget_week: Option<f64>,
    /// [USD/h] at least, per on-shift hour, for pools paid per item.
    pub min_wage: Option<f64>,
    /// Headcount of a pool at most this many times the scenario's.
    pub max_scale: f64,
    /// Utilisation the plan starts from (room for queueing within the turnaround).
    pub utilization: f64,
    /// Overlap levels to choose from.
    pub levels: Vec<u32>,
    /// Dynamic overlap's confidence thresholds to choose from (empty: the scenario's).
    pub thresholds: Vec<f64>,
    /// Expert-review sampling rates to choose from (empty: the scenario's).
    pub review_rates: Vec<f64>,
    /// Closed-loop rounds at most.
    pub rounds: u32,
    pub replications: u32,
    pub seed: u64,
    /// How accuracy is estimated by simulation where the formula does not hold.
    pub estimate: estimate::Settings,
    /// The MILP's solver.
    pub solver: crate::schedule::Solver,
}

impl Targets {
    /// The MILP's question for model `m`; with `split`, a pool's tours share its ceiling and
    /// each may be left empty (the pool's tours together at least 1).
    pub fn ask(&self, m: &Model, split: Option<&tours::Split>) -> Ask {
        let ceiling = |c: i64| ((c.max(1) as f64) * self.max_scale).ceil() as i64;
        let mut a = Ask {
            accuracy: vec![self.accuracy; m.streams.len()],
            cap: vec![self.utilization; m.pools.len()],
            budget_week: self.budget_week,
            min_wage: self.min_wage,
            most: m.count.iter().map(|&c| ceiling(c)).collect(),
            least: vec![1; m.pools.len()],
            groups: Vec::new(),
            solver: self.solver,
        };
        if let Some(sp) = split {
            for g in 0..sp.group.iter().max().map_or(0, |&g| g + 1) {
                let members: Vec<usize> = (0..sp.group.len()).filter(|&q| sp.group[q] == g && sp.tour[q].is_some()).collect();
                if members.is_empty() {
                    continue;
                }
                for &q in &members {
                    a.least[q] = 0;
                }
                // Every tour keeps its pool's count from the scenario.
                let most = ceiling(m.count[members[0]]);
                a.groups.push((members, most));
            }
        }
        a
    }
}

/// A marginal value, found by solving again with one thing changed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Marginal {
    pub what: String,
    /// [USD/week] change of the optimal cost (negative: a saving).
    pub usd_week: f64,
}

/// Marginal values of the solved plan: one more person in each pool that sits at its ceiling,
/// and one more point of accuracy on each stream. None where a solve stopped at the time limit
/// (a difference of two unproven costs is not a marginal value).
pub fn marginals(m: &Model, ask: &Ask, base: &Solved) -> Vec<Marginal> {
    let mut out = Vec::new();
    if base.optimality == "time limit" {
        return out;
    }
    let solve = |a: &Ask| milp::solve(m, a).ok().filter(|s| s.optimality != "time limit");
    for (members, most) in &ask.groups {
        if members.iter().map(|&q| base.headcount[q]).sum::<i64>() >= *most {
            let mut a = ask.clone();
            if let Some(x) = a.groups.iter_mut().find(|(m2, _)| m2 == members) {
                x.1 += 1;
            }
            for &q in members {
                a.most[q] = most + 1;
            }
            if let Some(s) = solve(&a) {
                let pool = m.pools[members[0]].split('@').next().unwrap_or_default().to_string();
                out.push(Marginal { what: format!("one more annotator available in pool {pool:?} (now at its ceiling of {most}, over its shifts)"), usd_week: s.cost_week - base.cost_week });
            }
        }
    }
    for p in 0..m.pools.len() {
        if ask.groups.iter().any(|(members, _)| members.contains(&p)) {
            continue;
        }
        if base.headcount[p] >= ask.most[p] {
            let mut a = ask.clone();
            a.most[p] += 1;
            if let Some(s) = solve(&a) {
                out.push(Marginal { what: format!("one more annotator available in pool {:?} (now at its ceiling of {})", m.pools[p], ask.most[p]), usd_week: s.cost_week - base.cost_week });
            }
        }
    }
    for i in 0..m.streams.len() {
        let mut a = ask.clone();
        a.accuracy[i] = (a.accuracy[i] + 0.01).min(1.0);
        if let Some(s) = solve(&a) {
            if s.accuracy_short.iter().all(|&x| x < 1e-9) {
                out.push(Marginal { what: format!("one more point of accuracy on stream {:?}", m.streams[i]), usd_week: s.cost_week - base.cost_week });
            }
        }
    }
    out
}

/// The cost-accuracy-turnaround frontier: for each turnaround target of `within` (the model
/// rebuilt at it from `s`, `Model::with_turnaround`), the optimal weekly cost at each accuracy
/// target of `grid` (None where the workforce cannot reach it, or the shift calendars cannot
/// finish the share asked within it).
pub fn pareto_turnaround(s: &Scenario, m: &Model, t: &Targets, ask: &Ask, within: &[Dur], grid: &[f64]) -> Result<Vec<(Dur, f64, Option<f64>)>, String> {
    let mut out = Vec::new();
    for &w in within {
        let mw = if w == t.within { m.clone() } else { m.with_turnaround(s, w)? };
        let reachable = unreachable(&mw, &Targets { within: w, ..t.clone() }).is_none();
        out.extend(pareto(&mw, ask, grid).into_iter().map(|(acc, cost)| (w, acc, cost.filter(|_| reachable))));
    }
    Ok(out)
}

/// The cost-accuracy frontier: the optimal weekly cost at each accuracy target (None where the
/// workforce cannot reach it).
pub fn pareto(m: &Model, ask: &Ask, grid: &[f64]) -> Vec<(f64, Option<f64>)> {
    grid.iter()
        .map(|&acc| {
            let mut a = ask.clone();
            a.accuracy = vec![acc; m.streams.len()];
            let cost = milp::solve(m, &a).ok().filter(|s| s.accuracy_short.iter().chain(&s.unserved).all(|&x| x < 1e-6)).map(|s| s.cost_week);
            (acc, cost)
        })
        .collect()
}

/// The plan as `--set` overrides of the scenario: headcounts, overlap per stream, the turnaround
/// target on every stream.
pub fn overrides(m: &Model, s: &Solved, t: &Targets) -> Vec<String> {
    let mut v: Vec<String> = m.pools.iter().zip(&s.headcount).map(|(p, n)| format!("pools.{p}.count={n}")).collect();
    for (i, (st, k)) in m.streams.iter().zip(&s.overlap).enumerate() {
        match m.graph.get(i) {
            // A graph's option is the overlap of its main label stage.
            Some(Some(g)) => match &g.main {
                Some(stage) if g.staged => v.push(format!("streams.{st}.stages.{stage}.overlap={k}")),
                Some(_) => v.push(format!("streams.{st}.overlap={k}")),
                None => {}
            },
            _ => v.push(format!("streams.{st}.overlap={k}")),
        }
    }
    if let Some(c) = s.confidence {
        v.push(format!("quality.dynamic_overlap.confidence={c}"));
    }
    if let Some(r) = s.review_rate {
        v.push(format!("quality.review.sample={r}"));
    }
    v.extend(m.streams.iter().map(|st| format!("streams.{st}.turnaround=\"{}\"", t.within)));
    v
}

/// Targets that no staffing can meet because of the shift calendars: a stream whose arrivals
/// (uniform over the week) find no able pool on shift within the turnaround target too often.
pub fn unreachable(m: &Model, t: &Targets) -> Option<String> {
    (0..m.streams.len()).find(|&i| m.reachable[i] < t.completion_share).map(|i| {
        format!(
            "stream {:?}: {:.0}% of its arrivals find no pool able to take it on shift within {} (shift calendars), so at most that share can finish in time, below the {:.0}% asked; widen the shifts or the turnaround target",
            m.streams[i],
            m.reachable[i] * 100.0,
            t.within,
            t.completion_share * 100.0
        )
    })
}

/// When the targets cannot all be met: the one that needs the most slack, in words.
pub fn infeasible(m: &Model, s: &Solved) -> Option<String> {
    let mut worst: Option<(f64, String)> = None;
    let mut consider = |score: f64, text: String| {
        if score > 1e-6 && worst.as_ref().is_none_or(|w| score > w.0) {
            worst = Some((score, text));
        }
    };
    for i in 0..m.streams.len() {
        consider(s.unserved[i] / m.rate[i].max(1e-12), format!("stream {:?}: {:.1} of its {:.1} tasks/h cannot be served even with every pool at its ceiling (raise --max-scale)", m.streams[i], s.unserved[i], m.rate[i]));
        consider(s.accuracy_short[i], format!("stream {:?}: the accuracy target is {:.1} points out of reach of these pools at the offered overlap levels", m.streams[i], s.accuracy_short[i] * 100.0));
    }
    if s.over_budget > 1e-6 {
        consider(s.over_budget / s.cost_week.max(1.0), format!("the budget: the cheapest plan meeting the other targets costs ${:.0}/week more", s.over_budget));
    }
    worst.map(|w| w.1)
}
