//! The simulation adapter of the decision core: the `Dispatcher` actor translates messages into
//! core commands, and effects into messages and timers; the books read every effect. It holds no
//! decision logic of its own: only what the simulation needs around the core (the task limit, the
//! hidden truth handed to synthetic annotators, the actors to send to).

use super::books::{Books, Hidden};
use crate::core::{Answer, Command, Core, Effect, TaskId, Work};
use crate::domain::{Job, Msg, NewTask};
use crate::kernel::{Actor, ActorId, Context};
use crate::time::{Dur, SimTime, US_PER_DAY};

/// A run to a task count (`run.tasks`) stops when no task has become final for this long after
/// the last arrival: it cannot make progress (annotators who always walk away, nobody able or
/// allowed to take the work), and waiting longer would only burn the machine.
pub const STALL_AFTER: Dur = Dur(30 * US_PER_DAY);

/// What happened since the last task became final or left unserved: the cause named when a run
/// stalls.
#[derive(Clone, Copy, Debug, Default)]
struct SinceFinal {
    at: SimTime,
    assigned: u64,
    walked_away: u64,
    submitted: u64,
}

/// What the adapter sends where.
pub struct Wiring {
    /// Model actors, by model index.
    pub models: Vec<ActorId>,
    pub sources: Vec<ActorId>,
    /// Annotator actors, by annotator id.
    pub annotators: Vec<ActorId>,
    /// Stop arrivals after this many tasks and the run once they are all final.
    pub task_limit: Option<u64>,
    /// By stream: the model that learns from its final labels, and whether labels the model
    /// decided alone count (`train_on_auto_accepted`); None when its model does not learn.
    pub training: Vec<Option<(u16, bool)>>,
    /// By model: it scores the waiting tasks again when a retrain serves (`rescore_waiting`).
    pub rescore: Vec<bool>,
}

/// Every command the core received and every effect it gave, with their times (for the replay
/// test and for debugging).
#[derive(Clone, Debug, Default)]
pub struct CoreLog {
    pub commands: Vec<(SimTime, Command)>,
    pub effects: Vec<(SimTime, Effect)>,
}

/// The dispatcher actor.
pub struct Dispatcher {
    core: Core,
    pub books: Books,
    wiring: Wiring,
    next_task: u64,
    /// Final labels given and not re-opened (provisional ones included).
    finals: u64,
    /// Tasks that left unserved (queue patience): over too, with no label.
    gone: u64,
    pub log: Option<CoreLog>,
    since: SinceFinal,
    /// The last task that came with parts (its parts follow it).
    parent: Option<TaskId>,
    /// By run-wide stage number: the stage names its skill (a review is timed by it).
    stage_skill: Vec<bool>,
    /// Why a run to a task count stopped before every task was final.
    pub stalled: Option<String>,
}

impl Dispatcher {
    pub fn new(core: Core, books: Books, wiring: Wiring, log: bool) -> Self {
        let mut stage_skill = Vec::new();
        for s in core.config().streams.iter().flat_map(|s| s.workflow.stages.iter()) {
            if stage_skill.len() <= s.sid as usize {
                stage_skill.resize(s.sid as usize + 1, false);
            }
            stage_skill[s.sid as usize] = s.own_skill;
        }
        Dispatcher { core, books, wiring, next_task: 0, finals: 0, gone: 0, log: log.then(CoreLog::default), since: SinceFinal::default(), stalled: None, parent: None, stage_skill }
    }

    pub fn core(&self) -> &Core {
        &self.core
    }
    pub fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }
    pub fn router_name(&self) -> &str {
        self.core.router_name()
    }

    /// Task limit reached and every task final or gone unserved: the run can end.
    pub fn all_done(&self) -> bool {
        self.wiring.task_limit.is_some_and(|lim| self.finals + self.gone >= lim)
    }

    /// Tasks over: final labels given and not re-opened, and tasks that left unserved.
    pub fn finished(&self) -> u64 {
        self.finals + self.gone
    }

    /// Tasks that have arrived so far.
    pub fn arrived(&self) -> u64 {
        self.next_task
    }

    /// A run to a task count with every task in and none final for [`STALL_AFTER`]: says why.
    fn stall(&self, now: SimTime) -> Option<String> {
        let lim = self.wiring.task_limit?;
        if self.next_task < lim || now.since(self.since.at) < STALL_AFTER {
            return None;
        }
        let s = self.since;
        let open = lim.saturating_sub(self.finals + self.gone);
        let cause = if s.assigned == 0 {
            format!("no work was handed out in that time: {} tasks wait and no annotator on shift is able or allowed to take them (skills, languages, reserved pools, bans, shifts)", self.core.queue_len())
        } else if s.walked_away == s.assigned {
            format!("every one of the {} items handed out in that time was walked away from (check pools.*.abandonment)", s.assigned)
        } else {
            format!("{} items were handed out and {} answers came back in that time, {} walked away from, and none completed a task (quality rules, review rejections or bans re-open the work)", s.assigned, s.submitted, s.walked_away)
        };
        Some(format!("no task became final for {STALL_AFTER} of simulated time since the last arrival or final label ({open} of {lim} tasks unfinished): {cause}"))
    }

    /// Ends the run at `end`.
    pub fn finish(&mut self, end: SimTime) {
        self.core.settle_all();
        for e in self.core.effects() {
            if let Some(log) = &mut self.log {
                log.effects.push((end, e.clone()));
            }
            self.books.consume(e, end);
        }
        self.books.finish(&self.core, end);
    }
}

