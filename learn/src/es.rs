//! Evolution strategies (Salimans, Ho, Chen, Sidor & Sutskever 2017, "Evolution Strategies as a
//! Scalable Alternative to Reinforcement Learning"): fine-tunes a policy network on the figure a
//! scenario is ranked by, run by run, where PPO's per-decision reward is only a stand-in (the
//! bench's composite reward has a 90th percentile and a miss rate, which no sum over decisions
//! is).
//!
//! Each generation perturbs the actor's weights θ (the critic plays no part in the greedy
//! policy) with `pairs` antithetic pairs θ ± σε, ε ~ N(0, I); scores every member on the same
//! fresh training seeds (common random numbers: the members differ only in their decisions) by
//! running the greedy `learned` router through the simulator, exactly as `tessera bench` runs it;
//! turns the scores into centred ranks (robust to outliers and to the scale of the figure);
//! estimates the gradient Σ (u⁺ − u⁻) ε / (2 pairs σ); and takes an Adam step. The centre is
//! scored on fixed validation seeds (training seeds too, never the bench's held-out ones) every
//! generation, and the best centre so far is the result: a generation that makes it worse on
//! validation is never kept.
//!
//! Deterministic: the noise comes from seeded streams, the runs come back in a fixed order
//! whatever the thread count, sums are taken in that order.

use crate::reward::Objective;
use crate::train::training_seeds;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tessera_engine::metrics::reward::{figures, REWARD};
use tessera_engine::run::{replication_seed, run, RunOptions};
use tessera_engine::spec::Scenario;
use tessera_policies::learned::net::{Dense, Net};
use tessera_policies::learned::{Learned, PolicyFile};

/// Index of the holding cost [USD/h] in [`figures`].
const HOLDING: usize = 4;
const TRAINING_SALT: u64 = 0xe5_7a1e;
const VALIDATION_SALT: u64 = 0xe5_0a11d;

/// What to run.
#[derive(Clone, Debug)]
pub struct EsConfig {
    pub objective: Objective,
    /// Generations to reach (the starting file's ES generations count).
    pub generations: u32,
    /// Antithetic pairs per generation (2 × pairs members).
    pub pairs: usize,
    /// Training seeds per generation, the same for every member.
    pub seeds: usize,
    /// Validation seeds, fixed for the whole run.
    pub validation: usize,
    /// Noise scale on the weights.
    pub sigma: f32,
    /// Adam's step size.
    pub lr: f64,
    pub seed: u64,
}

impl Default for EsConfig {
    fn default() -> Self {
        EsConfig { objective: Objective::Composite, generations: 30, pairs: 16, seeds: 4, validation: 8, sigma: 0.02, lr: 0.01, seed: 7 }
    }
}

/// One generation's figures.
#[derive(Clone, Debug)]
pub struct Generation {
    pub generation: u32,
    /// The centre's mean score on the validation seeds (after this generation's step).
    pub validation: f64,
    /// The best validation score so far (the one the result has).
    pub best: f64,
    /// The members' mean score on this generation's seeds.
    pub population: f64,
    pub decisions: u64,
    pub wall_s: f64,
}

/// The layers ES moves: the actor's path (embedding and actor head).
fn actor_layers(net: &mut Net) -> [&mut Dense; 4] {
    [&mut net.embed1, &mut net.embed2, &mut net.actor1, &mut net.actor2]
}

fn flat(net: &Net) -> Vec<f32> {
    let mut n = net.clone();
    actor_layers(&mut n).iter().flat_map(|d| d.w.iter().chain(&d.b).copied().collect::<Vec<_>>()).collect()
}

fn with_params(base: &Net, theta: &[f32]) -> Net {
    let mut net = base.clone();
    let mut at = 0;
    for d in actor_layers(&mut net) {
        for v in d.w.iter_mut().chain(d.b.iter_mut()) {
            *v = theta[at];
            at += 1;
        }
    }
    net
}

/// The score of one greedy run of `net` on `seed`: the bench's composite reward, or minus the
/// holding cost per hour. Counts the decisions with a choice into `decisions`.
pub fn score(scenario: &Scenario, net: Arc<Net>, seed: u64, objective: Objective, decisions: &Arc<AtomicU64>) -> Result<f64, String> {
    let d = decisions.clone();
    let make = move || -> Box<dyn tessera_engine::dispatch::Router> { Box::new(Learned::new(net.clone()).counting(d.clone())) };
    let out = run(scenario, &make, RunOptions::figures(seed), &mut |_| {})?;
    let f = figures(&out.summary, scenario);
    Ok(match objective {
        Objective::Composite => f[REWARD],
        Objective::Holding => -f[HOLDING],
    })
}

