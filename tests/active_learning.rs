//! A real learner in the loop (linfa's logistic regression on Wine Quality, `"wine-logistic"`)
//! and active learning's orderings on it: the run is deterministic, least-confident-first sends
//! people the hard wines (more hours per label), and an inverse power law fitted to the learner's
//! own learning curve, run as the parametric model, reaches the accuracy target with labels, hours
//! and cost that agree with the real learner's within their intervals.

use tessera_engine::metrics::models::ModelFigures;
use tessera_engine::metrics::stats::mean_ci;
use tessera_engine::run::{run_replications, Keep};
use tessera_engine::spec::Scenario;

const SCENARIO: &str = include_str!("../scenarios/active-learning-wine.toml");

fn load(text: &str, set: &[&str]) -> Scenario {
    tessera_learners::in_loop::register();
    let policies = tessera_policies::names();
    let known = tessera_scenarios::Known::with_policies(&policies);
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    tessera_scenarios::load_str(text, "active-learning-wine", &set, &known).unwrap_or_else(|e| panic!("{e}"))
}

fn figures(s: &Scenario, reps: u32) -> Vec<ModelFigures> {
    let routing = s.routing.clone();
    let make = move || tessera_policies::router_for(&routing).unwrap();
    let runs = run_replications(s, &make, 3, reps, Keep::default(), &|_, _| {}).unwrap();
    runs.into_iter().map(|r| r.summary.models["judge"].clone()).collect()
}

#[test]
fn the_learner_in_the_loop_is_deterministic_and_reaches_its_target() {
    let s = load(SCENARIO, &[]);
    let a = figures(&s, 6);
    // As JSON: a bin with no pre-labels holds NaN, which is not equal to itself.
    assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&figures(&s, 6)).unwrap(), "same scenario and seed, different figures");
    assert!(a.iter().filter(|f| f.target_labels.is_finite()).count() >= 4, "the target was reached too rarely: {a:?}");
    for f in &a {
        assert!(f.retrains >= 30, "{} retrains", f.retrains);
        assert!(f.accuracy_at_end > 0.68 && f.accuracy_at_end < 0.78, "test accuracy at the end {}", f.accuracy_at_end);
        // Every pool item people labelled trained it (10 to start, then 25 at a time).
        assert!(f.labels_trained >= 950, "{} labels", f.labels_trained);
        // It starts from 10 true labels, below the target.
        assert!(!(f.target_labels <= 10.0), "reached at the start: {}", f.target_labels);
    }
}

#[test]
fn least_confident_first_sends_people_the_hard_wines() {
    // Hard wines (near the boundary) take longer: hours per label rise when people see them first.
    let per_label = |policy: &str| {
        let s = load(SCENARIO, &[&format!("routing.policy={policy}")]);
        let f = figures(&s, 8);
        let xs: Vec<f64> = f.iter().filter(|f| f.target_labels.is_finite()).map(|f| f.target_work_h / f.target_labels).collect();
        assert!(xs.len() >= 6, "{policy}: the target was reached in {} of 8 runs", xs.len());
        mean_ci(&xs, 0.95)
    };
    let (random, hr) = per_label("fifo");
    let (uncertain, hu) = per_label("model-least-confident");
    assert!(uncertain - hu > random + hr, "hours per label: least-confident {uncertain:.4} ± {hu:.4}, random {random:.4} ± {hr:.4}");
}

#[test]
fn a_curve_fitted_to_the_learner_agrees_with_it_on_the_way_to_the_target() {
    // The learner's own curve under the scenario's noise (crowd accuracy 0.9), averaged over seeds.
    let counts = [10usize, 25, 50, 75, 100, 150, 200, 400, 800];
    let mut mean = vec![0.0; counts.len()];
    let seeds = 20;
    for seed in 0..seeds {
        let data = tessera_learners::WineQuality::load(seed);
        let curve = tessera_learners::learning_curve(&data, seed, 0.9, &counts, Default::default()).unwrap();
        for (m, p) in mean.iter_mut().zip(&curve) {
            *m += p.test_accuracy / seeds as f64;
        }
    }
    let points: Vec<(f64, f64)> = counts.iter().zip(&mean).map(|(&n, &a)| (n as f64, a)).collect();
    let ipl = tessera_learners::Ipl::fit(&points).unwrap();
    // The parametric model: the same curve, from the learner's 10 starting labels.
    let parametric = SCENARIO.replace("learner = \"wine-logistic\"\n", "").replace("accuracy = 0.7 ", &format!("accuracy = {} ", ipl.predict(10.0))).replace(
        "learning = { initial_labels = 10,",
        &format!("learning = {{ asymptote = {}, exponent = {}, initial_labels = 10,", ipl.a.min(1.0), ipl.c),
    );
    // A target on the steep part of the curve: near its plateau, when a noisy real curve first
    // touches the target is a matter of luck that no smooth curve can follow.
    let target = ["models.judge.learning.target_accuracy=0.69"];
    let real = figures(&load(SCENARIO, &target), 12);
    let curve = figures(&load(&parametric, &target), 12);
    // A run's first passage over the target is skewed (a noisy curve may hover under it for a
    // while); the fitted curve is the mean one. So the real learner's median, with its
    // distribution-free 96% interval from order statistics (the 3rd and 10th of 12), must hold the
    // curve's median.
    for (what, f) in [("labels", (|f: &ModelFigures| f.target_labels) as fn(&ModelFigures) -> f64), ("work hours", |f| f.target_work_h), ("cost", |f| f.target_usd)] {
        let sorted = |v: &[ModelFigures]| {
            let mut x: Vec<f64> = v.iter().map(f).map(|x| if x.is_finite() { x } else { f64::INFINITY }).collect();
            x.sort_by(f64::total_cmp);
            x
        };
        let (r, c) = (sorted(&real), sorted(&curve));
        let median = |x: &[f64]| (x[5] + x[6]) / 2.0;
        assert!(c[9].is_finite(), "{what}: the fitted curve did not reach the target: {c:?}");
        assert!(r[2] <= median(&c) && median(&c) <= r[9], "{what} to the target: real learner's median {} in [{}, {}], fitted curve's median {} (curve {ipl:?})", median(&r), r[2], r[9], median(&c));
    }
}

#[test]
fn a_starting_model_that_takes_the_whole_pool_is_refused() {
    let s = load(SCENARIO, &["models.judge.learning.initial_labels=5000"]);
    let make = || tessera_policies::router("fifo").unwrap();
    let e = run_replications(&s, &make, 3, 1, Keep::default(), &|_, _| {}).err().expect("ran with no items left");
    assert!(e.contains("initial_labels") && e.contains("leave some"), "{e}");
}
