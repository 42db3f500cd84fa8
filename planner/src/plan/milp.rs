//! The plan as a mixed-integer programme (good_lp: microlp, or HiGHS with the `highs` feature).
//!
//! Variables: headcount n_p per pool (integer, 1 ≤ n_p ≤ max_scale × the scenario's count; with
//! `--shifts`, per shift tour of a pool, 0 ≤ n_p, the pool's tours together in [1, its ceiling]),
//! overlap choice z_ik per stream and level (binary, one level per stream), tasks per hour
//! x_ipk of stream i labelled by pool p at level k (continuous), and slacks: u_i tasks/h left
//! unserved, s_i accuracy points short (× tasks/h), b dollars over budget.
//! Constraints: Σ_pk x_ipk + u_i = λ_i; x_ipk ≤ λ_i z_ik; Σ_k z_ik = 1; pool hours
//! Σ_ik k h_ip x_ipk / (1 − gold) + review (each option's sample of its flow) ≤ cap_p × on_shift_p × n_p (cap_p: the utilisation
//! that leaves room for queueing within the turnaround target); accuracy
//! Σ_pk a_ipk x_ipk + s_i ≥ target_i λ_i; at least k able annotators for overlap k; per-item pools earn at least the floor wage per
//! on-shift hour; weekly cost ≤ budget + b; per window of the week, the work arriving in a
//! turnaround window fits in the pool hours of that window and the next (surges, shifts), and a
//! batch drop fits in the turnaround after it.
//! A workflow-graph stream i (`graph`) has instead g_ik tasks/h at option k (g_ik ≤ λ_i z_ik),
//! each taking the measured H_isk hours of each stage s, done by the stage's pools in shares the
//! LP picks (y_isp ≥ 0, Σ_p y_isp = Σ_k H_isk g_ik), and models' cost; its accuracy is the
//! option's measured a_ik, and every stage's pools have at least that stage's overlap of people.
//! Objective: weekly cost + a penalty on every slack, so that an infeasible target is reported
//! with the slack it needs instead of a solver failure.

use super::graph::GraphOption;
use super::model::Model;
use crate::schedule::Solver;
use good_lp::solvers::{SolutionStatus, WithMipGap, WithTimeLimit};
use good_lp::{variable, variables, Constraint, Expression, Solution, SolverModel, Variable};
use std::collections::HashMap;
use tessera_engine::spec::PaySpec;

/// What the MILP is asked for.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Ask {
    /// Accuracy target per stream (the global one plus what the closed loop added).
    pub accuracy: Vec<f64>,
    /// Utilisation cap per pool.
    pub cap: Vec<f64>,
    pub budget_week: Option<f64>,
    pub min_wage: Option<f64>,
    /// Headcount ceiling and floor per pool.
    pub most: Vec<i64>,
    pub least: Vec<i64>,
    /// Pools split into shift tours (`tours`): their members and the ceiling they share; each
    /// group's headcount is at least 1.
    pub groups: Vec<(Vec<usize>, i64)>,
    /// The MILP solver: microlp, or HiGHS in a build with the `highs` feature.
    #[serde(serialize_with = "solver_name")]
    pub solver: Solver,
}

fn solver_name<S: serde::Serializer>(s: &Solver, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.name())
}

/// The MILP's answer.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Solved {
    pub headcount: Vec<i64>,
    pub overlap: Vec<u32>,
    /// Dynamic overlap's confidence threshold, and the share of final labels sent to expert
    /// review, when the plan chooses them.
    pub confidence: Option<f64>,
    pub review_rate: Option<f64>,
    /// [tasks/h] by stream then pool.
    pub flow: Vec<Vec<f64>>,
    /// [USD/week] predicted.
    pub cost_week: f64,
    /// Predicted accuracy and throughput [tasks/h] per stream, utilisation per pool.
    pub accuracy: Vec<f64>,
    pub throughput: Vec<f64>,
    pub utilization: Vec<f64>,
    /// Slack each target needed: unserved tasks/h and accuracy points per stream, USD over budget.
    pub unserved: Vec<f64>,
    pub accuracy_short: Vec<f64>,
    pub over_budget: f64,
    /// How the solver ended: "optimal", "within gap" (proven within MIP_GAP of the optimum) or
    /// "time limit" (the best plan found in TIME_LIMIT_S, not proven the cheapest).
    pub optimality: &'static str,
}

