//! Shift scheduling: how many agents to roster on each shift instance so that every interval of
//! every stream is covered, at the lowest cost: a mixed-integer programme solved with good_lp's
//! pure-Rust microlp.
//!
//! ```text
//! minimise   Σ_p Σ_i cost_i · x_{p,i}  +  penalty · Σ_p Σ_j u_{p,j}
//! subject to Σ_{i covers j} x_{p,i} + u_{p,j} ≥ r_{p,j}      for every pool p (stream) and interval j
//!            x_{p,i} ∈ {0, 1, 2, …} ≤ max_j r_{p,j},   0 ≤ u_{p,j} ≤ r_{p,j}
//! ```
//! x_{p,i}: agents of pool p on shift instance i (a pattern on one day at one start time, see
//! [`crate::shifts`]); r_{p,j}: agents required; u_{p,j}: agents missing (under-coverage), priced
//! at `penalty` per agent-interval. Without a penalty (`None`) u is absent and coverage is a hard
//! constraint, which is pyworkforce's `MinRequiredResources` (with its concurrency limits left
//! loose): the same optimum on the same instance. With a penalty above the dearest shift's cost,
//! any interval some shift covers is covered, because one more agent on that shift costs less
//! than leaving the interval one agent short.
//!
//! Without breaks, every shift covers consecutive intervals, the constraint matrix is an interval
//! matrix (totally unimodular) and the LP relaxation is already integral; breaks make it a true
//! MILP, solved by microlp's branch and bound to the relative gap asked (0 = proven optimal).

use std::time::Instant;

use good_lp::solvers::{WithMipGap, WithTimeLimit};
use good_lp::{variable, Expression, ProblemVariables, Solution, SolutionStatus, SolverModel, Variable};
use tessera_engine::time::US_PER_DAY;

use crate::shifts::Shift;

/// The most (shift instance, interval) pairs a plan may have: the coverage check and the model
/// grow with it (the 10,000-variable benchmark has 2.4 million).
pub const MAX_CELLS: u64 = 200_000_000;

/// One shift pattern on one day at one start.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// Index into the shifts.
    pub shift: usize,
    /// Day of the plan (0 = the Monday at offset 0).
    pub day: u64,
    /// [µs] from the plan's start.
    pub start: u64,
    /// [µs] the working segments (span minus break).
    pub segments: Vec<(u64, u64)>,
}

/// The instances of `shifts` that start before `horizon` [µs].
pub fn instances(shifts: &[Shift], horizon: u64) -> Vec<Instance> {
    let days = horizon.div_ceil(US_PER_DAY);
    let mut out = Vec::new();
    for (k, s) in shifts.iter().enumerate() {
        for d in 0..days {
            if !s.days[(d % 7) as usize] {
                continue;
            }
            for &st in &s.starts {
                let start = d * US_PER_DAY + st;
                if start < horizon {
                    out.push(Instance { shift: k, day: d, start, segments: s.segments(start) });
                }
            }
        }
    }
    out
}

/// One pool's requirement: intervals [start, end) [µs] with agents required.
#[derive(Clone, Debug, PartialEq)]
pub struct Requirement {
    pub name: String,
    pub intervals: Vec<(u64, u64, u32)>,
}

/// Solver settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Cost of one agent missing in one interval; None: coverage is a hard constraint.
    pub under_penalty: Option<f64>,
    /// Relative MIP gap at which to stop (0: prove optimality).
    pub mip_gap: f64,
    /// [s] stop with the best roster found so far.
    pub time_limit: Option<f64>,
    pub solver: Solver,
}

/// The MILP solver: microlp (pure Rust, always built) or HiGHS (the `highs` cargo feature: needs
/// cmake and libclang-dev, about 20 minutes to build on 2 cores, never built in CI).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Solver {
    #[default]
    Microlp,
    Highs,
}

impl Solver {
    /// `microlp` or `highs`; HiGHS only in a build with the `highs` feature.
    pub fn parse(name: &str) -> Result<Solver, String> {
        match name {
            "microlp" => Ok(Solver::Microlp),
            "highs" if cfg!(feature = "highs") => Ok(Solver::Highs),
            "highs" => Err("this build has no HiGHS: build with `cargo build --release --features highs` (needs cmake and libclang-dev)".into()),
            other => Err(format!("unknown solver {other:?}; expected microlp or highs")),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Solver::Microlp => "microlp",
            Solver::Highs => "highs",
        }
    }
}

/// The roster of one pool.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolRoster {
    pub name: String,
    /// Agents per instance (same order as the instances).
    pub agents: Vec<u32>,
    /// Per interval: (required, covered, missing).
    pub coverage: Vec<(u32, u32, u32)>,
}

