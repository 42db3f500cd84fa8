//! Workflow graphs in the scenario schema: stages with conditional edges (`[[streams.stages]]`),
//! and task dependencies (`streams.parts`). The old chain syntax (`workflow = ["label",
//! "aggregate", "review"]`) stays valid: it is one graph among many (`core::workflow` turns it
//! into the same graph).

use serde::{Deserialize, Serialize};

/// What a stage does.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    /// People label the task (`overlap` labels from distinct annotators), aggregated into the
    /// task's current label and confidence. An adjudication is a label stage worked by experts
    /// with `overlap = 1`.
    Label,
    /// People accept or reject the task's current label (`overlap` verdicts; a majority of
    /// accepts accepts, a tie rejects).
    Review,
    /// A model (`model`, a name in `[[models]]`) pre-labels the task with a confidence; later
    /// label stages show people the pre-label.
    Model,
}

/// A review verdict, as an edge condition.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accept,
    Reject,
}

/// When an edge is taken: the closed vocabulary of conditions. Edges are tried in the order
/// written; the first whose condition holds is taken; when none holds the task is final.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Always (the default when `when` is left out).
    #[default]
    Always,
    /// With probability p, drawn per task (`{ sampled = 0.1 }`); p = 0 never draws.
    Sampled(f64),
    /// The current label's aggregated confidence is below x (`{ confidence_below = 0.8 }`).
    ConfidenceBelow(f64),
    /// The current label's aggregated confidence is at least x.
    ConfidenceAtLeast(f64),
    /// `{ disagree = true }`: the stage just finished did not agree (labels not unanimous, or
    /// reviewers' verdicts split); `{ disagree = false }`: it did.
    Disagree(bool),
    /// The review stage just finished accepted / rejected the label (`{ verdict = "reject" }`).
    Verdict(Verdict),
    /// The model's confidence in its pre-label is above x (`{ model_confidence_above = 0.95 }`).
    ModelConfidenceAbove(f64),
    /// The model's confidence in its pre-label is below x.
    ModelConfidenceBelow(f64),
}

/// An edge out of a stage.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EdgeSpec {
    /// A stage of the same stream, `"final"` (the task is final with its current label), or,
    /// from a review stage, `"rework"` (a fresh round from the first label stage, at most the
    /// review stage's `max_reworks` times).
    pub to: String,
    /// Default: always.
    #[serde(default)]
    pub when: Condition,
}

/// One stage of a stream's workflow graph. The first stage is where tasks enter.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    /// Unique within the stream; not "final" or "rework".
    pub name: String,
    pub kind: StageKind,
    /// Pools whose members may work it (default: a label stage, every pool able to do its
    /// `skill`; a review stage, `quality.review.pool`).
    #[serde(default)]
    pub pools: Vec<String>,
    /// Task type whose skill (service time, accuracy) the stage's work needs (default: the
    /// stream's `task_type`).
    #[serde(default)]
    pub skill: Option<String>,
    /// Label stages: labels collected (default: the stream's overlap); review stages: verdicts
    /// (default 1).
    #[serde(default)]
    pub overlap: Option<u32>,
    /// Label stages: Toloka's dynamic overlap (default: `quality.dynamic_overlap` when the
    /// stage does not set its own `overlap`).
    #[serde(default)]
    pub dynamic_overlap: Option<super::DynamicOverlapSpec>,
    /// Label stages: "majority" or "weighted" (default: `quality.aggregation`).
    #[serde(default)]
    pub aggregation: Option<String>,
    /// Model stages: the model's name in `[[models]]`.
    #[serde(default)]
    pub model: Option<String>,
    /// Review stages: a task is sent back to rework at most this often; one already sent back
    /// this often passes the stage as accepted without a review (default: `quality.review`'s,
    /// else 2).
    #[serde(default)]
    pub max_reworks: Option<u32>,
    /// Edges, tried in order (default: none, so the task is final after this stage).
    #[serde(default)]
    pub next: Vec<EdgeSpec>,
}

impl StageSpec {
    /// A stage with every optional field at its default and no edges.
    pub fn new(name: &str, kind: StageKind) -> StageSpec {
        StageSpec { name: name.into(), kind, pools: Vec::new(), skill: None, overlap: None, dynamic_overlap: None, aggregation: None, model: None, max_reworks: None, next: Vec::new() }
    }
}

/// Task dependencies: each arrival of the stream is a task that waits for `count` tasks of
/// stream `stream`, which arrive with it, and becomes ready when all of them are final (frames of
/// a lidar sequence before the sequence-level check; chunks of a document before the merge).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PartsSpec {
    /// The stream the parts belong to (it gets its tasks only this way: its own `arrivals` are
    /// not used).
    pub stream: String,
    /// Parts per task.
    pub count: u32,
}
