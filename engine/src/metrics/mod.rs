//! Metrics: the monitor that watches a run, summary statistics with confidence intervals, the
//! Erlang C formulas the simulator is checked against, and the routing benchmark's reward.

pub mod erlang;
pub mod reward;
mod monitor;
pub mod stats;

pub use monitor::{Monitor, TimeAverage};
