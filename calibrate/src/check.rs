//! `tessera calibrate --check`: simulate the fitted scenario and compare a fixed list of figures
//! with the trace's own, computed the same way (each simulated run's trace is tallied exactly as
//! the operation's was). The predictive interval of a figure is the central 95% of its values
//! over the simulated replications; a figure passes when the trace's value lies in that interval
//! widened by the figure's stated equivalence margin.
//!
//! The twin's own estimation error is in the bands: each replication simulates the fitted
//! scenario with its estimated scalars redrawn from their 95% intervals ([`Uncertain`],
//! [`draw_sets`]): rates, scales and spreads log-normally, probabilities on the logit scale, each
//! with the spread that makes its interval a central 95% (an approximate parametric bootstrap:
//! the estimates' sampling law, not a refit of each replication's trace).

use crate::stats::percentile;
use crate::tally::{Feed, ReadOptions, Tally};
use crate::trace::Line;
use rayon::prelude::*;
use std::sync::{Arc, Mutex};
use tessera_engine::run::record::TraceSink;
use tessera_engine::run::{replication_seed, run, RouterFactory, RunOptions};
use tessera_engine::spec::Scenario;

/// The figures compared, with their equivalence margins: (name, unit, margin, relative?).
pub const FIGURES: [(&str, &str, f64, bool); 6] = [
    ("throughput", "finals/h", 0.05, true),
    ("time in system, mean", "s", 0.10, true),
    ("time in system, p90", "s", 0.10, true),
    ("accuracy on golden answers", "share", 0.01, false),
    ("left unserved", "share of arrivals", 0.01, false),
    ("waiting tasks, mean", "tasks", 0.10, true),
];

/// The trace's figures, in the order of [`FIGURES`]; None where the trace has no data for one.
pub fn figures(t: &Tally) -> Vec<Option<f64>> {
    let span = t.span_h().max(1e-9);
    let finals: u64 = t.streams.iter().map(|s| s.finals).sum();
    let mut tis = tessera_engine::metrics::quantiles::Quantiles::default();
    for s in &t.streams {
        tis.merge(&s.time_in_system);
    }
    let (gold, right) = t.pools.iter().flat_map(|p| &p.annotators).flat_map(|a| a.gold.values()).fold((0u64, 0u64), |(n, k), (gn, gk)| (n + gn, k + gk));
    let arrivals: u64 = t.streams.iter().map(|s| s.arrivals).sum();
    let left: u64 = t.streams.iter().map(|s| s.left).sum();
    let waiting: f64 = t.waiting_area.iter().sum::<f64>() / span;
    vec![
        Some(finals as f64 / span),
        (finals > 0).then(|| tis.mean()),
        (finals > 0).then(|| tis.quantile(0.9)),
        (gold > 0).then(|| right as f64 / gold as f64),
        (arrivals > 0).then(|| left as f64 / arrivals as f64),
        Some(waiting),
    ]
}

/// A fitted scalar with its 95% interval, as the side file writes it, that `--check` redraws.
#[derive(Clone, Debug, PartialEq)]
pub struct Uncertain {
    pub path: String,
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
    pub scale: Scale,
}

/// How an estimate is redrawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// A positive rate or size: log-normal.
    Log,
    /// A duration [s], written with its unit: log-normal.
    LogSeconds,
    /// A probability: logit-normal.
    Logit,
    /// A spread that may be 0: normal, folded at 0.
    Folded,
}

/// The path endings whose intervals are estimation intervals, and how each is drawn (the
/// abandonment timeout's interval, the shortest and longest seen, is not one).
const REDRAWN: [(&str, Scale); 9] = [
    (".poisson.per_hour", Scale::Log),
    (".patience.exponential.mean", Scale::LogSeconds),
    (".exponential.mean", Scale::LogSeconds),
    (".lognormal.median", Scale::LogSeconds),
    (".lognormal.sigma", Scale::Log),
    (".speed_sigma", Scale::Folded),
    (".abandonment.probability", Scale::Logit),
    (".one_coin.mean", Scale::Logit),
    (".diagonal.mean", Scale::Logit),
];

/// How a model's fitted scalar is redrawn (`models.<m>.<field>`), for those whose interval is an
/// estimation interval.
fn model_scale(path: &str) -> Option<Scale> {
    let field = path.strip_prefix("models.")?.split_once('.')?.1;
    match field {
        "accuracy" | "automation_bias" => Some(Scale::Logit),
        "speedup" | "confidence_concentration" => Some(Scale::Log),
        _ => None,
    }
}

