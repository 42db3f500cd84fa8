//! Erlang A: the M/M/c+M queue (Palm's model), Erlang C with impatient customers.
//!
//! Arrivals are Poisson at rate λ, handling times exponential with mean 1/μ, c servers, and each
//! waiting customer abandons after an exponential patience of mean 1/θ. Formulas from Garnett,
//! Mandelbaum & Reiman, "Designing a call center with impatient customers", M&SOM 4(3), 2002,
//! §3 and Appendix, and Mandelbaum & Zeltyn, "The M/M/n+G queue: summary of performance measures"
//! (2009 note), written with x = cμ/θ, y = λ/θ and the series
//!
//! ```text
//!   M(x, w) = Σ_{k≥0} w^k / ((x+1)(x+2)···(x+k))        (= x·e^w·w^−x·γ(x, w), the lower incomplete gamma)
//! ```
//!
//! Relative to π_c (the probability that all c servers are busy and nobody waits), the states
//! with fewer busy servers weigh 1/B − 1 (B = Erlang B with c servers and load A = λ/μ) and the
//! states with k ≥ 0 waiting weigh M(x, y). So
//!
//! * P(wait) = M(x, y) / (1/B − 1 + M(x, y));
//! * E[Q] = Σ k·t_k / (1/B − 1 + M), t_k the k-th term of M(x, y); P(abandon) = θ·E[Q]/λ;
//!   the mean wait over all arrivals, abandoners included, is E[W] = E[Q]/λ (Little);
//! * the offered wait V (how long a customer would wait if infinitely patient), given that it
//!   waits: P(V > t | wait) = γ(x, y·z)/γ(x, y) with z = e^{−θt} = z^x·e^{y(1−z)}·M(x, yz)/M(x, y);
//! * answered within t, given that it waits: E[1{V ≤ t}·e^{−θV}] =
//!   x/(x+1)·[M(x+1, y) − z^{x+1}·e^{y(1−z)}·M(x+1, yz)] / M(x, y) (V given k ahead is a sum of
//!   exponentials of rates θ(x+j), j = 0..k, so e^{−θV} is Beta(x, k+1); summing over k gives
//!   the incomplete gammas above).
//!
//! Everything is computed in log space (Erlang B by the log form of its recursion, M by a
//! rescaled sum stopped by a bound on its geometric tail), so c in the thousands and loads far
//! above c neither overflow nor underflow. The service level used for staffing is "answered
//! within t": the share of all arrivals answered with a wait ≤ t (abandoners count as misses).

/// An M/M/c+M queue.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ErlangA {
    /// [arrivals/s]
    pub lambda: f64,
    /// [s] mean handling time 1/μ.
    pub handling: f64,
    /// [s] mean patience 1/θ (exponential).
    pub patience: f64,
    pub servers: u32,
}

/// The most terms a series may take: beyond it the patience is too long for the load.
pub const MAX_TERMS: u64 = 50_000_000;

/// The steady-state figures of an [`ErlangA`] queue.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Palm {
    /// Probability that an arrival finds every server busy (and so waits, at least until it leaves).
    pub p_wait: f64,
    /// Probability that an arrival abandons before being served.
    pub p_abandon: f64,
    /// [s] mean wait over all arrivals, abandoners included (time until served or gone).
    pub mean_wait: f64,
    /// Mean number waiting.
    pub mean_queue: f64,
    /// ln(1/B − 1) and ln M(x, y): kept for the service level.
    log_lower: f64,
    log_m: f64,
}

