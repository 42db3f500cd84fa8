//! The simulator against Erlang A (M/M/c+M, Palm's model): with queue patience
//! (`streams.patience`, exponential), tasks that wait longer than their patience leave unserved.
//! On the published call-centre example (200 arrivals/h, 3-minute exponential handling, 14
//! annotators, patience exponential with a mean of 5 minutes) Erlang A gives P(wait) = 0.14526,
//! P(abandon) = 0.013984 and a mean wait of 0.069919 min over all arrivals, abandoners included
//! (the values pyworkforce's tests print; `tessera staffing --patience 5m` computes them). The
//! simulated figures must hold them inside their 99% confidence interval over independent
//! replications, as M/M/c holds Erlang C's (`erlang_c.rs`).

use tessera_engine::dispatch::builtin_router;
use tessera_engine::metrics::stats::mean_ci;
use tessera_engine::run::{run_replications, Keep, Summary};
use tessera_engine::spec::Scenario;

#[test]
fn published_example_with_five_minutes_of_patience() {
    let s: Scenario = toml::from_str(
        r#"
        [run]
        horizon = "1012h"
        warmup = "12h"
        [[streams]]
        arrivals = { poisson = { per_hour = 200 } }
        patience = { exponential = { mean = "5min" } }
        [[pools]]
        count = 14
        service.classification = { exponential = { mean = "180s" } }
        "#,
    )
    .unwrap();
    let f = || builtin_router("fifo").unwrap();
    let runs = run_replications(&s, &f, 2026, 10, Keep::default(), &|_, _| {}).unwrap();
    let figure = |get: fn(&Summary) -> f64| -> Vec<f64> { runs.iter().map(|r| get(&r.summary)).collect() };
    for r in &runs {
        let x = &r.summary;
        assert_eq!(x.arrivals, x.completions + x.unfinished + x.left_unserved, "every arrival is completed, open or gone");
        assert!(x.left_unserved > 0);
    }
    for (name, xs, exact) in [
        ("P(wait)", figure(|s| s.p_wait_to_start), 0.14526),
        ("P(abandon)", figure(|s| s.p_left_unserved), 0.013984),
        ("mean wait [s]", figure(|s| s.wait_to_start_s.mean), 0.069919 * 60.0),
    ] {
        let (m, h) = mean_ci(&xs, 0.99);
        eprintln!("M/M/14+M: {name} sim {m:.6} ± {h:.6}, Erlang A {exact:.6}");
        assert!((m - exact).abs() <= h, "{name}: Erlang A {exact} outside the 99% CI {m} ± {h}");
        assert!(h < 0.1 * exact, "{name}: the interval ±{h} is too wide to tell anything");
    }
    // Without patience nobody leaves, and the same model is Erlang C's (P(wait) 0.174132).
    let mut c = s.clone();
    c.streams[0].patience = None;
    let runs = run_replications(&c, &f, 2026, 4, Keep::default(), &|_, _| {}).unwrap();
    assert!(runs.iter().all(|r| r.summary.left_unserved == 0));
}
