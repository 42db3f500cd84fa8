//! `learned`: a routing policy trained by reinforcement learning (`tessera train`, crate
//! tessera-learn), read from a policy file and run as any other [`Router`]: at each decision it
//! builds the candidates and their features ([`features`]), scores them with the network
//! ([`net`]) and takes the highest score (greedy: it never draws from the simulation's random
//! stream, so common random numbers hold against every other policy). A decision with one
//! candidate is taken without the network; with none, the annotator stays idle or the task
//! waits, as for every policy. It allocates per decision (a few small vectors): the one policy
//! that does (ARCHITECTURE.md's policy invariant says so).
//!
//! The policy file (`policy.mpk`) is MessagePack of [`PolicyFile`]: schema name, the network,
//! the feature counts it was trained with, and what training cost. Inference needs no burn.

pub mod features;
pub mod net;

use features::{Decision, GLOBAL, PAIR};
use net::{Net, Scratch};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tessera_engine::dispatch::{RouteState, Router};
use tessera_engine::domain::{AnnotatorIdx, TaskId};
use rand::RngCore;

/// The schema a policy file carries. It names the candidate rules and features too: a policy
/// trained on other candidates would run, and decide something else. Version 2 added the
/// network's candidate rule (`net.candidates`); a version-1 file is read as trained on the rule
/// it had, [`features::Candidates::Oldest`].
pub const SCHEMA: &str = "tessera.policy/2";
/// The earlier schema this build still reads.
pub const SCHEMA_V1: &str = "tessera.policy/1";
/// Largest policy file read [bytes].
pub const MAX_POLICY_BYTES: u64 = 64 << 20;

/// What training cost and on what (written by `tessera train`, shown by the leaderboard).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Training {
    /// Scenario name the policy was trained on.
    pub scenario: String,
    pub algo: String,
    /// The reward it maximised (`composite` or `holding`).
    pub objective: String,
    /// Training seed; rollouts use replication seeds of (seed, r) for r below `seed_cursor`,
    /// skipping the bench's held-out seeds.
    pub seed: u64,
    /// The next replication index a rollout's simulation seed is drawn from.
    #[serde(default)]
    pub seed_cursor: u64,
    pub iterations: u32,
    pub episodes: u64,
    /// Routing decisions with a choice, over all rollouts.
    pub env_steps: u64,
    /// [s] wall clock of the training, all resumed parts together.
    pub wall_s: f64,
    /// Behaviour-cloning warm start from this heuristic, if any.
    pub warm_start: Option<String>,
    /// Mean episode reward per task, per iteration (the training curve).
    pub curve: Vec<f64>,
    /// Per iteration: PPO's policy loss, value loss and policy entropy (means over minibatches).
    pub losses: Vec<[f64; 3]>,
    /// The factor on per-decision rewards (one over their standard deviation in the first batch).
    pub reward_scale: f64,
    /// The warm start's teacher runs: mean episode reward per task.
    pub warm_start_reward: Option<f64>,
    /// Evolution strategies' fine-tuning (`--algo es`), per generation: the centre's score on the
    /// validation seeds and the population's mean score (the bench's composite reward, or minus
    /// the holding cost per hour).
    #[serde(default)]
    pub es_curve: Vec<[f64; 2]>,
    /// The best validation score so far (the network in the file has it).
    #[serde(default)]
    pub es_best: Option<f64>,
    /// The next replication index of evolution strategies' training seeds.
    #[serde(default)]
    pub es_seed_cursor: u64,
}

/// A policy file's content.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PolicyFile {
    pub schema: String,
    pub pair_features: usize,
    pub global_features: usize,
    pub net: Net,
    pub training: Training,
}

