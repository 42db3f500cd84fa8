//! PPO (Schulman et al. 2017) on the recorded steps: generalised advantage estimation, the
//! clipped surrogate objective, a value loss, an entropy bonus, Adam with the gradient norm
//! clipped; and the behaviour-cloning loss of the optional warm start. Minibatches are drawn by a
//! seeded shuffle, so an update is a pure function of its inputs.

use crate::env::Step;
use crate::model::ActorCritic;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tessera_policies::learned::features::{GLOBAL, PAIR};

/// PPO's knobs: clip, value and entropy coefficients, λ and the minibatch as in the PPO paper's
/// defaults; the learning rate 1e-3 and γ 0.99 per mean interval between decisions (with
/// average-reward relative values, see `train`) are what reached cμ on the two-class instance.
#[derive(Clone, Debug)]
pub struct Hyper {
    pub lr: f64,
    pub gamma: f64,
    pub lambda: f64,
    pub clip: f32,
    pub value_coef: f32,
    pub entropy_coef: f32,
    pub epochs: usize,
    pub minibatch: usize,
}

impl Default for Hyper {
    fn default() -> Self {
        Hyper { lr: 1e-3, gamma: 0.99, lambda: 0.95, clip: 0.2, value_coef: 0.5, entropy_coef: 0.01, epochs: 4, minibatch: 256 }
    }
}

/// Advantages and returns of one episode's steps (rewards already scaled); the episode ends
/// after its last step (value 0 beyond it). Discounting is by simulated time, not by decision
/// count (a semi-Markov decision process): from one decision to the next the factor is
/// γ^(Δt / mean Δt), so a policy that makes decisions more often (by picking short tasks, say)
/// does not discount the future faster than one that makes them rarely. `mean_dt` is the mean
/// interval between decisions [µs] of the batch.
pub fn gae(steps: &[Step], rewards: &[f64], gamma: f64, lambda: f64, mean_dt: f64) -> (Vec<f32>, Vec<f32>) {
    let n = steps.len();
    let (mut adv, mut ret) = (vec![0f32; n], vec![0f32; n]);
    let mut next_value = 0.0f64;
    let mut running = 0.0f64;
    for t in (0..n).rev() {
        let v = steps[t].value as f64;
        let dt = if t + 1 < n { (steps[t + 1].at - steps[t].at) as f64 / mean_dt.max(1.0) } else { 1.0 };
        let g = gamma.powf(dt);
        let delta = rewards[t] + g * next_value - v;
        running = delta + g * lambda * running;
        adv[t] = running as f32;
        ret[t] = (running + v) as f32;
        next_value = v;
    }
    (adv, ret)
}

/// The mean interval between consecutive decisions of the episodes [µs].
pub fn mean_interval<'a>(episodes: impl Iterator<Item = &'a [Step]>) -> f64 {
    let (mut sum, mut n) = (0u64, 0u64);
    for steps in episodes {
        if let (Some(a), Some(b)) = (steps.first(), steps.last()) {
            sum += b.at - a.at;
            n += steps.len() as u64 - 1;
        }
    }
    if n == 0 { 1.0 } else { (sum as f64 / n as f64).max(1.0) }
}

/// Tensors of the steps `idx`, padded to the most candidates among them.
fn batch(steps: &[&Step], idx: &[usize], device: &Device) -> (Tensor<3>, Tensor<2>, Tensor<2>, Tensor<2, Int>) {
    let c = idx.iter().map(|&i| steps[i].n).max().unwrap_or(1);
    let b = idx.len();
    let mut pairs = vec![0f32; b * c * PAIR];
    let mut mask = vec![0f32; b * c];
    let mut global = vec![0f32; b * GLOBAL];
    let mut actions = vec![0i64; b];
    for (row, &i) in idx.iter().enumerate() {
        let s = steps[i];
        pairs[row * c * PAIR..row * c * PAIR + s.n * PAIR].copy_from_slice(&s.pairs);
        mask[row * c..row * c + s.n].iter_mut().for_each(|m| *m = 1.0);
        global[row * GLOBAL..(row + 1) * GLOBAL].copy_from_slice(&s.global);
        actions[row] = s.action as i64;
    }
    (
        Tensor::from_data(TensorData::new(pairs, [b, c, PAIR]), device),
        Tensor::from_data(TensorData::new(mask, [b, c]), device),
        Tensor::from_data(TensorData::new(global, [b, GLOBAL]), device),
        Tensor::from_data(TensorData::new(actions, [b, 1]), device),
    )
}

