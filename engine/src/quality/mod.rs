//! Quality control, shared by the simulator and the live server: online consensus, trust,
//! golden-task and agreement histories, and quality rules. The dispatcher calls these on its
//! in-memory state; nothing here does I/O.

pub mod history;
pub mod posterior;
pub mod rules;
pub mod trust;
