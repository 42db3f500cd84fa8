//! Checks of workflow graphs and task dependencies against the scenario: the graph itself
//! (cycles, unreachable stages, unknown targets, conditions that do not fit their stage: the
//! engine's `core::workflow::check_graph`), then what only the scenario can say: pools, models
//! and skills that stages name, a stage that no pool can work, overlaps that need more people than
//! can work a stage, and `parts` that name a stream that cannot be a part. Each problem is
//! (dotted path, message); the loader turns paths into file:line:column.

use tessera_engine::core::workflow::{check_chain, check_graph};
use tessera_engine::run::stage_pools;
use tessera_engine::spec::{ArrivalSpec, Scenario, StageKind};

type Problems = Vec<(String, String)>;

/// Most parts per task.
pub const MAX_PARTS: u32 = 10_000;

pub fn validate_workflows(s: &Scenario, aggregations: &[&str], p: &mut Problems) {
    let pool_names: Vec<String> = (0..s.pools.len()).map(|k| s.pool_name(k)).collect();
    for (i, st) in s.streams.iter().enumerate() {
        let at = |f: &str| format!("streams[{i}].{f}");
        if !st.stages.is_empty() {
            if st.workflow.is_some() {
                p.push((at("stages"), "give the workflow as `stages` or as `workflow`, not both".into()));
            }
            if st.pre_annotation.is_some() {
                p.push((at("pre_annotation"), "with `stages`, pre-annotation is a stage: add `{ kind = \"model\", model = \"...\" }` to `stages` instead".into()));
            }
        } else if let Some(chain) = &st.workflow {
            if let Err(e) = check_chain(chain) {
                p.push((at("workflow"), e));
            }
            if chain.contains(&tessera_engine::spec::Stage::Review) && s.quality.review.is_none() {
                p.push((at("workflow"), "a \"review\" stage needs [quality.review] (who reviews, how often)".into()));
            }
        }
        if !st.stages.is_empty() {
            for (path, why) in check_graph(&st.stages) {
                p.push((at(&path), why));
            }
        }
        let name = s.stream_name(i);
        for (k, x) in st.stages.iter().enumerate() {
            let at = |f: &str| format!("streams[{i}].stages[{k}].{f}");
            for (j, pool) in x.pools.iter().enumerate() {
                if !pool_names.contains(pool) {
                    p.push((format!("streams[{i}].stages[{k}].pools[{j}]"), format!("no pool named {pool:?} (pools: {})", pool_names.join(", "))));
                }
            }
            match (x.kind, &x.model) {
                (StageKind::Model, None) => p.push((format!("streams[{i}].stages[{k}]"), format!("model stage {:?} needs `model`, the name of a [[models]] entry", x.name))),
                (StageKind::Model, Some(m)) if !s.models.iter().any(|y| y.name == *m) => {
                    let names: Vec<&str> = s.models.iter().map(|y| y.name.as_str()).collect();
                    p.push((at("model"), format!("no model named {m:?} in [[models]] (models: {})", if names.is_empty() { "none".into() } else { names.join(", ") })));
                }
                (StageKind::Label | StageKind::Review, Some(_)) => p.push((at("model"), format!("only a model stage has a model; {:?} is not one", x.name))),
                _ => {}
            }
            if x.kind != StageKind::Label {
                for (f, set) in [("dynamic_overlap", x.dynamic_overlap.is_some()), ("aggregation", x.aggregation.is_some()), ("skill", x.skill.is_some() && x.kind == StageKind::Model)] {
                    if set {
                        p.push((at(f), format!("`{f}` applies to label stages only; {:?} is a {} stage", x.name, if x.kind == StageKind::Review { "review" } else { "model" })));
                    }
                }
            }
            if x.kind != StageKind::Review && x.max_reworks.is_some() {
                p.push((at("max_reworks"), format!("`max_reworks` applies to review stages only; {:?} is not one", x.name)));
            }
            if x.kind == StageKind::Model && (x.overlap.is_some() || !x.pools.is_empty()) {
                p.push((format!("streams[{i}].stages[{k}]"), format!("model stage {:?} is worked by its model: `overlap` and `pools` do not apply", x.name)));
            }
            if let Some(o) = x.overlap {
                if o == 0 || o > 64 {
                    p.push((at("overlap"), format!("expected between 1 and 64 per task, found {o}")));
                }
            }
            if let Some(d) = &x.dynamic_overlap {
                if !(0.0..=1.0).contains(&d.confidence) {
                    p.push((at("dynamic_overlap.confidence"), format!("expected a probability between 0 and 1, found {}", d.confidence)));
                }
                if d.max == 0 || d.max > 64 {
                    p.push((at("dynamic_overlap.max"), format!("expected between 1 and 64 labels per task, found {}", d.max)));
                }
            }
            if let Some(a) = &x.aggregation {
                if !aggregations.contains(&a.as_str()) {
                    p.push((at("aggregation"), format!("unknown value {a:?}; expected one of: {}", aggregations.join(", "))));
                }
            }
            if x.kind == StageKind::Model {
                continue;
            }
            // Who can work it: the stage's pools (or the default), with its skill, speaking the
            // stream's language and not reserved for other streams.
            let skill = x.skill.as_deref().unwrap_or(&st.task_type);
            let skilled = stage_pools(s, x, |q| s.pool_has_skill(q, skill));
            let able: Vec<u16> = skilled.iter().copied().filter(|&q| s.pool_may_take(q as usize, i)).collect();
            let people: i64 = able.iter().map(|&q| s.pools[q as usize].count.max(0)).sum();
            if !s.pools.is_empty() && able.is_empty() {
                let named = if x.pools.is_empty() { "" } else { " it names" };
                let why = if x.kind == StageKind::Review && x.pools.is_empty() && s.quality.review.is_none() {
                    "a review stage needs `pools` or [quality.review] (who reviews)".to_string()
                } else if skilled.is_empty() {
                    let needed = if x.kind == StageKind::Review && x.skill.is_none() { String::new() } else { format!(" has the skill {skill:?} (a `service` entry)") };
                    if needed.is_empty() { format!("no pool{named} exists") } else { format!("no pool{named}{needed}") }
                } else {
                    format!("no pool{named} with the skill speaks the stream's language{} and may take stream {name:?} (`reserved_for`)", st.language.as_ref().map(|l| format!(" ({l:?})")).unwrap_or_default())
                };
                p.push((format!("streams[{i}].stages[{k}]"), format!("no pool can work stage {:?}: {why}", x.name)));
            } else if x.kind == StageKind::Label {
                let own = x.overlap.unwrap_or_else(|| s.overlap_of(i));
                let most = x.dynamic_overlap.as_ref().or(if x.overlap.is_none() { s.quality.dynamic_overlap.as_ref() } else { None }).map_or(own, |d| d.max.max(own)) as i64;
                if people > 0 && people < most {
                    p.push((at("overlap"), format!("stage {:?} wants {most} labels per task from different annotators, but only {people} can work it", x.name)));
                }
            }
        }
        if let Some(parts) = &st.parts {
            let at = |f: &str| format!("streams[{i}].parts.{f}");
            match (0..s.streams.len()).find(|&j| s.stream_name(j) == parts.stream) {
                None => {
                    let names: Vec<String> = (0..s.streams.len()).map(|j| s.stream_name(j)).collect();
                    p.push((at("stream"), format!("no stream named {:?} (streams: {})", parts.stream, names.join(", "))));
                }
                Some(j) if j == i => p.push((at("stream"), "a stream's tasks cannot be parts of themselves".into())),
                Some(j) => {
                    if s.streams[j].parts.is_some() {
                        p.push((at("stream"), format!("stream {:?} has parts of its own: parts nest one level only", parts.stream)));
                    }
                    if let Some(other) = s.streams[..i].iter().position(|o| o.parts.as_ref().is_some_and(|q| q.stream == parts.stream)) {
                        p.push((at("stream"), format!("stream {:?} already gives its tasks as parts to {:?}; a stream is the parts of one stream", parts.stream, s.stream_name(other))));
                    }
                    if s.streams[j].arrivals != ArrivalSpec::default() {
                        p.push((format!("streams[{j}].arrivals"), format!("this stream's tasks arrive as parts of {:?}'s tasks (its `parts`): remove its own arrivals", s.stream_name(i))));
                    }
                }
            }
            if parts.count == 0 || parts.count > MAX_PARTS {
                p.push((at("count"), format!("expected between 1 and {MAX_PARTS} parts per task, found {}", parts.count)));
            }
        }
    }
}
