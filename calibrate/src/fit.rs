//! A trace's tally → the fitted values of a scenario, each keyed by its `--set` path, with its
//! interval and how it was found; what the trace cannot identify, with the reason; and the
//! edits (`--unset`, `--set`) that write the fit onto a base scenario or a skeleton.

use crate::accuracy::{self, GoldCount};
use crate::agreement;
use crate::arrivals::{self, ArrivalFit};
use crate::patience::PatienceFit;
use crate::curves::{self, Curve};
use crate::tally::Bin;
use crate::service::{self, Family};
use crate::shifts::ShiftFit;
use crate::stats::{wilson, Z95};
use crate::tally::{Moments, Tally};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tessera_engine::spec::{AccuracySpec, DifficultySpec, ProbDist, Scenario, StageKind, StreamSpec};

/// How to fit.
#[derive(Clone, Debug)]
pub struct FitOptions {
    /// Bootstrap replicates for the intervals.
    pub bootstrap: u32,
    /// Seed of the bootstrap (the fit is a pure function of the trace, the base and this).
    pub seed: u64,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions { bootstrap: 200, seed: 1 }
    }
}

/// One fitted value.
#[derive(Clone, Debug)]
pub struct Fitted {
    /// The `--set` path of the value.
    pub path: String,
    pub estimate: Value,
    /// 95% interval (None for a value the trace states exactly, e.g. a count).
    pub interval: Option<(Value, Value)>,
    pub unit: &'static str,
    pub method: String,
    /// Observations behind it.
    pub n: u64,
}

/// The whole fit.
#[derive(Clone, Debug, Default)]
pub struct Calibration {
    pub fitted: Vec<Fitted>,
    /// (path, reason) of what the trace cannot identify, or this version does not fit.
    pub not_identified: Vec<(String, String)>,
    /// (section, where its values come from) for what the trace cannot tell.
    pub from_elsewhere: Vec<(String, String)>,
    /// The edits that write the fit: keys removed, then `KEY=VALUE` set.
    pub unset: Vec<String>,
    pub set: Vec<String>,
    /// The stream → task type and class counts used (from the base, else from the trace).
    pub streams: Vec<(String, String, u32)>,
    pub pools: Vec<String>,
}

/// A duration for a scenario file, in seconds with µs precision.
pub fn secs(s: f64) -> String {
    format!("\"{}s\"", (s * 1e6).round() / 1e6)
}

pub(crate) fn num(x: f64) -> f64 {
    if x.abs() >= 1e-3 {
        (x * 1e6).round() / 1e6
    } else {
        x
    }
}

fn round_all(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| (x * 1e4).round() / 1e4).collect()
}

/// Review handling times: one law for every review (the schema's `quality.review.service`, which
/// every review stage uses), fitted like labelling's over every reviewer, each with their own
/// scale. It needs the base's review rules: without them, the reviews are said and not fitted.
fn review_service(tally: &Tally, base: Option<&Scenario>, facts: &[(String, String, u32, f64)], opts: &FitOptions, c: &mut Calibration) {
    let reviewers: Vec<Moments> = tally.pools.iter().flat_map(|p| p.annotators.iter().map(|a| a.review)).filter(|m| m.n > 0).collect();
    let n: u64 = reviewers.iter().map(|m| m.n).sum();
    if n == 0 {
        return;
    }
    let path = "quality.review.service";
    if base.and_then(|b| b.quality.review.as_ref()).is_none() {
        let why = if base.is_some() { "the base has no [quality.review] to hold their law" } else { "no --base: the review rules (pool, sampling) are not in a trace" };
        c.not_identified.push((path.into(), format!("{n} reviews: {why}")));
        return;
    }
    let Some(mut f) = service::fit(&reviewers, opts.bootstrap, opts.seed ^ 0x7265_7669_6577) else { return };
    let aic: Vec<String> = f.aic.iter().map(|(k, a)| format!("{k} {a:.1}")).collect();
    let mut how = format!("{}: the least AIC with a scale per reviewer ({}); {} reviews by {} people", f.family.name(), aic.join(", "), f.answers, f.annotators);
    // Reviews are of the streams with a review stage (or the chain's review), weighed by their
    // arrivals: a trace's review does not say its stream's share otherwise.
    let reviewed = |name: &str| base_stream(base, name).is_some_and(|x| x.stages.iter().any(|g| g.kind == StageKind::Review) || x.workflow.as_ref().is_some_and(|w| w.contains(&tessera_engine::spec::Stage::Review)));
    // The reviews of pre-labelled items by their pre-labels' confidence (`review_slowdowns`);
    // the rest by the streams' difficulty laws.
    let known = base.map(|b| crate::models::review_slowdowns(tally, b, facts, c)).unwrap_or_default();
    let mut weights: Vec<(usize, f64)> = facts.iter().enumerate().filter(|(i, f)| reviewed(&f.0) && !known.iter().any(|k| k.0 == *i)).map(|(i, _)| (i, tally.streams[i].arrivals as f64)).collect();
    if weights.is_empty() {
        weights = facts.iter().enumerate().filter(|(_, f)| reviewed(&f.0)).map(|(i, _)| (i, tally.streams[i].arrivals as f64)).collect();
    }
    if weights.is_empty() {
        weights = (0..facts.len()).map(|i| (i, tally.streams[i].arrivals as f64)).collect();
    }
    let rest = slowdown(base, facts, &weights);
    let counted: f64 = known.iter().map(|k| k.1).sum();
    let rest_share = 1.0 - counted.min(n as f64) / n as f64;
    if !known.is_empty() && (known.iter().any(|k| k.2 > 0.0) || rest.is_some()) {
        let (r_ln, r_var, r_lin) = rest.unwrap_or((0.0, 0.0, 1.0));
        let (mut e_ln, mut e_ln2, mut e_lin) = (rest_share * r_ln, rest_share * (r_var + r_ln * r_ln), rest_share * r_lin);
        for &(_, k, l, l2, lin) in &known {
            let w = (1.0 - rest_share) * k / counted;
            e_ln += w * l;
            e_ln2 += w * l2;
            e_lin += w * lin;
        }
        take_out_slowdown(&mut f, (e_ln, (e_ln2 - e_ln * e_ln).max(0.0), e_lin), &mut how);
        how.push_str(&format!(" ({:.0}% of the reviews were of pre-labelled items: their difficulty given the pre-label's confidence)", 100.0 * (1.0 - rest_share)));
    } else if let Some(m) = rest {
        take_out_slowdown(&mut f, m, &mut how);
    }
    push_law(c, path, &f, how);
}

