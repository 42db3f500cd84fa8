//! Replications: independent runs on derived seeds, in parallel, summed up as mean and 95% CI of
//! every figure. The result does not depend on the thread count: each replication is
//! single-threaded, replications start in order (one counter shared by the workers) and their
//! results are handed on in replication order as they finish, so that what waits for an earlier
//! replication is at most one result per thread.

use super::{run, Cancel, RecordFactory, RouterFactory, RunOptions, RunOutput, Stopped, Summary, TraceFactory};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use crate::kernel::stream_key;
use crate::metrics::stats::mean_ci;
use crate::spec::Scenario;
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
    /// Stops the runs where they are; replications not started yet are not run.
    pub cancel: Option<&'a Cancel>,
    /// Figures per period of this many µs (a forecast's weeks).
    pub period_us: Option<u64>,
}

/// Runs `reps` replications in parallel. `progress(r, fraction)` is called as replication r
/// advances.
pub fn run_replications(scenario: &Scenario, make_router: RouterFactory, seed: u64, reps: u32, keep: Keep, progress: &(dyn Fn(u32, f64) + Sync)) -> Result<Vec<RunOutput>, String> {
    let mut out = Vec::new();
    run_replications_each(scenario, make_router, seed, reps, keep, progress, &mut |o| out.push(o))?;
    Ok(out)
}

/// Runs `reps` replications on the rayon pool's threads and hands each result to `done` in
/// replication order as soon as it and every earlier one have finished (memory does not grow
/// with `reps`). Returns how many were run: fewer than `reps` when `keep.cancel` stopped them.
/// The first error stops the replications not yet started and is returned.
pub fn run_replications_each(
    scenario: &Scenario,
    make_router: RouterFactory,
    seed: u64,
    reps: u32,
    keep: Keep,
    progress: &(dyn Fn(u32, f64) + Sync),
    done: &mut (dyn FnMut(RunOutput) + Send),
) -> Result<u32, String> {
    struct Order<'d> {
        next: u32,
        waiting: BTreeMap<u32, RunOutput>,
        done: &'d mut (dyn FnMut(RunOutput) + Send),
        error: Option<(u32, String)>,
    }
    let order = Mutex::new(Order { next: 0, waiting: BTreeMap::new(), done, error: None });
    let counter = AtomicU32::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let workers = rayon::current_num_threads().clamp(1, reps.max(1) as usize);
    rayon::scope(|s| {
        for _ in 0..workers {
            s.spawn(|_| loop {
                if failed.load(Ordering::Acquire) || keep.cancel.is_some_and(Cancel::is_set) {
                    return;
                }
                let r = counter.fetch_add(1, Ordering::AcqRel);
                if r >= reps {
                    return;
                }
                let opts = RunOptions { seed: replication_seed(seed, r), replication: r, keep_records: keep.records_in_memory, records: keep.records, trace: keep.trace, core_log: false, cancel: keep.cancel, period_us: keep.period_us };
                let result = run(scenario, make_router, opts, &mut |f| progress(r, f));
                let mut o = order.lock().unwrap_or_else(|e| e.into_inner());
                match result {
                    Ok(out) => {
                        o.waiting.insert(r, out);
                        while let Some(out) = { let next = o.next; o.waiting.remove(&next) } {
                            (o.done)(out);
                            o.next += 1;
                        }
                    }
                    Err(e) => {
                        failed.store(true, Ordering::Release);
                        if o.error.as_ref().is_none_or(|(k, _)| r < *k) {
                            o.error = Some((r, e));
                        }
                    }
                }
            });
        }
    });
    let o = order.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some((_, e)) = o.error {
        return Err(e);
    }
    Ok(o.next)
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

/// summary.json: the figures as mean and 95% CI over replications, plus every replication, and
/// the runs that stopped before their end (`stopped`, empty when none did).
pub fn summarize_replications(runs: &[Summary], base_seed: u64, stopped: &[Stopped]) -> Value {
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
        "stopped": stopped,
        "figures": figures,
        "runs": values,
    })
}
