//! The training loop: rollouts of the current policy on training seeds (in parallel), rewards,
//! GAE, a PPO update; a checkpoint (the policy file itself) after every iteration, so that an
//! interrupted run resumes from the last one. Optional behaviour-cloning warm start from a
//! heuristic first.
//!
//! Training seeds are replication seeds of `--seed` that are never among the bench's held-out
//! evaluation seeds (those of base 1 + 1,000,000, the bench's default, for r < 10,000): one that
//! would be is skipped.
//!
//! Determinism: episodes come back in seed order whatever the thread count, the network starts
//! from the seed, minibatches come from a seeded shuffle; the same seed gives the same policy
//! file at 1 and 2 threads (tested). A resumed run restarts Adam's moments (the policy file does
//! not carry them), so it is not bit-identical to an uninterrupted one.

use crate::env::{episodes, Actor, Episode};
use crate::model::{init_net, ActorCritic};
use crate::ppo::{clone_behaviour, gae, mean_interval, update, Hyper, Losses};
use crate::reward::{rewards, Objective};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::Device;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;
use tessera_engine::run::replication_seed;
use tessera_engine::spec::Scenario;
use tessera_policies::learned::features::Candidates;
use tessera_policies::learned::{PolicyFile, Training};

/// The bench's held-out evaluation base seed (`tessera bench` default --seed 1 + 1,000,000).
pub const HELD_OUT_BASE: u64 = 1 + 1_000_000;
/// Held-out replications a training seed is kept apart from.
pub const HELD_OUT_REPLICATIONS: u32 = 10_000;

/// What to train.
#[derive(Clone, Debug)]
pub struct Config {
    pub objective: Objective,
    pub iterations: u32,
    /// Episodes (simulation runs) per iteration.
    pub episodes: usize,
    pub seed: u64,
    pub hidden: usize,
    pub hyper: Hyper,
    /// Behaviour-cloning warm start from this heuristic (policy name).
    pub warm_start: Option<String>,
    pub warm_start_epochs: usize,
    /// Stop once this many decisions were trained on (all resumed parts together).
    pub max_steps: Option<u64>,
    /// The tasks a free annotator is offered (a fresh run; a resumed one keeps its file's).
    pub candidates: Candidates,
}

impl Default for Config {
    fn default() -> Self {
        Config { objective: Objective::Composite, iterations: 30, episodes: 8, seed: 7, hidden: 32, hyper: Hyper::default(), warm_start: None, warm_start_epochs: 20, max_steps: None, candidates: Candidates::Oldest }
    }
}

/// One iteration's figures (the reward curve).
#[derive(Clone, Debug)]
pub struct Iteration {
    pub iteration: u32,
    /// Mean over the iteration's episodes of (episode reward / tasks arrived), unscaled.
    pub reward_per_task: f64,
    pub steps: u64,
    pub losses: Losses,
    pub wall_s: f64,
}

