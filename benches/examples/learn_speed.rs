//! Learned routing's speed: the environment's decisions per second (simulation runs with a
//! recording router, 8 episodes in parallel), with a heuristic teacher and with the network
//! sampling; and the inference cost per decision of the learned policy (the plain forward pass
//! the `learned` router runs, and burn's forward pass on the same network for comparison).
//!
//! cargo run --release -p tessera-benches --example learn_speed [SCENARIO] [HORIZON]

use burn::tensor::{Device, Tensor, TensorData};
use std::sync::Arc;
use std::time::Instant;
use tessera_learn::env::{episodes, Actor};
use tessera_learn::model::{init_net, ActorCritic};
use tessera_policies::learned::features::{GLOBAL, PAIR};
use tessera_policies::learned::net::Scratch;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).map_or("scenarios/bench/overlapping-skills.toml", |s| s.as_str());
    let horizon = args.get(2).map_or("1d", |s| s.as_str());
    let policies = tessera_policies::names();
    let known = tessera_scenarios::Known::with_policies(&policies);
    let s = tessera_scenarios::load_file(std::path::Path::new(path), &[format!("run.horizon={horizon}")], &known).expect("scenario");
    let seeds: Vec<u64> = (0..8).collect();
    let threads = rayon::current_num_threads();
    println!("scenario {path}, horizon {horizon}, 8 episodes on {threads} threads");
    for round in 0..2 {
        let t = Instant::now();
        let eps = episodes(&s, &seeds, &|_| Actor::Teacher(tessera_policies::router("max-weight").unwrap(), Default::default())).unwrap();
        let steps: usize = eps.iter().map(|e| e.steps.len()).sum();
        let tasks: usize = eps.iter().map(|e| e.outcomes.len()).sum();
        let w = t.elapsed().as_secs_f64();
        println!("round {round}: max-weight teacher: {steps} decisions with a choice, {tasks} tasks in {w:.2} s: {:.0} decisions/s", steps as f64 / w);
        let net = Arc::new(init_net(32, 7));
        let t = Instant::now();
        let eps = episodes(&s, &seeds, &|i| Actor::Sample(net.clone(), i as u64)).unwrap();
        let steps: usize = eps.iter().map(|e| e.steps.len()).sum();
        let w = t.elapsed().as_secs_f64();
        println!("round {round}: network sampling:  {steps} decisions with a choice in {w:.2} s: {:.0} decisions/s", steps as f64 / w);
    }
    // Inference per decision.
    let net = init_net(32, 7);
    let mut scratch = Scratch::default();
    let global = [0.5f32; GLOBAL];
    for n in [2usize, 4, 8, 16] {
        let pairs: Vec<f32> = (0..n * PAIR).map(|i| ((i * 7919) % 13) as f32 / 13.0).collect();
        let reps = 200_000 / n;
        let t = Instant::now();
        let mut acc = 0.0f32;
        for _ in 0..reps {
            acc += net.forward(std::hint::black_box(&pairs), &global, n, &mut scratch);
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
        std::hint::black_box(acc);
        println!("inference, plain forward, {n:>2} candidates: {us:.2} µs per decision");
    }
    let device = Device::flex();
    let model = ActorCritic::from_net(&net, &device);
    for n in [4usize, 16] {
        let pairs: Vec<f32> = (0..n * PAIR).map(|i| ((i * 7919) % 13) as f32 / 13.0).collect();
        let reps = 2_000;
        let t = Instant::now();
        for _ in 0..reps {
            let (l, v) = model.forward(
                Tensor::from_data(TensorData::new(pairs.clone(), [1, n, PAIR]), &device),
                Tensor::from_data(TensorData::new(vec![1f32; n], [1, n]), &device),
                Tensor::from_data(TensorData::new(global.to_vec(), [1, GLOBAL]), &device),
            );
            std::hint::black_box((l.into_data(), v.into_data()));
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
        println!("inference, burn flex forward, {n:>2} candidates: {us:.2} µs per decision");
    }
}
