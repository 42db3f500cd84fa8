//! Learning and fatigue, kept only where the data support them. Within each person, the log
//! handling time is compared across bins of experience (answers before) or of hours on shift
//! with the scenario's own curves: learning multiplies time by 1 − s·(1 − 2^(−n/h)), fatigue by
//! 1 + f·hours. A person's own scale is taken out (each person's bins are centred on their own
//! mean), so the spread of speeds cannot pass for a curve. The likelihood-ratio statistic
//! N·ln(RSS₀ / RSS₁) against no curve is referred to a parametric bootstrap under no curve (its
//! null is on the boundary s = 0, where χ² tables do not hold); the effect's interval is a
//! bootstrap over people, widened to Student's t over them. With very large samples any curve is
//! "significant": the effect and its interval are what to read.

use crate::tally::{Bin, HALF_LIVES};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The test's level. At 5%, ecommerce-surge's newcomers, who neither learn nor tire, were given
/// a curve in 5 of 50 seeds (3 learning, 2 fatigue), and each false learning curve moved their
/// fitted median 11-18% (the novice's time is extrapolated by it), outside its interval.
pub const LEVEL: f64 = 0.01;
/// The parametric bootstrap's replicates for the test, whatever `--bootstrap` says: p is
/// (1 + exceedances) / (1 + replicates), so 499 can show p below 1%. The replicates stop once
/// p cannot fall below the level (where there is no curve, most tests stop within a few dozen).
pub const TEST_REPLICATES: u32 = 499;
/// The least effect kept: a curve must change the mean log handling time over the trace by at
/// least this much (1%), or it does not matter to a plan whatever its p-value.
pub const MIN_EFFECT: f64 = 0.01;

/// A fitted curve: `effect` is s (the share of time saved at full experience) or f (the
/// slow-down per hour on shift); `half_life` the items to half the gain (learning).
#[derive(Clone, Debug)]
pub struct CurveFit {
    pub effect: f64,
    pub effect_ci: (f64, f64),
    pub half_life: Option<f64>,
    pub p_value: f64,
    pub answers: f64,
    /// The answer-weighted mean of ln(factor) over the data: what the pooled handling-time
    /// scale has in it of the curve.
    pub mean_log_factor: f64,
}

/// Which curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Curve {
    Learning,
    Fatigue,
}

impl Curve {
    /// The half-lives searched (learning) and the effect's range.
    fn shapes(self) -> (Vec<Option<f64>>, f64) {
        match self {
            Curve::Learning => (HALF_LIVES.iter().map(|h| Some(*h)).collect(), 0.95),
            Curve::Fatigue => (vec![None], 0.5),
        }
    }

    /// The ln of the curve's time factor at x (answers before, or hours on shift), as the engine
    /// applies it (the learning factor floored at 0.05).
    pub(crate) fn log_factor(self, x: f64, effect: f64, half_life: Option<f64>) -> f64 {
        match self {
            Curve::Learning => (1.0 - effect * (1.0 - (-x / half_life.unwrap_or(1.0)).exp2())).max(0.05).ln(),
            Curve::Fatigue => (1.0 + effect * x).ln(),
        }
    }
}

/// One person's bins as (n, mean x, mean ln t with the other curve taken out, within sum of
/// squares).
type Person = Vec<(f64, f64, f64, f64)>;

fn people(bins: &[&[Bin]], offset: &dyn Fn(&Bin) -> f64) -> Vec<Person> {
    bins.iter()
        .map(|b| b.iter().filter(|b| b.n > 0.0).map(|b| (b.n, b.sum_x / b.n, b.sum_ln / b.n - offset(b), (b.sum_ln2 - b.sum_ln * b.sum_ln / b.n).max(0.0))).collect::<Person>())
        .filter(|p: &Person| p.len() >= 2)
        .collect()
}