/// The job a synthetic annotator (or model) works on: the core's work plus the hidden truth.
fn job(books: &Books, assignment: crate::core::AssignmentId, work: Work, prelabel: Option<u16>, (skill, by_skill): (u16, bool)) -> Job {
    let streams = &books.streams;
    let (stream, hidden, review) = match work {
        Work::Label { task } | Work::Review { task, .. } => {
            let (stream, hidden) = books.hidden(task).unwrap_or((0, Hidden { truth: 0, difficulty: 0.0, item: crate::domain::NO_ITEM }));
            let review = if let Work::Review { proposed, .. } = work { Some(proposed) } else { None };
            (stream, hidden, review)
        }
        Work::Gold { stream, answer } => (stream, Hidden { truth: answer, difficulty: streams[stream as usize].mean_difficulty, item: crate::domain::NO_ITEM }, None),
    };
    let info = &streams[stream as usize];
    // The stage's skill, and whether a review is timed by it.
    let review_by_skill = review.is_some() && by_skill;
    Job {
        assignment,
        ttype: skill,
        classes: info.classes,
        truth: hidden.truth,
        prelabel,
        model: info.model.unwrap_or(crate::domain::NO_MODEL),
        difficulty: hidden.difficulty,
        slowdown: 1.0 + info.difficulty_slowdown * hidden.difficulty,
        review,
        review_by_skill,
        swapped: (review.is_none() && info.pairwise()).then(|| crate::quality::bias::shown_swapped(assignment.0)),
    }
}

/// What a model is told of a task it pre-labels: its hidden truth (for the synthetic model), how
/// much harder than its stream's mean it is, and its item (for a real learner).
fn pre_annotate(books: &Books, task: TaskId) -> Option<Msg> {
    let (s, h) = books.hidden(task)?;
    let info = &books.streams[s as usize];
    Some(Msg::PreAnnotate { task, truth: h.truth, classes: info.classes, harder_by: h.difficulty - info.mean_difficulty, item: h.item })
}

impl Dispatcher {
    /// Runs one command through the core and carries out its effects.
    fn exec<C: Context<Msg> + ?Sized>(&mut self, cmd: Command, ctx: &mut C) {
        let now = ctx.now();
        self.core.handle(cmd, now, ctx.rng());
        let Dispatcher { core, books, wiring, finals, gone, log, since, stage_skill, .. } = self;
        if let Some(log) = log {
            log.commands.push((now, cmd));
            log.effects.extend(core.effects().iter().map(|e| (now, e.clone())));
        }
        for e in core.effects() {
            match *e {
                Effect::Assign { assignment, annotator, work, prelabel, stage, skill } => {
                    since.assigned += 1;
                    let by_skill = stage_skill.get(stage as usize).copied().unwrap_or(false);
                    let job = job(books, assignment, work, prelabel, (skill, by_skill));
                    ctx.send(wiring.annotators[annotator as usize], Msg::Assign(job));
                }
                Effect::PreAnnotate { task, model } => {
                    if let Some(msg) = pre_annotate(books, task) {
                        ctx.send(wiring.models[model as usize], msg);
                    }
                }
                Effect::Schedule { at, timer } => {
                    let me = ctx.me();
                    ctx.send_in(at.since(now), me, Msg::Timer(timer));
                }
                Effect::Final { task, label, ref labels, .. } => {
                    // A final label of a stream whose model learns is one more training label.
                    if let Some((s, h)) = books.hidden(task) {
                        if let Some((model, auto_too)) = wiring.training.get(s as usize).copied().flatten() {
                            if auto_too || !labels.is_empty() {
                                ctx.send(wiring.models[model as usize], Msg::TrainingLabel { item: h.item, label });
                            }
                        }
                    }
                    *finals += 1;
                    *since = SinceFinal { at: now, ..SinceFinal::default() };
                }
                Effect::Reopened { .. } => *finals -= 1,
                Effect::LeftUnserved { .. } => {
                    *gone += 1;
                    *since = SinceFinal { at: now, ..SinceFinal::default() };
                }
                _ => {}
            }
            books.consume(e, now);
        }
    }

