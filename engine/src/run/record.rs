//! Per-task records (tasks.csv) and the event trace, schema `tessera.trace/2` (events.jsonl):
//! one header line per replication, then one line per event with durable ids, absolute
//! timestamps (epoch + offset, [µs] since the Unix epoch) and names, not indices, for
//! annotators, streams and labels. The live server writes the same schema.

use crate::core::{AnnotatorId, AssignmentId, Closed, Effect, LabelFate, StreamInfo, TaskId, Work};
use crate::time::{Dur, Epoch, SimTime};
use std::sync::Arc;
use serde::{Serialize, Serializer};

/// One row of tasks.csv: a task's life from arrival to final label. Instants are offsets from
/// the start of the run and durations are exact microseconds (written as seconds).
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRecord {
    /// Arrival order over the run.
    pub task: u64,
    /// Shared with every record of the stream (no allocation per record).
    pub stream: Arc<str>,
    pub task_type: Arc<str>,
    pub priority: u32,
    pub arrival: SimTime,
    pub first_start: Option<SimTime>,
    pub final_at: Option<SimTime>,
    /// Arrival to first service.
    pub wait: Option<Dur>,
    /// Arrival to final label.
    pub time_in_system: Option<Dur>,
    pub labels: u16,
    /// Times an annotator walked away from it (lease expired unanswered).
    pub walkaways: u16,
    /// Times an expert sent it back.
    pub reworks: u16,
    /// Times a ban re-opened its final label, and the time it spent final in between.
    pub reopened: u16,
    pub reopened_gap: Dur,
    pub final_label: Option<u16>,
    pub confidence: Option<f32>,
    pub true_label: u16,
    pub correct: Option<bool>,
    pub deadline: Option<SimTime>,
    pub deadline_missed: bool,
    /// [USD] per-item pay for this task's labels (hourly pay is not split per task).
    pub item_cost_usd: f64,
    /// Arrived after the warm-up: included in the statistics.
    pub counted: bool,
    /// When it left unserved (its queue patience ran out before any work started).
    pub left_at: Option<SimTime>,
}

/// Where tasks.csv records go as tasks settle (the caller owns the file). Records come in the
/// order tasks settle, then the tasks still open at the end in task order; the sink puts them
/// in task order.
pub trait RecordSink: Send {
    fn record(&mut self, r: &TaskRecord) -> Result<(), String>;
    /// The run is over: every task has been recorded.
    fn finish(&mut self) -> Result<(), String>;
}

/// Where trace lines go (the caller opens the file: the engine does no I/O). Each line is one
/// complete JSON object with its newline.
pub trait TraceSink: Send {
    fn write(&mut self, line: &[u8]) -> Result<(), String>;
    /// The run is over: flush.
    fn finish(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// The trace schema this engine writes.
pub const TRACE_SCHEMA: &str = "tessera.trace/2";

/// The first line of a replication's trace.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TraceHeader {
    /// Always [`TRACE_SCHEMA`].
    pub schema: &'static str,
    pub v: u32,
    pub replication: u32,
    pub scenario: String,
    pub policy: String,
    pub seed: u64,
    /// [µs since the Unix epoch] of time zero.
    pub epoch_unix_us: i64,
    /// "simulated" or "live".
    pub clock: &'static str,
    /// The operation's offset from UTC [s], the local time its hour-of-week profiles are in (a
    /// simulation's clock is UTC: 0; absent when the writer does not know it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utc_offset_s: Option<i64>,
    /// Simulated seconds per second of a rehearsal (`tessera loadgen --speedup`); absent for a
    /// real operation or a simulation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speedup: Option<f64>,
}

/// A class label written by name (the class index as text until streams name their classes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelName(pub u16);

impl Serialize for LabelName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// One line of events.jsonl (schema 2).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TraceEvent<'a> {
    pub v: u32,
    /// [µs since the Unix epoch].
    pub t_us: i64,
    pub replication: u32,
    pub event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignment: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotator: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<&'a str>,
    /// The stream's task type (arrive lines), so that a trace alone says which handling-time
    /// law a task's work follows; on assign lines, the work's own: its stage's skill when the
    /// stage names one, else the stream's (labelling and golden work; a review without a skill
    /// of its own is timed by the review law and has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_type: Option<&'a str>,
    /// The workflow stage of a lease (assign lines of labelling and review work).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<&'a str>,
    /// labelling, review or gold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<LabelName>,
    /// A preference pair's presentation: "AB" (label 0's answer on the left) or "BA" (swapped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<&'static str>,
    /// A golden item's known answer, or the final label proposed to a review.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<LabelName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub right: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<bool>,
    /// counted, extra or discarded (labels); answered, expired, returned or skipped (leases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// [µs since the Unix epoch] a ban ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_us: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A model's name (retrain events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    /// The training labels of a retrain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<u64>,
    /// A model that starts to serve: its accuracy (a real learner's on its held-out test items,
    /// which an operation measures too; the parametric model's curve value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f32>,
    /// A person joining a live project (join events): the task types they declared, and their
    /// group when they gave one (`tessera calibrate --group-by skills` groups people by these).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skills: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

fn work_name(w: &Work) -> &'static str {
    match w {
        Work::Label { .. } => "labelling",
        Work::Review { .. } => "review",
        Work::Gold { .. } => "gold",
    }
}

