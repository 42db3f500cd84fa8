//! Annotator bias: the statistics that find it, shared by the batch report on real answers
//! (`tessera aggregate --bias`), the simulation summary and the quality rules of both runtimes.
//!
//! **Class bias** (a worker who over-uses one class). The model it measures, which is also how
//! the simulator plants it: with probability `s` (the strength) the annotator answers class `c`
//! whatever the item; otherwise they answer as an unbiased annotator would, right with
//! probability `a` and, when wrong, spreading their errors evenly over the wrong classes (the
//! one-coin model). Against a reference label (a golden answer, a final label, a ground truth or
//! a Dawid-Skene posterior), with K classes:
//!
//! ```text
//!   p1(c) = P(answers c | reference ≠ c)      = s + (1 − s)(1 − a)/(K − 1)
//!   p2(c) = P(answers ≠ c | reference = c)    = (1 − s)(1 − a)
//!   d(c)  = p1(c) − p2(c)/(K − 1)             = s
//! ```
//!
//! so `d(c)` estimates the strength directly, and is 0 for an unbiased one-coin annotator
//! whatever their accuracy and whatever the class balance. The null hypothesis of the test is
//! that model with s = 0: the error rate does not depend on the class and errors spread evenly.
//! (An annotator whose errors fall unevenly for other reasons, e.g. a confusion matrix drawn
//! with a flat Dirichlet, over-uses some class too, and the test says so: that is what "bias"
//! means here.) The test statistic is `z = d(c) / sd0`, with the variance under the null from the
//! annotator's own pooled error rate `e` (`var0 = q(1 − q)/n1 + e(1 − e)/(n2 (K − 1)²)`,
//! q = e/(K − 1), with hard references; with soft ones an answer sits in both rates and the
//! variance counts it, see `null_variance`); one-sided p = 1 − Φ(z) per class, and the annotator's p-value is the smallest
//! over the classes they gave, times their number (Bonferroni; for two classes it is the
//! two-sided test). The reported strength is smoothed: `m` pseudo-answers at the null rates are
//! added to both rates (`SMOOTHING`), so an annotator with few answers gets a strength near 0
//! rather than an extreme one.
//!
//! **Position bias** (a judge of preference pairs who picks whichever answer is shown first).
//! Pairs are shown in a randomised order ([`shown_swapped`]); for an unbiased judge P(picks the
//! left one) = 1/2 exactly, whatever their accuracy and whatever the truth, because the truth is
//! on the left half the time. A judge who picks the left one with probability `s` whatever the
//! pair (otherwise judging as usual) picks left with probability `(1 + s)/2`, so
//! `2·left/n − 1` estimates `s` (negative: toward the right). The test is the exact two-sided
//! binomial test of left ~ Bin(n, 1/2); the strength is smoothed like the class one.
//!
//! **Many annotators**: [`benjamini_hochberg`] turns the p-values into q-values; flagging those
//! with q ≤ the false-discovery rate (default 0.1) keeps the expected share of false flags among
//! the flagged under it.
//!
//! For rules during a run, [`PairWindow`] keeps an annotator's last `window` (reference, answer)
//! pairs; the statistic over them is the same [`class_bias`].

use std::collections::VecDeque;

/// Pseudo-answers at the null rates added when a strength is reported.
pub const SMOOTHING: f64 = 10.0;

/// What one annotator did with one class, against the reference.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClassTally {
    pub class: u32,
    /// Answers whose reference is this class.
    pub n_ref: f64,
    /// Answers giving this class.
    pub n_label: f64,
    /// Answers giving this class when the reference is this class.
    pub n_diag: f64,
    /// With soft references (a posterior q per answer whose weights `q(c)` make `n_ref`):
    /// Σ q(c)², Σ q(c)³, Σ q(c)⁴ over the answers, for the variance of the statistic. All 0 = hard
    /// references (q(c) is 0 or 1, so every power sums to `n_ref`).
    pub q_moments: [f64; 3],
}

