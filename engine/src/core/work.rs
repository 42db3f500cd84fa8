//! Answers and give-backs: submissions on time, late, duplicated or invalid; expiries, returns
//! and skips. The rule for late work: a late label is stored, never thrown away; it counts only
//! if its task still labels and has an unleased slot (that slot closes), otherwise it is an extra.

use super::*;
use crate::ledger::Pay;
use super::workflow::StageWork;

impl Core {
    /// [USD] per-item pay of one answer by `a` (0 for hourly pay).
    fn item_pay(&self, a: AnnotatorId) -> f64 {
        match self.cfg.pay.get(a as usize) {
            Some(Pay::PerItem(r)) => *r,
            _ => 0.0,
        }
    }

    /// An open lease of an earlier pass on a task no longer live closed.
    pub(super) fn orphan_closed(&mut self, task: TaskId) {
        if let Some(n) = self.orphans.get_mut(&task) {
            *n -= 1;
            if *n == 0 {
                self.orphans.remove(&task);
            }
        }
    }

    /// Leases of earlier passes that a task leaving the live set still has out.
    pub(super) fn orphan_leases(&mut self, task: TaskId, w: &TaskWork) {
        if w.stale > 0 {
            self.orphans.insert(task, w.stale);
        }
    }

    /// The lease `id` names, or a rejection saying why there is none.
    fn lease_or_reject(&mut self, cmd: Command, id: AssignmentId) -> Option<Lease> {
        match self.leases.lookup(id) {
            Lookup::Known(l) => Some(l),
            Lookup::Forgotten => {
                self.reject(cmd, Rejection::ForgottenAssignment);
                None
            }
            Lookup::Unknown => {
                self.reject(cmd, Rejection::UnknownAssignment);
                None
            }
        }
    }

    /// Who labelled or holds the task now, kept for the agreement rules run once it is final
    /// (empty when no rule looks at agreement).
    fn rule_snapshot(&self, task: TaskId) -> SmallVec<[AnnotatorId; 4]> {
        if self.qc.agreement_rules {
            self.views.view(task).labelers.clone()
        } else {
            SmallVec::new()
        }
    }

    /// Whether the task collects labels now, at the stage and in the pass of its workflow that
    /// the lease was handed out in.
    fn at_label_stage(&self, task: TaskId, (pass, stage): (u16, u8)) -> bool {
        let Some((v, w)) = self.views.both(task) else {
            return false;
        };
        w.pass == pass && w.stage == stage && !v.review && !w.pre_annotating && matches!(self.stage_work(v.stream, w), Some(StageWork::Label { .. }))
    }

    pub(super) fn submitted(&mut self, cmd: Command, id: AssignmentId, a: AnnotatorId, answer: Answer, now: SimTime, rng: &mut dyn RngCore) {
        let Some(lease) = self.lease_or_reject(cmd, id) else { return };
        if lease.annotator != a {
            return self.reject(cmd, Rejection::NotTheHolder);
        }
        let late = match lease.state {
            LeaseState::Answered(_) => return self.out.push(Effect::Duplicate { assignment: id }),
            LeaseState::Open => false,
            LeaseState::Closed(_) => true,
        };
        let label = match (lease.work, answer) {
            (Work::Review { .. }, Answer::Verdict { .. }) => None,
            (Work::Label { task }, Answer::Label(l)) => {
                let stream = self.views.get(task).map(|v| v.stream);
                if stream.is_some_and(|s| l >= self.cfg.streams[s as usize].classes.max(1)) {
                    return self.reject(cmd, Rejection::LabelOutOfRange);
                }
                Some(l)
            }
            (Work::Gold { stream, .. }, Answer::Label(l)) => {
                if l >= self.cfg.streams[stream as usize].classes.max(1) {
                    return self.reject(cmd, Rejection::LabelOutOfRange);
                }
                Some(l)
            }
            _ => return self.reject(cmd, Rejection::WrongAnswerKind),
        };
        self.leases.set(id, LeaseState::Answered(now));
        if !late {
            self.people[a as usize].holding = None;
        }
        let kind = lease.work.kind();
        self.out.push(Effect::LeaseClosed { assignment: id, annotator: a, kind, task: lease.work.task(), how: Closed::Answered, late });
        if !late && self.cfg.learn_speed.is_some() {
            let ttype = match lease.work {
                Work::Gold { stream, .. } => Some(self.cfg.streams[stream as usize].ttype),
                Work::Label { task } => self.views.get(task).map(|v| self.cfg.streams[v.stream as usize].workflow.stages.get(lease.stage as usize).map_or(v.ttype, |s| s.ttype)),
                Work::Review { .. } => None,
            };
            if let Some(t) = ttype {
                self.learn_speed(a, t, lease.opened);
            }
        }
        let usd = self.item_pay(a);
        match (lease.work, answer) {
            (Work::Gold { stream, answer: known }, _) => {
                let l = label.unwrap_or(0);
                let right = l == known;
                self.out.push(Effect::Paid { annotator: a, kind, usd, task: None });
                self.out.push(Effect::GoldChecked { assignment: id, annotator: a, stream, label: l, expected: known, right });
                self.qc.gold.record(a, right);
                if self.qc.class_rules {
                    let k = self.cfg.streams[stream as usize].classes;
                    self.qc.ds.gold(a, stream, k, known, l, false);
                    self.qc.pairs.record(a, known, l, k);
                }
                self.record_position(id, a, Some(stream), l);
                self.observe_trust(a, right, 1.0);
                self.apply_rules(a, now, rng);
            }
            (Work::Review { task, .. }, Answer::Verdict { accept }) => self.verdict(id, a, task, accept, (late, lease.pass, lease.stage), usd, now, rng),
            (Work::Label { task }, _) => {
                let l = label.unwrap_or(0);
                let stream = self.views.get(task).map(|v| v.stream);
                self.label(id, a, task, l, (late, lease.pass, lease.stage), usd, now, rng);
                if self.record_position(id, a, stream, l) {
                    self.apply_rules(a, now, rng);
                }
            }
            _ => {}
        }
    }

