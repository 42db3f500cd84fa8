//! Figures per ML model over the statistics window: how its pre-labels' confidence relates to
//! being right (a reliability diagram in ten equal-width bins and the expected calibration error,
//! ECE = Σ_b (n_b / n) |share right_b − mean confidence_b|, Guo et al. 2017), and for a model that
//! learns, its retrains, what they cost, and the accuracy of the model serving at the end.

use serde::Serialize;
use std::collections::BTreeMap;

const BINS: usize = 10;

/// The counters of one model.
#[derive(Clone, Debug, Default)]
pub struct ModelBook {
    /// Per confidence bin: pre-labels, their summed confidence, and those right.
    bins: [(u64, f64, u64); BINS],
    retrains: u64,
    retrain_usd: f64,
    /// Training labels of the model serving now, and its accuracy.
    labels_trained: u64,
    accuracy_now: f64,
    /// `learning.target_accuracy`, and what it took to reach it: (training labels, work hours,
    /// cost [USD], hours into the window).
    target: Option<f64>,
    reached: Option<[f64; 4]>,
}

/// One bin of the reliability diagram.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReliabilityBin {
    pub prelabels: u64,
    pub mean_confidence: f64,
    pub share_right: f64,
}

/// summary.json's `models.<name>`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ModelFigures {
    /// Pre-labels given in the window, and the share of them that were right.
    pub prelabels: u64,
    pub accuracy: f64,
    pub mean_confidence: f64,
    /// Expected calibration error over the ten bins (0 = calibrated).
    pub ece: f64,
    /// By confidence bin ("0.9-1.0" holds confidences in [0.9, 1.0]).
    pub reliability: BTreeMap<String, ReliabilityBin>,
    /// Retrains started in the window and their cost [USD] (also in `cost.model_usd`).
    pub retrains: u64,
    pub retrain_usd: f64,
    /// The model serving at the end: its training labels and its accuracy (hidden from the
    /// operation; a model that does not learn keeps its `accuracy`).
    pub labels_trained: u64,
    pub accuracy_at_end: f64,
    /// When the serving model first reached `learning.target_accuracy` (null when it has no
    /// target or never reached it): its training labels, people's busy hours and the cost of
    /// work and models so far [USD] (idle paid time left out), and the hours into the window.
    pub target_labels: f64,
    pub target_work_h: f64,
    pub target_usd: f64,
    pub target_at_h: f64,
}

impl ModelBook {
    pub fn new(accuracy: f64, labels: u64, target: Option<f64>) -> ModelBook {
        ModelBook { accuracy_now: accuracy, labels_trained: labels, target, ..Default::default() }
    }

    /// Whether a model serving at `accuracy` reaches the target for the first time.
    pub fn reaches_target(&self, accuracy: f64) -> bool {
        self.reached.is_none() && self.target.is_some_and(|t| accuracy >= t)
    }

    /// The target was reached with these (labels, work hours, cost, hours into the window).
    pub fn target_reached(&mut self, at: [f64; 4]) {
        self.reached = Some(at);
    }

    /// A pre-label given in the window.
    pub fn prelabel(&mut self, confidence: f32, right: bool) {
        let c = (confidence as f64).clamp(0.0, 1.0);
        let b = &mut self.bins[((c * BINS as f64) as usize).min(BINS - 1)];
        b.0 += 1;
        b.1 += c;
        b.2 += right as u64;
    }

    /// A retrain started (`counted`: in the window) for `usd`.
    pub fn retrain_started(&mut self, counted: bool, usd: f64) {
        if counted {
            self.retrains += 1;
            self.retrain_usd += usd;
        }
    }

    /// A retrained model serves from now on.
    pub fn serving(&mut self, accuracy: f64, labels: u64) {
        self.accuracy_now = accuracy;
        self.labels_trained = labels;
    }

    pub fn figures(&self) -> ModelFigures {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        let n: u64 = self.bins.iter().map(|b| b.0).sum();
        let right: u64 = self.bins.iter().map(|b| b.2).sum();
        let conf: f64 = self.bins.iter().map(|b| b.1).sum();
        let ece = self.bins.iter().filter(|b| b.0 > 0).map(|b| b.0 as f64 / n as f64 * (b.2 as f64 / b.0 as f64 - b.1 / b.0 as f64).abs()).sum::<f64>();
        let reliability = self
            .bins
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let key = format!("{:.1}-{:.1}", i as f64 / BINS as f64, (i + 1) as f64 / BINS as f64);
                (key, ReliabilityBin { prelabels: b.0, mean_confidence: ratio(b.1, b.0 as f64), share_right: ratio(b.2 as f64, b.0 as f64) })
            })
            .collect();
        ModelFigures {
            prelabels: n,
            accuracy: ratio(right as f64, n as f64),
            mean_confidence: ratio(conf, n as f64),
            ece: if n > 0 { ece } else { f64::NAN },
            reliability,
            retrains: self.retrains,
            retrain_usd: self.retrain_usd,
            labels_trained: self.labels_trained,
            accuracy_at_end: self.accuracy_now,
            target_labels: self.reached.map_or(f64::NAN, |r| r[0]),
            target_work_h: self.reached.map_or(f64::NAN, |r| r[1]),
            target_usd: self.reached.map_or(f64::NAN, |r| r[2]),
            target_at_h: self.reached.map_or(f64::NAN, |r| r[3]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ECE by hand: two bins, one calibrated, one 20 points over-confident, half the pre-labels each.
    #[test]
    fn ece_weights_each_bins_gap_by_its_share() {
        let mut b = ModelBook::new(0.8, 0, None);
        for i in 0..100 {
            b.prelabel(0.55, i < 55); // [0.5, 0.6): calibrated
            b.prelabel(0.95, i < 75); // [0.9, 1.0]: right 75% at 95% confidence
        }
        let f = b.figures();
        assert_eq!(f.prelabels, 200);
        assert!((f.ece - 0.5 * 0.20).abs() < 1e-9, "{}", f.ece);
        assert!((f.accuracy - 0.65).abs() < 1e-12);
        assert_eq!(f.reliability["0.9-1.0"].prelabels, 100);
        assert!(f.reliability["0.0-0.1"].share_right.is_nan());
    }
}
