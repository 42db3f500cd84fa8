//! What the planner knows of a scenario, in the units the MILP uses: arrival rates [tasks/h],
//! hours of a pool per label, the accuracy of each overlap level per (stream, pool), pay, the
//! share of the week each pool is on shift, and the fixed review load.

use super::accuracy::majority_accuracy;
use super::graph::{self, Graph};
use tessera_engine::domain::shift::Calendar;
use tessera_engine::spec::{ArrivalSpec, DifficultySpec, PaySpec, Scenario};
use tessera_engine::time::{Dur, SimTime, US_PER_HOUR};

/// The planning model of one scenario.
#[derive(Clone, Debug)]
pub struct Model {
    pub streams: Vec<String>,
    pub pools: Vec<String>,
    /// [tasks/h] mean arrival rate per stream over a week.
    pub rate: Vec<f64>,
    /// [h] of pool time per label, by stream then pool (None: the pool may not take it).
    pub hours: Vec<Vec<Option<f64>>>,
    /// P(final label right) by stream, pool, overlap level.
    pub accuracy: Vec<Vec<Vec<f64>>>,
    /// Labels behind each final label, by stream, pool, overlap level: the level itself, or
    /// what simulation measured where dynamic overlap stops early (`estimate`).
    pub labels: Vec<Vec<Vec<f64>>>,
    /// The options offered per stream: an overlap level each, and with `--confidence-levels`
    /// dynamic overlap's confidence threshold (one for the whole scenario; None: the scenario's).
    pub levels: Vec<u32>,
    pub confidence: Vec<Option<f64>>,
    /// Share of the week each pool is on shift.
    pub on_shift: Vec<f64>,
    /// Headcount in the scenario as given.
    pub count: Vec<i64>,
    /// [USD/h] of on-shift time, or [USD] per item, by pool.
    pub pay: Vec<PaySpec>,
    /// Golden share of the items people do (paid, not counted).
    pub gold: f64,
    /// [USD] per task for its model's pre-label, by stream.
    pub model_cost: Vec<f64>,
    /// (pool, hours per reviewed task, USD per reviewed task) of expert review, by stream.
    pub review: Vec<Option<(usize, f64, f64)>>,
    /// Share of final labels reviewed, per option: the scenario's `quality.review.sample`, or
    /// with `--review-rates` the option's (one rate for the whole scenario).
    pub sample: Vec<f64>,
    /// Per option, the review rate it sets (None: the scenario's).
    pub review_rate: Vec<Option<f64>>,
    /// Batch streams: (tasks per drop, on-shift hours of one annotator of each pool in the
    /// turnaround window after the first drop). A drop's work must fit in that window.
    pub batch: Vec<Option<(f64, Vec<f64>)>>,
    /// Share of a stream's arrivals (uniform over the week) that some pool able to take it is on
    /// shift to start within the turnaround target: an upper bound on the share finished in time
    /// (1 for batch streams, whose drops the batch constraint covers).
    pub reachable: Vec<f64>,
    /// Capacity per time window: for windows starting at each hour of the week, the tasks of
    /// each (non-batch) stream arriving in [a, a + W) and the on-shift hours of one annotator of
    /// each pool in [a, a + 2W): what arrives in a window must be done by a turnaround later.
    pub windows: Vec<Window>,
    /// Streams planned as workflow graphs (`stages`, `parts`, part streams): their stages'
    /// pools and, per option, what simulation measured (`graph`); None for chain streams, whose
    /// work is `hours` × `labels` (graph streams have no `hours`).
    pub graph: Vec<Option<Graph>>,
}

/// One time window of the capacity constraints.
#[derive(Clone, Debug)]
pub struct Window {
    /// Tasks arriving in [a, a + W), by stream (0 for batch streams).
    pub arrivals: Vec<f64>,
    /// On-shift hours of one annotator in [a, a + 2W), by pool.
    pub hours: Vec<f64>,
    /// Whether the pool is on shift at some time in [a, a + W): can start work arriving at a
    /// within the turnaround.
    pub soon: Vec<bool>,
}

/// On-shift hours of `cal` in [t, t + w].
fn hours_on(cal: &Calendar, t: SimTime, w: Dur) -> f64 {
    let end = t.plus(w);
    let (mut at, mut sum) = (t, 0u64);
    while at < end {
        let next = cal.next_change(at).unwrap_or(end).min(end);
        if cal.is_on(at) {
            sum += next.since(at).0;
        }
        at = next;
    }
    sum as f64 / US_PER_HOUR as f64
}

/// The time from `t` until `cal` is next on shift (0 if it is now).
fn until_on(cal: &Calendar, t: SimTime) -> Dur {
    if cal.is_on(t) {
        return Dur::ZERO;
    }
    cal.next_change(t).map_or(Dur(u64::MAX), |n| n.since(t))
}