impl<'a> TraceEvent<'a> {
    fn base(t_us: i64, replication: u32, event: &'static str) -> Self {
        TraceEvent {
            v: 2,
            t_us,
            replication,
            event,
            task: None,
            assignment: None,
            annotator: None,
            stream: None,
            task_type: None,
            stage: None,
            work: None,
            label: None,
            order: None,
            expected: None,
            right: None,
            accepted: None,
            outcome: None,
            late: None,
            confidence: None,
            until_us: None,
            reason: None,
            model: None,
            labels: None,
            accuracy: None,
            skills: None,
            group: None,
        }
    }

    /// An event of no effect (a model's retrain) at `now`.
    pub fn at(epoch: Epoch, now: SimTime, replication: u32, event: &'static str) -> Self {
        TraceEvent::base(epoch.absolute(now), replication, event)
    }

    /// The trace line of an effect (None for those not traced: pay, timers, trust updates).
    pub fn from_effect(
        e: &Effect,
        epoch: Epoch,
        now: SimTime,
        replication: u32,
        annotators: &'a [String],
        streams: &'a [StreamInfo],
        stream_of: impl Fn(TaskId) -> Option<u16>,
    ) -> Option<TraceEvent<'a>> {
        let t_us = epoch.absolute(now);
        let name = |a: AnnotatorId| annotators.get(a as usize).map(String::as_str);
        let sname = |s: u16| streams.get(s as usize).map(|i| i.name.as_str());
        let of_task = |t: TaskId| stream_of(t).and_then(sname);
        let ev = |event| TraceEvent::base(t_us, replication, event);
        let order = |stream: Option<u16>, assignment: AssignmentId| {
            stream.and_then(|s| streams.get(s as usize)).filter(|i| i.pairwise()).map(|_| if crate::quality::bias::shown_swapped(assignment.0) { "BA" } else { "AB" })
        };
        Some(match *e {
            Effect::Arrived { task, stream } => TraceEvent { task: Some(task), stream: sname(stream), task_type: streams.get(stream as usize).map(|i| i.task_type.as_str()), ..ev("arrive") },
            Effect::PreLabelled { task, label, confidence } => TraceEvent { task: Some(task), stream: of_task(task), label: Some(LabelName(label)), confidence: Some(confidence), ..ev("prelabel") },
            Effect::OnShift { annotator } => TraceEvent { annotator: name(annotator), ..ev("on_shift") },
            Effect::OffShift { annotator } => TraceEvent { annotator: name(annotator), ..ev("off_shift") },
            Effect::Assign { assignment, annotator, work, stage, .. } => {
                let (task, stream, expected, shown) = match work {
                    Work::Label { task } => (Some(task), stream_of(task), None, order(stream_of(task), assignment)),
                    Work::Review { task, proposed } => (Some(task), stream_of(task), Some(LabelName(proposed)), None),
                    Work::Gold { stream, answer } => (None, Some(stream), Some(LabelName(answer)), order(Some(stream), assignment)),
                };
                let info = stream.and_then(|s| streams.get(s as usize));
                let node = info.and_then(|i| i.workflow.stages.iter().find(|n| n.sid == stage));
                let task_type = match (work, node.and_then(|n| n.skill.as_deref())) {
                    (_, Some(skill)) => Some(skill),
                    (Work::Review { .. }, None) => None,
                    _ => info.map(|i| i.task_type.as_str()),
                };
                TraceEvent {
                    task,
                    stream: stream.and_then(sname),
                    task_type,
                    stage: node.map(|n| n.name.as_str()),
                    expected,
                    order: shown,
                    assignment: Some(assignment.0),
                    annotator: name(annotator),
                    work: Some(work_name(&work)),
                    ..ev("assign")
                }
            }
            Effect::LeaseClosed { assignment, annotator, task, how, late, .. } => {
                if how == Closed::Answered {
                    return None; // the answer's own line says it
                }
                let outcome = match how {
                    Closed::Expired => "expired",
                    Closed::Returned => "returned",
                    Closed::Skipped => "skipped",
                    Closed::Answered => "answered",
                };
                TraceEvent {
                    task,
                    stream: task.and_then(of_task),
                    assignment: Some(assignment.0),
                    annotator: name(annotator),
                    outcome: Some(outcome),
                    late: Some(late),
                    ..ev("lease_closed")
                }
            }
            Effect::LabelStored { task, assignment, annotator, label, fate, late } => TraceEvent {
                task: Some(task),
                stream: of_task(task),
                assignment: Some(assignment.0),
                annotator: name(annotator),
                work: Some("labelling"),
                label: Some(LabelName(label)),
                order: order(stream_of(task), assignment),
                outcome: Some(match fate {
                    LabelFate::Counted => "counted",
                    LabelFate::Extra => "extra",
                    LabelFate::Discarded => "discarded",
                }),
                late: Some(late),
                ..ev("label")
            },
            Effect::GoldChecked { assignment, annotator, stream, label, right, .. } => TraceEvent {
                stream: sname(stream),
                assignment: Some(assignment.0),
                annotator: name(annotator),
                work: Some("gold"),
                label: Some(LabelName(label)),
                order: order(Some(stream), assignment),
                right: Some(right),
                ..ev("gold")
            },
            Effect::Reviewed { task, assignment, annotator, accepted, applied } => TraceEvent {
                task: Some(task),
                stream: of_task(task),
                assignment: Some(assignment.0),
                annotator: name(annotator),
                work: Some("review"),
                accepted: Some(accepted),
                outcome: Some(if applied { "counted" } else { "extra" }),
                ..ev("review")
            },
            Effect::ReviewRequested { task } => TraceEvent { task: Some(task), stream: of_task(task), ..ev("review_requested") },
            Effect::Rework { task } => TraceEvent { task: Some(task), stream: of_task(task), ..ev("rework") },
            Effect::Final { task, label, confidence, .. } => {
                TraceEvent { task: Some(task), stream: of_task(task), label: Some(LabelName(label)), confidence: Some(confidence), ..ev("final") }
            }
            Effect::Settled { task } => TraceEvent { task: Some(task), stream: of_task(task), ..ev("settled") },
            Effect::LeftUnserved { task, .. } => TraceEvent { task: Some(task), stream: of_task(task), ..ev("left_unserved") },
            Effect::Reopened { task, .. } => TraceEvent { task: Some(task), stream: of_task(task), ..ev("reopen") },
            Effect::Banned { annotator, until } => TraceEvent { annotator: name(annotator), until_us: until.map(|u| epoch.absolute(u)), ..ev("ban") },
            Effect::Unbanned { annotator } => TraceEvent { annotator: name(annotator), ..ev("unban") },
            Effect::Duplicate { assignment } => TraceEvent { assignment: Some(assignment.0), ..ev("duplicate") },
            Effect::Rejected { command, reason } => TraceEvent { reason: Some(format!("{reason:?}: {}", serde_json::to_string(&command).unwrap_or_default())), ..ev("rejected") },
            // A task's stage changes are not traced (its leases' assign lines name their stage).
            Effect::Paid { .. } | Effect::ModelPaid { .. } | Effect::PreAnnotate { .. } | Effect::Schedule { .. } | Effect::TrustChanged { .. } | Effect::StageEntered { .. } => return None,
        })
    }
}
