//! The closed loop: solve, write the plan as a scenario, simulate it with replications, and for
//! each target check the bound of its 95% CI (lower for accuracy and completion, upper for cost).
//! When every miss is at the bound only (its mean meets the target), the same plan is simulated
//! with twice as many more independent replications first, and judged on all of them: a plan
//! that meets its targets is not made dearer by the noise of a few replications.
//! A missed accuracy raises that stream's target in the MILP by the shortfall (and, when that
//! brings back the same plan, which would simulate the same, to the target plus the model's
//! optimism: predicted accuracy minus the simulated lower bound); a missed
//! turnaround lowers the utilisation cap of the pools that serve the stream (by 0.1, or in
//! proportion to the share of its predicted throughput the stream delivered when that cuts
//! deeper: a stream whose pools lost people to bans, or stalled); then solve again,
//! for a bounded number of rounds.
//!
//! The planning model is a weekly steady state, so the plan is simulated over one: its warm-up
//! is at least the turnaround target (the window opens with the backlog a running operation
//! carries, not an empty queue) and its window whole weeks, at least one (every hour of the
//! week's arrivals, each as often). Without this, a short horizon ends with a turnaround's worth
//! of work in flight, unpaid and unfinished, and the simulated cost and throughput fall short of
//! the week's. A run to a task count of batch drops (active-learning-wine) has no horizon: it is
//! checked over one period of its longest batch after the warm-up (`run.tasks` removed), which
//! holds one drop of each, as the model's rate of a batch stream is a drop per period.

use super::{estimate, infeasible, milp, overrides, tours::Split, Model, Solved, Targets};
use tessera_engine::metrics::stats::mean_ci;
use tessera_engine::run::{run_replications, Keep, RouterFactory, Summary};
use tessera_engine::spec::{ArrivalSpec, Scenario};
use tessera_engine::time::{Dur, US_PER_DAY};

/// One target checked on the simulated plan.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Verdict {
    pub target: String,
    pub goal: f64,
    pub mean: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
    pub met: bool,
}

/// One round: the MILP's plan and what simulation made of it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Round {
    pub overrides: Vec<String>,
    /// Keys removed before the overrides (`run.tasks`, when a run to a task count of batch drops
    /// is checked over a batch period instead).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unset: Vec<String>,
    pub solved: Solved,
    pub verdicts: Vec<Verdict>,
    /// [USD/week] simulated mean and CI.
    pub simulated_cost_week: (f64, f64),
    /// [tasks/h] simulated throughput per stream (mean): final labels given in the window (the
    /// departure rate, which the fluid model's throughput predicts in a steady state).
    pub simulated_throughput: Vec<f64>,
    /// Replications the verdicts rest on: `-r`, or three times as many when a target was
    /// missed only at its CI bound and the same plan was simulated again to settle it.
    pub replications: u32,
}

/// What the planner found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Outcome {
    pub rounds: Vec<Round>,
    /// All targets met at their CI bounds in the last round.
    pub met: bool,
    /// When the MILP needed slack, or the shifts make a target unreachable: why, in words.
    pub infeasible: Option<String>,
    /// What the MILP was last asked (targets as the loop tightened them).
    pub ask: super::Ask,
    /// Where accuracy and labels per task came from simulation instead of the formula.
    pub estimates: Option<estimate::Report>,
    /// The planning model it was solved on (for marginal values and the frontier).
    #[serde(skip)]
    pub model: Model,
}

fn ci(xs: &[f64]) -> (f64, f64) {
    if xs.len() < 2 {
        return (xs.first().copied().unwrap_or(f64::NAN), f64::NAN);
    }
    mean_ci(xs, 0.95)
}

/// `run.warmup` and `run.horizon` overrides that make the simulated window a steady-state week
/// (see the module doc); none when the scenario's already is.
pub fn window_overrides(s: &Scenario, within: Dur) -> Vec<String> {
    let Some((warmup, end)) = steady_window(s, within) else { return Vec::new() };
    let mut v = Vec::new();
    if warmup != s.run.warmup {
        v.push(format!("run.warmup=\"{warmup}\""));
    }
    if Some(end) != s.run.horizon {
        v.push(format!("run.horizon=\"{end}\""));
    }
    v
}

