//! Real learners in the loop: a model whose pre-labels come from a classifier fitted on the final
//! labels people gave to real items (a dataset's rows), instead of a fixed or curve-given accuracy.
//!
//! The engine knows only these traits; a learner lives in its own crate (tessera-learners: linfa's
//! logistic regression on Wine Quality) so that the engine builds no linear algebra. A scenario
//! names one with `models.learner`; the binary registers the learners it links ([`register`]).
//!
//! A stream pre-labelled by such a model draws its tasks from the learner's pool of items, in an
//! order fixed by the seed (each item once; a run longer than the pool starts the order again):
//! a task's hidden truth is its item's class and its difficulty the item's (what the learner says
//! makes the item hard, e.g. closeness to the decision boundary of a model fitted on every item).

use std::sync::{Arc, RwLock};

/// The items a learner is fitted on: immutable, shared by the stream's source and the model.
pub trait ItemSet: Send + Sync {
    /// Items tasks are drawn from (the held-out test items are not among them).
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Number of classes.
    fn classes(&self) -> u16;
    /// An item's true class.
    fn truth(&self, item: u32) -> u16;
    /// An item's difficulty in [0, 1].
    fn difficulty(&self, item: u32) -> f32;
}

/// A classifier fitted on (item, label) pairs.
pub trait ItemLearner: Send {
    /// Fits a fresh model on these labels (the previous model serves on when it fails).
    fn fit(&mut self, labels: &[(u32, u16)]) -> Result<(), String>;
    /// The label it gives an item and its confidence in it, in [0, 1].
    fn predict(&self, item: u32) -> (u16, f32);
    /// Accuracy on the held-out test items.
    fn test_accuracy(&self) -> f64;
}

/// Makes a learner for one replication: its items and a fresh, unfitted learner over them.
pub type LearnerFactory = fn(seed: u64) -> (Arc<dyn ItemSet>, Box<dyn ItemLearner>);

static REGISTRY: RwLock<Vec<(&'static str, LearnerFactory)>> = RwLock::new(Vec::new());

/// Makes a learner known by `name` (idempotent).
pub fn register(name: &'static str, factory: LearnerFactory) {
    let mut r = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    if !r.iter().any(|(n, _)| *n == name) {
        r.push((name, factory));
    }
}

/// The factory registered as `name`.
pub fn factory(name: &str) -> Option<LearnerFactory> {
    REGISTRY.read().unwrap_or_else(|e| e.into_inner()).iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// The registered learners' names.
pub fn registered() -> Vec<&'static str> {
    REGISTRY.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(n, _)| *n).collect()
}

/// A stream's draw of items: a permutation of the pool, fixed by the seed, without the items the
/// starting model was trained on.
pub struct ItemDraw {
    pub set: Arc<dyn ItemSet>,
    pub order: Vec<u32>,
    pub next: usize,
}

impl ItemDraw {
    /// The next task's (truth, difficulty, item).
    pub fn draw(&mut self) -> (u16, f32, u32) {
        if self.order.is_empty() {
            return (0, 0.0, u32::MAX);
        }
        let item = self.order[self.next % self.order.len()];
        self.next += 1;
        (self.set.truth(item), self.set.difficulty(item), item)
    }
}

/// The pool in an order drawn from `rng`: the first `initial` items train the starting model, the
/// rest are the stream's tasks.
pub fn split_pool(len: usize, initial: usize, rng: &mut impl rand::Rng) -> (Vec<u32>, Vec<u32>) {
    use rand::seq::SliceRandom;
    let mut order: Vec<u32> = (0..len as u32).collect();
    order.shuffle(rng);
    let rest = order.split_off(initial.min(len));
    (order, rest)
}
