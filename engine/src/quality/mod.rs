//! Quality control, shared by the simulator and the live server: how the labels of several
//! annotators become one trusted label, and how the operation learns whom to trust.
//!
//! - [`aggregation`]: batch consensus algorithms over an answers table (majority vote, Wawa,
//!   Dawid-Skene, GLAD, MACE, ...), all behind one [`aggregation::Aggregator`] trait;
//! - [`bias`], [`bias_batch`]: annotator bias (class and position) and its batch report on real
//!   answers (smoothed Dawid-Skene as the reference, Benjamini-Hochberg across annotators);
//! - [`posterior`]: online weighted consensus on one task;
//! - [`trust`], [`history`], [`rules`]: per-annotator reliability, golden-task and agreement
//!   windows, and the rules that act on them.
//!
//! Nothing here does I/O; the dispatcher calls these on its in-memory state.

pub mod aggregation;
pub mod bias;
pub mod bias_batch;
pub mod online_ds;
pub mod consensus;

/// Online aggregation methods a scenario may name in `quality.aggregation`.
pub const ONLINE_AGGREGATIONS: &[&str] = &["majority", "weighted"];
pub mod history;
pub mod posterior;
pub mod rules;
pub mod trust;
