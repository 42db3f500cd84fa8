//! From a scenario to a ready simulation: the task-type and language tables, the actors, their
//! random streams, and the synthetic workforce.

use super::books::{Books, Trace};
use super::dispatcher::{Dispatcher, Wiring};
use super::record::{TraceHeader, TRACE_SCHEMA};
use super::RunOptions;
use crate::core::workflow::{chain_stages, StageWork};
use crate::core::{Core, CoreConfig, ModelInfo, QualityConfig, StreamInfo, Workflow};
use crate::dispatch::{AnnotatorView, IndexSet, Router, Skill};
use crate::domain::annotator::{Annotator, Profile};
use crate::domain::model::Model;
use crate::domain::shift::Calendar;
use crate::domain::source::{ArrivalProcess, TaskDraw, TaskSource};
use crate::domain::Msg;
use crate::kernel::{stream_key, stream_rng, Actor, ActorId, Context, Simulation};
use crate::ledger::{Ledger, Pay};
use crate::metrics::Monitor;
use crate::spec::{DifficultySpec, PaySpec, Scenario, StageKind, StageSpec};
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

/// One row of the run's stage table: a workflow stage of a stream, or a stream's "waiting for
/// parts" (figures per stage are kept by row).
#[derive(Clone, Debug, PartialEq)]
pub struct StageRow {
    pub stream: u16,
    /// The stage's name ("waiting for parts" for that row).
    pub name: String,
    /// "label", "review", "model" or "parts".
    pub kind: &'static str,
    /// Pools whose members may work it (empty for model stages and waiting).
    pub pools: Vec<u16>,
}

/// The name of the waiting row of a stream whose tasks have parts.
pub const WAITING_FOR_PARTS: &str = "waiting for parts";

/// Each stream's workflow stages (its `stages`, or its chain written as a graph).
pub fn stages_of(s: &Scenario) -> Vec<Vec<StageSpec>> {
    s.streams.iter().map(|st| chain_stages(st, &s.quality)).collect()
}

/// Whether stream `i`'s workflow has a review stage.
pub fn has_review(s: &Scenario, i: usize) -> bool {
    chain_stages(&s.streams[i], &s.quality).iter().any(|x| x.kind == StageKind::Review)
}