/// One annotator's class bias.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassBias {
    /// The class over-used most significantly.
    pub toward: u32,
    /// Smoothed estimate of the strength (share of answers given to `toward` whatever the item).
    pub strength: f64,
    /// The unsmoothed estimate.
    pub raw: f64,
    /// One-sided z of `toward`.
    pub z: f64,
    /// Bonferroni-adjusted over the classes tested (two-sided for two classes).
    pub p: f64,
    /// Answers with a reference.
    pub answers: f64,
}

/// Upper tail of the standard normal.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// Class bias from one annotator's tallies (`total` answers with a reference, `k` classes in the
/// label space; classes without a tally were neither given nor the reference). None with fewer
/// than two classes or no answers.
pub fn class_bias(tallies: &[ClassTally], total: f64, k: u32) -> Option<ClassBias> {
    let right = right_answers(tallies, total, k)?;
    let mut best: Option<ClassBias> = None;
    let mut tested = 0u32;
    for t in tallies {
        let Some(cand) = class_stat(t, total, right, k) else { continue };
        tested += 1;
        if best.is_none_or(|b| cand.z > b.z) {
            best = Some(cand);
        }
    }
    let mut b = best?;
    b.p = (b.p * tested as f64).min(1.0);
    Some(b)
}

/// The largest smoothed strength over the classes (what a class-bias rule compares with its
/// bar): the same estimate as [`class_bias`]'s, without its test, so a rule checked after every
/// answer costs no special function. 0 with nothing to compare.
pub fn max_strength(tallies: &[ClassTally], total: f64, k: u32) -> f64 {
    let Some(right) = right_answers(tallies, total, k) else { return 0.0 };
    tallies.iter().filter_map(|t| Rates::of(t, total, right, k)).map(|r| r.strength()).fold(0.0, f64::max)
}

/// The smoothed position strength `(2·left − n)/(n + m)` alone (see [`position_bias`]).
pub fn position_strength(left: u64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        (2.0 * left as f64 - n as f64) / (n as f64 + SMOOTHING)
    }
}

/// The statistic of one given class `class` (its one-sided p, not adjusted over classes): to
/// compare an annotator's bias toward a class found against one reference with the same class
/// against another. None when the class has no tally, or no answer on either side of it.
pub fn class_bias_toward(tallies: &[ClassTally], total: f64, k: u32, class: u32) -> Option<ClassBias> {
    let right = right_answers(tallies, total, k)?;
    class_stat(tallies.iter().find(|t| t.class == class)?, total, right, k)
}

/// The answers that agree with the reference; None when there is nothing to test.
fn right_answers(tallies: &[ClassTally], total: f64, k: u32) -> Option<f64> {
    (k >= 2 && total > 0.0).then(|| tallies.iter().map(|t| t.n_diag).sum())
}

/// One class's two rates (see the module doc): `x1` of `n1` answers give the class when the
/// reference is another, `x2` of `n2` do not when the reference is it; `e` is the annotator's
/// pooled error rate, `km1` = K − 1.
struct Rates {
    x1: f64,
    n1: f64,
    x2: f64,
    n2: f64,
    e: f64,
    km1: f64,
}

impl Rates {
    /// None when no answer lies on one side of the class.
    fn of(t: &ClassTally, total: f64, right: f64, k: u32) -> Option<Rates> {
        let (n1, n2) = (total - t.n_ref, t.n_ref);
        (n1 > 0.0 && n2 > 0.0).then(|| Rates {
            x1: t.n_label - t.n_diag,
            n1,
            x2: t.n_ref - t.n_diag,
            n2,
            e: ((total - right) / total).clamp(0.0, 1.0),
            km1: (k - 1) as f64,
        })
    }

    fn raw(&self) -> f64 {
        self.x1 / self.n1 - self.x2 / self.n2 / self.km1
    }

