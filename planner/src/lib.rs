//! tessera-planner: answers the operations planner's question (how many annotators of which
//! pool, with what overlap per stream, meet an accuracy and a turnaround target at the lowest
//! cost, paying at least a floor wage?) and proves the answer by simulation.
//!
//! `plan/`: the model (`model.rs`: rates, hours per label, pay), the accuracy of majority vote
//! under the scenario's accuracy model (`accuracy.rs`), the MILP (`milp.rs`, good_lp + microlp)
//! and the closed loop that simulates a plan and tightens what it missed (`closed_loop.rs`).
//!
//! Architecture invariant: depends on the engine only; no I/O (the CLI reads and writes files).

pub mod plan;