    /// On a preference pair, with a position-bias rule: records whether `a` picked the answer
    /// shown on the left (`quality::bias::shown_swapped`). True when it recorded.
    fn record_position(&mut self, id: AssignmentId, a: AnnotatorId, stream: Option<u16>, l: u16) -> bool {
        if !self.qc.position_rules || !stream.is_some_and(|s| self.cfg.streams[s as usize].pairwise()) {
            return false;
        }
        self.qc.left.record(a, crate::quality::bias::picked_left(id.0, l));
        true
    }

    /// A label on labelling work.
    #[allow(clippy::too_many_arguments)]
    fn label(&mut self, id: AssignmentId, a: AnnotatorId, task: TaskId, l: u16, (late, pass, stage): (bool, u16, u8), usd: f64, now: SimTime, rng: &mut dyn RngCore) {
        let extra = |core: &mut Core, fate: LabelFate| {
            core.out.push(Effect::Paid { annotator: a, kind: WorkKind::Labeling, usd, task: None });
            core.out.push(Effect::LabelStored { task, assignment: id, annotator: a, label: l, fate, late });
        };
        if self.views.get(task).is_none() {
            // Final (or settled) meanwhile: kept as an extra.
            if !late {
                self.orphan_closed(task);
            }
            return extra(self, LabelFate::Extra);
        }
        let labelers = self.rule_snapshot(task);
        if !late {
            if let Some(w) = self.views.work_mut(task) {
                if w.pass == pass {
                    w.in_flight -= 1;
                } else {
                    w.stale -= 1;
                }
            }
        }
        let fate = if self.people[a as usize].discard {
            LabelFate::Discarded
        } else {
            let room = self.at_label_stage(task, (pass, stage)) && {
                let (v, w) = (self.views.view(task), self.views.work(task).expect("live task"));
                let counted = w.labels.len() as u16 - w.round;
                // On time: its slot is its own lease. Late: only an unleased open slot, and only if
                // the annotator has no other label or lease on the task.
                if late {
                    v.open > 0 && !v.labelers.contains(&a) && counted < w.target
                } else {
                    counted < w.target
                }
            };
            if room {
                LabelFate::Counted
            } else {
                LabelFate::Extra
            }
        };
        if fate != LabelFate::Counted {
            extra(self, fate);
            if !late && self.advance(task, now, rng) {
                self.rules_after_final(&labelers, now, rng);
            }
            return;
        }
        self.out.push(Effect::Paid { annotator: a, kind: WorkKind::Labeling, usd, task: Some(task) });
        self.out.push(Effect::LabelStored { task, assignment: id, annotator: a, label: l, fate, late });
        let stream = self.views.view(task).stream;
        if let Some(w) = self.views.work_mut(task) {
            w.labels.push((a, l));
        }
        if late {
            if let Some(v) = self.views.get_mut(task) {
                v.labelers.push(a);
            }
        }
        let conf = self.consensus(self.views.work(task).expect("live task"), stream).1;
        if let Some(v) = self.views.get_mut(task) {
            v.confidence = conf;
        }
        if self.advance(task, now, rng) {
            let mut snapshot = labelers;
            if late {
                snapshot.push(a);
            }
            self.rules_after_final(&snapshot, now, rng);
        }
    }