/// RSS with each person's own mean taken out, under the curve (effect, half-life).
fn rss(ps: &[Person], curve: Curve, effect: f64, half_life: Option<f64>) -> f64 {
    let mut total = 0.0;
    for p in ps {
        let g: Vec<f64> = p.iter().map(|b| if effect == 0.0 { 0.0 } else { curve.log_factor(b.1, effect, half_life) }).collect();
        let n: f64 = p.iter().map(|b| b.0).sum();
        let mu = p.iter().zip(&g).map(|(b, g)| b.0 * (b.2 - g)).sum::<f64>() / n;
        total += p.iter().zip(&g).map(|(b, g)| b.0 * (b.2 - mu - g).powi(2) + b.3).sum::<f64>();
    }
    total
}

/// The best curve: for each half-life, the effect by golden-section search on [0, max] (the
/// RSS is smooth in it); (effect, half-life, RSS), no curve when none does better.
fn best(ps: &[Person], curve: Curve) -> (f64, Option<f64>, f64) {
    let mut out = (0.0, None, rss(ps, curve, 0.0, None));
    let (shapes, max) = curve.shapes();
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    for h in shapes {
        let f = |e: f64| rss(ps, curve, e, h);
        let (mut a, mut b) = (0.0, max);
        let (mut c, mut d) = (b - phi * (b - a), a + phi * (b - a));
        let (mut fc, mut fd) = (f(c), f(d));
        for _ in 0..24 {
            if fc < fd {
                b = d;
                d = c;
                fd = fc;
                c = b - phi * (b - a);
                fc = f(c);
            } else {
                a = c;
                c = d;
                fc = fd;
                d = a + phi * (b - a);
                fd = f(d);
            }
        }
        let e = (a + b) / 2.0;
        let r = f(e);
        if r < out.2 {
            out = ((e * 1e4).round() / 1e4, h, r);
        }
    }
    out
}

/// Tests one curve on people's bins (the other curve already taken out) and fits it.
fn test(ps: &[Person], curve: Curve, bootstrap: u32, rng: &mut ChaCha8Rng) -> Option<CurveFit> {
    if ps.len() < 3 {
        return None;
    }
    let n: f64 = ps.iter().flat_map(|p| p.iter().map(|b| b.0)).sum();
    let rss0 = rss(ps, curve, 0.0, None);
    let (effect, half_life, rss1) = best(ps, curve);
    let lr = n * (rss0 / rss1.max(1e-300)).ln();
    let sigma2 = rss0 / n;
    // Under no curve: each bin's mean is the person's own plus noise of variance σ²/n.
    let (mut exceed, mut done) = (0u32, 0u32);
    let most = (LEVEL * (1.0 + TEST_REPLICATES as f64) - 1.0).ceil() as u32;
    while done < TEST_REPLICATES && exceed < most {
        done += 1;
        let sim: Vec<Person> = ps
            .iter()
            .map(|p| p.iter().map(|b| (b.0, b.1, (sigma2 / b.0).sqrt() * rng.sample::<f64, _>(rand_distr::StandardNormal), sigma2 * (b.0 - 1.0))).collect())
            .collect();
        let r0 = rss(&sim, curve, 0.0, None);
        let (_, _, r1) = best(&sim, curve);
        if n * (r0 / r1.max(1e-300)).ln() >= lr {
            exceed += 1;
        }
    }
    // Stopped at `most` exceedances: Besag and Clifford's (1991) sequential p, exceedances over
    // replicates.
    let p_value = if exceed >= most { exceed as f64 / done as f64 } else { (1.0 + exceed as f64) / (1.0 + TEST_REPLICATES as f64) };
    // The effect's interval: people resampled, widened to Student's t over them (a percentile
    // bootstrap over medical-imaging's 3 radiologists covered their fatigue in 14 of 20 seeds).
    let mut effects = vec![];
    for _ in 0..bootstrap {
        let pick: Vec<Person> = (0..ps.len()).map(|_| ps[rng.random_range(0..ps.len())].clone()).collect();
        effects.push(best(&pick, curve).0);
    }
    let mean_log_factor = moments(ps.iter().map(|p| p.iter().map(|b| (b.0, b.1)).collect()), curve, effect, half_life).0;
    let (lo, hi) = crate::stats::widened95(effect, effects, ps.len());
    Some(CurveFit { effect, effect_ci: (lo.max(0.0), hi), half_life, p_value, answers: n, mean_log_factor })
}