/// `count` training seeds: replication seeds of `seed` from index `*cursor` on, skipping the
/// held-out evaluation seeds; `cursor` moves past the indices used.
pub fn training_seeds(seed: u64, cursor: &mut u64, count: usize) -> Vec<u64> {
    let held: HashSet<u64> = (0..HELD_OUT_REPLICATIONS).map(|r| replication_seed(HELD_OUT_BASE, r)).collect();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let s = replication_seed(seed, *cursor as u32);
        *cursor += 1;
        if !held.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn optimizer() -> ModuleOptimizer {
    AdamConfig::new().with_grad_clipping(Some(GradientClippingConfig::Norm(0.5))).init()
}

fn device() -> Device {
    Device::flex().autodiff()
}

/// Per-episode scaled rewards, advantages and returns; and the unscaled reward per task.
///
/// Average-reward form (as in Dai & Gluzman's PPO for queueing networks, Operations Research
/// 2022): each decision's reward is taken relative to the batch's average reward rate ρ over its
/// interval, r_k − ρ × Δt_k, so that values are relative values around zero. Without it, a
/// discounted value of the (negative) holding cost favours decisions that take long, because
/// they push the costs further into the future.
fn prepare(objective: Objective, eps: &[Episode], scale: f64, h: &Hyper) -> (Vec<f32>, Vec<f32>, f64) {
    let (mut adv, mut ret, mut per_task) = (Vec::new(), Vec::new(), 0.0);
    let mean_dt = mean_interval(eps.iter().map(|e| e.steps.as_slice()));
    let raw: Vec<Vec<f64>> = eps
        .iter()
        .map(|e| {
            let at: Vec<u64> = e.steps.iter().map(|s| s.at).collect();
            rewards(objective, &at, &e.outcomes, e.end)
        })
        .collect();
    let span = |e: &Episode, k: usize| -> f64 { (e.steps.get(k + 1).map_or(e.end, |s| s.at).max(e.steps[k].at) - e.steps[k].at) as f64 };
    let (total, time) = eps.iter().zip(&raw).fold((0.0, 0.0), |(r, t), (e, rs)| (r + rs.iter().sum::<f64>(), t + (0..e.steps.len()).map(|k| span(e, k)).sum::<f64>()));
    let rate = if time > 0.0 { total / time } else { 0.0 };
    for (e, r) in eps.iter().zip(&raw) {
        per_task += r.iter().sum::<f64>() / e.outcomes.len().max(1) as f64;
        let relative: Vec<f64> = r.iter().enumerate().map(|(k, x)| (x - rate * span(e, k)) * scale).collect();
        let (a, t) = gae(&e.steps, &relative, h.gamma, h.lambda, mean_dt);
        adv.extend(a);
        ret.extend(t);
    }
    (adv, ret, per_task / eps.len().max(1) as f64)
}

/// Reward scale: one over the standard deviation of the per-decision rewards of `eps`.
fn reward_scale(objective: Objective, eps: &[Episode]) -> f64 {
    let mut all = Vec::new();
    for e in eps {
        let at: Vec<u64> = e.steps.iter().map(|s| s.at).collect();
        all.extend(rewards(objective, &at, &e.outcomes, e.end));
    }
    let n = all.len().max(1) as f64;
    let m = all.iter().sum::<f64>() / n;
    let sd = (all.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt();
    if sd > 1e-12 { 1.0 / sd } else { 1.0 }
}

/// Trains (or resumes `start`) on `scenario`; `checkpoint` receives the policy file after each
/// iteration, `progress` each iteration's figures.
pub fn train(scenario: &Scenario, cfg: &Config, start: Option<PolicyFile>, checkpoint: &mut dyn FnMut(&PolicyFile) -> Result<(), String>, progress: &mut dyn FnMut(&Iteration)) -> Result<PolicyFile, String> {
    let device = device();
    let began = Instant::now();
    let (net, mut meta) = match start {
        Some(p) => {
            if p.training.objective != cfg.objective.name() {
                return Err(format!("the checkpoint was trained for the {} reward, not {}", p.training.objective, cfg.objective.name()));
            }
            let name = scenario.name.clone().unwrap_or_default();
            if p.training.scenario != name {
                return Err(format!("the checkpoint was trained on scenario {:?}, not {name:?}", p.training.scenario));
            }
            (p.net, p.training)
        }
        None => {
            let meta = Training {
                scenario: scenario.name.clone().unwrap_or_default(),
                algo: "ppo".into(),
                objective: cfg.objective.name().into(),
                seed: cfg.seed,
                warm_start: cfg.warm_start.clone(),
                ..Training::default()
            };
            let mut net = init_net(cfg.hidden, cfg.seed);
            net.candidates = cfg.candidates;
            (net, meta)
        }
    };
    let rule = net.candidates;
    let wall_before = meta.wall_s;
    let mut model = ActorCritic::from_net(&net, &device);
    let mut optim = optimizer();
    let h = &cfg.hyper;

    // Warm start (a fresh run only): the teacher's own runs, its picks as actions.
    if meta.iterations == 0 && meta.episodes == 0 {
        if let Some(teacher) = &cfg.warm_start {
            if tessera_policies::router(teacher).is_none() || teacher == "learned" {
                return Err(format!("warm start: {teacher:?} is not a heuristic ({})", tessera_policies::heuristics().join(", ")));
            }
            let seeds = training_seeds(cfg.seed, &mut meta.seed_cursor, cfg.episodes);
            let name = teacher.clone();
            let eps = episodes(scenario, &seeds, &|_| Actor::Teacher(tessera_policies::router(&name).expect("checked above"), rule))?;
            meta.reward_scale = reward_scale(cfg.objective, &eps);
            let (_, ret, per_task) = prepare(cfg.objective, &eps, meta.reward_scale, h);
            let steps: Vec<&_> = eps.iter().flat_map(|e| &e.steps).collect();
            let (m, _ce) = clone_behaviour(model, &mut optim, &steps, &ret, h, cfg.warm_start_epochs, cfg.seed ^ 0xb10c, &device);
            model = m;
            meta.episodes += eps.len() as u64;
            meta.env_steps += steps.len() as u64;
            meta.warm_start_reward = Some(per_task);
            optim = optimizer();
        }
    }

    while meta.iterations < cfg.iterations && cfg.max_steps.is_none_or(|m| meta.env_steps < m) {
        let t0 = Instant::now();
        let it = meta.iterations;
        let net = Arc::new(model.to_net(rule));
        let seeds = training_seeds(cfg.seed, &mut meta.seed_cursor, cfg.episodes);
        let base = cfg.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ it as u64;
        let eps = episodes(scenario, &seeds, &|i| Actor::Sample(net.clone(), replication_seed(base, i as u32)))?;
        if meta.reward_scale == 0.0 {
            meta.reward_scale = reward_scale(cfg.objective, &eps);
        }
        let (adv, ret, per_task) = prepare(cfg.objective, &eps, meta.reward_scale, h);
        let steps: Vec<&_> = eps.iter().flat_map(|e| &e.steps).collect();
        let losses = if steps.is_empty() {
            Losses::default()
        } else {
            let (m, l) = update(model, &mut optim, &steps, &adv, &ret, h, base ^ 0x5eed, &device);
            model = m;
            l
        };
        meta.iterations += 1;
        meta.episodes += eps.len() as u64;
        meta.env_steps += steps.len() as u64;
        meta.curve.push(per_task);
        meta.losses.push([losses.policy, losses.value, losses.entropy]);
        meta.wall_s = wall_before + began.elapsed().as_secs_f64();
        let file = PolicyFile::new(model.to_net(rule), meta.clone());
        checkpoint(&file)?;
        progress(&Iteration { iteration: meta.iterations, reward_per_task: per_task, steps: steps.len() as u64, losses, wall_s: t0.elapsed().as_secs_f64() });
    }
    meta.wall_s = wall_before + began.elapsed().as_secs_f64();
    Ok(PolicyFile::new(model.to_net(rule), meta))
}
