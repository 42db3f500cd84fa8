//! The decision core: the workflow, quality control, routing calls and ledger entries of the
//! operation as one pure state machine, shared by both runtimes.
//!
//! ```text
//!  simulation adapter (run::Dispatcher)          live adapter (tessera-live, inside a store transaction)
//!              │ Command + now + rng                       │
//!              ▼                                           ▼
//!        Core::handle ── workflow walk, routing (Router), golden tasks, trust, rules, bans, re-open
//!              │ Vec<Effect>: to carry out (Assign, PreAnnotate, Schedule) and events (the rest)
//!              ▼
//!  messages and timers; Books (monitor, ledger,      rows, replies, outbox, webhooks, /metrics
//!  tasks.csv, trace v2)
//! ```
//!
//! The core has no kernel, no event list, no messages and no hidden truth: tasks, assignments and
//! annotators are durable ids ([`ids`]), time is a [`SimTime`] offset from an epoch passed in
//! with each command, randomness is the caller's `&mut dyn RngCore`. Given the same commands,
//! times and random stream it emits the same effects, byte for byte (the replay test checks it).
//!
//! # Transition table
//!
//! State of a task: (*waiting for parts*) → a walk through its stream's workflow graph
//! ([`workflow`]): at a *model* stage it waits for a pre-label, at a *label* stage it collects
//! `target` labels (dynamic overlap may raise the target) and aggregates them, at a *review* stage
//! it collects verdicts; when a stage is done its first edge whose condition holds leads to the
//! next stage, to rework (a fresh round at the first label stage) or to **final** (provisional for
//! `reopen_within` when a rule can re-open it) → **settled**. Leases: *open* → *answered*, or
//! *open* → *closed* (expired, returned, skipped) → *answered late*; closed and answered leases are
//! remembered for `late_window`, then forgotten.
//!
//! | state | command | next state and effects |
//! |---|---|---|
//! | — | `TaskArrived` (new id, known stream, no parts) | `Arrived`, `Schedule(Patience)` when the stream has a queue patience (one draw), `StageEntered` for the entry stage: a model stage asks for a pre-label (`ModelPaid`, `PreAnnotate`), a label or review stage opens slots and routes (`ReviewRequested`, `Assign`) |
//! | — | `TaskArrived` with `parts` > 0 | waiting for parts: `Arrived`, `StageEntered` (the stream's waiting row); no slots |
//! | — | `TaskArrived` with `part_of` = a task waiting for parts that has a part to come | as a task without parts; its deadline is the earlier of its own and its dependant's |
//! | any | `TaskArrived` (id used before / unknown stream / `part_of` not waiting for a part) | unchanged; `Rejected` |
//! | live | a stage done (labels, verdicts or pre-label in) | the first edge whose condition holds: `StageEntered` for the next stage, `Rework` + `StageEntered` (first label stage), or `Final`; a part's `Final` that was the last its dependant waited for starts the dependant |
//! | pre-annotating / any live | `PreLabelled` (confidence in [0, 1]) | pre-label and confidence stored on the task and its routing view; a pre-annotating task's workflow walks on, a task past its model stage (scored again by a retrained model) stays where it is (`PreLabelled`) |
//! | not live | `PreLabelled` | unchanged; `Rejected(UnknownTask)` |
//! | annotator away / idle | `AnnotatorReady` | `OnShift` if away; a golden item (`Assign` gold) at `gold_rate`, else the router's task (`Assign`), else idle; banned: present but idle-less |
//! | annotator holding a lease | `AnnotatorReady` | unchanged; `Rejected(StillHolding)` |
//! | any | `AnnotatorAway` | off shift, out of the idle set (`OffShift`); an open lease stays open |
//! | lease open, labelling, room in the task | `Submitted(Label)` | label counted (`LeaseClosed`, `Paid`, `LabelStored(Counted)`); consensus; workflow walks: more labels, `ReviewRequested`, or `Final` (+ `Settled` when nothing can re-open it); agreement and class-bias rules for its labellers (each labeller's answer against the leave-one-out online Dawid-Skene reference of the others); on a preference pair, the side picked (`quality::bias::shown_swapped`) and position-bias rules for its labeller |
//! | lease open, labelling, annotator banned with re-open | `Submitted(Label)` | `LabelStored(Discarded)`, paid, not aggregated; the slot reopens |
//! | lease open, labelling, task past labelling or need lowered | `Submitted(Label)` | `LabelStored(Extra)`, paid |
//! | lease open, gold | `Submitted(Label)` | `GoldChecked`, trust, gold history and (with bias rules) the known answer as the reference, rules (`Banned`, `Schedule(Unban)`, `Reopened`...) |
//! | lease open, review | `Submitted(Verdict)` | `Reviewed`; once the stage's verdicts are in, its edges decide (a majority of accepts accepts); the chain syntax: accept → final, reject → `Rework` = a fresh round of labels |
//! | lease of an earlier pass or stage | `Submitted` | stored and paid as `Extra` (a pulled-back task, a re-open) |
//! | lease open | answer of the wrong kind / out-of-range label / other annotator | unchanged; `Rejected` |
//! | lease answered | `Submitted` | unchanged; `Duplicate` (idempotent) |
//! | lease closed (expired, returned, skipped) | `Submitted` | late answer, always stored and paid: counted if the task still labels and has an unleased slot the annotator may fill (that slot closes), else `Extra`; a late verdict decides the review only if it is still unleased |
//! | lease forgotten / never issued | `Submitted` | unchanged; `Rejected(ForgottenAssignment / UnknownAssignment)` |
//! | lease open | `LeaseExpired` / `Returned` | closed (`LeaseClosed`); the slot reopens and is routed; a golden item is dropped; `skip` = never offered to them again |
//! | lease not open | `LeaseExpired` / `Returned` | unchanged; `Rejected(LeaseNotOpen)` |
//! | banned | `TimerFired(Unban)` | `Unbanned`; routed again if present and free |
//! | any | `TimerFired(BatchRound)` | the batch policy's pairs (`Assign`), `Schedule(BatchRound)` |
//! | live, no work started | `TimerFired(Patience)` | out of the queue, no longer live; `LeftUnserved` |
//! | started, final or gone | `TimerFired(Patience)` | unchanged, no effect (patience only ends a wait for the first annotator) |
//! | final, provisional | any command after `reopen_within` | `Settled` |
//! | final, provisional | a ban with re-open of one of its labellers | `Reopened`: the banned labels go, labelling resumes at the first label stage |
//! | live or provisional, waiting for / past its parts | one of its parts `Reopened` | back to waiting for parts (`StageEntered`, waiting row; a provisional one `Reopened` first, and its own dependant in turn) |
//! | waiting for parts | one of its parts `LeftUnserved` | `LeftUnserved` too |
//!
//! Invariants after every command (checked by [`Core::check`], property-tested): for every live
//! task, open labelling leases + counted labels ≤ labels it still needs; the queue holds exactly the
//! tasks with open slots; at most one `Final` per task per re-open; every accepted answer is
//! `Counted`, `Extra` or `Discarded`, never dropped.