/// Keys the steady-state window removes: `run.tasks` when the scenario runs to a task count of
/// batch drops (the window is then a horizon; see [`steady_window`]).
pub fn window_unsets(s: &Scenario, within: Dur) -> Vec<String> {
    if s.run.horizon.is_none() && steady_window(s, within).is_some() {
        vec!["run.tasks".to_string()]
    } else {
        Vec::new()
    }
}

/// The (warm-up, horizon) of the steady-state window (see the module doc). A run to a task count
/// whose streams all arrive in batch drops is checked over one period of its longest batch after
/// the warm-up (the model's rate of a batch stream is a drop per period); None for other runs to
/// a task count.
pub fn steady_window(s: &Scenario, within: Dur) -> Option<(Dur, Dur)> {
    let warmup = s.run.warmup.max(within);
    let Some(horizon) = s.run.horizon else {
        let mut period = Dur::ZERO;
        // Part streams get their tasks from their parents (their own arrivals are not used).
        for (_, st) in s.streams.iter().enumerate().filter(|&(i, _)| super::graph::parent(s, i).is_none()) {
            match st.arrivals {
                ArrivalSpec::Batch { every, .. } => period = period.max(every),
                _ => return None,
            }
        }
        return (period > Dur::ZERO).then(|| (warmup, Dur(warmup.0.saturating_add(period.0))));
    };
    // Whole weeks: a window that ends part-way through a week over- or under-weighs its days
    // (a weekday-only pool's backlog at a Sunday end), and the model's rates are weekly means.
    let week = 7 * US_PER_DAY;
    let window = Dur(horizon.0.saturating_sub(s.run.warmup.0).max(week).div_ceil(week).saturating_mul(week));
    Some((warmup, Dur(warmup.0.saturating_add(window.0))))
}

/// The seed of a close miss's extra replications (independent of the round's own).
const CONFIRM_SEED: u64 = 0xc0f1_4d3e_0000_0001;

/// A round's simulated plan, judged against the targets.
struct Judged {
    verdicts: Vec<Verdict>,
    /// Per stream: how much to raise its accuracy target; whether to lower its pools' cap.
    tighten_acc: Vec<f64>,
    tighten_time: Vec<bool>,
    /// Per stream whose accuracy was missed: the target plus the model's optimism.
    optimistic: Vec<Option<f64>>,
    /// [USD/week] mean and CI half-width.
    week: (f64, f64),
    /// [tasks/h] per stream.
    throughput: Vec<f64>,
}

impl Judged {
    /// Some target was missed, and every miss is at the CI bound only: its mean is on the right
    /// side of the goal (more replications may confirm the plan).
    fn close_miss(&self) -> bool {
        let missed: Vec<&Verdict> = self.verdicts.iter().filter(|v| !v.met).collect();
        !missed.is_empty() && missed.iter().all(|v| if v.target.starts_with("cost") { v.mean <= v.goal } else { v.mean.is_finite() && v.mean >= v.goal })
    }
}

