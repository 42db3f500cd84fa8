//! The figures of one run (summary.json's `runs[]` entries, schema `tessera.summary/2`,
//! documented field by field in README.md).
//!
//! Censoring: a run ends with tasks still open. They count, not vanish: a task never started
//! has waited (at least) until the end, a task not finished has spent (at least) its age in the
//! system, and a target a task has already overrun is a miss. A target whose outcome is not
//! known yet (an open task younger than the target) is left out of that share.

use super::Dispatcher;
use crate::metrics::capacity::{fluid_capacity, Load, StageLoad};
use crate::metrics::{Quantiles, StreamTally};
use crate::spec::Scenario;
use crate::time::SimTime;
use serde::Serialize;
use std::collections::BTreeMap;

/// Mean and percentiles of a distribution [s] (percentiles from a sketch within 0.5%).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Spread {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

impl Spread {
    pub fn of(q: &Quantiles) -> Spread {
        Spread { mean: q.mean(), p50: q.quantile(0.5), p90: q.quantile(0.9), p99: q.quantile(0.99) }
    }
}

/// Money [USD].
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Cost {
    pub total_usd: f64,
    /// Total cost / final labels produced in the window.
    pub per_final_label_usd: f64,
    pub model_usd: f64,
    /// Pay for time spent on items (hourly pay for busy time, per-item pay) and models.
    pub productive_usd: f64,
    /// Hourly pay for on-shift time with no item in hand.
    pub idle_paid_usd: f64,
    /// Cost per final label split by what the money bought: labelling (with models), golden
    /// tasks, review (each the pay for time on such items), and idle paid time. They add up to
    /// `per_final_label_usd`.
    pub per_final_label_labeling_usd: f64,
    pub per_final_label_gold_usd: f64,
    pub per_final_label_review_usd: f64,
    pub per_final_label_idle_usd: f64,
}

/// Figures of one pool.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PoolFigures {
    /// Annotators on shift, time-average over the window.
    pub on_shift_mean: f64,
    /// Share of on-shift time with an item in hand; split into items answered (working) and
    /// items walked away from (their lease expired unanswered).
    pub utilization: Utilization,
    /// Share of the pool's capacity that the fluid bound says the served load needs at least
    /// (1 = saturated).
    pub fluid_load: f64,
    pub cost_usd: f64,
    /// [USD/h] mean over the pool's annotators of earnings / busy hours.
    pub effective_hourly_wage_usd: f64,
}

/// Figures of one workflow stage of one stream (or a stream's "waiting for parts").
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StageFigures {
    pub stream: String,
    pub stage: String,
    /// "label", "review", "model" or "parts" (waiting for parts).
    pub kind: String,
    /// Position in the run's stage table (streams in order, each stream's stages in order).
    pub order: u64,
    /// Tasks that entered it in the window; of them, those that left it and those still in it
    /// at the end.
    pub entered: u64,
    pub left: u64,
    pub still_in: u64,
    /// [tasks/h] entries / window length.
    pub entry_rate_per_hour: f64,
    /// [s] time in the stage of the tasks that left it.
    pub time_in_stage_s: Spread,
    /// [s] mean time in the stage over every entry, tasks still in it counted up to the end
    /// (Little's W).
    pub time_in_stage_mean_s: f64,
    /// Time-average number of tasks in the stage (Little's L = entry rate × W).
    pub tasks_in_stage_mean: f64,
    /// Share of each pool's on-shift time spent holding this stage's work (pools that may work it).
    pub utilization_by_pool: BTreeMap<String, f64>,
}

/// Busy time / on-shift time.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Utilization {
    pub busy: f64,
    pub working: f64,
    pub walked_away: f64,
}

