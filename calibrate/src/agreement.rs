//! Accuracy from agreement, for pools without golden answers: a bounded sample of tasks with
//! their labelling answers, and a smoothed Dawid-Skene (`ds-smoothed`, engine's
//! `quality::aggregation`) per stream over it, whose posteriors count each annotator's answers
//! that are right in expectation.
//!
//! The sample is the [`SAMPLE_TASKS`] tasks whose ids hash lowest (a bottom-k sample), among the
//! tasks with at least two labelling answers (pre-labelled work, golden items and reviews left
//! out): its memory does not grow with the trace, and it is a pure function of the trace (no
//! random draw, no dependence on the order tasks settle in). A task is offered when it settles,
//! or at the end of the trace with the answers it has.
//!
//! Each annotator's count right is Σ over their sampled answers of the posterior that the answer
//! is the true label; at the EM's fixed point this is their confusion matrix's diagonal weighted
//! by the labels they were shown (the smoothing's prior aside, 2 pseudo-answers per class). The
//! counts (rounded) go to the same Beta-binomial as golden answers (`accuracy.rs`). Where it
//! stops being right: a task's answers must be independent given its true label (a planted bias
//! shared by a pool, or automation bias, breaks it), and a pool's answers must sit on tasks with
//! three answers or more, mostly: with two, agreement says that two people differ, not which
//! one is wrong ([`MIN_ANSWERS_PER_TASK`], 2.5 on average, leaves room for the tasks the trace
//! ends on).

use std::collections::BTreeMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera_engine::quality::aggregation::{Aggregator, Answers, SmoothedDawidSkene};

/// Tasks kept in the sample.
pub const SAMPLE_TASKS: usize = 1 << 16;
/// Labels of a stream above which accuracy from agreement is not fitted (the model's posteriors
/// are tasks × labels).
pub const MAX_LABELS: usize = 64;
/// Answers per sampled task, on average over a pool's answers, below which accuracy from
/// agreement is not identified.
pub const MIN_ANSWERS_PER_TASK: f64 = 2.5;

/// One labelling answer: the annotator (pool, index in the pool) and the label's index in its
/// stream's label list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vote {
    pub pool: u16,
    pub label: u16,
    pub annotator: u32,
}

/// The bottom-k sample of tasks with their answers.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// (hash, task id) → (stream, answers)
    tasks: BTreeMap<(u64, u64), (u16, Vec<Vote>)>,
    /// Tasks offered with at least two answers (sampled or not).
    pub offered: u64,
}

/// Keeps `value` under `id` in a bottom-k sample of at most `k` entries keyed by (hash, id): in
/// when its hash is among the `k` lowest seen (the sample is then the same whatever the order
/// ids come in).
pub(crate) fn bottom_k_insert<V>(sample: &mut BTreeMap<(u64, u64), V>, k: usize, id: u64, value: V) {
    let key = (mix(id), id);
    if sample.len() >= k {
        match sample.last_key_value() {
            Some((last, _)) if *last > key => {
                sample.pop_last();
            }
            _ => return,
        }
    }
    sample.insert(key, value);
}

