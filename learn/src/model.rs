//! The actor-critic in burn (training), the same network as `tessera_policies::learned::net`
//! (inference): weights cross between them as plain numbers ([`ActorCritic::from_net`],
//! [`ActorCritic::to_net`]), and `tests` holds both forward passes to 1e-5 of each other.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera_policies::learned::features::{Candidates, GLOBAL, PAIR};
use tessera_policies::learned::net::{Dense, Net};

#[derive(Module, Debug)]
pub struct ActorCritic {
    embed1: Linear,
    embed2: Linear,
    actor1: Linear,
    actor2: Linear,
    critic1: Linear,
    critic2: Linear,
}

/// A fresh network: weights uniform in ±1/√inputs (burn's `Linear` default), biases 0, drawn
/// from `seed` (the same network on every machine). The actor's last layer starts 100 times
/// smaller, so the first policy is near uniform over the candidates.
pub fn init_net(hidden: usize, seed: u64) -> Net {
    let mut g = ChaCha8Rng::seed_from_u64(seed);
    let mut dense = |inputs: usize, outputs: usize, gain: f32| {
        let k = gain / (inputs as f32).sqrt();
        Dense { inputs, outputs, w: (0..inputs * outputs).map(|_| g.random_range(-k..k)).collect(), b: vec![0.0; outputs] }
    };
    Net {
        hidden,
        embed1: dense(PAIR, hidden, 1.0),
        embed2: dense(hidden, hidden, 1.0),
        actor1: dense(2 * hidden + GLOBAL, hidden, 1.0),
        actor2: dense(hidden, 1, 0.01),
        critic1: dense(hidden + GLOBAL, hidden, 1.0),
        critic2: dense(hidden, 1, 1.0),
        candidates: Default::default(),
    }
}

fn linear(d: &Dense, device: &Device) -> Linear {
    Linear {
        weight: Param::from_data(TensorData::new(d.w.clone(), [d.inputs, d.outputs]), device),
        bias: Some(Param::from_data(TensorData::new(d.b.clone(), [d.outputs]), device)),
    }
}

fn dense(l: &Linear) -> Dense {
    let w = l.weight.val();
    let [inputs, outputs] = w.dims();
    let w = w.into_data().try_to_vec::<f32>().expect("f32 weights");
    let b = l.bias.as_ref().map_or(vec![0.0; outputs], |b| b.val().into_data().try_to_vec::<f32>().expect("f32 biases"));
    Dense { inputs, outputs, w, b }
}

impl ActorCritic {
    pub fn from_net(n: &Net, device: &Device) -> Self {
        ActorCritic {
            embed1: linear(&n.embed1, device),
            embed2: linear(&n.embed2, device),
            actor1: linear(&n.actor1, device),
            actor2: linear(&n.actor2, device),
            critic1: linear(&n.critic1, device),
            critic2: linear(&n.critic2, device),
        }
    }

    /// The network's weights, for a policy offered the candidates of `candidates`.
    pub fn to_net(&self, candidates: Candidates) -> Net {
        let embed1 = dense(&self.embed1);
        Net {
            hidden: embed1.outputs,
            embed1,
            embed2: dense(&self.embed2),
            actor1: dense(&self.actor1),
            actor2: dense(&self.actor2),
            critic1: dense(&self.critic1),
            critic2: dense(&self.critic2),
            candidates,
        }
    }

    /// Logits [b, c] (padding at −1e9) and values [b] of a batch: `pairs` [b, c, PAIR], `mask`
    /// [b, c] (1 for a real candidate), `global` [b, GLOBAL].
    pub fn forward(&self, pairs: Tensor<3>, mask: Tensor<2>, global: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [_, c, _] = pairs.dims();
        let e = relu(self.embed2.forward(relu(self.embed1.forward(pairs))));
        let count = mask.clone().sum_dim(1);
        let pooled: Tensor<2> = (e.clone() * mask.clone().unsqueeze_dim::<3>(2)).sum_dim(1).squeeze_dim::<2>(1) / count;
        let p3 = pooled.clone().unsqueeze_dim::<3>(1).repeat_dim(1, c);
        let g3 = global.clone().unsqueeze_dim::<3>(1).repeat_dim(1, c);
        let x = Tensor::cat(vec![e, p3, g3], 2);
        let logits: Tensor<2> = self.actor2.forward(relu(self.actor1.forward(x))).squeeze_dim::<2>(2);
        let logits = logits + mask.sub_scalar(1.0).mul_scalar(1e9);
        let v = self.critic2.forward(relu(self.critic1.forward(Tensor::cat(vec![pooled, global], 1)))).squeeze_dim::<1>(1);
        (logits, v)
    }
}
