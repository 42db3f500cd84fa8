//! The dispatcher actor: owns every live task, the waiting queue and the idle annotators; walks
//! each task through its workflow (label → aggregate → review); asks the router who gets what.
//! Quality control (golden tasks, trust, rules, bans, re-open) is in `quality.rs`; counting final
//! labels into the monitor and the per-task records in `books.rs`.

mod books;
mod quality;

use quality::Qc;

use super::{AnnotatorView, RouteState, Router, StreamFacts, TaskTable, WaitQueue};
use crate::domain::consensus::majority;
use crate::domain::task::{StreamInfo, TaskState, TaskView};
use crate::domain::{AnnotatorIdx, Job, Msg, NewTask, TaskSlot};
use crate::kernel::{Actor, ActorId, Context};
use crate::ledger::{Ledger, WorkKind};
use crate::metrics::Monitor;
use crate::quality::history::History;
use crate::quality::posterior::one_coin_posterior;
use crate::quality::rules::fires;
use crate::quality::trust::Trust;
use crate::run::record::{EventKind, TaskRecord, TraceEvent};
use crate::spec::{RuleAction, RuleSpec, Stage};
use crate::time::{Dur, SimTime};
use rand::Rng;
use smallvec::SmallVec;
use std::collections::VecDeque;

/// A model as the dispatcher sees it.
#[derive(Clone, Copy, Debug)]
pub struct ModelRef {
    pub actor: ActorId,
    pub speedup: f32,
    /// [USD] per pre-label.
    pub cost: f64,
}

/// Expert review settings.
#[derive(Clone, Debug)]
pub struct ReviewConfig {
    pub sample: f64,
    pub below_confidence: f32,
    pub max_reworks: u16,
}

/// Quality-control settings.
#[derive(Clone, Debug)]
pub struct QualityConfig {
    /// Labels collected before the first confidence check (= the overlap when fixed).
    pub overlap: u16,
    /// Dynamic overlap: (most labels, target confidence).
    pub dynamic: Option<(u16, f32)>,
    /// Weighted (trust) consensus instead of majority vote.
    pub weighted: bool,
    /// Share of an annotator's items that are golden.
    pub gold_rate: f64,
    pub rules: Vec<RuleSpec>,
    pub review: Option<ReviewConfig>,
    /// [µs] how long a final label stays re-openable (only kept when a rule re-opens).
    pub reopen_within: u64,
    /// Re-aggregate every answer at the end of the run with this batch algorithm.
    pub batch: Option<crate::quality::aggregation::Method>,
}

/// Static wiring of a dispatcher.
pub struct DispatcherConfig {
    pub streams: Vec<StreamInfo>,
    pub quality: QualityConfig,
    pub models: Vec<ModelRef>,
    pub sources: Vec<ActorId>,
    pub annotator_actors: Vec<ActorId>,
    /// Stop arrivals after this many tasks and the run once they are all final.
    pub task_limit: Option<u64>,
    pub keep_records: bool,
    pub trace: bool,
}

pub struct Dispatcher {
    pub cfg: DispatcherConfig,
    router: Box<dyn Router>,
    pub annotators: Vec<AnnotatorView>,
    pub table: TaskTable,
    queue: WaitQueue,
    idle: Vec<AnnotatorIdx>,
    /// What each annotator is doing now.
    doing: Vec<WorkKind>,
    next_serial: u64,
    finished: u64,
    gold_live: usize,
    qc: Qc,
    pub monitor: Monitor,
    pub ledger: Ledger,
    pub records: Vec<TaskRecord>,
    pub trace: Vec<TraceEvent>,
    /// For the batch re-aggregation: (task, annotator, label) of counted final tasks, and truths.
    pub batch_answers: Vec<(u32, u32, u32)>,
    pub batch_truth: Vec<u32>,
}