pub mod command;
pub mod config;
pub mod effect;
pub mod ids;
mod membership;
mod quality;
pub mod setup;
mod work;
pub mod workflow;
mod workflow_walk;

pub use command::{Answer, Command, Timer};
pub use config::{CoreConfig, ModelInfo, QualityConfig, StreamInfo};
pub use effect::{Closed, Effect, LabelFate, Rejection, Work};
pub use ids::{AnnotatorId, AssignmentId, TaskId};
pub use membership::TaskOverrides;
pub use workflow::Workflow;

use crate::dispatch::{AnnotatorView, Router, StreamFacts, TaskView, TaskViews, WaitQueue};
use crate::ledger::WorkKind;
use crate::quality::bias::PairWindow;
use crate::quality::online_ds::OnlineDs;
use crate::quality::history::History;
use crate::quality::trust::Trust;
use crate::time::SimTime;
use ids::IdMap;
use rand::RngCore;
use smallvec::SmallVec;
use std::collections::VecDeque;

/// The core's record of a live task beyond what routing sees.
#[derive(Clone, Debug, Default)]
pub(crate) struct TaskWork {
    /// Index into the stream's workflow stages ([`NOT_STARTED`] while it waits for its parts).
    stage: u8,
    /// Counted labels of this pass through the workflow: (annotator, label).
    labels: SmallVec<[(AnnotatorId, u16); 4]>,
    /// Where the current label stage's labels start in `labels`.
    round: u16,
    /// Labels that belong to the first label stage (what a re-open keeps), and the number of
    /// labels it ended up wanting.
    first_len: u16,
    first_target: u16,
    /// Passes through the workflow (a task pulled back to wait for a re-opened part starts a
    /// new one): a lease of an earlier pass no longer counts.
    pass: u16,
    /// Open leases on it (labelling or review) of this pass.
    in_flight: u16,
    /// Open leases of earlier passes (their answers come back as extras).
    stale: u16,
    prelabel: Option<u16>,
    /// The model's confidence in its pre-label.
    model_conf: Option<f32>,
    /// Waiting for the model's pre-label.
    pre_annotating: bool,
    /// A first (non-gold) lease was handed out.
    started: bool,
    /// The current label and its confidence, once a stage gave one (final when the walk ends).
    final_label: Option<(u16, f32)>,
    /// Labels (or verdicts) wanted at the current stage (grows under dynamic overlap).
    target: u16,
    /// In the waiting queue.
    queued: bool,
    reworks: u16,
    /// Verdicts at the current review stage: (accepts, rejects).
    verdicts: (u16, u16),
    /// The stage just done did not agree (labels not unanimous, verdicts split).
    split: bool,
    /// The last review's outcome (true = accepted).
    verdict: Option<bool>,
    /// Parts not yet final.
    parts_pending: u32,
    /// Parts not yet arrived.
    parts_to_come: u32,
    /// The task this one is a part of.
    part_of: Option<TaskId>,
}