    /// With `SMOOTHING` pseudo-answers at the null rates on both sides.
    fn strength(&self) -> f64 {
        let (m, e) = (SMOOTHING, self.e);
        (self.x1 + m * (e / self.km1)) / (self.n1 + m) - (self.x2 + m * e) / (self.n2 + m) / self.km1
    }
}

/// One class's estimate, z and one-sided p (see the module doc).
fn class_stat(t: &ClassTally, total: f64, right: f64, k: u32) -> Option<ClassBias> {
    let r = Rates::of(t, total, right, k)?;
    let raw = r.raw();
    let var0 = null_variance(t, total, r.e, r.km1, r.n1, r.n2);
    let z = if var0 > 0.0 { raw / var0.sqrt() } else { 0.0 };
    Some(ClassBias { toward: t.class, strength: r.strength(), raw, z, p: normal_sf(z), answers: total })
}

/// The variance of the unsmoothed statistic under the null. Each answer i with reference
/// posterior `q_i = q_i(c)` enters `d` as `a(q_i)·y_i` (y_i = it gave c), `a(q) = (1 − q)/n1 +
/// q/(n2 (K − 1))`, and under the null P(y_i) = `π(q_i) = q_i (1 − e) + (1 − q_i) e/(K − 1)`, so
/// `Var d = Σ_i a(q_i)² π(q_i)(1 − π(q_i))`: a polynomial of degree 4 in q_i, summed from the
/// power sums of the q_i. With hard references it is `q(1 − q)/n1 + e(1 − e)/(n2 (K − 1)²)`; with
/// soft ones an answer sits in both rates and their covariance counts.
fn null_variance(t: &ClassTally, total: f64, e: f64, km1: f64, n1: f64, n2: f64) -> f64 {
    let hard = t.q_moments == [0.0; 3];
    let s = [total, t.n_ref, if hard { t.n_ref } else { t.q_moments[0] }, if hard { t.n_ref } else { t.q_moments[1] }, if hard { t.n_ref } else { t.q_moments[2] }];
    let (a0, a1) = (1.0 / n1, 1.0 / (n2 * km1) - 1.0 / n1);
    let (p0, p1) = (e / km1, 1.0 - e - e / km1);
    let a2 = [a0 * a0, 2.0 * a0 * a1, a1 * a1];
    let g = [p0 * (1.0 - p0), p1 - 2.0 * p0 * p1, -p1 * p1];
    let mut v = 0.0;
    for (i, a) in a2.iter().enumerate() {
        for (j, b) in g.iter().enumerate() {
            v += a * b * s[i + j];
        }
    }
    v.max(0.0)
}

/// Dense tallies from a K × K count matrix `counts[reference * k + answer]`.
pub fn tallies_from_matrix(counts: &[f64], k: usize) -> (Vec<ClassTally>, f64) {
    let mut t: Vec<ClassTally> = (0..k).map(|c| ClassTally { class: c as u32, ..Default::default() }).collect();
    let mut total = 0.0;
    for r in 0..k {
        for l in 0..k {
            let n = counts[r * k + l];
            t[r].n_ref += n;
            t[l].n_label += n;
            if r == l {
                t[r].n_diag += n;
            }
            total += n;
        }
    }
    (t, total)
}

/// One judge's position bias on preference pairs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PositionBias {
    /// Picks of the pair shown on the left.
    pub left: u64,
    pub answers: u64,
    /// Smoothed `2·left/n − 1`: positive toward the left, negative toward the right.
    pub strength: f64,
    /// Exact two-sided binomial test of left ~ Bin(n, 1/2).
    pub p: f64,
}

/// Position bias from `left` picks of the left-shown answer among `n`.
pub fn position_bias(left: u64, n: u64) -> PositionBias {
    PositionBias { left, answers: n, strength: position_strength(left, n), p: binomial_two_sided_half(left, n) }
}

