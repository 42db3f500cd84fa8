//! Distributions a scenario draws from: arrivals, service times, probabilities, difficulty.

use crate::time::Dur;
use serde::{Deserialize, Serialize};

/// How tasks of a stream arrive.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ArrivalSpec {
    /// Poisson process with a constant rate: `{ poisson = { per_hour = 120 } }`.
    Poisson { per_hour: f64 },
    /// Poisson process whose rate [tasks/h] changes by hour: `per_hour` holds 24 values (hour of
    /// day, repeated every day) or 168 (hour of week, Monday 00:00 first); `day_factor` (7 values,
    /// Monday first, default all 1) scales each day.
    Schedule {
        per_hour: Vec<f64>,
        #[serde(default)]
        day_factor: Option<Vec<f64>>,
    },
    /// Batch drops: `size` tasks at once, every `every`, the first at `first` (default 0s).
    Batch {
        size: u32,
        every: Dur,
        #[serde(default)]
        first: Dur,
    },
    /// A demand curve: `count` tasks expected in each interval [start, end) from time zero, as
    /// a Poisson process at rate count / length there and no arrivals outside the intervals:
    /// `{ curve = { intervals = [{ start = "0h", end = "168h", count = 5000 }, ...] } }`.
    /// `tessera forecast --demand` writes a stream's rows of a demand CSV this way.
    Curve { intervals: Vec<CurveInterval> },
}

/// A demand curve's average week: per hour of the week (Monday 00:00 first), the tasks the
/// curve brings in that hour of the week divided by how often that hour occurs from its first
/// start to its last end (what a planner of a typical week reads).
fn curve_week(intervals: &[CurveInterval]) -> Vec<f64> {
    const H: u64 = 3_600_000_000;
    let mut count = vec![0.0; 168];
    let mut seen = vec![0.0; 168];
    let (Some(first), Some(last)) = (intervals.iter().map(|i| i.start.0).min(), intervals.iter().map(|i| i.end.0).max()) else { return count };
    // How long each hour of the week is covered by the span (partial hours count in part).
    let mut t = first;
    while t < last {
        let end = ((t / H + 1) * H).min(last);
        seen[((t / H) % 168) as usize] += (end - t) as f64 / H as f64;
        t = end;
    }
    for i in intervals.iter().filter(|i| i.end.0 > i.start.0 && i.count > 0.0) {
        let rate = i.count / (i.end.0 - i.start.0) as f64; // per µs
        let mut t = i.start.0;
        while t < i.end.0 {
            let end = ((t / H + 1) * H).min(i.end.0);
            count[((t / H) % 168) as usize] += rate * (end - t) as f64;
            t = end;
        }
    }
    count.iter().zip(&seen).map(|(c, s)| if *s > 0.0 { c / s } else { 0.0 }).collect()
}

/// One interval of a demand curve.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CurveInterval {
    pub start: Dur,
    pub end: Dur,
    /// Tasks expected in the interval (a mean: fractions allowed).
    pub count: f64,
}

impl ArrivalSpec {
    /// The rate [tasks/h] in each hour of the week (168 values, Monday 00:00 first); None for
    /// batch drops, which are not a rate. A `day_factor` entry that is missing counts as 1.
    pub fn hourly_rates(&self) -> Option<Vec<f64>> {
        match self {
            ArrivalSpec::Poisson { per_hour } => Some(vec![*per_hour; 168]),
            ArrivalSpec::Schedule { per_hour, day_factor } => Some(
                (0..168)
                    .map(|h| {
                        let base = if per_hour.len() == 168 { per_hour[h] } else { per_hour.get(h % 24).copied().unwrap_or(0.0) };
                        base * day_factor.as_ref().and_then(|d| d.get(h / 24)).copied().unwrap_or(1.0)
                    })
                    .collect(),
            ),
            ArrivalSpec::Curve { intervals } => Some(curve_week(intervals)),
            ArrivalSpec::Batch { .. } => None,
        }
    }

    /// The mean rate over a week [tasks/h]; for batch drops, `size` per `every`.
    pub fn mean_per_hour(&self) -> f64 {
        match self {
            ArrivalSpec::Poisson { per_hour } => *per_hour,
            ArrivalSpec::Batch { size, every, .. } => *size as f64 / every.hours().max(1e-9),
            ArrivalSpec::Schedule { .. } => self.hourly_rates().map_or(0.0, |r| r.iter().sum::<f64>() / 168.0),
            ArrivalSpec::Curve { intervals } => {
                let hours: f64 = intervals.iter().map(|i| i.end.0.saturating_sub(i.start.0) as f64 / 3.6e9).sum();
                if hours > 0.0 { intervals.iter().map(|i| i.count).sum::<f64>() / hours } else { 0.0 }
            }
        }
    }
}

impl Default for ArrivalSpec {
    fn default() -> Self {
        ArrivalSpec::Poisson { per_hour: 60.0 }
    }
}

/// A service-time distribution (time one annotator takes on one item).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ServiceDist {
    /// Lognormal with the given median and log-space standard deviation `sigma` (default 0.6).
    Lognormal {
        median: Dur,
        #[serde(default = "default_sigma")]
        sigma: f64,
    },
    /// Exponential with the given mean.
    Exponential { mean: Dur },
    /// Always the same time.
    Fixed(Dur),
}