    /// A review verdict.
    #[allow(clippy::too_many_arguments)]
    fn verdict(&mut self, id: AssignmentId, a: AnnotatorId, task: TaskId, accept: bool, (late, pass, stage): (bool, u16, u8), usd: f64, now: SimTime, rng: &mut dyn RngCore) {
        // On time, the review slot is this lease's; late, only an unleased one, and only if the
        // annotator has no other verdict or lease on the task.
        let applies = match self.views.both(task) {
            Some((v, w)) => w.pass == pass && w.stage == stage && v.review && (!late || (v.open > 0 && !v.labelers.contains(&a))),
            _ => false,
        };
        if !applies {
            if !late {
                // A live task here is in a later pass: the lease was of an earlier one.
                match self.views.work_mut(task) {
                    Some(w) => w.stale = w.stale.saturating_sub(1),
                    None => self.orphan_closed(task),
                }
            }
            self.out.push(Effect::Paid { annotator: a, kind: WorkKind::Review, usd, task: None });
            self.out.push(Effect::Reviewed { task, assignment: id, annotator: a, accepted: accept, applied: false });
            if !late && self.advance(task, now, rng) {
                let labelers = self.rule_snapshot(task);
                self.rules_after_final(&labelers, now, rng);
            }
            return;
        }
        let labelers = self.rule_snapshot(task);
        self.out.push(Effect::Paid { annotator: a, kind: WorkKind::Review, usd, task: Some(task) });
        self.out.push(Effect::Reviewed { task, assignment: id, annotator: a, accepted: accept, applied: true });
        if late {
            // One unleased review slot closes.
            let open = self.views.view(task).open - 1;
            self.set_open(task, open, now, rng);
        }
        let Some((v, w)) = self.views.both_mut(task) else {
            return;
        };
        if late {
            v.labelers.push(a);
        } else {
            w.in_flight -= 1;
        }
        if accept {
            w.verdicts.0 += 1;
        } else {
            w.verdicts.1 += 1;
        }
        if self.advance(task, now, rng) {
            self.rules_after_final(&labelers, now, rng);
        }
    }

    /// A lease ends unanswered: it expired (`who` = None) or its holder gave it back.
    pub(super) fn give_back(&mut self, cmd: Command, id: AssignmentId, who: Option<AnnotatorId>, how: Closed, now: SimTime, rng: &mut dyn RngCore) {
        let Some(lease) = self.lease_or_reject(cmd, id) else { return };
        if who.is_some_and(|w| w != lease.annotator) {
            return self.reject(cmd, Rejection::NotTheHolder);
        }
        if lease.state != LeaseState::Open {
            return self.reject(cmd, Rejection::LeaseNotOpen);
        }
        let a = lease.annotator;
        self.leases.set(id, LeaseState::Closed(now));
        self.people[a as usize].holding = None;
        self.out.push(Effect::LeaseClosed { assignment: id, annotator: a, kind: lease.work.kind(), task: lease.work.task(), how, late: false });
        let Some(task) = lease.work.task() else {
            return;
        }; // a golden item is dropped
        let Some((v, w)) = self.views.both_mut(task) else {
            return self.orphan_closed(task);
        };
        if w.pass != lease.pass {
            w.stale -= 1;
            return; // a lease of an earlier pass: its slot is gone
        }
        w.in_flight -= 1;
        v.labelers.retain(|x| *x != a);
        if how == Closed::Skipped && !v.declined.contains(&a) {
            v.declined.push(a);
        }
        let open = v.open + 1;
        self.set_open(task, open, now, rng);
    }

    pub(super) fn unban(&mut self, cmd: Command, a: AnnotatorId, now: SimTime, rng: &mut dyn RngCore) {
        if a as usize >= self.annotators.len() {
            return self.reject(cmd, Rejection::UnknownAnnotator);
        }
        self.annotators[a as usize].banned = false;
        self.people[a as usize].discard = false;
        self.out.push(Effect::Unbanned { annotator: a });
        let p = self.people[a as usize];
        if p.present && p.holding.is_none() && !p.idle {
            self.annotator_free(a, now, rng);
        }
    }
}