/// Two-sided p-value of `x` successes in `n` trials at probability 1/2: twice the smaller tail.
pub fn binomial_two_sided_half(x: u64, n: u64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let k = x.max(n - x); // P(X >= k) = P(X <= n - k) by symmetry
    if k * 2 == n {
        return 1.0;
    }
    // log pmf(i) = lnC(n, i) − n ln 2, summed from the tail inward until the terms vanish.
    let nf = n as f64;
    let ln_c = |i: u64| libm::lgamma(nf + 1.0) - libm::lgamma(i as f64 + 1.0) - libm::lgamma((n - i) as f64 + 1.0);
    let mut tail = 0.0;
    for i in k..=n {
        let term = (ln_c(i) - nf * std::f64::consts::LN_2).exp();
        tail += term;
        if term < tail * 1e-17 {
            break;
        }
    }
    (2.0 * tail).min(1.0)
}

/// Benjamini-Hochberg q-values (adjusted p-values) in the input order: flag `q ≤ fdr`. NaN p-values
/// count as 1.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let pv = |i: usize| if p[i].is_nan() { 1.0 } else { p[i] };
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| pv(a).total_cmp(&pv(b)).then(a.cmp(&b)));
    let mut q = vec![1.0; m];
    let mut running = 1.0f64;
    for rank in (0..m).rev() {
        let i = order[rank];
        running = running.min(pv(i) * m as f64 / (rank + 1) as f64);
        q[i] = running.min(1.0);
    }
    q
}

/// Whether assignment `assignment` shows a preference pair swapped (the second answer on the left).
/// A fixed hash of the durable assignment id (SplitMix64's finaliser), so the order is balanced,
/// independent of the item and its truth, costs no draw from any random stream, and the
/// simulation, the live server and anyone reading a trace agree on it.
pub fn shown_swapped(assignment: u64) -> bool {
    let mut z = assignment.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) & 1 == 1
}

/// The label of a preference pair shown on the left: 0 ("A") unless swapped.
pub fn left_label(swapped: bool) -> u16 {
    swapped as u16
}

/// Whether `label`, given under `assignment`, picked the answer shown on the left.
pub fn picked_left(assignment: u64, label: u16) -> bool {
    label == left_label(shown_swapped(assignment))
}

/// The last `window` (reference, answer) pairs of every annotator, for class-bias rules, each with
/// the number of classes of its stream (the test's K is the largest in the window: a rule reads
/// class numbers of all streams alike, so it is meant for streams that share a label space). The
/// tallies of the whole window are kept up to date as pairs come and go, so a rule's check costs
/// O(classes in the window), not O(window).
#[derive(Clone, Debug)]
pub struct PairWindow {
    window: usize,
    people: Vec<Recent>,
}

#[derive(Clone, Debug, Default)]
struct Recent {
    pairs: VecDeque<(u16, u16, u16)>,
    /// Pairs recorded since the last clear.
    seen: u64,
    tallies: Vec<ClassTally>,
    /// (classes of a stream, pairs of it in the window)
    ks: Vec<(u16, u32)>,
}

impl Recent {
    fn tally(&mut self, c: u16) -> &mut ClassTally {
        let i = match self.tallies.iter().position(|t| t.class == c as u32) {
            Some(i) => i,
            None => {
                self.tallies.push(ClassTally { class: c as u32, ..Default::default() });
                self.tallies.len() - 1
            }
        };
        &mut self.tallies[i]
    }

    fn add(&mut self, (r, l, k): (u16, u16, u16), sign: f64) {
        match self.ks.iter_mut().find(|x| x.0 == k) {
            Some(x) => x.1 = if sign > 0.0 { x.1 + 1 } else { x.1 - 1 },
            None => self.ks.push((k, 1)),
        }
        self.ks.retain(|x| x.1 > 0);
        self.tally(r).n_ref += sign;
        let t = self.tally(l);
        t.n_label += sign;
        if r == l {
            t.n_diag += sign;
        }
    }
}

