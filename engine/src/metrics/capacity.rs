//! The fluid capacity bound: can the workforce serve the offered load at all?
//!
//! Streams offer tasks at rates λᵢ [tasks/h]; pool p has cₚ annotators on shift on average. A
//! task of stream i costs hᵢₚ hours of a pool-p annotator's time when that pool may take it
//! (None when it may not), plus rᵢ hours of the reviewing pool's time. This is a max-flow from
//! streams to pools in which one hour of a pool buys a different number of tasks of each stream
//! (a generalised flow), so it is solved as a small linear programme (good_lp, microlp):
//!
//!   served fraction fᵢ ∈ [0, 1], flows xᵢₚ ≥ 0 [tasks/h]:  Σₚ xᵢₚ = fᵢ λᵢ,
//!   Σᵢ hᵢₚ xᵢₚ + Σᵢ rᵢ fᵢ λᵢ [p reviews] ≤ cₚ.
//!
//! The fractions are max-min fair (progressive filling): raise every fraction together until
//! some streams cannot grow, freeze those, go on with the rest. A stream whose fraction stays
//! below 1 is overloaded: no routing policy can serve all of it with this workforce, whatever
//! the queue discipline. Pools are saturated when their whole capacity is needed. The work per
//! task is a lower bound (the first `overlap` labels, the declared mean service times, the
//! sampled reviews; no rework, walk-aways or dynamic extra labels), so an overload verdict is
//! never a false alarm of the fluid model.
//!
//! Workflow graphs add stage loads: a stage reached only when a condition holds (a model's
//! confidence, a disagreement, a review's verdict) offers eₛ of its items per task of its stream
//! (the entries measured in the window, times the people each entry needs), each hₛₚ hours of a
//! pool p that may work it: flows yₛₚ ≥ 0 with Σₚ yₛₚ = eₛ fᵢ λᵢ and Σₛ hₛₚ yₛₚ added to pool p's
//! hours. A stream whose every stage is conditional has only stage loads. Measured entries count
//! what got that far (reworks included; under overload, fewer), so the bound stays a lower one.

use good_lp::{variable, variables, Expression, ProblemVariables, Solution, SolverModel, Variable};

/// What the bound needs.
#[derive(Clone, Debug, Default)]
pub struct Load {
    /// [tasks/h] offered per stream.
    pub rates: Vec<f64>,
    /// Annotators on shift on average, per pool.
    pub pools: Vec<f64>,
    /// [h] of a pool-p annotator per task of stream i: `work[i][p]`, None if p may not take it.
    pub work: Vec<Vec<Option<f64>>>,
    /// Review per task of stream i: ([h] of reviewer time, reviewing pool).
    pub review: Vec<Option<(f64, usize)>>,
    /// Work of workflow stages beyond `work` (see the module doc).
    pub stages: Vec<StageLoad>,
}

/// One workflow stage's work.
#[derive(Clone, Debug)]
pub struct StageLoad {
    pub stream: usize,
    /// Items per task of the stream (entries per arrival × people per entry).
    pub per_task: f64,
    /// [h] of a pool-p annotator per item, None if p may not work the stage.
    pub hours: Vec<Option<f64>>,
}

/// The verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Capacity {
    /// Per stream: the share of its offered load the workforce can serve (max-min fair), in [0, 1].
    pub served: Vec<f64>,
    /// Per stream [tasks/h]: what it could get with every pool that may take it to itself.
    pub alone_per_hour: Vec<f64>,
    /// Per pool: the share of its capacity the served load needs (at least; 1 = saturated).
    pub pool_load: Vec<f64>,
}

/// Tolerance of the fluid comparisons.
const EPS: f64 = 1e-7;

struct Lp {
    vars: ProblemVariables,
    x: Vec<Vec<Option<Variable>>>,
    /// Per stage load, per pool.
    y: Vec<Vec<Option<Variable>>>,
}