/// Penalty per unit of slack [USD/week]: far above any cost, so slack is a last resort.
const PENALTY: f64 = 1e7;

/// The MILP's relative optimality gap (0: proven optimal), and its time limit [s] (past it, the
/// best plan found).
pub const MIP_GAP: f64 = 0.0;
pub const TIME_LIMIT_S: f64 = 20.0;

/// Solves `model` with the constraints `cons` at MIP_GAP within TIME_LIMIT_S (with shift tours,
/// branch and bound can take microlp very long: pools that the tours make alike, two crowds on
/// different calendars split into the same tours, are symmetric, and most of the time goes to
/// proving a plan found early); the values of `all` variables and how the solver ended.
fn run<M>(model: M, cons: Vec<Constraint>, all: &[Variable]) -> Result<(HashMap<Variable, f64>, SolutionStatus), String>
where
    M: SolverModel + WithMipGap + WithTimeLimit,
    M::Error: std::fmt::Display,
{
    let sol = crate::schedule::solve_milp(model, cons, Some(MIP_GAP), Some(TIME_LIMIT_S)).map_err(|e| format!("the solver found no plan ({e})"))?;
    Ok((all.iter().map(|&v| (v, sol.value(v))).collect(), sol.status()))
}

pub fn solve(m: &Model, ask: &Ask) -> Result<Solved, String> {
    let (ns, np, nk) = (m.streams.len(), m.pools.len(), m.levels.len());
    let mut vars = variables!();
    let n: Vec<Variable> = (0..np).map(|p| vars.add(variable().integer().min(ask.least[p].max(0) as f64).max(ask.most[p].max(ask.least[p]).max(1) as f64))).collect();
    let z: Vec<Vec<Variable>> = (0..ns).map(|_| (0..nk).map(|_| vars.add(variable().binary())).collect()).collect();
    // Dynamic overlap's threshold and the review rate are one each for the whole scenario: a
    // binary per value offered, one chosen, and every stream's option must use it.
    let knobs: Vec<(&[Option<f64>], Vec<f64>)> = [&m.confidence[..], &m.review_rate[..]]
        .into_iter()
        .map(|knob| {
            let mut values: Vec<f64> = Vec::new();
            for c in knob.iter().flatten() {
                if !values.contains(c) {
                    values.push(*c);
                }
            }
            (knob, values)
        })
        .collect();
    let y: Vec<Vec<Variable>> = knobs.iter().map(|(_, values)| values.iter().map(|_| vars.add(variable().binary())).collect()).collect();
    let x: Vec<Vec<Vec<Option<Variable>>>> =
        (0..ns).map(|i| (0..np).map(|p| (0..nk).map(|_| m.hours[i][p].map(|_| vars.add(variable().min(0.0)))).collect()).collect()).collect();
    // Graph streams: tasks/h at each option (None: a chain stream, or an unmeasured option).
    let g: Vec<Vec<Option<(Variable, &GraphOption)>>> = (0..ns)
        .map(|i| match m.graph.get(i) {
            Some(Some(gr)) => gr.options.iter().map(|o| o.as_ref().map(|o| (vars.add(variable().min(0.0)), o))).collect(),
            _ => vec![None; nk],
        })
        .collect();
    // ... and the hours of each of its stages that each of the stage's pools does [h/h].
    let share: Vec<Vec<Vec<(usize, Variable)>>> = (0..ns)
        .map(|i| match m.graph.get(i) {
            Some(Some(gr)) => gr.stages.iter().map(|st| st.pools.iter().map(|&p| (p, vars.add(variable().min(0.0)))).collect()).collect(),
            _ => Vec::new(),
        })
        .collect();
    let graph_hours = |i: usize, p: usize| -> Expression { share[i].iter().flatten().filter(|(q, _)| *q == p).map(|(_, v)| Expression::from(*v)).sum() };
    // Items paid per item: a pool's graph hours × its items per busy hour (the options' mean).
    let items_per_hour = |i: usize, p: usize| -> f64 {
        let per: Vec<f64> = g[i].iter().flatten().map(|(_, o)| o.items_per_hour[p]).collect();
        per.iter().sum::<f64>() / per.len().max(1) as f64
    };
    let u: Vec<Variable> = (0..ns).map(|_| vars.add(variable().min(0.0))).collect();
    let short: Vec<Variable> = (0..ns).map(|_| vars.add(variable().min(0.0))).collect();
    let over = vars.add(variable().min(0.0));
    let labels_of = |p: usize| -> Expression {
        let mut e = Expression::from(0.0);
        for i in 0..ns {
            for k in 0..nk {
                if let Some(v) = x[i][p][k] {
                    e += v * (m.labels[i][p][k] / (1.0 - m.gold));
                }
            }
            e += graph_hours(i, p) * items_per_hour(i, p);
        }
        e
    };
    // Weekly cost.
    let mut cost = Expression::from(0.0);
    for p in 0..np {
        match m.pay[p] {
            PaySpec::PerHour(w) => cost += n[p] * (w * m.on_shift[p] * 168.0),
            PaySpec::PerItem(c) => cost += labels_of(p) * (c * 168.0),
        }
    }
    // Tasks/h of stream i sent to expert review: each option reviews its own sample.
    let reviewed = |i: usize| -> Expression { (0..np).flat_map(|p| (0..nk).map(move |k| (p, k))).filter_map(|(p, k)| x[i][p][k].map(|v| v * m.sample[k])).sum() };
    for i in 0..ns {
        cost += (Expression::from(m.rate[i]) - u[i]) * (m.model_cost[i] * 168.0);
        for (v, o) in g[i].iter().flatten() {
            cost += *v * (o.model_usd * 168.0);
        }
        if let Some((_, _, usd)) = m.review[i] {
            cost += reviewed(i) * (usd * 168.0);
        }
    }
    let slack: Expression = u.iter().map(|&v| v * (PENALTY * 168.0)).sum::<Expression>() + short.iter().map(|&v| v * (PENALTY * 168.0)).sum::<Expression>() + over * 10.0;
    let objective = cost.clone() + slack;
    let mut cons: Vec<Constraint> = Vec::new();
    for ((knob, values), y) in knobs.iter().zip(&y) {
        if values.is_empty() {
            continue;
        }
        cons.push(y.iter().map(|&v| Expression::from(v)).sum::<Expression>().eq(1.0));
        for zi in &z {
            for (k, &zk) in zi.iter().enumerate() {
                if let Some(c) = knob[k] {
                    let at = values.iter().position(|&t| t == c).expect("listed above");
                    cons.push((zk - y[at]).leq(0.0));
                }
            }
        }
    }
    for (members, most) in &ask.groups {
        let sum: Expression = members.iter().map(|&q| Expression::from(n[q])).sum();
        cons.push(sum.clone().leq(*most as f64));
        cons.push(sum.geq(1.0));
    }
    for i in 0..ns {
        let served: Expression = x[i].iter().flatten().flatten().map(|&v| Expression::from(v)).chain(g[i].iter().flatten().map(|(v, _)| Expression::from(*v))).sum();
        cons.push((served + u[i]).eq(m.rate[i]));
        let one: Expression = z[i].iter().map(|&v| Expression::from(v)).sum();
        cons.push(one.eq(1.0));
        if let Some(Some(gr)) = m.graph.get(i) {
            // A graph stream: its flow at each option, that option's accuracy, and every stage's
            // pools with at least the stage's overlap of people.
            let mut right = Expression::from(short[i]);
            for (k, o) in g[i].iter().enumerate() {
                match o {
                    Some((v, o)) => {
                        cons.push((*v - z[i][k] * m.rate[i]).leq(0.0));
                        right += *v * o.accuracy;
                    }
                    None => cons.push(Expression::from(z[i][k]).eq(0.0)),
                }
            }
            cons.push(right.geq(ask.accuracy[i] * m.rate[i]));
            for (s, stage) in gr.stages.iter().enumerate() {
                let able: Expression = stage.pools.iter().map(|&p| Expression::from(n[p])).sum();
                let need: Expression = (0..nk).map(|k| z[i][k] * stage.need.unwrap_or(m.levels[k]) as f64).sum();
                cons.push((able - need).geq(0.0));
                // The stage's hours, shared among its pools.
                let done: Expression = share[i][s].iter().map(|(_, v)| Expression::from(*v)).sum();
                let work: Expression = g[i].iter().flatten().map(|(v, o)| *v * o.hours[s]).sum();
                cons.push((done - work).eq(0.0));
            }
            continue;
        }
        // Each of a task's k labels comes from a different person: k of them must be able.
        let able: Expression = (0..np).filter(|&p| m.hours[i][p].is_some()).map(|p| Expression::from(n[p])).sum();
        let need: Expression = (0..nk).map(|k| z[i][k] * m.levels[k] as f64).sum();
        cons.push((able - need.clone()).geq(0.0));
        // ... and, for every hour of the week, k of them come on shift within a turnaround of an
        // arrival then (with shift tours, a tour left empty must not strand the hours only it
        // covers, and one staffed tour a week does not label five times).
        if m.batch[i].is_none() {
            let mut seen: Vec<Vec<usize>> = Vec::new();
            for w in &m.windows {
                let on: Vec<usize> = (0..np).filter(|&p| m.hours[i][p].is_some() && w.soon[p]).collect();
                // An hour no able pool reaches in time is the reachability check's business (a
                // share of misses the completion target may allow), not an impossible plan.
                if w.arrivals[i] > 0.0 && !on.is_empty() && !seen.contains(&on) {
                    let able: Expression = on.iter().map(|&p| Expression::from(n[p])).sum();
                    cons.push((able - need.clone()).geq(0.0));
                    seen.push(on);
                }
            }
        }
        for p in 0..np {
            for k in 0..nk {
                if let Some(v) = x[i][p][k] {
                    cons.push((v - z[i][k] * m.rate[i]).leq(0.0));
                }
            }
        }
        let mut right = Expression::from(short[i]);
        for p in 0..np {
            for k in 0..nk {
                if let Some(v) = x[i][p][k] {
                    right += v * m.accuracy[i][p][k];
                }
            }
        }
        cons.push(right.geq(ask.accuracy[i] * m.rate[i]));
    }
    for p in 0..np {
        let mut hours = Expression::from(0.0);
        for i in 0..ns {
            if let Some(h) = m.hours[i][p] {
                for k in 0..nk {
                    if let Some(v) = x[i][p][k] {
                        hours += v * (m.labels[i][p][k] * h);
                    }
                }
            }
            if let Some((q, h, _)) = m.review[i] {
                if q == p {
                    hours += reviewed(i) * h;
                }
            }
            hours += graph_hours(i, p);
        }
        cons.push((hours - n[p] * (ask.cap[p] * m.on_shift[p])).leq(0.0));
        if let (Some(floor), PaySpec::PerItem(c)) = (ask.min_wage, &m.pay[p]) {
            cons.push((labels_of(p) * *c - n[p] * (floor * m.on_shift[p])).geq(0.0));
        }
    }
    // What arrives in a turnaround window must be done within a turnaround after it, by the
    // pool's hours in that window and the next (surges, shifts); and a batch drop within the
    // turnaround after it. A pool split into shift tours counts its tours together: they are the
    // same people's skills at different hours, so any tour's hours may do the pool's work.
    let mut units: Vec<Vec<usize>> = ask.groups.iter().map(|(members, _)| members.clone()).collect();
    units.extend((0..np).filter(|p| !ask.groups.iter().any(|(members, _)| members.contains(p))).map(|p| vec![p]));
    for unit in &units {
        for w in &m.windows {
            let mut work = Expression::from(0.0);
            let mut hours = Expression::from(0.0);
            for &p in unit {
                hours += n[p] * (ask.cap[p] * w.hours[p]);
                for i in 0..ns {
                    let share = w.arrivals[i] / m.rate[i].max(1e-12);
                    if share > 0.0 {
                        if let Some(h) = m.hours[i][p] {
                            for k in 0..nk {
                                if let Some(v) = x[i][p][k] {
                                    work += v * (share * m.labels[i][p][k] * h);
                                }
                            }
                        }
                    }
                    if let Some((q, h, _)) = m.review[i] {
                        if q == p && share > 0.0 {
                            work += reviewed(i) * (share * h);
                        }
                    }
                    if share > 0.0 {
                        work += graph_hours(i, p) * share;
                    }
                }
            }
            cons.push((work - hours).leq(0.0));
        }
        for i in 0..ns {
            let Some((size, window)) = &m.batch[i] else { continue };
            let mut drop = Expression::from(0.0);
            let mut hours = Expression::from(0.0);
            for &p in unit {
                hours += n[p] * (ask.cap[p] * window[p]);
                if let Some(h) = m.hours[i][p] {
                    for k in 0..nk {
                        if let Some(v) = x[i][p][k] {
                            drop += v * (m.labels[i][p][k] * h * size / m.rate[i].max(1e-12));
                        }
                    }
                }
                drop += graph_hours(i, p) * (size / m.rate[i].max(1e-12));
            }
            cons.push((drop - hours).leq(0.0));
        }
    }
    if let Some(b) = ask.budget_week {
        cons.push((cost.clone() - over).leq(b));
    }
    let all: Vec<Variable> = vars.iter_variables_with_def().map(|(v, _)| v).collect();
    let (sol, status) = match ask.solver {
        Solver::Microlp => run(vars.minimise(objective).using(good_lp::microlp), cons, &all)?,
        #[cfg(feature = "highs")]
        Solver::Highs => run(vars.minimise(objective).using(good_lp::highs), cons, &all)?,
        #[cfg(not(feature = "highs"))]
        Solver::Highs => return Err(Solver::parse("highs").unwrap_err()),
    };
    // [tasks/h] of stream i whose work pool p does (a graph stream's tasks through each pool).
    let flow: Vec<Vec<f64>> = (0..ns)
        .map(|i| {
            let graph: f64 = g[i].iter().flatten().map(|(v, _)| sol.value(*v)).sum();
            (0..np).map(|p| x[i][p].iter().flatten().map(|&v| sol.value(v)).sum::<f64>() + if sol.eval(graph_hours(i, p)) > 1e-9 { graph } else { 0.0 }).collect()
        })
        .collect();
    let chosen: Vec<usize> = (0..ns).map(|i| (0..nk).max_by(|&a, &b| sol.value(z[i][a]).total_cmp(&sol.value(z[i][b]))).unwrap_or(0)).collect();
    let overlap: Vec<u32> = chosen.iter().map(|&k| m.levels[k]).collect();
    let confidence = chosen.first().and_then(|&k| m.confidence[k]);
    let review_rate = chosen.first().and_then(|&k| m.review_rate[k]);
    let headcount: Vec<i64> = n.iter().map(|&v| sol.value(v).round() as i64).collect();
    let accuracy = (0..ns)
        .map(|i| {
            let graph: f64 = g[i].iter().flatten().map(|(v, _)| sol.value(*v)).sum();
            let served: f64 = if m.graph.get(i).is_some_and(Option::is_some) { graph } else { flow[i].iter().sum() };
            let right: f64 = (0..np).flat_map(|p| (0..nk).map(move |k| (p, k))).filter_map(|(p, k)| x[i][p][k].map(|v| sol.value(v) * m.accuracy[i][p][k])).sum::<f64>()
                + g[i].iter().flatten().map(|(v, o)| sol.value(*v) * o.accuracy).sum::<f64>();
            if served > 0.0 { right / served } else { f64::NAN }
        })
        .collect();
    let utilization = (0..np)
        .map(|p| {
            let mut h = 0.0;
            for i in 0..ns {
                for k in 0..nk {
                    if let (Some(v), Some(hh)) = (x[i][p][k], m.hours[i][p]) {
                        h += sol.value(v) * m.labels[i][p][k] * hh;
                    }
                }
                if let Some((q, hh, _)) = m.review[i] {
                    if q == p {
                        h += sol.eval(reviewed(i)) * hh;
                    }
                }
                h += sol.eval(graph_hours(i, p));
            }
            h / (headcount[p] as f64 * m.on_shift[p]).max(1e-12)
        })
        .collect();
    Ok(Solved {
        throughput: (0..ns).map(|i| m.rate[i] - sol.value(u[i])).collect(),
        cost_week: sol.eval(&cost),
        unserved: u.iter().map(|&v| sol.value(v)).collect(),
        accuracy_short: (0..ns).map(|i| sol.value(short[i]) / m.rate[i].max(1e-12)).collect(),
        over_budget: sol.value(over),
        optimality: match status {
            good_lp::SolutionStatus::Optimal => "optimal",
            good_lp::SolutionStatus::GapLimit => "within gap",
            good_lp::SolutionStatus::TimeLimit => "time limit",
        },
        headcount,
        overlap,
        confidence,
        review_rate,
        flow,
        accuracy,
        utilization,
    })
}
