//! `tessera drift`: does the operation still look like its twin? CUSUM tests, hour by hour, of
//! arrivals per stream (Poisson, against the twin's hour-of-week rates), handling time per pool
//! and task type (the mean log time of the hour's answers against the twin's, its variance from
//! the spread within and between people) and accuracy per pool on golden answers (the hour's
//! share right against the twin's, difficulty included). Each test runs up and down; each alarm
//! restarts it.
//!
//! The twin's handling-time scale is its median person's, but the fast answer more: the mean
//! over answers sits below the median person's by a composition offset, measured on the trace
//! that builds the tests as the answer-weighted mean log time less the random-effects mean over
//! people (weights 1 / (within-variance / answers + between-variance); no offset when people do
//! not differ). A pool-wide change moves both alike and leaves the offset. (Weighting each
//! person active in the hour once instead is biased by the hour itself: a person who finished
//! few items in it had long ones; on M/M/14 that read half a standard deviation slow every hour.)
//!
//! Thresholds are set by simulating the tests under the twin itself, with its estimation error
//! drawn once per simulated quarter (a twin fitted from a finite trace is wrong by about its
//! interval, and a test that ignored that would alarm on the twin's own error): the threshold is
//! the least at which the expected false alarms per `false_alarm_days` of unchanged operation is
//! at most one per metric, the budget split evenly over that metric's tests (streams or pools,
//! both directions). The detection delay each test states is the 90th percentile of the hours to
//! the first alarm when the stated change is there from the start.
//!
//! The report is also a monitor: its tests, thresholds and what they compare against are in it,
//! so [`Watch`] runs the same tests over another trace (`tessera drift --monitor`) or over a live
//! project's events as they are decided (`tessera serve --drift`), hour by hour, without
//! simulating again.

use crate::stats::percentile;
use crate::tally::{hour_of_week, Feed, Obs, ReadOptions, Tally, US_PER_H, WEEK_H};
use crate::trace::{for_each_line, TraceError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Arrivals,
    HandlingTime,
    GoldAccuracy,
}

/// How a test's hourly data arise under the twin.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "law")]
pub enum Model {
    /// Arrivals: Poisson counts at `rates` per hour of the week; the twin's relative error `se`.
    Poisson { rates: Vec<f64>, se: f64 },
    /// A mean of n values per hour (n ~ Poisson(`n_by_hour`)), variance v_within / n +
    /// v_between / min(n, people); the twin's error `se` on the mean.
    Normal { n_by_hour: Vec<f64>, v_within: f64, v_between: f64, people: f64, se: f64 },
}

/// One CUSUM test.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// The alarms raised, and the last [`KEPT_ALARMS`] of them (a watch runs for years).
    #[serde(default)]
    pub alarm_count: u64,
    pub alarms: Vec<Alarm>,
    pub statistic_at_end: f64,
    /// The law of the hourly data under the twin (what the threshold was simulated from).
    pub model: Model,
    #[serde(skip)]
    s: f64,
    #[serde(skip)]
    index: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
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

/// The relative half-width of a fitted value's interval in the side file, as a standard error.
fn side_se(side: Option<&serde_json::Value>, path: &str, log: bool) -> Option<f64> {
    let f = &side?["fitted"][path];
    let (lo, hi) = (f["interval_95"][0].as_f64()?, f["interval_95"][1].as_f64()?);
    Some(if log { (hi.max(1e-12) / lo.max(1e-12)).ln() / (2.0 * 1.96) } else { (hi - lo) / (2.0 * 1.96) })
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

/// What a stream's tests compare against.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StreamWatch {
    pub name: String,
    pub task_type: String,
    pub classes: f64,
    /// The twin's mean item difficulty (golden answers' expected share right depends on it).
    pub difficulty: f64,
    /// The first of its arrival tests (up, then down), when it has them.
    pub arrival_test: Option<usize>,
}