/// Figures of one stream (counted tasks).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StreamFigures {
    pub arrivals: u64,
    pub completions: u64,
    pub unfinished: u64,
    /// Left unserved (queue patience, `streams.patience`), and their share of the arrivals.
    pub left_unserved: u64,
    pub p_left_unserved: f64,
    /// [tasks/h] over the window: arrivals, and completions of those arrivals.
    pub arrival_rate_per_hour: f64,
    pub throughput_per_hour: f64,
    /// [tasks/h] final labels given inside the window, whatever the task's arrival time (the
    /// departure rate: in a steady state it equals the arrival rate, where `throughput_per_hour`
    /// falls short by the window's tasks still in flight at its end).
    pub final_rate_per_hour: f64,
    /// [s] the stream's turnaround target, and the share of its tasks (of known outcome)
    /// finished within it.
    pub turnaround_target_s: f64,
    pub completion_within_target: f64,
    /// Share of its tasks (of known outcome) that started within the waiting target.
    pub start_within_target: f64,
    /// [s] arrival → first start, open tasks censored at the end.
    pub wait_to_start_mean_s: f64,
    /// [s] arrival → final label of completed tasks.
    pub time_in_system_s: Spread,
    pub tasks_in_system_mean: f64,
    pub accuracy: f64,
    /// Labels behind each final label of a completed task, on average.
    pub mean_overlap: f64,
    pub deadline_misses: u64,
    pub deadline_miss_rate: f64,
    /// Share of the offered load the workforce can serve at all (fluid bound, max-min fair
    /// across streams); below 1 the stream is overloaded.
    pub servable_share: f64,
    /// [tasks/h] the most it could be served with every pool that may take it to itself.
    pub capacity_alone_per_hour: f64,
}

/// The figures of one replication, over the statistics window [warm-up, end].
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    pub scenario: String,
    pub policy: String,
    pub seed: u64,
    /// [h] statistics window.
    pub window_start_h: f64,
    pub window_end_h: f64,
    /// Tasks that arrived in the window.
    pub arrivals: u64,
    /// Of those, tasks with a final label by the end.
    pub completions: u64,
    /// Of those, tasks still open at the end, and of them those never started.
    pub unfinished: u64,
    pub never_started: u64,
    /// Of those, tasks that left unserved: their queue patience (`streams.patience`) ran out
    /// before any work started; and their share of the arrivals (Erlang A's P(abandon)).
    /// arrivals = completions + unfinished + left_unserved.
    pub left_unserved: u64,
    pub p_left_unserved: f64,
    /// [tasks/h] arrivals in the window / window length.
    pub arrival_rate_per_hour: f64,
    /// [tasks/h] completions / window length.
    pub throughput_per_hour: f64,
    /// [s] arrival → final label, over completed tasks only.
    pub time_in_system_s: Spread,
    /// [s] the same over every arrival, open tasks at their age at the end (lower bounds).
    pub time_in_system_censored_s: Spread,
    /// [s] `run.turnaround`; streams may have their own (see `streams`).
    pub turnaround_target_s: f64,
    /// Share of arrivals (of known outcome) finished within their stream's turnaround target.
    pub completion_within_target: f64,
    /// [s] arrival → first start of service over every arrival; tasks never started count
    /// their wait until the end (lower bounds).
    pub wait_to_start_s: Spread,
    /// Share of arrivals that waited at all (never started = waited).
    pub p_wait_to_start: f64,
    /// [s] `run.service_level`: the waiting target.
    pub start_target_s: f64,
    /// Share of arrivals (of known outcome) that started within the waiting target.
    pub start_within_target: f64,
    /// Time-average number of tasks waiting for an annotator.
    pub queue_length_mean: f64,
    /// Time-average number of tasks not yet final (Little's L).
    pub tasks_in_system_mean: f64,
    /// Share of completed tasks whose final label is the hidden truth.
    pub accuracy: f64,
    /// The same, by task type.
    pub accuracy_by_type: BTreeMap<String, f64>,
    /// Accuracy of the end-of-run batch re-aggregation (`quality.batch_aggregation`), if any.
    pub batch_accuracy: Option<f64>,
    /// Labels behind each final label of a completed task, on average.
    pub mean_overlap: f64,
    /// Inside the window: golden answers, expert reviews, reworks sent back, bans, final labels
    /// re-opened by a ban.
    pub gold_answers: u64,
    pub reviews: u64,
    pub reworks: u64,
    pub bans: u64,
    pub reopened: u64,
    pub cost: Cost,
    /// Arrivals final after their deadline, or open past it at the end; / arrivals.
    pub deadline_misses: u64,
    pub deadline_miss_rate: f64,
    /// Times an annotator walked away from an item (its lease expired unanswered). Not lost
    /// tasks: the item goes back to the queue.
    pub walkaways: u64,
    /// Labels submitted in the window.
    pub labels: u64,
    /// Kernel events delivered in this replication.
    pub events: u64,
    /// Share of the offered load of every stream that the workforce can serve at once (the
    /// smallest `streams.*.servable_share`); below 1 the scenario is overloaded.
    pub servable_share: f64,
    pub streams: BTreeMap<String, StreamFigures>,
    pub pools: BTreeMap<String, PoolFigures>,
    /// By "stream/stage" (`order` gives the workflow order).
    pub stages: BTreeMap<String, StageFigures>,
    /// Annotators found biased (class, position) and, when the scenario planted bias, how well
    /// (`run::bias`; per annotator in bias.csv).
    pub bias: super::bias::BiasFigures,
    /// Per ML model: calibration of its confidence and its retrains (`metrics::models`); absent
    /// when the scenario has no model.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, crate::metrics::models::ModelFigures>,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

