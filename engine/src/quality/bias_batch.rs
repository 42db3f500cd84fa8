//! Annotator bias in a batch of real answers (`tessera aggregate --bias`): the statistics of
//! [`super::bias`] with a reference made without ground truth.
//!
//! ```text
//!   Answers (+ golden) ──SmoothedDawidSkene──▶ posteriors q_t (golden tasks one-hot)
//!   leave-one-out per answer (t, w, l):    q_{t,-w}(c) ∝ q_t(c) / e_w[l, c]
//!   per worker w, soft tallies against it: n_ref[c]  = Σ_{answers (t, w, ·)} q_{t,-w}(c)
//!                                          n_label[l] = #answers (t, w, l)
//!                                          n_diag[l]  = Σ_{answers (t, w, l)} q_{t,-w}(l)
//!                                          (and Σ q², q³, q⁴ per class, for the variance)
//!   ──▶ bias::class_bias (strength, z, p Bonferroni over the classes)
//!   ──▶ bias::benjamini_hochberg over the workers tested ──▶ flagged: q ≤ fdr
//! ```
//!
//! Leave-one-out because the reference must not contain the answer it judges: with the worker's
//! own factor in, a biased worker's answers pull their tasks' posteriors toward the class they
//! over-use and hide part of the bias (the simulation's online reference does the same,
//! `quality::online_ds`). Smoothed Dawid-Skene rather than plain DS because a worker with a handful of answers gets a
//! confusion matrix near the prior instead of an extreme one, and the posteriors of the tasks
//! they answered are not dragged by it. The same tallies with a one-hot reference (ground truth,
//! tasks without truth left out: an all-zero row) give the ground-truth statistic, which is how
//! `tests/bias_real.rs` checks this estimator on the real crowd datasets.
//!
//! Sparse: a worker's tallies exist only for the labels they used and the labels that are the
//! reference's most likely class (ties to the lowest) on a task they answered, as in
//! [`super::bias::PairWindow::class_bias`]. The reference mass on the other classes still counts
//! in the worker's total; leaving their tallies out drops only the tests of classes the worker
//! never gave and that never lead the reference (whose strength cannot be positive) from the
//! Bonferroni count. Memory: O(#answers + #workers + K + Σ_w |tallied classes of w|) beyond the
//! fit, never workers × K; time O(#answers × K).

use super::aggregation::{argmax_lowest, Aggregation, AggregationError, Aggregator, Answers, Confusion, Golden, SmoothedDawidSkene, TaskIndex};
use super::bias::{benjamini_hochberg, class_bias, position_bias, ClassBias, ClassTally, PositionBias};

/// The default false-discovery rate of the flags.
pub const DEFAULT_FDR: f64 = 0.1;

/// Every worker's class tallies against a reference, in compressed rows: the tallies of worker
/// `w` are `tallies[offsets[w]..offsets[w + 1]]` (ascending class), over `totals[w]` answers
/// with a reference.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerTallies {
    pub k: usize,
    pub offsets: Vec<u32>,
    pub tallies: Vec<ClassTally>,
    pub totals: Vec<f64>,
}

