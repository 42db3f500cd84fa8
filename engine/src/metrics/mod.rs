//! Metrics: the monitor that watches a run, summary statistics with confidence intervals, and the
//! Erlang C formulas the simulator is checked against.

pub mod erlang;
mod monitor;
pub mod stats;

pub use monitor::{Monitor, TimeAverage};
