//! The figures of one run (summary.json's `runs[]` entries; schema in the README).

use super::Dispatcher;
use crate::metrics::stats::{mean, percentile_sorted};
use crate::spec::Scenario;
use crate::time::SimTime;
use serde::Serialize;
use std::collections::BTreeMap;

/// Mean and percentiles of a distribution [s].
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Spread {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

/// Money [USD].
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Cost {
    pub total_usd: f64,
    /// Total cost / final labels produced in the window.
    pub per_final_label_usd: f64,
    pub by_pool_usd: BTreeMap<String, f64>,
    pub model_usd: f64,
    /// Cost per final label split by what the money bought: labelling, golden tasks, review
    /// (hourly pay split by busy time; model cost is in labelling).
    pub per_final_label_labeling_usd: f64,
    pub per_final_label_gold_usd: f64,
    pub per_final_label_review_usd: f64,
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
    /// Of those, tasks still open at the end.
    pub unfinished: u64,
    /// [tasks/h] arrivals in the window / window length.
    pub arrival_rate_per_hour: f64,
    /// [tasks/h] completions / window length.
    pub throughput_per_hour: f64,
    /// [s] arrival → final label, over completed tasks.
    pub time_in_system_s: Spread,
    /// [s] arrival → first service, over tasks that started.
    pub waiting_time_mean_s: f64,
    /// Share of started tasks that waited at all.
    pub p_wait: f64,
    /// [s] the scenario's service-level threshold.
    pub service_level_threshold_s: f64,
    /// Share of started tasks that waited less than the threshold.
    pub service_level: f64,
    /// Time-average number of tasks waiting for an annotator.
    pub queue_length_mean: f64,
    /// Time-average number of tasks not yet final (Little's L).
    pub tasks_in_system_mean: f64,
    /// Time-average number of tasks not yet final, by stream.
    pub tasks_in_system_by_stream: BTreeMap<String, f64>,
    /// Busy time / on-shift time, by pool.
    pub utilization: BTreeMap<String, f64>,
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
    /// [USD/h] mean over the pool's annotators of earnings / busy hours.
    pub effective_hourly_wage_usd: BTreeMap<String, f64>,
    /// Counted tasks final after their deadline, or open past it at the end.
    pub deadline_misses: u64,
    pub deadline_miss_rate: f64,
    pub abandonments: u64,
    /// Labels submitted in the window.
    pub labels: u64,
    /// Kernel events delivered in the whole run.
    pub events: u64,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

pub(super) fn summarize(s: &Scenario, types: &[String], pool_names: &[String], pool_of: &[u16], d: &Dispatcher, seed: u64, end: SimTime, events: u64) -> Summary {
    let b = &d.books;
    let m = &b.monitor;
    let window_h = end.since(m.window_start).hours();
    let mut tis = m.tis_s.clone();
    tis.sort_by(f64::total_cmp);
    let on_h: Vec<f64> = m.on_shift_us.iter().map(|&u| u as f64 / 3.6e9).collect();
    let busy_h: Vec<f64> = m.busy_us.iter().map(|&u| u as f64 / 3.6e9).collect();
    let acc = b.ledger.accounts(&on_h, &m.busy_by_kind, pool_names.len());
    let mut utilization = BTreeMap::new();
    let mut by_pool = BTreeMap::new();
    let mut wage = BTreeMap::new();
    for (p, name) in pool_names.iter().enumerate() {
        let members: Vec<usize> = (0..pool_of.len()).filter(|&a| pool_of[a] as usize == p).collect();
        let busy: f64 = members.iter().map(|&a| busy_h[a]).sum();
        let on: f64 = members.iter().map(|&a| on_h[a]).sum();
        utilization.insert(name.clone(), ratio(busy, on));
        by_pool.insert(name.clone(), acc.by_pool[p]);
        let wages: Vec<f64> = members.iter().filter(|&&a| busy_h[a] > 0.0).map(|&a| acc.earned[a] / busy_h[a]).collect();
        wage.insert(name.clone(), mean(&wages));
    }
    let unfinished = b.unfinished_counted();
    Summary {
        scenario: s.name.clone().unwrap_or_default(),
        policy: d.router_name().to_string(),
        seed,
        window_start_h: m.window_start.0 as f64 / 3.6e9,
        window_end_h: end.0 as f64 / 3.6e9,
        arrivals: m.arrivals,
        completions: m.completions,
        unfinished,
        arrival_rate_per_hour: ratio(m.arrivals as f64, window_h),
        throughput_per_hour: ratio(m.completions as f64, window_h),
        time_in_system_s: Spread { mean: mean(&tis), p50: percentile_sorted(&tis, 0.5), p90: percentile_sorted(&tis, 0.9), p99: percentile_sorted(&tis, 0.99) },
        waiting_time_mean_s: ratio(m.wait_sum_s, m.started as f64),
        p_wait: ratio(m.waited as f64, m.started as f64),
        service_level_threshold_s: m.service_level.secs(),
        service_level: ratio(m.within_sl as f64, m.started as f64),
        queue_length_mean: m.queue.mean(end),
        tasks_in_system_mean: m.in_system.mean(end),
        tasks_in_system_by_stream: b.streams.iter().zip(&m.in_system_by_stream).map(|(info, avg)| (info.name.clone(), avg.mean(end))).collect(),
        utilization,
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
            per_final_label_usd: ratio(acc.total, m.finals_in_window as f64),
            by_pool_usd: by_pool,
            model_usd: acc.model_usd,
            per_final_label_labeling_usd: ratio(acc.by_kind[0] + acc.model_usd, m.finals_in_window as f64),
            per_final_label_gold_usd: ratio(acc.by_kind[1], m.finals_in_window as f64),
            per_final_label_review_usd: ratio(acc.by_kind[2], m.finals_in_window as f64),
        },
        effective_hourly_wage_usd: wage,
        deadline_misses: m.deadline_misses,
        deadline_miss_rate: ratio(m.deadline_misses as f64, m.arrivals as f64),
        abandonments: m.abandonments,
        labels: m.labels,
        events,
    }
}
