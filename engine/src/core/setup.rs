//! From a scenario's streams, workflows and quality settings to the core's configuration: the
//! task-type and language tables, each stream's workflow graph, the run-wide stage table and who
//! may work each stage. Both adapters build their core with it: the simulation from a scenario,
//! the live server from a project's settings (a scenario without its simulation sections).

use super::workflow::{chain_stages, StageWork};
use super::{ModelInfo, QualityConfig, StreamInfo, Workflow};
use crate::spec::{Scenario, StageKind, StageSpec};

/// One row of the run's stage table: a workflow stage of a stream, or a stream's "waiting for
/// parts" (figures per stage are kept by row).
#[derive(Clone, Debug, PartialEq)]
pub struct StageRow {
    pub stream: u16,
    /// The stage's name ("waiting for parts" for that row).
    pub name: String,
    /// "label", "review", "model" or "parts".
    pub kind: &'static str,
    /// Pools whose members may work it (empty for model stages and waiting).
    pub pools: Vec<u16>,
    /// Who may work it (`StageNode::who`: 0 = anyone with the skill, else the restriction
    /// number that annotators' `AnnotatorView::stages` hold).
    pub who: u16,
    /// The task type whose skill it needs.
    pub skill: u16,
}

/// The name of the waiting row of a stream whose tasks have parts.
pub const WAITING_FOR_PARTS: &str = "waiting for parts";

/// Each stream's workflow stages (its `stages`, or its chain written as a graph).
pub fn stages_of(s: &Scenario) -> Vec<Vec<StageSpec>> {
    s.streams.iter().map(|st| chain_stages(st, &s.quality)).collect()
}

/// Whether stream `i`'s workflow has a review stage.
pub fn has_review(s: &Scenario, i: usize) -> bool {
    chain_stages(&s.streams[i], &s.quality).iter().any(|x| x.kind == StageKind::Review)
}

/// Pools that may work a stage: its own `pools`, else (review) the review pool, else (label)
/// every pool with the stage's skill; `skilled(p)` says whether pool p has it.
pub fn stage_pools(s: &Scenario, st: &StageSpec, skilled: impl Fn(usize) -> bool) -> Vec<u16> {
    let named = |names: &[String]| (0..s.pools.len()).filter(|&p| names.contains(&s.pool_name(p))).map(|p| p as u16).collect();
    match st.kind {
        StageKind::Model => Vec::new(),
        StageKind::Review if st.pools.is_empty() => {
            let pools: Vec<u16> = s.quality.review.as_ref().map_or_else(Vec::new, |r| named(std::slice::from_ref(&r.pool)));
            pools.into_iter().filter(|&p| st.skill.is_none() || skilled(p as usize)).collect()
        }
        StageKind::Label if st.pools.is_empty() => (0..s.pools.len()).filter(|&p| skilled(p)).map(|p| p as u16).collect(),
        StageKind::Label => named(&st.pools).into_iter().filter(|&p: &u16| skilled(p as usize)).collect(),
        StageKind::Review => named(&st.pools).into_iter().filter(|&p: &u16| st.skill.is_none() || skilled(p as usize)).collect(),
    }
}

/// What a scenario's decision settings become in the core.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Task types, in order of first appearance (a stream's, then its stages' skills).
    pub types: Vec<String>,
    /// Classes of each task type (the most any stream of it has).
    pub classes_by_type: Vec<u16>,
    /// Languages, in order of first appearance (streams first; pools add theirs later).
    pub languages: Vec<String>,
    pub streams: Vec<StreamInfo>,
    /// The run's stage table.
    pub stages: Vec<StageRow>,
    /// Restricted stages: (who, the pools that may work it).
    pub restricted: Vec<(u16, Vec<u16>)>,
    pub quality: QualityConfig,
    pub models: Vec<ModelInfo>,
}

/// The index of language `l`, added to the table if new.
pub fn lang_index(l: &str, languages: &mut Vec<String>) -> Result<u16, String> {
    if let Some(i) = languages.iter().position(|x| x == l) {
        return Ok(i as u16);
    }
    let i = u16::try_from(languages.len()).map_err(|_| "more than 65,535 distinct languages".to_string())?;
    languages.push(l.to_string());
    Ok(i)
}

