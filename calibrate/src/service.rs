//! Handling times of one pool on one task type: the family (exponential, lognormal or fixed,
//! the scenario schema's own) by AIC with a scale per annotator, then the spread of annotators'
//! speeds as a random effect on the log scale, kept only when Cochran's heterogeneity test
//! supports it: τ² by Paule-Mandel (the generalized Q statistic at its degrees of freedom) with
//! the Q-profile interval (Viechtbauer 2007, Stat Med 26:37; nominal coverage where a bootstrap
//! over 30 annotators covered about 88%); the other intervals by a bootstrap over annotators,
//! each at least its answers' own sampling interval (a bootstrap over two or three people sees
//! almost none of the noise of their answers), the scale's widened to Student's t where speeds
//! differ.

use crate::stats::{bisect, chi2_upper, interval95};
use crate::tally::Moments;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Cochran's Q test level below which annotators' speeds are taken to differ.
pub const SPREAD_LEVEL: f64 = 0.05;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Family {
    Exponential,
    Lognormal,
    Fixed,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Exponential => "exponential",
            Family::Lognormal => "lognormal",
            Family::Fixed => "fixed",
        }
    }
}

/// A fitted handling-time law: `scale_s` is the median annotator's mean (exponential), median
/// (lognormal) or time (fixed) [s]; `sigma` the lognormal's log-space spread within a person.
#[derive(Clone, Debug)]
pub struct ServiceFit {
    pub family: Family,
    pub scale_s: f64,
    pub scale_ci: (f64, f64),
    pub sigma: f64,
    pub sigma_ci: (f64, f64),
    /// exp(N(0, speed_sigma)) per annotator; 0 when the test does not support a spread.
    pub speed_sigma: f64,
    pub speed_ci: (f64, f64),
    /// Cochran's Q p-value (None with fewer than 3 annotators).
    pub spread_p: Option<f64>,
    pub aic: Vec<(&'static str, f64)>,
    pub answers: u64,
    pub annotators: usize,
}

impl ServiceFit {
    /// Multiplies the scale and its interval by `factor` (something taken out of items' times).
    pub fn scale_by(&mut self, factor: f64) {
        self.scale_s *= factor;
        self.scale_ci = (self.scale_ci.0 * factor, self.scale_ci.1 * factor);
    }

    /// Widens the scale's interval by `half` in ln (in quadrature with its own half-widths):
    /// another estimate's error that the scale carries.
    pub fn widen_log(&mut self, half: f64) {
        if half > 0.0 && self.scale_ci.0 > 0.0 {
            let (below, above) = ((self.scale_s / self.scale_ci.0).ln().max(0.0), (self.scale_ci.1 / self.scale_s).ln().max(0.0));
            self.scale_ci = (self.scale_s * (-below.hypot(half)).exp(), self.scale_s * above.hypot(half).exp());
        }
    }

