//! The actor kernel: what an actor is, what it may ask of its runtime, and the simulated runtime.
//!
//! ```text
//!            send / send_in / cancel
//!   Actor ──────────────────────────────▶ Context (trait)
//!     ▲                                    │ implemented by
//!     │ handle(msg, ctx)                   ├── SimCore   (virtual time, event list; this crate)
//!     └────────────────────────────────────└── live runtime (wall clock; tessera-live)
//! ```
//! An actor never reads a clock or a global random source: time, randomness and messaging all come
//! through its [`Context`], so the same actor runs under virtual or wall-clock time.

mod actor;
mod event_list;
mod rng;
mod sim;

pub use actor::{Actor, ActorId, Context, TimerId};
pub use event_list::EventList;
pub use rng::{stream_key, stream_rng, ActorRng};
pub use sim::{SimCore, Simulation};
