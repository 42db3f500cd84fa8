//! Models in the loop: what a pre-label does to people's work, automation bias, the confidence
//! model's calibration, auto-accept with an audit, and a model that learns along its curve.
//! Metamorphic where possible (a useless model changes no figure; a perfect one leaves people only
//! the audit), analytical elsewhere (mean service time from the accept/fix mix, accuracy under
//! automation bias, the inverse power law).

use serde_json::Value;
use tessera_engine::metrics::stats::mean_ci;
use tessera_engine::run::{run_replications, Keep, Summary};

fn load(text: &str, set: &[&str]) -> tessera_engine::spec::Scenario {
    let policies = tessera_policies::names();
    let known = tessera_scenarios::Known::with_policies(&policies);
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    tessera_scenarios::load_str(text, "test", &set, &known).unwrap_or_else(|e| panic!("{e}"))
}

fn run(s: &tessera_engine::spec::Scenario, reps: u32) -> Vec<Summary> {
    let routing = s.routing.clone();
    let make = move || tessera_policies::router_for(&routing).unwrap();
    run_replications(s, &make, 5, reps, Keep::default(), &|_, _| {}).unwrap().into_iter().map(|r| r.summary).collect()
}

/// A stream labelled once by one pool, with or without a model stage in front.
fn scenario(model_stage: &str, model: &str) -> String {
    format!(
        r#"
name = "models"
[run]
horizon = "2d"
warmup = "4h"
[[streams]]
name = "s"
classes = 2
difficulty = {{ beta = [2, 6] }}
arrivals = {{ poisson = {{ per_hour = 50 }} }}
{model_stage}
  [[streams.stages]]
  name = "label"
  kind = "label"
  pools = ["crowd"]
  overlap = 1
{model}
[[pools]]
name = "crowd"
count = 3
service.classification = {{ lognormal = {{ median = "90s", sigma = 0.5 }} }}
speed_sigma = 0.2
accuracy = {{ one_coin = {{ beta = [17, 3] }} }}
pay = {{ per_hour = 12.0 }}
"#
    )
}

const MODEL_STAGE: &str = r#"
  [[streams.stages]]
  name = "prelabel"
  kind = "model"
  model = "m"
  next = [{ to = "label", when = { model_confidence_below = 0.5 } }, { to = "final", when = { model_confidence_above = 1.0 } }, { to = "label" }]
"#;

/// summary.json's figures of one replication without what a model stage adds by definition: the
/// kernel's event count, the model's cost and figures, and its own stage row.
fn comparable(s: &Summary) -> Value {
    let mut v = serde_json::to_value(s).unwrap();
    let o = v.as_object_mut().unwrap();
    for k in ["events", "models"] {
        o.remove(k);
    }
    o["cost"].as_object_mut().unwrap().remove("model_usd");
    o["stages"].as_object_mut().unwrap().remove("s/prelabel");
    // The label stage's position in the stage table moves by one.
    o["stages"]["s/label"].as_object_mut().unwrap().remove("order");
    v
}

