//! Metrics: the monitor that watches a run, summary statistics with confidence intervals,
//! bounded-memory percentiles (DDSketch) and time series, the Erlang C formulas the simulator
//! is checked against, Erlang A (the same queue with impatient customers, for staffing), the fluid capacity bound that says when a workforce is overloaded, ML models' calibration and retrains, and the
//! routing benchmark's reward.

pub mod capacity;
pub mod erlang;
pub mod erlang_a;
pub mod lp;
pub mod models;
mod monitor;
pub mod periods;
pub mod quantiles;
pub mod reward;
pub mod series;
pub mod stages;
pub mod stats;

pub use monitor::{Monitor, StreamTally, TimeAverage};
pub use quantiles::Quantiles;
pub use series::Series;