/// A pool's handling-time test for one task type: the twin's mean log handling time `mu`, and
/// the composition offset of the answer-weighted mean (see the module doc).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HandlingWatch {
    pub task_type: String,
    pub test: usize,
    pub mu: f64,
    #[serde(default)]
    pub composition: f64,
}

/// What a pool's tests compare against.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PoolWatch {
    pub name: String,
    pub handling: Vec<HandlingWatch>,
    pub gold_test: Option<usize>,
    /// The twin's accuracy: its mean and the variance of people's accuracies around it.
    pub accuracy: Option<(f64, f64)>,
}

/// Alarms a test keeps (the latest); `alarm_count` counts them all.
pub const KEPT_ALARMS: usize = 1000;

/// The schema of a drift report (and monitor).
pub const DRIFT_SCHEMA: &str = "tessera.drift/1";

/// The result of a drift run, and the monitor it is made from: its tests with their thresholds,
/// and what each compares against.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DriftReport {
    pub schema: String,
    pub trace: String,
    pub span_h: f64,
    pub false_alarm_days: f64,
    /// The operation's offset from UTC [s]: the hours of the week the rates are in.
    pub utc_offset_s: i64,
    /// How the trace's annotators formed the pools the tests name.
    #[serde(default)]
    pub group_by: crate::tally::GroupBy,
    pub tests: Vec<Test>,
    /// What could not be tested, and why.
    pub not_tested: Vec<String>,
    /// True when the side file gave the twin's estimation error.
    pub estimation_error_allowed: bool,
    pub streams: Vec<StreamWatch>,
    pub pools: Vec<PoolWatch>,
}

impl DriftReport {
    /// A report read back (to be run as a monitor), checked; the error names the field.
    pub fn from_json(text: &[u8]) -> Result<DriftReport, String> {
        let mut de = serde_json::Deserializer::from_slice(text);
        let report: DriftReport = serde_path_to_error::deserialize(&mut de).map_err(|e| format!("{} (at {}); expected the --out of `tessera drift`", e.inner(), e.path()))?;
        report.check()?;
        Ok(report)
    }

