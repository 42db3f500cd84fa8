//! The learned policy's network, for inference: a deep-sets actor-critic over the candidate set
//! of one decision (see `features`). Plain f32 arithmetic, no allocation beyond the caller's
//! scratch, the same on every machine; training (tessera-learn, burn) builds the same network
//! and a test there holds both forward passes to 1e-5 of each other.
//!
//! - embed:  e_c = relu(W2 · relu(W1 · x_c + b1) + b2)         for each candidate pair x_c
//! - pool:   p = mean_c e_c                                      (permutation-invariant)
//! - actor:  logit_c = w4 · relu(W3 · [e_c, p, g] + b3) + b4     g: the global numbers
//! - critic: v = w6 · relu(W5 · [p, g] + b5) + b6
//!
//! Mean pooling (deep sets, Zaheer et al. 2017) rather than attention: a decision has at most
//! 16 candidates and the policy must cost microseconds in the simulator's inner loop; attention's
//! pairwise terms buy little when each candidate is already a whole stream's head or a pool's
//! representative, and the pooled vector carries the competing candidates into every score.

use super::features::{Candidates, GLOBAL, PAIR};
use serde::{Deserialize, Serialize};

/// A dense layer: `w` is `inputs × outputs` row by row (burn's `Linear` layout), `b` outputs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Dense {
    pub inputs: usize,
    pub outputs: usize,
    pub w: Vec<f32>,
    pub b: Vec<f32>,
}

impl Dense {
    /// out = x · W + b (x: `inputs` numbers).
    #[inline]
    pub fn apply(&self, x: &[f32], out: &mut [f32], relu: bool) {
        out[..self.outputs].copy_from_slice(&self.b);
        for (i, &xi) in x[..self.inputs].iter().enumerate() {
            if xi == 0.0 {
                continue;
            }
            let row = &self.w[i * self.outputs..(i + 1) * self.outputs];
            for (o, &w) in out[..self.outputs].iter_mut().zip(row) {
                *o += xi * w;
            }
        }
        if relu {
            for o in &mut out[..self.outputs] {
                *o = o.max(0.0);
            }
        }
    }
    fn check(&self, name: &str, inputs: usize, outputs: usize) -> Result<(), String> {
        if self.inputs != inputs || self.outputs != outputs || self.w.len() != inputs * outputs || self.b.len() != outputs {
            return Err(format!("layer {name}: expected {inputs}×{outputs}, found {}×{} with {} weights and {} biases", self.inputs, self.outputs, self.w.len(), self.b.len()));
        }
        if self.w.iter().chain(&self.b).any(|v| !v.is_finite()) {
            return Err(format!("layer {name}: a weight is not a finite number"));
        }
        Ok(())
    }
}

/// The network's weights.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Net {
    pub hidden: usize,
    pub embed1: Dense,
    pub embed2: Dense,
    pub actor1: Dense,
    pub actor2: Dense,
    pub critic1: Dense,
    pub critic2: Dense,
    /// The candidate rule the network was trained on (part of what it decides: the same
    /// weights over other candidates decide something else). Files written before the rule
    /// existed read as [`Candidates::Oldest`], the rule they were trained on.
    #[serde(default)]
    pub candidates: Candidates,
}

/// Reused buffers of a forward pass.
#[derive(Default, Clone)]
pub struct Scratch {
    embed: Vec<f32>,
    tmp: Vec<f32>,
    input: Vec<f32>,
    critic_in: Vec<f32>,
    pub logits: Vec<f32>,
}

impl Net {
    /// Checks the shapes against this build's feature counts.
    pub fn check(&self) -> Result<(), String> {
        let h = self.hidden;
        self.embed1.check("embed1", PAIR, h)?;
        self.embed2.check("embed2", h, h)?;
        self.actor1.check("actor1", 2 * h + GLOBAL, h)?;
        self.actor2.check("actor2", h, 1)?;
        self.critic1.check("critic1", h + GLOBAL, h)?;
        self.critic2.check("critic2", h, 1)
    }

    /// Logits of the `n` candidates (`pairs`: n × PAIR) into `s.logits`; returns the value.
    pub fn forward(&self, pairs: &[f32], global: &[f32; GLOBAL], n: usize, s: &mut Scratch) -> f32 {
        let h = self.hidden;
        s.embed.clear();
        s.embed.resize(n * h, 0.0);
        s.tmp.resize(h, 0.0);
        // The pooled embedding lives in `input[h..2h]`, between the candidate's own and the globals.
        s.input.clear();
        s.input.resize(2 * h + GLOBAL, 0.0);
        for c in 0..n {
            self.embed1.apply(&pairs[c * PAIR..(c + 1) * PAIR], &mut s.tmp, true);
            self.embed2.apply(&s.tmp, &mut s.embed[c * h..(c + 1) * h], true);
            for (p, e) in s.input[h..2 * h].iter_mut().zip(&s.embed[c * h..(c + 1) * h]) {
                *p += e;
            }
        }
        let inv = 1.0 / n.max(1) as f32;
        for p in &mut s.input[h..2 * h] {
            *p *= inv;
        }
        s.input[2 * h..].copy_from_slice(global);
        s.logits.clear();
        let mut one = [0f32; 1];
        for c in 0..n {
            s.input[..h].copy_from_slice(&s.embed[c * h..(c + 1) * h]);
            self.actor1.apply(&s.input, &mut s.tmp, true);
            self.actor2.apply(&s.tmp, &mut one, false);
            s.logits.push(one[0]);
        }
        s.critic_in.clear();
        s.critic_in.extend_from_slice(&s.input[h..]);
        self.critic1.apply(&s.critic_in, &mut s.tmp, true);
        self.critic2.apply(&s.tmp, &mut one, false);
        one[0]
    }
}

/// log-softmax of `logits` into `out`.
pub fn log_softmax(logits: &[f32], out: &mut Vec<f32>) {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let z: f32 = logits.iter().map(|l| (l - m).exp()).sum::<f32>().ln() + m;
    out.clear();
    out.extend(logits.iter().map(|l| l - z));
}

/// Index of the largest logit (the first on ties).
pub fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best
}
