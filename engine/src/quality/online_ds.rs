//! Online Dawid-Skene: per-annotator confusion matrices learned one final label at a time, the
//! reference against which bias is measured during a run (the simulation's bias report, and the
//! class-bias rules of both runtimes).
//!
//! Why not the final label itself: when a share of a pool over-uses a class, final labels
//! over-use it too, and against them every unbiased annotator looks biased the other way (a
//! majority-vote reference flagged about as many unbiased annotators as biased ones in a test
//! with a fifth of the pool biased). Dawid-Skene weighs each answer by what it says about the
//! truth: the answer "1" of an annotator who says "1" whatever the item says little.
//!
//! Model (K classes, per annotator and stream): counts `n[t][l]` of answers `l` on items whose
//! truth is `t`, soft. Read with a Dirichlet prior on each row: `π[t][l] = (n[t][l] + α_tl) /
//! (Σ_l' n[t][l'] + Σ_l' α_tl')`, α_tt = `PRIOR_STRENGTH · PRIOR_ACCURACY`, α_tl =
//! `PRIOR_STRENGTH · (1 − PRIOR_ACCURACY)/(K − 1)`, so an annotator with few answers has a mild,
//! symmetric matrix. Class priors per stream: soft truth counts plus one per class.
//!
//! When a task with at least two labels is final: for each labeller `i`, the posterior of the
//! truth from the *other* labels (leave-one-out: `q_{-i}(t) ∝ prior(t) Π_{j≠i} π_j[t][l_j]`) is
//! their reference; it is added to row `t` of their counts at their answer (`n_i[t][l_i] +=
//! q_{-i}(t)`), all references computed before any count changes. Leaving the annotator's own
//! answer out keeps the reference independent of it given the truth, so for a calibrated
//! posterior the expected counts are those against the truth. A golden answer adds one whole
//! count at its known answer. One pass, no iteration: early references use young matrices (it is
//! online EM's first sweep). Cost per final label: O(labels² · K). Memory: K² counts per
//! (annotator, stream they answered); streams with more than [`MAX_CLASSES`] classes are not
//! tracked (their matrices would be too big to keep per person).

use crate::quality::bias::{tallies_from_matrix, ClassTally};

/// The largest label space tracked.
pub const MAX_CLASSES: u16 = 16;
/// Pseudo-answers per truth row of the prior.
pub const PRIOR_STRENGTH: f64 = 4.0;
/// Accuracy the prior assumes.
pub const PRIOR_ACCURACY: f64 = 0.7;

/// One annotator's matrix on one stream.
#[derive(Clone, Debug)]
pub struct Matrix {
    pub stream: u16,
    pub k: u16,
    /// Answers counted (whole answers, however soft their reference).
    pub answers: u32,
    /// `n[t * k + l]`: soft count of answer l on items of truth t.
    pub n: Vec<f64>,
    /// Per class c: Σ q(c)², Σ q(c)³, Σ q(c)⁴ over the references counted
    /// (`ClassTally::q_moments`).
    pub moments: Vec<[f64; 3]>,
}

impl Matrix {
    fn new(stream: u16, k: u16) -> Matrix {
        Matrix { stream, k, answers: 0, n: vec![0.0; k as usize * k as usize], moments: vec![[0.0; 3]; k as usize] }
    }

    /// The tallies of `quality::bias::class_bias`, with the weights' squares.
    pub fn tallies(&self) -> (Vec<ClassTally>, f64) {
        let (mut t, total) = tallies_from_matrix(&self.n, self.k as usize);
        for (t, m) in t.iter_mut().zip(&self.moments) {
            t.q_moments = *m;
        }
        (t, total)
    }

    fn count(&mut self, q: &[f64], l: usize) {
        let k = self.k as usize;
        self.answers += 1;
        for (t, &v) in q.iter().enumerate() {
            self.n[t * k + l] += v;
            let v2 = v * v;
            let m = &mut self.moments[t];
            m[0] += v2;
            m[1] += v2 * v;
            m[2] += v2 * v2;
        }
    }

    /// ln π[t][l] (smoothed).
    fn ln_p(&self, t: usize, l: usize) -> f64 {
        let k = self.k as usize;
        let (diag, off) = alpha(k);
        let row = &self.n[t * k..(t + 1) * k];
        let a = if t == l { diag } else { off };
        ((row[l] + a) / (row.iter().sum::<f64>() + PRIOR_STRENGTH)).ln()
    }
}

fn alpha(k: usize) -> (f64, f64) {
    (PRIOR_STRENGTH * PRIOR_ACCURACY, PRIOR_STRENGTH * (1.0 - PRIOR_ACCURACY) / (k.max(2) - 1) as f64)
}

/// The matrices of every annotator.
#[derive(Clone, Debug, Default)]
pub struct OnlineDs {
    mats: Vec<Vec<Matrix>>,
    /// Soft truth counts per stream (empty until the stream is seen).
    truth: Vec<Vec<f64>>,
}

impl OnlineDs {
    pub fn new(annotators: usize) -> OnlineDs {
        OnlineDs { mats: vec![Vec::new(); annotators], truth: Vec::new() }
    }

    /// A new annotator (ids are dense).
    pub fn push(&mut self) {
        self.mats.push(Vec::new());
    }

    /// `a`'s matrices, one per stream they answered.
    pub fn matrices(&self, a: usize) -> &[Matrix] {
        self.mats.get(a).map_or(&[], |m| m.as_slice())
    }

    fn matrix(&self, a: u32, stream: u16) -> Option<&Matrix> {
        self.mats.get(a as usize)?.iter().find(|m| m.stream == stream)
    }