/// The core's configuration for a scenario's streams (errors are for scenarios that skipped
/// validation).
pub fn setup(s: &Scenario) -> Result<Setup, String> {
    // Task types and languages, in order of first appearance.
    let mut types: Vec<String> = Vec::new();
    let mut classes_by_type: Vec<u16> = Vec::new();
    let mut languages: Vec<String> = Vec::new();
    let stage_specs = stages_of(s);
    for (st, stages) in s.streams.iter().zip(&stage_specs) {
        for t in std::iter::once(&st.task_type).chain(stages.iter().filter_map(|x| x.skill.as_ref())) {
            match types.iter().position(|x| x == t) {
                Some(i) => classes_by_type[i] = classes_by_type[i].max(st.classes as u16),
                None => {
                    types.push(t.clone());
                    classes_by_type.push(st.classes as u16);
                }
            }
        }
    }

    let mut streams = Vec::new();
    let mut stage_rows: Vec<StageRow> = Vec::new();
    // Restricted stages (who ≠ 0): (who, pools that may work it).
    let mut restricted: Vec<(u16, Vec<u16>)> = Vec::new();
    for (i, st) in s.streams.iter().enumerate() {
        let ttype = types.iter().position(|t| *t == st.task_type).unwrap() as u16;
        let language = st.language.as_deref().map(|l| lang_index(l, &mut languages)).transpose()?;
        let waiting_sid = st.parts.as_ref().map(|_| {
            stage_rows.push(StageRow { stream: i as u16, name: WAITING_FOR_PARTS.into(), kind: "parts", pools: Vec::new(), who: 0, skill: ttype });
            (stage_rows.len() - 1) as u16
        });
        let mut model = None;
        let workflow = Workflow::build(&stage_specs[i], |_, x| {
            // Stage numbers below u16::MAX (a golden item's "no stage"), and who = sid + 1 fits.
            let sid = u16::try_from(stage_rows.len()).ok().filter(|&n| n < u16::MAX - 1).ok_or_else(|| "more than 65,533 workflow stages in the run".to_string())?;
            let skill = x.skill.as_deref().unwrap_or(&st.task_type);
            let stage_type = types.iter().position(|t| t == skill).unwrap_or(ttype as usize) as u16;
            let pools = stage_pools(s, x, |p| s.pool_has_skill(p, skill));
            let work = match x.kind {
                StageKind::Label => {
                    let dynamic = x.dynamic_overlap.as_ref().or(if x.overlap.is_none() { s.quality.dynamic_overlap.as_ref() } else { None });
                    StageWork::Label {
                        overlap: x.overlap.unwrap_or_else(|| s.overlap_of(i)).max(1) as u16,
                        dynamic: dynamic.map(|d| (d.max.max(1) as u16, d.confidence as f32)),
                        weighted: x.aggregation.as_deref().unwrap_or(&s.quality.aggregation) == "weighted",
                    }
                }
                StageKind::Review => StageWork::Review {
                    overlap: x.overlap.unwrap_or(1).max(1) as u16,
                    max_reworks: x.max_reworks.or(s.quality.review.as_ref().map(|r| r.max_reworks)).unwrap_or(2) as u16,
                },
                StageKind::Model => {
                    let name = x.model.as_deref().unwrap_or_default();
                    let m = s.models.iter().position(|m| m.name == name).ok_or_else(|| format!("streams[{i}]: stage {:?}: no model named {name:?}", x.name))? as u16;
                    model.get_or_insert(m);
                    StageWork::Model { model: m }
                }
            };
            let who = match x.kind {
                StageKind::Model => 0,
                StageKind::Label if x.pools.is_empty() => 0,
                _ => {
                    restricted.push((sid + 1, pools.clone()));
                    sid + 1
                }
            };
            let kind = match x.kind {
                StageKind::Label => "label",
                StageKind::Review => "review",
                StageKind::Model => "model",
            };
            stage_rows.push(StageRow { stream: i as u16, name: x.name.clone(), kind, pools, who, skill: stage_type });
            Ok((work, stage_type, who, sid))
        })
        .map_err(|e| format!("streams[{i}]: {e}"))?;
        streams.push(StreamInfo {
            name: s.stream_name(i),
            task_type: st.task_type.clone(),
            ttype,
            modality: st.modality(),
            classes: st.classes as u16,
            priority: st.priority,
            deadline: st.deadline.map(|d| d.0),
            language,
            workflow,
            model,
            waiting_sid,
            mean_difficulty: st.difficulty.mean() as f32,
            difficulty_slowdown: st.difficulty_slowdown as f32,
            min_accuracy: st.min_accuracy,
            holding_cost: st.holding_cost,
            patience: st.patience.clone(),
        });
    }
    let quality = QualityConfig {
        gold_rate: s.quality.gold.as_ref().map_or(0.0, |g| g.rate),
        rules: s.quality.rules.clone(),
        reopen_within: s.quality.reopen_within.0,
        batch: match &s.quality.batch_aggregation {
            Some(m) => Some(m.parse().map_err(|e| format!("quality.batch_aggregation: {e}"))?),
            None => None,
        },
        trust_prior_strength: s.quality.trust_prior_strength,
    };
    let models = s.models.iter().map(|m| ModelInfo { cost: m.cost_per_item }).collect();
    Ok(Setup { types, classes_by_type, languages, streams, stages: stage_rows, restricted, quality, models })
}