    /// Takes `var` out of a lognormal's σ² and out of its interval's ends (at least 0): spread
    /// of log times that something else explains. Other families have no σ.
    pub fn less_log_variance(&mut self, var: f64) {
        if self.family == Family::Lognormal {
            let less = |x: f64| (x * x - var).max(0.0).sqrt();
            self.sigma = less(self.sigma);
            self.sigma_ci = (less(self.sigma_ci.0), less(self.sigma_ci.1));
        }
    }
}

/// The point estimates for one set of annotators, with the family and the spread decision given.
fn estimate(anns: &[&Moments], family: Family, spread: bool) -> (f64, f64, f64) {
    let n: f64 = anns.iter().map(|m| m.n as f64).sum();
    let a = anns.len() as f64;
    if family == Family::Fixed {
        let logs: Vec<f64> = anns.iter().map(|m| m.mean().ln()).collect();
        let mu = logs.iter().sum::<f64>() / a;
        let sd = if a > 1.0 { (logs.iter().map(|l| (l - mu).powi(2)).sum::<f64>() / (a - 1.0)).sqrt() } else { 0.0 };
        return (mu.exp(), 0.0, if spread { sd } else { 0.0 });
    }
    let within = within_var(anns);
    let (ys, vs) = log_scales(anns, family, within);
    let tau2 = if spread { q_profile_root(&ys, &vs, (ys.len() - 1) as f64) } else { 0.0 };
    if !spread {
        let total = anns.iter().fold(Moments::default(), |mut t, m| {
            t.merge(m);
            t
        });
        return match family {
            Family::Lognormal => (total.mean_ln().exp(), (total.ss_ln() / (n - 1.0).max(1.0)).sqrt(), 0.0),
            _ => (total.mean(), 0.0, 0.0),
        };
    }
    let w: Vec<f64> = vs.iter().map(|v| 1.0 / (v + tau2)).collect();
    let mu = ys.iter().zip(&w).map(|(y, w)| y * w).sum::<f64>() / w.iter().sum::<f64>();
    (mu.exp(), if family == Family::Lognormal { within.sqrt() } else { 0.0 }, tau2.sqrt())
}

/// The pooled within-annotator variance of ln t.
fn within_var(anns: &[&Moments]) -> f64 {
    let n: f64 = anns.iter().map(|m| m.n as f64).sum();
    let a = anns.len() as f64;
    let ssw: f64 = anns.iter().map(|m| m.ss_ln()).sum();
    if n > a { ssw / (n - a) } else { 0.0 }
}

/// Each annotator's log scale and its sampling variance.
fn log_scales(anns: &[&Moments], family: Family, within: f64) -> (Vec<f64>, Vec<f64>) {
    anns.iter()
        .map(|m| {
            let k = m.n as f64;
            match family {
                Family::Lognormal => (m.mean_ln(), within.max(1e-12) / k),
                // ln of the mean of k exponentials: E = ln scale + ψ(k) − ln k ≈ ln scale − 1/(2k) − 1/(12k²).
                _ => (m.mean().ln() + 1.0 / (2.0 * k) + 1.0 / (12.0 * k * k), 1.0 / k + 1.0 / (2.0 * k * k) + 1.0 / (6.0 * k * k * k)),
            }
        })
        .unzip()
}

/// The generalized Q statistic at τ²: Σ wᵢ (yᵢ − ȳ)², wᵢ = 1 / (vᵢ + τ²); decreasing in τ².
fn q_at(ys: &[f64], vs: &[f64], tau2: f64) -> f64 {
    let w: Vec<f64> = vs.iter().map(|v| 1.0 / (v + tau2).max(1e-12)).collect();
    let sw: f64 = w.iter().sum();
    let ybar = ys.iter().zip(&w).map(|(y, w)| y * w).sum::<f64>() / sw;
    ys.iter().zip(&w).map(|(y, w)| w * (y - ybar).powi(2)).sum()
}

/// The τ² ≥ 0 at which the generalized Q equals `target` (0 when Q(0) is below it already).
fn q_profile_root(ys: &[f64], vs: &[f64], target: f64) -> f64 {
    if q_at(ys, vs, 0.0) <= target {
        return 0.0;
    }
    let mut hi = 1e-4;
    while q_at(ys, vs, hi) > target && hi < 1e6 {
        hi *= 4.0;
    }
    bisect(0.0, hi, &|x| q_at(ys, vs, x) <= target, 100)
}

/// The χ² quantile with upper tail `p` (bisection on the tail).
fn chi2_quantile_upper(p: f64, df: f64) -> f64 {
    bisect(0.0, df + 10.0 * df.sqrt() + 100.0, &|x| chi2_upper(x, df) <= p, 200)
}

/// The Q-profile 95% interval of τ (the spread of log speeds).
pub(crate) fn speed_interval(ys: &[f64], vs: &[f64]) -> (f64, f64) {
    let df = (ys.len() - 1) as f64;
    let lo = q_profile_root(ys, vs, chi2_quantile_upper(0.025, df));
    let hi = q_profile_root(ys, vs, chi2_quantile_upper(0.975, df));
    (lo.sqrt(), hi.sqrt())
}

/// Fits handling times from each annotator's sufficient statistics (annotators with none are
/// skipped). None without any answer.
pub fn fit(annotators: &[Moments], bootstrap: u32, seed: u64) -> Option<ServiceFit> {
    let anns: Vec<&Moments> = annotators.iter().filter(|m| m.n > 0).collect();
    if anns.is_empty() {
        return None;
    }
    let n: u64 = anns.iter().map(|m| m.n).sum();
    let a = anns.len();
    let fixed = anns.iter().all(|m| m.max - m.min <= 2e-6 + 1e-9 * m.max);
    let sum_ln: f64 = anns.iter().map(|m| m.sum_ln).sum();
    let ssw: f64 = anns.iter().map(|m| m.ss_ln()).sum();
    let ll_exp: f64 = anns.iter().map(|m| -(m.n as f64) * (m.mean().ln() + 1.0)).sum();
    let nf = n as f64;
    let s2 = ssw / nf;
    let ll_ln = if s2 > 0.0 { -sum_ln - nf / 2.0 * (2.0 * std::f64::consts::PI * s2).ln() - nf / 2.0 } else { f64::NEG_INFINITY };
    let aic = vec![("exponential", 2.0 * a as f64 - 2.0 * ll_exp), ("lognormal", 2.0 * (a as f64 + 1.0) - 2.0 * ll_ln)];
    let family = if fixed {
        Family::Fixed
    } else if aic[1].1 < aic[0].1 {
        Family::Lognormal
    } else {
        Family::Exponential
    };
    // The spread of speeds: Cochran's Q on the annotators' log scales.
    let spread_p = (a >= 3 && family != Family::Fixed).then(|| {
        let (ys, vs) = log_scales(&anns, family, within_var(&anns));
        chi2_upper(q_at(&ys, &vs, 0.0), (ys.len() - 1) as f64)
    });
    let spread = match family {
        Family::Fixed => a >= 2 && anns.iter().any(|m| (m.mean() - anns[0].mean()).abs() > 2e-6),
        _ => spread_p.is_some_and(|p| p < SPREAD_LEVEL),
    };
    let (scale, sigma, speed) = estimate(&anns, family, spread);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut bs, mut bg, mut bp) = (vec![], vec![], vec![]);
    for _ in 0..bootstrap {
        let pick: Vec<&Moments> = (0..a).map(|_| anns[rng.random_range(0..a)]).collect();
        let (s, g, _) = estimate(&pick, family, spread);
        bs.push(s);
        bg.push(g);
        if family == Family::Fixed {
            bp.push(estimate(&pick, family, spread).2);
        }
    }
    // The spread's interval: the Q-profile one, found or not (so that "no spread supported"
    // still says how large a spread the data leave possible); a fixed time's by the bootstrap.
    let speed_ci = match family {
        Family::Fixed if spread => crate::stats::basic95(speed, bp, 0.0),
        Family::Fixed => (0.0, 0.0),
        _ if a >= 2 => {
            let (ys, vs) = log_scales(&anns, family, within_var(&anns));
            let (lo, hi) = speed_interval(&ys, &vs);
            (lo.min(speed), hi.max(speed))
        }
        // One annotator: no spread to see.
        _ => (0.0, 0.0),
    };
    // A bootstrap over a handful of annotators cannot see the noise of their answers: each
    // interval is at least the answers' own sampling interval (the mean log time's ±1.96 σ/√n,
    // an exponential's ±1.96/√n; σ's ±1.96/√(2n) relative).
    let (bs, bg) = (interval95(bs), interval95(bg));
    // Where speeds differ, the scale is a mean over a few people, and the bootstrap's interval
    // of it too narrow: widened to Student's t (`few_groups_widening`).
    let bs = match crate::stats::few_groups_widening(a) {
        w if spread && bs.0 > 0.0 && scale > 0.0 => (scale * (bs.0 / scale).powf(w), scale * (bs.1 / scale).powf(w)),
        _ => bs,
    };
    let nf = (n as f64).max(1.0);
    let scale_ci = match family {
        Family::Fixed => bs,
        _ => {
            let half = crate::stats::Z95 * if family == Family::Lognormal { sigma } else { 1.0 } / nf.sqrt();
            (bs.0.min(scale * (-half).exp()), bs.1.max(scale * half.exp()))
        }
    };
    let sigma_ci = match family {
        Family::Lognormal => {
            let half = crate::stats::Z95 / (2.0 * nf).sqrt();
            (bg.0.min(sigma * (1.0 - half).max(0.0)), bg.1.max(sigma * (1.0 + half)))
        }
        _ => bg,
    };
    Some(ServiceFit {
        family,
        scale_s: scale,
        scale_ci,
        sigma,
        sigma_ci,
        speed_sigma: speed,
        speed_ci,
        spread_p,
        aic,
        answers: n,
        annotators: a,
    })
}
