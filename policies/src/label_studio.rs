//! Label Studio's next-task cascade (label_studio/projects/functions/next_task.py, as documented
//! in its "task sampling" guide): (1) a task already assigned to the annotator, (2) a task the
//! annotator holds a lock on, (3) ground-truth tasks first, (4) breadth-first: tasks with the
//! fewest labels, (5) sampling: uniformly at random among what is left.
//!
//! Steps 1 and 2 never apply in the dispatcher (an annotator only asks when it holds nothing),
//! so a free annotator takes, among eligible tasks, a golden one (`TaskView.gold`) if any, then one
//! with the fewest labels so far, ties uniformly at random (the run's random stream). Label Studio
//! is pull-based: a new task goes to the annotator who has been asking the longest (longest idle).

use crate::common::{longest_idle, reservoir};
use tessera_engine::dispatch::{eligible, RouteState, Router};
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use rand::RngCore;

pub struct LabelStudio;

impl Router for LabelStudio {
    fn name(&self) -> &str {
        "label-studio"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, rng: &mut dyn RngCore) -> Option<usize> {
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
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        longest_idle(t, st)
    }
}
