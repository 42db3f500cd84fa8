//! Quality control inside the core: golden items, trust, rules and their actions (bans, trust
//! overrides), re-opening the labels of a banned annotator, final labels and when they settle.

use super::*;
use crate::dispatch::eligible;
use crate::quality::rules::{fires, RuleInputs};
use crate::spec::RuleAction;
use rand::Rng;

impl Core {
    pub(super) fn observe_trust(&mut self, a: AnnotatorId, right: bool, weight: f64) {
        self.qc.trust.observe(a, right, weight);
        let trust = self.qc.trust.value(a);
        self.annotators[a as usize].trust = trust as f32;
        self.out.push(Effect::TrustChanged { annotator: a, trust });
    }

    /// Gives `a` a golden item of a stream they may take (by the same `eligible` as every task);
    /// false if there is none.
    pub(super) fn give_gold(&mut self, a: AnnotatorId, rng: &mut dyn RngCore) -> bool {
        let view = &self.annotators[a as usize];
        let gold_answers = &self.gold_answers;
        let able: SmallVec<[u16; 8]> = self.gold_views.iter().filter(|g| eligible(g, view) && gold_answers[g.stream as usize].as_ref().is_none_or(|a| !a.is_empty())).map(|g| g.stream).collect();
        if able.is_empty() {
            return false;
        }
        let stream = able[rng.random_range(0..able.len())];
        let answer = match &self.gold_answers[stream as usize] {
            None => rng.random_range(0..self.cfg.streams[stream as usize].classes.max(1)),
            Some(answers) => answers[rng.random_range(0..answers.len())],
        };
        let work = Work::Gold { stream, answer };
        let assignment = self.leases.open(Lease { annotator: a, work, state: LeaseState::Open, pass: 0, stage: 0, opened: self.now });
        self.people[a as usize].holding = Some(assignment);
        let skill = self.cfg.streams[stream as usize].ttype;
        self.out.push(Effect::Assign { assignment, annotator: a, work, prelabel: None, stage: u16::MAX, skill });
        true
    }

    /// Checks the quality rules for `a` and applies those that fire.
    pub(super) fn apply_rules(&mut self, a: AnnotatorId, now: SimTime, rng: &mut dyn RngCore) {
        for i in 0..self.cfg.quality.rules.len() {
            let inputs = RuleInputs { gold: &self.qc.gold, agreement: &self.qc.agreement, pairs: &self.qc.pairs, left: &self.qc.left };
            if !fires(&self.cfg.quality.rules[i], a, &inputs) {
                continue;
            }
            let rule = self.cfg.quality.rules[i].clone();
            self.qc.gold.clear(a);
            self.qc.agreement.clear(a);
            self.qc.pairs.clear(a);
            self.qc.left.clear(a);
            match rule.action {
                RuleAction::SetTrust => {
                    let v = rule.value.unwrap_or(0.5);
                    self.qc.trust.set(a, v);
                    self.annotators[a as usize].trust = v as f32;
                    self.out.push(Effect::TrustChanged { annotator: a, trust: v });
                }
                RuleAction::Ban => {
                    if self.annotators[a as usize].banned {
                        continue;
                    }
                    self.annotators[a as usize].banned = true;
                    let until = rule.duration.map(|d| now.plus(d));
                    self.out.push(Effect::Banned { annotator: a, until });
                    self.drop_idle(a);
                    if let Some(at) = until {
                        self.out.push(Effect::Schedule { at, timer: Timer::Unban(a) });
                    }
                    if rule.reopen {
                        self.people[a as usize].discard = true;
                        self.reopen_labels_of(a, now, rng);
                    }
                }
            }
        }
    }

