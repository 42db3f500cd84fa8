//! Workflow graphs (`stages`) and task dependencies (`parts`) in the planning model.
//!
//! A graph's branch shares depend on how the work turns out: how sure a model is (auto-accept,
//! audit, check), whether two labels disagree (adjudication), what a reviewer decides (rework).
//! The planner does not write those shares as formulas; it measures them. For each overlap
//! level offered, the scenario is simulated with every graph stream's *main* label stage (the
//! first `label` stage in its list) at that overlap, every pool staffed to at most 65% of its
//! on-shift time (so the figures are of the work, not of a queue), over the same steady-state
//! window the closed loop checks the plan on. From each run, per graph stream and option:
//!
//! - hours per task of each stage people work: the stage's share of each of its pools' on-shift
//!   time (every stage reports it, walk-aways included) × the pool's on-shift headcount × the
//!   window, summed over its pools, over the stream's arrivals in the window (the LP shares a
//!   stage's hours among its pools as it staffs them);
//! - per-item pay: items per busy hour of each pool paid per item;
//! - models' cost per task: the run's model cost split over the streams that have a model stage
//!   (or a pre-annotation), by arrivals;
//! - the share of final labels right (mean over replications, with its 95% CI).
//!
//! A part stream (`parts = { stream, count }`) is a stream of its own in the model, with the
//! parent's arrival profile times `count`; its accuracy and turnaround are checked like any
//! stream's. What the LP then decides for a graph stream is its option (one overlap level at the
//! main stage) and how many people each pool has; every stage's pools must have at least that
//! stage's overlap of people. Results are cached with the chain estimates (`estimate::Cache`).

use super::estimate::{Cache, Settings};
use super::model::Model;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tessera_engine::metrics::stats::mean_ci;
use tessera_engine::run::{run_replications, Keep, RouterFactory, Summary};
use tessera_engine::spec::{PaySpec, Scenario, StageKind};
use tessera_engine::time::Dur;

/// Utilisation the estimate's pools are staffed to at most.
const AMPLE: f64 = 0.65;

/// A graph stream in the planning model.
#[derive(Clone, Debug)]
pub struct Graph {
    /// The label stage whose overlap the options set (None: the graph has no label stage, and
    /// every option is the graph as written).
    pub main: Option<String>,
    /// Whether the stream lists its `stages` (else it is a chain, a part stream's, whose main
    /// stage's overlap is the stream's `overlap`).
    pub staged: bool,
    /// The stages people work.
    pub stages: Vec<Stage>,
    /// Per option of the model (`Model::levels`), what simulation measured (None until then).
    pub options: Vec<Option<GraphOption>>,
}

/// A stage people work (label or review).
#[derive(Clone, Debug)]
pub struct Stage {
    pub name: String,
    /// The pools whose members may work it: the LP shares its hours among them.
    pub pools: Vec<usize>,
    /// People it needs at once: its overlap (None for the main stage: the option's level).
    pub need: Option<u32>,
}

/// What one task of a graph stream takes at one option.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GraphOption {
    /// [h] of people's time per task, by stage (`Graph::stages`), all its pools together.
    pub hours: Vec<f64>,
    /// Items paid per item per busy hour, by pool (0 for pools paid by the hour, and for those
    /// the run gave no work).
    pub items_per_hour: Vec<f64>,
    /// [USD] of models per task.
    pub model_usd: f64,
    /// Share of final labels right, mean over replications, and its 95% CI half-width.
    pub accuracy: f64,
    pub ci95: Option<f64>,
    /// Tasks the estimate rests on (arrivals in the windows, all replications).
    pub arrivals: u64,
}

/// One simulated level: options by stream name.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GraphEntry {
    pub level: u32,
    pub streams: BTreeMap<String, GraphOption>,
}

/// The pools that work stage `stage` of stream `i`: the engine's (`run::stage_pools`: its own
/// list, else every pool with its skill, or for a review `quality.review.pool`), less those the
/// stream may not take (language, reservations).
pub fn stage_pools(s: &Scenario, i: usize, stage: &tessera_engine::spec::StageSpec) -> Vec<usize> {
    let skill = stage.skill.as_deref().unwrap_or(&s.streams[i].task_type);
    tessera_engine::run::stage_pools(s, stage, |p| s.pool_has_skill(p, skill)).into_iter().map(usize::from).filter(|&p| s.pool_may_take(p, i)).collect()
}

/// Whether stream `i` is planned as a graph: it has `stages`, or parts, or is a part stream.
pub fn is_graph(s: &Scenario, i: usize) -> bool {
    !s.streams[i].stages.is_empty() || s.streams[i].parts.is_some() || parent(s, i).is_some()
}