/// The redrawable scalars of a side file's `fitted` object (`tessera.calibration/1`).
pub fn uncertain_from_side(side: &serde_json::Value) -> Vec<Uncertain> {
    let Some(fitted) = side.get("fitted").and_then(|f| f.as_object()) else { return vec![] };
    fitted
        .iter()
        .filter_map(|(path, v)| {
            let scale = REDRAWN.iter().find(|(end, _)| path.ends_with(end)).map(|x| x.1).or_else(|| model_scale(path))?;
            // An accuracy written as a Beta has no mean to set (the Beta's a and b are not redrawn).
            if path.ends_with(".mean") && path.contains(".accuracy.") && fitted.contains_key(&format!("{}.beta", path.trim_end_matches(".mean"))) {
                return None;
            }
            let estimate = v.get("estimate")?.as_f64()?;
            let ci = v.get("interval_95")?.as_array()?;
            let (lo, hi) = (ci.first()?.as_f64()?, ci.get(1)?.as_f64()?);
            (lo.is_finite() && hi.is_finite() && lo <= estimate && estimate <= hi && lo < hi).then(|| Uncertain { path: path.clone(), estimate, lo, hi, scale })
        })
        .collect()
}

/// Replication `r`'s `--set` edits: every scalar drawn from its estimate's approximate sampling
/// law (module doc), from a stream of its own keyed by (`seed`, `r`).
pub fn draw_sets(uncertain: &[Uncertain], seed: u64, r: u32) -> Vec<String> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x7E57_0F7A_1CE5 ^ (u64::from(r) << 32));
    let z95 = crate::stats::Z95;
    uncertain
        .iter()
        .map(|u| {
            let z: f64 = rng.sample(rand_distr::StandardNormal);
            let along = |f: fn(f64) -> f64, g: fn(f64) -> f64| -> f64 {
                let (lo, hi) = (f(u.lo), f(u.hi));
                let sd = if lo.is_finite() && hi.is_finite() { (hi - lo) / (2.0 * z95) } else { 0.0 };
                g(f(u.estimate) + sd * z)
            };
            let logit = |p: f64| (p.clamp(1e-9, 1.0 - 1e-9) / (1.0 - p.clamp(1e-9, 1.0 - 1e-9))).ln();
            let expit = |x: f64| 1.0 / (1.0 + (-x).exp());
            let v = match u.scale {
                Scale::Log | Scale::LogSeconds if u.lo > 0.0 => along(f64::ln, f64::exp),
                Scale::Log | Scale::LogSeconds => u.estimate,
                Scale::Logit => along(logit, expit),
                Scale::Folded => along(|x| x, |x| x).abs(),
            };
            match u.scale {
                Scale::LogSeconds => format!("{}=\"{v}s\"", u.path),
                _ => format!("{}={v}", u.path),
            }
        })
        .collect()
}

/// One figure's verdict.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Verdict {
    pub figure: &'static str,
    pub unit: &'static str,
    pub trace: Option<f64>,
    pub predicted_median: Option<f64>,
    /// Central 95% of the simulated replications (each with the twin's estimates redrawn).
    pub predicted_95: Option<(f64, f64)>,
    /// The equivalence margin: relative (a share of the median) or absolute.
    pub margin: f64,
    pub margin_relative: bool,
    /// None when there is nothing to compare (no data in the trace or the simulations).
    pub pass: Option<bool>,
}

struct TallySink {
    feed: Option<Feed>,
    lines: u64,
    out: Arc<Mutex<Option<Result<Tally, String>>>>,
}

impl TraceSink for TallySink {
    fn write(&mut self, line: &[u8]) -> Result<(), String> {
        self.lines += 1;
        let parsed: Line = serde_json::from_slice(line.trim_ascii()).map_err(|e| e.to_string())?;
        self.feed.as_mut().ok_or("the trace is closed")?.line(self.lines, parsed).map_err(|e| e.to_string())
    }
    fn finish(&mut self) -> Result<(), String> {
        if let Some(feed) = self.feed.take() {
            *self.out.lock().unwrap_or_else(|e| e.into_inner()) = Some(feed.finish().map_err(|e| e.to_string()));
        }
        Ok(())
    }
}