/// Hours of pool `p`'s on-shift time that one counted label of stream `i` takes, as declared:
/// the mean service time with the pool's speed spread, a right pre-label's speed-up, and the
/// golden items mixed in; None when the pool may not take the stream. With a workflow graph, the
/// label is one of the first label stage that every task surely reaches ([`sure_label_stage`]:
/// its skill and its pools) and the pre-label is its first model stage's; a stream with no such
/// stage has no sure labels (None).
pub fn label_hours(s: &Scenario, i: usize, p: usize) -> Option<f64> {
    label_hours_in(s, i, p, &crate::core::workflow::chain_stages(&s.streams[i], &s.quality))
}

/// [`label_hours`] with stream `i`'s workflow stages already at hand.
fn label_hours_in(s: &Scenario, i: usize, p: usize, stages: &[crate::spec::StageSpec]) -> Option<f64> {
    stage_label_hours(s, i, p, sure_label_stage(stages)?, stages)
}

/// Hours of a pool-`p` annotator per label of label stage `first` of stream `i` (whose stages
/// are `stages`), as [`label_hours`] says; None when `p` may not work it.
fn stage_label_hours(s: &Scenario, i: usize, p: usize, first: &crate::spec::StageSpec, stages: &[crate::spec::StageSpec]) -> Option<f64> {
    let st = &s.streams[i];
    let pool = &s.pools[p];
    let gold = s.quality.gold.as_ref().map_or(0.0, |g| g.rate.clamp(0.0, 0.99));
    let skill = first.skill.as_deref().unwrap_or(&st.task_type);
    if !first.pools.is_empty() && !first.pools.contains(&s.pool_name(p)) {
        return None;
    }
    let model_name = stages.iter().find(|x| x.kind == crate::spec::StageKind::Model).and_then(|x| x.model.as_ref());
    let model = model_name.and_then(|m| s.models.iter().find(|x| x.name == *m));
    let service = if pool.service.is_empty() { Some(Default::default()) } else { pool.service.get(skill).cloned() }?;
    // A pre-label changes the time (accept a right one, fix a wrong one).
    let pre = model.map_or(1.0, |m| m.work_share(service.mean_secs()));
    let allowed = s.pool_may_take(p, i);
    let speed = (pool.speed_sigma * pool.speed_sigma / 2.0).exp();
    let hard = 1.0 + st.difficulty_slowdown * st.difficulty.mean();
    allowed.then(|| service.mean_secs() * speed * pre * hard / (1.0 - gold) / 3600.0)
}

/// The first label stage that every task of a workflow reaches: walking from the entry while the
/// first edge out of each stage is unconditional. None when a condition (a model's confidence,
/// a sample, a disagreement...) decides before any label stage.
pub fn sure_label_stage(stages: &[crate::spec::StageSpec]) -> Option<&crate::spec::StageSpec> {
    let mut at = stages.first()?;
    for _ in 0..stages.len() {
        if at.kind == crate::spec::StageKind::Label {
            return Some(at);
        }
        let e = at.next.first().filter(|e| e.when == crate::spec::Condition::Always)?;
        at = stages.iter().find(|x| x.name == e.to)?;
    }
    None
}