impl Model {
    /// The model at turnaround target `within` instead: what depends on it (the turnaround
    /// windows, batch drops' windows, reachability) from `s`, the rest (rates, accuracy and
    /// labels of every option, measured graph options) as it is.
    pub fn with_turnaround(&self, s: &Scenario, within: Dur) -> Result<Model, String> {
        let fresh = Model::of(s, &self.levels, within)?;
        Ok(Model { batch: fresh.batch, reachable: fresh.reachable, windows: fresh.windows, ..self.clone() })
    }

    /// Every option once per confidence threshold in `thresholds` (none: unchanged). The
    /// accuracy and labels per task of each copy are the estimates' business (`estimate`):
    /// dynamic overlap is what the formula does not describe.
    pub fn with_thresholds(mut self, thresholds: &[f64]) -> Model {
        let n = self.levels.len();
        if self.repeat(thresholds.len()) {
            self.confidence = thresholds.iter().flat_map(|&c| std::iter::repeat_n(Some(c), n)).collect();
        }
        self
    }

    /// Every option once per expert-review rate in `rates` (none: unchanged): the share of
    /// final labels reviewed, one for the whole scenario (`quality.review.sample`).
    pub fn with_review_rates(mut self, rates: &[f64]) -> Model {
        let n = self.levels.len();
        if self.repeat(rates.len()) {
            self.sample = rates.iter().flat_map(|&r| std::iter::repeat_n(r, n)).collect();
            self.review_rate = rates.iter().flat_map(|&r| std::iter::repeat_n(Some(r), n)).collect();
        }
        self
    }

    /// The options `times` times over (accuracy, labels and every per-option knob); false, and
    /// nothing done, when `times` is 0.
    fn repeat(&mut self, times: usize) -> bool {
        if times == 0 {
            return false;
        }
        fn rep<T: Copy>(v: &[T], times: usize) -> Vec<T> {
            (0..times).flat_map(|_| v.iter().copied()).collect()
        }
        for row in self.accuracy.iter_mut().chain(self.labels.iter_mut()) {
            for v in row.iter_mut() {
                *v = rep(v, times);
            }
        }
        self.levels = rep(&self.levels, times);
        self.confidence = rep(&self.confidence, times);
        self.review_rate = rep(&self.review_rate, times);
        self.sample = rep(&self.sample, times);
        for g in self.graph.iter_mut().flatten() {
            g.options = (0..times).flat_map(|_| g.options.iter().cloned()).collect();
        }
        true
    }

