//! The dispatcher's quality control: golden tasks, trust updates, quality rules and their
//! actions (bans, trust overrides), re-opening the labels of a banned annotator, and the
//! end-of-run batch re-aggregation.

use super::*;
/// A final label that a ban may still re-open.
pub(super) struct Provisional {
    pub(super) at: SimTime,
    pub(super) task: TaskState,
}

/// Quality-control state.
pub(super) struct Qc {
    pub(super) trust: Trust,
    pub(super) gold: History,
    pub(super) agreement: History,
    /// Labels of this annotator in flight are discarded when they arrive (banned with re-open).
    pub(super) discard: Vec<bool>,
    pub(super) provisional: VecDeque<Provisional>,
    pub(super) keeps_provisional: bool,
}

impl Dispatcher {
    /// Accuracy of the batch algorithm over every answer behind the counted final labels.
    pub fn batch_accuracy(&self) -> Option<f64> {
        let method = self.cfg.quality.batch?;
        let classes = self.cfg.streams.iter().map(|s| s.classes as usize).max().unwrap_or(2);
        let (task, rest): (Vec<u32>, Vec<(u32, u32)>) = self.batch_answers.iter().map(|&(t, a, l)| (t, (a, l))).unzip();
        let (worker, label): (Vec<u32>, Vec<u32>) = rest.into_iter().unzip();
        let answers = crate::quality::aggregation::Answers::new(self.batch_truth.len(), self.annotators.len(), classes, task, worker, label).ok()?;
        let fit = method.aggregator().fit(&answers, None).ok()?;
        let truth: Vec<Option<u32>> = self.batch_truth.iter().map(|&t| Some(t)).collect();
        fit.accuracy(&truth)
    }

    /// Gives `a` a golden task of a stream it can label; false if it can label none.
    pub(super) fn give_gold(&mut self, a: AnnotatorIdx, ctx: &mut dyn Context<Msg>) -> bool {
        let view = &self.annotators[a as usize];
        let able: SmallVec<[u16; 8]> = self
            .cfg
            .streams
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                matches!(view.skills.get(s.ttype as usize), Some(Some(_)))
                    && s.language.is_none_or(|l| view.languages & (1u64 << l) != 0)
                    && (view.reserved_for == 0 || view.reserved_for & (1u64 << i) != 0)
            })
            .map(|(i, _)| i as u16)
            .collect();
        if able.is_empty() {
            return false;
        }
        let rng = ctx.rng();
        let stream = able[rng.random_range(0..able.len())];
        let info = &self.cfg.streams[stream as usize];
        let truth = rng.random_range(0..info.classes.max(1));
        let make = self.new_state(u64::MAX, stream, truth, info.mean_difficulty, ctx.now(), false, true);
        let slot = self.table.insert(make);
        self.gold_live += 1;
        self.table.get_mut(slot).view.open = 1;
        self.assign(slot, a, ctx);
        true
    }

    /// Checks the quality rules for `a` and applies those that fire.
    pub(super) fn apply_rules(&mut self, a: AnnotatorIdx, ctx: &mut dyn Context<Msg>) {
        for i in 0..self.cfg.quality.rules.len() {
            if !fires(&self.cfg.quality.rules[i], a, &self.qc.gold, &self.qc.agreement) {
                continue;
            }
            let rule = self.cfg.quality.rules[i].clone();
            self.qc.gold.clear(a);
            self.qc.agreement.clear(a);
            match rule.action {
                RuleAction::SetTrust => {
                    let v = rule.value.unwrap_or(0.5);
                    self.qc.trust.set(a, v);
                    self.annotators[a as usize].trust = v as f32;
                }
                RuleAction::Ban => {
                    if self.annotators[a as usize].banned {
                        continue;
                    }
                    self.annotators[a as usize].banned = true;
                    if self.monitor.in_window(ctx.now()) {
                        self.monitor.bans += 1;
                    }
                    if let Some(pos) = self.idle.iter().position(|&x| x == a) {
                        self.idle.remove(pos);
                    }
                    self.log(ctx.now(), EventKind::Ban, None, Some(a), None);
                    if let Some(d) = rule.duration {
                        let me = ctx.me();
                        ctx.send_in(d, me, Msg::Unban { annotator: a });
                    }
                    if rule.reopen {
                        self.qc.discard[a as usize] = true;
                        self.reopen_labels_of(a, ctx);
                    }
                }
            }
        }
    }

    /// Discards `a`'s labels on live tasks and on final labels given less than `reopen_within`
    /// ago, and collects new ones.
    pub(super) fn reopen_labels_of(&mut self, a: AnnotatorIdx, ctx: &mut dyn Context<Msg>) {
        let now = ctx.now();
        let label_stage = |s: &StreamInfo| s.workflow.order.iter().position(|x| *x == Stage::Label).unwrap_or(0) as u8;
        let live: Vec<TaskSlot> = self.table.iter().filter(|t| !t.view.gold && t.labels.iter().any(|l| l.0 == a)).map(|t| t.view.slot).collect();
        for slot in live {
            let stage = label_stage(&self.cfg.streams[self.table.get(slot).view.stream as usize]);
            let t = self.table.get_mut(slot);
            t.labels.retain(|l| l.0 != a);
            if t.view.review && t.in_flight == 0 {
                t.view.review = false;
                self.set_open(slot, 0, ctx);
            }
            let t = self.table.get_mut(slot);
            if !t.view.review {
                t.stage = stage;
                t.final_label = None;
                self.advance(slot, ctx);
            }
        }
        let mut keep = VecDeque::new();
        let mut again = Vec::new();
        while let Some(p) = self.qc.provisional.pop_front() {
            if p.task.labels.iter().any(|l| l.0 == a) { again.push(p) } else { keep.push_back(p) }
        }
        self.qc.provisional = keep;
        for p in again {
            let mut t = p.task;
            t.labels.retain(|l| l.0 != a);
            t.stage = label_stage(&self.cfg.streams[t.view.stream as usize]);
            t.final_label = None;
            t.queued = false;
            t.view.open = 0;
            t.reopened += 1;
            t.reopened_gap += now.since(p.at).0;
            if self.monitor.in_window(now) {
                self.monitor.reopened += 1;
                self.monitor.finals_in_window -= self.monitor.in_window(p.at) as u64;
            }
            let stream = t.view.stream;
            let serial = t.view.serial;
            let slot = self.table.insert(|slot| TaskState { view: TaskView { slot, ..t.view.clone() }, ..t });
            self.monitor.stream_count(stream, now, true);
            self.log(now, EventKind::Reopen, Some(serial), None, None);
            self.advance(slot, ctx);
        }
    }

    /// Re-checks rules for the labellers of a just-final task (after `finalize`, so a ban's
    /// re-open sees the task among the provisional ones).
    pub(super) fn rules_after_final(&mut self, labelers: &[AnnotatorIdx], ctx: &mut dyn Context<Msg>) {
        if self.cfg.quality.rules.iter().any(|r| r.metric == crate::spec::RuleMetric::Agreement) {
            for &a in labelers {
                self.apply_rules(a, ctx);
            }
        }
    }

    /// Final labels older than `reopen_within` can no longer change: count them.
    pub(super) fn settle_due(&mut self, now: SimTime) {
        while self.qc.provisional.front().is_some_and(|p| now.since(p.at).0 >= self.cfg.quality.reopen_within) {
            let p = self.qc.provisional.pop_front().unwrap();
            self.settle(p.task, p.at);
        }
    }

    /// Trust estimate of every annotator.
    pub fn trust(&self, a: AnnotatorIdx) -> f64 {
        self.qc.trust.value(a)
    }
}