    /// Checks a report read from a file before it is used as a monitor: every test's law and
    /// threshold usable, every watch pointing at a test of its metric.
    pub fn check(&self) -> Result<(), String> {
        if self.schema != DRIFT_SCHEMA {
            return Err(format!("schema {:?}: expected {DRIFT_SCHEMA:?} (the --out of `tessera drift`)", self.schema));
        }
        if self.utc_offset_s.abs() > 14 * 3600 {
            return Err(format!("utc_offset_s {}: at most 14 h either way", self.utc_offset_s));
        }
        let finite = |x: f64| x.is_finite() && x >= 0.0;
        for (i, t) in self.tests.iter().enumerate() {
            let at = |m: &str| format!("tests[{i}] ({}): {m}", t.key);
            if !(t.threshold.is_finite() && t.threshold > 0.0) {
                return Err(at("threshold: expected a positive number"));
            }
            if t.direction != 1 && t.direction != -1 {
                return Err(at("direction: expected 1 or -1"));
            }
            let hi = if t.metric == Metric::GoldAccuracy { 0.5 } else { 0.95 };
            if !(t.shift > 0.0 && t.shift <= hi) {
                return Err(at(&format!("shift: expected above 0 and at most {hi}")));
            }
            match (&t.model, t.metric) {
                (Model::Poisson { rates, se }, Metric::Arrivals) => {
                    if rates.len() != WEEK_H || !rates.iter().all(|r| finite(*r)) || !finite(*se) {
                        return Err(at("model: expected 168 hourly rates at or above 0 and a standard error"));
                    }
                }
                (Model::Normal { n_by_hour, v_within, v_between, people, se }, Metric::HandlingTime | Metric::GoldAccuracy) => {
                    if n_by_hour.len() != WEEK_H || !n_by_hour.iter().all(|r| finite(*r)) || ![*v_within, *v_between, *se].iter().all(|x| finite(*x)) || !(*people >= 1.0 && people.is_finite()) {
                        return Err(at("model: expected 168 hourly counts, variances at or above 0 and at least one person"));
                    }
                }
                _ => return Err(at("model: not the law of its metric")),
            }
        }
        let pair = |i: Option<usize>, metric: Metric, what: &str| -> Result<(), String> {
            match i {
                Some(i) if !(i.checked_add(1).is_some_and(|j| j < self.tests.len()) && self.tests[i].metric == metric && self.tests[i + 1].metric == metric) => Err(format!("{what}: test {i} is not a pair of {metric:?} tests")),
                _ => Ok(()),
            }
        };
        for s in &self.streams {
            if !(s.classes >= 2.0 && s.classes.is_finite() && (0.0..=1.0).contains(&s.difficulty)) {
                return Err(format!("streams {:?}: classes at least 2 and difficulty within [0, 1]", s.name));
            }
            pair(s.arrival_test, Metric::Arrivals, &format!("streams {:?}", s.name))?;
        }
        for p in &self.pools {
            for h in &p.handling {
                pair(Some(h.test), Metric::HandlingTime, &format!("pools {:?}", p.name))?;
                if !(h.mu.is_finite() && h.composition.is_finite()) {
                    return Err(format!("pools {:?}: mu and composition must be numbers", p.name));
                }
            }
            pair(p.gold_test, Metric::GoldAccuracy, &format!("pools {:?}", p.name))?;
            if p.accuracy.is_some_and(|(m, v)| !((0.0..=1.0).contains(&m) && finite(v))) {
                return Err(format!("pools {:?}: accuracy expected within [0, 1]", p.name));
            }
        }
        Ok(())
    }
}