    /// Discards `a`'s labels on live tasks (in id order) and on final labels given less than
    /// `reopen_within` ago, and collects new ones. A task goes back to its first label stage
    /// with the labels of that stage that remain (a task under review with a verdict still out
    /// keeps its place); a re-opened final label that is a part pulls back the task waiting for
    /// it.
    fn reopen_labels_of(&mut self, a: AnnotatorId, now: SimTime, rng: &mut dyn RngCore) {
        let mut live: Vec<TaskId> = self.views.iter().filter(|(_, _, w)| w.labels.iter().any(|l| l.0 == a)).map(|(id, _, _)| id).collect();
        live.sort_unstable();
        for task in live {
            let stream = self.views.view(task).stream;
            let Some(first) = self.cfg.streams[stream as usize].workflow.first_label else { continue };
            let Some((v, w)) = self.views.both_mut(task) else {
                continue;
            };
            let at_first = w.stage == first;
            if !at_first {
                w.labels.truncate(w.first_len as usize);
            }
            w.labels.retain(|l| l.0 != a);
            if v.review && w.in_flight == 0 {
                if let Some(v) = self.views.get_mut(task) {
                    v.review = false;
                }
                self.set_open(task, 0, now, rng);
            }
            if !self.views.view(task).review {
                if !at_first {
                    self.set_open(task, 0, now, rng);
                    self.back_to_first(task, first);
                }
                if let Some(w) = self.views.work_mut(task) {
                    w.final_label = None;
                }
                self.advance(task, now, rng);
            }
        }
        let mut keep = VecDeque::new();
        let mut again = Vec::new();
        while let Some(p) = self.qc.provisional.pop_front() {
            if p.work.labels.iter().any(|l| l.0 == a) {
                again.push(p)
            } else {
                keep.push_back(p)
            }
        }
        self.qc.provisional = keep;
        // Re-open them all first, then pull back the tasks waiting for the re-opened parts
        // (some may be among them), then walk the rest on from their first label stage.
        let mut reopened = Vec::new();
        let mut ups = Vec::new();
        for p in again {
            let Provisional { at, mut view, work: mut w } = p;
            let task = view.id;
            self.qc.provisional_ids.remove(&task);
            let Some(first) = self.cfg.streams[view.stream as usize].workflow.first_label else { continue };
            if w.stage != first {
                w.labels.truncate(w.first_len as usize);
            }
            w.labels.retain(|l| l.0 != a);
            w.final_label = None;
            w.queued = false;
            w.stale = self.orphans.remove(&task).unwrap_or(0);
            view.open = 0;
            ups.extend(w.part_of);
            self.out.push(Effect::Reopened { task, final_at: at });
            self.views.insert_task(view, w);
            reopened.push((task, first));
        }
        for p in ups {
            self.pull_back(p, now, rng);
        }
        for (task, first) in reopened {
            let Some(w) = self.views.work(task) else { continue };
            if w.stage == NOT_STARTED {
                continue; // pulled back: it waits for its re-opened parts
            }
            if w.stage != first {
                self.back_to_first(task, first);
            } else {
                let sid = self.cfg.streams[self.views.view(task).stream as usize].workflow.stages[first as usize].sid;
                self.out.push(Effect::StageEntered { task, stage: sid });
            }
            self.advance(task, now, rng);
        }
    }

    /// Puts a task back at its first label stage with the labels it kept there and the number
    /// of labels that stage ended up wanting.
    fn back_to_first(&mut self, task: TaskId, first: u8) {
        // Work still out on the stage it leaves belongs to an earlier pass: it comes back extra.
        if let Some(w) = self.views.work_mut(task) {
            w.pass = w.pass.wrapping_add(1);
            w.stale += w.in_flight;
            w.in_flight = 0;
        }
        let target = self.views.work(task).map_or(0, |w| w.first_target);
        self.enter(task, first);
        if let Some(w) = self.views.work_mut(task) {
            w.round = 0;
            w.target = target.max(1);
        }
    }

    /// Re-checks agreement and class-bias rules for the labellers of a task that just became final (after
    /// `finalize`, so a ban's re-open sees the task among the provisional ones).
    pub(super) fn rules_after_final(&mut self, labelers: &[AnnotatorId], now: SimTime, rng: &mut dyn RngCore) {
        if self.qc.agreement_rules {
            for &a in labelers {
                self.apply_rules(a, now, rng);
            }
        }
    }

    /// The task has its final label: it leaves the live set; agreement with the final label feeds
    /// trust and agreement rules; it settles now, or after `reopen_within` when a rule may re-open it.
    pub(super) fn finalize(&mut self, task: TaskId, now: SimTime, rng: &mut dyn RngCore) {
        if self.views.work(task).is_some_and(|w| w.queued) {
            let stream = self.views.view(task).stream;
            if let Some(pos) = self.queue.iter().position(|&q| q == task) {
                self.queue.remove(pos, stream);
            }
        }
        let Some((view, mut w)) = self.views.remove(task) else {
            return;
        };
        let (label, confidence) = w.final_label.unwrap_or((0, 0.0));
        // The labels go with the Final effect; a provisional task keeps a copy for a re-open.
        let labels = if self.qc.keeps_provisional { w.labels.clone() } else { std::mem::take(&mut w.labels) };
        let n = labels.len();
        let at = self.out.len();
        self.out.push(Effect::Final { task, label, confidence, labels });
        let classes = self.cfg.streams[view.stream as usize].classes;
        let refs = match &self.out[at] {
            Effect::Final { labels, .. } if self.qc.class_rules => self.qc.ds.observe(view.stream, classes, labels, false),
            _ => SmallVec::new(),
        };
        for i in 0..n {
            let Effect::Final { labels, .. } = &self.out[at] else { break };
            let (a, l) = labels[i];
            self.qc.agreement.record(a, l == label);
            if self.qc.class_rules && n >= 2 {
                self.qc.pairs.record(a, refs.get(i).copied().unwrap_or(label), l, classes);
            }
            self.observe_trust(a, l == label, 0.5);
        }
        let up = w.part_of;
        self.orphan_leases(task, &w);
        if self.qc.keeps_provisional {
            self.qc.provisional_ids.insert(task);
            self.qc.provisional.push_back(Provisional { at: now, view, work: w });
        } else {
            self.out.push(Effect::Settled { task });
        }
        if let Some(p) = up {
            self.part_final(p, now, rng);
        }
    }

    /// Final labels older than `reopen_within` can no longer change: they settle.
    pub(super) fn settle_due(&mut self, now: SimTime) {
        while self.qc.provisional.front().is_some_and(|p| now.since(p.at).0 >= self.cfg.quality.reopen_within) {
            if let Some(p) = self.qc.provisional.pop_front() {
                self.qc.provisional_ids.remove(&p.view.id);
                self.out.push(Effect::Settled { task: p.view.id });
            }
        }
    }
}
