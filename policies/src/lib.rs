//! tessera-policies: routing policies behind the engine's [`Router`] trait, by name. The
//! foundation ships the engine's FIFO and skill-greedy; the routing issue adds the rest here.
//!
//! Architecture invariant: a policy only decides; it sees [`tessera_engine::dispatch::RouteState`]
//! (never hidden truth) and respects the hard constraints of `dispatch::eligible`.

use tessera_engine::dispatch::{builtin_router, Router, BUILTIN_ROUTERS};

/// Every policy name a scenario may use.
pub fn names() -> Vec<&'static str> {
    BUILTIN_ROUTERS.to_vec()
}

/// A fresh router for `name`, or None for an unknown name.
pub fn router(name: &str) -> Option<Box<dyn Router>> {
    builtin_router(name)
}
