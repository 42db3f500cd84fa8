//! Tasks: their static description (per stream), their workflow DAG and their live state.

use super::AnnotatorIdx;
use crate::spec::{Modality, Stage};
use crate::time::SimTime;
use petgraph::algo::toposort;
use petgraph::graph::DiGraph;
use smallvec::SmallVec;

/// A workflow: the stages a task goes through, as a DAG (petgraph). Today's stages form a chain
/// (label → aggregate); review and adjudication stages hang off the same graph.
#[derive(Clone, Debug)]
pub struct Workflow {
    pub graph: DiGraph<Stage, ()>,
    /// Stages in topological order: the order the dispatcher walks.
    pub order: Vec<Stage>,
}

impl Workflow {
    /// A chain of stages in the given order. Fails on an empty list, a repeated stage, or a chain
    /// that does not label before it aggregates.
    pub fn chain(stages: &[Stage]) -> Result<Workflow, String> {
        if stages.is_empty() {
            return Err("a workflow needs at least one stage".into());
        }
        let mut graph = DiGraph::new();
        let nodes: Vec<_> = stages.iter().map(|s| graph.add_node(*s)).collect();
        for w in nodes.windows(2) {
            graph.add_edge(w[0], w[1], ());
        }
        for (i, s) in stages.iter().enumerate() {
            if stages[..i].contains(s) {
                return Err(format!("stage {s:?} appears twice"));
            }
        }
        let label = stages.iter().position(|s| *s == Stage::Label);
        let agg = stages.iter().position(|s| *s == Stage::Aggregate);
        if let Some(r) = stages.iter().position(|s| *s == Stage::Review) {
            if agg.is_some_and(|a| r < a) {
                return Err("\"review\" must come after \"aggregate\"".into());
            }
        }
        match (label, agg) {
            (Some(l), Some(a)) if l < a => {}
            (None, _) => return Err("a workflow must have a \"label\" stage".into()),
            (Some(_), None) => return Err("a workflow must end labelling with an \"aggregate\" stage".into()),
            _ => return Err("\"label\" must come before \"aggregate\"".into()),
        }
        let order = toposort(&graph, None)
            .map_err(|_| "the workflow has a cycle".to_string())?
            .into_iter()
            .map(|n| graph[n])
            .collect();
        Ok(Workflow { graph, order })
    }
}

/// What one stream's tasks share.
#[derive(Clone, Debug)]
pub struct StreamInfo {
    pub name: String,
    pub task_type: String,
    pub ttype: u16,
    pub modality: Modality,
    pub classes: u16,
    pub priority: u32,
    /// [µs] from arrival.
    pub deadline: Option<u64>,
    /// Language index (into the run's language table).
    pub language: Option<u16>,
    pub workflow: Workflow,
    /// Index of the pre-annotating model actor.
    pub model: Option<u16>,
    /// Mean difficulty of the stream's tasks (given to its golden tasks).
    pub mean_difficulty: f32,
    /// Lowest declared accuracy wanted of an annotator, in [0, 1].
    pub min_accuracy: f64,
    /// [USD per task-hour] holding cost.
    pub holding_cost: f64,
}

/// What a router may see of a waiting task (never its hidden truth).
#[derive(Clone, Debug, Default)]
pub struct TaskView {
    pub slot: u32,
    /// Arrival order over the whole run.
    pub serial: u64,
    pub stream: u16,
    pub ttype: u16,
    pub language: Option<u16>,
    pub priority: u32,
    pub arrival: SimTime,
    pub deadline: Option<SimTime>,
    /// Assignments that may still be handed out now.
    pub open: u16,
    /// Annotators who labelled it or hold it (one label per annotator per task).
    pub labelers: SmallVec<[AnnotatorIdx; 4]>,
    /// Current confidence in the leading label [0, 1] (0 with no labels).
    pub confidence: f32,
    /// A golden task (known answer) mixed in to check annotators.
    pub gold: bool,
    /// Waiting for (or under) expert review: only reviewers may take it.
    pub review: bool,
    /// The stream's bar on declared accuracy, in [0, 1] (`streams.min_accuracy`).
    pub min_accuracy: f32,
    /// [USD per task-hour] the stream's holding cost (`streams.holding_cost`).
    pub holding_cost: f32,
}

/// The dispatcher's record of a live task.
#[derive(Clone, Debug)]
pub struct TaskState {
    pub view: TaskView,
    pub truth: u16,
    pub difficulty: f32,
    pub prelabel: Option<u16>,
    /// Index into the stream's workflow order.
    pub stage: u8,
    pub labels: SmallVec<[(AnnotatorIdx, u16); 4]>,
    pub in_flight: u16,
    pub first_start: Option<SimTime>,
    /// [USD] per-item pay for its labels.
    pub labor_cost: f64,
    /// Arrived inside the statistics window.
    pub counted: bool,
    pub abandonments: u16,
    /// Final label and its confidence, once aggregated.
    pub final_label: Option<(u16, f32)>,
    /// Labels wanted now (grows under dynamic overlap).
    pub target_labels: u16,
    /// In the dispatcher's waiting queue.
    pub queued: bool,
    pub reworks: u16,
    pub reviews: u16,
    /// [µs] spent final before a ban re-opened it.
    pub reopened_gap: u64,
    pub reopened: u16,
}

impl TaskState {
    /// A task at the start of its workflow, with nothing collected yet.
    pub fn new(view: TaskView, truth: u16, difficulty: f32, counted: bool, target_labels: u16) -> TaskState {
        TaskState {
            view,
            truth,
            difficulty,
            prelabel: None,
            stage: 0,
            labels: SmallVec::new(),
            in_flight: 0,
            first_start: None,
            labor_cost: 0.0,
            counted,
            abandonments: 0,
            final_label: None,
            target_labels,
            queued: false,
            reworks: 0,
            reviews: 0,
            reopened_gap: 0,
            reopened: 0,
        }
    }
}
