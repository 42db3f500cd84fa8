//! Staffing one queue: the fewest agents that meet a service level, then the occupancy cap, then
//! shrinkage to rostered headcount, with the square-root rule beside it.
//!
//! The logic is the one planners know from pyworkforce 0.5.1 (`ErlangC.required_positions`):
//! 1. N = the smallest number of agents whose service level P(answered within t) reaches the
//!    target: Erlang C ([`ErlangC`]) or, with a patience, Erlang A ([`ErlangA`]: abandoners count
//!    as misses). The search starts at ⌊A⌋ + 1 for Erlang C (pyworkforce starts at round(A + 1),
//!    which is one more when the load's fraction is ≥ 0.5 and may then return one agent more than
//!    needed) and is a bisection over a monotone figure.
//! 2. If the occupancy at N is above the cap, N = the smallest count whose occupancy is at most the
//!    cap (Erlang C: ⌈A / cap⌉; Erlang A: occupancy counts served work only).
//! 3. Rostered = ⌈N / (1 − shrinkage)⌉: the headcount to put on the roster so that N are at work
//!    after breaks, meetings, training and absence.
//!
//! Square-root staffing (Halfin & Whitt 1981; Borst, Mandelbaum & Reiman 2004): N ≈ A + β·√A.
//! In the Halfin–Whitt regime P(wait) ≈ α(β) = [1 + β·Φ(β)/φ(β)]⁻¹, and Erlang C's tail gives
//! P(W ≤ t) ≈ 1 − α(β)·e^{−β·√A·t/h}. The rule's β is the smallest meeting the target by that
//! approximation (bisection), and its N = ⌈A + β·√A⌉. Beside it the exact answer's implied
//! β = (N − A)/√A.

use std::fmt;

use tessera_engine::metrics::erlang::ErlangC;
use tessera_engine::metrics::erlang_a::ErlangA;

/// The most agents a staffing answer may be: beyond it the load is not a staffing question.
pub const MAX_AGENTS: u32 = 100_000;

/// What to staff for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Target {
    /// [arrivals/h]
    pub arrivals_per_hour: f64,
    /// [s] mean handling time.
    pub handling_s: f64,
    /// Share of arrivals to answer within `within_s`, in (0, 1).
    pub service_level: f64,
    /// [s] the service level's threshold (> 0).
    pub within_s: f64,
    /// Largest occupancy allowed, in (0, 1].
    pub max_occupancy: f64,
    /// Share of rostered time not available for work, in [0, 1).
    pub shrinkage: f64,
    /// [s] mean patience (exponential): Erlang A. None: Erlang C (nobody abandons).
    pub patience_s: Option<f64>,
}

impl Default for Target {
    fn default() -> Self {
        Target { arrivals_per_hour: 0.0, handling_s: 0.0, service_level: 0.8, within_s: 20.0, max_occupancy: 1.0, shrinkage: 0.0, patience_s: None }
    }
}

/// Why a target cannot be staffed.
#[derive(Clone, Debug, PartialEq)]
pub struct StaffingError(pub String);

impl fmt::Display for StaffingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for StaffingError {}

fn err<T>(msg: impl Into<String>) -> Result<T, StaffingError> {
    Err(StaffingError(msg.into()))
}

/// Which rule set the final agent count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    ServiceLevel,
    Occupancy,
}

/// A staffing answer: every figure at the final agent count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Staffing {
    pub target: Target,
    /// [Erlang] offered load A = λ·h.
    pub load: f64,
    /// Agents the service level alone needs.
    pub agents_for_service_level: u32,
    /// Agents at work (after the occupancy cap).
    pub agents: u32,
    /// Headcount on the roster: ⌈agents / (1 − shrinkage)⌉.
    pub rostered: u32,
    pub binding: Binding,
    pub p_wait: f64,
    /// P(answered within t).
    pub service_level: f64,
    /// [s] mean wait over all arrivals (abandoners included, up to when they leave).
    pub mean_wait_s: f64,
    /// Served load per agent.
    pub occupancy: f64,
    /// Erlang A only: P(abandon).
    pub p_abandon: Option<f64>,
    pub sqrt_rule: SqrtRule,
}