impl Load {
    fn lp(&self) -> Lp {
        let mut vars = variables!();
        let x = self.work.iter().map(|row| row.iter().map(|h| h.map(|_| vars.add(variable().min(0.0)))).collect()).collect();
        let y = self.stages.iter().map(|s| s.hours.iter().map(|h| h.map(|_| vars.add(variable().min(0.0)))).collect()).collect();
        Lp { vars, x, y }
    }

    /// Whether stream `i` has work at all: a pool for its main work, or stage loads.
    fn has_work(&self, i: usize) -> bool {
        self.work[i].iter().any(Option::is_some) || self.stages.iter().any(|s| s.stream == i)
    }

    /// Hours of pool `p` the stage loads take in `lp` (an expression).
    fn stage_hours(&self, lp: &Lp, p: usize) -> Expression {
        self.stages.iter().zip(&lp.y).filter_map(|(s, y)| match (y[p], s.hours[p]) {
            (Some(v), Some(h)) => Some(v * h),
            _ => None,
        }).sum()
    }

    /// The constraints of serving fraction `f[i]` (an expression) of each stream.
    fn constraints(&self, lp: &Lp, f: &[Expression]) -> Vec<good_lp::Constraint> {
        let mut cs = Vec::new();
        for (i, row) in lp.x.iter().enumerate() {
            // A stream whose every stage is conditional has only stage loads.
            if row.iter().all(Option::is_none) && self.stages.iter().any(|s| s.stream == i) {
                continue;
            }
            let flow: Expression = row.iter().flatten().copied().map(Expression::from).sum();
            cs.push(flow.eq(f[i].clone() * self.rates[i]));
        }
        for (s, y) in self.stages.iter().zip(&lp.y) {
            let flow: Expression = y.iter().flatten().copied().map(Expression::from).sum();
            cs.push(flow.eq(f[s.stream].clone() * (self.rates[s.stream] * s.per_task)));
        }
        for (p, &cap) in self.pools.iter().enumerate() {
            let mut used = self.stage_hours(lp, p);
            for (i, row) in lp.x.iter().enumerate() {
                if let (Some(v), Some(h)) = (row[p], self.work[i][p]) {
                    used += v * h;
                }
                if let Some((r, q)) = self.review[i] {
                    if q == p {
                        used += f[i].clone() * (r * self.rates[i]);
                    }
                }
            }
            cs.push(used.leq(cap));
        }
        cs
    }

    /// The largest t ≤ 1 such that the streams in `raise` can all serve fraction t while every
    /// other stream i serves `fixed[i]`; None if even t = 0 is infeasible.
    fn best(&self, fixed: &[f64], raise: &[usize]) -> Option<f64> {
        let mut lp = self.lp();
        let t = lp.vars.add(variable().min(0.0).max(1.0));
        let f: Vec<Expression> = (0..self.rates.len()).map(|i| if raise.contains(&i) { Expression::from(t) } else { Expression::from(fixed[i]) }).collect();
        let cs = self.constraints(&lp, &f);
        let mut model = lp.vars.maximise(t).using(good_lp::microlp);
        for c in cs {
            model = model.with(c);
        }
        solve(model).map(|s| s.value(t).clamp(0.0, 1.0))
    }