/// The stream whose tasks bring stream `i`'s (`parts = { stream, count }`), and how many each;
/// None when `i` is not a part stream.
pub fn parent(s: &Scenario, i: usize) -> Option<(usize, u32)> {
    let name = s.stream_name(i);
    s.streams.iter().enumerate().find_map(|(j, st)| st.parts.as_ref().filter(|p| p.stream == name).map(|p| (j, p.count)))
}

/// The graph of stream `i` (stages, pools, the main stage), options still unmeasured.
pub fn of(s: &Scenario, i: usize, options: usize) -> Graph {
    let stages = tessera_engine::core::workflow::chain_stages(&s.streams[i], &s.quality);
    let main = stages.iter().find(|x| x.kind == StageKind::Label).map(|x| x.name.clone());
    let people = stages
        .iter()
        .filter(|x| matches!(x.kind, StageKind::Label | StageKind::Review))
        .map(|x| {
            let need = if Some(&x.name) == main.as_ref() { None } else { Some(x.overlap.unwrap_or(if x.kind == StageKind::Label { s.overlap_of(i) } else { 1 }).max(1)) };
            Stage { name: x.name.clone(), pools: stage_pools(s, i, x), need }
        })
        .collect();
    Graph { main, staged: !s.streams[i].stages.is_empty(), stages: people, options: vec![None; options] }
}

/// The scenario that measures every graph stream at overlap `level`: main stages at `level`,
/// pools at their scenario's headcount times `scale` (per pool), over `window` (warm-up,
/// horizon) when the scenario has a horizon.
fn at_level(s: &Scenario, m: &Model, level: u32, scale: &[f64], window: Option<(Dur, Dur)>) -> Scenario {
    let mut x = s.clone();
    for (i, st) in x.streams.iter_mut().enumerate() {
        let Some(Some(g)) = m.graph.get(i) else { continue };
        if let Some(main) = &g.main {
            if let Some(stage) = st.stages.iter_mut().find(|y| y.name == *main) {
                stage.overlap = Some(level);
                stage.dynamic_overlap = None;
            } else if st.stages.is_empty() {
                st.overlap = Some(level); // a part stream written as a chain
            }
        }
    }
    for (p, pool) in x.pools.iter_mut().enumerate() {
        let need = (level as i64 + 1).max(2);
        pool.count = ((pool.count.max(1) as f64 * scale[p]).ceil() as i64).max(need).min(20_000);
    }
    if let Some((warmup, horizon)) = window {
        x.run.warmup = warmup;
        x.run.horizon = Some(horizon);
        x.run.tasks = None;
    }
    x
}

/// Per graph stream, the option `runs` measured (see the module doc).
fn measure(s: &Scenario, m: &Model, runs: &[&Summary]) -> BTreeMap<String, GraphOption> {
    let np = s.pools.len();
    let mut out = BTreeMap::new();
    let with_model: Vec<String> = (0..s.streams.len())
        .filter(|&i| s.streams[i].pre_annotation.is_some() || s.streams[i].stages.iter().any(|x| x.kind == StageKind::Model))
        .map(|i| s.stream_name(i))
        .collect();
    // Items paid per item per busy hour, by pool: the run's pay over the pool's busy hours.
    let mut items = vec![(0.0, 0.0); np];
    for r in runs {
        let window_h = (r.window_end_h - r.window_start_h).max(1e-9);
        for (p, pay) in m.pay.iter().enumerate() {
            if let (PaySpec::PerItem(c), Some(pool)) = (pay, r.pools.get(&m.pools[p])) {
                if *c > 0.0 {
                    items[p].0 += pool.cost_usd / c;
                    items[p].1 += pool.utilization.busy * pool.on_shift_mean * window_h;
                }
            }
        }
    }
    let items_per_hour: Vec<f64> = items.iter().map(|&(n, h)| if h > 0.0 { n / h } else { 0.0 }).collect();
    for (i, name) in m.streams.iter().enumerate() {
        let Some(Some(g)) = m.graph.get(i) else { continue };
        let (mut hours, mut model_usd, mut arrivals) = (vec![0.0; g.stages.len()], 0.0, 0u64);
        let mut acc = Vec::new();
        for r in runs {
            let Some(f) = r.streams.get(name) else { continue };
            let window_h = (r.window_end_h - r.window_start_h).max(1e-9);
            arrivals += f.arrivals;
            if f.completions > 0 {
                acc.push(f.accuracy);
            }
            for (k, stage) in g.stages.iter().enumerate() {
                let Some(fig) = r.stages.values().find(|x| x.stream == *name && x.stage == stage.name) else { continue };
                for (pool, share) in &fig.utilization_by_pool {
                    if let Some(on) = r.pools.get(pool).map(|f| f.on_shift_mean * window_h) {
                        hours[k] += share * on;
                    }
                }
            }
            if with_model.contains(name) {
                let all: u64 = with_model.iter().filter_map(|n| r.streams.get(n)).map(|x| x.arrivals).sum();
                if all > 0 {
                    model_usd += r.cost.model_usd * f.arrivals as f64 / all as f64;
                }
            }
        }
        if arrivals == 0 {
            continue;
        }
        let per = |v: Vec<f64>| v.into_iter().map(|x| x / arrivals as f64).collect::<Vec<f64>>();
        let (accuracy, ci95) = match acc.len() {
            0 => (0.0, None),
            1 => (acc[0], None),
            _ => {
                let (mean, half) = mean_ci(&acc, 0.95);
                (mean, half.is_finite().then_some(half))
            }
        };
        out.insert(name.clone(), GraphOption { hours: per(hours), items_per_hour: items_per_hour.clone(), model_usd: model_usd / arrivals as f64, accuracy, ci95, arrivals });
    }
    out
}

