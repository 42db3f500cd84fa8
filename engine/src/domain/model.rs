//! ML models that pre-annotate tasks: a label with its own accuracy and a calibrated confidence,
//! after an inference latency.

use super::{noisy_label, Msg};
use crate::kernel::{Actor, ActorId, ActorRng, Context};
use crate::time::Dur;
use rand::Rng;

/// A pre-annotation model actor.
pub struct Model {
    pub dispatcher: ActorId,
    /// Probability that the pre-label is the true label.
    pub accuracy: f64,
    /// Inference time per task.
    pub latency: Dur,
    /// Spread of the confidence around the accuracy (`models.confidence_concentration`).
    pub concentration: f64,
    /// Its own stream for confidences, so that adding them left every pre-label as it was.
    pub confidence_rng: ActorRng,
}

impl Model {
    /// A confidence c that is calibrated: with c ~ Beta(a k, (1 − a) k) and the pre-label right
    /// with probability c, P(right) = a and P(right | c) = c. Given whether the pre-label is
    /// right, c is drawn from its posterior: Beta(a k + 1, (1 − a) k) when right,
    /// Beta(a k, (1 − a) k + 1) when wrong.
    pub fn confidence(accuracy: f64, k: f64, right: bool, rng: &mut impl Rng) -> f32 {
        let (a, b) = ((accuracy * k).max(1e-9), ((1.0 - accuracy) * k).max(1e-9));
        let (a, b) = if right { (a + 1.0, b) } else { (a, b + 1.0) };
        rand_distr::Beta::new(a, b).map_or(accuracy, |d| rng.sample(d)).clamp(0.0, 1.0) as f32
    }
}

impl Actor<Msg> for Model {
    fn handle<C: Context<Msg> + ?Sized>(&mut self, msg: Msg, ctx: &mut C) {
        if let Msg::PreAnnotate { task, truth, classes } = msg {
            let label = noisy_label(truth, classes, self.accuracy, ctx.rng());
            let confidence = Model::confidence(self.accuracy, self.concentration, label == truth, &mut self.confidence_rng);
            ctx.send_in(self.latency, self.dispatcher, Msg::PreLabel { task, label, confidence });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::stream_rng;

    /// Confidences are calibrated: among pre-labels with confidence in a bin, the share right is
    /// the bin's mean confidence; overall the share right is the accuracy.
    #[test]
    fn confidences_are_calibrated() {
        let mut rng = stream_rng(1, 2);
        let (acc, k) = (0.8, 4.0);
        let mut bins = vec![(0.0f64, 0u64, 0u64); 10];
        let n = 400_000;
        let mut right_total = 0;
        for _ in 0..n {
            let right = rng.random::<f64>() < acc;
            right_total += right as u64;
            let c = Model::confidence(acc, k, right, &mut rng) as f64;
            let b = &mut bins[((c * 10.0) as usize).min(9)];
            b.0 += c;
            b.1 += 1;
            b.2 += right as u64;
        }
        assert!((right_total as f64 / n as f64 - acc).abs() < 0.005);
        for (sum, count, right) in bins.into_iter().filter(|b| b.1 > 5_000) {
            let (mean, share) = (sum / count as f64, right as f64 / count as f64);
            assert!((mean - share).abs() < 0.02, "bin mean confidence {mean:.3}, share right {share:.3}");
        }
    }
}
