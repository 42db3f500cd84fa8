//! tessera-reports: writing what a run produced. `summary.json` (figures with confidence
//! intervals), `tasks.csv` (one row per task, streamed), `series.csv` (bounded time series),
//! `events.jsonl` (the trace), the short terminal
//! summary and the routing leaderboard of `tessera bench` (`leaderboard.md`, `leaderboard.csv`).
//! Self-contained HTML reports with plotters charts (`chart.rs`, `html.rs`) for `simulate
//! --report` (`sim_report.rs`), `sweep`, `forecast` and `bench`.
//!
//! Architecture invariant: reports only format results; they never change or recompute a figure
//! that the engine produced.

pub mod background;
pub mod chart;
mod files;
pub mod html;
mod sim_report;
pub mod tasks_thread;
mod leaderboard;
mod text;

pub use files::{join_parts, BiasWriter, part_path, remove_parts, task_row, write_series_csv, SeriesWriter, write_summary_json, TasksPart, TracePart, TASKS_CSV_HEADER};
pub use leaderboard::{best, leaderboard_csv, leaderboard_report, leaderboard_md, leaderboard_streams_csv, SeedSet, StreamTable, Table, DIGITS, STREAM_FIGURES};
pub use sim_report::{figure, simulate_report};
pub use text::{human_secs, human_summary};
