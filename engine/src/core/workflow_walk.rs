//! The workflow walk and routing: arrivals, pre-labels, label → aggregate → review → final,
//! the waiting queue, the idle set and the router's picks.

use super::*;
use crate::dispatch::{eligible, RouteState};
use crate::quality::consensus::majority;
use crate::quality::posterior::one_coin_posterior;
use super::workflow::{StageWork, Target};
use crate::spec::{Condition, Verdict};
use rand::Rng;

/// Whether an edge condition holds for a task that just finished a stage. Only `sampled` draws,
/// and only when p > 0. Confidences compare as the core keeps them (f32).
pub(super) fn holds(c: Condition, w: &TaskWork, rng: &mut dyn RngCore) -> bool {
    let conf = w.final_label.map_or(0.0, |f| f.1);
    match c {
        Condition::Always => true,
        Condition::Sampled(p) => p > 0.0 && rng.random::<f64>() < p,
        Condition::ConfidenceBelow(x) => conf < x as f32,
        Condition::ConfidenceAtLeast(x) => conf >= x as f32,
        Condition::Disagree(d) => w.split == d,
        Condition::Verdict(v) => w.verdict == Some(v == Verdict::Accept),
        Condition::ModelConfidenceAbove(x) => w.model_conf.is_some_and(|c| c > x as f32),
        Condition::ModelConfidenceBelow(x) => w.model_conf.is_some_and(|c| c < x as f32),
    }
}

impl Core {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn arrive(&mut self, cmd: Command, task: TaskId, stream: u16, parts: u32, part_of: Option<TaskId>, over: TaskOverrides, now: SimTime, rng: &mut dyn RngCore) {
        if stream as usize >= self.cfg.streams.len() {
            return self.reject(cmd, Rejection::UnknownStream);
        }
        if self.views.get(task).is_some() || self.qc.provisional_ids.contains(&task) {
            return self.reject(cmd, Rejection::DuplicateTask);
        }
        let mut view = Self::blank_view(&self.cfg, task, stream, now, false);
        over.apply(&mut view);
        if let Some(p) = part_of {
            match self.views.work_mut(p) {
                Some(pw) if pw.stage == NOT_STARTED && pw.parts_to_come > 0 => pw.parts_to_come -= 1,
                _ => return self.reject(cmd, Rejection::NotAwaitingParts),
            }
            // A part is due no later than the task that waits for it.
            if let Some(due) = self.views.view(p).deadline {
                view.deadline = Some(view.deadline.map_or(due, |d| d.min(due)));
            }
        }
        self.views.insert_task(view, TaskWork { stage: NOT_STARTED, parts_pending: parts, parts_to_come: parts, part_of, ..TaskWork::default() });
        self.out.push(Effect::Arrived { task, stream });
        if parts > 0 {
            return self.waits_for_parts(task, stream);
        }
        self.start(task, now, rng);
    }

    /// The task's workflow begins (at arrival, or once its parts are final): its queue patience
    /// starts, and it enters the entry stage.
    fn start(&mut self, task: TaskId, now: SimTime, rng: &mut dyn RngCore) {
        let stream = self.views.view(task).stream;
        if let Some(p) = &self.cfg.streams[stream as usize].patience {
            let wait = p.draw(rng).round().max(1.0) as u64;
            self.out.push(Effect::Schedule { at: now.plus(crate::time::Dur(wait)), timer: Timer::Patience(task) });
        }
        self.enter(task, 0);
        self.advance(task, now, rng);
    }

    pub(super) fn prelabelled(&mut self, cmd: Command, task: TaskId, label: u16, confidence: f32, now: SimTime, rng: &mut dyn RngCore) {
        let Some(stream) = self.views.get(task).map(|v| v.stream) else {
            return self.reject(cmd, Rejection::UnknownTask);
        };
        if label >= self.cfg.streams[stream as usize].classes.max(1) {
            return self.reject(cmd, Rejection::LabelOutOfRange);
        }
        if !(0.0..=1.0).contains(&confidence) {
            return self.reject(cmd, Rejection::ConfidenceOutOfRange);
        }
        let Some((v, w)) = self.views.both_mut(task) else { return };
        v.prelabel = Some(label);
        v.model_confidence = Some(confidence);
        w.prelabel = Some(label);
        w.model_conf = Some(confidence);
        self.out.push(Effect::PreLabelled { task, label, confidence });
        if std::mem::take(&mut w.pre_annotating) {
            self.advance(task, now, rng);
        }
        // Otherwise a task past its model stage scored again (a retrained model's new pre-label):
        // people see the new one; the way it took out of the model stage stands.
    }

