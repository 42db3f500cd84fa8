//! tessera-reports: writing what a run produced. `summary.json` (figures with confidence
//! intervals), `tasks.csv` (one row per task), `events.jsonl` (the trace) and the short terminal
//! summary. HTML reports with charts come with the reporting issue.
//!
//! Architecture invariant: reports only format results; they never change or recompute a figure
//! that the engine produced.

mod files;
mod text;

pub use files::{write_summary_json, write_tasks_csv, write_trace_jsonl};
pub use text::human_summary;
