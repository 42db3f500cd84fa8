//! tessera-policies: routing policies behind the engine's `Router` trait and the LP planner.
//! The foundation ships FIFO and skill-greedy inside the engine; the routing issue fills this crate.
