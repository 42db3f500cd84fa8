//! PPO without a warm start finds the cμ rule where it is provably optimal (a single server, two
//! classes: scenarios/bench/learning/cmu-two-class.toml), judged on held-out seeds with common
//! random numbers; and training is a pure function of its seed at 1 and 2 threads.

use std::path::PathBuf;
use std::sync::Arc;
use tessera_engine::dispatch::Router;
use tessera_engine::metrics::stats::mean_ci;
use tessera_engine::run::{replication_seed, run, RunOptions};
use tessera_engine::spec::Scenario;
use tessera_learn::model::init_net;
use tessera_learn::reward::Objective;
use tessera_learn::train::{train, Config, HELD_OUT_BASE};
use tessera_policies::learned::net::Net;
use tessera_policies::learned::Learned;

fn scenario(set: &[&str]) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/bench/learning/cmu-two-class.toml");
    let policies = tessera_policies::names();
    let known = tessera_scenarios::Known::with_policies(&policies);
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    tessera_scenarios::load_file(&path, &set, &known).unwrap()
}

/// Per held-out seed: the time-average holding cost Σ h_i × mean tasks of class i in the system.
fn holding(s: &Scenario, make: &(dyn Fn() -> Box<dyn Router> + Sync), seeds: &[u64]) -> Vec<f64> {
    seeds
        .iter()
        .map(|&seed| {
            let out = run(s, make, RunOptions::figures(seed), &mut |_| {}).unwrap();
            s.streams.iter().map(|x| x.holding_cost * out.summary.streams[x.name.as_deref().unwrap()].tasks_in_system_mean).sum()
        })
        .collect()
}

fn heuristic(s: &Scenario, name: &str, seeds: &[u64]) -> Vec<f64> {
    let make = move || tessera_policies::router(name).unwrap();
    holding(s, &make, seeds)
}

fn learned(s: &Scenario, net: Net, seeds: &[u64]) -> Vec<f64> {
    let net = Arc::new(net);
    let make = move || -> Box<dyn Router> { Box::new(Learned::new(net.clone())) };
    holding(s, &make, seeds)
}

fn config(iterations: u32) -> Config {
    Config { objective: Objective::Holding, iterations, episodes: 8, seed: 7, ..Config::default() }
}

#[test]
fn ppo_reaches_c_mu_on_held_out_seeds() {
    let eval = scenario(&[]);
    let seeds: Vec<u64> = (0..40).map(|r| replication_seed(HELD_OUT_BASE, r)).collect();
    let cmu = heuristic(&eval, "c-mu", &seeds);
    let fifo = heuristic(&eval, "fifo", &seeds);
    let (cmu_mean, cmu_hw) = mean_ci(&cmu, 0.95);
    let (fifo_mean, _) = mean_ci(&fifo, 0.95);
    let untrained = learned(&eval, init_net(32, 7), &seeds);
    let (untrained_mean, _) = mean_ci(&untrained, 0.95);
    // The test can fail: neither FIFO nor the untrained network is within cμ's interval.
    assert!(fifo_mean > cmu_mean + cmu_hw, "fifo {fifo_mean:.3} vs c-mu {cmu_mean:.3} ± {cmu_hw:.3}");
    assert!(untrained_mean > cmu_mean + cmu_hw, "untrained {untrained_mean:.3} vs c-mu {cmu_mean:.3} ± {cmu_hw:.3}");

    let train_on = scenario(&["run.horizon=500h"]);
    let t0 = std::time::Instant::now();
    let policy = train(&train_on, &config(25), None, &mut |_| Ok(()), &mut |it| {
        eprintln!("iteration {:>2}: reward per task {:+.4}, {} steps, policy loss {:+.4}, value loss {:.4}, entropy {:.3}, {:.2} s", it.iteration, it.reward_per_task, it.steps, it.losses.policy, it.losses.value, it.losses.entropy, it.wall_s);
    })
    .unwrap();
    eprintln!("trained in {:.1} s, {} decisions, {} episodes", t0.elapsed().as_secs_f64(), policy.training.env_steps, policy.training.episodes);
    let teacher = tessera_learn::env::episode(&eval, seeds[0], &|| tessera_learn::env::Actor::Teacher(tessera_policies::router("c-mu").unwrap(), Default::default())).unwrap();
    let agree = tessera_learn::env::agreement(&policy.net, &teacher.steps);
    eprintln!("agreement with c-mu's picks on a held-out seed: {agree:.3} over {} decisions", teacher.steps.len());
    let mine = learned(&eval, policy.net, &seeds);
    let (mean, hw) = mean_ci(&mine, 0.95);
    let diffs: Vec<f64> = mine.iter().zip(&cmu).map(|(a, b)| a - b).collect();
    let (d, dhw) = mean_ci(&diffs, 0.95);
    eprintln!("held-out holding cost: learned {mean:.3} ± {hw:.3}, c-mu {cmu_mean:.3} ± {cmu_hw:.3}, fifo {fifo_mean:.3}, untrained {untrained_mean:.3}; learned − c-mu {d:+.4} ± {dhw:.4}");
    assert!(mean <= cmu_mean + cmu_hw, "learned {mean:.3} ± {hw:.3} is not within c-mu's {cmu_mean:.3} ± {cmu_hw:.3}");
    assert!(agree >= 0.95, "the greedy policy picks as c-mu does in {agree:.3} of the decisions");
}

