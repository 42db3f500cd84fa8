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
//! The definition is [`LabelStudio::pick_task_scan`]: among the eligible tasks with the best key
//! (not gold, labels so far), one uniformly at random with a single draw from the run's stream.
//! [`LabelStudio::pick_task`] gives the same task and the same draw from the [`QueueIndex`]: the
//! first task the annotator may take at each key level, the number of ties at the best level
//! (counts over id ranges), one draw, and a walk to the winner, so that a decision does not grow
//! with the queue. (Until issue 8 the scan sampled by reservoir, one draw per tie: the same
//! distribution, but a cost linear in the ties, and different draws.)

use crate::common::longest_idle;
use crate::index::{Cursor, QueueIndex};
use tessera_engine::dispatch::{eligible, RouteState, Router, TaskView};
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use rand::RngCore;

/// One of `n` equally good tasks, uniformly: a single draw when there are several, none for one.
fn draw(n: u64, rng: &mut dyn RngCore) -> u64 {
    use rand::Rng;
    if n > 1 { rng.random_range(0..n) } else { 0 }
}

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
    heads: Vec<(u32, Cursor, u64)>,
}

impl Default for LabelStudio {
    fn default() -> Self {
        LabelStudio { index: QueueIndex::new(|t| Some(level(t))), classes: Vec::new(), eligible_class: Vec::new(), firsts: Vec::new(), heads: Vec::new() }
    }
}

impl LabelStudio {
    /// The definition: the eligible tasks with the best key (not gold, labels so far), one of them
    /// uniformly at random with a single draw from the run's stream (none when there is one).
    pub fn pick_task_scan(a: AnnotatorIdx, st: &RouteState, rng: &mut dyn RngCore) -> Option<usize> {
        let view = st.annotator(a);
        let mut best: Option<(bool, usize)> = None;
        let mut n = 0u64;
        for &t in st.queue.iter() {
            let task = st.task(t);
            if !eligible(task, view) {
                continue;
            }
            let key = (!task.gold, task.labelers.len());
            if best.is_none_or(|b| key < b) {
                best = Some(key);
                n = 1;
            } else if best == Some(key) {
                n += 1;
            }
        }
        let best = best?;
        let mut k = draw(n, rng);
        for (pos, &t) in st.queue.iter().enumerate() {
            let task = st.task(t);
            if eligible(task, view) && (!task.gold, task.labelers.len()) == best {
                if k == 0 {
                    return Some(pos);
                }
                k -= 1;
            }
        }
        None
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
        let (best, first) = self.firsts[0];
        let n = self.ties(a, best, first, None);
        let winner = draw(n, rng) + 1;
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
