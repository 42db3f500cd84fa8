//! tessera-learn: learned routing. The routing environment over the simulator (`env`: rollouts
//! are simulation runs with a recording router), the per-decision reward (`reward`), the
//! actor-critic in burn (`model`), PPO and behaviour cloning (`ppo`), and the training loop with
//! checkpoints (`train`); evolution strategies' fine-tuning on the bench's own figure (`es`); and the environment one decision at a time, for callers that drive it
//! (`step`: Gymnasium, through the Python package). The trained policy is a policy file that
//! `tessera_policies::learned` runs without burn: only this crate builds burn.

pub mod env;
pub mod es;
pub mod model;
pub mod ppo;
pub mod reward;
pub mod step;
pub mod train;

#[cfg(test)]
mod tests;
