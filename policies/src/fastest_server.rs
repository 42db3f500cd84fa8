//! Fastest-server-first: a new task goes to the eligible idle annotator with the lowest declared
//! mean time per item on its type (ties to the one idle longest); a free annotator takes the
//! oldest eligible task.

use crate::common::{fastest_idle, oldest_task};
use tessera_engine::dispatch::{RouteState, Router};
use tessera_engine::domain::{AnnotatorIdx, TaskSlot};
use tessera_engine::kernel::ActorRng;

pub struct FastestServerFirst;

impl Router for FastestServerFirst {
    fn name(&self) -> &str {
        "fastest-server-first"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, _: &mut ActorRng) -> Option<usize> {
        oldest_task(a, st)
    }
    fn pick_annotator(&mut self, t: TaskSlot, st: &RouteState, _: &mut ActorRng) -> Option<usize> {
        fastest_idle(t, st)
    }
}
