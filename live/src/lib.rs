//! tessera-live: the live runtime. The decision core of `tessera-engine` driven by the wall clock
//! and a durable store, behind an HTTP API that clients and annotation tools call.
//!
//! ```text
//!  HTTP (actix-web, http.rs) ──▶ Op ──▶ writer thread (store/sqlite.rs: one transaction per batch)
//!                                          │ ops.rs: Op → log entries (log.rs) → Core (state.rs)
//!                                          │         effects → rows (store::Row) + the answer
//!                                          ▼
//!                                  SQLite file (WAL, synchronous=FULL): the source of truth
//!        webhooks.rs: outbox → signed POSTs        trace.rs: log → replay → events.jsonl
//! ```
//!
//! The store is the truth: every input a core was fed is in the log, so a restarted server
//! rebuilds each core by replaying it, and no decision rests on memory the store cannot rebuild.

pub mod api;
pub mod auth;
pub mod clock;
pub mod drift;
pub mod error;
pub mod http;
pub mod loadgen;
pub mod log;
pub mod metrics;
pub mod ops;
pub mod project;
pub mod queue;
pub mod server;
pub mod state;
pub mod store;
pub mod trace;
pub mod webhooks;