    /// Pool loads of the cheapest way to serve fractions `f`.
    fn loads(&self, f: &[f64]) -> Vec<f64> {
        let mut lp = self.lp();
        let staged: Vec<Expression> = (0..self.pools.len()).map(|p| self.stage_hours(&lp, p)).collect();
        let hours: Expression = lp.x.iter().enumerate().flat_map(|(i, row)| row.iter().enumerate().filter_map(move |(p, v)| v.map(|v| (i, p, v)))).map(|(i, p, v)| v * self.work[i][p].unwrap_or(0.0)).sum::<Expression>()
            + staged.iter().cloned().sum::<Expression>();
        // A hair of slack so that the fractions found by `best` stay feasible after rounding.
        let fe: Vec<Expression> = f.iter().map(|&x| Expression::from(x * (1.0 - 1e-9))).collect();
        let cs = self.constraints(&lp, &fe);
        let x = std::mem::take(&mut lp.x);
        let mut model = lp.vars.minimise(hours).using(good_lp::microlp);
        for c in cs {
            model = model.with(c);
        }
        let Some(sol) = solve(model) else { return vec![f64::NAN; self.pools.len()] };
        (0..self.pools.len())
            .map(|p| {
                let mut used = sol.eval(&staged[p]);
                for (i, row) in x.iter().enumerate() {
                    if let (Some(v), Some(h)) = (row[p], self.work[i][p]) {
                        used += sol.value(v) * h;
                    }
                    if let Some((r, q)) = self.review[i] {
                        used += if q == p { f[i] * r * self.rates[i] } else { 0.0 };
                    }
                }
                if self.pools[p] > 0.0 { used / self.pools[p] } else if used > EPS { f64::INFINITY } else { 0.0 }
            })
            .collect()
    }
}

/// Solves an LP; None when it has no solution or the solver gave up (a figure is not worth a crash).
fn solve<M: SolverModel>(model: M) -> Option<M::Solution> {
    super::lp::solve_quietly(model).ok()
}