    /// The work of the stage a task is at (None while it waits for its parts).
    pub(super) fn stage_work(&self, stream: u16, w: &TaskWork) -> Option<StageWork> {
        self.cfg.streams[stream as usize].workflow.stages.get(w.stage as usize).map(|s| s.work)
    }

    /// Consensus on the current label stage's counted labels: (label, confidence), by the
    /// stage's aggregation.
    pub(super) fn consensus(&self, w: &TaskWork, stream: u16) -> (u16, f32) {
        let classes = self.cfg.streams[stream as usize].classes;
        let (weighted, dynamic) = match self.stage_work(stream, w) {
            Some(StageWork::Label { weighted, dynamic, .. }) => (weighted, dynamic.is_some()),
            _ => (false, false),
        };
        let labels = &w.labels[(w.round as usize).min(w.labels.len())..];
        if weighted || dynamic {
            let (label, conf) = one_coin_posterior(labels.iter().map(|&(a, l)| (self.qc.trust.value(a), l)), classes);
            if weighted {
                return (label, conf);
            }
            // Dynamic overlap with majority vote: majority label, posterior confidence.
            let (m, _) = majority(labels.iter().map(|l| l.1), classes);
            return (m, conf);
        }
        majority(labels.iter().map(|l| l.1), classes)
    }

    /// Sets how many assignments a task has open, queueing or unqueueing it as needed.
    pub(super) fn set_open(&mut self, task: TaskId, open: u16, now: SimTime, rng: &mut dyn RngCore) {
        let Some((v, w)) = self.views.both_mut(task) else {
            return;
        };
        v.open = open;
        if open == 0 && w.queued {
            w.queued = false;
            let stream = v.stream;
            if let Some(pos) = self.queue.iter().position(|&q| q == task) {
                self.queue.remove(pos, stream);
            }
        } else if open > 0 && !w.queued {
            self.offer(task, now, rng);
        }
    }

    /// Puts a task at stage `idx` of its workflow: the stage's skill and who may work it go on
    /// its view; a label stage starts a round of labels, a review asks for verdicts, a model
    /// stage buys a pre-label. The caller then walks on (`advance`).
    pub(super) fn enter(&mut self, task: TaskId, idx: u8) {
        let stream = self.views.view(task).stream;
        let node = &self.cfg.streams[stream as usize].workflow.stages[idx as usize];
        let (sid, ttype, who, work) = (node.sid, node.ttype, node.who, node.work);
        self.out.push(Effect::StageEntered { task, stage: sid });
        let Some((v, w)) = self.views.both_mut(task) else { return };
        w.stage = idx;
        w.verdicts = (0, 0);
        v.ttype = ttype;
        v.stage = who;
        v.review = matches!(work, StageWork::Review { .. });
        match work {
            StageWork::Label { overlap, .. } => {
                w.round = w.labels.len() as u16;
                w.target = overlap;
            }
            StageWork::Review { .. } => self.out.push(Effect::ReviewRequested { task }),
            StageWork::Model { model } => {
                w.pre_annotating = true;
                let usd = self.cfg.models[model as usize].cost;
                self.out.push(Effect::ModelPaid { task, model, usd });
                self.out.push(Effect::PreAnnotate { task, model });
            }
        }
    }

