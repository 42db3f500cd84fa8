//! tessera-engine: the deterministic discrete-event kernel, the annotation domain (tasks,
//! annotators, models, dispatcher), quality control, the ledger and the monitor.
//!
//! Architecture invariant: the engine does no I/O and never reads a clock or a global random
//! source. It is a pure function of (scenario, seed); files, the network and wall-clock time belong
//! to the crates above it.

pub mod core;
pub mod dispatch;
pub mod domain;
pub mod kernel;
pub mod ledger;
pub mod metrics;
pub mod quality;
pub mod run;
pub mod spec;
pub mod time;
