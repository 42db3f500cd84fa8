//! A stream's workflow: its stages and conditional edges as a DAG (petgraph), checked once and
//! walked by the core (`workflow_walk.rs`). The scenario's chain syntax (`workflow = ["label",
//! "aggregate", "review"]`) is turned into the same graph by [`chain_stages`], so there is one
//! walk.
//!
//! Rules of the walk: a task is at one stage at a time. When a stage is done (its labels or
//! verdicts are in, or the model answered) its edges are tried in the order written; the first
//! whose condition holds is taken; when none holds the task is final with its current label.
//! `rework` (from a review stage) starts a fresh round at the first label stage; it is the one
//! way back, bounded by the stage's `max_reworks`, so every walk ends. An edge into a review
//! stage that a task has already been sent back from `max_reworks` times is passed over without
//! evaluating its condition.

use crate::spec::{Condition, EdgeSpec, QualitySpec, ReviewSpec, Stage, StageKind, StageSpec, StreamSpec};
use petgraph::algo::toposort;
use petgraph::graph::DiGraph;
use petgraph::visit::Dfs;

/// Where an edge leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A stage of the same workflow, by index.
    Stage(u8),
    /// The task is final with its current label.
    Final,
    /// A fresh round of labels at the first label stage.
    Rework,
}

/// An edge: its condition and target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Edge {
    pub when: Condition,
    pub to: Target,
}

/// The work of a stage.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StageWork {
    /// `overlap` labels; dynamic overlap (most labels, target confidence); trust-weighted
    /// consensus instead of majority vote.
    Label { overlap: u16, dynamic: Option<(u16, f32)>, weighted: bool },
    /// `overlap` verdicts; a task sent back `max_reworks` times is not reviewed here again.
    Review { overlap: u16, max_reworks: u16 },
    /// The model's pre-label (index into the core's models).
    Model { model: u16 },
}

/// One stage as the core walks it.
#[derive(Clone, Debug)]
pub struct StageNode {
    pub name: String,
    pub work: StageWork,
    /// Run-wide stage number (figures per stage).
    pub sid: u16,
    /// Task type whose skill the work needs (the task's view carries it while at this stage).
    pub ttype: u16,
    /// The stage names its skill (`skill`): a review is then timed by that skill, not by the
    /// reviewer's review time.
    pub own_skill: bool,
    /// The skill's name when the stage names one (`skill`; trace lines give it as the work's
    /// task type).
    pub skill: Option<String>,
    /// Who may work it: 0 = anyone with the skill (a review: the review pool); otherwise the
    /// number annotators carry in `AnnotatorView::stages` when they may.
    pub who: u16,
    pub edges: Vec<Edge>,
}

/// A workflow: stages (the first is the entry) and edges, a DAG apart from `rework` (checked
/// with petgraph by [`check_graph`] when it is built).
#[derive(Clone, Debug)]
pub struct Workflow {
    pub stages: Vec<StageNode>,
    /// Index of the first label stage (where `rework` and a re-open start again).
    pub first_label: Option<u8>,
}

/// The most stages a workflow may have.
pub const MAX_STAGES: usize = 64;

/// Names an edge may lead to besides a stage.
pub const FINAL: &str = "final";
pub const REWORK: &str = "rework";

/// A problem with a workflow graph: where (a path below the stream, e.g. `stages[2].next[0].to`)
/// and what.
pub type GraphProblem = (String, String);