    /// Runs the task's workflow from its current stage until it needs people or a model, or is
    /// final. Returns whether it became final.
    pub(super) fn advance(&mut self, task: TaskId, now: SimTime, rng: &mut dyn RngCore) -> bool {
        loop {
            let Some((v, w)) = self.views.both(task) else {
                return false;
            };
            if w.pre_annotating || w.stage == NOT_STARTED {
                return false;
            }
            let stream = v.stream;
            let Some(work) = self.stage_work(stream, w) else { return false };
            match work {
                StageWork::Label { dynamic, .. } => {
                    let (have, in_flight, target) = (w.labels.len() as u16 - w.round, w.in_flight, w.target);
                    if have < target || in_flight > 0 {
                        self.set_open(task, target.saturating_sub(have + in_flight), now, rng);
                        return false;
                    }
                    if let Some((max, goal)) = dynamic {
                        let conf = self.consensus(w, stream).1;
                        if have < max && conf < goal {
                            if let Some(w) = self.views.work_mut(task) {
                                w.target += 1;
                            }
                            continue;
                        }
                    }
                    // Past labelling: no slot stays open (a late label may have filled the last one).
                    self.set_open(task, 0, now, rng);
                    let w = self.views.work(task).expect("live task");
                    let fin = self.consensus(w, stream);
                    let round = &w.labels[w.round as usize..];
                    let split = round.iter().any(|l| l.1 != round[0].1);
                    let first = self.cfg.streams[stream as usize].workflow.first_label == Some(w.stage);
                    if let Some((v, w)) = self.views.both_mut(task) {
                        v.confidence = fin.1;
                        w.final_label = Some(fin);
                        w.split = split;
                        if first {
                            w.first_len = w.labels.len() as u16;
                            w.first_target = w.target;
                        }
                    }
                }
                StageWork::Review { overlap, .. } => {
                    let (acc, rej) = w.verdicts;
                    if acc + rej < overlap || w.in_flight > 0 {
                        self.set_open(task, overlap.saturating_sub(acc + rej + w.in_flight), now, rng);
                        return false;
                    }
                    self.set_open(task, 0, now, rng);
                    if let Some((v, w)) = self.views.both_mut(task) {
                        v.review = false;
                        w.verdict = Some(acc > rej);
                        w.split = acc > 0 && rej > 0;
                    }
                }
                StageWork::Model { .. } => {
                    // The pre-label is in: it is the current label until people give one.
                    if let Some(w) = self.views.work_mut(task) {
                        if w.final_label.is_none() {
                            w.final_label = w.prelabel.map(|l| (l, w.model_conf.unwrap_or(0.0)));
                        }
                        w.split = false;
                    }
                }
            }
            match self.route_out(task, rng) {
                Target::Stage(j) => self.enter(task, j),
                Target::Final => {
                    self.finalize(task, now, rng);
                    return true;
                }
                Target::Rework => self.rework(task),
            }
        }
    }

    /// The edge a task leaves its current stage by: the first whose condition holds (edges into
    /// a review stage, or to rework, that the task has used up are passed over unevaluated);
    /// none: final.
    fn route_out(&self, task: TaskId, rng: &mut dyn RngCore) -> Target {
        let (v, w) = self.views.both(task).expect("live task");
        let wf = &self.cfg.streams[v.stream as usize].workflow;
        let node = &wf.stages[w.stage as usize];
        for e in &node.edges {
            let used_up = |s: &StageWork| matches!(*s, StageWork::Review { max_reworks, .. } if w.reworks >= max_reworks);
            let passed = match e.to {
                Target::Stage(j) => used_up(&wf.stages[j as usize].work),
                Target::Rework => used_up(&node.work) || wf.first_label.is_none(),
                Target::Final => false,
            };
            if !passed && holds(e.when, w, rng) {
                return e.to;
            }
        }
        Target::Final
    }

    /// A review sent the task back: its labels go and a fresh round starts at the first label
    /// stage.
    fn rework(&mut self, task: TaskId) {
        let stream = self.views.view(task).stream;
        let Some(first) = self.cfg.streams[stream as usize].workflow.first_label else { return };
        if let Some((v, w)) = self.views.both_mut(task) {
            w.reworks += 1;
            w.labels.clear();
            w.first_len = 0;
            v.labelers.clear();
            w.final_label = None;
        }
        self.out.push(Effect::Rework { task });
        self.enter(task, first);
    }

    /// A part of `p` became final: `p` starts once all its parts are.
    pub(super) fn part_final(&mut self, p: TaskId, now: SimTime, rng: &mut dyn RngCore) {
        let Some(w) = self.views.work_mut(p) else { return };
        w.parts_pending = w.parts_pending.saturating_sub(1);
        if w.parts_pending == 0 && w.parts_to_come == 0 && w.stage == NOT_STARTED {
            self.start(p, now, rng);
        }
    }

