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
//! online EM's first sweep). Cost per final label: O(labels · K) (each reference is the whole
//! product without the answer's own factor), no logarithm. Memory: K² counts per
//! (annotator, stream they answered); streams with more than [`MAX_CLASSES`] classes are not
//! tracked (their matrices would be too big to keep per person).

use crate::quality::bias::{tallies_from_matrix, ClassTally};
use smallvec::SmallVec;

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
    /// `n[t * k + l]`: soft count of answer l on items of truth t (what the matrix is read from).
    pub n: Vec<f64>,
    /// Σ_l n[t][l] + Σ α per truth row, kept up to date as counts come.
    row: Vec<f64>,
    /// The same counts over the answers that were also *tested* (`observe(.., test: true)`),
    /// with how many they were and, per class c, Σ q(c)², Σ q(c)³, Σ q(c)⁴ of their references
    /// (`ClassTally::q_moments`). A run tests only the answers of its statistics window, against
    /// references made by matrices that learned from the warm-up too.
    pub answers: u32,
    pub tested: Vec<f64>,
    pub moments: Vec<[f64; 3]>,
}

impl Matrix {
    fn new(stream: u16, k: u16) -> Matrix {
        let kk = k as usize;
        Matrix { stream, k, n: vec![0.0; kk * kk], row: vec![PRIOR_STRENGTH; kk], answers: 0, tested: vec![0.0; kk * kk], moments: vec![[0.0; 3]; kk] }
    }

    /// The tallies of `quality::bias::class_bias` over the tested answers, with the moments of
    /// their references.
    pub fn tallies(&self) -> (Vec<ClassTally>, f64) {
        let (mut t, total) = tallies_from_matrix(&self.tested, self.k as usize);
        for (t, m) in t.iter_mut().zip(&self.moments) {
            t.q_moments = *m;
        }
        (t, total)
    }

    fn count(&mut self, q: &[f64], l: usize, test: bool) {
        let k = self.k as usize;
        for (t, &v) in q.iter().enumerate() {
            self.n[t * k + l] += v;
            self.row[t] += v;
        }
        if !test {
            return;
        }
        self.answers += 1;
        for (t, &v) in q.iter().enumerate() {
            self.tested[t * k + l] += v;
            let v2 = v * v;
            let m = &mut self.moments[t];
            m[0] += v2;
            m[1] += v2 * v;
            m[2] += v2 * v2;
        }
    }

    /// π[t][l] (smoothed).
    #[inline]
    fn p(&self, t: usize, l: usize, (diag, off): (f64, f64)) -> f64 {
        (self.n[t * self.k as usize + l] + if t == l { diag } else { off }) / self.row[t]
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
    /// Reused by `observe`: the references and the whole posterior.
    scratch: Vec<f64>,
}

impl OnlineDs {
    pub fn new(annotators: usize) -> OnlineDs {
        OnlineDs { mats: vec![Vec::new(); annotators], truth: Vec::new(), scratch: Vec::new() }
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
        // In linear space (no logarithm or exponential per answer): each factor is at least
        // α/(answers + 4), and the running product is scaled back up before it could underflow.
        let kk = k as usize;
        let prior = self.truth.get(stream as usize).filter(|t| !t.is_empty());
        for (t, o) in out.iter_mut().enumerate().take(kk) {
            *o = prior.map_or(0.0, |p| p[t]) + 1.0;
        }
        let a = alpha(kk);
        for (j, &(who, l)) in labels.iter().enumerate() {
            if j == skip || l >= k {
                continue;
            }
            let m = self.matrix(who, stream);
            let mut max = 0.0f64;
            for (t, o) in out.iter_mut().enumerate().take(kk) {
                *o *= match m {
                    Some(m) => m.p(t, l as usize, a),
                    None => (if t == l as usize { a.0 } else { a.1 }) / PRIOR_STRENGTH,
                };
                max = max.max(*o);
            }
            if max < 1e-200 {
                out[..kk].iter_mut().for_each(|o| *o *= 1e200);
            }
        }
        let sum: f64 = out[..kk].iter().sum();
        out[..kk].iter_mut().for_each(|o| *o /= sum);
    }