fn column(v: Vec<f32>, device: &Device) -> Tensor<1> {
    let n = v.len();
    Tensor::from_data(TensorData::new(v, [n]), device)
}

/// Losses of one update, averaged over its minibatches.
#[derive(Clone, Copy, Debug, Default)]
pub struct Losses {
    pub policy: f64,
    pub value: f64,
    pub entropy: f64,
}

/// One PPO update over `steps` with their advantages and returns.
#[allow(clippy::too_many_arguments)]
pub fn update(model: ActorCritic, optim: &mut ModuleOptimizer, steps: &[&Step], adv: &[f32], ret: &[f32], h: &Hyper, seed: u64, device: &Device) -> (ActorCritic, Losses) {
    let mut model = model;
    let n = steps.len();
    // Advantages normalised over the whole batch.
    let mean = adv.iter().map(|&a| a as f64).sum::<f64>() / n.max(1) as f64;
    let sd = (adv.iter().map(|&a| (a as f64 - mean).powi(2)).sum::<f64>() / n.max(1) as f64).sqrt().max(1e-8);
    let adv: Vec<f32> = adv.iter().map(|&a| ((a as f64 - mean) / sd) as f32).collect();
    let mut order: Vec<usize> = (0..n).collect();
    let mut g = ChaCha8Rng::seed_from_u64(seed);
    let (mut sum, mut batches) = (Losses::default(), 0usize);
    for _ in 0..h.epochs {
        order.shuffle(&mut g);
        for idx in order.chunks(h.minibatch) {
            let (pairs, mask, global, actions) = batch(steps, idx, device);
            let old = column(idx.iter().map(|&i| steps[i].logp).collect(), device);
            let a = column(idx.iter().map(|&i| adv[i]).collect(), device);
            let r = column(idx.iter().map(|&i| ret[i]).collect(), device);
            let (logits, v) = model.forward(pairs, mask, global);
            let logp_all = log_softmax(logits, 1);
            let logp: Tensor<1> = logp_all.clone().gather(1, actions).squeeze_dim::<1>(1);
            let ratio = (logp - old).exp();
            let clipped = ratio.clone().clamp(1.0 - h.clip, 1.0 + h.clip);
            let policy_loss = (ratio * a.clone()).min_pair(clipped * a).mean().neg();
            let value_loss = (v - r).square().mean();
            let entropy = (logp_all.clone().exp() * logp_all).sum_dim(1).mean().neg();
            let loss = policy_loss.clone() + value_loss.clone().mul_scalar(h.value_coef) - entropy.clone().mul_scalar(h.entropy_coef);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(h.lr, model, grads);
            sum.policy += policy_loss.into_scalar::<f32>() as f64;
            sum.value += value_loss.into_scalar::<f32>() as f64;
            sum.entropy += entropy.into_scalar::<f32>() as f64;
            batches += 1;
        }
    }
    let k = batches.max(1) as f64;
    (model, Losses { policy: sum.policy / k, value: sum.value / k, entropy: sum.entropy / k })
}

/// Behaviour cloning: cross-entropy of the recorded (teacher's) actions, and the value fitted to
/// the returns. Returns the mean cross-entropy of the last epoch.
#[allow(clippy::too_many_arguments)]
pub fn clone_behaviour(model: ActorCritic, optim: &mut ModuleOptimizer, steps: &[&Step], ret: &[f32], h: &Hyper, epochs: usize, seed: u64, device: &Device) -> (ActorCritic, f64) {
    let mut model = model;
    let mut order: Vec<usize> = (0..steps.len()).collect();
    let mut g = ChaCha8Rng::seed_from_u64(seed);
    let mut last = 0.0;
    for _ in 0..epochs {
        order.shuffle(&mut g);
        let (mut sum, mut k) = (0.0, 0usize);
        for idx in order.chunks(h.minibatch) {
            let (pairs, mask, global, actions) = batch(steps, idx, device);
            let r = column(idx.iter().map(|&i| ret[i]).collect(), device);
            let (logits, v) = model.forward(pairs, mask, global);
            let ce = log_softmax(logits, 1).gather(1, actions).mean().neg();
            let loss = ce.clone() + (v - r).square().mean().mul_scalar(h.value_coef);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(h.lr, model, grads);
            sum += ce.into_scalar::<f32>() as f64;
            k += 1;
        }
        last = sum / k.max(1) as f64;
    }
    (model, last)
}