/// What items' difficulty does to handling times (`difficulty_slowdown`: an item of difficulty d
/// takes 1 + k·d times a person's time) over the streams `weights` (stream index, share of the
/// answers): (E ln(1 + kd), Var ln(1 + kd), E(1 + kd)) by quadrature over the base's difficulty
/// law; None when no stream slows down.
pub(crate) fn slowdown(base: Option<&Scenario>, facts: &[(String, String, u32, f64)], weights: &[(usize, f64)]) -> Option<(f64, f64, f64)> {
    let base = base?;
    let total: f64 = weights.iter().map(|w| w.1).sum();
    if total <= 0.0 {
        return None;
    }
    let (mut e_ln, mut e_ln2, mut e_lin, mut any) = (0.0, 0.0, 0.0, false);
    for &(s, w) in weights {
        let Some(spec) = base_stream(Some(base), &facts[s].0) else { continue };
        let k = spec.difficulty_slowdown;
        any |= k > 0.0;
        let share = w / total;
        for (d, p) in difficulty_grid(&spec.difficulty, 4000) {
            let f = 1.0 + k * d;
            e_ln += share * p * f.ln();
            e_ln2 += share * p * f.ln().powi(2);
            e_lin += share * p * f;
        }
    }
    any.then(|| (e_ln, (e_ln2 - e_ln * e_ln).max(0.0), e_lin))
}

/// A difficulty law as (point, weight) at the midpoints of `n` equal steps of its support (one
/// point for a fixed difficulty); the weights sum to 1.
pub(crate) fn difficulty_grid(law: &DifficultySpec, n: usize) -> Vec<(f64, f64)> {
    let grid = |density: &dyn Fn(f64) -> f64, lo: f64, hi: f64| -> Vec<(f64, f64)> {
        let pts: Vec<(f64, f64)> = (0..n).map(|i| lo + (hi - lo) * (i as f64 + 0.5) / n as f64).map(|x| (x, density(x))).collect();
        let z: f64 = pts.iter().map(|p| p.1).sum();
        pts.into_iter().map(|(x, d)| (x, d / z)).collect()
    };
    match law {
        DifficultySpec::Fixed(d) | DifficultySpec::Drawn(ProbDist::Mean(d)) => vec![(*d, 1.0)],
        DifficultySpec::Drawn(ProbDist::Beta([a, b])) => grid(&|x: f64| ((a - 1.0) * x.ln() + (b - 1.0) * (1.0 - x).ln()).exp(), 0.0, 1.0),
        DifficultySpec::Drawn(ProbDist::Uniform([lo, hi])) => grid(&|_| 1.0, *lo, *hi),
    }
}

/// Takes difficulty's slow-down (`slowdown`'s moments) out of a law fitted to items' times: a
/// lognormal's median ÷ exp(E ln), its σ² less Var ln; an exponential's or fixed law's scale ÷ E.
fn take_out_slowdown(f: &mut service::ServiceFit, (e_ln, var_ln, e_lin): (f64, f64, f64), how: &mut String) {
    let div = if f.family == Family::Lognormal { e_ln.exp() } else { e_lin };
    f.scale_by(1.0 / div);
    f.less_log_variance(var_ln);
    how.push_str(&format!("; the items' difficulty slow-down (×(1 + k·d), from --base) taken out: scale ÷ {div:.4}{}", if f.family == Family::Lognormal { format!(", σ² − {var_ln:.4}") } else { String::new() }));
}

/// Writes a pool's fitted fatigue at `key` (`pools.<p>.fatigue`): the edit, its value, and that
/// accuracy's loss over a shift is not fitted.
pub(crate) fn push_fatigue(c: &mut Calibration, key: &str, f: f64, (lo, hi): (f64, f64), method: String, n: u64) {
    c.set.push(format!("{key}={{ slowdown_per_hour = {} }}", num(f)));
    c.fitted.push(Fitted { path: format!("{key}.slowdown_per_hour"), estimate: json!(num(f)), interval: Some((json!(num(lo)), json!(num(hi)))), unit: "per hour", method, n });
    c.not_identified.push((format!("{key}.accuracy_loss_per_hour"), "accuracy's loss over a shift is not fitted: 0".into()));
}