    /// A part of `p` was re-opened: `p` waits for it again. Live and waiting: one more part to
    /// wait for. Live in its stages: it goes back to waiting and its labels of this pass go
    /// (answers still out come back as extras). Final and provisional: it is re-opened
    /// (`Reopened`) and waits; its own dependant is pulled back in turn.
    pub(super) fn pull_back(&mut self, p: TaskId, now: SimTime, rng: &mut dyn RngCore) {
        if let Some(w) = self.views.work(p) {
            if w.stage != NOT_STARTED {
                self.set_open(p, 0, now, rng);
                let stream = self.views.view(p).stream;
                if let Some((v, w)) = self.views.both_mut(p) {
                    Self::back_to_waiting(v, w);
                }
                self.waits_for_parts(p, stream);
            }
            if let Some(w) = self.views.work_mut(p) {
                w.parts_pending += 1;
            }
            return;
        }
        let Some(i) = self.qc.provisional.iter().position(|x| x.view.id == p) else { return };
        let Some(Provisional { at, mut view, work: mut w }) = self.qc.provisional.remove(i) else { return };
        self.qc.provisional_ids.remove(&p);
        w.stale = self.orphans.remove(&p).unwrap_or(0);
        Self::back_to_waiting(&mut view, &mut w);
        w.parts_pending = 1;
        view.open = 0;
        w.queued = false;
        let (stream, up) = (view.stream, w.part_of);
        self.out.push(Effect::Reopened { task: p, final_at: at });
        self.views.insert_task(view, w);
        self.waits_for_parts(p, stream);
        if let Some(up) = up {
            self.pull_back(up, now, rng);
        }
    }

    /// The task (of `stream`) enters its stream's "waiting for parts" row.
    fn waits_for_parts(&mut self, task: TaskId, stream: u16) {
        let sid = self.cfg.streams[stream as usize].waiting_sid.unwrap_or(u16::MAX);
        self.out.push(Effect::StageEntered { task, stage: sid });
    }

    fn back_to_waiting(v: &mut TaskView, w: &mut TaskWork) {
        w.stage = NOT_STARTED;
        w.pass = w.pass.wrapping_add(1);
        w.stale += w.in_flight;
        w.in_flight = 0;
        w.labels.clear();
        w.round = 0;
        w.first_len = 0;
        w.final_label = None;
        w.verdict = None;
        w.pre_annotating = false;
        v.review = false;
        v.labelers.clear();
    }

    /// A task's queue patience ran out: it leaves if no work on it has started.
    pub(super) fn patience_over(&mut self, task: TaskId) {
        if self.views.work(task).is_none_or(|w| w.started) {
            return;
        }
        if self.views.work(task).is_some_and(|w| w.queued) {
            let stream = self.views.view(task).stream;
            if let Some(pos) = self.queue.iter().position(|&q| q == task) {
                self.queue.remove(pos, stream);
            }
        }
        let Some((view, w)) = self.views.remove(task) else { return };
        self.orphan_leases(task, &w);
        self.out.push(Effect::LeftUnserved { task, stream: view.stream });
        // The task that waits for it can never start: it leaves too (and so on up).
        let mut up = w.part_of;
        while let Some(p) = up {
            if self.views.work(p).is_none_or(|w| w.stage != NOT_STARTED) {
                break;
            }
            let Some((view, w)) = self.views.remove(p) else { break };
            self.orphan_leases(p, &w);
            self.out.push(Effect::LeftUnserved { task: p, stream: view.stream });
            up = w.part_of;
        }
    }

    /// Offers a task that is not in the queue to the idle annotators; queues what is left open.
    pub(super) fn offer(&mut self, task: TaskId, now: SimTime, rng: &mut dyn RngCore) {
        while self.views.view(task).open > 0 && !self.idle.is_empty() {
            let st = RouteState { now, annotators: &self.annotators, tasks: &self.views, queue: &self.queue, idle: &self.idle };
            let Some(pos) = self.router.pick_annotator(task, &st, rng) else {
                break;
            };
            let Some(a) = self.take_idle(pos) else { break };
            self.assign(task, a);
        }
        let v = self.views.view(task);
        let (open, stream) = (v.open, v.stream);
        let Some(w) = self.views.work_mut(task) else {
            return;
        };
        if open > 0 && !w.queued {
            w.queued = true;
            if self.queue.back().is_none_or(|&b| b < task) {
                self.queue.push_back(task, stream);
            } else {
                let pos = self.queue.partition_point(|&q| q < task);
                self.queue.insert(pos, task, stream);
            }
        }
    }

    /// Removes the annotator at `pos` of the idle set (None if a router answered out of range).
    fn take_idle(&mut self, pos: usize) -> Option<AnnotatorId> {
        if pos >= self.idle.len() {
            return None;
        }
        let a = self.idle.remove(pos);
        self.people[a as usize].idle = false;
        Some(a)
    }

    /// Takes `a` out of the idle set if there.
    pub(super) fn drop_idle(&mut self, a: AnnotatorId) {
        if self.people[a as usize].idle {
            if let Some(pos) = self.idle.iter().position(|&x| x == a) {
                self.idle.remove(pos);
            }
            self.people[a as usize].idle = false;
        }
    }

