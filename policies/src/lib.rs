//! tessera-policies: routing policies behind the engine's [`Router`] trait, by name.
//!
//! One policy per file: `random.rs`, `round_robin.rs`, `fixed_priority.rs`, `longest_idle.rs`,
//! `fastest_server.rs`, `max_weight.rs`, `cheapest_capable.rs`, `c_mu.rs`,
//! `uncertainty_first.rs`, `label_studio.rs`, `batch_lp.rs` (with its exact solver in
//! `assignment.rs`), `learned/` (a network trained by tessera-learn, read from a policy file);
//! `fifo` and `skill-greedy` live in the engine. `common.rs` holds the shared
//! picks (oldest task, longest idle, fastest idle, reservoir sampling); `index.rs` the index of the
//! waiting queue that label-studio, uncertainty-first, cheapest-capable and batch-lp decide from
//! instead of scanning it (each keeps its scan, the definition, for states the index cannot serve).
//!
//! Architecture invariant: a policy only decides; it sees [`tessera_engine::dispatch::RouteState`]
//! (never hidden truth) and respects the hard constraints of `dispatch::eligible`.

pub mod assignment;
mod batch_lp;
mod c_mu;
mod cheapest_capable;
mod common;
mod fastest_server;
mod fixed_priority;
mod index;
mod label_studio;
pub mod learned;
mod longest_idle;
mod max_weight;
mod random;
mod round_robin;
mod model_uncertainty;
mod uncertainty_first;
#[cfg(test)]
mod tests;

pub use batch_lp::{BatchLp, DEFAULT_INTERVAL as BATCH_LP_DEFAULT_INTERVAL};
pub use c_mu::CMu;
pub use cheapest_capable::CheapestCapable;
pub use fastest_server::FastestServerFirst;
pub use fixed_priority::FixedPriority;
pub use label_studio::LabelStudio;
pub use longest_idle::LongestIdle;
pub use max_weight::MaxWeight;
pub use random::Random;
pub use round_robin::RoundRobin;
pub use model_uncertainty::ModelLeastConfident;
pub use uncertainty_first::UncertaintyFirst;

use tessera_engine::dispatch::{builtin_router, Router, BUILTIN_ROUTERS};
use tessera_engine::spec::RoutingSpec;

/// The policies this crate adds to the engine's built-in ones, in leaderboard order.
const OWN: &[&str] = &[
    "random",
    "round-robin",
    "fixed-priority",
    "longest-idle",
    "fastest-server-first",
    "max-weight",
    "cheapest-capable",
    "c-mu",
    "uncertainty-first",
    "model-least-confident",
    "model-least-confident-balanced",
    "label-studio",
    "batch-lp",
    "learned",
];

/// Every policy name a scenario may use.
pub fn names() -> Vec<&'static str> {
    BUILTIN_ROUTERS.iter().chain(OWN).copied().collect()
}

/// Active learning's orderings: they order by a model's confidence, so they route like
/// oldest-first wherever no model pre-labels (every routing-benchmark scenario).
pub const ACTIVE_LEARNING: &[&str] = &["model-least-confident", "model-least-confident-balanced"];

/// The hand-written routing policies (every name but `learned`, which needs a policy file, and
/// the active-learning orderings): what `tessera bench` runs by default.
pub fn heuristics() -> Vec<&'static str> {
    names().into_iter().filter(|&n| n != "learned" && !ACTIVE_LEARNING.contains(&n)).collect()
}

/// A fresh router for `name` with default parameters, or None for an unknown name.
pub fn router(name: &str) -> Option<Box<dyn Router>> {
    router_for(&RoutingSpec { policy: name.to_string(), ..RoutingSpec::default() })
}

/// A fresh router for a scenario's `[routing]` table (policy name and its parameters).
pub fn router_for(spec: &RoutingSpec) -> Option<Box<dyn Router>> {
    if let Some(r) = builtin_router(&spec.policy) {
        return Some(r);
    }
    Some(match spec.policy.as_str() {
        "random" => Box::new(Random),
        "round-robin" => Box::new(RoundRobin::default()),
        "fixed-priority" => Box::new(FixedPriority),
        "longest-idle" => Box::new(LongestIdle),
        "fastest-server-first" => Box::new(FastestServerFirst),
        "max-weight" => Box::new(MaxWeight::default()),
        "cheapest-capable" => Box::new(CheapestCapable::default()),
        "c-mu" => Box::new(CMu),
        "uncertainty-first" => Box::new(UncertaintyFirst::default()),
        "model-least-confident" => Box::new(ModelLeastConfident::new(false)),
        "model-least-confident-balanced" => Box::new(ModelLeastConfident::new(true)),
        "label-studio" => Box::new(LabelStudio::default()),
        "batch-lp" => Box::new(BatchLp::new(spec.batch_interval.unwrap_or(batch_lp::DEFAULT_INTERVAL), spec.cost_weight)),
        "learned" => Box::new(learned::Learned::new(learned::load(spec.model.as_deref()?).ok()?)),
        _ => return None,
    })
}

/// What `routing` needs beyond a known name: the learned policy's model file must exist and be a
/// policy this build can run. Called by scenario validation (`tessera_scenarios::Known`).
pub fn check_routing(spec: &RoutingSpec) -> Result<(), String> {
    match (spec.policy.as_str(), &spec.model) {
        ("learned", None) => Err("the learned policy needs `routing.model`, the policy file `tessera train` wrote (e.g. model = \"policy.mpk\")".into()),
        ("learned", Some(m)) => learned::load(m).map(|_| ()),
        (_, Some(_)) => Err(format!("`routing.model` is read only by policy = \"learned\", not by {:?}", spec.policy)),
        _ => Ok(()),
    }
}
