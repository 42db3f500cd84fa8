//! What one pass over a trace keeps of a stream's model: its pre-labels' confidences by the model
//! that made them (a model that learns serves a new one at each `model_ready` line), the
//! confidences of the pre-labelled items people reviewed, the time from a task's arrival to its
//! pre-label, the models' retrains, and a bounded sample of people's answers on pre-labelled items
//! (handling time, the pre-label's confidence, and whether the answer kept the pre-label's label).
//! Memory does not grow with the trace: confidences are counted in fixed bins of their logit, and
//! the answers are a bottom-k sample by a hash of the assignment id (a pure function of the trace,
//! as the agreement sample is).

use crate::agreement::bottom_k_insert;
use crate::tally::Moments;
use std::collections::BTreeMap;

/// Bins of a confidence's logit, over [−LOGIT_MAX, LOGIT_MAX] (outside: the end bins).
pub const LOGIT_BINS: usize = 400;
pub const LOGIT_MAX: f64 = 10.0;
/// Model epochs told apart (the pre-labels after the 63rd `model_ready` line count in the last).
pub const MAX_EPOCHS: usize = 64;
/// Answers on pre-labelled items kept per stream.
pub const SAMPLE_ANSWERS: usize = 1 << 15;
/// Points of an item's difficulty posterior an answer carries (the means of its quartiles).
pub const DIFFICULTY_NODES: usize = 4;
/// Retrain and model_ready lines kept.
pub const MAX_MODEL_EVENTS: usize = 1 << 16;

/// A person's answer on a pre-labelled item.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PrelabelAnswer {
    pub pool: u16,
    pub annotator: u32,
    /// ln of the handling time [s].
    pub ln_secs: f64,
    /// The pre-label's reported confidence.
    pub confidence: f32,
    /// The model that made the pre-label: the `model_ready` lines before it (at most
    /// `MAX_EPOCHS` − 1).
    pub epoch: u8,
    /// The answer is the pre-label's label.
    pub kept: bool,
    /// The person's answers before this one, from the trace's start (their experience).
    pub experience: u32,
    /// The person's hours on shift when the work was handed out (NaN: the trace did not say
    /// when their shift began).
    pub hours: f32,
    /// The item's difficulty given the pre-label's confidence, as `DIFFICULTY_NODES` equally
    /// likely points: (difficulty, its ln slow-down less the expected one). All 0 in the tally;
    /// set by the models fit from the base's difficulty law and coupling.
    pub difficulty: [(f32, f32); DIFFICULTY_NODES],
}

/// One stream's pre-labels.
#[derive(Clone, Debug, Default)]
pub struct PrelabelTally {
    /// Per epoch (the pre-labels after e `model_ready` lines), the count per logit bin.
    pub epochs: Vec<Vec<u32>>,
    /// [s] from a task's arrival to its first pre-label, for tasks no one had been given yet.
    pub latency: Moments,
    answers: BTreeMap<(u64, u64), PrelabelAnswer>,
    /// Reviews (timed by the review law) of pre-labelled items: per epoch of the pre-label,
    /// the count per logit bin of its confidence.
    pub reviews: Vec<Vec<u32>>,
    /// Answers offered to the sample.
    pub answers_offered: u64,
}

/// Counts confidence `c` of epoch `epoch` in per-epoch logit bins.
fn add_binned(epochs: &mut Vec<Vec<u32>>, epoch: usize, c: f32) {
    let e = epoch.min(MAX_EPOCHS - 1);
    if epochs.len() <= e {
        epochs.resize(e + 1, vec![]);
    }
    let bins = &mut epochs[e];
    if bins.is_empty() {
        bins.resize(LOGIT_BINS, 0);
    }
    bins[bin_of(c)] = bins[bin_of(c)].saturating_add(1);
}

/// The bin of a confidence.
pub fn bin_of(c: f32) -> usize {
    let c = (c as f64).clamp(1e-12, 1.0 - 1e-12);
    let x = (c / (1.0 - c)).ln();
    (((x + LOGIT_MAX) / (2.0 * LOGIT_MAX) * LOGIT_BINS as f64).floor().max(0.0) as usize).min(LOGIT_BINS - 1)
}

/// The logit at a bin's centre.
pub fn bin_logit(i: usize) -> f64 {
    -LOGIT_MAX + (i as f64 + 0.5) * 2.0 * LOGIT_MAX / LOGIT_BINS as f64
}

impl PrelabelTally {
    /// A pre-label's confidence, made by the model of `epoch`.
    pub fn add_confidence(&mut self, epoch: usize, c: f32) {
        add_binned(&mut self.epochs, epoch, c);
    }

    /// A review of an item whose latest pre-label, made by the model of `epoch`, had
    /// confidence `c`.
    pub fn add_review(&mut self, epoch: usize, c: f32) {
        add_binned(&mut self.reviews, epoch, c);
    }

    /// The logit-bin counts of epochs `0..=last`, summed.
    pub fn confidences_through(&self, last: usize) -> Vec<u64> {
        let mut out = vec![0u64; LOGIT_BINS];
        for bins in self.epochs.iter().take(last.saturating_add(1)) {
            for (o, b) in out.iter_mut().zip(bins) {
                *o += *b as u64;
            }
        }
        out
    }

    /// An answer on a pre-labelled item: kept when its assignment's hash is among the lowest.
    pub fn offer(&mut self, assignment: u64, a: PrelabelAnswer) {
        self.answers_offered += 1;
        bottom_k_insert(&mut self.answers, SAMPLE_ANSWERS, assignment, a);
    }

    /// The sampled answers, in hash order.
    pub fn answers(&self) -> impl Iterator<Item = &PrelabelAnswer> {
        self.answers.values()
    }
}

/// A model's retrain (started) or a model that starts to serve, as the trace says.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelEvent {
    pub model: String,
    /// [µs] in the tally's frame.
    pub t: i64,
    pub ready: bool,
    /// The training labels.
    pub labels: Option<u64>,
    /// A model that starts to serve: its accuracy as the operation measured it.
    pub accuracy: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_confidences_in_order() {
        assert_eq!(bin_of(0.0), 0);
        assert_eq!(bin_of(1.0), LOGIT_BINS - 1);
        assert_eq!(bin_of(0.5), LOGIT_BINS / 2);
        let mut last = 0;
        for i in 1..1000 {
            let b = bin_of(i as f32 / 1000.0);
            assert!(b >= last);
            last = b;
            let x = bin_logit(b);
            let c = 1.0 / (1.0 + (-x).exp());
            assert!((c - i as f64 / 1000.0).abs() < 0.0125 + 1e-9, "{i}: {c}");
        }
    }

    #[test]
    fn the_answer_sample_is_bounded_and_order_free() {
        let a = |i: u64| PrelabelAnswer { pool: 0, annotator: i as u32, ln_secs: i as f64, confidence: 0.5, epoch: 0, kept: i % 2 == 0, experience: 0, hours: 0.0, difficulty: [(0.0, 0.0); DIFFICULTY_NODES] };
        let (mut x, mut y) = (PrelabelTally::default(), PrelabelTally::default());
        let n = SAMPLE_ANSWERS as u64 + 5000;
        for i in 0..n {
            x.offer(i, a(i));
            y.offer(n - 1 - i, a(n - 1 - i));
        }
        assert_eq!(x.answers().count(), SAMPLE_ANSWERS);
        assert!(x.answers().eq(y.answers()));
        assert_eq!(x.answers_offered, n);
    }
}