/// Builds the tests of `twin` for the streams and pools of `first` (a pass over a reference
/// trace: its hours worked and answers per hour of the week), and sets their thresholds by
/// simulation. No alarms yet.
pub fn monitor(first: &Tally, origin: &str, twin: &Scenario, side: Option<&serde_json::Value>, opts: &DriftOptions) -> Result<DriftReport, TraceError> {
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
    let mut tests: Vec<Test> = vec![];
    let push = |metric, key: String, shift: f64, model: Model, tests: &mut Vec<Test>| {
        let first = tests.len();
        for direction in [1i8, -1] {
            let index = tests.len();
            tests.push(Test { metric, key: key.clone(), direction, shift, threshold: 0.0, false_alarm_budget: 0.0, delay_p90_h: 0.0, alarm_count: 0, alarms: vec![], statistic_at_end: 0.0, model: model.clone(), s: 0.0, index });
        }
        first
    };
    // Arrivals per stream.
    let mut streams = vec![];
    for st in &first.streams {
        let Some(spec) = twin.streams.iter().find(|s| s.name.as_deref() == Some(st.name.as_str())) else {
            return Err(TraceError::File { origin: origin.to_string(), message: format!("the trace's stream {:?} is not in the twin", st.name) });
        };
        let arrival_test = match spec.arrivals.hourly_rates() {
            Some(rates) if rates.iter().any(|r| *r > 0.0) => {
                let se = side_se(side, &format!("streams.{}.arrivals.poisson.per_hour", st.name), true)
                    .or_else(|| side.and_then(|s| s["fitted"][format!("streams.{}.arrivals.schedule.per_hour", st.name)]["n"].as_f64()).map(|n| 1.0 / n.max(1.0).sqrt()))
                    .unwrap_or(0.0);
                Some(push(Metric::Arrivals, st.name.clone(), opts.arrival_shift, Model::Poisson { rates, se }, &mut tests))
            }
            _ => {
                not_tested.push(format!("arrivals of {}: batch drops are not a rate", st.name));
                None
            }
        };
        streams.push(StreamWatch { name: st.name.clone(), task_type: spec.task_type.clone(), classes: spec.classes.max(2) as f64, difficulty: spec.difficulty.mean(), arrival_test });
    }
    // Handling time per pool and task type; accuracy on golden answers per pool.
    let mut pools = vec![];
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
        // The task type of each kind of work: its assign lines', else its stream's.
        let work_type = |w: usize| -> Option<&String> {
            let k = first.works.get(w)?;
            k.task_type.as_ref().or_else(|| streams.get(k.stream as usize).map(|s: &StreamWatch| &s.task_type))
        };
        let mut types: Vec<&String> = (0..first.works.len()).filter_map(work_type).collect();
        types.sort();
        types.dedup();
        let mut handling = vec![];
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
            let v_b = spec.speed_sigma * spec.speed_sigma;
            // The composition offset: answer-weighted less random-effects-weighted mean log time.
            let (mut sum_ln, mut n, mut sw, mut ww) = (0.0, 0.0, 0.0, 0.0);
            for a in &pool.annotators {
                let mut m = crate::tally::Moments::default();
                for (w, x) in &a.service {
                    if work_type(*w as usize) == Some(tt) {
                        m.merge(x);
                    }
                }
                if m.n > 0 {
                    sum_ln += m.sum_ln;
                    n += m.n as f64;
                    let w = 1.0 / (v_w / m.n as f64 + v_b);
                    sw += w * m.mean_ln();
                    ww += w;
                }
            }
            let composition = if n > 0.0 && v_b > 0.0 { sum_ln / n - sw / ww } else { 0.0 };
            let model = Model::Normal { n_by_hour, v_within: v_w, v_between: v_b, people, se };
            let test = push(Metric::HandlingTime, format!("{}/{tt}", pool.name), opts.handling_shift, model, &mut tests);
            handling.push(HandlingWatch { task_type: tt.clone(), test, mu, composition });
        }
        let dist = match &spec.accuracy {
            AccuracySpec::OneCoin(d) | AccuracySpec::Confusion { diagonal: d } => d,
        };
        let mut gold_test = None;
        if pool.annotators.iter().any(|a| !a.gold.is_empty()) {
            let inner = if matches!(spec.accuracy, AccuracySpec::Confusion { .. }) { "confusion.diagonal" } else { "one_coin" };
            let se = side_se(side, &format!("pools.{}.accuracy.{inner}.mean", pool.name), false).unwrap_or(0.0);
            let p0 = dist.mean();
            let model = Model::Normal { n_by_hour: per_hour(&first.gold_by_hour[p]), v_within: p0 * (1.0 - p0), v_between: between_var(dist), people, se };
            gold_test = Some(push(Metric::GoldAccuracy, pool.name.clone(), opts.accuracy_shift, model, &mut tests));
        }
        pools.push(PoolWatch { name: pool.name.clone(), handling, gold_test, accuracy: Some((dist.mean(), between_var(dist))) });
    }
    // Budgets: one false alarm per metric per period, split over its tests.
    for metric in [Metric::Arrivals, Metric::HandlingTime, Metric::GoldAccuracy] {
        let n = tests.iter().filter(|t| t.metric == metric).count();
        for t in tests.iter_mut().filter(|t| t.metric == metric) {
            t.false_alarm_budget = 1.0 / n as f64;
        }
    }
    tests.par_iter_mut().for_each(|t| t.calibrate(opts, start_how));
    Ok(DriftReport {
        schema: DRIFT_SCHEMA.to_string(),
        trace: origin.to_string(),
        span_h: first.span_h(),
        false_alarm_days: opts.false_alarm_days,
        utc_offset_s: first.utc_offset_s,
        group_by: first.group_by,
        tests,
        not_tested,
        estimation_error_allowed: side.is_some(),
        streams,
        pools,
    })
}

