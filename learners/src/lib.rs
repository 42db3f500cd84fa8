//! tessera-learners: real learners for the models that learn in the loop, in their own crate so
//! the engine never builds ndarray or argmin. The red Wine Quality data as a binary task, split
//! stratified into a labelling pool and a held-out test set (`wine`); logistic regression from
//! linfa fitted on the labels collected so far (`logistic`); the learning-curve experiment with
//! simulated noisy annotators (`curve`); the inverse power law learning curve (`ipl`); and the
//! forecast of a run's accuracy at more labels, with a bootstrap prediction band (`forecast`); and
//! the adapter that puts the learner in a simulated model's loop (`in_loop`, `"wine-logistic"`).
//!
//! Randomness is ChaCha8 (rand 0.9) keyed by the caller's `u64` seeds, each use on its own stream;
//! linfa's own rand (0.8) is never drawn from: the logistic fit is deterministic.

pub mod curve;
pub mod forecast;
pub mod in_loop;
pub mod ipl;
pub mod logistic;
pub mod wine;

pub use curve::{learning_curve, simulate_labels, CurvePoint, LABEL_COUNTS};
pub use forecast::{forecast, Band, Forecast, ForecastError, ForecastOptions};
pub use ipl::{Ipl, IplError, IplOptions};
pub use logistic::{LearnerError, LogisticConfig, LogisticLearner, Prediction};
pub use wine::WineQuality;

#[cfg(test)]
mod tests;