impl WorkerTallies {
    /// Tallies of every worker against `reference` (tasks × K posteriors, row-major; a task whose
    /// row is all zero has no reference and its answers are not counted). With `leave_out` (the
    /// confusion matrices the posteriors came from), each answer's reference is the posterior
    /// without that answer's own factor: `q_{-w}(c) ∝ q(c) / e_w[l, c]` (leave-one-out; a one-hot
    /// row, a golden task, stays as it is), so that a worker's answer does not vouch for itself.
    pub fn new(a: &Answers, reference: &[f64], leave_out: Option<&Confusion>) -> Self {
        let k = a.n_labels;
        assert_eq!(reference.len(), a.n_tasks * k, "one reference row of K per task");
        let by_worker = TaskIndex::group(&a.worker, a.n_workers);
        let (mut n_ref, mut n_label, mut n_diag) = (vec![0.0; k], vec![0.0; k], vec![0.0; k]);
        let mut moments = vec![[0.0f64; 3]; k];
        let mut loo = vec![0.0; k];
        let mut kept = vec![false; k];
        let mut classes: Vec<u32> = Vec::new();
        let mut offsets = Vec::with_capacity(a.n_workers + 1);
        offsets.push(0u32);
        let mut tallies = Vec::new();
        let mut totals = Vec::with_capacity(a.n_workers);
        for w in 0..a.n_workers {
            let mut total = 0.0;
            let mut keep = |c: u32, classes: &mut Vec<u32>| {
                if !kept[c as usize] {
                    kept[c as usize] = true;
                    classes.push(c);
                }
            };
            for &i in by_worker.answers(w) {
                let (t, l) = (a.task[i as usize] as usize, a.label[i as usize] as usize);
                let mut q = &reference[t * k..(t + 1) * k];
                if let Some(row) = leave_out.and_then(|e| e.row(w, l as u32)) {
                    for c in 0..k {
                        loo[c] = q[c] / row[c].max(1e-300);
                    }
                    q = &loo;
                }
                let mass: f64 = q.iter().sum();
                if !(mass > 0.0 && mass.is_finite()) {
                    continue;
                }
                total += 1.0;
                for c in 0..k {
                    let v = q[c] / mass;
                    n_ref[c] += v;
                    let v2 = v * v;
                    moments[c][0] += v2;
                    moments[c][1] += v2 * v;
                    moments[c][2] += v2 * v2;
                }
                n_label[l] += 1.0;
                n_diag[l] += q[l] / mass;
                keep(l as u32, &mut classes);
                keep(argmax_lowest(q), &mut classes);
            }
            classes.sort_unstable();
            for &c in &classes {
                let c = c as usize;
                tallies.push(ClassTally { class: c as u32, n_ref: n_ref[c], n_label: n_label[c], n_diag: n_diag[c], q_moments: moments[c] });
                n_label[c] = 0.0;
                n_diag[c] = 0.0;
                kept[c] = false;
            }
            if total > 0.0 {
                n_ref.fill(0.0);
                moments.fill([0.0; 3]);
            }
            classes.clear();
            offsets.push(tallies.len() as u32);
            totals.push(total);
        }
        WorkerTallies { k, offsets, tallies, totals }
    }

    /// The tallies of worker `w`.
    pub fn of(&self, w: usize) -> &[ClassTally] {
        &self.tallies[self.offsets[w] as usize..self.offsets[w + 1] as usize]
    }
}

/// One tested worker's bias statistic `B`, with its false-discovery q-value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Flagged<B> {
    pub worker: u32,
    pub bias: B,
    /// Benjamini-Hochberg q-value over the workers tested.
    pub q: f64,
    /// `q ≤ fdr`.
    pub flagged: bool,
}

/// One worker's class bias, flagged or not.
pub type WorkerClassBias = Flagged<ClassBias>;
/// One judge's position bias, flagged or not.
pub type WorkerPositionBias = Flagged<PositionBias>;

/// Benjamini-Hochberg over the tested workers' p-values, flags at `fdr`.
fn flag<B>(tested: Vec<(u32, B)>, p: impl Fn(&B) -> f64, fdr: f64) -> Vec<Flagged<B>> {
    let ps: Vec<f64> = tested.iter().map(|(_, b)| p(b)).collect();
    benjamini_hochberg(&ps).into_iter().zip(tested).map(|(q, (worker, bias))| Flagged { worker, bias, q, flagged: q <= fdr }).collect()
}

