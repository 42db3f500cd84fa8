//! Annotator pools: skills, pay, shifts and behaviour of a group of similar annotators.

use super::{ProbDist, ServiceDist};
use crate::time::Dur;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A pool of annotators drawn from the same distributions.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// Name (default "pool-N").
    #[serde(default)]
    pub name: Option<String>,
    /// Number of annotators (default 1).
    #[serde(default = "default_count")]
    pub count: i64,
    /// Accuracy on every task type the pool serves (default one-coin, mean 0.9).
    #[serde(default)]
    pub accuracy: AccuracySpec,
    /// Accuracy for particular task types, overriding `accuracy`.
    #[serde(default)]
    pub accuracy_by_type: BTreeMap<String, AccuracySpec>,
    /// Service time per task type; the keys are the task types the pool can do. Empty (the
    /// default) = every task type, with a lognormal of median 30s and sigma 0.6.
    #[serde(default)]
    pub service: BTreeMap<String, ServiceDist>,
    /// Spread of speed between annotators: each annotator's times are multiplied by
    /// exp(N(0, speed_sigma)) drawn once (default 0 = identical).
    #[serde(default)]
    pub speed_sigma: f64,
    #[serde(default)]
    pub pay: PaySpec,
    /// Working hours, e.g. ["mon-fri 08:00-17:00", "sat 10:00-14:00", "daily 22:00-06:00"]
    /// (default: always available).
    #[serde(default)]
    pub shifts: Vec<String>,
    #[serde(default)]
    pub learning: Option<LearningSpec>,
    #[serde(default)]
    pub fatigue: Option<FatigueSpec>,
    #[serde(default)]
    pub abandonment: Option<AbandonSpec>,
    /// Languages spoken (default ["en"]).
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
    /// Names of the only streams this pool may work on (default: any stream).
    #[serde(default)]
    pub reserved_for: Vec<String>,
    /// A systematic bias planted in a share of the pool (default: none).
    #[serde(default)]
    pub bias: Option<BiasSpec>,
}

/// A planted bias: the first `round(share × count)` members of the pool (members are drawn
/// alike, so which ones does not matter) give, with probability `strength`, the same answer
/// whatever the item: class `class` (class bias), or the answer of a preference pair shown on
/// the `position` side (position bias; pairs are shown in a randomised order,
/// `quality::bias::shown_swapped`). Otherwise they answer as the rest of the pool. Give `class`
/// or `position`. `strength` is the statistic `quality::bias` estimates.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BiasSpec {
    /// Share of the pool's members who are biased, in [0, 1].
    pub share: f64,
    /// Share of a biased member's answers given whatever the item, in [0, 1].
    pub strength: f64,
    /// The class they over-use (a class number, 0-based).
    #[serde(default)]
    pub class: Option<u16>,
    /// The side of a preference pair they pick: "left" (shown first) or "right".
    #[serde(default)]
    pub position: Option<Side>,
}

impl BiasSpec {
    /// How many of `count` members are biased.
    pub fn members(&self, count: i64) -> usize {
        (self.share * count.max(0) as f64).round().max(0.0) as usize
    }
}

/// A side of a preference pair as shown.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Left,
    Right,
}

fn default_count() -> i64 {
    1
}
fn default_languages() -> Vec<String> {
    vec!["en".into()]
}

/// How an annotator's labels relate to the truth.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AccuracySpec {
    /// One-coin: right with probability p (drawn per annotator), otherwise a uniformly random
    /// wrong class.
    OneCoin(ProbDist),
    /// Full confusion matrix: the diagonal entry of each class is drawn per annotator from the
    /// distribution; the rest of the row is spread over the wrong classes by a flat Dirichlet.
    Confusion { diagonal: ProbDist },
}

impl Default for AccuracySpec {
    fn default() -> Self {
        AccuracySpec::OneCoin(ProbDist::Mean(0.9))
    }
}

impl AccuracySpec {
    pub fn mean(&self) -> f64 {
        match self {
            AccuracySpec::OneCoin(d) | AccuracySpec::Confusion { diagonal: d } => d.mean(),
        }
    }
}

/// Pay [USD].
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PaySpec {
    /// [USD/h] for every hour on shift, busy or not.
    PerHour(f64),
    /// [USD] per submitted label.
    PerItem(f64),
}

impl Default for PaySpec {
    fn default() -> Self {
        PaySpec::PerHour(10.0)
    }
}

/// Learning curve: with n items done, accuracy rises by `accuracy_gain·(1 − 2^(−n/half_life_items))`
/// and time shrinks by the factor `1 − speedup·(1 − 2^(−n/half_life_items))`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LearningSpec {
    /// Accuracy points gained at full experience (e.g. 0.05).
    #[serde(default)]
    pub accuracy_gain: f64,
    /// Share of service time saved at full experience (e.g. 0.41).
    #[serde(default)]
    pub speedup: f64,
    /// Items after which half of the gain is reached (default 50).
    #[serde(default = "default_half_life")]
    pub half_life_items: f64,
}

fn default_half_life() -> f64 {
    50.0
}

/// Fatigue within a shift: after h hours on shift, time is multiplied by `1 + slowdown_per_hour·h`
/// and accuracy falls by `accuracy_loss_per_hour·h`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FatigueSpec {
    #[serde(default)]
    pub slowdown_per_hour: f64,
    #[serde(default)]
    pub accuracy_loss_per_hour: f64,
}

/// Abandonment: with `probability` an annotator walks away from a task; the task returns to the
/// queue when its lease times out after `timeout` (default 30min), and the annotator is back then.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AbandonSpec {
    pub probability: f64,
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
}

fn default_timeout() -> Dur {
    Dur(30 * crate::time::US_PER_MIN)
}
