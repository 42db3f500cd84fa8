//! `LogisticLearner`: L2-regularised logistic regression (linfa-logistic, L-BFGS) fitted on the
//! labels a simulation has collected for pool items, predicting a label and its probability.
//!
//! Deterministic: the same labels in the same order give bitwise the same model (L-BFGS from a
//! zero start, a fixed iteration cap, no randomness, single-threaded ndarray).

use linfa::traits::Fit;
use linfa::DatasetBase;
use linfa_logistic::{FittedLogisticRegression, LogisticRegression};
use ndarray::{Array1, ArrayView2, Axis};
use thiserror::Error;

use crate::wine::WineQuality;

/// Why a fit failed. The learner keeps its previous model when `fit` returns an error.
#[derive(Debug, Error)]
pub enum LearnerError {
    #[error("pool item {item} is out of range: the pool has {len} items")]
    ItemOutOfRange { item: usize, len: usize },
    #[error("label {0} is not a class of this binary task (0 or 1)")]
    BadLabel(u16),
    #[error("logistic regression fit failed: {0}")]
    Fit(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The fit's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogisticConfig {
    /// L2 weight on the coefficients (not the intercept); linfa's loss is the *sum* of the log
    /// losses plus `alpha/2 · |w|²`, so `alpha = 1` is scikit-learn's default `C = 1`.
    pub alpha: f64,
    /// L-BFGS iterations at most.
    pub max_iterations: u64,
}

impl Default for LogisticConfig {
    fn default() -> Self {
        LogisticConfig { alpha: 1.0, max_iterations: 200 }
    }
}

/// A predicted class and the model's probability of that class (≥ 0.5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub label: u16,
    pub confidence: f32,
}

#[derive(Debug, Clone)]
enum Model {
    /// No model: every item gets P(class 1) = this (0.5 before any labels; the smoothed share of
    /// the only class seen when the labels hold one class).
    Constant(f64),
    Fitted(FittedLogisticRegression<f64, u16>),
}

/// Logistic regression over a [`WineQuality`] pool.
///
/// Degenerate inputs fall back to a constant model instead of failing: with no labels every item
/// gets class 1 at confidence 0.5 (the prior); with labels of one class only, that class at
/// confidence `(k + 1) / (k + 2)` for `k` labels (the Laplace-smoothed share of the class, so one
/// label does not claim certainty).
#[derive(Debug, Clone)]
pub struct LogisticLearner {
    config: LogisticConfig,
    model: Model,
}

impl LogisticLearner {
    /// An unfitted learner: predicts the prior until `fit` succeeds.
    pub fn new(config: LogisticConfig) -> Self {
        LogisticLearner { config, model: Model::Constant(0.5) }
    }

    /// Fit on `(pool item, label)` pairs (an item may appear more than once: one row per label).
    pub fn fit(&mut self, data: &WineQuality, labels: &[(usize, u16)]) -> Result<(), LearnerError> {
        let len = data.pool_len();
        let mut items = Vec::with_capacity(labels.len());
        let mut targets = Vec::with_capacity(labels.len());
        for &(item, label) in labels {
            if item >= len {
                return Err(LearnerError::ItemOutOfRange { item, len });
            }
            if label > 1 {
                return Err(LearnerError::BadLabel(label));
            }
            items.push(item);
            targets.push(label);
        }
        let ones = targets.iter().filter(|&&l| l == 1).count();
        let k = targets.len();
        if ones == 0 || ones == k {
            let smoothed = (k as f64 + 1.0) / (k as f64 + 2.0);
            self.model = Model::Constant(if ones == 0 { 1.0 - smoothed } else { smoothed });
            return Ok(());
        }
        let x = data.pool_matrix().select(Axis(0), &items);
        let dataset = DatasetBase::new(x, Array1::from(targets));
        let fitted = LogisticRegression::default()
            .alpha(self.config.alpha)
            .max_iterations(self.config.max_iterations)
            .fit(&dataset)
            .map_err(|e| LearnerError::Fit(Box::new(e)))?;
        self.model = Model::Fitted(fitted);
        Ok(())
    }

    /// The predicted class of a pool item and its probability. Panics if `item` is out of range.
    pub fn predict(&self, data: &WineQuality, item: usize) -> Prediction {
        let p1 = self.p_good(data.pool_matrix().slice(ndarray::s![item..item + 1, ..]))[0];
        decide(p1)
    }

    /// Accuracy on the held-out test set.
    pub fn test_accuracy(&self, data: &WineQuality) -> f64 {
        let p1 = self.p_good(data.test_matrix());
        let right =
            p1.iter().zip(data.test_classes()).filter(|(&p, &y)| decide(p).label == y).count();
        right as f64 / data.test_len() as f64
    }

    /// P(class 1) for each row.
    fn p_good(&self, x: ArrayView2<'_, f64>) -> Array1<f64> {
        match &self.model {
            Model::Constant(p) => Array1::from_elem(x.nrows(), *p),
            Model::Fitted(m) => {
                // linfa's probability is that of its "positive" class: the larger one in the fit
                let p = m.predict_probabilities(&x);
                if m.labels().pos.class == 1 {
                    p
                } else {
                    p.mapv(|q| 1.0 - q)
                }
            }
        }
    }
}

/// Class 1 when P(class 1) ≥ 0.5.
fn decide(p1: f64) -> Prediction {
    if p1 >= 0.5 {
        Prediction { label: 1, confidence: p1 as f32 }
    } else {
        Prediction { label: 0, confidence: (1.0 - p1) as f32 }
    }
}
