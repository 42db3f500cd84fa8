//! What a learned policy sees at one routing decision: a short list of candidates, each a
//! (task, annotator) pair described by [`PAIR`] numbers, and [`GLOBAL`] numbers about the whole
//! state. Only what [`RouteState`] shows (declared skills, trust, ages, deadlines, confidence,
//! counts): never hidden truth or hidden state such as fatigue.
//!
//! Candidates, so that a decision never scans the whole queue:
//! - an annotator became free: the first eligible waiting task of each stream whose type the
//!   annotator is qualified for (within a stream the queue is in arrival, hence deadline, order;
//!   a later task of the same stream is never better on age or slack). Where the stream facts do
//!   not speak for the tasks (live tasks with their own deadlines, stages needing other skills,
//!   reviewers), the first eligible task of each stream among the first [`SCAN_CAP`] positions;
//! - a task became available: in each pool, the eligible idle annotator idle the longest and, when
//!   another, the one with the highest trust (the online reliability estimate: people within a
//!   pool differ, and trust is how routing may know it).
//!
//! At most [`MAX_CANDIDATES`] candidates (the first found); a decision with one candidate is no
//! decision, and a policy takes it without asking the network.
//!
//! [`Candidates::OldestAndYoungest`] (chosen at training, kept in the policy file) also offers a
//! free annotator the youngest eligible waiting task of each stream, found from the back of the
//! queue the same way: the choice between serving a stream first-come-first-served and serving
//! its freshest work first (with a stale backlog, the fresh work can still meet its turnaround
//! while much of the backlog is late whatever is done). Without it, a one-stream scenario gives
//! a free annotator no choice at all.

use crate::common::skill;
use tessera_engine::dispatch::{eligible, AnnotatorView, RouteState, TaskView};
use tessera_engine::domain::{AnnotatorIdx, TaskId};

/// Numbers per candidate pair.
pub const PAIR: usize = 30;
/// Numbers about the whole state.
pub const GLOBAL: usize = 10;
/// Candidates per decision at most.
pub const MAX_CANDIDATES: usize = 16;
/// One-hot slots for streams and pools (index modulo this).
pub const SLOTS: usize = 8;
/// Queue positions looked at, at most, when the stream facts do not decide.
pub const SCAN_CAP: usize = 4096;

/// Which tasks a free annotator is offered (see the module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Candidates {
    /// The oldest eligible waiting task of each stream.
    #[default]
    Oldest,
    /// The oldest and the youngest eligible waiting task of each stream.
    OldestAndYoungest,
}

impl Candidates {
    /// Every rule's name, as `tessera train --candidates` takes it.
    pub const NAMES: [&'static str; 2] = ["oldest", "oldest-and-youngest"];
    pub fn name(self) -> &'static str {
        match self {
            Candidates::Oldest => Self::NAMES[0],
            Candidates::OldestAndYoungest => Self::NAMES[1],
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "oldest" => Some(Candidates::Oldest),
            "oldest-and-youngest" => Some(Candidates::OldestAndYoungest),
            _ => None,
        }
    }
}

/// One decision: candidates and their features.
#[derive(Clone, Debug, Default)]
pub struct Decision {
    /// 1: an annotator became free and picks a task; 0: a task picks an idle annotator.
    pub picks_task: bool,
    /// Per candidate: its position (in `st.queue` when picking a task, in `st.idle` otherwise).
    pub positions: Vec<usize>,
    /// Per candidate its stream (picking a task) or pool (picking an annotator): how a
    /// teacher's pick is mapped to a candidate.
    pub groups: Vec<u16>,
    /// `positions.len() × PAIR` numbers, row by row.
    pub pairs: Vec<f32>,
    pub global: [f32; GLOBAL],
}

impl Decision {
    pub fn len(&self) -> usize {
        self.positions.len()
    }
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }
    pub fn clear(&mut self) {
        self.positions.clear();
        self.groups.clear();
        self.pairs.clear();
    }
}

#[inline]
fn hours(us: u64) -> f32 {
    us as f32 / 3.6e9
}

/// log(1 + x) with the sign kept.
#[inline]
fn slog(x: f32) -> f32 {
    x.signum() * x.abs().ln_1p()
}

fn global(st: &RouteState, picks_task: bool) -> [f32; GLOBAL] {
    let mut g = [0f32; GLOBAL];
    for s in 0..st.queue.streams().len() {
        g[s % SLOTS] += st.queue.waiting(s as u16) as f32;
    }
    for v in g.iter_mut().take(SLOTS) {
        *v = v.ln_1p();
    }
    g[SLOTS] = (st.idle.len() as f32).ln_1p();
    g[SLOTS + 1] = picks_task as u8 as f32;
    g
}

fn max_holding(st: &RouteState) -> f32 {
    st.queue.streams().iter().map(|f| f.holding_cost).fold(0f32, f32::max).max(1e-6)
}

