//! Arrivals per stream: batch drops when tasks come in groups at one instant; otherwise the
//! best Poisson process by AIC among a constant rate, an hour-of-day profile (24 rates) and an
//! hour-of-week profile (168 rates).

use crate::stats::Z95;
use crate::tally::{StreamTally, US_PER_H, WEEK_H};

/// Share of arrivals that must share their instant with another for batch drops (a Poisson
/// process puts two arrivals in the same microsecond with probability about zero).
pub const BATCH_SHARE: f64 = 0.9;

/// The arrival process fitted to one stream.
#[derive(Clone, Debug, PartialEq)]
pub enum ArrivalFit {
    /// A constant rate [tasks/h] and its 95% interval.
    Poisson { per_hour: f64, lo: f64, hi: f64 },
    /// Rates [tasks/h] per hour of the day (24) or of the week (168), each with its interval.
    Schedule { per_hour: Vec<f64>, lo: Vec<f64>, hi: Vec<f64> },
    /// `size` tasks every `every_s`, the first `first_s` after the trace's start.
    Batch { size: u32, every_s: f64, first_s: f64 },
}

/// The fit and how it was chosen.
#[derive(Clone, Debug)]
pub struct ArrivalChoice {
    pub fit: ArrivalFit,
    /// (candidate, AIC) of the Poisson candidates the trace can identify.
    pub aic: Vec<(&'static str, f64)>,
    pub method: String,
}

/// Poisson log-likelihood of counts `c` over exposures `e` [h] with one rate per group.
fn ll(groups: &[(f64, f64)]) -> f64 {
    groups.iter().filter(|(c, _)| *c > 0.0).map(|(c, e)| c * (c / e).ln() - c).sum()
}

fn rate_interval(c: f64, e: f64) -> (f64, f64, f64) {
    let r = c / e;
    // Normal interval on the count; for small counts the upper end of an exact-ish 95% bound.
    let lo = ((c - Z95 * c.sqrt()) / e).max(0.0);
    let hi = if c > 0.0 { (c + Z95 * c.sqrt() + 2.0) / e } else { 3.0 / e };
    (r, lo, hi)
}

/// Fits one stream's arrivals; `exposure` holds the hours the trace covers of each hour of the
/// week, `start_us` its start.
pub fn fit(st: &StreamTally, exposure: &[f64], start_us: i64) -> ArrivalChoice {
    let n = st.arrivals as f64;
    let shared = (st.arrivals - st.instants) as f64;
    if st.instants >= 2 && n > 0.0 && shared / n >= BATCH_SHARE {
        let every_s = (st.last_instant - st.first_instant) as f64 / 1e6 / (st.instants - 1) as f64;
        let size = (n / st.instants as f64).round().max(1.0) as u32;
        return ArrivalChoice {
            fit: ArrivalFit::Batch { size, every_s, first_s: (st.first_instant - start_us).max(0) as f64 / 1e6 },
            aic: vec![],
            method: format!("batch drops: {:.0}% of arrivals share their instant with another ({} drops)", 100.0 * shared / n, st.instants),
        };
    }
    let total_e: f64 = exposure.iter().sum();
    let mut aic = vec![("poisson", 2.0 - 2.0 * ll(&[(n, total_e)]))];
    let weekly: Vec<(f64, f64)> = (0..WEEK_H).map(|h| (st.by_hour[h] as f64, exposure[h])).collect();
    let daily: Vec<(f64, f64)> = (0..24).map(|j| (0..7).fold((0.0, 0.0), |(c, e), d| (c + weekly[d * 24 + j].0, e + weekly[d * 24 + j].1))).collect();
    let covered = |g: &[(f64, f64)]| g.iter().all(|(_, e)| *e > 0.0);
    if covered(&daily) {
        aic.push(("hour of day", 2.0 * 24.0 - 2.0 * ll(&daily)));
    }
    if covered(&weekly) {
        aic.push(("hour of week", 2.0 * WEEK_H as f64 - 2.0 * ll(&weekly)));
    }
    let best = aic.iter().min_by(|a, b| a.1.total_cmp(&b.1)).map(|a| a.0).unwrap_or("poisson");
    let profile = |g: &[(f64, f64)]| {
        let (mut r, mut lo, mut hi) = (vec![], vec![], vec![]);
        for (c, e) in g {
            let (a, b, d) = rate_interval(*c, *e);
            r.push(a);
            lo.push(b);
            hi.push(d);
        }
        ArrivalFit::Schedule { per_hour: r, lo, hi }
    };
    let fit = match best {
        "hour of day" => profile(&daily),
        "hour of week" => profile(&weekly),
        _ => {
            let (r, lo, hi) = rate_interval(n, total_e.max(1e-9));
            ArrivalFit::Poisson { per_hour: r, lo, hi }
        }
    };
    let missing = if !covered(&weekly) { "; the trace covers less than a week, so an hour-of-week profile is not identified" } else { "" };
    let listed: Vec<String> = aic.iter().map(|(k, a)| format!("{k} {a:.1}")).collect();
    ArrivalChoice { fit, method: format!("Poisson process, the least AIC of: {}{missing}", listed.join(", ")), aic }
}

/// [h] of a span in µs.
pub fn hours(us: i64) -> f64 {
    us as f64 / US_PER_H as f64
}
