//! The routing contract: what a policy sees (views that never include hidden truth) and decides.

use super::{TaskTable, WaitQueue};
use crate::domain::task::TaskView;
use crate::domain::{AnnotatorIdx, TaskSlot};
use crate::kernel::ActorRng;
use crate::time::{Dur, SimTime};

/// What the operation believes about an annotator's skill on one task type (declared or learned,
/// not the hidden truth of the simulation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Skill {
    /// Expected probability of a right label.
    pub accuracy: f64,
    /// [s] expected time per item.
    pub mean_secs: f64,
    /// [USD] expected cost of one item (per-item pay, or hourly wage × mean time).
    pub cost_per_item: f64,
}

/// What routing knows about an annotator.
#[derive(Clone, Debug)]
pub struct AnnotatorView {
    pub idx: AnnotatorIdx,
    pub pool: u16,
    /// By task-type index; None = not qualified for that type.
    pub skills: Vec<Option<Skill>>,
    /// Bit i set = speaks language i of the run's language table.
    pub languages: u64,
    /// When the annotator last became idle.
    pub idle_since: SimTime,
    /// Online reliability estimate in [0, 1] (starts at the pool's declared accuracy).
    pub trust: f32,
    /// Banned annotators get no work.
    pub banned: bool,
    /// Bit i set = may only work on stream i; 0 = any stream.
    pub reserved_for: u64,
    /// Member of the review pool.
    pub reviewer: bool,
}

/// The hard constraints every policy respects: skill (or, for a review, membership of the review
/// pool), language, reservation, not banned, and at most one label per annotator per task.
#[inline]
pub fn eligible(t: &TaskView, a: &AnnotatorView) -> bool {
    !a.banned
        && (if t.review { a.reviewer } else { matches!(a.skills.get(t.ttype as usize), Some(Some(_))) })
        && t.language.is_none_or(|l| a.languages & (1u64 << l) != 0)
        && (a.reserved_for == 0 || a.reserved_for & (1u64 << t.stream) != 0)
        && !t.labelers.contains(&a.idx)
}

/// The state a router decides on.
pub struct RouteState<'a> {
    pub now: SimTime,
    pub annotators: &'a [AnnotatorView],
    pub tasks: &'a TaskTable,
    /// Waiting tasks with open assignments, in the order they joined (with counts per stream).
    pub queue: &'a WaitQueue,
    /// Idle, on-shift annotators, longest idle first.
    pub idle: &'a [AnnotatorIdx],
}

impl RouteState<'_> {
    pub fn task(&self, slot: TaskSlot) -> &TaskView {
        &self.tasks.get(slot).view
    }
    pub fn annotator(&self, idx: AnnotatorIdx) -> &AnnotatorView {
        &self.annotators[idx as usize]
    }
}

/// A routing policy. The dispatcher asks it at two moments: an annotator became free (which
/// waiting task?) and a task became available (which idle annotator?). Returning None leaves the
/// annotator idle or the task waiting. Implementations must only return eligible pairs.
pub trait Router: Send {
    fn name(&self) -> &str;
    /// Position in `st.queue` of the task the free annotator `a` should take.
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, rng: &mut ActorRng) -> Option<usize>;
    /// Position in `st.idle` of the annotator who should take task `t`.
    fn pick_annotator(&mut self, t: TaskSlot, st: &RouteState, rng: &mut ActorRng) -> Option<usize>;
    /// Batch policies: the dispatcher calls [`Router::assign_batch`] every this often, from time 0
    /// (None, the default: never). Such policies usually answer None to the two picks above.
    fn batch_interval(&self) -> Option<Dur> {
        None
    }
    /// Batch policies: pairs (waiting task, idle annotator) to assign now. Pairs that are not
    /// eligible, not idle or no longer open are skipped by the dispatcher.
    fn assign_batch(&mut self, _st: &RouteState, _rng: &mut ActorRng) -> Vec<(TaskSlot, AnnotatorIdx)> {
        Vec::new()
    }
}
