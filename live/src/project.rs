//! A project's settings: the scenario schema's decision sections (streams with their task types,
//! classes and workflow stages; models; quality; routing), checked by the same validation as a
//! scenario, and turned into a decision core by the same `core::setup` as the simulation.
//!
//! Sections that only make sense in a simulation are refused with an error that names them
//! (`run`, `[[pools]]`, a stream's `arrivals`, `difficulty` and `class_weights`), unless the
//! settings are seeded from a scenario file, when they are dropped. Groups of people that stages
//! name (`pools = ["experts"]`, `quality.review.pool`) are groups annotators join when they
//! register.

use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use tessera_engine::core::setup::{setup, Setup, StageRow};
use tessera_engine::core::{Core, CoreConfig};
use tessera_engine::dispatch::{AnnotatorView, IndexSet, Skill};
use tessera_engine::ledger::Pay;
use tessera_engine::spec::Scenario;
use tessera_engine::time::{SimTime, US_PER_DAY};
use utoipa::ToSchema;

/// Sections of a scenario that only a simulation reads.
const SIMULATION_ONLY: [&str; 2] = ["run", "pools"];
const STREAM_SIMULATION_ONLY: [&str; 3] = ["arrivals", "difficulty", "class_weights"];
/// Routing policies that decide in rounds on a timer over idle people: the live server's people
/// pull work, so nobody is idle between requests.
const PUSH_POLICIES: [&str; 1] = ["batch-lp"];

/// How far each handling time moves a person's learned time per item (an exponential moving
/// average: the last ~10 answers weigh most).
pub const LEARN_SPEED: f64 = 0.1;

/// A project's checked settings and what the core is built from.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The settings as stored (TOML).
    pub text: String,
    pub scenario: Scenario,
    pub setup: Setup,
    /// Groups named by stages and the review pool (the scenario's pools, without synthetic people).
    pub groups: Vec<String>,
    /// [µs] how long a lease lasts without a heartbeat.
    pub lease_us: u64,
    /// Seed of the core's random streams (one per logged command).
    pub seed: u64,
}

/// How a person registers with a project.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The caller's own id for the person (unique in the project).
    pub external_id: String,
    /// Task types they may work, with what is declared of them; empty = every task type.
    #[serde(default)]
    pub skills: Vec<DeclaredSkill>,
    /// Languages they work in.
    #[serde(default)]
    pub languages: Vec<String>,
    /// The group they belong to (a name that stages' `pools` or `quality.review.pool` use).
    #[serde(default)]
    pub group: Option<String>,
    /// Streams they are reserved for (empty = any).
    #[serde(default)]
    pub reserved_for: Vec<String>,
    /// [USD/h] hourly pay (for the ledger).
    #[serde(default)]
    pub pay_per_hour: Option<f64>,
    /// [USD] pay per answer (for the ledger).
    #[serde(default)]
    pub pay_per_item: Option<f64>,
}

/// A task type a person may work.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeclaredSkill {
    pub task_type: String,
    /// Declared accuracy in [0, 1] (the trust estimate's prior; default 0.8).
    #[serde(default)]
    pub accuracy: Option<f64>,
    /// [s] declared mean time per item (default 60).
    #[serde(default)]
    pub seconds_per_item: Option<f64>,
}