/// Appends the pair features of (t, a) to `out`.
fn pair(out: &mut Vec<f32>, st: &RouteState, t: &TaskView, a: &AnnotatorView, picks_task: bool, h_max: f32) {
    let start = out.len();
    out.resize(start + PAIR, 0.0);
    let f = &mut out[start..];
    let sk = skill(t, a);
    let rate = sk.map_or(0.0, |s| 3600.0 / s.mean_secs.max(1e-9)) as f32;
    f[0] = picks_task as u8 as f32;
    f[1 + t.stream as usize % SLOTS] = 1.0;
    f[1 + SLOTS + a.pool as usize % SLOTS] = 1.0;
    f[17] = t.holding_cost / h_max;
    f[18] = rate.ln_1p();
    f[19] = (t.holding_cost / h_max * rate).ln_1p();
    f[20] = hours(st.now.0.saturating_sub(t.arrival.0)).ln_1p();
    if let Some(d) = t.deadline {
        f[21] = slog(hours(d.0) - hours(st.now.0));
        f[22] = 1.0;
    }
    f[23] = sk.map_or(0.0, |s| s.accuracy as f32);
    f[24] = a.trust;
    f[25] = sk.map_or(0.0, |s| s.cost_per_item as f32).ln_1p();
    f[26] = t.confidence;
    f[27] = (t.open as f32).ln_1p();
    f[28] = (st.queue.waiting(t.stream) as f32).ln_1p();
    f[29] = hours(st.now.0.saturating_sub(a.idle_since.0)).ln_1p();
}

/// The candidates for free annotator `a` under the oldest-first rule (see the module doc), into
/// `d`.
pub fn for_annotator(a: AnnotatorIdx, st: &RouteState, d: &mut Decision) {
    for_annotator_with(a, st, d, Candidates::Oldest);
}

/// The candidates for free annotator `a` under `rule` (see the module doc), into `d`.
pub fn for_annotator_with(a: AnnotatorIdx, st: &RouteState, d: &mut Decision, rule: Candidates) {
    d.clear();
    d.picks_task = true;
    d.global = global(st, true);
    let view = st.annotator(a);
    let streams = st.queue.streams();
    let h_max = max_holding(st);
    // Streams still to find a task for: a bit mask below 64 streams, else found by list.
    let fast = !view.reviewer && streams.len() <= 64 && st.queue.stream_facts_decide();
    let mut wanted: u64 = 0;
    if fast {
        for (s, f) in streams.iter().enumerate() {
            if st.queue.waiting(s as u16) > 0 && view.skills.get(f.ttype as usize).copied().flatten().is_some() {
                wanted |= 1u64 << s;
            }
        }
        if wanted == 0 {
            return;
        }
    }
    let oldest = first_per_stream(st.queue.iter().enumerate(), st, view, d, fast, wanted, h_max);
    if rule == Candidates::OldestAndYoungest && oldest > 0 {
        // The same search from the back, for the streams that have an oldest candidate; a
        // stream whose oldest is also its youngest gives one candidate.
        let back = if fast { d.groups[..oldest].iter().fold(0u64, |m, &g| m | 1u64 << g) } else { 0 };
        let heads: Vec<usize> = d.positions[..oldest].to_vec();
        let from = d.len();
        first_per_stream(st.queue.iter().enumerate().rev(), st, view, d, fast, back, h_max);
        // Drop the youngest that are their stream's oldest too (one eligible task).
        let mut k = from;
        while k < d.len() {
            if heads.contains(&d.positions[k]) {
                d.positions.remove(k);
                d.groups.remove(k);
                d.pairs.drain(k * PAIR..(k + 1) * PAIR);
            } else {
                k += 1;
            }
        }
    }
}

/// Appends to `d` the first eligible task of each stream met along `order` (queue positions and
/// ids): in `fast` mode those of the streams in `wanted`, else of any stream among the first
/// [`SCAN_CAP`] positions met. Returns how many were added.
fn first_per_stream<'q>(order: impl Iterator<Item = (usize, &'q TaskId)>, st: &RouteState, view: &AnnotatorView, d: &mut Decision, fast: bool, mut wanted: u64, h_max: f32) -> usize {
    let before = d.len();
    let mut seen: Vec<u16> = Vec::new();
    for (met, (pos, &t)) in order.enumerate() {
        if fast && wanted == 0 || !fast && met >= SCAN_CAP || d.len() >= MAX_CANDIDATES {
            break;
        }
        let task = st.task(t);
        if fast {
            let bit = 1u64 << task.stream;
            if wanted & bit == 0 {
                continue;
            }
            if !eligible(task, view) {
                continue;
            }
            wanted &= !bit;
        } else {
            if seen.contains(&task.stream) || !eligible(task, view) {
                continue;
            }
            seen.push(task.stream);
        }
        d.positions.push(pos);
        d.groups.push(task.stream);
        pair(&mut d.pairs, st, task, view, true, h_max);
    }
    d.len() - before
}

/// The candidates for task `t` (see the module doc), into `d`.
pub fn for_task(t: TaskId, st: &RouteState, d: &mut Decision) {
    d.clear();
    d.picks_task = false;
    d.global = global(st, false);
    let task = st.task(t);
    let h_max = max_holding(st);
    // Per pool: (pool, position of its longest idle, position and trust of its most trusted).
    let mut pools: Vec<(u16, usize, usize, f32)> = Vec::new();
    for (pos, &a) in st.idle.iter().enumerate() {
        let view = st.annotator(a);
        if !eligible(task, view) {
            continue;
        }
        // `idle` is longest idle first: the first eligible of each pool is its longest idle.
        match pools.iter_mut().find(|p| p.0 == view.pool) {
            Some(p) => {
                if view.trust > p.3 {
                    (p.2, p.3) = (pos, view.trust);
                }
            }
            None => pools.push((view.pool, pos, pos, view.trust)),
        }
    }
    for &(pool, longest, trusted, _) in &pools {
        let picks = [longest, trusted];
        for &pos in if trusted == longest { &picks[..1] } else { &picks[..] } {
            if d.len() >= MAX_CANDIDATES {
                break;
            }
            d.positions.push(pos);
            d.groups.push(pool);
            pair(&mut d.pairs, st, task, st.annotator(st.idle[pos]), false, h_max);
        }
    }
}