/// `TaskWork::stage` of a task that waits for its parts.
pub(crate) const NOT_STARTED: u8 = u8::MAX;

/// A final label that a ban may still re-open.
#[derive(Clone, Debug)]
struct Provisional {
    at: SimTime,
    view: TaskView,
    work: TaskWork,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LeaseState {
    Open,
    /// Expired, returned or skipped at this time: a late answer is still stored.
    Closed(SimTime),
    Answered(SimTime),
}

#[derive(Clone, Copy, Debug)]
struct Lease {
    annotator: AnnotatorId,
    work: Work,
    state: LeaseState,
    /// The task's pass through its workflow, and its stage, when the lease was handed out.
    pass: u16,
    stage: u8,
    /// When it was handed out.
    opened: SimTime,
}

/// Leases by id. Ids are handed out in order, so the book is a ring indexed by `id - base`: the
/// front is forgotten once it is closed for longer than the late window, and memory is bounded by
/// the leases handed out over the oldest open lease's life plus that window.
#[derive(Clone, Debug, Default)]
struct LeaseBook {
    base: u64,
    slots: VecDeque<Option<Lease>>,
}

/// Where a lease id stands in the book.
enum Lookup {
    Known(Lease),
    Forgotten,
    Unknown,
}

impl LeaseBook {
    fn next_id(&self) -> AssignmentId {
        AssignmentId(self.base + self.slots.len() as u64)
    }
    fn open(&mut self, lease: Lease) -> AssignmentId {
        let id = self.next_id();
        self.slots.push_back(Some(lease));
        id
    }
    fn lookup(&self, id: AssignmentId) -> Lookup {
        if id.0 < self.base {
            return Lookup::Forgotten;
        }
        match self.slots.get((id.0 - self.base) as usize) {
            Some(Some(l)) => Lookup::Known(*l),
            Some(None) => Lookup::Forgotten,
            None => Lookup::Unknown,
        }
    }
    fn set(&mut self, id: AssignmentId, state: LeaseState) {
        if let Some(Some(l)) = id.0.checked_sub(self.base).and_then(|i| self.slots.get_mut(i as usize)) {
            l.state = state;
        }
    }
    /// Drops the front leases closed or answered at least `window` before `now`.
    fn forget(&mut self, now: SimTime, window: u64) {
        while let Some(front) = self.slots.front() {
            let old = match front {
                None => true,
                Some(l) => match l.state {
                    LeaseState::Open => false,
                    LeaseState::Closed(t) | LeaseState::Answered(t) => now.since(t).0 >= window,
                },
            };
            if !old {
                break;
            }
            self.slots.pop_front();
            self.base += 1;
        }
    }
    fn iter(&self) -> impl Iterator<Item = (AssignmentId, &Lease)> {
        self.slots.iter().enumerate().filter_map(|(i, l)| l.as_ref().map(|l| (AssignmentId(self.base + i as u64), l)))
    }
}

/// Per-annotator state beyond the routing view.
#[derive(Clone, Copy, Debug, Default)]
struct Person {
    /// On shift (said ready, not yet away).
    present: bool,
    /// The open lease they hold.
    holding: Option<AssignmentId>,
    /// In the idle set.
    idle: bool,
    /// Banned with re-open: their labels in flight do not count.
    discard: bool,
}

/// Quality-control state.
struct Qc {
    trust: Trust,
    gold: History,
    agreement: History,
    /// (reference, answer) pairs, kept when a class-bias rule reads them: the reference is the
    /// golden answer, or the leave-one-out online Dawid-Skene reference (`ds`; the final label on
    /// streams of more than 16 classes).
    pairs: PairWindow,
    ds: OnlineDs,
    /// Picked the left-shown answer of a preference pair, kept when a position-bias rule reads it.
    left: History,
    provisional: VecDeque<Provisional>,
    /// Ids of the provisional final labels.
    provisional_ids: ids::IdSet<TaskId>,
    keeps_provisional: bool,
    /// Some rule looks at agreement with final labels.
    agreement_rules: bool,
    /// Some rule looks at class bias / position bias.
    class_rules: bool,
    position_rules: bool,
}

/// The decision core. See the module documentation for its transition table.
pub struct Core {
    cfg: CoreConfig,
    router: Box<dyn Router>,
    annotators: Vec<AnnotatorView>,
    people: Vec<Person>,
    views: TaskViews,
    queue: WaitQueue,
    idle: Vec<AnnotatorId>,
    leases: LeaseBook,
    /// A golden item of each stream as routing sees it: who may take it is `eligible`, as for
    /// every other task.
    gold_views: Vec<TaskView>,
    /// Per stream, the answers a golden item may have: `None` = any class (the simulation draws
    /// golden items), `Some` = the answers of the golden tasks the live operation holds.
    gold_answers: Vec<Option<Vec<u16>>>,
    qc: Qc,
    out: Vec<Effect>,
    /// Leases of earlier passes still out on tasks no longer live (final or gone): their answers
    /// come back as extras. Entries go when their count reaches 0.
    orphans: IdMap<TaskId, u16>,
    /// The time of the command being handled.
    now: SimTime,
}

impl Core {
    /// A core with its configuration, router and workforce (annotator ids are their indices).
    pub fn new(cfg: CoreConfig, router: Box<dyn Router>, annotators: Vec<AnnotatorView>) -> Core {
        let n = annotators.len();
        let window = |metric| cfg.quality.rules.iter().filter(|r| r.metric == metric).map(|r| r.window as usize).max().unwrap_or(1);
        let qc = Qc {
            trust: Trust::new(annotators.iter().map(|a| a.trust as f64).collect(), cfg.quality.trust_prior_strength),
            gold: History::new(n, window(crate::spec::RuleMetric::GoldAccuracy)),
            agreement: History::new(n, window(crate::spec::RuleMetric::Agreement)),
            pairs: PairWindow::new(n, window(crate::spec::RuleMetric::ClassBias)),
            ds: OnlineDs::new(if cfg.quality.rules.iter().any(|r| r.metric == crate::spec::RuleMetric::ClassBias) { n } else { 0 }),
            left: History::new(n, window(crate::spec::RuleMetric::PositionBias)),
            provisional: VecDeque::new(),
            provisional_ids: ids::IdSet::default(),
            keeps_provisional: cfg.quality.rules.iter().any(|r| r.reopen),
            agreement_rules: cfg.quality.rules.iter().any(|r| matches!(r.metric, crate::spec::RuleMetric::Agreement | crate::spec::RuleMetric::ClassBias)),
            class_rules: cfg.quality.rules.iter().any(|r| r.metric == crate::spec::RuleMetric::ClassBias),
            position_rules: cfg.quality.rules.iter().any(|r| r.metric == crate::spec::RuleMetric::PositionBias),
        };
        let queue = WaitQueue::new(
            cfg.streams.iter().map(|s| StreamFacts { ttype: s.ttype, mixed_types: s.workflow.stages.iter().any(|x| x.ttype != s.ttype), priority: s.priority, holding_cost: s.holding_cost as f32 }).collect(),
        );
        let gold_views: Vec<TaskView> = (0..cfg.streams.len()).map(|i| Self::blank_view(&cfg, TaskId(u64::MAX), i as u16, SimTime::ZERO, true)).collect();
        Core {
            router,
            people: vec![Person::default(); n],
            annotators,
            views: TaskViews::default(),
            queue,
            idle: Vec::new(),
            leases: LeaseBook::default(),
            gold_answers: vec![None; gold_views.len()],
            gold_views,
            qc,
            out: Vec::new(),
            orphans: IdMap::default(),
            now: SimTime::ZERO,
            cfg,
        }
    }