/// The solved schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Roster {
    pub instances: Vec<Instance>,
    pub pools: Vec<PoolRoster>,
    /// Σ cost · agents.
    pub shift_cost: f64,
    /// Σ missing agents over intervals [agent-intervals].
    pub under_coverage: u64,
    /// shift cost + penalty · under-coverage.
    pub objective: f64,
    /// "optimal", "gap limit" or "time limit".
    pub status: &'static str,
    /// The solver's name.
    pub solver: &'static str,
    pub variables: usize,
    pub constraints: usize,
    /// [s] solver time.
    pub seconds: f64,
    /// Intervals with a requirement that no instance covers: (pool, interval index).
    pub uncoverable: Vec<(usize, usize)>,
}

fn covers(inst: &Instance, a: u64, b: u64) -> bool {
    inst.segments.iter().any(|&(s, e)| s <= a && b <= e)
}

/// Solves the shift-scheduling MILP. Errors: infeasible (hard coverage of an interval no shift
/// covers), or the solver stopped without a roster.
pub fn schedule(req: &[Requirement], shifts: &[Shift], settings: &Settings) -> Result<Roster, String> {
    let horizon = req.iter().flat_map(|r| r.intervals.last()).map(|i| i.1).max().unwrap_or(0);
    let inst = instances(shifts, horizon);
    let cells = inst.len() as u64 * req.iter().map(|r| r.intervals.len() as u64).sum::<u64>();
    if cells > MAX_CELLS {
        return Err(format!(
            "the plan is too large for the shift-scheduling MILP: {} shift instances × {} intervals is more than {MAX_CELLS} (shorten the horizon, or use fewer patterns, start times or streams)",
            inst.len(),
            req.iter().map(|r| r.intervals.len()).sum::<usize>()
        ));
    }
    let mut vars = ProblemVariables::new();
    let mut objective = Expression::from(0.0);
    let mut rows: Vec<(Expression, f64)> = Vec::new();
    let mut xs: Vec<Vec<Option<Variable>>> = Vec::new();
    let mut us: Vec<Vec<Option<Variable>>> = Vec::new();
    let mut uncoverable = Vec::new();
    for (p, r) in req.iter().enumerate() {
        let cover: Vec<Vec<usize>> = r.intervals.iter().map(|&(a, b, _)| (0..inst.len()).filter(|&i| covers(&inst[i], a, b)).collect()).collect();
        // An instance is worth a variable when it covers an interval that needs someone.
        let mut useful = vec![false; inst.len()];
        for (j, c) in cover.iter().enumerate() {
            if r.intervals[j].2 > 0 {
                c.iter().for_each(|&i| useful[i] = true);
            }
        }
        let ub = r.intervals.iter().map(|i| i.2).max().unwrap_or(0) as f64;
        let x: Vec<Option<Variable>> = (0..inst.len()).map(|i| useful[i].then(|| vars.add(variable().integer().min(0.0).max(ub)))).collect();
        for (i, v) in x.iter().enumerate() {
            if let Some(v) = v {
                objective += *v * shifts[inst[i].shift].cost;
            }
        }
        let mut u = Vec::with_capacity(r.intervals.len());
        for (j, &(_, _, need)) in r.intervals.iter().enumerate() {
            if need == 0 {
                u.push(None);
                continue;
            }
            let mut e: Expression = cover[j].iter().filter_map(|&i| x[i]).map(Expression::from).sum();
            if cover[j].is_empty() {
                uncoverable.push((p, j));
            }
            let uj = settings.under_penalty.map(|pen| {
                let v = vars.add(variable().min(0.0).max(need as f64));
                objective += v * pen;
                e += v;
                v
            });
            if cover[j].is_empty() && uj.is_none() {
                let (a, b, _) = r.intervals[j];
                return Err(format!(
                    "stream {:?} needs {need} agents from {} to {} but no shift covers that interval, so the roster is infeasible without under-coverage (set --under-penalty)",
                    r.name,
                    fmt_offset(a),
                    fmt_offset(b)
                ));
            }
            rows.push((e, need as f64));
            u.push(uj);
        }
        xs.push(x);
        us.push(u);
    }
    let variables = xs.iter().flatten().flatten().count() + us.iter().flatten().flatten().count();
    let constraints = rows.len();
    let t0 = Instant::now();
    let sol = match settings.solver {
        Solver::Microlp => solve(vars.minimise(objective.clone()).using(good_lp::microlp), rows, settings)?,
        #[cfg(feature = "highs")]
        Solver::Highs => solve(vars.minimise(objective.clone()).using(good_lp::highs), rows, settings)?,
        #[cfg(not(feature = "highs"))]
        Solver::Highs => return Err(Solver::parse("highs").unwrap_err()),
    };
    let seconds = t0.elapsed().as_secs_f64();
    let status = match sol.status() {
        SolutionStatus::Optimal => "optimal",
        SolutionStatus::GapLimit => "gap limit",
        _ => "time limit",
    };
    let mut pools = Vec::new();
    let (mut shift_cost, mut under) = (0.0, 0u64);
    for (p, r) in req.iter().enumerate() {
        let agents: Vec<u32> = xs[p].iter().map(|v| v.map_or(0, |v| sol.value(v).round().max(0.0) as u32)).collect();
        for (i, &a) in agents.iter().enumerate() {
            shift_cost += a as f64 * shifts[inst[i].shift].cost;
        }
        let coverage: Vec<(u32, u32, u32)> = r
            .intervals
            .iter()
            .map(|&(a, b, need)| {
                let got: u32 = inst.iter().zip(&agents).filter(|(i, _)| covers(i, a, b)).map(|(_, &n)| n).sum();
                (need, got, need.saturating_sub(got))
            })
            .collect();
        under += coverage.iter().map(|c| c.2 as u64).sum::<u64>();
        pools.push(PoolRoster { name: r.name.clone(), agents, coverage });
    }
    let objective = shift_cost + settings.under_penalty.unwrap_or(0.0) * under as f64;
    Ok(Roster { instances: inst, pools, shift_cost, under_coverage: under, objective, status, solver: settings.solver.name(), variables, constraints, seconds, uncoverable })
}

