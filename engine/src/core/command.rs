//! The decision core's inputs: one enum, matched exhaustively (no catch-all arm drops one).

use super::ids::{AnnotatorId, AssignmentId, TaskId};
use serde::{Deserialize, Serialize};

/// What the holder of an assignment answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// A class label (labelling work and golden tasks).
    Label(u16),
    /// A review verdict on the proposed final label.
    Verdict { accept: bool },
}

/// Work the core scheduled for later; the adapter fires it back as [`Command::TimerFired`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// A timed ban is over.
    Unban(AnnotatorId),
    /// A batch routing policy's assignment round.
    BatchRound,
    /// A task's queue patience ran out: it leaves unserved if no work on it has started.
    Patience(TaskId),
}

/// One input to the core. Every command has a defined outcome in every state (see the transition
/// table in the module documentation); none panics.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum Command {
    /// A task entered the operation, in `stream`, under a fresh id. `parts` > 0: it waits for
    /// that many parts (tasks arriving with `part_of` = it) to be final before its workflow
    /// starts. `part_of`: it is a part of that live task, which is waiting for its parts.
    TaskArrived { task: TaskId, stream: u16, parts: u32, part_of: Option<TaskId> },
    /// A model's pre-label for a task, with the model's confidence in it, in [0, 1].
    PreLabelled { task: TaskId, label: u16, confidence: f32 },
    /// An annotator is on shift, holds nothing and wants work.
    AnnotatorReady { annotator: AnnotatorId },
    /// An annotator went off shift: no more work for them (a lease they hold stays open).
    AnnotatorAway { annotator: AnnotatorId },
    /// The holder of an assignment answered it.
    Submitted { assignment: AssignmentId, annotator: AnnotatorId, answer: Answer },
    /// The holder gave the assignment back unanswered; `skip` = never offer them this task again.
    Returned { assignment: AssignmentId, annotator: AnnotatorId, skip: bool },
    /// The lease ran out without an answer (the holder walked away).
    LeaseExpired { assignment: AssignmentId },
    /// Time reached a timer the core asked for.
    TimerFired { timer: Timer },
}