    fn blank_view(cfg: &CoreConfig, id: TaskId, stream: u16, now: SimTime, gold: bool) -> TaskView {
        let info = &cfg.streams[stream as usize];
        TaskView {
            id,
            stream,
            ttype: info.ttype,
            language: info.language,
            priority: info.priority,
            arrival: now,
            deadline: if gold { None } else { info.deadline.map(|d| now.plus(crate::time::Dur(d))) },
            open: 0,
            labelers: SmallVec::new(),
            declined: Vec::new(),
            reserved_for: None,
            confidence: 0.0,
            prelabel: None,
            model_confidence: None,
            gold,
            review: false,
            stage: 0,
            min_accuracy: info.min_accuracy as f32,
            holding_cost: info.holding_cost as f32,
        }
    }

    /// Applies one command at time `now`; returns the effects, in decision order (valid until the
    /// next call).
    pub fn handle(&mut self, cmd: Command, now: SimTime, rng: &mut dyn RngCore) -> &[Effect] {
        self.out.clear();
        self.now = now;
        if self.qc.keeps_provisional {
            self.settle_due(now);
        }
        self.leases.forget(now, self.cfg.late_window);
        match cmd {
            Command::TaskArrived { task, stream, parts, part_of } => self.arrive(cmd, task, stream, parts, part_of, TaskOverrides::default(), now, rng),
            Command::PreLabelled { task, label, confidence } => self.prelabelled(cmd, task, label, confidence, now, rng),
            Command::AnnotatorReady { annotator } => self.ready(cmd, annotator, now, rng),
            Command::AnnotatorAway { annotator } => self.away(cmd, annotator),
            Command::Submitted { assignment, annotator, answer } => self.submitted(cmd, assignment, annotator, answer, now, rng),
            Command::Returned { assignment, annotator, skip } => self.give_back(cmd, assignment, Some(annotator), if skip { Closed::Skipped } else { Closed::Returned }, now, rng),
            Command::LeaseExpired { assignment } => self.give_back(cmd, assignment, None, Closed::Expired, now, rng),
            Command::TimerFired { timer: Timer::Unban(a) } => self.unban(cmd, a, now, rng),
            Command::TimerFired { timer: Timer::BatchRound } => self.batch_round(now, rng),
            Command::TimerFired { timer: Timer::Patience(task) } => self.patience_over(task),
        }
        &self.out
    }

