//! What the decision core is configured with: the streams (static facts and workflow), quality
//! control, pay, and models. Built from a scenario by the simulation, from a project by live.

use super::workflow::Workflow;
use crate::ledger::Pay;
use crate::spec::{Modality, RuleSpec};

/// What one stream's tasks share.
#[derive(Clone, Debug)]
pub struct StreamInfo {
    pub name: String,
    pub task_type: String,
    pub ttype: u16,
    pub modality: Modality,
    pub classes: u16,
    pub priority: u32,
    /// [µs] from arrival.
    pub deadline: Option<u64>,
    /// Language index (into the run's language table).
    pub language: Option<u16>,
    pub workflow: Workflow,
    /// The model of the workflow's first model stage (its speed-up applies to pre-labelled work).
    pub model: Option<u16>,
    /// Run-wide stage number of "waiting for parts", for a stream whose tasks have parts.
    pub waiting_sid: Option<u16>,
    /// Mean difficulty of the stream's tasks (given to its golden tasks in the simulation).
    pub mean_difficulty: f32,
    /// Items of difficulty d take people (1 + this × d) times as long (`difficulty_slowdown`).
    pub difficulty_slowdown: f32,
    /// Lowest declared accuracy wanted of an annotator, in [0, 1].
    pub min_accuracy: f64,
    /// [USD per task-hour] holding cost.
    pub holding_cost: f64,
    /// Queue patience: a task not started by then leaves unserved.
    pub patience: Option<crate::spec::ServiceDist>,
}

impl StreamInfo {
    /// A preference pair (two answers to choose from), shown in a randomised order.
    pub fn pairwise(&self) -> bool {
        self.modality == Modality::PreferencePair && self.classes == 2
    }
}

/// Quality-control settings (overlap, dynamic overlap, aggregation and review are each
/// workflow stage's own: `workflow::StageWork`).
#[derive(Clone, Debug)]
pub struct QualityConfig {
    /// Share of an annotator's items that are golden.
    pub gold_rate: f64,
    pub rules: Vec<RuleSpec>,
    /// [µs] how long a final label stays re-openable (only kept when a rule re-opens).
    pub reopen_within: u64,
    /// Re-aggregate every answer at the end of the run with this batch algorithm.
    pub batch: Option<crate::quality::aggregation::Method>,
    /// Prior strength of the Beta trust per annotator.
    pub trust_prior_strength: f64,
}

/// A pre-annotating model as the core sees it.
#[derive(Clone, Copy, Debug)]
pub struct ModelInfo {
    /// [USD] per pre-label.
    pub cost: f64,
}

/// Everything the core is configured with.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    pub streams: Vec<StreamInfo>,
    pub quality: QualityConfig,
    pub models: Vec<ModelInfo>,
    /// How each annotator is paid, by annotator id.
    pub pay: Vec<Pay>,
    /// [µs] how long the core remembers a closed lease, to tell a late answer (stored) and a
    /// duplicate (ignored) from an unknown assignment. Later answers are rejected with a reason.
    pub late_window: u64,
    /// Learn each annotator's speed from their handling times (lease handed out → answer on
    /// time): the routing view's mean time per item of the task type moves this share of the way
    /// to each new time. None: routing keeps the declared speed (the simulation, whose people's
    /// speed the scenario declares).
    pub learn_speed: Option<f64>,
}
