//! The burn network and the inference network agree; rewards and training are deterministic.

use crate::model::{init_net, ActorCritic};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera_policies::learned::features::{GLOBAL, PAIR};
use tessera_policies::learned::net::Scratch;

/// The same weights give the same logits and value in burn (batched, padded) and in the plain
/// forward pass the `learned` router runs.
#[test]
fn burn_and_inference_forward_agree() {
    let device = Device::flex();
    let mut g = ChaCha8Rng::seed_from_u64(3);
    let mut net = init_net(16, 11);
    // make the actor's last layer as large as the others, so the logits differ visibly
    for w in &mut net.actor2.w {
        *w *= 100.0;
    }
    let model = ActorCritic::from_net(&net, &device);
    let sizes = [1usize, 2, 5, 16, 3];
    let c = 16;
    let mut pairs = vec![0f32; sizes.len() * c * PAIR];
    let mut mask = vec![0f32; sizes.len() * c];
    let mut global = vec![0f32; sizes.len() * GLOBAL];
    for (row, &n) in sizes.iter().enumerate() {
        for v in &mut pairs[row * c * PAIR..(row * c + n) * PAIR] {
            *v = g.random_range(-2.0..2.0);
        }
        mask[row * c..row * c + n].iter_mut().for_each(|m| *m = 1.0);
        for v in &mut global[row * GLOBAL..(row + 1) * GLOBAL] {
            *v = g.random_range(0.0..3.0);
        }
    }
    let (logits, values) = model.forward(
        Tensor::from_data(TensorData::new(pairs.clone(), [sizes.len(), c, PAIR]), &device),
        Tensor::from_data(TensorData::new(mask, [sizes.len(), c]), &device),
        Tensor::from_data(TensorData::new(global.clone(), [sizes.len(), GLOBAL]), &device),
    );
    let logits = logits.into_data().try_to_vec::<f32>().unwrap();
    let values = values.into_data().try_to_vec::<f32>().unwrap();
    let back = model.to_net(net.candidates);
    assert_eq!(back, net, "weights survive the round trip through burn");
    let mut s = Scratch::default();
    for (row, &n) in sizes.iter().enumerate() {
        let gl: [f32; GLOBAL] = global[row * GLOBAL..(row + 1) * GLOBAL].try_into().unwrap();
        let v = net.forward(&pairs[row * c * PAIR..(row * c + n) * PAIR], &gl, n, &mut s);
        assert!((v - values[row]).abs() < 1e-5 * (1.0 + v.abs()), "value {v} vs {}", values[row]);
        for k in 0..n {
            let (a, b) = (s.logits[k], logits[row * c + k]);
            assert!((a - b).abs() < 1e-5 * (1.0 + a.abs()), "row {row} candidate {k}: {a} vs {b}");
        }
        assert!(logits[row * c + n..(row + 1) * c].iter().all(|&l| l < -1e8), "padding is masked");
    }
}
