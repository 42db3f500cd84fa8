//! ML models that pre-annotate tasks: a label with its own accuracy and a confidence (calibrated,
//! or over-confident by a temperature), after an inference latency; a model that learns retrains
//! on people's final labels and serves a better model after the retrain's latency. Also what a
//! pre-label does to a person's work (`PrelabelWork`, read by the annotator actor).

use super::learner::{ItemLearner, ItemSet};
use super::{noisy_label, Msg};
use crate::kernel::{Actor, ActorId, ActorRng, Context};
use crate::spec::{ModelLearningSpec, ModelSpec, PrelabelTime};
use crate::time::Dur;
use rand::Rng;

/// A pre-annotation model actor.
pub struct Model {
    /// Its index in `[[models]]`.
    pub index: u16,
    pub dispatcher: ActorId,
    /// Probability that the pre-label is the true label (the serving model's).
    pub accuracy: f64,
    /// Inference time per task.
    pub latency: Dur,
    /// Spread of the confidence around the accuracy (`models.confidence_concentration`).
    pub concentration: f64,
    /// Reported confidence = σ(T · logit(calibrated confidence)) (`models.overconfidence`).
    pub overconfidence: f64,
    /// ρ of `models.difficulty_coupling`.
    pub coupling: f64,
    /// Its own stream for confidences, so that adding them left every pre-label as it was.
    pub confidence_rng: ActorRng,
    learning: Option<Learning>,
    /// A real learner (`models.learner`): its predictions are the pre-labels.
    real: Option<Real>,
}

/// A real learner and the (item, label) pairs it trains on, in the order they came in.
struct Real {
    learner: Box<dyn ItemLearner>,
    labels: Vec<(u32, u16)>,
}

/// The state of a model that learns.
struct Learning {
    spec: ModelLearningSpec,
    /// The accuracy it started with, at `spec.initial_labels`.
    accuracy0: f64,
    /// Training labels in hand (the initial ones included), and when the last retrain started.
    labels: u64,
    labels_at_last_start: u64,
    training: bool,
    /// Classes of the task type it labels (the floor of its accuracy).
    classes: u16,
}

impl Learning {
    /// Enough new labels since the last retrain started for the label-count trigger.
    fn retrain_due(&self) -> bool {
        self.spec.retrain_after_labels.is_some_and(|n| self.labels - self.labels_at_last_start >= n)
    }
}

impl Model {
    /// `classes`: of the task type it labels (its accuracy never falls below a guess's).
    pub fn new(index: u16, m: &ModelSpec, classes: u16, dispatcher: ActorId, confidence_rng: ActorRng) -> Model {
        let learning = m.learning.clone().map(|spec| Learning {
            accuracy0: m.accuracy,
            labels: spec.initial_labels,
            labels_at_last_start: spec.initial_labels,
            training: false,
            classes,
            spec,
        });
        Model {
            index,
            dispatcher,
            accuracy: m.accuracy,
            latency: m.latency,
            concentration: m.confidence_concentration,
            overconfidence: m.overconfidence,
            coupling: m.difficulty_coupling,
            confidence_rng,
            learning,
            real: None,
        }
    }

    /// Makes it a real learner, fitted first on `initial` items with their true classes (the
    /// starting model's training set); its accuracy is then its test accuracy.
    pub fn with_learner(mut self, set: &dyn ItemSet, mut learner: Box<dyn ItemLearner>, initial: &[u32]) -> Model {
        let labels: Vec<(u32, u16)> = initial.iter().map(|&i| (i, set.truth(i))).collect();
        // An unfittable start (one class only) predicts as the learner does unfitted.
        let _ = learner.fit(&labels);
        self.accuracy = learner.test_accuracy();
        if let Some(l) = &mut self.learning {
            l.labels = labels.len() as u64;
            l.labels_at_last_start = l.labels;
        }
        self.real = Some(Real { learner, labels });
        self
    }

    /// The serving model's accuracy (a real learner's on its test items).
    pub fn accuracy(&self) -> f64 {
        self.accuracy
    }

    /// A confidence c that is calibrated: with c ~ Beta(a k, (1 − a) k) and the pre-label right
    /// with probability c, P(right) = a and P(right | c) = c. Given whether the pre-label is
    /// right, c is drawn from its posterior: Beta(a k + 1, (1 − a) k) when right,
    /// Beta(a k, (1 − a) k + 1) when wrong.
    pub fn confidence(accuracy: f64, k: f64, right: bool, rng: &mut impl Rng) -> f32 {
        let (a, b) = ((accuracy * k).max(1e-9), ((1.0 - accuracy) * k).max(1e-9));
        let (a, b) = if right { (a + 1.0, b) } else { (a, b + 1.0) };
        rand_distr::Beta::new(a, b).map_or(accuracy, |d| rng.sample(d)).clamp(0.0, 1.0) as f32
    }

    /// The reported confidence of a calibrated one q: σ(T · logit q).
    pub fn overstate(q: f32, t: f64) -> f32 {
        if t == 1.0 || q <= 0.0 || q >= 1.0 {
            return q;
        }
        let q = q as f64;
        let z = t * (q / (1.0 - q)).ln();
        (1.0 / (1.0 + (-z).exp())) as f32
    }

    /// The probability of a right pre-label on an item `harder_by` above its stream's mean
    /// difficulty: a + ρ (d̄ − d)(a − 1/k), clamped to [1/k, 1].
    fn item_accuracy(&self, harder_by: f32, classes: u16) -> f64 {
        if self.coupling == 0.0 {
            return self.accuracy;
        }
        let floor = 1.0 / classes.max(1) as f64;
        (self.accuracy - self.coupling * harder_by as f64 * (self.accuracy - floor)).clamp(floor.min(self.accuracy), 1.0)
    }