/// ln(e^a + e^b).
fn log_add(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

/// ln(1/B − 1) for Erlang B with `c` servers and load `a` (> 0): the weight of the states with
/// fewer than c busy servers relative to the state with exactly c. Recursion 1/B(k) = 1 + (k/a)/B(k−1), in logs.
pub fn log_inverse_b_minus_one(c: u32, a: f64) -> f64 {
    let mut l = 0.0; // ln(1/B(0)) = ln 1
    for k in 1..=c {
        l = log_add(0.0, (k as f64 / a).ln() + l);
    }
    // ln(e^l − 1)
    if l > 30.0 { l + (-(-l).exp()).ln_1p() } else { (l.exp_m1()).ln() }
}

/// ln M(x, w) and ln Σ k·t_k (t_k the terms of M), or None past [`MAX_TERMS`].
pub fn log_series(x: f64, w: f64) -> Option<(f64, f64)> {
    // Running sums scaled by e^{−scale}; log_t is ln t_k.
    let (mut scale, mut sum, mut ksum) = (0.0f64, 1.0f64, 0.0f64);
    let mut log_t = 0.0f64;
    let mut k: u64 = 0;
    loop {
        k += 1;
        if k > MAX_TERMS {
            return None;
        }
        log_t += (w / (x + k as f64)).ln();
        if log_t > scale {
            let f = (scale - log_t).exp();
            sum *= f;
            ksum *= f;
            scale = log_t;
        }
        let t = (log_t - scale).exp();
        sum += t;
        ksum += k as f64 * t;
        // Past the peak the ratios r_j = w/(x+j) fall, so the tail after term k is at most
        // t_k·r/(1−r) and its k-weighted sum at most t_k·(k+1)·r/(1−r)², with r = r_{k+1} < 1.
        let r = w / (x + (k + 1) as f64);
        if r < 1.0 {
            let tail = t * r / (1.0 - r);
            let ktail = t * (k + 1) as f64 * r / ((1.0 - r) * (1.0 - r));
            if tail <= 1e-17 * sum && ktail <= 1e-17 * ksum.max(f64::MIN_POSITIVE) || t == 0.0 {
                break;
            }
        }
    }
    Some((scale + sum.ln(), if ksum > 0.0 { scale + ksum.ln() } else { f64::NEG_INFINITY }))
}

impl ErlangA {
    /// From arrivals per `period_s` seconds, a handling time [s] and a mean patience [s].
    pub fn new(arrivals: f64, period_s: f64, handling_s: f64, patience_s: f64, servers: u32) -> Self {
        ErlangA { lambda: arrivals / period_s, handling: handling_s, patience: patience_s, servers }
    }
    /// Offered load A = λ/μ [Erlang].
    pub fn load(&self) -> f64 {
        self.lambda * self.handling
    }
    fn xy(&self) -> (f64, f64) {
        (self.servers as f64 * self.patience / self.handling, self.lambda * self.patience)
    }
    /// The steady state; None when an input is not positive and finite, there are no servers,
    /// or the series needs more than [`MAX_TERMS`] terms.
    pub fn solve(&self) -> Option<Palm> {
        let ok = |v: f64| v.is_finite() && v > 0.0;
        if !ok(self.lambda) || !ok(self.handling) || !ok(self.patience) || self.servers == 0 {
            return None;
        }
        let (x, y) = self.xy();
        let log_lower = log_inverse_b_minus_one(self.servers, self.load());
        let (log_m, log_km) = log_series(x, y)?;
        let log_total = log_add(log_lower, log_m);
        let p_wait = (log_m - log_total).exp();
        let mean_queue = (log_km - log_total).exp();
        Some(Palm { p_wait, p_abandon: mean_queue / y, mean_wait: mean_queue / self.lambda, mean_queue, log_lower, log_m })
    }
    /// Given the steady state, the share of all arrivals answered within `t` [s] (abandoners and
    /// those answered later count as misses). None past [`MAX_TERMS`].
    pub fn service_level(&self, palm: &Palm, t: f64) -> Option<f64> {
        let (x, y) = self.xy();
        let theta_t = t / self.patience;
        let z = (-theta_t).exp();
        let (log_m1, _) = log_series(x + 1.0, y)?;
        let (log_m1z, _) = log_series(x + 1.0, y * z)?;
        let a = log_m1 - palm.log_m;
        let b = -theta_t * (x + 1.0) + y * (1.0 - z) + log_m1z - palm.log_m;
        let answered_if_wait = (x / (x + 1.0) * (a.exp() - b.exp())).max(0.0);
        Some(((1.0 - palm.p_wait) + palm.p_wait * answered_if_wait).clamp(0.0, 1.0))
    }
    /// P(V ≤ t): the share of arrivals whose offered wait (the wait with infinite patience) is at most `t` [s].
    pub fn offered_wait_within(&self, palm: &Palm, t: f64) -> Option<f64> {
        let (x, y) = self.xy();
        let theta_t = t / self.patience;
        let z = (-theta_t).exp();
        let (log_mz, _) = log_series(x, y * z)?;
        let above = (-theta_t * x + y * (1.0 - z) + log_mz - palm.log_m).exp();
        Some((1.0 - palm.p_wait * above.min(1.0)).clamp(0.0, 1.0))
    }
    /// Occupancy: the served load per server, λ·(1 − P(abandon))/(cμ).
    pub fn occupancy(&self, palm: &Palm) -> f64 {
        self.load() * (1.0 - palm.p_abandon) / self.servers as f64
    }
    /// ln(1/B − 1), exposed for tests.
    pub fn log_lower(palm: &Palm) -> f64 {
        palm.log_lower
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::erlang::ErlangC;

    /// The birth-death chain summed state by state up to a far truncation: the definition.
    fn brute(q: &ErlangA, t_grid: usize) -> (f64, f64, f64) {
        let (lam, mu, th, c) = (q.lambda, 1.0 / q.handling, 1.0 / q.patience, q.servers as usize);
        let kmax = 20_000;
        let mut p = vec![1.0f64; kmax + 1];
        for j in 1..=kmax {
            let death = if j <= c { j as f64 * mu } else { c as f64 * mu + (j - c) as f64 * th };
            p[j] = p[j - 1] * lam / death;
        }
        let tot: f64 = p.iter().sum();
        let pw: f64 = p[c..].iter().sum::<f64>() / tot;
        let eq: f64 = p[c..].iter().enumerate().map(|(k, v)| k as f64 * v).sum::<f64>() / tot;
        let _ = t_grid;
        (pw, eq * th / lam, eq / lam)
    }

    /// Values for 200/h, 180 s, 14 agents and a mean patience of 5 min (the staffing golden case).
    #[test]
    fn golden_case() {
        let q = ErlangA::new(200.0, 3600.0, 180.0, 300.0, 14);
        let p = q.solve().unwrap();
        assert_eq!(format!("{:.5}", p.p_wait), "0.14526");
        assert_eq!(format!("{:.6}", p.p_abandon), "0.013984");
        assert_eq!(format!("{:.6}", p.mean_wait / 60.0), "0.069919");
        let (pw, pa, w) = brute(&q, 0);
        assert!((pw - p.p_wait).abs() < 1e-12 && (pa - p.p_abandon).abs() < 1e-12 && (w - p.mean_wait).abs() < 1e-9);
    }

    #[test]
    fn matches_the_chain_when_overloaded_and_underloaded() {
        for &(per_hour, servers, patience) in &[(200.0, 5, 60.0), (200.0, 30, 600.0), (1000.0, 40, 30.0), (50.0, 1, 1.0), (400.0, 10, 3600.0)] {
            let q = ErlangA::new(per_hour, 3600.0, 180.0, patience, servers);
            let p = q.solve().unwrap();
            let (pw, pa, w) = brute(&q, 0);
            assert!((pw - p.p_wait).abs() < 1e-10, "{per_hour} {servers}: {pw} vs {}", p.p_wait);
            assert!((pa - p.p_abandon).abs() < 1e-10, "{pa} vs {}", p.p_abandon);
            assert!((w - p.mean_wait).abs() / w.max(1e-9) < 1e-9, "{w} vs {}", p.mean_wait);
        }
    }

    /// Service level against a direct sum over the number ahead (V given k ahead is a sum of
    /// exponentials of rates cμ + jθ: answered within t = P(V ≤ t, patience > V), integrated numerically).
    #[test]
    fn service_level_against_numeric_integration() {
        let q = ErlangA::new(200.0, 3600.0, 180.0, 300.0, 12);
        let p = q.solve().unwrap();
        let t = 20.0;
        let (lam, mu, th, c) = (q.lambda, 1.0 / q.handling, 1.0 / q.patience, q.servers as usize);
        // Weights of states (relative), then for each k ahead the density of V by uniformisation-free
        // convolution on a fine grid: simpler, a Monte-Carlo-free quadrature of e^{-θv} over V's law.
        let kmax = 400;
        let mut w = vec![1.0f64; c + kmax + 1];
        for j in 1..w.len() {
            let death = if j <= c { j as f64 * mu } else { c as f64 * mu + (j - c) as f64 * th };
            w[j] = w[j - 1] * lam / death;
        }
        let tot: f64 = w.iter().sum();
        let steps = 20_000;
        let dt = t / steps as f64;
        let mut answered = w[..c].iter().sum::<f64>() / tot;
        // f_k(v): density of the sum of Exp(cμ + jθ), j = 0..k, by the Beta form of the module doc.
        for k in 0..kmax {
            let x = c as f64 * mu / th;
            let lnc = ln_gamma(x + k as f64 + 1.0) - ln_gamma(x) - ln_gamma(k as f64 + 1.0);
            let mut acc = 0.0;
            for s in 0..steps {
                let v = (s as f64 + 0.5) * dt;
                let dens = th * (lnc - x * th * v + k as f64 * (-(-th * v).exp_m1()).ln()).exp();
                acc += dens * (-th * v).exp() * dt;
            }
            answered += w[c + k] / tot * acc;
        }
        let sl = q.service_level(&p, t).unwrap();
        assert!((sl - answered).abs() < 1e-6, "{sl} vs {answered}");
        // At t = 0 only those who did not wait are answered; with patience → ∞ it is Erlang C's.
        assert!((q.service_level(&p, 0.0).unwrap() - (1.0 - p.p_wait)).abs() < 1e-12);
        let c14 = ErlangC::new(200.0, 3600.0, 180.0, 14);
        let a14 = ErlangA::new(200.0, 3600.0, 180.0, 1e9, 14);
        let pa = a14.solve().unwrap();
        assert!((pa.p_wait - c14.p_wait().unwrap()).abs() < 1e-6);
        assert!((a14.service_level(&pa, 20.0).unwrap() - c14.service_level(20.0).unwrap()).abs() < 1e-6);
        assert!((a14.offered_wait_within(&pa, 20.0).unwrap() - c14.service_level(20.0).unwrap()).abs() < 1e-6);
    }

    fn ln_gamma(x: f64) -> f64 {
        // Lanczos (g = 7, n = 9), ample for a test's quadrature.
        const G: [f64; 9] = [0.999_999_999_999_809_9, 676.520_368_121_885_1, -1_259.139_216_722_402_8, 771.323_428_777_653_1, -176.615_029_162_140_6, 12.507_343_278_686_905, -0.138_571_095_265_720_12, 9.984_369_578_019_572e-6, 1.505_632_735_149_311_6e-7];
        let x = x - 1.0;
        let mut a = G[0];
        let t = x + 7.5;
        for (i, g) in G.iter().enumerate().skip(1) {
            a += g / (x + i as f64);
        }
        0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
    }

    #[test]
    fn large_systems_stay_finite() {
        for &(per_hour, servers) in &[(100_000.0, 5_000u32), (100_000.0, 4_000), (100_000.0, 6_000), (1.0, 5_000)] {
            let q = ErlangA::new(per_hour, 3600.0, 180.0, 300.0, servers);
            let p = q.solve().unwrap();
            assert!(p.p_wait.is_finite() && (0.0..=1.0).contains(&p.p_wait), "{p:?}");
            assert!(p.p_abandon.is_finite() && (0.0..=1.0).contains(&p.p_abandon));
            let sl = q.service_level(&p, 20.0).unwrap();
            assert!((0.0..=1.0).contains(&sl));
        }
        assert!(ErlangA::new(0.0, 3600.0, 180.0, 300.0, 1).solve().is_none());
        assert!(ErlangA::new(1.0, 3600.0, 180.0, 300.0, 0).solve().is_none());
    }
}
