//! The workflow walk and routing: arrivals, pre-labels, label → aggregate → review → final,
//! the waiting queue, the idle set and the router's picks.

use super::*;
use crate::dispatch::{eligible, RouteState};
use crate::quality::consensus::majority;
use crate::quality::posterior::one_coin_posterior;
use crate::spec::Stage;
use rand::Rng;

impl Core {
    pub(super) fn arrive(&mut self, cmd: Command, task: TaskId, stream: u16, now: SimTime, rng: &mut dyn RngCore) {
        if stream as usize >= self.cfg.streams.len() {
            return self.reject(cmd, Rejection::UnknownStream);
        }
        if self.views.get(task).is_some() || self.qc.provisional_ids.contains(&task) {
            return self.reject(cmd, Rejection::DuplicateTask);
        }
        let model = self.cfg.streams[stream as usize].model;
        self.views.insert_task(
            Self::blank_view(&self.cfg, task, stream, now, false),
            TaskWork {
                stage: 0,
                labels: SmallVec::new(),
                in_flight: 0,
                prelabel: None,
                pre_annotating: model.is_some(),
                started: false,
                final_label: None,
                target: self.cfg.streams[stream as usize].overlap,
                queued: false,
                reworks: 0,
            },
        );
        self.out.push(Effect::Arrived { task, stream });
        if let Some(p) = &self.cfg.streams[stream as usize].patience {
            let wait = p.draw(rng).round().max(1.0) as u64;
            self.out.push(Effect::Schedule { at: now.plus(crate::time::Dur(wait)), timer: Timer::Patience(task) });
        }
        match model {
            Some(m) => {
                let usd = self.cfg.models[m as usize].cost;
                self.out.push(Effect::ModelPaid { task, model: m, usd });
                self.out.push(Effect::PreAnnotate { task, model: m });
            }
            None => {
                self.advance(task, now, rng);
            }
        }
    }

    pub(super) fn prelabelled(&mut self, cmd: Command, task: TaskId, label: u16, now: SimTime, rng: &mut dyn RngCore) {
        let Some(stream) = self.views.get(task).map(|v| v.stream) else {
            return self.reject(cmd, Rejection::UnknownTask);
        };
        if label >= self.cfg.streams[stream as usize].classes.max(1) {
            return self.reject(cmd, Rejection::LabelOutOfRange);
        }
        let Some(w) = self.views.work_mut(task) else { return };
        w.prelabel = Some(label);
        w.pre_annotating = false;
        self.out.push(Effect::PreLabelled { task, label });
        self.advance(task, now, rng);
    }

    /// Consensus on a task's counted labels: (label, confidence).
    pub(super) fn consensus(&self, w: &TaskWork, stream: u16) -> (u16, f32) {
        let classes = self.cfg.streams[stream as usize].classes;
        if self.cfg.quality.weighted || self.cfg.quality.dynamic.is_some() {
            let (label, conf) = one_coin_posterior(w.labels.iter().map(|&(a, l)| (self.qc.trust.value(a), l)), classes);
            if self.cfg.quality.weighted {
                return (label, conf);
            }
            // Dynamic overlap with majority vote: majority label, posterior confidence.
            let (m, _) = majority(w.labels.iter().map(|l| l.1), classes);
            return (m, conf);
        }
        majority(w.labels.iter().map(|l| l.1), classes)
    }

    /// Index of the label stage in a stream's workflow.
    pub(super) fn label_stage(&self, stream: u16) -> u8 {
        self.cfg.streams[stream as usize].workflow.order.iter().position(|s| *s == Stage::Label).unwrap_or(0) as u8
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

    /// Runs the task's workflow from its current stage until it needs people or is final.
    /// Returns whether it became final.
    pub(super) fn advance(&mut self, task: TaskId, now: SimTime, rng: &mut dyn RngCore) -> bool {
        loop {
            let Some((v, w)) = self.views.both(task) else {
                return false;
            };
            if w.pre_annotating {
                return false;
            }
            let (stream, review) = (v.stream, v.review);
            let stage = self.cfg.streams[stream as usize].workflow.order.get(w.stage as usize).copied();
            let (have, in_flight, target) = (w.labels.len() as u16, w.in_flight, w.target);
            match stage {
                Some(Stage::Label) => {
                    if have >= target && in_flight == 0 {
                        if let Some((max, goal)) = self.cfg.quality.dynamic {
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
                        if let Some(w) = self.views.work_mut(task) {
                            w.stage += 1;
                        }
                        continue;
                    }
                    self.set_open(task, target.saturating_sub(have + in_flight), now, rng);
                    return false;
                }
                Some(Stage::Aggregate) => {
                    let fin = self.consensus(w, stream);
                    if let Some((v, w)) = self.views.both_mut(task) {
                        v.confidence = fin.1;
                        w.final_label = Some(fin);
                        w.stage += 1;
                    }
                }
                Some(Stage::Review) => {
                    let wanted = match &self.cfg.quality.review {
                        Some(r) if !review && w.reworks < r.max_reworks => {
                            let conf = w.final_label.map_or(0.0, |f| f.1);
                            conf < r.below_confidence || (r.sample > 0.0 && rng.random::<f64>() < r.sample)
                        }
                        _ => false,
                    };
                    if wanted {
                        if let Some(v) = self.views.get_mut(task) {
                            v.review = true;
                        }
                        self.out.push(Effect::ReviewRequested { task });
                        self.set_open(task, 1, now, rng);
                        return false;
                    }
                    if let Some(w) = self.views.work_mut(task) {
                        w.stage += 1;
                    }
                }
                None => {
                    self.finalize(task, now);
                    return true;
                }
            }
        }
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
        if let Some((view, _)) = self.views.remove(task) {
            self.out.push(Effect::LeftUnserved { task, stream: view.stream });
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
        let prelabel = w.prelabel;
        let assignment = self.leases.open(Lease { annotator: a, work, state: LeaseState::Open });
        self.people[a as usize].holding = Some(assignment);
        self.out.push(Effect::Assign { assignment, annotator: a, work, prelabel });
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
