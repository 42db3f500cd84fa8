//! The learning-curve experiment: one seed's random order of pool items, one simulated annotator
//! label per item, and the learner's test accuracy after the first `n` labels for each `n`.
//!
//! The annotators are the scenario's noise model for a binary task: a label is the true class with
//! probability `p` (the annotator accuracy), else the other class. Each item's label comes from
//! its own uniform draw `u` (right iff `u < p`), so for one seed the order and the draws are the
//! same at every `p` and a higher `p` only turns wrong labels right. The curve is nested: the
//! model at `n` sees the labels of the model at any smaller `n`, plus more.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::logistic::{LearnerError, LogisticConfig, LogisticLearner};
use crate::wine::WineQuality;

/// The label counts of the experiment: the fit uses those ≤ 200, the rest are forecast.
pub const LABEL_COUNTS: [usize; 8] = [25, 50, 75, 100, 150, 200, 400, 800];

/// ChaCha8 streams (the seed picks the key), apart from `wine`'s split stream.
const ORDER_STREAM: u64 = 0xC0_0001;
const LABEL_STREAM: u64 = 0xC0_0002;

/// One point of a learning curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// Labels the learner was fitted on.
    pub labels: usize,
    /// Its accuracy on the held-out test set.
    pub test_accuracy: f64,
}

/// One seed's labelling run: every pool item in a random order with one simulated annotator
/// label each (`annotator_accuracy` in [0, 1]).
pub fn simulate_labels(data: &WineQuality, seed: u64, annotator_accuracy: f64) -> Vec<(usize, u16)> {
    let mut order: Vec<usize> = (0..data.pool_len()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(ORDER_STREAM);
    order.shuffle(&mut rng);
    let mut draws = ChaCha8Rng::seed_from_u64(seed);
    draws.set_stream(LABEL_STREAM);
    order
        .into_iter()
        .map(|item| {
            let truth = data.true_class(item);
            let right = draws.random::<f64>() < annotator_accuracy;
            (item, if right { truth } else { 1 - truth })
        })
        .collect()
}

/// The learning curve at `label_counts` (each at most the pool size): the learner fitted on the
/// first `n` labels of [`simulate_labels`], scored on the test set.
pub fn learning_curve(
    data: &WineQuality,
    seed: u64,
    annotator_accuracy: f64,
    label_counts: &[usize],
    config: LogisticConfig,
) -> Result<Vec<CurvePoint>, LearnerError> {
    let labels = simulate_labels(data, seed, annotator_accuracy);
    let mut learner = LogisticLearner::new(config);
    label_counts
        .iter()
        .map(|&n| {
            let n = n.min(labels.len());
            learner.fit(data, &labels[..n])?;
            Ok(CurvePoint { labels: n, test_accuracy: learner.test_accuracy(data) })
        })
        .collect()
}
