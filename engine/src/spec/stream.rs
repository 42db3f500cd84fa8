//! Task streams (what arrives) and ML models (what pre-annotates).

use super::{ArrivalSpec, DifficultySpec};
use crate::time::Dur;
use serde::{Deserialize, Serialize};

/// The medium a task is in.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    Image,
    Video,
    Audio,
    Text,
    Lidar,
    PreferencePair,
}

impl Modality {
    /// The usual modality of a task type, when the scenario does not say.
    pub fn for_task_type(t: &str) -> Modality {
        let t = t.to_ascii_lowercase();
        if t.contains("lidar") || t.contains("cuboid") || t.contains("point") {
            Modality::Lidar
        } else if t.contains("video") || t.contains("track") {
            Modality::Video
        } else if t.contains("audio") || t.contains("transcri") || t.contains("speech") {
            Modality::Audio
        } else if t.contains("preference") || t.contains("pair") || t.contains("rlhf") {
            Modality::PreferencePair
        } else if t.contains("ner") || t.contains("text") || t.contains("sentiment") || t.contains("categor") {
            Modality::Text
        } else {
            Modality::Image
        }
    }
}

/// A stage of a task's workflow.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Annotators label the task (overlap k times).
    Label,
    /// The labels are aggregated into the final label.
    Aggregate,
    /// An expert accepts the final label or sends the task back for rework (needs
    /// `[quality.review]`).
    Review,
}

/// One stream of tasks of one type.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// Name (default "stream-N").
    #[serde(default)]
    pub name: Option<String>,
    /// Task type, e.g. bbox, segmentation, lidar-cuboid, transcription, ner, preference-pair
    /// (default "classification"). Pools declare their skills by task type.
    #[serde(default = "default_type")]
    pub task_type: String,
    /// Default: guessed from the task type.
    #[serde(default)]
    pub modality: Option<Modality>,
    /// Number of classes of the label (default 2).
    #[serde(default = "default_classes")]
    pub classes: u32,
    /// Share of each class among true labels (default uniform); normalised.
    #[serde(default)]
    pub class_weights: Option<Vec<f64>>,
    #[serde(default)]
    pub difficulty: DifficultySpec,
    /// How much longer hard items take people: an item of difficulty d takes
    /// (1 + difficulty_slowdown × d) times a person's time (default 0: difficulty changes
    /// accuracy only). Accuracy falls with difficulty as p (1 − d) + d / k for everyone.
    #[serde(default)]
    pub difficulty_slowdown: f64,
    /// Larger is more urgent (default 0).
    #[serde(default)]
    pub priority: u32,
    /// Time from arrival by which the final label is due (default: none).
    #[serde(default)]
    pub deadline: Option<Dur>,
    /// Turnaround target of the completion service level (default: the deadline, else
    /// `run.turnaround`).
    #[serde(default)]
    pub turnaround: Option<Dur>,
    /// Language the annotator must speak (default: none required).
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub arrivals: ArrivalSpec,
    /// Stages as a chain, in order (default ["label", "aggregate"], with "review" appended when
    /// `[quality.review]` is set): the short form of `stages`.
    #[serde(default)]
    pub workflow: Option<Vec<Stage>>,
    /// The workflow as a graph: stages with conditional edges (see `spec::workflow`); the first
    /// stage is the entry. Give `stages` or `workflow`, not both.
    #[serde(default)]
    pub stages: Vec<super::StageSpec>,
    /// Task dependencies: each task of this stream waits for this many parts of another stream.
    #[serde(default)]
    pub parts: Option<super::PartsSpec>,
    /// Name of a model in `[[models]]` that pre-annotates this stream (default: none).
    #[serde(default)]
    pub pre_annotation: Option<String>,
    /// Lowest declared accuracy an annotator should have to take this stream's tasks, in [0, 1]
    /// (default 0: anyone qualified). Used by accuracy-aware policies (cheapest-capable).
    #[serde(default)]
    pub min_accuracy: f64,
    /// [USD per task-hour] cost of one task of this stream waiting or in service (default 1.0).
    /// Used by holding-cost policies (c-mu, max-weight) and the QGym benchmark's cost.
    #[serde(default = "default_holding_cost")]
    pub holding_cost: f64,
    /// Queue patience: how long a task waits for its first annotator before it leaves unserved
    /// (a requester who gives up, a time-sensitive item that is dropped), drawn per task:
    /// `{ exponential = { mean = "5min" } }` (Erlang A's M/M/c+M), `{ fixed = "2h" }` or a
    /// lognormal. Once any work on it has started a task stays. Default: tasks wait for ever.
    #[serde(default)]
    pub patience: Option<super::ServiceDist>,
    /// Labels collected per task of this stream (default: `quality.overlap`); with
    /// `quality.dynamic_overlap`, the labels collected before the first confidence check.
    #[serde(default)]
    pub overlap: Option<u32>,
}

fn default_holding_cost() -> f64 {
    1.0
}

fn default_type() -> String {
    "classification".into()
}
fn default_classes() -> u32 {
    2
}

impl StreamSpec {
    /// The chain of stages (`workflow`, default ["label", "aggregate"]).
    pub fn chain(&self) -> Vec<Stage> {
        self.workflow.clone().unwrap_or_else(|| vec![Stage::Label, Stage::Aggregate])
    }
    pub fn modality(&self) -> Modality {
        self.modality.unwrap_or_else(|| Modality::for_task_type(&self.task_type))
    }
}