fn default_sigma() -> f64 {
    0.6
}

impl Default for ServiceDist {
    fn default() -> Self {
        ServiceDist::Lognormal { median: Dur(30 * crate::time::US_PER_SEC), sigma: 0.6 }
    }
}

impl ServiceDist {
    /// Draws a time from the distribution [µs].
    pub fn draw<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        const US: f64 = 1e6;
        match self {
            ServiceDist::Lognormal { median, sigma } => {
                let z: f64 = rng.sample(rand_distr::StandardNormal);
                median.secs() * US * (sigma * z).exp()
            }
            ServiceDist::Exponential { mean } => -mean.secs() * US * (1.0 - rng.random::<f64>()).ln(),
            ServiceDist::Fixed(d) => d.0 as f64,
        }
    }

    /// Mean service time [s].
    pub fn mean_secs(&self) -> f64 {
        match self {
            ServiceDist::Lognormal { median, sigma } => median.secs() * (sigma * sigma / 2.0).exp(),
            ServiceDist::Exponential { mean } => mean.secs(),
            ServiceDist::Fixed(d) => d.secs(),
        }
    }
}

/// A distribution over [0, 1] (accuracies, probabilities), drawn once per annotator.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ProbDist {
    /// Every annotator has exactly this value: `{ mean = 0.97 }`.
    Mean(f64),
    /// Beta(a, b): `{ beta = [8, 2] }` (mean a / (a + b)).
    Beta([f64; 2]),
    /// Uniform on [lo, hi]: `{ uniform = [0.7, 0.9] }`.
    Uniform([f64; 2]),
}

impl ProbDist {
    pub fn mean(&self) -> f64 {
        match *self {
            ProbDist::Mean(m) => m,
            ProbDist::Beta([a, b]) => a / (a + b),
            ProbDist::Uniform([lo, hi]) => (lo + hi) / 2.0,
        }
    }
}

/// Task difficulty in [0, 1]: 0 = the annotator's own accuracy applies, 1 = a coin flip.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum DifficultySpec {
    /// The same for every task: `difficulty = 0.2`.
    Fixed(f64),
    /// Drawn per task: `difficulty = { beta = [1, 4] }`.
    Drawn(ProbDist),
}

impl DifficultySpec {
    /// The mean difficulty.
    pub fn mean(&self) -> f64 {
        match self {
            DifficultySpec::Fixed(d) => *d,
            DifficultySpec::Drawn(p) => p.mean(),
        }
    }
}

impl<'de> Deserialize<'de> for DifficultySpec {
    /// A number, or a distribution table (whose own errors then say what is wrong inside it).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = DifficultySpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number between 0 and 1, or a distribution such as { beta = [1, 4] }")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<DifficultySpec, E> {
                Ok(DifficultySpec::Fixed(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DifficultySpec, E> {
                Ok(DifficultySpec::Fixed(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DifficultySpec, E> {
                Ok(DifficultySpec::Fixed(v as f64))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<DifficultySpec, A::Error> {
                use serde::de::Error;
                const VARIANTS: &[&str] = &["mean", "beta", "uniform"];
                let Some(key) = map.next_key::<String>()? else {
                    return Err(A::Error::custom("expected one distribution: { mean = x }, { beta = [a, b] } or { uniform = [lo, hi] }"));
                };
                let d = match key.as_str() {
                    "mean" => ProbDist::Mean(map.next_value()?),
                    "beta" => ProbDist::Beta(map.next_value()?),
                    "uniform" => ProbDist::Uniform(map.next_value()?),
                    other => return Err(A::Error::unknown_variant(other, VARIANTS)),
                };
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(A::Error::custom(format!("unexpected key {extra:?} after {key:?}: give exactly one distribution")));
                }
                Ok(DifficultySpec::Drawn(d))
            }
        }
        d.deserialize_any(V)
    }
}

impl Default for DifficultySpec {
    fn default() -> Self {
        DifficultySpec::Fixed(0.0)
    }
}

#[cfg(test)]
mod curve_tests {
    use super::*;

    #[test]
    fn a_curve_s_average_week_keeps_its_tasks() {
        let d = |h: u64| Dur(h * 3_600_000_000);
        // Week 1: 168 tasks evenly; week 2: 336 tasks on Monday 00:00-01:00 only.
        let spec = ArrivalSpec::Curve { intervals: vec![CurveInterval { start: d(0), end: d(168), count: 168.0 }, CurveInterval { start: d(168), end: d(169), count: 336.0 }, CurveInterval { start: d(169), end: d(336), count: 0.0 }] };
        let w = spec.hourly_rates().unwrap();
        assert_eq!(w.len(), 168);
        assert!((w[0] - (1.0 + 336.0) / 2.0).abs() < 1e-9, "{}", w[0]);
        assert!((w[5] - 0.5).abs() < 1e-9);
        // The average week's total is the curve's tasks per week.
        assert!((w.iter().sum::<f64>() - (168.0 + 336.0) / 2.0).abs() < 1e-6);
        assert!((spec.mean_per_hour() - 504.0 / 336.0).abs() < 1e-12);
    }
}
