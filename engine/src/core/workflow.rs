//! A stream's workflow: the stages its tasks go through, as a DAG (petgraph).

use crate::spec::Stage;
use petgraph::algo::toposort;
use petgraph::graph::DiGraph;

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
        let order = toposort(&graph, None).map_err(|_| "the workflow has a cycle".to_string())?.into_iter().map(|n| graph[n]).collect();
        Ok(Workflow { graph, order })
    }
}
