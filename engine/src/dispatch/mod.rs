//! Routing: who gets which task. The [`Router`] trait is the one interface every routing policy
//! implements (FIFO and skill-greedy here; the rest in tessera-policies). Policies decide on
//! [`RouteState`]: task views keyed by durable ids, annotator views, the waiting queue (which owns
//! its order) and the idle set; the decision core (`crate::core`) asks them and applies the answer.
//! Policies that index the queue follow the views' and the queue's change logs ([`Changes`]).

mod changes;
mod fifo;
mod queue;
mod router;
mod skill_greedy;
mod views;

pub use changes::Changes;
pub use fifo::Fifo;
pub use queue::{StreamFacts, WaitQueue};
pub use router::{eligible, AnnotatorView, IndexSet, RouteState, Router, Skill, TaskView};
pub use skill_greedy::SkillGreedy;
pub use views::TaskViews;

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
