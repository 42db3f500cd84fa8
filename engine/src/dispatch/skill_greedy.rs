//! Skill-greedy: each task goes to the idle annotator with the highest expected accuracy on its
//! type; a free annotator takes the waiting task on which it is most accurate (oldest first).

use super::{eligible, RouteState, Router};
use crate::domain::{AnnotatorIdx, TaskId};
use rand::RngCore;

pub struct SkillGreedy;

fn accuracy(st: &RouteState, a: AnnotatorIdx, ttype: u16) -> f64 {
    st.annotator(a).skills[ttype as usize].map_or(0.0, |s| s.accuracy)
}

impl Router for SkillGreedy {
    fn name(&self) -> &str {
        "skill-greedy"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        let view = st.annotator(a);
        // No task can beat the annotator's best skill: stop at the first (oldest) one that matches it.
        let ceiling = view.skills.iter().flatten().map(|s| s.accuracy).fold(f64::MIN, f64::max);
        let mut best: Option<(usize, f64)> = None;
        for (pos, &t) in st.queue.iter().enumerate() {
            let task = st.task(t);
            if !eligible(task, view) {
                continue;
            }
            let acc = accuracy(st, a, task.ttype);
            if best.is_none_or(|(_, b)| acc > b) {
                best = Some((pos, acc));
                if acc >= ceiling {
                    break;
                }
            }
        }
        best.map(|(p, _)| p)
    }
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        let task = st.task(t);
        let mut best: Option<(usize, f64)> = None;
        for (pos, &a) in st.idle.iter().enumerate() {
            if !eligible(task, st.annotator(a)) {
                continue;
            }
            let acc = accuracy(st, a, task.ttype);
            if best.is_none_or(|(_, b)| acc > b) {
                best = Some((pos, acc));
            }
        }
        best.map(|(p, _)| p)
    }
}