/// Hours of a pool-`p` annotator per verdict of review stage `stage` of stream `i`: its pool's
/// time for the stage's skill when it names one, else `quality.review.service`'s (as the
/// simulation times a review); None when `p` may not work it.
fn stage_review_hours(s: &Scenario, i: usize, p: usize, stage: &crate::spec::StageSpec) -> Option<f64> {
    let pool = &s.pools[p];
    let mean = match &stage.skill {
        Some(skill) => (if pool.service.is_empty() { Some(Default::default()) } else { pool.service.get(skill).cloned() })?.mean_secs() * (pool.speed_sigma * pool.speed_sigma / 2.0).exp(),
        None => s.quality.review.as_ref().map_or_else(crate::spec::default_review_service, |r| r.service.clone()).mean_secs(),
    };
    s.pool_may_take(p, i).then_some(mean / 3600.0)
}

/// The fluid bound's inputs: measured arrival rates and on-shift time, declared service times.
/// A stream's work is the labels of the label stage every task surely reaches, plus its other
/// people stages (reached when a condition holds: a model's confidence, a disagreement, a
/// sampled or low-confidence review, a verdict) at the entries the run measured in the window
/// (`entered`: (stream, stage, entries)) times the people each entry needs: without them an
/// overload of a gated stage would go unsaid. A chain and the same chain written as stages have
/// the same stages, so the same bound.
fn load(s: &Scenario, arrivals: &[u64], on_shift: &[f64], window_h: f64, entered: &[(usize, &str, u64)]) -> Load {
    let stages = super::stages_of(s);
    let mut staged = Vec::new();
    for i in 0..s.streams.len() {
        if arrivals[i] == 0 {
            continue;
        }
        let sure = sure_label_stage(&stages[i]).map(|x| x.name.clone());
        for x in stages[i].iter().filter(|x| Some(&x.name) != sure.as_ref()) {
            let (people, hours): (u32, Vec<Option<f64>>) = match x.kind {
                crate::spec::StageKind::Label => (x.overlap.unwrap_or_else(|| s.overlap_of(i)), (0..s.pools.len()).map(|p| stage_label_hours(s, i, p, x, &stages[i])).collect()),
                crate::spec::StageKind::Review => {
                    let pools = crate::core::setup::stage_pools(s, x, |p| x.skill.as_ref().is_none_or(|k| s.pool_has_skill(p, k)));
                    (x.overlap.unwrap_or(1), (0..s.pools.len()).map(|p| if pools.contains(&(p as u16)) { stage_review_hours(s, i, p, x) } else { None }).collect())
                }
                _ => continue,
            };
            let n = entered.iter().find(|(j, name, _)| *j == i && *name == x.name).map_or(0, |e| e.2);
            if n > 0 {
                staged.push(StageLoad { stream: i, per_task: n as f64 / arrivals[i] as f64 * people.max(1) as f64, hours });
            }
        }
    }
    // Labels per task at the sure label stage (its own overlap, else the stream's).
    let overlap = |i: usize| sure_label_stage(&stages[i]).and_then(|x| x.overlap).unwrap_or_else(|| s.overlap_of(i)) as f64;
    let work: Vec<Vec<Option<f64>>> = (0..s.streams.len()).map(|i| (0..s.pools.len()).map(|p| label_hours_in(s, i, p, &stages[i]).map(|h| overlap(i) * h)).collect()).collect();
    let modelled = |i: usize| sure_label_stage(&stages[i]).is_some() || staged.iter().any(|x: &StageLoad| x.stream == i);
    let rates = arrivals.iter().enumerate().map(|(i, &a)| if modelled(i) { ratio(a as f64, window_h) } else { 0.0 }).map(|r| if r.is_finite() { r } else { 0.0 }).collect();
    // Reviews are stage loads: at their measured entries (a chain's sample and its low-confidence
    // reviews alike).
    Load { rates, pools: on_shift.iter().map(|h| ratio(*h, window_h).max(0.0)).collect(), work, review: vec![None; s.streams.len()], stages: staged }
}