impl Dispatcher {
    pub fn new(cfg: DispatcherConfig, router: Box<dyn Router>, annotators: Vec<AnnotatorView>, monitor: Monitor, ledger: Ledger, trust_prior_strength: f64) -> Self {
        let n = annotators.len();
        let window = |metric| cfg.quality.rules.iter().filter(|r| r.metric == metric).map(|r| r.window as usize).max().unwrap_or(1);
        let qc = Qc {
            trust: Trust::new(annotators.iter().map(|a| a.trust as f64).collect(), trust_prior_strength),
            gold: History::new(n, window(crate::spec::RuleMetric::GoldAccuracy)),
            agreement: History::new(n, window(crate::spec::RuleMetric::Agreement)),
            discard: vec![false; n],
            provisional: VecDeque::new(),
            keeps_provisional: cfg.quality.rules.iter().any(|r| r.reopen),
        };
        let queue = WaitQueue::new(cfg.streams.iter().map(|s| StreamFacts { ttype: s.ttype, priority: s.priority, holding_cost: s.holding_cost as f32 }).collect());
        Dispatcher {
            cfg,
            router,
            annotators,
            table: TaskTable::default(),
            queue,
            idle: Vec::new(),
            doing: vec![WorkKind::Labeling; n],
            next_serial: 0,
            finished: 0,
            gold_live: 0,
            qc,
            monitor,
            ledger,
            records: Vec::new(),
            trace: Vec::new(),
            batch_answers: Vec::new(),
            batch_truth: Vec::new(),
        }
    }

    pub fn router_name(&self) -> &str {
        self.router.name()
    }

    /// Whether the router wants batch rounds (the build schedules the first one).
    pub fn batch_interval(&self) -> Option<Dur> {
        self.router.batch_interval()
    }

    fn log(&mut self, now: SimTime, event: EventKind, task: Option<u64>, annotator: Option<u32>, label: Option<u16>) {
        if self.cfg.trace {
            self.trace.push(TraceEvent { t_us: now.0, event, task, annotator, label });
        }
    }

    fn new_state(&self, serial: u64, stream: u16, truth: u16, difficulty: f32, now: SimTime, counted: bool, gold: bool) -> impl FnOnce(TaskSlot) -> TaskState {
        let info = &self.cfg.streams[stream as usize];
        let view = TaskView {
            slot: 0,
            serial,
            stream,
            ttype: info.ttype,
            language: info.language,
            priority: info.priority,
            arrival: now,
            deadline: if gold { None } else { info.deadline.map(|d| now.plus(Dur(d))) },
            open: 0,
            labelers: SmallVec::new(),
            confidence: 0.0,
            gold,
            review: false,
            min_accuracy: info.min_accuracy as f32,
            holding_cost: info.holding_cost as f32,
        };
        let target_labels = if gold { 1 } else { self.cfg.quality.overlap };
        move |slot| TaskState::new(TaskView { slot, ..view }, truth, difficulty, counted, target_labels)
    }

    fn arrive(&mut self, nt: NewTask, ctx: &mut dyn Context<Msg>) {
        if self.cfg.task_limit.is_some_and(|lim| self.next_serial >= lim) {
            return; // the rest of a batch beyond the task limit never enters
        }
        let now = ctx.now();
        let serial = self.next_serial;
        self.next_serial += 1;
        let counted = self.monitor.in_window(now);
        let make = self.new_state(serial, nt.stream, nt.truth, nt.difficulty, now, counted, false);
        let slot = self.table.insert(make);
        if counted {
            self.monitor.arrivals += 1;
        }
        self.monitor.stream_count(nt.stream, now, true);
        self.log(now, EventKind::Arrive, Some(serial), None, None);
        if self.cfg.task_limit == Some(self.next_serial) {
            for &s in &self.cfg.sources {
                ctx.send(s, Msg::StopArrivals);
            }
        }
        match self.cfg.streams[nt.stream as usize].model {
            Some(m) => {
                let m = self.cfg.models[m as usize];
                if self.monitor.in_window(now) {
                    self.ledger.model_usd += m.cost;
                }
                let job = self.job(slot);
                ctx.send(m.actor, Msg::PreAnnotate(job));
            }
            None => self.advance(slot, ctx),
        }
    }

    fn job(&self, slot: TaskSlot) -> Job {
        let t = self.table.get(slot);
        let info = &self.cfg.streams[t.view.stream as usize];
        Job {
            task: slot,
            ttype: info.ttype,
            classes: info.classes,
            truth: t.truth,
            prelabel: t.prelabel,
            speedup: info.model.map_or(1.0, |m| self.cfg.models[m as usize].speedup),
            difficulty: t.difficulty,
            review: if t.view.review { t.final_label.map(|f| f.0) } else { None },
        }
    }

    /// Consensus on the task's labels: (label, confidence).
    fn consensus(&self, t: &TaskState) -> (u16, f32) {
        let classes = self.cfg.streams[t.view.stream as usize].classes;
        if self.cfg.quality.weighted || self.cfg.quality.dynamic.is_some() {
            let (label, conf) = one_coin_posterior(t.labels.iter().map(|&(a, l)| (self.qc.trust.value(a), l)), classes);
            if self.cfg.quality.weighted {
                return (label, conf);
            }
            // Dynamic overlap with majority vote: majority label, posterior confidence.
            let (m, _) = majority(t.labels.iter().map(|l| l.1), classes);
            return (m, conf);
        }
        majority(t.labels.iter().map(|l| l.1), classes)
    }