    /// A final label's answers: each labeller's leave-one-out reference is counted (and tested, with
    /// `test`). Returns each
    /// labeller's most likely reference class, in the order of `labels` (empty when not tracked:
    /// fewer than two labels, or more than [`MAX_CLASSES`] classes).
    pub fn observe(&mut self, stream: u16, k: u16, labels: &[(u32, u16)], test: bool) -> SmallVec<[u16; 4]> {
        let mut argmax = SmallVec::new();
        if labels.len() < 2 || !(2..=MAX_CLASSES).contains(&k) {
            return argmax;
        }
        let kk = k as usize;
        let n = labels.len();
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.resize((2 * n + 1) * kk, 0.0);
        let (factors, rest) = scratch.split_at_mut(n * kk);
        let (refs, all) = rest.split_at_mut(n * kk);
        // Each answer's likelihood once; the whole posterior is their product with the prior, and
        // each leave-one-out posterior that product without the answer's own factor (every factor
        // is at least α/(answers + 4) > 0), the same as `posterior` with `skip`, at a fraction of
        // its cost.
        let a = alpha(kk);
        for (j, &(who, l)) in labels.iter().enumerate() {
            let f = &mut factors[j * kk..(j + 1) * kk];
            match (self.matrix(who, stream), l < k) {
                (_, false) => f.fill(1.0),
                (Some(m), true) => f.iter_mut().enumerate().for_each(|(t, x)| *x = m.p(t, l as usize, a)),
                (None, true) => f.iter_mut().enumerate().for_each(|(t, x)| *x = if t == l as usize { a.0 } else { a.1 } / PRIOR_STRENGTH),
            }
        }
        let prior = self.truth.get(stream as usize).filter(|t| !t.is_empty());
        for t in 0..kk {
            all[t] = prior.map_or(0.0, |p| p[t]) + 1.0;
        }
        for f in factors.chunks(kk) {
            let mut max = 0.0f64;
            for (x, y) in all.iter_mut().zip(f) {
                *x *= y;
                max = max.max(*x);
            }
            if max < 1e-200 {
                all.iter_mut().for_each(|x| *x *= 1e200);
            }
        }
        for (j, q) in refs.chunks_mut(kk).enumerate() {
            let f = &factors[j * kk..(j + 1) * kk];
            q.iter_mut().zip(all.iter()).zip(f).for_each(|((q, x), y)| *q = x / y);
            let sum: f64 = q.iter().sum();
            q.iter_mut().for_each(|q| *q /= sum);
        }
        let sum: f64 = all.iter().sum();
        all.iter_mut().for_each(|x| *x /= sum);
        for (i, &(a, l)) in labels.iter().enumerate() {
            let q = &refs[i * kk..(i + 1) * kk];
            argmax.push(q.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (t, &v)| if v > b.1 { (t, v) } else { b }).0 as u16);
            if l >= k {
                continue;
            }
            self.matrix_mut(a, stream, k).count(q, l as usize, test);
        }
        let truth = self.truth_mut(stream, k);
        truth.iter_mut().zip(all.iter()).for_each(|(c, q)| *c += q);
        self.scratch = scratch;
        argmax
    }

    /// A golden answer: one whole count against the known answer.
    pub fn gold(&mut self, a: u32, stream: u16, k: u16, expected: u16, label: u16, test: bool) {
        if !(2..=MAX_CLASSES).contains(&k) || expected >= k || label >= k {
            return;
        }
        let mut q = vec![0.0; k as usize];
        q[expected as usize] = 1.0;
        self.matrix_mut(a, stream, k).count(&q, label as usize, test);
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
            ds.observe(0, 2, &labels, true);
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

    #[test]
    fn observe_uses_the_same_references_as_the_posterior_without_the_answer() {
        // The product-without-its-factor shortcut equals `posterior` with `skip`.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let mut ds = OnlineDs::new(6);
        for _ in 0..300 {
            let labels: Vec<(u32, u16)> = (0..4).map(|j| ((j + rng.random_range(0..3)) as u32, rng.random_range(0..3))).collect();
            ds.observe(1, 3, &labels, false);
        }
        let labels = [(0u32, 2u16), (3, 1), (5, 2)];
        let mut want = [[0.0; 3]; 3];
        for (i, w) in want.iter_mut().enumerate() {
            ds.posterior(1, 3, &labels, i, w);
        }
        let before: Vec<Vec<f64>> = (0..6).map(|a| ds.matrices(a).iter().flat_map(|m| m.n.clone()).collect()).collect();
        ds.observe(1, 3, &labels, false);
        for (i, &(a, l)) in labels.iter().enumerate() {
            let m = ds.matrices(a as usize).iter().find(|m| m.stream == 1).unwrap();
            for t in 0..3 {
                let added = m.n[t * 3 + l as usize] - before[a as usize][t * 3 + l as usize];
                assert!((added - want[i][t]).abs() < 1e-12, "answer {i}, truth {t}: {added} vs {}", want[i][t]);
            }
        }
    }
}