/// The answer-weighted mean of ln(factor) and its variance within each person, over people's
/// bins given as (answers, mean x), the factor taken at each bin's mean x.
fn moments(people: impl Iterator<Item = Vec<(f64, f64)>>, curve: Curve, effect: f64, half_life: Option<f64>) -> (f64, f64) {
    let (mut n, mut sum, mut within) = (0.0, 0.0, 0.0);
    for p in people {
        let g: Vec<f64> = p.iter().map(|b| curve.log_factor(b.1, effect, half_life)).collect();
        let m: f64 = p.iter().map(|b| b.0).sum();
        if m <= 0.0 {
            continue;
        }
        let mean = p.iter().zip(&g).map(|(b, g)| b.0 * g).sum::<f64>() / m;
        n += m;
        sum += mean * m;
        within += p.iter().zip(&g).map(|(b, g)| b.0 * (g - mean).powi(2)).sum::<f64>();
    }
    if n > 0.0 {
        (sum / n, within / n)
    } else {
        (0.0, 0.0)
    }
}

/// Each person's answer-weighted mean ln(factor) over their bins (0 for one with none).
pub fn person_log_factors(bins: &[&[Bin]], curve: Curve, effect: f64, half_life: Option<f64>) -> Vec<f64> {
    bins.iter()
        .map(|b| {
            let (n, s) = b.iter().filter(|b| b.n > 0.0).fold((0.0, 0.0), |(n, s), b| (n + b.n, s + b.n * curve.log_factor(b.sum_x / b.n, effect, half_life)));
            if n > 0.0 { s / n } else { 0.0 }
        })
        .collect()
}

/// A fitted curve's (mean, within-person variance) of ln(factor) over other answers' bins (a
/// task type other than the one it was fitted on): what a handling-time law fitted to them has
/// in it of the curve.
pub fn factor_moments(bins: &[&[Bin]], curve: Curve, effect: f64, half_life: Option<f64>) -> (f64, f64) {
    moments(bins.iter().map(|b| b.iter().filter(|b| b.n > 0.0).map(|b| (b.n, b.sum_x / b.n)).collect()), curve, effect, half_life)
}

/// Learning (from bins of experience) and fatigue (from bins of hours on shift), each fitted
/// with the other taken out by backfitting (three rounds), then each tested. None for a curve
/// with fewer than 3 people with answers in two bins or more.
pub fn fit_both(experience: &[&[Bin]], shift_hours: &[&[Bin]], bootstrap: u32, seed: u64) -> (Option<CurveFit>, Option<CurveFit>) {
    let mut fatigue = 0.0;
    let mut learning: (f64, Option<f64>) = (0.0, None);
    // Fatigue in an experience bin: ln(1 + f · its mean hours on shift).
    let fatigue_off = |f: f64| move |b: &Bin| if b.n_other > 0.0 && f > 0.0 { (1.0 + f * b.sum_hours / b.n_other).ln() } else { 0.0 };
    // Learning in an hours-on-shift bin: ln(1 − s (1 − its mean 2^(−n/h))).
    let learning_off = |(s, h): (f64, Option<f64>)| {
        move |b: &Bin| match HALF_LIVES.iter().position(|x| Some(*x) == h) {
            Some(k) if s > 0.0 && b.n_other > 0.0 => (1.0 - s * (1.0 - b.decay[k] / b.n_other)).max(0.05).ln(),
            _ => 0.0,
        }
    };
    for _ in 0..3 {
        let ps = people(experience, &fatigue_off(fatigue));
        if ps.len() >= 3 {
            let (e, h, _) = best(&ps, Curve::Learning);
            learning = (e, h);
        }
        let ps = people(shift_hours, &learning_off(learning));
        if ps.len() >= 3 {
            fatigue = best(&ps, Curve::Fatigue).0;
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let l = test(&people(experience, &fatigue_off(fatigue)), Curve::Learning, bootstrap, &mut rng);
    let f = test(&people(shift_hours, &learning_off(learning)), Curve::Fatigue, bootstrap, &mut rng);
    (l, f)
}
