//! What a live operation changes in the core while it runs, beyond commands: annotators who
//! register, the answers its golden tasks hold, a task's own priority and deadline and the people
//! it must not (or may only) go to, and the time per item learned from handling times. The simulation fixes all of these when it builds the core; the live
//! server calls these methods and logs each call beside its commands, so that replaying the log
//! through a fresh core gives the same state and effects.

use super::*;
use crate::ledger::Pay;

/// What a task may say about itself beyond its stream's defaults.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskOverrides {
    /// Replaces the stream's priority (higher first, for the policies that read it).
    pub priority: Option<u32>,
    /// Replaces the stream's deadline (an absolute time).
    pub deadline: Option<SimTime>,
    /// Never offered to these annotators (as if each had skipped it).
    pub unavailable_for: Vec<AnnotatorId>,
    /// Offered to these annotators only (empty: anyone eligible).
    pub reserved_for: Vec<AnnotatorId>,
}

impl TaskOverrides {
    pub(super) fn apply(self, view: &mut TaskView) {
        if let Some(p) = self.priority {
            view.priority = p;
        }
        if let Some(d) = self.deadline {
            view.deadline = Some(d);
        }
        if !self.unavailable_for.is_empty() {
            view.declined = self.unavailable_for;
        }
        if !self.reserved_for.is_empty() {
            view.reserved_for = Some(Box::new(self.reserved_for));
        }
    }
}

impl Core {
    /// A new annotator joins: they get the next id (ids are dense, never reused), paid `pay`.
    /// `view.idx` is overwritten with that id; their trust starts at `view.trust`.
    pub fn add_annotator(&mut self, mut view: AnnotatorView, pay: Pay) -> AnnotatorId {
        let id = self.annotators.len() as AnnotatorId;
        view.idx = id;
        self.qc.trust.push(view.trust as f64);
        self.qc.gold.push();
        self.qc.agreement.push();
        self.qc.pairs.push();
        if self.qc.class_rules {
            self.qc.ds.push();
        }
        self.qc.left.push();
        self.people.push(Person::default());
        self.annotators.push(view);
        self.cfg.pay.push(pay);
        id
    }

    /// Moves `a`'s routing view of their time per item of `ttype` toward a handling time
    /// measured live (see `CoreConfig::learn_speed`).
    pub(super) fn learn_speed(&mut self, a: AnnotatorId, ttype: u16, opened: SimTime) {
        let Some(w) = self.cfg.learn_speed else { return };
        let secs = self.now.since(opened).0 as f64 / 1e6;
        if let Some(Some(skill)) = self.annotators.get_mut(a as usize).and_then(|v| v.skills.get_mut(ttype as usize)) {
            skill.mean_secs += w * (secs - skill.mean_secs);
        }
    }

    /// The one-coin posterior over a stream's classes given these labels, each weighed by its
    /// labeller's trust now: the weighted consensus's own model, for a final label's report.
    pub fn posteriors(&self, labels: &[(AnnotatorId, u16)], stream: u16) -> Vec<f32> {
        let classes = self.cfg.streams.get(stream as usize).map_or(2, |s| s.classes);
        crate::quality::posterior::one_coin_posteriors(labels.iter().map(|&(a, l)| (self.qc.trust.value(a), l)), classes)
    }

    /// The annotators the core knows, by id.
    pub fn annotators(&self) -> &[AnnotatorView] {
        &self.annotators
    }

    /// Whether some waiting task is one `a` may take (the hard constraints only; a policy may
    /// still pick none of them). A live server asks before feeding `AnnotatorReady`, so that a
    /// person polling with nothing for them changes nothing and logs nothing. Stops at the first
    /// such task: O(waiting tasks) only when there is none.
    pub fn has_waiting_for(&self, a: AnnotatorId) -> bool {
        let Some(view) = self.annotators.get(a as usize) else { return false };
        !view.banned && self.queue.iter().any(|t| crate::dispatch::eligible(self.views.view(*t), view))
    }

    /// Whether an annotator holds an open lease, and which.
    pub fn holding(&self, a: AnnotatorId) -> Option<AssignmentId> {
        self.people.get(a as usize).and_then(|p| p.holding)
    }

    /// Whether `task` is live, waiting for its parts, and has a part still to arrive.
    pub fn awaits_parts(&self, task: TaskId) -> bool {
        self.views.work(task).is_some_and(|w| w.stage == NOT_STARTED && w.parts_to_come > 0)
    }

    /// The answers the golden items of `stream` may have (the classes of the golden tasks the
    /// operation holds); an empty list means no golden item of that stream is handed out.
    pub fn set_gold_answers(&mut self, stream: u16, answers: Vec<u16>) {
        if let Some(slot) = self.gold_answers.get_mut(stream as usize) {
            *slot = Some(answers);
        }
    }

    /// [`Command::TaskArrived`] with the task's own priority, deadline and exclusions.
    pub fn arrive_with(&mut self, task: TaskId, stream: u16, parts: u32, part_of: Option<TaskId>, over: TaskOverrides, now: SimTime, rng: &mut dyn RngCore) -> &[Effect] {
        self.out.clear();
        self.now = now;
        if self.qc.keeps_provisional {
            self.settle_due(now);
        }
        self.leases.forget(now, self.cfg.late_window);
        let cmd = Command::TaskArrived { task, stream, parts, part_of };
        if over.priority.is_some() || over.deadline.is_some() {
            self.queue.mark_per_task();
        }
        self.arrive(cmd, task, stream, parts, part_of, over, now, rng);
        &self.out
    }
}
