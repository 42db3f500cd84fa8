//! A metamorphic test of routing: with annotators that differ only in speed, routing a new task to
//! a uniformly random idle annotator and routing it to the longest-idle one give the same
//! long-run metrics (Gopalakrishnan, Doroudi, Ward & Wierman, "Routing and staffing when servers
//! are strategic", Operations Research 2016: in a heterogeneous M/M/k, random and
//! longest-idle-server-first routing give the same steady-state behaviour). Checked with paired 99%
//! confidence intervals over common-random-number replications; the same test must detect the
//! difference fastest-server-first makes, so it has the power to fail.

use tessera_engine::metrics::stats::mean_ci;
use tessera_engine::run::{run_replications, Keep};

const SCENARIO: &str = r#"
name = "speed-only"
[run]
horizon = "3d"
warmup = "6h"
[[streams]]
arrivals = { poisson = { per_hour = 140 } }
[[pools]]
name = "fast"
count = 3
service.classification = { exponential = { mean = "40s" } }
[[pools]]
name = "slow"
count = 3
service.classification = { exponential = { mean = "160s" } }
"#;

/// (mean time in system [s], mean tasks in system, utilisation of the slow pool) per replication.
fn metrics(policy: &str) -> Vec<[f64; 3]> {
    let policies = tessera_policies::names();
    let known = tessera_scenarios::Known::with_policies(&policies);
    let s = tessera_scenarios::load_str(SCENARIO, "speed-only", &[format!("routing.policy={policy}")], &known).unwrap();
    let routing = s.routing.clone();
    let make = move || tessera_policies::router_for(&routing).unwrap();
    let runs = run_replications(&s, &make, 11, 24, Keep::default(), &|_, _| {}).unwrap();
    runs.iter().map(|r| [r.summary.time_in_system_s.mean, r.summary.tasks_in_system_mean, r.summary.pools["slow"].utilization.busy]).collect()
}

/// Paired CI of a − b for figure k at `confidence`: (mean difference, half-width).
fn diff(a: &[[f64; 3]], b: &[[f64; 3]], k: usize, confidence: f64) -> (f64, f64) {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x[k] - y[k]).collect();
    mean_ci(&d, confidence)
}

#[test]
fn random_and_longest_idle_agree_when_annotators_differ_only_in_speed() {
    let random = metrics("random");
    let lis = metrics("longest-idle");
    let fsf = metrics("fastest-server-first");
    // Three equalities checked at once: 99% intervals keep the family's false-alarm rate near 3%
    // (three 95% intervals would raise it to 14%).
    for (k, what) in ["mean time in system", "mean tasks in system", "slow-pool utilisation"].iter().enumerate() {
        let (d, h) = diff(&random, &lis, k, 0.99);
        assert!(d.abs() <= h, "random vs longest-idle differ in {what}: {d:.4} ± {h:.4}");
    }
    // Power: sending work to the fast annotators first changes the slow pool's load.
    let (d, h) = diff(&fsf, &lis, 2, 0.99);
    assert!(d.abs() > h, "the test cannot tell fastest-server-first from longest-idle: {d:.4} ± {h:.4}");
}
