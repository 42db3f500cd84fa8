//! From a scenario to a ready simulation: the task-type and language tables, the actors, their
//! random streams, and the synthetic workforce.

use super::books::{Books, Trace};
use super::dispatcher::{Dispatcher, Wiring};
use super::record::{TraceHeader, TRACE_SCHEMA};
use super::RunOptions;
use crate::core::{Core, CoreConfig, ModelInfo, QualityConfig, ReviewConfig, StreamInfo, Workflow};
use crate::dispatch::{AnnotatorView, IndexSet, Router, Skill};
use crate::domain::annotator::{Annotator, Profile};
use crate::domain::model::Model;
use crate::domain::shift::Calendar;
use crate::domain::source::{ArrivalProcess, TaskDraw, TaskSource};
use crate::domain::Msg;
use crate::kernel::{stream_key, stream_rng, Actor, ActorId, Context, Simulation};
use crate::ledger::{Ledger, Pay};
use crate::metrics::Monitor;
use crate::spec::{DifficultySpec, PaySpec, Scenario, Stage};
use crate::time::{Epoch, SimTime, US_PER_DAY, US_PER_HOUR};

/// Every kind of actor in an annotation simulation (static dispatch: no box per message).
pub enum SimActor {
    Dispatcher(Box<Dispatcher>),
    Source(TaskSource),
    Annotator(Box<Annotator>),
    Model(Model),
}

impl Actor<Msg> for SimActor {
    #[inline]
    fn handle<C: Context<Msg> + ?Sized>(&mut self, msg: Msg, ctx: &mut C) {
        match self {
            SimActor::Dispatcher(d) => d.handle(msg, ctx),
            SimActor::Source(s) => s.handle(msg, ctx),
            SimActor::Annotator(a) => a.handle(msg, ctx),
            SimActor::Model(m) => m.handle(msg, ctx),
        }
    }
}

/// A simulation ready to run, with the names needed to report on it.
pub struct Built {
    pub sim: Simulation<Msg, SimActor>,
    pub stream_names: Vec<String>,
    pub task_types: Vec<String>,
    pub pool_names: Vec<String>,
    /// Pool index of each annotator.
    pub pool_of: Vec<u16>,
    /// Expected end [µs] when running to a task count (for progress).
    pub expected_end: f64,
}

impl Built {
    pub fn dispatcher(&self) -> &Dispatcher {
        match &self.sim.actors[0] {
            SimActor::Dispatcher(d) => d,
            _ => unreachable!("actor 0 is the dispatcher"),
        }
    }
    pub fn dispatcher_mut(&mut self) -> &mut Dispatcher {
        match &mut self.sim.actors[0] {
            SimActor::Dispatcher(d) => d,
            _ => unreachable!("actor 0 is the dispatcher"),
        }
    }
}

/// A stream's stages: its own, with "review" appended when `[quality.review]` is set and the
/// stream kept the default workflow.
pub fn workflow_of(s: &Scenario, i: usize) -> Vec<Stage> {
    let mut w = s.streams[i].workflow.clone();
    if s.quality.review.is_some() && w == [Stage::Label, Stage::Aggregate] {
        w.push(Stage::Review);
    }
    w
}

