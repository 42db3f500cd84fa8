//! Label Studio's next-task cascade (label_studio/projects/functions/next_task.py, as documented
//! in its "task sampling" guide): (1) a task already assigned to the annotator, (2) a task the
//! annotator holds a lock on, (3) ground-truth tasks first, (4) breadth-first: tasks with the
//! fewest labels, (5) sampling: uniformly at random among what is left.
//!
//! Steps 1 and 2 never apply in the dispatcher (an annotator only asks when it holds nothing),
//! so a free annotator takes, among eligible tasks, a golden one (`TaskView.gold`) if any, then one
//! with the fewest labels so far, ties uniformly at random (the run's random stream). Label Studio
//! is pull-based: a new task goes to the annotator who has been asking the longest (longest idle).
//!
//! The definition is [`LabelStudio::pick_task_scan`]: one pass over the queue in order keeping the
//! best key (not gold, labels) so far, with reservoir sampling among the tasks that equal it, one
//! draw from the run's stream per tie after the first. [`LabelStudio::pick_task`] gives the same
//! task *and leaves the random stream in the same state* from the [`QueueIndex`]: it finds, for
//! each key level, the first task the annotator may take; the levels the scan's running best
//! passes through (each level whose first task comes before every better level's); how many ties
//! the scan meets at each (counts over id ranges); then makes the same draws in the same order and
//! walks to the winner. What stays linear is the draws themselves: a decision still costs one
//! draw per tie (a few ns each), the price of sampling exactly as the scan does.

use crate::common::{longest_idle, reservoir};
use crate::index::{Cursor, QueueIndex};
use tessera_engine::dispatch::{eligible, RouteState, Router, TaskView};
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use rand::RngCore;

/// The cascade's key as one number, smaller is better: not gold (bit 32), then labels so far.
#[inline]
fn level(t: &TaskView) -> u64 {
    ((!t.gold as u64) << 32) | t.labelers.len().min(u32::MAX as usize) as u64
}

pub struct LabelStudio {
    index: QueueIndex<u64>,
    /// Scratch, reused: eligible classes (and a flag per class), (level, first id) pairs, the
    /// levels the running best visits (level, from, to), merge heads (class, place, id).
    classes: Vec<u32>,
    eligible_class: Vec<bool>,
    firsts: Vec<(u64, u64)>,
    visited: Vec<(u64, u64, u64)>,
    heads: Vec<(u32, Cursor, u64)>,
}

impl Default for LabelStudio {
    fn default() -> Self {
        LabelStudio { index: QueueIndex::new(|t| Some(level(t))), classes: Vec::new(), eligible_class: Vec::new(), firsts: Vec::new(), visited: Vec::new(), heads: Vec::new() }
    }
}

impl LabelStudio {
    /// The definition: one pass over the whole queue.
    pub fn pick_task_scan(a: AnnotatorIdx, st: &RouteState, rng: &mut dyn RngCore) -> Option<usize> {
        let view = st.annotator(a);
        // Key: (not gold, labels so far); smaller is better.
        let mut best: Option<(usize, (bool, usize))> = None;
        let mut ties = 0u32;
        for (pos, &t) in st.queue.iter().enumerate() {
            let task = st.task(t);
            if !eligible(task, view) {
                continue;
            }
            let key = (!task.gold, task.labelers.len());
            match best {
                Some((_, b)) if key > b => {}
                Some((_, b)) if key == b => {
                    ties += 1;
                    if reservoir(ties, rng) {
                        best = Some((pos, key));
                    }
                }
                _ => {
                    best = Some((pos, key));
                    ties = 1;
                }
            }
        }
        best.map(|b| b.0)
    }

    /// Tasks at `level` in the eligible classes with id in [from, to) (to = None: no end) that `a`
    /// may take.
    fn ties(&self, a: AnnotatorIdx, level: u64, from: u64, to: Option<u64>) -> u64 {
        let ix = &self.index;
        let end = to.map_or((level + 1, 0), |to| (level, to));
        let mut n: u64 = self.classes.iter().map(|&c| ix.classes()[c as usize].tasks.count_range(&(level, from), &end) as u64).sum();
        if let Some(away) = ix.away(a) {
            for id in away.iter_from(&from).take_while(|&id| to.is_none_or(|to| id < to)) {
                if let Some((c, Some(l))) = ix.entry(id) {
                    if l == level && self.eligible_class[c as usize] {
                        n -= 1;
                    }
                }
            }
        }
        n
    }

