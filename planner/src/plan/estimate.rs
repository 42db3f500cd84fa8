//! Accuracy and labels per task by short simulations, where majority vote's exact formula does
//! not describe the scenario: weighted aggregation (votes weighed by trust learned from gold and
//! agreement), dynamic overlap (labels added until the posterior is confident, so a task takes
//! fewer labels than its ceiling), quality rules that ban annotators, or expert review whose
//! sampling rate the plan chooses (review and rework change the final labels).
//!
//! For each pool p able to label and each overlap level k, the scenario is simulated with pool p
//! alone labelling (the others at zero headcount; a review pool keeps its own), every stream at
//! overlap k (with dynamic overlap: the labels collected before the first confidence check, its
//! ceiling raised to k when below), and p's headcount raised, where needed, to carry the whole
//! load at 80% of its on-shift time, so the estimate is of the work and not of a queue. What it
//! gives per stream is the accuracy of the final labels and the labels behind each (the planning
//! model's a_ipk and its labels per task). A task's labels drawn from several pools are priced
//! as from one, as in the exact model; the closed loop's simulation of the whole plan judges.
//!
//! Results go to a [`Cache`] keyed by a SHA-256 of the simulated scenario and the simulation
//! settings (the CLI keeps it as the plan's `estimates.json`): planning again with the same
//! scenario and settings simulates nothing.

use super::model::Model;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use tessera_engine::metrics::stats::mean_ci;
use tessera_engine::run::{run_replications, Keep, RouterFactory};
use tessera_engine::spec::{DynamicOverlapSpec, Scenario};
use tessera_engine::time::Dur;

/// The cache file's schema.
pub const SCHEMA: &str = "tessera.plan-estimates/1";

/// Why majority vote's formula does not describe `s` (empty: it does).
pub fn reasons(s: &Scenario) -> Vec<&'static str> {
    let q = &s.quality;
    let mut why = Vec::new();
    if q.aggregation != "majority" {
        why.push("weighted aggregation");
    }
    if q.dynamic_overlap.is_some() {
        why.push("dynamic overlap");
    }
    if !q.rules.is_empty() {
        why.push("quality rules");
    }
    why
}

/// How the estimates are simulated.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Simulated time per replication; the first quarter is warm-up (trust and bans settle).
    pub horizon: Dur,
    pub replications: u32,
    pub seed: u64,
}

/// One stream's estimate at one (pool, level).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Estimate {
    /// Share of final labels right, mean over replications, and its 95% CI half-width (None
    /// from a single replication).
    pub accuracy: f64,
    pub ci95: Option<f64>,
    /// Labels behind each final label (the level, unless dynamic overlap stopped early).
    pub labels_per_task: f64,
    /// Completed tasks the estimate rests on, over all replications.
    pub completions: u64,
}

/// One simulated (pool, level): estimates by stream name.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    pub pool: String,
    pub level: u32,
    /// Dynamic overlap's threshold when the plan chooses it (`--confidence-levels`).
    #[serde(default)]
    pub confidence: Option<f64>,
    /// The share of final labels sent to expert review when the plan chooses it (`--review-rates`).
    #[serde(default)]
    pub review_rate: Option<f64>,
    pub streams: BTreeMap<String, Estimate>,
}

/// Estimates already simulated, by key ([`SCHEMA`] when serialised).
#[derive(Debug, Serialize, Deserialize)]
pub struct Cache {
    pub schema: String,
    pub entries: BTreeMap<String, Entry>,
    /// Workflow graphs' options by level (`graph`), keyed the same way.
    #[serde(default)]
    pub graphs: BTreeMap<String, super::graph::GraphEntry>,
}

impl Default for Cache {
    fn default() -> Self {
        Cache { schema: SCHEMA.into(), entries: BTreeMap::new(), graphs: BTreeMap::new() }
    }
}

impl Cache {
    /// The cache in `text` (a serialised [`Cache`]); None when it is not one of this schema.
    pub fn parse(text: &str) -> Option<Cache> {
        serde_json::from_str::<Cache>(text).ok().filter(|c| c.schema == SCHEMA)
    }
}

/// What estimating did: the entries used and how many came from the cache.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub reasons: Vec<String>,
    pub simulated: usize,
    pub from_cache: usize,
    pub entries: Vec<Entry>,
    /// Workflow graphs' options, one entry per overlap level (`graph`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub graphs: Vec<super::graph::GraphEntry>,
}