/// SplitMix64's finaliser: a task id's place in the sample order.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Sample {
    /// A task whose answers are all in: kept when its hash is among the lowest.
    pub fn offer(&mut self, task: u64, stream: u16, votes: Vec<Vote>) {
        if votes.len() < 2 {
            return;
        }
        self.offered += 1;
        bottom_k_insert(&mut self.tasks, SAMPLE_TASKS, task, (stream, votes));
    }

    pub fn clear(&mut self) {
        *self = Sample::default();
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

/// One annotator's answers in the sample: how many, how many right in expectation, their
/// streams' answers (stream → count), the answers their tasks hold in all (theirs included), and
/// the mean square error of their share right over the parametric bootstrap's replicates.
#[derive(Clone, Debug, Default)]
pub struct Agreed {
    pub n: u64,
    pub right: f64,
    pub by_stream: BTreeMap<u16, u64>,
    pub task_answers: u64,
    pub share_var: Option<f64>,
}

impl Agreed {
    /// Answers as many as a binomial count with the estimate's own variance would need (at most
    /// `n`): the estimate's noise is the answers' plus the agreement's, and the Beta-binomial
    /// that takes these counts reads all of it as the answers'.
    pub fn effective(&self) -> (u64, u64) {
        let share = (self.right / self.n.max(1) as f64).clamp(0.0, 1.0);
        let n = match self.share_var {
            Some(v) if v > 0.0 => ((share * (1.0 - share) / v).max(1.0) as u64).min(self.n),
            _ => self.n,
        };
        (n, ((share * n as f64).round() as u64).min(n))
    }
}

/// One stream's tasks through the smoothed Dawid-Skene: per answer (annotator, posterior of its
/// label), and the labels' shares over the tasks; None when the model does not fit.
#[allow(clippy::type_complexity)]
fn posteriors(tasks: &[&Vec<Vote>], k: usize) -> Option<(Vec<((u16, u32), f64)>, Vec<f64>)> {
    let mut workers: BTreeMap<(u16, u32), u32> = BTreeMap::new();
    let (mut task, mut worker, mut label) = (vec![], vec![], vec![]);
    for (t, votes) in tasks.iter().enumerate() {
        for v in votes.iter() {
            let next = workers.len() as u32;
            task.push(t as u32);
            worker.push(*workers.entry((v.pool, v.annotator)).or_insert(next));
            label.push(u32::from(v.label).min(k as u32 - 1));
        }
    }
    let mut by_id = vec![(0, 0); workers.len()];
    for (key, w) in &workers {
        by_id[*w as usize] = *key;
    }
    let answers = Answers::new(tasks.len(), by_id.len(), k, task.clone(), worker.clone(), label.clone()).ok()?;
    let agg = SmoothedDawidSkene::default().fit(&answers, None).ok()?;
    let mut prior = vec![0.0; k];
    for row in agg.probas.chunks(k) {
        for (p, q) in prior.iter_mut().zip(row) {
            *p += q / tasks.len().max(1) as f64;
        }
    }
    Some(((0..task.len()).map(|i| (by_id[worker[i] as usize], agg.probas[task[i] as usize * k + label[i] as usize])).collect(), prior))
}

/// What the agreement says: per (pool, annotator) what they agreed on, and per pool the mean
/// square error of its pooled share right over the bootstrap replicates (errors the pool's
/// people share, which a count per person does not show).
#[derive(Clone, Debug, Default)]
pub struct Agreement {
    pub annotators: BTreeMap<(u16, u32), Agreed>,
    pub pool_share_var: BTreeMap<u16, f64>,
    /// Streams left out for more than [`MAX_LABELS`] labels.
    pub too_many_labels: Vec<u16>,
}

/// Σ x, Σ x² and how many: errors' moments.
#[derive(Clone, Copy, Debug, Default)]
struct Spread(f64, f64, u32);

impl Spread {
    fn add(&mut self, x: f64) {
        self.0 += x;
        self.1 += x * x;
        self.2 += 1;
    }

    /// The mean square (errors: their bias included), from 10 values up.
    fn mse(&self) -> Option<f64> {
        (self.2 >= 10).then(|| self.1 / f64::from(self.2))
    }
}

/// Runs the smoothed Dawid-Skene per stream over the sample; `labels[s]` is stream s's number
/// of labels. The errors of the estimates come from a parametric bootstrap: `replicates` times
/// (seeded by `seed`) the sample's tasks get new answers, a true label drawn from the labels'
/// estimated shares and each answer right with its annotator's estimated share (else a uniform
/// wrong label), and the model is fitted again; each annotator's and each pool's mean square
/// error of the share right over the replicates (bias included) is kept.
pub fn fit(sample: &Sample, labels: &[usize], replicates: u32, seed: u64) -> Agreement {
    let mut out = Agreement::default();
    let mut streams: BTreeMap<u16, Vec<&Vec<Vote>>> = BTreeMap::new();
    for (s, votes) in sample.tasks.values() {
        streams.entry(*s).or_default().push(votes);
    }
    out.too_many_labels = streams.keys().copied().filter(|s| labels.get(*s as usize).is_some_and(|k| *k > MAX_LABELS)).collect();
    streams.retain(|s, _| labels.get(*s as usize).is_some_and(|k| (2..=MAX_LABELS).contains(k)));
    let k_of = |s: u16| labels[s as usize];
    let mut priors: BTreeMap<u16, Vec<f64>> = BTreeMap::new();
    for (s, tasks) in &streams {
        let Some((post, prior)) = posteriors(tasks, k_of(*s)) else { continue };
        priors.insert(*s, prior);
        let mut i = 0;
        for votes in tasks {
            for _ in votes.iter() {
                let (key, q) = post[i];
                i += 1;
                let a = out.annotators.entry(key).or_default();
                a.n += 1;
                a.right += q;
                *a.by_stream.entry(*s).or_default() += 1;
                a.task_answers += votes.len() as u64;
            }
        }
    }
    let truth: BTreeMap<(u16, u32), f64> = out.annotators.iter().map(|(key, a)| (*key, (a.right / a.n.max(1) as f64).clamp(0.01, 0.99))).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut people, mut pools): (BTreeMap<(u16, u32), Spread>, BTreeMap<u16, Spread>) = Default::default();
    for _ in 0..replicates {
        // (answers, right, generating accuracy × answers) per annotator, over every stream.
        let mut tally: BTreeMap<(u16, u32), (f64, f64)> = BTreeMap::new();
        for (s, tasks) in &streams {
            let Some(prior) = priors.get(s) else { continue };
            let k = k_of(*s);
            let redrawn: Vec<Vec<Vote>> = tasks
                .iter()
                .map(|votes| {
                    let mut u = rng.random::<f64>();
                    let y = prior.iter().position(|p| {
                        u -= p;
                        u < 0.0
                    });
                    let y = y.unwrap_or(k - 1) as u16;
                    votes
                        .iter()
                        .map(|v| {
                            let p = truth.get(&(v.pool, v.annotator)).copied().unwrap_or(0.5);
                            let label = if rng.random::<f64>() < p { y } else { ((u32::from(y) + rng.random_range(1..k as u32)) % k as u32) as u16 };
                            Vote { label, ..*v }
                        })
                        .collect()
                })
                .collect();
            let refs: Vec<&Vec<Vote>> = redrawn.iter().collect();
            for (key, q) in posteriors(&refs, k).map(|x| x.0).unwrap_or_default() {
                let e = tally.entry(key).or_default();
                e.0 += 1.0;
                e.1 += q;
            }
        }
        let mut by_pool: BTreeMap<u16, (f64, f64, f64)> = BTreeMap::new();
        for (key, (n, right)) in tally {
            let p = truth.get(&key).copied().unwrap_or(0.5);
            people.entry(key).or_default().add(right / n - p);
            let e = by_pool.entry(key.0).or_default();
            e.0 += n;
            e.1 += right;
            e.2 += p * n;
        }
        for (pool, (n, right, expected)) in by_pool {
            pools.entry(pool).or_default().add((right - expected) / n);
        }
    }
    for (key, m) in people {
        if let Some(a) = out.annotators.get_mut(&key) {
            a.share_var = m.mse();
        }
    }
    out.pool_share_var = pools.into_iter().filter_map(|(p, m)| Some((p, m.mse()?))).collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_the_lowest_hashes_whatever_the_order() {
        let votes = || vec![Vote { pool: 0, label: 0, annotator: 0 }, Vote { pool: 0, label: 1, annotator: 1 }];
        let (mut a, mut b) = (Sample::default(), Sample::default());
        let n = SAMPLE_TASKS as u64 + 5000;
        for t in 0..n {
            a.offer(t, 0, votes());
            b.offer(n - 1 - t, 0, votes());
        }
        a.offer(n, 0, vec![Vote { pool: 0, label: 0, annotator: 0 }]);
        assert_eq!(a.len(), SAMPLE_TASKS);
        assert_eq!(a.offered, n);
        assert!(a.tasks.keys().eq(b.tasks.keys()));
        let mut all: Vec<u64> = (0..n).map(mix).collect();
        all.sort_unstable();
        assert_eq!(a.tasks.last_key_value().unwrap().0 .0, all[SAMPLE_TASKS - 1]);
    }

    /// Three answers per task from annotators of accuracy 0.6 to 0.95 (one-coin, 4 labels):
    /// each one's count right in expectation is within 0.04 of the share they truly got right
    /// (about 600 answers each; the estimate's own noise is about 0.013), and they are not
    /// biased on average (within 0.01).
    #[test]
    fn agreement_recovers_each_annotators_accuracy() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let acc: Vec<f64> = (0..20).map(|i| 0.6 + 0.35 * i as f64 / 19.0).collect();
        let mut s = Sample::default();
        let mut truly = [(0u64, 0u64); 20];
        for t in 0..4000u64 {
            let truth = rng.random_range(0..4u16);
            let mut votes = vec![];
            while votes.len() < 3 {
                let a = rng.random_range(0..20u32);
                if votes.iter().any(|v: &Vote| v.annotator == a) {
                    continue;
                }
                let label = if rng.random::<f64>() < acc[a as usize] { truth } else { (truth + rng.random_range(1..4u16)) % 4 };
                truly[a as usize].0 += 1;
                truly[a as usize].1 += u64::from(label == truth);
                votes.push(Vote { pool: 0, label, annotator: a });
            }
            s.offer(t, 0, votes);
        }
        let got = fit(&s, &[4], 0, 1).annotators;
        assert_eq!(got.len(), 20);
        let mut bias = 0.0;
        for ((_, a), g) in &got {
            let (n, right) = truly[*a as usize];
            assert_eq!(g.n, n);
            let (est, share) = (g.right / n as f64, right as f64 / n as f64);
            assert!((est - share).abs() < 0.04, "annotator {a}: {est} estimated, {share} truly right");
            bias += (est - share) / 20.0;
            assert_eq!(g.task_answers, 3 * g.n);
        }
        assert!(bias.abs() < 0.01, "mean error {bias}");
        // A stream of too many labels is left out and named.
        let wide = fit(&s, &[MAX_LABELS + 1], 0, 1);
        assert!(wide.annotators.is_empty());
        assert_eq!(wide.too_many_labels, vec![0]);
    }
}