    pub(super) fn ready(&mut self, cmd: Command, a: AnnotatorId, now: SimTime, rng: &mut dyn RngCore) {
        let Some(p) = self.people.get_mut(a as usize) else {
            return self.reject(cmd, Rejection::UnknownAnnotator);
        };
        if p.holding.is_some() {
            return self.reject(cmd, Rejection::StillHolding);
        }
        if !p.present {
            p.present = true;
            self.out.push(Effect::OnShift { annotator: a });
        }
        if !p.idle {
            self.annotator_free(a, now, rng);
        }
    }

    pub(super) fn away(&mut self, cmd: Command, a: AnnotatorId) {
        let Some(p) = self.people.get_mut(a as usize) else {
            return self.reject(cmd, Rejection::UnknownAnnotator);
        };
        p.present = false;
        self.drop_idle(a);
        self.out.push(Effect::OffShift { annotator: a });
    }

    /// An on-shift annotator has nothing to do: maybe a golden item, else a waiting task, else idle.
    pub(super) fn annotator_free(&mut self, a: AnnotatorId, now: SimTime, rng: &mut dyn RngCore) {
        if self.annotators[a as usize].banned {
            return;
        }
        if self.cfg.quality.gold_rate > 0.0 && rng.random::<f64>() < self.cfg.quality.gold_rate && self.give_gold(a, rng) {
            return;
        }
        let st = RouteState { now, annotators: &self.annotators, tasks: &self.views, queue: &self.queue, idle: &self.idle };
        match self.router.pick_task(a, &st, rng).filter(|&pos| pos < self.queue.len()) {
            Some(pos) => {
                let task = self.queue[pos];
                let v = self.views.view(task);
                if v.open <= 1 {
                    let stream = v.stream;
                    self.queue.remove(pos, stream);
                    if let Some(w) = self.views.work_mut(task) {
                        w.queued = false;
                    }
                }
                self.assign(task, a);
            }
            None => {
                self.annotators[a as usize].idle_since = now;
                self.idle.push(a);
                self.people[a as usize].idle = true;
            }
        }
    }

    /// Hands one slot of a live task to `a` (a lease opens).
    pub(super) fn assign(&mut self, task: TaskId, a: AnnotatorId) {
        debug_assert!(eligible(self.views.view(task), &self.annotators[a as usize]), "router {} broke a hard constraint", self.router.name());
        let Some((v, w)) = self.views.both_mut(task) else {
            return;
        };
        v.open = v.open.saturating_sub(1);
        v.labelers.push(a);
        w.in_flight += 1;
        w.started = true;
        let work = if v.review { Work::Review { task, proposed: w.final_label.map_or(0, |f| f.0) } } else { Work::Label { task } };
        let (prelabel, pass, stage, skill, stream) = (w.prelabel, w.pass, w.stage, v.ttype, v.stream);
        let assignment = self.leases.open(Lease { annotator: a, work, state: LeaseState::Open, pass, stage, opened: self.now });
        self.people[a as usize].holding = Some(assignment);
        let sid = self.cfg.streams[stream as usize].workflow.stages.get(stage as usize).map_or(u16::MAX, |s| s.sid);
        self.out.push(Effect::Assign { assignment, annotator: a, work, prelabel, stage: sid, skill });
    }

    /// One round of a batch policy: apply its pairs, skipping any that are no longer valid.
    pub(super) fn batch_round(&mut self, now: SimTime, rng: &mut dyn RngCore) {
        let st = RouteState { now, annotators: &self.annotators, tasks: &self.views, queue: &self.queue, idle: &self.idle };
        let pairs = self.router.assign_batch(&st, rng);
        for (task, a) in pairs {
            let Some(ipos) = self.idle.iter().position(|&x| x == a) else {
                continue;
            };
            let Some(qpos) = self.queue.iter().position(|&q| q == task) else {
                continue;
            };
            let v = self.views.view(task);
            if !eligible(v, &self.annotators[a as usize]) {
                continue;
            }
            let (open, stream) = (v.open, v.stream);
            self.take_idle(ipos);
            if open <= 1 {
                self.queue.remove(qpos, stream);
                if let Some(w) = self.views.work_mut(task) {
                    w.queued = false;
                }
            }
            self.assign(task, a);
        }
        if let Some(dt) = self.router.batch_interval() {
            self.out.push(Effect::Schedule { at: now.plus(crate::time::Dur(dt.0.max(1))), timer: Timer::BatchRound });
        }
    }
}