/// Measures every graph stream's options by simulation (cached in `cache.graphs`), over the
/// steady-state `window` the plan is checked on; returns the entries used, how many runs were
/// simulated and how many entries came from the cache. Nothing is done when the model has no graph stream.
pub fn apply(s: &Scenario, m: &mut Model, set: &Settings, window: Option<(Dur, Dur)>, cache: &mut Cache, make_router: RouterFactory, progress: &mut dyn FnMut(&str)) -> Result<(Vec<GraphEntry>, usize, usize), String> {
    if !m.graph.iter().any(Option::is_some) {
        return Ok((Vec::new(), 0, 0));
    }
    let mut levels: Vec<u32> = Vec::new();
    for &l in &m.levels {
        if !levels.contains(&l) {
            levels.push(l);
        }
    }
    let (mut entries, mut simulated, mut from_cache) = (Vec::new(), 0, 0);
    for (n, &level) in levels.iter().enumerate() {
        // Staffed so that no pool is busier than AMPLE: from three times the scenario's
        // headcount, pools found busier are raised in proportion and the level run again.
        let mut scale = vec![3.0; s.pools.len()];
        let (mut found, mut ids) = (None, Vec::new());
        for attempt in 0..4 {
            let x = at_level(s, m, level, &scale, window);
            let id = super::estimate::key(&x, set)?;
            if let Some(e) = cache.graphs.get(&id) {
                from_cache += 1;
                found = Some(e.clone());
                break;
            }
            ids.push(id.clone());
            progress(&format!("estimating the workflow graph by simulation: overlap {level} at its main label stage ({}/{}{})", n + 1, levels.len(), if attempt > 0 { ", more people" } else { "" }));
            let runs = run_replications(&x, make_router, set.seed, set.replications, Keep::default(), &|_, _| {})?;
            simulated += 1;
            let sums: Vec<&Summary> = runs.iter().map(|r| &r.summary).collect();
            let busiest: Vec<f64> = m.pools.iter().map(|p| sums.iter().filter_map(|r| r.pools.get(p)).map(|f| f.utilization.busy).fold(0.0, f64::max)).collect();
            let over: Vec<usize> = (0..s.pools.len()).filter(|&p| busiest[p] > AMPLE + 0.05).collect();
            if over.is_empty() || attempt == 3 {
                let e = GraphEntry { level, streams: measure(s, m, &sums) };
                // Every staffing tried leads here: planning again starts from the first.
                for id in ids.drain(..) {
                    cache.graphs.insert(id, e.clone());
                }
                found = Some(e);
                break;
            }
            for p in over {
                scale[p] *= busiest[p] / (AMPLE - 0.1);
            }
        }
        let e = found.expect("the loop ends with an entry");
        for k in (0..m.levels.len()).filter(|&k| m.levels[k] == level) {
            for (i, name) in m.streams.iter().enumerate() {
                if let Some(Some(g)) = m.graph.get_mut(i) {
                    // Nothing arrived (or nothing of it measured): the option is out of reach.
                    let none = GraphOption { hours: vec![0.0; g.stages.len()], items_per_hour: vec![0.0; s.pools.len()], model_usd: 0.0, accuracy: 0.0, ci95: None, arrivals: 0 };
                    g.options[k] = Some(e.streams.get(name).cloned().unwrap_or(none));
                }
            }
        }
        entries.push(e);
    }
    Ok((entries, simulated, from_cache))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{milp, Targets};

    /// A graph of a label stage worked by a day and a night pool and a review by QA; the
    /// measured options are written by hand here (the simulation's part is tested end to end in
    /// tests/plan_cli.rs).
    fn model() -> Model {
        let s: Scenario = serde_json::from_str(
            r#"{"run": {"horizon": "7d"},
                "streams": [{"name": "a", "task_type": "t", "classes": 2, "arrivals": {"poisson": {"per_hour": 10}},
                  "stages": [{"name": "lab", "kind": "label", "pools": ["day", "night"], "next": [{"to": "rev"}]},
                             {"name": "rev", "kind": "review", "pools": ["qa"], "overlap": 2}]}],
                "pools": [{"name": "day", "count": 10, "pay": {"per_hour": 10.0}},
                          {"name": "night", "count": 10, "pay": {"per_hour": 20.0}},
                          {"name": "qa", "count": 3, "pay": {"per_hour": 30.0}}]}"#,
        )
        .unwrap();
        let mut m = Model::of(&s, &[1, 2], Dur(24 * 3_600_000_000)).unwrap();
        let g = m.graph[0].as_mut().unwrap();
        assert_eq!((g.main.as_deref(), g.stages.len()), (Some("lab"), 2));
        assert_eq!((g.stages[0].pools.clone(), g.stages[0].need, g.stages[1].pools.clone(), g.stages[1].need), (vec![0, 1], None, vec![2], Some(2)));
        let option = |lab: f64, accuracy: f64| Some(GraphOption { hours: vec![lab, 0.2], items_per_hour: vec![0.0; 3], model_usd: 0.01, accuracy, ci95: None, arrivals: 1000 });
        g.options = vec![option(0.5, 0.8), option(1.0, 0.95)];
        m
    }

    fn targets(accuracy: f64) -> Targets {
        Targets {
            accuracy,
            within: Dur(24 * 3_600_000_000),
            completion_share: 0.95,
            budget_week: None,
            min_wage: None,
            max_scale: 1.0,
            utilization: 0.8,
            levels: vec![1, 2],
            thresholds: vec![],
            review_rates: vec![],
            rounds: 1,
            replications: 2,
            seed: 1,
            estimate: Settings { horizon: Dur(3_600_000_000), replications: 1, seed: 1 },
            solver: crate::schedule::Solver::Microlp,
        }
    }

    #[test]
    fn the_lp_picks_the_option_and_shares_a_stage_among_its_pools() {
        let m = model();
        // 0.9 needs the second option: 10 tasks/h × 1 h of labelling = 10 h/h. The day pool
        // (cheaper) carries 0.8 × 10 = 8 at its ceiling, the night pool the other 2 (3 people at
        // 0.8 each, at least 1); QA 10 × 0.2 = 2 h/h, and the review needs 2 people at once: 3.
        let s = milp::solve(&m, &targets(0.9).ask(&m, None)).unwrap();
        assert_eq!(s.overlap, vec![2]);
        assert_eq!(s.headcount, vec![10, 3, 3]);
        assert!((s.accuracy[0] - 0.95).abs() < 1e-9 && (s.throughput[0] - 10.0).abs() < 1e-9, "{s:?}");
        let week = 168.0 * (10.0 * 10.0 + 3.0 * 20.0 + 3.0 * 30.0 + 10.0 * 0.01);
        assert!((s.cost_week - week).abs() < 1e-6, "{} vs {week}", s.cost_week);
        assert!(s.flow[0].iter().all(|&f| (f - 10.0).abs() < 1e-9), "every pool does some of the stream: {:?}", s.flow);
        // 0.8 takes the first: half the labelling hours, 5 h/h. The night pool's floor of one
        // person is paid anyway, so it carries some (at most 0.8), and the day pool the rest:
        // 6 people, not the 7 it would need alone.
        let s = milp::solve(&m, &targets(0.8).ask(&m, None)).unwrap();
        assert_eq!((s.overlap.clone(), s.headcount.clone()), (vec![1], vec![6, 1, 3]));
        assert!(s.flow[0][1] > 0.0, "{:?}", s.flow);
        // Out of reach: named with the gap.
        let s = milp::solve(&m, &targets(0.97).ask(&m, None)).unwrap();
        assert!((s.accuracy_short[0] - 0.02).abs() < 1e-6, "{:?}", s.accuracy_short);
    }
}