    fn pick_indexed(&mut self, a: AnnotatorIdx, st: &RouteState, rng: &mut dyn RngCore) -> Option<usize> {
        let view = st.annotator(a);
        let ix = &self.index;
        self.classes.clear();
        self.eligible_class.clear();
        for (c, class) in ix.classes().iter().enumerate() {
            let ok = !class.tasks.is_empty() && eligible(&class.rep, view);
            self.eligible_class.push(ok);
            if ok {
                self.classes.push(c as u32);
            }
        }
        // Per class and level: the first task `a` may take.
        self.firsts.clear();
        for &c in &self.classes {
            let tasks = &ix.classes()[c as usize].tasks;
            let mut next = tasks.first();
            while let Some((lvl, _)) = next {
                let mut cur = tasks.lower_bound(&(lvl, 0));
                next = None;
                while let Some((l, id)) = tasks.at(cur) {
                    if l != lvl {
                        next = Some((l, id));
                        break;
                    }
                    if !ix.turns_away(a, id) {
                        self.firsts.push((lvl, id));
                        next = tasks.at(tasks.lower_bound(&(lvl + 1, 0)));
                        break;
                    }
                    cur = tasks.next(cur);
                }
            }
        }
        if self.firsts.is_empty() {
            return None;
        }
        // Best level first; per level, the earliest first task.
        self.firsts.sort_unstable();
        // The scan's running best: the best level holds from its first task on; a worse level held
        // before it if its first task comes before every better level's.
        let (best, first) = self.firsts[0];
        let mut bound = first;
        self.visited.clear();
        for &(lvl, f) in &self.firsts[1..] {
            if f < bound {
                self.visited.push((lvl, f, bound));
                bound = f;
            }
        }
        // The draws, in queue order: the visited levels (latest pushed = earliest in the queue),
        // whose outcome the best level then overrides, then the best level's.
        for i in (0..self.visited.len()).rev() {
            let (lvl, from, to) = self.visited[i];
            for k in 2..=self.ties(a, lvl, from, Some(to)) {
                reservoir(k as u32, rng);
            }
        }
        let n = self.ties(a, best, first, None);
        let mut winner = 1u64;
        for k in 2..=n {
            if reservoir(k as u32, rng) {
                winner = k;
            }
        }
        // Walk to the winner: the eligible classes' tasks at the best level, merged in id order,
        // less those that turn `a` away (its away set walked alongside).
        self.heads.clear();
        for &c in &self.classes {
            let tasks = &ix.classes()[c as usize].tasks;
            let cur = tasks.lower_bound(&(best, first));
            if let Some((l, id)) = tasks.at(cur) {
                if l == best {
                    self.heads.push((c, cur, id));
                }
            }
        }
        let away = ix.away(a);
        if let ([(c, cur, _)], None) = (&self.heads[..], away) {
            // One class and nothing turns `a` away: the winner is `winner - 1` places on.
            let tasks = &ix.classes()[*c as usize].tasks;
            return tasks.at(tasks.advance(*cur, winner as usize - 1)).and_then(|(_, id)| st.queue.position_of(TaskId(id)));
        }
        let mut away_at = away.map(|s| s.lower_bound(&first));
        let mut seen = 0u64;
        loop {
            let mut h = 0;
            for i in 1..self.heads.len() {
                if self.heads[i].2 < self.heads[h].2 {
                    h = i;
                }
            }
            let (c, cur, id) = *self.heads.get(h)?;
            let turned = match (away, away_at.as_mut()) {
                (Some(s), Some(at)) => {
                    while s.at(*at).is_some_and(|x| x < id) {
                        *at = s.next(*at);
                    }
                    s.at(*at) == Some(id)
                }
                _ => false,
            };
            if !turned {
                seen += 1;
                if seen == winner {
                    return st.queue.position_of(TaskId(id));
                }
            }
            let tasks = &ix.classes()[c as usize].tasks;
            let next = tasks.next(cur);
            match tasks.at(next) {
                Some((l, id)) if l == best => self.heads[h] = (c, next, id),
                _ => {
                    self.heads.swap_remove(h);
                }
            }
        }
    }
}

impl Router for LabelStudio {
    fn name(&self) -> &str {
        "label-studio"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, rng: &mut dyn RngCore) -> Option<usize> {
        if self.index.refresh(st) {
            self.pick_indexed(a, st, rng)
        } else {
            Self::pick_task_scan(a, st, rng)
        }
    }
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        longest_idle(t, st)
    }
}