/// Judges the simulated plan's summaries `sums` against `t`.
fn judge(m: &Model, t: &Targets, solved: &Solved, sums: &[&Summary]) -> Judged {
    let mut verdicts = Vec::new();
    let mut tighten_acc = vec![0.0; m.streams.len()];
    let mut tighten_time = vec![false; m.streams.len()];
    let mut optimistic = vec![None; m.streams.len()];
    for (i, name) in m.streams.iter().enumerate() {
        let get = |f: fn(&tessera_engine::run::StreamFigures) -> f64| -> Vec<f64> { sums.iter().map(|x| x.streams.get(name).map_or(f64::NAN, f)).collect() };
        let (am, ah) = ci(&get(|f| f.accuracy));
        let lo = am - ah.max(0.0);
        let met = lo >= t.accuracy;
        // A replication where nothing of the stream finished has no accuracy: the plan
        // stalls (too few people left, e.g. after bans, for the overlap); that is a capacity
        // miss, answered below with more people, not a higher accuracy target.
        let stalled = !lo.is_finite();
        if stalled {
            tighten_time[i] = true;
        } else if !met {
            tighten_acc[i] = t.accuracy - lo + 0.005;
            optimistic[i] = Some(t.accuracy + (solved.accuracy[i] - lo).max(0.0) + 0.002);
        }
        verdicts.push(Verdict { target: format!("accuracy of stream {name:?}"), goal: t.accuracy, mean: am, ci95_low: lo, ci95_high: am + ah.max(0.0), met });
        let (cm, ch) = ci(&get(|f| f.completion_within_target));
        let lo = cm - ch.max(0.0);
        let met = lo >= t.completion_share;
        tighten_time[i] |= !met;
        verdicts.push(Verdict { target: format!("share of stream {name:?} finished within {}", t.within), goal: t.completion_share, mean: cm, ci95_low: lo, ci95_high: cm + ch.max(0.0), met });
    }
    let week: Vec<f64> = sums.iter().map(|x| x.cost.total_usd / (x.window_end_h - x.window_start_h).max(1e-9) * 168.0).collect();
    let (wm, wh) = ci(&week);
    if let Some(b) = t.budget_week {
        let hi = wm + wh.max(0.0);
        verdicts.push(Verdict { target: "cost per week [USD]".into(), goal: b, mean: wm, ci95_low: wm - wh.max(0.0), ci95_high: hi, met: hi <= b });
    }
    let throughput = m.streams.iter().map(|name| sums.iter().map(|x| x.streams.get(name).map_or(0.0, |f| f.final_rate_per_hour)).sum::<f64>() / sums.len().max(1) as f64).collect();
    Judged { verdicts, tighten_acc, tighten_time, optimistic, week: (wm, wh), throughput }
}

