//! Small numerical helpers of the fits: tails of the normal and χ² laws, ln Γ, percentiles, a
//! bootstrap over a few groups widened to Student's t, and a Nelder-Mead minimiser (argmin's)
//! for the two-parameter likelihoods.

use argmin::core::{CostFunction, Error, Executor, State};
use argmin::solver::neldermead::NelderMead;

/// The two-sided 95% normal quantile.
pub const Z95: f64 = 1.959963984540054;

/// P(Z > z) for a standard normal Z.
pub fn normal_upper(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// P(χ²_df > x), by the Wilson-Hilferty cube-root normal approximation (relative error below 1%
/// in the tail for df ≥ 3; exact enough to decide at 5%).
pub fn chi2_upper(x: f64, df: f64) -> f64 {
    if df <= 0.0 {
        return 1.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    if (df - 1.0).abs() < 1e-12 {
        return 2.0 * normal_upper(x.sqrt());
    }
    let h = 2.0 / (9.0 * df);
    let z = ((x / df).powf(1.0 / 3.0) - (1.0 - h)) / h.sqrt();
    normal_upper(z)
}

/// The 97.5% quantile of Student's t at `df` degrees of freedom (the engine's table).
pub fn t975(df: usize) -> f64 {
    tessera_engine::metrics::stats::t_quantile(df, 0.95)
}

/// A bootstrap over `groups` people reads the spread of their mean as if the sample were the
/// population: its 95% interval is (groups − 1)/groups of the variance wide and at the normal's
/// quantile. This factor widens it to Student's t at groups − 1 degrees of freedom with the
/// unbiased variance (1.44 for 6 people, 1.06 for 30; 1 for one person).
pub fn few_groups_widening(groups: usize) -> f64 {
    if groups < 2 {
        return 1.0;
    }
    t975(groups - 1) / Z95 * (groups as f64 / (groups - 1) as f64).sqrt()
}

/// The percentile interval of bootstrap replicates over `groups` people, widened around
/// `estimate` by [`few_groups_widening`].
pub fn widened95(estimate: f64, xs: Vec<f64>, groups: usize) -> (f64, f64) {
    let (lo, hi) = interval95(xs);
    let w = few_groups_widening(groups);
    (estimate - w * (estimate - lo).max(0.0), estimate + w * (hi - estimate).max(0.0))
}

pub fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// ln B(a, b).
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// The value of rank q·(n − 1) of `xs` (sorted in place), interpolated.
pub fn percentile(xs: &mut [f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let pos = q * (xs.len() - 1) as f64;
    let (i, f) = (pos.floor() as usize, pos.fract());
    if i + 1 < xs.len() {
        xs[i] * (1.0 - f) + xs[i + 1] * f
    } else {
        xs[i]
    }
}

/// The central 95% of bootstrap replicates.
pub fn interval95(mut xs: Vec<f64>) -> (f64, f64) {
    xs.retain(|x| x.is_finite());
    (percentile(&mut xs, 0.025), percentile(&mut xs, 0.975))
}

/// The basic (reverse-percentile) 95% bootstrap interval around `estimate`:
/// [2θ̂ − q97.5, 2θ̂ − q2.5], which corrects the percentile interval of an estimator biased at
/// the sample sizes met (a random effect's spread; a Beta's concentration), clamped at `floor`.
pub fn basic95(estimate: f64, xs: Vec<f64>, floor: f64) -> (f64, f64) {
    let (lo, hi) = interval95(xs);
    ((2.0 * estimate - hi).max(floor), (2.0 * estimate - lo).max(floor))
}

/// Wilson's 95% interval of a proportion k / n.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n, z) = (k as f64, n as f64, Z95);
    let p = k / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

struct Cost<'a>(&'a dyn Fn(&[f64]) -> f64);

impl CostFunction for Cost<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> Result<f64, Error> {
        let c = (self.0)(p);
        Ok(if c.is_finite() { c } else { f64::MAX / 4.0 })
    }
}

/// Minimises `f` from `start` (Nelder-Mead, initial steps `step` per coordinate); None when
/// the solver fails.
pub fn minimize(f: &dyn Fn(&[f64]) -> f64, start: &[f64], step: f64) -> Option<Vec<f64>> {
    let mut simplex = vec![start.to_vec()];
    for i in 0..start.len() {
        let mut p = start.to_vec();
        p[i] += step;
        simplex.push(p);
    }
    let solver = NelderMead::new(simplex).with_sd_tolerance(1e-10).ok()?;
    let res = Executor::new(Cost(f), solver).configure(|s| s.max_iters(4000)).run().ok()?;
    res.state().get_best_param().cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_match_tables() {
        assert!((normal_upper(1.959963984540054) - 0.025).abs() < 1e-9);
        // χ²: 3.841 at df 1, 18.307 at df 10, 124.342 at df 100 are the 5% points.
        assert!((chi2_upper(3.841, 1.0) - 0.05).abs() < 1e-3);
        assert!((chi2_upper(18.307, 10.0) - 0.05).abs() < 2e-3);
        assert!((chi2_upper(124.342, 100.0) - 0.05).abs() < 1e-3);
    }

    #[test]
    fn a_few_groups_widen_to_student_t() {
        assert!((few_groups_widening(6) - 2.571 / Z95 * 1.2f64.sqrt()).abs() < 1e-3);
        assert!((few_groups_widening(31) - 2.042 / Z95 * (31.0f64 / 30.0).sqrt()).abs() < 1e-3);
        assert_eq!(few_groups_widening(1), 1.0);
        // Each side of the percentile interval widened around the estimate, not its middle.
        let xs: Vec<f64> = (0..=1000).map(|i| 0.8 + 0.3 * i as f64 / 1000.0).collect();
        let (lo, hi) = widened95(1.0, xs, 6);
        let w = few_groups_widening(6);
        assert!((lo - (1.0 - w * 0.1925)).abs() < 1e-9 && (hi - (1.0 + w * 0.0925)).abs() < 1e-9, "{lo} {hi}");
    }

    #[test]
    fn wilson_and_minimize() {
        let (lo, hi) = wilson(8, 10);
        assert!((lo - 0.4902).abs() < 1e-3 && (hi - 0.9433).abs() < 1e-3, "{lo} {hi}");
        let rosen = |p: &[f64]| (1.0 - p[0]).powi(2) + 100.0 * (p[1] - p[0] * p[0]).powi(2);
        let best = minimize(&rosen, &[-1.2, 1.0], 0.5).unwrap();
        assert!((best[0] - 1.0).abs() < 1e-3 && (best[1] - 1.0).abs() < 1e-3, "{best:?}");
    }
}

/// The boundary between `inside` (where `out` is false) and `outside` (where it is true), by
/// `iterations` halvings; the midpoint of the last bracket.
pub fn bisect(mut inside: f64, mut outside: f64, out: &dyn Fn(f64) -> bool, iterations: u32) -> f64 {
    for _ in 0..iterations {
        let mid = 0.5 * (inside + outside);
        if out(mid) {
            outside = mid;
        } else {
            inside = mid;
        }
    }
    0.5 * (inside + outside)
}