/// Per person active in an hour: (answers, Σ ln handling time).
type People = rustc_hash::FxHashMap<u32, (f64, f64)>;

/// The tests of a report run over observations, hour by hour: each hour is closed (its
/// increments added to the statistics) once a later time is seen.
pub struct Monitor {
    report: DriftReport,
    start: Option<i64>,
    bin_end: i64,
    arrivals: Vec<f64>,
    /// Per pool, per handling test: the people active in the hour.
    handled: Vec<Vec<People>>,
    /// Per pool: golden answers in the hour (n, right, Σ p0, Σ p0(1 − p0)).
    gold: Vec<(f64, f64, f64, f64)>,
    /// The trace's stream and pool numbers → the report's.
    stream_ix: Vec<Option<usize>>,
    pool_ix: Vec<Option<usize>>,
}

impl Monitor {
    /// A monitor running `report`'s tests from scratch (its alarms and statistics cleared).
    pub fn new(mut report: DriftReport) -> Monitor {
        for t in report.tests.iter_mut() {
            t.alarms.clear();
            t.alarm_count = 0;
            t.s = 0.0;
            t.statistic_at_end = 0.0;
        }
        Monitor {
            arrivals: vec![0.0; report.streams.len()],
            handled: report.pools.iter().map(|p| vec![People::default(); p.handling.len()]).collect(),
            gold: vec![(0.0, 0.0, 0.0, 0.0); report.pools.len()],
            report,
            start: None,
            bin_end: 0,
            stream_ix: vec![],
            pool_ix: vec![],
        }
    }

    /// The tests so far, each with its statistic now.
    pub fn report(&self) -> &DriftReport {
        &self.report
    }

    pub fn tests(&self) -> impl Iterator<Item = (&Test, f64)> {
        self.report.tests.iter().map(|t| (t, t.s))
    }

    /// The first hour starts at `t_us` (it ends at the next whole hour of the operation's clock).
    pub fn start(&mut self, t_us: i64) {
        if self.start.is_none() {
            let off = self.report.utc_offset_s * 1_000_000;
            self.start = Some(t_us);
            self.bin_end = ((t_us + off).div_euclid(US_PER_H) + 1) * US_PER_H - off;
        }
    }

    /// [µs] the end of the hour being gathered, once started.
    pub fn hour_end(&self) -> Option<i64> {
        self.start.map(|_| self.bin_end)
    }

    /// Closes every hour that ends at or before `t_us` (a span of nothing closes empty hours, at
    /// most 20 years of them).
    pub fn advance(&mut self, t_us: i64) {
        if let Some(start) = self.start {
            let t_us = t_us.min(start.saturating_add(20 * 8766 * US_PER_H));
            while self.bin_end <= t_us {
                self.close();
                self.bin_end += US_PER_H;
            }
        }
    }

