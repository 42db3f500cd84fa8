//! Random: a free annotator takes a uniformly random eligible waiting task; a new task goes to a
//! uniformly random eligible idle annotator. The baseline every smarter policy must beat (and,
//! for servers that differ only in speed, the same long-run behaviour as longest-idle: Doroudi &
//! Gopalakrishnan's result, checked in `tests/metamorphic.rs`).

use crate::common::reservoir;
use tessera_engine::dispatch::{eligible, RouteState, Router};
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use rand::Rng;
use rand::RngCore;

pub struct Random;

/// Uniform probes before falling back to a full reservoir scan.
const PROBES: usize = 8;

impl Router for Random {
    fn name(&self) -> &str {
        "random"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, rng: &mut dyn RngCore) -> Option<usize> {
        let view = st.annotator(a);
        // Rejection sampling: a uniform position that is eligible is a uniform eligible task.
        // After a few misses (few eligible tasks), the reservoir scan below, also uniform.
        if !st.queue.is_empty() {
            for _ in 0..PROBES {
                let pos = rng.random_range(0..st.queue.len());
                if eligible(st.task(st.queue[pos]), view) {
                    return Some(pos);
                }
            }
        }
        let (mut pick, mut k) = (None, 0u32);
        for (pos, &t) in st.queue.iter().enumerate() {
            if eligible(st.task(t), view) {
                k += 1;
                if reservoir(k, rng) {
                    pick = Some(pos);
                }
            }
        }
        pick
    }
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, rng: &mut dyn RngCore) -> Option<usize> {
        let task = st.task(t);
        let (mut pick, mut k) = (None, 0u32);
        for (pos, &a) in st.idle.iter().enumerate() {
            if eligible(task, st.annotator(a)) {
                k += 1;
                if reservoir(k, rng) {
                    pick = Some(pos);
                }
            }
        }
        pick
    }
}
