//! KOS (Karger, Oh, Shah): belief-propagation-like message passing for binary labels.
//!
//! Maths: map the first label seen to +1 and the other to -1 (`A_{tw}`). Start each answer's
//! reliability message `y_{w->t} ~ N(1, 1)`. For `n_iter` rounds:
//!
//! ```text
//! x_{t->w} = sum_{w' in t, w' != w} A_{tw'} y_{w'->t}
//! y_{w->t} = sum_{t' in w, t' != t} A_{t'w} x_{t'->w}
//! ```
//!
//! stopping early when a message exceeds 1e300 (crowd-kit's guard against overflow). The label of
//! task t is `sign(sum_w A_{tw} y_{w->t})`. Binary only.
//!
//! **Sign anchor.** The messages are a power iteration, and an eigenvector's sign is arbitrary:
//! what fixes it is the initial reliabilities' mean of +1 ("workers are better than chance"),
//! through the start's projection on the leading direction. We make the anchor explicit: when the
//! scores disagree with majority vote on more of the tasks that have a strict majority than they
//! agree with it, every score is negated. With agreement of at least half it changes nothing, and
//! on the seven crowd datasets it changes nothing (our labels are crowd-kit's on every binary
//! one); it only rules out a whole-dataset flip. It is not a cure for KOS's model: KOS assumes
//! workers without a bias toward one label, and on rte and temp a few prolific workers who give
//! one label to most of hundreds of tasks (e.g. 82% of 800 on rte, accuracy 0.51) carry the
//! leading direction; KOS then scores 0.4975 (rte) and 0.5693 (temp), as crowd-kit does for
//! every `random_state`, and agrees with majority vote on only 52% and 56% of the tasks.
//! `tessera aggregate` warns when KOS agrees with majority vote on fewer than 75% of the tasks.
//!
//! Differences from crowd-kit 1.4.2 `KOS`: the initial messages come from ChaCha8 seeded with
//! `random_state` (crowd-kit uses NumPy's global Mersenne Twister), so labels can differ where the
//! messages are balanced; a score of exactly 0 (crowd-kit: KeyError) goes to the lowest label id;
//! the sign anchor above (crowd-kit has none, so where its scores disagree with majority vote on
//! most tasks its labels are ours with the two labels swapped).
//! `probas` is only a rough confidence: `(1 + s / (1 + |s|)) / 2` for the first label, where `s`
//! is the final score (the sign is what KOS estimates; its magnitude grows without bound).
//!
//! Paper: D. R. Karger, S. Oh, D. Shah, "Iterative Learning for Reliable Crowdsourcing Systems",
//! NeurIPS 2011.
//!
//! ```
//! use tessera_engine::quality::aggregation::{Aggregator, Answers, Kos};
//! let a = Answers::new(2, 3, 2, vec![0, 0, 0, 1, 1, 1], vec![0, 1, 2, 0, 1, 2], vec![1, 1, 0, 0, 0, 1]).unwrap();
//! let r = Kos::default().fit(&a, None).unwrap();
//! assert_eq!(r.labels, vec![1, 0]);
//! ```

use super::dawid_skene::empty_result;
use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// KOS parameters (crowd-kit defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Kos {
    pub n_iter: usize,
    pub random_state: u64,
}

impl Default for Kos {
    fn default() -> Self {
        Kos { n_iter: 100, random_state: 0 }
    }
}

const MAX: f64 = 1e300;

