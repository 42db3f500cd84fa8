//! ML models in the loop (`[[models]]`): what a pre-label does to a person's work, how the
//! model's confidence relates to being right, and how the model learns from people's final labels.
//!
//! Sources are ../shared/PARAMETERS.md §5; what no source gives (automation bias, the learning
//! curve's parameters, confidence spread) is marked as an assumption where a scenario sets it.

use super::ServiceDist;
use crate::time::Dur;
use serde::{Deserialize, Serialize};

/// An ML model that pre-annotates tasks.
///
/// A person shown a pre-label takes the time to **accept** it when it is right and to **fix** it
/// when it is wrong; with no pre-label, their time **from scratch** (the pool's service time).
/// `speedup` is the shorthand of the first releases: accept = scratch / speedup, fix = scratch.
/// With probability `automation_bias` a person keeps a wrong pre-label as their answer (they
/// still take the time to look at it: `fix_time`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: String,
    /// Probability that the pre-label is the true label (at the start, when the model learns).
    pub accuracy: f64,
    /// Service-time divisor when the pre-label is right (e.g. 3.0 = three times faster): the
    /// shorthand for `accept_time = { times_scratch = 1 / speedup }` (default 2). Ignored when
    /// `accept_time` is given.
    #[serde(default = "default_speedup")]
    pub speedup: f64,
    /// Time to accept a right pre-label: `{ times_scratch = 0.3 }` (a share of the person's own
    /// time from scratch on that item) or a distribution of its own (`{ lognormal = { median =
    /// "20s" } }`, scaled by the person's speed, difficulty, learning and fatigue like any time).
    #[serde(default)]
    pub accept_time: Option<PrelabelTime>,
    /// Time to fix a wrong pre-label, in the same forms (default: the time from scratch).
    #[serde(default)]
    pub fix_time: Option<PrelabelTime>,
    /// Probability that a person keeps a wrong pre-label as their own answer (default 0).
    #[serde(default)]
    pub automation_bias: f64,
    /// Inference time per task (default 1s).
    #[serde(default = "default_latency")]
    pub latency: Dur,
    /// [USD] per pre-labelled task (default 0).
    #[serde(default)]
    pub cost_per_item: f64,
    /// How the model's confidence spreads around its accuracy (default 10). The confidence it
    /// reports with a pre-label is calibrated: drawn from Beta(accuracy × k, (1 − accuracy) × k)
    /// and the pre-label is right with that probability, so P(right | confidence c) = c and the
    /// overall accuracy stays `accuracy`. Smaller k spreads confidences out (thresholds separate
    /// right from wrong pre-labels better), larger k concentrates them at the accuracy. An
    /// assumption, not a measured figure: no source in PARAMETERS.md gives model confidence
    /// distributions.
    #[serde(default = "default_concentration")]
    pub confidence_concentration: f64,
    /// Over-confidence T > 0 (default 1: calibrated). The model reports c = σ(T · logit(q)) where
    /// q is the calibrated confidence above, so it is right with probability
    /// g(c) = σ(logit(c) / T): T > 1 over-confident (temperature scaling's form, Guo et al. 2017),
    /// T < 1 under-confident.
    #[serde(default = "one")]
    pub overconfidence: f64,
    /// How strongly the model's per-item accuracy follows the item's difficulty, ρ in [0, 1]
    /// (default 0: not at all). An item of difficulty d in a stream of mean difficulty d̄ is
    /// pre-labelled right with probability a + ρ (d̄ − d)(a − 1/k), clamped to [1/k, 1]; its
    /// confidence is drawn around that, so low confidence marks the items people find hard too.
    #[serde(default)]
    pub difficulty_coupling: f64,
    /// The model learns from people's final labels (default: a fixed accuracy).
    #[serde(default)]
    pub learning: Option<ModelLearningSpec>,
    /// A real learner instead of the accuracy model above (`"wine-logistic"`: linfa's logistic
    /// regression on Wine Quality, tessera-learners). Its pre-labels and confidences are its
    /// predictions on the stream's items, which are the learner's own (`domain::learner`); it is
    /// fitted on `learning.initial_labels` items with their true classes to start, then on the
    /// final labels people give; `learning` says when it retrains and what that costs
    /// (`asymptote` and `exponent` are not used). `accuracy` stays the planner's assumption.
    #[serde(default)]
    pub learner: Option<String>,
}