#[test]
fn training_is_deterministic_at_1_and_2_threads() {
    let s = scenario(&["run.horizon=200h"]);
    let run_with = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| train(&s, &config(2), None, &mut |_| Ok(()), &mut |_| {}).unwrap())
    };
    let (a, b) = (run_with(1), run_with(2));
    assert_eq!(a.net, b.net, "same seed, same network at 1 and 2 threads");
    assert_eq!(a.training.curve, b.training.curve);
    assert!(a.training.env_steps > 0);
}

/// Training seeds never include the bench's held-out evaluation seeds, even when asked for the
/// held-out base itself; and a resumed run goes on from the checkpoint with fresh seeds.
#[test]
fn training_seeds_avoid_held_out_ones_and_resume_goes_on() {
    use std::collections::HashSet;
    use tessera_learn::train::{training_seeds, HELD_OUT_REPLICATIONS};
    let held: HashSet<u64> = (0..HELD_OUT_REPLICATIONS).map(|r| replication_seed(HELD_OUT_BASE, r)).collect();
    let mut cursor = 0;
    let seeds = training_seeds(HELD_OUT_BASE, &mut cursor, 5);
    assert!(seeds.iter().all(|s| !held.contains(s)));
    assert!(cursor >= HELD_OUT_REPLICATIONS as u64, "the held-out replications were skipped: cursor {cursor}");

    let s = scenario(&["run.horizon=100h"]);
    let first = train(&s, &config(2), None, &mut |_| Ok(()), &mut |_| {}).unwrap();
    assert_eq!((first.training.iterations, first.training.episodes, first.training.seed_cursor), (2, 16, 16));
    let bytes = first.to_bytes();
    let back = tessera_policies::learned::PolicyFile::from_bytes(&bytes, "checkpoint").unwrap();
    let more = train(&s, &config(3), Some(back), &mut |_| Ok(()), &mut |_| {}).unwrap();
    assert_eq!((more.training.iterations, more.training.episodes, more.training.seed_cursor), (3, 24, 24));
    assert_eq!(more.training.curve[..2], first.training.curve[..], "the curve goes on from the checkpoint's");
    let wrong = Config { objective: Objective::Composite, ..config(4) };
    assert!(train(&s, &wrong, Some(more), &mut |_| Ok(()), &mut |_| {}).unwrap_err().contains("holding"));
}
