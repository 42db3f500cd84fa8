//! The learner in the simulation's loop: Wine Quality's pool as the engine's `ItemSet` and
//! logistic regression as its `ItemLearner`, registered as `"wine-logistic"` ([`register`]).
//!
//! An item's difficulty is how close a reference model, fitted on every pool item with its true
//! class, puts it to the decision boundary: d = 1 − |2p − 1| for its probability p of class 1 (0
//! for a wine the reference is sure of, 1 on the boundary). The reference sees labels no simulated
//! operation has; it only says which items are hard, as the engine's synthetic difficulty does.

use std::sync::Arc;

use tessera_engine::domain::learner::{ItemLearner, ItemSet};

use crate::logistic::{LogisticConfig, LogisticLearner};
use crate::wine::WineQuality;

/// The name scenarios use (`models.learner = "wine-logistic"`).
pub const NAME: &str = "wine-logistic";

/// Wine Quality's pool with each item's difficulty.
pub struct WineItems {
    pub data: Arc<WineQuality>,
    difficulty: Vec<f32>,
}

impl WineItems {
    pub fn new(data: Arc<WineQuality>) -> WineItems {
        let mut reference = LogisticLearner::new(LogisticConfig::default());
        let all: Vec<(usize, u16)> = (0..data.pool_len()).map(|i| (i, data.true_class(i))).collect();
        let difficulty = match reference.fit(&data, &all) {
            Ok(()) => (0..data.pool_len())
                .map(|i| {
                    let p = reference.predict(&data, i);
                    let p1 = if p.label == 1 { p.confidence } else { 1.0 - p.confidence };
                    (1.0 - (2.0 * p1 - 1.0).abs()).clamp(0.0, 1.0)
                })
                .collect(),
            Err(_) => vec![0.5; data.pool_len()],
        };
        WineItems { data, difficulty }
    }
}

impl ItemSet for WineItems {
    fn len(&self) -> usize {
        self.data.pool_len()
    }
    fn classes(&self) -> u16 {
        2
    }
    fn truth(&self, item: u32) -> u16 {
        if item as usize >= self.data.pool_len() {
            return 0;
        }
        self.data.true_class(item as usize)
    }
    fn difficulty(&self, item: u32) -> f32 {
        self.difficulty.get(item as usize).copied().unwrap_or(0.5)
    }
}

/// Logistic regression refitted on the labels collected so far.
pub struct WineLogistic {
    data: Arc<WineQuality>,
    learner: LogisticLearner,
}

impl ItemLearner for WineLogistic {
    fn fit(&mut self, labels: &[(u32, u16)]) -> Result<(), String> {
        let labels: Vec<(usize, u16)> = labels.iter().map(|&(i, l)| (i as usize, l)).collect();
        self.learner.fit(&self.data, &labels).map_err(|e| e.to_string())
    }
    fn predict(&self, item: u32) -> (u16, f32) {
        if item as usize >= self.data.pool_len() {
            return (0, 0.5); // not one of its items: no opinion
        }
        let p = self.learner.predict(&self.data, item as usize);
        (p.label, p.confidence)
    }
    fn test_accuracy(&self) -> f64 {
        self.learner.test_accuracy(&self.data)
    }
}

/// A replication's learner: the split drawn from `seed`.
pub fn make(seed: u64) -> (Arc<dyn ItemSet>, Box<dyn ItemLearner>) {
    let data = Arc::new(WineQuality::load(seed));
    let items = Arc::new(WineItems::new(data.clone()));
    (items, Box::new(WineLogistic { data, learner: LogisticLearner::new(LogisticConfig::default()) }))
}

/// Makes `"wine-logistic"` known to the engine (idempotent).
pub fn register() {
    tessera_engine::domain::learner::register(NAME, make);
}
