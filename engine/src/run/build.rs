//! From a scenario to a ready simulation: the task-type and language tables, the actors, their
//! random streams, and the synthetic workforce.

use super::books::{Books, Trace};
use super::dispatcher::{Dispatcher, Wiring};
use super::record::{TraceHeader, TRACE_SCHEMA};
use super::RunOptions;
use crate::core::setup::{lang_index, setup, Setup};
pub use crate::core::setup::{has_review, stage_pools, stages_of, StageRow, WAITING_FOR_PARTS};
use crate::core::{Core, CoreConfig};
use crate::dispatch::{AnnotatorView, IndexSet, Router, Skill};
use crate::domain::annotator::{Annotator, Profile};
use crate::domain::model::{Model, PrelabelWork};
use crate::domain::shift::Calendar;
use crate::domain::learner::{ItemDraw, ItemLearner, ItemSet};
use crate::domain::source::{ArrivalProcess, TaskDraw, TaskSource};
use rand::Rng;
use std::sync::Arc;
use crate::domain::Msg;
use crate::kernel::{stream_key, stream_rng, Actor, ActorId, Context, Simulation};
use crate::ledger::{Ledger, Pay};
use crate::metrics::Monitor;
use crate::spec::{PaySpec, Scenario};
use crate::time::{Epoch, SimTime, US_PER_DAY, US_PER_HOUR};