/// Checks a workflow graph: names, edge targets, conditions that fit their stage, cycles and
/// unreachable stages. Empty = fine. (Pools, models and skills are checked against the scenario
/// by validation.)
pub fn check_graph(stages: &[StageSpec]) -> Vec<GraphProblem> {
    let mut p = Vec::new();
    if stages.is_empty() {
        p.push(("stages".into(), "a workflow needs at least one stage".into()));
        return p;
    }
    if stages.len() > MAX_STAGES {
        p.push(("stages".into(), format!("at most {MAX_STAGES} stages per stream are supported, found {}", stages.len())));
        return p;
    }
    for (i, s) in stages.iter().enumerate() {
        let at = |f: &str| format!("stages[{i}].{f}");
        if s.name == FINAL || s.name == REWORK {
            p.push((at("name"), format!("{:?} is the name of an edge target; call the stage something else", s.name)));
        } else if s.name.trim().is_empty() {
            p.push((at("name"), "expected a name, found an empty string".into()));
        } else if stages[..i].iter().any(|x| x.name == s.name) {
            p.push((at("name"), format!("stage {:?} is defined twice in this stream", s.name)));
        }
        for (j, e) in s.next.iter().enumerate() {
            let at = |f: &str| format!("stages[{i}].next[{j}].{f}");
            let known = e.to == FINAL || (e.to == REWORK && s.kind == StageKind::Review) || stages.iter().any(|x| x.name == e.to);
            if e.to == REWORK && s.kind != StageKind::Review {
                p.push((at("to"), format!("stage {:?} is a {} stage: only a review stage can send a task to \"rework\"", s.name, kind_name(s.kind))));
            } else if !known {
                let names: Vec<&str> = stages.iter().map(|x| x.name.as_str()).collect();
                p.push((at("to"), format!("no stage named {:?} in this stream (stages: {}; or \"final\"{})", e.to, names.join(", "), if s.kind == StageKind::Review { ", \"rework\"" } else { "" })));
            } else if e.to == s.name {
                p.push((at("to"), format!("stage {:?} leads to itself: a workflow is acyclic (a review goes back with \"rework\")", s.name)));
            }
            let fits = match e.when {
                Condition::Verdict(_) => s.kind == StageKind::Review,
                Condition::Disagree(_) => s.kind != StageKind::Model,
                Condition::ModelConfidenceAbove(_) | Condition::ModelConfidenceBelow(_) => stages.iter().any(|x| x.kind == StageKind::Model),
                _ => true,
            };
            if !fits {
                let why = match e.when {
                    Condition::Verdict(_) => format!("a verdict condition needs a review stage, and {:?} is a {} stage", s.name, kind_name(s.kind)),
                    Condition::Disagree(_) => format!("a disagreement condition needs a label or review stage, and {:?} is a model stage", s.name),
                    _ => "a model-confidence condition needs a model stage in the stream's workflow".into(),
                };
                p.push((at("when"), why));
            }
            if let Condition::Sampled(x) | Condition::ConfidenceBelow(x) | Condition::ConfidenceAtLeast(x) | Condition::ModelConfidenceAbove(x) | Condition::ModelConfidenceBelow(x) = e.when {
                if !(0.0..=1.0).contains(&x) {
                    p.push((at("when"), format!("expected a probability or confidence between 0 and 1, found {x}")));
                }
            }
        }
    }
    if !p.is_empty() {
        return p;
    }
    let graph = graph_of(stages);
    if let Err(cycle) = toposort(&graph, None) {
        let i = graph[cycle.node_id()] as usize;
        p.push((format!("stages[{i}].next"), format!("the workflow has a cycle through stage {:?} (edges must lead forward; a review goes back only with \"rework\")", stages[i].name)));
        return p;
    }
    let mut seen = vec![false; stages.len()];
    let mut dfs = Dfs::new(&graph, petgraph::graph::NodeIndex::new(0));
    while let Some(n) = dfs.next(&graph) {
        seen[graph[n] as usize] = true;
    }
    for (i, s) in stages.iter().enumerate() {
        if !seen[i] {
            p.push((format!("stages[{i}]"), format!("stage {:?} is unreachable: no edge from the entry stage {:?} leads to it", s.name, stages[0].name)));
        }
    }
    p
}

fn kind_name(k: StageKind) -> &'static str {
    match k {
        StageKind::Label => "label",
        StageKind::Review => "review",
        StageKind::Model => "model",
    }
}

/// The stage graph of checked stages (rework is not an edge of it).
fn graph_of(stages: &[StageSpec]) -> DiGraph<u8, ()> {
    let mut g = DiGraph::new();
    let nodes: Vec<_> = (0..stages.len()).map(|i| g.add_node(i as u8)).collect();
    for (i, s) in stages.iter().enumerate() {
        for e in &s.next {
            if let Some(j) = stages.iter().position(|x| x.name == e.to) {
                g.add_edge(nodes[i], nodes[j], ());
            }
        }
    }
    g
}

/// Checks the chain syntax: stages once each, label before aggregate, review after it.
pub fn check_chain(stages: &[Stage]) -> Result<(), String> {
    if stages.is_empty() {
        return Err("a workflow needs at least one stage".into());
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
        (Some(l), Some(a)) if l < a => Ok(()),
        (None, _) => Err("a workflow must have a \"label\" stage".into()),
        (Some(_), None) => Err("a workflow must end labelling with an \"aggregate\" stage".into()),
        _ => Err("\"label\" must come before \"aggregate\"".into()),
    }
}

/// A stream's workflow as stages: its own `stages`, or the chain (`workflow`, with "review"
/// appended when `[quality.review]` is set and the stream kept the default) written as the
/// same graph: an optional model stage ("pre-annotation") → "label" → "review" when the
/// confidence is below `below_confidence` or with probability `sample` → final; a rejected
/// review goes to rework.
pub fn chain_stages(st: &StreamSpec, q: &QualitySpec) -> Vec<StageSpec> {
    if !st.stages.is_empty() {
        return st.stages.clone();
    }
    let mut chain = st.chain();
    if q.review.is_some() && chain == [Stage::Label, Stage::Aggregate] {
        chain.push(Stage::Review);
    }
    let blank = StageSpec::new;
    let edge = |to: &str, when: Condition| EdgeSpec { to: to.into(), when };
    let mut out = Vec::new();
    if let Some(m) = &st.pre_annotation {
        let mut s = blank("pre-annotation", StageKind::Model);
        s.model = Some(m.clone());
        s.next.push(edge("label", Condition::Always));
        out.push(s);
    }
    let mut label = blank("label", StageKind::Label);
    if chain.contains(&Stage::Review) {
        let r: Option<&ReviewSpec> = q.review.as_ref();
        let (below, sample) = r.map_or((0.0, 0.0), |r| (r.below_confidence, r.sample));
        label.next.push(edge("review", Condition::ConfidenceBelow(below)));
        label.next.push(edge("review", Condition::Sampled(sample)));
        out.push(label);
        let mut review = blank("review", StageKind::Review);
        review.pools = r.map(|r| vec![r.pool.clone()]).unwrap_or_default();
        review.max_reworks = r.map(|r| r.max_reworks);
        review.next.push(edge(REWORK, Condition::Verdict(crate::spec::Verdict::Reject)));
        out.push(review);
    } else {
        out.push(label);
    }
    out
}