/// Class bias of every worker that can be tested (a reference on two sides of some class), in
/// worker order, with Benjamini-Hochberg q-values over them at `fdr`.
pub fn class_bias_by_worker(t: &WorkerTallies, fdr: f64) -> Vec<WorkerClassBias> {
    let k = t.k as u32;
    let tested = (0..t.totals.len()).filter_map(|w| class_bias(t.of(w), t.totals[w], k).map(|b| (w as u32, b))).collect();
    flag(tested, |b: &ClassBias| b.p, fdr)
}

/// The whole batch report: fits `model` (golden tasks pinned), then every worker's class bias
/// against its posteriors. Returns the fit too, so that a caller aggregating with the same model
/// does not fit twice.
pub fn class_bias_batch(a: &Answers, golden: Option<&Golden>, model: &SmoothedDawidSkene, fdr: f64) -> Result<(Aggregation, Vec<WorkerClassBias>), AggregationError> {
    let fit = model.fit(a, golden)?;
    let found = class_bias_by_worker(&WorkerTallies::new(a, &fit.probas, fit.confusion.as_ref()), fdr);
    Ok((fit, found))
}

/// Marks an answer without a left-shown label in [`position_bias_by_worker`].
pub const NO_LEFT: u32 = u32::MAX;

/// Position bias of every worker with at least one answer on a shown pair: `left[i]` is the label
/// shown on the left for answer `i` ([`NO_LEFT`] when it was not a pair), and the answer picks
/// the left one when its label equals it. Benjamini-Hochberg over those workers at `fdr`.
/// Memory O(#workers).
pub fn position_bias_by_worker(a: &Answers, left: &[u32], fdr: f64) -> Vec<WorkerPositionBias> {
    assert_eq!(left.len(), a.len(), "one left label per answer");
    let (mut picks, mut n) = (vec![0u64; a.n_workers], vec![0u64; a.n_workers]);
    for i in 0..a.len() {
        if left[i] != NO_LEFT {
            let w = a.worker[i] as usize;
            n[w] += 1;
            picks[w] += (a.label[i] == left[i]) as u64;
        }
    }
    let tested = (0..a.n_workers).filter(|&w| n[w] > 0).map(|w| (w as u32, position_bias(picks[w], n[w]))).collect();
    flag(tested, |b: &PositionBias| b.p, fdr)
}

#[cfg(test)]
mod tests {
    use super::super::bias::tallies_from_matrix;
    use super::*;
    use rand::{Rng, SeedableRng};

    /// 400 tasks, 3 labels, 30 workers answering ~60 tasks each (accuracy 0.8); workers 0..3
    /// give label 2 with probability 0.4 whatever the item.
    fn planted(seed: u64) -> (Answers, Vec<u32>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (n_tasks, n_workers, k) = (400u32, 30u32, 3u32);
        let truth: Vec<u32> = (0..n_tasks).map(|_| rng.random_range(0..k)).collect();
        let (mut task, mut worker, mut label) = (Vec::new(), Vec::new(), Vec::new());
        for t in 0..n_tasks {
            for w in 0..n_workers {
                if rng.random::<f64>() > 0.15 {
                    continue;
                }
                let l = if w < 3 && rng.random::<f64>() < 0.4 {
                    2
                } else if rng.random::<f64>() < 0.8 {
                    truth[t as usize]
                } else {
                    (truth[t as usize] + rng.random_range(1..k)) % k
                };
                task.push(t);
                worker.push(w);
                label.push(l);
            }
        }
        (Answers::new(n_tasks as usize, n_workers as usize, k as usize, task, worker, label).unwrap(), truth)
    }

