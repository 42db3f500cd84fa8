//! Accuracy per pool from golden answers: a Beta-binomial over annotators (each annotator's
//! share right on golden items is Binomial(n, p) with p drawn from the pool's Beta), fitted by
//! maximum likelihood; the Beta's spread is kept only when the likelihood-ratio test against one
//! accuracy for all (on the boundary: half a χ²₁) supports it. An item's difficulty d lowers
//! accuracy to p(1 − d) + d/k; the streams' mean difficulty (from `--base`) is taken out.
//! Intervals: the mean's by a bootstrap over annotators (at least Wilson's on all answers); the
//! Beta's a and b each by profile likelihood on people's scale (the other parameter maximized
//! out; a bootstrap's basic interval of the concentration, skewed by replicates near the
//! no-spread boundary, covered Beta(16, 4) in 44 of 50 seeds, with no lower bound).

use crate::stats::{bisect, chi2_upper, interval95, ln_beta, minimize};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Test level of the Beta's spread.
pub const SPREAD_LEVEL: f64 = 0.05;

/// One annotator's golden answers: n answered, k right, and the mean of (1 − d) and d/k over
/// their items (1 and 0 without difficulty).
#[derive(Clone, Copy, Debug)]
pub struct GoldCount {
    pub n: u64,
    pub k: u64,
    pub keep: f64,
    pub chance: f64,
}

#[derive(Clone, Debug)]
pub struct AccuracyFit {
    /// The pool's mean accuracy (difficulty taken out) and its interval.
    pub mean: f64,
    pub mean_ci: (f64, f64),
    /// The Beta(a, b) of accuracies when the test supports a spread.
    pub beta: Option<[f64; 2]>,
    pub beta_ci: Option<([f64; 2], [f64; 2])>,
    /// The test's p-value.
    pub spread_p: f64,
    pub answers: u64,
    pub annotators: usize,
}

/// −log-likelihood of a Beta-binomial at (ln a, ln b), up to a constant.
fn nll(c: &[GoldCount], p: &[f64]) -> f64 {
    let (a, b) = (p[0].exp(), p[1].exp());
    if !(a.is_finite() && b.is_finite()) || a > 1e7 || b > 1e7 {
        return f64::INFINITY;
    }
    -c.iter().map(|g| ln_beta(g.k as f64 + a, (g.n - g.k) as f64 + b) - ln_beta(a, b)).sum::<f64>()
}

/// (mean on the answers' scale, Beta on the answers' scale or None, LR p-value).
fn raw_fit(c: &[GoldCount]) -> (f64, Option<[f64; 2]>, f64) {
    let n: f64 = c.iter().map(|g| g.n as f64).sum();
    let k: f64 = c.iter().map(|g| g.k as f64).sum();
    let p = (k / n).clamp(1e-9, 1.0 - 1e-9);
    if c.len() < 3 || k == 0.0 || k == n {
        return (k / n, None, 1.0);
    }
    let ll0: f64 = c.iter().map(|g| g.k as f64 * p.ln() + (g.n - g.k) as f64 * (1.0 - p).ln()).sum();
    // Method-of-moments start: the spread of the shares beyond binomial noise.
    let shares: Vec<f64> = c.iter().map(|g| g.k as f64 / g.n as f64).collect();
    let m = shares.iter().sum::<f64>() / shares.len() as f64;
    let v = shares.iter().map(|s| (s - m).powi(2)).sum::<f64>() / (shares.len() as f64 - 1.0);
    let noise = c.iter().map(|g| p * (1.0 - p) / g.n as f64).sum::<f64>() / c.len() as f64;
    let s0 = if v > noise { (p * (1.0 - p) / (v - noise) - 1.0).clamp(2.0, 1e5) } else { 1e4 };
    let f = |q: &[f64]| nll(c, q);
    let Some(best) = minimize(&f, &[(p * s0).ln(), ((1.0 - p) * s0).ln()], 0.5) else { return (k / n, None, 1.0) };
    // ln B(k + a, n − k + b) − ln B(a, b) tends to the binomial's k ln p + (n − k) ln(1 − p) as
    // a + b grows, so the same constant is left out of both.
    let ll1 = -f(&best);
    let lr = (2.0 * (ll1 - ll0)).max(0.0);
    let pval = 0.5 * chi2_upper(lr, 1.0);
    let (a, b) = (best[0].exp(), best[1].exp());
    (a / (a + b), (pval < SPREAD_LEVEL).then_some([a, b]), pval)
}

/// From the answers' scale to people's own accuracy: mean (m − chance) / keep, variance / keep².
fn to_people(mean: f64, beta: Option<[f64; 2]>, keep: f64, chance: f64) -> (f64, Option<[f64; 2]>) {
    let keep = keep.max(1e-6);
    let m = ((mean - chance) / keep).clamp(1e-6, 1.0 - 1e-6);
    let beta = beta.and_then(|[a, b]| {
        let s = a + b;
        let var = a * b / (s * s * (s + 1.0)) / (keep * keep);
        let t = m * (1.0 - m) / var - 1.0;
        (t > 0.0).then(|| [m * t, (1.0 - m) * t])
    });
    (m, beta)
}

