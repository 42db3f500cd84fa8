//! `tessera plan`: the cheapest headcount per pool and overlap per stream that meet an accuracy
//! and a turnaround target (a MILP with good_lp), written as a runnable scenario and checked by
//! simulating it (tessera-planner's closed loop).

use anyhow::{bail, Context, Result};
use clap::Args;
use std::fmt::Write as _;
use std::path::PathBuf;
use tessera_planner::plan::{self, Targets};

pub const LONG_ABOUT: &str = "Plan the workforce: how many annotators of each pool and what overlap \
per stream meet an accuracy target and a turnaround target at the lowest cost, and prove it by simulation.

The model (tessera-planner, documented in README.md): arrival rates from the scenario, hours per \
label from its declared service times, the accuracy of majority vote at each overlap level from \
its pools' accuracy models (exact for that model), pay per hour of shift or per item. Where that \
formula does not describe the scenario (weighted aggregation, dynamic overlap, quality rules that \
ban), accuracy and labels per task at each overlap level come from short simulations of each pool \
labelling alone (--estimate-horizon, --estimate-replications), cached in DIR/estimates.json so \
that planning again simulates nothing. A MILP \
(good_lp with microlp) picks the headcounts (integers, at least 1, at most --max-scale times the \
scenario's), one overlap level per stream and which pool labels what, at the lowest weekly cost, \
with the pools loaded at most --utilization of their on-shift time (room for queueing). Every \
target has a slack, so an impossible target is named with how far it is out of reach.