    /// Ends a run: every provisional final label settles now.
    pub fn settle_all(&mut self) -> &[Effect] {
        self.out.clear();
        while let Some(p) = self.qc.provisional.pop_front() {
            self.qc.provisional_ids.remove(&p.view.id);
            self.out.push(Effect::Settled { task: p.view.id });
        }
        &self.out
    }

    /// The effects of the last [`Core::handle`] or [`Core::settle_all`].
    pub fn effects(&self) -> &[Effect] {
        &self.out
    }

    fn reject(&mut self, command: Command, reason: Rejection) {
        self.out.push(Effect::Rejected { command, reason });
    }

    // ---- queries ----

    pub fn router_name(&self) -> &str {
        self.router.name()
    }
    /// Whether the router wants batch rounds, and how often (the first is at time zero).
    pub fn batch_interval(&self) -> Option<crate::time::Dur> {
        self.router.batch_interval()
    }
    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }
    /// Tasks waiting for people.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }
    /// Tasks of `stream` waiting for people.
    pub fn queue_len_of(&self, stream: u16) -> u32 {
        self.queue.waiting(stream)
    }
    /// The tasks waiting for people, in queue order.
    pub fn waiting(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.queue.iter().copied()
    }
    /// Tasks not yet final.
    pub fn live_tasks(&self) -> usize {
        self.views.len()
    }
    /// Counted labels of a live task.
    pub fn counted_labels(&self, task: TaskId) -> Option<usize> {
        self.views.work(task).map(|w| w.labels.len())
    }
    pub fn task_view(&self, task: TaskId) -> Option<&TaskView> {
        self.views.get(task)
    }
    /// Trust estimate of an annotator.
    pub fn trust(&self, a: AnnotatorId) -> f64 {
        self.qc.trust.value(a)
    }