impl PairWindow {
    pub fn new(annotators: usize, window: usize) -> Self {
        PairWindow { window: window.max(1), people: vec![Recent::default(); annotators] }
    }

    pub fn push(&mut self) {
        self.people.push(Recent::default());
    }

    pub fn record(&mut self, a: u32, reference: u16, answer: u16, classes: u16) {
        let p = &mut self.people[a as usize];
        if p.pairs.len() == self.window {
            if let Some(old) = p.pairs.pop_front() {
                p.add(old, -1.0);
            }
        }
        p.pairs.push_back((reference, answer, classes));
        p.seen += 1;
        p.add((reference, answer, classes), 1.0);
        p.tallies.retain(|t| t.n_ref > 0.0 || t.n_label > 0.0);
    }

    pub fn clear(&mut self, a: u32) {
        self.people[a as usize] = Recent::default();
    }

    /// Pairs of `a` recorded since the last clear (however many the window keeps).
    pub fn seen(&self, a: u32) -> u64 {
        self.people[a as usize].seen
    }

    /// Class bias over the last `last` pairs (at most the window) of `a`, and how many pairs that
    /// was. Only classes that occur in them are tallied (a class never given cannot be
    /// over-used).
    pub fn class_bias(&self, a: u32, last: usize) -> (Option<ClassBias>, usize) {
        self.with_tallies(a, last, |t, n, k| class_bias(t, n as f64, k))
    }

    /// [`max_strength`] over the last `last` pairs of `a` (a rule's check), and how many pairs.
    pub fn max_strength(&self, a: u32, last: usize) -> (f64, usize) {
        self.with_tallies(a, last, |t, n, k| max_strength(t, n as f64, k))
    }

