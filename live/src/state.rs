//! What the writer keeps in memory: each project's decision core and the indexes around it (open
//! leases, golden tasks, timers). All of it is rebuilt from the store at start (the project rows
//! and the command log, replayed); none of it is a second source of truth.

use crate::log::{self, Entry};
use crate::project::Settings;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use tessera_engine::core::{AnnotatorId, Core, Effect, TaskId, Timer, Work};
use tessera_engine::time::SimTime;

/// A lease the core has open, as the server needs it.
#[derive(Clone, Debug)]
pub struct OpenLease {
    pub annotator: AnnotatorId,
    /// The task row: the labelled or reviewed task, or the golden task handed out.
    pub task: i64,
    pub expires_us: u64,
    pub work: Work,
    pub prelabel: Option<u16>,
    /// Run-wide stage number (`u16::MAX` for a golden item).
    pub stage: u16,
    /// Leases the task's work had before this one.
    pub epoch: u64,
}

/// Something due at a time: a lease's end or a core timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DueWhat {
    Lease(u64),
    Unban(u32),
    Patience(u64),
}

impl DueWhat {
    pub fn timer(self) -> Option<Timer> {
        match self {
            DueWhat::Lease(_) => None,
            DueWhat::Unban(a) => Some(Timer::Unban(a)),
            DueWhat::Patience(t) => Some(Timer::Patience(TaskId(t))),
        }
    }
    fn of(t: Timer) -> Option<DueWhat> {
        match t {
            Timer::Unban(a) => Some(DueWhat::Unban(a)),
            Timer::Patience(t) => Some(DueWhat::Patience(t.0)),
            Timer::BatchRound => None,
        }
    }
}

/// One project's live state.
pub struct ProjectState {
    pub id: i64,
    pub tenant: i64,
    pub name: String,
    pub settings: Arc<Settings>,
    pub core: Core,
    /// The next log sequence number.
    pub next_seq: u64,
    /// Store id of each core annotator id (increasing: store ids are handed out in order).
    pub annotator_rows: Vec<i64>,
    pub leases: HashMap<u64, OpenLease>,
    /// Golden task rows of each stream by answer, and a turn counter to rotate through them.
    pub gold: Vec<BTreeMap<u16, Vec<i64>>>,
    pub gold_turn: u64,
    /// Client pre-labels of tasks whose workflow has a model stage still to reach.
    pub prelabels: HashMap<u64, (u16, f32)>,
    /// Core timers asked for and not yet fired.
    pub timers: HashSet<DueWhat>,
    /// Times each task's work was leased (for `lease_epoch`), for live tasks only.
    pub lease_counts: HashMap<u64, u64>,
    /// The stream of each task not yet settled (a final label's report needs it after the core
    /// let the task go).
    pub streams: HashMap<u64, u16>,
    /// Tasks settled by the last entry: forgotten at the next one, after the rows of the last
    /// entry's effects (a final label's among them) were written.
    settled: Vec<u64>,
}

impl ProjectState {
    pub fn new(id: i64, tenant: i64, name: String, settings: Arc<Settings>) -> Self {
        let streams = settings.setup.streams.len();
        ProjectState {
            id,
            tenant,
            name,
            core: settings.core(),
            settings,
            next_seq: 1,
            annotator_rows: Vec::new(),
            leases: HashMap::new(),
            gold: vec![BTreeMap::new(); streams],
            gold_turn: 0,
            prelabels: HashMap::new(),
            timers: HashSet::new(),
            lease_counts: HashMap::new(),
            streams: HashMap::new(),
            settled: Vec::new(),
        }
    }

    /// The golden task row to hand out for a golden item of `stream` with `answer`.
    pub fn gold_task(&mut self, stream: u16, answer: u16) -> i64 {
        self.gold_turn += 1;
        let rows = self.gold.get(stream as usize).and_then(|g| g.get(&answer));
        rows.map_or(0, |r| r[(self.gold_turn % r.len() as u64) as usize])
    }

    /// The answers golden tasks of `stream` hold.
    pub fn gold_answers(&self, stream: u16) -> Vec<u16> {
        self.gold[stream as usize].keys().copied().collect()
    }

    /// Applies a log entry at `now_us` (the writer's path and the replay's) and updates the
    /// indexes from its effects; returns the effects and any due items they create.
    pub fn apply(&mut self, entry: &Entry, seq: u64, now_us: u64, due: &mut Vec<(u64, DueWhat)>) -> Result<Vec<Effect>, String> {
        if let Entry::Core { command: tessera_engine::core::Command::TimerFired { timer } } = entry {
            if let Some(d) = DueWhat::of(*timer) {
                self.timers.remove(&d);
            }
        }
        for t in self.settled.drain(..) {
            self.streams.remove(&t);
        }
        let settings = self.settings.clone();
        let effects = log::apply(&mut self.core, &settings, entry, seq, SimTime(now_us))?.to_vec();
        self.next_seq = self.next_seq.max(seq + 1);
        for e in &effects {
            match *e {
                Effect::Assign { assignment, annotator, work, prelabel, stage, .. } => {
                    let (task, epoch) = match work {
                        Work::Label { task } | Work::Review { task, .. } => {
                            let n = self.lease_counts.entry(task.0).or_default();
                            *n += 1;
                            (task.0 as i64, *n - 1)
                        }
                        Work::Gold { stream, answer } => (self.gold_task(stream, answer), 0),
                    };
                    let expires_us = now_us + self.settings.lease_us;
                    self.leases.insert(assignment.0, OpenLease { annotator, task, expires_us, work, prelabel, stage, epoch });
                    due.push((expires_us, DueWhat::Lease(assignment.0)));
                }
                Effect::LeaseClosed { assignment, .. } => {
                    self.leases.remove(&assignment.0);
                }
                Effect::Schedule { at, timer } => {
                    if let Some(d) = DueWhat::of(timer) {
                        self.timers.insert(d);
                        due.push((at.0, d));
                    }
                }
                Effect::Arrived { task, stream } => {
                    self.streams.insert(task.0, stream);
                }
                Effect::Settled { task } | Effect::LeftUnserved { task, .. } => {
                    self.lease_counts.remove(&task.0);
                    self.prelabels.remove(&task.0);
                    self.settled.push(task.0);
                }
                _ => {}
            }
        }
        Ok(effects)
    }
}

/// Every project's state and the timer wheel over them.
#[derive(Default)]
pub struct State {
    pub projects: HashMap<i64, ProjectState>,
    /// Store annotator id → (project, core id).
    pub annotators: HashMap<i64, (i64, AnnotatorId)>,
    /// Due items, earliest first (entries whose lease or timer is gone are skipped when popped).
    pub due: BinaryHeap<Reverse<(u64, i64, DueWhat)>>,
    /// The latest time any entry was fed at: a node whose clock lags another's never feeds a
    /// core a time before what it already saw.
    pub floor_us: u64,
}

impl State {
    pub fn push_due(&mut self, project: i64, items: &mut Vec<(u64, DueWhat)>) {
        for (at, what) in items.drain(..) {
            self.due.push(Reverse((at, project, what)));
        }
    }

    /// When the next item falls due.
    pub fn next_due(&self) -> Option<u64> {
        self.due.peek().map(|Reverse((at, _, _))| *at)
    }
}