    /// One observation of `tally` (whose numbering of streams and pools it carries); an
    /// observation before the hour being gathered counts in it. Streams and pools the report
    /// does not know are not tested.
    pub fn observe(&mut self, tally: &Tally, o: Obs) {
        let t = match o {
            Obs::Arrival { t, .. } | Obs::Handled { t, .. } | Obs::Gold { t, .. } => t,
        };
        self.start(t);
        self.advance(t);
        // The tally numbers streams and pools in order of first sight; the report's by name.
        let map = |ix: &mut Vec<Option<usize>>, seen: usize, find: &dyn Fn(usize) -> Option<usize>, i: u16| {
            while ix.len() < seen {
                ix.push(find(ix.len()));
            }
            ix.get(i as usize).copied().flatten()
        };
        let stream = |m: &mut Monitor, s: u16| map(&mut m.stream_ix, tally.streams.len(), &|k| m.report.streams.iter().position(|w| w.name == tally.streams[k].name), s);
        let pool = |m: &mut Monitor, p: u16| map(&mut m.pool_ix, tally.pools.len(), &|k| m.report.pools.iter().position(|w| w.name == tally.pools[k].name), p);
        match o {
            Obs::Arrival { stream: s, .. } => {
                if let Some(s) = stream(self, s) {
                    self.arrivals[s] += 1.0;
                }
            }
            Obs::Handled { pool: p, annotator, work, secs, .. } => {
                let Some(kind) = tally.works.get(work as usize) else { return };
                let Some(p) = pool(self, p) else { return };
                // The work's task type: its assign lines', else its stream's.
                let s = match &kind.task_type {
                    Some(_) => None,
                    None => match stream(self, kind.stream) {
                        Some(s) => Some(s),
                        None => return,
                    },
                };
                let tt = match (&kind.task_type, s) {
                    (Some(t), _) => t,
                    (None, Some(s)) => &self.report.streams[s].task_type,
                    (None, None) => return,
                };
                if let Some(j) = self.report.pools[p].handling.iter().position(|h| &h.task_type == tt) {
                    let h = self.handled[p][j].entry(annotator).or_default();
                    h.0 += 1.0;
                    h.1 += secs.max(1e-6).ln();
                }
            }
            Obs::Gold { pool: p, stream: s, right, .. } => {
                let (Some(p), Some(s)) = (pool(self, p), stream(self, s)) else { return };
                if let Some((mean, _)) = self.report.pools[p].accuracy {
                    let st = &self.report.streams[s];
                    let p0 = mean * (1.0 - st.difficulty) + st.difficulty / st.classes;
                    let g = &mut self.gold[p];
                    g.0 += 1.0;
                    g.1 += f64::from(u8::from(right));
                    g.2 += p0;
                    g.3 += p0 * (1.0 - p0);
                }
            }
        }
    }

    /// Adds the hour ending at `bin_end` to every test.
    fn close(&mut self) {
        let bin_end = self.bin_end;
        let r = &mut self.report;
        let how = hour_of_week(bin_end - 1, r.utc_offset_s);
        let at_h = (bin_end - self.start.unwrap_or(bin_end)) as f64 / US_PER_H as f64;
        let step = |t: &mut Test, x: f64| {
            t.s = (t.s + x).max(0.0);
            if t.s > t.threshold {
                if t.alarms.len() >= KEPT_ALARMS {
                    t.alarms.remove(0);
                }
                t.alarms.push(Alarm { t_us: bin_end, at_h });
                t.alarm_count += 1;
                t.s = 0.0;
            }
        };
        for (s, w) in r.streams.iter().enumerate() {
            if let Some(i) = w.arrival_test {
                for t in &mut r.tests[i..i + 2] {
                    if let Model::Poisson { rates, .. } = &t.model {
                        let x = inc_poisson(self.arrivals[s], rates[how], t.delta());
                        step(t, x);
                    }
                }
            }
            self.arrivals[s] = 0.0;
        }
        for (p, w) in r.pools.iter().enumerate() {
            for (j, h) in w.handling.iter().enumerate() {
                let active = &mut self.handled[p][j];
                if !active.is_empty() {
                    // The mean log time of the hour's answers, and its variance (each person's
                    // share of the answers carries their own speed).
                    let n = active.values().map(|(k, _)| k).sum::<f64>();
                    let y = active.values().map(|(_, sum)| sum).sum::<f64>() / n - h.mu - h.composition;
                    let shares2 = active.values().map(|(k, _)| (k / n) * (k / n)).sum::<f64>();
                    for t in &mut r.tests[h.test..h.test + 2] {
                        if let Model::Normal { v_within, v_between, .. } = t.model {
                            let x = inc_normal(y, t.delta(), v_within / n + v_between * shares2);
                            step(t, x);
                        }
                    }
                }
                active.clear();
            }
            if let (Some(i), Some((_, vb))) = (w.gold_test, w.accuracy) {
                let (n, right, sum_p0, sum_v) = self.gold[p];
                if n >= 1.0 {
                    for t in &mut r.tests[i..i + 2] {
                        if let Model::Normal { people, .. } = t.model {
                            let var = sum_v / (n * n) + vb / n.min(people).max(1.0);
                            let x = inc_normal((right - sum_p0) / n, t.delta(), var);
                            step(t, x);
                        }
                    }
                }
            }
            self.gold[p] = (0.0, 0.0, 0.0, 0.0);
        }
    }