/// The square-root staffing rule's answer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SqrtRule {
    /// The rule's β (smallest meeting the target by the Halfin–Whitt approximation).
    pub beta: f64,
    /// ⌈A + β·√A⌉.
    pub agents: u32,
    /// α(β) = [1 + β·Φ(β)/φ(β)]⁻¹, the approximate P(wait).
    pub p_wait_approx: f64,
    /// (N − A)/√A of the exact answer (N = agents for the service level).
    pub implied_beta: f64,
}

/// Figures at one agent count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    pub p_wait: f64,
    pub service_level: f64,
    pub mean_wait_s: f64,
    pub occupancy: f64,
    pub p_abandon: Option<f64>,
}

/// Checks a target's inputs; the message names the input and the range it must be in.
pub fn check(t: &Target) -> Result<(), StaffingError> {
    let finite = |v: f64| v.is_finite();
    if !(finite(t.arrivals_per_hour) && t.arrivals_per_hour > 0.0) {
        return err(format!("the arrival rate must be a positive number of arrivals per hour, found {}", t.arrivals_per_hour));
    }
    if !(finite(t.handling_s) && t.handling_s > 0.0) {
        return err(format!("the handling time must be positive, found {} s", t.handling_s));
    }
    if !(finite(t.service_level) && t.service_level > 0.0 && t.service_level < 1.0) {
        return err(format!("the service level must be a share strictly between 0 and 1 (0.8 = 80%), found {}", t.service_level));
    }
    if !(finite(t.within_s) && t.within_s > 0.0) {
        return err(format!("the service level's threshold (--within) must be positive, found {} s", t.within_s));
    }
    if !(finite(t.max_occupancy) && t.max_occupancy > 0.0 && t.max_occupancy <= 1.0) {
        return err(format!("the occupancy cap must be in (0, 1], found {}", t.max_occupancy));
    }
    if !(finite(t.shrinkage) && t.shrinkage >= 0.0 && t.shrinkage < 1.0) {
        return err(format!("shrinkage must be in [0, 1), found {}", t.shrinkage));
    }
    if let Some(p) = t.patience_s {
        if !(finite(p) && p > 0.0) {
            return err(format!("the mean patience must be positive, found {p} s"));
        }
    }
    Ok(())
}

/// The figures of a target at `agents` (≥ 1); None when Erlang C is unstable (A ≥ agents) or the
/// Erlang A series does not converge.
pub fn figures(t: &Target, agents: u32) -> Option<Figures> {
    match t.patience_s {
        None => {
            let q = ErlangC::new(t.arrivals_per_hour, 3600.0, t.handling_s, agents);
            Some(Figures { p_wait: q.p_wait()?, service_level: q.service_level(t.within_s)?, mean_wait_s: q.mean_wait()?, occupancy: q.utilization(), p_abandon: None })
        }
        Some(p) => {
            let q = ErlangA::new(t.arrivals_per_hour, 3600.0, t.handling_s, p, agents);
            let s = q.solve()?;
            Some(Figures { p_wait: s.p_wait, service_level: q.service_level(&s, t.within_s)?, mean_wait_s: s.mean_wait, occupancy: q.occupancy(&s), p_abandon: Some(s.p_abandon) })
        }
    }
}

/// The smallest n in [lo, hi] with `ok(n)`, for `ok` monotone (false … true); None if `ok(hi)` is
/// false. A galloping search (lo, lo + 1, lo + 3, lo + 7, …) then bisection: the figures cost O(n)
/// to evaluate, so the probes stay near the answer instead of starting at `hi`.
fn smallest(lo: u32, hi: u32, mut ok: impl FnMut(u32) -> bool) -> Option<u32> {
    if lo > hi {
        return None;
    }
    let (mut step, mut probe, mut below) = (1u32, lo, lo);
    loop {
        if ok(probe) {
            break;
        }
        if probe == hi {
            return None;
        }
        below = probe + 1;
        probe = probe.saturating_add(step).min(hi);
        step = step.saturating_mul(2);
    }
    let (mut lo, mut hi) = (below, probe);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if ok(mid) { hi = mid } else { lo = mid + 1 }
    }
    Some(lo)
}

/// ⌈x⌉ forgiving float noise (14 / 0.7 is 20.000000000000004).
fn ceil_u32(x: f64) -> u32 {
    let r = x.round();
    let v = if (x - r).abs() < 1e-9 * r.max(1.0) { r } else { x.ceil() };
    v.min(u32::MAX as f64) as u32
}