pub fn fit(counts: &[GoldCount], bootstrap: u32, seed: u64) -> Option<AccuracyFit> {
    let c: Vec<GoldCount> = counts.iter().copied().filter(|g| g.n > 0).collect();
    if c.is_empty() {
        return None;
    }
    let n: u64 = c.iter().map(|g| g.n).sum();
    let weigh = |c: &[GoldCount]| {
        let n: f64 = c.iter().map(|g| g.n as f64).sum();
        (c.iter().map(|g| g.keep * g.n as f64).sum::<f64>() / n, c.iter().map(|g| g.chance * g.n as f64).sum::<f64>() / n)
    };
    let (keep, chance) = weigh(&c);
    let (raw_mean, raw_beta, spread_p) = raw_fit(&c);
    let (mean, beta) = to_people(raw_mean, raw_beta, keep, chance);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means = vec![];
    let a = c.len();
    for _ in 0..bootstrap {
        let pick: Vec<GoldCount> = (0..a).map(|_| c[rng.random_range(0..a)]).collect();
        let (keep, chance) = weigh(&pick);
        let k: f64 = pick.iter().map(|g| g.k as f64).sum();
        let nn: f64 = pick.iter().map(|g| g.n as f64).sum();
        if beta.is_some() {
            let (m, b) = raw_fit_spread(&pick);
            means.push(to_people(m, Some(b), keep, chance).0);
        } else {
            means.push(to_people(k / nn, None, keep, chance).0);
        }
    }
    // With one annotator (or a handful) the bootstrap over annotators cannot see the binomial
    // noise of their answers: the interval is at least Wilson's on all answers.
    let k: u64 = c.iter().map(|g| g.k).sum();
    let (wl, wh) = crate::stats::wilson(k, n);
    let (wl, wh) = (to_people(wl, None, keep, chance).0, to_people(wh, None, keep, chance).0);
    let (bl, bh) = interval95(means);
    Some(AccuracyFit {
        mean,
        mean_ci: (bl.min(wl), bh.max(wh)),
        beta,
        beta_ci: beta.map(|best| {
            (profile95(&c, keep, chance, best, 0), profile95(&c, keep, chance, best, 1))
        }),
        spread_p,
        answers: n,
        annotators: a,
    })
}

/// −log-likelihood at people's Beta(a, b) given as (ln a, ln b): mapped to the answers' scale
/// (mean m·keep + chance, variance × keep²); infinite where that is no Beta.
fn nll_people(c: &[GoldCount], keep: f64, chance: f64, la: f64, lb: f64) -> f64 {
    let (a, b) = (la.exp(), lb.exp());
    let (m, s) = (a / (a + b), a + b);
    let var = a * b / (s * s * (s + 1.0)) * keep * keep;
    let m2 = m * keep + chance;
    let t = m2 * (1.0 - m2) / var - 1.0;
    if !(t > 0.0 && t.is_finite() && m2 > 0.0 && m2 < 1.0) {
        return f64::INFINITY;
    }
    nll(c, &[(m2 * t).ln(), ((1.0 - m2) * t).ln()])
}

/// The profile-likelihood 95% interval of people's Beta parameter `which` (0: a, 1: b): where
/// twice the log-likelihood, the other parameter maximized out, falls 3.84 below its maximum;
/// bounded to [10⁻³, 10⁷] (a bound at 10⁷: the answers cannot bound the concentration).
fn profile95(c: &[GoldCount], keep: f64, chance: f64, best: [f64; 2], which: usize) -> [f64; 2] {
    const CRIT: f64 = 3.841_458_820_694_124 / 2.0;
    let (lo_cap, hi_cap) = (1e-3f64.ln(), 1e7f64.ln());
    let at = |x: f64, y: f64| if which == 0 { nll_people(c, keep, chance, x, y) } else { nll_people(c, keep, chance, y, x) };
    // The other parameter maximized out by golden-section search on its log.
    let profile = |x: f64| -> f64 {
        let (mut lo, mut hi) = (lo_cap, hi_cap);
        let g = 0.618_033_988_749_895;
        let (mut u, mut v) = (hi - g * (hi - lo), lo + g * (hi - lo));
        let (mut fu, mut fv) = (at(x, u), at(x, v));
        for _ in 0..80 {
            if fu <= fv {
                hi = v;
                v = u;
                fv = fu;
                u = hi - g * (hi - lo);
                fu = at(x, u);
            } else {
                lo = u;
                u = v;
                fu = fv;
                v = lo + g * (hi - lo);
                fv = at(x, v);
            }
        }
        fu.min(fv)
    };
    let x0 = best[which].max(1e-3).ln();
    let floor = profile(x0).min(at(best[0].max(1e-3).ln(), best[1].max(1e-3).ln()));
    let out = |x: f64| profile(x) - floor > CRIT;
    let side = |dir: f64, cap: f64| -> f64 {
        // Step out until the profile falls past the criterion, then bisect.
        let (mut inside, mut step) = (x0, 0.05);
        loop {
            let next = x0 + dir * step;
            if (dir < 0.0 && next <= cap) || (dir > 0.0 && next >= cap) {
                if !out(cap) {
                    return cap;
                }
                return bisect(inside, cap, &out, 50);
            }
            if out(next) {
                return bisect(inside, next, &out, 50);
            }
            inside = next;
            step *= 1.6;
        }
    };
    [side(-1.0, lo_cap).exp(), side(1.0, hi_cap).exp()]
}

/// The Beta-binomial MLE without the test (a bootstrap replicate of a spread already found).
fn raw_fit_spread(c: &[GoldCount]) -> (f64, [f64; 2]) {
    let n: f64 = c.iter().map(|g| g.n as f64).sum();
    let k: f64 = c.iter().map(|g| g.k as f64).sum();
    let p = (k / n).clamp(1e-6, 1.0 - 1e-6);
    let f = |q: &[f64]| nll(c, q);
    let best = minimize(&f, &[(p * 20.0).ln(), ((1.0 - p) * 20.0).ln()], 0.5).unwrap_or(vec![(p * 1e4).ln(), ((1.0 - p) * 1e4).ln()]);
    let (a, b) = (best[0].exp(), best[1].exp());
    (a / (a + b), [a, b])
}
