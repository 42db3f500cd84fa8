//! Percentiles in bounded memory: a DDSketch (Masson, Rim & Lee, VLDB 2019) with a relative error
//! of 0.5%, so a run keeps a few kilobytes per distribution however many tasks it sees.
//!
//! Definition: the q-percentile is the value of rank ⌊q·(n − 1)⌋ (0-based) among the n sorted
//! values, returned within 0.5% of that value; values under 1 ms count as 0. The mean is exact.

use sketches_ddsketch::{Config, DDSketch};

/// The sketch's relative error.
pub const RELATIVE_ERROR: f64 = 0.005;
/// Buckets kept at most (values from 1 ms to more than 10⁸ s fit without collapsing).
const MAX_BINS: u32 = 4096;
/// [s] values below count as zero.
const MIN_VALUE: f64 = 1e-3;

/// A mergeable quantile sketch of durations [s].
#[derive(Clone)]
pub struct Quantiles {
    sketch: DDSketch,
}

impl Default for Quantiles {
    fn default() -> Self {
        Quantiles { sketch: DDSketch::new(Config::new(RELATIVE_ERROR, MAX_BINS, MIN_VALUE)) }
    }
}

impl std::fmt::Debug for Quantiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Quantiles(n = {})", self.count())
    }
}

impl Quantiles {
    #[inline]
    pub fn add(&mut self, v: f64) {
        self.sketch.add(v);
    }
    pub fn count(&self) -> u64 {
        self.sketch.count() as u64
    }
    /// The exact mean (NaN without values).
    pub fn mean(&self) -> f64 {
        match self.sketch.sum() {
            Some(s) if self.count() > 0 => s / self.count() as f64,
            _ => f64::NAN,
        }
    }
    /// The q-percentile, q in [0, 1] (NaN without values).
    pub fn quantile(&self, q: f64) -> f64 {
        self.sketch.quantile(q.clamp(0.0, 1.0)).ok().flatten().unwrap_or(f64::NAN)
    }
    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Quantiles) {
        // Same configuration by construction: merge cannot fail.
        let _ = self.sketch.merge(&other.sketch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact(sorted: &[f64], q: f64) -> f64 {
        sorted[(q * (sorted.len() as f64 - 1.0)) as usize]
    }

    proptest! {
        #[test]
        fn percentiles_are_within_the_stated_error(xs in prop::collection::vec(1e-3f64..1e7, 1..2000), q in 0.0f64..1.0) {
            let mut s = Quantiles::default();
            for &x in &xs { s.add(x); }
            let mut sorted = xs.clone();
            sorted.sort_by(f64::total_cmp);
            let want = exact(&sorted, q);
            let got = s.quantile(q);
            prop_assert!((got - want).abs() <= RELATIVE_ERROR * want * 1.000001, "q {q}: {got} vs {want}");
            prop_assert!((s.mean() - xs.iter().sum::<f64>() / xs.len() as f64).abs() <= 1e-9 * want.max(1.0) * 1e3);
        }

        #[test]
        fn merging_equals_adding_everything(a in prop::collection::vec(0.0f64..1e6, 0..500), b in prop::collection::vec(0.0f64..1e6, 0..500)) {
            let (mut x, mut y, mut all) = (Quantiles::default(), Quantiles::default(), Quantiles::default());
            for &v in &a { x.add(v); all.add(v); }
            for &v in &b { y.add(v); all.add(v); }
            x.merge(&y);
            prop_assert_eq!(x.count(), all.count());
            for q in [0.1, 0.5, 0.9, 0.99] {
                prop_assert_eq!(x.quantile(q).to_bits(), all.quantile(q).to_bits());
            }
        }
    }

    #[test]
    fn zeros_and_empty() {
        let mut s = Quantiles::default();
        assert!(s.quantile(0.5).is_nan() && s.mean().is_nan());
        for _ in 0..9 {
            s.add(0.0);
        }
        s.add(100.0);
        assert_eq!(s.quantile(0.5), 0.0);
        assert_eq!(s.quantile(1.0), 100.0);
        assert_eq!(s.mean(), 10.0);
    }
}
