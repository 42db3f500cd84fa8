//! FIFO: the oldest waiting task goes to the longest-idle eligible annotator.

use super::{eligible, RouteState, Router};
use crate::domain::{AnnotatorIdx, TaskId};
use rand::RngCore;

/// First come, first served; ties in annotators go to the one idle longest.
pub struct Fifo;

impl Router for Fifo {
    fn name(&self) -> &str {
        "fifo"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        let a = st.annotator(a);
        st.queue.iter().position(|&t| eligible(st.task(t), a))
    }
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        let t = st.task(t);
        st.idle.iter().position(|&a| eligible(t, st.annotator(a)))
    }
}
