//! Small helpers the policies share: FIFO and longest-idle picks, declared rates, reservoir
//! sampling. All allocation-free.

use rand::Rng;
use tessera_engine::dispatch::{eligible, AnnotatorView, RouteState, Skill};
use tessera_engine::dispatch::TaskView;
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use rand::RngCore;

/// The declared skill of `a` on `t`'s type (Some whenever the pair is eligible).
#[inline]
pub fn skill(t: &TaskView, a: &AnnotatorView) -> Option<Skill> {
    a.skills.get(t.ttype as usize).copied().flatten()
}

/// [items/h] declared service rate of `a` on `t`'s type (0 when unqualified).
#[inline]
pub fn rate(t: &TaskView, a: &AnnotatorView) -> f64 {
    skill(t, a).map_or(0.0, |s| 3600.0 / s.mean_secs.max(1e-9))
}

/// Position of the oldest waiting task `a` may take.
#[inline]
pub fn oldest_task(a: AnnotatorIdx, st: &RouteState) -> Option<usize> {
    let a = st.annotator(a);
    st.queue.iter().position(|&t| eligible(st.task(t), a))
}

/// Position in `st.idle` of the eligible annotator idle the longest (earliest `idle_since`;
/// ties to the earlier position).
#[inline]
pub fn longest_idle(t: TaskId, st: &RouteState) -> Option<usize> {
    let task = st.task(t);
    let mut best: Option<(usize, u64)> = None;
    for (pos, &a) in st.idle.iter().enumerate() {
        let view = st.annotator(a);
        if eligible(task, view) && best.is_none_or(|(_, s)| view.idle_since.0 < s) {
            best = Some((pos, view.idle_since.0));
        }
    }
    best.map(|b| b.0)
}

/// Position in `st.idle` of the eligible annotator with the shortest declared mean time (ties to
/// the earlier position, i.e. idle longer).
#[inline]
pub fn fastest_idle(t: TaskId, st: &RouteState) -> Option<usize> {
    let task = st.task(t);
    let mut best: Option<(usize, f64)> = None;
    for (pos, &a) in st.idle.iter().enumerate() {
        let view = st.annotator(a);
        if !eligible(task, view) {
            continue;
        }
        let secs = skill(task, view).map_or(f64::INFINITY, |s| s.mean_secs);
        if best.is_none_or(|(_, b)| secs < b) {
            best = Some((pos, secs));
        }
    }
    best.map(|b| b.0)
}

/// Reservoir sampling of one item: call with the k-th candidate (k counted from 1); returns
/// whether it replaces the current pick (each of k candidates ends up chosen with probability 1/k).
#[inline]
pub fn reservoir(k: u32, rng: &mut dyn RngCore) -> bool {
    k == 1 || rng.random_range(0..k) == 0
}

/// Position of the oldest task `a` may take among the streams whose bit is set in `streams`
/// (bit i = stream i), or None. The fast path of the class-based policies: once they know the best
/// class from the per-stream counts, the first eligible task of it is usually near the front.
#[inline]
pub fn oldest_in_streams(a: AnnotatorIdx, st: &RouteState, streams: u64) -> Option<usize> {
    if streams == 0 {
        return None;
    }
    let a = st.annotator(a);
    st.queue.iter().position(|&t| {
        let task = st.task(t);
        streams & (1u64 << task.stream) != 0 && eligible(task, a)
    })
}
