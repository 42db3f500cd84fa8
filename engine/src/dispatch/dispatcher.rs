//! The dispatcher actor: owns every live task, the waiting queue and the idle annotators; walks
//! each task through its workflow; asks the router who gets what; feeds the monitor and ledger.

use super::{AnnotatorView, RouteState, Router, TaskTable};
use crate::domain::consensus::majority;
use crate::domain::task::{StreamInfo, TaskState, TaskView};
use crate::domain::{AnnotatorIdx, Job, Msg, NewTask, TaskSlot};
use crate::kernel::{Actor, ActorId, Context};
use crate::ledger::Ledger;
use crate::metrics::Monitor;
use crate::run::record::{EventKind, TaskRecord, TraceEvent};
use crate::spec::Stage;
use crate::time::{Dur, SimTime};
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

/// Static wiring of a dispatcher.
pub struct DispatcherConfig {
    pub streams: Vec<StreamInfo>,
    pub overlap: u16,
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
    queue: VecDeque<TaskSlot>,
    idle: Vec<AnnotatorIdx>,
    next_serial: u64,
    finished: u64,
    pub monitor: Monitor,
    pub ledger: Ledger,
    pub records: Vec<TaskRecord>,
    pub trace: Vec<TraceEvent>,
}

impl Dispatcher {
    pub fn new(cfg: DispatcherConfig, router: Box<dyn Router>, annotators: Vec<AnnotatorView>, monitor: Monitor, ledger: Ledger) -> Self {
        Dispatcher {
            cfg,
            router,
            annotators,
            table: TaskTable::default(),
            queue: VecDeque::new(),
            idle: Vec::new(),
            next_serial: 0,
            finished: 0,
            monitor,
            ledger,
            records: Vec::new(),
            trace: Vec::new(),
        }
    }

    pub fn router_name(&self) -> &str {
        self.router.name()
    }

    fn log(&mut self, now: SimTime, event: EventKind, task: Option<u64>, annotator: Option<u32>, label: Option<u16>) {
        if self.cfg.trace {
            self.trace.push(TraceEvent { t_us: now.0, event, task, annotator, label });
        }
    }

    fn serial(&self, slot: TaskSlot) -> u64 {
        self.table.get(slot).view.serial
    }

    fn arrive(&mut self, nt: NewTask, ctx: &mut dyn Context<Msg>) {
        if self.cfg.task_limit.is_some_and(|lim| self.next_serial >= lim) {
            return; // the rest of a batch beyond the task limit never enters
        }
        let now = ctx.now();
        let serial = self.next_serial;
        self.next_serial += 1;
        let info = &self.cfg.streams[nt.stream as usize];
        let counted = self.monitor.in_window(now);
        let view = TaskView {
            slot: 0,
            serial,
            stream: nt.stream,
            ttype: info.ttype,
            language: info.language,
            priority: info.priority,
            arrival: now,
            deadline: info.deadline.map(|d| now.plus(Dur(d))),
            open: 0,
            labelers: SmallVec::new(),
            confidence: 0.0,
            gold: false,
            min_accuracy: info.min_accuracy as f32,
            holding_cost: info.holding_cost as f32,
        };
        let model = info.model;
        let slot = self.table.insert(|slot| TaskState {
            view: TaskView { slot, ..view },
            truth: nt.truth,
            difficulty: nt.difficulty,
            prelabel: None,
            stage: 0,
            labels: SmallVec::new(),
            in_flight: 0,
            first_start: None,
            labor_cost: 0.0,
            counted,
            abandonments: 0,
            final_label: None,
        });
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
        match model {
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
        }
    }