impl Aggregator for Kos {
    fn name(&self) -> &'static str {
        "kos"
    }

    fn fit(&self, a: &Answers, _golden: Option<&Golden>) -> Result<Aggregation, AggregationError> {
        let used = a.labels_by_first_appearance();
        if a.is_empty() {
            return Ok(empty_result(a));
        }
        if used.len() != 2 {
            return Err(AggregationError::NotBinary { method: "kos", n: used.len() });
        }
        let n = a.len();
        let sign: Vec<f64> = a.label.iter().map(|&l| if l == used[0] { 1.0 } else { -1.0 }).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(self.random_state);
        let mut y: Vec<f64> = (0..n)
            .map(|_| {
                // Box-Muller: N(1, 1)
                let u1: f64 = 1.0 - rng.random::<f64>();
                let u2: f64 = rng.random();
                1.0 + (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
            })
            .collect();
        let mut x = vec![0.0; n];
        let mut task_sum = vec![0.0; a.n_tasks];
        let mut worker_sum = vec![0.0; a.n_workers];
        let mut iterations = 0;
        'outer: for _ in 0..self.n_iter {
            task_sum.fill(0.0);
            for i in 0..n {
                task_sum[a.task[i] as usize] += sign[i] * y[i];
            }
            for i in 0..n {
                if task_sum[a.task[i] as usize].abs() > MAX {
                    break 'outer;
                }
            }
            for i in 0..n {
                x[i] = task_sum[a.task[i] as usize] - sign[i] * y[i];
            }
            worker_sum.fill(0.0);
            for i in 0..n {
                worker_sum[a.worker[i] as usize] += sign[i] * x[i];
            }
            for i in 0..n {
                if worker_sum[a.worker[i] as usize].abs() > MAX {
                    break 'outer;
                }
            }
            for i in 0..n {
                y[i] = worker_sum[a.worker[i] as usize] - sign[i] * x[i];
            }
            iterations += 1;
        }
        task_sum.fill(0.0);
        for i in 0..n {
            task_sum[a.task[i] as usize] += sign[i] * y[i];
        }
        anchor(&mut task_sum, a, &sign);
        let idx = a.by_task();
        let k = a.n_labels;
        let mut probas = vec![0.0; a.n_tasks * k];
        let mut labels = vec![NO_LABEL; a.n_tasks];
        for t in 0..a.n_tasks {
            if idx.count(t) == 0 {
                continue;
            }
            let s = task_sum[t];
            let (pos, neg) = (used[0] as usize, used[1] as usize);
            // score in [0, 1]: the sign decides, magnitude is only a rough confidence
            let p = if s.is_finite() { 0.5 * (1.0 + (s / (1.0 + s.abs())).clamp(-1.0, 1.0)) } else { 0.5 };
            probas[t * k + pos] = p;
            probas[t * k + neg] = 1.0 - p;
            labels[t] = if s > 0.0 {
                used[0]
            } else if s < 0.0 {
                used[1]
            } else {
                used[0].min(used[1])
            };
        }
        Ok(Aggregation {
            n_labels: k,
            labels,
            probas,
            worker_skills: None,
            confusion: None,
            task_difficulty: None,
            iterations,
            loss_history: vec![],
        })
    }
}

/// Negates every score when the scores disagree with majority vote on more tasks than they agree
/// with it (counting the tasks where both are non-zero: a strict majority and a decided score).
/// `sign[i]` is answer i's label as ±1, `score[t]` task t's score in the same orientation.
fn anchor(score: &mut [f64], a: &Answers, sign: &[f64]) {
    let mut margin = vec![0i64; score.len()];
    for (i, &s) in sign.iter().enumerate() {
        margin[a.task[i] as usize] += s as i64;
    }
    let (mut agree, mut disagree) = (0usize, 0usize);
    for (s, &m) in score.iter().zip(&margin) {
        if m != 0 && *s != 0.0 && s.is_finite() {
            if (*s > 0.0) == (m > 0) {
                agree += 1;
            } else {
                disagree += 1;
            }
        }
    }
    if disagree > agree {
        score.iter_mut().for_each(|s| *s = -*s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_anchor_flips_scores_that_disagree_with_majority_vote_and_keeps_the_others() {
        // Three tasks; task 0 votes +1 +1 -1, task 1 votes -1 -1, task 2 is a tie (+1 -1).
        let a = Answers::new(3, 3, 2, vec![0, 0, 0, 1, 1, 2, 2], vec![0, 1, 2, 0, 1, 0, 1], vec![0, 0, 1, 1, 1, 0, 1]).unwrap();
        let sign: Vec<f64> = a.label.iter().map(|&l| if l == 0 { 1.0 } else { -1.0 }).collect();
        let mut s = vec![-2.0, 3.0, 5.0];
        anchor(&mut s, &a, &sign);
        assert_eq!(s, vec![2.0, -3.0, -5.0], "both decided tasks disagreed: all scores negated, the tie's too");
        let mut s = vec![2.0, 3.0, 5.0];
        anchor(&mut s, &a, &sign);
        assert_eq!(s, vec![2.0, 3.0, 5.0], "one of two agrees: at least half, kept");
        let mut s = vec![0.0, 3.0, -1.0];
        anchor(&mut s, &a, &sign);
        assert_eq!(s, vec![-0.0, -3.0, 1.0], "a zero score does not count; the one decided task disagrees");
    }

    #[test]
    fn kos_labels_follow_the_majority_whatever_the_label_order() {
        // Five good workers and one who always says the other label: the labels must agree with
        // the majority, with the labels in either order of first appearance.
        for flip in [false, true] {
            let (mut t, mut w, mut l) = (vec![], vec![], vec![]);
            for task in 0..12u32 {
                let truth = (task % 3 == 0) as u32 ^ flip as u32;
                for worker in 0..6u32 {
                    t.push(task);
                    w.push(worker);
                    l.push(if worker == 5 { 1 - truth } else if worker == task % 5 { 1 - truth } else { truth });
                }
            }
            let a = Answers::new(12, 6, 2, t, w, l).unwrap();
            let r = Kos::default().fit(&a, None).unwrap();
            let mv = MajorityVote::default().fit(&a, None).unwrap();
            assert_eq!(r.labels, mv.labels, "flip {flip}");
        }
    }
}