/// Pools that may work a stage: its own `pools`, else (review) the review pool, else (label)
/// every pool with the stage's skill; `skilled(p)` says whether pool p has it.
pub fn stage_pools(s: &Scenario, st: &StageSpec, skilled: impl Fn(usize) -> bool) -> Vec<u16> {
    let named = |names: &[String]| (0..s.pools.len()).filter(|&p| names.contains(&s.pool_name(p))).map(|p| p as u16).collect();
    match st.kind {
        StageKind::Model => Vec::new(),
        StageKind::Review if st.pools.is_empty() => {
            let pools: Vec<u16> = s.quality.review.as_ref().map_or_else(Vec::new, |r| named(std::slice::from_ref(&r.pool)));
            pools.into_iter().filter(|&p| st.skill.is_none() || skilled(p as usize)).collect()
        }
        StageKind::Label if st.pools.is_empty() => (0..s.pools.len()).filter(|&p| skilled(p)).map(|p| p as u16).collect(),
        StageKind::Label => named(&st.pools).into_iter().filter(|&p: &u16| skilled(p as usize)).collect(),
        StageKind::Review => named(&st.pools).into_iter().filter(|&p: &u16| st.skill.is_none() || skilled(p as usize)).collect(),
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
    let stage_specs = stages_of(s);
    for (st, stages) in s.streams.iter().zip(&stage_specs) {
        for t in std::iter::once(&st.task_type).chain(stages.iter().filter_map(|x| x.skill.as_ref())) {
            match types.iter().position(|x| x == t) {
                Some(i) => classes_by_type[i] = classes_by_type[i].max(st.classes as u16),
                None => {
                    types.push(t.clone());
                    classes_by_type.push(st.classes as u16);
                }
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
    let mut stage_rows: Vec<StageRow> = Vec::new();
    // Restricted stages (who ≠ 0): (who, pools that may work it).
    let mut restricted: Vec<(u16, Vec<u16>)> = Vec::new();
    for (i, st) in s.streams.iter().enumerate() {
        let ttype = types.iter().position(|t| *t == st.task_type).unwrap() as u16;
        let language = st.language.as_deref().map(|l| lang_index(l, &mut languages)).transpose()?;
        let waiting_sid = st.parts.as_ref().map(|_| {
            stage_rows.push(StageRow { stream: i as u16, name: WAITING_FOR_PARTS.into(), kind: "parts", pools: Vec::new() });
            (stage_rows.len() - 1) as u16
        });
        let mut model = None;
        let workflow = Workflow::build(&stage_specs[i], |_, x| {
            // Stage numbers below u16::MAX (a golden item's "no stage"), and who = sid + 1 fits.
            let sid = u16::try_from(stage_rows.len()).ok().filter(|&n| n < u16::MAX - 1).ok_or_else(|| "more than 65,533 workflow stages in the run".to_string())?;
            let skill = x.skill.as_deref().unwrap_or(&st.task_type);
            let stage_type = types.iter().position(|t| t == skill).unwrap_or(ttype as usize) as u16;
            let pools = stage_pools(s, x, |p| s.pool_has_skill(p, skill));
            let work = match x.kind {
                StageKind::Label => {
                    let dynamic = x.dynamic_overlap.as_ref().or(if x.overlap.is_none() { s.quality.dynamic_overlap.as_ref() } else { None });
                    StageWork::Label {
                        overlap: x.overlap.unwrap_or_else(|| s.overlap_of(i)).max(1) as u16,
                        dynamic: dynamic.map(|d| (d.max.max(1) as u16, d.confidence as f32)),
                        weighted: x.aggregation.as_deref().unwrap_or(&s.quality.aggregation) == "weighted",
                    }
                }
                StageKind::Review => StageWork::Review {
                    overlap: x.overlap.unwrap_or(1).max(1) as u16,
                    max_reworks: x.max_reworks.or(s.quality.review.as_ref().map(|r| r.max_reworks)).unwrap_or(2) as u16,
                },
                StageKind::Model => {
                    let name = x.model.as_deref().unwrap_or_default();
                    let m = s.models.iter().position(|m| m.name == name).ok_or_else(|| format!("streams[{i}]: stage {:?}: no model named {name:?}", x.name))? as u16;
                    model.get_or_insert(m);
                    StageWork::Model { model: m }
                }
            };
            let who = match x.kind {
                StageKind::Model => 0,
                StageKind::Label if x.pools.is_empty() => 0,
                _ => {
                    restricted.push((sid + 1, pools.clone()));
                    sid + 1
                }
            };
            let kind = match x.kind {
                StageKind::Label => "label",
                StageKind::Review => "review",
                StageKind::Model => "model",
            };
            stage_rows.push(StageRow { stream: i as u16, name: x.name.clone(), kind, pools });
            Ok((work, stage_type, who, sid))
        })
        .map_err(|e| format!("streams[{i}]: {e}"))?;
        streams.push(StreamInfo {
            name: s.stream_name(i),
            task_type: st.task_type.clone(),
            ttype,
            modality: st.modality(),
            classes: st.classes as u16,
            priority: st.priority,
            deadline: st.deadline.map(|d| d.0),
            language,
            workflow,
            model,
            waiting_sid,
            mean_difficulty: match &st.difficulty {
                DifficultySpec::Fixed(d) => *d as f32,
                DifficultySpec::Drawn(p) => p.mean() as f32,
            },
            min_accuracy: st.min_accuracy,
            holding_cost: st.holding_cost,
            patience: st.patience.clone(),
        });
    }
    let review_pools: Vec<u16> = stage_rows.iter().filter(|r| r.kind == "review").flat_map(|r| r.pools.iter().copied()).collect();

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
    let quality = QualityConfig {
        gold_rate: s.quality.gold.as_ref().map_or(0.0, |g| g.rate),
        rules: s.quality.rules.clone(),
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
        };
        books.trace = Some(Trace::new(open(opts.replication)?, &header, annotator_names));
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
    let stream_index = |name: &str| (0..s.streams.len()).find(|&j| s.stream_name(j) == name);
    // Streams whose tasks only come as parts of another stream's tasks have no source.
    let part_streams: Vec<usize> = s.streams.iter().filter_map(|st| st.parts.as_ref().and_then(|p| stream_index(&p.stream))).collect();
    for (i, st) in s.streams.iter().enumerate() {
        if part_streams.contains(&i) {
            // A silent source keeps the actor numbering (sources are actors 1..=streams).
            let process = ArrivalProcess::Poisson { rate: 0.0 };
            sim.add(SimActor::Source(TaskSource { stream: i as u16, dispatcher: dispatcher_id, process, draw: task_draw(st), stopped: true, parts: None }), stream_key(&["source", &s.stream_name(i)]));
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
            SimActor::Source(TaskSource { stream: i as u16, dispatcher: dispatcher_id, process, draw: task_draw(st), stopped: false, parts }),
            stream_key(&["source", &s.stream_name(i)]),
        );
        sim.schedule(SimTime::ZERO, id, Msg::Start);
    }
    for m in &s.models {
        let confidence_rng = crate::kernel::stream_rng(seed, stream_key(&["model-confidence", &m.name]));
        sim.add(
            SimActor::Model(Model { dispatcher: dispatcher_id, accuracy: m.accuracy, latency: m.latency, concentration: m.confidence_concentration, confidence_rng }),
            stream_key(&["model", &m.name]),
        );
    }
    for (a, (pool, j, profile)) in profiles.into_iter().enumerate() {
        let id = sim.add(SimActor::Annotator(Box::new(Annotator::new(a as u32, dispatcher_id, profile))), stream_key(&["annotator", &pool, &j.to_string()]));
        sim.schedule(SimTime::ZERO, id, Msg::Start);
    }
    let expected_end = s.run.tasks.map_or(0.0, |n| n as f64 / expected_rate.max(1e-300));
    Ok(Built { sim, stream_names: (0..s.streams.len()).map(|i| s.stream_name(i)).collect(), task_types: types, pool_names, pool_of, expected_end, stages: stage_rows })
}