    /// Runs the task's workflow from its current stage until it needs people or is final.
    fn advance(&mut self, slot: TaskSlot, ctx: &mut dyn Context<Msg>) {
        loop {
            let overlap = self.cfg.overlap;
            let t = self.table.get_mut(slot);
            let stage = self.cfg.streams[t.view.stream as usize].workflow.order.get(t.stage as usize).copied();
            match stage {
                Some(Stage::Label) => {
                    if t.labels.len() as u16 >= overlap {
                        t.stage += 1;
                        continue;
                    }
                    t.view.open = overlap - t.labels.len() as u16 - t.in_flight;
                    if t.view.open > 0 {
                        self.offer(slot, ctx);
                    }
                    return;
                }
                Some(Stage::Aggregate) => {
                    let classes = self.cfg.streams[t.view.stream as usize].classes;
                    t.final_label = Some(majority(t.labels.iter().map(|l| l.1), classes));
                    t.stage += 1;
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
        if self.table.get(slot).view.open > 0 {
            let serial = self.serial(slot);
            if self.queue.back().is_none_or(|&b| self.serial(b) < serial) {
                self.queue.push_back(slot);
            } else {
                let pos = self.queue.partition_point(|&q| self.table.get(q).view.serial < serial);
                self.queue.insert(pos, slot);
            }
        }
    }

    /// An on-shift annotator has nothing to do: give it a waiting task or mark it idle.
    fn annotator_free(&mut self, a: AnnotatorIdx, ctx: &mut dyn Context<Msg>) {
        let st = RouteState { now: ctx.now(), annotators: &self.annotators, tasks: &self.table, queue: &self.queue, idle: &self.idle };
        match self.router.pick_task(a, &st, ctx.rng()) {
            Some(pos) => {
                let slot = self.queue[pos];
                if self.table.get(slot).view.open <= 1 {
                    self.queue.remove(pos);
                }
                self.assign(slot, a, ctx);
            }
            None => {
                self.annotators[a as usize].idle_since = ctx.now();
                self.idle.push(a);
            }
        }
    }

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
                self.queue.remove(qpos);
            }
            self.assign(slot, a, ctx);
        }
    }

    /// Whether the router wants batch rounds (the build schedules the first one).
    pub fn batch_interval(&self) -> Option<Dur> {
        self.router.batch_interval()
    }

    fn assign(&mut self, slot: TaskSlot, a: AnnotatorIdx, ctx: &mut dyn Context<Msg>) {
        let now = ctx.now();
        debug_assert!(super::eligible(&self.table.get(slot).view, &self.annotators[a as usize]), "router {} broke a hard constraint", self.router.name());
        let t = self.table.get_mut(slot);
        t.view.open -= 1;
        t.in_flight += 1;
        t.view.labelers.push(a);
        if t.first_start.is_none() {
            t.first_start = Some(now);
            if t.counted {
                let wait = now.since(t.view.arrival);
                self.monitor.first_start(wait);
            }
        }
        let serial = t.view.serial;
        self.monitor.busy(a, now);
        let job = self.job(slot);
        ctx.send(self.cfg.annotator_actors[a as usize], Msg::Assign(job));
        self.log(now, EventKind::Assign, Some(serial), Some(a), None);
    }

    fn submit(&mut self, a: AnnotatorIdx, slot: TaskSlot, label: u16, ctx: &mut dyn Context<Msg>) {
        let now = ctx.now();
        self.monitor.idle(a, now);
        let cost = if self.monitor.in_window(now) {
            self.monitor.labels += 1;
            self.ledger.label(a)
        } else {
            0.0
        };
        let classes = self.cfg.streams[self.table.get(slot).view.stream as usize].classes;
        let t = self.table.get_mut(slot);
        t.in_flight -= 1;
        t.labels.push((a, label));
        t.labor_cost += cost;
        t.view.confidence = majority(t.labels.iter().map(|l| l.1), classes).1;
        let serial = t.view.serial;
        let done_labelling = t.labels.len() as u16 >= self.cfg.overlap;
        self.log(now, EventKind::Submit, Some(serial), Some(a), Some(label));
        if done_labelling {
            self.table.get_mut(slot).stage += 1;
            self.advance(slot, ctx);
        }
    }

