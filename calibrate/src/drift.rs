//! `tessera drift`: does the operation still look like its twin? CUSUM tests, hour by hour, of
//! arrivals per stream (Poisson, against the twin's hour-of-week rates), handling time per pool
//! and task type (the hour's mean log time against the twin's, its variance from the spread
//! within and between people; each person active in the hour counts once, as in the twin's
//! law, whose scale is the median person's, so that the fast, who answer more, do not pull the
//! hour's mean down) and accuracy per pool on golden answers (the hour's share right
//! against the twin's, difficulty included). Each test runs up and down; each alarm restarts it.
//!
//! Thresholds are set by simulating the tests under the twin itself, with its estimation error
//! drawn once per simulated quarter (a twin fitted from a finite trace is wrong by about its
//! interval, and a test that ignored that would alarm on the twin's own error): the threshold is
//! the least at which the expected false alarms per `false_alarm_days` of unchanged operation is
//! at most one per metric, the budget split evenly over that metric's tests (streams or pools,
//! both directions). The detection delay each test states is the 90th percentile of the hours to
//! the first alarm when the stated change is there from the start.

use crate::stats::percentile;
use crate::tally::{hour_of_week, Feed, Obs, ReadOptions, Tally, US_PER_H, WEEK_H};
use crate::trace::{for_each_line, TraceError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};
use rayon::prelude::*;
use serde::Serialize;
use std::io::BufRead;
use tessera_engine::spec::{AccuracySpec, ProbDist, Scenario, ServiceDist};

/// What the tests look for, and how rarely they may cry wolf.
#[derive(Clone, Debug)]
pub struct DriftOptions {
    /// At most one false alarm per metric in this many days of unchanged operation.
    pub false_alarm_days: f64,
    /// Relative change of arrival rates to detect (0.3 = ±30%).
    pub arrival_shift: f64,
    /// Relative change of handling times to detect (0.2 = 20% slower or faster).
    pub handling_shift: f64,
    /// Change of accuracy on golden answers to detect [share] (0.05 = 5 points).
    pub accuracy_shift: f64,
    /// Simulated quarters behind each threshold and delay.
    pub paths: u32,
    pub seed: u64,
}