/// Staffs a target (see the module doc). Errors name the input out of range, or the limit.
pub fn staff(t: &Target) -> Result<Staffing, StaffingError> {
    check(t)?;
    let load = t.arrivals_per_hour * t.handling_s / 3600.0;
    let limit = |what: &str| {
        StaffingError(format!(
            "{what} needs more than {MAX_AGENTS} agents, the limit of one staffing answer (offered load {load:.1} Erlang: {} arrivals/h × {} s); split the work into smaller queues",
            t.arrivals_per_hour, t.handling_s
        ))
    };
    if t.patience_s.is_none() && load >= MAX_AGENTS as f64 {
        return Err(limit("this load"));
    }
    let lo = if t.patience_s.is_none() { (load.floor() as u32).saturating_add(1) } else { 1 };
    let meets = |n: u32| figures(t, n).is_some_and(|f| f.service_level >= t.service_level);
    let n_sl = smallest(lo, MAX_AGENTS, meets).ok_or_else(|| limit(&format!("a service level of {} within {} s", t.service_level, t.within_s)))?;
    let at = figures(t, n_sl).ok_or_else(|| limit("this load"))?;
    let (agents, binding) = if at.occupancy > t.max_occupancy + 1e-12 {
        let n = match t.patience_s {
            None => ceil_u32(load / t.max_occupancy),
            Some(_) => smallest(n_sl, MAX_AGENTS, |n| figures(t, n).is_some_and(|f| f.occupancy <= t.max_occupancy + 1e-12)).ok_or_else(|| limit("the occupancy cap"))?,
        };
        if n > MAX_AGENTS {
            return Err(limit("the occupancy cap"));
        }
        (n.max(n_sl), Binding::Occupancy)
    } else {
        (n_sl, Binding::ServiceLevel)
    };
    let f = figures(t, agents).ok_or_else(|| limit("this load"))?;
    let rostered = ceil_u32(agents as f64 / (1.0 - t.shrinkage));
    Ok(Staffing {
        target: *t,
        load,
        agents_for_service_level: n_sl,
        agents,
        rostered,
        binding,
        p_wait: f.p_wait,
        service_level: f.service_level,
        mean_wait_s: f.mean_wait_s,
        occupancy: f.occupancy,
        p_abandon: f.p_abandon,
        sqrt_rule: sqrt_rule(load, t.service_level, t.within_s / t.handling_s, n_sl),
    })
}

