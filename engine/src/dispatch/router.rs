//! The routing contract: what a policy sees (views keyed by durable ids that never include hidden
//! truth or the decision core's internals) and what it decides.

use super::{TaskViews, WaitQueue};
use crate::core::ids::{AnnotatorId, TaskId};
use crate::time::{Dur, SimTime};
use rand::RngCore;
use smallvec::SmallVec;

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

/// A set of small indices (languages, streams) of any size: a bitmask for 0..64, where nearly
/// every scenario lives, and a list beyond, so membership is one bit test in the common case and
/// there is no cap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexSet {
    bits: u64,
    more: Vec<u16>,
}

impl IndexSet {
    #[inline(always)]
    pub fn contains(&self, i: u16) -> bool {
        if i < 64 { self.bits & (1u64 << i) != 0 } else { self.contains_high(i) }
    }
    #[cold]
    #[inline(never)]
    fn contains_high(&self, i: u16) -> bool {
        self.more.contains(&i)
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.bits == 0 && self.more.is_empty()
    }
    pub fn insert(&mut self, i: u16) {
        if i < 64 {
            self.bits |= 1u64 << i;
        } else if !self.more.contains(&i) {
            self.more.push(i);
        }
    }
    /// The members, in increasing order below 64, then in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..64u16).filter(|&i| self.bits & (1u64 << i) != 0).chain(self.more.iter().copied())
    }
}

impl FromIterator<u16> for IndexSet {
    fn from_iter<I: IntoIterator<Item = u16>>(it: I) -> Self {
        let mut s = IndexSet::default();
        for i in it {
            s.insert(i);
        }
        s
    }
}

/// What routing knows about an annotator.
#[derive(Clone, Debug)]
pub struct AnnotatorView {
    /// Durable id (dense: the annotator's index, never reused).
    pub idx: AnnotatorId,
    pub pool: u16,
    /// By task-type index; None = not qualified for that type.
    pub skills: Vec<Option<Skill>>,
    /// Languages spoken, as indices into the run's language table (any number).
    pub languages: IndexSet,
    /// When the annotator last became idle.
    pub idle_since: SimTime,
    /// Online reliability estimate in [0, 1] (starts at the pool's declared accuracy).
    pub trust: f32,
    /// Banned annotators get no work.
    pub banned: bool,
    /// Streams this annotator is reserved for (any number); empty = any stream.
    pub reserved_for: IndexSet,
    /// May review: a member of the review pool or of a pool a review stage names.
    pub reviewer: bool,
    /// Workflow stages that name who may work them (`TaskView::stage`) that this annotator may
    /// work: their pool is named and, for a label stage, it has the stage's skill.
    pub stages: IndexSet,
}

/// What a router may see of a task that waits for people (never its hidden truth).
#[derive(Clone, Debug, Default)]
pub struct TaskView {
    /// Durable id (in the simulation: the arrival order over the whole run).
    pub id: TaskId,
    pub stream: u16,
    pub ttype: u16,
    pub language: Option<u16>,
    pub priority: u32,
    pub arrival: SimTime,
    pub deadline: Option<SimTime>,
    /// Assignments that may still be handed out now.
    pub open: u16,
    /// Annotators who labelled it or hold a lease on it (one label per annotator per task).
    pub labelers: SmallVec<[AnnotatorId; 4]>,
    /// Annotators who skipped it: never offered it again (empty, and unallocated, for most).
    pub declined: Vec<AnnotatorId>,
    /// Only these annotators may take it (a live task's own reservation; None for every task of
    /// the simulation). Boxed: one pointer in the view of the many tasks without one.
    #[allow(clippy::box_collection)]
    pub reserved_for: Option<Box<Vec<AnnotatorId>>>,
    /// Current confidence in the leading label [0, 1] (0 with no labels).
    pub confidence: f32,
    /// The model's pre-label and its confidence in it (None before a model stage pre-labelled
    /// the task); a retrain may score a waiting task again.
    pub prelabel: Option<u16>,
    pub model_confidence: Option<f32>,
    /// A golden task (known answer) mixed in to check annotators.
    pub gold: bool,
    /// Waiting for (or under) expert review: only reviewers may take it.
    pub review: bool,
    /// The workflow stage it is at when that stage names who may work it (0: anyone with the
    /// skill `ttype`, or for a review any reviewer); see `AnnotatorView::stages`.
    pub stage: u16,
    /// The stream's bar on declared accuracy, in [0, 1] (`streams.min_accuracy`).
    pub min_accuracy: f32,
    /// [USD per task-hour] the stream's holding cost (`streams.holding_cost`).
    pub holding_cost: f32,
}

impl TaskView {
    /// Whether `a` labelled it, holds a lease on it or skipped it: the part of [`eligible`] that
    /// is the task's own (the rest reads only its stream, type, language, review flag and stage).
    #[inline]
    pub fn turns_away(&self, a: AnnotatorId) -> bool {
        self.labelers.contains(&a) || (!self.declined.is_empty() && self.declined.contains(&a)) || self.reserved_for.as_ref().is_some_and(|r| !r.contains(&a))
    }
}