/// The rows, gap and time limit on `model`, solved; its solution as one type for both solvers.
fn solve<M>(model: M, rows: Vec<(Expression, f64)>, settings: &Settings) -> Result<Box<dyn Solution>, String>
where
    M: SolverModel + WithMipGap + WithTimeLimit,
    M::Error: std::fmt::Display,
    M::Solution: 'static,
{
    let sol = solve_milp(model, rows.into_iter().map(|(e, need)| e.geq(need)), (settings.mip_gap > 0.0).then_some(settings.mip_gap), settings.time_limit).map_err(|e| format!("the shift-scheduling MILP has no solution: {e}"))?;
    Ok(Box::new(sol))
}

/// Solves a MILP with constraints `cons`, stopping at relative gap `mip_gap` (None: the solver's
/// default; microlp's is 0, proven optimal) or after `time_limit` seconds with the best solution
/// found; the solver's panics become errors
/// (`solve_quietly`). Shared by the shift-scheduling MILP and `tessera plan`'s.
pub(crate) fn solve_milp<M>(mut model: M, cons: impl IntoIterator<Item = good_lp::Constraint>, mip_gap: Option<f64>, time_limit: Option<f64>) -> Result<M::Solution, String>
where
    M: SolverModel + WithMipGap + WithTimeLimit,
    M::Error: std::fmt::Display,
{
    if let Some(mip_gap) = mip_gap {
        model = model.with_mip_gap(mip_gap as f32).map_err(|e| format!("MIP gap {mip_gap}: {e}"))?;
    }
    if let Some(t) = time_limit {
        model = model.with_time_limit(t);
    }
    tessera_engine::metrics::lp::solve_quietly(model.with_all(cons))
}