    /// Starts a retrain on the labels in hand, if one is not already running.
    fn start_retrain<C: Context<Msg> + ?Sized>(&mut self, ctx: &mut C) {
        let Some(l) = &mut self.learning else { return };
        if l.training {
            return;
        }
        l.training = true;
        l.labels_at_last_start = l.labels;
        let labels = l.labels;
        // A real learner's accuracy is known once it is fitted (`RetrainDone`).
        let accuracy = if self.real.is_some() { f64::NAN } else { l.spec.accuracy(l.accuracy0, labels, l.classes) };
        let usd = l.spec.cost_per_retrain + l.spec.cost_per_label_trained * labels as f64;
        let me = ctx.me();
        ctx.send_in(l.spec.retrain_latency, me, Msg::RetrainDone { labels });
        ctx.send(self.dispatcher, Msg::Retrained { model: self.index, labels, accuracy: accuracy as f32, usd, ready: false });
    }
}

impl Actor<Msg> for Model {
    fn handle<C: Context<Msg> + ?Sized>(&mut self, msg: Msg, ctx: &mut C) {
        match msg {
            Msg::PreAnnotate { task, item, .. } if self.real.is_some() => {
                let (label, confidence) = self.real.as_ref().map_or((0, 0.0), |r| r.learner.predict(item));
                ctx.send_in(self.latency, self.dispatcher, Msg::PreLabel { task, label, confidence: confidence.clamp(0.0, 1.0) });
            }
            Msg::PreAnnotate { task, truth, classes, harder_by, .. } => {
                let p = self.item_accuracy(harder_by, classes);
                let label = noisy_label(truth, classes, p, ctx.rng());
                let q = Model::confidence(p, self.concentration, label == truth, &mut self.confidence_rng);
                let confidence = Model::overstate(q, self.overconfidence);
                ctx.send_in(self.latency, self.dispatcher, Msg::PreLabel { task, label, confidence });
            }
            Msg::Start | Msg::RetrainTick => {
                if matches!(msg, Msg::Start) && self.real.is_some() {
                    // The starting model's figures: fitted on its initial items.
                    let labels = self.learning.as_ref().map_or(0, |l| l.labels);
                    ctx.send(self.dispatcher, Msg::Retrained { model: self.index, labels, accuracy: self.accuracy as f32, usd: 0.0, ready: true });
                }
                if let Some(every) = self.learning.as_ref().and_then(|l| l.spec.retrain_every) {
                    if matches!(msg, Msg::RetrainTick) {
                        self.start_retrain(ctx);
                    }
                    let me = ctx.me();
                    ctx.send_in(every, me, Msg::RetrainTick);
                }
            }
            Msg::TrainingLabel { item, label } => {
                let Some(l) = &mut self.learning else { return };
                l.labels += 1;
                if let Some(r) = &mut self.real {
                    r.labels.push((item, label));
                }
                if l.retrain_due() {
                    self.start_retrain(ctx);
                }
            }
            Msg::RetrainDone { labels } => {
                let Some(l) = &mut self.learning else { return };
                l.training = false;
                self.accuracy = match &mut self.real {
                    // Fitted on the labels in hand when the retrain started.
                    Some(r) => {
                        let n = (labels as usize).min(r.labels.len());
                        if r.learner.fit(&r.labels[..n]).is_ok() {
                            r.learner.test_accuracy()
                        } else {
                            self.accuracy
                        }
                    }
                    None => l.spec.accuracy(l.accuracy0, labels, l.classes),
                };
                ctx.send(self.dispatcher, Msg::Retrained { model: self.index, labels, accuracy: self.accuracy as f32, usd: 0.0, ready: true });
                // Labels that came in while it trained may already call for the next one.
                if l.retrain_due() {
                    self.start_retrain(ctx);
                }
            }
            _ => {}
        }
    }
}

/// What a pre-label of one model does to a person's work (`[[models]]`: `speedup`,
/// `accept_time`, `fix_time`, `automation_bias`).
#[derive(Clone, Debug, PartialEq)]
pub struct PrelabelWork {
    /// The shorthand: a right pre-label divides the time from scratch by this (when > 1 and no
    /// `accept`). Single precision, as the first releases computed it (same results).
    pub speedup: f32,
    pub accept: Option<PrelabelTime>,
    pub fix: Option<PrelabelTime>,
    pub automation_bias: f64,
}

impl PrelabelWork {
    pub fn of(m: &ModelSpec) -> PrelabelWork {
        PrelabelWork { speedup: m.speedup as f32, accept: m.accept_time.clone(), fix: m.fix_time.clone(), automation_bias: m.automation_bias }
    }

    /// The time [µs, before rounding] a person takes on an item with a pre-label, given the
    /// time `scratch` they would take from scratch and `scale` (their speed and the item's
    /// slow-downs) for a time of the model's own distribution. `None`: the time from scratch.
    pub fn time(&self, right: bool, scratch: f64, scale: f64, rng: &mut impl Rng) -> Option<f64> {
        let form = if right { self.accept.as_ref() } else { self.fix.as_ref() };
        match form {
            Some(PrelabelTime::TimesScratch(f)) => Some(scratch * f),
            Some(PrelabelTime::Dist(d)) => Some(d.draw(rng) * scale),
            None => None,
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