/// The scenario that measures pool `p` alone at level `k`.
fn alone(s: &Scenario, m: &Model, p: usize, k: u32, confidence: Option<f64>, review_rate: Option<f64>, set: &Settings) -> Scenario {
    let mut x = s.clone();
    let review = s.review_pool();
    // Labels per task at most, gold included: the load p must carry alone.
    let most = k.max(s.quality.dynamic_overlap.as_ref().map_or(0, |d| d.max)) as f64 / (1.0 - m.gold);
    let hours: f64 = (0..m.streams.len()).filter_map(|i| m.hours[i][p].map(|h| m.rate[i] * most * h)).sum();
    let need = (hours / (0.8 * m.on_shift[p].max(1e-6))).ceil() as i64;
    for (q, pool) in x.pools.iter_mut().enumerate() {
        if q == p {
            pool.count = pool.count.max(need).max(k as i64 + 1).min(20_000);
        } else if Some(q) != review {
            pool.count = 0;
        }
    }
    for st in &mut x.streams {
        st.overlap = Some(k);
    }
    if let Some(d) = &mut x.quality.dynamic_overlap {
        *d = DynamicOverlapSpec { max: d.max.max(k), confidence: confidence.unwrap_or(d.confidence) };
    }
    if let (Some(r), Some(spec)) = (review_rate, &mut x.quality.review) {
        spec.sample = r;
    }
    x.run.horizon = Some(set.horizon);
    x.run.tasks = None;
    x.run.warmup = Dur(set.horizon.0 / 4);
    x
}

pub(crate) fn key(x: &Scenario, set: &Settings) -> Result<String, String> {
    let text = serde_json::to_string(x).map_err(|e| format!("cannot key an estimate: {e}"))?;
    let mut h = Sha256::new();
    h.update(SCHEMA.as_bytes());
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(format!("|{}|{}|", set.seed, set.replications).as_bytes());
    h.update(text.as_bytes());
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Replaces `m`'s accuracy and labels per task by simulated estimates where [`reasons`] says
/// the formula does not hold; returns what was done (None when nothing needed simulating).
pub fn apply(s: &Scenario, m: &mut Model, set: &Settings, cache: &mut Cache, make_router: RouterFactory, progress: &mut dyn FnMut(&str)) -> Result<Option<Report>, String> {
    let mut why = reasons(s);
    if m.review_rate.iter().any(Option::is_some) {
        why.push("expert review rates");
    }
    if why.is_empty() {
        return Ok(None);
    }
    let mut report = Report { reasons: why.iter().map(|w| w.to_string()).collect(), ..Report::default() };
    let pools: Vec<usize> = (0..m.pools.len()).filter(|&p| (0..m.streams.len()).any(|i| m.hours[i][p].is_some())).collect();
    if pools.is_empty() {
        return Ok(None); // workflow graphs only: `graph` measures them whole
    }
    let total = pools.len() * m.levels.len();
    for (n, &p) in pools.iter().enumerate() {
        for (k, &level) in m.levels.clone().iter().enumerate() {
            let (conf, review) = (m.confidence[k], m.review_rate[k]);
            let x = alone(s, m, p, level, conf, review, set);
            let id = key(&x, set)?;
            let entry = match cache.entries.get(&id) {
                Some(e) => {
                    report.from_cache += 1;
                    e.clone()
                }
                None => {
                    let at = conf.map_or(String::new(), |c| format!(", confidence {c}")) + &review.map_or(String::new(), |r| format!(", review of {:.0}%", r * 100.0));
                    progress(&format!("estimating accuracy by simulation ({}): pool {:?} alone at overlap {level}{at} ({}/{total})", why.join(", "), m.pools[p], n * m.levels.len() + k + 1));
                    let runs = run_replications(&x, make_router, set.seed, set.replications, Keep::default(), &|_, _| {})?;
                    let mut streams = BTreeMap::new();
                    for name in &m.streams {
                        let figs: Vec<_> = runs.iter().filter_map(|r| r.summary.streams.get(name)).filter(|f| f.completions > 0).collect();
                        if figs.is_empty() {
                            continue;
                        }
                        let acc: Vec<f64> = figs.iter().map(|f| f.accuracy).collect();
                        let (mean, half) = if acc.len() >= 2 { mean_ci(&acc, 0.95) } else { (acc[0], f64::NAN) };
                        let half = half.is_finite().then_some(half);
                        let completions: u64 = figs.iter().map(|f| f.completions).sum();
                        let labels = figs.iter().map(|f| f.mean_overlap * f.completions as f64).sum::<f64>() / completions as f64;
                        streams.insert(name.clone(), Estimate { accuracy: mean, ci95: half, labels_per_task: labels, completions });
                    }
                    report.simulated += 1;
                    let e = Entry { pool: m.pools[p].clone(), level, confidence: conf, review_rate: review, streams };
                    cache.entries.insert(id, e.clone());
                    e
                }
            };
            for (i, name) in m.streams.iter().enumerate() {
                if m.hours[i][p].is_none() {
                    continue;
                }
                match entry.streams.get(name) {
                    Some(e) => {
                        m.accuracy[i][p][k] = e.accuracy;
                        m.labels[i][p][k] = e.labels_per_task;
                    }
                    // Nothing finished: the level is out of this pool's reach.
                    None => m.accuracy[i][p][k] = 0.0,
                }
            }
            report.entries.push(entry);
        }
    }
    Ok(Some(report))
}