/// `3d 08:30` for an offset [µs].
pub fn fmt_offset(us: u64) -> String {
    let (d, r) = (us / US_PER_DAY, us % US_PER_DAY);
    let (h, m) = (r / 3_600_000_000, (r % 3_600_000_000) / 60_000_000);
    format!("day {d} {h:02}:{m:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shifts::read_shifts;

    const H: u64 = 3_600_000_000;

    /// pyworkforce's scheduling test instance (2 days × 24 hourly periods), its four shifts
    /// written as patterns; Night covers 00:00–05:00 and 21:00–24:00 of the same day, which is a
    /// 24 h span with a 16 h break.
    pub fn pyworkforce_instance() -> (Vec<Requirement>, Vec<Shift>) {
        let req = [
            [9, 11, 17, 9, 7, 12, 5, 11, 8, 9, 18, 17, 8, 12, 16, 8, 7, 12, 11, 10, 13, 19, 16, 7],
            [13, 13, 12, 15, 18, 20, 13, 16, 17, 8, 13, 11, 6, 19, 11, 20, 19, 17, 10, 13, 14, 23, 16, 8],
        ];
        let intervals = req.iter().enumerate().flat_map(|(d, row)| row.iter().enumerate().map(move |(p, &n)| ((d as u64 * 24 + p as u64) * H, (d as u64 * 24 + p as u64 + 1) * H, n))).collect();
        let shifts = read_shifts(
            "name,start,length,break_start,break_length,cost\nMorning,05:00,8h,,,8\nAfternoon,13:00,8h,,,8\nNight,00:00,24h,5h,16h,10\nMixed,09:00,8h,,,7\n",
            "py.csv",
        )
        .unwrap();
        (vec![Requirement { name: "all".into(), intervals }], shifts)
    }

    /// HiGHS (the `highs` feature) proves the same optimum as microlp: on pyworkforce's instance
    /// and on the brute-forced small ones. Without the feature, asking for it is an error that
    /// says how to build it.
    #[test]
    fn highs_agrees_with_microlp_or_says_how_to_get_it() {
        if !cfg!(feature = "highs") {
            let e = Solver::parse("highs").unwrap_err();
            assert!(e.contains("--features highs") && e.contains("cmake"), "{e}");
            let (req, shifts) = pyworkforce_instance();
            let e = schedule(&req, &shifts, &Settings { under_penalty: None, mip_gap: 0.0, time_limit: None, solver: Solver::Highs }).unwrap_err();
            assert!(e.contains("no HiGHS"), "{e}");
            return;
        }
        let (req, shifts) = pyworkforce_instance();
        let run = |solver| schedule(&req, &shifts, &Settings { under_penalty: None, mip_gap: 0.0, time_limit: None, solver }).unwrap();
        let (m, h) = (run(Solver::Microlp), run(Solver::Highs));
        assert_eq!((m.status, h.status), ("optimal", "optimal"));
        assert!((m.objective - h.objective).abs() < 1e-6, "microlp {} vs highs {}", m.objective, h.objective);
        assert_eq!(h.solver, "highs");
    }

    /// Brute force over small instances: the MILP's optimum is the cheapest covering roster.
    #[test]
    fn optimal_on_small_instances_by_brute_force() {
        let shifts = read_shifts("name,start,length,break_start,break_length,cost\na,00:00,3h,,,3\nb,02:00,2h,,,1.5\nc,00:00,4h,1h,1h,2.5\n", "s.csv").unwrap();
        for need in [[1u32, 2, 0, 1], [2, 0, 3, 1], [0, 0, 0, 2], [3, 1, 2, 2]] {
            let req = vec![Requirement { name: "s".into(), intervals: (0..4).map(|j| (j * H, (j + 1) * H, need[j as usize])).collect() }];
            let r = schedule(&req, &shifts, &Settings { under_penalty: None, mip_gap: 0.0, time_limit: None, solver: Solver::default() }).unwrap();
            let inst = instances(&shifts, 4 * H);
            let mut best = f64::INFINITY;
            let n = inst.len();
            let mut x = vec![0u32; n];
            loop {
                let ok = (0..4).all(|j| inst.iter().zip(&x).filter(|(i, _)| covers(i, j * H, (j + 1) * H)).map(|(_, &v)| v).sum::<u32>() >= need[j as usize]);
                if ok {
                    best = best.min(inst.iter().zip(&x).map(|(i, &v)| v as f64 * shifts[i.shift].cost).sum());
                }
                let mut k = 0;
                while k < n && x[k] == 3 {
                    x[k] = 0;
                    k += 1;
                }
                if k == n {
                    break;
                }
                x[k] += 1;
            }
            assert!((r.shift_cost - best).abs() < 1e-9, "{need:?}: {} vs {best}", r.shift_cost);
            assert_eq!(r.under_coverage, 0);
        }
    }

    #[test]
    fn penalty_trades_coverage_for_cost() {
        let shifts = read_shifts("name,start,length,cost\nday,08:00,8h,10\n", "s.csv").unwrap();
        // Need 1 agent from 08:00 to 09:00 only: a whole shift costs 10.
        let req = vec![Requirement { name: "s".into(), intervals: vec![(8 * H, 9 * H, 1), (9 * H, 10 * H, 0), (20 * H, 21 * H, 2)] }];
        let cheap = schedule(&req, &shifts, &Settings { under_penalty: Some(5.0), mip_gap: 0.0, time_limit: None, solver: Solver::default() }).unwrap();
        assert_eq!((cheap.shift_cost, cheap.under_coverage), (0.0, 3));
        let dear = schedule(&req, &shifts, &Settings { under_penalty: Some(50.0), mip_gap: 0.0, time_limit: None, solver: Solver::default() }).unwrap();
        // 20:00 is outside every shift: missing whatever the penalty, and reported as uncoverable.
        assert_eq!((dear.shift_cost, dear.under_coverage, dear.uncoverable.clone()), (10.0, 2, vec![(0, 2)]));
        let hard = schedule(&req, &shifts, &Settings { under_penalty: None, mip_gap: 0.0, time_limit: None, solver: Solver::default() }).unwrap_err();
        assert!(hard.contains("no shift covers"), "{hard}");
    }

    #[test]
    fn pyworkforce_test_instance_is_covered() {
        let (req, shifts) = pyworkforce_instance();
        let r = schedule(&req, &shifts, &Settings { under_penalty: None, mip_gap: 0.0, time_limit: None, solver: Solver::default() }).unwrap();
        assert_eq!(r.status, "optimal");
        assert!(r.pools[0].coverage.iter().all(|c| c.1 >= c.0));
        assert_eq!(r.instances.len(), 8);
    }
}
