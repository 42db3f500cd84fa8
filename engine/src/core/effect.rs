//! The decision core's outputs: effects for the adapter to carry out (hand work to a person, ask
//! a model, wake the core later) and events that record what was decided. They form one stream,
//! in decision order, that the monitor, the ledger, tasks.csv, the trace and (live) webhooks read.

use super::command::Timer;
use super::ids::{AnnotatorId, AssignmentId, TaskId};
use crate::ledger::WorkKind;
use crate::time::SimTime;
use serde::Serialize;
use smallvec::SmallVec;

/// The work an assignment is for.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Work {
    /// Label the task.
    Label { task: TaskId },
    /// Accept or send back the proposed final label of the task.
    Review { task: TaskId, proposed: u16 },
    /// A golden item of `stream` whose answer is known to the operation.
    Gold { stream: u16, answer: u16 },
}

impl Work {
    pub fn kind(&self) -> WorkKind {
        match self {
            Work::Label { .. } => WorkKind::Labeling,
            Work::Review { .. } => WorkKind::Review,
            Work::Gold { .. } => WorkKind::Gold,
        }
    }
    pub fn task(&self) -> Option<TaskId> {
        match *self {
            Work::Label { task } | Work::Review { task, .. } => Some(task),
            Work::Gold { .. } => None,
        }
    }
}

/// How a lease ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Closed {
    Answered,
    Expired,
    Returned,
    Skipped,
}

/// What became of a submitted label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelFate {
    /// One of the answers the task's consensus is built on.
    Counted,
    /// Kept and paid, not aggregated: late after its slot was leased again, the task was final
    /// or past labelling, the need was lowered, or the annotator already had a label on it.
    Extra,
    /// The annotator was banned with re-open: kept and paid, not aggregated.
    Discarded,
}

/// Why a command changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// No such assignment was ever handed out.
    UnknownAssignment,
    /// The assignment closed longer ago than the core's late window: the store keeps the answer.
    ForgottenAssignment,
    /// The assignment belongs to another annotator.
    NotTheHolder,
    /// A verdict for labelling work, or a label for a review.
    WrongAnswerKind,
    /// A label outside the stream's classes.
    LabelOutOfRange,
    /// A model confidence outside [0, 1] (or not a number).
    ConfidenceOutOfRange,
    /// No such task is live.
    UnknownTask,
    /// The task id was used before.
    DuplicateTask,
    /// A part of a task that is not live, has all its parts, or is not waiting for parts.
    NotAwaitingParts,
    /// No such stream / annotator.
    UnknownStream,
    UnknownAnnotator,
    /// Ready while still holding an open lease (the lease stays theirs).
    StillHolding,
    /// Return or expiry of a lease that is not open.
    LeaseNotOpen,
}

/// One output of the core.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "effect")]
pub enum Effect {
    // ---- for the adapter to carry out ----
    /// Hand this work to the annotator (a lease opens). `stage`: the run-wide number of the
    /// workflow stage it is for (`u16::MAX` for a golden item); `skill`: the task type whose
    /// skill it needs.
    Assign {
        assignment: AssignmentId,
        annotator: AnnotatorId,
        work: Work,
        prelabel: Option<u16>,
        stage: u16,
        skill: u16,
    },
    /// Ask the stream's model for a pre-label; answer with `Command::PreLabelled`.
    PreAnnotate {
        task: TaskId,
        model: u16,
    },
    /// Fire `timer` back at time `at`.
    Schedule {
        at: SimTime,
        timer: Timer,
    },

    // ---- events ----
    Arrived {
        task: TaskId,
        stream: u16,
    },
    PreLabelled {
        task: TaskId,
        label: u16,
        confidence: f32,
    },
    /// The task entered a workflow stage (run-wide stage number; a task leaves a stage when it
    /// enters the next, is final, leaves unserved or is pulled back to wait for a re-opened part).
    StageEntered {
        task: TaskId,
        stage: u16,
    },
    OnShift {
        annotator: AnnotatorId,
    },
    OffShift {
        annotator: AnnotatorId,
    },
    /// A lease ended (how, and what work it was).
    LeaseClosed {
        assignment: AssignmentId,
        annotator: AnnotatorId,
        kind: WorkKind,
        task: Option<TaskId>,
        how: Closed,
        late: bool,
    },
    /// A label was stored.
    LabelStored {
        task: TaskId,
        assignment: AssignmentId,
        annotator: AnnotatorId,
        label: u16,
        fate: LabelFate,
        late: bool,
    },
    /// A golden answer was checked against the known answer.
    GoldChecked {
        assignment: AssignmentId,
        annotator: AnnotatorId,
        stream: u16,
        label: u16,
        /// The known answer.
        expected: u16,
        right: bool,
    },
    /// A review verdict; `applied` = it decided the task (false: a late verdict kept as extra).
    Reviewed {
        task: TaskId,
        assignment: AssignmentId,
        annotator: AnnotatorId,
        accepted: bool,
        applied: bool,
    },
    /// Per-item pay for an answer [USD] (0 for hourly pay); `task` = charged to this task.
    Paid {
        annotator: AnnotatorId,
        kind: WorkKind,
        usd: f64,
        task: Option<TaskId>,
    },
    /// A model's pre-label was bought [USD].
    ModelPaid {
        task: TaskId,
        model: u16,
        usd: f64,
    },
    /// The task waits for an expert review.
    ReviewRequested {
        task: TaskId,
    },
    /// The review sent the task back: its labels are dropped and a fresh round starts.
    Rework {
        task: TaskId,
    },
    /// A task has its final label (provisional while a rule may still re-open it).
    Final {
        task: TaskId,
        label: u16,
        confidence: f32,
        labels: SmallVec<[(AnnotatorId, u16); 4]>,
    },
    /// A final label can no longer be re-opened.
    Settled {
        task: TaskId,
    },
    /// A task waited its whole queue patience without any work starting: it left unserved and
    /// is no longer live.
    LeftUnserved {
        task: TaskId,
        stream: u16,
    },
    /// A ban re-opened a final label given at `final_at`; the task is live again.
    Reopened {
        task: TaskId,
        final_at: SimTime,
    },
    Banned {
        annotator: AnnotatorId,
        until: Option<SimTime>,
    },
    Unbanned {
        annotator: AnnotatorId,
    },
    TrustChanged {
        annotator: AnnotatorId,
        trust: f64,
    },
    /// The same answer again: nothing changed.
    Duplicate {
        assignment: AssignmentId,
    },
    /// A command that could change nothing, and why.
    Rejected {
        command: super::command::Command,
        reason: Rejection,
    },
}