/// φ, the standard normal density.
pub fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Φ, the standard normal distribution function (erfc by Numerical Recipes' Chebyshev fit:
/// relative error below 1.2e-7 everywhere).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t * (-z * z - 1.26551223
        + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
        .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Halfin–Whitt: α(β) = [1 + β·Φ(β)/φ(β)]⁻¹, the approximate P(wait) at N = A + β·√A.
pub fn halfin_whitt(beta: f64) -> f64 {
    1.0 / (1.0 + beta * normal_cdf(beta) / normal_pdf(beta))
}

/// The square-root rule for load `a`, a service-level target within `t_over_h` handling times.
pub fn sqrt_rule(a: f64, target: f64, t_over_h: f64, exact: u32) -> SqrtRule {
    let sl = |beta: f64| 1.0 - halfin_whitt(beta) * (-beta * a.sqrt() * t_over_h).exp();
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while sl(hi) < target && hi < 64.0 {
        hi *= 2.0;
    }
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if sl(mid) >= target { hi = mid } else { lo = mid }
    }
    let beta = hi;
    SqrtRule { beta, agents: ceil_u32(a + beta * a.sqrt()), p_wait_approx: halfin_whitt(beta), implied_beta: (exact as f64 - a) / a.sqrt() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(per_hour: f64, handling: f64) -> Target {
        Target { arrivals_per_hour: per_hour, handling_s: handling, ..Target::default() }
    }

    /// pyworkforce's test_expected_erlangc_results: 100 per 30 min, 3 min, 80% in 20 s, cap 0.85,
    /// shrinkage 0.3 → 14 agents, 20 rostered.
    #[test]
    fn pyworkforce_golden() {
        let s = staff(&Target { max_occupancy: 0.85, shrinkage: 0.3, ..t(200.0, 180.0) }).unwrap();
        assert_eq!((s.agents, s.rostered, s.binding), (14, 20, Binding::ServiceLevel));
        assert_eq!(format!("{:.6} {:.6} {:.3} {:.3}", s.p_wait, s.service_level, s.mean_wait_s, s.occupancy), "0.174132 0.888350 7.836 0.714");
        // test_over_occupancy_erlangc: cap 0.7 → 15 agents, 22 rostered.
        let s = staff(&Target { max_occupancy: 0.7, shrinkage: 0.3, ..t(200.0, 180.0) }).unwrap();
        assert_eq!((s.agents_for_service_level, s.agents, s.rostered, s.binding), (14, 15, 22, Binding::Occupancy));
        assert_eq!(format!("{:.3} {:.3}", s.service_level, s.p_wait), "0.941 0.102");
    }

    #[test]
    fn smallest_meets_and_one_fewer_does_not() {
        for &(lam, h, sl) in &[(200.0, 180.0, 0.8), (1000.0, 120.0, 0.9), (5.0, 600.0, 0.5), (36000.0, 300.0, 0.95)] {
            let tg = Target { service_level: sl, ..t(lam, h) };
            let s = staff(&tg).unwrap();
            assert!(s.service_level >= sl);
            let below = figures(&tg, s.agents - 1).map_or(0.0, |f| f.service_level);
            assert!(below < sl, "{lam} {h}: {} agents, {below}", s.agents);
            // The rule of thumb lands within a few agents of the exact answer.
            assert!((s.sqrt_rule.agents as i64 - s.agents as i64).abs() <= 2 + (s.load.sqrt() * 0.1) as i64, "{:?}", s.sqrt_rule);
        }
    }

    #[test]
    fn erlang_a_needs_fewer_and_meets_its_target() {
        let c = staff(&t(200.0, 180.0)).unwrap();
        let a = staff(&Target { patience_s: Some(300.0), ..t(200.0, 180.0) }).unwrap();
        assert!(a.agents <= c.agents && a.service_level >= 0.8);
        let tg = Target { patience_s: Some(300.0), ..t(200.0, 180.0) };
        assert!(figures(&tg, a.agents - 1).unwrap().service_level < 0.8);
        // Overload is stable with abandonment: 100 agents for 6,000 Erlang still has figures.
        let over = Target { patience_s: Some(60.0), ..t(120_000.0, 180.0) };
        let f = figures(&over, 100).unwrap();
        assert!(f.p_abandon.unwrap() > 0.9 && f.occupancy <= 1.0 + 1e-9);
    }

    #[test]
    fn impossible_inputs_are_errors_naming_the_input() {
        let bad = [
            (Target { arrivals_per_hour: 0.0, ..t(1.0, 1.0) }, "arrival rate"),
            (Target { arrivals_per_hour: f64::NAN, ..t(1.0, 1.0) }, "arrival rate"),
            (Target { handling_s: -1.0, ..t(1.0, 1.0) }, "handling time"),
            (Target { service_level: 1.0, ..t(1.0, 1.0) }, "service level"),
            (Target { service_level: 0.0, ..t(1.0, 1.0) }, "service level"),
            (Target { max_occupancy: 0.0, ..t(1.0, 1.0) }, "occupancy"),
            (Target { max_occupancy: 1.5, ..t(1.0, 1.0) }, "occupancy"),
            (Target { shrinkage: 1.0, ..t(1.0, 1.0) }, "shrinkage"),
            (Target { patience_s: Some(0.0), ..t(1.0, 1.0) }, "patience"),
            (t(1e9, 3600.0), "100000 agents"),
            (Target { service_level: 0.99, within_s: 1e-3, ..t(99_500.0 * 3600.0, 1.0) }, "100000 agents"),
        ];
        for (tg, needle) in bad {
            let e = staff(&tg).unwrap_err().0;
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn galloping_search_finds_the_smallest() {
        for lo in 0..20u32 {
            for hi in lo..40 {
                for answer in 0..45u32 {
                    let want = (lo..=hi).find(|&n| n >= answer);
                    assert_eq!(smallest(lo, hi, |n| n >= answer), want, "{lo} {hi} {answer}");
                }
            }
        }
        assert_eq!(smallest(5, 3, |_| true), None);
    }

    #[test]
    fn normal_and_halfin_whitt() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959964) - 0.975).abs() < 1e-6);
        assert!((halfin_whitt(0.0) - 1.0).abs() < 1e-12);
        // β = 1 ⇒ α = 1/(1 + 0.8413/0.2420) = 0.2234.
        assert_eq!(format!("{:.4}", halfin_whitt(1.0)), "0.2234");
    }
}
