//! Checks of `[[models]]`: accuracy, pre-label work (accept and fix times, automation bias),
//! confidence (spread, over-confidence, coupling to difficulty) and learning (the curve's
//! parameters, a retrain trigger, costs). Each problem is (dotted path, message); the loader turns
//! paths into file:line:column.

use crate::validate::{non_negative, prob, service_dist, Problems};
use tessera_engine::spec::{ModelSpec, PrelabelTime};

/// Largest share of the time from scratch a pre-label may take (fixing can be slower than
/// starting over, e.g. extreme clicking +87% for professionals, PARAMETERS.md §5; not 100 times).
const MAX_TIMES_SCRATCH: f64 = 10.0;

pub fn validate_model(p: &mut Problems, i: usize, m: &ModelSpec) {
    let at = |f: &str| format!("models[{i}].{f}");
    prob(p, at("accuracy"), m.accuracy);
    if !(m.speedup >= 1.0 && m.speedup.is_finite()) {
        p.push((at("speedup"), format!("expected a service-time divisor >= 1, found {}", m.speedup)));
    }
    non_negative(p, at("cost_per_item"), m.cost_per_item, "a cost");
    for (name, t) in [("accept_time", &m.accept_time), ("fix_time", &m.fix_time)] {
        match t {
            Some(PrelabelTime::TimesScratch(f)) if !(*f >= 0.0 && *f <= MAX_TIMES_SCRATCH) => {
                p.push((format!("{}.times_scratch", at(name)), format!("expected a share of the time from scratch between 0 and {MAX_TIMES_SCRATCH}, found {f}")));
            }
            Some(PrelabelTime::Dist(d)) => service_dist(p, &at(name), d),
            _ => {}
        }
    }
    prob(p, at("automation_bias"), m.automation_bias);
    if !(m.confidence_concentration > 0.0 && m.confidence_concentration.is_finite()) {
        p.push((at("confidence_concentration"), format!("expected a positive concentration, found {}", m.confidence_concentration)));
    }
    if !(m.overconfidence > 0.0 && m.overconfidence <= 20.0) {
        p.push((at("overconfidence"), format!("expected a temperature above 0 and at most 20 (1 = calibrated, above 1 over-confident), found {}", m.overconfidence)));
    }
    prob(p, at("difficulty_coupling"), m.difficulty_coupling);
    if let Some(name) = &m.learner {
        let known = tessera_engine::domain::learner::registered();
        if !known.contains(&name.as_str()) {
            p.push((at("learner"), format!("no learner named {name:?} in this build (known: {})", if known.is_empty() { "none".to_string() } else { known.join(", ") })));
        }
        if m.learning.is_none() {
            p.push((at("learning"), "a learner needs `learning` to say when it retrains (retrain_every or retrain_after_labels)".into()));
        }
    }
    let Some(l) = &m.learning else { return };
    let at = |f: &str| format!("models[{i}].learning.{f}");
    match (l.asymptote, &m.learner) {
        (None, None) => p.push((at("asymptote"), "give the accuracy the model approaches with unlimited labels (or a `learner`)".into())),
        (Some(a), _) => {
            prob(p, at("asymptote"), a);
            if a < m.accuracy {
                p.push((at("asymptote"), format!("the accuracy it approaches ({a}) is below the accuracy it starts at ({}): it would get worse with every label", m.accuracy)));
            }
        }
        _ => {}
    }
    if !(l.exponent > 0.0 && l.exponent <= 5.0) {
        p.push((at("exponent"), format!("expected a learning-curve exponent above 0 and at most 5 (typically 0.2-1), found {}", l.exponent)));
    }
    if l.initial_labels == 0 {
        p.push((at("initial_labels"), "expected at least 1: the labels the starting model was trained on".into()));
    }
    match (l.retrain_every, l.retrain_after_labels) {
        (None, None) => p.push((format!("models[{i}].learning"), "give a retrain trigger: `retrain_every` (e.g. \"1d\") or `retrain_after_labels` (e.g. 500)".into())),
        (Some(d), _) if d.0 < 60_000_000 => p.push((at("retrain_every"), format!("expected at least 1min between retrains, found {d}"))),
        (_, Some(0)) => p.push((at("retrain_after_labels"), "expected at least 1 label".into())),
        _ => {}
    }
    if let Some(t) = l.target_accuracy {
        prob(p, at("target_accuracy"), t);
    }
    non_negative(p, at("cost_per_retrain"), l.cost_per_retrain, "a cost");
    non_negative(p, at("cost_per_label_trained"), l.cost_per_label_trained, "a cost");
}