impl ModelSpec {
    /// The mean time of a pre-labelled item as a share of the mean time from scratch
    /// (`scratch_mean_s`), at the model's `accuracy`: a × accept share + (1 − a) × fix share.
    pub fn work_share(&self, scratch_mean_s: f64) -> f64 {
        if let (None, None) = (&self.accept_time, &self.fix_time) {
            // The shorthand, in the form the first releases computed (same figures).
            return if self.speedup > 1.0 { 1.0 - self.accuracy + self.accuracy / self.speedup } else { 1.0 };
        }
        let share = |t: &Option<PrelabelTime>, default: f64| match t {
            Some(PrelabelTime::TimesScratch(f)) => *f,
            Some(PrelabelTime::Dist(d)) if scratch_mean_s > 0.0 => d.mean_secs() / scratch_mean_s,
            Some(PrelabelTime::Dist(_)) => 1.0,
            None => default,
        };
        let accept = share(&self.accept_time, if self.speedup > 1.0 { 1.0 / self.speedup } else { 1.0 });
        self.accuracy * accept + (1.0 - self.accuracy) * share(&self.fix_time, 1.0)
    }
}

/// A pre-label's work time: a share of the time from scratch, or a distribution of its own.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum PrelabelTime {
    /// This share of the person's time from scratch on the item: `{ times_scratch = 0.3 }`.
    TimesScratch(f64),
    /// A distribution of its own (`{ lognormal = ... }`, `{ exponential = ... }`, `{ fixed = ... }`).
    #[serde(untagged)]
    Dist(ServiceDist),
}

/// A model that learns: its accuracy follows an inverse power law in the number n of final labels
/// from people it was trained on,
///
/// ```text
///   accuracy(n) = asymptote − (asymptote − accuracy₀) · (n / initial_labels)^(−exponent)
/// ```
///
/// (accuracy₀ is the model's `accuracy`, reached with `initial_labels`; clamped to [1/k, 1]).
/// The form is the usual learning curve of supervised models (Figueroa et al. 2012, "Predicting
/// sample size required for classification performance"); its parameters are assumptions of each
/// scenario, no source in PARAMETERS.md gives them for annotation models.
///
/// It retrains on a cadence (`retrain_every`) or when `retrain_after_labels` new labels have come
/// in since the last training started; a retrain takes `retrain_latency`, after which new
/// pre-labels use the new accuracy. Tasks already pre-labelled keep their pre-label unless
/// `rescore_waiting` asks for the waiting ones to be scored again (and paid for again).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelLearningSpec {
    /// The accuracy the model approaches with unlimited labels (required but with a `learner`).
    #[serde(default)]
    pub asymptote: Option<f64>,
    /// How fast it gets there (c in n^(−c); default 0.5).
    #[serde(default = "half")]
    pub exponent: f64,
    /// Labels the starting model was trained on (default 100).
    #[serde(default = "hundred")]
    pub initial_labels: u64,
    /// Retrain every so often (e.g. "1d").
    #[serde(default)]
    pub retrain_every: Option<Dur>,
    /// Retrain when this many new labels have come in.
    #[serde(default)]
    pub retrain_after_labels: Option<u64>,
    /// Time a retrain takes before the new model serves (default 1h).
    #[serde(default = "hour")]
    pub retrain_latency: Dur,
    /// [USD] per retrain (default 0).
    #[serde(default)]
    pub cost_per_retrain: f64,
    /// [USD] per label in the training set of a retrain (default 0).
    #[serde(default)]
    pub cost_per_label_trained: f64,
    /// Count labels the model itself decided (auto-accepted pre-labels) as training labels
    /// (default false: only labels people gave).
    #[serde(default)]
    pub train_on_auto_accepted: bool,
    /// When a retrained model starts to serve, score every task waiting for people again: a new
    /// pre-label and confidence from the new model, paid `cost_per_item` each (default false:
    /// only new arrivals meet the new model). Active learning's orderings need it.
    #[serde(default)]
    pub rescore_waiting: bool,
    /// Report what it took the model to reach this accuracy (`models.<m>.target_*` in
    /// summary.json): training labels, people's work hours and cost, counted from the start of
    /// the statistics window (set `run.warmup = "0s"` to count from the start).
    #[serde(default)]
    pub target_accuracy: Option<f64>,
}

impl ModelLearningSpec {
    /// Accuracy after training on `n` labels, starting from `accuracy0` at `initial_labels`, for
    /// `classes` classes.
    pub fn accuracy(&self, accuracy0: f64, n: u64, classes: u16) -> f64 {
        let n0 = self.initial_labels.max(1) as f64;
        let n = (n as f64).max(1.0);
        let top = self.asymptote.unwrap_or(accuracy0);
        let a = top - (top - accuracy0) * (n / n0).powf(-self.exponent);
        a.clamp(1.0 / classes.max(1) as f64, 1.0)
    }
}

fn default_concentration() -> f64 {
    10.0
}
fn default_speedup() -> f64 {
    2.0
}
fn default_latency() -> Dur {
    Dur(crate::time::US_PER_SEC)
}
fn one() -> f64 {
    1.0
}
fn half() -> f64 {
    0.5
}
fn hundred() -> u64 {
    100
}
fn hour() -> Dur {
    Dur(3600 * crate::time::US_PER_SEC)
}