    fn matrix_mut(&mut self, a: u32, stream: u16, k: u16) -> &mut Matrix {
        let mine = &mut self.mats[a as usize];
        let i = match mine.iter().position(|m| m.stream == stream) {
            Some(i) => i,
            None => {
                mine.push(Matrix::new(stream, k));
                mine.len() - 1
            }
        };
        &mut mine[i]
    }

    fn truth_mut(&mut self, stream: u16, k: u16) -> &mut Vec<f64> {
        if self.truth.len() <= stream as usize {
            self.truth.resize(stream as usize + 1, Vec::new());
        }
        let t = &mut self.truth[stream as usize];
        if t.is_empty() {
            *t = vec![0.0; k as usize];
        }
        t
    }

    /// The posterior of the truth of an item of `stream` (`k` classes) from `labels`, leaving out
    /// `labels[skip]` (`usize::MAX`: none), into `out` (length k).
    pub fn posterior(&self, stream: u16, k: u16, labels: &[(u32, u16)], skip: usize, out: &mut [f64]) {
        let kk = k as usize;
        let prior = self.truth.get(stream as usize).filter(|t| !t.is_empty());
        let total: f64 = prior.map_or(0.0, |t| t.iter().sum());
        for (t, o) in out.iter_mut().enumerate().take(kk) {
            *o = ((prior.map_or(0.0, |p| p[t]) + 1.0) / (total + kk as f64)).ln();
        }
        let (diag, off) = alpha(kk);
        for (j, &(a, l)) in labels.iter().enumerate() {
            if j == skip || l >= k {
                continue;
            }
            match self.matrix(a, stream) {
                Some(m) => (0..kk).for_each(|t| out[t] += m.ln_p(t, l as usize)),
                None => (0..kk).for_each(|t| out[t] += (if t == l as usize { diag } else { off } / PRIOR_STRENGTH).ln()),
            }
        }
        let max = out[..kk].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for o in out[..kk].iter_mut() {
            *o = (*o - max).exp();
            sum += *o;
        }
        out[..kk].iter_mut().for_each(|o| *o /= sum);
    }

    /// A final label's answers: each labeller's leave-one-out reference is counted. Returns each
    /// labeller's most likely reference class, in the order of `labels` (empty when not tracked:
    /// fewer than two labels, or more than [`MAX_CLASSES`] classes).
    pub fn observe(&mut self, stream: u16, k: u16, labels: &[(u32, u16)]) -> Vec<u16> {
        if labels.len() < 2 || !(2..=MAX_CLASSES).contains(&k) {
            return Vec::new();
        }
        let kk = k as usize;
        let mut refs = vec![0.0; labels.len() * kk];
        for i in 0..labels.len() {
            self.posterior(stream, k, labels, i, &mut refs[i * kk..(i + 1) * kk]);
        }
        let mut all = vec![0.0; kk];
        self.posterior(stream, k, labels, usize::MAX, &mut all);
        let mut argmax = Vec::with_capacity(labels.len());
        for (i, &(a, l)) in labels.iter().enumerate() {
            let q = &refs[i * kk..(i + 1) * kk];
            argmax.push(q.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (t, &v)| if v > b.1 { (t, v) } else { b }).0 as u16);
            if l >= k {
                continue;
            }
            self.matrix_mut(a, stream, k).count(q, l as usize);
        }
        let truth = self.truth_mut(stream, k);
        truth.iter_mut().zip(&all).for_each(|(c, q)| *c += q);
        argmax
    }

    /// A golden answer: one whole count against the known answer.
    pub fn gold(&mut self, a: u32, stream: u16, k: u16, expected: u16, label: u16) {
        if !(2..=MAX_CLASSES).contains(&k) || expected >= k || label >= k {
            return;
        }
        let mut q = vec![0.0; k as usize];
        q[expected as usize] = 1.0;
        self.matrix_mut(a, stream, k).count(&q, label as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::bias::class_bias;
    use rand::{Rng, SeedableRng};

    #[test]
    fn a_biased_fifth_of_the_crowd_does_not_make_the_others_look_biased() {
        // 50 annotators, 10 of them answer 1 with probability 0.3 whatever the item; 3 labels per
        // item, accuracy 0.8 otherwise. Against the online-DS reference the unbiased ones stay
        // near 0 and the biased ones come out near 0.3.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut ds = OnlineDs::new(50);
        for _ in 0..40_000 {
            let truth: u16 = rng.random_range(0..2);
            let mut labels = Vec::new();
            while labels.len() < 3 {
                let a: u32 = rng.random_range(0..50);
                if labels.iter().any(|&(b, _)| b == a) {
                    continue;
                }
                let l = if a < 10 && rng.random::<f64>() < 0.3 {
                    1
                } else if rng.random::<f64>() < 0.8 {
                    truth
                } else {
                    1 - truth
                };
                labels.push((a, l));
            }
            ds.observe(0, 2, &labels);
        }
        let strength = |a: usize| {
            let (t, total) = ds.matrices(a)[0].tallies();
            let b = class_bias(&t, total, 2).unwrap();
            if b.toward == 1 { b.raw } else { -b.raw }
        };
        let biased: f64 = (0..10).map(strength).sum::<f64>() / 10.0;
        let fair: f64 = (10..50).map(strength).sum::<f64>() / 40.0;
        assert!((biased - 0.3).abs() < 0.06, "biased {biased}");
        assert!(fair.abs() < 0.03, "unbiased {fair}");
    }
}