/// Writes a fitted handling-time law at `path` (a `service` table): the edit and its values.
fn push_law(c: &mut Calibration, path: &str, f: &service::ServiceFit, how: String) {
    let n = f.answers;
    match f.family {
        Family::Exponential => {
            c.set.push(format!("{path}={{ exponential = {{ mean = {} }} }}", secs(f.scale_s)));
            c.fitted.push(Fitted { path: format!("{path}.exponential.mean"), estimate: json!(num(f.scale_s)), interval: Some((json!(num(f.scale_ci.0)), json!(num(f.scale_ci.1)))), unit: "s", method: how, n });
        }
        Family::Lognormal => {
            c.set.push(format!("{path}={{ lognormal = {{ median = {}, sigma = {} }} }}", secs(f.scale_s), num(f.sigma)));
            c.fitted.push(Fitted { path: format!("{path}.lognormal.median"), estimate: json!(num(f.scale_s)), interval: Some((json!(num(f.scale_ci.0)), json!(num(f.scale_ci.1)))), unit: "s", method: how.clone(), n });
            c.fitted.push(Fitted { path: format!("{path}.lognormal.sigma"), estimate: json!(num(f.sigma)), interval: Some((json!(num(f.sigma_ci.0)), json!(num(f.sigma_ci.1)))), unit: "", method: how, n });
        }
        Family::Fixed => {
            c.set.push(format!("{path}={{ fixed = {} }}", secs(f.scale_s)));
            c.fitted.push(Fitted { path: format!("{path}.fixed"), estimate: json!(num(f.scale_s)), interval: None, unit: "s", method: how, n });
        }
    }
}

/// Stream name → (task type, classes, mean difficulty) from the base, else from the trace.
fn stream_facts(tally: &Tally, base: Option<&Scenario>) -> Result<Vec<(String, String, u32, f64)>, String> {
    let mut out = vec![];
    for st in &tally.streams {
        let from_base = base_stream(base, &st.name);
        match (base, from_base) {
            (Some(_), None) => return Err(format!("the trace's stream {:?} is not in the base scenario (its streams: {})", st.name, base.map(|b| b.streams.iter().filter_map(|s| s.name.clone()).collect::<Vec<_>>().join(", ")).unwrap_or_default())),
            (_, Some(s)) => out.push((st.name.clone(), s.task_type.clone(), s.classes, s.difficulty.mean())),
            (None, None) => {
                // Labels written as class numbers give the count; otherwise the names seen.
                let numeric: Option<Vec<u32>> = st.classes.iter().map(|c| c.parse().ok()).collect();
                let k = numeric.and_then(|v| v.into_iter().max().map(|m| m + 1)).unwrap_or(st.classes.len() as u32).max(2);
                // The arrive lines' task type (traces before it was written: the stream's name).
                let task_type = st.task_type.clone().unwrap_or_else(|| st.name.clone());
                out.push((st.name.clone(), task_type, k, 0.0));
            }
        }
    }
    Ok(out)
}

/// Over answers on streams (stream, answers): the answer-weighted means of (1 − d) and d / k,
/// what an item's difficulty d leaves of a person's accuracy and adds by chance among k labels
/// (1 and 0 without answers).
fn difficulty_mix(facts: &[(String, String, u32, f64)], answers: impl Iterator<Item = (u16, u64)>) -> (f64, f64) {
    let (mut n, mut keep, mut chance) = (0u64, 0.0, 0.0);
    for (s, a) in answers {
        let (_, _, classes, d) = &facts[s as usize];
        n += a;
        keep += (1.0 - d) * a as f64;
        chance += d / f64::from((*classes).max(1)) * a as f64;
    }
    if n == 0 {
        return (1.0, 0.0);
    }
    (keep / n as f64, chance / n as f64)
}

/// Parametric-bootstrap replicates of the agreement (each a smoothed Dawid-Skene over the sample).
const AGREEMENT_REPLICATES: u32 = 50;

/// A pool's accuracy counts from agreement (`agreement.rs`): each annotator's sampled labelling
/// answers and their count right in expectation (rounded), with the streams' difficulty; and the
/// method's words. The smoothed Dawid-Skene runs once, for the first pool that needs it.
fn from_agreement(tally: &Tally, facts: &[(String, String, u32, f64)], agreed: &mut Option<agreement::Agreement>, p_ix: usize, opts: &FitOptions) -> Result<(Vec<GoldCount>, String, Option<f64>), String> {
    let sample = &tally.agreement;
    let agreed = agreed.get_or_insert_with(|| {
        let labels: Vec<usize> = tally.streams.iter().zip(facts).map(|(st, f)| st.label_names.len().max(f.2 as usize)).collect();
        agreement::fit(sample, &labels, opts.bootstrap.min(AGREEMENT_REPLICATES), opts.seed ^ 0xA9EE)
    });
    let pool = &tally.pools[p_ix];
    let mut counts = vec![];
    let (mut answers, mut on_tasks, mut effective) = (0u64, 0u64, 0u64);
    for a in 0..pool.annotators.len() {
        let Some(g) = agreed.annotators.get(&(p_ix as u16, a as u32)) else { continue };
        let (keep, chance) = difficulty_mix(facts, g.by_stream.iter().map(|(s, n)| (*s, *n)));
        let (n, k) = g.effective();
        counts.push(GoldCount { n, k, keep, chance });
        answers += g.n;
        effective += n;
        on_tasks += g.task_answers;
    }
    if answers == 0 {
        if !agreed.too_many_labels.is_empty() {
            let names: Vec<&str> = agreed.too_many_labels.iter().map(|s| tally.streams[*s as usize].name.as_str()).collect();
            return Err(format!("accuracy from agreement is not fitted on streams of more than {} labels ({})", agreement::MAX_LABELS, names.join(", ")));
        }
        return Err("no task it labelled has a second labelling answer (accuracy from agreement needs overlap)".into());
    }
    let per_task = on_tasks as f64 / answers as f64;
    if per_task < agreement::MIN_ANSWERS_PER_TASK {
        return Err(format!("its answers sit on tasks with {per_task:.2} labelling answers on average: accuracy from agreement needs at least {} to tell who is right", agreement::MIN_ANSWERS_PER_TASK));
    }
    let pool_sd = agreed.pool_share_var.get(&(p_ix as u16)).map(|v| v.sqrt());
    Ok((counts, format!("agreement: a smoothed Dawid-Skene per stream over a sample of {} of the {} tasks with two or more labelling answers (the tasks whose ids hash lowest), each annotator's answers counted right by the posterior of their label, and counted as the binomial answers their share's mean square error over {} parametric-bootstrap replicates (new answers from the fitted accuracies on the same tasks) is worth ({effective} of {answers} answers); {per_task:.2} answers per task; the mean's interval at least ±1.96 times the bootstrap's root-mean-square error of the pool's share", sample.len(), sample.offered, opts.bootstrap.min(AGREEMENT_REPLICATES)), pool_sd))
}