    fn with_tallies<T>(&self, a: u32, last: usize, f: impl Fn(&[ClassTally], usize, u32) -> T) -> (T, usize) {
        let p = &self.people[a as usize];
        let n = p.pairs.len().min(last);
        let k_of = |r: &Recent| r.ks.iter().map(|x| x.0 as u32).max().unwrap_or(0);
        if n == p.pairs.len() {
            return (f(&p.tallies, n, k_of(p)), n);
        }
        let mut part = Recent::default();
        for &x in p.pairs.iter().rev().take(n) {
            part.add(x, 1.0);
        }
        (f(&part.tallies, n, k_of(&part)), n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Answers of a planted annotator against the truth: K classes, accuracy a, strength s toward c.
    fn planted(n: usize, k: u16, a: f64, s: f64, c: u16, seed: u64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let kk = k as usize;
        let mut m = vec![0.0; kk * kk];
        for _ in 0..n {
            let truth = rng.random_range(0..k);
            let label = if rng.random::<f64>() < s { c } else { crate::domain::noisy_label(truth, k, a, &mut rng) };
            m[truth as usize * kk + label as usize] += 1.0;
        }
        m
    }

    #[test]
    fn the_strength_estimates_the_planted_share() {
        for (k, a, s) in [(2u16, 0.85, 0.3), (4, 0.7, 0.2), (5, 0.9, 0.5)] {
            let m = planted(200_000, k, a, s, 1, 7);
            let (t, total) = tallies_from_matrix(&m, k as usize);
            let b = class_bias(&t, total, k as u32).unwrap();
            assert_eq!(b.toward, 1);
            assert!((b.raw - s).abs() < 0.01, "k {k}: {} vs {s}", b.raw);
            assert!(b.p < 1e-12);
        }
    }

    #[test]
    fn unbiased_annotators_give_uniform_p_values() {
        // Under the null the p-values are (close to) uniform: about 10% fall under 0.1.
        let mut below = 0;
        let runs = 2_000;
        for seed in 0..runs {
            let m = planted(300, 3, 0.8, 0.0, 0, seed);
            let (t, total) = tallies_from_matrix(&m, 3);
            let b = class_bias(&t, total, 3).unwrap();
            below += (b.p < 0.1) as usize;
            assert!(b.strength.abs() <= b.raw.abs() + 1e-12 || b.strength.abs() < 0.1);
        }
        let share = below as f64 / runs as f64;
        assert!((0.05..=0.13).contains(&share), "{share}");
    }

    #[test]
    fn few_answers_give_a_strength_near_zero() {
        // 3 answers, all "1", all wrong: the raw estimate is extreme, the smoothed one is not.
        let t = [ClassTally { class: 0, n_ref: 3.0, n_label: 0.0, n_diag: 0.0, ..Default::default() }, ClassTally { class: 1, n_ref: 0.0, n_label: 3.0, n_diag: 0.0, ..Default::default() }];
        let b = class_bias(&t, 3.0, 2);
        assert!(b.is_none(), "no answer has reference 1: nothing to compare");
        let t = [ClassTally { class: 0, n_ref: 2.0, n_label: 0.0, n_diag: 0.0, ..Default::default() }, ClassTally { class: 1, n_ref: 1.0, n_label: 3.0, n_diag: 1.0, ..Default::default() }];
        let b = class_bias(&t, 3.0, 2).unwrap();
        assert_eq!(b.raw, 1.0);
        assert!(b.strength < 0.5 * b.raw, "{}", b.strength);
    }

    #[test]
    fn binomial_test_matches_known_values() {
        // R: binom.test(60, 100)$p.value = 0.05688793; binom.test(7, 10) = 0.34375
        assert!((binomial_two_sided_half(60, 100) - 0.056_887_93).abs() < 1e-7);
        assert!((binomial_two_sided_half(7, 10) - 0.343_75).abs() < 1e-12);
        assert!((binomial_two_sided_half(3, 10) - 0.343_75).abs() < 1e-12);
        assert_eq!(binomial_two_sided_half(5, 10), 1.0);
        assert!(binomial_two_sided_half(700, 1000) < 1e-30);
        assert_eq!(position_bias(0, 0).strength, 0.0);
        assert!(position_bias(75, 100).strength > 0.4);
        assert!(position_bias(25, 100).strength < -0.4);
    }

    #[test]
    fn bh_matches_the_textbook_example() {
        // R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "BH") = 0.02 0.04 0.04 0.02
        let q = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.005]);
        for (a, b) in q.iter().zip([0.02, 0.04, 0.04, 0.02]) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
        assert_eq!(benjamini_hochberg(&[f64::NAN, 0.5]), vec![1.0, 1.0]);
    }

    #[test]
    fn the_presentation_order_is_balanced() {
        let swapped = (0..100_000u64).filter(|&i| shown_swapped(i)).count();
        assert!((49_000..51_000).contains(&swapped), "{swapped}");
    }

    #[test]
    fn the_window_keeps_the_last_pairs() {
        let mut w = PairWindow::new(1, 50);
        for i in 0..200 {
            w.record(0, (i % 2) as u16, if i < 150 { (i % 2) as u16 } else { 1 }, 2);
        }
        let (b, n) = w.class_bias(0, 50);
        assert_eq!(n, 50);
        let b = b.unwrap();
        assert_eq!(b.toward, 1);
        assert!(b.raw > 0.9, "{b:?}");
        // the kept tallies equal tallies made afresh from the pairs, and a shorter look-back
        // counts only its own pairs
        let (b20, n20) = w.class_bias(0, 20);
        assert_eq!(n20, 20);
        let mut fresh = PairWindow::new(1, 20);
        for i in 180..200 {
            fresh.record(0, (i % 2) as u16, 1, 2);
        }
        assert_eq!(fresh.class_bias(0, 20), (b20, 20));
        assert_eq!(w.class_bias(0, 100).0, Some(b));
        // a rule's check: the largest smoothed strength, here the one class ever over-used
        assert_eq!(w.max_strength(0, 50), (b.strength, 50));
    }
}