fn stream_figures(t: &StreamTally, window_h: f64, target: u64, in_system: f64, servable: f64, alone: f64) -> StreamFigures {
    StreamFigures {
        arrivals: t.arrivals,
        completions: t.completions,
        unfinished: t.unfinished,
        left_unserved: t.left_unserved,
        p_left_unserved: ratio(t.left_unserved as f64, t.arrivals as f64),
        arrival_rate_per_hour: ratio(t.arrivals as f64, window_h),
        throughput_per_hour: ratio(t.completions as f64, window_h),
        final_rate_per_hour: ratio(t.finals_in_window as f64, window_h),
        turnaround_target_s: target as f64 / 1e6,
        completion_within_target: ratio(t.turnaround_met as f64, t.turnaround_known as f64),
        start_within_target: ratio(t.start_met as f64, t.start_known as f64),
        wait_to_start_mean_s: ratio(t.wait_sum_s, t.arrivals as f64),
        time_in_system_s: Spread::of(&t.tis),
        tasks_in_system_mean: in_system,
        accuracy: ratio(t.correct as f64, t.completions as f64),
        mean_overlap: ratio(t.labels_used as f64, t.completions as f64),
        deadline_misses: t.deadline_misses,
        deadline_miss_rate: ratio(t.deadline_misses as f64, t.arrivals as f64),
        servable_share: servable,
        capacity_alone_per_hour: alone,
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn summarize(s: &Scenario, types: &[String], pool_names: &[String], pool_of: &[u16], stage_rows: &[super::StageRow], d: &Dispatcher, seed: u64, end: SimTime, events: u64) -> Summary {
    let b = &d.books;
    let m = &b.monitor;
    let window_h = end.since(m.window_start).hours();
    let on_h: Vec<f64> = m.on_shift_us.iter().map(|&u| u as f64 / 3.6e9).collect();
    let busy_h: Vec<f64> = m.busy_us.iter().map(|&u| u as f64 / 3.6e9).collect();
    let acc = b.ledger.accounts(&on_h, &m.busy_by_kind, pool_names.len());
    let on_by_pool: Vec<f64> = (0..pool_names.len()).map(|p| (0..pool_of.len()).filter(|&a| pool_of[a] as usize == p).map(|a| on_h[a]).sum()).collect();
    let stream_arrivals: Vec<u64> = m.by_stream.iter().map(|t| t.arrivals).collect();
    let entered: Vec<(usize, &str, u64)> = stage_rows.iter().zip(&b.stages.rows).map(|(row, t)| (row.stream as usize, row.name.as_str(), t.entered)).collect();
    let cap = fluid_capacity(&load(s, &stream_arrivals, &on_by_pool, window_h, &entered));
    let mut pools = BTreeMap::new();
    for (p, name) in pool_names.iter().enumerate() {
        let members: Vec<usize> = (0..pool_of.len()).filter(|&a| pool_of[a] as usize == p).collect();
        let sum = |v: &[u64]| members.iter().map(|&a| v[a] as f64).sum::<f64>();
        let on_us = sum(&m.on_shift_us);
        let (busy, away) = (sum(&m.busy_us), sum(&m.walkaway_us));
        let wages: Vec<f64> = members.iter().filter(|&&a| busy_h[a] > 0.0).map(|&a| acc.earned[a] / busy_h[a]).collect();
        pools.insert(
            name.clone(),
            PoolFigures {
                on_shift_mean: ratio(on_by_pool[p], window_h),
                utilization: Utilization { busy: ratio(busy, on_us), working: ratio(busy - away, on_us), walked_away: ratio(away, on_us) },
                fluid_load: cap.pool_load[p],
                cost_usd: acc.by_pool[p],
                effective_hourly_wage_usd: crate::metrics::stats::mean(&wages),
            },
        );
    }
    let streams = b
        .streams
        .iter()
        .enumerate()
        .map(|(i, info)| {
            let f = stream_figures(&m.by_stream[i], window_h, b.turnaround[i], m.in_system_by_stream[i].mean(end), cap.served[i], cap.alone_per_hour[i]);
            (info.name.clone(), f)
        })
        .collect();
    let stages = stage_rows
        .iter()
        .zip(&b.stages.rows)
        .enumerate()
        .map(|(k, (row, t))| {
            let stream = b.streams[row.stream as usize].name.clone();
            let f = StageFigures {
                stream: stream.clone(),
                stage: row.name.clone(),
                kind: row.kind.into(),
                order: k as u64,
                entered: t.entered,
                left: t.left,
                still_in: t.still_in,
                entry_rate_per_hour: ratio(t.entered as f64, window_h),
                time_in_stage_s: Spread::of(&t.time),
                time_in_stage_mean_s: ratio(t.time_sum_s, t.entered as f64),
                tasks_in_stage_mean: t.in_stage.mean(end),
                utilization_by_pool: row.pools.iter().map(|&p| (pool_names[p as usize].clone(), ratio(t.busy_us[p as usize] as f64 / 3.6e9, on_by_pool[p as usize]))).collect(),
            };
            (format!("{stream}/{}", row.name), f)
        })
        .collect();
    let sum_streams = |f: fn(&StreamTally) -> u64| m.by_stream.iter().map(f).sum::<u64>() as f64;
    let [tis, censored] = m.time_in_system_sketches();
    let finals = m.finals_in_window as f64;
    Summary {
        scenario: s.name.clone().unwrap_or_default(),
        policy: d.router_name().to_string(),
        seed,
        window_start_h: m.window_start.0 as f64 / 3.6e9,
        window_end_h: end.0 as f64 / 3.6e9,
        arrivals: m.arrivals,
        completions: m.completions,
        unfinished: sum_streams(|t| t.unfinished) as u64,
        never_started: m.arrivals.saturating_sub(m.started + sum_streams(|t| t.left_unserved) as u64),
        left_unserved: sum_streams(|t| t.left_unserved) as u64,
        p_left_unserved: ratio(sum_streams(|t| t.left_unserved), m.arrivals as f64),
        arrival_rate_per_hour: ratio(m.arrivals as f64, window_h),
        throughput_per_hour: ratio(m.completions as f64, window_h),
        time_in_system_s: Spread::of(&tis),
        time_in_system_censored_s: Spread::of(&censored),
        turnaround_target_s: s.run.turnaround.secs(),
        completion_within_target: ratio(sum_streams(|t| t.turnaround_met), sum_streams(|t| t.turnaround_known)),
        wait_to_start_s: Spread::of(&m.wait),
        p_wait_to_start: ratio(m.waited as f64, m.arrivals as f64),
        start_target_s: m.service_level.secs(),
        start_within_target: ratio(sum_streams(|t| t.start_met), sum_streams(|t| t.start_known)),
        queue_length_mean: m.queue.mean(end),
        tasks_in_system_mean: m.in_system.mean(end),
        accuracy: ratio(m.correct as f64, m.completions as f64),
        accuracy_by_type: types.iter().zip(&m.by_type).map(|(t, &(right, n))| (t.clone(), ratio(right as f64, n as f64))).collect(),
        batch_accuracy: b.batch_accuracy(),
        mean_overlap: ratio(m.final_labels_used as f64, m.completions as f64),
        gold_answers: m.gold_answers,
        reviews: m.reviews,
        reworks: m.reworks,
        bans: m.bans,
        reopened: m.reopened,
        cost: Cost {
            total_usd: acc.total,
            per_final_label_usd: ratio(acc.total, finals),
            model_usd: acc.model_usd,
            productive_usd: acc.total - acc.idle,
            idle_paid_usd: acc.idle,
            per_final_label_labeling_usd: ratio(acc.by_kind[0] + acc.model_usd, finals),
            per_final_label_gold_usd: ratio(acc.by_kind[1], finals),
            per_final_label_review_usd: ratio(acc.by_kind[2], finals),
            per_final_label_idle_usd: ratio(acc.idle, finals),
        },
        deadline_misses: m.deadline_misses,
        deadline_miss_rate: ratio(m.deadline_misses as f64, m.arrivals as f64),
        walkaways: m.walkaways,
        labels: m.labels,
        events,
        servable_share: cap.served.iter().copied().fold(1.0, f64::min),
        streams,
        pools,
        stages,
        bias: Default::default(),
        models: s.models.iter().zip(&b.models).map(|(m, book)| (m.name.clone(), book.figures())).collect(),
    }
}
