//! The inverse power law learning curve `acc(n) = a − b · n^(−c)` (`a` the asymptote, `b ≥ 0`,
//! `c > 0`) and its weighted least-squares fit.
//!
//! For a fixed `c` the model is linear in `(a, b)`, so `(a, b)` come in closed form by weighted
//! least squares on `x = n^(−c)`, under `b ≥ 0` and `a ≤ a_max` (an accuracy cannot pass 1). The
//! sum of squares as a function of `c` alone is searched on a log-spaced grid over
//! `[c_min, c_max]` and refined by golden-section search between the best grid point's
//! neighbours: no derivatives, no starting values, nothing to diverge. Points weigh
//! `n^weight_power` (default 1): the accuracy of a model trained on `n` labels scatters with a
//! variance falling roughly as `1/n`, so the small-`n` points, the noisiest, count least.
//!
//! The forecast band around a fitted curve is in `forecast`, not here: it needs the learner, since
//! the points of one labelling run are nested (the model at 200 labels has seen those at 100) and
//! their residuals understate the scatter of a new point (a residual bootstrap over them covered
//! 59–63% of observed accuracies at a nominal 90%).

use thiserror::Error;

const GRID: usize = 120;
const GOLDEN_STEPS: usize = 60;

/// Why a curve could not be fitted.
#[derive(Debug, Error, PartialEq)]
pub enum IplError {
    #[error("an inverse power law needs at least 3 points with distinct n, got {0}")]
    TooFewPoints(usize),
    #[error("point ({0}, {1}) is not finite or has n ≤ 0")]
    BadPoint(f64, f64),
}

/// How a curve is fitted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IplOptions {
    /// Point `i` weighs `n_i^weight_power` in the least squares: 0 is ordinary least squares, 1
    /// weighs each point by the inverse of a variance falling as `1/n`.
    pub weight_power: f64,
    /// The largest asymptote allowed (1 for an accuracy).
    pub a_max: f64,
    /// The smallest exponent searched.
    pub c_min: f64,
    /// The largest exponent searched.
    pub c_max: f64,
}

impl Default for IplOptions {
    fn default() -> Self {
        IplOptions { weight_power: 1.0, a_max: 1.0, c_min: 0.01, c_max: 3.0 }
    }
}

/// A fitted curve `acc(n) = a − b · n^(−c)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ipl {
    pub a: f64,
    pub b: f64,
    pub c: f64,
}

impl Ipl {
    /// The curve at `n` labels.
    pub fn predict(&self, n: f64) -> f64 {
        self.a - self.b * n.powf(-self.c)
    }

    /// Weighted least-squares fit to `(n, acc)` points with the default options.
    pub fn fit(points: &[(f64, f64)]) -> Result<Ipl, IplError> {
        Ipl::fit_with(points, &IplOptions::default())
    }

    /// Weighted least-squares fit to `(n, acc)` points: at least 3 distinct `n > 0`, all finite.
    pub fn fit_with(points: &[(f64, f64)], options: &IplOptions) -> Result<Ipl, IplError> {
        for &(n, y) in points {
            if !(n.is_finite() && y.is_finite() && n > 0.0) {
                return Err(IplError::BadPoint(n, y));
            }
        }
        let mut ns: Vec<f64> = points.iter().map(|p| p.0).collect();
        ns.sort_by(f64::total_cmp);
        ns.dedup();
        if ns.len() < 3 {
            return Err(IplError::TooFewPoints(ns.len()));
        }
        let w: Vec<f64> = points.iter().map(|&(n, _)| n.powf(options.weight_power)).collect();
        Ok(fit_unchecked(points, &w, options))
    }
}

/// `(a, b, sse)` for a fixed `c`: weighted least squares of `acc` on `x = n^(−c)` under
/// `b ≥ 0` and `a ≤ a_max`. The problem is a convex quadratic in `(a, b)`, so the optimum is the
/// unconstrained one when feasible, else the best point on the two edges.
fn solve_ab(points: &[(f64, f64)], w: &[f64], c: f64, a_max: f64) -> (f64, f64, f64) {
    let sse = |a: f64, b: f64| -> f64 {
        points.iter().zip(w).map(|(&(n, y), &wi)| wi * (y - (a - b * n.powf(-c))).powi(2)).sum()
    };
    let (mut sw, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (&(n, y), &wi) in points.iter().zip(w) {
        sw += wi;
        sx += wi * n.powf(-c);
        sy += wi * y;
    }
    let (mx, my) = (sx / sw, sy / sw);
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (&(n, y), &wi) in points.iter().zip(w) {
        let dx = n.powf(-c) - mx;
        sxx += wi * dx * dx;
        sxy += wi * dx * (y - my);
    }
    // acc = a − b · x
    let b = if sxx > 0.0 { -sxy / sxx } else { 0.0 };
    let a = my + b * mx;
    if b >= 0.0 && a <= a_max {
        return (a, b, sse(a, b));
    }
    // edge b = 0: a is the weighted mean, capped
    let a0 = my.min(a_max);
    let mut best = (a0, 0.0, sse(a0, 0.0));
    // edge a = a_max: a_max − acc = b · x through the origin, b ≥ 0
    let (mut sxz, mut sxx0) = (0.0, 0.0);
    for (&(n, y), &wi) in points.iter().zip(w) {
        let x = n.powf(-c);
        sxz += wi * x * (a_max - y);
        sxx0 += wi * x * x;
    }
    let b1 = if sxx0 > 0.0 { (sxz / sxx0).max(0.0) } else { 0.0 };
    let f1 = sse(a_max, b1);
    if f1 < best.2 {
        best = (a_max, b1, f1);
    }
    best
}

fn fit_unchecked(points: &[(f64, f64)], w: &[f64], options: &IplOptions) -> Ipl {
    let a_max = options.a_max;
    let (lmin, lmax) = (options.c_min.ln(), options.c_max.ln());
    let at = |i: usize| (lmin + (lmax - lmin) * i as f64 / (GRID - 1) as f64).exp();
    let sse = |lc: f64| solve_ab(points, w, lc.exp(), a_max).2;
    let mut best = (0, f64::INFINITY);
    for i in 0..GRID {
        let f = sse(at(i).ln());
        if f < best.1 {
            best = (i, f);
        }
    }
    // golden-section search on ln c between the best grid point's neighbours
    let (mut lo, mut hi) = (at(best.0.saturating_sub(1)).ln(), at((best.0 + 1).min(GRID - 1)).ln());
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut x1, mut x2) = (hi - g * (hi - lo), lo + g * (hi - lo));
    let (mut f1, mut f2) = (sse(x1), sse(x2));
    for _ in 0..GOLDEN_STEPS {
        if f1 <= f2 {
            hi = x2;
            (x2, f2) = (x1, f1);
            x1 = hi - g * (hi - lo);
            f1 = sse(x1);
        } else {
            lo = x1;
            (x1, f1) = (x2, f2);
            x2 = lo + g * (hi - lo);
            f2 = sse(x2);
        }
    }
    let (lc, f) = if f1 <= f2 { (x1, f1) } else { (x2, f2) };
    let c = if f <= best.1 { lc.exp() } else { at(best.0) };
    let (a, b, _) = solve_ab(points, w, c, a_max);
    Ipl { a, b, c }
}