    /// The report with each test's statistic at the end.
    pub fn finish(mut self) -> DriftReport {
        for t in self.report.tests.iter_mut() {
            t.statistic_at_end = t.s;
        }
        self.report
    }
}

/// A trace's lines through a tally into a monitor: what `tessera drift` runs over a file and
/// what a live project's watch runs over its events. Observations inside a skipped start are
/// left out; the first hour starts where the figures start.
pub struct Watch {
    pub feed: Feed,
    pub monitor: Monitor,
    obs: Vec<Obs>,
}

impl Watch {
    pub fn new(origin: &str, read: &ReadOptions, report: DriftReport) -> Watch {
        let mut feed = Feed::new(origin, read);
        feed.observe();
        Watch { feed, monitor: Monitor::new(report), obs: vec![] }
    }

    /// One line of the trace, numbered `n` for errors.
    pub fn line(&mut self, n: u64, line: crate::trace::Line) -> Result<(), TraceError> {
        self.feed.line(n, line)?;
        self.obs.extend(self.feed.drain());
        let tally = self.feed.tally();
        let Some(from) = tally.figures_from() else {
            self.obs.clear();
            return Ok(());
        };
        self.monitor.start(from);
        for o in self.obs.drain(..) {
            let t = match o {
                Obs::Arrival { t, .. } | Obs::Handled { t, .. } | Obs::Gold { t, .. } => t,
            };
            if t >= from {
                self.monitor.observe(tally, o);
            }
        }
        Ok(())
    }

    /// Closes the hours that end by `raw_us` on the trace's own clock (a rehearsal's stretched
    /// by its speed-up).
    pub fn advance_raw(&mut self, raw_us: i64) {
        if let Some(t) = self.feed.tally().frame_time(raw_us) {
            self.monitor.advance(t);
        }
    }
}

/// Runs the drift tests of `twin` (with its side file when there is one) over a trace read twice
/// from `open` (a first pass for the hours worked, a second for the tests).
pub fn drift(open: &dyn Fn() -> std::io::Result<Box<dyn BufRead>>, origin: &str, read: &ReadOptions, twin: &Scenario, side: Option<&serde_json::Value>, opts: &DriftOptions) -> Result<DriftReport, TraceError> {
    let io = |e: std::io::Error| TraceError::Io { origin: origin.to_string(), what: "cannot open".into(), source: e };
    let first = Tally::read(open().map_err(io)?, origin, &ReadOptions { skip_agreement: true, ..read.clone() })?;
    let report = monitor(&first, origin, twin, side, opts)?;
    run(open().map_err(io)?, origin, read, report)
}

/// Runs a report's tests as they are (thresholds not simulated again) over a trace in one pass;
/// the last whole hour is tested, a partial hour at the end is not.
pub fn run(reader: impl BufRead, origin: &str, read: &ReadOptions, report: DriftReport) -> Result<DriftReport, TraceError> {
    let read = ReadOptions { group_by: report.group_by, skip_agreement: true, ..read.clone() };
    let mut watch = Watch::new(origin, &read, report);
    for_each_line(reader, origin, |n, line| watch.line(n, line))?;
    let tally = watch.feed.finish()?;
    let mut monitor = watch.monitor;
    monitor.start(tally.start_us);
    monitor.advance(tally.end_us);
    let mut report = monitor.finish();
    report.trace = origin.to_string();
    report.span_h = tally.span_h();
    Ok(report)
}
