//! The annotation domain as actors: task sources, annotators, ML models and the dispatcher
//! (the simulation adapter of the decision core, `crate::run::Dispatcher`), and the messages they
//! exchange.
//!
//! ```text
//!  TaskSource ──Arrive──▶ Dispatcher ──PreAnnotate──▶ Model
//!   (per stream)            │  ▲   ◀────PreLabel──────┘
//!                     Assign│  │Submit / Abandoned / Available / Unavailable
//!                           ▼  │
//!                        Annotator (one per person; shifts, speed, accuracy, fatigue, learning)
//! ```

pub mod annotator;
pub mod learner;
pub mod model;
pub mod shift;
pub mod source;

pub use crate::core::ids::{AssignmentId, TaskId};
use crate::core::Timer;

/// Dense index of an annotator in the run (pool by pool, in scenario order): its durable id.
pub type AnnotatorIdx = crate::core::ids::AnnotatorId;

/// What an annotator (or model) needs to know to work on a task. The hidden true label travels
/// with it because the synthetic annotator's answer depends on it; routing never reads it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Job {
    /// The lease this work is done under (answers quote it).
    pub assignment: AssignmentId,
    /// Task-type index (scenario order of first appearance).
    pub ttype: u16,
    /// Number of classes.
    pub classes: u16,
    /// Hidden true label (simulation only).
    pub truth: u16,
    /// Pre-label from a model, if any.
    pub prelabel: Option<u16>,
    /// The model that pre-labelled it (index into the annotators' `PrelabelWork` table;
    /// `NO_MODEL` = none): how a pre-label changes the work.
    pub model: u16,
    /// [0, 1] -- 0 = annotator's own accuracy, 1 = coin flip.
    pub difficulty: f32,
    /// Time multiplier of the item's difficulty, 1 + `difficulty_slowdown` × difficulty.
    pub slowdown: f32,
    /// Some(final label) = review it: answer 1 (accept) or 0 (send back for rework).
    pub review: Option<u16>,
    /// A review timed by the skill `ttype` (the stage names it), not the reviewer's review time.
    pub review_by_skill: bool,
    /// A preference pair: whether it is shown swapped (`quality::bias::shown_swapped`).
    pub swapped: Option<bool>,
}

/// `Job::model` of a task no model pre-labels.
pub const NO_MODEL: u16 = u16::MAX;

/// A task as it leaves its source.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NewTask {
    /// Stream index.
    pub stream: u16,
    pub truth: u16,
    pub difficulty: f32,
    /// Parts it waits for (they follow it, each with `part`).
    pub parts: u32,
    /// A part of the last task that came with parts.
    pub part: bool,
    /// The learner's item it is (`NO_ITEM`: a synthetic task).
    pub item: u32,
}

/// `NewTask::item` of a synthetic task (no real learner's item).
pub const NO_ITEM: u32 = u32::MAX;

/// Every message of the annotation simulation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Msg {
    /// Sent once to every actor at time 0.
    Start,
    /// Source → itself: time for the next arrival (or batch).
    NextArrival,
    /// Dispatcher → source: no more arrivals wanted.
    StopArrivals,
    /// Source → dispatcher: a task arrived.
    Arrive(NewTask),
    /// Dispatcher → model: pre-annotate this task (its hidden truth, for the synthetic model, and
    /// how much harder than its stream's mean it is).
    PreAnnotate { task: TaskId, truth: u16, classes: u16, harder_by: f32, item: u32 },
    /// Dispatcher → model: people gave the final label of a task this model pre-labels (or, when
    /// it trains on them, the model's own label was accepted): one more training label.
    TrainingLabel { item: u32, label: u16 },
    /// Model → itself: time to retrain (`retrain_every`).
    RetrainTick,
    /// Model → itself: the retrain on `labels` labels is done; the new model serves.
    RetrainDone { labels: u64 },
    /// Model → dispatcher: a retrain started on `labels` labels, for `usd`; the new model will
    /// be right with probability `accuracy` once it serves (`ready` = it serves now).
    Retrained { model: u16, labels: u64, accuracy: f32, usd: f64, ready: bool },
    /// Model → dispatcher: the pre-label and the model's confidence in it.
    PreLabel {
        task: TaskId,
        label: u16,
        confidence: f32,
    },
    /// Dispatcher → annotator: work on this task.
    Assign(Job),
    /// Annotator → itself: the current item is done.
    WorkDone,
    /// Annotator → itself: the lease on an abandoned task ran out; back at work.
    AbandonTimeout,
    /// Annotator → dispatcher: a label, or for a review a verdict (1 = accept); `leaving` = the
    /// shift is over, assign nothing more.
    Submit {
        annotator: AnnotatorIdx,
        assignment: AssignmentId,
        label: u16,
        review: bool,
        leaving: bool,
    },
    /// Annotator → dispatcher: walked away from the task; its lease expired now.
    Abandoned {
        annotator: AnnotatorIdx,
        assignment: AssignmentId,
        leaving: bool,
    },
    /// Annotator → itself: shift transitions.
    ShiftStart,
    ShiftEnd,
    /// Annotator → dispatcher: on shift and idle / off shift.
    Available {
        annotator: AnnotatorIdx,
    },
    Unavailable {
        annotator: AnnotatorIdx,
    },
    /// Dispatcher → itself: a timer the decision core asked for (unban, batch round).
    Timer(Timer),
}

/// `truth` with probability `p`, otherwise a uniformly random other class.
pub fn noisy_label(truth: u16, classes: u16, p: f64, rng: &mut impl rand::Rng) -> u16 {
    if classes <= 1 || rng.random::<f64>() < p {
        truth
    } else {
        let other = rng.random_range(0..classes - 1);
        if other >= truth {
            other + 1
        } else {
            other
        }
    }
}
