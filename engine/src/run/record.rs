//! Per-task records (tasks.csv) and trace events (events.jsonl).

use serde::Serialize;

/// One row of tasks.csv: a task's life from arrival to final label.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TaskRecord {
    /// Arrival order over the run.
    pub task: u64,
    pub stream: String,
    pub task_type: String,
    pub priority: u32,
    /// [s] since the start of the run.
    pub arrival_s: f64,
    pub first_start_s: Option<f64>,
    pub final_s: Option<f64>,
    /// [s] from arrival to first service.
    pub wait_s: Option<f64>,
    /// [s] from arrival to final label.
    pub time_in_system_s: Option<f64>,
    pub labels: u16,
    pub abandonments: u16,
    /// Times an expert sent it back.
    pub reworks: u16,
    /// Times a ban re-opened its final label, and the time [s] it spent final in between.
    pub reopened: u16,
    pub reopened_gap_s: f64,
    pub final_label: Option<u16>,
    pub confidence: Option<f32>,
    pub true_label: u16,
    pub correct: Option<bool>,
    pub deadline_s: Option<f64>,
    pub deadline_missed: bool,
    /// [USD] per-item pay for this task's labels (hourly pay is not split per task).
    pub item_cost_usd: f64,
    /// Arrived after the warm-up: included in the statistics.
    pub counted: bool,
}

/// What happened, for --trace.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Arrive,
    PreLabel,
    Assign,
    Submit,
    Abandon,
    Final,
    OnShift,
    OffShift,
    Ban,
    Reopen,
}

/// One line of events.jsonl.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct TraceEvent {
    /// [µs] since the start of the run.
    pub t_us: u64,
    pub event: EventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotator: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<u16>,
}