/// Every kind of actor in an annotation simulation (static dispatch: no box per message).
pub enum SimActor {
    Dispatcher(Box<Dispatcher>),
    Source(TaskSource),
    Annotator(Box<Annotator>),
    Model(Box<Model>),
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
    /// Each annotator's name ("pool/n") and the bias planted in them.
    pub annotator_names: Vec<String>,
    pub planted: Vec<Option<crate::domain::annotator::PlantedBias>>,
    /// Expected end [µs] when running to a task count (for progress).
    pub expected_end: f64,
    /// The run's workflow stages, row by row (figures per stage).
    pub stages: Vec<StageRow>,
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

/// Builds the actors for one replication. Errors are for scenarios that skipped validation.
pub fn build(s: &Scenario, router: Box<dyn Router>, opts: RunOptions) -> Result<Built, String> {
    if s.streams.is_empty() {
        return Err("the scenario has no [[streams]]".into());
    }
    if s.pools.is_empty() {
        return Err("the scenario has no [[pools]]".into());
    }
    let seed = opts.seed;
    let Setup { types, classes_by_type, mut languages, streams, stages: stage_rows, restricted, quality, models } = setup(s)?;
    let mut sim: Simulation<Msg, SimActor> = Simulation::new(seed);
    let dispatcher_id = ActorId(0);
    let n_sources = s.streams.len();
    let model_base = 1 + n_sources as u32;
    let annot_base = model_base + s.models.len() as u32;

    let mut expected_rate = 0.0; // [tasks/µs]
    let review_pools: Vec<u16> = stage_rows.iter().filter(|r| r.kind == "review").flat_map(|r| r.pools.iter().copied()).collect();

    // Workforce: profiles from their own streams (the same people for every policy on a seed).
    let mut views = Vec::new();
    let mut profiles = Vec::new();
    let mut pays = Vec::new();
    let mut pool_of = Vec::new();
    let mut pool_names = Vec::new();
    let mut annotator_names = Vec::new();
    let mut planted = Vec::new();
    for (p, pool) in s.pools.iter().enumerate() {
        let name = s.pool_name(p);
        let calendar = Calendar::parse(&pool.shifts).map_err(|e| format!("pools[{p}].shifts: {e}"))?;
        let reviews = review_pools.contains(&(p as u16)).then(|| s.quality.review.as_ref().map_or_else(crate::spec::default_review_service, |r| r.service.clone()));
        let mut may_work = IndexSet::default();
        for (who, pools) in &restricted {
            if pools.contains(&(p as u16)) {
                may_work.insert(*who);
            }
        }
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
            if pool.bias.as_ref().is_some_and(|b| j < b.members(pool.count)) {
                profile.bias = pool.bias.as_ref().and_then(crate::domain::annotator::PlantedBias::from_spec);
            }
            planted.push(profile.bias);
            if let Some(service) = &reviews {
                let verdict = crate::domain::source::draw_prob(
                    match &pool.accuracy {
                        crate::spec::AccuracySpec::OneCoin(d) | crate::spec::AccuracySpec::Confusion { diagonal: d } => d,
                    },
                    &mut rng,
                );
                profile.review = Some((service.clone(), verdict));
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
                stages: may_work.clone(),
            });
            pays.push(pay);
            pool_of.push(p as u16);
        }
        pool_names.push(name);
    }

    let n_annot = views.len();
    let batch = quality.batch;
    let cfg = CoreConfig {
        streams: streams.clone(),
        quality,
        models,
        pay: pays.clone(),
        late_window: US_PER_DAY,
        learn_speed: None,
    };
    let model_of_stream: Vec<Option<u16>> = cfg.streams.iter().map(|st| st.model).collect();
    let rescore = s.models.iter().map(|m| m.learning.as_ref().is_some_and(|l| l.rescore_waiting)).collect();
    let wiring = Wiring {
        rescore,
        models: (0..s.models.len() as u32).map(|m| ActorId(model_base + m)).collect(),
        sources: (1..=n_sources as u32).map(ActorId).collect(),
        annotators: (0..n_annot as u32).map(|a| ActorId(annot_base + a)).collect(),
        task_limit: s.run.tasks,
        training: model_of_stream.iter().map(|&model| model.and_then(|m| s.models[m as usize].learning.as_ref().map(|l| (m, l.train_on_auto_accepted)))).collect(),
    };
    let monitor = Monitor::new(SimTime(s.run.warmup.0), s.run.service_level, n_annot, s.streams.len(), types.len());
    let ledger = Ledger::new(pays, pool_of.clone());
    let core = Core::new(cfg, router, views);
    let turnaround = s.streams.iter().map(|st| st.turnaround.or(st.deadline).unwrap_or(s.run.turnaround).0).collect();
    let mut books = Books::new(streams, turnaround, monitor, ledger, n_annot, opts.keep_records, batch);
    books.models = s.models.iter().map(|m| crate::metrics::models::ModelBook::new(m.accuracy, m.learning.as_ref().map_or(0, |l| l.initial_labels), m.learning.as_ref().and_then(|l| l.target_accuracy))).collect();
    books.model_names = s.models.iter().map(|m| m.name.clone()).collect();
    if let Some(width) = opts.period_us {
        let rates = books.ledger.pay.iter().map(|p| if let crate::ledger::Pay::PerHour(r) = *p { r } else { 0.0 }).collect();
        let horizon = s.run.arrival_horizon().map_or(width, |h| h.0);
        books.periods = Some(crate::metrics::periods::Periods::new(width, horizon, rates, types.len()));
    }
    books.stages = crate::metrics::stages::StageBook::new(stage_rows.len(), s.pools.len(), pool_of.clone(), SimTime(s.run.warmup.0));
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
            utc_offset_s: Some(0),
            speedup: None,
        };
        books.trace = Some(Trace::new(open(opts.replication)?, &header, annotator_names.clone()));
    }
    let batch_rounds = core.batch_interval().is_some();
    let dispatcher = Dispatcher::new(core, books, wiring, opts.core_log);
    sim.add(SimActor::Dispatcher(Box::new(dispatcher)), stream_key(&["dispatcher"]));
    if batch_rounds {
        sim.schedule(SimTime::ZERO, dispatcher_id, Msg::Timer(crate::core::Timer::BatchRound));
    }

    let task_draw = |st: &crate::spec::StreamSpec| {
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
        TaskDraw { class_cdf, difficulty: st.difficulty.clone() }
    };
    // Real learners: each model's items and learner, the items its start is fitted on, the rest
    // in the order its streams draw them.
    let mut learners: Vec<Option<(Arc<dyn ItemSet>, Box<dyn ItemLearner>, Vec<u32>, Vec<u32>)>> = Vec::new();
    for m in &s.models {
        let Some(name) = &m.learner else {
            learners.push(None);
            continue;
        };
        let make = crate::domain::learner::factory(name).ok_or_else(|| format!("models.{}.learner: no learner named {name:?} in this build", m.name))?;
        let (set, learner) = make(crate::kernel::stream_rng(seed, stream_key(&["learner", &m.name])).random());
        let initial = m.learning.as_ref().map_or(0, |l| l.initial_labels as usize);
        let mut rng = crate::kernel::stream_rng(seed, stream_key(&["learner-items", &m.name]));
        let (start, rest) = crate::domain::learner::split_pool(set.len(), initial, &mut rng);
        if rest.is_empty() {
            return Err(format!("models.{}.learning.initial_labels: the learner's pool has {} items and the starting model takes {initial}: leave some for people to label", m.name, set.len()));
        }
        learners.push(Some((set, learner, start, rest)));
    }
    let item_draw = |i: usize| -> Result<Option<ItemDraw>, String> {
        let Some(Some((set, _, _, rest))) = model_of_stream[i].map(|m| &learners[m as usize]) else { return Ok(None) };
        if set.classes() as u32 != s.streams[i].classes {
            return Err(format!("streams[{i}].classes: its model's learner has {} classes, the stream {}", set.classes(), s.streams[i].classes));
        }
        Ok(Some(ItemDraw { set: set.clone(), order: rest.clone(), next: 0 }))
    };
    let stream_index = |name: &str| (0..s.streams.len()).find(|&j| s.stream_name(j) == name);
    // Streams whose tasks only come as parts of another stream's tasks have no source.
    let part_streams: Vec<usize> = s.streams.iter().filter_map(|st| st.parts.as_ref().and_then(|p| stream_index(&p.stream))).collect();
    for (i, st) in s.streams.iter().enumerate() {
        if part_streams.contains(&i) {
            // A silent source keeps the actor numbering (sources are actors 1..=streams).
            let process = ArrivalProcess::Poisson { rate: 0.0 };
            sim.add(SimActor::Source(TaskSource { stream: i as u16, dispatcher: dispatcher_id, process, draw: task_draw(st), stopped: true, parts: None, items: None }), stream_key(&["source", &s.stream_name(i)]));
            continue;
        }
        let process = ArrivalProcess::from_spec(&st.arrivals);
        let parts = match &st.parts {
            Some(p) => {
                let j = stream_index(&p.stream).ok_or_else(|| format!("streams[{i}].parts.stream: no stream named {:?}", p.stream))?;
                Some((j as u16, p.count, task_draw(&s.streams[j])))
            }
            None => None,
        };
        expected_rate += process.mean_per_hour() * (1 + parts.as_ref().map_or(0, |p| p.1)) as f64 / US_PER_HOUR as f64;
        let id = sim.add(
            SimActor::Source(TaskSource { stream: i as u16, dispatcher: dispatcher_id, process, draw: task_draw(st), stopped: false, parts, items: item_draw(i)? }),
            stream_key(&["source", &s.stream_name(i)]),
        );
        sim.schedule(SimTime::ZERO, id, Msg::Start);
    }
    let model_classes: Vec<u16> = (0..s.models.len()).map(|k| s.streams.iter().zip(&model_of_stream).find(|(_, &m)| m == Some(k as u16)).map_or(2, |(st, _)| st.classes as u16)).collect();
    for (k, m) in s.models.iter().enumerate() {
        let confidence_rng = crate::kernel::stream_rng(seed, stream_key(&["model-confidence", &m.name]));
        let mut model = Model::new(k as u16, m, model_classes[k], dispatcher_id, confidence_rng);
        if let Some((set, learner, start, _)) = learners[k].take() {
            model = model.with_learner(&*set, learner, &start);
        }
        let id = sim.add(SimActor::Model(Box::new(model)), stream_key(&["model", &m.name]));
        if m.learner.is_some() || m.learning.as_ref().is_some_and(|l| l.retrain_every.is_some()) {
            sim.schedule(SimTime::ZERO, id, Msg::Start);
        }
    }
    let prelabel_work: std::sync::Arc<[PrelabelWork]> = s.models.iter().map(PrelabelWork::of).collect();
    for (a, (pool, j, profile)) in profiles.into_iter().enumerate() {
        let annotator = Annotator::new(a as u32, dispatcher_id, profile, prelabel_work.clone());
        let id = sim.add(SimActor::Annotator(Box::new(annotator)), stream_key(&["annotator", &pool, &j.to_string()]));
        sim.schedule(SimTime::ZERO, id, Msg::Start);
    }
    let expected_end = s.run.tasks.map_or(0.0, |n| n as f64 / expected_rate.max(1e-300));
    Ok(Built { sim, stream_names: (0..s.streams.len()).map(|i| s.stream_name(i)).collect(), task_types: types, pool_names, pool_of, expected_end, stages: stage_rows, annotator_names, planted })
}