    /// Checks the invariants the module documentation lists; Err names the first broken one.
    pub fn check(&self) -> Result<(), String> {
        let mut open_by_task: IdMap<TaskId, u16> = IdMap::default();
        for (id, l) in self.leases.iter() {
            if l.state != LeaseState::Open {
                continue;
            }
            if self.people[l.annotator as usize].holding != Some(id) {
                return Err(format!("lease {id:?} is open but annotator {} does not hold it", l.annotator));
            }
            if let Some(t) = l.work.task() {
                *open_by_task.entry(t).or_default() += 1;
            }
        }
        for (t, n) in open_by_task.iter() {
            if self.views.get(*t).is_none() && self.orphans.get(t).copied().unwrap_or(0) != *n {
                return Err(format!("{n} leases are open on task {t:?}, which is not live, and {} were left out from earlier passes", self.orphans.get(t).copied().unwrap_or(0)));
            }
        }
        for (id, v, w) in self.views.iter() {
            let id = &id;
            let leased = open_by_task.get(id).copied().unwrap_or(0);
            if leased != w.in_flight + w.stale {
                return Err(format!("task {id:?}: {leased} open leases but in_flight = {} (+ {} of earlier passes)", w.in_flight, w.stale));
            }
            let stage = self.cfg.streams[v.stream as usize].workflow.stages.get(w.stage as usize).map(|s| s.work);
            let have = w.labels.len() as u32 - w.round as u32;
            if matches!(stage, Some(workflow::StageWork::Label { .. })) && !w.pre_annotating && have + w.in_flight as u32 + v.open as u32 > (w.target as u32).max(have) {
                return Err(format!("task {id:?}: {have} counted + {} leased + {} open > {} needed", w.in_flight, v.open, w.target));
            }
            if w.stage == NOT_STARTED && v.open > 0 {
                return Err(format!("task {id:?} waits for its parts but has {} open slots", v.open));
            }
            let in_queue = self.queue.iter().filter(|q| *q == id).count();
            if in_queue != w.queued as usize {
                return Err(format!("task {id:?}: queued = {} but in the queue {in_queue} times", w.queued));
            }
            if w.queued != (v.open > 0) {
                return Err(format!("task {id:?}: queued = {} with {} open slots", w.queued, v.open));
            }
        }
        for &a in &self.idle {
            let p = &self.people[a as usize];
            if !p.present || !p.idle || p.holding.is_some() || self.annotators[a as usize].banned {
                return Err(format!("annotator {a} is idle but absent, busy or banned"));
            }
        }
        let flagged = self.people.iter().filter(|p| p.idle).count();
        if flagged != self.idle.len() {
            return Err(format!("{flagged} annotators flagged idle, {} in the idle set", self.idle.len()));
        }
        Ok(())
    }
}
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_workflow;