/// Centred ranks in [−0.5, 0.5] (ties share their mean rank).
fn centred_ranks(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0;
        for &k in &idx[i..=j] {
            r[k] = if n > 1 { mean / (n - 1) as f64 - 0.5 } else { 0.0 };
        }
        i = j + 1;
    }
    r
}

/// Fine-tunes `start` on `scenario`; `checkpoint` receives the best policy file after each
/// generation, `progress` each generation's figures.
pub fn evolve(scenario: &Scenario, cfg: &EsConfig, start: PolicyFile, checkpoint: &mut dyn FnMut(&PolicyFile) -> Result<(), String>, progress: &mut dyn FnMut(&Generation)) -> Result<PolicyFile, String> {
    let began = Instant::now();
    let mut meta = start.training.clone();
    let wall_before = meta.wall_s;
    if meta.objective != cfg.objective.name() {
        return Err(format!("the starting policy was trained for the {} reward, not {}", meta.objective, cfg.objective.name()));
    }
    if !meta.algo.ends_with("es") {
        meta.algo = format!("{}+es", meta.algo);
    }
    let base = start.net.clone();
    let mut theta = flat(&base);
    let dim = theta.len();
    let decisions = Arc::new(AtomicU64::new(0));
    // Seeds of their own (replication seeds of the seed with a salt: none is a PPO rollout's), never
    // the bench's held-out ones; the validation seeds fixed for the run.
    let mut cursor = meta.es_seed_cursor;
    let validation = training_seeds(cfg.seed ^ VALIDATION_SALT, &mut 0, cfg.validation);
    let eval_all = |nets: &[Arc<Net>], seeds: &[u64]| -> Result<Vec<f64>, String> {
        let jobs: Vec<(usize, u64)> = (0..nets.len()).flat_map(|m| seeds.iter().map(move |&s| (m, s))).collect();
        let scores: Vec<f64> = jobs.par_iter().map(|&(m, s)| score(scenario, nets[m].clone(), s, cfg.objective, &decisions)).collect::<Result<_, _>>()?;
        Ok(scores.chunks(seeds.len()).map(|c| c.iter().sum::<f64>() / c.len() as f64).collect())
    };
    let mut best_net = base.clone();
    let mut best = match meta.es_best {
        Some(b) => b,
        None => eval_all(&[Arc::new(base.clone())], &validation)?[0],
    };
    let (mut m, mut v) = (vec![0f64; dim], vec![0f64; dim]);
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    let mut step = 0i32;
    while meta.es_curve.len() < cfg.generations as usize {
        let t0 = Instant::now();
        let g = meta.es_curve.len() as u32;
        let before = decisions.load(Ordering::Relaxed);
        let seeds = training_seeds(cfg.seed ^ TRAINING_SALT, &mut cursor, cfg.seeds);
        let noise: Vec<Vec<f32>> = (0..cfg.pairs)
            .map(|i| {
                let mut r = ChaCha8Rng::seed_from_u64(replication_seed(cfg.seed ^ 0xe5, g * 4096 + i as u32));
                (0..dim).map(|_| r.sample::<f32, _>(StandardNormal)).collect()
            })
            .collect();
        let members: Vec<Arc<Net>> = noise
            .iter()
            .flat_map(|e| {
                [1f32, -1.0].map(|sign| {
                    let t: Vec<f32> = theta.iter().zip(e).map(|(t, e)| t + sign * cfg.sigma * e).collect();
                    Arc::new(with_params(&base, &t))
                })
            })
            .collect();
        let scores = eval_all(&members, &seeds)?;
        let u = centred_ranks(&scores);
        // ∇ ≈ Σ (u⁺ − u⁻) ε / (2 pairs σ); Adam ascent on it.
        let mut grad = vec![0f64; dim];
        for (i, e) in noise.iter().enumerate() {
            let w = u[2 * i] - u[2 * i + 1];
            for (gk, ek) in grad.iter_mut().zip(e) {
                *gk += w * *ek as f64;
            }
        }
        step += 1;
        let scale = 1.0 / (2.0 * cfg.pairs as f64 * cfg.sigma as f64);
        for k in 0..dim {
            let gk = grad[k] * scale;
            m[k] = b1 * m[k] + (1.0 - b1) * gk;
            v[k] = b2 * v[k] + (1.0 - b2) * gk * gk;
            let mh = m[k] / (1.0 - b1.powi(step));
            let vh = v[k] / (1.0 - b2.powi(step));
            theta[k] += (cfg.lr * mh / (vh.sqrt() + eps)) as f32;
        }
        let centre = with_params(&base, &theta);
        let val = eval_all(&[Arc::new(centre.clone())], &validation)?[0];
        if val > best {
            best = val;
            best_net = centre;
        }
        let population = scores.iter().sum::<f64>() / scores.len() as f64;
        let used = decisions.load(Ordering::Relaxed) - before;
        meta.es_curve.push([val, population]);
        meta.es_best = Some(best);
        meta.es_seed_cursor = cursor;
        meta.iterations += 1;
        meta.episodes += (members.len() * seeds.len() + validation.len()) as u64;
        meta.env_steps += used;
        meta.wall_s = wall_before + began.elapsed().as_secs_f64();
        checkpoint(&PolicyFile::new(best_net.clone(), meta.clone()))?;
        progress(&Generation { generation: g + 1, validation: val, best, population, decisions: used, wall_s: t0.elapsed().as_secs_f64() });
    }
    meta.wall_s = wall_before + began.elapsed().as_secs_f64();
    Ok(PolicyFile::new(best_net, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_are_centred_and_share_ties() {
        assert_eq!(centred_ranks(&[3.0, 1.0, 2.0]), vec![0.5, -0.5, 0.0]);
        assert_eq!(centred_ranks(&[1.0, 1.0, 5.0, 0.0]), vec![-0.5 + 1.5 / 3.0, -0.5 + 1.5 / 3.0, 0.5, -0.5]);
        assert_eq!(centred_ranks(&[2.0]), vec![0.0]);
    }

    fn cmu(horizon: &str) -> Scenario {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/bench/learning/cmu-two-class.toml");
        let policies = tessera_policies::names();
        tessera_scenarios::load_file(&path, &[format!("run.horizon={horizon}")], &tessera_scenarios::Known::with_policies(&policies)).unwrap()
    }

    /// The same seed gives the same file at 1 and 2 threads; the file's network scores what it
    /// says on the validation seeds; the best score never goes down; a resumed run goes on.
    #[test]
    fn deterministic_and_keeps_the_best() {
        let s = cmu("150h");
        let start = PolicyFile::new(crate::model::init_net(8, 5), tessera_policies::learned::Training { scenario: s.name.clone().unwrap_or_default(), algo: "ppo".into(), objective: "holding".into(), ..Default::default() });
        let cfg = EsConfig { objective: Objective::Holding, generations: 3, pairs: 3, seeds: 2, validation: 3, sigma: 0.05, lr: 0.05, seed: 11 };
        let go = |threads: usize, cfg: &EsConfig, start: PolicyFile| {
            let mut gens = Vec::new();
            let p = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| evolve(&s, cfg, start, &mut |_| Ok(()), &mut |g| gens.push(g.clone()))).unwrap();
            (p, gens)
        };
        let (one, gens) = go(1, &cfg, start.clone());
        let (two, _) = go(2, &cfg, start.clone());
        assert_eq!(one.net, two.net);
        assert_eq!(one.training.es_curve, two.training.es_curve);
        assert_eq!(gens.len(), 3);
        assert!(gens.windows(2).all(|w| w[1].best >= w[0].best));
        assert_eq!(one.training.algo, "ppo+es");
        assert_eq!(one.training.es_curve.len(), 3);
        assert!(one.training.env_steps > 0 && one.training.episodes == 3 * (2 * 3 * 2 + 3));
        let validation = training_seeds(11 ^ VALIDATION_SALT, &mut 0, 3);
        let d = Arc::new(AtomicU64::new(0));
        let net = Arc::new(one.net.clone());
        let mean = validation.iter().map(|&v| score(&s, net.clone(), v, Objective::Holding, &d).unwrap()).sum::<f64>() / 3.0;
        assert_eq!(Some(mean), one.training.es_best, "the file's network has the recorded score");
        let more = EsConfig { generations: 4, ..cfg };
        let (resumed, gens) = go(2, &more, one.clone());
        assert_eq!(gens.len(), 1);
        assert_eq!(resumed.training.es_curve[..3], one.training.es_curve[..]);
        assert!(resumed.training.es_best >= one.training.es_best);
    }

    #[test]
    fn parameters_round_trip() {
        let net = crate::model::init_net(8, 3);
        let t = flat(&net);
        assert_eq!(with_params(&net, &t), net);
        let moved = with_params(&net, &t.iter().map(|x| x + 1.0).collect::<Vec<_>>());
        assert_eq!(moved.critic1, net.critic1, "the critic is left alone");
        assert_ne!(moved.actor1, net.actor1);
    }
}