    fn abandoned(&mut self, a: AnnotatorIdx, slot: TaskSlot, ctx: &mut dyn Context<Msg>) {
        let now = ctx.now();
        self.monitor.idle(a, now);
        let t = self.table.get_mut(slot);
        t.in_flight -= 1;
        t.abandonments += 1;
        t.view.labelers.retain(|x| *x != a);
        let was_open = t.view.open;
        t.view.open += 1;
        let (serial, counted) = (t.view.serial, t.counted);
        if counted {
            self.monitor.abandonments += 1;
        }
        self.log(now, EventKind::Abandon, Some(serial), Some(a), None);
        if was_open == 0 {
            self.offer(slot, ctx);
        }
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

    fn finalize(&mut self, slot: TaskSlot, now: SimTime) {
        let t = self.table.remove(slot);
        self.finished += 1;
        self.monitor.stream_count(t.view.stream, now, false);
        let (label, conf) = t.final_label.unwrap_or((0, 0.0));
        let correct = label == t.truth;
        let missed = t.view.deadline.is_some_and(|d| now > d);
        if self.monitor.in_window(now) {
            self.monitor.finals_in_window += 1;
        }
        if t.counted {
            let m = &mut self.monitor;
            m.completions += 1;
            m.tis_s.push(now.since(t.view.arrival).secs());
            m.correct += correct as u64;
            m.deadline_misses += missed as u64;
        }
        self.log(now, EventKind::Final, Some(t.view.serial), None, Some(label));
        if self.cfg.keep_records {
            let r = self.record(&t, Some((now, label, conf)), missed);
            self.records.push(r);
        }
    }

    fn record(&self, t: &TaskState, fin: Option<(SimTime, u16, f32)>, missed: bool) -> TaskRecord {
        let info = &self.cfg.streams[t.view.stream as usize];
        let arrival = t.view.arrival;
        TaskRecord {
            task: t.view.serial,
            stream: info.name.clone(),
            task_type: info.task_type.clone(),
            priority: info.priority,
            arrival_s: arrival.secs(),
            first_start_s: t.first_start.map(|s| s.secs()),
            final_s: fin.map(|f| f.0.secs()),
            wait_s: t.first_start.map(|s| s.since(arrival).secs()),
            time_in_system_s: fin.map(|f| f.0.since(arrival).secs()),
            labels: t.labels.len() as u16,
            abandonments: t.abandonments,
            final_label: fin.map(|f| f.1),
            confidence: fin.map(|f| f.2),
            true_label: t.truth,
            correct: fin.map(|f| f.1 == t.truth),
            deadline_s: t.view.deadline.map(|d| d.secs()),
            deadline_missed: missed,
            item_cost_usd: t.labor_cost,
            counted: t.counted,
        }
    }

    /// Task limit reached and every task final: the run can end.
    pub fn all_done(&self) -> bool {
        self.cfg.task_limit.is_some_and(|lim| self.finished >= lim)
    }

    /// Ends the run at `end`: closes open intervals, counts deadlines already missed by unfinished
    /// tasks, and records them.
    pub fn finish(&mut self, end: SimTime) {
        self.monitor.close(end);
        self.monitor.queue.set(end, self.queue.len() as f64);
        self.monitor.in_system.set(end, self.table.live() as f64);
        let mut open: Vec<&TaskState> = self.table.iter().collect();
        open.sort_by_key(|t| t.view.serial);
        let mut extra = Vec::new();
        for t in open {
            let missed = t.view.deadline.is_some_and(|d| end > d);
            if t.counted && missed {
                self.monitor.deadline_misses += 1;
            }
            if self.cfg.keep_records {
                extra.push(self.record(t, None, missed));
            }
        }
        self.records.extend(extra);
        self.records.sort_by_key(|r| r.task);
    }

    /// Counted tasks not final at the end.
    pub fn unfinished_counted(&self) -> u64 {
        self.table.iter().filter(|t| t.counted).count() as u64
    }
}

impl Actor<Msg> for Dispatcher {
    fn handle(&mut self, msg: Msg, ctx: &mut dyn Context<Msg>) {
        let now = ctx.now();
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
                self.submit(annotator, task, label, ctx);
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
        self.monitor.in_system.set(now, self.table.live() as f64);
        if self.all_done() {
            ctx.stop();
        }
    }
}
