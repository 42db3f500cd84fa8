//! tessera-reports: writing what a run produced. `summary.json` (figures with confidence
//! intervals), `tasks.csv` (one row per task, streamed), `series.csv` (bounded time series),
//! `events.jsonl` (the trace), the short terminal
//! summary and the routing leaderboard of `tessera bench` (`leaderboard.md`, `leaderboard.csv`).
//! HTML reports with charts come with the reporting issue.
//!
//! Architecture invariant: reports only format results; they never change or recompute a figure
//! that the engine produced.

mod files;
mod leaderboard;
mod text;

pub use files::{join_parts, BiasWriter, part_path, remove_parts, task_row, write_series_csv, SeriesWriter, write_summary_json, TasksPart, TracePart, TASKS_CSV_HEADER};
pub use leaderboard::{best, leaderboard_csv, leaderboard_md, leaderboard_streams_csv, SeedSet, StreamTable, Table, DIGITS, STREAM_FIGURES};
pub use text::{human_secs, human_summary};
