//! Replications: independent runs on derived seeds, in parallel, summed up as mean and 95% CI of
//! every figure. The result does not depend on the thread count: each replication is
//! single-threaded and results are collected in replication order.

use super::{run, RecordFactory, RouterFactory, RunOptions, RunOutput, Summary, TraceFactory};
use crate::kernel::stream_key;
use crate::metrics::stats::mean_ci;
use crate::spec::Scenario;
use rayon::prelude::*;
use serde_json::{json, Map, Value};

/// Seed of replication `r`: the run seed itself for r = 0, a hash of (seed, r) after.
pub fn replication_seed(seed: u64, r: u32) -> u64 {
    if r == 0 {
        seed
    } else {
        stream_key(&["replication", &seed.to_string(), &r.to_string()])
    }
}

/// What replications keep beside their figures.
#[derive(Clone, Copy, Default)]
pub struct Keep<'a> {
    /// Records in memory (`RunOutput::tasks`).
    pub records_in_memory: bool,
    /// Records streamed to a sink per replication (tasks.csv).
    pub records: Option<RecordFactory<'a>>,
    /// The trace streamed to a sink per replication (events.jsonl).
    pub trace: Option<TraceFactory<'a>>,
}

/// Runs `reps` replications in parallel. `progress(r, fraction)` is called as replication r
/// advances.
pub fn run_replications(scenario: &Scenario, make_router: RouterFactory, seed: u64, reps: u32, keep: Keep, progress: &(dyn Fn(u32, f64) + Sync)) -> Result<Vec<RunOutput>, String> {
    (0..reps)
        .into_par_iter()
        .map(|r| {
            let opts = RunOptions { seed: replication_seed(seed, r), replication: r, keep_records: keep.records_in_memory, records: keep.records, trace: keep.trace, core_log: false };
            run(scenario, make_router, opts, &mut |f| progress(r, f))
        })
        .collect()
}

/// Replaces each number of the tree by {mean, ci95_low, ci95_high, half_width}; other leaves
/// (names) are kept from the first replication.
fn fold(values: &[&Value]) -> Value {
    match values[0] {
        Value::Object(first) => {
            let mut out = Map::new();
            for k in first.keys() {
                let children: Vec<&Value> = values.iter().map(|v| &v[k]).collect();
                out.insert(k.clone(), fold(&children));
            }
            Value::Object(out)
        }
        Value::Number(_) | Value::Null => {
            let xs: Vec<f64> = values.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect();
            if xs.iter().any(|x| x.is_nan()) {
                return json!({ "mean": null, "ci95_low": null, "ci95_high": null, "half_width": null });
            }
            let (m, h) = mean_ci(&xs, 0.95);
            let num = |x: f64| if x.is_finite() { json!(x) } else { Value::Null };
            json!({ "mean": num(m), "ci95_low": num(m - h), "ci95_high": num(m + h), "half_width": num(h) })
        }
        other => other.clone(),
    }
}

/// The summary schema this engine writes (README.md documents it).
pub const SUMMARY_SCHEMA: &str = "tessera.summary/2";

/// What the fluid capacity bound says, in words, for the streams and pools it finds overloaded
/// (mean over replications). Empty when the workforce can serve the offered load.
pub fn overload_notes(runs: &[Summary]) -> Vec<String> {
    let Some(first) = runs.first() else { return Vec::new() };
    let n = runs.len() as f64;
    let mut notes = Vec::new();
    for name in first.streams.keys() {
        let avg = |f: fn(&super::StreamFigures) -> f64| runs.iter().map(|r| r.streams.get(name).map_or(f64::NAN, f)).sum::<f64>() / n;
        let share = avg(|f| f.servable_share);
        if share < 1.0 - 1e-6 {
            let rate = avg(|f| f.arrival_rate_per_hour);
            notes.push(format!(
                "stream {name:?}: {rate:.1} tasks/h offered, the workforce can serve at most {:.1} tasks/h of it ({:.0}%): its backlog grows whatever the routing",
                rate * share,
                share * 100.0
            ));
        }
    }
    for name in first.pools.keys() {
        let load = runs.iter().map(|r| r.pools.get(name).map_or(f64::NAN, |p| p.fluid_load)).sum::<f64>() / n;
        if load >= 1.0 - 1e-6 && notes.iter().any(|s| s.starts_with("stream")) {
            notes.push(format!("pool {name:?}: saturated (the served load needs all of its on-shift time)"));
        }
    }
    notes
}

/// summary.json: the figures as mean and 95% CI over replications, plus every replication.
pub fn summarize_replications(runs: &[Summary], base_seed: u64) -> Value {
    let values: Vec<Value> = runs.iter().map(|s| serde_json::to_value(s).expect("summary serialises")).collect();
    let refs: Vec<&Value> = values.iter().collect();
    let mut figures = fold(&refs);
    if let Value::Object(m) = &mut figures {
        for k in ["scenario", "policy", "seed"] {
            m.remove(k);
        }
    }
    let overload = overload_notes(runs);
    json!({
        "schema": SUMMARY_SCHEMA,
        "scenario": runs.first().map(|s| s.scenario.clone()),
        "policy": runs.first().map(|s| s.policy.clone()),
        "seed": base_seed,
        "replications": runs.len(),
        "overloaded": !overload.is_empty(),
        "overload": overload,
        "figures": figures,
        "runs": values,
    })
}
