//! tessera-learn: learned routing. The routing environment over the simulator (`env`: rollouts
//! are simulation runs with a recording router), the per-decision reward (`reward`), the
//! actor-critic in burn (`model`), PPO and behaviour cloning (`ppo`), and the training loop with
//! checkpoints (`train`). The trained policy is a policy file that `tessera_policies::learned`
//! runs without burn: only this crate builds burn.

pub mod env;
pub mod model;
pub mod ppo;
pub mod reward;
pub mod train;

#[cfg(test)]
mod tests;