    /// Sets how many assignments a task has open, queueing or unqueueing it as needed.
    fn set_open(&mut self, slot: TaskSlot, open: u16, ctx: &mut dyn Context<Msg>) {
        let t = self.table.get_mut(slot);
        t.view.open = open;
        if open == 0 && t.queued {
            t.queued = false;
            if let Some(pos) = self.queue.iter().position(|&q| q == slot) {
                self.queue.remove(pos, t.view.stream);
            }
        } else if open > 0 && !t.queued {
            self.offer(slot, ctx);
        }
    }

    /// Runs the task's workflow from its current stage until it needs people or is final.
    fn advance(&mut self, slot: TaskSlot, ctx: &mut dyn Context<Msg>) {
        loop {
            let (stage, have, in_flight, target) = {
                let t = self.table.get(slot);
                let stage = self.cfg.streams[t.view.stream as usize].workflow.order.get(t.stage as usize).copied();
                (stage, t.labels.len() as u16, t.in_flight, t.target_labels)
            };
            match stage {
                Some(Stage::Label) => {
                    if have >= target && in_flight == 0 {
                        if let (Some((max, goal)), false) = (self.cfg.quality.dynamic, self.table.get(slot).view.gold) {
                            let conf = self.consensus(self.table.get(slot)).1;
                            if have < max && conf < goal {
                                self.table.get_mut(slot).target_labels += 1;
                                continue;
                            }
                        }
                        self.table.get_mut(slot).stage += 1;
                        continue;
                    }
                    self.set_open(slot, target.saturating_sub(have + in_flight), ctx);
                    return;
                }
                Some(Stage::Aggregate) => {
                    let fin = self.consensus(self.table.get(slot));
                    let t = self.table.get_mut(slot);
                    t.final_label = Some(fin);
                    t.view.confidence = fin.1;
                    t.stage += 1;
                }
                Some(Stage::Review) => {
                    let t = self.table.get(slot);
                    let wanted = match &self.cfg.quality.review {
                        Some(r) if !t.view.review && t.reworks < r.max_reworks => {
                            let conf = t.final_label.map_or(0.0, |f| f.1);
                            conf < r.below_confidence || (r.sample > 0.0 && ctx.rng().random::<f64>() < r.sample)
                        }
                        _ => false,
                    };
                    if wanted {
                        self.table.get_mut(slot).view.review = true;
                        self.set_open(slot, 1, ctx);
                        return;
                    }
                    self.table.get_mut(slot).stage += 1;
                }
                None => return self.finalize(slot, ctx.now()),
            }
        }
    }

    /// Offers a task that is not in the queue to the idle annotators; queues what is left open.
    fn offer(&mut self, slot: TaskSlot, ctx: &mut dyn Context<Msg>) {
        while self.table.get(slot).view.open > 0 && !self.idle.is_empty() {
            let st = RouteState { now: ctx.now(), annotators: &self.annotators, tasks: &self.table, queue: &self.queue, idle: &self.idle };
            let Some(pos) = self.router.pick_annotator(slot, &st, ctx.rng()) else { break };
            let a = self.idle.remove(pos);
            self.assign(slot, a, ctx);
        }
        let (serial, stream) = (self.table.get(slot).view.serial, self.table.get(slot).view.stream);
        let t = self.table.get_mut(slot);
        if t.view.open > 0 && !t.queued {
            t.queued = true;
            if self.queue.back().is_none_or(|&b| self.table.get(b).view.serial < serial) {
                self.queue.push_back(slot, stream);
            } else {
                let pos = self.queue.partition_point(|&q| self.table.get(q).view.serial < serial);
                self.queue.insert(pos, slot, stream);
            }
        }
    }

    /// An on-shift annotator has nothing to do: maybe a golden task, else a waiting task, else idle.
    fn annotator_free(&mut self, a: AnnotatorIdx, ctx: &mut dyn Context<Msg>) {
        if self.annotators[a as usize].banned {
            return;
        }
        if self.cfg.quality.gold_rate > 0.0 && ctx.rng().random::<f64>() < self.cfg.quality.gold_rate && self.give_gold(a, ctx) {
            return;
        }
        let st = RouteState { now: ctx.now(), annotators: &self.annotators, tasks: &self.table, queue: &self.queue, idle: &self.idle };
        match self.router.pick_task(a, &st, ctx.rng()) {
            Some(pos) => {
                let slot = self.queue[pos];
                if self.table.get(slot).view.open <= 1 {
                    self.queue.remove(pos, self.table.get(slot).view.stream);
                    self.table.get_mut(slot).queued = false;
                }
                self.assign(slot, a, ctx);
            }
            None => {
                self.annotators[a as usize].idle_since = ctx.now();
                self.idle.push(a);
            }
        }
    }