    /// The model of `s` for overlap `levels` and turnaround target `within`.
    pub fn of(s: &Scenario, levels: &[u32], within: Dur) -> Result<Model, String> {
        let ns = s.streams.len();
        let graphs: Vec<Option<Graph>> = (0..ns).map(|i| graph::is_graph(s, i).then(|| graph::of(s, i, levels.len()))).collect();
        let is_graph = |i: usize| graphs[i].is_some();
        // A part stream gets its tasks from its parent: the parent's arrivals, `count` each.
        let arrivals = |i: usize| -> (&ArrivalSpec, f64) { graph::parent(s, i).map_or((&s.streams[i].arrivals, 1.0), |(j, c)| (&s.streams[j].arrivals, c as f64)) };
        let gold = s.quality.gold.as_ref().map_or(0.0, |g| g.rate.clamp(0.0, 0.99));
        let mut on_shift = Vec::new();
        let mut cals = Vec::new();
        for (p, pool) in s.pools.iter().enumerate() {
            let cal = Calendar::parse(&pool.shifts).map_err(|e| format!("pools[{p}].shifts: {e}"))?;
            on_shift.push(cal.hours_per_week() / 168.0);
            cals.push(cal);
        }
        // The pools that can take a stream's work: a chain's labellers; every pool a graph's
        // stages name (some able pool on shift is what reachability asks).
        let able: Vec<Vec<usize>> = (0..ns)
            .map(|i| match &graphs[i] {
                Some(g) => {
                    let mut v: Vec<usize> = g.stages.iter().flat_map(|x| x.pools.iter().copied()).collect();
                    v.sort_unstable();
                    v.dedup();
                    v
                }
                None => (0..s.pools.len()).filter(|&p| tessera_engine::run::label_hours(s, i, p).is_some()).collect(),
            })
            .collect();
        let batch = (0..ns)
            .map(|i| match arrivals(i) {
                (ArrivalSpec::Batch { size, first, .. }, c) => Some((*size as f64 * c, (0..s.pools.len()).map(|p| if able[i].contains(&p) { hours_on(&cals[p], SimTime(first.0), within) } else { 0.0 }).collect())),
                _ => None,
            })
            .collect();
        let w_hours = (within.hours().ceil() as usize).max(1);
        // Batch drops are not a rate: the batch constraint covers them.
        let hourly: Vec<Vec<f64>> = (0..ns)
            .map(|i| {
                let (a, c) = arrivals(i);
                a.hourly_rates().map_or_else(|| vec![0.0; 168], |r| r.iter().map(|x| x * c).collect())
            })
            .collect();
        let windows = (0..168)
            .map(|a| Window {
                arrivals: hourly.iter().map(|r| (a..a + w_hours).map(|h| r[h % 168]).sum()).collect(),
                hours: cals.iter().map(|c| hours_on(c, SimTime(a as u64 * US_PER_HOUR), Dur(2 * within.0))).collect(),
                soon: cals.iter().map(|c| until_on(c, SimTime(a as u64 * US_PER_HOUR)) < within).collect(),
            })
            .collect();
        // Arrivals every 15 minutes of the week: can some able pool start them within the target?
        let step = 15 * 60 * 1_000_000u64;
        let reachable = (0..s.streams.len())
            .map(|i| {
                if matches!(arrivals(i).0, ArrivalSpec::Batch { .. }) {
                    return 1.0; // a drop's window is the batch constraint's business
                }
                let pools = &able[i];
                let slots = (7 * 24 * 4) as usize;
                let ok = (0..slots).filter(|&k| pools.iter().any(|&p| until_on(&cals[p], SimTime(k as u64 * step)) < within)).count();
                ok as f64 / slots as f64
            })
            .collect();
        // Hours per counted label: the declared time (engine::run::label_hours), plus the items a
        // pool's annotators walk away from: each holds them for the timeout and the label is
        // collected again, p/(1−p) walk-aways per counted label.
        let walkaway = |p: usize| s.pools[p].abandonment.as_ref().map_or(0.0, |a| a.probability.min(0.95) / (1.0 - a.probability.min(0.95)) * a.timeout.hours());
        let hours: Vec<Vec<Option<f64>>> = (0..ns)
            .map(|i| (0..s.pools.len()).map(|p| if is_graph(i) { None } else { tessera_engine::run::label_hours(s, i, p).map(|h| h + walkaway(p)) }).collect())
            .collect();
        let accuracy = s
            .streams
            .iter()
            .map(|st| {
                let d = match &st.difficulty {
                    DifficultySpec::Fixed(d) => *d,
                    DifficultySpec::Drawn(p) => p.mean(),
                };
                let k = st.classes.max(2);
                s.pools
                    .iter()
                    .map(|pool| {
                        let mean = pool.accuracy_by_type.get(&st.task_type).unwrap_or(&pool.accuracy).mean();
                        let q = mean * (1.0 - d) + d / k as f64;
                        levels.iter().map(|&l| majority_accuracy(q, l, k)).collect()
                    })
                    .collect()
            })
            .collect();
        // A graph stream's models are in its options' measured cost.
        let model_cost = (0..ns)
            .map(|i| if is_graph(i) { 0.0 } else { s.streams[i].pre_annotation.as_ref().and_then(|m| s.models.iter().find(|x| x.name == *m)).map_or(0.0, |m| m.cost_per_item) })
            .collect();
        let review = (0..s.streams.len())
            .map(|i| {
                if is_graph(i) {
                    return None; // a graph's reviews are its stages
                }
                let r = s.quality.review.as_ref()?;
                let p = s.review_pool()?;
                let reviewed = tessera_engine::run::has_review(s, i);
                let usd = match s.pools[p].pay {
                    PaySpec::PerItem(c) => c,
                    PaySpec::PerHour(_) => 0.0,
                };
                reviewed.then(|| (p, r.service.mean_secs() / 3600.0, usd))
            })
            .collect();
        Ok(Model {
            streams: (0..s.streams.len()).map(|i| s.stream_name(i)).collect(),
            pools: (0..s.pools.len()).map(|p| s.pool_name(p)).collect(),
            rate: (0..ns)
                .map(|i| {
                    let (a, c) = arrivals(i);
                    a.mean_per_hour() * c
                })
                .collect(),
            labels: vec![vec![levels.iter().map(|&l| l as f64).collect(); s.pools.len()]; s.streams.len()],
            hours,
            accuracy,
            levels: levels.to_vec(),
            confidence: vec![None; levels.len()],
            sample: vec![s.quality.review.as_ref().map_or(0.0, |r| r.sample); levels.len()],
            review_rate: vec![None; levels.len()],
            on_shift,
            count: s.pools.iter().map(|p| p.count).collect(),
            pay: s.pools.iter().map(|p| p.pay.clone()).collect(),
            gold,
            model_cost,
            review,
            batch,
            reachable,
            windows,
            graph: graphs,
        })
    }
}