fn toml_error(text: &str, e: &toml::de::Error) -> ApiError {
    let at = e.span().map(|s| {
        let before = &text[..s.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("settings:{line}:{col}: ")
    });
    ApiError::unprocessable("settings", format!("{}{}", at.unwrap_or_default(), e.message()))
}

impl Settings {
    /// Checks settings written in the scenario schema. `from_scenario`: a whole scenario file
    /// seeds the project; its simulation-only sections are dropped instead of refused.
    pub fn parse(text: &str, from_scenario: bool, lease_us: u64, seed: u64) -> Result<Settings, ApiError> {
        if text.len() > 1 << 20 {
            return Err(ApiError::unprocessable("settings", "settings larger than 1 MiB"));
        }
        let mut doc: toml::Table = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        for key in SIMULATION_ONLY {
            if doc.contains_key(key) {
                if !from_scenario {
                    return Err(ApiError::unprocessable(
                        format!("settings.{key}"),
                        format!("`{key}` only makes sense in a simulation (live tasks come from clients and people register themselves); remove it, or seed the project from a scenario with \"from_scenario\": true, which drops it"),
                    ));
                }
                doc.remove(key);
            }
        }
        if let Some(toml::Value::Array(streams)) = doc.get_mut("streams") {
            for (i, st) in streams.iter_mut().enumerate() {
                let Some(t) = st.as_table_mut() else { continue };
                for key in STREAM_SIMULATION_ONLY {
                    if t.contains_key(key) {
                        if !from_scenario {
                            return Err(ApiError::unprocessable(format!("settings.streams[{i}].{key}"), format!("`{key}` only makes sense in a simulation; remove it, or seed the project from a scenario with \"from_scenario\": true")));
                        }
                        t.remove(key);
                    }
                }
            }
        }
        // The groups stages name become pools without synthetic people, so that the scenario's
        // own checks of who may work each stage apply unchanged.
        let mut groups: Vec<String> = Vec::new();
        if let Some(toml::Value::Array(streams)) = doc.get("streams") {
            for st in streams {
                for stage in st.get("stages").and_then(|s| s.as_array()).into_iter().flatten() {
                    for p in stage.get("pools").and_then(|p| p.as_array()).into_iter().flatten() {
                        if let Some(p) = p.as_str() {
                            if !groups.iter().any(|g| g == p) {
                                groups.push(p.to_string());
                            }
                        }
                    }
                }
            }
        }
        if let Some(p) = doc.get("quality").and_then(|q| q.get("review")).and_then(|r| r.get("pool")).and_then(|p| p.as_str()) {
            if !groups.iter().any(|g| g == p) {
                groups.push(p.to_string());
            }
        }
        if groups.is_empty() {
            groups.push("default".into());
        }
        let kept = toml::to_string(&doc).map_err(|e| ApiError::internal(format!("settings: {e}")))?;
        let mut full = doc.clone();
        full.insert(
            "pools".into(),
            toml::Value::Array(
                groups
                    .iter()
                    .map(|g| {
                        let mut t = toml::Table::new();
                        t.insert("name".into(), toml::Value::String(g.clone()));
                        t.insert("count".into(), toml::Value::Integer(1000));
                        toml::Value::Table(t)
                    })
                    .collect(),
            ),
        );
        let full_text = toml::to_string(&full).map_err(|e| ApiError::internal(format!("settings: {e}")))?;
        let policies = tessera_policies::names();
        let known = tessera_scenarios::Known::with_policies(&policies).with_routing_check(learned_routing);
        let origin = if from_scenario { "scenario" } else { "settings" };
        let scenario = tessera_scenarios::load_str(&full_text, origin, &[], &known).map_err(|e| {
            let first = e.issues().first();
            ApiError::unprocessable(first.map_or("settings".to_string(), |i| format!("settings.{}", i.path)), e.to_string())
        })?;
        if PUSH_POLICIES.contains(&scenario.routing.policy.as_str()) {
            return Err(ApiError::unprocessable("settings.routing.policy", format!("{:?} assigns in timed rounds to idle people; live people pull work, so use a policy that picks at request time", scenario.routing.policy)));
        }
        let setup = setup(&scenario).map_err(|e| ApiError::unprocessable("settings", e))?;
        Ok(Settings { text: kept, scenario, setup, groups, lease_us, seed })
    }

    /// A fresh decision core for these settings, with nobody registered yet.
    pub fn core(&self) -> Core {
        let cfg = CoreConfig { streams: self.setup.streams.clone(), quality: self.setup.quality.clone(), models: self.setup.models.clone(), pay: Vec::new(), late_window: US_PER_DAY, learn_speed: Some(LEARN_SPEED) };
        let router = tessera_policies::router_for(&self.scenario.routing).expect("validated routing policy");
        let mut core = Core::new(cfg, router, Vec::new());
        for s in 0..self.setup.streams.len() {
            core.set_gold_answers(s as u16, Vec::new());
        }
        core
    }

    /// Index of the stream named `name`.
    pub fn stream(&self, name: &str) -> Option<u16> {
        self.setup.streams.iter().position(|s| s.name == name).map(|i| i as u16)
    }

    /// Checks a registration and builds the person's routing view (the core gives the id).
    pub fn annotator_view(&self, r: &Registration, now: SimTime) -> Result<(AnnotatorView, Pay), ApiError> {
        if r.external_id.is_empty() || r.external_id.len() > 256 {
            return Err(ApiError::unprocessable("external_id", "expected 1 to 256 characters"));
        }
        let types = &self.setup.types;
        for (i, s) in r.skills.iter().enumerate() {
            if !types.contains(&s.task_type) {
                return Err(ApiError::unprocessable(format!("skills[{i}].task_type"), format!("no stream or stage of this project has task type {:?} (known: {})", s.task_type, types.join(", "))));
            }
            if s.accuracy.is_some_and(|a| !(0.0..=1.0).contains(&a)) {
                return Err(ApiError::unprocessable(format!("skills[{i}].accuracy"), "expected a probability between 0 and 1"));
            }
            if s.seconds_per_item.is_some_and(|x| !(x > 0.0 && x < 1e7)) {
                return Err(ApiError::unprocessable(format!("skills[{i}].seconds_per_item"), "expected a positive number of seconds below 10^7"));
            }
        }
        let pay = match (r.pay_per_hour, r.pay_per_item) {
            (Some(_), Some(_)) => return Err(ApiError::unprocessable("pay_per_item", "give pay_per_hour or pay_per_item, not both")),
            (Some(h), None) if (0.0..1e6).contains(&h) => Pay::PerHour(h),
            (None, Some(i)) if (0.0..1e6).contains(&i) => Pay::PerItem(i),
            (None, None) => Pay::PerItem(0.0),
            (Some(_), None) => return Err(ApiError::unprocessable("pay_per_hour", "expected USD per hour between 0 and 10^6")),
            (None, Some(_)) => return Err(ApiError::unprocessable("pay_per_item", "expected USD per item between 0 and 10^6")),
        };
        let group = match &r.group {
            Some(g) => Some(self.groups.iter().position(|x| x == g).ok_or_else(|| ApiError::unprocessable("group", format!("no stage or review names group {g:?} (known: {})", self.groups.join(", "))))?),
            None => None,
        };
        let mut reserved_for = IndexSet::default();
        for (i, name) in r.reserved_for.iter().enumerate() {
            reserved_for.insert(self.stream(name).ok_or_else(|| ApiError::unprocessable(format!("reserved_for[{i}]"), format!("no stream named {name:?}")))?);
        }
        let mut languages = IndexSet::default();
        for l in &r.languages {
            if let Some(i) = self.setup.languages.iter().position(|x| x == l) {
                languages.insert(i as u16);
            }
        }
        let declared = |t: &str| -> Option<&DeclaredSkill> { r.skills.iter().find(|s| s.task_type == t) };
        let skills: Vec<Option<Skill>> = types
            .iter()
            .map(|t| {
                if !r.skills.is_empty() && declared(t).is_none() {
                    return None;
                }
                let accuracy = declared(t).and_then(|s| s.accuracy).unwrap_or(0.8);
                let mean_secs = declared(t).and_then(|s| s.seconds_per_item).unwrap_or(60.0);
                let cost_per_item = match pay {
                    Pay::PerItem(x) => x,
                    Pay::PerHour(h) => h * mean_secs / 3600.0,
                };
                Some(Skill { accuracy, mean_secs, cost_per_item })
            })
            .collect();
        let mut stages = IndexSet::default();
        let mut reviewer = false;
        if let Some(g) = group {
            for row in &self.setup.stages {
                let StageRow { who, kind, pools, skill, .. } = row;
                if !pools.contains(&(g as u16)) {
                    continue;
                }
                if *kind == "review" {
                    reviewer = true;
                }
                if *who != 0 && (*kind == "review" || skills.get(*skill as usize).is_some_and(|s| s.is_some())) {
                    stages.insert(*who);
                }
            }
        }
        let trust = r.skills.iter().filter_map(|s| s.accuracy).fold(None, |m: Option<f64>, a| Some(m.map_or(a, |m| m.min(a)))).unwrap_or(0.8);
        let view = AnnotatorView { idx: 0, pool: group.unwrap_or(0) as u16, skills, languages, idle_since: now, trust: trust as f32, banned: false, reserved_for, reviewer, stages };
        Ok((view, pay))
    }
}

/// The learned policy in live dispatch: behind the cargo feature `learned` (on in the `tessera`
/// binary), since its `routing.model` names a file on the server's disk.
fn learned_routing(spec: &tessera_engine::spec::RoutingSpec) -> Result<(), String> {
    if spec.policy == "learned" && !cfg!(feature = "learned") {
        return Err("this server was built without learned routing (cargo feature `learned` of tessera-live)".into());
    }
    tessera_policies::check_routing(spec)
}