/// The base's stream called `name`.
fn base_stream<'a>(base: Option<&'a Scenario>, name: &str) -> Option<&'a StreamSpec> {
    base?.streams.iter().find(|x| x.name.as_deref() == Some(name))
}

/// Fits everything the trace identifies.
pub fn fit(tally: &Tally, base: Option<&Scenario>, opts: &FitOptions) -> Result<Calibration, String> {
    let mut c = Calibration::default();
    // Names become dotted `--set` paths and TOML strings.
    let names = tally
        .streams
        .iter()
        .map(|s| ("stream", &s.name))
        .chain(tally.pools.iter().map(|p| ("pool", &p.name)))
        .chain(tally.streams.iter().filter_map(|s| s.task_type.as_ref()).map(|t| ("task type", t)))
        .chain(tally.works.iter().filter_map(|w| w.task_type.as_ref()).map(|t| ("task type", t)));
    for (what, name) in names {
        if name.is_empty() || name.len() > 200 || name.contains(['.', '[', ']', '=', '"', '\\']) || name.chars().any(char::is_control) || name.trim() != name {
            return Err(format!("the {what} name {:?} cannot be a scenario name (empty, over 200 bytes, or with '.', '[', ']', '=', a quote, a backslash, a control character or spaces at an end)", tessera_scenarios::clip(name, 60)));
        }
    }
    if tally.pools.is_empty() && base.is_none() {
        return Err("the trace names no annotator (no shift, assign or answer line), and a scenario needs at least one pool: fit with --base to keep the base's pools".into());
    }
    let facts = stream_facts(tally, base)?;
    c.streams = facts.iter().map(|(s, t, k, _)| (s.clone(), t.clone(), *k)).collect();
    let exposure = tally.exposure_by_hour();
    let slots = tally.exposure_by_slot();
    let span_h = tally.span_h();
    // The run is as long as the trace; a skipped start is simulated too (--check leaves it out
    // the same way).
    c.set.push(format!("run.horizon={}", secs(span_h * 3600.0 + tally.skipped_us() as f64 / 1e6)));
    c.unset.push("run.warmup".into());
    c.unset.push("run.tasks".into());

    // Arrivals and queue patience, per stream.
    for st in &tally.streams {
        let s = &st.name;
        if st.arrivals == 0 {
            c.not_identified.push((format!("streams.{s}.arrivals"), "no task of this stream arrived in the trace (it was only named)".into()));
            continue;
        }
        let path = format!("streams.{s}.arrivals");
        // A stream whose tasks are parts of another's arrives with its parent (`parts`).
        let parent = base.and_then(|b| b.streams.iter().find(|x| x.parts.as_ref().is_some_and(|p| &p.stream == s)));
        let choice = match parent {
            Some(parent) => {
                let name = parent.name.as_deref().unwrap_or_default();
                let per = tally.streams.iter().find(|x| x.name == name).filter(|x| x.arrivals > 0).map(|x| format!(" ({:.1} per task in the trace)", st.arrivals as f64 / x.arrivals as f64)).unwrap_or_default();
                c.not_identified.push((path.clone(), format!("its tasks arrive as parts of {name:?}'s tasks{per}: the parts per task are kept from --base")));
                None
            }
            None => Some(arrivals::fit(st, &exposure, tally.start_us)),
        };
        match choice.as_ref().map(|c| (&c.fit, c)) {
            None => {}
            Some((ArrivalFit::Poisson { per_hour, lo, hi }, choice)) => {
                c.set.push(format!("{path}={{ poisson = {{ per_hour = {} }} }}", num(*per_hour)));
                c.fitted.push(Fitted { path: format!("{path}.poisson.per_hour"), estimate: json!(num(*per_hour)), interval: Some((json!(num(*lo)), json!(num(*hi)))), unit: "tasks/h", method: choice.method.clone(), n: st.arrivals });
            }
            Some((ArrivalFit::Schedule { per_hour, lo, hi }, choice)) => {
                let rates = round_all(per_hour);
                c.set.push(format!("{path}={{ schedule = {{ per_hour = {:?} }} }}", rates));
                c.fitted.push(Fitted { path: format!("{path}.schedule.per_hour"), estimate: json!(rates), interval: Some((json!(round_all(lo)), json!(round_all(hi)))), unit: "tasks/h", method: choice.method.clone(), n: st.arrivals });
            }
            Some((ArrivalFit::Batch { size, every_s, first_s }, choice)) => {
                c.set.push(format!("{path}={{ batch = {{ size = {size}, every = {}, first = {} }} }}", secs(*every_s), secs(*first_s)));
                c.fitted.push(Fitted { path: format!("{path}.batch.size"), estimate: json!(size), interval: None, unit: "tasks", method: choice.method.clone(), n: st.arrivals });
                c.fitted.push(Fitted { path: format!("{path}.batch.every"), estimate: json!(num(*every_s)), interval: None, unit: "s", method: choice.method.clone(), n: st.instants });
            }
        }
        let patience = format!("streams.{s}.patience");
        let seed = opts.seed ^ 0x9A7 ^ ((tally.stream_index(s).unwrap_or(0) as u64) << 32);
        if let Some((law, method)) = crate::patience::fit(&st.waits, st.exposure_s, st.left, opts.bootstrap.min(99), seed) {
            let n = st.left;
            match law {
                PatienceFit::Exponential { mean, ci } => {
                    c.set.push(format!("{patience}={{ exponential = {{ mean = {} }} }}", secs(mean)));
                    c.fitted.push(Fitted { path: format!("{patience}.exponential.mean"), estimate: json!(num(mean)), interval: Some((json!(num(ci.0)), json!(num(ci.1)))), unit: "s", method, n });
                }
                PatienceFit::Lognormal { median, sigma, median_ci, sigma_ci } => {
                    c.set.push(format!("{patience}={{ lognormal = {{ median = {}, sigma = {} }} }}", secs(median), num(sigma)));
                    c.fitted.push(Fitted { path: format!("{patience}.lognormal.median"), estimate: json!(num(median)), interval: Some((json!(num(median_ci.0)), json!(num(median_ci.1)))), unit: "s", method: method.clone(), n });
                    c.fitted.push(Fitted { path: format!("{patience}.lognormal.sigma"), estimate: json!(num(sigma)), interval: Some((json!(num(sigma_ci.0)), json!(num(sigma_ci.1)))), unit: "", method, n });
                }
                PatienceFit::Fixed(d) => {
                    c.set.push(format!("{patience}={{ fixed = {} }}", secs(d)));
                    c.fitted.push(Fitted { path: format!("{patience}.fixed"), estimate: json!(num(d)), interval: None, unit: "s", method, n });
                }
            }
        } else {
            c.unset.push(patience.clone());
            c.not_identified.push((patience, format!("no task left unserved in {} arrivals: the fitted stream's tasks wait for as long as it takes", st.arrivals)));
        }
    }

    // The task type (skill) of each kind of work's answers: the one its assign lines gave (its
    // stage's skill, or the stream's). Traces written before assign lines said it: the
    // stream's label stages' skill, and a stream labelled at stages of several skills has no
    // one type.
    let mut by_stream: BTreeMap<u16, Option<String>> = BTreeMap::new();
    let mut label_types: Vec<Option<String>> = vec![];
    for w in &tally.works {
        if let Some(t) = &w.task_type {
            label_types.push(Some(t.clone()));
            continue;
        }
        let (s, tt, _, _) = &facts[w.stream as usize];
        let found = by_stream.entry(w.stream).or_insert_with(|| {
            let spec = base_stream(base, s);
            let mut skills: Vec<String> = spec.map(|x| x.stages.iter().filter(|g| g.kind == StageKind::Label).map(|g| g.skill.clone().unwrap_or_else(|| tt.clone())).collect()).unwrap_or_default();
            skills.sort();
            skills.dedup();
            match skills.len() {
                0 => Some(tt.clone()),
                1 => skills.pop(),
                _ => {
                    c.not_identified.push((format!("streams.{s} handling times"), format!("its label stages need different skills ({}) and this trace's assign lines do not say their task type (a trace written before they did): its handling times are left out", skills.join(", "))));
                    None
                }
            }
        });
        label_types.push(found.clone());
    }

    // Pools.
    let mut agreed = None;
    for (p_ix, pool) in tally.pools.iter().enumerate() {
        let p = &pool.name;
        c.pools.push(p.clone());
        let base_pool = base.and_then(|b| b.pools.iter().find(|x| x.name.as_deref() == Some(p.as_str())));
        if base.is_some() && base_pool.is_none() {
            return Err(format!(
                "the trace's pool {p:?} is not in the base scenario (its pools: {}); pools come from annotators' names (the part before \"/n\"), or by --group-by skills|annotator; without --base any pool is fitted",
                base.map(|b| b.pools.iter().filter_map(|s| s.name.clone()).collect::<Vec<_>>().join(", ")).unwrap_or_default()
            ));
        }
        c.set.push(format!("pools.{p}.count={}", pool.annotators.len()));
        c.fitted.push(Fitted { path: format!("pools.{p}.count"), estimate: json!(pool.annotators.len()), interval: None, unit: "annotators", method: "distinct annotators in the trace".into(), n: pool.annotators.len() as u64 });

        // Handling times per task type: each annotator's answers on the type's streams.
        let mut by_type: BTreeMap<String, Vec<Moments>> = BTreeMap::new();
        for (w_ix, tt) in label_types.iter().enumerate() {
            let Some(tt) = tt else { continue };
            let per: Vec<Moments> = pool.annotators.iter().map(|a| a.service.get(&(w_ix as u16)).copied().unwrap_or_default()).collect();
            let entry = by_type.entry(tt.clone()).or_insert_with(|| vec![Moments::default(); pool.annotators.len()]);
            for (e, m) in entry.iter_mut().zip(&per) {
                e.merge(m);
            }
        }
        // Learning and fatigue, on the task type with the most answers; where supported, the
        // handling-time scale is the novice's and the fresh person's (the curves apply on top).
        let main_type = by_type.iter().max_by_key(|(_, anns)| anns.iter().map(|m| m.n).sum::<u64>()).map(|(t, _)| t.clone());
        // Each person's bins of one curve over a type's kinds of work.
        let works_of = |tt: &String| -> Vec<u16> { label_types.iter().enumerate().filter(|(_, f)| f.as_ref() == Some(tt)).map(|(i, _)| i as u16).collect() };
        let merged_over = |curve: Curve, works_of: &[u16]| -> Vec<Vec<Bin>> {
            pool.annotators
                .iter()
                .map(|a| {
                    let source = if curve == Curve::Learning { &a.by_experience } else { &a.by_shift_hour };
                    let mut out: Vec<Bin> = vec![];
                    for w in works_of {
                        if let Some(bins) = source.get(w) {
                            out.resize(bins.len().max(out.len()), Bin::default());
                            for (o, b) in out.iter_mut().zip(bins) {
                                o.merge(b);
                            }
                        }
                    }
                    out
                })
                .collect()
        };
        // The curves kept: (curve, effect, half-life, the effect's interval).
        let mut kept: Vec<(Curve, f64, Option<f64>, (f64, f64))> = vec![];
        if let Some(tt) = &main_type {
            let works_of = works_of(tt);
            let (exp_bins, shift_bins) = (merged_over(Curve::Learning, &works_of), merged_over(Curve::Fatigue, &works_of));
            let exp_refs: Vec<&[Bin]> = exp_bins.iter().map(Vec::as_slice).collect();
            let shift_refs: Vec<&[Bin]> = shift_bins.iter().map(Vec::as_slice).collect();
            let seed = opts.seed ^ 0xC0FE ^ ((p_ix as u64) << 32);
            // Without shifts, hours on shift only grow with the trace, as experience does: the
            // two cannot be told apart, and fatigue is not tested.
            let shift_refs: Vec<&[Bin]> = if pool.off_shift > 0 { shift_refs } else { vec![] };
            let (learning, fatigue) = curves::fit_both(&exp_refs, &shift_refs, opts.bootstrap.min(99), seed);
            for (curve, field, result) in [(Curve::Learning, "learning", learning), (Curve::Fatigue, "fatigue", fatigue)] {
                let key = format!("pools.{p}.{field}");
                c.unset.push(key.clone());
                match result {
                    Some(f) if f.p_value < curves::LEVEL && f.effect > 0.0 && f.mean_log_factor.abs() >= curves::MIN_EFFECT => {
                        kept.push((curve, f.effect, f.half_life, f.effect_ci));
                        let test = format!("within each person, log handling time ({tt}) across bins of {}: likelihood ratio against none, parametric bootstrap p = {:.3}; interval by a bootstrap over people", if curve == Curve::Learning { "experience (answers before, from the trace's start)" } else { "hours on shift" }, f.p_value);
                        let n = f.answers as u64;
                        match curve {
                            Curve::Learning => {
                                let h = f.half_life.unwrap_or(50.0);
                                c.set.push(format!("{key}={{ speedup = {}, half_life_items = {h} }}", num(f.effect)));
                                c.fitted.push(Fitted { path: format!("{key}.speedup"), estimate: json!(num(f.effect)), interval: Some((json!(num(f.effect_ci.0)), json!(num(f.effect_ci.1)))), unit: "share of time", method: test.clone(), n });
                                c.fitted.push(Fitted { path: format!("{key}.half_life_items"), estimate: json!(h), interval: None, unit: "items", method: format!("{test}; on the grid {}", crate::tally::HALF_LIVES.map(|h| h.to_string()).join(", ")), n });
                                c.not_identified.push((format!("{key}.accuracy_gain"), "accuracy's gain with experience is not fitted (golden answers per person are too few to follow it): 0".into()));
                            }
                            Curve::Fatigue => push_fatigue(&mut c, &key, f.effect, f.effect_ci, test, n),
                        }
                    }
                    Some(f) => c.not_identified.push((
                        key,
                        format!(
                            "no {field} kept: likelihood ratio against none, parametric bootstrap p = {:.3}; effect {:.3} (interval [{:.3}, {:.3}]), changing the mean handling time by {:.1}% (kept from {:.0}% with p < {})",
                            f.p_value,
                            f.effect,
                            f.effect_ci.0,
                            f.effect_ci.1,
                            100.0 * (f.mean_log_factor.exp() - 1.0),
                            100.0 * curves::MIN_EFFECT,
                            curves::LEVEL
                        ),
                    )),
                    None if curve == Curve::Fatigue && pool.off_shift == 0 => c.not_identified.push((key, "no one went off shift in the trace, so hours on shift grow with experience and fatigue cannot be told from learning; none in the fitted pool".into())),
                    None => c.not_identified.push((key, format!("too few people with answers in two {} bins to test {field}; none in the fitted pool", if curve == Curve::Learning { "experience" } else { "hours-on-shift" }))),
                }
            }
        }


        let mut speed: Option<(u64, f64, (f64, f64), Option<f64>)> = None;
        for (t_ix, (tt, anns)) in by_type.iter().enumerate() {
            let seed = opts.seed ^ ((p_ix as u64) << 32) ^ t_ix as u64;
            // The kept curves over this type's own answers (a person's curves apply to all their
            // work, but each type is worked at its own experience and hours on shift).
            let (mut log_adjust, mut var_adjust, mut curve_err) = (0.0, 0.0, 0.0f64);
            let mut per_person = vec![0.0; anns.len()];
            let own = works_of(tt);
            for (curve, effect, half_life, (lo, hi)) in &kept {
                let bins = merged_over(*curve, &own);
                let refs: Vec<&[Bin]> = bins.iter().map(Vec::as_slice).collect();
                let (m, v) = curves::factor_moments(&refs, *curve, *effect, *half_life);
                log_adjust += m;
                var_adjust += v;
                for (x, l) in per_person.iter_mut().zip(curves::person_log_factors(&refs, *curve, *effect, *half_life)) {
                    *x += l;
                }
                // The curve's own error: the mean log factor at its effect's interval's ends.
                let at = |e: f64| curves::factor_moments(&refs, *curve, e, *half_life).0;
                curve_err = curve_err.hypot((at(*hi) - at(*lo)).abs() / 2.0);
            }
            // Each person's own share of the curves out of their answers (at their own
            // experience and hours on shift): the scale is the fresh novice's, and people who
            // joined later or worked other hours do not pass for a spread of speeds.
            let shifted: Vec<Moments> = anns.iter().zip(&per_person).map(|(m, &l)| m.scaled_ln(-l)).collect();
            let Some(mut f) = service::fit(&shifted, opts.bootstrap, seed) else { continue };
            if !kept.is_empty() {
                // Their spread within each person out of a lognormal's σ².
                f.less_log_variance(var_adjust);
                // The fresh novice's scale is extrapolated by the curves: their error in
                // quadrature with the scale's own (the residents' median interval covered the
                // truth in 7 seeds of 20 without it).
                f.widen_log(curve_err);
            }
            let path = format!("pools.{p}.service.{tt}");
            let aic: Vec<String> = f.aic.iter().map(|(k, a)| format!("{k} {a:.1}")).collect();
            let mut how = format!("{}: the least AIC with a scale per annotator ({}); {} answers of {} annotators", f.family.name(), aic.join(", "), f.answers, f.annotators);
            if curve_err > 0.0 {
                how.push_str(&format!("; the scale is a fresh novice's (the kept curves taken out: ÷ {:.4}), its interval with the curves' error in quadrature (±{:.4} in ln)", log_adjust.exp(), curve_err));
            }
            // Answer weights per stream (a stream's kinds of work of this type together).
            let weights: Vec<(usize, f64)> = label_types.iter().enumerate().filter(|(_, t)| t.as_ref() == Some(tt)).map(|(w_ix, _)| (tally.works[w_ix].stream as usize, pool.annotators.iter().map(|a| a.service.get(&(w_ix as u16)).map_or(0.0, |m| m.n as f64)).sum())).collect();
            if let Some(m) = slowdown(base, &facts, &weights) {
                take_out_slowdown(&mut f, m, &mut how);
            }
            push_law(&mut c, &path, &f, how);
            if speed.is_none_or(|s| f.answers > s.0) {
                speed = Some((f.answers, f.speed_sigma, f.speed_ci, f.spread_p));
            }
        }
        match speed {
            Some((n, sigma, ci, pv)) => {
                c.set.push(format!("pools.{p}.speed_sigma={}", num(sigma)));
                let test = match pv {
                    Some(pv) => format!("Cochran's Q across annotators: p = {pv:.3} ({})", if sigma > 0.0 { "a spread, Paule-Mandel on log scales, Q-profile interval" } else { "no spread supported at 5%: 0" }),
                    None => "fewer than 3 annotators: no spread".into(),
                };
                c.fitted.push(Fitted { path: format!("pools.{p}.speed_sigma"), estimate: json!(num(sigma)), interval: Some((json!(num(ci.0)), json!(num(ci.1.max(sigma))))), unit: "", method: test, n });
            }
            None => c.not_identified.push((format!("pools.{p}.service"), "no answer from this pool in the trace".into())),
        }

        // Walking away from a lease.
        let abandon = format!("pools.{p}.abandonment");
        let walked = pool.expired.saturating_sub(pool.late_after_expiry) + pool.returned;
        if walked > 0 {
            let w = walked as f64 / pool.assignments.max(1) as f64;
            let (lo, hi) = wilson(walked, pool.assignments);
            let timeout = pool.timeout.mean();
            c.set.push(format!("{abandon}={{ probability = {}, timeout = {} }}", num(w), secs(timeout)));
            c.fitted.push(Fitted { path: format!("{abandon}.probability"), estimate: json!(num(w)), interval: Some((json!(num(lo)), json!(num(hi)))), unit: "", method: format!("leases that expired with no answer after, or were given back ({walked}) / leases ({}), Wilson interval", pool.assignments), n: pool.assignments });
            c.fitted.push(Fitted { path: format!("{abandon}.timeout"), estimate: json!(num(timeout)), interval: Some((json!(num(pool.timeout.min)), json!(num(pool.timeout.max)))), unit: "s", method: "lease to expiry or return, mean (the interval is the shortest and longest seen)".into(), n: pool.expired + pool.returned });
        } else {
            c.unset.push(abandon.clone());
            c.not_identified.push((abandon, format!("no lease expired unanswered in {} leases: the fitted pool never walks away", pool.assignments)));
        }

        // Accuracy from golden answers, else from agreement.
        let gold_counts: Vec<GoldCount> = pool
            .annotators
            .iter()
            .map(|a| {
                let (n, k) = a.gold.values().fold((0, 0), |(n, k), (gn, gk)| (n + gn, k + gk));
                let (keep, chance) = difficulty_mix(&facts, a.gold.iter().map(|(s, (gn, _))| (*s, *gn)));
                GoldCount { n, k, keep, chance }
            })
            .collect();
        let acc_path = format!("pools.{p}.accuracy");
        let confusion = matches!(base_pool.map(|b| &b.accuracy), Some(AccuracySpec::Confusion { .. }));
        let from_gold = gold_counts.iter().any(|g| g.n > 0);
        let (counts, source, pool_sd) = if from_gold {
            (gold_counts, "golden answers".to_string(), None)
        } else {
            match from_agreement(tally, &facts, &mut agreed, p_ix, opts) {
                Ok(x) => x,
                Err(why) => {
                    c.not_identified.push((acc_path.clone(), format!("no golden answers from this pool, and {why}: kept from --base or the default")));
                    (vec![], String::new(), None)
                }
            }
        };
        match accuracy::fit(&counts, opts.bootstrap, opts.seed ^ 0xACC ^ ((p_ix as u64) << 32)) {
            Some(mut a) => {
                if let Some(sd) = pool_sd {
                    // On people's scale: the answers' share less chance, over keep.
                    let n: f64 = counts.iter().map(|g| g.n as f64).sum::<f64>().max(1.0);
                    let keep = counts.iter().map(|g| g.keep * g.n as f64).sum::<f64>() / n;
                    let half = Z95 * sd / keep.max(1e-6);
                    a.mean_ci = (a.mean_ci.0.min(a.mean - half).max(0.0), a.mean_ci.1.max(a.mean + half).min(1.0));
                }
                let dist = match a.beta {
                    Some([x, y]) => format!("{{ beta = [{}, {}] }}", num(x), num(y)),
                    None => format!("{{ mean = {} }}", num(a.mean)),
                };
                let spec = if confusion { format!("{{ confusion = {{ diagonal = {dist} }} }}") } else { format!("{{ one_coin = {dist} }}") };
                c.set.push(format!("{acc_path}={spec}"));
                let inner = if confusion { "confusion.diagonal" } else { "one_coin" };
                let test = format!("{source} ({} from {} annotators), Beta-binomial by maximum likelihood; spread against one accuracy for all: likelihood ratio p = {:.3}", a.answers, a.annotators, a.spread_p);
                match (a.beta, a.beta_ci) {
                    (Some(b), Some((al, bl))) => {
                        c.fitted.push(Fitted { path: format!("{acc_path}.{inner}.beta"), estimate: json!([num(b[0]), num(b[1])]), interval: Some((json!([num(al[0]), num(bl[0])]), json!([num(al[1]), num(bl[1])]))), unit: "", method: test.clone(), n: a.answers });
                    }
                    _ => {
                        c.not_identified.push((format!("{acc_path}.{inner}.beta"), format!("annotators' accuracies do not differ detectably on {source} ({} from {} annotators, p = {:.3}): one accuracy for all", a.answers, a.annotators, a.spread_p)));
                    }
                }
                c.fitted.push(Fitted { path: format!("{acc_path}.{inner}.mean"), estimate: json!(num(a.mean)), interval: Some((json!(num(a.mean_ci.0)), json!(num(a.mean_ci.1)))), unit: "", method: format!("{test}; mean accuracy with the streams' difficulty taken out"), n: a.answers });
            }
            None => {}
        }

        // What this version leaves alone, said rather than guessed.
        let key = format!("pools.{p}.bias");
        c.unset.push(key.clone());
        c.not_identified.push((key, "class and position bias are not fitted: biased answers are inside the fitted accuracy, so a base's planted bias is removed".into()));
        let shifts = format!("pools.{p}.shifts");
        let how = "the slots of the week (15 minutes) in which at least half of the pool is on shift, from on- and off-shift events".to_string();
        match crate::shifts::fit(pool, &slots) {
            ShiftFit::Always => {
                c.unset.push(shifts.clone());
                c.fitted.push(Fitted { path: shifts, estimate: json!([]), interval: None, unit: "", method: format!("{how}: on shift all week"), n: pool.annotators.len() as u64 });
            }
            ShiftFit::Lines(lines) => {
                c.set.push(format!("{shifts}={}", serde_json::to_string(&lines).unwrap_or_default()));
                c.fitted.push(Fitted { path: shifts, estimate: json!(lines), interval: None, unit: "", method: how, n: pool.annotators.len() as u64 });
            }
            ShiftFit::Unknown(reason) => {
                let kept = if base.is_some() { "kept from --base" } else { "no --base: the fitted pool is on shift all week" };
                c.not_identified.push((shifts, format!("{reason}; {kept}")));
            }
        }
    }
    // Models, after the pools: a pool's time from scratch comes from its pre-labelled work only
    // where its own answers did not give it. Reviews after the models: the difficulty of a
    // pre-labelled item given its confidence needs the model's fitted concentration.
    crate::models::fit(tally, base, &facts, opts, &mut c);
    review_service(tally, base, &facts, opts, &mut c);
    for (s, _, _, d) in &facts {
        if *d > 0.0 {
            c.not_identified.push((format!("streams.{s}.difficulty"), format!("difficulty is not identified apart from accuracy by golden answers: kept from --base (mean {d}), and taken out of the fitted accuracy")));
        }
    }
    let elsewhere = if base.is_some() { "--base" } else { "the schema's defaults (no --base)" };
    for section in ["pay (pools.*.pay)", "quality (overlap, aggregation, golden rate, rules)", "routing", "models' costs, thresholds and what the fit does not name", "languages and reserved_for", "streams' turnaround, deadlines and priorities"] {
        c.from_elsewhere.push((section.to_string(), elsewhere.to_string()));
    }
    Ok(c)
}