impl Workflow {
    /// A workflow from checked stages; `resolve(i, stage)` gives each stage's work, task type
    /// and who may work it (the caller resolves pools, models and skills). Fails with the
    /// graph's first problem.
    pub fn build(stages: &[StageSpec], mut resolve: impl FnMut(usize, &StageSpec) -> Result<(StageWork, u16, u16, u16), String>) -> Result<Workflow, String> {
        if let Some((at, why)) = check_graph(stages).into_iter().next() {
            return Err(format!("{at}: {why}"));
        }
        let mut nodes = Vec::with_capacity(stages.len());
        for (i, s) in stages.iter().enumerate() {
            let (work, ttype, who, sid) = resolve(i, s)?;
            let edges = s
                .next
                .iter()
                .map(|e| Edge {
                    when: e.when,
                    to: match e.to.as_str() {
                        FINAL => Target::Final,
                        REWORK => Target::Rework,
                        name => Target::Stage(stages.iter().position(|x| x.name == name).unwrap_or(0) as u8),
                    },
                })
                .collect();
            nodes.push(StageNode { name: s.name.clone(), work, sid, ttype, own_skill: s.skill.is_some(), skill: s.skill.clone(), who, edges });
        }
        let first_label = nodes.iter().position(|n| matches!(n.work, StageWork::Label { .. })).map(|i| i as u8);
        Ok(Workflow { stages: nodes, first_label })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Verdict;

    fn stage(name: &str, kind: StageKind, next: &[(&str, Condition)]) -> StageSpec {
        StageSpec { next: next.iter().map(|(t, c)| EdgeSpec { to: (*t).into(), when: *c }).collect(), ..StageSpec::new(name, kind) }
    }

    #[test]
    fn a_branching_graph_is_fine() {
        let s = vec![
            stage("label", StageKind::Label, &[("adjudicate", Condition::Disagree(true)), ("review", Condition::Sampled(0.1))]),
            stage("review", StageKind::Review, &[("adjudicate", Condition::Verdict(Verdict::Reject))]),
            stage("adjudicate", StageKind::Label, &[]),
        ];
        assert!(check_graph(&s).is_empty(), "{:?}", check_graph(&s));
    }

    #[test]
    fn cycles_unreachable_stages_and_unknown_targets_are_named() {
        let cyc = vec![stage("a", StageKind::Label, &[("b", Condition::Always)]), stage("b", StageKind::Label, &[("a", Condition::Always)])];
        let p = check_graph(&cyc);
        assert!(p[0].1.contains("cycle"), "{p:?}");
        let lonely = vec![stage("a", StageKind::Label, &[]), stage("b", StageKind::Label, &[])];
        let p = check_graph(&lonely);
        assert_eq!(p, vec![("stages[1]".to_string(), "stage \"b\" is unreachable: no edge from the entry stage \"a\" leads to it".to_string())]);
        let unknown = vec![stage("a", StageKind::Label, &[("nowhere", Condition::Always)])];
        let p = check_graph(&unknown);
        assert_eq!(p[0].0, "stages[0].next[0].to");
        assert!(p[0].1.contains("no stage named \"nowhere\""), "{p:?}");
        let own = vec![stage("a", StageKind::Label, &[("a", Condition::Always)])];
        assert!(check_graph(&own)[0].1.contains("leads to itself"));
    }

    #[test]
    fn conditions_must_fit_their_stage() {
        let s = vec![stage("a", StageKind::Label, &[("final", Condition::Verdict(Verdict::Accept)), ("rework", Condition::Always), ("final", Condition::ModelConfidenceAbove(0.9))])];
        let p = check_graph(&s);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].1.contains("verdict condition needs a review stage"));
        assert!(p[1].1.contains("only a review stage"));
        assert!(p[2].1.contains("needs a model stage"));
        let bad = vec![stage("a", StageKind::Label, &[("final", Condition::Sampled(1.5))])];
        assert!(check_graph(&bad)[0].1.contains("between 0 and 1"));
    }

    #[test]
    fn chains_are_checked_as_before() {
        assert!(check_chain(&[Stage::Label, Stage::Aggregate, Stage::Review]).is_ok());
        assert!(check_chain(&[Stage::Aggregate, Stage::Label]).is_err());
        assert!(check_chain(&[Stage::Label, Stage::Review, Stage::Aggregate]).is_err());
        assert!(check_chain(&[Stage::Label, Stage::Label, Stage::Aggregate]).is_err());
    }
}