    fn assign(&mut self, slot: TaskSlot, a: AnnotatorIdx, ctx: &mut dyn Context<Msg>) {
        let now = ctx.now();
        debug_assert!(super::eligible(&self.table.get(slot).view, &self.annotators[a as usize]), "router {} broke a hard constraint", self.router.name());
        let t = self.table.get_mut(slot);
        t.view.open -= 1;
        t.in_flight += 1;
        t.view.labelers.push(a);
        let kind = if t.view.gold {
            WorkKind::Gold
        } else if t.view.review {
            WorkKind::Review
        } else {
            WorkKind::Labeling
        };
        if t.first_start.is_none() && kind != WorkKind::Gold {
            t.first_start = Some(now);
            if t.counted {
                let wait = now.since(t.view.arrival);
                self.monitor.first_start(wait);
            }
        }
        let serial = t.view.serial;
        self.doing[a as usize] = kind;
        self.monitor.busy(a, now);
        let job = self.job(slot);
        ctx.send(self.cfg.annotator_actors[a as usize], Msg::Assign(job));
        self.log(now, EventKind::Assign, Some(serial), Some(a), None);
    }

    fn submit(&mut self, a: AnnotatorIdx, slot: TaskSlot, label: u16, ctx: &mut dyn Context<Msg>) {
        let now = ctx.now();
        let kind = self.doing[a as usize];
        self.monitor.idle(a, now, kind);
        let in_window = self.monitor.in_window(now);
        let cost = if in_window { self.ledger.label(a, kind) } else { 0.0 };
        let serial = self.table.get(slot).view.serial;
        self.log(now, EventKind::Submit, Some(serial), Some(a), Some(label));
        match kind {
            WorkKind::Gold => {
                let t = self.table.remove(slot);
                self.gold_live -= 1;
                let right = label == t.truth;
                self.monitor.gold_answers += in_window as u64;
                self.qc.gold.record(a, right);
                self.qc.trust.observe(a, right, 1.0);
                self.annotators[a as usize].trust = self.qc.trust.value(a) as f32;
                self.apply_rules(a, ctx);
            }
            WorkKind::Review => {
                let overlap = self.cfg.quality.overlap;
                let label_stage = {
                    let stream = self.table.get(slot).view.stream as usize;
                    self.cfg.streams[stream].workflow.order.iter().position(|s| *s == Stage::Label).unwrap_or(0) as u8
                };
                let t = self.table.get_mut(slot);
                t.in_flight -= 1;
                t.labor_cost += cost;
                t.reviews += 1;
                t.view.review = false;
                let counted = t.counted;
                let accepted = label == 1;
                if accepted {
                    t.stage += 1; // past the review stage
                } else {
                    // Sent back: a fresh round of labels.
                    t.reworks += 1;
                    t.labels.clear();
                    t.view.labelers.clear();
                    t.final_label = None;
                    t.target_labels = overlap;
                    t.stage = label_stage;
                }
                if counted {
                    self.monitor.reviews += 1;
                    self.monitor.reworks += !accepted as u64;
                }
                self.advance(slot, ctx);
            }
            WorkKind::Labeling => {
                let discard = self.qc.discard[a as usize];
                let t = self.table.get_mut(slot);
                t.in_flight -= 1;
                if discard {
                    // Banned with re-open: this label does not count.
                    self.advance(slot, ctx);
                    return;
                }
                t.labels.push((a, label));
                t.labor_cost += cost;
                if in_window {
                    self.monitor.labels += 1;
                }
                let conf = self.consensus(self.table.get(slot)).1;
                self.table.get_mut(slot).view.confidence = conf;
                self.advance(slot, ctx);
            }
        }
    }