Then the closed loop: the plan is written as DIR/plan.toml (the scenario with the plan's \
overrides), simulated with replications over a steady-state week (warm-up at least --within, \
window whole weeks, at least one: the model is a weekly one), and each target is checked at its 95% CI bound \
(accuracy and the share finished within --within: lower bound; cost: upper bound). When every \
miss is at the bound only (the mean meets the target), the same plan is first simulated with \
twice --replications more, to settle it. A missed \
accuracy raises that stream's target in the MILP; a missed turnaround lowers the utilisation of \
the pools that serve it (by 0.1, or in proportion to the throughput the stream delivered); up \
to --rounds rounds. DIR/plan.json has every round, the marginal \
values (re-solving with one thing changed) and, with --pareto, the cost-accuracy-turnaround \
frontier (the cheapest plan's weekly cost for accuracy targets 0.80 to 0.99 at half, once and \
twice --within, by the same model without simulation).

Workflow graphs (stages, parts) are planned from measured work: for each overlap level of a \
graph's main label stage (its first label stage), one simulation with ample staff over the \
checked window gives each stage's hours per task, models' cost and the final labels' accuracy \
(cached in DIR/estimates.json too); the MILP picks the level and shares each stage's hours among \
its pools.

With --shifts FILE, headcount is planned per pool per weekly shift tour (a pattern of the file \
at one start time), and plan.toml has one pool per staffed tour. With --confidence-levels, dynamic \
overlap's confidence threshold is chosen too, and with --review-rates the expert-review sampling rate.

Examples:
  tessera plan scenarios/llm-preference.toml --target-accuracy 0.85 --within 48h
  tessera plan scenarios/ecommerce-surge.toml --target-accuracy 0.9 --within 2d --confidence-levels 0.9,0.95,0.99
  tessera plan scenarios/medical-imaging.toml --target-accuracy 0.9 --within 2d --shifts scenarios/shifts/weekdays-and-weekend.csv
  tessera plan scenarios/lidar-cuboids.toml --target-accuracy 0.9 --within 3d --budget 60000 --pareto
  tessera plan scenarios/toxicity-adjudication.toml --target-accuracy 0.9 --within 1d";

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Scenario file (TOML)
    pub scenario: PathBuf,
    /// Share of final labels right, on every stream (lower bound of the 95% CI in simulation)
    #[arg(long)]
    pub target_accuracy: f64,
    /// Turnaround target, e.g. 48h or 3d
    #[arg(long, value_parser = parse_dur)]
    pub within: tessera_engine::time::Dur,
    /// Share of each stream's tasks to finish within --within (lower CI bound)
    #[arg(long, default_value_t = 0.95)]
    pub completion_share: f64,
    /// Weekly budget [USD] (upper CI bound of the simulated cost)
    #[arg(long)]
    pub budget: Option<f64>,
    /// Floor wage [USD per on-shift hour] for pools paid per item
    #[arg(long)]
    pub min_wage: Option<f64>,
    /// Trace the cost-accuracy-turnaround frontier (accuracy targets 0.80 to 0.99 at half, once
    /// and twice --within) into plan.json
    #[arg(long)]
    pub pareto: bool,
    /// A pool's headcount is at most this many times the scenario's
    #[arg(long, default_value_t = 3.0)]
    pub max_scale: f64,
    /// Highest planned utilisation of a pool's on-shift time
    #[arg(long, default_value_t = 0.85)]
    pub utilization: f64,
    /// Overlap levels to choose from
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,5")]
    pub levels: Vec<u32>,
    /// Dynamic overlap's confidence thresholds to choose from, e.g. 0.9,0.95,0.99 (scenarios with
    /// quality.dynamic_overlap; one threshold for the whole scenario) [default: the scenario's]
    #[arg(long, value_delimiter = ',')]
    pub confidence_levels: Vec<f64>,
    /// Expert-review sampling rates to choose from, e.g. 0,0.05,0.2 (scenarios with
    /// quality.review; one rate for the whole scenario, each estimated by simulation) [default:
    /// the scenario's]
    #[arg(long, value_delimiter = ',')]
    pub review_rates: Vec<f64>,
    /// Closed-loop rounds at most
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// Replications per simulated check
    #[arg(long, short = 'r', default_value_t = 5)]
    pub replications: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated time of each accuracy estimate (weighted aggregation, dynamic overlap, rules);
    /// its first quarter is warm-up. Workflow graphs are measured over the checked window instead
    #[arg(long, value_parser = parse_dur, default_value = "2d")]
    pub estimate_horizon: tessera_engine::time::Dur,
    /// Replications of each accuracy estimate
    #[arg(long, default_value_t = 2)]
    pub estimate_replications: u32,
    /// Shift patterns (the CSV `tessera staffing --shifts` reads): plan the headcount of each pool
    /// per weekly shift tour (pattern × start time) instead of on the pool's own calendar; the
    /// plan's scenario has one pool per staffed tour, named <pool>@<pattern>. A review pool keeps
    /// its calendar
    #[arg(long, value_name = "FILE")]
    pub shifts: Option<PathBuf>,
    /// The MILP's solver: microlp (pure Rust) or highs (only in a build with `--features highs`,
    /// which needs cmake and libclang-dev); either stops after 20 s with the best plan found
    #[arg(long, default_value = "microlp", value_parser = tessera_planner::schedule::Solver::parse)]
    pub solver: tessera_planner::schedule::Solver,
    /// Change a scenario field before planning (repeatable), as in simulate
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Output directory [default: out/<scenario name>-plan]
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

fn parse_dur(s: &str) -> Result<tessera_engine::time::Dur, String> {
    tessera_engine::time::parse_duration(s)
}

pub fn run(a: PlanArgs) -> Result<()> {
    if !(a.target_accuracy > 0.0 && a.target_accuracy <= 1.0) {
        bail!("--target-accuracy: expected a share in (0, 1], found {}", a.target_accuracy);
    }
    if !(a.completion_share > 0.0 && a.completion_share <= 1.0) {
        bail!("--completion-share: expected a share in (0, 1], found {}", a.completion_share);
    }
    if !(a.utilization > 0.0 && a.utilization <= 1.0) || !(a.max_scale >= 1.0 && a.max_scale <= 100.0) {
        bail!("--utilization must be in (0, 1] and --max-scale in [1, 100]");
    }
    if a.estimate_horizon.0 < tessera_engine::time::US_PER_HOUR || a.estimate_replications == 0 || a.estimate_replications > 100 {
        bail!("--estimate-horizon must be at least 1h and --estimate-replications between 1 and 100");
    }
    if a.levels.is_empty() || a.levels.iter().any(|&k| k == 0 || k > 15) || a.replications < 2 || a.replications > 1000 || a.rounds > 20 {
        bail!("--levels must be between 1 and 15, --replications between 2 and 1000, --rounds at most 20");
    }
    let text = std::fs::read_to_string(&a.scenario).with_context(|| format!("cannot read {}", a.scenario.display()))?;
    let origin = a.scenario.display().to_string();
    tessera_learners::in_loop::register();
    let policies = tessera_policies::names();
    let known = tessera_scenarios::Known::with_policies(&policies).with_routing_check(tessera_policies::check_routing);
    let base = tessera_scenarios::load_file(&a.scenario, &a.set, &known).map_err(|e| anyhow::anyhow!("{e}"))?;
    if !a.confidence_levels.is_empty() {
        if base.quality.dynamic_overlap.is_none() {
            bail!("--confidence-levels: {} has no quality.dynamic_overlap to set a threshold for", a.scenario.display());
        }
        if a.confidence_levels.len() > 10 || a.confidence_levels.iter().any(|c| !(*c > 0.0 && *c < 1.0)) {
            bail!("--confidence-levels: expected at most 10 thresholds, each in (0, 1), found {:?}", a.confidence_levels);
        }
    }
    if !a.review_rates.is_empty() {
        if base.quality.review.is_none() {
            bail!("--review-rates: {} has no quality.review to set a sampling rate for", a.scenario.display());
        }
        if a.review_rates.len() > 10 || a.review_rates.iter().any(|r| !(0.0..=1.0).contains(r)) {
            bail!("--review-rates: expected at most 10 rates, each in [0, 1], found {:?}", a.review_rates);
        }
    }
    let name = base.name.clone().unwrap_or_else(|| "scenario".into());
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from("out").join(format!("{}-plan", super::simulate::folder_name(&name))));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let targets = Targets {
        accuracy: a.target_accuracy,
        within: a.within,
        completion_share: a.completion_share,
        budget_week: a.budget,
        min_wage: a.min_wage,
        max_scale: a.max_scale,
        utilization: a.utilization,
        levels: a.levels.clone(),
        thresholds: a.confidence_levels.clone(),
        review_rates: a.review_rates.clone(),
        rounds: a.rounds,
        replications: a.replications,
        seed: a.seed,
        estimate: plan::estimate::Settings { horizon: a.estimate_horizon, replications: a.estimate_replications, seed: a.seed },
        solver: a.solver,
    };
    let split = match &a.shifts {
        Some(path) => {
            let csv = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let shifts = tessera_planner::shifts::read_shifts(&csv, &path.display().to_string()).map_err(anyhow::Error::msg)?;
            let tours = plan::tours::tours(&shifts);
            if tours.is_empty() {
                bail!("{}: no shift pattern gives a working tour", path.display());
            }
            let keep: Vec<String> = base.quality.review.iter().map(|r| r.pool.clone()).collect();
            Some(plan::tours::split(&base, &tours, &keep))
        }
        None => None,
    };
    let all = |sets: &[String]| -> Vec<String> { a.set.iter().cloned().chain(sets.iter().cloned()).collect() };
    // The plan's scenario text and the overrides still to apply: with --shifts, each split pool
    // becomes one pool per staffed tour (its headcount taken from the overrides).
    let plan_text = |sets: &[String]| -> Result<(String, Vec<String>), String> {
        let Some(sp) = &split else { return Ok((text.clone(), all(sets))) };
        let mut rest = Vec::new();
        let mut copies: Vec<(usize, Vec<tessera_scenarios::PoolCopy>)> = Vec::new();
        let mut counts = std::collections::HashMap::new();
        for o in sets {
            match (0..sp.scenario.pools.len()).find(|&q| sp.tour[q].is_some() && o.starts_with(&format!("pools.{}.count=", sp.scenario.pool_name(q)))) {
                Some(q) => {
                    counts.insert(q, o.rsplit('=').next().and_then(|n| n.parse::<i64>().ok()).unwrap_or(0));
                }
                None => rest.push(o.clone()),
            }
        }
        for (q, t) in sp.tour.iter().enumerate() {
            let (Some(t), Some(&n)) = (t, counts.get(&q)) else { continue };
            let g = sp.group[q];
            if !copies.iter().any(|(p, _)| *p == g) {
                copies.push((g, Vec::new()));
            }
            if n > 0 {
                let c = tessera_scenarios::PoolCopy { name: sp.scenario.pool_name(q), shifts: t.calendar.clone(), count: n };
                copies.iter_mut().find(|(p, _)| *p == g).expect("pushed above").1.push(c);
            }
        }
        // The user's --set first, on the pools as they are named in the file; then the split.
        let with_sets = tessera_scenarios::apply_overrides(&text, &origin, &a.set).map_err(|e| e.to_string())?;
        let split_text = tessera_scenarios::split_pools(&with_sets, &origin, &copies).map_err(|e| e.to_string())?;
        Ok((split_text, rest))
    };
    let apply = |unset: &[String], sets: &[String]| -> Result<tessera_engine::spec::Scenario, String> {
        let (t, sets) = plan_text(sets)?;
        let mut s = tessera_scenarios::load_str_with(&t, &origin, unset, &sets, &known).map_err(|e| format!("the plan is not a valid scenario: {e}"))?.scenario;
        s.name = Some(format!("{name}-plan"));
        Ok(s)
    };
    let routing = base.routing.clone();
    let make_router = move || tessera_policies::router_for(&routing).expect("validated policy name");
    let quiet = a.quiet;
    // Accuracy estimates simulated before (for another plan of the same scenario) are reused.
    let cache_path = out.join("estimates.json");
    let mut cache = match std::fs::read_to_string(&cache_path) {
        Ok(t) => plan::estimate::Cache::parse(&t).unwrap_or_else(|| {
            eprintln!("plan: {} is not an estimate cache of this version; it will be rewritten", cache_path.display());
            plan::estimate::Cache::default()
        }),
        Err(_) => plan::estimate::Cache::default(),
    };
    let outcome = plan::plan(&base, &targets, split.as_ref(), &mut cache, &make_router, &apply, &mut |m| if !quiet { eprintln!("plan: {m}") }).map_err(anyhow::Error::msg)?;
    if outcome.estimates.as_ref().is_some_and(|e| e.simulated > 0) {
        tessera_reports::write_summary_json(&cache_path, &serde_json::to_value(&cache)?)?;
    }
    let (model, ask) = (&outcome.model, outcome.ask.clone());
    let last = outcome.rounds.last();
    let marginals = last.map(|r| plan::marginals(model, &ask, &r.solved)).unwrap_or_default();
    let grid: Vec<f64> = (80..=99).map(|x| x as f64 / 100.0).collect();
    // The frontier at half, the same and twice the turnaround target.
    let turnarounds: Vec<tessera_engine::time::Dur> = [a.within.0 / 2, a.within.0, a.within.0.saturating_mul(2)].into_iter().map(tessera_engine::time::Dur).collect();
    let frontier = if a.pareto { plan::pareto_turnaround(split.as_ref().map_or(&base, |sp| &sp.scenario), model, &targets, &ask, &turnarounds, &grid).map_err(anyhow::Error::msg)? } else { Vec::new() };
    if let Some(r) = last {
        let (t, sets) = plan_text(&r.overrides).map_err(anyhow::Error::msg)?;
        let plan_text = tessera_scenarios::apply_edits(&t, &origin, &r.unset, &sets).map_err(|e| anyhow::anyhow!("{e}"))?;
        let removed = if r.unset.is_empty() { String::new() } else { format!(" (after removing {})", r.unset.join(", ")) };
        let header = format!("# Written by `tessera plan` from {origin}: --target-accuracy {} --within {} (share {}).\n# The plan's overrides{removed}: {}\n", a.target_accuracy, a.within, a.completion_share, r.overrides.join(" "));
        std::fs::write(out.join("plan.toml"), header + &plan_text).with_context(|| format!("cannot write {}", out.join("plan.toml").display()))?;
    }
    let json = serde_json::json!({
        "schema": "tessera.plan/1",
        "scenario": name,
        "targets": { "accuracy": a.target_accuracy, "within_s": a.within.secs(), "completion_share": a.completion_share, "budget_usd_week": a.budget, "min_wage_usd_h": a.min_wage },
        "met": outcome.met,
        "infeasible": outcome.infeasible,
        "streams": model.streams, "pools": model.pools,
        "rounds": outcome.rounds,
        "estimates": outcome.estimates,
        "marginal_values_usd_week": marginals,
        "pareto": frontier.iter().map(|(w, acc, c)| serde_json::json!({ "within_s": w.secs(), "accuracy": acc, "cost_usd_week": c })).collect::<Vec<_>>(),
    });
    tessera_reports::write_summary_json(&out.join("plan.json"), &json)?;
    if !a.quiet {
        let mut o = String::new();
        if let Some(why) = &outcome.infeasible {
            let _ = writeln!(o, "NO PLAN meets the targets: {why}");
        }
        if let Some(r) = last {
            let s = &r.solved;
            let _ = writeln!(o, "{} plan after {} round{} · targets: accuracy ≥ {:.3}, {:.0}% within {} (95% CI bounds)", if outcome.met { "MET:" } else { "NOT MET:" }, outcome.rounds.len(), if outcome.rounds.len() == 1 { "" } else { "s" }, a.target_accuracy, a.completion_share * 100.0, a.within);
            for (i, (p, n)) in model.pools.iter().zip(&s.headcount).enumerate() {
                match split.as_ref().and_then(|sp| sp.tour[i].as_ref().map(|t| (t, sp.group[i]))) {
                    Some(_) if *n == 0 => {}
                    Some((t, g)) => {
                        let _ = writeln!(o, "  pool {p:<16} {n:>4} annotators on {} (scenario's pool: {}), planned utilisation {:.0}%", t.calendar.join(" + "), base.pools[g].count, s.utilization[i].max(0.0) * 100.0);
                    }
                    None => {
                        let _ = writeln!(o, "  pool {p:<16} {n:>4} annotators (scenario: {}), planned utilisation {:.0}%", model.count[i], s.utilization[i].max(0.0) * 100.0);
                    }
                }
            }
            for (i, st) in model.streams.iter().enumerate() {
                let at = match model.graph.get(i) {
                    Some(Some(g)) => g.main.as_ref().map_or(" (workflow graph as written)".to_string(), |m| format!(" at stage {m:?} of its workflow graph")),
                    _ => String::new(),
                };
                let _ = writeln!(o, "  stream {st:<14} overlap {}{at}, {:.1} tasks/h, predicted accuracy {:.3}", s.overlap[i], s.throughput[i], s.accuracy[i]);
            }
            if let Some(c) = s.confidence {
                let _ = writeln!(o, "  dynamic overlap  confidence threshold {c} (chosen among --confidence-levels)");
            }
            if let Some(r) = s.review_rate {
                let _ = writeln!(o, "  expert review    {:.0}% of final labels (chosen among --review-rates)", r * 100.0);
            }
            if let Some(e) = &outcome.estimates {
                let _ = writeln!(o, "  accuracy and labels per task by simulation ({}): {} estimates simulated, {} from {}/estimates.json", e.reasons.join(", "), e.simulated, e.from_cache, out.display());
            }
            for (i, st) in model.streams.iter().enumerate() {
                let (m, t) = (s.throughput[i], r.simulated_throughput.get(i).copied().unwrap_or(f64::NAN));
                let _ = writeln!(o, "  throughput       stream {st}: predicted {m:.1} tasks/h, simulated {t:.1} ({:+.1}%)", (t / m - 1.0) * 100.0);
            }
            let (wm, wh) = r.simulated_cost_week;
            let _ = writeln!(o, "  cost             predicted ${:.0}/week, simulated ${wm:.0} ± {wh:.0}/week ({:+.1}%)", s.cost_week, (wm / s.cost_week - 1.0) * 100.0);
            if s.optimality == "time limit" {
                let _ = writeln!(o, "  solver           stopped at its {} s limit: the best plan found, not proven the cheapest (no marginal values)", plan::milp::TIME_LIMIT_S);
            }
            let _ = writeln!(o, "  verdicts         on {} replications, 95% CI{}", r.replications, if r.replications > a.replications { " (a target missed only at its CI bound: the same plan simulated again with more)" } else { "" });
            for v in &r.verdicts {
                let _ = writeln!(o, "  {} {}: {:.4} [{:.4}, {:.4}] vs {:.4}", if v.met { "ok  " } else { "MISS" }, v.target, v.mean, v.ci95_low, v.ci95_high, v.goal);
            }
        }
        for m in &marginals {
            let _ = writeln!(o, "  marginal value: {} → {:+.0} USD/week", m.what, m.usd_week);
        }
        if last.is_some() {
            let _ = writeln!(o, "  wrote {}/plan.toml (runnable: tessera simulate {}/plan.toml), plan.json", out.display(), out.display());
        } else {
            let _ = writeln!(o, "  wrote {}/plan.json", out.display());
        }
        print!("{o}");
    }
    Ok(())
}