/// Simulates replication r's scenario (`scenario_for(r)`: the fitted one, its estimates redrawn)
/// `replications` times (seeds from `seed`) and judges the trace's figures.
pub fn check(scenario_for: &(dyn Fn(u32) -> Result<Scenario, String> + Sync), make_router: RouterFactory, trace: &Tally, replications: u32, seed: u64) -> Result<Vec<Verdict>, String> {
    // A simulation of the fitted scenario names its people "<pool>/<n>" after the fitted pools.
    let opts = ReadOptions { replication: None, utc_offset_s: Some(trace.utc_offset_s), speedup: None, skip_us: trace.skipped_us(), group_by: crate::tally::GroupBy::Name, skip_agreement: true };
    let sims: Vec<Vec<Option<f64>>> = (0..replications)
        .into_par_iter()
        .map(|r| {
            let out = Arc::new(Mutex::new(None));
            let out2 = out.clone();
            let opts2 = opts.clone();
            let factory = move |_r: u32| -> Result<Box<dyn TraceSink>, String> { Ok(Box::new(TallySink { feed: Some(Feed::new("the simulated trace", &opts2)), lines: 0, out: out2.clone() })) };
            let mut run_opts = RunOptions::figures(replication_seed(seed, r));
            run_opts.replication = r;
            run_opts.trace = Some(&factory);
            run(&scenario_for(r)?, make_router, run_opts, &mut |_| {})?;
            let tally = out.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("the simulation wrote no trace")??;
            Ok(figures(&tally))
        })
        .collect::<Result<_, String>>()?;
    let own = figures(trace);
    Ok(FIGURES
        .iter()
        .enumerate()
        .map(|(i, (name, unit, margin, relative))| {
            let mut xs: Vec<f64> = sims.iter().filter_map(|f| f[i]).collect();
            let (median, band) = if xs.is_empty() {
                (None, None)
            } else {
                (Some(percentile(&mut xs, 0.5)), Some((percentile(&mut xs, 0.025), percentile(&mut xs, 0.975))))
            };
            let pass = match (own[i], median, band) {
                (Some(x), Some(m), Some((lo, hi))) => {
                    let slack = if *relative { margin * m.abs() } else { *margin };
                    Some(x >= lo - slack && x <= hi + slack)
                }
                _ => None,
            };
            Verdict { figure: name, unit, trace: own[i], predicted_median: median, predicted_95: band, margin: *margin, margin_relative: *relative, pass }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn estimates_are_redrawn_from_their_intervals_and_only_those() {
        let side = json!({ "fitted": {
            "streams.s.arrivals.poisson.per_hour": { "estimate": 100.0, "interval_95": [90.0, 110.0] },
            "pools.p.service.t.lognormal.median": { "estimate": 600.0, "interval_95": [540.0, 660.0] },
            "pools.p.abandonment.probability": { "estimate": 0.03, "interval_95": [0.02, 0.04] },
            "pools.p.abandonment.timeout": { "estimate": 600.0, "interval_95": [600.0, 600.0] },
            "pools.p.accuracy.one_coin.mean": { "estimate": 0.8, "interval_95": [0.78, 0.82] },
            "pools.p.accuracy.one_coin.beta": { "estimate": [16.0, 4.0], "interval_95": [[10.0, 2.0], [30.0, 8.0]] },
            "pools.q.accuracy.one_coin.mean": { "estimate": 0.9, "interval_95": [0.88, 0.92] },
            "pools.p.count": { "estimate": 30 }
        }});
        let u = uncertain_from_side(&side);
        let paths: Vec<&str> = u.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(paths, ["pools.p.abandonment.probability", "pools.p.service.t.lognormal.median", "pools.q.accuracy.one_coin.mean", "streams.s.arrivals.poisson.per_hour"]);
        assert_eq!(draw_sets(&u, 1, 0), draw_sets(&u, 1, 0));
        assert_ne!(draw_sets(&u, 1, 0), draw_sets(&u, 1, 1));
        // Over many replications each draw is centred on its estimate with its interval's spread.
        let n = 4000;
        let mut rates = vec![];
        for r in 0..n {
            let sets = draw_sets(&u, 7, r);
            assert!(sets[1].starts_with("pools.p.service.t.lognormal.median=\"") && sets[1].ends_with("s\""), "{}", sets[1]);
            let p: f64 = sets[0].split('=').nth(1).unwrap().parse().unwrap();
            assert!(p > 0.0 && p < 1.0);
            rates.push(sets[3].split('=').nth(1).unwrap().parse::<f64>().unwrap());
        }
        rates.sort_by(f64::total_cmp);
        let (lo, mid, hi) = (rates[n as usize / 40], rates[n as usize / 2], rates[n as usize * 39 / 40]);
        assert!((mid - 100.0).abs() < 1.0 && (lo - 90.0).abs() < 1.5 && (hi - 110.0).abs() < 1.5, "{lo} {mid} {hi}");
    }

    #[test]
    fn a_models_estimates_are_redrawn_and_its_stated_values_are_not() {
        let side = json!({ "fitted": {
            "models.m.accuracy": { "estimate": 0.8, "interval_95": [0.79, 0.81] },
            "models.m.speedup": { "estimate": 1.5, "interval_95": [1.4, 1.6] },
            "models.m.latency": { "estimate": 0.2, "interval_95": [0.2, 0.2] },
            "models.m.learning.asymptote": { "estimate": 0.95, "interval_95": [0.9, 0.97] },
            "models.m.learning.speedup": { "estimate": 0.3, "interval_95": [0.2, 0.4] },
            "models.m.accept_time.lognormal.median": { "estimate": 3.5, "interval_95": [3.0, 4.0] }
        }});
        let u = uncertain_from_side(&side);
        let got: Vec<(&str, Scale)> = u.iter().map(|u| (u.path.as_str(), u.scale)).collect();
        assert_eq!(got, [("models.m.accept_time.lognormal.median", Scale::LogSeconds), ("models.m.accuracy", Scale::Logit), ("models.m.speedup", Scale::Log)]);
    }
}
