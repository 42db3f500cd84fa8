//! Replications: independent runs on derived seeds, in parallel, summed up as mean and 95% CI of
//! every figure. The result does not depend on the thread count: each replication is
//! single-threaded and results are collected in replication order.

use super::{run, RouterFactory, RunOptions, RunOutput, Summary, TraceFactory};
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

/// Runs `reps` replications in parallel. `progress(done)` is called as replications finish.
pub fn run_replications(
    scenario: &Scenario,
    make_router: RouterFactory,
    seed: u64,
    reps: u32,
    keep_records: bool,
    trace: Option<TraceFactory>,
    progress: &(dyn Fn(u32, f64) + Sync),
) -> Result<Vec<RunOutput>, String> {
    (0..reps)
        .into_par_iter()
        .map(|r| {
            let opts = RunOptions { seed: replication_seed(seed, r), replication: r, keep_records, trace, core_log: false };
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
    json!({
        "schema": "tessera.summary/1",
        "scenario": runs.first().map(|s| s.scenario.clone()),
        "policy": runs.first().map(|s| s.policy.clone()),
        "seed": base_seed,
        "replications": runs.len(),
        "figures": figures,
        "runs": values,
    })
}
