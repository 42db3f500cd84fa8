//! The simulator against Erlang C: on M/M/c (Poisson arrivals, exponential service, c identical
//! annotators, overlap 1, FIFO), the formula's P(wait), service level and mean wait must lie inside
//! the simulation's 99% confidence interval over independent replications.

use tessera_engine::dispatch::builtin_router;
use tessera_engine::metrics::erlang::ErlangC;
use tessera_engine::metrics::stats::mean_ci;
use tessera_engine::run::{run_replications, Keep, Summary};
use tessera_engine::spec::Scenario;

fn mmc(per_hour: f64, mean_service_s: f64, c: u32, horizon_h: f64, threshold_s: f64) -> Scenario {
    toml::from_str(&format!(
        r#"
        [run]
        horizon = "{horizon_h}h"
        warmup = "12h"
        service_level = "{threshold_s}s"
        [[streams]]
        arrivals = {{ poisson = {{ per_hour = {per_hour} }} }}
        [[pools]]
        count = {c}
        service.classification = {{ exponential = {{ mean = "{mean_service_s}s" }} }}
        "#
    ))
    .unwrap()
}

fn check(per_hour: f64, mean_service_s: f64, c: u32, tasks_per_rep: f64, reps: u32) {
    let threshold = 20.0;
    let horizon_h = 12.0 + tasks_per_rep / per_hour;
    let s = mmc(per_hour, mean_service_s, c, horizon_h, threshold);
    let f = || builtin_router("fifo").unwrap();
    let runs = run_replications(&s, &f, 2024, reps, Keep::default(), &|_, _| {}).unwrap();
    let q = ErlangC::new(per_hour, 3600.0, mean_service_s, c);
    let figure = |get: fn(&Summary) -> f64| -> Vec<f64> { runs.iter().map(|r| get(&r.summary)).collect() };
    for (name, xs, exact) in [
        ("P(wait)", figure(|s| s.p_wait_to_start), q.p_wait().unwrap()),
        ("service level", figure(|s| s.start_within_target), q.service_level(threshold).unwrap()),
        ("mean wait", figure(|s| s.wait_to_start_s.mean), q.mean_wait().unwrap()),
        ("utilisation", figure(|s| s.pools["pool-0"].utilization.busy), q.utilization()),
    ] {
        let (m, h) = mean_ci(&xs, 0.99);
        eprintln!("λ={per_hour}/h 1/μ={mean_service_s}s c={c}: {name} sim {m:.6} ± {h:.6}, Erlang C {exact:.6}");
        assert!((m - exact).abs() <= h, "{name}: Erlang C {exact} outside the 99% CI {m} ± {h} (λ={per_hour}/h, 1/μ={mean_service_s}s, c={c})");
        assert!(h < 0.1 * exact.max(0.05), "{name}: the interval ±{h} is too wide to tell anything");
    }
}

#[test]
fn published_call_centre_example_200_per_hour_14_servers() {
    check(200.0, 180.0, 14, 200_000.0, 10);
}

#[test]
fn published_example_1000_per_hour_40_servers() {
    check(1000.0, 120.0, 40, 200_000.0, 10);
}

#[test]
fn single_server_at_80_percent_load() {
    check(30.0, 96.0, 1, 100_000.0, 10);
}

#[test]
fn five_servers_at_90_percent_load() {
    check(100.0, 162.0, 5, 200_000.0, 10);
}