#[test]
fn a_useless_model_changes_no_figure_but_events_and_model_cost() {
    // Accuracy 1/k, accept time = the time from scratch, no automation bias, no cost, no latency.
    let useless = r#"
[[models]]
name = "m"
accuracy = 0.5
accept_time = { times_scratch = 1.0 }
latency = "0s"
"#;
    let without = run(&load(&scenario("", ""), &[]), 4);
    let always = MODEL_STAGE.replace(r#"next = [{ to = "label", when = { model_confidence_below = 0.5 } }, { to = "final", when = { model_confidence_above = 1.0 } }, { to = "label" }]"#, r#"next = [{ to = "label" }]"#);
    let with = run(&load(&scenario(&always, useless), &[]), 4);
    for (a, b) in with.iter().zip(&without) {
        assert!(a.models["m"].prelabels > 0, "the model pre-labelled nothing: the test would prove nothing");
        assert_eq!(comparable(a), comparable(b), "a useless model changed a figure");
        assert_eq!(a.cost.model_usd, 0.0);
    }
    // With an auto-accept threshold its confidence never passes (> 1.0), the same figures again,
    // but for the fluid capacity bound: it does not follow a condition that decides before the
    // label stage, so it offers no load for that stream (`summary::sure_label_stage`).
    let gated = run(&load(&scenario(MODEL_STAGE, useless), &[]), 4);
    let no_bound = |s: &Summary| {
        let mut v = comparable(s);
        v["pools"]["crowd"].as_object_mut().unwrap().remove("fluid_load");
        v["streams"]["s"].as_object_mut().unwrap().remove("capacity_alone_per_hour");
        v
    };
    for (a, b) in gated.iter().zip(&without) {
        assert_eq!(no_bound(a), no_bound(b), "a useless model behind a threshold changed a figure");
    }
    // Power: the same model with a speed-up does change the figures.
    let useful = useless.replace("accept_time = { times_scratch = 1.0 }", "accept_time = { times_scratch = 0.5 }");
    let faster = run(&load(&scenario(&always, &useful), &[]), 1);
    assert_ne!(comparable(&faster[0]), comparable(&without[0]));
}

#[test]
fn the_speedup_shorthand_is_its_long_form() {
    let short = "[[models]]\nname = \"m\"\naccuracy = 0.7\nspeedup = 2.0\n";
    let long = "[[models]]\nname = \"m\"\naccuracy = 0.7\nspeedup = 5.0\naccept_time = { times_scratch = 0.5 }\n";
    let a = run(&load(&scenario(MODEL_STAGE, short), &[]), 2);
    let b = run(&load(&scenario(MODEL_STAGE, long), &[]), 2);
    assert_eq!(serde_json::to_value(&a).unwrap(), serde_json::to_value(&b).unwrap());
}

#[test]
fn a_perfect_model_with_auto_accept_leaves_people_only_the_audit() {
    let stages = r#"
  [[streams.stages]]
  name = "prelabel"
  kind = "model"
  model = "m"
  next = [{ to = "label", when = { model_confidence_below = 0.9 } }, { to = "audit", when = { sampled = 0.1 } }]

  [[streams.stages]]
  name = "audit"
  kind = "review"
  pools = ["qa"]
  max_reworks = 1
  next = [{ to = "rework", when = { verdict = "reject" } }]
"#;
    // Reviewers who are never wrong: a rework would be people's work the audit did not ask for.
    let model = "[[models]]\nname = \"m\"\naccuracy = 1.0\naccept_time = { times_scratch = 0.0 }\nlatency = \"0s\"\n[quality.review]\npool = \"qa\"\n[[pools]]\nname = \"qa\"\ncount = 1\naccuracy = { one_coin = { mean = 1.0 } }\n";
    let runs = run(&load(&scenario(stages, model), &[]), 3);
    for s in &runs {
        let label = &s.stages["s/label"];
        let audit = &s.stages["s/audit"];
        assert_eq!(label.entered, 0, "people labelled items a perfect model auto-accepts");
        assert_eq!((s.reworks, s.labels), (0, 0));
        assert_eq!(s.accuracy, 1.0);
        assert_eq!(s.models["m"].accuracy, 1.0);
        // 10% of the arrivals, within 4 binomial standard deviations.
        let n = s.stages["s/prelabel"].entered as f64;
        let sd = (n * 0.1 * 0.9).sqrt();
        assert!((audit.entered as f64 - 0.1 * n).abs() < 4.0 * sd, "audited {} of {n}", audit.entered);
        assert!(audit.entered > 0);
    }
}

/// Mean service time of the label stage [s] over replications: the crowd's busy time per label.
fn busy_share(text: &str, set: &[&str]) -> (f64, f64) {
    let runs = run(&load(text, set), 6);
    let xs: Vec<f64> = runs.iter().map(|s| s.pools["crowd"].utilization.busy).collect();
    mean_ci(&xs, 0.99)
}

#[test]
fn accept_and_fix_times_set_the_work_as_their_mix() {
    // One person, fixed times, no speed spread: E[S] = a × accept + (1 − a) × fix × (1 + s d).
    let base = |model: &str| {
        format!(
            r#"
name = "mix"
[run]
horizon = "20d"
warmup = "1d"
[[streams]]
classes = 2
difficulty = 0.5
difficulty_slowdown = 1.0
pre_annotation = "m"
arrivals = {{ poisson = {{ per_hour = 10 }} }}
[[pools]]
name = "crowd"
count = 1
service.classification = {{ fixed = "60s" }}
accuracy = {{ one_coin = {{ mean = 0.9 }} }}
{model}
"#
        )
    };
    // Times of their own (not scaled by difficulty's share of scratch, but by the slow-down):
    // 0.6 × 10 s + 0.4 × 100 s = 46 s, × 1.5 = 69 s → busy share 10/h × 69 s = 0.1917.
    let own = "[[models]]\nname = \"m\"\naccuracy = 0.6\naccept_time = { fixed = \"10s\" }\nfix_time = { fixed = \"100s\" }\n";
    let (m, h) = busy_share(&base(own), &[]);
    assert!((m - 10.0 * 69.0 / 3600.0).abs() < h.max(0.004), "busy share {m:.4} ± {h:.4}, expected {:.4}", 10.0 * 69.0 / 3600.0);
    // Shares of the time from scratch (60 s × 1.5 = 90 s): 0.6 × 0.2 + 0.4 × 1.5 = 0.72 → 64.8 s.
    let share = "[[models]]\nname = \"m\"\naccuracy = 0.6\naccept_time = { times_scratch = 0.2 }\nfix_time = { times_scratch = 1.5 }\n";
    let (m2, h2) = busy_share(&base(share), &[]);
    assert!((m2 - 10.0 * 64.8 / 3600.0).abs() < h2.max(0.004), "busy share {m2:.4} ± {h2:.4}, expected {:.4}", 10.0 * 64.8 / 3600.0);
    assert!(m > m2 + h + h2, "the two mixes should differ: {m:.4} vs {m2:.4}");
}

#[test]
fn automation_bias_keeps_wrong_prelabels() {
    // People always right on their own; the model right 60% of the time; half of its wrong
    // pre-labels kept: accuracy 1 − 0.4 × 0.5 = 0.8.
    let model = "[[models]]\nname = \"m\"\naccuracy = 0.6\nautomation_bias = 0.5\nlatency = \"0s\"\n";
    let stages = MODEL_STAGE.replace(r#"next = [{ to = "label", when = { model_confidence_below = 0.5 } }, { to = "final", when = { model_confidence_above = 1.0 } }, { to = "label" }]"#, r#"next = [{ to = "label" }]"#);
    let text = scenario(&stages, model).replace("beta = [17, 3]", "mean = 1.0").replace("difficulty = { beta = [2, 6] }", "difficulty = 0.0");
    let s = load(&text, &[]);
    let runs = run(&s, 6);
    let acc: Vec<f64> = runs.iter().map(|r| r.accuracy).collect();
    let (m, h) = mean_ci(&acc, 0.99);
    assert!((m - 0.8).abs() < h.max(0.01), "accuracy {m:.4} ± {h:.4}, expected 0.8");
    let none = run(&load(&text.replace("automation_bias = 0.5", "automation_bias = 0.0"), &[]), 1);
    assert_eq!(none[0].accuracy, 1.0, "without automation bias these people are never wrong");
}

#[test]
fn confidence_is_calibrated_and_overconfidence_shows_in_the_ece() {
    let model = |t: f64| format!("[[models]]\nname = \"m\"\naccuracy = 0.75\nconfidence_concentration = 4\noverconfidence = {t}\ndifficulty_coupling = 0.8\n");
    let calibrated = run(&load(&scenario(MODEL_STAGE, &model(1.0)), &["run.horizon=8d"]), 2);
    let over = run(&load(&scenario(MODEL_STAGE, &model(3.0)), &["run.horizon=8d"]), 2);
    for (c, o) in calibrated.iter().zip(&over) {
        let (c, o) = (&c.models["m"], &o.models["m"]);
        // Difficulty coupling moves accuracy item by item but keeps its mean.
        assert!((c.accuracy - 0.75).abs() < 0.02, "share right {}", c.accuracy);
        assert!(c.ece < 0.03, "a calibrated model's ECE {}", c.ece);
        assert!(o.ece > 0.08, "an over-confident model's ECE {}", o.ece);
        let top = &o.reliability["0.9-1.0"];
        assert!(top.share_right < top.mean_confidence - 0.05, "over-confident top bin: {} right at {} confidence", top.share_right, top.mean_confidence);
    }
}

#[test]
fn a_model_learns_along_its_curve_and_pays_for_it() {
    let learning = |extra: &str| {
        format!(
            "[[models]]\nname = \"m\"\naccuracy = 0.6\ncost_per_item = 0.001\nlearning = {{ asymptote = 0.95, exponent = 0.5, initial_labels = 50, retrain_after_labels = 200, retrain_latency = \"30min\", cost_per_retrain = 5.0, cost_per_label_trained = 0.01{extra} }}\n"
        )
    };
    let s = load(&scenario(MODEL_STAGE, &learning("")), &[]);
    let spec = s.models[0].learning.clone().unwrap();
    for r in run(&s, 2) {
        let m = &r.models["m"];
        assert!(m.retrains >= 5, "{} retrains", m.retrains);
        assert!(m.labels_trained > 1_000, "{} labels", m.labels_trained);
        // The serving model is the curve at its training labels.
        assert!((m.accuracy_at_end - spec.accuracy(0.6, m.labels_trained, 2)).abs() < 1e-6);
        assert!(m.accuracy_at_end > 0.85 && m.accuracy > 0.8, "end {} mean {}", m.accuracy_at_end, m.accuracy);
        // Retrains cost 5 + 0.01 × labels each, and they are in the model's bill.
        assert!(m.retrain_usd > 5.0 * m.retrains as f64 + 0.01 * 50.0 * m.retrains as f64);
        assert!((r.cost.model_usd - m.retrain_usd - 0.001 * m.prelabels as f64).abs() < 1e-6, "model cost {} = retrains {} + pre-labels", r.cost.model_usd, m.retrain_usd);
    }
    // Auto-accepted labels do not train it unless asked: a model that decides everything alone
    // never learns.
    let alone = scenario(&MODEL_STAGE.replace("next = [", "next = [{ to = \"final\" },"), &learning(""));
    let r = &run(&load(&alone, &[]), 1)[0];
    assert_eq!((r.models["m"].retrains, r.models["m"].labels_trained), (0, 50));
    let r = &run(&load(&scenario(&MODEL_STAGE.replace("next = [", "next = [{ to = \"final\" },"), &learning(", train_on_auto_accepted = true")), &[]), 1)[0];
    assert!(r.models["m"].retrains > 0);
}

#[test]
fn bad_model_settings_are_refused_with_their_path() {
    let policies = tessera_policies::names();
    let known = tessera_scenarios::Known::with_policies(&policies);
    for (set, needle) in [
        ("models.m.automation_bias=1.5", "models[0].automation_bias"),
        ("models.m.overconfidence=0", "models[0].overconfidence"),
        ("models.m.learning.asymptote=0.5", "asymptote"),
        ("models.m.learning.retrain_after_labels=0", "retrain_after_labels"),
    ] {
        let text = scenario(MODEL_STAGE, "[[models]]\nname = \"m\"\naccuracy = 0.6\nlearning = { asymptote = 0.9, retrain_after_labels = 100 }\n");
        let e = tessera_scenarios::load_str(&text, "test", &[set.to_string()], &known).err().unwrap_or_else(|| panic!("{set} was accepted"));
        assert!(e.to_string().contains(needle), "{set}: {e}");
    }
    let text = scenario(MODEL_STAGE, "[[models]]\nname = \"m\"\naccuracy = 0.6\nlearning = { asymptote = 0.9 }\n");
    let e = tessera_scenarios::load_str(&text, "test", &[], &known).err().unwrap();
    assert!(e.to_string().contains("retrain trigger"), "{e}");
}