/// The max-min fair served fractions, each stream's capacity alone, and the pools' loads.
pub fn fluid_capacity(load: &Load) -> Capacity {
    let n = load.rates.len();
    let alone_per_hour = (0..n)
        .map(|i| {
            let per_task: f64 = load.review[i].map_or(0.0, |(r, _)| r);
            let main = load.work[i].iter().any(Option::is_some).then(|| (0..load.pools.len()).filter_map(|p| load.work[i][p].map(|h| load.pools[p] / (h + per_task).max(1e-12))).sum::<f64>());
            // Each stage on its pools alone: the stream gets no more than its tightest stage.
            let stages = load.stages.iter().filter(|s| s.stream == i && s.per_task > 0.0).map(|s| (0..load.pools.len()).filter_map(|p| s.hours[p].map(|h| load.pools[p] / (h * s.per_task).max(1e-12))).sum::<f64>());
            let each: Vec<f64> = main.into_iter().chain(stages).collect();
            if each.is_empty() { 0.0 } else { each.into_iter().fold(f64::INFINITY, f64::min) }
        })
        .collect();
    let mut served = vec![0.0; n];
    let mut open: Vec<usize> = (0..n).filter(|&i| load.rates[i] > 0.0 && load.has_work(i)).collect();
    for i in 0..n {
        if load.rates[i] <= 0.0 {
            served[i] = 1.0; // nothing offered, nothing refused
        }
    }
    // Progressive filling: at most one round per stream.
    while !open.is_empty() {
        let Some(t) = load.best(&served, &open) else { break };
        for &i in &open {
            served[i] = t;
        }
        if t >= 1.0 - EPS {
            break;
        }
        // Streams that cannot grow beyond t while the others hold t are the bottleneck.
        let stuck: Vec<usize> = open.iter().copied().filter(|&i| load.best(&served, &[i]).is_none_or(|u| u <= t + EPS)).collect();
        if stuck.is_empty() {
            break;
        }
        open.retain(|i| !stuck.contains(i));
    }
    let pool_load = load.loads(&served);
    Capacity { served, alone_per_hour, pool_load }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(rates: &[f64], pools: &[f64], work: Vec<Vec<Option<f64>>>) -> Load {
        Load { rates: rates.to_vec(), pools: pools.to_vec(), review: vec![None; rates.len()], work, stages: Vec::new() }
    }

    #[test]
    fn one_stream_one_pool_is_the_offered_load() {
        // 100 tasks/h of 0.1 h on 5 annotators: needs 10, serves half.
        let c = fluid_capacity(&load(&[100.0], &[5.0], vec![vec![Some(0.1)]]));
        assert!((c.served[0] - 0.5).abs() < 1e-6, "{c:?}");
        assert!((c.pool_load[0] - 1.0).abs() < 1e-6);
        assert!((c.alone_per_hour[0] - 50.0).abs() < 1e-9);
        let c = fluid_capacity(&load(&[40.0], &[5.0], vec![vec![Some(0.1)]]));
        assert_eq!(c.served, vec![1.0]);
        assert!((c.pool_load[0] - 0.8).abs() < 1e-6);
    }

    #[test]
    fn a_bottleneck_stream_does_not_drag_the_others_down() {
        // Stream 0 only on pool 0 (overloaded twice over); stream 1 on either pool, light.
        let c = fluid_capacity(&load(&[20.0, 10.0], &[1.0, 5.0], vec![vec![Some(0.1), None], vec![Some(0.1), Some(0.1)]]));
        assert!((c.served[0] - 0.5).abs() < 1e-6, "{c:?}");
        assert!((c.served[1] - 1.0).abs() < 1e-6, "{c:?}");
        assert!((c.pool_load[0] - 1.0).abs() < 1e-6);
        assert!((c.pool_load[1] - 0.2).abs() < 1e-6, "{c:?}");
    }

    #[test]
    fn pools_speeds_differ_per_stream() {
        // Pool 0 is fast on stream 0, slow on stream 1; pool 1 the reverse: the exchange serves both.
        let c = fluid_capacity(&load(&[30.0, 30.0], &[1.0, 1.0], vec![vec![Some(1.0 / 30.0), Some(1.0 / 5.0)], vec![Some(1.0 / 5.0), Some(1.0 / 30.0)]]));
        assert_eq!(c.served, vec![1.0, 1.0], "{c:?}");
    }

    #[test]
    fn reviews_load_the_reviewing_pool() {
        let mut l = load(&[10.0], &[10.0, 1.0], vec![vec![Some(0.1), None]]);
        l.review = vec![Some((0.2, 1))]; // 2 reviewer-hours per hour on one reviewer
        let c = fluid_capacity(&l);
        assert!((c.served[0] - 0.5).abs() < 1e-6, "{c:?}");
    }

    #[test]
    fn a_stream_no_pool_may_take_is_not_served() {
        let c = fluid_capacity(&load(&[10.0, 10.0], &[1.0], vec![vec![None], vec![Some(0.01)]]));
        assert_eq!(c.served[0], 0.0);
        assert_eq!(c.served[1], 1.0);
    }

    #[test]
    fn stage_loads_add_their_pools_hours() {
        // A stream whose only work is two gated stages: 60% of tasks to pool 0 (0.1 h each, two
        // people per entry), 20% to pool 1 (0.5 h). 100 tasks/h: pool 0 needs 12, pool 1 needs 10.
        let mut l = load(&[100.0], &[6.0, 20.0], vec![vec![None, None]]);
        l.stages = vec![StageLoad { stream: 0, per_task: 0.6 * 2.0, hours: vec![Some(0.1), None] }, StageLoad { stream: 0, per_task: 0.2, hours: vec![None, Some(0.5)] }];
        let c = fluid_capacity(&l);
        assert!((c.served[0] - 0.5).abs() < 1e-6, "{c:?}");
        assert!((c.pool_load[0] - 1.0).abs() < 1e-6 && (c.pool_load[1] - 0.25).abs() < 1e-6, "{c:?}");
        assert!((c.alone_per_hour[0] - 50.0).abs() < 1e-6, "the tighter stage: {c:?}");
        // With the main work too, a stage's hours come on top of it on a shared pool.
        let mut l = load(&[10.0], &[2.0], vec![vec![Some(0.1)]]);
        l.stages = vec![StageLoad { stream: 0, per_task: 0.5, hours: vec![Some(0.2)] }];
        let c = fluid_capacity(&l);
        assert_eq!(c.served, vec![1.0]);
        assert!((c.pool_load[0] - 1.0).abs() < 1e-6, "1 h + 1 h of 2: {c:?}");
    }
}