    fn abandoned(&mut self, a: AnnotatorIdx, slot: TaskSlot, ctx: &mut dyn Context<Msg>) {
        let now = ctx.now();
        let kind = self.doing[a as usize];
        self.monitor.idle(a, now, kind);
        let t = self.table.get_mut(slot);
        t.in_flight -= 1;
        t.abandonments += 1;
        t.view.labelers.retain(|x| *x != a);
        let (serial, counted, gold) = (t.view.serial, t.counted, t.view.gold);
        if counted {
            self.monitor.abandonments += 1;
        }
        self.log(now, EventKind::Abandon, Some(serial), Some(a), None);
        if gold {
            self.table.remove(slot);
            self.gold_live -= 1;
            return;
        }
        let open = self.table.get(slot).view.open + 1;
        self.set_open(slot, open, ctx);
    }

    /// After a submission or abandonment: the annotator takes more work or leaves.
    fn after_work(&mut self, a: AnnotatorIdx, leaving: bool, ctx: &mut dyn Context<Msg>) {
        if leaving {
            self.off_shift(a, ctx.now());
        } else {
            self.annotator_free(a, ctx);
        }
    }

    fn off_shift(&mut self, a: AnnotatorIdx, now: SimTime) {
        self.monitor.off_shift(a, now);
        if let Some(pos) = self.idle.iter().position(|&x| x == a) {
            self.idle.remove(pos);
        }
        self.log(now, EventKind::OffShift, None, Some(a), None);
    }
}

impl Actor<Msg> for Dispatcher {
    fn handle(&mut self, msg: Msg, ctx: &mut dyn Context<Msg>) {
        let now = ctx.now();
        if self.qc.keeps_provisional {
            self.settle_due(now);
        }
        match msg {
            Msg::Arrive(nt) => self.arrive(nt, ctx),
            Msg::PreLabel { task, label } => {
                let t = self.table.get_mut(task);
                t.prelabel = Some(label);
                let serial = t.view.serial;
                self.log(now, EventKind::PreLabel, Some(serial), None, Some(label));
                self.advance(task, ctx);
            }
            Msg::Submit { annotator, task, label, leaving } => {
                let labelers: SmallVec<[AnnotatorIdx; 4]> = self.table.get(task).view.labelers.clone();
                let finals_before = self.finished + self.qc.provisional.len() as u64;
                self.submit(annotator, task, label, ctx);
                if self.finished + self.qc.provisional.len() as u64 > finals_before {
                    self.rules_after_final(&labelers, ctx);
                }
                self.after_work(annotator, leaving, ctx);
            }
            Msg::Abandoned { annotator, task, leaving } => {
                self.abandoned(annotator, task, ctx);
                self.after_work(annotator, leaving, ctx);
            }
            Msg::Available { annotator } => {
                self.monitor.on_shift(annotator, now);
                self.log(now, EventKind::OnShift, None, Some(annotator), None);
                self.annotator_free(annotator, ctx);
            }
            Msg::Unavailable { annotator } => self.off_shift(annotator, now),
            Msg::Unban { annotator } => {
                self.annotators[annotator as usize].banned = false;
                self.qc.discard[annotator as usize] = false;
                if self.monitor.is_on_shift(annotator) && !self.monitor.is_busy(annotator) && !self.idle.contains(&annotator) {
                    self.annotator_free(annotator, ctx);
                }
            }
            Msg::BatchTick => {
                self.batch_round(ctx);
                if let Some(dt) = self.router.batch_interval() {
                    let me = ctx.me();
                    ctx.send_in(Dur(dt.0.max(1)), me, Msg::BatchTick);
                }
            }
            _ => {}
        }
        self.monitor.queue.set(now, self.queue.len() as f64);
        self.monitor.in_system.set(now, (self.table.live() - self.gold_live) as f64);
        if self.all_done() {
            ctx.stop();
        }
    }
}

impl Dispatcher {
    /// One round of a batch policy: apply its pairs, skipping any that are no longer valid.
    fn batch_round(&mut self, ctx: &mut dyn Context<Msg>) {
        let st = RouteState { now: ctx.now(), annotators: &self.annotators, tasks: &self.table, queue: &self.queue, idle: &self.idle };
        let pairs = self.router.assign_batch(&st, ctx.rng());
        for (slot, a) in pairs {
            let Some(ipos) = self.idle.iter().position(|&x| x == a) else { continue };
            let Some(qpos) = self.queue.iter().position(|&q| q == slot) else { continue };
            if !super::eligible(&self.table.get(slot).view, &self.annotators[a as usize]) {
                continue;
            }
            self.idle.remove(ipos);
            if self.table.get(slot).view.open <= 1 {
                self.queue.remove(qpos, self.table.get(slot).view.stream);
                self.table.get_mut(slot).queued = false;
            }
            self.assign(slot, a, ctx);
        }
    }
}
