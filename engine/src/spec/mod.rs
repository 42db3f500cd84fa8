//! The scenario schema: what a planner writes (in TOML, via tessera-scenarios) and what the engine
//! builds a simulation from. Every field has a documented default (see `scenarios/README.md`), so a
//! three-line scenario is valid. Units: durations are [`Dur`] (`"25.5s"`), rates are [tasks/h],
//! money is [USD].

mod dist;
mod pool;
mod stream;

pub use dist::{ArrivalSpec, DifficultySpec, ProbDist, ServiceDist};
pub use pool::{AbandonSpec, AccuracySpec, FatigueSpec, LearningSpec, PaySpec, PoolSpec};
pub use stream::{Modality, ModelSpec, StreamSpec, Stage};

use crate::time::Dur;
use serde::{Deserialize, Serialize};

/// A whole scenario.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name used in reports (default: the file name).
    #[serde(default)]
    pub name: Option<String>,
    /// One-paragraph description.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub run: RunSpec,
    /// Task streams: where work comes from.
    #[serde(default)]
    pub streams: Vec<StreamSpec>,
    /// Annotator pools: who does the work.
    #[serde(default)]
    pub pools: Vec<PoolSpec>,
    /// ML models that pre-annotate.
    #[serde(default)]
    pub models: Vec<ModelSpec>,
    #[serde(default)]
    pub quality: QualitySpec,
    #[serde(default)]
    pub routing: RoutingSpec,
}

/// How long to run and what to measure.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// Simulated time during which tasks arrive (default 7d). The run stops there.
    #[serde(default)]
    pub horizon: Option<Dur>,
    /// Alternatively: stop arrivals after this many tasks and run until every task is final.
    #[serde(default)]
    pub tasks: Option<u64>,
    /// Tasks arriving before this instant are left out of the statistics (default 0s).
    #[serde(default)]
    pub warmup: Dur,
    /// Waiting-time threshold of the service level: share of tasks that waited less (default 1h).
    #[serde(default = "default_sl")]
    pub service_level: Dur,
    /// Default seed (the CLI's `--seed` wins).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Default number of replications (the CLI's `--replications` wins).
    #[serde(default = "default_reps")]
    pub replications: u32,
}

fn default_sl() -> Dur {
    Dur(crate::time::US_PER_HOUR)
}
fn default_seed() -> u64 {
    1
}
fn default_reps() -> u32 {
    1
}

impl Default for RunSpec {
    fn default() -> Self {
        Self { horizon: None, tasks: None, warmup: Dur::ZERO, service_level: default_sl(), seed: 1, replications: 1 }
    }
}

impl RunSpec {
    /// The arrival horizon: `horizon`, or 7 days when neither `horizon` nor `tasks` is set.
    pub fn arrival_horizon(&self) -> Option<Dur> {
        match (self.horizon, self.tasks) {
            (Some(h), _) => Some(h),
            (None, Some(_)) => None,
            (None, None) => Some(Dur(7 * crate::time::US_PER_DAY)),
        }
    }
}

/// Quality control.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QualitySpec {
    /// Labels collected per task from distinct annotators (default 1).
    #[serde(default = "default_overlap")]
    pub overlap: u32,
    /// How a task's labels become its final label (default "majority").
    #[serde(default = "default_aggregation")]
    pub aggregation: String,
}

fn default_overlap() -> u32 {
    1
}
fn default_aggregation() -> String {
    "majority".into()
}

impl Default for QualitySpec {
    fn default() -> Self {
        Self { overlap: 1, aggregation: default_aggregation() }
    }
}

/// Which annotator gets which task.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSpec {
    /// Routing policy name (default "fifo"; see `tessera simulate --help` for the list).
    #[serde(default = "default_policy")]
    pub policy: String,
    /// Batch policies (batch-lp): how often a batch round assigns the waiting tasks to the idle
    /// annotators (default: none set, and batch-lp then uses 60s).
    #[serde(default)]
    pub batch_interval: Option<Dur>,
    /// [per USD] λ of cost-aware policies (batch-lp maximises expected accuracy − λ × cost per
    /// item; default 1.0: one expected right label is worth one dollar).
    #[serde(default = "default_cost_weight")]
    pub cost_weight: f64,
}

fn default_policy() -> String {
    "fifo".into()
}
fn default_cost_weight() -> f64 {
    1.0
}

impl Default for RoutingSpec {
    fn default() -> Self {
        Self { policy: default_policy(), batch_interval: None, cost_weight: default_cost_weight() }
    }
}
