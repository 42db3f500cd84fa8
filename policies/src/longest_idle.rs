//! Longest-idle: a new task goes to the eligible annotator who has been idle the longest (earliest
//! `idle_since`), which spreads work evenly; a free annotator takes the oldest eligible task.

use crate::common::{longest_idle, oldest_task};
use tessera_engine::dispatch::{RouteState, Router};
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use rand::RngCore;

pub struct LongestIdle;

impl Router for LongestIdle {
    fn name(&self) -> &str {
        "longest-idle"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        oldest_task(a, st)
    }
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        longest_idle(t, st)
    }
}
