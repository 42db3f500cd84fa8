//! Fastest-server-first: a new task goes to the eligible idle annotator with the lowest declared
//! mean time per item on its type (ties to the one idle longest); a free annotator takes the
//! oldest eligible task.

use crate::common::{fastest_idle, oldest_task};
use tessera_engine::dispatch::{RouteState, Router};
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use rand::RngCore;

pub struct FastestServerFirst;

impl Router for FastestServerFirst {
    fn name(&self) -> &str {
        "fastest-server-first"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        oldest_task(a, st)
    }
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        fastest_idle(t, st)
    }
}