/// The hard constraints every policy respects, defined once: the stage's own pools when it names
/// them, else skill (or, for a review, membership of the review pool), language, reservation,
/// not banned, at most one label per annotator per task, and never a task the annotator skipped.
///
/// Of the task it reads only `stream`, `ttype`, `language`, `review` and `stage`, and then
/// [`TaskView::turns_away`]: so `eligible(t, a) == eligible(r, a) && !t.turns_away(a.idx)` for any
/// view `r` with the same five fields and no labelers or decliners. Indexes of the queue rely on
/// it (they group tasks by those fields and check `turns_away` per task); keep it true.
#[inline(always)]
pub fn eligible(t: &TaskView, a: &AnnotatorView) -> bool {
    !a.banned
        && (if t.stage != 0 {
            a.stages.contains(t.stage)
        } else if t.review {
            a.reviewer
        } else {
            matches!(a.skills.get(t.ttype as usize), Some(Some(_)))
        })
        && t.language.is_none_or(|l| a.languages.contains(l))
        && (a.reserved_for.is_empty() || a.reserved_for.contains(t.stream))
        && !t.labelers.contains(&a.idx)
        && (t.declined.is_empty() || !t.declined.contains(&a.idx))
        && t.reserved_for.as_ref().is_none_or(|r| r.contains(&a.idx))
}

/// The state a router decides on.
pub struct RouteState<'a> {
    pub now: SimTime,
    pub annotators: &'a [AnnotatorView],
    pub tasks: &'a TaskViews,
    /// Waiting tasks with open assignments, in the order they joined (with counts per stream).
    pub queue: &'a WaitQueue,
    /// Idle, on-shift annotators, longest idle first.
    pub idle: &'a [AnnotatorId],
}

impl RouteState<'_> {
    /// The view of a task in the queue (every queued id has one).
    #[inline]
    pub fn task(&self, id: TaskId) -> &TaskView {
        self.tasks.view(id)
    }
    #[inline]
    pub fn annotator(&self, idx: AnnotatorId) -> &AnnotatorView {
        &self.annotators[idx as usize]
    }
}

/// A routing policy. The decision core asks it at two moments: an annotator became free (which
/// waiting task?) and a task became available (which idle annotator?). Returning None leaves the
/// annotator idle or the task waiting. Implementations must only return eligible pairs. The random
/// source is the caller's (the simulation passes its seeded stream, live its own).
pub trait Router: Send {
    fn name(&self) -> &str;
    /// Position in `st.queue` of the task the free annotator `a` should take.
    fn pick_task(&mut self, a: AnnotatorId, st: &RouteState, rng: &mut dyn RngCore) -> Option<usize>;
    /// Position in `st.idle` of the annotator who should take task `t`.
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, rng: &mut dyn RngCore) -> Option<usize>;
    /// Batch policies: the core runs [`Router::assign_batch`] every this often, from time 0
    /// (None, the default: never). Such policies usually answer None to the two picks above.
    fn batch_interval(&self) -> Option<Dur> {
        None
    }
    /// Batch policies: pairs (waiting task, idle annotator) to assign now. Pairs that are not
    /// eligible, not idle or no longer open are skipped by the core.
    fn assign_batch(&mut self, _st: &RouteState, _rng: &mut dyn RngCore) -> Vec<(TaskId, AnnotatorId)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// `eligible` splits into the task's class (stream, type, language, review, stage) and its own
    /// labelers and decliners, as its doc comment promises to indexes.
    #[test]
    fn eligibility_is_class_then_turns_away() {
        let mut g = rand_chacha::ChaCha8Rng::seed_from_u64(17);
        for _ in 0..20_000 {
            let skills = (0..3).map(|_| g.random_bool(0.6).then_some(Skill { accuracy: 0.9, mean_secs: 30.0, cost_per_item: 0.1 })).collect();
            let a = AnnotatorView {
                idx: g.random_range(0..4),
                pool: 0,
                skills,
                languages: (0..3u16).filter(|_| g.random_bool(0.5)).collect(),
                idle_since: SimTime::ZERO,
                trust: 0.9,
                banned: g.random_bool(0.1),
                reserved_for: (0..3u16).filter(|_| g.random_bool(0.2)).collect(),
                reviewer: g.random_bool(0.3),
                stages: (1..4u16).filter(|_| g.random_bool(0.4)).collect(),
            };
            let stage = if g.random_bool(0.5) { 0 } else { g.random_range(1..4) };
            let mut t = TaskView { stream: g.random_range(0..3), ttype: g.random_range(0..4), language: g.random_bool(0.5).then(|| g.random_range(0..3)), review: g.random_bool(0.2), stage, ..Default::default() };
            let class = t.clone();
            t.labelers = (0..4u32).filter(|_| g.random_bool(0.3)).collect();
            t.declined = (0..4u32).filter(|_| g.random_bool(0.2)).collect();
            if g.random_bool(0.2) {
                t.reserved_for = Some(Box::new((0..4u32).filter(|_| g.random_bool(0.5)).collect()));
            }
            assert_eq!(eligible(&t, &a), eligible(&class, &a) && !t.turns_away(a.idx), "{t:?} {a:?}");
        }
    }

    #[test]
    fn index_sets_have_no_cap() {
        let s: IndexSet = [0u16, 5, 63, 64, 300, 65535, 5].into_iter().collect();
        for i in [0u16, 5, 63, 64, 300, 65535] {
            assert!(s.contains(i), "{i}");
        }
        for i in [1u16, 62, 65, 299] {
            assert!(!s.contains(i), "{i}");
        }
        assert_eq!(s.iter().collect::<Vec<_>>(), [0, 5, 63, 64, 300, 65535]);
        assert!(IndexSet::default().is_empty() && !s.is_empty());
        let high: IndexSet = [100u16].into_iter().collect();
        assert!(!high.is_empty() && high.contains(100) && !high.contains(36));
    }
}