impl Default for DriftOptions {
    fn default() -> Self {
        DriftOptions { false_alarm_days: 90.0, arrival_shift: 0.3, handling_shift: 0.2, accuracy_shift: 0.05, paths: 1000, seed: 1 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Arrivals,
    HandlingTime,
    GoldAccuracy,
}

/// How a test's hourly data arise under the twin.
#[derive(Clone, Debug)]
enum Model {
    /// Arrivals: Poisson counts at `rates` per hour of the week; the twin's relative error `se`.
    Poisson { rates: Vec<f64>, se: f64 },
    /// A mean of n values per hour (n ~ Poisson(`n_by_hour`)), variance v_within / n +
    /// v_between / min(n, people); the twin's error `se` on the mean.
    Normal { n_by_hour: Vec<f64>, v_within: f64, v_between: f64, people: f64, se: f64 },
}

/// One CUSUM test.
#[derive(Clone, Debug, Serialize)]
pub struct Test {
    pub metric: Metric,
    /// The stream, or "pool" / "pool/task type".
    pub key: String,
    /// +1 looks for an increase, −1 for a decrease.
    pub direction: i8,
    /// The change looked for: relative (arrivals, handling time) or in points (accuracy).
    pub shift: f64,
    pub threshold: f64,
    /// Expected false alarms per `false_alarm_days` allowed to this test.
    pub false_alarm_budget: f64,
    /// Hours to detect the change with probability 0.9 (from the start of a change).
    pub delay_p90_h: f64,
    pub alarms: Vec<Alarm>,
    pub statistic_at_end: f64,
    #[serde(skip)]
    model: Model,
    #[serde(skip)]
    s: f64,
    #[serde(skip)]
    index: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Alarm {
    /// [µs since the Unix epoch] the end of the hour that raised it, and hours into the trace.
    pub t_us: i64,
    pub at_h: f64,
}

/// The log-likelihood-ratio increment of an hour. Poisson: count c at rate λ, change δ.
/// Normal: mean deviation y of n values, change Δ, variance var.
fn inc_poisson(c: f64, lambda: f64, delta: f64) -> f64 {
    if lambda <= 0.0 {
        return 0.0;
    }
    c * (1.0 + delta).ln() - lambda * delta
}

fn inc_normal(y: f64, delta: f64, var: f64) -> f64 {
    (delta * y - delta * delta / 2.0) / var.max(1e-18)
}

fn hour_var(n: f64, v_within: f64, v_between: f64, people: f64) -> f64 {
    v_within / n + v_between / n.min(people).max(1.0)
}

impl Test {
    /// The signed change in the units of the increment.
    fn delta(&self) -> f64 {
        match self.metric {
            Metric::HandlingTime => (1.0 + self.direction as f64 * self.shift).ln(),
            _ => self.direction as f64 * self.shift,
        }
    }

    /// One simulated quarter's hourly increments, the twin's error drawn once; `changed` puts
    /// the change in from the start.
    fn simulate(&self, rng: &mut ChaCha8Rng, hours: usize, start_how: usize, changed: bool) -> Vec<f64> {
        let delta = self.delta();
        let mut out = Vec::with_capacity(hours);
        match &self.model {
            Model::Poisson { rates, se } => {
                let err = 1.0 + se * rng.sample::<f64, _>(rand_distr::StandardNormal);
                for h in 0..hours {
                    let lambda = rates[(start_how + h) % WEEK_H];
                    let mean = (lambda * err * if changed { 1.0 + delta } else { 1.0 }).max(0.0);
                    let c = if mean > 0.0 { Poisson::new(mean).map(|p| p.sample(rng)).unwrap_or(0.0) } else { 0.0 };
                    out.push(inc_poisson(c, lambda, delta));
                }
            }
            Model::Normal { n_by_hour, v_within, v_between, people, se } => {
                let err = se * rng.sample::<f64, _>(rand_distr::StandardNormal);
                for h in 0..hours {
                    let nbar = n_by_hour[(start_how + h) % WEEK_H];
                    let n = if nbar > 0.0 { Poisson::new(nbar).map(|p| p.sample(rng)).unwrap_or(0.0) } else { 0.0 };
                    if n < 1.0 {
                        out.push(0.0);
                        continue;
                    }
                    let var = hour_var(n, *v_within, *v_between, *people);
                    let y = err + if changed { delta } else { 0.0 } + var.sqrt() * rng.sample::<f64, _>(rand_distr::StandardNormal);
                    out.push(inc_normal(y, delta, var));
                }
            }
        }
        out
    }

    /// Sets the threshold and the stated delay by simulation.
    fn calibrate(&mut self, opts: &DriftOptions, start_how: usize) {
        let hours = (opts.false_alarm_days * 24.0).ceil() as usize;
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ (self.index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let paths: Vec<Vec<f64>> = (0..opts.paths).map(|_| self.simulate(&mut rng, hours, start_how, false)).collect();
        let alarms = |h: f64| -> f64 {
            let mut total = 0u64;
            for p in &paths {
                let mut s = 0.0f64;
                for x in p {
                    s = (s + x).max(0.0);
                    if s > h {
                        total += 1;
                        s = 0.0;
                    }
                }
            }
            total as f64 / paths.len() as f64
        };
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        while alarms(hi) > self.false_alarm_budget && hi < 1e6 {
            lo = hi;
            hi *= 2.0;
        }
        for _ in 0..40 {
            let mid = 0.5 * (lo + hi);
            if alarms(mid) > self.false_alarm_budget {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        self.threshold = hi;
        // The delay: hours to the first alarm with the change there from the start.
        let mut delays: Vec<f64> = (0..opts.paths)
            .map(|_| {
                let incs = self.simulate(&mut rng, hours, start_how, true);
                let mut s = 0.0f64;
                incs.iter().position(|x| {
                    s = (s + x).max(0.0);
                    s > self.threshold
                })
                .map_or(f64::INFINITY, |i| (i + 1) as f64)
            })
            .collect();
        self.delay_p90_h = percentile(&mut delays, 0.9);
    }
}

/// The twin's figures a test needs, per stream and pool.
struct StreamTwin {
    task_type: String,
    classes: f64,
    difficulty: f64,
}

fn between_var(d: &ProbDist) -> f64 {
    match *d {
        ProbDist::Mean(_) => 0.0,
        ProbDist::Beta([a, b]) => a * b / ((a + b) * (a + b) * (a + b + 1.0)),
        ProbDist::Uniform([lo, hi]) => (hi - lo) * (hi - lo) / 12.0,
    }
}

/// (μ of ln t, variance of ln t within a person) of a handling-time law.
fn log_law(d: &ServiceDist) -> (f64, f64) {
    const EULER: f64 = 0.577_215_664_901_532_9;
    match *d {
        ServiceDist::Lognormal { median, sigma } => (median.secs().max(1e-6).ln(), sigma * sigma),
        ServiceDist::Exponential { mean } => (mean.secs().max(1e-6).ln() - EULER, std::f64::consts::PI.powi(2) / 6.0),
        ServiceDist::Fixed(d) => (d.secs().max(1e-6).ln(), 1e-6),
    }
}

/// The relative half-width of a fitted value's interval in the side file, as a standard error.
fn side_se(side: Option<&serde_json::Value>, path: &str, log: bool) -> Option<f64> {
    let f = &side?["fitted"][path];
    let (lo, hi) = (f["interval_95"][0].as_f64()?, f["interval_95"][1].as_f64()?);
    Some(if log { (hi.max(1e-12) / lo.max(1e-12)).ln() / (2.0 * 1.96) } else { (hi - lo) / (2.0 * 1.96) })
}

/// The result of a drift run.
#[derive(Clone, Debug, Serialize)]
pub struct DriftReport {
    pub trace: String,
    pub span_h: f64,
    pub false_alarm_days: f64,
    pub tests: Vec<Test>,
    /// What could not be tested, and why.
    pub not_tested: Vec<String>,
    /// True when the side file gave the twin's estimation error.
    pub estimation_error_allowed: bool,
}

/// Runs the drift tests of `twin` (with its side file when there is one) over a trace read twice
/// from `open` (a first pass for the hours worked, a second for the tests).
pub fn drift(open: &dyn Fn() -> std::io::Result<Box<dyn BufRead>>, origin: &str, read: &ReadOptions, twin: &Scenario, side: Option<&serde_json::Value>, opts: &DriftOptions) -> Result<DriftReport, TraceError> {
    let io = |e: std::io::Error| TraceError::Io { origin: origin.to_string(), what: "cannot open".into(), source: e };
    let first = Tally::read(open().map_err(io)?, origin, read)?;
    // The hour-by-hour pass is as long as the trace: at most 20 years of it.
    if first.span_h() > 20.0 * 8766.0 {
        return Err(TraceError::File { origin: origin.to_string(), message: format!("the trace spans {:.0} years; drift tests at most 20", first.span_h() / 8766.0) });
    }
    let exposure = first.exposure_by_hour();
    let start_how = hour_of_week(first.start_us, first.utc_offset_s);
    let mut not_tested = vec![];
    if side.is_none() {
        not_tested.push("no side file: the twin's estimation error is taken as zero, so false alarms may come sooner than stated".to_string());
    }
    // The twin's streams, by the trace's stream numbers.
    let mut streams = vec![];
    for st in &first.streams {
        let Some(spec) = twin.streams.iter().find(|s| s.name.as_deref() == Some(st.name.as_str())) else {
            return Err(TraceError::File { origin: origin.to_string(), message: format!("the trace's stream {:?} is not in the twin", st.name) });
        };
        streams.push((StreamTwin { task_type: spec.task_type.clone(), classes: spec.classes.max(2) as f64, difficulty: spec.difficulty.mean() }, spec.arrivals.hourly_rates()));
    }
    let mut tests: Vec<Test> = vec![];
    let push = |metric, key: String, shift: f64, model: Model, tests: &mut Vec<Test>| {
        for direction in [1i8, -1] {
            let index = tests.len();
            tests.push(Test { metric, key: key.clone(), direction, shift, threshold: 0.0, false_alarm_budget: 0.0, delay_p90_h: 0.0, alarms: vec![], statistic_at_end: 0.0, model: model.clone(), s: 0.0, index });
        }
    };
    // Arrivals per stream.
    let mut arrival_test = vec![None; first.streams.len()];
    for (i, st) in first.streams.iter().enumerate() {
        match &streams[i].1 {
            Some(rates) if rates.iter().any(|r| *r > 0.0) => {
                let se = side_se(side, &format!("streams.{}.arrivals.poisson.per_hour", st.name), true)
                    .or_else(|| side.and_then(|s| s["fitted"][format!("streams.{}.arrivals.schedule.per_hour", st.name)]["n"].as_f64()).map(|n| 1.0 / n.max(1.0).sqrt()))
                    .unwrap_or(0.0);
                arrival_test[i] = Some(tests.len());
                push(Metric::Arrivals, st.name.clone(), opts.arrival_shift, Model::Poisson { rates: rates.clone(), se }, &mut tests);
            }
            _ => not_tested.push(format!("arrivals of {}: batch drops are not a rate", st.name)),
        }
    }
    // Handling time per pool and task type; accuracy on golden answers per pool.
    let mut handling_test: Vec<Vec<(String, usize, f64)>> = vec![vec![]; first.pools.len()];
    let mut gold_test = vec![None; first.pools.len()];
    for (p, pool) in first.pools.iter().enumerate() {
        let Some(spec) = twin.pools.iter().find(|x| x.name.as_deref() == Some(pool.name.as_str())) else {
            return Err(TraceError::File { origin: origin.to_string(), message: format!("the trace's pool {:?} is not in the twin", pool.name) });
        };
        let people = spec.count.max(1) as f64;
        let curves = spec.learning.as_ref().is_some_and(|l| l.speedup > 0.0) || spec.fatigue.as_ref().is_some_and(|f| f.slowdown_per_hour > 0.0);
        if curves {
            not_tested.push(format!("handling time of {}: the twin's pool learns or tires, and this version tests handling time against a fixed law only", pool.name));
        }
        let per_hour = |counts: &[u64]| -> Vec<f64> { counts.iter().zip(&exposure).map(|(c, e)| if *e > 0.0 { *c as f64 / e } else { 0.0 }).collect() };
        let mut types: Vec<&String> = streams.iter().map(|(s, _)| &s.task_type).collect();
        types.sort();
        types.dedup();
        for tt in types.into_iter().filter(|_| !curves) {
            let Some(dist) = spec.service.get(tt.as_str()) else { continue };
            let (mu, v_w) = log_law(dist);
            let family = match dist {
                ServiceDist::Lognormal { .. } => "lognormal.median",
                ServiceDist::Exponential { .. } => "exponential.mean",
                ServiceDist::Fixed(_) => "fixed",
            };
            let se = side_se(side, &format!("pools.{}.service.{tt}.{family}", pool.name), true).unwrap_or(0.0);
            let n_by_hour = per_hour(&first.answers_by_hour[p]);
            if n_by_hour.iter().all(|n| *n == 0.0) {
                continue;
            }
            handling_test[p].push((tt.clone(), tests.len(), mu));
            let model = Model::Normal { n_by_hour, v_within: v_w, v_between: spec.speed_sigma * spec.speed_sigma, people, se };
            push(Metric::HandlingTime, format!("{}/{tt}", pool.name), opts.handling_shift, model, &mut tests);
        }
        if pool.annotators.iter().any(|a| !a.gold.is_empty()) {
            let dist = match &spec.accuracy {
                AccuracySpec::OneCoin(d) | AccuracySpec::Confusion { diagonal: d } => d,
            };
            let inner = if matches!(spec.accuracy, AccuracySpec::Confusion { .. }) { "confusion.diagonal" } else { "one_coin" };
            let se = side_se(side, &format!("pools.{}.accuracy.{inner}.mean", pool.name), false).unwrap_or(0.0);
            let p0 = dist.mean();
            gold_test[p] = Some(tests.len());
            let model = Model::Normal { n_by_hour: per_hour(&first.gold_by_hour[p]), v_within: p0 * (1.0 - p0), v_between: between_var(dist), people, se };
            push(Metric::GoldAccuracy, pool.name.clone(), opts.accuracy_shift, model, &mut tests);
        }
    }
    // Budgets: one false alarm per metric per period, split over its tests.
    for metric in [Metric::Arrivals, Metric::HandlingTime, Metric::GoldAccuracy] {
        let n = tests.iter().filter(|t| t.metric == metric).count();
        for t in tests.iter_mut().filter(|t| t.metric == metric) {
            t.false_alarm_budget = 1.0 / n as f64;
        }
    }
    tests.par_iter_mut().for_each(|t| t.calibrate(opts, start_how));

    // The tests over the trace, hour by hour from its start.
    let mut feed = Feed::new(origin, read);
    feed.observe();
    let start = first.start_us;
    let off = first.utc_offset_s * 1_000_000;
    let hour_end = |t: i64| ((t + off).div_euclid(US_PER_H) + 1) * US_PER_H - off;
    let mut bin_end = hour_end(start);
    let n_streams = first.streams.len();
    let n_pools = first.pools.len();
    let mut arrivals = vec![0.0f64; n_streams];
    // Per pool: per handling test, per annotator active in the hour (n, Σ ln t); gold (n, right,
    // Σ p0, Σ p0(1 − p0)).
    type People = rustc_hash::FxHashMap<u32, (f64, f64)>;
    let mut handled: Vec<Vec<People>> = handling_test.iter().map(|v| vec![People::default(); v.len()]).collect();
    let mut gold = vec![(0.0f64, 0.0f64, 0.0f64, 0.0f64); n_pools];
    let type_of: Vec<String> = streams.iter().map(|(s, _)| s.task_type.clone()).collect();
    let accuracy: Vec<Option<(f64, f64)>> = first
        .pools
        .iter()
        .map(|pool| {
            twin.pools.iter().find(|x| x.name.as_deref() == Some(pool.name.as_str())).map(|spec| match &spec.accuracy {
                AccuracySpec::OneCoin(d) | AccuracySpec::Confusion { diagonal: d } => (d.mean(), between_var(d)),
            })
        })
        .collect();
    let close = |bin_end: i64, tests: &mut Vec<Test>, arrivals: &mut Vec<f64>, handled: &mut Vec<Vec<People>>, gold: &mut Vec<(f64, f64, f64, f64)>| {
        let how = hour_of_week(bin_end - 1, first.utc_offset_s);
        let at_h = (bin_end - start) as f64 / US_PER_H as f64;
        let step = |t: &mut Test, x: f64| {
            t.s = (t.s + x).max(0.0);
            if t.s > t.threshold {
                t.alarms.push(Alarm { t_us: bin_end, at_h });
                t.s = 0.0;
            }
        };
        for (s, test) in arrival_test.iter().enumerate() {
            if let Some(i) = test {
                for k in 0..2 {
                    let t = &mut tests[i + k];
                    if let Model::Poisson { rates, .. } = &t.model {
                        let lambda = rates[how];
                        let x = inc_poisson(arrivals[s], lambda, t.delta());
                        step(t, x);
                    }
                }
            }
            arrivals[s] = 0.0;
        }
        for p in 0..n_pools {
            for (j, (_, i, mu)) in handling_test[p].iter().enumerate() {
                let active = &mut handled[p][j];
                if !active.is_empty() {
                    // The mean over people of each one's mean log time, and its variance.
                    let a = active.len() as f64;
                    let y = active.values().map(|(n, sum)| sum / n).sum::<f64>() / a - mu;
                    let inv_n = active.values().map(|(n, _)| 1.0 / n).sum::<f64>() / (a * a);
                    for k in 0..2 {
                        let t = &mut tests[i + k];
                        if let Model::Normal { v_within, v_between, .. } = t.model {
                            let var = v_within * inv_n + v_between / a;
                            let x = inc_normal(y, t.delta(), var);
                            step(t, x);
                        }
                    }
                }
                active.clear();
            }
            if let (Some(i), Some((_, vb))) = (gold_test[p], accuracy[p]) {
                let (n, right, sum_p0, sum_v) = gold[p];
                if n >= 1.0 {
                    for k in 0..2 {
                        let t = &mut tests[i + k];
                        if let Model::Normal { people, .. } = t.model {
                            let var = sum_v / (n * n) + vb / n.min(people).max(1.0);
                            let x = inc_normal((right - sum_p0) / n, t.delta(), var);
                            step(t, x);
                        }
                    }
                }
                gold[p] = (0.0, 0.0, 0.0, 0.0);
            }
        }
    };
    let mut tests_ref = tests;
    for_each_line(open().map_err(io)?, origin, |n, line| {
        feed.line(n, line)?;
        let obs: Vec<Obs> = feed.drain().collect();
        for o in obs {
            let t = match o {
                Obs::Arrival { t, .. } | Obs::Handled { t, .. } | Obs::Gold { t, .. } => t,
            };
            if t < start {
                continue; // in a skipped start
            }
            while t >= bin_end {
                close(bin_end, &mut tests_ref, &mut arrivals, &mut handled, &mut gold);
                bin_end += US_PER_H;
            }
            match o {
                Obs::Arrival { stream, .. } => arrivals[stream as usize] += 1.0,
                Obs::Handled { pool, annotator, stream, secs, .. } => {
                    let tt = &type_of[stream as usize];
                    if let Some(j) = handling_test[pool as usize].iter().position(|(x, _, _)| x == tt) {
                        let h = handled[pool as usize][j].entry(annotator).or_default();
                        h.0 += 1.0;
                        h.1 += secs.max(1e-6).ln();
                    }
                }
                Obs::Gold { pool, stream, right, .. } => {
                    if let Some((mean, _)) = accuracy[pool as usize] {
                        let st = &streams[stream as usize].0;
                        let p0 = mean * (1.0 - st.difficulty) + st.difficulty / st.classes;
                        let g = &mut gold[pool as usize];
                        g.0 += 1.0;
                        g.1 += f64::from(u8::from(right));
                        g.2 += p0;
                        g.3 += p0 * (1.0 - p0);
                    }
                }
            }
        }
        Ok(())
    })?;
    // The last whole hour is tested; a partial hour at the end is not.
    let end = first.end_us;
    while bin_end <= end {
        close(bin_end, &mut tests_ref, &mut arrivals, &mut handled, &mut gold);
        bin_end += US_PER_H;
    }
    for t in tests_ref.iter_mut() {
        t.statistic_at_end = t.s;
    }
    Ok(DriftReport { trace: origin.to_string(), span_h: first.span_h(), false_alarm_days: opts.false_alarm_days, tests: tests_ref, not_tested, estimation_error_allowed: side.is_some() })
}
