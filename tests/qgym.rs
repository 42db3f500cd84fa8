//! Reproduction of published QGym results (Chen et al., NeurIPS 2024 Datasets & Benchmarks):
//! the N-model's average holding cost under MaxWeight, cμ and a fixed priority. See
//! scenarios/bench/qgym/README.md for the mapping and for why two of the published figures are
//! not expected to match (QGym preempts; its fixed-priority order is not ours).

use std::path::PathBuf;
use tessera_engine::metrics::stats::mean_ci;
use tessera_engine::run::{run_replications, Keep};
use tessera_engine::spec::Scenario;

fn scenario(policy: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/bench/qgym/n-model.toml");
    let policies = tessera_policies::names();
    let known = tessera_scenarios::Known::with_policies(&policies);
    tessera_scenarios::load_file(&path, &[format!("routing.policy={policy}")], &known).unwrap()
}

/// Mean and 95% half-width of the time-average holding cost Σ h_i N_i over 30 replications.
fn holding_cost(policy: &str) -> (f64, f64) {
    let s = scenario(policy);
    let h: Vec<(String, f64)> = s.streams.iter().map(|x| (x.name.clone().unwrap(), x.holding_cost)).collect();
    let routing = s.routing.clone();
    let make = move || tessera_policies::router_for(&routing).unwrap();
    let runs = run_replications(&s, &make, 1, 30, Keep::default(), &|_, _| {}).unwrap();
    let costs: Vec<f64> = runs.iter().map(|r| h.iter().map(|(name, h)| h * r.summary.streams[name].tasks_in_system_mean).sum()).collect();
    mean_ci(&costs, 0.95)
}

#[test]
fn qgym_n_model_holding_costs() {
    // MaxWeight (cμQ) does not depend on preemption much: published 40.2, within 10%.
    let (mw, mw_h) = holding_cost("max-weight");
    assert!((mw - 40.2).abs() <= 0.10 * 40.2, "max-weight: {mw:.1} ± {mw_h:.1}, published 40.2");

    // cμ: published 170 with QGym's preemptive service. Ours is non-preemptive: a class-2 job that
    // server 1 started at half speed stays there when server 2 frees up, so cμ must cost MORE than
    // the preemptive figure, and by a bounded amount (documented: about +25%).
    let (cmu, cmu_h) = holding_cost("c-mu");
    assert!(cmu - cmu_h > 170.0, "c-mu: {cmu:.1} ± {cmu_h:.1} should exceed the preemptive 170");
    assert!(cmu < 1.5 * 170.0, "c-mu: {cmu:.1} is further from 170 than non-preemption explains");

    // Fixed priority (class 1 first at server 1, a static order): published 790 for QGym's own
    // static priority, which is not this order; ours must at least sit between MaxWeight and cμ,
    // as a fluid argument predicts (class 2 gets all of server 1's spare capacity, but only after
    // class 1).
    let (fp, _) = holding_cost("fixed-priority");
    assert!(mw < fp * 1.2 && fp < cmu, "fixed-priority {fp:.1} not between max-weight {mw:.1} and c-mu {cmu:.1}");
}