    #[test]
    fn hard_tallies_match_the_dense_matrix() {
        let (a, truth) = planted(1);
        let k = a.n_labels;
        let mut one_hot = vec![0.0; a.n_tasks * k];
        for (t, &c) in truth.iter().enumerate() {
            one_hot[t * k + c as usize] = 1.0;
        }
        let wt = WorkerTallies::new(&a, &one_hot, None);
        for w in 0..a.n_workers {
            let mut m = vec![0.0; k * k];
            for i in (0..a.len()).filter(|&i| a.worker[i] as usize == w) {
                m[truth[a.task[i] as usize] as usize * k + a.label[i] as usize] += 1.0;
            }
            let (dense, total) = tallies_from_matrix(&m, k);
            assert_eq!(wt.totals[w], total);
            // every class tallied here has the dense tally; the others are all zero there
            for d in &dense {
                match wt.of(w).iter().find(|t| t.class == d.class) {
                    Some(t) => {
                        // one-hot references: every power of q sums to n_ref, which a dense (hard) tally leaves implicit
                        assert_eq!(t.q_moments, [t.n_ref; 3]);
                        assert_eq!(&ClassTally { q_moments: [0.0; 3], ..*t }, d);
                    }
                    None => assert!(d.n_ref == 0.0 && d.n_label == 0.0, "{w}: {d:?}"),
                }
            }
            assert_eq!(class_bias(wt.of(w), total, k as u32), class_bias(&dense, total, k as u32));
        }
    }

    #[test]
    fn the_planted_workers_are_flagged_without_truth() {
        let (a, truth) = planted(2);
        let (fit, found) = class_bias_batch(&a, None, &SmoothedDawidSkene::default(), DEFAULT_FDR).unwrap();
        assert_eq!(fit.labels.len(), a.n_tasks);
        assert_eq!(found.len(), a.n_workers);
        for f in &found {
            if f.worker < 3 {
                assert!(f.flagged && f.bias.toward == 2, "{f:?}");
                assert!(f.bias.strength > 0.2, "{f:?}");
            }
        }
        let false_flags = found.iter().filter(|f| f.worker >= 3 && f.flagged).count();
        assert!(false_flags <= 2, "{false_flags} unbiased workers flagged");
        // golden tasks are a one-hot reference
        let golden: Vec<Option<u32>> = truth.iter().map(|&c| Some(c)).collect();
        let (fit, _) = class_bias_batch(&a, Some(&golden), &SmoothedDawidSkene::default(), DEFAULT_FDR).unwrap();
        assert_eq!(fit.proba(0)[truth[0] as usize], 1.0);
    }

    #[test]
    fn tasks_without_a_reference_are_left_out() {
        let a = Answers::new(2, 1, 2, vec![0, 1], vec![0, 0], vec![1, 1]).unwrap();
        let wt = WorkerTallies::new(&a, &[0.0, 0.0, 1.0, 0.0], None);
        assert_eq!(wt.totals, vec![1.0]);
        assert_eq!(wt.of(0).len(), 2);
        let wt = WorkerTallies::new(&a, &[0.0; 4], None);
        assert_eq!(wt.totals, vec![0.0]);
        assert!(wt.of(0).is_empty());
        assert!(class_bias_by_worker(&wt, 0.1).is_empty());
    }

    #[test]
    fn position_bias_counts_left_picks() {
        // worker 0 always picks the left one (label 0 or 1 as shown), worker 1 alternates
        let n = 40u32;
        let task: Vec<u32> = (0..2 * n).map(|i| i / 2).collect();
        let worker: Vec<u32> = (0..2 * n).map(|i| i % 2).collect();
        let left: Vec<u32> = (0..2 * n).map(|i| (i / 2) % 2).collect();
        let label: Vec<u32> = (0..2 * n).map(|i| if i % 2 == 0 { (i / 2) % 2 } else { (i / 4) % 2 }).collect();
        let a = Answers::new(n as usize, 2, 2, task, worker, label).unwrap();
        let mut with_gap = left.clone();
        with_gap[0] = NO_LEFT;
        let found = position_bias_by_worker(&a, &with_gap, 0.1);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].bias.answers, n as u64 - 1);
        assert!(found[0].flagged && found[0].bias.strength > 0.7, "{:?}", found[0]);
        assert!(!found[1].flagged, "{:?}", found[1]);
    }
}