    /// Asks model `model` to score again every task waiting for people whose stream it
    /// pre-labels, each paid as a pre-label; the answers come back as `PreLabel`s.
    fn rescore<C: Context<Msg> + ?Sized>(&mut self, model: u16, ctx: &mut C) {
        let now = ctx.now();
        let usd = self.core.config().models.get(model as usize).map_or(0.0, |m| m.cost);
        let waiting: Vec<TaskId> = self.core.waiting().filter(|&t| self.books.hidden(t).is_some_and(|(s, _)| self.books.streams[s as usize].model == Some(model))).collect();
        for task in waiting {
            if let Some(msg) = pre_annotate(&self.books, task) {
                self.books.consume(&Effect::ModelPaid { task, model, usd }, now);
                ctx.send(self.wiring.models[model as usize], msg);
            }
        }
    }

    fn arrive<C: Context<Msg> + ?Sized>(&mut self, nt: NewTask, ctx: &mut C) {
        // A task with parts enters with all of them or not at all: the task limit is checked for
        // the whole group, and a group that starts enters whole (the limit then counts its end).
        if nt.part {
            if self.parent.is_none() {
                return; // its task did not enter
            }
        } else if self.wiring.task_limit.is_some_and(|lim| self.next_task >= lim) {
            self.parent = None;
            return; // the rest of a batch beyond the task limit never enters
        }
        let task = TaskId(self.next_task);
        self.next_task += 1;
        self.since = SinceFinal { at: ctx.now(), ..SinceFinal::default() };
        self.books.hide(task, nt.stream, Hidden { truth: nt.truth, difficulty: nt.difficulty, item: nt.item }, ctx.now());
        let part_of = if nt.part { self.parent } else { None };
        if !nt.part {
            self.parent = (nt.parts > 0).then_some(task);
            if let Some(lim) = &mut self.wiring.task_limit {
                *lim = (*lim).max(self.next_task + nt.parts as u64);
            }
        }
        if self.wiring.task_limit == Some(self.next_task) {
            for &s in &self.wiring.sources {
                ctx.send(s, Msg::StopArrivals);
            }
        }
        self.exec(Command::TaskArrived { task, stream: nt.stream, parts: nt.parts, part_of }, ctx);
    }
}

impl Actor<Msg> for Dispatcher {
    fn handle<C: Context<Msg> + ?Sized>(&mut self, msg: Msg, ctx: &mut C) {
        let now = ctx.now();
        match msg {
            Msg::Arrive(nt) => self.arrive(nt, ctx),
            Msg::PreLabel { task, label, confidence } => self.exec(Command::PreLabelled { task, label, confidence }, ctx),
            Msg::Retrained { model, labels, accuracy, usd, ready } => {
                self.books.retrained(model, labels, accuracy, usd, ready, ctx.now());
                if ready && self.wiring.rescore.get(model as usize).copied().unwrap_or(false) {
                    self.rescore(model, ctx);
                }
            }
            Msg::Submit { annotator, assignment, label, review, leaving } => {
                self.since.submitted += 1;
                let answer = if review { Answer::Verdict { accept: label == 1 } } else { Answer::Label(label) };
                self.exec(Command::Submitted { assignment, annotator, answer }, ctx);
                let next = if leaving { Command::AnnotatorAway { annotator } } else { Command::AnnotatorReady { annotator } };
                self.exec(next, ctx);
            }
            Msg::Abandoned { annotator, assignment, leaving } => {
                self.since.walked_away += 1;
                self.exec(Command::LeaseExpired { assignment }, ctx);
                let next = if leaving { Command::AnnotatorAway { annotator } } else { Command::AnnotatorReady { annotator } };
                self.exec(next, ctx);
            }
            Msg::Available { annotator } => self.exec(Command::AnnotatorReady { annotator }, ctx),
            Msg::Unavailable { annotator } => self.exec(Command::AnnotatorAway { annotator }, ctx),
            Msg::Timer(timer) => self.exec(Command::TimerFired { timer }, ctx),
            // Messages for the other actors never reach the dispatcher.
            Msg::Start | Msg::NextArrival | Msg::StopArrivals | Msg::PreAnnotate { .. } | Msg::TrainingLabel { .. } | Msg::RetrainTick | Msg::RetrainDone { .. } | Msg::Assign(_) | Msg::WorkDone | Msg::AbandonTimeout | Msg::ShiftStart | Msg::ShiftEnd => {}
        }
        self.books.monitor.levels(now, self.core.queue_len(), self.core.live_tasks());
        if self.all_done() {
            ctx.stop();
        } else if let Some(why) = self.stall(now) {
            self.stalled = Some(why);
            ctx.stop();
        }
    }
}