/// Plans `s` for `t`. `apply` turns keys to remove and `--set` overrides into the plan's scenario
/// (the CLI loads the scenario file with them, so the plan is validated like any scenario).
/// With `split` (`--shifts`), the MILP plans its pools, one per shift tour of the original
/// pools; accuracy estimates are made on the original pools and shared by their tours.
pub fn plan(s: &Scenario, t: &Targets, split: Option<&Split>, cache: &mut estimate::Cache, make_router: RouterFactory, apply: &dyn Fn(&[String], &[String]) -> Result<Scenario, String>, progress: &mut dyn FnMut(&str)) -> Result<Outcome, String> {
    let model_of = |x: &Scenario| Model::of(x, &t.levels, t.within).map(|m| m.with_thresholds(&t.thresholds).with_review_rates(&t.review_rates));
    let mut base = model_of(s)?;
    let mut m = match split {
        Some(sp) => model_of(&sp.scenario)?,
        None => base.clone(),
    };
    let mut ask = t.ask(&m, split);
    let mut rounds = Vec::new();
    if let Some(why) = super::unreachable(&m, t) {
        return Ok(Outcome { rounds, met: false, infeasible: Some(why), ask, estimates: None, model: m });
    }
    let mut estimates = estimate::apply(s, &mut base, &t.estimate, cache, make_router, progress)?;
    // Workflow graphs are measured whole, over the window the plan is checked on.
    let (graphs, simulated, from_cache) = super::graph::apply(s, &mut base, &t.estimate, steady_window(s, t.within), cache, make_router, progress)?;
    if !graphs.is_empty() {
        let r = estimates.get_or_insert_with(estimate::Report::default);
        r.reasons.push("workflow graph".into());
        r.simulated += simulated;
        r.from_cache += from_cache;
        r.graphs = graphs;
    }
    let group = |q: usize| split.map_or(q, |sp| sp.group[q]);
    for i in 0..m.streams.len() {
        for q in 0..m.pools.len() {
            m.accuracy[i][q] = base.accuracy[i][group(q)].clone();
            m.labels[i][q] = base.labels[i][group(q)].clone();
        }
    }
    // A graph's measured options go to the split model: a stage's hours per task are the same
    // whoever works them (its pools there are the tours), a tour is paid per item as its pool.
    for (g, b) in m.graph.iter_mut().zip(&base.graph) {
        if let (Some(g), Some(b)) = (g, b) {
            g.options = b.options.iter().map(|o| o.clone().map(|mut o| {
                o.items_per_hour = (0..m.pools.len()).map(|q| o.items_per_hour[group(q)]).collect();
                o
            })).collect();
        }
    }
    let window = window_overrides(s, t.within);
    let unset = window_unsets(s, t.within);
    // Per stream whose accuracy the last round missed: the target plus the model's optimism.
    let mut optimistic: Vec<Option<f64>> = vec![None; m.streams.len()];
    for round in 0..t.rounds.max(1) {
        progress(&format!("round {}: solving the MILP", round + 1));
        let mut solved = milp::solve(&m, &ask)?;
        let same = |r: &Round| r.solved.headcount == solved.headcount && r.solved.overlap == solved.overlap;
        if rounds.last().is_some_and(same) && optimistic.iter().any(Option::is_some) {
            for (a, o) in ask.accuracy.iter_mut().zip(&optimistic) {
                if let Some(o) = o {
                    *a = a.max(o.min(1.0));
                }
            }
            solved = milp::solve(&m, &ask)?;
        }
        if let Some(why) = infeasible(&m, &solved) {
            let why = if round > 0 { format!("after round {round}'s simulation raised the targets it missed: {why}") } else { why };
            return Ok(Outcome { rounds, met: false, infeasible: Some(why), ask, estimates, model: m });
        }
        let mut sets = overrides(&m, &solved, t);
        sets.extend(window.iter().cloned());
        let scenario = apply(&unset, &sets)?;
        progress(&format!("round {}: simulating the plan ({} replications)", round + 1, t.replications));
        let mut runs = run_replications(&scenario, make_router, t.seed, t.replications, Keep::default(), &|_, _| {})?;
        let mut j = judge(&m, t, &solved, &runs.iter().map(|r| &r.summary).collect::<Vec<_>>());
        if j.close_miss() && t.replications >= 2 {
            // Missed only at the CI bound: the same plan again with twice as many more independent
            // replications (their own seeds), before the MILP is asked for more than it needs.
            let more = t.replications * 2;
            progress(&format!("round {}: a target missed only at its 95% CI bound; simulating the same plan with {more} more replications", round + 1));
            runs.extend(run_replications(&scenario, make_router, t.seed ^ CONFIRM_SEED, more, Keep::default(), &|_, _| {})?);
            j = judge(&m, t, &solved, &runs.iter().map(|r| &r.summary).collect::<Vec<_>>());
        }
        let Judged { verdicts, tighten_acc, tighten_time, optimistic: opt, week: (wm, wh), throughput } = j;
        optimistic = opt;
        let met = verdicts.iter().all(|v| v.met);
        rounds.push(Round { overrides: sets, unset: unset.clone(), solved: solved.clone(), verdicts, simulated_cost_week: (wm, wh), simulated_throughput: throughput, replications: runs.len() as u32 });
        if met {
            return Ok(Outcome { rounds, met: true, infeasible: None, ask, estimates, model: m });
        }
        let delivered = &rounds.last().expect("pushed above").simulated_throughput;
        for i in 0..m.streams.len() {
            ask.accuracy[i] = (ask.accuracy[i] + tighten_acc[i]).min(1.0);
            if tighten_time[i] {
                // A stream that delivered a fraction of its predicted throughput (its pools lost
                // people to bans, or stalled) needs that much more capacity, not a notch more.
                let share = if solved.throughput[i] > 0.0 { (delivered[i] / solved.throughput[i]).clamp(0.0, 1.0) } else { 1.0 };
                for p in 0..m.pools.len() {
                    if solved.flow[i][p] > 1e-9 || m.review[i].is_some_and(|r| r.0 == p) {
                        ask.cap[p] = (ask.cap[p] - 0.1).min(ask.cap[p] * share).max(0.3);
                    }
                }
            }
        }
    }
    Ok(Outcome { rounds, met: false, infeasible: None, ask, estimates, model: m })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(horizon: &str, warmup: &str) -> Scenario {
        serde_json::from_str(&format!(r#"{{"run": {{"horizon": "{horizon}", "warmup": "{warmup}"}}, "streams": [], "pools": []}}"#)).unwrap()
    }

    /// A close miss: every missed target's mean is on the right side of its goal.
    #[test]
    fn a_close_miss_is_a_miss_at_the_bound_only() {
        let v = |target: &str, goal: f64, mean: f64, lo: f64, hi: f64| {
            let met = if target.starts_with("cost") { hi <= goal } else { lo >= goal };
            Verdict { target: target.into(), goal, mean, ci95_low: lo, ci95_high: hi, met }
        };
        let judged = |verdicts: Vec<Verdict>| Judged { verdicts, tighten_acc: vec![], tighten_time: vec![], optimistic: vec![], week: (0.0, 0.0), throughput: vec![] };
        let acc_close = v("accuracy of stream \"a\"", 0.9, 0.903, 0.899, 0.907);
        let acc_far = v("accuracy of stream \"b\"", 0.9, 0.895, 0.890, 0.900);
        let ok = v("accuracy of stream \"c\"", 0.9, 0.95, 0.94, 0.96);
        let cost_close = v("cost per week [USD]", 1000.0, 990.0, 970.0, 1010.0);
        assert!(judged(vec![acc_close.clone(), ok.clone()]).close_miss());
        assert!(judged(vec![acc_close.clone(), cost_close.clone()]).close_miss());
        assert!(!judged(vec![acc_close.clone(), acc_far]).close_miss(), "one miss below its goal: tighten");
        assert!(!judged(vec![ok.clone()]).close_miss(), "nothing missed");
        let stalled = v("accuracy of stream \"d\"", 0.9, f64::NAN, f64::NAN, f64::NAN);
        assert!(!judged(vec![stalled]).close_miss(), "a stalled stream is a capacity miss");
    }

    /// The checked window is whole weeks after a warm-up of at least the turnaround target.
    #[test]
    fn the_window_is_whole_weeks_after_the_turnaround() {
        let d = |n: u64| Dur(n * US_PER_DAY);
        // 14 days with 2 of warm-up, 4-day turnaround: warm-up 4 d, 12 days → 14 d of window.
        assert_eq!(window_overrides(&scenario("14d", "2d"), d(4)), vec!["run.warmup=\"4d\"".to_string(), "run.horizon=\"18d\"".to_string()]);
        // 3 days: one week after the warm-up.
        assert_eq!(window_overrides(&scenario("3d", "0s"), d(2)), vec!["run.warmup=\"2d\"".to_string(), "run.horizon=\"9d\"".to_string()]);
        // Already two whole weeks after a long enough warm-up: nothing to change.
        assert!(window_overrides(&scenario("16d", "2d"), d(1)).is_empty());
    }

    /// A run to a task count of batch drops is checked over one batch period after the warm-up,
    /// as a horizon (run.tasks removed); one with a Poisson stream has no steady window.
    #[test]
    fn a_count_run_of_batch_drops_is_checked_over_a_batch_period() {
        let d = |n: u64| Dur(n * US_PER_DAY);
        let count = |arrivals: &str| -> Scenario {
            serde_json::from_str(&format!(r#"{{"run": {{"tasks": 1000, "warmup": "0s"}}, "streams": [{{"name": "a", "task_type": "t", "arrivals": {arrivals}}}], "pools": []}}"#)).unwrap()
        };
        let batch = count(r#"{"batch": {"size": 1000, "every": "30d"}}"#);
        assert_eq!(steady_window(&batch, d(7)), Some((d(7), d(37))));
        assert_eq!(window_unsets(&batch, d(7)), vec!["run.tasks".to_string()]);
        assert_eq!(window_overrides(&batch, d(7)), vec!["run.warmup=\"7d\"".to_string(), "run.horizon=\"37d\"".to_string()]);
        let poisson = count(r#"{"poisson": {"per_hour": 10}}"#);
        assert_eq!((steady_window(&poisson, d(7)), window_unsets(&poisson, d(7))), (None, vec![]));
    }
}
