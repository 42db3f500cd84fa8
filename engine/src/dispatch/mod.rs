//! Dispatch: who gets which task. The [`Router`] trait is the one interface every routing policy
//! implements (FIFO and skill-greedy here; the rest in tessera-policies); the [`Dispatcher`] actor
//! owns the waiting queue, the idle annotators and every live task, and asks its router.

mod dispatcher;
mod fifo;
mod queue;
mod router;
mod skill_greedy;
mod table;

pub use dispatcher::{Dispatcher, DispatcherConfig, ModelRef, QualityConfig, ReviewConfig};
pub use fifo::Fifo;
pub use queue::{StreamFacts, WaitQueue};
pub use router::{eligible, AnnotatorView, RouteState, Router, Skill};
pub use skill_greedy::SkillGreedy;
pub use table::TaskTable;

/// The routing policies built into the engine, by scenario name.
pub fn builtin_router(name: &str) -> Option<Box<dyn Router>> {
    match name {
        "fifo" => Some(Box::new(Fifo)),
        "skill-greedy" => Some(Box::new(SkillGreedy)),
        _ => None,
    }
}

/// Names accepted by [`builtin_router`].
pub const BUILTIN_ROUTERS: &[&str] = &["fifo", "skill-greedy"];