/// Builds the actors for one replication. Errors are for scenarios that skipped validation.
pub fn build(s: &Scenario, router: Box<dyn Router>, opts: RunOptions) -> Result<Built, String> {
    if s.streams.is_empty() {
        return Err("the scenario has no [[streams]]".into());
    }
    if s.pools.is_empty() {
        return Err("the scenario has no [[pools]]".into());
    }
    let seed = opts.seed;
    // Task types and languages, in order of first appearance.
    let mut types: Vec<String> = Vec::new();
    let mut classes_by_type: Vec<u16> = Vec::new();
    let mut languages: Vec<String> = Vec::new();
    let lang_index = |l: &str, languages: &mut Vec<String>| -> Result<u16, String> {
        if let Some(i) = languages.iter().position(|x| x == l) {
            return Ok(i as u16);
        }
        let i = u16::try_from(languages.len()).map_err(|_| "more than 65,535 distinct languages".to_string())?;
        languages.push(l.to_string());
        Ok(i)
    };
    for st in &s.streams {
        match types.iter().position(|t| *t == st.task_type) {
            Some(i) => classes_by_type[i] = classes_by_type[i].max(st.classes as u16),
            None => {
                types.push(st.task_type.clone());
                classes_by_type.push(st.classes as u16);
            }
        }
    }

    let mut sim: Simulation<Msg, SimActor> = Simulation::new(seed);
    let dispatcher_id = ActorId(0);
    let n_sources = s.streams.len();
    let model_base = 1 + n_sources as u32;
    let annot_base = model_base + s.models.len() as u32;

    let mut streams = Vec::new();
    let mut expected_rate = 0.0; // [tasks/µs]
    for (i, st) in s.streams.iter().enumerate() {
        let ttype = types.iter().position(|t| *t == st.task_type).unwrap() as u16;
        let language = st.language.as_deref().map(|l| lang_index(l, &mut languages)).transpose()?;
        let model = match &st.pre_annotation {
            Some(m) => Some(s.models.iter().position(|x| x.name == *m).ok_or_else(|| format!("streams[{i}].pre_annotation: no model named {m:?}"))? as u16),
            None => None,
        };
        streams.push(StreamInfo {
            name: s.stream_name(i),
            task_type: st.task_type.clone(),
            ttype,
            modality: st.modality(),
            classes: st.classes as u16,
            priority: st.priority,
            deadline: st.deadline.map(|d| d.0),
            language,
            workflow: Workflow::chain(&workflow_of(s, i)).map_err(|e| format!("streams[{i}].workflow: {e}"))?,
            model,
            mean_difficulty: match &st.difficulty {
                DifficultySpec::Fixed(d) => *d as f32,
                DifficultySpec::Drawn(p) => p.mean() as f32,
            },
            min_accuracy: st.min_accuracy,
            holding_cost: st.holding_cost,
            patience: st.patience.clone(),
            overlap: s.overlap_of(i) as u16,
        });
    }

    // Workforce: profiles from their own streams (the same people for every policy on a seed).
    let mut views = Vec::new();
    let mut profiles = Vec::new();
    let mut pays = Vec::new();
    let mut pool_of = Vec::new();
    let mut pool_names = Vec::new();
    let mut annotator_names = Vec::new();
    for (p, pool) in s.pools.iter().enumerate() {
        let name = s.pool_name(p);
        let calendar = Calendar::parse(&pool.shifts).map_err(|e| format!("pools[{p}].shifts: {e}"))?;
        let reviews = s.quality.review.as_ref().filter(|r| r.pool == name);
        let mut langs = IndexSet::default();
        for l in &pool.languages {
            langs.insert(lang_index(l, &mut languages)?);
        }
        let pay = Pay::from(&pool.pay);
        let mut reserved_for = IndexSet::default();
        for r in &pool.reserved_for {
            let i = (0..s.streams.len()).position(|i| s.stream_name(i) == *r).ok_or_else(|| format!("pools[{p}].reserved_for: no stream named {r:?}"))?;
            reserved_for.insert(i as u16);
        }
        let declared: Vec<Option<Skill>> = types
            .iter()
            .map(|t| {
                let service = if pool.service.is_empty() { Some(Default::default()) } else { pool.service.get(t).cloned() }?;
                let accuracy = pool.accuracy_by_type.get(t).unwrap_or(&pool.accuracy).mean();
                let mean_secs = service.mean_secs();
                let cost_per_item = match pool.pay {
                    PaySpec::PerItem(r) => r,
                    PaySpec::PerHour(r) => r * mean_secs / 3600.0,
                };
                Some(Skill { accuracy, mean_secs, cost_per_item })
            })
            .collect();
        for j in 0..pool.count.max(0) as usize {
            let idx = views.len() as u32;
            let mut rng = stream_rng(seed, stream_key(&["profile", &name, &j.to_string()]));
            let mut profile = Profile::draw(pool, &types, &classes_by_type, calendar.clone(), &mut rng);
            if let Some(r) = reviews {
                let verdict = crate::domain::source::draw_prob(
                    match &pool.accuracy {
                        crate::spec::AccuracySpec::OneCoin(d) | crate::spec::AccuracySpec::Confusion { diagonal: d } => d,
                    },
                    &mut rng,
                );
                profile.review = Some((r.service.clone(), verdict));
            }
            profiles.push((name.clone(), j, profile));
            annotator_names.push(format!("{name}/{j}"));
            views.push(AnnotatorView {
                idx,
                pool: p as u16,
                skills: declared.clone(),
                languages: langs.clone(),
                idle_since: SimTime::ZERO,
                trust: pool.accuracy.mean() as f32,
                banned: false,
                reserved_for: reserved_for.clone(),
                reviewer: reviews.is_some(),
            });
            pays.push(pay);
            pool_of.push(p as u16);
        }
        pool_names.push(name);
    }

    let n_annot = views.len();
    let quality = QualityConfig {
        overlap: s.quality.overlap.max(1) as u16,
        dynamic: s.quality.dynamic_overlap.as_ref().map(|d| (d.max.max(1) as u16, d.confidence as f32)),
        weighted: s.quality.aggregation == "weighted",
        gold_rate: s.quality.gold.as_ref().map_or(0.0, |g| g.rate),
        rules: s.quality.rules.clone(),
        review: s.quality.review.as_ref().map(|r| ReviewConfig { sample: r.sample, below_confidence: r.below_confidence as f32, max_reworks: r.max_reworks as u16 }),
        reopen_within: s.quality.reopen_within.0,
        batch: match &s.quality.batch_aggregation {
            Some(m) => Some(m.parse().map_err(|e| format!("quality.batch_aggregation: {e}"))?),
            None => None,
        },
        trust_prior_strength: s.quality.trust_prior_strength,
    };
    let batch = quality.batch;
    let cfg = CoreConfig {
        streams: streams.clone(),
        quality,
        models: s.models.iter().map(|m| ModelInfo { cost: m.cost_per_item, speedup: m.speedup as f32 }).collect(),
        pay: pays.clone(),
        late_window: US_PER_DAY,
    };
    let wiring = Wiring {
        models: (0..s.models.len() as u32).map(|m| ActorId(model_base + m)).collect(),
        sources: (1..=n_sources as u32).map(ActorId).collect(),
        annotators: (0..n_annot as u32).map(|a| ActorId(annot_base + a)).collect(),
        task_limit: s.run.tasks,
    };
    let monitor = Monitor::new(SimTime(s.run.warmup.0), s.run.service_level, n_annot, s.streams.len(), types.len());
    let ledger = Ledger::new(pays, pool_of.clone());
    let core = Core::new(cfg, router, views);
    let turnaround = s.streams.iter().map(|st| st.turnaround.or(st.deadline).unwrap_or(s.run.turnaround).0).collect();
    let mut books = Books::new(streams, turnaround, monitor, ledger, n_annot, opts.keep_records, batch);
    if let Some(open) = opts.records {
        books.record_sink = Some(open(opts.replication)?);
    }
    if let Some(open) = opts.trace {
        let header = TraceHeader {
            schema: TRACE_SCHEMA,
            v: 2,
            replication: opts.replication,
            scenario: s.name.clone().unwrap_or_default(),
            policy: core.router_name().to_string(),
            seed,
            epoch_unix_us: Epoch::SIMULATION.0,
            clock: "simulated",
        };
        books.trace = Some(Trace::new(open(opts.replication)?, &header, annotator_names));
    }
    let batch_rounds = core.batch_interval().is_some();
    let dispatcher = Dispatcher::new(core, books, wiring, opts.core_log);
    sim.add(SimActor::Dispatcher(Box::new(dispatcher)), stream_key(&["dispatcher"]));
    if batch_rounds {
        sim.schedule(SimTime::ZERO, dispatcher_id, Msg::Timer(crate::core::Timer::BatchRound));
    }

    for (i, st) in s.streams.iter().enumerate() {
        let process = ArrivalProcess::from_spec(&st.arrivals);
        expected_rate += process.mean_per_hour() / US_PER_HOUR as f64;
        let k = st.classes.max(1) as usize;
        let weights = st.class_weights.clone().filter(|w| w.len() == k).unwrap_or_else(|| vec![1.0; k]);
        let total: f64 = weights.iter().sum();
        let class_cdf = weights
            .iter()
            .scan(0.0, |acc, w| {
                *acc += w / total;
                Some(*acc)
            })
            .collect();
        let id = sim.add(
            SimActor::Source(TaskSource { stream: i as u16, dispatcher: dispatcher_id, process, draw: TaskDraw { class_cdf, difficulty: st.difficulty.clone() }, stopped: false }),
            stream_key(&["source", &s.stream_name(i)]),
        );
        sim.schedule(SimTime::ZERO, id, Msg::Start);
    }
    for m in &s.models {
        sim.add(SimActor::Model(Model { dispatcher: dispatcher_id, accuracy: m.accuracy, latency: m.latency }), stream_key(&["model", &m.name]));
    }
    for (a, (pool, j, profile)) in profiles.into_iter().enumerate() {
        let id = sim.add(SimActor::Annotator(Box::new(Annotator::new(a as u32, dispatcher_id, profile))), stream_key(&["annotator", &pool, &j.to_string()]));
        sim.schedule(SimTime::ZERO, id, Msg::Start);
    }
    let expected_end = s.run.tasks.map_or(0.0, |n| n as f64 / expected_rate.max(1e-300));
    Ok(Built { sim, stream_names: (0..s.streams.len()).map(|i| s.stream_name(i)).collect(), task_types: types, pool_names, pool_of, expected_end })
}