impl PolicyFile {
    pub fn new(net: Net, training: Training) -> Self {
        PolicyFile { schema: SCHEMA.into(), pair_features: PAIR, global_features: GLOBAL, net, training }
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        rmp_serde::to_vec_named(self).expect("a policy file serialises")
    }
    /// Reads and checks a policy file's bytes (`origin` names it in errors).
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self, String> {
        let p: PolicyFile = rmp_serde::from_slice(bytes).map_err(|e| format!("{origin}: not a Tessera policy file ({e})"))?;
        if p.schema == SCHEMA_V1 && p.net.candidates != features::Candidates::Oldest {
            return Err(format!("{origin}: policy schema {SCHEMA_V1:?} with a candidate rule it did not have ({})", p.net.candidates.name()));
        }
        if p.schema != SCHEMA && p.schema != SCHEMA_V1 {
            return Err(format!("{origin}: policy schema {:?}, this build reads {SCHEMA:?} and {SCHEMA_V1:?}", p.schema));
        }
        if p.pair_features != PAIR || p.global_features != GLOBAL {
            return Err(format!(
                "{origin}: trained with {} pair and {} global features, this build has {PAIR} and {GLOBAL}: train it again",
                p.pair_features, p.global_features
            ));
        }
        p.net.check().map_err(|e| format!("{origin}: {e}"))?;
        Ok(p)
    }
    pub fn read(path: &Path) -> Result<Self, String> {
        let origin = path.display().to_string();
        let len = std::fs::metadata(path).map_err(|e| format!("{origin}: {e}"))?.len();
        if len > MAX_POLICY_BYTES {
            return Err(format!("{origin}: {len} bytes; a policy file has at most {MAX_POLICY_BYTES}"));
        }
        let bytes = std::fs::read(path).map_err(|e| format!("{origin}: {e}"))?;
        Self::from_bytes(&bytes, &origin)
    }
}

/// Policy files read so far, by path, with the length and modification time they had: a file
/// replaced on disk (a policy trained again) is read again, so a long-lived process (the live
/// server) never runs a stale network.
type Cached = (u64, Option<std::time::SystemTime>, Arc<Net>);

fn cache() -> &'static Mutex<HashMap<String, Cached>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Cached>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The network of the policy file at `path` (read again only when the file changed).
pub fn load(path: &str) -> Result<Arc<Net>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{path}: {e}"))?;
    let stamp = (meta.len(), meta.modified().ok());
    let mut c = cache().lock().unwrap_or_else(|e| e.into_inner());
    if let Some((len, modified, net)) = c.get(path) {
        if (*len, *modified) == stamp {
            return Ok(net.clone());
        }
    }
    let net = Arc::new(PolicyFile::read(Path::new(path))?.net);
    c.insert(path.to_string(), (stamp.0, stamp.1, net.clone()));
    Ok(net)
}

/// The greedy learned router.
pub struct Learned {
    net: Arc<Net>,
    decision: Decision,
    scratch: Scratch,
    counter: Option<Arc<AtomicU64>>,
}

impl Learned {
    pub fn new(net: Arc<Net>) -> Self {
        Learned { net, decision: Decision::default(), scratch: Scratch::default(), counter: None }
    }
    /// Also counts the decisions with a choice into `counter` (training's cost figures).
    pub fn counting(mut self, counter: Arc<AtomicU64>) -> Self {
        self.counter = Some(counter);
        self
    }
    fn choose(&mut self) -> Option<usize> {
        let d = &self.decision;
        match d.len() {
            0 => None,
            1 => Some(d.positions[0]),
            n => {
                if let Some(c) = &self.counter {
                    c.fetch_add(1, Ordering::Relaxed);
                }
                self.net.forward(&d.pairs, &d.global, n, &mut self.scratch);
                Some(d.positions[net::argmax(&self.scratch.logits)])
            }
        }
    }
}

impl Router for Learned {
    fn name(&self) -> &str {
        "learned"
    }
    fn pick_task(&mut self, a: AnnotatorIdx, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        features::for_annotator_with(a, st, &mut self.decision, self.net.candidates);
        self.choose()
    }
    fn pick_annotator(&mut self, t: TaskId, st: &RouteState, _: &mut dyn RngCore) -> Option<usize> {
        features::for_task(t, st, &mut self.decision);
        self.choose()
    }
}
